package controller

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// The Asterisk and FreeSWITCH adapters send pointers (&LegAnswered{…});
// the loop must see the same values the sim sends.
func TestNormalizePointerEvents(t *testing.T) {
	ref := adapters.LegRef{Node: "n", ID: "1"}
	for _, ev := range []adapters.Event{
		&adapters.CallArrived{Base: adapters.Base{Ref: ref}, CallerNumber: "1"},
		&adapters.LegAnswered{Base: adapters.Base{Ref: ref}, Tag: "t"},
		&adapters.LegHungUp{Base: adapters.Base{Ref: ref}, Cause: 16},
		&adapters.OriginateFailed{Base: adapters.Base{Ref: ref}, Cause: 19},
		&adapters.DTMFReceived{Base: adapters.Base{Ref: ref}, Digit: "1"},
		&adapters.PlaybackFinished{Base: adapters.Base{Ref: ref}, PlaybackID: "p"},
		&adapters.RecordingStarted{Base: adapters.Base{Ref: ref}},
		&adapters.RecordingFinished{Base: adapters.Base{Ref: ref}, Duration: time.Second},
		&adapters.RecordingFailed{Base: adapters.Base{Ref: ref}},
		&adapters.NodeState{Node: "n", Up: true},
		&adapters.Reconciled{Node: "n"},
	} {
		got := normalize(ev)
		if reflect.TypeOf(got).Kind() == reflect.Pointer {
			t.Errorf("%T not turned into a value", ev)
			continue
		}
		if !reflect.DeepEqual(got, reflect.ValueOf(ev).Elem().Interface()) {
			t.Errorf("%T changed: %#v", ev, got)
		}
	}
}

// An agent leg's answer can reach the loop before the Originate result
// that names the leg: the tag must tie it to its offer, or the answered
// agent would be treated as still ringing (and dropped at RONA).
func TestAnswerOvertakesOriginateResult(t *testing.T) {
	r := newRig(t, testRules, []sim.AgentGroup{never}, nil, nil)
	r.login("never-001")
	caller := r.inject("1000", "5551000", 0)
	r.advance(time.Second)
	var leg adapters.LegRef
	var tag string
	done := make(chan struct{})
	r.ctl.post(func() {
		defer close(done)
		for t, of := range r.ctl.offers {
			leg, tag = of.leg, t
			// Back to the moment before the Originate result came in.
			of.leg = adapters.LegRef{}
			delete(r.ctl.byLeg, leg)
		}
		r.ctl.onPBX(adapters.LegAnswered{Base: adapters.Base{Ref: leg, At: r.clk.Now()}, Tag: tag})
	})
	<-done
	r.settle()
	if leg.IsZero() {
		t.Fatal("no offer rang")
	}
	c, ok := r.call(caller)
	if !ok || c.State != string(phaseTalking) || c.AgentID != "never-001" {
		t.Fatalf("answer by tag not taken: %+v", c)
	}
	// Past the engine's 15 s offer timeout (the sim's never-answering phone
	// gives up only at 17 s): nothing may undo the answer.
	r.advance(15 * time.Second)
	if c, _ := r.call(caller); c.State != string(phaseTalking) {
		t.Fatalf("call dropped after the offer timeout: %+v", c)
	}
	if a := r.agent("never-001"); a.State != routing.StateOnCall || a.Misses != 0 {
		t.Fatalf("agent %+v", a)
	}
}

