package ari

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// End to end: the controller and the routing engine, this adapter with the
// real ari/v6 client, and the fake Asterisk on real loopback sockets, on
// the real clock. The tests wait on what the controller publishes (its
// snapshot, its journal records, its observer events) and on what the
// fake Asterisk holds, never on time.

const e2eRules = `
queues:
  - name: support
    offer_timeout: 1s
    wrap_up: 100ms
    max_misses: 3
entry:
  - {when: 'dialed == "800"', queue: support}
default_queue: support
`

// e2eWait bounds every wait for something that must happen; it is a guard
// against hangs, never a measured duration.
const e2eWait = 10 * time.Second

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// e2eJournal keeps what the database would hold after the journal's
// upserts, and every move of a call record into a final outcome, so a
// call closed twice (say once by reconciliation and once by a late event)
// shows.
type e2eJournal struct {
	mu      sync.Mutex
	calls   map[string]storage.Call
	closes  map[string][]string
	appends int // every record appended, of any kind
}

func newE2EJournal() *e2eJournal {
	return &e2eJournal{calls: map[string]storage.Call{}, closes: map[string][]string{}}
}

func (j *e2eJournal) Append(r storage.Record) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.appends++
	c, ok := r.(storage.Call)
	if !ok {
		return
	}
	prev, seen := j.calls[c.ID]
	if c.Outcome != storage.OutcomeLive && (!seen || prev.Outcome != c.Outcome) {
		j.closes[c.ID] = append(j.closes[c.ID], c.Outcome)
	}
	j.calls[c.ID] = c
}

func (j *e2eJournal) call(id string) (storage.Call, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	c, ok := j.calls[id]
	return c, ok
}

func (j *e2eJournal) written() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.appends
}

func (j *e2eJournal) closed(id string) []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.closes[id]...)
}

// e2eObserver stands in for the recordings room — it records every call
// once it is bridged, through the port — and counts the controller's
// call events by kind.
type e2eObserver struct {
	pbx      adapters.PBX
	mu       sync.Mutex
	kinds    map[string]map[string]int // kind → call id → count
	started  map[string]adapters.RecordingRef
	finished map[string]adapters.RecordingFinished
	errs     []error
}

func (o *e2eObserver) Observe(e controller.CallEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.kinds[e.Kind] == nil {
		o.kinds[e.Kind] = map[string]int{}
	}
	o.kinds[e.Kind][e.CallID]++
	switch e.Kind {
	case controller.EventBridged:
		bridge, caller, id := e.Bridge, e.Caller, e.CallID
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			rec, err := o.pbx.Record(ctx, adapters.RecordRequest{Bridge: bridge, Leg: caller, Name: "rec-" + id})
			o.mu.Lock()
			defer o.mu.Unlock()
			if err != nil {
				o.errs = append(o.errs, err)
				return
			}
			o.started[id] = rec
		}()
	case controller.EventPBX:
		if f, ok := e.PBXEvent.(adapters.RecordingFinished); ok {
			o.finished[f.Recording.Name] = f
		}
	}
}

func (o *e2eObserver) count(kind, callID string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.kinds[kind][callID]
}

func (o *e2eObserver) total(kind string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range o.kinds[kind] {
		n += c
	}
	return n
}

// syncBuffer collects logs from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type e2e struct {
	t    *testing.T
	srv  *aritest.Server
	a    *Adapter
	ctl  *controller.Controller
	jr   *e2eJournal
	obs  *e2eObserver
	logs *syncBuffer
	// adapterErr and ctlErr receive what the adapter's and the
	// controller's Run returned.
	adapterErr, ctlErr chan error
}

type e2eOptions struct {
	agents []routing.Agent
	cfg    func(*Config)
	// noWait skips waiting for the link (unreachable-at-start tests).
	noWait bool
}

