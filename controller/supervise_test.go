package controller

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
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

// snoopPBX lets a test hold a Snoop until it releases it, and refuse
// hangups as an unreachable PBX would.
type snoopPBX struct {
	*sim.PBX
	gate        chan struct{} // when set, Snoop waits for it to close
	arrived     chan struct{}
	unreachable atomic.Bool
}

func (p *snoopPBX) Snoop(ctx context.Context, req adapters.SnoopRequest) (adapters.LegRef, error) {
	if p.gate != nil {
		p.arrived <- struct{}{}
		<-p.gate
	}
	return p.PBX.Snoop(ctx, req)
}

func (p *snoopPBX) Hangup(ctx context.Context, ref adapters.LegRef, cause int) error {
	if p.unreachable.Load() {
		return fmt.Errorf("hangup %s: %w", ref, adapters.ErrUnreachable)
	}
	return p.PBX.Hangup(ctx, ref, cause)
}

// talkingRig is a rig whose controller runs on pbx (wrapping the rig's
// sim) with one call talking to an agent for an hour.
func talkingRig(t *testing.T, wrap func(*sim.PBX) adapters.PBX) (*rig, adapters.LegRef) {
	t.Helper()
	long := sim.AgentGroup{Prefix: "good", Count: 1, Queues: map[string]int{"support": 1}, AnswerProbability: 1, RingDelay: time.Second, HandleTime: time.Hour}
	r := newRig(t, testRules, []sim.AgentGroup{long}, nil, nil)
	if wrap != nil {
		r.stopController()
		r.restart()
		r.pbx = wrap(r.sim)
		r.start(newEngine(t, testRules, []sim.AgentGroup{long}), nil)
		r.settle()
	}
	r.login("good-001")
	caller := r.inject("1000", "5551000", 0)
	for i := 0; i < 30; i++ {
		if c, _ := r.call(caller); c.State == string(phaseTalking) {
			return r, caller
		}
		r.advance(time.Second)
	}
	t.Fatal("the call was not answered")
	return nil, adapters.LegRef{}
}

// A supervisor's monitoring is ended by leg or all at once; the call goes
// on, the snapshot lists who is on the call, bad names change nothing,
// and a hangup the PBX refuses leaves the supervisor on (and retryable).
func TestEndSnoop(t *testing.T) {
	p := &snoopPBX{}
	r, caller := talkingRig(t, func(s *sim.PBX) adapters.PBX { p.PBX = s; return p })
	ctx := context.Background()
	id := callID(caller)
	if _, err := r.ctl.EndSnoop(ctx, id, ""); !errors.Is(err, ErrUnknownSnoop) {
		t.Fatalf("end on a call without supervisors: %v", err)
	}
	a, err := r.ctl.SnoopCall(ctx, id, adapters.SnoopListen, "sim/sup-a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.ctl.SnoopCall(ctx, id, adapters.SnoopBarge, "sim/sup-b")
	if err != nil {
		t.Fatal(err)
	}
	r.settle()
	c, _ := r.call(caller)
	if len(c.Snoops) != 2 || c.Snoops[0].Leg != a || c.Snoops[0].Mode != adapters.SnoopListen || c.Snoops[0].Endpoint != "sim/sup-a" ||
		!c.Snoops[0].Answered || c.Snoops[1].Leg != b || c.Snoops[1].Mode != adapters.SnoopBarge {
		t.Fatalf("snapshot snoops %+v", c.Snoops)
	}
	for _, bad := range []struct {
		call, leg string
		want      error
	}{
		{"no-such-call", a.ID, ErrUnknownCall},
		{id, "no-such-leg", ErrUnknownSnoop},
	} {
		if _, err := r.ctl.EndSnoop(ctx, bad.call, bad.leg); !errors.Is(err, bad.want) {
			t.Errorf("%+v: %v", bad, err)
		}
	}

	// The PBX cannot be reached: the error says so, the supervisor stays.
	p.unreachable.Store(true)
	if _, err := r.ctl.EndSnoop(ctx, id, a.ID); !errors.Is(err, adapters.ErrUnreachable) {
		t.Fatalf("end with the PBX unreachable: %v", err)
	}
	p.unreachable.Store(false)
	r.settle()
	if !r.hasLeg(a) {
		t.Fatal("supervisor leg gone after a refused hangup")
	}

	got, err := r.ctl.EndSnoop(ctx, id, a.ID)
	if err != nil || len(got) != 1 || got[0] != a {
		t.Fatalf("end by leg: %v %v", got, err)
	}
	r.settle()
	if r.hasLeg(a) || !r.hasLeg(b) {
		t.Fatalf("after ending %s: legs %v", a, r.sim.Legs())
	}
	if row, _ := r.jr.legRow(a); row.EndedAt == nil {
		t.Fatalf("ended supervisor leg not closed: %+v", row)
	}
	if c, ok := r.call(caller); !ok || c.State != string(phaseTalking) || len(c.Snoops) != 1 || c.Snoops[0].Leg != b {
		t.Fatalf("call after one supervisor left: %+v", c)
	}
	got, err = r.ctl.EndSnoop(ctx, id, "")
	if err != nil || len(got) != 1 || got[0] != b {
		t.Fatalf("end all: %v %v", got, err)
	}
	r.settle()
	if r.hasLeg(b) {
		t.Fatal("supervisor leg up after ending all")
	}
	if c, ok := r.call(caller); !ok || c.State != string(phaseTalking) || len(c.Snoops) != 0 {
		t.Fatalf("call after every supervisor left: %+v", c)
	}
	if _, err := r.ctl.EndSnoop(ctx, id, ""); !errors.Is(err, ErrUnknownSnoop) {
		t.Fatalf("end again: %v", err)
	}
}

// Monitoring stopped while the PBX is still setting the supervisor leg up
// ends it as soon as the PBX returns it.
func TestEndSnoopWhileItIsSetUp(t *testing.T) {
	p := &snoopPBX{gate: make(chan struct{}), arrived: make(chan struct{})}
	r, caller := talkingRig(t, func(s *sim.PBX) adapters.PBX { p.PBX = s; return p })
	ctx := context.Background()
	id := callID(caller)
	res := make(chan adapters.LegRef, 1)
	go func() {
		leg, err := r.ctl.SnoopCall(ctx, id, adapters.SnoopWhisper, "sim/sup")
		if err != nil {
			t.Error(err)
		}
		res <- leg
	}()
	select {
	case <-p.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("snoop never reached the PBX")
	}
	if got, err := r.ctl.EndSnoop(ctx, id, ""); err != nil || len(got) != 0 {
		t.Fatalf("end while setting up: %v %v", got, err)
	}
	close(p.gate)
	leg := <-res
	r.settle()
	if r.hasLeg(leg) {
		t.Fatalf("supervisor leg %s still up: it was stopped while being set up", leg)
	}
	if row, _ := r.jr.legRow(leg); row.Role != string(adapters.RoleSnoop) || row.EndedAt == nil {
		t.Fatalf("leg row %+v", row)
	}
	if c, ok := r.call(caller); !ok || c.State != string(phaseTalking) {
		t.Fatalf("call %+v", c)
	}
}
