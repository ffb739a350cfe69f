package esl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// End-to-end: the controller, the real eslgo client through this adapter,
// and the fake FreeSWITCH on real sockets, with the real clock — the same
// scenarios the Asterisk adapter runs.

const e2eRules = `
queues:
  - name: support
    offer_timeout: 2s
    wrap_up: 200ms
    max_misses: 3
entry:
  - {when: 'dialed == "800"', queue: support}
default_queue: support
`

// memJournal keeps the last version of every record, as the database
// would after the journal's upserts.
type memJournal struct {
	mu   sync.Mutex
	recs map[string]storage.Record
}

func (m *memJournal) Append(r storage.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = map[string]storage.Record{}
	}
	m.recs[r.JournalKey()] = r
}

func (m *memJournal) call(id string) (storage.Call, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recs {
		if c, ok := r.(storage.Call); ok && c.ID == id {
			return c, true
		}
	}
	return storage.Call{}, false
}

func (m *memJournal) leg(ref adapters.LegRef) (storage.Leg, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.recs["legs/"+ref.String()].(storage.Leg)
	return l, ok
}

// recordOnBridge stands in for the recordings room: it records every call
// once it is bridged, through the PBX port, and notes what the PBX
// reported back.
type recordOnBridge struct {
	pbx      adapters.PBX
	mu       sync.Mutex
	started  map[string]adapters.RecordingRef
	finished map[string]bool
	bridged  map[string]int // EventBridged per call id
	errs     []error
}

func (r *recordOnBridge) Observe(e controller.CallEvent) {
	switch e.Kind {
	case "bridged":
		bridge, id := e.Bridge, e.CallID
		r.mu.Lock()
		r.bridged[id]++
		r.mu.Unlock()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			rec, err := r.pbx.Record(ctx, adapters.RecordRequest{Bridge: bridge, Name: id})
			r.mu.Lock()
			defer r.mu.Unlock()
			if err != nil {
				r.errs = append(r.errs, err)
				return
			}
			r.started[id] = rec
		}()
	case "pbx":
		if f, ok := e.PBXEvent.(adapters.RecordingFinished); ok {
			r.mu.Lock()
			r.finished[f.Recording.Name] = true
			r.mu.Unlock()
		}
	}
}

type e2e struct {
	fs  *esltest.Server
	a   *Adapter
	ctl *controller.Controller
	jr  *memJournal
	rec *recordOnBridge
}

func startE2E(t *testing.T, agents []routing.Agent, mod func(*Config)) *e2e {
	t.Helper()
	return startE2ERules(t, e2eRules, agents, mod)
}

