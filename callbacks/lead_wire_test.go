package callbacks

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/ari"
	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
	"github.com/switchboard-cc/switchboard/clock"
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
	agents := []routing.Agent{{ID: "1001", Endpoint: "PJSIP/1001", Queues: map[string]int{"support": 1}}}
	r := startFlowQueue(t, ad, ariFake{srv}, clk, leadRules, agents, "PJSIP/{number}@carrier",
		QueueConfig{LeadTime: 20 * time.Second, Retry: Retry{MaxAttempts: 3, Interval: time.Minute}})
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
