package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage/mariadbtest"
)

func runJournal(t *testing.T, s *Store, dir string, opts JournalOptions) (*Journal, func()) {
	t.Helper()
	opts.Dir = dir
	j, err := NewJournal(s, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	var stopped bool
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return j, stop
}

func countRows(t *testing.T, s *Store, table string) int64 {
	t.Helper()
	var n int64
	if err := s.DB().Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func flushWithin(t *testing.T, j *Journal, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := j.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJournalUpsertsLastVersionInOrder(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		s := openMigrated(t, dsn)
		j, _ := runJournal(t, s, t.TempDir(), JournalOptions{BatchSize: 7})
		now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		for i := 0; i < 50; i++ {
			c := Call{ID: fmt.Sprintf("c%d", i%10), ArrivedAt: now, Outcome: OutcomeLive, UpdatedAt: now.Add(time.Duration(i) * time.Second), Offers: i}
			j.Append(c)
			j.Append(QueueWait{ID: fmt.Sprintf("c%d/%d", i, 1), CallID: c.ID, Queue: "q", EnteredAt: now})
		}
		flushWithin(t, j, 30*time.Second)
		if n := countRows(t, s, "calls"); n != 10 {
			t.Fatalf("calls rows = %d, want 10", n)
		}
		if n := countRows(t, s, "queue_waits"); n != 50 {
			t.Fatalf("queue_waits rows = %d, want 50", n)
		}
		c, _ := s.Call(context.Background(), "c3")
		// The record's own times, not the time of the database write.
		if c.Offers != 43 || !c.UpdatedAt.Equal(now.Add(43*time.Second)) {
			t.Fatalf("c3 offers = %d, updated %s, want the last version (43, %s)", c.Offers, c.UpdatedAt, now.Add(43*time.Second))
		}
		if st := j.Stats(); st.Pending != 0 || !st.DBUp || st.Written != 100 || st.Spilled != 0 || st.Unsynced != 0 || st.OldestPendingSeconds != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// The memory bound: with no logger running (a disk that cannot keep up),
// Append writes the staging buffer to the log itself once it passes
// MemoryLimit, so memory never holds more than the limit and one record;
// everything is in the log and reaches the database later.
func TestJournalMemoryBounded(t *testing.T) {
	dialects(t, testJournalMemoryBounded)
}

func testJournalMemoryBounded(t *testing.T, dsn string) {
	s := openMigrated(t, dsn)
	dir := t.TempDir()
	const limit = 2 << 10
	j, err := NewJournal(s, JournalOptions{Dir: dir, MemoryLimit: limit}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	peak := 0
	const n = 2000
	for i := 0; i < n; i++ {
		j.Append(Call{ID: fmt.Sprintf("m%05d", i), ArrivedAt: now, Outcome: OutcomeAnswered, UpdatedAt: now, CallerName: strings.Repeat("x", 40)})
		j.mu.Lock()
		peak = max(peak, j.staged.Len())
		j.mu.Unlock()
	}
	if peak > limit+1024 {
		t.Fatalf("staging buffer reached %d bytes, limit %d", peak, limit)
	}
	st := j.Stats()
	if st.Pending != n || st.Unsynced >= n/10 || st.Spilled < int64(n/2*100) {
		t.Fatalf("records should be in the log, not in memory: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	flushWithin(t, j, 30*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, s, "calls"); got != n {
		t.Fatalf("%d rows, want %d", got, n)
	}
}

// The database goes away (killed) while records keep coming: Append goes
// on, health shows the database down with a growing backlog and its age,
// and when the database is back the backlog is written in order, every
// record exactly once. (The 10 s outage under simulated traffic through the
// controller is controller.TestMariaDBOutageUnderTraffic.)
func TestJournalSurvivesDatabaseOutage(t *testing.T) {
	srv := mariadbtest.ForTest(t)
	ctx := context.Background()
	dsn, err := srv.NewDatabase(ctx, "t_outage")
	if err != nil {
		t.Fatal(err)
	}
	s := openMigrated(t, dsn)
	j, _ := runJournal(t, s, t.TempDir(), JournalOptions{BatchSize: 100, HealthInterval: 100 * time.Millisecond})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var appended, duringOutage, maxAppend atomic.Int64
	var down atomic.Bool
	stop := make(chan struct{})
	gen := make(chan struct{})
	go func() {
		defer close(gen)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			st := time.Now()
			// Rewrites as the call flow does: each call written three times.
			j.Append(Call{ID: fmt.Sprintf("call-%06d", i/3), ArrivedAt: now, Outcome: OutcomeLive, Offers: i % 3, UpdatedAt: now})
			if d := time.Since(st).Nanoseconds(); d > maxAppend.Load() {
				maxAppend.Store(d)
			}
			appended.Add(1)
			if down.Load() {
				duringOutage.Add(1)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	waitFor(t, 10*time.Second, "records in the database", func() bool { return j.Stats().Written > 300 })
	srv.Stop()
	down.Store(true)
	waitFor(t, 20*time.Second, "health to show the database down with a backlog", func() bool {
		st := j.Stats()
		return !st.DBUp && st.LastError != "" && st.Pending > 1000 && st.Spilled > 0 && st.OldestPendingSeconds > 0
	})
	during := j.Stats()
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	down.Store(false)
	waitFor(t, 30*time.Second, "records written after the outage", func() bool { return j.Stats().Written > during.Written+during.Pending })
	close(stop)
	<-gen
	flushWithin(t, j, 60*time.Second)
	if duringOutage.Load() == 0 {
		t.Fatal("no record was appended while the database was down: the call path stalled")
	}
	if n, want := countRows(t, s, "calls"), (appended.Load()+2)/3; n != want {
		t.Fatalf("calls rows = %d, want %d", n, want)
	}
	var stale int64
	last := (appended.Load() - 1) / 3
	s.DB().Raw("SELECT COUNT(*) FROM calls WHERE offers <> 2 AND id <> ?", fmt.Sprintf("call-%06d", last)).Scan(&stale)
	if stale != 0 {
		t.Fatalf("%d calls kept an older version: the backlog was not applied in order", stale)
	}
	if st := j.Stats(); !st.DBUp || st.LastError != "" || st.Pending != 0 || st.Spilled != 0 {
		t.Fatalf("after the outage: %+v", st)
	}
	t.Logf("appended %d records (%d while MariaDB was down; backlog then %d records, %d bytes); slowest Append %s",
		appended.Load(), duringOutage.Load(), during.Pending, during.Spilled, time.Duration(maxAppend.Load()))
}

// With nothing to write, the journal still notices the database go and
// come back (an idle ping), so health and /metrics are right on a quiet
// floor too.
func TestJournalHealthWithoutTraffic(t *testing.T) {
	srv := mariadbtest.ForTest(t)
	ctx := context.Background()
	dsn, err := srv.NewDatabase(ctx, "t_idle")
	if err != nil {
		t.Fatal(err)
	}
	s := openMigrated(t, dsn)
	j, _ := runJournal(t, s, t.TempDir(), JournalOptions{HealthInterval: 50 * time.Millisecond})
	waitFor(t, 10*time.Second, "the database seen up", func() bool { return j.Stats().DBUp })
	srv.Stop()
	waitFor(t, 10*time.Second, "the database seen down", func() bool { st := j.Stats(); return !st.DBUp && st.LastError != "" })
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the database seen up again", func() bool { st := j.Stats(); return st.DBUp && st.LastError == "" })
	if st := j.Stats(); st.Written != 0 || st.Pending != 0 {
		t.Fatalf("nothing was appended: %+v", st)
	}
}

// A database that hangs (SIGSTOP: connections open, no answer) instead of
// refusing: the applier waits on it, but the logger goes on, so records
// still reach the local disk within the flush interval and nothing piles
// up in memory. Without a logger separate from the database writer this
// fails: records stay unsynced until the database answers.
func TestJournalKeepsLoggingWhileDatabaseHangs(t *testing.T) {
	srv := mariadbtest.ForTest(t)
	ctx := context.Background()
	dsn, err := srv.NewDatabase(ctx, "t_hang")
	if err != nil {
		t.Fatal(err)
	}
	s := openMigrated(t, dsn)
	j, _ := runJournal(t, s, t.TempDir(), JournalOptions{BatchSize: 50})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	if err := srv.Freeze(); err != nil {
		t.Fatal(err)
	}
	frozen := true
	defer func() {
		if frozen {
			srv.Thaw()
		}
	}()
	const n = 2000
	for i := 0; i < n; i++ {
		j.Append(Call{ID: fmt.Sprintf("h%05d", i), ArrivedAt: now, Outcome: OutcomeAnswered, UpdatedAt: now})
		if i%100 == 99 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	// 10 s is far more than the flush interval and far less than the
	// database timeouts (30 s) the applier is stuck in.
	waitFor(t, 10*time.Second, "records fsynced to the log while the database hangs", func() bool { return j.Stats().Unsynced == 0 })
	if st := j.Stats(); st.Written == n || st.Spilled == 0 {
		t.Fatalf("the database should still be hung with the records on disk: %+v", st)
	}
	if err := srv.Thaw(); err != nil {
		t.Fatal(err)
	}
	frozen = false
	flushWithin(t, j, 60*time.Second)
	if got := countRows(t, s, "calls"); got != n {
		t.Fatalf("%d rows, want %d", got, n)
	}
}

// kill -9 with records still in the journal, then a restart on the same
// journal directory replays them: none lost, none doubled. The journal runs
// in a separate process (the test binary re-executed) killed with SIGKILL.
//
//   - database down: every record is only in the log at the kill.
//   - database up: the child rewrites 500 calls with rising versions
//     faster than the database takes them; at the kill some versions are
//     committed (perhaps not yet checkpointed), later ones only in the log.
//     After the replay each call holds at least its last durable version.
func TestJournalReplaysAfterKill9(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		for _, mode := range []string{"down", "up"} {
			t.Run(mode, func(t *testing.T) {
				// Down: the child gets no tables, so its every write fails.
				// Up: it migrates the database itself.
				childDSNv := emptyDatabase(t, dsn, mode)
				dir := filepath.Join(t.TempDir(), "journal")
				k := startChild(t, "journal", childDSN+"="+childDSNv, childDir+"="+dir, childMode+"="+mode)
				var durable, written int
				for {
					if _, err := fmt.Sscanf(k.line(t), "durable %d written %d", &durable, &written); err != nil {
						t.Fatal(err)
					}
					if durable >= 3000 && durable-written >= 200 {
						break
					}
				}
				if err := k.cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				err := k.cmd.Wait()
				if ws, ok := k.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Fatalf("child did not die of SIGKILL: %v", err)
				}

				s := openMigrated(t, childDSNv)
				before := countRows(t, s, "calls")
				j, stop := runJournal(t, s, dir, JournalOptions{})
				replayed := j.Stats().Replayed
				if replayed == 0 {
					t.Fatal("nothing to replay after kill -9")
				}
				flushWithin(t, j, 60*time.Second)
				ctx := context.Background()
				var nrows, maxOffers int64
				s.DB().Raw("SELECT COUNT(*) FROM calls").Scan(&nrows)
				switch mode {
				case "down":
					if before != 0 {
						t.Fatalf("the child's database took %d rows", before)
					}
					// Keys k000000… are contiguous: count equals one past
					// the largest, and covers every durable record.
					s.DB().Raw("SELECT MAX(offers) FROM calls").Scan(&maxOffers)
					if nrows < int64(durable) || nrows != maxOffers+1 || nrows != replayed {
						t.Fatalf("%d durable before kill -9; after replay %d rows, max key %d, %d replayed", durable, nrows, maxOffers, replayed)
					}
				case "up":
					if nrows != 500 {
						t.Fatalf("%d rows, want 500 (one per call)", nrows)
					}
					rows, err := s.Calls(ctx, CallFilter{Limit: 1000})
					if err != nil {
						t.Fatal(err)
					}
					for _, c := range rows {
						var key int
						fmt.Sscanf(c.ID, "k%06d", &key)
						// The last version of this key below durable.
						want := (durable-1-key)/500*500 + key
						if c.Offers < want || c.Offers%500 != key {
							t.Fatalf("call %s holds version %d, last durable version %d", c.ID, c.Offers, want)
						}
					}
				}
				// A second restart replays nothing and changes nothing.
				stop()
				j2, _ := runJournal(t, s, dir, JournalOptions{})
				if r := j2.Stats().Replayed; r != 0 {
					t.Fatalf("second restart replayed %d records", r)
				}
				if n := countRows(t, s, "calls"); n != nrows {
					t.Fatalf("second restart changed the row count %d → %d", nrows, n)
				}
				t.Logf("%s: child fsynced %d (database had %d) before SIGKILL; %d replayed; %d rows", mode, durable, written, replayed, nrows)
			})
		}
	})
}

// emptyDatabase is a database with no tables beside the one of dsn: a new
// SQLite file, or a new MariaDB database on the same server.
func emptyDatabase(t *testing.T, dsn, name string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "sqlite:") {
		return "sqlite:" + filepath.Join(t.TempDir(), name+".db")
	}
	d, err := maria.Get(t).NewDatabase(context.Background(), "t_kill9_"+name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A log with a corrupt line in the middle and a torn last line (a crash in
// the middle of a write): the good records are replayed, the corrupt one is
// counted and passed over, the torn one is never applied half, and Flush
// returns rather than wait for records that can never be written.
func TestJournalCorruptAndTornLines(t *testing.T) {
	dialects(t, testJournalCorruptAndTornLines)
}

func testJournalCorruptAndTornLines(t *testing.T, dsn string) {
	s := openMigrated(t, dsn)
	dir := t.TempDir()
	now := `"2026-11-23T09:00:00Z"`
	rec := func(id string) string {
		return `{"k":"calls/` + id + `","v":{"id":"` + id + `","arrived_at":` + now + `,"outcome":"answered","updated_at":` + now + `}}` + "\n"
	}
	log := rec("g1") + "{not json\n" + rec("g2") + `{"k":"calls/torn","v":{"id":"to`
	if err := os.WriteFile(filepath.Join(dir, "journal-00000001.log"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	j, _ := runJournal(t, s, dir, JournalOptions{})
	if r := j.Stats().Replayed; r != 3 {
		t.Fatalf("replayed %d, want 3 complete lines", r)
	}
	j.Append(Call{ID: "g3", ArrivedAt: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), Outcome: OutcomeAnswered})
	flushWithin(t, j, 10*time.Second)
	if n := countRows(t, s, "calls"); n != 3 {
		t.Fatalf("%d rows, want g1, g2, g3", n)
	}
	if _, err := s.Call(context.Background(), "torn"); err == nil {
		t.Fatal("torn line applied")
	}
	if st := j.Stats(); st.Skipped != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The old segment, wholly read, is removed once the next is applied.
	waitFor(t, 5*time.Second, "the old segment removed", func() bool {
		_, err := os.Stat(filepath.Join(dir, "journal-00000001.log"))
		return os.IsNotExist(err)
	})
}

// An idle journal sleeps: with nothing appended and the health ping an
// hour away, neither loop wakes on a timer (they ticked every
// FlushInterval, 100 times a second each, which kept an idle switchboard
// at ~3 % of a core). Appending still reaches the database at once, and
// the loops wake for it.
func TestJournalIdleDoesNotWake(t *testing.T) {
	s := openMigrated(t, "sqlite:"+filepath.Join(t.TempDir(), "sb.db"))
	j, _ := runJournal(t, s, t.TempDir(), JournalOptions{FlushInterval: time.Millisecond, HealthInterval: time.Hour})
	waitFor(t, 10*time.Second, "the database seen up", func() bool { return j.Stats().DBUp })
	log0, apply0 := j.loggerTurns.Load(), j.applierTurns.Load()
	// 200 FlushIntervals of idleness: a loop on a ticker turns ~200 times.
	time.Sleep(200 * time.Millisecond)
	if l, a := j.loggerTurns.Load()-log0, j.applierTurns.Load()-apply0; l > 2 || a > 2 {
		t.Fatalf("idle for 200 flush intervals, the logger woke %d times and the applier %d: want none", l, a)
	}
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	j.Append(Call{ID: "idle-1", ArrivedAt: now, Outcome: OutcomeLive, UpdatedAt: now})
	flushWithin(t, j, 10*time.Second)
	if n := countRows(t, s, "calls"); n != 1 {
		t.Fatalf("%d call rows after the append, want 1", n)
	}
	if j.loggerTurns.Load() == log0 || j.applierTurns.Load() == apply0 {
		t.Fatal("the append did not wake the logger and the applier")
	}
}
