package callbacks

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
	"github.com/switchboard-cc/switchboard/storage/mariadbtest"
)

// TestTwoDesksShareMariaDB: two switchboard instances (two desks, each
// with its own PBX and routing floor) share one MariaDB. Both hand every
// due callback to their floor, and for each one both are offered an
// agent at the same moment and call Connect together. Exactly one claims
// and dials it; the other gets ErrClaimed and dials nothing. Dials are
// counted at the two PBXs: one customer leg and one agent leg per callback.
func TestTwoDesksShareMariaDB(t *testing.T) {
	ctx := context.Background()
	srv := mariadbtest.ForTest(t)
	dsn, err := srv.NewDatabase(ctx, "cb_two_desks")
	if err != nil {
		t.Fatal(err)
	}
	a := newRig(t, Config{}, dsn)
	b := newRig(t, Config{}, dsn)
	b.desk.cfg.Instance = "other-instance"
	const n = 8
	var ids []string
	for i := 0; i < n; i++ {
		cb := schedule(t, a.desk, Request{Number: "+4930100" + string(rune('0'+i)), Queue: "support"})
		ids = append(ids, cb.ID)
	}
	if na, nb := a.desk.Dispatch(ctx), b.desk.Dispatch(ctx); na != n || nb != n {
		t.Fatalf("handed %d and %d, want %d each (both instances see every pending callback)", na, nb, n)
	}
	before := a.sim.Stats().Originates + b.sim.Stats().Originates
	type out struct {
		res Result
		err error
	}
	for _, id := range ids {
		ca, cb := make(chan out, 1), make(chan out, 1)
		go func() {
			r, err := a.desk.Connect(ctx, id, AgentOffer{AgentID: "ag-001", Endpoint: "sim/ag-001"})
			ca <- out{r, err}
		}()
		go func() {
			r, err := b.desk.Connect(ctx, id, AgentOffer{AgentID: "ag-002", Endpoint: "sim/ag-002"})
			cb <- out{r, err}
		}()
		var got []out
		for i := 0; len(got) < 2; i++ {
			if i > 20000 {
				t.Fatal("connect never returned")
			}
			select {
			case o := <-ca:
				got = append(got, o)
			case o := <-cb:
				got = append(got, o)
			case <-time.After(2 * time.Millisecond):
				for _, r := range []*rig{a, b} {
					if at, ok := r.sim.NextEvent(); ok && at.After(r.clk.Now()) {
						r.clk.Advance(at.Sub(r.clk.Now()))
					}
				}
			}
		}
		won, lost := 0, 0
		for _, o := range got {
			switch {
			case o.err == nil && o.res.Outcome == OutcomeConnected:
				won++
			case errors.Is(o.err, ErrClaimed):
				lost++
			default:
				t.Fatalf("callback %s: %+v %v", id, o.res, o.err)
			}
		}
		if won != 1 || lost != 1 {
			t.Fatalf("callback %s: %d connected, %d lost the claim", id, won, lost)
		}
		cbRow, atts, err := a.desk.Get(ctx, id)
		if err != nil || cbRow.State != storage.CallbackCompleted || cbRow.Attempts != 1 || len(atts) != 1 {
			t.Fatalf("callback %s after the race: %+v %+v %v", id, cbRow, atts, err)
		}
	}
	if dials := a.sim.Stats().Originates + b.sim.Stats().Originates - before; dials != 2*n {
		t.Fatalf("the PBXs were asked for %d legs, want %d (one customer and one agent leg per callback)", dials, 2*n)
	}
}
