package controller

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
	"github.com/switchboard-cc/switchboard/storage/mariadbtest"
)

// teeJournal hands every record to the real journal and keeps the last
// version per key (what the database must hold in the end), timing each
// Append and counting those made while the database is down.
type teeJournal struct {
	real *storage.Journal
	last memJournal

	down         atomic.Bool
	appends      atomic.Int64
	duringOutage atomic.Int64
	maxAppend    atomic.Int64 // ns
}

func (j *teeJournal) Append(r storage.Record) {
	start := time.Now()
	j.real.Append(r)
	if d := time.Since(start).Nanoseconds(); d > j.maxAppend.Load() {
		j.maxAppend.Store(d)
	}
	j.last.Append(r)
	j.appends.Add(1)
	if j.down.Load() {
		j.duringOutage.Add(1)
	}
}

// answerWatch counts calls answered while the database is down that also
// arrived while it was down: routing carried them from start to agent
// without it.
type answerWatch struct {
	down     *atomic.Bool
	mu       sync.Mutex
	arrived  map[string]bool // arrived during the outage
	answered int
}

func (w *answerWatch) Observe(e CallEvent) {
	if !w.down.Load() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch e.Kind {
	case EventArrived:
		w.arrived[e.CallID] = true
	case EventAnswered:
		if w.arrived[e.CallID] {
			w.answered++
		}
	}
}

const outageRules = `
queues:
  - name: support
    offer_timeout: 15s
    wrap_up: 3s
    max_misses: 0
  - name: billing
    offer_timeout: 15s
    wrap_up: 3s
    steps:
      - {after: 0s, require: {billing: 1}}
      - {after: 40s, overflow_to: support}
entry:
  - {name: billing-line, dialed: ["2000"], queue: billing}
default_queue: support
`

