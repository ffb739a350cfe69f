package recordings

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/storage"
)

// A RecordingFailed that comes after the recording finished — late, or
// from a PBX that reports both — leaves it finished: for this process's
// own recording (the failure then finds no copy in memory and reads the
// row), for an earlier run's recording read from the database, and for
// one journalled by name because the database could not be read (the
// condition goes with the write). It overwrote the finish with failed.
func TestLateFailureAfterFinishKeepsFinished(t *testing.T) {
	for _, tc := range []struct {
		name    string
		thisRun bool // recorded by this process, else seeded as an earlier run's
		dbAway  bool // the service's reads fail at once
	}{
		{"this run", true, false},
		{"earlier run", false, false},
		{"earlier run, database not answering", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			j, _ := runJournal(t, st, filepath.Join(t.TempDir(), "journal"))
			var svcStore Store = st
			if tc.dbAway {
				hs := &hangStore{Store: st, release: make(chan struct{})}
				close(hs.release) // every read fails at once
				svcStore = hs
			}
			rec := &recorder{}
			cfg := Config{Queues: map[string]Policy{"support": {Mode: ModeAlways}}}
			svc := newService(t, cfg, Deps{PBX: rec, Store: svcStore, Journal: j, Now: func() time.Time { return t0 }, CommandTimeout: time.Second})
			name, id := "old-1", "rec-old"
			if tc.thisRun {
				observe(svc, bridgedCall("c1", "support", "pbx1"))
				id = svc.RecordingOfAgent("1001")
				name = rec.names()[0]
				observe(svc, pbxEvent(adapters.RecordingFinished{Base: adapters.Base{At: t0.Add(30 * time.Second)},
					Recording: adapters.RecordingRef{Node: "pbx1", Name: name}, Duration: 30 * time.Second}))
				flush(t, j)
			} else {
				end := t0.Add(30 * time.Second)
				r := &storage.Recording{ID: id, CallID: "c-old", Node: "pbx1", PBXName: name, Queue: "support", Status: storage.RecordingFinished,
					StartedAt: t0, EndedAt: &end, DurationMS: 30000, Format: "wav"}
				if err := st.CreateRecording(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
			observe(svc, pbxEvent(adapters.RecordingFailed{Base: adapters.Base{At: t0.Add(31 * time.Second)},
				Recording: adapters.RecordingRef{Node: "pbx1", Name: name}, Cause: "late"}))
			flush(t, j)
			got, err := st.Recording(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != storage.RecordingFinished || got.Error != "" || got.DurationMS != 30000 || !got.EndedAt.Equal(t0.Add(30*time.Second)) {
				t.Fatalf("finished recording changed by a late failure: %+v", got)
			}
		})
	}
}
