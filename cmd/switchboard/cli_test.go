package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-cc/switchboard/api"
)

// cli runs the CLI in-process with the given environment.
func cli(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, Env{
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	return code, out.String(), errb.String()
}

// deadAddr returns a loopback URL where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestUnreachableServerSaysSoPlainly(t *testing.T) {
	dead := deadAddr(t)
	for _, args := range [][]string{
		{"queue", "list", "--server", dead},
		{"agent", "list", "--server", dead},
		{"call", "list", "--server", dead},
		{"stats", "--server", dead},
		{"agent", "pause", "a1", "--server", dead},
	} {
		code, _, stderr := cli(t, nil, args...)
		want := "switchboard server not reachable at " + dead + ": is `switchboard serve` running?"
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", args, code, stderr, want)
		}
	}
	// The environment variable is honoured too.
	code, _, stderr := cli(t, map[string]string{"SWITCHBOARD_SERVER": dead}, "queue", "list")
	if code != 1 || !strings.Contains(stderr, dead) {
		t.Errorf("SWITCHBOARD_SERVER ignored: %d %q", code, stderr)
	}
}

// fakeAPI serves canned answers in the API's own types, to test the
// client side: formatting, auth header, error rendering.
func fakeAPI(t *testing.T) (*httptest.Server, *http.Request) {
	t.Helper()
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	queues := []api.Queue{{Name: "support", Waiting: 2, LongestWaitSeconds: 31, Offered: 10, Answered: 7, Abandoned: 1,
		ServiceLevel: 0.857, ServiceLevelGoal: 0.95, ServiceLevelThresholdSeconds: 20, AbandonRate: 0.1,
		AgentsByState: map[string]int{"available": 1, "on_call": 3}}}
	var last http.Request
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/queues", func(w http.ResponseWriter, r *http.Request) {
		_ = api.WriteJSON(w, 200, api.QueueList{At: at, Queues: queues})
	})
	mux.HandleFunc("GET /api/v1/floor", func(w http.ResponseWriter, r *http.Request) {
		_ = api.WriteJSON(w, 200, api.FloorView{At: at, Queues: queues, Totals: api.Totals{
			Offered: 10, Answered: 7, Abandoned: 1, AnsweredInThreshold: 6, ServiceLevelBase: 7, ServiceLevel: 0.857, AbandonRate: 0.125,
			AgentsByState: map[string]int{"available": 1, "on_call": 3}}})
	})
	mux.HandleFunc("POST /api/v1/agents/{id}/pause", func(w http.ResponseWriter, r *http.Request) {
		last = *r.Clone(context.Background())
		var in api.StateChange
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Reason != "lunch" {
			_ = api.WriteJSON(w, 400, api.ErrorBody{Error: api.ErrorDetail{Message: "bad reason", Field: "reason"}})
			return
		}
		if r.PathValue("id") == "nobody" {
			_ = api.WriteJSON(w, 404, api.ErrorBody{Error: api.ErrorDetail{Message: `unknown agent "nobody"`}})
			return
		}
		_ = api.WriteJSON(w, 200, api.Result{OK: true, Agent: &api.Agent{ID: r.PathValue("id"), State: "not_ready", Reason: in.Reason}})
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts, &last
}

func TestOutputFormats(t *testing.T) {
	ts, _ := fakeAPI(t)
	code, out, stderr := cli(t, nil, "queue", "list", "--server", ts.URL)
	if code != 0 || !strings.Contains(out, "QUEUE") || !strings.Contains(out, "support") || !strings.Contains(out, "85.7%") {
		t.Errorf("table: %d %q %q", code, out, stderr)
	}
	code, out, _ = cli(t, nil, "queue", "list", "--server", ts.URL, "-o", "json")
	var ql api.QueueList
	if code != 0 || json.Unmarshal([]byte(out), &ql) != nil || len(ql.Queues) != 1 || ql.Queues[0].ServiceLevel != 0.857 {
		t.Errorf("json: %d %q", code, out)
	}
	code, out, _ = cli(t, nil, "queue", "list", "--server", ts.URL, "-o", "yaml")
	var y map[string]any
	if code != 0 || yaml.Unmarshal([]byte(out), &y) != nil || !strings.Contains(out, "service_level: 0.857") || !strings.Contains(out, "longest_wait_seconds: 31") {
		t.Errorf("yaml: %d %q", code, out)
	}
	code, _, stderr = cli(t, nil, "queue", "list", "--server", ts.URL, "-o", "xml")
	if code != 2 || !strings.Contains(stderr, `-o "xml": want table, json or yaml`) {
		t.Errorf("bad -o: %d %q", code, stderr)
	}
}

func TestStatsPrintsServiceLevelAndAbandonRate(t *testing.T) {
	ts, _ := fakeAPI(t)
	code, out, stderr := cli(t, nil, "stats", "--server", ts.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"service level: 85.7%", "(6 answered within their queue's threshold, of 7 answered or abandoned)", "abandon rate:  12.5%", "(1 abandoned, 7 answered)", "available=1 on_call=3"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats output lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteCommandsSendTokenAndShowAPIErrors(t *testing.T) {
	ts, last := fakeAPI(t)
	code, out, stderr := cli(t, map[string]string{"SWITCHBOARD_TOKEN": "tok"}, "agent", "pause", "a7", "--reason", "lunch", "--server", ts.URL)
	if code != 0 || !strings.Contains(out, "not_ready") {
		t.Fatalf("pause: %d %q %q", code, out, stderr)
	}
	if got := last.Header.Get("Authorization"); got != "Bearer tok" {
		t.Errorf("Authorization = %q, want Bearer tok", got)
	}
	code, _, stderr = cli(t, nil, "agent", "pause", "a7", "--reason", "nap", "--server", ts.URL)
	if code != 1 || !strings.Contains(stderr, `bad reason (field "reason", HTTP 400)`) {
		t.Errorf("api error: %d %q", code, stderr)
	}
	code, _, stderr = cli(t, nil, "agent", "pause", "nobody", "--reason", "lunch", "--server", ts.URL)
	if code != 1 || !strings.Contains(stderr, `unknown agent "nobody" (HTTP 404)`) {
		t.Errorf("404: %d %q", code, stderr)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"agent", "pause"},
		{"nonsense"},
		{"queue", "list", "--bogus"},
		{"call", "list", "--limit", "0"},
		{"queue", "list", "--server", "ftp://x"},
	} {
		if code, _, stderr := cli(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, stderr)
		}
	}
}

func TestConfigShowMasksSecretsAndRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("server:\n  listen: 0.0.0.0:9000\n  token: file-token\ndatabase:\n  dsn: 'sb:hunter2@tcp(db:3306)/sb'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := cli(t, map[string]string{"SWITCHBOARD_LOG_LEVEL": "debug"}, "config", "show", "--config", good, "--pbx", "freeswitch")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"listen: 0.0.0.0:9000", "kind: freeswitch", "level: debug", "sb:********@tcp(db:3306)/sb"} {
		if !strings.Contains(out, want) {
			t.Errorf("config show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "file-token") || strings.Contains(out, "hunter2") {
		t.Errorf("config show leaks a secret:\n%s", out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("server:\n  listen: 127.0.0.1:9000\n  colour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"config", "show", "--config", bad}, {"serve", "--config", bad}} {
		code, out, stderr = cli(t, nil, args...)
		if code != 2 || !strings.Contains(stderr, bad+":3:3: server.colour: unknown key \"colour\"") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming file:line:key", args, code, stderr)
		}
	}
	// SWITCHBOARD_CONFIG names the file when --config is absent.
	code, _, stderr = cli(t, map[string]string{"SWITCHBOARD_CONFIG": bad}, "config", "show")
	if code != 2 || !strings.Contains(stderr, "colour") {
		t.Errorf("SWITCHBOARD_CONFIG ignored: %d %q", code, stderr)
	}
}

func TestServeRefusesOpenListenWithoutToken(t *testing.T) {
	code, _, stderr := cli(t, nil, "serve", "--listen", "0.0.0.0:0")
	if code != 2 || !strings.Contains(stderr, "not a loopback address") {
		t.Errorf("exit %d, stderr %q; want 2 and a loopback refusal", code, stderr)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, stderr := cli(t, nil, "completion", sh)
		if code != 0 || !strings.Contains(out, "switchboard") {
			t.Errorf("%s: exit %d %q", sh, code, stderr)
		}
	}
}