// A ringing agent leg of ours that no offer owns (left over from before a
// restart) is hung up at reconciliation.
func TestStrayAgentLegHungUpAtReconcile(t *testing.T) {
	r := newRig(t, testRules, []sim.AgentGroup{never}, nil, nil)
	stray, err := r.sim.Originate(context.Background(), adapters.OriginateRequest{Endpoint: "sim/never-001", Tag: makeTag("old-call", "never-001", 7), Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := r.sim.Originate(context.Background(), adapters.OriginateRequest{Endpoint: "sim/never-001", Tag: "not-ours", Timeout: time.Hour})
	r.sim.Resync()
	r.settle()
	if r.hasLeg(stray) {
		t.Fatal("stray agent leg still rings")
	}
	if !r.hasLeg(other) {
		t.Fatal("a leg switchboard did not tag was hung up")
	}
}

// fakeDesk is a callbacks desk that dials through the sim.
type fakeDesk struct {
	pbx *sim.PBX
	mu  sync.Mutex
	// mode per Connect: "answer", "fail", "remove".
	modes    []string
	connects []CallbackEntry
	offers   []CallbackOffer
}

func (d *fakeDesk) OfferCallback(_ context.Context, o CallbackOffer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.offers = append(d.offers, o)
	return nil
}

func (d *fakeDesk) Connect(ctx context.Context, e CallbackEntry, o routing.Offer) (CallbackResult, error) {
	d.mu.Lock()
	d.connects = append(d.connects, e)
	mode := "answer"
	if len(d.modes) > 0 {
		mode, d.modes = d.modes[0], d.modes[1:]
	}
	d.mu.Unlock()
	switch mode {
	case "fail":
		return CallbackResult{Reason: "customer busy"}, nil
	case "remove":
		return CallbackResult{Remove: true, Reason: "retries exhausted"}, nil
	}
	cust, err := d.pbx.Originate(ctx, adapters.OriginateRequest{Endpoint: "sim/customer/" + e.CallerNumber, Role: adapters.RoleCallback, Timeout: time.Minute})
	if err != nil {
		return CallbackResult{}, err
	}
	ag, err := d.pbx.Originate(ctx, adapters.OriginateRequest{Endpoint: o.Endpoint, Role: adapters.RoleAgent, Tag: "desk", Timeout: time.Minute})
	if err != nil {
		return CallbackResult{}, err
	}
	return CallbackResult{Answered: true, Customer: cust, Agent: ag}, nil
}

func (d *fakeDesk) seen() ([]CallbackEntry, []CallbackOffer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]CallbackEntry(nil), d.connects...), append([]CallbackOffer(nil), d.offers...)
}

func newDeskRig(t *testing.T, rules string, modes ...string) (*rig, *fakeDesk) {
	t.Helper()
	r := newRig(t, rules, []sim.AgentGroup{good}, nil, nil)
	d := &fakeDesk{pbx: r.sim, modes: modes}
	r.stopController()
	r.restart()
	r.desk = d
	r.start(newEngine(t, rules, []sim.AgentGroup{good}), nil)
	r.settle()
	return r, d
}

// A callback entry keeps its original place: older than a live caller,
// it is served first, through the desk, and the agent ends up on it.
func TestCallbackEntryKeepsPlaceAndConnects(t *testing.T) {
	r, d := newDeskRig(t, testRules)
	r.advance(time.Minute)
	live := r.inject("1000", "5551000", 0)
	entry := CallbackEntry{ID: "cb-1", Queue: "support", EnqueuedAt: t0, CallerNumber: "5559999"}
	if err := r.ctl.EnqueueCallback(context.Background(), entry); err != nil {
		t.Fatal(err)
	}
	if err := r.ctl.EnqueueCallback(context.Background(), entry); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("the same entry twice: %v", err)
	}
	if q := r.queue("support"); q.CallbacksWaiting != 1 || q.Waiting != 2 {
		t.Fatalf("%+v", q)
	}
	r.login("good-001")
	r.settle()
	cs, _ := d.seen()
	if len(cs) != 1 || cs[0].ID != "cb-1" || !cs[0].EnqueuedAt.Equal(t0) {
		t.Fatalf("desk connects %+v", cs)
	}
	if a := r.agent("good-001"); a.State != routing.StateOnCall || a.CallID != "cb-1" {
		t.Fatalf("agent %+v", a)
	}
	r.advance(10 * time.Second) // the sim answers both legs: nothing changes
	if a := r.agent("good-001"); a.State != routing.StateOnCall || a.CallID != "cb-1" {
		t.Fatalf("agent after the legs answered %+v", a)
	}
	if c, _ := r.call(live); c.State != string(phaseQueued) {
		t.Fatalf("live caller %+v", c)
	}
	// The customer hangs up: the agent leg goes, the agent wraps up, and
	// the live caller is next.
	var cust adapters.LegRef
	for _, l := range r.sim.Legs() {
		if l != live && r.ctl.byLegRole(l) == adapters.RoleCaller {
			cust = l
		}
	}
	if cust.IsZero() {
		t.Fatalf("customer leg not known: %v", r.sim.Legs())
	}
	r.sim.HangupFar(cust)
	r.advance(time.Minute)
	if c := r.jr.calls()[callID(live)]; c.AgentID != "good-001" || c.AnsweredAt == nil {
		t.Fatalf("live caller not served after the callback: %+v", c)
	}
	if _, ok := r.jr.calls()["cb-1"]; ok {
		t.Fatal("a callback entry wrote a call row (the desk keeps those records)")
	}
	if q := r.queue("support"); q.Answered != 1 || q.Abandoned != 0 {
		t.Fatalf("callback entry counted in the live figures: %+v", q)
	}
}

