package controller

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

func (m *memJournal) snapshot() map[string]storage.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]storage.Record, len(m.recs))
	for k, v := range m.recs {
		out[k] = v
	}
	return out
}

// Another switchboard takes the (only) PBX node over while one call
// talks, one rings an agent and one waits. This instance lets go of all
// three: no call left in its floor, no ring attempted (the adapter would
// refuse it, and the refusal would count as the agent's miss), no record
// written from then on — not a call row, not a leg, not an agent state
// change — since the active instance writes those calls' records to the
// same database and ours would overwrite them.
func TestStandbyHandsCallsOverAndStopsActing(t *testing.T) {
	r := newRig(t, testRules, []sim.AgentGroup{good, never}, nil, nil)
	r.login("good-001")
	talking := r.inject("1000", "5551001", 0)
	r.advance(10 * time.Second)
	if c, _ := r.call(talking); c.State != string(phaseTalking) {
		t.Fatalf("first call %+v, want talking", c)
	}
	r.login("never-001")
	ringing := r.inject("1000", "5551002", 0)
	waiting := r.inject("1000", "5551003", 0)
	r.advance(time.Second)
	if c, _ := r.call(ringing); c.State != string(phaseRinging) {
		t.Fatalf("second call %+v, want offered", c)
	}
	if q := r.queue("support"); q.Waiting != 1 || q.Ringing != 1 {
		t.Fatalf("before standby: %+v", q)
	}
	originates := r.sim.Stats().Originates
	before := r.jr.snapshot()

	r.sim.Standby()
	r.settle()
	if ok, why := r.ctl.Ready(); ok || !strings.Contains(why, "standby") {
		t.Fatalf("Ready in standby: %v %q", ok, why)
	}
	if calls := r.ctl.Snapshot().Calls; len(calls) != 0 {
		t.Fatalf("calls still routed in standby: %+v", calls)
	}
	if q := r.queue("support"); q.Waiting != 0 || q.Ringing != 0 {
		t.Fatalf("queue in standby: %+v", q)
	}
	for _, ref := range []string{callID(talking), callID(ringing), callID(waiting)} {
		if got := r.obs.of(ref); len(got) == 0 || got[len(got)-1] != EventHandedOver {
			t.Errorf("call %s: events %v, want handed_over last", ref, got)
		}
	}
	// An agent freed by the handover is not offered anything, and the
	// ring that was cut off is not a miss.
	r.advance(2 * time.Minute)
	if a := r.agent("never-001"); a.State != routing.StateAvailable || a.Misses != 0 {
		t.Fatalf("ringing agent after the handover: %+v", a)
	}
	if a := r.agent("good-001"); a.State != routing.StateAvailable && a.State != routing.StateWrapUp {
		t.Fatalf("talking agent after the handover: %+v", a)
	}
	if n := r.sim.Stats().Originates; n != originates {
		t.Fatalf("%d agent legs rung in standby", n-originates)
	}
	if err := r.ctl.AgentPause(context.Background(), "never-001", "break"); err != nil {
		t.Fatal(err)
	}
	r.settle()
	after := r.jr.snapshot()
	for k, v := range after {
		if old, ok := before[k]; !ok || !reflect.DeepEqual(old, v) {
			t.Errorf("record written in standby: %s %+v", k, v)
		}
	}
}
