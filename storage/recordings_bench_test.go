package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// recYearStart is the first day of the year of recordings the search
// benchmark and the plan test load.
var recYearStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// The seeded population (seedRecordings), i = 0 … n-1, one year evenly:
//   - 500 agents, 8 queues, 200,000 callers, each picked by a multiplicative
//     hash of i (so they do not line up with the modular patterns below),
//     node pbx(i mod 3);
//   - status: 2 % failed, 1 % missing, the newest 20 still recording, the
//     rest finished; duration 30 s–20 min, and one in 1,000 two hours;
//   - one in 50 evaluated (score i·13 mod 101), one in 2,000 exemplary,
//     one in 5,000 under legal hold;
//   - tags: complaint on one in 20, vip on one in 7, fraud on one in 10,000.
const (
	seedAgents  = 500
	seedCallers = 200000
)

// hash32 spreads i over 32 bits (Knuth's multiplicative hash); the high
// bits are the well-mixed ones.
func hash32(i int, mult int64) int64 { return int64(i) * mult % 4294967296 }

func seedAgent(i int) string {
	return "a" + strconv.FormatInt(hash32(i, 2246822519)/65536%seedAgents, 10)
}
func seedQueue(i int) string { return "q" + strconv.FormatInt(hash32(i, 2654435761)/536870912, 10) }
func seedCaller(i int) string {
	return "+3314" + strconv.FormatInt(hash32(i, 3266489917)/16%seedCallers, 10)
}

