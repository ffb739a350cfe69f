package controller

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/storage"
)

// pageLog is a Store that remembers every call filter it was asked for.
type pageLog struct {
	*storage.Store
	mu      sync.Mutex
	filters []storage.CallFilter
}

func (p *pageLog) Calls(ctx context.Context, f storage.CallFilter) ([]storage.Call, error) {
	p.mu.Lock()
	p.filters = append(p.filters, f)
	p.mu.Unlock()
	return p.Store.Calls(ctx, f)
}

// Today's figures are seeded from storage page by page with the keyset
// cursor (the last call of a page), never OFFSET: every call of the day
// counted once, also when many share one arrival second across a page
// boundary; yesterday's calls not at all.
func TestSeedStatsPagesByKeyset(t *testing.T) {
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
	j, stop := sqliteJournal(t, store, filepath.Join(dir, "journal"))
	day := time.Date(t0.Year(), t0.Month(), t0.Day(), 0, 0, 0, 0, time.UTC)
	answered, abandoned := 0, 0
	add := func(id string, at time.Time, outcome string) {
		enq, end := at, at.Add(time.Minute)
		c := storage.Call{ID: id, Node: "sim", CallerLegID: "sim/" + id, Queue: "support", ArrivedAt: at, EnqueuedAt: &enq, EndedAt: &end,
			Outcome: outcome, EndReason: "test", WaitSeconds: 10, UpdatedAt: end}
		if outcome == storage.OutcomeAnswered {
			ans := at.Add(10 * time.Second)
			c.AnsweredAt, c.AgentID, c.TalkSeconds = &ans, "good-001", 50
		}
		j.Append(c)
	}
	for i := range 23 {
		// Groups of four calls share one arrival time, so page
		// boundaries fall inside a group.
		at := day.Add(time.Hour + time.Duration(i/4)*time.Minute)
		outcome := storage.OutcomeAnswered
		if i%3 == 0 {
			outcome = storage.OutcomeAbandoned
			abandoned++
		} else {
			answered++
		}
		add(fmt.Sprintf("today-%02d", i), at, outcome)
	}
	add("yesterday-1", day.Add(-time.Hour), storage.OutcomeAnswered)
	add("yesterday-2", day.Add(-time.Minute), storage.OutcomeAbandoned)
	flush(t, j)
	stop()

	clk := clock.NewManual(t0)
	p, err := sim.New(sim.Config{Seed: 1}, clk, quiet)
	if err != nil {
		t.Fatal(err)
	}
	pl := &pageLog{Store: store}
	ctl, err := New(Config{}, Deps{PBX: p, Engine: newEngine(t, testRules, nil), Store: pl, Clock: clk, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctl.seedPage = 5
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.Run(rctx) }()
	go func() { defer wg.Done(); ctl.Run(rctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	for !isClosed(ctl.running) {
		time.Sleep(100 * time.Microsecond)
	}
	var q QueueStatus
	for _, qs := range ctl.Snapshot().Queues {
		if qs.Name == "support" {
			q = qs
		}
	}
	if q.Offered != 23 || q.Answered != answered || q.Abandoned != abandoned {
		t.Fatalf("seeded offered %d answered %d abandoned %d; storage holds 23 today, %d answered, %d abandoned", q.Offered, q.Answered, q.Abandoned, answered, abandoned)
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if len(pl.filters) != 5 { // 5+5+5+5+3
		t.Fatalf("%d pages read, want 5: %+v", len(pl.filters), pl.filters)
	}
	for i, f := range pl.filters {
		if f.Offset != 0 {
			t.Errorf("page %d read with OFFSET %d", i, f.Offset)
		}
		if i > 0 && (f.BeforeAt.IsZero() || f.BeforeID == "") {
			t.Errorf("page %d has no keyset cursor: %+v", i, f)
		}
	}
}
