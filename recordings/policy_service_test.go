package recordings

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/storage"
)

// recorder is a PBX that accepts every recording command and remembers
// them, in order; playFails makes Play fail, silentPlay makes a playback
// that never reports its end. It stands in for the PBX where a test is
// about the policy, not about a PBX (the wire tests run the real adapters).
type recorder struct {
	mu         sync.Mutex
	log        []string
	playFails  bool
	silentPlay bool
	n          int
}

func (r *recorder) note(s string) { r.mu.Lock(); r.log = append(r.log, s); r.mu.Unlock() }

func (r *recorder) commands() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

func (r *recorder) Play(_ context.Context, leg adapters.LegRef, media ...adapters.Media) (string, error) {
	if r.playFails {
		return "", errors.New("no such sound")
	}
	r.mu.Lock()
	r.n++
	id := fmt.Sprintf("pb-%d", r.n)
	r.mu.Unlock()
	r.note("play " + leg.ID + " " + media[0].Value + " " + id)
	return id, nil
}

func (r *recorder) Record(_ context.Context, req adapters.RecordRequest) (adapters.RecordingRef, error) {
	r.note("record " + req.Bridge.ID + " " + req.Name)
	return adapters.RecordingRef{Node: req.Bridge.Node, Name: req.Name}, nil
}

func (r *recorder) StopRecording(_ context.Context, rec adapters.RecordingRef) error {
	r.note("stop " + rec.Name)
	return nil
}

func (r *recorder) PauseRecording(_ context.Context, rec adapters.RecordingRef) error {
	r.note("pause " + rec.Name)
	return nil
}

func (r *recorder) ResumeRecording(_ context.Context, rec adapters.RecordingRef) error {
	r.note("resume " + rec.Name)
	return nil
}

func bridgedCall(id, queue, node string) controller.CallEvent {
	return controller.CallEvent{Kind: controller.EventBridged, At: t0, CallID: id, Queue: queue, AgentID: "1001", CallerNumber: "+4930555",
		DialedNumber: "1000", Node: node, Caller: adapters.LegRef{Node: node, ID: "leg-" + id}, AgentLeg: adapters.LegRef{Node: node, ID: "agent-" + id},
		Bridge: adapters.BridgeRef{Node: node, ID: "br-" + id}}
}

// pbxEvent wraps a PBX event of node pbx1 as the controller hands it on.
func pbxEvent(e adapters.Event) controller.CallEvent {
	return controller.CallEvent{Kind: controller.EventPBX, Node: "pbx1", PBXEvent: e}
}

