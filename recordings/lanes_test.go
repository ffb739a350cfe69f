package recordings

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/storage"
)

// swapStore is the service's own connection to a SQLite file, closed
// (every read fails: the database is away) and opened again (it is back).
type swapStore struct {
	t   *testing.T
	dsn string
	mu  sync.Mutex
	cur *storage.Store
}

func (s *swapStore) st() *storage.Store { s.mu.Lock(); defer s.mu.Unlock(); return s.cur }

func (s *swapStore) down() { s.st().Close() }

func (s *swapStore) up() {
	st, err := storage.Open(context.Background(), s.dsn, storage.WithLogger(quiet))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { st.Close() })
	s.mu.Lock()
	s.cur = st
	s.mu.Unlock()
}

func (s *swapStore) Recording(ctx context.Context, id string) (*storage.Recording, error) {
	return s.st().Recording(ctx, id)
}
func (s *swapStore) RecordingByPBXName(ctx context.Context, node, name string) (*storage.Recording, error) {
	return s.st().RecordingByPBXName(ctx, node, name)
}
func (s *swapStore) RecordingsOfCall(ctx context.Context, callID string) ([]storage.Recording, error) {
	return s.st().RecordingsOfCall(ctx, callID)
}
func (s *swapStore) ActiveRecordings(ctx context.Context, node string) ([]storage.Recording, error) {
	return s.st().ActiveRecordings(ctx, node)
}
func (s *swapStore) PendingRecordings(ctx context.Context, node string) ([]storage.Recording, error) {
	return s.st().PendingRecordings(ctx, node)
}
func (s *swapStore) StartPause(ctx context.Context, id string, at time.Time, by, reason string) (*storage.PauseSpan, error) {
	return s.st().StartPause(ctx, id, at, by, reason)
}
func (s *swapStore) EndPause(ctx context.Context, id string, at time.Time, by string) (*storage.PauseSpan, error) {
	return s.st().EndPause(ctx, id, at, by)
}

// liveOutage is a database that goes away and comes back while one
// switchboard runs: svc is the service's store, jst the journal's (and
// where the test seeds and reads rows).
type liveOutage struct {
	svc      Store
	jst      *storage.Store
	down, up func(t *testing.T)
}

// SQLite: the service's connection is closed and opened again (the
// journal keeps its own; its outages are storage's tests).
func sqliteLive(t *testing.T) liveOutage {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "sb.db")
	jst := openMigrated(t, dsn)
	sw := &swapStore{t: t, dsn: dsn}
	sw.up()
	return liveOutage{svc: sw, jst: jst, down: func(*testing.T) { sw.down() }, up: func(*testing.T) { sw.up() }}
}

// openMigrated opens a new connection to dsn and migrates it, closed when
// the test ends.
func openMigrated(t *testing.T, dsn string) *storage.Store {
	t.Helper()
	st, err := storage.Open(context.Background(), dsn, storage.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// MariaDB: the server itself stops and starts again under one store.
func mariadbLive(t *testing.T) liveOutage {
	db := mariadbOutage(t)
	st := db.open(t)
	return liveOutage{svc: st, jst: st, down: func(t *testing.T) { db.down(t, st) }, up: db.up}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The PBX reconnects while the database is away: reconciliation cannot
// read the node's rows, so it is retried until the database answers —
// then an earlier run's recording the PBX stored is finished, one it does
// not list is missing, a pending announcement whose call is gone is
// failed. A call bridged after the reconnect (its legs are not in the
// reconnect's list) is this process's to follow and keeps recording.
// Meanwhile PBX events are handled: the retry is off the event path.
func TestReconcileRetriedWhenDatabaseReturns(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   func(t *testing.T) liveOutage
	}{{"sqlite", sqliteLive}, {"mariadb", mariadbLive}} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.db(t)
			ctx := context.Background()
			seedActive(t, db.jst, "rec-stored", "old-stored", "leg-old1", t0.Add(-time.Hour))
			seedActive(t, db.jst, "rec-lost", "old-lost", "leg-old2", t0.Add(-time.Hour))
			pend := &storage.Recording{ID: "rec-pend", CallID: "c-pend", Node: "pbx1", PBXName: "old-pend", CallerLeg: "leg-old3",
				Queue: "support", Status: storage.RecordingPending, StartedAt: t0.Add(-time.Minute)}
			if err := db.jst.CreateRecording(ctx, pend); err != nil {
				t.Fatal(err)
			}
			j, _ := runJournal(t, db.jst, filepath.Join(t.TempDir(), "journal"))
			rec := &recorder{}
			cfg := Config{Queues: map[string]Policy{"support": {Mode: ModeAlways}}}
			svc := newService(t, cfg, Deps{PBX: rec, Store: db.svc, Journal: j, Now: func() time.Time { return t0 }, CommandTimeout: time.Second})
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); svc.Run(rctx) }()
			defer func() { cancel(); <-done }()

			db.down(t)
			svc.Observe(controller.CallEvent{Kind: controller.EventPBX, Node: "pbx1", PBXEvent: adapters.Reconciled{
				Base: adapters.Base{At: t0}, Node: "pbx1", Recordings: []adapters.StoredRecording{{Name: "old-stored", Format: "wav"}}}})
			svc.Observe(bridgedCall("c9", "support", "pbx1"))
			waitUntil(t, "the call bridged after the reconnect to be recorded", func() bool { return len(rec.names()) == 1 })
			waitUntil(t, "the reconciliation to wait for the database", svc.ReconcileDue)
			name := rec.names()[0]
			svc.Observe(controller.CallEvent{Kind: controller.EventPBX, Node: "pbx1", PBXEvent: adapters.RecordingStarted{
				Base: adapters.Base{At: t0.Add(time.Second)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: name}, Format: "wav"}})
			waitUntil(t, "the start event handled during the outage", svc.Idle)

			db.up(t)
			waitUntil(t, "the reconciliation to go through", func() bool { return !svc.ReconcileDue() })
			flush(t, j)
			want := map[string]string{"rec-stored": storage.RecordingFinished, "rec-lost": storage.RecordingMissing, "rec-pend": storage.RecordingFailed}
			for id, status := range want {
				r, err := db.jst.Recording(ctx, id)
				if err != nil || r.Status != status {
					t.Fatalf("%s: %+v %v, want %s", id, r, err, status)
				}
			}
			recs, err := db.jst.RecordingsOfCall(ctx, "c9")
			if err != nil || len(recs) != 1 || recs[0].Status != storage.RecordingActive || recs[0].Format != "wav" {
				t.Fatalf("the call bridged after the reconnect: %+v %v", recs, err)
			}
		})
	}
}