// startE2E runs an adapter and a controller against srv; several may run
// against one fake, like two switchboards beside one Asterisk.
func startE2E(t *testing.T, srv *aritest.Server, o e2eOptions) *e2e {
	t.Helper()
	url := "http://127.0.0.1:1"
	if srv != nil {
		url = srv.URL()
	}
	cfg := testConfig(url)
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := routing.ParseRules("e2e.yaml", []byte(e2eRules))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := routing.NewEngineChecked(rules)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, ag := range o.agents {
		eng.UpsertAgent(ag, now)
	}
	jr := newE2EJournal()
	obs := &e2eObserver{pbx: a, kinds: map[string]map[string]int{}, started: map[string]adapters.RecordingRef{}, finished: map[string]adapters.RecordingFinished{}}
	ctl, err := controller.New(controller.Config{CommandTimeout: 3 * time.Second}, controller.Deps{PBX: a, Engine: eng, Journal: jr,
		Observers: []controller.Observer{obs}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &e2e{t: t, srv: srv, a: a, ctl: ctl, jr: jr, obs: obs, logs: logs, adapterErr: make(chan error, 1), ctlErr: make(chan error, 1)}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.adapterErr <- a.Run(ctx) }()
	go func() { defer wg.Done(); e.ctlErr <- ctl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	if o.noWait {
		return e
	}
	waitUntil(t, "controller ready with the Asterisk link up", func() bool { ok, _ := ctl.Ready(); return ok })
	for _, ag := range o.agents {
		if err := ctl.AgentLogin(context.Background(), ag.ID); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func e2eAgent(id, endpoint string) routing.Agent {
	return routing.Agent{ID: id, Endpoint: endpoint, Queues: map[string]int{"support": 1}}
}

func newFake(t *testing.T) *aritest.Server {
	t.Helper()
	srv, err := aritest.New(aritest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// call brings an inbound call for DID 800 into Stasis as the sample
// dialplan does (Stasis(switchboard,${EXTEN}) from extension s).
func (e *e2e) call(number string) (chanID, callID string) {
	e.t.Helper()
	id, err := e.srv.InjectCall("switchboard", aritest.Caller{Number: number, Name: "Caller " + number, Exten: "s", Args: []string{"800"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return id, "ast1-" + id
}

func (e *e2e) queue() controller.QueueStatus {
	for _, q := range e.ctl.Snapshot().Queues {
		if q.Name == "support" {
			return q
		}
	}
	return controller.QueueStatus{}
}

func (e *e2e) waitQueue(what string, ok func(controller.QueueStatus) bool) {
	e.t.Helper()
	var last controller.QueueStatus
	waitUntil(e.t, "queue "+what, func() bool { last = e.queue(); return ok(last) })
	_ = last
}

func (e *e2e) outcome(callID, want string) storage.Call {
	e.t.Helper()
	var c storage.Call
	waitUntil(e.t, "call "+callID+" "+want, func() bool {
		var ok bool
		c, ok = e.jr.call(callID)
		return ok && c.Outcome == want
	})
	return c
}

// closedOnce checks that the call was closed exactly once, with want.
func (e *e2e) closedOnce(callID, want string) {
	e.t.Helper()
	if got := e.jr.closed(callID); len(got) != 1 || got[0] != want {
		e.t.Fatalf("call %s closed as %v, want once as %s", callID, got, want)
	}
}

// waitClean waits until Asterisk holds no channel and no bridge: every leg
// was hung up and every bridge switchboard made was deleted.
func (e *e2e) waitClean() {
	e.t.Helper()
	waitUntil(e.t, "no channels and no bridges left on Asterisk", func() bool {
		return len(e.srv.Channels()) == 0 && len(e.srv.Bridges()) == 0
	})
}

// agentChannel waits for the channel originated to endpoint.
func (e *e2e) agentChannel(endpoint string) aritest.ChannelInfo {
	e.t.Helper()
	var ch aritest.ChannelInfo
	waitUntil(e.t, "a channel to "+endpoint, func() bool {
		cs := e.srv.ChannelsByEndpoint(endpoint)
		if len(cs) == 0 {
			return false
		}
		ch = cs[0]
		return true
	})
	return ch
}

// waitBridged waits until the caller shares a mixing bridge with the
// channel originated to endpoint, and returns that channel and the bridge.
func (e *e2e) waitBridged(caller, endpoint string) (aritest.ChannelInfo, aritest.BridgeInfo) {
	e.t.Helper()
	var ag aritest.ChannelInfo
	var br aritest.BridgeInfo
	waitUntil(e.t, "caller bridged with "+endpoint, func() bool {
		c, ok := e.srv.Channel(caller)
		if !ok || c.Bridge == "" {
			return false
		}
		for _, a := range e.srv.ChannelsByEndpoint(endpoint) {
			if a.Bridge == c.Bridge {
				ag = a
			}
		}
		for _, b := range e.srv.Bridges() {
			if b.ID == c.Bridge {
				br = b
			}
		}
		return ag.ID != "" && br.ID != ""
	})
	return ag, br
}

// Answered: the caller is answered and held, the agent's phone (a bare
// extension expanded by the endpoint template) rings with the caller's
// number and answers; caller and agent are joined in a mixing bridge,
// which is recorded. The caller hangs up: the agent leg is hung up, the
// bridge deleted (which ends the recording), the call stored once as
// answered by that agent, and the recording reported with the duration
// Asterisk gave.
func TestE2EAnsweredBridgedRecorded(t *testing.T) {
	srv := newFake(t)
	e := startE2E(t, srv, e2eOptions{agents: []routing.Agent{e2eAgent("a1", "1001")}})
	srv.Behave("PJSIP/1001", aritest.Behavior{AnswerAfter: 20 * time.Millisecond})
	caller, id := e.call("5551234")
	ag, br := e.waitBridged(caller, "PJSIP/1001")
	if c, _ := srv.Channel(caller); c.State != "Up" {
		t.Fatalf("caller %+v not answered", c)
	}
	if ag.CallerNumber != "5551234" || ag.Vars["SWITCHBOARD_ROLE"] != "agent" || ag.Vars["SWITCHBOARD_CALL"] != id || len(ag.Args) < 2 || ag.Args[0] != "sb" {
		t.Fatalf("agent leg %+v", ag)
	}
	if br.Type != "mixing" || len(br.Channels) != 2 {
		t.Fatalf("bridge %+v", br)
	}
	var rec aritest.RecordingInfo
	waitUntil(t, "the bridge recorded", func() bool {
		for _, r := range srv.Recordings() {
			if r.Target == "bridge:"+br.ID && r.State == "recording" {
				rec = r
				return true
			}
		}
		return false
	})
	if err := srv.AgeRecording(rec.Name, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := srv.HangupFar(caller, 16); err != nil {
		t.Fatal(err)
	}
	c := e.outcome(id, storage.OutcomeAnswered)
	if c.AgentID != "a1" || c.Queue != "support" || c.Node != "ast1" || c.AnsweredAt == nil || c.EndedAt == nil || c.CallerNumber != "5551234" || c.DialedNumber != "800" {
		t.Fatalf("call record %+v", c)
	}
	var fin adapters.RecordingFinished
	waitUntil(t, "recording finished reported", func() bool {
		e.obs.mu.Lock()
		defer e.obs.mu.Unlock()
		var ok bool
		fin, ok = e.obs.finished[rec.Name]
		return ok
	})
	if fin.Duration != 2*time.Second || fin.Format != "wav" || fin.Path != "/var/spool/asterisk/recording/"+rec.Name+".wav" || fin.Recording.Node != "ast1" {
		t.Fatalf("RecordingFinished %+v", fin)
	}
	e.waitClean()
	e.waitQueue("1 offered, 1 answered", func(q controller.QueueStatus) bool {
		return q.Offered == 1 && q.Answered == 1 && q.Abandoned == 0 && q.Waiting == 0
	})
	e.closedOnce(id, storage.OutcomeAnswered)
	if e.obs.errs != nil {
		t.Fatalf("record errors: %v", e.obs.errs)
	}
}

// Abandon: nobody is logged in; the caller is answered, waits on music on
// hold and hangs up.
func TestE2EAbandonWhileWaiting(t *testing.T) {
	srv := newFake(t)
	e := startE2E(t, srv, e2eOptions{})
	caller, id := e.call("5550001")
	waitUntil(t, "caller answered and on hold", func() bool {
		c, _ := srv.Channel(caller)
		return c.State == "Up" && c.MOH == "default"
	})
	e.waitQueue("1 waiting", func(q controller.QueueStatus) bool { return q.Waiting == 1 })
	if err := srv.HangupFar(caller, 16); err != nil {
		t.Fatal(err)
	}
	c := e.outcome(id, storage.OutcomeAbandoned)
	if c.EndedAt == nil || c.AgentID != "" || !strings.Contains(c.EndReason, "caller hung up") {
		t.Fatalf("call record %+v", c)
	}
	e.waitQueue("1 abandoned", func(q controller.QueueStatus) bool { return q.Abandoned == 1 && q.Waiting == 0 && q.Answered == 0 })
	e.closedOnce(id, storage.OutcomeAbandoned)
	e.waitClean()
}

// No answer, then another agent: the first phone rings past the offer
// timeout (RONA), its leg is hung up, the call keeps its place and goes
// to the second agent, who answers.
func TestE2ENoAnswerThenSecondAgent(t *testing.T) {
	srv := newFake(t)
	srv.Behave("PJSIP/1001", aritest.Behavior{NoAnswer: true})
	srv.Behave("PJSIP/1002", aritest.Behavior{AnswerAfter: 10 * time.Millisecond})
	e := startE2E(t, srv, e2eOptions{agents: []routing.Agent{e2eAgent("never", "PJSIP/1001")}})
	caller, id := e.call("5550002")
	first := e.agentChannel("PJSIP/1001")
	if first.State == "Up" {
		t.Fatalf("first agent answered: %+v", first)
	}
	// The second agent logs in while the first one rings.
	ctx := context.Background()
	if err := e.ctl.UpsertAgent(ctx, e2eAgent("good", "PJSIP/1002")); err != nil {
		t.Fatal(err)
	}
	if err := e.ctl.AgentLogin(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	e.waitBridged(caller, "PJSIP/1002")
	if _, ringing := srv.Channel(first.ID); ringing {
		t.Fatal("the first agent's leg still rings after the call went to the second")
	}
	var never routing.AgentView
	for _, a := range e.ctl.Snapshot().Agents {
		if a.ID == "never" {
			never = a
		}
	}
	if never.Misses != 1 {
		t.Fatalf("agent never: %+v, want one miss", never)
	}
	if err := srv.HangupFar(caller, 16); err != nil {
		t.Fatal(err)
	}
	c := e.outcome(id, storage.OutcomeAnswered)
	if c.AgentID != "good" || c.Offers != 2 {
		t.Fatalf("call record %+v", c)
	}
	e.closedOnce(id, storage.OutcomeAnswered)
	e.waitQueue("1 answered", func(q controller.QueueStatus) bool { return q.Answered == 1 && q.Abandoned == 0 && q.Offered == 1 })
	e.waitClean()
}

// Supervisor snoop on a connected call, asked of the controller: listen,
// whisper and barge each get a snoop channel on the agent's leg (spy both
// ways; whisper none, to the agent, both) bridged with the supervisor's
// phone, while the call goes on untouched. A waiting call cannot be
// snooped. When the call ends with a supervisor still on, everything is
// torn down.
func TestE2ESupervisorSnoop(t *testing.T) {
	srv := newFake(t)
	e := startE2E(t, srv, e2eOptions{agents: []routing.Agent{e2eAgent("a1", "PJSIP/1001")}})
	ctx := context.Background()
	if err := e.ctl.AgentLogout(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	caller, id := e.call("5550003")
	e.waitQueue("1 waiting", func(q controller.QueueStatus) bool { return q.Waiting == 1 })
	if _, err := e.ctl.SnoopCall(ctx, id, adapters.SnoopListen, "PJSIP/2001"); !errors.Is(err, controller.ErrInvalidState) {
		t.Fatalf("snoop on a waiting call: %v, want ErrInvalidState", err)
	}
	if err := e.ctl.AgentLogin(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	ag, _ := e.waitBridged(caller, "PJSIP/1001")
	modes := []struct {
		mode    adapters.SnoopMode
		whisper string
	}{{adapters.SnoopListen, "none"}, {adapters.SnoopWhisper, "out"}, {adapters.SnoopBarge, "both"}}
	for i, m := range modes {
		sup, err := e.ctl.SnoopCall(ctx, id, m.mode, "PJSIP/2001")
		if err != nil {
			t.Fatal(err)
		}
		if sup.Node != "ast1" {
			t.Fatalf("supervisor leg %+v", sup)
		}
		var spy aritest.ChannelInfo
		waitUntil(t, string(m.mode)+": supervisor bridged with the snoop channel", func() bool {
			s, ok := srv.Channel(sup.ID)
			if !ok || s.Bridge == "" {
				return false
			}
			for _, c := range srv.Channels() {
				if c.Snoop && c.Bridge == s.Bridge {
					spy = c
				}
			}
			return spy.ID != ""
		})
		if spy.Spy != "both" || spy.Whisper != m.whisper || spy.Vars["__snoop_target"] != ag.ID {
			t.Fatalf("%s: snoop channel %+v, want spy both, whisper %s on %s", m.mode, spy, m.whisper, ag.ID)
		}
		if c, _ := srv.Channel(caller); c.Bridge == spy.Bridge {
			t.Fatalf("%s: the supervisor joined the customer's bridge", m.mode)
		}
		if i == len(modes)-1 {
			break // the barging supervisor stays on until the call ends
		}
		if err := srv.HangupFar(sup.ID, 16); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, string(m.mode)+": snoop channel gone with its supervisor", func() bool {
			_, alive := srv.Channel(spy.ID)
			return !alive
		})
	}
	// The controller's call was not disturbed by the supervisor legs.
	if c, _ := e.jr.call(id); c.Outcome != storage.OutcomeLive || c.AgentID != "a1" {
		t.Fatalf("call during snoops: %+v", c)
	}
	if c, _ := srv.Channel(caller); c.Bridge != ag.Bridge {
		t.Fatalf("caller left the agent's bridge: %+v", c)
	}
	if err := srv.HangupFar(caller, 16); err != nil {
		t.Fatal(err)
	}
	e.outcome(id, storage.OutcomeAnswered)
	e.waitClean() // agent, snoop and supervisor legs, both bridges
	e.closedOnce(id, storage.OutcomeAnswered)
	e.waitQueue("1 answered", func(q controller.QueueStatus) bool { return q.Answered == 1 && q.Offered == 1 })
}

// Reconnect mid-queue: two callers wait; Asterisk becomes unreachable; one
// caller hangs up meanwhile (nobody hears of it: Asterisk drops events and
// replays nothing). When the link is back, reconciliation closes that
// call as abandoned with the reason, keeps the survivor in line, and the
// survivor is routed and answered when an agent logs in. Nothing is
// counted twice: each call arrives once and is closed once.
func TestE2EReconnectMidQueue(t *testing.T) {
	srv := newFake(t)
	e := startE2E(t, srv, e2eOptions{agents: []routing.Agent{e2eAgent("a1", "PJSIP/1001")}})
	ctx := context.Background()
	if err := e.ctl.AgentLogout(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	gone, goneID := e.call("5550010")
	stay, stayID := e.call("5550011")
	e.waitQueue("2 waiting", func(q controller.QueueStatus) bool { return q.Waiting == 2 })

	srv.SetDown(true)
	waitUntil(t, "the controller sees the node down", func() bool {
		for _, n := range e.ctl.Snapshot().Nodes {
			if n.Node == "ast1" && !n.Up {
				return true
			}
		}
		return false
	})
	if ok, _ := e.ctl.Ready(); ok {
		t.Fatal("controller ready with its only node down")
	}
	if err := srv.HangupFar(gone, 16); err != nil {
		t.Fatal(err)
	}
	srv.SetDown(false)

	c := e.outcome(goneID, storage.OutcomeAbandoned)
	if !strings.Contains(c.EndReason, "vanished") || c.EndedAt == nil {
		t.Fatalf("vanished call: %+v", c)
	}
	e.waitQueue("1 waiting, 1 abandoned", func(q controller.QueueStatus) bool { return q.Waiting == 1 && q.Abandoned == 1 })
	waitUntil(t, "controller ready again", func() bool { ok, _ := e.ctl.Ready(); return ok })
	if err := e.ctl.AgentLogin(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	e.waitBridged(stay, "PJSIP/1001")
	if err := srv.HangupFar(stay, 16); err != nil {
		t.Fatal(err)
	}
	if c := e.outcome(stayID, storage.OutcomeAnswered); c.AgentID != "a1" {
		t.Fatalf("survivor: %+v", c)
	}
	e.closedOnce(goneID, storage.OutcomeAbandoned)
	e.closedOnce(stayID, storage.OutcomeAnswered)
	for _, id := range []string{goneID, stayID} {
		if n := e.obs.count(controller.EventArrived, id); n != 1 {
			t.Fatalf("call %s arrived %d times", id, n)
		}
	}
	e.waitQueue("2 offered, 1 answered, 1 abandoned", func(q controller.QueueStatus) bool {
		return q.Offered == 2 && q.Answered == 1 && q.Abandoned == 1 && q.Waiting == 0
	})
	if e.a.Status()[0].Reconnects < 1 {
		t.Fatal("reconnect not counted")
	}
	e.waitClean()
}

// ApplicationReplaced: a second switchboard connects to the same Asterisk
// and app. The first goes to standby — it says so in its log, /readyz
// (the controller's Ready) and its metrics, and stops acting: an agent
// logging in there rings nobody. The second adopts the waiting call and
// connects it to its own agent.
func TestE2EApplicationReplaced(t *testing.T) {
	srv := newFake(t)
	first := startE2E(t, srv, e2eOptions{})
	caller, id := first.call("5550020")
	first.waitQueue("1 waiting", func(q controller.QueueStatus) bool { return q.Waiting == 1 })

	second := startE2E(t, srv, e2eOptions{agents: []routing.Agent{e2eAgent("b1", "PJSIP/1002")}})
	waitUntil(t, "the first switchboard in standby", func() bool {
		ok, why := first.ctl.Ready()
		return !ok && strings.Contains(why, "standby")
	})
	if ok, why := first.a.Ready(); ok || !strings.Contains(why, "ApplicationReplaced") {
		t.Fatalf("adapter Ready in standby: %v %q", ok, why)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(first.a.Collector())
	if v := gauge(t, reg, "switchboard_asterisk_node_standby"); v != 1 {
		t.Fatalf("standby metric %v, want 1", v)
	}
	if v := gauge(t, reg, "switchboard_asterisk_node_up"); v != 0 {
		t.Fatalf("up metric in standby %v, want 0", v)
	}
	if !strings.Contains(first.logs.String(), "STANDBY") {
		t.Fatalf("standby not logged:\n%s", first.logs.String())
	}

	// The second switchboard adopted the caller and connects it.
	second.waitBridged(caller, "PJSIP/1002")
	if n := second.obs.count(controller.EventArrived, id); n != 1 {
		t.Fatalf("second switchboard saw the call arrive %d times", n)
	}

	// The first let go of the call when it went to standby: it does not
	// route it (an agent logging in there is offered nothing, so no ring
	// is refused and counted as the agent's miss) and writes no record of
	// it — with one database for both, that would overwrite the second's.
	if calls := first.ctl.Snapshot().Calls; len(calls) != 0 {
		t.Fatalf("the standby switchboard still routes %+v", calls)
	}
	if got := first.obs.count(controller.EventHandedOver, id); got != 1 {
		t.Fatalf("handed_over seen %d times on the first switchboard", got)
	}
	written := first.jr.written()
	ctx := context.Background()
	if err := first.ctl.UpsertAgent(ctx, e2eAgent("a1", "PJSIP/1001")); err != nil {
		t.Fatal(err)
	}
	if err := first.ctl.AgentLogin(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first switchboard idle", first.ctl.Idle)
	for _, a := range first.ctl.Snapshot().Agents {
		if a.ID == "a1" && (a.State != routing.StateAvailable || a.Misses != 0) {
			t.Fatalf("agent on the standby switchboard: %+v", a)
		}
	}
	if strings.Contains(first.logs.String(), "could not ring agent") {
		t.Fatalf("the standby switchboard tried to ring:\n%s", first.logs.String())
	}
	if cs := srv.ChannelsByEndpoint("PJSIP/1001"); len(cs) != 0 {
		t.Fatalf("the standby switchboard rang an agent: %+v", cs)
	}
	if c, _ := srv.Channel(caller); c.MOH != "" && c.Bridge == "" {
		t.Fatalf("caller %+v", c)
	}
	if err := srv.HangupFar(caller, 16); err != nil {
		t.Fatal(err)
	}
	if c := second.outcome(id, storage.OutcomeAnswered); c.AgentID != "b1" {
		t.Fatalf("call on the second switchboard: %+v", c)
	}
	second.waitClean()
	if n := first.jr.written(); n != written {
		t.Fatalf("the standby switchboard wrote %d records", n-written)
	}
	if srv.Connections("switchboard") != 2 {
		t.Fatalf("%d websockets for the app, want the two switchboards' (the standby one does not redial)", srv.Connections("switchboard"))
	}
}

// Asterisk unreachable at start: nothing listening, and a black hole that
// accepts TCP and never answers. The adapter gives up after the connect
// timeout with "Asterisk unreachable at URL", its event stream closes and
// the controller stops with it (serve exits with that error).
func TestE2EAsteriskUnreachableAtStart(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	for _, url := range []string{deadURL, "http://" + hole.Addr().String()} {
		e := startE2E(t, nil, e2eOptions{noWait: true, cfg: func(c *Config) {
			c.Nodes[0].URL = url
			c.ConnectTimeout = 300 * time.Millisecond
		}})
		select {
		case err := <-e.adapterErr:
			if !errors.Is(err, adapters.ErrUnreachable) || !strings.Contains(err.Error(), "Asterisk unreachable at "+url) {
				t.Fatalf("%s: %v, want 'Asterisk unreachable at %s'", url, err, url)
			}
		case <-time.After(e2eWait):
			t.Fatalf("%s: the adapter did not give up", url)
		}
		select {
		case err := <-e.ctlErr:
			if err != nil {
				t.Fatalf("%s: controller: %v", url, err)
			}
		case <-time.After(e2eWait):
			t.Fatalf("%s: the controller went on without its PBX", url)
		}
		if ok, _ := e.ctl.Ready(); ok {
			t.Fatalf("%s: controller ready without Asterisk", url)
		}
		if !strings.Contains(e.logs.String(), "asterisk node unreachable at start") {
			t.Fatalf("%s: not logged:\n%s", url, e.logs.String())
		}
	}
}

// Several nodes: each call is handled on the Asterisk it came in on (its
// agent leg is originated there, its bridge made there); a node that goes
// down leaves the controller ready but degraded, naming it, while calls on
// the other node go on being answered.
func TestE2ESeveralNodes(t *testing.T) {
	s1, s2 := newFake(t), newFake(t)
	e := startE2E(t, s1, e2eOptions{
		agents: []routing.Agent{e2eAgent("a1", "PJSIP/1001"), e2eAgent("a2", "PJSIP/1002")},
		cfg: func(c *Config) {
			c.Nodes = append(c.Nodes, NodeConfig{Name: "ast2", URL: s2.URL(), Password: "switchboard"})
		},
	})
	call2 := func(number string) (string, string) {
		t.Helper()
		id, err := s2.InjectCall("switchboard", aritest.Caller{Number: number, Exten: "s", Args: []string{"800"}})
		if err != nil {
			t.Fatal(err)
		}
		return id, "ast2-" + id
	}
	answerOn2 := func(chanID, callID string) {
		t.Helper()
		waitUntil(t, "call on ast2 bridged there", func() bool {
			c, ok := s2.Channel(chanID)
			return ok && c.Bridge != "" && len(s2.Bridges()) == 1
		})
		if len(s1.Channels()) != 0 || len(s1.Bridges()) != 0 {
			t.Fatalf("a call on ast2 used ast1: %+v %+v", s1.Channels(), s1.Bridges())
		}
		if err := s2.HangupFar(chanID, 16); err != nil {
			t.Fatal(err)
		}
		if c := e.outcome(callID, storage.OutcomeAnswered); c.Node != "ast2" {
			t.Fatalf("call record %+v", c)
		}
		e.closedOnce(callID, storage.OutcomeAnswered)
		waitUntil(t, "ast2 clean", func() bool { return len(s2.Channels()) == 0 && len(s2.Bridges()) == 0 })
	}
	answerOn2(call2("5550030"))

	s1.SetDown(true)
	waitUntil(t, "the controller ready but degraded, naming ast1", func() bool {
		ok, why := e.ctl.Ready()
		return ok && strings.HasPrefix(why, "degraded: ") && strings.Contains(why, "ast1") && !strings.Contains(why, "ast2")
	})
	answerOn2(call2("5550031"))
	s1.SetDown(false)
	waitUntil(t, "the controller ready again, not degraded", func() bool { ok, why := e.ctl.Ready(); return ok && why == "" })
	e.waitQueue("2 answered", func(q controller.QueueStatus) bool { return q.Answered == 2 && q.Abandoned == 0 })
}

// Many calls at once for a few agents who end each call themselves:
// every call is answered, stored once, and nothing is left on Asterisk.
func TestE2EConcurrentCalls(t *testing.T) {
	srv := newFake(t)
	var agents []routing.Agent
	for i := range 8 {
		agents = append(agents, e2eAgent(fmt.Sprintf("a%d", i), fmt.Sprintf("PJSIP/10%02d", i)))
	}
	// Talk time counts from the bridge: counted from the answer, an agent
	// could hang up before the controller bridged it and the call would
	// still end as answered.
	srv.Behave("PJSIP/*", aritest.Behavior{AnswerAfter: 5 * time.Millisecond, HangupAfterBridge: 20 * time.Millisecond})
	e := startE2E(t, srv, e2eOptions{agents: agents})
	const calls = 40
	ids := make([]string, calls)
	for i := range ids {
		_, ids[i] = e.call(fmt.Sprintf("7%03d", i))
	}
	for _, id := range ids {
		c := e.outcome(id, storage.OutcomeAnswered)
		if c.AgentID == "" || c.AnsweredAt == nil {
			t.Fatalf("%+v", c)
		}
		e.closedOnce(id, storage.OutcomeAnswered)
		if n := e.obs.count(controller.EventBridged, id); n > 1 {
			t.Fatalf("call %s bridged %d times by the controller", id, n)
		}
	}
	e.waitQueue("all answered", func(q controller.QueueStatus) bool {
		return q.Answered == calls && q.Abandoned == 0 && q.Offered == calls
	})
	// Answered is not enough: an agent leg that went before its bridge
	// also ends the call as answered. Asterisk says which were connected.
	if n := srv.Bridged("PJSIP/*"); n != calls {
		t.Fatalf("Asterisk connected %d agent legs to a caller, want %d", n, calls)
	}
	e.waitClean()
}

// endCounter counts calls the controller finished: ended, or failed
// (abandoned, left the queue); and the calls it reported bridged.
// Whether an ended call was connected is the PBX's to say (aritest's
// Bridged): the controller reports a bridge only when its bridge command
// returns while the call still talks, and an agent who hangs up a
// millisecond after the bridge often beats that reply. Observe runs on
// the controller's loop only.
type endCounter struct {
	ended, failed, bridged atomic.Int64
	signal                 chan struct{}
}

func (c *endCounter) Observe(e controller.CallEvent) {
	switch e.Kind {
	case controller.EventBridged:
		c.bridged.Add(1)
		return
	case controller.EventEnded:
		c.ended.Add(1)
	case controller.EventAbandoned, controller.EventExited:
		c.failed.Add(1)
	default:
		return
	}
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// BenchmarkE2ECalls drives complete calls through the controller and the
// routing engine, this adapter, the real ari/v6 client and aritest on
// loopback: StasisStart → answer → music on hold → offer → agent leg
// originated → it answers (StasisStart) → hold stopped → mixing bridge →
// the agent hangs up 1 ms after the bridge → the controller hangs the
// caller up → the empty bridge is deleted → records journaled. One op is
// one complete call: the controller ended it and the fake Asterisk had
// its agent leg in a mixing bridge with the caller (Bridged, counted at
// the PBX, not by the controller); a call abandoned or out of the queue,
// or a number of calls connected at the PBX other than the number the
// controller ended, fails the run. It reports connected calls per second,
// the share of them the controller reported bridged (ctl-bridged/call:
// below 1 when the agent's hangup beats the bridge reply), and process
// CPU per call (controller,
// routing, adapter, ari/v6 and the fake Asterisk together, so the
// controller's own share is lower). At most 128 calls are in flight, one
// per agent. Goal: ≥ 300 calls/s on 2 cores.
//
//	go test -run '^$' -bench E2ECalls -benchtime 5000x ./adapters/ari/
func BenchmarkE2ECalls(b *testing.B) {
	srv, err := aritest.New(aritest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	cfg := testConfig(srv.URL())
	cfg.RequestTimeout = 10 * time.Second
	cfg.Heartbeat = time.Minute
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(cfg, quiet)
	if err != nil {
		b.Fatal(err)
	}
	rules, err := routing.ParseRules("bench.yaml", []byte("queues:\n  - name: support\n    offer_timeout: 10s\n    wrap_up: 1ms\ndefault_queue: support\n"))
	if err != nil {
		b.Fatal(err)
	}
	eng, err := routing.NewEngineChecked(rules)
	if err != nil {
		b.Fatal(err)
	}
	const agents = 128
	now := time.Now()
	for i := range agents {
		eng.UpsertAgent(e2eAgent(fmt.Sprintf("a%d", i), fmt.Sprintf("PJSIP/%d", 1000+i)), now)
	}
	srv.Behave("PJSIP/*", aritest.Behavior{HangupAfterBridge: time.Millisecond})
	count := &endCounter{signal: make(chan struct{}, 1)}
	ctl, err := controller.New(controller.Config{}, controller.Deps{PBX: a, Engine: eng, Journal: newE2EJournal(),
		Observers: []controller.Observer{count}, Log: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = a.Run(ctx) }()
	go func() { defer wg.Done(); _ = ctl.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	waitUntil(b, "controller ready", func() bool { ok, _ := ctl.Ready(); return ok })
	for i := range agents {
		if err := ctl.AgentLogin(ctx, fmt.Sprintf("a%d", i)); err != nil {
			b.Fatal(err)
		}
	}

	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	injected := 0
	deadline := time.Now().Add(5 * time.Minute)
	for {
		done := int(count.ended.Load() + count.failed.Load())
		if done >= b.N {
			break
		}
		for injected < b.N && injected-done < agents {
			if _, err := srv.InjectCall("switchboard", aritest.Caller{Number: fmt.Sprintf("8%06d", injected), Exten: "s", Args: []string{"800"}}); err != nil {
				b.Fatal(err)
			}
			injected++
		}
		select {
		case <-count.signal:
		case <-time.After(time.Second):
			if time.Now().After(deadline) {
				b.Fatalf("stuck: %d of %d calls done", done, b.N)
			}
		}
	}
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	if n := count.failed.Load(); n > 0 {
		b.Fatalf("%d of %d calls abandoned or out of the queue", n, b.N)
	}
	// The PBX's own count, apart from the controller's: every call the
	// controller ended had its agent leg connected to the caller.
	connected := srv.Bridged("PJSIP/*")
	if ended := int(count.ended.Load()); connected != ended {
		b.Fatalf("Asterisk connected %d agent legs to a caller; the controller ended %d calls", connected, ended)
	}
	b.ReportMetric(float64(connected)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(count.bridged.Load())/float64(connected), "ctl-bridged/call")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/call")
	b.ReportMetric(float64(srv.Requests())/float64(b.N), "requests/call")
	b.ReportMetric(float64(srv.Conns())/float64(b.N), "dials/call")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
