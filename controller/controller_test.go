package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

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

func (m *memJournal) calls() map[string]storage.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]storage.Call{}
	for _, r := range m.recs {
		if c, ok := r.(storage.Call); ok {
			out[c.ID] = c
		}
	}
	return out
}

type rig struct {
	t       *testing.T
	clk     *clock.Manual
	sim     *sim.PBX
	ctl     *Controller
	jr      *memJournal
	journal Journal      // when set, the controller writes here instead of jr
	pbx     adapters.PBX // when set, the controller's PBX instead of sim (a wrapper of it)
	desk    CallbackDesk
	obs     *recorder
	cancel  context.CancelFunc // stops the controller only
	stopSim func()
	down    bool   // the controller is stopped
	restart func() // ends the stop
}

// stopController stops switchboard but not the PBX. Events the PBX sends
// meanwhile are lost, as they are for a real controller that is down.
func (r *rig) stopController() {
	r.cancel()
	r.down = true
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-r.sim.Events():
			case <-stop:
				return
			}
		}
	}()
	r.restart = func() { close(stop); <-drained; r.down = false }
}

// recorder is an Observer that keeps the kinds it saw per call.
type recorder struct {
	mu    sync.Mutex
	kinds map[string][]string
}

func (o *recorder) Observe(e CallEvent) {
	if e.Kind == "pbx" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.kinds == nil {
		o.kinds = map[string][]string{}
	}
	o.kinds[e.CallID] = append(o.kinds[e.CallID], e.Kind)
}

func (o *recorder) of(id string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.kinds[id]...)
}

const testRules = `
queues:
  - name: support
    offer_timeout: 15s
    wrap_up: 10s
    max_misses: 2
  - name: billing
    steps:
      - {after: 0s, require: {billing: 8}}
      - {after: 60s, overflow_to: general}
  - name: general
  - name: short
    max_wait: 30s
    on_exit: {action: announce, media: sorry-closed}
  - name: tovm
    max_wait: 30s
    on_exit: {action: voicemail, target: "100@voicemail"}
entry:
  - {when: 'dialed == "1000"', queue: support}
  - {when: 'dialed == "2000"', queue: billing}
  - {when: 'dialed == "3000"', queue: short}
  - {when: 'dialed == "4000"', queue: tovm}
default_queue: general
`

var quiet = slog.New(slog.DiscardHandler)

func newEngine(t *testing.T, rules string, groups []sim.AgentGroup) *routing.Engine {
	t.Helper()
	cfg, err := routing.ParseRules("test.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	e, err := routing.NewEngineChecked(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range (sim.Config{AgentGroups: groups}).Agents() {
		e.UpsertAgent(a, t0)
	}
	return e
}

func newRig(t *testing.T, rules string, groups []sim.AgentGroup, streams []sim.Stream, store Store) *rig {
	t.Helper()
	clk := clock.NewManual(t0)
	p, err := sim.New(sim.Config{Seed: 42, AgentGroups: groups, Streams: streams}, clk, quiet)
	if err != nil {
		t.Fatal(err)
	}
	p.KeepWaits()
	simCtx, simCancel := context.WithCancel(context.Background())
	var simWG sync.WaitGroup
	simWG.Add(1)
	go func() { defer simWG.Done(); p.Run(simCtx) }()
	r := &rig{t: t, clk: clk, sim: p, jr: &memJournal{}, stopSim: func() { simCancel(); simWG.Wait() }}
	r.start(newEngine(t, rules, groups), store)
	t.Cleanup(func() { r.cancel(); r.stopSim() })
	r.settle()
	return r
}

