package storage

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// quietStore keeps slow-query warnings (seeding millions of rows) out of
// benchmark output.
var quietStore = WithLogger(slog.New(slog.DiscardHandler))

// benchDialects runs a benchmark on SQLite and on the shared MariaDB, each
// on a database of its own named after the benchmark.
func benchDialects(b *testing.B, fn func(b *testing.B, dsn string)) {
	b.Run("sqlite", func(b *testing.B) {
		fn(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
	})
	b.Run("mariadb", func(b *testing.B) {
		srv := maria.Get(b)
		dsn, err := srv.NewDatabase(context.Background(), "b_"+b.Name())
		if err != nil {
			b.Fatal(err)
		}
		// Commits are durable (fsynced redo log) as in production; the
		// test suite itself runs with innodb_flush_log_at_trx_commit=2.
		s, err := Open(context.Background(), dsn, quietStore)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.DB().Exec("SET GLOBAL innodb_flush_log_at_trx_commit = 1").Error; err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			s.DB().Exec("SET GLOBAL innodb_flush_log_at_trx_commit = 2")
			s.Close()
		})
		fn(b, dsn)
	})
}

// BenchmarkJournalPersist: records persisted per second through the
// journal — appended, fsynced to the local log and committed to the
// database — at several batch sizes (records per database transaction).
// One op is one call record (a row of the calls table, ~400 bytes of JSON)
// appended and committed; the figure to read is records/s.
func BenchmarkJournalPersist(b *testing.B) {
	benchDialects(b, func(b *testing.B, dsn string) {
		s, err := Open(context.Background(), dsn, quietStore)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Migrate(context.Background()); err != nil {
			b.Fatal(err)
		}
		for _, batch := range []int{1, 10, 100, 500} {
			b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
				if err := s.DB().Exec("DELETE FROM calls").Error; err != nil {
					b.Fatal(err)
				}
				j, err := NewJournal(s, JournalOptions{Dir: b.TempDir(), BatchSize: batch}, nil)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- j.Run(ctx) }()
				defer func() { cancel(); <-done }()
				at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
				ans, end := at.Add(12*time.Second), at.Add(200*time.Second)
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					j.Append(Call{ID: fmt.Sprintf("bench-%s-%09d", b.Name()[len(b.Name())-3:], i), Node: "pbx1", CallerLegID: "pbx1/1700000000." + strconv.Itoa(i),
						CallerNumber: "+3314555" + strconv.Itoa(i%10000), DialedNumber: "1000", Queue: "support", AgentID: "a" + strconv.Itoa(i%200),
						ArrivedAt: at, EnqueuedAt: &at, OfferedAt: &ans, AnsweredAt: &ans, EndedAt: &end, Outcome: OutcomeAnswered,
						EndReason: "caller hung up", WaitSeconds: 12, TalkSeconds: 188, Offers: 1, UpdatedAt: end})
				}
				fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer fcancel()
				if err := j.Flush(fctx); err != nil {
					b.Fatal(err)
				}
				el := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
			})
		}
	})
}

// monthData caches, per DSN kind, a store holding a month of calls, so
// the seeding (minutes) happens once per benchmark run however many times
// the benchmark function is called.
var monthData struct {
	sync.Mutex
	stores map[string]*Store
	dirs   []string
}

// benchCalls is how many calls the month holds (SWITCHBOARD_BENCH_CALLS,
// default 3,000,000).
func benchCalls(b *testing.B) int {
	if v := os.Getenv("SWITCHBOARD_BENCH_CALLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 30 {
			b.Fatalf("SWITCHBOARD_BENCH_CALLS=%q: want a number ≥ 30", v)
		}
		return n
	}
	return 3_000_000
}

// monthStart is the first day of the benchmark month (30 days).
var monthStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func monthStore(b *testing.B, kind string) *Store {
	monthData.Lock()
	defer monthData.Unlock()
	n := benchCalls(b)
	key := fmt.Sprintf("%s/%d", kind, n)
	if s := monthData.stores[key]; s != nil {
		return s
	}
	var dsn string
	switch kind {
	case "sqlite":
		dir, err := os.MkdirTemp("", "switchboard-bench-")
		if err != nil {
			b.Fatal(err)
		}
		monthData.dirs = append(monthData.dirs, dir)
		dsn = "sqlite:" + filepath.Join(dir, "month.db")
	default:
		var err error
		if dsn, err = maria.Get(b).NewDatabase(context.Background(), fmt.Sprintf("b_month_%d", n)); err != nil {
			b.Fatal(err)
		}
	}
	s, err := Open(context.Background(), dsn, quietStore)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := seedMonth(context.Background(), s, n, true); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: seeded %d calls, %d queue stints and ~%d agent state changes over 30 days in %s", kind, n, n, 3*n*19/20, time.Since(start).Round(time.Second))
	if monthData.stores == nil {
		monthData.stores = map[string]*Store{}
	}
	monthData.stores[key] = s
	return s
}