// hangStore is a database that takes reads and never answers them until
// released (a frozen server): then they fail.
type hangStore struct {
	Store
	release chan struct{}
	mu      sync.Mutex
	waiting int
}

func (h *hangStore) hang(ctx context.Context) error {
	h.mu.Lock()
	h.waiting++
	h.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-h.release:
		return errors.New("connection reset by peer")
	}
}

func (h *hangStore) reads() int { h.mu.Lock(); defer h.mu.Unlock(); return h.waiting }

func (h *hangStore) Recording(ctx context.Context, id string) (*storage.Recording, error) {
	return nil, h.hang(ctx)
}
func (h *hangStore) RecordingByPBXName(ctx context.Context, node, name string) (*storage.Recording, error) {
	return nil, h.hang(ctx)
}
func (h *hangStore) RecordingsOfCall(ctx context.Context, callID string) ([]storage.Recording, error) {
	return nil, errors.New("connection refused") // the name check: answered at once
}

// A PBX event about an earlier run's recording needs one database read;
// the database hangs on it (the command timeout here is an hour). It
// waits on its own lane: the events of this process's own calls go on
// meanwhile — a call is bridged and recorded, its start and finish are
// settled — and once the read fails the earlier event is journalled by
// name, not lost: its row ends finished with the PBX's duration.
func TestEarlierRunEventDoesNotHoldTheEventPath(t *testing.T) {
	st := openStore(t)
	seedActive(t, st, "rec-old", "old-1", "leg-old", t0.Add(-time.Minute))
	j, _ := runJournal(t, st, filepath.Join(t.TempDir(), "journal"))
	hs := &hangStore{Store: st, release: make(chan struct{})}
	rec := &recorder{}
	cfg := Config{Queues: map[string]Policy{"support": {Mode: ModeAlways}}}
	svc := newService(t, cfg, Deps{PBX: rec, Store: hs, Journal: j, Now: func() time.Time { return t0 }, CommandTimeout: time.Hour})
	runService(t, svc)

	svc.Observe(pbxEvent(adapters.RecordingFinished{Base: adapters.Base{At: t0}, Recording: adapters.RecordingRef{Node: "pbx1", Name: "old-1"}, Duration: 30 * time.Second}))
	waitUntil(t, "the earlier run's event to read the database", func() bool { return hs.reads() == 1 })
	svc.Observe(bridgedCall("c1", "support", "pbx1"))
	waitUntil(t, "the call bridged behind it to be recorded", func() bool { return len(rec.names()) == 1 })
	name := rec.names()[0]
	svc.Observe(pbxEvent(adapters.RecordingStarted{Base: adapters.Base{At: t0.Add(time.Second)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: name}}))
	svc.Observe(pbxEvent(adapters.RecordingFinished{Base: adapters.Base{At: t0.Add(11 * time.Second)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: name}, Duration: 10 * time.Second}))
	flush(t, j)
	waitUntil(t, "c1's recording settled behind the hanging read", func() bool {
		recs, err := st.RecordingsOfCall(context.Background(), "c1")
		return err == nil && len(recs) == 1 && recs[0].Status == storage.RecordingFinished && recs[0].DurationMS == 10000
	})
	if svc.Idle() {
		t.Fatal("idle while the earlier run's event waits for the database")
	}

	close(hs.release) // the read fails: the event is journalled by name
	waitUntil(t, "the service idle", svc.Idle)
	flush(t, j)
	r, err := st.Recording(context.Background(), "rec-old")
	if err != nil || r.Status != storage.RecordingFinished || r.DurationMS != 30000 || r.EndedAt == nil || !r.EndedAt.Equal(t0) {
		t.Fatalf("earlier run's finish lost: %+v %v", r, err)
	}
}