func startE2ERules(t *testing.T, rulesYAML string, agents []routing.Agent, mod func(*Config)) *e2e {
	t.Helper()
	fs, err := esltest.New(esltest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(fs.Addr())
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := routing.ParseRules("e2e.yaml", []byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := routing.NewEngineChecked(rules)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, ag := range agents {
		eng.UpsertAgent(ag, now)
	}
	jr := &memJournal{}
	rec := &recordOnBridge{pbx: a, started: map[string]adapters.RecordingRef{}, finished: map[string]bool{}, bridged: map[string]int{}}
	ctl, err := controller.New(controller.Config{CommandTimeout: 3 * time.Second}, controller.Deps{PBX: a, Engine: eng, Journal: jr,
		Observers: []controller.Observer{rec}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = a.Run(ctx) }()
	go func() { defer wg.Done(); _ = ctl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		fs.Close()
	})
	e := &e2e{fs: fs, a: a, ctl: ctl, jr: jr, rec: rec}
	// The controller is ready once its loop runs and the node is up
	// (logins before that are refused with ErrNotRunning).
	waitUntil(t, "controller ready", func() bool { ok, _ := ctl.Ready(); return ok })
	for _, ag := range agents {
		if err := ctl.AgentLogin(context.Background(), ag.ID); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func agent(id, endpoint string) routing.Agent {
	return routing.Agent{ID: id, Endpoint: endpoint, Queues: map[string]int{"support": 1}}
}

func (e *e2e) call(caller string) (uuid, callID string) {
	uuid = e.fs.InboundCall(esltest.Call{CallerNumber: caller, Dialed: "800",
		Vars: map[string]string{"switchboard": "true", "park_after_bridge": "true"}})
	return uuid, "freeswitch-" + uuid
}

// waitQueue polls the controller's published snapshot (refreshed by its
// loop, not at once) until the support queue satisfies ok.
func (e *e2e) waitQueue(t *testing.T, what string, ok func(controller.QueueStatus) bool) {
	t.Helper()
	var last controller.QueueStatus
	deadline := time.Now().Add(waitLimit)
	for {
		for _, q := range e.ctl.Snapshot().Queues {
			if q.Name == "support" {
				last = q
			}
		}
		if ok(last) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue never showed %s: %+v", what, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *e2e) outcome(t *testing.T, callID, want string) storage.Call {
	t.Helper()
	var c storage.Call
	waitUntil(t, "call "+callID+" "+want, func() bool {
		var ok bool
		c, ok = e.jr.call(callID)
		return ok && c.Outcome == want
	})
	return c
}

// Answered: the caller is answered and held, the agent's phone rings with
// the caller's number, answers, is bridged; the bridge is recorded; the
// caller hangs up; the call is stored as answered by that agent and the
// recording is reported finished.
func TestE2EAnsweredBridgedRecorded(t *testing.T) {
	e := startE2E(t, []routing.Agent{agent("a1", "user/1001")}, nil)
	e.fs.Endpoint("user/1001", esltest.Behavior{AnswerAfter: 20 * time.Millisecond})
	uuid, id := e.call("5551234")
	var agentLeg string
	waitUntil(t, "caller bridged to the agent", func() bool {
		c, ok := e.fs.Channel(uuid)
		agentLeg = c.Bridged
		return ok && c.Answered && c.Bridged != ""
	})
	ag, _ := e.fs.Channel(agentLeg)
	if ag.CallerNumber != "5551234" || ag.Name != "user/1001" || ag.Vars["switchboard_role"] != "agent" {
		t.Fatalf("agent leg %+v", ag)
	}
	waitUntil(t, "recording started", func() bool {
		c, _ := e.fs.Channel(uuid)
		return len(c.Recordings) == 1
	})
	if err := e.fs.Hangup(uuid, "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	c := e.outcome(t, id, storage.OutcomeAnswered)
	if c.AgentID != "a1" || c.AnsweredAt == nil || c.EndedAt == nil {
		t.Fatalf("call record %+v", c)
	}
	waitUntil(t, "recording finished reported", func() bool {
		e.rec.mu.Lock()
		defer e.rec.mu.Unlock()
		r, ok := e.rec.started[id]
		return ok && e.rec.finished[r.Name]
	})
	waitUntil(t, "agent leg gone", func() bool { _, ok := e.fs.Channel(agentLeg); return !ok })
	e.waitQueue(t, "1 answered", func(q controller.QueueStatus) bool { return q.Answered == 1 && q.Abandoned == 0 })
}

// Abandon: nobody is logged in; the caller waits on hold and hangs up.
func TestE2EAbandon(t *testing.T) {
	e := startE2E(t, nil, nil)
	uuid, id := e.call("5550001")
	waitUntil(t, "caller on hold", func() bool {
		c, _ := e.fs.Channel(uuid)
		return c.Answered && len(c.Playing) > 0
	})
	if err := e.fs.Hangup(uuid, "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	c := e.outcome(t, id, storage.OutcomeAbandoned)
	if c.EndedAt == nil || c.AgentID != "" {
		t.Fatalf("%+v", c)
	}
	e.waitQueue(t, "1 abandoned", func(q controller.QueueStatus) bool { return q.Abandoned == 1 && q.Waiting == 0 })
}

// No answer, then another agent: the first phone rings out (NO_ANSWER,
// cause 19), the call keeps its place and goes to the second agent.
func TestE2ENoAnswerThenAnotherAgent(t *testing.T) {
	e := startE2E(t, []routing.Agent{agent("never", "user/1001")}, nil)
	e.fs.Endpoint("user/1001", esltest.Behavior{NoAnswer: true, RingFor: 100 * time.Millisecond})
	e.fs.Endpoint("user/1002", esltest.Behavior{AnswerAfter: 10 * time.Millisecond})
	uuid, id := e.call("5550002")
	waitUntil(t, "first agent rang", func() bool {
		for _, cmd := range e.fs.Commands() {
			if containsAll(cmd, "originate", "user/1001") {
				return true
			}
		}
		return false
	})
	// The second agent logs in while the first one rings.
	ctx := ctxT(t)
	if err := e.ctl.UpsertAgent(ctx, agent("good", "user/1002")); err != nil {
		t.Fatal(err)
	}
	if err := e.ctl.AgentLogin(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bridged to the second agent", func() bool {
		c, _ := e.fs.Channel(uuid)
		if c.Bridged == "" {
			return false
		}
		b, _ := e.fs.Channel(c.Bridged)
		return b.Name == "user/1002"
	})
	if err := e.fs.Hangup(uuid, ""); err != nil {
		t.Fatal(err)
	}
	c := e.outcome(t, id, storage.OutcomeAnswered)
	if c.AgentID != "good" {
		t.Fatalf("%+v", c)
	}
}

// Supervisor eavesdrop through the controller: on a bridged call a
// supervisor listens, whispers (to the agent only) and barges; each is an
// eavesdrop leg on the agent's channel with FreeSWITCH's whisper
// variables; one leaves and the call goes on; the caller hangs up and the
// others end with the call; every supervisor leg is journaled on the call.
func TestE2ESupervisorEavesdrop(t *testing.T) {
	e := startE2E(t, []routing.Agent{agent("a1", "user/1001")}, nil)
	e.fs.Endpoint("user/1001", esltest.Behavior{Manual: true})
	e.fs.Endpoint("user/2000", esltest.Behavior{AnswerAfter: 10 * time.Millisecond})
	ctx := ctxT(t)
	uuid, id := e.call("5551234")
	var agentLeg string
	waitUntil(t, "agent phone ringing", func() bool {
		for _, ch := range e.fs.Channels() {
			if ch.Name == "user/1001" {
				agentLeg = ch.UUID
				return true
			}
		}
		return false
	})
	if _, err := e.ctl.SnoopCall(ctx, id, adapters.SnoopListen, "user/2000"); !errors.Is(err, controller.ErrInvalidState) {
		t.Fatalf("snoop while the agent rings: %v", err)
	}
	if err := e.fs.Answer(agentLeg); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "caller bridged to the agent", func() bool {
		c, ok := e.fs.Channel(uuid)
		return ok && c.Bridged == agentLeg
	})
	want := map[adapters.SnoopMode][2]string{
		adapters.SnoopListen:  {"", ""},
		adapters.SnoopWhisper: {"true", ""},
		adapters.SnoopBarge:   {"true", "true"},
	}
	sups := map[adapters.SnoopMode]adapters.LegRef{}
	for _, mode := range []adapters.SnoopMode{adapters.SnoopListen, adapters.SnoopWhisper, adapters.SnoopBarge} {
		leg, err := e.ctl.SnoopCall(ctx, id, mode, "user/2000")
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		sups[mode] = leg
		var c esltest.ChannelInfo
		waitUntil(t, string(mode)+" supervisor eavesdropping", func() bool {
			var ok bool
			c, ok = e.fs.Channel(leg.ID)
			return ok && c.Answered && c.EavesdropOn != ""
		})
		w := want[mode]
		if c.EavesdropOn != agentLeg || c.Name != "user/2000" || c.Vars["switchboard_role"] != "snoop" ||
			c.Vars["eavesdrop_whisper_aleg"] != w[0] || c.Vars["eavesdrop_whisper_bleg"] != w[1] {
			t.Fatalf("%s: supervisor leg %+v (agent leg %s)", mode, c, agentLeg)
		}
		waitUntil(t, string(mode)+" leg journaled", func() bool {
			l, ok := e.jr.leg(leg)
			return ok && l.CallID == id && l.Role == "snoop" && l.Endpoint == "user/2000" && l.AnsweredAt != nil
		})
	}
	if _, err := e.ctl.SnoopCall(ctx, id, adapters.SnoopListen, "user/2000 &park()"); err == nil {
		t.Fatal("a supervisor endpoint with a space was accepted")
	}

	// The listener leaves; the call goes on.
	if err := e.fs.Hangup(sups[adapters.SnoopListen].ID, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "listener leg closed in the journal", func() bool {
		l, _ := e.jr.leg(sups[adapters.SnoopListen])
		return l.EndedAt != nil
	})
	if c, _ := e.fs.Channel(uuid); c.Bridged != agentLeg {
		t.Fatalf("caller after the listener left: %+v", c)
	}

	if err := e.fs.Hangup(uuid, "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	if c := e.outcome(t, id, storage.OutcomeAnswered); c.AgentID != "a1" {
		t.Fatalf("%+v", c)
	}
	for _, mode := range []adapters.SnoopMode{adapters.SnoopWhisper, adapters.SnoopBarge} {
		leg := sups[mode]
		waitUntil(t, string(mode)+" supervisor gone with the call", func() bool {
			_, up := e.fs.Channel(leg.ID)
			l, _ := e.jr.leg(leg)
			return !up && l.EndedAt != nil
		})
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		found := false
		for i := 0; i+len(p) <= len(s); i++ {
			if s[i:i+len(p)] == p {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Reconnect mid-queue: two callers wait; the ESL link drops; one caller
// hangs up while it is down (FreeSWITCH tells nobody); after the redial
// the controller closes that call as vanished, keeps the survivor in line,
// and routes it when an agent logs in.
func TestE2EReconnectMidQueue(t *testing.T) {
	e := startE2E(t, []routing.Agent{agent("a1", "user/1001")}, nil)
	ctx := ctxT(t)
	if err := e.ctl.AgentLogout(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	gone, goneID := e.call("5550010")
	stay, stayID := e.call("5550011")
	e.waitQueue(t, "2 waiting", func(q controller.QueueStatus) bool { return q.Waiting == 2 })

	e.fs.SetFaults(esltest.Faults{Refuse: true})
	e.fs.DropConnections()
	waitUntil(t, "node down", func() bool { ok, _ := e.a.Ready(); return !ok })
	if err := e.fs.Hangup(gone, "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	e.fs.SetFaults(esltest.Faults{})

	c := e.outcome(t, goneID, storage.OutcomeAbandoned)
	if c.EndReason == "" {
		t.Fatalf("vanished call without a reason: %+v", c)
	}
	e.waitQueue(t, "1 waiting, 1 abandoned", func(q controller.QueueStatus) bool { return q.Waiting == 1 && q.Abandoned == 1 })
	if err := e.ctl.AgentLogin(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "survivor bridged", func() bool { c, _ := e.fs.Channel(stay); return c.Bridged != "" })
	if err := e.fs.Hangup(stay, ""); err != nil {
		t.Fatal(err)
	}
	if c := e.outcome(t, stayID, storage.OutcomeAnswered); c.AgentID != "a1" {
		t.Fatalf("%+v", c)
	}
}

// Load with out-of-order delivery: many calls, a handful of agents, the
// fake reversing event batches. Every call is answered by an agent and
// stored once; no reply or event is applied to the wrong call.
func TestE2EConcurrentCallsOutOfOrder(t *testing.T) {
	var agents []routing.Agent
	for i := range 8 {
		agents = append(agents, agent(fmt.Sprintf("a%d", i), fmt.Sprintf("user/10%02d", i)))
	}
	e := startE2E(t, agents, func(c *Config) { c.ReorderWindow = 30 * time.Millisecond })
	e.fs.Endpoint("user/*", esltest.Behavior{AnswerAfter: 5 * time.Millisecond, HangupAfterBridge: 30 * time.Millisecond})
	e.fs.SetFaults(esltest.Faults{Reorder: 4})
	const calls = 30
	ids := make([]string, calls)
	for i := range ids {
		_, ids[i] = e.call(fmt.Sprintf("7%03d", i))
	}
	agentsSeen := map[string]int{}
	for _, id := range ids {
		c := e.outcome(t, id, storage.OutcomeAnswered)
		if c.AgentID == "" || c.AnsweredAt == nil {
			t.Fatalf("%+v", c)
		}
		// Answered is not enough: an agent leg that went before the bridge
		// (or a failed uuid_bridge) also ends as answered.
		e.rec.mu.Lock()
		n := e.rec.bridged[id]
		e.rec.mu.Unlock()
		if n != 1 {
			t.Fatalf("call %s bridged %d times, want once", id, n)
		}
		agentsSeen[c.AgentID]++
	}
	e.waitQueue(t, "all answered", func(q controller.QueueStatus) bool { return q.Answered == calls && q.Abandoned == 0 })
	waitUntil(t, "no channels left", func() bool { return len(e.fs.Channels()) == 0 })
	t.Logf("calls per agent: %v", agentsSeen)
}

const e2eLoadRules = `
queues:
  - name: support
    offer_timeout: 20s
    wrap_up: 10ms
    max_misses: 3
default_queue: support
`

// Concurrent commands under load, no crossed replies: 32 calls reach 32
// agents at once over two command connections while the fake answers the
// uuid_* commands slowly (so commands pile up on each connection) and
// delivers events in reversed batches. Every reply must reach the command
// that asked (replies are checked: Content-Type, Job-UUID, the leg
// uuid_bridge names; TestDefenceSerializedCommands is the race that
// serialization prevents, shown at the port): each caller ends up
// bridged to the agent leg originated for its own call (carrying its call
// id and caller number), recorded under its own name, offered once (no
// originate or bridge failed and was retried), and stored as answered by
// the agent whose phone that leg rang.
func TestE2EConcurrentCommandsNoCrossedReplies(t *testing.T) {
	const n = 32
	var agents []routing.Agent
	for i := range n {
		agents = append(agents, agent(fmt.Sprintf("a%02d", i), fmt.Sprintf("user/10%02d", i)))
	}
	// Two command connections for 32 calls: every connection carries many
	// callers' commands at once.
	e := startE2ERules(t, e2eLoadRules, agents, func(c *Config) { c.ReorderWindow = 30 * time.Millisecond; c.CommandConns = 2 })
	e.fs.Endpoint("user/*", esltest.Behavior{AnswerAfter: 2 * time.Millisecond})
	// Slow replies to the music-on-hold and recording commands hold up
	// whatever is queued behind them; events come in reversed batches.
	e.fs.SetFaults(esltest.Faults{Reorder: 3, ReplyDelay: 2 * time.Millisecond, ReplyDelayMatch: "uuid_"})
	callers := make([]string, n)
	ids := make([]string, n)
	for i := range n {
		callers[i], ids[i] = e.call(fmt.Sprintf("55501%02d", i))
	}
	waitUntil(t, "every caller bridged and recorded", func() bool {
		for _, u := range callers {
			c, ok := e.fs.Channel(u)
			if !ok || c.Bridged == "" || len(c.Recordings) == 0 {
				return false
			}
		}
		return true
	})
	e.fs.SetFaults(esltest.Faults{})
	agentOf := map[string]string{} // endpoint → agent id
	for _, a := range agents {
		agentOf[a.Endpoint] = a.ID
	}
	answeredBy := map[string]string{}
	usedLeg := map[string]bool{}
	for i, u := range callers {
		c, _ := e.fs.Channel(u)
		ag, ok := e.fs.Channel(c.Bridged)
		if !ok {
			t.Fatalf("call %d: bridged to a leg that is gone: %+v", i, c)
		}
		if usedLeg[ag.UUID] {
			t.Fatalf("call %d: agent leg %s bridged twice", i, ag.UUID)
		}
		usedLeg[ag.UUID] = true
		if ag.Vars[controller.VarCall] != ids[i] || ag.CallerNumber != fmt.Sprintf("55501%02d", i) || ag.Vars["switchboard_role"] != "agent" {
			t.Fatalf("call %d (%s) bridged to a leg for another call: %+v", i, ids[i], ag)
		}
		if want := "/rec/" + ids[i] + ".wav"; len(c.Recordings) != 1 || c.Recordings[0] != want {
			t.Fatalf("call %d recorded as %v, want %s", i, c.Recordings, want)
		}
		answeredBy[ids[i]] = agentOf[ag.Name]
	}
	originates := 0
	for _, cmd := range e.fs.Commands() {
		if strings.HasPrefix(cmd, "bgapi originate") {
			originates++
		}
	}
	if originates != n {
		t.Fatalf("%d originates for %d calls: a command failed and was retried", originates, n)
	}
	e.rec.mu.Lock()
	recErrs := e.rec.errs
	e.rec.mu.Unlock()
	if len(recErrs) > 0 {
		t.Fatalf("recording commands failed: %v", recErrs)
	}
	for _, u := range callers {
		if err := e.fs.Hangup(u, "NORMAL_CLEARING"); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		c := e.outcome(t, id, storage.OutcomeAnswered)
		if c.AgentID != answeredBy[id] || c.Offers != 1 {
			t.Fatalf("call %s stored as answered by %q after %d offers; its bridge says %q", id, c.AgentID, c.Offers, answeredBy[id])
		}
	}
	waitUntil(t, "no channels left", func() bool { return len(e.fs.Channels()) == 0 })
}

// endCounter counts calls the controller finished: complete (bridged,
// then ended) or failed (ended without a bridge, abandoned, left the
// queue). Observe runs on the controller's loop only.
type endCounter struct {
	complete, failed atomic.Int64
	signal           chan struct{}
	bridged          map[string]bool
}

func (c *endCounter) Observe(e controller.CallEvent) {
	switch e.Kind {
	case controller.EventBridged:
		c.bridged[e.CallID] = true
		return
	case controller.EventEnded:
		if c.bridged[e.CallID] {
			c.complete.Add(1)
		} else {
			c.failed.Add(1)
		}
		delete(c.bridged, e.CallID)
	case controller.EventAbandoned, controller.EventExited:
		delete(c.bridged, e.CallID)
		c.failed.Add(1)
	default:
		return
	}
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// BenchmarkE2ECalls drives complete calls through the controller, the
// adapter, eslgo and esltest: arrival, answer, hold, offer, agent leg,
// answer, bridge, agent hangs up 1 ms after the bridge, caller hung up by
// the controller, records journaled. A call counts only when the
// controller bridged it; any call that did not complete fails the run.
// Reports complete calls per second and process CPU per call (controller,
// routing, adapter, eslgo and the fake together).
//
//	go test -run '^$' -bench E2ECalls -benchtime 3000x ./adapters/esl/
func BenchmarkE2ECalls(b *testing.B) {
	fs, err := esltest.New(esltest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer fs.Close()
	// The adapter's defaults (reorder window, command connections, health
	// probe) — what a deployment runs.
	a, err := New(Config{Addr: fs.Addr(), RecordingDir: "/rec"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
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
		eng.UpsertAgent(agent(fmt.Sprintf("a%d", i), fmt.Sprintf("user/%d", 1000+i)), now)
	}
	fs.Endpoint("user/*", esltest.Behavior{HangupAfterBridge: time.Millisecond})
	count := &endCounter{signal: make(chan struct{}, 1), bridged: map[string]bool{}}
	ctl, err := controller.New(controller.Config{}, controller.Deps{PBX: a, Engine: eng, Journal: &memJournal{},
		Observers: []controller.Observer{count}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
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
		done := int(count.complete.Load() + count.failed.Load())
		if done >= b.N {
			break
		}
		for injected < b.N && injected-done < agents {
			fs.InboundCall(esltest.Call{CallerNumber: fmt.Sprintf("8%06d", injected), Dialed: "800",
				Vars: map[string]string{"switchboard": "true"}})
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
		b.Fatalf("%d of %d calls did not complete (ended unbridged, abandoned or left the queue)", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/call")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
