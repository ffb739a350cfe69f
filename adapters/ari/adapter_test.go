package ari

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
)

// These tests run the real ari/v6 client against aritest over loopback.

type harness struct {
	t   *testing.T
	srv *aritest.Server
	a   *Adapter
	ev  <-chan adapters.Event
	run chan error
}

func startFake(t *testing.T) *aritest.Server {
	t.Helper()
	srv, err := aritest.New(aritest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func testConfig(urls ...string) Config {
	cfg := Config{RequestTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, ReconnectDelay: 20 * time.Millisecond, Heartbeat: time.Second}
	for i, u := range urls {
		cfg.Nodes = append(cfg.Nodes, NodeConfig{Name: fmt.Sprintf("ast%d", i+1), URL: u, Password: "switchboard"})
	}
	return cfg
}

func start(t *testing.T, cfg Config, srv *aritest.Server) *harness {
	t.Helper()
	a, err := New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, srv: srv, a: a, ev: a.Events(), run: make(chan error, 1)}
	go func() { h.run <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.run:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	for range cfg.Nodes {
		expect[*adapters.Reconciled](h, nil)
	}
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// expect returns the next event of type T matching ok (nil = any),
// skipping others; it fails the test after 10 s.
func expect[T adapters.Event](h *harness, ok func(T) bool) T {
	h.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, open := <-h.ev:
			if !open {
				h.t.Fatalf("event stream closed while waiting for %T", *new(T))
			}
			if v, is := e.(T); is && (ok == nil || ok(v)) {
				return v
			}
		case <-timeout:
			var zero T
			h.t.Fatalf("no %T event", zero)
			return zero
		}
	}
}

func inject(t *testing.T, srv *aritest.Server, num string) string {
	t.Helper()
	id, err := srv.InjectCall("switchboard", aritest.Caller{Number: num, Exten: "s", Args: []string{"800"}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestInboundCallAnswerBridgeRecordHangup(t *testing.T) {
	srv := startFake(t)
	h := start(t, testConfig(srv.URL()), srv)
	ctx := context.Background()
	id := inject(t, srv, "5551001")
	arr := expect[*adapters.CallArrived](h, nil)
	if arr.Leg().ID != id || arr.CallerNumber != "5551001" || arr.DialedNumber != "800" || arr.Answered || arr.Adopted || arr.Leg().Node != "ast1" {
		t.Fatalf("CallArrived %+v", arr)
	}
	caller := arr.Leg()
	if err := h.a.Answer(ctx, caller); err != nil {
		t.Fatal(err)
	}
	expect[*adapters.LegAnswered](h, func(e *adapters.LegAnswered) bool { return e.Leg() == caller })
	if err := h.a.StartHold(ctx, caller, ""); err != nil {
		t.Fatal(err)
	}
	if c, _ := srv.Channel(id); c.MOH != "default" {
		t.Fatalf("MOH %q after StartHold", c.MOH)
	}
	pb, err := h.a.Play(ctx, caller, adapters.Media{Kind: "sound", Value: "queue-thereare"}, adapters.Media{Kind: "number", Value: "3"}, adapters.Media{Kind: "digits", Value: "42"})
	if err != nil {
		t.Fatal(err)
	}
	if pf := expect[*adapters.PlaybackFinished](h, nil); pf.PlaybackID != pb || pf.Leg() != caller {
		t.Fatalf("PlaybackFinished %+v, want %s on %s", pf, pb, caller)
	}
	if _, err := h.a.Play(ctx, caller, adapters.Media{Kind: "bogus", Value: "x"}); !errors.Is(err, adapters.ErrUnsupported) {
		t.Fatalf("bogus media: %v", err)
	}
	if err := h.a.SetVar(ctx, caller, "QUEUE", "support"); err != nil {
		t.Fatal(err)
	}
	if err := srv.PressDTMF(id, "5"); err != nil {
		t.Fatal(err)
	}
	if d := expect[*adapters.DTMFReceived](h, nil); d.Digit != "5" || d.Duration != 100*time.Millisecond {
		t.Fatalf("DTMF %+v", d)
	}

	agent, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: "1001", CallerIDNumber: "5551001", CallerIDName: "Alice", Timeout: 15 * time.Second, Tag: "offer,1", Role: adapters.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	ans := expect[*adapters.LegAnswered](h, func(e *adapters.LegAnswered) bool { return e.Leg() == agent })
	if ans.Tag != "offer,1" {
		t.Fatalf("agent answer tag %q", ans.Tag)
	}
	if c, _ := srv.Channel(agent.ID); c.Endpoint != "PJSIP/1001" {
		t.Fatalf("agent endpoint %q, want the template's PJSIP/1001", c.Endpoint)
	}
	if err := h.a.StopHold(ctx, caller); err != nil {
		t.Fatal(err)
	}
	br, err := h.a.Bridge(ctx, caller, agent)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := h.a.Record(ctx, adapters.RecordRequest{Bridge: br, Name: "call-1"})
	if err != nil {
		t.Fatal(err)
	}
	rs := expect[*adapters.RecordingStarted](h, nil)
	if rs.Recording != rec || rs.Format != "wav" || rs.Path != "/var/spool/asterisk/recording/call-1.wav" {
		t.Fatalf("RecordingStarted %+v", rs)
	}
	if err := h.a.PauseRecording(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if r := srv.Recordings(); len(r) != 1 || !r[0].Paused {
		t.Fatalf("recordings after pause: %+v", r)
	}
	if err := h.a.ResumeRecording(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// Asterisk reports whole seconds in RecordingFinished.duration; 3 s of
	// audio must come out as 3 s, not 3 s scaled again.
	if err := srv.AgeRecording("call-1", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := h.a.StopRecording(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if rf := expect[*adapters.RecordingFinished](h, nil); rf.Recording != rec || rf.Path != rs.Path || rf.Format != "wav" || rf.Duration != 3*time.Second {
		t.Fatalf("RecordingFinished %+v, want %s, 3s", rf, rs.Path)
	}
	if err := srv.HangupFar(agent.ID, 16); err != nil {
		t.Fatal(err)
	}
	hu := expect[*adapters.LegHungUp](h, nil)
	if hu.Leg() != agent || hu.Cause != 16 || hu.Local || hu.Tag != "offer,1" {
		t.Fatalf("agent hangup %+v", hu)
	}
	if err := h.a.Hangup(ctx, caller, 16); err != nil {
		t.Fatal(err)
	}
	hu = expect[*adapters.LegHungUp](h, nil)
	if hu.Leg() != caller || !hu.Local {
		t.Fatalf("caller hangup %+v", hu)
	}
	if err := h.a.Answer(ctx, caller); !errors.Is(err, adapters.ErrUnknownLeg) {
		t.Fatalf("answer a gone leg: %v, want ErrUnknownLeg", err)
	}
}

func TestOriginateNoAnswerAndFailure(t *testing.T) {
	srv := startFake(t)
	h := start(t, testConfig(srv.URL()), srv)
	srv.Behave("PJSIP/901", aritest.Behavior{NoAnswer: true})
	srv.Behave("PJSIP/902", aritest.Behavior{FailCause: 17})
	leg, err := h.a.Originate(context.Background(), adapters.OriginateRequest{Endpoint: "PJSIP/901", Timeout: time.Second, Tag: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	of := expect[*adapters.OriginateFailed](h, nil)
	if of.Leg() != leg || of.Cause != 19 || of.Tag != "t1" {
		t.Fatalf("OriginateFailed %+v", of)
	}
	if _, err := h.a.Originate(context.Background(), adapters.OriginateRequest{Endpoint: "PJSIP/902", Tag: "t2"}); err != nil {
		t.Fatal(err)
	}
	if of := expect[*adapters.OriginateFailed](h, nil); of.Cause != 17 || of.Tag != "t2" {
		t.Fatalf("busy: %+v", of)
	}
	if _, err := h.a.Originate(context.Background(), adapters.OriginateRequest{Endpoint: "Bogus/1"}); err == nil {
		t.Fatal("originate to an unknown technology succeeded")
	}
}

// A burst of StasisStart while nobody reads the port (the controller is
// busy): none is lost and the order is kept. ari/v6's own bus would keep
// 100 of them (see TestLibraryBusDropsEvents). The burst is larger than
// every buffer on the way, so only an unbounded queue holds it.
func TestBurstOfStasisStartLosesNone(t *testing.T) {
	srv := startFake(t)
	h := start(t, testConfig(srv.URL()), srv)
	const n = 3000 // ≥ 1,000, and past the port's 1,024-event channel
	for i := 0; i < n; i++ {
		inject(t, srv, fmt.Sprint(i))
	}
	for i := 0; i < n; i++ {
		e := expect[*adapters.CallArrived](h, nil)
		if e.CallerNumber != fmt.Sprint(i) {
			t.Fatalf("call %d arrived as %s: lost or out of order", i, e.CallerNumber)
		}
	}
}

// Every ARI request is bounded: a stalled Asterisk gives ErrTimeout, not a hang.
func TestRequestsAreBounded(t *testing.T) {
	srv := startFake(t)
	cfg := testConfig(srv.URL())
	cfg.RequestTimeout = 200 * time.Millisecond
	cfg.Heartbeat = time.Hour
	h := start(t, cfg, srv)
	id := inject(t, srv, "1")
	leg := expect[*adapters.CallArrived](h, nil).Leg()
	srv.Stall()
	defer srv.Unstall()
	done := make(chan error, 1)
	go func() { done <- h.a.Answer(context.Background(), leg) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("answer on a stalled Asterisk: %v, want ErrTimeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("answer on a stalled Asterisk never returned")
	}
	_ = id
	if h.a.Status()[0].Timeouts == 0 {
		t.Fatal("timeout not counted")
	}
}

func TestUnreachableAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// And a black hole: accepts TCP, never answers the handshake.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for _, url := range []string{"http://" + addr, "http://" + hole.Addr().String()} {
		cfg := testConfig(url)
		cfg.ConnectTimeout = 300 * time.Millisecond
		a, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- a.Run(context.Background()) }()
		select {
		case err := <-done:
			if !errors.Is(err, adapters.ErrUnreachable) || !strings.Contains(err.Error(), "Asterisk unreachable at "+url) {
				t.Fatalf("Run against %s: %v, want 'Asterisk unreachable at %s'", url, err, url)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("Run against %s never returned", url)
		}
		if _, open := <-a.Events(); open {
			// drain: NodeState down may be queued; the channel must close.
			for range a.Events() {
			}
		}
	}
}

func TestBadCredentialsAtStart(t *testing.T) {
	srv := startFake(t)
	cfg := testConfig(srv.URL())
	cfg.Nodes[0].Password = "wrong"
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "credentials") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Run with a wrong password: %v, want a credentials/401 error", err)
	}
}

// Reconnect mid-queue: one waiting call hangs up during the gap, another
// survives. The survivor is still controllable; the vanished one is missing
// from Reconciled; no call is reported twice.
func TestReconnectReconciles(t *testing.T) {
	srv := startFake(t)
	h := start(t, testConfig(srv.URL()), srv)
	a := inject(t, srv, "A")
	b := inject(t, srv, "B")
	expect[*adapters.CallArrived](h, nil)
	expect[*adapters.CallArrived](h, nil)
	srv.DropWebsocket("switchboard")
	down := expect[*adapters.NodeState](h, func(e *adapters.NodeState) bool { return !e.Up })
	if down.Node != "ast1" || down.Err == "" {
		t.Fatalf("down: %+v", down)
	}
	if err := srv.HangupFar(b, 16); err != nil { // lost: no websocket
		t.Fatal(err)
	}
	var rec *adapters.Reconciled
	for rec == nil {
		select {
		case e := <-h.ev:
			switch v := e.(type) {
			case *adapters.CallArrived:
				t.Fatalf("call reported again after reconnect: %+v", v)
			case *adapters.LegHungUp:
				t.Fatalf("unexpected hangup event: %+v", v)
			case *adapters.Reconciled:
				rec = v
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no Reconciled after reconnect")
		}
	}
	if len(rec.Legs) != 1 || rec.Legs[0].Ref.ID != a {
		t.Fatalf("Reconciled legs %+v, want only %s", rec.Legs, a)
	}
	if err := h.a.Answer(context.Background(), rec.Legs[0].Ref); err != nil {
		t.Fatal(err)
	}
	expect[*adapters.LegAnswered](h, nil)
	if h.a.Status()[0].Reconnects < 1 {
		t.Fatal("reconnect not counted")
	}
}

// Bridges a previous switchboard left on Asterisk: an empty one of ours is
// deleted at the first reconciliation, one holding a caller is kept and
// reported with it, and other applications' bridges are left alone.
func TestReconcileAfterRestartCleansBridges(t *testing.T) {
	srv := startFake(t)
	cfg := testConfig(srv.URL())
	first := start(t, cfg, srv)
	ctx := context.Background()
	inject(t, srv, "A")
	caller := expect[*adapters.CallArrived](first, nil).Leg()
	kept, err := first.a.Bridge(ctx, caller)
	if err != nil {
		t.Fatal(err)
	}
	inject(t, srv, "B")
	gone := expect[*adapters.CallArrived](first, nil).Leg()
	if _, err := first.a.Bridge(ctx, gone); err != nil {
		t.Fatal(err)
	}
	// The first switchboard stops (its run ends: nobody reads events any
	// more) and B hangs up while none is connected; another app's bridge
	// exists too.
	srv.ReplaceApp("switchboard")
	expect[*adapters.NodeState](first, func(e *adapters.NodeState) bool { return e.Standby })
	if err := srv.HangupFar(gone.ID, 16); err != nil {
		t.Fatal(err)
	}
	other := aritestREST(t, srv, "POST", "/bridges?type=mixing&bridgeId=other-app-bridge")
	if other != 200 {
		t.Fatalf("other bridge: %d", other)
	}
	second := start2(t, cfg, srv)
	rec := expect[*adapters.Reconciled](second, nil)
	if len(rec.Legs) != 1 || rec.Legs[0].Ref.ID != caller.ID || rec.Legs[0].BridgeID != kept.ID {
		t.Fatalf("Reconciled %+v, want %s in bridge %s", rec.Legs, caller.ID, kept.ID)
	}
	var ids []string
	for _, b := range srv.Bridges() {
		ids = append(ids, b.ID)
	}
	if len(ids) != 2 || !strings.Contains(strings.Join(ids, " "), kept.ID) || !strings.Contains(strings.Join(ids, " "), "other-app-bridge") {
		t.Fatalf("bridges after reconciliation %v, want %s and other-app-bridge only", ids, kept.ID)
	}
	// The kept bridge is tracked again: its last member leaving deletes it.
	if err := srv.HangupFar(caller.ID, 16); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.Bridges()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("adopted bridge not deleted after its caller left: %+v", srv.Bridges())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// aritestREST makes one REST request to the fake, as another ARI
// application would, and returns the status.
func aritestREST(t *testing.T, srv *aritest.Server, method, path string) int {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL()+"/ari"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("switchboard", "switchboard")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// After a switchboard restart, channels already in Stasis are adopted.
func TestRestartAdoptsSurvivors(t *testing.T) {
	srv := startFake(t)
	cfg := testConfig(srv.URL())
	h1 := start(t, cfg, srv)
	id, err := srv.InjectCall("switchboard", aritest.Caller{Number: "A", Exten: "s", Args: []string{"800"}})
	if err != nil {
		t.Fatal(err)
	}
	expect[*adapters.CallArrived](h1, nil)
	// An agent leg rings through a tag with characters that need escaping.
	const tag = "sbo/ast1-1.1/a1,x/7"
	agent, err := h1.a.Originate(context.Background(), adapters.OriginateRequest{Endpoint: "PJSIP/1001", Tag: tag})
	if err != nil {
		t.Fatal(err)
	}
	expect[*adapters.LegAnswered](h1, func(e *adapters.LegAnswered) bool { return e.Leg() == agent })
	h2 := start2(t, cfg, srv) // replaces the app: h1 goes standby
	arr := expect[*adapters.CallArrived](h2, nil)
	if arr.Leg().ID != id || !arr.Adopted || arr.DialedNumber != "800" || arr.CallerNumber != "A" {
		t.Fatalf("adopted %+v, want %s with its DID 800 from the Stasis() arguments", arr, id)
	}
	rec := expect[*adapters.Reconciled](h2, nil)
	byID := map[string]adapters.LegInfo{}
	for _, l := range rec.Legs {
		byID[l.Ref.ID] = l
	}
	if len(rec.Legs) != 2 || byID[id].DialedNumber != "800" || byID[agent.ID].Tag != tag || byID[agent.ID].State != "Up" {
		t.Fatalf("Reconciled %+v, want the caller and the agent leg with its tag %q", rec.Legs, tag)
	}
	st := expect[*adapters.NodeState](h1, func(e *adapters.NodeState) bool { return e.Standby })
	if st.Node != "ast1" {
		t.Fatalf("standby %+v", st)
	}
}

// start2 is start without waiting for Reconciled (the caller checks it).
func start2(t *testing.T, cfg Config, srv *aritest.Server) *harness {
	t.Helper()
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, srv: srv, a: a, ev: a.Events(), run: make(chan error, 1)}
	go func() { h.run <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-h.run })
	return h
}

func TestApplicationReplacedMeansStandby(t *testing.T) {
	srv := startFake(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	cfg := testConfig(srv.URL())
	a, err := New(cfg, slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, srv: srv, a: a, ev: a.Events(), run: make(chan error, 1)}
	go func() { h.run <- a.Run(ctx) }()
	defer func() { cancel(); <-h.run }()
	expect[*adapters.Reconciled](h, nil)
	id := inject(t, srv, "A")
	leg := expect[*adapters.CallArrived](h, nil).Leg()
	if ok, _ := a.Ready(); !ok {
		t.Fatal("not ready before replacement")
	}
	srv.ReplaceApp("switchboard")
	expect[*adapters.NodeState](h, func(e *adapters.NodeState) bool { return e.Standby })
	if ok, why := a.Ready(); ok || !strings.Contains(why, "standby") {
		t.Fatalf("Ready after replacement: %v %q", ok, why)
	}
	if err := a.Answer(context.Background(), leg); !errors.Is(err, adapters.ErrStandby) {
		t.Fatalf("answer in standby: %v, want ErrStandby", err)
	}
	if c, _ := srv.Channel(id); c.State == "Up" {
		t.Fatal("standby instance acted on the call")
	}
	if !a.Status()[0].Standby {
		t.Fatal("status does not show standby")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(a.Collector())
	if v := gauge(t, reg, "switchboard_asterisk_node_standby"); v != 1 {
		t.Fatalf("standby metric %v, want 1", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "STANDBY") {
		t.Fatalf("standby not logged: %s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestLocalPairIsOneCall(t *testing.T) {
	srv := startFake(t)
	h := start(t, testConfig(srv.URL()), srv)
	id1, _, err := srv.InjectLocalPair("switchboard", aritest.Caller{Number: "5551001"})
	if err != nil {
		t.Fatal(err)
	}
	arr := expect[*adapters.CallArrived](h, nil)
	if arr.Leg().ID != id1 {
		t.Fatalf("call on %s, want the first half %s", arr.Leg().ID, id1)
	}
	if err := srv.HangupFar(id1, 16); err != nil {
		t.Fatal(err)
	}
	expect[*adapters.LegHungUp](h, nil)
	// A marker call proves nothing else came in between.
	inject(t, srv, "marker")
	for {
		select {
		case e := <-h.ev:
			switch v := e.(type) {
			case *adapters.CallArrived:
				if v.CallerNumber != "marker" {
					t.Fatalf("second half reported as a call: %+v", v)
				}
				return
			case *adapters.LegHungUp:
				t.Fatalf("second half reported a hangup: %+v", v)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("marker call never arrived")
		}
	}
}

func TestSnoopListenWhisperBarge(t *testing.T) {
	srv := startFake(t)
	h := start(t, testConfig(srv.URL()), srv)
	ctx := context.Background()
	inject(t, srv, "A")
	caller := expect[*adapters.CallArrived](h, nil).Leg()
	agent, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: "PJSIP/1001", Tag: "offer"})
	if err != nil {
		t.Fatal(err)
	}
	expect[*adapters.LegAnswered](h, func(e *adapters.LegAnswered) bool { return e.Leg() == agent })
	if _, err := h.a.Bridge(ctx, caller, agent); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode    adapters.SnoopMode
		whisper string
	}{{adapters.SnoopListen, "none"}, {adapters.SnoopWhisper, "out"}, {adapters.SnoopBarge, "both"}} {
		sup, err := h.a.Snoop(ctx, adapters.SnoopRequest{Target: agent, Mode: tc.mode, Supervisor: "PJSIP/2001", Tag: "sup-" + string(tc.mode)})
		if err != nil {
			t.Fatal(err)
		}
		if a := expect[*adapters.LegAnswered](h, func(e *adapters.LegAnswered) bool { return e.Leg() == sup }); a.Tag != "sup-"+string(tc.mode) {
			t.Fatalf("supervisor answer %+v", a)
		}
		var spy aritest.ChannelInfo
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			for _, c := range srv.Channels() {
				if c.Snoop && c.Bridge != "" {
					spy = c
				}
			}
			if spy.ID != "" {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if spy.Spy != "both" || spy.Whisper != tc.whisper {
			t.Fatalf("%s: snoop channel %+v, want spy both whisper %s, bridged", tc.mode, spy, tc.whisper)
		}
		if sc, _ := srv.Channel(sup.ID); sc.Bridge != spy.Bridge {
			t.Fatalf("%s: supervisor in bridge %q, snoop in %q", tc.mode, sc.Bridge, spy.Bridge)
		}
		if err := h.a.Hangup(ctx, sup, 16); err != nil {
			t.Fatal(err)
		}
		expect[*adapters.LegHungUp](h, func(e *adapters.LegHungUp) bool { return e.Leg() == sup })
		for i := 0; i < 1000; i++ {
			if _, alive := srv.Channel(spy.ID); !alive {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, alive := srv.Channel(spy.ID); alive {
			t.Fatalf("%s: snoop channel left behind after the supervisor hung up", tc.mode)
		}
	}
}

func TestContinueHandsBackToDialplan(t *testing.T) {
	srv := startFake(t)
	h := start(t, testConfig(srv.URL()), srv)
	id := inject(t, srv, "A")
	leg := expect[*adapters.CallArrived](h, nil).Leg()
	if err := h.a.Continue(context.Background(), leg, "switchboard-fallback", "s"); err != nil {
		t.Fatal(err)
	}
	hu := expect[*adapters.LegHungUp](h, nil)
	if hu.CauseText != "continued in dialplan" || !hu.Local {
		t.Fatalf("after continue: %+v", hu)
	}
	if c, _ := srv.Channel(id); c.Continued != "switchboard-fallback,s,1" {
		t.Fatalf("channel continued to %q", c.Continued)
	}
}

// Two nodes: each call remembers its node, commands go to the owner, and
// one node going down does not stop the other.
func TestSeveralNodes(t *testing.T) {
	s1, s2 := startFake(t), startFake(t)
	h := start(t, testConfig(s1.URL(), s2.URL()), nil)
	id1 := inject(t, s1, "one")
	id2 := inject(t, s2, "two")
	got := map[string]adapters.LegRef{}
	for len(got) < 2 {
		e := expect[*adapters.CallArrived](h, nil)
		got[e.CallerNumber] = e.Leg()
	}
	if got["one"] != (adapters.LegRef{Node: "ast1", ID: id1}) || got["two"] != (adapters.LegRef{Node: "ast2", ID: id2}) {
		t.Fatalf("legs %+v", got)
	}
	if err := h.a.Answer(context.Background(), got["two"]); err != nil {
		t.Fatal(err)
	}
	if c, _ := s2.Channel(id2); c.State != "Up" {
		t.Fatal("answer did not reach the owning node")
	}
	if c, _ := s1.Channel(id1); c.State == "Up" {
		t.Fatal("answer reached the wrong node")
	}
	s1.Close()
	expect[*adapters.NodeState](h, func(e *adapters.NodeState) bool { return e.Node == "ast1" && !e.Up })
	if err := h.a.Answer(context.Background(), got["one"]); !errors.Is(err, adapters.ErrUnreachable) {
		t.Fatalf("command to a down node: %v, want ErrUnreachable", err)
	}
	id3 := inject(t, s2, "three")
	if e := expect[*adapters.CallArrived](h, nil); e.Leg().ID != id3 || e.Leg().Node != "ast2" {
		t.Fatalf("second node stopped: %+v", e)
	}
	if ok, why := h.a.Ready(); !ok || !strings.Contains(why, "ast1") {
		t.Fatalf("Ready with one node down: %v %q", ok, why)
	}
	if _, err := h.a.Bridge(context.Background(), got["one"], got["two"]); !errors.Is(err, adapters.ErrUnsupported) {
		t.Fatalf("cross-node bridge: %v", err)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Nodes: []NodeConfig{{URL: "ftp://x", Password: "p"}}}, "nodes[0].url"},
		{Config{Nodes: []NodeConfig{{}}}, "nodes[0].password"},
		{Config{Nodes: []NodeConfig{{Name: "a", Password: "p"}, {Name: "a", Password: "p"}}}, "nodes[1].name"},
		{Config{Nodes: []NodeConfig{{Password: "p"}}, AgentEndpoint: "PJSIP/1001"}, "agent_endpoint"},
	} {
		if _, err := New(tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
	a, err := New(Config{Nodes: []NodeConfig{{Password: "p"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := a.cfg.Nodes[0]; n.URL != DefaultURL || n.App != "switchboard" || n.Username != "switchboard" || n.Name != "asterisk" {
		t.Fatalf("defaults %+v", n)
	}
}

func TestXSlogBridge(t *testing.T) {
	var buf bytes.Buffer
	l := newXSlog(slog.New(slog.NewTextHandler(&buf, nil)))
	l.With("node", "a1").WithGroup("ws").Error("failed to connect to Asterisk", "error", "boom")
	out := buf.String()
	for _, want := range []string{"failed to connect to Asterisk", " node=a1", "ws.error=boom", "level=ERROR"} {
		if !strings.Contains(out, want) {
			t.Errorf("bridged log %q lacks %q", out, want)
		}
	}
}

// A websocket that stays open but goes silent (half-dead TCP) is found by
// the heartbeat and redialled; reconciliation follows.
func TestSilentWebsocketIsRedialled(t *testing.T) {
	srv := startFake(t)
	cfg := testConfig(srv.URL())
	cfg.Heartbeat = 250 * time.Millisecond
	h := start(t, cfg, srv)
	// On a loaded machine a beat can be late and the link redialled before
	// the silence starts; retry the injection across such a redial.
	var id string
	for i := 0; ; i++ {
		var err error
		if id, err = srv.InjectCall("switchboard", aritest.Caller{Number: "A"}); err == nil {
			break
		} else if i > 1000 {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	expect[*adapters.CallArrived](h, func(e *adapters.CallArrived) bool { return e.Leg().ID == id })
	srv.SilenceWebsocket("switchboard")
	down := expect[*adapters.NodeState](h, func(e *adapters.NodeState) bool { return !e.Up })
	if !strings.Contains(down.Err, "no event or heartbeat") {
		t.Fatalf("down: %+v", down)
	}
	rec := expect[*adapters.Reconciled](h, nil)
	if len(rec.Legs) != 1 || rec.Legs[0].Ref.ID != id {
		t.Fatalf("Reconciled %+v", rec)
	}
}

// gauge reads the single value of a gauge family from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single-valued metric %s", name)
	return 0
}

// Channel variables named by ari.conf's channelvars reach entry rules
// with the Stasis() arguments.
func TestChannelVarsInCallArrived(t *testing.T) {
	srv, err := aritest.New(aritest.Options{ChannelVars: []string{"VIP"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	h := start(t, testConfig(srv.URL()), srv)
	if _, err := srv.InjectCall("switchboard", aritest.Caller{Number: "1", Exten: "s", Args: []string{"800", "en"}, Vars: map[string]string{"VIP": "gold"}}); err != nil {
		t.Fatal(err)
	}
	arr := expect[*adapters.CallArrived](h, nil)
	if arr.DialedNumber != "800" || arr.Vars["VIP"] != "gold" || arr.Vars["ARG1"] != "800" || arr.Vars["ARG2"] != "en" {
		t.Fatalf("CallArrived %+v", arr)
	}
}

// Asterisk keeps an ARI bridge until it is deleted, even empty: the last
// member to leave deletes it, and reconciliation deletes the ones whose
// calls ended while the link was down.
func TestEmptyBridgesAreDeleted(t *testing.T) {
	srv := startFake(t)
	h := start(t, testConfig(srv.URL()), srv)
	ctx := context.Background()
	bridged := func(num string) (adapters.LegRef, adapters.LegRef, adapters.BridgeRef) {
		t.Helper()
		inject(t, srv, num)
		caller := expect[*adapters.CallArrived](h, func(e *adapters.CallArrived) bool { return e.CallerNumber == num }).Leg()
		agent, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: "PJSIP/1001", Tag: num})
		if err != nil {
			t.Fatal(err)
		}
		expect[*adapters.LegAnswered](h, func(e *adapters.LegAnswered) bool { return e.Leg() == agent })
		br, err := h.a.Bridge(ctx, caller, agent)
		if err != nil {
			t.Fatal(err)
		}
		return caller, agent, br
	}
	bridges := func() []string {
		var ids []string
		for _, b := range srv.Bridges() {
			ids = append(ids, b.ID)
		}
		return ids
	}
	waitNoBridges := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(srv.Bridges()) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: bridges left on Asterisk: %v", what, bridges())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	caller, agent, br := bridged("A")
	if _, err := h.a.Record(ctx, adapters.RecordRequest{Bridge: br, Name: "rec-a"}); err != nil {
		t.Fatal(err)
	}
	expect[*adapters.RecordingStarted](h, nil)
	if err := srv.HangupFar(agent.ID, 16); err != nil {
		t.Fatal(err)
	}
	if got := bridges(); len(got) != 1 {
		t.Fatalf("bridge gone with one member left: %v", got)
	}
	if err := h.a.Hangup(ctx, caller, 16); err != nil {
		t.Fatal(err)
	}
	waitNoBridges("after both legs hung up")
	// Deleting the bridge ended its recording.
	if rf := expect[*adapters.RecordingFinished](h, nil); rf.Recording.Name != "rec-a" {
		t.Fatalf("RecordingFinished %+v", rf)
	}

	// Both legs go while the websocket is down: no ChannelLeftBridge ever
	// arrives; reconciliation finds the empty bridge and deletes it.
	caller, agent, _ = bridged("B")
	srv.SetDown(true)
	expect[*adapters.NodeState](h, func(e *adapters.NodeState) bool { return !e.Up })
	for _, l := range []adapters.LegRef{caller, agent} {
		if err := srv.HangupFar(l.ID, 16); err != nil {
			t.Fatal(err)
		}
	}
	if len(srv.Bridges()) != 1 {
		t.Fatalf("bridges while down: %v", bridges())
	}
	srv.SetDown(false)
	expect[*adapters.Reconciled](h, nil)
	waitNoBridges("after reconciliation")
}

// A replaced instance must never redial: that would take the app back
// from the switchboard that took it over, and the two would flap. The
// worker is held up (a log call blocks) so that standby cannot wait for
// it: the reader itself must stop the redial loop.
func TestStandbyNeverRedials(t *testing.T) {
	srv := startFake(t)
	cfg := testConfig(srv.URL())
	cfg.ReconnectDelay = time.Millisecond
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	blocked := make(chan struct{}, 1)
	log := slog.New(blockingHandler{match: "second half of a Local pair", release: release, blocked: blocked})
	a, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, srv: srv, a: a, ev: a.Events(), run: make(chan error, 1)}
	go func() { h.run <- a.Run(ctx) }()
	defer func() { cancel(); unblock(); <-h.run }()
	expect[*adapters.Reconciled](h, nil)
	if _, _, err := srv.InjectLocalPair("switchboard", aritest.Caller{Number: "1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-blocked: // the worker is stuck on the pair's second half
	case <-time.After(10 * time.Second):
		t.Fatal("worker never reached the blocking log call")
	}
	srv.ReplaceApp("switchboard")
	// Give a wrong redial loop many times its delay to dial again.
	time.Sleep(200 * time.Millisecond)
	if n := srv.Connections("switchboard"); n != 1 || srv.Connected("switchboard") {
		t.Fatalf("after replacement: %d websockets from this instance, connected %v; want only the replaced one, no redial", n, srv.Connected("switchboard"))
	}
	unblock()
	expect[*adapters.NodeState](h, func(e *adapters.NodeState) bool { return e.Standby })
}

// blockingHandler blocks the goroutine logging a message containing match
// until release is closed.
type blockingHandler struct {
	match   string
	release chan struct{}
	blocked chan struct{}
}

func (b blockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (b blockingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, b.match) {
		select {
		case b.blocked <- struct{}{}:
		default:
		}
		<-b.release
	}
	return nil
}
func (b blockingHandler) WithAttrs([]slog.Attr) slog.Handler { return b }
func (b blockingHandler) WithGroup(string) slog.Handler      { return b }

// Concurrent requests reuse keep-alive connections: ari/v6's default
// client (http.DefaultTransport, 2 idle connections per host) dials and
// closes a TCP connection for nearly every request under load, which runs
// the ephemeral ports out within seconds at the target call rate.
func TestRequestsReuseConnections(t *testing.T) {
	srv := startFake(t)
	h := start(t, testConfig(srv.URL()), srv)
	inject(t, srv, "A")
	leg := expect[*adapters.CallArrived](h, nil).Leg()
	before := srv.Conns()
	const workers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// 204 replies, and bridge creation, whose JSON reply
				// ari/v6 does not read at all.
				var err error
				if i%2 == 0 {
					err = h.a.SetVar(context.Background(), leg, "N", fmt.Sprint(i))
				} else {
					_, err = h.a.Bridge(context.Background(), leg)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The adapter's own background requests (deleting the bridges left
	// empty) add to the workers', so the bound is the pool: at most one
	// connection per request that may be in flight.
	if dialled, most := srv.Conns()-before, h.a.cfg.MaxInflight+2; dialled > most {
		t.Fatalf("%d requests, %d at a time, dialled %d new connections; want at most %d (keep-alive reuse)", workers*each, workers, dialled, most)
	}
}

// A request that times out is also aborted on the wire (a little after
// the caller stopped waiting), so a hung Asterisk does not keep the
// in-flight slots for ever: after max_inflight timeouts, new requests get
// a slot again (and time out in their turn) instead of "too many requests
// in flight" for good.
func TestTimedOutRequestsFreeTheirSlot(t *testing.T) {
	srv := startFake(t)
	cfg := testConfig(srv.URL())
	cfg.RequestTimeout = 200 * time.Millisecond
	cfg.Heartbeat = time.Hour
	cfg.MaxInflight = 2
	h := start(t, cfg, srv)
	inject(t, srv, "A")
	leg := expect[*adapters.CallArrived](h, nil).Leg()
	srv.Stall()
	defer srv.Unstall()
	for i := 0; i < cfg.MaxInflight; i++ {
		if err := h.a.SetVar(context.Background(), leg, "X", "1"); !errors.Is(err, ErrTimeout) {
			t.Fatalf("request %d on a stalled Asterisk: %v, want ErrTimeout", i, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := h.a.SetVar(context.Background(), leg, "X", "1")
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("on a stalled Asterisk: %v, want ErrTimeout", err)
		}
		if !strings.Contains(err.Error(), "too many requests in flight") {
			return // a slot was free: the stalled requests were aborted
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v: timed-out requests still hold their slots", err)
		}
	}
}

// A node unreachable at start does not stop the others: Run goes on with
// the nodes that answered and keeps dialling the missing one, which is
// reconciled and used as soon as its Asterisk is there.
func TestNodeDownAtStartIsRetried(t *testing.T) {
	s1 := startFake(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig(s1.URL(), "http://"+addr)
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, a: a, ev: a.Events(), run: make(chan error, 1)}
	go func() { h.run <- a.Run(ctx) }()
	defer func() { cancel(); <-h.run }()
	down := expect[*adapters.NodeState](h, func(e *adapters.NodeState) bool { return e.Node == "ast2" && !e.Up })
	if !strings.Contains(down.Err, "Asterisk unreachable at http://"+addr) {
		t.Fatalf("ast2 down: %+v", down)
	}
	expect[*adapters.Reconciled](h, func(e *adapters.Reconciled) bool { return e.Node == "ast1" })
	if ok, why := a.Ready(); !ok || !strings.Contains(why, "ast2") {
		t.Fatalf("Ready with ast2 missing: %v %q", ok, why)
	}
	id1 := inject(t, s1, "one")
	if e := expect[*adapters.CallArrived](h, nil); e.Leg() != (adapters.LegRef{Node: "ast1", ID: id1}) {
		t.Fatalf("call on ast1: %+v", e)
	}
	s2, err := aritest.New(aritest.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	expect[*adapters.Reconciled](h, func(e *adapters.Reconciled) bool { return e.Node == "ast2" })
	id2 := inject(t, s2, "two")
	leg := expect[*adapters.CallArrived](h, nil).Leg()
	if leg != (adapters.LegRef{Node: "ast2", ID: id2}) {
		t.Fatalf("call on ast2: %+v", leg)
	}
	if err := a.Answer(context.Background(), leg); err != nil {
		t.Fatal(err)
	}
	if c, _ := s2.Channel(id2); c.State != "Up" {
		t.Fatal("answer did not reach ast2")
	}
}
