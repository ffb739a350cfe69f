package recordings

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
)

// Agent and supervisor pause and resume while the database is away: the
// PBX mutes and un-mutes the audio, the answer is the span (who, why,
// when), and the spans travel through the journal — after a restart on
// the same journal the database holds both with who and why, the closed
// one counted in the paused total, the one still open left open; a
// second replay adds and closes nothing. They went straight to the
// database: with it away the audio was muted and the span lost.
func TestPauseThroughDatabaseOutageAndRestart(t *testing.T) {
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

			db.down(t, st1)
			now = t0.Add(10 * time.Second)
			sp, err := svc.Pause(ctx, id, "1001", "card details")
			if err != nil || sp.PausedBy != "1001" || sp.Reason != "card details" || !sp.PausedAt.Equal(now) || sp.RecordingID != id {
				t.Fatalf("pause with the database away: %+v %v", sp, err)
			}
			if _, err := svc.Pause(ctx, id, "sup-1", "again"); err == nil {
				t.Fatal("second pause accepted")
			}
			now = t0.Add(25 * time.Second)
			sp, err = svc.Resume(ctx, id, "sup-1")
			if err != nil || sp.ResumedBy != "sup-1" || sp.ResumedAt == nil || !sp.ResumedAt.Equal(now) || sp.PausedBy != "1001" {
				t.Fatalf("resume with the database away: %+v %v", sp, err)
			}
			now = t0.Add(30 * time.Second)
			if _, err := svc.Pause(ctx, id, "1001", "cvv"); err != nil {
				t.Fatal(err)
			}
			name := rec.names()[0]
			for _, c := range []string{"pause " + name, "resume " + name} {
				if !slices.Contains(rec.commands(), c) {
					t.Fatalf("PBX not told %q: %q", c, rec.commands())
				}
			}
			stop1() // switchboard stops during the outage
			again := filepath.Join(t.TempDir(), "again")
			copyDir(t, jdir, again)

			db.up(t)
			st2 := db.open(t)
			j2, stop2 := runJournal(t, st2, jdir)
			flush(t, j2)
			stop2()
			check := func() {
				t.Helper()
				got, err := st2.Recording(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Pauses) != 2 || got.PausedMS != 15000 || got.Status != storage.RecordingActive {
					t.Fatalf("pauses after the outage: %+v spans %+v", got, got.Pauses)
				}
				p0, p1 := got.Pauses[0], got.Pauses[1]
				if p0.PausedBy != "1001" || p0.Reason != "card details" || !p0.PausedAt.Equal(t0.Add(10*time.Second)) ||
					p0.ResumedAt == nil || !p0.ResumedAt.Equal(t0.Add(25*time.Second)) || p0.ResumedBy != "sup-1" ||
					p1.PausedBy != "1001" || p1.Reason != "cvv" || !p1.PausedAt.Equal(t0.Add(30*time.Second)) || p1.ResumedAt != nil {
					t.Fatalf("spans %+v", got.Pauses)
				}
			}
			check()
			j3, stop3 := runJournal(t, st2, again)
			if j3.Stats().Replayed == 0 {
				t.Fatal("nothing to replay")
			}
			flush(t, j3)
			stop3()
			check() // nothing opened or closed twice
		})
	}
}
