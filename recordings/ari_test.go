package recordings

import (
	"context"

	"github.com/switchboard-cc/switchboard/adapters"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/ari"
	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// wireRig runs the real ari/v6 client (our Asterisk adapter) against the
// fake Asterisk over loopback, the real controller, and the recordings
// service on SQLite, on the real clock.
type wireRig struct {
	t     *testing.T
	srv   *aritest.Server
	ctl   *controller.Controller
	svc   *Service
	store *storage.Store
}

func newARIRig(t *testing.T, cfg Config) *wireRig {
	t.Helper()
	srv, err := aritest.New(aritest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	acfg := ari.Config{RequestTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, ReconnectDelay: 300 * time.Millisecond, Heartbeat: time.Second,
		Nodes: []ari.NodeConfig{{Name: "ast1", URL: srv.URL(), Password: "switchboard"}}}
	ad, err := ari.New(acfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	r := startWire(t, cfg, ad, "PJSIP/1001")
	r.srv = srv
	r.waitFor("adapter connected", func() bool { return srv.Connected("switchboard") })
	return r
}

// startWire runs a PBX adapter, the real controller with agent 1001 on
// endpoint, and the recordings service on SQLite, on the real clock.
// startWire runs the service, the real controller and the adapter over
// SQLite; now, when given, is the service's clock (the controller's is real).
func startWire(t *testing.T, cfg Config, ad adapters.PBX, endpoint string, now ...func() time.Time) *wireRig {
	t.Helper()
	st := openStore(t)
	d := Deps{PBX: ad, Store: st, Journal: testJournal(t, st), Log: testLog(t)}
	if len(now) > 0 {
		d.Now = now[0]
	}
	svc, err := New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := routing.ParseRules("rules.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := routing.NewEngineChecked(rc)
	if err != nil {
		t.Fatal(err)
	}
	eng.UpsertAgent(routing.Agent{ID: "1001", Endpoint: endpoint, Queues: map[string]int{"support": 1}}, time.Now())
	ctl, err := controller.New(controller.Config{}, controller.Deps{PBX: ad, Engine: eng, Clock: clock.Real{}, Log: testLog(t), Observers: []controller.Observer{svc}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); ad.Run(ctx) }()
	go func() { defer wg.Done(); ctl.Run(ctx) }()
	go func() { defer wg.Done(); svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	r := &wireRig{t: t, ctl: ctl, svc: svc, store: st}
	r.waitFor("controller ready", func() bool { ok, _ := ctl.Ready(); return ok })
	if err := ctl.AgentLogin(context.Background(), "1001"); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *wireRig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *wireRig) only(status string) *storage.Recording {
	recs, _, err := r.store.SearchRecordings(context.Background(), storage.RecordingFilter{Status: status})
	if err != nil {
		r.t.Fatal(err)
	}
	if len(recs) != 1 {
		return nil
	}
	return &recs[0]
}

// A recorded call through the Asterisk adapter and the fake Asterisk:
// the metadata carries the agent, the queue, the node and the file the
// adapter reports, and the duration Asterisk reported (whole seconds in
// RecordingFinished), not the span between the events.
func TestARIRecordedCall(t *testing.T) {
	r := newARIRig(t, Config{Queues: map[string]Policy{"support": {Mode: ModeAlways}}})
	caller, err := r.srv.InjectCall("switchboard", aritest.Caller{Number: "+4930123", Exten: "1000"})
	if err != nil {
		t.Fatal(err)
	}
	r.waitFor("recording started", func() bool { rec := r.only(storage.RecordingActive); return rec != nil && rec.Path != "" })
	// As if 1.5 s of audio had been written: Asterisk reports whole
	// seconds (1 s), which must be what is stored, not the event span.
	if err := r.srv.AgeRecording(r.only(storage.RecordingActive).PBXName, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.HangupFar(caller, 16); err != nil {
		t.Fatal(err)
	}
	r.waitFor("recording finished", func() bool { return r.only(storage.RecordingFinished) != nil })
	rec := r.only(storage.RecordingFinished)
	if rec.AgentID != "1001" || rec.Queue != "support" || rec.Node != "ast1" || rec.CallerNumber != "+4930123" || rec.Format != "wav" ||
		rec.Path != "/var/spool/asterisk/recording/"+rec.PBXName+".wav" || rec.BridgeID == "" {
		t.Fatalf("metadata %+v", rec)
	}
	if rec.DurationMS != 1000 {
		t.Fatalf("duration %d ms, want the 1 s Asterisk reported (event span %v)", rec.DurationMS, rec.EndedAt.Sub(rec.StartedAt))
	}
	var found bool
	for _, fr := range r.srv.Recordings() {
		if fr.Name == rec.PBXName && fr.Stored {
			found = true
		}
	}
	if !found {
		t.Fatalf("fake Asterisk has no stored recording %q: %+v", rec.PBXName, r.srv.Recordings())
	}
}

// The websocket drops; meanwhile the recording finishes and the call ends,
// so RecordingFinished is never seen. After the reconnect the adapter lists
// stored recordings and the service settles the row as finished.
func TestARIMissedFinishReconciled(t *testing.T) {
	r := newARIRig(t, Config{Queues: map[string]Policy{"support": {Mode: ModeAlways}}})
	if _, err := r.srv.InjectCall("switchboard", aritest.Caller{Number: "+4930999", Exten: "1000"}); err != nil {
		t.Fatal(err)
	}
	r.waitFor("recording started", func() bool { rec := r.only(storage.RecordingActive); return rec != nil && rec.Path != "" })
	rec := r.only(storage.RecordingActive)
	r.srv.DropWebsocket("switchboard")
	r.waitFor("link down", func() bool { return !r.srv.Connected("switchboard") })
	// While the link is down the recording ends on the PBX (as at its max
	// duration; asked here over Asterisk's own REST API) and both legs
	// hang up: RecordingFinished goes to no one.
	req, _ := http.NewRequest("POST", r.srv.URL()+"/ari/recordings/live/"+url.PathEscape(rec.PBXName)+"/stop", nil)
	req.SetBasicAuth("switchboard", "switchboard")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("stop on the fake: %s", resp.Status)
	}
	for _, ch := range r.srv.Channels() {
		_ = r.srv.HangupFar(ch.ID, 16)
	}
	r.waitFor("reconciled", func() bool { return r.only(storage.RecordingFinished) != nil })
	got, err := r.store.Recording(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != storage.RecordingFinished || got.Note == "" || got.EndedAt == nil || got.AgentID != "1001" {
		t.Fatalf("%+v", got)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