// seedRecordings loads n recordings (and their tags) by INSERT … SELECT over
// a generated sequence, in chunks: seconds for a million rows, where single
// inserts would take an hour. The tables' statistics are refreshed after,
// as on a database that has been running.
func seedRecordings(ctx context.Context, s *Store, n int, analyze bool) error {
	mysql := s.Dialect() == DialectMySQL
	base := recYearStart.Unix()
	span := int64(365 * 24 * 3600)
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
	// ts writes a datetime the way the driver does (SQLite keeps them as
	// text and compares them as text).
	ts := func(secs string) string {
		if mysql {
			return "FROM_UNIXTIME(" + strconv.FormatInt(base, 10) + " + " + secs + ")"
		}
		return "(strftime('%Y-%m-%d %H:%M:%S', " + strconv.FormatInt(base, 10) + " + " + secs + ", 'unixepoch') || '+00:00')"
	}
	hash := func(mult string) string { return "(i * " + mult + " % 4294967296)" } // hash32
	at := idiv("i * "+strconv.FormatInt(span, 10), strconv.Itoa(n))
	dur := "(CASE WHEN i % 1000 = 7 THEN 7200000 ELSE ((i * 7 % 1200) + 30) * 1000 END)"
	status := fmt.Sprintf("(CASE WHEN i >= %d THEN 'recording' WHEN i %% 100 < 2 THEN 'failed' WHEN i %% 100 = 2 THEN 'missing' ELSE 'finished' END)", n-20)
	id := cat("'rec-'", "i")
	stmts := []string{
		"INSERT INTO recordings (id, call_id, node, pbx_name, caller_number, agent_id, queue, path, format, started_at, ended_at," +
			" duration_ms, status, reason, paused_ms, legal_hold, score, evaluations, exemplary, created_at, updated_at)" +
			" SELECT " + id + ", " + cat("'call-'", "i") + ", " + cat("'pbx'", "(i % 3)") + ", " + cat("'name-'", "i") + ", " +
			cat("'+3314'", "("+idiv(hash("3266489917"), "16")+fmt.Sprintf(" %% %d)", seedCallers)) + ", " +
			cat("'a'", "("+idiv(hash("2246822519"), "65536")+fmt.Sprintf(" %% %d)", seedAgents)) + ", " +
			cat("'q'", idiv(hash("2654435761"), "536870912")) + ", " + cat("'/rec/name-'", "i", "'.wav'") + ", 'wav', " + ts(at) + ", " + ts(at+" + "+idiv(dur, "1000")) + ", " +
			dur + ", " + status + ", 'always', 0, (CASE WHEN i % 5000 = 3 THEN 1 ELSE 0 END)," +
			" (CASE WHEN i % 50 = 0 THEN (i * 13 % 101) ELSE NULL END), (CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END)," +
			" (CASE WHEN i % 2000 = 0 THEN 1 ELSE 0 END), " + ts(at) + ", " + ts(at) + " FROM {from}",
		"INSERT INTO recording_tags (recording_id, tag, started_at) SELECT " + id + ", 'complaint', " + ts(at) + " FROM {from} WHERE i % 20 = 0",
		"INSERT INTO recording_tags (recording_id, tag, started_at) SELECT " + id + ", 'vip', " + ts(at) + " FROM {from} WHERE i % 7 = 0",
		"INSERT INTO recording_tags (recording_id, tag, started_at) SELECT " + id + ", 'fraud', " + ts(at) + " FROM {from} WHERE i % 10000 = 5",
	}
	const chunk = 200_000
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n) - 1
		from := "n"
		if mysql {
			from = fmt.Sprintf("(SELECT seq AS i FROM seq_%d_to_%d) n", lo, hi)
		}
		for _, st := range stmts {
			q := strings.ReplaceAll(st, "{from}", from)
			if !mysql {
				q = fmt.Sprintf("WITH RECURSIVE n(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM n WHERE i < %d) ", lo, hi) + q
			}
			if err := s.DB().WithContext(ctx).Exec(q).Error; err != nil {
				return fmt.Errorf("seeding recordings %d..%d: %w", lo, hi, err)
			}
		}
	}
	for _, t := range []string{"recordings", "recording_tags"} {
		if !analyze {
			break
		}
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

// searchShape is one kind of search the API makes.
type searchShape struct {
	name string
	f    RecordingFilter
}

func fp(v float64) *float64 { return &v }

// searchShapes are the searches `recordings list` and the API make, alone
// and combined, on a seeded population of n: the agent, caller and queue
// are those of row n/2 (failed when n/2 is a multiple of 100), in the week
// searched; queue+long's is that of row 1007, two hours long.
func searchShapes(n int) []searchShape {
	day := recYearStart.AddDate(0, 0, 180)
	week := recYearStart.AddDate(0, 0, 182)
	held := true
	return []searchShape{
		{"latest", RecordingFilter{}},
		{"day", RecordingFilter{From: day, To: day.AddDate(0, 0, 1)}},
		{"agent", RecordingFilter{AgentID: seedAgent(n/2 + 3)}},
		{"queue", RecordingFilter{Queue: seedQueue(3)}},
		{"caller", RecordingFilter{Caller: seedCaller(n/2 + 1)}},
		{"call", RecordingFilter{CallID: "call-" + strconv.Itoa(n/8)}},
		{"node", RecordingFilter{Node: "pbx1"}},
		{"tag-common", RecordingFilter{Tag: "complaint"}},
		{"tag-rare", RecordingFilter{Tag: "fraud"}},
		{"min-score", RecordingFilter{MinScore: fp(90)}},
		{"score-range", RecordingFilter{MinScore: fp(40), MaxScore: fp(60)}},
		{"long", RecordingFilter{MinDuration: time.Hour}},
		{"duration-range", RecordingFilter{MinDuration: 5 * time.Minute, MaxDuration: 10 * time.Minute}},
		{"failed", RecordingFilter{Status: RecordingFailed}},
		{"exemplary", RecordingFilter{Exemplary: true}},
		{"held", RecordingFilter{LegalHold: &held}},
		{"agent+week", RecordingFilter{AgentID: seedAgent(n/2 + 3), From: week, To: week.AddDate(0, 0, 7)}},
		{"queue+failed+week", RecordingFilter{Queue: seedQueue(n / 2), Status: RecordingFailed, From: week, To: week.AddDate(0, 0, 7)}},
		{"queue+long", RecordingFilter{Queue: seedQueue(1007), MinDuration: time.Hour}},
		{"queue+min-score", RecordingFilter{Queue: seedQueue(3), MinScore: fp(90)}},
		{"tag+week", RecordingFilter{Tag: "complaint", From: week, To: week.AddDate(0, 0, 7)}},
		{"agent+tag", RecordingFilter{AgentID: seedAgent(n/2 + 3), Tag: "vip"}},
		{"caller+week", RecordingFilter{Caller: seedCaller(n/2 + 1), From: week, To: week.AddDate(0, 0, 7)}},
	}
}

// recordingData caches the seeded stores per dialect and size.
var recordingData = map[string]*Store{}

// benchRecordings is how many recordings the search benchmark loads
// (SWITCHBOARD_BENCH_RECORDINGS, default 1,000,000).
func benchRecordings(b *testing.B) int {
	if v := os.Getenv("SWITCHBOARD_BENCH_RECORDINGS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("SWITCHBOARD_BENCH_RECORDINGS=%q: want a number ≥ 1000", v)
		}
		return n
	}
	return 1_000_000
}

