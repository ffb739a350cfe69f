package callbacks

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/ari"
	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
	"github.com/switchboard-cc/switchboard/adapters/esl"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// The wire tests run the whole virtual-hold flow through a real PBX
// adapter and its client library (ari/v6, eslgo) against the fake PBX on
// loopback: controller, routing engine, callbacks desk and SQLite, on the
// real clock. Keys are pressed by the fake as the PBX's own DTMF events
// (ChannelDtmfReceived, DTMF), and dials are counted at the fake.

// wireRules offers every caller of line 1000 a callback after a second in
// line (a step already reached at arrival offers nothing); wrap-up is
// instant so one agent serves the line in turn.
const wireRules = `
queues:
  - name: support
    strategy: longest-idle
    offer_timeout: 10s
    wrap_up: 0s
    steps:
      - {after: 1s, offer_callback: true, require: {support: 3}}
entry:
  - {when: 'dialed == "1000"', queue: support, require: {support: 3}}
default_queue: support
`

// fakePBX is what the flow needs from either fake.
type fakePBX interface {
	// call brings an inbound call for line 1000 from number to the app and
	// returns the PBX's channel id.
	call(t *testing.T, number string) string
	press(t *testing.T, id, digit string)
	hangup(t *testing.T, id string)
	// alive reports whether the channel still exists on the PBX.
	alive(id string) bool
	// bridgedTo returns the id of the channel bridged with id ("" if none).
	bridgedTo(id string) string
	// dials counts the originates ever asked for to endpoints starting with prefix.
	dials(prefix string) int
}

type ariFake struct{ s *aritest.Server }

