package callbacks

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
	"github.com/switchboard-cc/switchboard/storage/mariadbtest"
)

// deadPBX is a desk's PBX link that goes dead when its process "crashes":
// from then on nothing the dead desk asks reaches the PBX (its customer's
// leg stays up, as it would after a real crash).
type deadPBX struct {
	adapters.PBX
	dead atomic.Bool
}

var errDead = errors.New("instance crashed")

func (p *deadPBX) Originate(ctx context.Context, req adapters.OriginateRequest) (adapters.LegRef, error) {
	if p.dead.Load() {
		return adapters.LegRef{}, errDead
	}
	return p.PBX.Originate(ctx, req)
}
func (p *deadPBX) Hangup(ctx context.Context, leg adapters.LegRef, cause int) error {
	if p.dead.Load() {
		return errDead
	}
	return p.PBX.Hangup(ctx, leg, cause)
}
func (p *deadPBX) Play(ctx context.Context, leg adapters.LegRef, media ...adapters.Media) (string, error) {
	if p.dead.Load() {
		return "", errDead
	}
	return p.PBX.Play(ctx, leg, media...)
}
func (p *deadPBX) StopHold(ctx context.Context, leg adapters.LegRef) error {
	if p.dead.Load() {
		return errDead
	}
	return p.PBX.StopHold(ctx, leg)
}
func (p *deadPBX) Bridge(ctx context.Context, legs ...adapters.LegRef) (adapters.BridgeRef, error) {
	if p.dead.Load() {
		return adapters.BridgeRef{}, errDead
	}
	return p.PBX.Bridge(ctx, legs...)
}

// dialAheadOn runs d.DialAhead while moving the manual clock from one sim
// event to the next (the customer's ring), as connectOn does for Connect.
func (r *rig) dialAheadOn(ctx context.Context, d *Desk, cbID, agent string) (AheadResult, error) {
	type out struct {
		res AheadResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := d.DialAhead(ctx, cbID, agent)
		done <- out{res, err}
	}()
	for i := 0; i < 10000; i++ {
		select {
		case o := <-done:
			return o.res, o.err
		case <-time.After(3 * time.Millisecond):
		}
		if at, ok := r.sim.NextEvent(); ok && at.After(r.clk.Now()) {
			r.clk.Advance(at.Sub(r.clk.Now()))
		}
	}
	r.t.Fatal("dial ahead never returned")
	return AheadResult{}, nil
}

