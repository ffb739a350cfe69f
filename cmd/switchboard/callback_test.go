package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/callbacks"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/storage"
)

// callbackAPI serves the real callbacks desk's API on SQLite, as
// `switchboard serve` does, on a manual clock.
func callbackAPI(t *testing.T) (string, *storage.Store, *clock.Manual) {
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "cb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	desk, err := callbacks.New(callbacks.Config{Queues: map[string]callbacks.QueueConfig{"support": {}}}, st, nil, nil, clk, quiet)
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Options{Log: quiet}, api.CallbackRoutes(desk.API()))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL, st, clk
}

// TestCallbackCommands: schedule (the flags), list, show,
// reschedule, cancel and stats against the real desk; bad input names the
// field and creates nothing.
func TestCallbackCommands(t *testing.T) {
	srv, st, _ := callbackAPI(t)
	code, out, stderr := cli(t, nil, "callback", "schedule", "--server", srv, "-o", "json",
		"--number", "+33 1 23 45 67 89", "--queue", "support", "--at", "2026-11-24 10:00", "--window", "09:00-18:00",
		"--tz", "Europe/Paris", "--agent", "alice", "--attempts", "4", "--note", "meter reading")
	if code != 0 {
		t.Fatalf("schedule: exit %d: %s", code, stderr)
	}
	var made struct {
		ID, Number, Window, TZ, AgentID string
		MaxAttempts                     int       `json:"max_attempts"`
		NotBefore                       time.Time `json:"not_before"`
	}
	if err := json.Unmarshal([]byte(out), &made); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if made.Number != "+33123456789" || made.MaxAttempts != 4 || made.Window != "09:00-18:00" || made.TZ != "Europe/Paris" ||
		!made.NotBefore.Equal(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("scheduled %+v", made)
	}
	cb, err := st.GetCallback(context.Background(), made.ID)
	if err != nil || cb.AgentID != "alice" || cb.Note != "meter reading" {
		t.Fatalf("stored %+v %v", cb, err)
	}

	code, out, _ = cli(t, nil, "callback", "list", "--server", srv)
	if code != 0 || !strings.Contains(out, made.ID) || !strings.Contains(out, "0/4") || !strings.Contains(out, "alice") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	code, out, _ = cli(t, nil, "callback", "show", made.ID, "--server", srv)
	if code != 0 || !strings.Contains(out, "meter reading") || !strings.Contains(out, "Europe/Paris") {
		t.Fatalf("show: %d\n%s", code, out)
	}
	code, out, stderr = cli(t, map[string]string{"SWITCHBOARD_TOKEN": "x"}, "callback", "reschedule", made.ID, "--at", "2026-11-25 15:00", "--server", srv)
	if code != 0 || !strings.Contains(out, "2026-11-25T14:00:00Z") {
		t.Fatalf("reschedule: %d %s %s", code, out, stderr)
	}

	// Every mistake named by its field, and nothing created.
	code, _, stderr = cli(t, nil, "callback", "schedule", "--server", srv, "--number", "12ab", "--queue", "nope", "--window", "9-18", "--tz", "Mars/Base")
	if code != 1 || !strings.Contains(stderr, "number:") || !strings.Contains(stderr, "queue:") || !strings.Contains(stderr, "window:") || !strings.Contains(stderr, "tz:") {
		t.Fatalf("bad schedule: %d %s", code, stderr)
	}
	if all, _ := st.ListCallbacks(context.Background(), storage.CallbackFilter{}); len(all) != 1 {
		t.Fatalf("%d callbacks after a refused schedule", len(all))
	}

	code, out, stderr = cli(t, nil, "callback", "cancel", made.ID, "--reason", "customer called in", "--server", srv)
	if code != 0 || !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel: %d %s %s", code, out, stderr)
	}
	code, _, stderr = cli(t, nil, "callback", "cancel", made.ID, "--server", srv)
	if code != 1 || !strings.Contains(stderr, "409") {
		t.Fatalf("second cancel: %d %s", code, stderr)
	}

	code, out, stderr = cli(t, nil, "callback", "stats", "--server", srv)
	if code != 0 || !strings.Contains(out, "support") || !strings.Contains(out, "CANCELLED") {
		t.Fatalf("stats: %d %s %s", code, out, stderr)
	}
	code, _, stderr = cli(t, nil, "callback", "stats", "--from", "yesterday", "--server", srv)
	if code != 1 || !strings.Contains(stderr, "from") {
		t.Fatalf("bad --from: %d %s", code, stderr)
	}
}