func (f ariFake) call(t *testing.T, number string) string {
	id, err := f.s.InjectCall("switchboard", aritest.Caller{Number: number, Exten: "1000"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
func (f ariFake) press(t *testing.T, id, d string) {
	if err := f.s.PressDTMF(id, d); err != nil {
		t.Fatal(err)
	}
}
func (f ariFake) hangup(t *testing.T, id string) {
	if err := f.s.HangupFar(id, 16); err != nil {
		t.Fatal(err)
	}
}
func (f ariFake) alive(id string) bool { _, ok := f.s.Channel(id); return ok }
func (f ariFake) bridgedTo(id string) string {
	for _, b := range f.s.Bridges() {
		if len(b.Channels) == 2 && (b.Channels[0] == id || b.Channels[1] == id) {
			if b.Channels[0] == id {
				return b.Channels[1]
			}
			return b.Channels[0]
		}
	}
	return ""
}
func (f ariFake) dials(prefix string) int { return f.s.Originated(prefix + "*") }

type eslFake struct{ s *esltest.Server }

func (f eslFake) call(t *testing.T, number string) string {
	return f.s.InboundCall(esltest.Call{CallerNumber: number, Dialed: "1000", Vars: map[string]string{"switchboard": "true"}})
}
func (f eslFake) press(t *testing.T, id, d string) {
	if err := f.s.DTMF(id, d); err != nil {
		t.Fatal(err)
	}
}
func (f eslFake) hangup(t *testing.T, id string) {
	if err := f.s.Hangup(id, "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
}
func (f eslFake) alive(id string) bool { _, ok := f.s.Channel(id); return ok }
func (f eslFake) bridgedTo(id string) string {
	if ch, ok := f.s.Channel(id); ok && ch.Bridged != "" {
		return ch.Bridged
	}
	for _, ch := range f.s.Channels() {
		if ch.Bridged == id {
			return ch.UUID
		}
	}
	return ""
}

// dials counts originate commands (api or bgapi) whose dial string starts
// with prefix, from the fake's own command log.
func (f eslFake) dials(prefix string) int {
	n := 0
	for _, c := range f.s.Commands() {
		if i := strings.Index(c, "originate "); i >= 0 && strings.Contains(c[i:], prefix) {
			n++
		}
	}
	return n
}

// playLog wraps the real adapter to see which prompts were sent to the
// PBX (and accepted by it) for which leg.
type playLog struct {
	adapters.PBX
	mu    sync.Mutex
	plays map[string][]string // leg id → prompts
	// before, when set, runs before each Play reaches the PBX.
	before func(leg adapters.LegRef, media []adapters.Media)
}

func (p *playLog) Play(ctx context.Context, leg adapters.LegRef, media ...adapters.Media) (string, error) {
	p.mu.Lock()
	before := p.before
	p.mu.Unlock()
	if before != nil {
		before(leg, media)
	}
	id, err := p.PBX.Play(ctx, leg, media...)
	if err == nil {
		p.mu.Lock()
		for _, m := range media {
			p.plays[leg.ID] = append(p.plays[leg.ID], m.Value)
		}
		p.mu.Unlock()
	}
	return id, err
}

func (p *playLog) heard(leg, prompt string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range p.plays[leg] {
		if v == prompt {
			return true
		}
	}
	return false
}

// answers records, in order, every call the controller reports answered.
type answers struct {
	mu  sync.Mutex
	evs []controller.CallEvent
}

func (a *answers) Observe(ev controller.CallEvent) {
	if ev.Kind == controller.EventAnswered {
		a.mu.Lock()
		a.evs = append(a.evs, ev)
		a.mu.Unlock()
	}
}

func (a *answers) list() []controller.CallEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]controller.CallEvent(nil), a.evs...)
}

type flowRig struct {
	t     *testing.T
	fake  fakePBX
	pbx   *playLog
	ctl   *controller.Controller
	desk  *Desk
	store *storage.Store
	ans   *answers
}

func (r *flowRig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startFlow runs the adapter, the controller with agent 1001 on agentEP
// (logged out), and the desk dialling customers on custEP, on the real clock.
func startFlow(t *testing.T, ad adapters.PBX, fake fakePBX, agentEP, custEP string) *flowRig {
	t.Helper()
	return startFlowWith(t, ad, fake, clock.Real{}, wireRules, []routing.Agent{{ID: "1001", Endpoint: agentEP, Skills: map[string]int{"support": 5}, Queues: map[string]int{"support": 1}}}, custEP)
}

// startFlowWith is startFlow with a clock, a routing file and agents of one's own.
func startFlowWith(t *testing.T, ad adapters.PBX, fake fakePBX, clk clock.Clock, rules string, agents []routing.Agent, custEP string) *flowRig {
	t.Helper()
	return startFlowQueue(t, ad, fake, clk, rules, agents, custEP, QueueConfig{})
}

// startFlowQueue is startFlowWith with the support queue's callback
// policy, and observers of the controller's events of one's own.
func startFlowQueue(t *testing.T, ad adapters.PBX, fake fakePBX, clk clock.Clock, rules string, agents []routing.Agent, custEP string, qc QueueConfig, extra ...controller.Observer) *flowRig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := storage.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "wire.db"), storage.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
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
	for _, a := range agents {
		eng.UpsertAgent(a, clk.Now())
	}
	pl := &playLog{PBX: ad, plays: map[string][]string{}}
	plug := NewPlug()
	desk, err := New(Config{Instance: "wire", CustomerEndpoint: custEP, CallerID: "+3310000000", RingTimeout: 30 * time.Second,
		AgentRingTimeout: 20 * time.Second, Poll: 50 * time.Millisecond, KeyTimeout: 5 * time.Second,
		Queues: map[string]QueueConfig{"support": qc}}, st, pl, plug, clk, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ans := &answers{}
	ctl, err := controller.New(controller.Config{}, controller.Deps{PBX: pl, Engine: eng, Clock: clk, Log: quiet(),
		Callbacks: plug, Observers: append([]controller.Observer{plug, ans}, extra...)})
	if err != nil {
		t.Fatal(err)
	}
	plug.Attach(desk, ctl)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); ad.Run(ctx) }()
	go func() { defer wg.Done(); ctl.Run(ctx) }()
	go func() { defer wg.Done(); desk.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); st.Close() })
	r := &flowRig{t: t, fake: fake, pbx: pl, ctl: ctl, desk: desk, store: st, ans: ans}
	r.waitFor("controller ready", func() bool { ok, _ := ctl.Ready(); return ok })
	return r
}

