package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// groupCall is call i at version v (Offers), for the grouping tests.
func groupCall(i, v int) Call {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	return Call{ID: fmt.Sprintf("g%03d", i), ArrivedAt: now, Outcome: OutcomeAnswered, UpdatedAt: now, Offers: v}
}

func readCheckpointFile(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The logger waits out FlushInterval after the first record staged, so a
// burst of appends costs one write and fsync (it fsynced nearly every
// record, ~10 % of a busy switchboard's CPU); Flush does not wait for the
// interval, and takes the burst to the database in one transaction.
func TestJournalGroupsLogWrites(t *testing.T) {
	s := openMigrated(t, "sqlite:"+filepath.Join(t.TempDir(), "sb.db"))
	j, _ := runJournal(t, s, t.TempDir(), JournalOptions{FlushInterval: time.Hour, ApplyInterval: time.Hour, HealthInterval: time.Hour})
	waitFor(t, 10*time.Second, "the database seen up", func() bool { return j.Stats().DBUp })
	for i := range 100 {
		j.Append(groupCall(i, 1))
	}
	// Without the gathering the logger writes within a millisecond.
	time.Sleep(50 * time.Millisecond)
	if st, w := j.Stats(), j.logWrites.Load(); st.Unsynced != 100 || w != 0 {
		t.Fatalf("within the flush interval: %d unsynced, %d log writes; want 100 and 0 (one group)", st.Unsynced, w)
	}
	flushWithin(t, j, 10*time.Second)
	if w, b := j.logWrites.Load(), j.dbBatches.Load(); w != 1 || b != 1 {
		t.Fatalf("a burst of 100 appends took %d log writes and %d transactions; want 1 and 1", w, b)
	}
	if n := countRows(t, s, "calls"); n != 100 {
		t.Fatalf("%d rows, want 100", n)
	}
}

// The applier gathers logged records for ApplyInterval, or until BatchSize
// wait, before one transaction (it committed one per log write: ~60 % of a
// busy switchboard's CPU). The checkpoint is rewritten at most every
// CheckpointInterval — at once after partial writes (RecordingWrite) and
// at the end of Run — and a stale one (what kill -9 leaves) replays
// committed upserts, which leave every row at its last version.
func TestJournalApplierGathersAndCheckpointsLate(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		s := openMigrated(t, dsn)
		dir := t.TempDir()
		opts := JournalOptions{FlushInterval: time.Millisecond, ApplyInterval: time.Hour, CheckpointInterval: time.Hour, BatchSize: 50, HealthInterval: time.Hour}
		j, stop := runJournal(t, s, dir, opts)
		waitFor(t, 10*time.Second, "the database seen up", func() bool { return j.Stats().DBUp })
		for i := range 10 {
			j.Append(groupCall(i, 1))
		}
		waitFor(t, 10*time.Second, "10 records on the log", func() bool { return j.Stats().Unsynced == 0 })
		time.Sleep(50 * time.Millisecond)
		if st := j.Stats(); st.Written != 0 {
			t.Fatalf("%d records written within the apply interval with 10 of a batch of 50 waiting, want 0", st.Written)
		}
		// A full batch goes at once, in one transaction.
		for i := 10; i < 50; i++ {
			j.Append(groupCall(i, 1))
		}
		waitFor(t, 10*time.Second, "a full batch applied", func() bool { return j.Stats().Written == 50 })
		if b := j.dbBatches.Load(); b != 1 {
			t.Fatalf("50 records took %d transactions, want 1", b)
		}
		// The first checkpoint is written at once; the next waits out the interval.
		first := readCheckpointFile(t, dir)
		for i := range 50 {
			j.Append(groupCall(i, 2))
		}
		waitFor(t, 10*time.Second, "the second batch applied", func() bool { return j.Stats().Written == 100 })
		if cp := readCheckpointFile(t, dir); cp != first {
			t.Fatalf("checkpoint rewritten within the interval: %q → %q", first, cp)
		}
		// Keep the stale checkpoint: what a kill -9 now would leave.
		stale := first
		// A partial write is checkpointed at once: its replay could meet
		// another owner's later write (a purge).
		j.Append(RecordingWrite{Seq: "g-1", Create: true, Row: Recording{ID: "rec-g1", Node: "pbx1", PBXName: "g1", StartedAt: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}})
		flushWithin(t, j, 10*time.Second)
		afterPartial := readCheckpointFile(t, dir)
		if afterPartial == stale {
			t.Fatal("checkpoint not rewritten after a batch of partial writes")
		}
		// The end of Run writes the last position: a restart replays nothing.
		for i := range 5 {
			j.Append(groupCall(i, 3))
		}
		flushWithin(t, j, 10*time.Second)
		if cp := readCheckpointFile(t, dir); cp != afterPartial {
			t.Fatalf("checkpoint rewritten within the interval: %q → %q", afterPartial, cp)
		}
		stop()
		// Back to the stale checkpoint (what a kill -9 before the end of
		// Run would leave): 50 version-2 calls, the recording write and 5
		// version-3 calls are replayed, over rows that have them.
		if err := os.WriteFile(filepath.Join(dir, "checkpoint"), []byte(stale), 0o644); err != nil {
			t.Fatal(err)
		}
		j3, stop3 := runJournal(t, s, dir, opts)
		if r := j3.Stats().Replayed; r != 56 {
			t.Fatalf("replayed %d from the stale checkpoint, want 56", r)
		}
		flushWithin(t, j3, 10*time.Second)
		calls, err := s.Calls(t.Context(), CallFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 50 {
			t.Fatalf("%d calls after the replay, want 50", len(calls))
		}
		for _, c := range calls {
			var i int
			fmt.Sscanf(c.ID, "g%03d", &i)
			want := 2
			if i < 5 {
				want = 3
			}
			if c.Offers != want {
				t.Fatalf("call %s at version %d after the replay, want %d", c.ID, c.Offers, want)
			}
		}
		if n := countRows(t, s, "recordings"); n != 1 {
			t.Fatalf("%d recordings after the replay, want 1", n)
		}
		// The end of Run writes the last position: a restart replays nothing.
		for i := range 5 {
			j3.Append(groupCall(i, 4))
		}
		flushWithin(t, j3, 10*time.Second)
		stop3()
		j4, _ := runJournal(t, s, dir, opts)
		if r := j4.Stats().Replayed; r != 0 {
			t.Fatalf("restart after a clean stop replayed %d records", r)
		}
	})
}
