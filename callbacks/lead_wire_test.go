package callbacks

import (
	"context"
	"slices"
	"strings"
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

// leadRules: one support queue with a 30 s wrap-up.
const leadRules = `
queues:
  - name: support
    strategy: longest-idle
    offer_timeout: 10s
    wrap_up: 30s
entry:
  - {when: 'dialed == "1000"', queue: support}
default_queue: support
`

// leadFlow starts the Asterisk flow on a manual clock with support's
// lead_time 20s, has agent 1001 serve one caller and hang up (wrap-up
// until +30s), then schedules a callback due now. It returns the rig, the
// clock, the fake and the callback.
func leadFlow(t *testing.T, custBehavior *aritest.Behavior) (*flowRig, *clock.Manual, *aritest.Server, *storage.Callback) {
	t.Helper()
	return leadFlowQueue(t, custBehavior, QueueConfig{LeadTime: 20 * time.Second, Retry: Retry{MaxAttempts: 3, Interval: time.Minute}})
}

// leadFlowQueue is leadFlow with support's callback policy of one's own.
// Agent 1002 (support too) is known but logged out.
func leadFlowQueue(t *testing.T, custBehavior *aritest.Behavior, qc QueueConfig) (*flowRig, *clock.Manual, *aritest.Server, *storage.Callback) {
	t.Helper()
	srv, err := aritest.New(aritest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if custBehavior != nil {
		srv.Behave("PJSIP/+4930555@carrier", *custBehavior)
	}
	ad, err := ari.New(ari.Config{RequestTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, ReconnectDelay: 300 * time.Millisecond,
		Heartbeat: time.Hour, Nodes: []ari.NodeConfig{{Name: "ast1", URL: srv.URL(), Password: "switchboard"}}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(simT0)
	agents := []routing.Agent{{ID: "1001", Endpoint: "PJSIP/1001", Queues: map[string]int{"support": 1}},
		{ID: "1002", Endpoint: "PJSIP/1002", Queues: map[string]int{"support": 1}}}
	r := startFlowQueue(t, ad, ariFake{srv}, clk, leadRules, agents, "PJSIP/{number}@carrier", qc)
	r.waitFor("adapter connected", func() bool { return srv.Connected("switchboard") })
	ctx := context.Background()
	if err := r.ctl.AgentLogin(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	caller := ariFake{srv}.call(t, "+4930111")
	r.waitFor("caller served", func() bool { return len(r.ans.list()) == 1 })
	clk.Advance(2 * time.Minute) // a 2-minute call: the queue's AHT is 2m30s
	ariFake{srv}.hangup(t, caller)
	r.waitFor("1001 in wrap-up", func() bool { return agentState(r, "1001") == routing.StateWrapUp })
	cb, err := r.desk.Schedule(ctx, Request{Number: "+4930555", Queue: "support"})
	if err != nil {
		t.Fatal(err)
	}
	r.waitFor("entry handed to routing", func() bool { r.desk.Dispatch(ctx); return r.desk.handedCount() == 1 })
	return r, clk, srv, cb
}

func agentState(r *flowRig, id string) routing.AgentState {
	for _, a := range r.ctl.Snapshot().Agents {
		if a.ID == id {
			return a.State
		}
	}
	return ""
}

// TestWireLeadTimeDialsAhead: with lead_time 20s the customer is dialled
// 20 s before the agent's wrap-up ends — not before — while no agent is
// free; they answer and wait on hold in the entry's place; when the
// wrap-up ends the agent is rung and bridged to them. One dial to the
// customer in all, one attempt, connected; the customer's wait after
// answering is the 20 s lead.
func TestWireLeadTimeDialsAhead(t *testing.T) {
	r, clk, srv, cb := leadFlow(t, nil)
	ctx := context.Background()
	clk.Advance(10*time.Second - time.Millisecond)
	time.Sleep(100 * time.Millisecond) // give a wrong early dial the time to show
	if n := srv.Originated("PJSIP/+4930555*"); n != 0 {
		t.Fatalf("customer dialled %d times with 20s+1ms of wrap-up left", n)
	}
	clk.Advance(time.Millisecond) // wrap-up has 20 s left: the lead time
	r.waitFor("customer dialled ahead", func() bool { return srv.Originated("PJSIP/+4930555*") == 1 })
	r.waitFor("customer answered", func() bool {
		_, atts, _ := r.desk.Get(ctx, cb.ID)
		return len(atts) == 1 && atts[0].AnsweredAt != nil
	})
	if s := agentState(r, "1001"); s != routing.StateWrapUp {
		t.Fatalf("agent %s while the customer was dialled ahead, want wrap_up (no agent free)", s)
	}
	if n := srv.Originated("PJSIP/1001*"); n != 1 {
		t.Fatalf("agent rung %d times before free, want only for the first caller", n)
	}
	clk.Advance(20 * time.Second) // wrap-up ends
	r.waitFor("callback answered", func() bool { return len(r.ans.list()) == 2 })
	ev := r.ans.list()[1]
	if ev.AgentID != "1001" || ev.CallID != EntryCallID(cb.ID) {
		t.Fatalf("answered %+v", ev)
	}
	r.waitFor("bridged at the PBX", func() bool { return ariFake{srv}.bridgedTo(ev.Caller.ID) == ev.AgentLeg.ID })
	got, atts, err := r.desk.Get(ctx, cb.ID)
	if err != nil || got.State != storage.CallbackCompleted || len(atts) != 1 || atts[0].Outcome != string(OutcomeConnected) {
		t.Fatalf("after: %+v %+v %v", got, atts, err)
	}
	if w := atts[0].EndedAt.Sub(*atts[0].AnsweredAt); w != 20*time.Second {
		t.Fatalf("customer waited %s after answering, want the 20s lead", w)
	}
	if n := srv.Originated("PJSIP/+4930555*"); n != 1 {
		t.Fatalf("customer dialled %d times, want 1", n)
	}
}

// TestWireLeadTimeNoAnswer: a customer dialled ahead who is busy uses one
// attempt; the entry leaves the queue and comes back, in its place, after
// the retry interval; it is then dialled again — once.
func TestWireLeadTimeNoAnswer(t *testing.T) {
	r, clk, srv, cb := leadFlow(t, &aritest.Behavior{FailCause: 17})
	ctx := context.Background()
	clk.Advance(10 * time.Second)
	r.waitFor("attempt recorded busy", func() bool {
		got, atts, _ := r.desk.Get(ctx, cb.ID)
		return len(atts) == 1 && atts[0].Outcome == string(OutcomeBusy) && got.State == storage.CallbackPending
	})
	r.waitFor("entry off the queue", func() bool { return r.desk.handedCount() == 0 && len(r.ctl.Snapshot().Calls) == 0 })
	clk.Advance(20 * time.Second) // the agent frees up: nothing to dial (retry interval)
	time.Sleep(100 * time.Millisecond)
	if n := srv.Originated("PJSIP/+4930555*"); n != 1 {
		t.Fatalf("customer dialled %d times within the retry interval, want 1", n)
	}
	clk.Advance(time.Minute)
	r.waitFor("entry handed again", func() bool {
		r.desk.Dispatch(ctx)
		return r.desk.handedCount() == 1 || srv.Originated("PJSIP/+4930555*") == 2
	})
	r.waitFor("second try", func() bool { return srv.Originated("PJSIP/+4930555*") == 2 })
	_, atts, _ := r.desk.Get(ctx, cb.ID)
	if len(atts) != 2 {
		t.Fatalf("attempts %+v, want 2", atts)
	}
}

const leadCustomer = "PJSIP/+4930555@carrier"

// answeredAhead waits for the customer dialled ahead to answer and
// returns their live channel id at the PBX.
func answeredAhead(t *testing.T, r *flowRig, srv *aritest.Server, cb *storage.Callback) string {
	t.Helper()
	r.waitFor("customer answered", func() bool {
		_, atts, _ := r.desk.Get(context.Background(), cb.ID)
		return len(atts) >= 1 && atts[len(atts)-1].AnsweredAt != nil && atts[len(atts)-1].Outcome == ""
	})
	legs := srv.ChannelsByEndpoint(leadCustomer)
	if len(legs) != 1 {
		t.Fatalf("customer legs at the PBX %+v, want one", legs)
	}
	return legs[0].ID
}

func queueStatus(r *flowRig, name string) controller.QueueStatus {
	for _, q := range r.ctl.Snapshot().Queues {
		if q.Name == name {
			return q
		}
	}
	return controller.QueueStatus{}
}

// TestWireLeadTimeHoldLimit: lead_hold_limit 10s, and the agent predicted
// free in 20 s. The customer answers the early call and waits; 10 s after
// answering — not 1 ms before — they hear callback-sorry-later and are
// hung up; the try is no_agent and does not count against them; the entry
// leaves the queue (no agent is rung for it when the wrap-up ends). After
// the retry interval it comes back in its original place: a caller who
// arrived after the callback was requested, and waited meanwhile, is
// served after it.
func TestWireLeadTimeHoldLimit(t *testing.T) {
	r, clk, srv, cb := leadFlowQueue(t, nil, QueueConfig{LeadTime: 20 * time.Second, LeadHoldLimit: 10 * time.Second,
		Retry: Retry{MaxAttempts: 3, Interval: time.Minute}})
	ctx := context.Background()
	f := ariFake{srv}
	w0 := clk.Now() // the wrap-up ends at w0+30s
	clk.Advance(10 * time.Second)
	cust := answeredAhead(t, r, srv, cb)
	clk.Advance(10*time.Second - time.Millisecond)
	time.Sleep(100 * time.Millisecond) // give a wrong early release the time to show
	if !f.alive(cust) || r.pbx.heard(cust, PromptSorryLater) {
		t.Fatal("customer released before the hold limit")
	}
	clk.Advance(time.Millisecond) // the hold limit
	r.waitFor("customer released", func() bool { return !f.alive(cust) })
	if !r.pbx.heard(cust, PromptSorryLater) {
		t.Fatalf("customer hung up without hearing %s", PromptSorryLater)
	}
	got, atts, err := r.desk.Get(ctx, cb.ID)
	if err != nil || len(atts) != 1 || atts[0].Outcome != string(OutcomeNoAgent) || got.State != storage.CallbackPending || got.Attempts != 0 {
		t.Fatalf("after the hold limit: %+v %+v %v (want no_agent, pending, 0 tries used)", got, atts, err)
	}
	if want := w0.Add(20 * time.Second).Add(time.Minute); !got.NotBefore.Equal(want) {
		t.Fatalf("next try at %s, want %s (the retry interval after the hold limit)", got.NotBefore, want)
	}
	if !got.EnqueuedAt.Equal(cb.EnqueuedAt) {
		t.Fatalf("place moved from %s to %s", cb.EnqueuedAt, got.EnqueuedAt)
	}
	r.waitFor("entry off the queue", func() bool { return r.desk.handedCount() == 0 && len(r.ctl.Snapshot().Calls) == 0 })
	// The wrap-up ends: nobody to ring for the callback.
	clk.Advance(10 * time.Second)
	r.waitFor("1001 free", func() bool { return agentState(r, "1001") == routing.StateAvailable })
	// c2 takes the agent (w0+30s to w0+55s, wrap-up until w0+85s); c3
	// arrives after and waits.
	c2 := f.call(t, "+4930222")
	r.waitFor("c2 served", func() bool { return len(r.ans.list()) == 2 })
	clk.Advance(10 * time.Second)
	c3 := f.call(t, "+4930333")
	r.waitFor("c3 waiting", func() bool { return queueStatus(r, "support").Waiting == 1 })
	clk.Advance(15 * time.Second)
	f.hangup(t, c2)
	r.waitFor("1001 in wrap-up", func() bool { return agentState(r, "1001") == routing.StateWrapUp })
	if n := srv.Originated(leadCustomer); n != 1 {
		t.Fatalf("customer dialled %d times within the retry interval, want 1", n)
	}
	// The retry interval is over (w0+80s): the entry comes back ahead of
	// c3, and with 5 s of wrap-up left it is dialled ahead at once.
	clk.Advance(got.NotBefore.Sub(clk.Now()))
	r.waitFor("entry handed again", func() bool { r.desk.Dispatch(ctx); return r.desk.handedCount() == 1 })
	answeredAhead(t, r, srv, cb)
	clk.Advance(5 * time.Second) // the wrap-up ends: the agent goes to the callback
	r.waitFor("callback answered", func() bool { return len(r.ans.list()) == 3 })
	if ev := r.ans.list()[2]; ev.CallID != EntryCallID(cb.ID) {
		t.Fatalf("third call served %s (%s), want the callback ahead of c3", ev.CallID, ev.CallerNumber)
	}
	if !f.alive(c3) || f.bridgedTo(c3) != "" {
		t.Fatal("c3 no longer waiting")
	}
	got, atts, _ = r.desk.Get(ctx, cb.ID)
	if got.State != storage.CallbackCompleted || got.Attempts != 1 || len(atts) != 2 || atts[1].Outcome != string(OutcomeConnected) {
		t.Fatalf("after the retry: %+v %+v", got, atts)
	}
	if n := srv.Originated(leadCustomer); n != 2 {
		t.Fatalf("customer dialled %d times, want 2", n)
	}
}

// TestWireLeadTimeCustomerHangsUp: a customer dialled ahead who hangs up
// while waiting for the agent ends the try as hung_up (it counts: the
// retry interval applies); the entry leaves the queue, the queue counts
// no abandon, and when the agent frees up nobody is rung.
func TestWireLeadTimeCustomerHangsUp(t *testing.T) {
	r, clk, srv, cb := leadFlow(t, nil)
	ctx := context.Background()
	f := ariFake{srv}
	clk.Advance(10 * time.Second)
	cust := answeredAhead(t, r, srv, cb)
	clk.Advance(5 * time.Second)
	f.hangup(t, cust)
	r.waitFor("attempt ended hung_up", func() bool {
		_, atts, _ := r.desk.Get(ctx, cb.ID)
		return len(atts) == 1 && atts[0].Outcome == string(OutcomeHungUp)
	})
	got, _, _ := r.desk.Get(ctx, cb.ID)
	if got.State != storage.CallbackPending || got.Attempts != 1 || !got.NotBefore.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("after the hangup: %+v (want pending, 1 try used, next in 1m)", got)
	}
	r.waitFor("entry off the queue", func() bool { return r.desk.handedCount() == 0 && len(r.ctl.Snapshot().Calls) == 0 })
	clk.Advance(15 * time.Second) // the wrap-up ends
	r.waitFor("1001 free", func() bool { return agentState(r, "1001") == routing.StateAvailable })
	time.Sleep(100 * time.Millisecond)
	if a, c := srv.Originated("PJSIP/1001*"), srv.Originated(leadCustomer); a != 1 || c != 1 {
		t.Fatalf("agent rung %d times, customer %d; want 1 each (the first caller, the early call)", a, c)
	}
	// The wallboard's picture is at most 100 ms old: it is newer than the
	// agent's change of state, which came after the hangup.
	if q := queueStatus(r, "support"); q.Abandoned != 0 || q.Waiting != 0 || q.Answered != 1 {
		t.Fatalf("queue after the hangup: %d abandoned, %d waiting, %d answered; want 0, 0, 1 (the first caller)", q.Abandoned, q.Waiting, q.Answered)
	}
}

// TestWireLeadTimeAgentMisses: the agent rung for a customer dialled
// ahead (who answered and waits) does not answer; the customer stays on
// the line, in the entry's place, the try stays open, and the next agent
// free is rung and bridged to them. One call to the customer in all.
func TestWireLeadTimeAgentMisses(t *testing.T) {
	r, clk, srv, cb := leadFlow(t, nil)
	ctx := context.Background()
	f := ariFake{srv}
	srv.Behave("PJSIP/1001", aritest.Behavior{Manual: true}) // 1001's phone rings until the test ends it
	clk.Advance(10 * time.Second)
	cust := answeredAhead(t, r, srv, cb)
	clk.Advance(20 * time.Second) // 1001's wrap-up ends: rung for the callback
	r.waitFor("1001 rung", func() bool { return len(srv.ChannelsByEndpoint("PJSIP/1001")) == 1 })
	ring := srv.ChannelsByEndpoint("PJSIP/1001")[0].ID
	if err := r.ctl.AgentLogin(ctx, "1002"); err != nil { // free, but the entry is on offer to 1001
		t.Fatal(err)
	}
	if err := srv.HangupFar(ring, 19); err != nil { // no answer
		t.Fatal(err)
	}
	r.waitFor("callback answered by 1002", func() bool { return len(r.ans.list()) == 2 })
	ev := r.ans.list()[1]
	if ev.AgentID != "1002" || ev.CallID != EntryCallID(cb.ID) || ev.Caller.ID != cust {
		t.Fatalf("answered %+v, want 1002 with the waiting customer %s", ev, cust)
	}
	r.waitFor("bridged at the PBX", func() bool { return f.bridgedTo(cust) == ev.AgentLeg.ID })
	got, atts, err := r.desk.Get(ctx, cb.ID)
	if err != nil || got.State != storage.CallbackCompleted || got.Attempts != 1 || len(atts) != 1 || atts[0].Outcome != string(OutcomeConnected) {
		t.Fatalf("after: %+v %+v %v", got, atts, err)
	}
	if n := srv.Originated(leadCustomer); n != 1 {
		t.Fatalf("customer dialled %d times, want 1", n)
	}
}

// TestWireLeadTimeHangsUpAtAnswer: the customer hangs up the moment they
// answer the early call — while "connecting you" is being started, before
// the desk watches the wait. The try still ends hung_up and the entry
// leaves the queue; it does not wait with a dead leg until the hold limit.
func TestWireLeadTimeHangsUpAtAnswer(t *testing.T) {
	r, clk, srv, cb := leadFlow(t, nil)
	ctx := context.Background()
	r.pbx.mu.Lock()
	r.pbx.before = func(leg adapters.LegRef, media []adapters.Media) {
		if len(media) == 0 || media[0].Value != "callback-connecting" {
			return
		}
		if err := srv.HangupFar(leg.ID, 16); err != nil {
			t.Error(err)
		}
		// The desk has seen the hangup (Observe forgets the leg) before
		// the prompt goes on.
		r.waitFor("hangup observed", func() bool {
			r.desk.mu.Lock()
			defer r.desk.mu.Unlock()
			_, known := r.desk.byLeg[leg]
			return !known
		})
	}
	r.pbx.mu.Unlock()
	clk.Advance(10 * time.Second)
	r.waitFor("attempt ended hung_up", func() bool {
		_, atts, _ := r.desk.Get(ctx, cb.ID)
		return len(atts) == 1 && atts[0].Outcome == string(OutcomeHungUp)
	})
	r.waitFor("entry off the queue", func() bool { return r.desk.handedCount() == 0 && len(r.ctl.Snapshot().Calls) == 0 })
}

// TestWireLeadTimeFreeSWITCH is TestWireLeadTimeDialsAhead through eslgo
// and the FreeSWITCH adapter against esltest: the customer is dialled
// (originate, counted in the fake's command log) exactly 20 s before the
// agent's wrap-up ends, hears "connecting you" and waits on hold; when
// the wrap-up ends the agent is rung and bridged to them; one dial.
func TestWireLeadTimeFreeSWITCH(t *testing.T) {
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
	f := eslFake{fs}
	const custDial = "sofia/gateway/carrier/+4930555"
	clk := clock.NewManual(simT0)
	agents := []routing.Agent{{ID: "1001", Endpoint: "user/1001", Queues: map[string]int{"support": 1}}}
	r := startFlowQueue(t, ad, f, clk, leadRules, agents, "sofia/gateway/carrier/{number}",
		QueueConfig{LeadTime: 20 * time.Second, Retry: Retry{MaxAttempts: 3, Interval: time.Minute}})
	// A call parked before the adapter subscribed would go unseen: the
	// controller's readiness does not see through the playLog wrapper.
	r.waitFor("adapter connected", func() bool { ok, _ := ad.Ready(); return ok })
	ctx := context.Background()
	if err := r.ctl.AgentLogin(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	caller := f.call(t, "+4930111")
	r.waitFor("caller served", func() bool { return len(r.ans.list()) == 1 })
	r.waitFor("caller bridged", func() bool { return f.bridgedTo(caller) != "" })
	clk.Advance(2 * time.Minute)
	f.hangup(t, caller)
	r.waitFor("1001 in wrap-up", func() bool { return agentState(r, "1001") == routing.StateWrapUp })
	cb, err := r.desk.Schedule(ctx, Request{Number: "+4930555", Queue: "support"})
	if err != nil {
		t.Fatal(err)
	}
	r.waitFor("entry handed to routing", func() bool { r.desk.Dispatch(ctx); return r.desk.handedCount() == 1 })
	clk.Advance(10*time.Second - time.Millisecond)
	time.Sleep(100 * time.Millisecond) // give a wrong early dial the time to show
	if n := f.dials(custDial); n != 0 {
		t.Fatalf("customer dialled %d times with 20s+1ms of wrap-up left", n)
	}
	clk.Advance(time.Millisecond)
	r.waitFor("customer dialled ahead", func() bool { return f.dials(custDial) == 1 })
	var cust string
	r.waitFor("customer answered", func() bool {
		_, atts, _ := r.desk.Get(ctx, cb.ID)
		if len(atts) == 1 && atts[0].AnsweredAt != nil {
			cust = atts[0].LegID
		}
		return cust != ""
	})
	r.waitFor("connecting prompt", func() bool { return r.pbx.heard(cust, "callback-connecting") })
	r.waitFor("customer on hold music", func() bool {
		ch, ok := fs.Channel(cust)
		return ok && slices.ContainsFunc(ch.Playing, func(p string) bool { return strings.HasPrefix(p, "local_stream://") })
	})
	if s := agentState(r, "1001"); s != routing.StateWrapUp {
		t.Fatalf("agent %s while the customer was dialled ahead, want wrap_up", s)
	}
	if n := f.dials("user/1001"); n != 1 {
		t.Fatalf("agent rung %d times before free, want only for the first caller", n)
	}
	clk.Advance(20 * time.Second) // wrap-up ends
	r.waitFor("callback answered", func() bool { return len(r.ans.list()) == 2 })
	ev := r.ans.list()[1]
	if ev.AgentID != "1001" || ev.CallID != EntryCallID(cb.ID) || ev.Caller.ID != cust {
		t.Fatalf("answered %+v, want 1001 with the waiting customer %s", ev, cust)
	}
	r.waitFor("bridged at the PBX", func() bool { return f.bridgedTo(cust) == ev.AgentLeg.ID })
	got, atts, err := r.desk.Get(ctx, cb.ID)
	if err != nil || got.State != storage.CallbackCompleted || len(atts) != 1 || atts[0].Outcome != string(OutcomeConnected) {
		t.Fatalf("after: %+v %+v %v", got, atts, err)
	}
	if w := atts[0].EndedAt.Sub(*atts[0].AnsweredAt); w != 20*time.Second {
		t.Fatalf("customer waited %s after answering, want the 20s lead", w)
	}
	if n := f.dials(custDial); n != 1 {
		t.Fatalf("customer dialled %d times, want 1", n)
	}
}