func TestCallbackConnectFailsThenRemoved(t *testing.T) {
	r, d := newDeskRig(t, testRules, "fail", "remove")
	if err := r.ctl.EnqueueCallback(context.Background(), CallbackEntry{ID: "cb-2", Queue: "support", EnqueuedAt: t0}); err != nil {
		t.Fatal(err)
	}
	r.login("good-001")
	r.settle()
	// First connect failed: the entry keeps its place, and is offered again
	// (the only one waiting) — the second attempt removes it.
	cs, _ := d.seen()
	if len(cs) != 2 {
		t.Fatalf("want two connects, got %d", len(cs))
	}
	if q := r.queue("support"); q.CallbacksWaiting != 0 || q.Waiting != 0 {
		t.Fatalf("removed entry still queued: %+v", q)
	}
	if a := r.agent("good-001"); a.State != routing.StateAvailable {
		t.Fatalf("agent %+v", a)
	}
	if err := r.ctl.RemoveCallback(context.Background(), "cb-2"); !errors.Is(err, ErrUnknownCall) {
		t.Fatalf("removing a removed entry: %v", err)
	}
}

const callbackRules = `
queues:
  - name: support
    max_wait: 30s
    on_exit: {action: callback}
default_queue: support
`

// A queue exit with action callback asks the desk; the caller keeps
// waiting; accepting ends the call as "callback", not as an abandon.
func TestCallbackOfferedAndAccepted(t *testing.T) {
	r, d := newDeskRig(t, callbackRules)
	caller := r.inject("1000", "5551000", 0)
	r.advance(31 * time.Second)
	_, offers := d.seen()
	if len(offers) != 1 || offers[0].CallID != callID(caller) || offers[0].Caller != caller || !offers[0].EnqueuedAt.Equal(t0) {
		t.Fatalf("offers %+v", offers)
	}
	if c, ok := r.call(caller); !ok || c.State != string(phaseQueued) {
		t.Fatalf("caller should keep waiting while offered: %+v", c)
	}
	if err := r.ctl.AcceptCallback(context.Background(), callID(caller)); err != nil {
		t.Fatal(err)
	}
	r.sim.HangupFar(caller)
	r.settle()
	c := r.jr.calls()[callID(caller)]
	if c.Outcome != storage.OutcomeCallback || c.EndedAt == nil {
		t.Fatalf("record %+v", c)
	}
	if q := r.queue("support"); q.Abandoned != 0 || q.Waiting != 0 {
		t.Fatalf("%+v", q)
	}
	if err := r.ctl.AcceptCallback(context.Background(), callID(caller)); !errors.Is(err, ErrUnknownCall) {
		t.Fatalf("accepting twice: %v", err)
	}
}

// Without a desk a callback offer is logged and the caller keeps waiting;
// EnqueueCallback says why it cannot work.
func TestNoCallbackDesk(t *testing.T) {
	r := newRig(t, callbackRules, []sim.AgentGroup{good}, nil, nil)
	caller := r.inject("1000", "5551000", 0)
	r.advance(31 * time.Second)
	if c, ok := r.call(caller); !ok || c.State != string(phaseQueued) {
		t.Fatalf("%+v", c)
	}
	err := r.ctl.EnqueueCallback(context.Background(), CallbackEntry{ID: "x", Queue: "support"})
	if !errors.Is(err, ErrNoCallbackDesk) {
		t.Fatalf("%v", err)
	}
	if err := r.ctl.EnqueueCallback(context.Background(), CallbackEntry{Queue: "support"}); err == nil {
		t.Fatal("entry without id accepted")
	}
	_ = fmt.Sprint
}

// gatedPBX holds every Originate until the test lets it through, so a
// test can act while an agent leg is on its way.
type gatedPBX struct {
	*sim.PBX
	arrived chan struct{}
	release chan struct{}
}

