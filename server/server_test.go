package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/configs"
)

// testConfig is the embedded defaults on a free port, with the database
// and journal in a temporary directory.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.DSN = "sqlite:" + filepath.Join(dir, "switchboard.db")
	cfg.Database.JournalDir = filepath.Join(dir, "journal")
	return cfg
}

// start runs a server until the test ends and returns its base URL.
func start(t *testing.T, cfg config.Config) (*Server, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	s, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	return s, "http://" + s.Addr()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBadRoutingFileStopsNew(t *testing.T) {
	cfg := testConfig(t)
	bad := filepath.Join(t.TempDir(), "routing.yaml")
	if err := os.WriteFile(bad, []byte("queues:\n  - name: support\n    stratgy: fifo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Routing.File = bad
	_, err := New(cfg, nil)
	if err == nil || !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), bad+":3") {
		t.Errorf("New = %v, want a config error at %s:3", err, bad)
	}
	// Nothing was created: a rejected start leaves no database behind.
	if _, statErr := os.Stat(strings.TrimPrefix(cfg.Database.DSN, "sqlite:")); statErr == nil {
		t.Error("a rejected start created the database")
	}
}

func TestRefusesOpenListenWithoutToken(t *testing.T) {
	if _, err := listen("0.0.0.0:0", ""); !errors.Is(err, ErrOpenListen) {
		t.Errorf("listen without token = %v, want ErrOpenListen", err)
	}
	ln, err := listen("0.0.0.0:0", "tok")
	if err != nil {
		t.Fatalf("listen with token: %v", err)
	}
	ln.Close()
}

func TestServesHealthAndWallboard(t *testing.T) {
	_, url := start(t, testConfig(t))
	// Ready once the controller loop runs and the PBX is up; not before.
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := get(t, url+"/readyz")
		if status == 200 {
			break
		}
		if status != 503 || !strings.Contains(body, `"ready": false`) {
			t.Fatalf("readyz while starting: %d %s", status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for path, want := range map[string]string{
		"/healthz": `"ok"`,
		"/readyz":  `"ready": true`,
		"/metrics": "switchboard_database_up 1",
		"/":        "<title>switchboard",
	} {
		status, body := get(t, url+path)
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, want 200 containing %q:\n%.300s", path, status, want, body)
		}
	}
}

// stuckPBX is an adapter whose Run ignores its context, as a PBX client
// wedged in a blocking call would.
type stuckPBX struct {
	adapters.PBX
	release chan struct{}
}

func (p stuckPBX) Run(context.Context) error { <-p.release; return nil }

func TestShutdownIsBoundedWhenAPartHangs(t *testing.T) {
	cfg := testConfig(t)
	cfg.Server.ShutdownTimeout = time.Second
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	s.pbx = stuckPBX{PBX: s.pbx, release: release}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not stop within 1s") {
			t.Errorf("Run = %v, want an error naming the part that did not stop", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run hung on a PBX adapter that ignores its context")
	}
}

// TestRulesApplyReloadsTheRunningServer applies a routing file through the
// API of a real server: the version is stored, and the engine runs it
// while the simulated agents stay defined.
func TestRulesApplyReloadsTheRunningServer(t *testing.T) {
	_, url := start(t, testConfig(t))
	body, err := json.Marshal(map[string]string{"filename": "routing.yaml", "content": string(configs.DemoRouting), "author": "test", "comment": "same demo"})
	if err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err = http.Post(url+"/api/v1/rules", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break // 503 only while the controller starts
		}
		resp.Body.Close()
		time.Sleep(50 * time.Millisecond)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("apply: %d %s", resp.StatusCode, raw)
	}
	status, list := get(t, url+"/api/v1/rules/versions")
	if status != 200 || !strings.Contains(list, `"version": 1`) || !strings.Contains(list, `"author": "test"`) {
		t.Errorf("versions: %d %s", status, list)
	}
	status, agents := get(t, url+"/api/v1/agents")
	if status != 200 || !strings.Contains(agents, `"id": "sup-001"`) {
		t.Errorf("simulated agents lost by the reload: %d %.300s", status, agents)
	}
	// A bad file is refused with its line, and changes nothing.
	bad, _ := json.Marshal(map[string]string{"content": "queues:\n  - name: x\n    stratgy: fifo\n", "author": "test"})
	resp, err = http.Post(url+"/api/v1/rules", "application/json", bytes.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("bad rules: %d %s", resp.StatusCode, raw)
	}
	if _, list := get(t, url+"/api/v1/rules/versions"); strings.Contains(list, `"version": 2`) {
		t.Errorf("a rejected file was stored: %s", list)
	}
}