// TestLeadTimeRestartNoSecondDial: instance A dials a callback's customer
// ahead of a free agent (lead time); the customer answers and waits on
// hold. Then A goes away — it crashes (its PBX link and database go dead
// with it, the customer's leg stays up) or it is stopped (its context
// ends). Instance B starts on the same database (SQLite, MariaDB) and the
// same PBX. While A's try is open B dials nothing: not on dispatch, not
// when routing offers it an agent, not when asked to dial ahead. After a
// crash, once A's claim lapsed and the PBX reported its legs, B settles
// the try without dialling (the waiting customer is hung up: nobody is
// coming for them); after a stop, A had already recorded it. Either way
// the customer is called again only after the retry interval, once.
func TestLeadTimeRestartNoSecondDial(t *testing.T) {
	backends := []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "lead.db") }},
		{"mariadb", func(t *testing.T) string {
			dsn, err := mariadbtest.ForTest(t).NewDatabase(context.Background(), "cb_lead_restart")
			if err != nil {
				t.Fatal(err)
			}
			return dsn
		}},
	}
	for _, be := range backends {
		for _, crash := range []bool{true, false} {
			name := be.name + "/stop"
			if crash {
				name = be.name + "/crash"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				dsn := be.dsn(t)
				qc := map[string]QueueConfig{"support": {LeadTime: 20 * time.Second}}
				r := newRig(t, Config{Queues: qc}, dsn)
				cb := schedule(t, r.desk, Request{Number: "888", Queue: "support", Attempts: 3, Interval: "5m"})
				// Instance A: its own database connection and PBX link.
				stA, err := storage.Open(ctx, dsn, storage.WithLogger(quiet()))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { stA.Close() })
				pbxA := &deadPBX{PBX: r.sim}
				a, err := New(Config{Instance: "A", CustomerEndpoint: "sim/customer/{number}", Queues: qc}, stA, pbxA, r.floor, r.clk, quiet())
				if err != nil {
					t.Fatal(err)
				}
				r.observeWith(a)
				actx, stopA := context.WithCancel(ctx)
				defer stopA()
				res, err := r.dialAheadOn(actx, a, cb.ID, "ag-001")
				if err != nil || !res.Answered {
					t.Fatalf("dial ahead: %+v %v", res, err)
				}
				cust := res.Customer
				_, atts, _ := r.desk.Get(ctx, cb.ID)
				if len(atts) != 1 || atts[0].AnsweredAt == nil || atts[0].Outcome != "" {
					t.Fatalf("attempt while the customer waits: %+v", atts)
				}
				att := atts[0]
				if crash {
					pbxA.dead.Store(true)
					stA.Close()
				}
				stopA()
				if !crash {
					r.waitFor("A recorded the try", func() bool {
						_, atts, _ := r.desk.Get(ctx, cb.ID)
						return atts[0].Outcome != ""
					})
				} else {
					time.Sleep(50 * time.Millisecond) // a dead A must not have recorded anything
				}
				before := r.sim.Stats().Originates
				// Instance B: a new engine, a new desk, the same database and PBX.
				eng := routing.NewEngine(&routing.Config{Queues: []routing.QueueConfig{{Name: "support"}}})
				fl := &floor{eng: eng, clk: r.clk}
				b, err := New(Config{Instance: "B", CustomerEndpoint: "sim/customer/{number}", Queues: qc}, r.store, r.rec, fl, r.clk, quiet())
				if err != nil {
					t.Fatal(err)
				}
				r.observeWith(b)
				if n := b.Dispatch(ctx); n != 0 {
					t.Fatalf("B handed %d entries while A's try is open or within the retry interval", n)
				}
				if _, err := b.Connect(ctx, cb.ID, AgentOffer{AgentID: "ag-002", Endpoint: "sim/ag-002"}); !errors.Is(err, ErrClaimed) {
					t.Fatalf("B's Connect: %v, want ErrClaimed", err)
				}
				if _, err := b.DialAhead(ctx, cb.ID, "ag-002"); !errors.Is(err, ErrClaimed) {
					t.Fatalf("B's DialAhead: %v, want ErrClaimed", err)
				}
				if crash {
					got, atts, _ := r.desk.Get(ctx, cb.ID)
					if got.State != storage.CallbackDialling || atts[0].Outcome != "" {
						t.Fatalf("after A crashed: %+v %+v (want the try open)", got, atts)
					}
					if r.hungUp(cust) {
						t.Fatal("the waiting customer was hung up by a dead instance")
					}
					b.Observe(adapters.Reconciled{Node: sim.NodeName, Legs: []adapters.LegInfo{{Ref: cust, Tag: att.Tag, State: "Up"}}})
					if n := b.Recover(ctx); n != 0 {
						t.Fatalf("B settled %d tries under A's live claim", n)
					}
					r.clk.Advance(b.lease() + time.Second) // A's claim lapses (A renewed it last when the customer answered)
					if n := b.Recover(ctx); n != 1 {
						t.Fatalf("B settled %d tries, want 1", n)
					}
					r.waitFor("waiting customer hung up", func() bool { return r.hungUp(cust) })
				}
				got, atts, _ := r.desk.Get(ctx, cb.ID)
				want := map[bool]Outcome{true: OutcomeInterrupted, false: OutcomeHungUp}[crash]
				if got.State != storage.CallbackPending || got.Attempts != 1 || len(atts) != 1 || atts[0].Outcome != string(want) {
					t.Fatalf("after the restart: %+v %+v (want pending, 1 try, %s)", got, atts, want)
				}
				if n := b.Dispatch(ctx); n != 0 {
					t.Fatalf("B handed it before the retry interval")
				}
				if n := r.sim.Stats().Originates - before; n != 0 {
					t.Fatalf("%d legs dialled after the restart within the retry interval", n)
				}
				if !got.NotBefore.After(r.clk.Now()) {
					t.Fatalf("next try at %s, not after now %s", got.NotBefore, r.clk.Now())
				}
				r.clk.Advance(got.NotBefore.Sub(r.clk.Now()))
				if n := b.Dispatch(ctx); n != 1 {
					t.Fatalf("B handed %d after the interval, want 1", n)
				}
				res2, err := r.connectOn(b, cb.ID, AgentOffer{AgentID: "ag-001", Endpoint: "sim/ag-001"})
				if err != nil || res2.Outcome != OutcomeConnected || res2.Attempt != 2 {
					t.Fatalf("retry: %+v %v", res2, err)
				}
				if n := r.sim.Stats().Originates - before; n != 2 {
					t.Fatalf("%d legs dialled after the restart, want 2 (the customer once, an agent)", n)
				}
			})
		}
	}
}
