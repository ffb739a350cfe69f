package recordings

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/storage"
	"github.com/switchboard-cc/switchboard/storage/mariadbtest"
)

// outageDB is a database a test can open, take away and bring back.
type outageDB struct {
	open func(t *testing.T) *storage.Store // a new connection (database up)
	down func(t *testing.T, st *storage.Store)
	up   func(t *testing.T)
}

func sqliteOutage(t *testing.T) outageDB {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "sb.db")
	return outageDB{
		open: func(t *testing.T) *storage.Store { return openMigrated(t, dsn) },
		// The process's connection is gone: every read and write fails.
		down: func(t *testing.T, st *storage.Store) { st.Close() },
		up:   func(t *testing.T) {},
	}
}

func mariadbOutage(t *testing.T) outageDB {
	srv := mariadbtest.ForTest(t)
	dsn, err := srv.NewDatabase(context.Background(), "rec_outage_"+strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_")))
	if err != nil {
		t.Fatal(err)
	}
	return outageDB{
		open: func(t *testing.T) *storage.Store { return openMigrated(t, dsn) },
		down: func(t *testing.T, _ *storage.Store) { srv.Stop() },
		up: func(t *testing.T) {
			if err := srv.Restart(context.Background()); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// waitRows polls until the database holds want recordings none of which
// is still recording, or fails after 30 s.
func waitRows(t *testing.T, st *storage.Store, want int) []storage.Recording {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs, _, err := st.SearchRecordings(context.Background(), storage.RecordingFilter{Limit: 100})
		settled := err == nil && len(recs) == want
		for _, r := range recs {
			if r.Status == storage.RecordingActive {
				settled = false
			}
		}
		if settled {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("rows not complete: %+v %v", recs, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func byID(recs []storage.Recording) map[string]storage.Recording {
	out := map[string]storage.Recording{}
	for _, r := range recs {
		r.UpdatedAt = time.Time{} // the only column a replay may move
		out[r.ID] = r
	}
	return out
}

// The database is away for a whole run of switchboard: calls bridged
// then are still recorded on the PBX, their finish (with the PBX's
// duration) and a failure are kept in the journal on disk, the process
// stops, and the next run on the same journal directory writes the rows
// complete once the database is back. Replaying the same log again
// changes nothing, and does not touch what reviewers wrote meanwhile.
func TestRecordingsThroughDatabaseOutageAndRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   func(t *testing.T) outageDB
	}{{"sqlite", sqliteOutage}, {"mariadb", mariadbOutage}} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.db(t)
			jdir := filepath.Join(t.TempDir(), "journal")
			cfg := Config{Queues: map[string]Policy{"support": {Mode: ModeAlways}}}
			ctx := context.Background()

			// Run 1: the database goes away before any call.
			st1 := db.open(t)
			db.down(t, st1)
			j1, stop1 := runJournal(t, st1, jdir)
			rec := &recorder{}
			svc := newService(t, cfg, Deps{PBX: rec, Store: st1, Journal: j1, Now: func() time.Time { return t0 }, CommandTimeout: time.Second})
			observe(svc, bridgedCall("c1", "support", "pbx1"), bridgedCall("c2", "support", "pbx1"), bridgedCall("c3", "support", "pbx1"))
			var names []string
			for _, c := range rec.commands() {
				if n, ok := strings.CutPrefix(c, "record "); ok {
					names = append(names, strings.Fields(n)[1]) // "record <bridge> <name>"
				}
			}
			if len(names) != 3 {
				t.Fatalf("calls bridged with the database away were not recorded on the PBX: %q", rec.commands())
			}
			observe(svc,
				pbxEvent(adapters.RecordingStarted{Base: adapters.Base{At: t0.Add(time.Second)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: names[0]}, Format: "wav"}),
				pbxEvent(adapters.RecordingFinished{Base: adapters.Base{At: t0.Add(time.Minute)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: names[0]}, Duration: 41 * time.Second}),
				pbxEvent(adapters.RecordingFinished{Base: adapters.Base{At: t0.Add(2 * time.Minute)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: names[1]}}),
				pbxEvent(adapters.RecordingFailed{Base: adapters.Base{At: t0.Add(3 * time.Minute)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: names[2]}, Cause: "disk full"}))
			if !svc.Idle() {
				t.Fatal("events wait for the database")
			}
			if s := j1.Stats(); s.Pending != 7 {
				t.Fatalf("journal holds %d writes, want the 3 creates and 4 updates (start, 2 finishes, failure)", s.Pending)
			}
			stop1() // switchboard stops during the outage

			// Keep the log as run 1 left it, to replay it a second time.
			again := filepath.Join(t.TempDir(), "again")
			copyDir(t, jdir, again)

			// Run 2: the database is back; the journal replays at start.
			db.up(t)
			st2 := db.open(t)
			_, stop2 := runJournal(t, st2, jdir)
			got := waitRows(t, st2, 3)
			want := map[string]struct {
				status string
				ms     int64
				ended  time.Time
			}{
				names[0]: {storage.RecordingFinished, 41000, t0.Add(time.Minute)},
				names[1]: {storage.RecordingFinished, 120000, t0.Add(2 * time.Minute)}, // span from start
				names[2]: {storage.RecordingFailed, 0, t0.Add(3 * time.Minute)},
			}
			for _, r := range got {
				w, ok := want[r.PBXName]
				if !ok || r.Status != w.status || r.DurationMS != w.ms || r.EndedAt == nil || !r.EndedAt.Equal(w.ended) {
					t.Fatalf("row %+v, want %+v", r, w)
				}
				if r.PBXName == names[0] && (r.Format != "wav" || !r.StartedAt.Equal(t0.Add(time.Second))) {
					t.Fatalf("start event lost: %+v", r)
				}
				if r.PBXName == names[2] && r.Error != "pbx: disk full" {
					t.Fatalf("failure lost: %+v", r)
				}
			}
			stop2()

			// A reviewer's hold and tag, then the same log once more.
			first := got[0].ID
			if err := st2.SetLegalHold(ctx, first, true, "qa", "complaint"); err != nil {
				t.Fatal(err)
			}
			if err := st2.TagRecording(ctx, first, []string{"escalation"}, nil); err != nil {
				t.Fatal(err)
			}
			before, _, _ := st2.SearchRecordings(ctx, storage.RecordingFilter{Limit: 100})
			j3, stop3 := runJournal(t, st2, again)
			if j3.Stats().Replayed == 0 {
				t.Fatal("nothing to replay")
			}
			flush(t, j3)
			stop3()
			after, _, _ := st2.SearchRecordings(ctx, storage.RecordingFilter{Limit: 100})
			if !reflect.DeepEqual(byID(before), byID(after)) {
				t.Fatalf("replaying twice changed rows:\nbefore %+v\nafter  %+v", before, after)
			}
			r, err := st2.Recording(ctx, first)
			if err != nil || !r.LegalHold || len(r.Tags) != 1 {
				t.Fatalf("reviewer data overwritten by a replay: %+v %v", r, err)
			}
		})
	}
}

func flush(t *testing.T, j *storage.Journal) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := j.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A recording paused (card details) while the database is up ends while
// it is away: the pause's close goes with the end through the journal, so
// after a restart on the same journal the span has its end (at the
// finish, by system) and the paused total counts it — it does not stay
// paused for good. A second replay closes nothing twice.
func TestPauseOpenAtEndClosedThroughOutage(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   func(t *testing.T) outageDB
	}{{"sqlite", sqliteOutage}, {"mariadb", mariadbOutage}} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.db(t)
			jdir := filepath.Join(t.TempDir(), "journal")
			cfg := Config{Queues: map[string]Policy{"support": {Mode: ModeAlways}}}
			ctx := context.Background()
			now := t0
			clk := func() time.Time { return now }

			st1 := db.open(t)
			j1, stop1 := runJournal(t, st1, jdir)
			rec := &recorder{}
			svc := newService(t, cfg, Deps{PBX: rec, Store: st1, Journal: j1, Now: clk, CommandTimeout: time.Second})
			observe(svc, bridgedCall("c1", "support", "pbx1"))
			id := svc.RecordingOfAgent("1001")
			if id == "" {
				t.Fatalf("not recording: %q", rec.commands())
			}
			flush(t, j1)
			now = t0.Add(10 * time.Second)
			if _, err := svc.Pause(ctx, id, "1001", "card details"); err != nil {
				t.Fatal(err)
			}

			db.down(t, st1)
			r := svc.lookupMem(adapters.RecordingRef{Node: "pbx1", Name: rec.names()[0]})
			if r == nil {
				t.Fatal("recording not held in memory")
			}
			observe(svc, controller.CallEvent{Kind: controller.EventPBX, Node: "pbx1", PBXEvent: adapters.RecordingFinished{
				Base: adapters.Base{At: t0.Add(40 * time.Second)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: rec.names()[0]}}})
			stop1()
			again := filepath.Join(t.TempDir(), "again")
			copyDir(t, jdir, again)

			db.up(t)
			st2 := db.open(t)
			_, stop2 := runJournal(t, st2, jdir)
			waitRows(t, st2, 1)
			stop2()
			check := func() {
				t.Helper()
				got, err := st2.Recording(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Pauses) != 1 || got.Pauses[0].ResumedAt == nil || !got.Pauses[0].ResumedAt.Equal(t0.Add(40*time.Second)) ||
					got.Pauses[0].ResumedBy != "system" || got.PausedMS != 30000 || got.Status != storage.RecordingFinished {
					t.Fatalf("pause not closed at the end: %+v pauses %+v", got, got.Pauses)
				}
			}
			check()
			j3, stop3 := runJournal(t, st2, again)
			if j3.Stats().Replayed == 0 {
				t.Fatal("nothing to replay")
			}
			flush(t, j3)
			stop3()
			check() // not counted twice
		})
	}
}

// recordNames are the names the service asked the PBX to record under,
// in order.
func (r *recorder) names() []string {
	var names []string
	for _, c := range r.commands() {
		if n, ok := strings.CutPrefix(c, "record "); ok {
			names = append(names, strings.Fields(n)[1]) // "record <bridge> <name>"
		}
	}
	return names
}
