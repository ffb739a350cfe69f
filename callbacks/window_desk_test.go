package callbacks

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
)

// TestWindowAcrossMidnightOnTheDesk: a customer in New York with a
// 22:00-06:00 window (night shift), scheduled at 05:00 their time, on the
// simulated PBX and a manual clock. The first try (inside the morning part
// of the window) is not answered; the retry due two hours later (07:00 New
// York) falls outside and waits for the window's next opening, 22:00 New
// York = 03:00 UTC. It is not handed to the floor a minute before, is at
// the opening, and the PBX dials it once more — two dials in all.
func TestWindowAcrossMidnightOnTheDesk(t *testing.T) {
	r := newRig(t, Config{CustomerEndpoint: "sim/nobody-{number}", RingTimeout: 20 * time.Second}, "")
	ctx := context.Background()
	// simT0 is 10:00 UTC = 05:00 in New York (EST).
	cb := schedule(t, r.desk, Request{Number: "+12125550100", Queue: "support", Window: "22:00-06:00", TZ: "America/New_York", Attempts: 2, Interval: "2h"})
	if !cb.NotBefore.Equal(simT0) {
		t.Fatalf("first call at %s, want now (inside the window's morning part)", cb.NotBefore)
	}
	ag := AgentOffer{AgentID: "ag-001", Endpoint: "sim/ag-001"}
	before := r.sim.Stats().Originates
	res, err := r.connect(cb.ID, ag)
	if err != nil || res.Outcome != OutcomeNoAnswer || res.Finished {
		t.Fatalf("first try: %+v %v", res, err)
	}
	opening := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	if !res.NextAt.Equal(opening) {
		t.Fatalf("retry at %s, want %s (22:00 New York)", res.NextAt, opening)
	}
	r.clk.Advance(opening.Add(-time.Minute).Sub(r.clk.Now()))
	if n := r.desk.Dispatch(ctx); n != 0 {
		t.Fatalf("handed %d a minute before the window opens", n)
	}
	r.clk.Advance(time.Minute)
	if n := r.desk.Dispatch(ctx); n != 1 {
		t.Fatalf("handed %d at the opening", n)
	}
	res, err = r.connect(cb.ID, ag)
	if err != nil || res.Outcome != OutcomeNoAnswer || !res.Finished {
		t.Fatalf("second try: %+v %v", res, err)
	}
	got, atts, _ := r.desk.Get(ctx, cb.ID)
	if got.State != storage.CallbackFailed || len(atts) != 2 || !atts[1].StartedAt.Equal(opening) {
		t.Fatalf("final %+v %+v", got, atts)
	}
	if n := r.sim.Stats().Originates - before; n != 2 {
		t.Fatalf("the PBX dialled the customer %d times, want 2", n)
	}
}