func (g *gatedPBX) Originate(ctx context.Context, req adapters.OriginateRequest) (adapters.LegRef, error) {
	g.arrived <- struct{}{}
	<-g.release
	return g.PBX.Originate(ctx, req)
}

// The caller hangs up while the agent leg is being originated: when the
// PBX returns the new leg, it is hung up at once (not left ringing until
// the PBX's own timeout), and the ring is in the database as a leg with
// its end — the agent's phone did ring.
func TestWithdrawnWhileOriginatingHangsUpTheLeg(t *testing.T) {
	r := newRig(t, testRules, []sim.AgentGroup{never}, nil, nil)
	g := &gatedPBX{PBX: r.sim, arrived: make(chan struct{}), release: make(chan struct{})}
	r.stopController()
	r.restart()
	r.pbx = g
	r.start(newEngine(t, testRules, []sim.AgentGroup{never}), nil)
	r.settle()
	r.login("never-001")
	caller := r.sim.InjectCall("1000", "5551000", nil, 0)
	select {
	case <-g.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no agent rung")
	}
	r.sim.HangupFar(caller)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, live := r.call(caller); !live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the caller's hangup did not end the call")
		}
		time.Sleep(time.Millisecond)
	}
	close(g.release)
	r.settle()
	for _, l := range r.sim.Legs() {
		t.Errorf("leg %s still up after its offer was withdrawn", l)
	}
	var rows []storage.Leg
	r.jr.mu.Lock()
	for _, rec := range r.jr.recs {
		if l, ok := rec.(storage.Leg); ok && l.Role == string(adapters.RoleAgent) {
			rows = append(rows, l)
		}
	}
	r.jr.mu.Unlock()
	if len(rows) != 1 || rows[0].EndedAt == nil || rows[0].CallID != callID(caller) || rows[0].AgentID != "never-001" {
		t.Fatalf("agent leg rows %+v, want the one ring, ended", rows)
	}
}

// A reconciliation's listing may predate an agent leg the loop already
// knows from its Originate result (results and events reach the loop in
// any order; the FreeSWITCH adapter lists channels while calls are being
// offered): a leg originated since the node came up has not vanished
// while the link was down, and a listed leg whose Originate result is
// still on its way is the offer's, not a stray. Either mistake rang the
// next agent for a call whose first agent was ringing
// (TestE2EConcurrentCommandsNoCrossedReplies in adapters/esl caught it).
func TestReconcileListingOlderThanAnOffer(t *testing.T) {
	for _, tc := range []struct {
		name string
		// resultPending: the Originate result has not reached the loop
		// when the listing (which names the leg) does.
		resultPending bool
	}{{"listing before the leg existed", false}, {"listing before the originate result", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, testRules, []sim.AgentGroup{never}, nil, nil)
			r.login("never-001")
			caller := r.inject("1000", "5551000", 0)
			r.advance(time.Second)
			var leg adapters.LegRef
			done := make(chan struct{})
			r.ctl.post(func() {
				defer close(done)
				var of *offer
				for _, o := range r.ctl.offers {
					of = o
				}
				if of == nil {
					return
				}
				leg = of.leg
				listed := []adapters.LegInfo{{Ref: caller, State: "Up"}}
				if tc.resultPending {
					of.leg = adapters.LegRef{}
					delete(r.ctl.byLeg, leg)
					listed = append(listed, adapters.LegInfo{Ref: leg, State: "Ring", Tag: of.tag})
				}
				r.ctl.onPBX(adapters.Reconciled{Base: adapters.Base{At: r.clk.Now()}, Node: caller.Node, Legs: listed})
				if tc.resultPending {
					// The result arrives.
					of.leg = leg
					r.ctl.trackAgentLeg(of, leg)
				}
			})
			<-done
			r.settle()
			if leg.IsZero() {
				t.Fatal("no offer rang")
			}
			if !r.hasLeg(leg) {
				t.Fatal("the ringing agent leg was hung up")
			}
			c, ok := r.call(caller)
			if !ok || c.State != string(phaseRinging) || c.Offers != 1 {
				t.Fatalf("call after the reconciliation: %+v", c)
			}
			if a := r.agent("never-001"); a.State != routing.StateOffered || a.Misses != 0 {
				t.Fatalf("agent %+v", a)
			}
		})
	}
}
