package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/storage"
)

// legRow returns the journaled leg row of ref.
func (m *memJournal) legRow(ref adapters.LegRef) (storage.Leg, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.recs["legs/"+ref.String()].(storage.Leg)
	return l, ok
}

// A supervisor joins a connected call (listen, whisper, barge), is
// journaled as a snoop leg of that call, may leave on their own, and is
// hung up when the call ends. Bad requests change nothing.
func TestSnoopCall(t *testing.T) {
	long := sim.AgentGroup{Prefix: "good", Count: 1, Queues: map[string]int{"support": 1}, AnswerProbability: 1, RingDelay: time.Second, HandleTime: time.Hour}
	r := newRig(t, testRules, []sim.AgentGroup{long}, nil, nil)
	r.login("good-001")
	ctx := context.Background()
	waiting := r.inject("1000", "5551000", 0)
	if _, err := r.ctl.SnoopCall(ctx, callID(waiting), adapters.SnoopListen, "sim/sup"); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("snoop on a call not yet talking: %v", err)
	}
	for i := 0; i < 30; i++ {
		if c, _ := r.call(waiting); c.State == string(phaseTalking) {
			break
		}
		r.advance(time.Second)
	}
	id := callID(waiting)
	for _, bad := range []struct {
		id, mode, endpoint string
		want               error
	}{
		{id, "shout", "sim/sup", ErrBadRequest},
		{id, "listen", "", ErrBadRequest},
		{"no-such-call", "listen", "sim/sup", ErrUnknownCall},
	} {
		if _, err := r.ctl.SnoopCall(ctx, bad.id, adapters.SnoopMode(bad.mode), bad.endpoint); !errors.Is(err, bad.want) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	legsBefore := len(r.sim.Legs())

	var sups []adapters.LegRef
	for _, mode := range []adapters.SnoopMode{adapters.SnoopListen, adapters.SnoopWhisper, adapters.SnoopBarge} {
		leg, err := r.ctl.SnoopCall(ctx, id, mode, "sim/sup")
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		r.settle()
		if !r.hasLeg(leg) {
			t.Fatalf("%s: supervisor leg %s not on the PBX", mode, leg)
		}
		row, ok := r.jr.legRow(leg)
		if !ok || row.CallID != id || row.Role != string(adapters.RoleSnoop) || row.Endpoint != "sim/sup" || row.AnsweredAt == nil || row.EndedAt != nil {
			t.Fatalf("%s: leg row %+v", mode, row)
		}
		sups = append(sups, leg)
	}
	if got := len(r.sim.Legs()); got != legsBefore+3 {
		t.Fatalf("%d legs, want %d", got, legsBefore+3)
	}

	// The first supervisor leaves; the call goes on.
	r.sim.HangupFar(sups[0])
	r.settle()
	if row, _ := r.jr.legRow(sups[0]); row.EndedAt == nil {
		t.Fatalf("supervisor hangup not journaled: %+v", row)
	}
	if c, ok := r.call(waiting); !ok || c.State != string(phaseTalking) {
		t.Fatalf("call after the supervisor left: %+v", c)
	}

	// The caller hangs up: the remaining supervisors are hung up with it.
	r.sim.HangupFar(waiting)
	r.settle()
	for _, s := range sups[1:] {
		if r.hasLeg(s) {
			t.Errorf("supervisor leg %s still up after the call ended", s)
		}
		if row, _ := r.jr.legRow(s); row.EndedAt == nil {
			t.Errorf("supervisor leg %s not closed in the journal: %+v", s, row)
		}
	}
	if _, err := r.ctl.SnoopCall(ctx, id, adapters.SnoopListen, "sim/sup"); !errors.Is(err, ErrUnknownCall) {
		t.Fatalf("snoop on an ended call: %v", err)
	}
}
