package callbacks_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/configs"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/server"
)

// TestDemoConfigOffersCallbacks: the demo (`make run`) offers callbacks in
// one queue (billing, by an escalation step of the embedded routing file)
// and its simulated callers on that line accept a share of them.
func TestDemoConfigOffersCallbacks(t *testing.T) {
	rc, err := routing.ParseRules("configs/routing.yaml", configs.DemoRouting)
	if err != nil {
		t.Fatal(err)
	}
	var offers []string
	for _, q := range rc.Queues {
		for _, s := range q.Steps {
			if s.OfferCallback {
				offers = append(offers, q.Name)
			}
		}
	}
	if len(offers) != 1 || offers[0] != "billing" {
		t.Fatalf("queues offering callbacks by step: %v, want [billing]", offers)
	}
	var share float64
	for _, st := range config.DemoSim().Streams {
		if st.DialedNumber == "2000" {
			share = st.CallbackShare
		}
	}
	if share <= 0 || share >= 1 {
		t.Fatalf("billing callers accept a share %v of callbacks, want between 0 and 1", share)
	}
}

// TestDemoOffersCallbacks runs the simulated demo (`make run`: the
// embedded configs/routing.yaml and config.DemoSim) at 60× and watches the
// API until a billing caller's callback is completed. The demo runs on an
// accelerated real clock, so how long that takes varies with the
// machine's load (2 s to over a minute under -race): it runs with
// SWITCHBOARD_DEMO=1 (the lead's check of the demo), while
// TestDemoConfigOffersCallbacks and the wire tests cover the flow.
func TestDemoOffersCallbacks(t *testing.T) {
	if os.Getenv("SWITCHBOARD_DEMO") == "" {
		t.Skip("set SWITCHBOARD_DEMO=1 to run the demo floor until a callback completes")
	}
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.DSN = "sqlite:" + filepath.Join(dir, "demo.db")
	cfg.Database.JournalDir = filepath.Join(dir, "journal")
	cfg.PBX.Sim.Speed = 60
	s, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	base := "http://" + s.Addr()
	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var completed struct {
		Callbacks []struct {
			Kind, Queue, State string
			Attempts           int `json:"attempts"`
		} `json:"callbacks"`
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		get("/api/v1/callbacks?state=completed", &completed)
		if len(completed.Callbacks) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no callback completed in the demo")
		}
	}
	cb := completed.Callbacks[0]
	if cb.Kind != "virtual_hold" || cb.Queue != "billing" || cb.Attempts < 1 {
		t.Fatalf("completed callback %+v", cb)
	}
}