// TestMariaDBOutageUnderTraffic: a simulated floor — 60 agents, two
// queues (one overflowing into the other), ~3 calls a second of simulated
// time run 8× faster than real time — routes calls through the controller,
// which writes every call, leg, queue stint and agent state change to the
// write-behind journal on a real MariaDB. In the middle of the traffic
// MariaDB is killed for 10 seconds and started again.
//
// Routing never paused, by the test's own measurements: PBX events handled
// by the controller loop while the database was down, calls that arrived
// and were answered within the outage, records appended during it (and the
// slowest Append and loop round trip, logged). Afterwards every record the
// controller wrote is in the database exactly once and at its last
// version: one row per call, leg, stint and state change, no more, no less.
func TestMariaDBOutageUnderTraffic(t *testing.T) {
	srv := mariadbtest.ForTest(t)
	ctx := context.Background()
	dsn, err := srv.NewDatabase(ctx, "controller_outage")
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.Open(ctx, dsn, storage.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	jr, err := storage.NewJournal(store, storage.JournalOptions{Dir: filepath.Join(t.TempDir(), "journal"), BatchSize: 200,
		HealthInterval: 100 * time.Millisecond}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	jctx, stopJournal := context.WithCancel(ctx)
	jdone := make(chan error, 1)
	go func() { jdone <- jr.Run(jctx) }()
	defer func() { stopJournal(); <-jdone }()
	tee := &teeJournal{real: jr}

	const speed = 8
	clk := clock.NewScaled(t0, speed)
	groups := []sim.AgentGroup{
		{Prefix: "s", Count: 40, Queues: map[string]int{"support": 1}, AnswerProbability: 0.95, RingDelay: 2 * time.Second, HandleTime: 40 * time.Second},
		{Prefix: "b", Count: 20, Queues: map[string]int{"billing": 1, "support": 2}, Skills: map[string]int{"billing": 5},
			AnswerProbability: 0.95, RingDelay: 2 * time.Second, HandleTime: 60 * time.Second},
	}
	p, err := sim.New(sim.Config{Seed: 7, AgentGroups: groups, Streams: []sim.Stream{
		{DialedNumber: "1000", RatePerMinute: 120, PatienceMean: 90 * time.Second},
		{DialedNumber: "2000", RatePerMinute: 60, PatienceMean: 90 * time.Second},
	}}, clk, quiet)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := routing.ParseRules("outage.yaml", []byte(outageRules))
	if err != nil {
		t.Fatal(err)
	}
	e := routing.NewEngine(cfg)
	for _, a := range (sim.Config{AgentGroups: groups}).Agents() {
		e.UpsertAgent(a, clk.Now())
		if _, err := e.Login(a.ID, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	watch := &answerWatch{down: &tee.down, arrived: map[string]bool{}}
	ctl, err := New(Config{}, Deps{PBX: p, Engine: e, Journal: tee, Store: store, Clock: clk, Log: quiet, Observers: []Observer{watch}})
	if err != nil {
		t.Fatal(err)
	}
	floorStart := time.Now()
	fctx, stopFloor := context.WithCancel(ctx)
	var floor sync.WaitGroup
	floor.Add(2)
	go func() { defer floor.Done(); p.Run(fctx) }()
	go func() { defer floor.Done(); ctl.Run(fctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopFloor()
			floor.Wait()
		}
	}
	defer stop()

	// The loop's round trip, probed every 20 ms: how long a function
	// posted to the controller waits before it runs.
	var maxLoop, loopDown atomic.Int64
	var probesDown atomic.Int64
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for fctx.Err() == nil {
			start := time.Now()
			ran := make(chan struct{})
			ctl.post(func() { close(ran) })
			select {
			case <-ran:
			case <-fctx.Done():
				return
			}
			d := time.Since(start).Nanoseconds()
			if d > maxLoop.Load() {
				maxLoop.Store(d)
			}
			if tee.down.Load() {
				probesDown.Add(1)
				if d > loopDown.Load() {
					loopDown.Store(d)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// Traffic first, with records reaching the database.
	waitCond(t, 30*time.Second, "calls answered and records in MariaDB", func() bool {
		return p.Stats().Connected >= 20 && jr.Stats().Written > 200
	})
	evBefore, apBefore := ctl.Received(), tee.appends.Load()
	arrBefore := p.Stats().Arrivals

	srv.Stop()
	tee.down.Store(true)
	outageStart := time.Now()
	time.Sleep(10 * time.Second) // the outage itself, not a wait for a condition
	tee.down.Store(false)
	outage := time.Since(outageStart)
	evDuring, apDuring := ctl.Received()-evBefore, tee.appends.Load()-apBefore
	arrDuring := p.Stats().Arrivals - arrBefore
	st := jr.Stats()
	if st.DBUp || st.LastError == "" || st.Pending == 0 {
		t.Errorf("after 10 s the journal should know the database is down and hold a backlog: %+v", st)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// Traffic goes on over the return and the backlog drains under it.
	waitCond(t, 60*time.Second, "the outage's backlog written", func() bool {
		s := jr.Stats()
		return s.DBUp && s.Written >= st.Written+st.Pending
	})
	stop()
	<-probeDone
	flushCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := jr.Flush(flushCtx); err != nil {
		t.Fatal(err)
	}

	// Routing went on while the database was down.
	watch.mu.Lock()
	answeredDuring := watch.answered
	watch.mu.Unlock()
	if evDuring == 0 || apDuring == 0 || tee.duringOutage.Load() == 0 {
		t.Fatalf("the controller stalled while MariaDB was down: %d PBX events, %d records appended", evDuring, apDuring)
	}
	if arrDuring == 0 || answeredDuring == 0 {
		t.Fatalf("no call arrived and was answered within the outage (%d arrivals): routing paused", arrDuring)
	}
	if probesDown.Load() == 0 {
		t.Fatal("the controller loop ran no posted function while MariaDB was down")
	}

	// Every record exactly once, at its last version.
	want := map[string]map[string]storage.Record{}
	tee.last.mu.Lock()
	for k, r := range tee.last.recs {
		table, _, _ := strings.Cut(k, "/")
		if want[table] == nil {
			want[table] = map[string]storage.Record{}
		}
		want[table][k] = r
	}
	tee.last.mu.Unlock()
	for _, table := range []string{"calls", "legs", "queue_waits", "agent_state_changes"} {
		var n int64
		if err := store.DB().Table(table).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n != int64(len(want[table])) || n == 0 {
			t.Errorf("%s: %d rows in MariaDB, the controller wrote %d distinct records", table, n, len(want[table]))
		}
	}
	calls, err := store.Calls(ctx, storage.CallFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	us := func(p *time.Time) string {
		if p == nil {
			return "-"
		}
		return p.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
	}
	stale := 0
	for _, c := range calls {
		w, ok := want["calls"]["calls/"+c.ID].(storage.Call)
		if !ok {
			t.Errorf("call %s in MariaDB was never written by the controller", c.ID)
			continue
		}
		if c.Outcome != w.Outcome || c.AgentID != w.AgentID || c.Queue != w.Queue || c.Offers != w.Offers ||
			us(c.AnsweredAt) != us(w.AnsweredAt) || us(c.EndedAt) != us(w.EndedAt) || us(&c.UpdatedAt) != us(&w.UpdatedAt) {
			stale++
			if stale <= 3 {
				t.Errorf("call %s is not at its last version:\n  db   %+v\n  last %+v", c.ID, c, w)
			}
		}
	}
	if stale > 0 {
		t.Errorf("%d calls not at their last version", stale)
	}
	t.Logf("outage %s: %d PBX events handled, %d calls arrived (%d of them answered) and %d records appended while MariaDB was down; "+
		"backlog then %d records, %d bytes; before the outage %.0f events/s",
		outage.Round(time.Millisecond), evDuring, arrDuring, answeredDuring, apDuring, st.Pending, st.Spilled,
		float64(evBefore)/outageStart.Sub(floorStart).Seconds())
	t.Logf("slowest Append %s; slowest controller loop round trip %s (while MariaDB was down %s, %d probes); %d calls, %d records in all",
		time.Duration(tee.maxAppend.Load()), time.Duration(maxLoop.Load()), time.Duration(loopDown.Load()), probesDown.Load(),
		len(calls), tee.appends.Load())
}

// waitCond polls cond until it holds or the deadline passes.
func waitCond(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
