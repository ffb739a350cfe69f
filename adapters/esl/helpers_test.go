package esl

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
)

// waitLimit bounds how long a test waits for something that must happen;
// it is a deadline against hangs, never a measured duration.
const waitLimit = 10 * time.Second

// recorder drains an adapter's Events into a list tests can wait on.
type recorder struct {
	mu       sync.Mutex
	events   []adapters.Event
	consumed map[int]bool
	signal   chan struct{}
	done     chan struct{}
}

func newRecorder(ch <-chan adapters.Event) *recorder {
	r := &recorder{signal: make(chan struct{}, 1), done: make(chan struct{}), consumed: map[int]bool{}}
	go func() {
		defer close(r.done)
		for e := range ch {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
			select {
			case r.signal <- struct{}{}:
			default:
			}
		}
	}()
	return r
}

func (r *recorder) all() []adapters.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]adapters.Event(nil), r.events...)
}

// waitFor waits for the earliest event not yet taken by an earlier
// waitFor that matches, and takes it. Events it passes over stay for later
// waits, so tests assert order only where they mean to.
func (r *recorder) waitFor(t testing.TB, what string, match func(adapters.Event) bool) adapters.Event {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		r.mu.Lock()
		for i, e := range r.events {
			if !r.consumed[i] && match(e) {
				r.consumed[i] = true
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		select {
		case <-r.signal:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; events: %s", what, describe(r.all()))
			return nil
		}
	}
}

func describe(evs []adapters.Event) string {
	s := ""
	for _, e := range evs {
		s += fmt.Sprintf("\n  %T %+v", e, e)
	}
	return s
}

func isType[T adapters.Event](leg string) func(adapters.Event) bool {
	return func(e adapters.Event) bool {
		_, ok := e.(T)
		return ok && (leg == "" || e.Leg().ID == leg)
	}
}

// harness is a fake FreeSWITCH plus a running adapter.
type harness struct {
	fs     *esltest.Server
	a      *Adapter
	rec    *recorder
	cancel context.CancelFunc
	runErr chan error
}

func testConfig(addr string) Config {
	return Config{
		Addr:           addr,
		CommandTimeout: 2 * time.Second,
		HealthInterval: time.Hour,
		ReconnectMin:   10 * time.Millisecond,
		ReconnectMax:   100 * time.Millisecond,
		RecordingDir:   "/rec",
	}
}

func startHarness(t testing.TB, mod func(*Config), log *slog.Logger) *harness {
	t.Helper()
	fs, err := esltest.New(esltest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(fs.Addr())
	if mod != nil {
		mod(&cfg)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{fs: fs, a: a, rec: newRecorder(a.Events()), cancel: cancel, runErr: make(chan error, 1)}
	go func() { h.runErr <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.runErr:
		case <-time.After(waitLimit):
			t.Error("Run did not return after cancel")
		}
		<-h.rec.done
		fs.Close()
	})
	h.rec.waitFor(t, "first Reconciled", isType[adapters.Reconciled](""))
	return h
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// arrive injects an inbound call and waits for its CallArrived.
func (h *harness) arrive(t testing.TB, caller, dialed string) adapters.LegRef {
	t.Helper()
	id := h.fs.InboundCall(esltest.Call{CallerNumber: caller, Dialed: dialed,
		Vars: map[string]string{"switchboard": "true", "switchboard_queue": "support"}})
	e := h.rec.waitFor(t, "CallArrived "+id, isType[adapters.CallArrived](id)).(adapters.CallArrived)
	if e.CallerNumber != caller || e.DialedNumber != dialed || e.Vars["switchboard_queue"] != "support" || e.Adopted {
		t.Fatalf("CallArrived %+v", e)
	}
	return e.Ref
}

// waitUntil polls cond (state of the fake) until it holds.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
