package recordings

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/esl"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
	"github.com/switchboard-cc/switchboard/storage"
)

// A recorded call through the FreeSWITCH adapter (eslgo) and the fake
// FreeSWITCH: uuid_record on the bridge, RECORD_START / RECORD_STOP keyed
// by file path, a pause that masks the audio on the PBX, and metadata with
// the agent, queue, node, file and the PBX's record_ms.
func TestESLRecordedCall(t *testing.T) {
	fs, err := esltest.New(esltest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Close)
	fs.Endpoint("user/1001", esltest.Behavior{})
	ad, err := esl.New(esl.Config{Node: "fs1", Addr: fs.Addr(), CommandTimeout: 2 * time.Second, HealthInterval: time.Hour,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond, RecordingDir: "/rec"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	r := startWire(t, Config{Queues: map[string]Policy{"support": {Mode: ModeAlways}}}, ad, "user/1001")
	caller := fs.InboundCall(esltest.Call{CallerNumber: "+3312345", Dialed: "1000", Vars: map[string]string{"switchboard": "true"}})
	r.waitFor("recording started", func() bool { rec := r.only(storage.RecordingActive); return rec != nil && rec.Path != "" })
	rec := r.only(storage.RecordingActive)
	if !strings.HasPrefix(rec.PBXName, "/rec/") || rec.Path != rec.PBXName {
		t.Fatalf("FreeSWITCH names the recording by its path: %+v", rec)
	}
	ctx := context.Background()
	if _, err := r.svc.Pause(ctx, rec.ID, "1001", "card details"); err != nil {
		t.Fatal(err)
	}
	masked := func() bool {
		for _, ch := range fs.Channels() {
			if slices.Contains(ch.Masked, rec.Path) {
				return true
			}
		}
		return false
	}
	r.waitFor("mask on the PBX", masked)
	if _, err := r.svc.Resume(ctx, rec.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("unmask on the PBX", func() bool { return !masked() })
	// Some audio, then the supervisor stops the recording while the call
	// goes on: FreeSWITCH's own record_ms is on the channel to compare with.
	time.Sleep(50 * time.Millisecond)
	if err := r.svc.Stop(ctx, rec.ID, "sup-1"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("recording finished", func() bool { return r.only(storage.RecordingFinished) != nil })
	var pbxMS string
	for _, ch := range fs.Channels() {
		if v := ch.Vars["record_ms"]; v != "" {
			pbxMS = v
		}
	}
	if err := fs.Hangup(caller, "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	got, err := r.store.Recording(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	span := got.EndedAt.Sub(got.StartedAt)
	if got.AgentID != "1001" || got.Queue != "support" || got.Node != "fs1" || got.CallerNumber != "+3312345" || got.Format != "wav" || got.Note != "" {
		t.Fatalf("metadata %+v (span %v)", got, span)
	}
	if pbxMS == "" || strconv.FormatInt(got.DurationMS, 10) != pbxMS {
		t.Fatalf("duration %d ms, want FreeSWITCH's record_ms %q (event span %v)", got.DurationMS, pbxMS, span)
	}
	if len(got.Pauses) != 1 || got.Pauses[0].PausedBy != "1001" || got.Pauses[0].Reason != "card details" || got.Pauses[0].ResumedAt == nil {
		t.Fatalf("pause spans %+v", got.Pauses)
	}
}

// A call recorded twice within one second through FreeSWITCH: the second
// recording gets a file of its own. FreeSWITCH names a recording by its
// path, which is what the row keeps, so the name check must compare the
// stem (it compared the rendered name with the stored path, never matched,
// and the second uuid_record overwrote the first file).
func TestESLRecordedAgainSameSecond(t *testing.T) {
	fs, err := esltest.New(esltest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Close)
	fs.Endpoint("user/1001", esltest.Behavior{})
	ad, err := esl.New(esl.Config{Node: "fs1", Addr: fs.Addr(), CommandTimeout: 2 * time.Second, HealthInterval: time.Hour,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond, RecordingDir: "/rec"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	// The service's clock stands still: every name is rendered in one second.
	r := startWire(t, Config{Queues: map[string]Policy{"support": {Mode: ModeAlways}}}, ad, "user/1001", func() time.Time { return t0 })
	caller := fs.InboundCall(esltest.Call{CallerNumber: "+3312345", Dialed: "1000", Vars: map[string]string{"switchboard": "true"}})
	r.waitFor("recording started", func() bool { rec := r.only(storage.RecordingActive); return rec != nil && rec.Path != "" })
	first := r.only(storage.RecordingActive)
	ctx := context.Background()
	if err := r.svc.Stop(ctx, first.ID, "sup-1"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("first recording finished", func() bool { return r.only(storage.RecordingFinished) != nil })
	secondID, err := r.svc.Start(ctx, first.CallID, "sup-1")
	if err != nil {
		t.Fatal(err)
	}
	r.waitFor("second recording started", func() bool { rec := r.only(storage.RecordingActive); return rec != nil && rec.Path != "" })
	second := r.only(storage.RecordingActive)
	if second.ID != secondID || second.Path == first.Path || second.PBXName == first.PBXName {
		t.Fatalf("second recording shares the first one's file:\nfirst  %s %s\nsecond %s %s", first.ID, first.Path, second.ID, second.Path)
	}
	if err := fs.Hangup(caller, "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("both finished", func() bool {
		recs, _, _ := r.store.SearchRecordings(ctx, storage.RecordingFilter{Status: storage.RecordingFinished})
		return len(recs) == 2
	})
	if got, _ := r.store.Recording(ctx, first.ID); got.Path != first.Path {
		t.Fatalf("first recording's file changed to %s (was %s)", got.Path, first.Path)
	}
}
