package callbacks

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

var simT0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// floor plays the controller's part for these tests: a real routing
// engine behind a mutex, entries enqueued keeping their place.
type floor struct {
	mu      sync.Mutex
	eng     *routing.Engine
	clk     clock.Clock
	offers  []routing.Offer
	entries []Entry
	removed []string
}

func (f *floor) apply(ds []routing.Decision) {
	for _, d := range ds {
		if o, ok := d.(routing.Offer); ok {
			f.offers = append(f.offers, o)
		}
	}
}

func (f *floor) EnqueueCallback(ctx context.Context, e Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, e)
	ds, err := f.eng.Enqueue(routing.Call{ID: e.CallID, CallerNumber: e.Number}, e.Queue, e.Priority, e.Since, f.clk.Now())
	f.apply(ds)
	return err
}

func (f *floor) RemoveCallback(ctx context.Context, callID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, callID)
	f.apply(f.eng.Abandoned(callID, f.clk.Now()))
	return nil
}

func (f *floor) do(fn func(now time.Time) ([]routing.Decision, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ds, err := fn(f.clk.Now())
	f.apply(ds)
	return err
}

func (f *floor) lastOffer() (routing.Offer, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.offers) == 0 {
		return routing.Offer{}, 0
	}
	return f.offers[len(f.offers)-1], len(f.offers)
}

// recPBX records the prompts played (the sim keeps no log of them).
type recPBX struct {
	adapters.PBX
	mu    sync.Mutex
	plays []play
}

type play struct {
	leg   adapters.LegRef
	media string
}

func (p *recPBX) Play(ctx context.Context, leg adapters.LegRef, media ...adapters.Media) (string, error) {
	p.mu.Lock()
	for _, m := range media {
		p.plays = append(p.plays, play{leg, m.Value})
	}
	p.mu.Unlock()
	return p.PBX.Play(ctx, leg, media...)
}

type rig struct {
	rec   *recPBX
	t     *testing.T
	clk   *clock.Manual
	sim   *sim.PBX
	store *storage.Store
	desk  *Desk
	floor *floor
	mu    sync.Mutex
	seen  []adapters.Event
	also  []*Desk // other desks on this PBX (a restarted instance) that see its events
}

// observeWith makes d see the PBX's events too, as a desk of a restarted
// or second instance on the same PBX would.
func (r *rig) observeWith(d *Desk) {
	r.mu.Lock()
	r.also = append(r.also, d)
	r.mu.Unlock()
}

func quiet() *slog.Logger {
	if os.Getenv("CB_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newRig(t *testing.T, cfg Config, dsn string) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	clk := clock.NewManual(simT0)
	p, err := sim.New(sim.Config{Seed: 7, AgentGroups: []sim.AgentGroup{{Prefix: "ag", Count: 2, RingDelay: 2 * time.Second, Queues: map[string]int{"support": 1}}}}, clk, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(t.TempDir(), "cb.db")
	}
	st, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	eng := routing.NewEngine(&routing.Config{Queues: []routing.QueueConfig{{Name: "support", Strategy: routing.StrategyTopDown}, {Name: "sales"}}})
	fl := &floor{eng: eng, clk: clk}
	if cfg.Queues == nil {
		cfg.Queues = map[string]QueueConfig{"support": {Offer: OfferRule{Always: true}}, "sales": {}}
	}
	if cfg.CustomerEndpoint == "" {
		cfg.CustomerEndpoint = "sim/customer/{number}"
	}
	cfg.Instance = "test-" + t.Name()
	rec := &recPBX{PBX: p}
	desk, err := New(cfg, st, rec, fl, clk, quiet())
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{rec: rec, t: t, clk: clk, sim: p, store: st, desk: desk, floor: fl}
	go p.Run(ctx)
	go func() {
		for ev := range p.Events() {
			desk.Observe(ev)
			r.mu.Lock()
			r.seen = append(r.seen, ev)
			also := r.also
			r.mu.Unlock()
			for _, d := range also {
				d.Observe(ev)
			}
		}
	}()
	r.waitFor("sim started", func() bool { ok, _ := p.Ready(); return ok })
	return r
}

// waitFor waits (real time, bounded) for goroutines to catch up; it
// asserts nothing about durations.
func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	for i := 0; i < 2000; i++ {
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	r.t.Fatalf("timed out waiting for %s", what)
}

// connect runs Desk.Connect while moving the manual clock from one sim
// event to the next, as the PBX would live through it.
func (r *rig) connect(cbID string, agent AgentOffer) (Result, error) {
	return r.connectOn(r.desk, cbID, agent)
}

// connectOn is connect through another desk on the same PBX (a restarted
// or second instance).
func (r *rig) connectOn(d *Desk, cbID string, agent AgentOffer) (Result, error) {
	type out struct {
		res Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := d.Connect(context.Background(), cbID, agent)
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
		} else if !ok {
			r.clk.Advance(time.Second)
		}
	}
	r.t.Fatal("connect never returned")
	return Result{}, nil
}