// cleanupBenchData closes and removes the month stores (from TestMain).
func cleanupBenchData() {
	monthData.Lock()
	defer monthData.Unlock()
	for _, s := range monthData.stores {
		s.Close()
	}
	for _, d := range monthData.dirs {
		os.RemoveAll(d)
	}
}

// seedMonth fills the store with n calls spread evenly over 30 days from
// monthStart, by INSERT … SELECT over a generated sequence (seconds for
// millions of rows, not hours of single inserts), in chunks. Each call has
// one queue stint; answered calls (19 in 20) give their agent three state
// changes (on_call at answer, wrap_up at hangup, then available — or, one
// call in 25, not_ready with a reason). 8 queues, 1,000 agents; waits
// 0–59 s, talk 60–599 s, wrap-up 10 s; one call in 20 abandoned, one in 20
// of the rest exited. With analyze, the tables' statistics are refreshed.
func seedMonth(ctx context.Context, s *Store, n int, analyze bool) error {
	mysql := s.Dialect() == DialectMySQL
	base := monthStart.Unix()
	// step: microseconds between arrivals.
	step := int64(30*24*time.Hour/time.Microsecond) / int64(n)
	cat := func(parts ...string) string {
		if mysql {
			return "CONCAT(" + strings.Join(parts, ", ") + ")"
		}
		return "(" + strings.Join(parts, " || ") + ")"
	}
	idiv := func(a, b string) string {
		if mysql {
			return "(" + a + " DIV " + b + ")"
		}
		return "(" + a + " / " + b + ")"
	}
	// ts is a datetime of base + secs seconds, in the format the driver
	// writes (SQLite keeps datetimes as text and compares them as text).
	ts := func(secs string) string {
		if mysql {
			return "FROM_UNIXTIME(" + strconv.FormatInt(base, 10) + " + " + secs + ")"
		}
		return "(strftime('%Y-%m-%d %H:%M:%S', " + strconv.FormatInt(base, 10) + " + " + secs + ", 'unixepoch') || '+00:00')"
	}
	arr := idiv("i * "+strconv.FormatInt(step, 10), "1000000")
	wait := "(i * 7 % 60)"
	talk := "(60 + i * 13 % 540)"
	kind := "(CASE WHEN i % 20 = 0 THEN 'abandoned' WHEN i % 20 = 1 THEN 'exited' ELSE 'answered' END)"
	agent := "(CASE WHEN i % 20 < 2 THEN '' ELSE " + cat("'a'", "(i % 1000)") + " END)"
	answered := "(CASE WHEN i % 20 < 2 THEN NULL ELSE " + ts(arr+" + "+wait) + " END)"
	ended := ts(arr + " + " + wait + " + (CASE WHEN i % 20 < 2 THEN 0 ELSE " + talk + " END)")
	talkSecs := "(CASE WHEN i % 20 < 2 THEN 0 ELSE " + talk + " END)"
	stmts := []string{
		"INSERT INTO calls (id, node, caller_leg_id, caller_number, caller_name, dialed_number, queue, priority, agent_id," +
			" arrived_at, enqueued_at, offered_at, answered_at, ended_at, outcome, end_reason, wait_seconds, talk_seconds, offers, trace, updated_at)" +
			" SELECT " + cat("'m'", "i") + ", 'pbx1', " + cat("'pbx1/'", "i") + ", " + cat("'555'", "(i % 50000)") + ", '', '1000', " +
			cat("'q'", "(i % 8)") + ", 0, " + agent + ", " + ts(arr) + ", " + ts(arr) + ", " + answered + ", " + answered + ", " + ended + ", " +
			kind + ", 'hangup', " + wait + ", " + talkSecs + ", 1, '', " + ended + " FROM {from}",
		"INSERT INTO queue_waits (id, call_id, queue, entered_at, left_at, outcome, wait_seconds, agent_id)" +
			" SELECT " + cat("'m'", "i", "'/1'") + ", " + cat("'m'", "i") + ", " + cat("'q'", "(i % 8)") + ", " + ts(arr) + ", " +
			ts(arr+" + "+wait) + ", " + kind + ", " + wait + ", " + agent + " FROM {from}",
		"INSERT INTO agent_state_changes (id, agent_id, from_state, to_state, reason, at, prev_duration_seconds)" +
			" SELECT " + cat("'m'", "i", "'/1'") + ", " + agent + ", 'available', 'on_call', '', " + ts(arr+" + "+wait) + ", 0 FROM {from} WHERE i % 20 >= 2",
		"INSERT INTO agent_state_changes (id, agent_id, from_state, to_state, reason, at, prev_duration_seconds)" +
			" SELECT " + cat("'m'", "i", "'/2'") + ", " + agent + ", 'on_call', 'wrap_up', '', " + ended + ", " + talk + " FROM {from} WHERE i % 20 >= 2",
		"INSERT INTO agent_state_changes (id, agent_id, from_state, to_state, reason, at, prev_duration_seconds)" +
			" SELECT " + cat("'m'", "i", "'/3'") + ", " + agent + ", 'wrap_up', (CASE WHEN i % 25 = 3 THEN 'not_ready' ELSE 'available' END)," +
			" (CASE WHEN i % 25 = 3 THEN (CASE WHEN i % 3 = 0 THEN 'break' WHEN i % 3 = 1 THEN 'lunch' ELSE 'training' END) ELSE '' END), " +
			ts(arr+" + "+wait+" + "+talk+" + 10") + ", 10 FROM {from} WHERE i % 20 >= 2",
	}
	const chunk = 250_000
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n) - 1
		var from string
		if mysql {
			// MariaDB's SEQUENCE engine: a table of integers lo..hi.
			from = fmt.Sprintf("(SELECT seq AS i FROM seq_%d_to_%d) n", lo, hi)
		} else {
			from = "n"
		}
		for _, st := range stmts {
			q := strings.ReplaceAll(st, "{from}", from)
			if !mysql {
				q = fmt.Sprintf("WITH RECURSIVE n(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM n WHERE i < %d) ", lo, hi) + q
			}
			if err := s.DB().WithContext(ctx).Exec(q).Error; err != nil {
				return fmt.Errorf("seeding calls %d..%d: %w", lo, hi, err)
			}
		}
	}
	if !analyze {
		return nil
	}
	// Fresh statistics, as a database that has been running a month has.
	for _, t := range []string{"calls", "queue_waits", "agent_state_changes"} {
		q := "ANALYZE " + t
		if mysql {
			q = "ANALYZE TABLE " + t
		}
		if err := s.DB().WithContext(ctx).Exec(q).Error; err != nil {
			return fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	return nil
}

// BenchmarkDailyReportMonth: the cost of one daily report (every queue and
// every agent) for a day in the middle of a month of data — 3 million
// calls by default (SWITCHBOARD_BENCH_CALLS), ~100,000 a day. One op is
// one Daily call; the interval report (30 min) is measured beside it.
// Seeding the month takes minutes and happens once per run.
func BenchmarkDailyReportMonth(b *testing.B) {
	for _, kind := range []string{"sqlite", "mariadb"} {
		b.Run(kind, func(b *testing.B) {
			s := monthStore(b, kind)
			day := monthStart.AddDate(0, 0, 14).Format("2006-01-02")
			b.Run("daily", func(b *testing.B) {
				var r *DailyReport
				for i := 0; i < b.N; i++ {
					var err error
					if r, err = s.Daily(context.Background(), day, ReportOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				var offered int64
				for _, q := range r.Queues {
					offered += q.Offered
				}
				// A day is a 30th of the month (± rounding at its edges).
				if want := int64(benchCalls(b) / 30); offered < want-2 || offered > want+2 || len(r.Agents) == 0 {
					b.Fatalf("report of %s: %d calls offered, want %d; %d agents", day, offered, want, len(r.Agents))
				}
				b.ReportMetric(float64(offered), "calls/day")
			})
			b.Run("interval", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := s.Interval(context.Background(), day, ReportOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