// start runs a (new) controller on the rig's PBX.
func (r *rig) start(e *routing.Engine, store Store) {
	r.t.Helper()
	r.obs = &recorder{}
	var j Journal = r.jr
	if r.journal != nil {
		j = r.journal
	}
	var pbx adapters.PBX = r.sim
	if r.pbx != nil {
		pbx = r.pbx
	}
	ctl, err := New(Config{}, Deps{PBX: pbx, Engine: e, Journal: j, Store: store, Clock: r.clk, Log: quiet, Observers: []Observer{r.obs}, Callbacks: r.desk})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(ctx) }()
	ctl.snapEvery = 0 // every Snapshot after a change is fresh
	r.ctl = ctl
	r.cancel = func() { cancel(); <-done }
	for !isClosed(ctl.running) {
		time.Sleep(100 * time.Microsecond)
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// settle waits until the sim and the controller have nothing left to do at
// the current (manual) time.
func (r *rig) settle() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	quiet := 0
	for quiet < 3 {
		if time.Now().After(deadline) {
			r.t.Fatal("system did not settle")
		}
		if r.sim.Idle() && (r.down || r.ctl.Idle()) {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(100 * time.Microsecond)
	}
	if !r.down {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.ctl.do(ctx, r.ctl.offerIndexErr); err != nil && !errors.Is(err, ErrNotRunning) {
			r.t.Fatal(err)
		}
	}
}

// offerIndexErr says how the per-call offer index and c.offers disagree
// (every offer indexed under its call, nothing else indexed, no empty
// entry left behind); run in the loop.
func (c *Controller) offerIndexErr() error {
	n := 0
	for callID, byTag := range c.callOffers {
		if len(byTag) == 0 {
			return fmt.Errorf("offer index: empty entry for call %s left behind", callID)
		}
		for tag, of := range byTag {
			n++
			if c.offers[tag] != of || of.callID != callID {
				return fmt.Errorf("offer index: %s under call %s is not c.offers[%s] of that call", tag, callID, tag)
			}
		}
	}
	if n != len(c.offers) {
		return fmt.Errorf("offer index holds %d offers, c.offers %d", n, len(c.offers))
	}
	return nil
}

// advance moves simulated time forward by d, stopping at every moment the
// sim or the engine has something due, and settling after each, so that
// no two happenings collapse onto one clock step.
func (r *rig) advance(d time.Duration) {
	r.t.Helper()
	r.settle() // what was just done happens now, not after the jump
	end := r.clk.Now().Add(d)
	for {
		now := r.clk.Now()
		if !now.Before(end) {
			return
		}
		next := end
		if at, ok := r.sim.NextEvent(); ok && at.Before(next) {
			next = at
		}
		if dl := r.ctl.deadline.Load(); !r.down && dl != 0 && time.Unix(0, dl).Before(next) {
			next = time.Unix(0, dl)
		}
		if !next.After(now) {
			next = now.Add(time.Millisecond)
		}
		r.clk.Advance(next.Sub(now))
		r.settle()
	}
}

func (r *rig) login(ids ...string) {
	r.t.Helper()
	for _, id := range ids {
		if err := r.ctl.AgentLogin(context.Background(), id); err != nil {
			r.t.Fatal(err)
		}
		r.settle()
	}
}

func (r *rig) inject(dialed, caller string, patience time.Duration) adapters.LegRef {
	r.t.Helper()
	ref := r.sim.InjectCall(dialed, caller, nil, patience)
	r.settle()
	return ref
}

func (r *rig) queue(name string) QueueStatus {
	for _, q := range r.ctl.Snapshot().Queues {
		if q.Name == name {
			return q
		}
	}
	r.t.Fatalf("no queue %s", name)
	return QueueStatus{}
}

func (r *rig) agent(id string) routing.AgentView {
	for _, a := range r.ctl.Snapshot().Agents {
		if a.ID == id {
			return a
		}
	}
	r.t.Fatalf("no agent %s", id)
	return routing.AgentView{}
}

func (r *rig) call(ref adapters.LegRef) (CallStatus, bool) {
	for _, c := range r.ctl.Snapshot().Calls {
		if c.ID == callID(ref) {
			return c, true
		}
	}
	return CallStatus{}, false
}

func (r *rig) hasLeg(ref adapters.LegRef) bool {
	for _, l := range r.sim.Legs() {
		if l == ref {
			return true
		}
	}
	return false
}

var (
	good  = sim.AgentGroup{Prefix: "good", Count: 1, Queues: map[string]int{"support": 1, "general": 1}, AnswerProbability: 1, RingDelay: 2 * time.Second, HandleTime: time.Minute}
	never = sim.AgentGroup{Prefix: "never", Count: 1, Queues: map[string]int{"support": 1}, NeverAnswer: true}
)

func TestAnsweredCall(t *testing.T) {
	r := newRig(t, testRules, []sim.AgentGroup{good}, nil, nil)
	r.login("good-001")
	caller := r.inject("1000", "5551000", 0)
	for i := 0; i < 30 && r.queue("support").Answered == 0; i++ {
		r.advance(time.Second)
	}
	q := r.queue("support")
	if q.Answered != 1 || q.Offered != 1 || q.Waiting != 0 {
		t.Fatalf("support after 20 s: %+v", q)
	}
	if c, ok := r.call(caller); !ok || c.AgentID != "good-001" || c.State != string(phaseTalking) || len(c.Traces) == 0 {
		t.Fatalf("live call %+v", c)
	}
	if a := r.agent("good-001"); a.State != routing.StateOnCall && a.State != routing.StateWrapUp {
		t.Fatalf("agent %s", a.State)
	}
	// Let the talk end (handle time is exponential with a 1 min mean).
	r.advance(15 * time.Minute)
	calls := r.jr.calls()
	c := calls[callID(caller)]
	if c.Outcome != storage.OutcomeAnswered || c.AgentID != "good-001" || c.AnsweredAt == nil || c.EndedAt == nil || c.TalkSeconds <= 0 {
		t.Fatalf("call record %+v", c)
	}
	if c.Trace == "" {
		t.Fatal("routing trace not stored with the call")
	}
	if a := r.agent("good-001"); a.State != routing.StateAvailable {
		t.Fatalf("after wrap-up agent is %s", a.State)
	}
	if len(r.sim.Legs()) != 0 {
		t.Fatalf("legs left on the PBX: %v", r.sim.Legs())
	}
	want := []string{"arrived", "queued", "offered", "answered", "bridged", "ended"}
	if got := r.obs.of(callID(caller)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("observer saw %v, want %v", got, want)
	}
	if n := len(r.ctl.Snapshot().Calls); n != 0 {
		t.Fatalf("%d calls left in the controller", n)
	}
}

func TestAbandonWhileWaiting(t *testing.T) {
	r := newRig(t, testRules, []sim.AgentGroup{good}, nil, nil) // nobody logged in
	caller := r.inject("1000", "5551000", 30*time.Second)
	r.advance(29 * time.Second)
	// Nothing happened for 29 s: the snapshot still shows the wait growing.
	if q := r.queue("support"); q.Waiting != 1 || q.LongestWaitSeconds != 29 {
		t.Fatalf("waiting: %+v", q)
	}
	if c, _ := r.call(caller); c.WaitSeconds != 29 {
		t.Fatalf("call wait %v", c.WaitSeconds)
	}
	r.advance(2 * time.Second)
	q := r.queue("support")
	if q.Abandoned != 1 || q.Waiting != 0 || q.AbandonRate != 1 {
		t.Fatalf("after abandon: %+v", q)
	}
	c := r.jr.calls()[callID(caller)]
	if c.Outcome != storage.OutcomeAbandoned || c.WaitSeconds != 30 || c.EndedAt == nil {
		t.Fatalf("record %+v", c)
	}
}

func TestAbandonWhileRingingWithdrawsAgent(t *testing.T) {
	r := newRig(t, testRules, []sim.AgentGroup{never}, nil, nil)
	r.login("never-001")
	r.inject("1000", "5551000", 5*time.Second)
	r.advance(time.Second)
	if a := r.agent("never-001"); a.State != routing.StateOffered {
		t.Fatalf("agent should ring: %s", a.State)
	}
	if n := len(r.sim.Legs()); n != 2 {
		t.Fatalf("want the caller and the ringing agent leg, have %d legs", n)
	}
	r.advance(5 * time.Second)
	if a := r.agent("never-001"); a.State != routing.StateAvailable {
		t.Fatalf("after the caller left the agent is %s", a.State)
	}
	if legs := r.sim.Legs(); len(legs) != 0 {
		t.Fatalf("agent leg still ringing: %v", legs)
	}
	if q := r.queue("support"); q.Abandoned != 1 {
		t.Fatalf("%+v", q)
	}
	if a := r.agent("never-001"); a.Misses != 0 {
		t.Fatalf("a withdrawn offer counted as a miss: %+v", a)
	}
}

// never-001 does not answer call A; call B arrives meanwhile. After the
// offer times out, A is back ahead of B: good-001, logging in, gets A, and
// A's enqueue time is unchanged.
func TestNoAnswerThenAnotherAgentKeepsPlace(t *testing.T) {
	r := newRig(t, testRules, []sim.AgentGroup{never, good}, nil, nil)
	r.login("never-001")
	a := r.inject("1000", "5551001", 0)
	enq := r.clk.Now()
	r.advance(2 * time.Second)
	b := r.inject("1000", "5551002", 0)
	if ag := r.agent("never-001"); ag.State != routing.StateOffered || ag.CallID != callID(a) {
		t.Fatalf("never-001 %+v", ag)
	}
	r.advance(14 * time.Second) // past the 15 s offer timeout
	if ag := r.agent("never-001"); ag.Misses != 1 {
		t.Fatalf("never-001 after RONA %+v", ag)
	}
	if r.agent("never-001").CallID == callID(a) {
		t.Fatal("call A offered again to the agent that missed it")
	}
	r.login("good-001")
	r.advance(20 * time.Second)
	c := r.jr.calls()[callID(a)]
	if c.AgentID != "good-001" || c.AnsweredAt == nil {
		t.Fatalf("call A not answered by the second agent: %+v", c)
	}
	if !c.EnqueuedAt.Equal(enq) || c.Offers != 2 {
		t.Fatalf("enqueue time or offers changed by RONA: %v (want %v), %d offers", c.EnqueuedAt, enq, c.Offers)
	}
	if c := r.jr.calls()[callID(b)]; c.AnsweredAt != nil {
		t.Fatalf("call B overtook call A: %+v", c)
	}
	// never-001 missed B too (its second miss in a row): not ready.
	r.advance(20 * time.Second)
	if ag := r.agent("never-001"); ag.State != routing.StateNotReady {
		t.Fatalf("never-001 after two misses: %+v", ag)
	}
}

func TestOverflowKeepsWait(t *testing.T) {
	r := newRig(t, testRules, []sim.AgentGroup{{Prefix: "gen", Count: 1, Queues: map[string]int{"general": 1}, AnswerProbability: 1, RingDelay: time.Second, HandleTime: time.Minute}}, nil, nil)
	r.login("gen-001")
	caller := r.inject("2000", "5552000", 0)
	r.advance(59 * time.Second)
	if q := r.queue("billing"); q.Waiting != 1 {
		t.Fatalf("billing %+v", q)
	}
	r.advance(20 * time.Second)
	c := r.jr.calls()[callID(caller)]
	if c.Queue != "general" || c.AnsweredAt == nil || c.WaitSeconds < 60 || !c.EnqueuedAt.Equal(t0) {
		t.Fatalf("overflowed call %+v", c)
	}
	if q := r.queue("billing"); q.Overflowed != 1 || q.Offered != 1 || q.Abandoned != 0 {
		t.Fatalf("billing %+v", q)
	}
	if q := r.queue("general"); q.Offered != 1 || q.Answered != 1 || q.AnsweredInSL != 0 {
		t.Fatalf("general %+v", q)
	}
	// Two queue stints: billing (overflowed) then general (answered).
	var stints []string
	r.jr.mu.Lock()
	for _, rec := range r.jr.recs {
		if w, ok := rec.(storage.QueueWait); ok && w.CallID == callID(caller) {
			stints = append(stints, w.Queue+":"+w.Outcome)
		}
	}
	r.jr.mu.Unlock()
	sort.Strings(stints)
	if fmt.Sprint(stints) != "[billing:overflowed general:answered]" {
		t.Fatalf("queue stints %v", stints)
	}
}

func TestLogoutWhileOffered(t *testing.T) {
	slow := sim.AgentGroup{Prefix: "slow", Count: 1, Queues: map[string]int{"support": 1}, NeverAnswer: true}
	r := newRig(t, testRules, []sim.AgentGroup{slow, good}, nil, nil)
	r.login("slow-001")
	caller := r.inject("1000", "5551000", 0)
	r.advance(time.Second)
	if n := len(r.sim.Legs()); n != 2 {
		t.Fatalf("slow-001 not ringing: %d legs", n)
	}
	if err := r.ctl.AgentLogout(context.Background(), "slow-001"); err != nil {
		t.Fatal(err)
	}
	r.settle()
	if a := r.agent("slow-001"); a.State != routing.StateLoggedOut {
		t.Fatalf("%s", a.State)
	}
	if legs := r.sim.Legs(); len(legs) != 1 || legs[0] != caller {
		t.Fatalf("the logged-out agent's phone still rings: %v", legs)
	}
	r.login("good-001")
	r.advance(10 * time.Second)
	if c := r.jr.calls()[callID(caller)]; c.AgentID != "good-001" {
		t.Fatalf("%+v", c)
	}
	for _, tc := range []struct {
		name string
		err  error
		fn   func() error
	}{
		{"logout unknown", ErrUnknownAgent, func() error { return r.ctl.AgentLogout(context.Background(), "nobody") }},
		{"pause unknown", ErrUnknownAgent, func() error { return r.ctl.AgentPause(context.Background(), "nobody", "lunch") }},
		{"hangup unknown call", ErrUnknownCall, func() error { return r.ctl.HangupCall(context.Background(), "nope", 0) }},
		{"logout on call", ErrInvalidState, func() error { return r.ctl.AgentLogout(context.Background(), "good-001") }},
	} {
		if err := tc.fn(); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
}

// Exits: the caller hears the whole announcement before the hangup, or is
// handed to the dialplan (voicemail); the record says exited.
func TestQueueExit(t *testing.T) {
	for _, tc := range []struct {
		dialed, queue string
		legAfterExit  bool // the leg survives the exit until playback ends
	}{
		{"3000", "short", true},
		{"4000", "tovm", false},
	} {
		t.Run(tc.queue, func(t *testing.T) {
			r := newRig(t, testRules, nil, nil, nil)
			caller := r.inject(tc.dialed, "5553000", 0)
			r.advance(30 * time.Second)
			if got := r.hasLeg(caller); got != tc.legAfterExit {
				t.Fatalf("caller leg present right after the exit: %v, want %v", got, tc.legAfterExit)
			}
			r.advance(2 * time.Second) // the sim plays a prompt in 1 s
			if r.hasLeg(caller) {
				t.Fatal("caller leg still up after the exit")
			}
			c := r.jr.calls()[callID(caller)]
			if c.Outcome != storage.OutcomeExited || c.Queue != tc.queue || c.EndedAt == nil {
				t.Fatalf("record %+v", c)
			}
			if q := r.queue(tc.queue); q.Waiting != 0 || q.Abandoned != 0 {
				t.Fatalf("%+v", q)
			}
		})
	}
}

// A seeded run: the controller's service level, abandon rate, answered
// and abandoned equal a hand count made from the simulator's own log.
func TestSeededRunStatsMatchHandCount(t *testing.T) {
	groups := []sim.AgentGroup{{Prefix: "s", Count: 3, Queues: map[string]int{"support": 1}, AnswerProbability: 0.9, RingDelay: 3 * time.Second, HandleTime: 90 * time.Second}}
	streams := []sim.Stream{{DialedNumber: "1000", RatePerMinute: 2.5, PatienceMean: 40 * time.Second}}
	r := newRig(t, testRules, groups, streams, nil)
	r.login("s-001", "s-002", "s-003")
	r.advance(45 * time.Minute)
	log := r.sim.Stats()
	q := r.queue("support")
	// Hand count from the sim: waits of connected callers and abandoning ones.
	within, short := 0, 0
	for _, w := range log.Waits {
		if w <= 20*time.Second {
			within++
		}
	}
	for _, w := range log.AbandonWaits {
		if w < 5*time.Second {
			short++
		}
	}
	wantSL := float64(within) / float64(len(log.Waits)+len(log.AbandonWaits)-short)
	wantAR := float64(len(log.AbandonWaits)) / float64(len(log.Waits)+len(log.AbandonWaits))
	t.Logf("sim: %d arrivals, %d connected, %d abandoned (%d short), %d no-answers; controller SL %.4f AR %.4f", log.Arrivals, log.Connected, log.Abandoned, short, log.AgentNoAnswer, q.ServiceLevel, q.AbandonRate)
	if log.Arrivals < 80 || log.Abandoned == 0 || log.AgentNoAnswer == 0 || short == 0 {
		t.Fatalf("the run did not exercise abandons, short abandons and no-answers: %+v", log)
	}
	waiting := q.Waiting + q.Ringing
	if q.Answered != log.Connected || q.Abandoned != log.Abandoned || q.Offered != log.Arrivals || q.Offered != q.Answered+q.Abandoned+waiting {
		t.Fatalf("offered %d answered %d abandoned %d waiting %d; sim counted %d arrivals %d connected %d abandoned", q.Offered, q.Answered, q.Abandoned, waiting, log.Arrivals, log.Connected, log.Abandoned)
	}
	if q.ServiceLevel != wantSL {
		t.Fatalf("service level %.6f, hand count %.6f", q.ServiceLevel, wantSL)
	}
	if q.AbandonRate != wantAR {
		t.Fatalf("abandon rate %.6f, hand count %.6f", q.AbandonRate, wantAR)
	}
}

// A scripted day counted by hand, on one agent who picks up at once
// (so every wait is set by the script, to the second), in the support
// queue (service level 20 s, short abandons under 5 s, wrap-up 10 s):
//
//	t=0   A arrives, answered at once            wait  0 s  within 20 s
//	t=1   B arrives, waits (the agent talks to A)
//	t=2   C arrives, hangs up at t=5              abandon after 3 s: short
//	t=3   D arrives, hangs up at t=33             abandon after 30 s
//	t=40  A hangs up; wrap-up until t=50; B answered at t=50   wait 49 s  late
//	t=60  E arrives
//	t=61  B hangs up; wrap-up until t=71; E answered at t=71   wait 11 s  within
//
// offered 5, answered 3 (2 within), abandoned 2 (1 short):
// service level = 2 / (3 + 2 − 1) = 0.5; abandon rate = 2 / (3 + 2) = 0.4;
// average wait of the answered = (0 + 49 + 11) / 3 = 20 s.
func TestHandCountedScriptedDay(t *testing.T) {
	inst := sim.AgentGroup{Prefix: "inst", Count: 1, Queues: map[string]int{"support": 1}, AnswerProbability: 1, HandleTime: 10 * time.Hour}
	r := newRig(t, testRules, []sim.AgentGroup{inst}, nil, nil)
	r.login("inst-001")
	at := func(sec int) { r.advance(t0.Add(time.Duration(sec) * time.Second).Sub(r.clk.Now())) }
	hangup := func(ref adapters.LegRef) {
		if err := r.ctl.HangupCall(context.Background(), callID(ref), 0); err != nil {
			t.Fatal(err)
		}
		r.settle()
	}
	a := r.inject("1000", "5550001", 0)
	at(1)
	b := r.inject("1000", "5550002", 0)
	at(2)
	r.inject("1000", "5550003", 3*time.Second)
	at(3)
	r.inject("1000", "5550004", 30*time.Second)
	at(40)
	hangup(a)
	at(60)
	e := r.inject("1000", "5550005", 0)
	at(61)
	hangup(b)
	at(80)
	if c, _ := r.call(e); c.State != string(phaseTalking) || c.WaitSeconds != 11 {
		t.Fatalf("E %+v, want talking after an 11 s wait", c)
	}
	q := r.queue("support")
	got := []any{q.Offered, q.Answered, q.AnsweredInSL, q.Abandoned, q.ServiceLevel, q.AbandonRate, q.AvgWaitSeconds, q.Waiting}
	want := []any{5, 3, 2, 2, 0.5, 0.4, 20.0, 0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("offered, answered, within, abandoned, SL, abandon rate, avg wait, waiting = %v; counted by hand %v", got, want)
	}
}

// The PBX link drops; one waiting caller hangs up during the gap (no
// event reaches us), another survives. Reconciliation closes the first as
// abandoned, once, with the reason; the survivor is still routed.
func TestReconcileClosesVanishedCall(t *testing.T) {
	r := newRig(t, testRules, []sim.AgentGroup{good}, nil, nil)
	gone := r.inject("1000", "5551001", 0)
	stay := r.inject("1000", "5551002", 0)
	r.advance(time.Second)
	r.sim.LoseLink(gone)
	r.settle()
	if ok, why := r.ctl.Ready(); ok {
		t.Fatal("ready while the PBX link is down")
	} else if why == "" {
		t.Fatal("no reason given for not ready")
	}
	if q := r.queue("support"); q.Waiting != 2 {
		t.Fatalf("calls closed before the link came back: %+v", q)
	}
	r.sim.Resync()
	r.settle()
	q := r.queue("support")
	if q.Abandoned != 1 || q.Waiting != 1 {
		t.Fatalf("after reconcile: %+v", q)
	}
	if c := r.jr.calls()[callID(gone)]; c.Outcome != storage.OutcomeAbandoned || c.EndReason != reasonVanished {
		t.Fatalf("vanished call %+v", c)
	}
	if ok, why := r.ctl.Ready(); !ok {
		t.Fatalf("not ready after reconnect: %s", why)
	}
	// A second reconnect counts nothing twice and keeps the survivor.
	r.sim.Resync()
	r.settle()
	if q := r.queue("support"); q.Abandoned != 1 || q.Waiting != 1 {
		t.Fatalf("after a second reconcile: %+v", q)
	}
	r.login("good-001")
	r.advance(20 * time.Second)
	if c := r.jr.calls()[callID(stay)]; c.AgentID != "good-001" || !c.EnqueuedAt.Equal(t0) {
		t.Fatalf("survivor not routed in its place: %+v", c)
	}
}

// journalStore serves the journal's records as the database would after
// a restart.
type journalStore struct{ jr *memJournal }

func (s journalStore) LiveCalls(context.Context) ([]storage.Call, error) {
	var out []storage.Call
	for _, c := range s.jr.calls() {
		if c.Outcome == storage.OutcomeLive {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s journalStore) CallLegs(_ context.Context, id string) ([]storage.Leg, error) {
	s.jr.mu.Lock()
	defer s.jr.mu.Unlock()
	var out []storage.Leg
	for _, r := range s.jr.recs {
		if l, ok := r.(storage.Leg); ok && l.CallID == id {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s journalStore) CallWaits(_ context.Context, id string) ([]storage.QueueWait, error) {
	s.jr.mu.Lock()
	defer s.jr.mu.Unlock()
	var out []storage.QueueWait
	for _, r := range s.jr.recs {
		if w, ok := r.(storage.QueueWait); ok && w.CallID == id {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].EnteredAt.Before(out[j].EnteredAt) })
	return out, nil
}

func (s journalStore) Calls(_ context.Context, f storage.CallFilter) ([]storage.Call, error) {
	var out []storage.Call
	for _, c := range s.jr.calls() {
		if !c.ArrivedAt.Before(f.From) { // live calls too, as storage.Store.Calls
			out = append(out, c)
		}
	}
	return out, nil
}

// switchboard restarts while two callers wait: one is still on the PBX and
// resumes with its original enqueue time, the other hung up meanwhile and
// is closed as lost. Today's finished calls seed the statistics.
func TestRestartRecovery(t *testing.T) {
	r := newRig(t, testRules, []sim.AgentGroup{good}, nil, nil)
	r.login("good-001")
	done := r.inject("1000", "5551000", 0)
	r.advance(10 * time.Second) // answered
	r.ctl.HangupCall(context.Background(), callID(done), 0)
	r.settle()
	r.ctl.AgentPause(context.Background(), "good-001", "lunch")
	r.settle()
	r.advance(time.Minute)
	stays := r.inject("1000", "5551001", 0)
	leaves := r.inject("1000", "5551002", 0)
	enq := r.clk.Now()
	r.advance(5 * time.Second)

	r.stopController()
	r.sim.HangupFar(leaves)
	r.advance(30 * time.Second)

	r.restart()
	r.start(newEngine(t, testRules, []sim.AgentGroup{good}), journalStore{r.jr})
	r.sim.Resync()
	r.settle()
	q := r.queue("support")
	// Offered: the three calls of the day (the lost one joined the queue
	// too); the resumed call is not counted twice.
	if q.Waiting != 1 || q.Answered != 1 || q.Offered != 3 || q.Abandoned != 0 {
		t.Fatalf("after restart: %+v", q)
	}
	if c, ok := r.call(stays); !ok || !c.EnqueuedAt.Equal(enq) || c.WaitSeconds != 35 {
		t.Fatalf("resumed call %+v", c)
	}
	if c := r.jr.calls()[callID(leaves)]; c.Outcome != storage.OutcomeLost || c.EndReason != reasonLostWaiting || c.EndedAt == nil {
		t.Fatalf("lost call %+v", c)
	}
	r.login("good-001")
	r.advance(20 * time.Second)
	if c := r.jr.calls()[callID(stays)]; c.AgentID != "good-001" || c.AnsweredAt == nil || !c.EnqueuedAt.Equal(enq) {
		t.Fatalf("resumed call not answered in place: %+v", c)
	}
}