func (r *rig) events() []adapters.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]adapters.Event(nil), r.seen...)
}

// TestVirtualHoldKeepsPlace: callers c1, c2 wait; c3 (third in line) is
// offered a callback, presses 1 then 1 to confirm, hears the confirmation
// and is hung up; c4 arrives after. The callback entry is served after
// c1 and c2 and before c4, and dials c3's number back and bridges it to
// the agent.
func TestVirtualHoldKeepsPlace(t *testing.T) {
	r := newRig(t, Config{}, "")
	f := r.floor
	agent := routing.Agent{ID: "ag-001", Endpoint: "sim/ag-001", Queues: map[string]int{"support": 1}}
	f.do(func(now time.Time) ([]routing.Decision, error) { return f.eng.UpsertAgent(agent, now), nil })
	arrive := func(id string) {
		if err := f.do(func(now time.Time) ([]routing.Decision, error) {
			return f.eng.Enqueue(routing.Call{ID: id}, "support", 0, now, now)
		}); err != nil {
			t.Fatal(err)
		}
	}
	arrive("c1")
	r.clk.Advance(10 * time.Second)
	arrive("c2")
	r.clk.Advance(10 * time.Second)
	leg3 := r.sim.InjectCall("1000", "+33 1 00 00 00 03", nil, 0)
	arrive("c3")
	c3Since := r.clk.Now()
	r.clk.Advance(5 * time.Second)

	var mu sync.Mutex
	var accepted *storage.Callback
	decided := false
	r.desk.Offer(context.Background(), OfferCall{CallID: "c3", Leg: leg3, Queue: "support", CallerNumber: "+33 1 00 00 00 03", EnqueuedAt: c3Since},
		func(ok bool, cb *storage.Callback) error {
			// The controller's part: the caller leaves the line without
			// counting as abandoned; the entry takes the place.
			f.do(func(now time.Time) ([]routing.Decision, error) { return f.eng.Abandoned("c3", now), nil })
			mu.Lock()
			decided, accepted = true, cb
			mu.Unlock()
			return nil
		})
	r.sim.PressDTMF(leg3, "1")
	r.waitFor("number confirmation prompt", func() bool { return r.played(leg3, PromptConfirm) })
	r.sim.PressDTMF(leg3, "1")
	r.waitFor("acceptance", func() bool { mu.Lock(); defer mu.Unlock(); return decided })
	mu.Lock()
	cb := accepted
	mu.Unlock()
	if cb == nil {
		t.Fatal("callback not accepted")
	}
	if cb.Number != "+33100000003" || !cb.EnqueuedAt.Equal(c3Since) || cb.Kind != string(KindVirtualHold) {
		t.Fatalf("stored entry %+v", cb)
	}
	// The confirmation is played, then the caller is hung up.
	r.waitFor("confirmation", func() bool { return r.played(leg3, PromptConfirmed) })
	for i := 0; i < 5 && !r.hungUp(leg3); i++ {
		r.clk.Advance(time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	r.waitFor("caller hung up after the confirmation", func() bool { return r.hungUp(leg3) })
	r.waitFor("entry on the floor", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.entries) == 1 })

	r.clk.Advance(5 * time.Second)
	arrive("c4")
	// The agent logs in: serve the queue one call at a time.
	if err := f.do(func(now time.Time) ([]routing.Decision, error) { return f.eng.Login("ag-001", now) }); err != nil {
		t.Fatal(err)
	}
	var order []string
	for len(order) < 4 {
		o, n := f.lastOffer()
		if n != len(order)+1 {
			t.Fatalf("offer %d missing; offers so far %d (order %v)", len(order)+1, n, order)
		}
		order = append(order, o.CallID)
		if id, ok := CallbackIDOf(o.CallID); ok {
			res, err := r.connect(id, AgentOffer{AgentID: o.AgentID, Endpoint: o.Endpoint})
			if err != nil || res.Outcome != OutcomeConnected || res.Bridge.ID == "" || !res.Finished {
				t.Fatalf("connect: %+v %v", res, err)
			}
		}
		f.do(func(now time.Time) ([]routing.Decision, error) {
			ds := f.eng.Answered(o.CallID, o.AgentID, now)
			ds = append(ds, f.eng.Ended(o.CallID, now)...)
			more, err := f.eng.SetAvailable(o.AgentID, now)
			return append(ds, more...), err
		})
	}
	want := []string{"c1", "c2", EntryCallID(cb.ID), "c4"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("served %v, want %v", order, want)
	}
	got, atts, err := r.desk.Get(context.Background(), cb.ID)
	if err != nil || got.State != storage.CallbackCompleted || got.ConnectedAt == nil || len(atts) != 1 || atts[0].Outcome != string(OutcomeConnected) || atts[0].AnsweredAt == nil {
		t.Fatalf("after connect: %+v %+v %v", got, atts, err)
	}
	// Customer first: the customer's leg answered before the agent's.
	var tags []string
	for _, ev := range r.events() {
		if a, ok := ev.(adapters.LegAnswered); ok && strings.HasPrefix(a.Tag, "cb-") {
			tags = append(tags, a.Tag)
		}
	}
	if len(tags) != 2 || strings.HasSuffix(tags[0], "-agent") || !strings.HasSuffix(tags[1], "-agent") {
		t.Fatalf("answer order %v, want customer then agent", tags)
	}
	st, err := r.desk.Stats(context.Background(), simT0.Add(-time.Hour), simT0.Add(time.Hour))
	if err != nil || len(st) == 0 || st[0].Queue != "support" || st[0].Offered != 1 || st[0].Accepted != 1 || st[0].Completed != 1 || st[0].AvgToConnectSeconds <= 0 {
		t.Fatalf("stats %+v %v", st, err)
	}
}