// newService is New for tests: the quiet logger unless d names one, and
// the test fails on an error.
func newService(t *testing.T, cfg Config, d Deps) *Service {
	t.Helper()
	if d.Log == nil {
		d.Log = quiet
	}
	svc, err := New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// runService works the service's lanes until the test ends.
func runService(t *testing.T, svc *Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func recorderService(t *testing.T, cfg Config, pbx Recorder, now func() time.Time) (*Service, *storage.Store) {
	t.Helper()
	st := openStore(t)
	svc := newService(t, cfg, Deps{PBX: pbx, Store: st, Journal: testJournal(t, st), Now: now})
	return svc, st
}

func observe(svc *Service, evs ...controller.CallEvent) {
	for _, ev := range evs {
		svc.Observe(ev)
	}
	svc.Drain(context.Background())
}

// A sampled queue records the configured share of many bridged calls:
// exactly the calls Sampled picks (so a restart or a second instance
// agrees), within four standard deviations of the share; every sampled
// row says why it was recorded; other queues follow their own policy.
func TestSampledPolicyOverManyCalls(t *testing.T) {
	const n = 2000
	cfg := Config{SampleSeed: "2026-q4", Queues: map[string]Policy{"support": {Mode: ModeSampled, Percent: 25}, "billing": {Mode: ModeNever}}}
	rec := &recorder{}
	svc, st := recorderService(t, cfg, rec, func() time.Time { return t0 })
	want := 0
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("asterisk-1732300000.%d", i)
		if Sampled(cfg.SampleSeed, id, 25) {
			want++
		}
		observe(svc, bridgedCall(id, "support", "pbx1"), bridgedCall("b-"+id, "billing", "pbx1"))
	}
	all, _, err := st.SearchRecordings(context.Background(), storage.RecordingFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, r := range all {
		if r.Queue != "support" || r.Reason != "sampled" || !Sampled(cfg.SampleSeed, r.CallID, 25) {
			t.Fatalf("recorded %+v", r)
		}
		got++
	}
	sd := math.Sqrt(n * 0.25 * 0.75)
	if got != want || math.Abs(float64(got)-n*0.25) > 4*sd {
		t.Fatalf("%d of %d calls recorded, want exactly the %d sampled, near %d ± %.0f", got, n, want, n/4, 4*sd)
	}
	if records := strings.Count(strings.Join(rec.commands(), "\n"), "record "); records != got {
		t.Fatalf("%d record commands for %d rows", records, got)
	}
}

// The queue's announcement plays to the caller first; the recording starts
// only when the PBX reports the playback finished, and the PBX is asked to
// record after (never before) the announcement.
func TestAnnouncementBeforeRecording(t *testing.T) {
	cfg := Config{Queues: map[string]Policy{"support": {Mode: ModeAlways, Announce: "this-call-is-recorded"}}}
	r := newRig(t, cfg, []sim.AgentGroup{{Prefix: "ag", Count: 1, Queues: map[string]int{"support": 1}, HandleTime: time.Hour, AgentHangsUp: 1}})
	r.login("ag-001")
	r.sim.InjectCall("1000", "+4930555", nil, 0)
	r.settle()
	// Bridged now; the announcement (one second of sim time) is playing:
	// the decision is stored (pending), nothing is recording yet.
	if recs := r.recordings(storage.RecordingFilter{}); len(recs) != 1 || recs[0].Status != storage.RecordingPending {
		t.Fatalf("recording before the announcement ended: %+v", recs)
	}
	r.advance(2 * time.Second)
	recs := r.recordings(storage.RecordingFilter{})
	if len(recs) != 1 || recs[0].Status != storage.RecordingActive || recs[0].Reason != "always" {
		t.Fatalf("after the announcement: %+v", recs)
	}
	// The recording began after the announcement's second, not at bridge time.
	var bridged time.Time
	for _, c := range r.ctl.Snapshot().Calls {
		if c.CallerNumber == "+4930555" {
			bridged = c.AnsweredAt
		}
	}
	if !bridged.IsZero() && recs[0].StartedAt.Sub(bridged) < time.Second {
		t.Fatalf("recording started %v after the bridge, before the announcement ended", recs[0].StartedAt.Sub(bridged))
	}
}

// Announcement edge cases, on a PBX that only records commands: a failed
// announcement records nothing and leaves a failed row saying why; one
// whose end never comes is given up after the announce timeout and the
// recording starts anyway; an on-demand start waits for it too.
func TestAnnouncementFailsOrNeverEnds(t *testing.T) {
	now := t0
	clockNow := func() time.Time { return now }
	cfg := Config{Queues: map[string]Policy{"support": {Mode: ModeAlways, Announce: "this-call-is-recorded"}, "sales": {Mode: ModeOnDemand, Announce: "this-call-is-recorded"}}}

	failing := &recorder{playFails: true}
	svc, st := recorderService(t, cfg, failing, clockNow)
	observe(svc, bridgedCall("c1", "support", "pbx1"))
	recs, _, _ := st.SearchRecordings(context.Background(), storage.RecordingFilter{})
	if len(recs) != 1 || recs[0].Status != storage.RecordingFailed || !strings.Contains(recs[0].Error, "announcement failed") {
		t.Fatalf("failed announcement: %+v", recs)
	}
	if cmds := failing.commands(); len(cmds) != 0 {
		t.Fatalf("recorded without the announcement: %v", cmds)
	}

	silent := &recorder{}
	svc, st = recorderService(t, cfg, silent, clockNow)
	observe(svc, bridgedCall("c2", "support", "pbx1"))
	// A supervisor's start while the policy's announcement plays: the call
	// is recorded once, when it ends.
	if id, err := svc.Start(context.Background(), "c2", "sup-1"); err != nil || id != "" {
		t.Fatalf("start during the announcement: %q %v", id, err)
	}
	observe(svc, bridgedCall("c3", "sales", "pbx1"))
	if id, err := svc.Start(context.Background(), "c3", "1001"); err != nil || id != "" {
		t.Fatalf("on-demand start with an announcement: %q %v (want pending)", id, err)
	}
	now = now.Add(29 * time.Second)
	svc.expireAnnouncements(context.Background())
	if recs, _, _ := st.SearchRecordings(context.Background(), storage.RecordingFilter{Status: storage.RecordingActive}); len(recs) != 0 {
		t.Fatalf("gave up on the announcement before its timeout: %+v", recs)
	}
	now = now.Add(2 * time.Second)
	svc.expireAnnouncements(context.Background())
	recs, _, _ = st.SearchRecordings(context.Background(), storage.RecordingFilter{})
	if len(recs) != 2 || recs[0].Status != storage.RecordingActive || recs[1].Status != storage.RecordingActive {
		t.Fatalf("after the announce timeout: %+v", recs)
	}
	cmds := strings.Join(silent.commands(), "\n")
	if strings.Count(cmds, "play leg-c2") != 1 || strings.Count(cmds, "record br-c2") != 1 {
		t.Fatalf("c2 announced or recorded twice:\n%s", cmds)
	}
	for _, c := range []string{"c2", "c3"} {
		p, r := strings.Index(cmds, "play leg-"+c), strings.Index(cmds, "record br-"+c)
		if p < 0 || r < 0 || r < p {
			t.Fatalf("%s: play at %d, record at %d:\n%s", c, p, r, cmds)
		}
	}
	for _, rec := range recs {
		if rec.CallID == "c3" && (rec.Reason != "on-demand" || rec.StartedBy != "1001") {
			t.Fatalf("on-demand after announcement: %+v", rec)
		}
	}
}

// Each PBX node names files with its own template (the "*" entry for the
// others) and keeps them under its own root; the URI comes from the node's
// prefix; the retention date is the policy's days after the start.
func TestPerNodeNamingRootAndRetention(t *testing.T) {
	root1 := t.TempDir()
	cfg := Config{Queues: map[string]Policy{"support": {Mode: ModeAlways, RetentionDays: 90}},
		Nodes: map[string]NodeConfig{
			"pbx1": {Template: "{node}_{queue}-{call_id}", Root: root1, URIPrefix: "https://rec1.example/"},
			"*":    {Template: "{year}{month}{day}-{agent}-{recording_id}"},
		}}
	svc, st := recorderService(t, cfg, &recorder{}, func() time.Time { return t0 })
	observe(svc, bridgedCall("c1", "support", "pbx1"), bridgedCall("c2", "support", "pbx2"))
	ctx := context.Background()
	byCall := map[string]storage.Recording{}
	recs, _, _ := st.SearchRecordings(ctx, storage.RecordingFilter{})
	for _, r := range recs {
		byCall[r.CallID] = r
	}
	r1, r2 := byCall["c1"], byCall["c2"]
	if r1.PBXName != "pbx1_support-c1" {
		t.Fatalf("pbx1 name %q", r1.PBXName)
	}
	if want := "20261123-1001-" + r2.ID; r2.PBXName != want {
		t.Fatalf("pbx2 name %q, want %q", r2.PBXName, want)
	}
	for _, r := range []storage.Recording{r1, r2} {
		if r.RetentionUntil == nil || !r.RetentionUntil.Equal(t0.AddDate(0, 0, 90)) {
			t.Fatalf("retention %v", r.RetentionUntil)
		}
	}
	if got := svc.LocalPath(&r1); got != root1+"/pbx1_support-c1" {
		t.Fatalf("local path %q", got)
	}
	if got := svc.LocalPath(&r2); got != "" {
		t.Fatalf("pbx2 has no root, local path %q", got)
	}
	// The finish event: the file under pbx1's root gives size and checksum;
	// pbx2's file is not reachable and they stay unknown.
	body := []byte("RIFF not really audio")
	if err := writeFile(root1+"/pbx1_support-c1.wav", body); err != nil {
		t.Fatal(err)
	}
	feed(svc, "pbx1", adapters.RecordingFinished{Base: adapters.Base{At: t0.Add(time.Minute)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: r1.PBXName},
		Format: "wav", Duration: 59 * time.Second})
	feed(svc, "pbx2", adapters.RecordingFinished{Base: adapters.Base{At: t0.Add(time.Minute)}, Recording: adapters.RecordingRef{Node: "pbx2", Name: r2.PBXName},
		Format: "wav", Duration: 59 * time.Second})
	g1, _ := st.Recording(ctx, r1.ID)
	g2, _ := st.Recording(ctx, r2.ID)
	if g1.SizeBytes == nil || *g1.SizeBytes != int64(len(body)) || !strings.HasPrefix(g1.Checksum, "sha256:") || g1.URI != "https://rec1.example/pbx1_support-c1.wav" || g1.DurationMS != 59000 {
		t.Fatalf("pbx1 facts %+v", g1)
	}
	if g2.SizeBytes != nil || g2.Checksum != "" || g2.URI != "" || g2.Status != storage.RecordingFinished {
		t.Fatalf("pbx2 facts %+v", g2)
	}
}

func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }

// A call recorded again within the same second (stopped, then started on
// demand) gets a name of its own: the PBX would refuse or overwrite a name
// in use, and its events would match the wrong row.
func TestRecordedAgainGetsItsOwnName(t *testing.T) {
	cfg := Config{Queues: map[string]Policy{"sales": {Mode: ModeOnDemand}}}
	rec := &recorder{}
	svc, st := recorderService(t, cfg, rec, func() time.Time { return t0 })
	ctx := context.Background()
	observe(svc, bridgedCall("c1", "sales", "pbx1"))
	first, err := svc.Start(ctx, "c1", "1001")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Stop(ctx, first, "1001"); err != nil {
		t.Fatal(err)
	}
	r1, _ := st.Recording(ctx, first)
	// Before the finish event arrives the agent starts it again.
	if _, err := svc.Start(ctx, "c1", "1001"); !errors.Is(err, ErrAlreadyRecording) {
		t.Fatalf("second start while the first runs: %v", err)
	}
	feed(svc, "pbx1", adapters.RecordingFinished{Base: adapters.Base{At: t0}, Recording: adapters.RecordingRef{Node: "pbx1", Name: r1.PBXName}})
	second, err := svc.Start(ctx, "c1", "1001")
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := st.Recording(ctx, second)
	if r2.PBXName == r1.PBXName || !strings.HasPrefix(r2.PBXName, r1.PBXName) {
		t.Fatalf("names %q and %q", r1.PBXName, r2.PBXName)
	}
	feed(svc, "pbx1", adapters.RecordingFinished{Base: adapters.Base{At: t0.Add(time.Second)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: r2.PBXName}, Duration: time.Second})
	if g1, _ := st.Recording(ctx, first); g1.Status != storage.RecordingFinished || g1.DurationMS != 0 {
		t.Fatalf("first %+v", g1)
	}
	if g2, _ := st.Recording(ctx, second); g2.Status != storage.RecordingFinished || g2.DurationMS != 1000 {
		t.Fatalf("second %+v", g2)
	}
}

// A pending announcement survives a restart of switchboard (a new service
// on the same database) and of the PBX link: at the reconnect the pending
// row is taken up — recorded when the caller's playback ends, or at the
// announce timeout counted from the decision — and a pending row whose
// call is gone is failed saying why; nothing is left pending.
func TestPendingAnnouncementSurvivesRestart(t *testing.T) {
	now := t0
	clockNow := func() time.Time { return now }
	cfg := Config{Queues: map[string]Policy{"support": {Mode: ModeAlways, Announce: "this-call-is-recorded", RetentionDays: 30}}}
	before := &recorder{silentPlay: true}
	svc, st := recorderService(t, cfg, before, clockNow)
	observe(svc, bridgedCall("c1", "support", "pbx1"), bridgedCall("c2", "support", "pbx1"), bridgedCall("c3", "support", "pbx1"))
	ctx := context.Background()
	pending, err := st.PendingRecordings(ctx, "pbx1")
	if err != nil || len(pending) != 3 {
		t.Fatalf("pending decisions stored: %+v %v", pending, err)
	}
	// switchboard restarts while the announcements play: a new service on
	// the same database and a fresh PBX link.
	after := &recorder{}
	svc2 := newService(t, cfg, Deps{PBX: after, Store: st, Journal: testJournal(t, st), Now: clockNow})
	now = now.Add(5 * time.Second)
	// c1 and c2 are still up, c3 hung up meanwhile.
	feed(svc2, "pbx1", adapters.Reconciled{Base: adapters.Base{At: now}, Node: "pbx1", Legs: []adapters.LegInfo{
		{Ref: adapters.LegRef{Node: "pbx1", ID: "leg-c1"}}, {Ref: adapters.LegRef{Node: "pbx1", ID: "agent-c1"}},
		{Ref: adapters.LegRef{Node: "pbx1", ID: "leg-c2"}}, {Ref: adapters.LegRef{Node: "pbx1", ID: "agent-c2"}}}})
	byCall := func() map[string]storage.Recording {
		recs, _, err := st.SearchRecordings(ctx, storage.RecordingFilter{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]storage.Recording{}
		for _, r := range recs {
			out[r.CallID] = r
		}
		return out
	}
	got := byCall()
	if got["c3"].Status != storage.RecordingFailed || !strings.Contains(got["c3"].Error, "call ended before the announcement") {
		t.Fatalf("c3 (call gone): %+v", got["c3"])
	}
	if got["c1"].Status != storage.RecordingPending || got["c2"].Status != storage.RecordingPending || len(after.commands()) != 0 {
		t.Fatalf("recorded before the announcements ended: %+v %v", got, after.commands())
	}
	// c1's announcement ends (the PBX reports its caller's playback).
	now = now.Add(time.Second)
	feed(svc2, "pbx1", adapters.PlaybackFinished{Base: adapters.Base{Ref: adapters.LegRef{Node: "pbx1", ID: "leg-c1"}, At: now}, PlaybackID: "pb-1"})
	got = byCall()
	if got["c1"].Status != storage.RecordingActive || !got["c1"].StartedAt.Equal(now) || got["c1"].RetentionUntil == nil ||
		!got["c1"].RetentionUntil.Equal(now.AddDate(0, 0, 30)) || got["c2"].Status != storage.RecordingPending {
		t.Fatalf("after c1's announcement: %+v", got)
	}
	// c2's end never comes: recorded at the timeout counted from the
	// decision (t0 + 30 s), not from the restart.
	now = t0.Add(29 * time.Second)
	svc2.expireAnnouncements(ctx)
	if byCall()["c2"].Status != storage.RecordingPending {
		t.Fatal("c2 recorded before its announce timeout")
	}
	now = t0.Add(31 * time.Second)
	svc2.expireAnnouncements(ctx)
	got = byCall()
	if got["c2"].Status != storage.RecordingActive {
		t.Fatalf("c2 after the announce timeout: %+v", got["c2"])
	}
	cmds := strings.Join(after.commands(), "\n")
	for _, c := range []string{"c1", "c2"} {
		if strings.Count(cmds, "record br-"+c+" "+got[c].PBXName) != 1 {
			t.Fatalf("%s not recorded once under its stored name:\n%s", c, cmds)
		}
	}
	// A second reconnect takes up nothing again, and the restored call's
	// end stops its recording.
	feed(svc2, "pbx1", adapters.Reconciled{Base: adapters.Base{At: now}, Node: "pbx1", Legs: []adapters.LegInfo{{Ref: adapters.LegRef{Node: "pbx1", ID: "leg-c1"}}, {Ref: adapters.LegRef{Node: "pbx1", ID: "leg-c2"}}}})
	observe(svc2, controller.CallEvent{Kind: controller.EventEnded, CallID: "c1", Node: "pbx1"})
	if cmds := strings.Join(after.commands(), "\n"); strings.Count(cmds, "record ") != 2 || !strings.Contains(cmds, "stop "+got["c1"].PBXName) {
		t.Fatalf("after a second reconnect and c1's end:\n%s", cmds)
	}
	if p, _ := st.PendingRecordings(ctx, ""); len(p) != 0 {
		t.Fatalf("left pending: %+v", p)
	}
}