// virtualHoldFlow: four callers queue for line 1000 with no agent logged
// in; each is offered a callback. c1, c2 and c4 decline with 9; c3, third
// in line, presses 1, confirms the number it called from with 1, hears the
// confirmation and is hung up by switchboard. The agent logs in and serves
// the line: c1, c2 (who arrived before c3), then the callback — the desk
// dials c3's number, the customer answers, the agent is bridged to it —
// then c4 (who arrived after). The durable row ends completed with one
// attempt, and the PBX saw exactly one dial to the customer.
func virtualHoldFlow(t *testing.T, r *flowRig, custPrefix string) {
	f := r.fake
	numbers := []string{"+33100000001", "+33100000002", "+33100000003", "+33100000004"}
	legs := make([]string, 4)
	for i, n := range numbers {
		legs[i] = f.call(t, n)
		r.waitFor("offer heard by caller "+n, func() bool { return r.pbx.heard(legs[i], PromptOffer) })
		if i == 2 {
			f.press(t, legs[i], "1")
			r.waitFor("number read back to c3", func() bool { return r.pbx.heard(legs[i], PromptConfirm) })
			f.press(t, legs[i], "1")
			r.waitFor("confirmation", func() bool { return r.pbx.heard(legs[i], PromptConfirmed) })
			r.waitFor("c3 hung up by switchboard", func() bool { return !f.alive(legs[i]) })
		} else {
			f.press(t, legs[i], "9")
		}
	}
	ctx := context.Background()
	cbs, err := r.store.ListCallbacks(ctx, storage.CallbackFilter{})
	if err != nil || len(cbs) != 1 {
		t.Fatalf("callbacks %+v %v", cbs, err)
	}
	cb := cbs[0]
	// The entry keeps the caller's place and the skills their entry rule required.
	if cb.Number != numbers[2] || cb.Kind != string(KindVirtualHold) || cb.State != storage.CallbackPending || cb.Skills != `{"support":3}` {
		t.Fatalf("stored callback %+v", cb)
	}
	// Declined callers still wait; c3 left the line but not as an abandon.
	for _, i := range []int{0, 1, 3} {
		if !f.alive(legs[i]) {
			t.Fatalf("caller %d gone after declining", i+1)
		}
	}
	if err := r.ctl.AgentLogin(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	var served []string
	for len(served) < 4 {
		n := len(served)
		r.waitFor("call "+string(rune('1'+n))+" answered", func() bool { return len(r.ans.list()) > n })
		ev := r.ans.list()[n]
		who := ev.CallerNumber
		if _, isCB := CallbackIDOf(ev.CallID); isCB {
			who = "callback " + who
		}
		served = append(served, who)
		// The agent talks to the caller (or the called-back customer) on
		// the PBX: their channels are bridged.
		r.waitFor("bridged at the PBX", func() bool { return f.bridgedTo(ev.Caller.ID) != "" })
		if got := f.bridgedTo(ev.Caller.ID); got != ev.AgentLeg.ID {
			t.Fatalf("caller %s bridged to %s, want the agent leg %s", ev.Caller.ID, got, ev.AgentLeg.ID)
		}
		f.hangup(t, ev.Caller.ID)
	}
	want := []string{numbers[0], numbers[1], "callback " + numbers[2], numbers[3]}
	if strings.Join(served, ",") != strings.Join(want, ",") {
		t.Fatalf("served %v, want %v", served, want)
	}
	got, atts, err := r.desk.Get(ctx, cb.ID)
	if err != nil || got.State != storage.CallbackCompleted || got.ConnectedAt == nil || got.Attempts != 1 || len(atts) != 1 ||
		atts[0].Outcome != string(OutcomeConnected) || atts[0].AnsweredAt == nil || atts[0].AgentID != "1001" {
		t.Fatalf("after the callback: %+v %+v %v", got, atts, err)
	}
	if n := f.dials(custPrefix); n != 1 {
		t.Fatalf("the PBX was asked to dial the customer %d times, want 1", n)
	}
}

func TestWireVirtualHoldAsterisk(t *testing.T) {
	srv, err := aritest.New(aritest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ad, err := ari.New(ari.Config{RequestTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, ReconnectDelay: 300 * time.Millisecond,
		Heartbeat: time.Second, Nodes: []ari.NodeConfig{{Name: "ast1", URL: srv.URL(), Password: "switchboard"}}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	r := startFlow(t, ad, ariFake{srv}, "PJSIP/1001", "PJSIP/{number}@carrier")
	r.waitFor("adapter connected", func() bool { return srv.Connected("switchboard") })
	virtualHoldFlow(t, r, "PJSIP/+331")
}

func TestWireVirtualHoldFreeSWITCH(t *testing.T) {
	fs, err := esltest.New(esltest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Close)
	ad, err := esl.New(esl.Config{Node: "fs1", Addr: fs.Addr(), CommandTimeout: 2 * time.Second, HealthInterval: time.Hour,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	r := startFlow(t, ad, eslFake{fs}, "user/1001", "sofia/gateway/carrier/{number}")
	r.waitFor("adapter connected", func() bool { ok, _ := ad.Ready(); return ok })
	virtualHoldFlow(t, r, "sofia/gateway/carrier/+331")
}

// ownedRules: line 1000 with no callback offer; two agents in support.
const ownedRules = `
queues:
  - name: support
    strategy: longest-idle
    offer_timeout: 10s
    wrap_up: 0s
entry:
  - {when: 'dialed == "1000"', queue: support}
default_queue: support
`

// TestWireAgentOwned: a callback owned by agent 1001 with a 30-minute
// deadline, through the controller, routing and the Asterisk adapter on a
// manual clock. Agent 1002 is free but is not offered it — and a caller
// who arrives meanwhile is not held up behind it; 1002 serves them. Then
// either the owner logs in before the deadline and takes it, or the
// deadline passes and 1002 takes it. Each way the customer is dialled once
// (counted at the fake), by the agent the policy names.
func TestWireAgentOwned(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ownerLogin bool // the owner logs in before the deadline
		want       string
	}{
		{"owner takes it before the deadline", true, "1001"},
		{"the queue takes it after the deadline", false, "1002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := aritest.New(aritest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
			ad, err := ari.New(ari.Config{RequestTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, ReconnectDelay: 300 * time.Millisecond,
				Heartbeat: time.Hour, Nodes: []ari.NodeConfig{{Name: "ast1", URL: srv.URL(), Password: "switchboard"}}}, quiet())
			if err != nil {
				t.Fatal(err)
			}
			clk := clock.NewManual(simT0)
			agents := []routing.Agent{
				{ID: "1001", Endpoint: "PJSIP/1001", Queues: map[string]int{"support": 1}},
				{ID: "1002", Endpoint: "PJSIP/1002", Queues: map[string]int{"support": 1}},
			}
			r := startFlowWith(t, ad, ariFake{srv}, clk, ownedRules, agents, "PJSIP/{number}@carrier")
			r.waitFor("adapter connected", func() bool { return srv.Connected("switchboard") })
			ctx := context.Background()
			if err := r.ctl.AgentLogin(ctx, "1002"); err != nil {
				t.Fatal(err)
			}
			cb, err := r.desk.Schedule(ctx, Request{Number: "+4930555", Queue: "support", Agent: "1001", AgentDeadline: "30m", Note: "follow-up"})
			if err != nil {
				t.Fatal(err)
			}
			r.waitFor("entry handed to routing", func() bool { return r.desk.Dispatch(ctx) == 0 && r.desk.handedCount() == 1 })
			// 1002 is free, the entry is first in line, but it is not 1002's.
			clk.Advance(time.Minute)
			r.desk.Dispatch(ctx)
			if n := srv.Originated("PJSIP/+4930555*"); n != 0 {
				t.Fatalf("customer dialled %d times before the owner or the deadline", n)
			}
			// A caller arriving now is served by 1002 at once.
			caller := ariFake{srv}.call(t, "+4930111")
			r.waitFor("caller served by 1002", func() bool {
				evs := r.ans.list()
				return len(evs) == 1 && evs[0].AgentID == "1002" && evs[0].CallerNumber == "+4930111"
			})
			ariFake{srv}.hangup(t, caller)
			r.waitFor("1002 free again", func() bool {
				for _, a := range r.ctl.Snapshot().Agents {
					if a.ID == "1002" {
						return a.State == routing.StateAvailable
					}
				}
				return false
			})
			if n := srv.Originated("PJSIP/+4930555*"); n != 0 {
				t.Fatalf("customer dialled %d times before the owner or the deadline", n)
			}
			if tc.ownerLogin {
				clk.Advance(10 * time.Minute)
				if err := r.ctl.AgentLogin(ctx, "1001"); err != nil {
					t.Fatal(err)
				}
			} else {
				clk.Advance(30 * time.Minute)
			}
			r.waitFor("callback answered", func() bool { return len(r.ans.list()) == 2 })
			ev := r.ans.list()[1]
			if ev.AgentID != tc.want || ev.CallID != EntryCallID(cb.ID) {
				t.Fatalf("callback taken by %s (%s), want %s", ev.AgentID, ev.CallID, tc.want)
			}
			r.waitFor("bridged at the PBX", func() bool { return ariFake{srv}.bridgedTo(ev.Caller.ID) == ev.AgentLeg.ID })
			got, atts, err := r.desk.Get(ctx, cb.ID)
			if err != nil || got.State != storage.CallbackCompleted || len(atts) != 1 || atts[0].AgentID != tc.want {
				t.Fatalf("after: %+v %+v %v", got, atts, err)
			}
			if n := srv.Originated("PJSIP/+4930555*"); n != 1 {
				t.Fatalf("customer dialled %d times, want 1", n)
			}
		})
	}
}

// TestWireCancelLeavesQueue: a callback cancelled while its entry waits
// in the controller's queue leaves the queue at once (the wallboard's
// figure drops), and nobody is dialled when an agent comes.
func TestWireCancelLeavesQueue(t *testing.T) {
	srv, err := aritest.New(aritest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ad, err := ari.New(ari.Config{RequestTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, ReconnectDelay: 300 * time.Millisecond,
		Heartbeat: time.Hour, Nodes: []ari.NodeConfig{{Name: "ast1", URL: srv.URL(), Password: "switchboard"}}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(simT0)
	r := startFlowWith(t, ad, ariFake{srv}, clk, ownedRules, []routing.Agent{{ID: "1001", Endpoint: "PJSIP/1001", Queues: map[string]int{"support": 1}}}, "PJSIP/{number}@carrier")
	r.waitFor("adapter connected", func() bool { return srv.Connected("switchboard") })
	ctx := context.Background()
	cb, err := r.desk.Schedule(ctx, Request{Number: "+4930777", Queue: "support"})
	if err != nil {
		t.Fatal(err)
	}
	waiting := func() int {
		for _, q := range r.ctl.Snapshot().Queues {
			if q.Name == "support" {
				return q.CallbacksWaiting
			}
		}
		return -1
	}
	r.desk.Dispatch(ctx)
	r.waitFor("one callback waiting on the floor", func() bool { return waiting() == 1 })
	if err := r.desk.Cancel(ctx, cb.ID, "test", "customer called in"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("entry gone from the queue", func() bool { return waiting() == 0 })
	if err := r.ctl.AgentLogin(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	r.desk.Dispatch(ctx)
	if n := srv.Originated("*"); n != 0 {
		t.Fatalf("%d dials after the cancel", n)
	}
	got, _, _ := r.desk.Get(ctx, cb.ID)
	if got.State != storage.CallbackCancelled {
		t.Fatalf("state %s", got.State)
	}
}

// TestWireSlowCustomer: the customer lets the phone ring for longer than
// the queue's offer_timeout (10 s) before answering. Routing's offer of
// the entry to the agent must last the whole dial — the customer's ring,
// then the agent's — or it is withdrawn and the customer is cut off
// mid-ring. Manual clock; the fake rings until the test answers.
func TestWireSlowCustomer(t *testing.T) {
	srv, err := aritest.New(aritest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.Behave("PJSIP/+4930888@carrier", aritest.Behavior{Manual: true})
	ad, err := ari.New(ari.Config{RequestTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, ReconnectDelay: 300 * time.Millisecond,
		Heartbeat: time.Hour, Nodes: []ari.NodeConfig{{Name: "ast1", URL: srv.URL(), Password: "switchboard"}}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(simT0)
	r := startFlowWith(t, ad, ariFake{srv}, clk, ownedRules, []routing.Agent{{ID: "1001", Endpoint: "PJSIP/1001", Queues: map[string]int{"support": 1}}}, "PJSIP/{number}@carrier")
	r.waitFor("adapter connected", func() bool { return srv.Connected("switchboard") })
	ctx := context.Background()
	if err := r.ctl.AgentLogin(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	cb, err := r.desk.Schedule(ctx, Request{Number: "+4930888", Queue: "support"})
	if err != nil {
		t.Fatal(err)
	}
	r.desk.Dispatch(ctx)
	ringing := func() string {
		if chs := srv.ChannelsByEndpoint("PJSIP/+4930888@carrier"); len(chs) == 1 {
			return chs[0].ID
		}
		return ""
	}
	r.waitFor("customer ringing", func() bool { return ringing() != "" })
	cust := ringing()
	// Past the queue's offer timeout (10 s), within the desk's ring
	// timeout (30 s): the customer's phone must keep ringing. (Bounded
	// look at an absence; it never passes by luck the other way.)
	clk.Advance(15 * time.Second)
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ringing() != cust {
			t.Fatal("customer cut off while ringing: the offer was withdrawn at the queue's offer timeout")
		}
	}
	if err := srv.Answer(cust); err != nil {
		t.Fatal(err)
	}
	r.waitFor("callback answered", func() bool { return len(r.ans.list()) == 1 })
	got, atts, err := r.desk.Get(ctx, cb.ID)
	if err != nil || got.State != storage.CallbackCompleted || len(atts) != 1 || atts[0].Outcome != string(OutcomeConnected) {
		t.Fatalf("after: %+v %+v %v", got, atts, err)
	}
	if n := srv.Originated("PJSIP/+4930888*"); n != 1 {
		t.Fatalf("customer dialled %d times", n)
	}
}
