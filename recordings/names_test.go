package recordings

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/storage"
)

// hangNames is a database whose recordings-of-a-call read (the duplicate
// name check) hangs until released, then answers; every other read goes
// through.
type hangNames struct {
	Store
	release chan struct{}
	mu      sync.Mutex
	calls   []string
}

func (h *hangNames) RecordingsOfCall(ctx context.Context, callID string) ([]storage.Recording, error) {
	h.mu.Lock()
	h.calls = append(h.calls, callID)
	h.mu.Unlock()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-h.release:
		return h.Store.RecordingsOfCall(ctx, callID)
	}
}

func (h *hangNames) asked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

// A bridge never waits for the database's name check: with that read
// hanging (the command timeout is an hour) a new call is recorded at
// once, and recorded again in the same second under a name of its own —
// both answered from the service's memory of the call, with no read. A
// call that was up before the PBX (re)connect (an earlier run may have
// recorded it) waits for the read on the database lane, holding no one,
// and once the database answers takes the suffix its earlier recording's
// name calls for.
func TestBridgeNameCheckDoesNotWaitForDatabase(t *testing.T) {
	st := openStore(t)
	j, _ := runJournal(t, st, filepath.Join(t.TempDir(), "journal"))
	hs := &hangNames{Store: st, release: make(chan struct{})}
	rec := &recorder{}
	cfg := Config{Queues: map[string]Policy{"support": {Mode: ModeAlways}}}
	svc := newService(t, cfg, Deps{PBX: rec, Store: hs, Journal: j, Now: func() time.Time { return t0 }, CommandTimeout: time.Hour})
	runService(t, svc)

	// An earlier run recorded c-old this very second; the PBX's listing
	// at the reconnect has its caller up.
	old := bridgedCall("c-old", "support", "pbx1")
	oldName := svc.newRow(old, "always", "policy").PBXName
	end := t0.Add(time.Second)
	if err := st.CreateRecording(context.Background(), &storage.Recording{ID: "rec-earlier", CallID: "c-old", Node: "pbx1", PBXName: oldName,
		Queue: "support", Status: storage.RecordingFinished, StartedAt: t0, EndedAt: &end}); err != nil {
		t.Fatal(err)
	}
	svc.Observe(pbxEvent(adapters.Reconciled{Base: adapters.Base{At: t0}, Node: "pbx1", Legs: []adapters.LegInfo{{Ref: old.Caller}}}))
	svc.Observe(old)
	waitUntil(t, "the earlier call's name check to read the database", func() bool { return len(hs.asked()) == 1 })

	svc.Observe(bridgedCall("c1", "support", "pbx1"))
	waitUntil(t, "the new call recorded while the read hangs", func() bool { return len(rec.names()) == 1 })
	first := rec.names()[0]
	svc.Observe(pbxEvent(adapters.RecordingFinished{Base: adapters.Base{At: t0}, Recording: adapters.RecordingRef{Node: "pbx1", Name: first}}))
	waitUntil(t, "the finish handled", func() bool { return svc.RecordingOfAgent("1001") == "" })
	if _, err := svc.Start(context.Background(), "c1", "sup-1"); err != nil {
		t.Fatal(err)
	}
	names := rec.names()
	if len(names) != 2 || names[1] == first || !strings.HasPrefix(names[1], first+"-") {
		t.Fatalf("recorded again in the same second: %q (first %q)", names, first)
	}
	if got := hs.asked(); len(got) != 1 || got[0] != "c-old" {
		t.Fatalf("database asked for names of %q; only the call up before the reconnect needs it", got)
	}

	close(hs.release)
	waitUntil(t, "the earlier call recorded", func() bool { return len(rec.names()) == 3 })
	if n := rec.names()[2]; n == oldName || !strings.HasPrefix(n, oldName+"-") {
		t.Fatalf("earlier call's new recording %q repeats the earlier run's name %q", n, oldName)
	}
}