func (r *rig) played(leg adapters.LegRef, prompt string) bool {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	for _, p := range r.rec.plays {
		if p.leg == leg && p.media == prompt {
			return true
		}
	}
	return false
}

func (r *rig) hungUp(leg adapters.LegRef) bool {
	for _, ev := range r.events() {
		if h, ok := ev.(adapters.LegHungUp); ok && h.Ref == leg {
			return true
		}
	}
	return false
}

func schedule(t *testing.T, d *Desk, req Request) *storage.Callback {
	t.Helper()
	cb, err := d.Schedule(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

// TestRetriesThenFail: a customer who never answers is tried per policy,
// the second try not before the interval, then the callback fails.
func TestRetriesThenFail(t *testing.T) {
	r := newRig(t, Config{CustomerEndpoint: "sim/nobody-{number}", RingTimeout: 20 * time.Second}, "")
	cb := schedule(t, r.desk, Request{Number: "555", Queue: "support", Attempts: 2, Interval: "2m"})
	ag := AgentOffer{AgentID: "ag-001", Endpoint: "sim/ag-001"}
	res, err := r.connect(cb.ID, ag)
	if err != nil || res.Outcome != OutcomeNoAnswer || res.Finished {
		t.Fatalf("first: %+v %v", res, err)
	}
	_, atts0, _ := r.desk.Get(context.Background(), cb.ID)
	if want := atts0[0].EndedAt.Add(2 * time.Minute); len(atts0) != 1 || !res.NextAt.Equal(want) {
		t.Fatalf("next at %s, want %s", res.NextAt, want)
	}
	// Not due yet: neither dispatched nor claimable.
	if n := r.desk.Dispatch(context.Background()); n != 0 {
		t.Fatalf("dispatched %d before the interval", n)
	}
	if _, err := r.desk.Connect(context.Background(), cb.ID, ag); !errors.Is(err, ErrClaimed) {
		t.Fatalf("connect before the interval: %v", err)
	}
	r.clk.Advance(res.NextAt.Sub(r.clk.Now()))
	if n := r.desk.Dispatch(context.Background()); n != 1 {
		t.Fatalf("dispatched %d when due", n)
	}
	res, err = r.connect(cb.ID, ag)
	if err != nil || res.Outcome != OutcomeNoAnswer || !res.Finished {
		t.Fatalf("second: %+v %v", res, err)
	}
	got, atts, _ := r.desk.Get(context.Background(), cb.ID)
	if got.State != storage.CallbackFailed || got.Attempts != 2 || len(atts) != 2 {
		t.Fatalf("final %+v attempts %d", got, len(atts))
	}
	if gap := atts[1].StartedAt.Sub(*atts[0].EndedAt); gap < 2*time.Minute {
		t.Fatalf("attempts %s apart, want at least 2m", gap)
	}
	if atts[0].Cause != 19 {
		t.Fatalf("cause %d", atts[0].Cause)
	}
}

// TestAgentFirstPreview: with agent_first, the agent's phone rings first
// showing the customer's number, then the customer is dialled.
func TestAgentFirstPreview(t *testing.T) {
	r := newRig(t, Config{Queues: map[string]QueueConfig{"support": {DialOrder: AgentFirst}}}, "")
	cb := schedule(t, r.desk, Request{Number: "+4930123", Queue: "support", Note: "supply runs out friday"})
	res, err := r.connect(cb.ID, AgentOffer{AgentID: "ag-002", Endpoint: "sim/ag-002"})
	if err != nil || res.Outcome != OutcomeConnected {
		t.Fatalf("%+v %v", res, err)
	}
	var tags []string
	for _, ev := range r.events() {
		if a, ok := ev.(adapters.LegAnswered); ok && strings.HasPrefix(a.Tag, "cb-") {
			tags = append(tags, a.Tag)
		}
	}
	if len(tags) != 2 || !strings.HasSuffix(tags[0], "-agent") {
		t.Fatalf("answer order %v, want agent first", tags)
	}
	req := r.desk.agentReq(cb, &storage.CallbackAttempt{Tag: "x", Seq: 1}, AgentOffer{Endpoint: "sim/ag-002"}, "")
	if req.CallerIDNumber != "+4930123" || req.Vars["SWITCHBOARD_CALLBACK_NOTE"] != "supply runs out friday" {
		t.Fatalf("preview %+v", req)
	}
}

// TestAgentOwnedFallback: before its deadline an agent-owned callback is
// handed to the floor for that agent only; after it, to the queue.
func TestAgentOwnedDispatch(t *testing.T) {
	r := newRig(t, Config{}, "")
	cb := schedule(t, r.desk, Request{Number: "777", Queue: "sales", Agent: "ag-002", AgentDeadline: "30m"})
	if n := r.desk.Dispatch(context.Background()); n != 1 {
		t.Fatalf("dispatched %d", n)
	}
	r.floor.mu.Lock()
	e := r.floor.entries[0]
	r.floor.mu.Unlock()
	if e.Agent != "ag-002" || !e.Deadline.Equal(simT0.Add(30*time.Minute)) || e.CallbackID != cb.ID {
		t.Fatalf("entry %+v", e)
	}
	// Nobody took it; the desk hands it again after the deadline (a
	// restarted instance, or the controller giving it back at the deadline).
	r.clk.Advance(31 * time.Minute)
	d2, _ := New(Config{Instance: "other", CustomerEndpoint: "sim/customer/{number}", Queues: map[string]QueueConfig{"sales": {}}}, r.store, r.sim, r.floor, r.clk, quiet())
	r.floor.mu.Lock()
	r.floor.eng.Abandoned(e.CallID, r.clk.Now())
	r.floor.mu.Unlock()
	if n := d2.Dispatch(context.Background()); n != 1 {
		t.Fatalf("dispatched %d after deadline", n)
	}
	r.floor.mu.Lock()
	e2 := r.floor.entries[1]
	r.floor.mu.Unlock()
	if e2.Agent != "" {
		t.Fatalf("after the deadline the entry is still owned: %+v", e2)
	}
}

// TestRestartKeepsPending: a new desk over the same database (a restart)
// hands every pending callback to the floor again, each once, in place order.
func TestRestartKeepsPending(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "restart.db")
	r := newRig(t, Config{}, dsn)
	var ids []string
	for _, n := range []string{"101", "102", "103"} {
		cb, err := r.desk.AcceptHold(context.Background(), Hold{CallID: "call-" + n, Queue: "support", Number: n, EnqueuedAt: r.clk.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cb.ID)
		r.clk.Advance(time.Second)
	}
	// "Restart": a new engine and a new desk on the same database.
	eng := routing.NewEngine(&routing.Config{Queues: []routing.QueueConfig{{Name: "support"}}})
	fl := &floor{eng: eng, clk: r.clk}
	d2, err := New(Config{Instance: "after-restart", CustomerEndpoint: "sim/customer/{number}"}, r.store, r.sim, fl, r.clk, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if n := d2.Dispatch(context.Background()); n != 3 {
		t.Fatalf("restored %d", n)
	}
	if n := d2.Dispatch(context.Background()); n != 0 {
		t.Fatalf("handed again: %d", n)
	}
	var order []string
	for _, w := range eng.Waiting("support") {
		order = append(order, w.CallID)
	}
	want := []string{EntryCallID(ids[0]), EntryCallID(ids[1]), EntryCallID(ids[2])}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("queue after restart %v, want %v", order, want)
	}
	// Each is dialled once after the restart: a customer and an agent leg
	// each at the PBX, and a second offer of the same entry dials nothing.
	r.observeWith(d2)
	before := r.sim.Stats().Originates
	for _, id := range ids {
		res, err := r.connectOn(d2, id, AgentOffer{AgentID: "ag-001", Endpoint: "sim/ag-001"})
		if err != nil || res.Outcome != OutcomeConnected || res.Attempt != 1 {
			t.Fatalf("%s after restart: %+v %v", id, res, err)
		}
		if _, err := d2.Connect(context.Background(), id, AgentOffer{AgentID: "ag-002", Endpoint: "sim/ag-002"}); !errors.Is(err, ErrClaimed) {
			t.Fatalf("%s offered again: %v", id, err)
		}
	}
	if n := r.sim.Stats().Originates - before; n != 2*len(ids) {
		t.Fatalf("%d legs dialled for %d callbacks", n, len(ids))
	}
}

// TestCrashWhileDialling: instance A wrote attempt 1 and started dialling
// the customer, then died. Instance B, once the PBX has reported its legs,
// settles the attempt without dialling: the customer's half-made call is
// ended, the attempt counts, and the next one waits for the interval.
// When the legs are found bridged, the callback is completed instead.
func TestCrashWhileDialling(t *testing.T) {
	for _, bridged := range []bool{false, true} {
		name := "leg gone"
		if bridged {
			name = "found bridged"
		}
		t.Run(name, func(t *testing.T) {
			r := newRig(t, Config{}, "")
			ctx := context.Background()
			cb := schedule(t, r.desk, Request{Number: "888", Queue: "support", Attempts: 3, Interval: "5m"})
			now := r.clk.Now()
			if err := r.store.ClaimCallback(ctx, cb.ID, "A", now, time.Minute); err != nil {
				t.Fatal(err)
			}
			att, err := r.store.BeginAttempt(ctx, cb.ID, "A", "ag-001", "", now)
			if err != nil {
				t.Fatal(err)
			}
			cust, _ := r.sim.Originate(ctx, adapters.OriginateRequest{Endpoint: "sim/customer/888", Tag: att.Tag, Role: adapters.RoleCallback})
			agLeg, _ := r.sim.Originate(ctx, adapters.OriginateRequest{Endpoint: "sim/ag-001", Tag: att.Tag + "-agent", Role: adapters.RoleAgent})
			r.store.AttemptLeg(ctx, att.ID, cust.Node, cust.ID)
			// A dies. B starts (a new desk: it has seen no PBX report yet),
			// and does nothing before the PBX reported its legs.
			r.clk.Advance(2 * time.Minute)
			b, err := New(Config{Instance: "B", CustomerEndpoint: "sim/customer/{number}"}, r.store, r.rec, r.floor, r.clk, quiet())
			if err != nil {
				t.Fatal(err)
			}
			if n := b.Recover(ctx); n != 0 {
				t.Fatalf("recovered %d before reconciliation", n)
			}
			before := r.sim.Stats().Originates
			legs := []adapters.LegInfo{{Ref: cust, Tag: att.Tag, State: "Up"}, {Ref: agLeg, Tag: att.Tag + "-agent", State: "Up"}}
			if bridged {
				legs[0].BridgeID, legs[1].BridgeID = "br-1", "br-1"
			} else {
				legs = legs[:1] // the agent leg is gone; the customer hears hold music alone
			}
			b.Observe(adapters.Reconciled{Node: sim.NodeName, Legs: legs})
			if n := b.Recover(ctx); n != 1 {
				t.Fatalf("recovered %d", n)
			}
			if n := b.Recover(ctx); n != 0 {
				t.Fatalf("recovered again: %d", n)
			}
			if n := r.desk.Recover(ctx); n != 0 {
				t.Fatalf("a second instance recovered it again: %d", n)
			}
			if after := r.sim.Stats().Originates; after != before {
				t.Fatalf("recovery dialled %d legs", after-before)
			}
			got, atts, _ := r.desk.Get(ctx, cb.ID)
			if bridged {
				if got.State != storage.CallbackCompleted || atts[0].Outcome != string(OutcomeConnected) {
					t.Fatalf("bridged: %+v %+v", got, atts)
				}
				return
			}
			if got.State != storage.CallbackPending || got.Attempts != 1 || atts[0].Outcome != string(OutcomeInterrupted) {
				t.Fatalf("after recovery %+v %+v", got, atts)
			}
			if want := now.Add(5 * time.Minute); !got.NotBefore.Equal(want) {
				t.Fatalf("next attempt %s, want %s (interval from the interrupted start)", got.NotBefore, want)
			}
			r.waitFor("half-made call ended", func() bool { return r.hungUp(cust) })
			// Not dialled before its time; dialled once after.
			if n := r.desk.Dispatch(ctx); n != 0 {
				t.Fatalf("dispatched before the interval")
			}
			r.clk.Advance(got.NotBefore.Sub(r.clk.Now()))
			res, err := r.connect(cb.ID, AgentOffer{AgentID: "ag-001", Endpoint: "sim/ag-001"})
			if err != nil || res.Outcome != OutcomeConnected || res.Attempt != 2 {
				t.Fatalf("retry: %+v %v", res, err)
			}
		})
	}
}

// TestClosedQueueNextOpening: a callback due while its queue is closed is
// not handed to the floor; it waits for the opening and keeps its place.
func TestClosedQueueNextOpening(t *testing.T) {
	r := newRig(t, Config{Queues: map[string]QueueConfig{"support": {Hours: "11:00-18:00"}}}, "")
	cb, err := r.desk.AcceptHold(context.Background(), Hold{CallID: "x", Queue: "support", Number: "123", EnqueuedAt: simT0.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if n := r.desk.Dispatch(context.Background()); n != 0 {
		t.Fatalf("dispatched %d while closed", n)
	}
	got, _, _ := r.desk.Get(context.Background(), cb.ID)
	if !got.NotBefore.Equal(simT0.Add(time.Hour)) || !got.EnqueuedAt.Equal(simT0.Add(-time.Minute)) {
		t.Fatalf("deferred to %s (place %s)", got.NotBefore, got.EnqueuedAt)
	}
	r.clk.Advance(time.Hour)
	if n := r.desk.Dispatch(context.Background()); n != 1 {
		t.Fatalf("dispatched %d at opening", n)
	}
}

// TestOfferDeclinedAndOtherNumber: any key but 1 declines; 2 at the
// confirmation lets the caller key another number ended by #.
func TestOfferDeclinedAndOtherNumber(t *testing.T) {
	r := newRig(t, Config{}, "")
	leg := r.sim.InjectCall("1000", "anonymous", nil, 0)
	var mu sync.Mutex
	var results []bool
	var cbs []*storage.Callback
	done := func(ok bool, cb *storage.Callback) error {
		mu.Lock()
		results = append(results, ok)
		cbs = append(cbs, cb)
		mu.Unlock()
		return nil
	}
	r.desk.Offer(context.Background(), OfferCall{CallID: "a", Leg: leg, Queue: "support", CallerNumber: "anonymous", EnqueuedAt: simT0}, done)
	r.sim.PressDTMF(leg, "9")
	r.waitFor("decline", func() bool { mu.Lock(); defer mu.Unlock(); return len(results) == 1 })
	// Withheld number: 1 asks for a number at once.
	r.desk.Offer(context.Background(), OfferCall{CallID: "a", Leg: leg, Queue: "support", CallerNumber: "anonymous", EnqueuedAt: simT0}, done)
	r.sim.PressDTMF(leg, "1")
	r.waitFor("enter number prompt", func() bool { return r.played(leg, PromptEnterNumber) })
	for _, k := range []string{"0", "6", "1", "2", "#"} {
		r.sim.PressDTMF(leg, k)
	}
	r.waitFor("confirm prompt", func() bool { return r.played(leg, PromptConfirm) })
	r.sim.PressDTMF(leg, "1")
	r.waitFor("accept", func() bool { mu.Lock(); defer mu.Unlock(); return len(results) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if results[0] || !results[1] || cbs[1] == nil || cbs[1].Number != "0612" {
		t.Fatalf("results %v callback %+v", results, cbs[1])
	}
}

// TestOfferTimesOut: silence for KeyTimeout is a no.
func TestOfferTimesOut(t *testing.T) {
	r := newRig(t, Config{KeyTimeout: 8 * time.Second}, "")
	leg := r.sim.InjectCall("1000", "100", nil, 0)
	got := make(chan bool, 1)
	r.desk.Offer(context.Background(), OfferCall{CallID: "a", Leg: leg, Queue: "support", CallerNumber: "100"}, func(ok bool, _ *storage.Callback) error { got <- ok; return nil })
	r.clk.Advance(7 * time.Second)
	select {
	case <-got:
		t.Fatal("timed out early")
	case <-time.After(20 * time.Millisecond):
	}
	r.clk.Advance(time.Second)
	if ok := <-got; ok {
		t.Fatal("silence accepted")
	}
}
