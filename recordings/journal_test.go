package recordings

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
)

// runJournal opens the real journal on dir over st and runs it until the
// test ends (or stop is called: a switchboard stop).
func runJournal(t *testing.T, st *storage.Store, dir string) (j *storage.Journal, stop func()) {
	t.Helper()
	j, err := storage.NewJournal(st, storage.JournalOptions{Dir: dir, FlushInterval: time.Millisecond, HealthInterval: 50 * time.Millisecond}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); j.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return j, stop
}

// flushing is the real journal, waited on after every write: for tests
// about policy and PBX events (database up throughout) that read the rows
// right after the service handled an event. Outage tests use the journal
// itself.
type flushing struct{ j *storage.Journal }

func (f flushing) Append(rec storage.Record) {
	f.j.Append(rec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.j.Flush(ctx); err != nil {
		panic("test journal: " + err.Error())
	}
}

func (f flushing) Flush(ctx context.Context) error { return f.j.Flush(ctx) }

// testJournal is a flushing journal over st in a fresh directory.
func testJournal(t *testing.T, st *storage.Store) Journal {
	t.Helper()
	j, _ := runJournal(t, st, filepath.Join(t.TempDir(), "journal"))
	return flushing{j}
}
