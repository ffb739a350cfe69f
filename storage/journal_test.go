package storage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage/mariadbtest"
)

func runJournal(t *testing.T, s *Store, dir string, opts JournalOptions) (*Journal, context.CancelFunc, chan error) {
	t.Helper()
	opts.Dir = dir
	j, err := NewJournal(s, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return j, cancel, done
}

func countRows(t *testing.T, s *Store, table string) int64 {
	t.Helper()
	var n int64
	if err := s.DB().Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestJournalUpsertsLastVersionInOrder(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		s := openMigrated(t, dsn)
		j, _, _ := runJournal(t, s, t.TempDir(), JournalOptions{BatchSize: 7})
		now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		for i := 0; i < 50; i++ {
			c := Call{ID: fmt.Sprintf("c%d", i%10), ArrivedAt: now, Outcome: OutcomeLive, UpdatedAt: now, Offers: i}
			j.Append(c)
			j.Append(QueueWait{ID: fmt.Sprintf("c%d/%d", i, 1), CallID: c.ID, Queue: "q", EnteredAt: now})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := j.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, s, "calls"); n != 10 {
			t.Fatalf("calls rows = %d, want 10", n)
		}
		if n := countRows(t, s, "queue_waits"); n != 50 {
			t.Fatalf("queue_waits rows = %d, want 50", n)
		}
		c, _ := s.Call(context.Background(), "c3")
		if c.Offers != 43 {
			t.Fatalf("c3 offers = %d, want the last version (43)", c.Offers)
		}
		if st := j.Stats(); st.Pending != 0 || !st.DBUp || st.Written != 100 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// The database goes away for a while in the middle of traffic: appends go
// on without waiting, the backlog is applied when it returns, every record
// is there exactly once.
func TestJournalSurvivesDatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test takes ~12 s")
	}
	srv := mariadbtest.ForTest(t, &maria, &mariaErr, &mariaOnce)
	ctx := context.Background()
	dsn, err := srv.NewDatabase(ctx, "t_outage")
	if err != nil {
		t.Fatal(err)
	}
	s := openMigrated(t, dsn)
	j, _, _ := runJournal(t, s, t.TempDir(), JournalOptions{BatchSize: 100})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var appended atomic.Int64
	var maxAppend atomic.Int64
	var duringOutage atomic.Int64
	var down atomic.Bool
	stop := make(chan struct{})
	gen := make(chan struct{})
	go func() {
		defer close(gen)
		tk := time.NewTicker(2 * time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			st := time.Now()
			j.Append(Call{ID: fmt.Sprintf("call-%06d", i), ArrivedAt: now, Outcome: OutcomeAnswered, UpdatedAt: now})
			if d := time.Since(st).Nanoseconds(); d > maxAppend.Load() {
				maxAppend.Store(d)
			}
			appended.Add(1)
			if down.Load() {
				duringOutage.Add(1)
			}
		}
	}()
	time.Sleep(time.Second)
	srv.Stop()
	down.Store(true)
	time.Sleep(10 * time.Second)
	if st := j.Stats(); st.DBUp || st.Pending == 0 {
		t.Errorf("during the outage stats should show the database down with a backlog: %+v", st)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	down.Store(false)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-gen
	fctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := j.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if duringOutage.Load() == 0 {
		t.Fatal("no record was appended while the database was down: the call path stalled")
	}
	if n := countRows(t, s, "calls"); n != appended.Load() {
		t.Fatalf("calls rows = %d, appended %d", n, appended.Load())
	}
	t.Logf("appended %d records (%d while MariaDB was down); slowest Append %s", appended.Load(), duringOutage.Load(), time.Duration(maxAppend.Load()))
}

const childEnv = "SWITCHBOARD_JOURNAL_CHILD"

// journalChild appends records with a database that cannot take them (its
// file is read-only for it) and reports each fsynced count on stdout until
// the parent kills it with SIGKILL.
func journalChild() {
	dir := os.Getenv(childEnv)
	s, err := Open(context.Background(), "sqlite:"+filepath.Join(dir, "child-unused.db"))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	// No tables: every database write fails, so records stay in the log.
	j, err := NewJournal(s, JournalOptions{Dir: filepath.Join(dir, "journal"), FlushInterval: 2 * time.Millisecond}, nil)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	go j.Run(context.Background())
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := 0; ; i++ {
		j.Append(Call{ID: fmt.Sprintf("k%06d", i), ArrivedAt: now, Outcome: OutcomeAnswered, UpdatedAt: now})
		if i%100 == 99 {
			time.Sleep(20 * time.Millisecond) // > FlushInterval: the first i+1 are fsynced
			fmt.Println(i + 1)
		}
	}
}

// kill -9 with records still in the journal, then a new journal on the
// same directory replays them: none lost, none doubled.
func TestJournalReplaysAfterKill9(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	durable := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ERR") {
			t.Fatal(line)
		}
		n, _ := strconv.Atoi(line)
		durable = n
		if durable >= 1000 {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if durable < 1000 {
		t.Fatalf("child reported only %d records", durable)
	}

	s := openMigrated(t, "sqlite:"+filepath.Join(dir, "real.db"))
	j, _, _ := runJournal(t, s, filepath.Join(dir, "journal"), JournalOptions{})
	replayed := j.Stats().Replayed
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := j.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	n := countRows(t, s, "calls")
	if n < int64(durable) {
		t.Fatalf("%d records reported durable before kill -9, only %d in the database after replay", durable, n)
	}
	if n != replayed {
		t.Fatalf("replayed %d log records but %d rows: doubled or lost", replayed, n)
	}
	// Every key present exactly once, numbered 0..n-1 with no gap.
	for _, id := range []string{"k000000", fmt.Sprintf("k%06d", durable-1)} {
		if _, err := s.Call(context.Background(), id); err != nil {
			t.Fatalf("%s missing: %v", id, err)
		}
	}
	// A second replay (restart again) changes nothing.
	j2, err := NewJournal(s, JournalOptions{Dir: filepath.Join(dir, "journal2")}, nil)
	if err != nil || j2.Stats().Replayed != 0 {
		t.Fatalf("fresh journal replayed %v %v", j2.Stats().Replayed, err)
	}
	t.Logf("child fsynced %d before SIGKILL; %d replayed; %d rows", durable, replayed, n)
}