func recordingStore(b *testing.B, kind string, n int) *Store {
	monthData.Lock() // the month benchmark's lock and cleanup (TestMain) serve this store too
	defer monthData.Unlock()
	key := fmt.Sprintf("recordings/%s/%d", kind, n)
	if s := recordingData[key]; s != nil {
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
		dsn = "sqlite:" + filepath.Join(dir, "recordings.db")
	default:
		var err error
		if dsn, err = maria.Get(b).NewDatabase(context.Background(), fmt.Sprintf("b_recordings_%d", n)); err != nil {
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
	if err := seedRecordings(context.Background(), s, n, true); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: loaded %d recordings (and ~%d tags) in %s", kind, n, n/20+n/7+n/10000, time.Since(start).Round(time.Second))
	if monthData.stores == nil {
		monthData.stores = map[string]*Store{}
	}
	monthData.stores[key] = s
	recordingData[key] = s
	return s
}

// BenchmarkRecordingSearch: one op is one SearchRecordings call (a page
// of 100 with its tags, as GET /api/v1/recordings makes it) on a million
// recordings (SWITCHBOARD_BENCH_RECORDINGS), for every search shape the
// API makes, on SQLite and MariaDB. "first" is the first page; "deep" is
// the page after following the cursor 20 pages in (or the last page of a
// shorter result), which keyset paging keeps as cheap as the first. The
// goal: every shape well under 50 ms on either database.
func BenchmarkRecordingSearch(b *testing.B) {
	for _, kind := range []string{"sqlite", "mariadb"} {
		b.Run(kind, func(b *testing.B) {
			s := recordingStore(b, kind, benchRecordings(b))
			ctx := context.Background()
			for _, sh := range searchShapes(benchRecordings(b)) {
				b.Run(sh.name, func(b *testing.B) {
					f := sh.f
					f.Limit = 100
					// The cursor 20 pages in (or of the last page there is).
					deep := f
					for page := 0; page < 20; page++ {
						_, next, err := s.SearchRecordings(ctx, deep)
						if err != nil {
							b.Fatal(err)
						}
						if next == "" {
							break
						}
						deep.Cursor = next
					}
					for _, p := range []struct {
						name string
						f    RecordingFilter
					}{{"first", f}, {"deep", deep}} {
						b.Run(p.name, func(b *testing.B) {
							var rows int
							for i := 0; i < b.N; i++ {
								out, _, err := s.SearchRecordings(ctx, p.f)
								if err != nil {
									b.Fatal(err)
								}
								rows = len(out)
							}
							if rows == 0 {
								b.Fatalf("%s finds nothing: the shape measures no work", sh.name)
							}
							b.ReportMetric(float64(rows), "rows/op")
						})
					}
				})
			}
		})
	}
}
