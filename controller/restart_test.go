package controller

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/storage"
)

// sqliteJournal runs a storage journal on dir for store until stop.
func sqliteJournal(t *testing.T, store *storage.Store, dir string) (j *storage.Journal, stop func()) {
	t.Helper()
	j, err := storage.NewJournal(store, storage.JournalOptions{Dir: dir}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	var stopped bool
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(stop)
	return j, stop
}

func flush(t *testing.T, j *storage.Journal) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := j.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// switchboard is stopped in the middle of a busy run — callers waiting,
// ringing and talking — while the PBX goes on (callers hang up, talks
// end). A new controller on the same SQLite database and journal
// directory resumes: calls the PBX still holds are routed on with their
// original enqueue time (their queue stint and caller leg rows carried
// on, not rewritten), the others are closed with a reason, and no row is
// left half-written: no finished call keeps a leg without an end or a
// stint never left.
func TestRestartOnSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := storage.Open(ctx, "sqlite:"+filepath.Join(dir, "sb.db"), storage.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	jdir := filepath.Join(dir, "journal")
	j1, stop1 := sqliteJournal(t, store, jdir)

	groups := []sim.AgentGroup{{Prefix: "s", Count: 3, Queues: map[string]int{"support": 1}, AnswerProbability: 0.9, RingDelay: 3 * time.Second, HandleTime: 2 * time.Minute}}
	streams := []sim.Stream{{DialedNumber: "1000", RatePerMinute: 3, PatienceMean: 2 * time.Minute}}
	r := newRigJournal(t, groups, streams, j1, store)
	r.login("s-001", "s-002", "s-003")
	r.advance(15 * time.Minute)
	before := r.ctl.Snapshot()
	waiting, talking := 0, 0
	for _, c := range before.Calls {
		switch c.State {
		case string(phaseQueued), string(phaseRinging):
			waiting++
		case string(phaseTalking):
			talking++
		}
	}
	if waiting == 0 || talking == 0 {
		t.Fatalf("the stop should catch calls waiting and talking: %d waiting, %d talking", waiting, talking)
	}
	stopAt := r.clk.Now()

	// The stop: the controller and its journal go; the PBX carries on.
	r.stopController()
	stop1()
	r.advance(40 * time.Second)

	j2, _ := sqliteJournal(t, store, jdir)
	r.journal = j2
	r.restart()
	r.start(newEngine(t, testRules, groups), store)
	r.login("s-001", "s-002", "s-003")
	r.sim.Resync()
	r.settle()
	flush(t, j2)

	live, err := store.LiveCalls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := map[string]CallStatus{}
	for _, c := range r.ctl.Snapshot().Calls {
		now[c.ID] = c
	}
	resumed := 0
	for _, c := range live {
		cur, ok := now[c.ID]
		if !ok {
			t.Errorf("call %s is live in the database but not in the controller", c.ID)
			continue
		}
		if c.ArrivedAt.Before(stopAt) {
			resumed++
			if !cur.EnqueuedAt.Equal(*c.EnqueuedAt) || cur.EnqueuedAt.After(stopAt) {
				t.Errorf("resumed call %s lost its place: enqueued %v, stored %v", c.ID, cur.EnqueuedAt, c.EnqueuedAt)
			}
		}
	}
	if resumed == 0 {
		t.Fatal("no call from before the stop was resumed")
	}
	all, err := store.Calls(ctx, storage.CallFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	closedByRestart := 0
	for _, c := range all {
		checkRow(t, c)
		checkLegsAndWaits(t, store, c)
		if c.EndReason == reasonLostWaiting || c.EndReason == reasonLostTalking {
			closedByRestart++
		}
	}
	if closedByRestart == 0 {
		t.Fatal("no call ended during the stop was closed with a reason")
	}

	// Routing goes on: everyone resumed is eventually answered or leaves.
	r.advance(20 * time.Minute)
	flush(t, j2)
	all, err = store.Calls(ctx, storage.CallFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	answeredAfter := 0
	for _, c := range all {
		checkRow(t, c)
		if c.ArrivedAt.Before(stopAt) && c.AnsweredAt != nil && c.AnsweredAt.After(stopAt) {
			answeredAfter++
		}
	}
	if answeredAfter == 0 {
		t.Fatal("no call from before the stop was answered after the restart")
	}
	for _, c := range all {
		checkLegsAndWaits(t, store, c)
	}
	if q := r.queue("support"); q.Offered < len(all)-10 {
		t.Fatalf("today's figures not kept across the restart: offered %d, %d calls stored", q.Offered, len(all))
	}
}

// checkRow: a call row is whole at every milestone.
func checkRow(t *testing.T, c storage.Call) {
	t.Helper()
	ended := c.EndedAt != nil
	switch {
	case c.Outcome == "":
		t.Errorf("call %s has no outcome", c.ID)
	case (c.Outcome == storage.OutcomeLive) == ended:
		t.Errorf("call %s: outcome %s with ended_at %v", c.ID, c.Outcome, c.EndedAt)
	case c.Outcome == storage.OutcomeAnswered && (c.AnsweredAt == nil || c.AgentID == ""):
		t.Errorf("answered call %s without answer time or agent: %+v", c.ID, c)
	case ended && c.EndReason == "":
		t.Errorf("call %s ended without a reason", c.ID)
	case c.Queue == "" || c.EnqueuedAt == nil || c.CallerLegID == "":
		t.Errorf("call %s without queue, enqueue time or caller leg: %+v", c.ID, c)
	}
}

// checkLegsAndWaits: a finished call leaves no leg without an end and no
// queue stint without a leave; a live call has at most one open stint,
// and stints follow each other in time.
func checkLegsAndWaits(t *testing.T, store *storage.Store, c storage.Call) {
	t.Helper()
	ctx := context.Background()
	legs, err := store.CallLegs(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	waits, err := store.CallWaits(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	finished := c.Outcome != storage.OutcomeLive
	for _, l := range legs {
		if finished && l.EndedAt == nil {
			t.Errorf("call %s (%s, %s) has leg %s with no end", c.ID, c.Outcome, c.EndReason, l.ID)
		}
		if l.EndedAt != nil && l.EndedAt.Before(l.CreatedAt) {
			t.Errorf("leg %s ended %v before it was created %v", l.ID, l.EndedAt, l.CreatedAt)
		}
	}
	open := 0
	for i, w := range waits {
		if w.LeftAt == nil {
			open++
			if finished {
				t.Errorf("call %s (%s, %s) has stint %s never left", c.ID, c.Outcome, c.EndReason, w.ID)
			}
		} else if w.LeftAt.Before(w.EnteredAt) {
			t.Errorf("stint %s left %v before it was entered %v", w.ID, w.LeftAt, w.EnteredAt)
		}
		if i > 0 && w.EnteredAt.Before(waits[i-1].EnteredAt) {
			t.Errorf("call %s: stint %s entered before the one before it", c.ID, w.ID)
		}
		if c.EnqueuedAt != nil && i == 0 && !w.EnteredAt.Equal(*c.EnqueuedAt) {
			t.Errorf("call %s: first stint entered %v, call enqueued %v", c.ID, w.EnteredAt, *c.EnqueuedAt)
		}
	}
	if open > 1 {
		t.Errorf("call %s has %d open stints", c.ID, open)
	}
}

func newRigJournal(t *testing.T, groups []sim.AgentGroup, streams []sim.Stream, j Journal, store Store) *rig {
	t.Helper()
	r := newRig(t, testRules, groups, streams, nil)
	// Restart the controller at once on the real journal and store.
	r.stopController()
	r.restart()
	r.journal = j
	r.start(newEngine(t, testRules, groups), store)
	r.settle()
	return r
}

// The clock of the restarted switchboard reads earlier than the stored
// calls (a clock stepped back; an accelerated simulation restarted at the
// wall clock): calls closed as lost end no earlier than their last known
// moment, and so do their legs and queue stints — no end before its start.
func TestRestartWithClockBehindKeepsRecordsWhole(t *testing.T) {
	jr := &memJournal{}
	later := t0.Add(time.Hour)
	enq, off, ans := later, later.Add(time.Second), later.Add(5*time.Second)
	jr.Append(storage.Call{ID: "sim-talking", Node: "sim", CallerLegID: "sim/talking", Queue: "support", ArrivedAt: later, EnqueuedAt: &enq,
		OfferedAt: &off, AnsweredAt: &ans, AgentID: "good-001", Outcome: storage.OutcomeLive, UpdatedAt: ans.Add(time.Minute)})
	jr.Append(storage.Call{ID: "sim-waiting", Node: "sim", CallerLegID: "sim/waiting", Queue: "support", ArrivedAt: later, EnqueuedAt: &enq,
		Outcome: storage.OutcomeLive, UpdatedAt: later.Add(2 * time.Minute)})
	jr.Append(storage.Leg{ID: "sim/talking", CallID: "sim-talking", Node: "sim", ChannelID: "talking", Role: "caller", CreatedAt: later})
	jr.Append(storage.Leg{ID: "sim/agent", CallID: "sim-talking", Node: "sim", ChannelID: "agent", Role: "agent", CreatedAt: off, AnsweredAt: &ans})
	jr.Append(storage.Leg{ID: "sim/waiting", CallID: "sim-waiting", Node: "sim", ChannelID: "waiting", Role: "caller", CreatedAt: later})
	jr.Append(storage.QueueWait{ID: "sim-waiting/1", CallID: "sim-waiting", Queue: "support", EnteredAt: later})

	r := newRig(t, testRules, []sim.AgentGroup{good}, nil, nil)
	r.stopController()
	r.restart()
	r.jr = jr
	r.start(newEngine(t, testRules, []sim.AgentGroup{good}), journalStore{jr})
	r.sim.Resync()
	r.settle()
	calls := jr.calls()
	for _, id := range []string{"sim-talking", "sim-waiting"} {
		c := calls[id]
		if c.Outcome == storage.OutcomeLive || c.EndedAt == nil {
			t.Fatalf("call %s not closed: %+v", id, c)
		}
		checkRow(t, c)
		if c.EndedAt.Before(c.ArrivedAt) || c.AnsweredAt != nil && c.EndedAt.Before(*c.AnsweredAt) || c.TalkSeconds < 0 || c.WaitSeconds < 0 {
			t.Errorf("call %s ends before it began: %+v", id, c)
		}
	}
	for _, r := range jr.snapshot() {
		switch v := r.(type) {
		case storage.Leg:
			if v.EndedAt == nil || v.EndedAt.Before(v.CreatedAt) || v.AnsweredAt != nil && v.EndedAt.Before(*v.AnsweredAt) {
				t.Errorf("leg %s: %+v", v.ID, v)
			}
		case storage.QueueWait:
			if v.LeftAt == nil || v.LeftAt.Before(v.EnteredAt) || v.WaitSeconds < 0 {
				t.Errorf("stint %s: %+v", v.ID, v)
			}
		}
	}
}
