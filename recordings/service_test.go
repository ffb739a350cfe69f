package recordings

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

var quiet = slog.New(slog.DiscardHandler)

const rules = `
queues:
  - name: support
  - name: billing
  - name: sales
entry:
  - {when: 'dialed == "1000"', queue: support}
  - {when: 'dialed == "2000"', queue: billing}
  - {when: 'dialed == "3000"', queue: sales}
default_queue: support
`

func openStore(t *testing.T) *storage.Store {
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "sb.db"), storage.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// rig runs the simulated PBX, the real controller and the recordings
// service over a real SQLite store, on a manual clock.
type rig struct {
	t     *testing.T
	clk   *clock.Manual
	sim   *sim.PBX
	ctl   *controller.Controller
	svc   *Service
	store *storage.Store
}

func newRig(t *testing.T, cfg Config, groups []sim.AgentGroup) *rig {
	t.Helper()
	clk := clock.NewManual(t0)
	p, err := sim.New(sim.Config{Seed: 7, AgentGroups: groups}, clk, quiet)
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	svc := newService(t, cfg, Deps{PBX: p, Store: st, Journal: testJournal(t, st), Now: clk.Now})
	rc, err := routing.ParseRules("rules.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := routing.NewEngineChecked(rc)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range (sim.Config{AgentGroups: groups}).Agents() {
		eng.UpsertAgent(a, t0)
	}
	ctl, err := controller.New(controller.Config{}, controller.Deps{PBX: p, Engine: eng, Clock: clk, Log: quiet, Observers: []controller.Observer{svc}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); p.Run(ctx) }()
	go func() { defer wg.Done(); ctl.Run(ctx) }()
	go func() { defer wg.Done(); svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	r := &rig{t: t, clk: clk, sim: p, ctl: ctl, svc: svc, store: st}
	r.settle()
	return r
}

func (r *rig) settle() {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	calm := 0
	for calm < 3 {
		if time.Now().After(deadline) {
			r.t.Fatal("did not settle")
		}
		if r.sim.Idle() && r.ctl.Idle() && r.svc.Idle() {
			calm++
		} else {
			calm = 0
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// advance moves simulated time, stopping at every moment something is due.
func (r *rig) advance(d time.Duration) {
	r.t.Helper()
	end := r.clk.Now().Add(d)
	for r.clk.Now().Before(end) {
		now := r.clk.Now()
		next := end
		if at, ok := r.sim.NextEvent(); ok && at.Before(next) {
			next = at
		}
		if at, ok := r.ctl.NextDeadline(); ok && at.Before(next) {
			next = at
		}
		if !next.After(now) {
			next = now.Add(time.Millisecond)
		}
		r.clk.Advance(next.Sub(now))
		r.settle()
	}
}

func (r *rig) login(ids ...string) {
	for _, id := range ids {
		if err := r.ctl.AgentLogin(context.Background(), id); err != nil {
			r.t.Fatal(err)
		}
		r.settle()
	}
}

func (r *rig) recordings(f storage.RecordingFilter) []storage.Recording {
	r.t.Helper()
	f.Limit = 1000
	out, _, err := r.store.SearchRecordings(context.Background(), f)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// A call through the simulated PBX is recorded per the queue's policy and
// its metadata is right: agent, queue, caller, legs, and the duration the
// PBX reported.
func TestRecordedCallThroughSim(t *testing.T) {
	cfg := Config{Queues: map[string]Policy{"support": {Mode: ModeAlways, RetentionDays: 30}, "billing": {Mode: ModeNever}},
		Nodes: map[string]NodeConfig{"*": {Template: "{queue}-{agent}-{call_id}"}}}
	r := newRig(t, cfg, []sim.AgentGroup{{Prefix: "ag", Count: 1, Queues: map[string]int{"support": 1, "billing": 1}, HandleTime: 90 * time.Second}})
	r.login("ag-001")
	r.sim.InjectCall("1000", "+4930555", nil, 0)
	r.settle()
	r.advance(20 * time.Minute)
	recs := r.recordings(storage.RecordingFilter{})
	if len(recs) != 1 {
		t.Fatalf("recordings %+v", recs)
	}
	rec := recs[0]
	if rec.Status != storage.RecordingFinished || rec.AgentID != "ag-001" || rec.Queue != "support" || rec.CallerNumber != "+4930555" ||
		rec.Node != sim.NodeName || rec.Reason != "always" || rec.Format != "wav" || rec.Path == "" || rec.CallerLeg == "" || rec.AgentLeg == "" || rec.BridgeID == "" {
		t.Fatalf("metadata %+v", rec)
	}
	if rec.EndedAt == nil || rec.DurationMS <= 0 || rec.DurationMS != rec.EndedAt.Sub(rec.StartedAt).Milliseconds() {
		t.Fatalf("duration %d, start %v end %v", rec.DurationMS, rec.StartedAt, rec.EndedAt)
	}
	if rec.RetentionUntil == nil || !rec.RetentionUntil.Equal(rec.CreatedAt.AddDate(0, 0, 30).Truncate(time.Microsecond)) && rec.RetentionUntil.Sub(rec.StartedAt) < 29*24*time.Hour {
		t.Fatalf("retention %v", rec.RetentionUntil)
	}
	want := "support-ag-001-" + rec.CallID
	if rec.PBXName != want {
		t.Fatalf("name %q want %q", rec.PBXName, want)
	}
	// billing is never recorded.
	r.sim.InjectCall("2000", "+4930666", nil, 0)
	r.settle()
	r.advance(20 * time.Minute)
	if n := len(r.recordings(storage.RecordingFilter{})); n != 1 {
		t.Fatalf("never policy recorded: %d recordings", n)
	}
}

// Pause and resume during a live call: the PBX is told, each span is
// stored with who and why, and the paused total is right.
func TestPauseResumeDuringCall(t *testing.T) {
	cfg := Config{Queues: map[string]Policy{"support": {Mode: ModeAlways}}}
	r := newRig(t, cfg, []sim.AgentGroup{{Prefix: "ag", Count: 1, Queues: map[string]int{"support": 1}, HandleTime: time.Hour, AgentHangsUp: 1}})
	r.login("ag-001")
	r.sim.InjectCall("1000", "+1555", nil, 0)
	r.settle()
	r.advance(10 * time.Second)
	recs := r.recordings(storage.RecordingFilter{Status: storage.RecordingActive})
	if len(recs) != 1 {
		t.Fatalf("no running recording: %+v", r.recordings(storage.RecordingFilter{}))
	}
	id := recs[0].ID
	ctx := context.Background()
	if _, err := r.svc.Pause(ctx, id, "ag-001", "card details"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Pause(ctx, id, "sup-1", "again"); !errors.Is(err, storage.ErrRecordingState) {
		t.Fatalf("double pause: %v", err)
	}
	r.advance(40 * time.Second)
	if _, err := r.svc.Resume(ctx, id, "ag-001"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Resume(ctx, id, "ag-001"); !errors.Is(err, storage.ErrRecordingState) {
		t.Fatalf("resume when running: %v", err)
	}
	r.advance(20 * time.Second)
	if _, err := r.svc.Pause(ctx, id, "sup-1", "cvv"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Pause(ctx, id, "", "x"); err == nil {
		t.Fatal("pause without who accepted")
	}
	r.advance(5 * time.Second)
	// Still paused when the recording stops: the span is closed at the end.
	if err := r.svc.Stop(ctx, id, "sup-1"); err != nil {
		t.Fatal(err)
	}
	r.settle()
	got, err := r.store.Recording(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != storage.RecordingFinished || len(got.Pauses) != 2 || got.PausedMS != 45000 {
		t.Fatalf("status %s pauses %+v paused %d", got.Status, got.Pauses, got.PausedMS)
	}
	p0, p1 := got.Pauses[0], got.Pauses[1]
	if p0.PausedBy != "ag-001" || p0.Reason != "card details" || p0.ResumedBy != "ag-001" || p0.ResumedAt.Sub(p0.PausedAt) != 40*time.Second ||
		p1.PausedBy != "sup-1" || p1.Reason != "cvv" || p1.ResumedBy != "system" || p1.ResumedAt.Sub(p1.PausedAt) != 5*time.Second {
		t.Fatalf("spans %+v", got.Pauses)
	}
	if _, err := r.svc.Pause(ctx, id, "x", "y"); !errors.Is(err, storage.ErrRecordingState) {
		t.Fatalf("pause finished: %v", err)
	}
}

// On demand: nothing at bridge time; an agent starts it; never refuses.
func TestOnDemandAndNever(t *testing.T) {
	cfg := Config{Queues: map[string]Policy{"sales": {Mode: ModeOnDemand}, "billing": {Mode: ModeNever}}}
	r := newRig(t, cfg, []sim.AgentGroup{{Prefix: "ag", Count: 2, Queues: map[string]int{"sales": 1, "billing": 1}, HandleTime: time.Hour, AgentHangsUp: 1}})
	r.login("ag-001", "ag-002")
	r.sim.InjectCall("3000", "+1", nil, 0)
	r.sim.InjectCall("2000", "+2", nil, 0)
	r.settle()
	r.advance(10 * time.Second)
	if n := len(r.recordings(storage.RecordingFilter{})); n != 0 {
		t.Fatalf("recorded without demand: %d", n)
	}
	ctx := context.Background()
	callOf := func(caller string) string {
		for _, c := range r.ctl.Snapshot().Calls {
			if c.CallerNumber == caller {
				return c.ID
			}
		}
		t.Fatalf("no call from %v", caller)
		return ""
	}
	sales, billing := "+1", "+2"
	id, err := r.svc.Start(ctx, callOf(sales), "ag-001")
	if err != nil || id == "" {
		t.Fatalf("start: %q %v", id, err)
	}
	if _, err := r.svc.Start(ctx, callOf(sales), "ag-001"); !errors.Is(err, ErrAlreadyRecording) {
		t.Fatalf("second start: %v", err)
	}
	if _, err := r.svc.Start(ctx, callOf(billing), "ag-002"); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("never: %v", err)
	}
	if _, err := r.svc.Start(ctx, "no-such-call", "x"); !errors.Is(err, ErrNoCall) {
		t.Fatalf("unknown call: %v", err)
	}
	r.settle()
	rec, err := r.store.Recording(ctx, id)
	if err != nil || rec.Reason != "on-demand" || rec.StartedBy != "ag-001" || rec.Status != storage.RecordingActive || rec.Queue != "sales" {
		t.Fatalf("%+v %v", rec, err)
	}
}

// feed hands the service a port event the way the controller does.
func feed(svc *Service, node string, ev adapters.Event) {
	svc.Observe(controller.CallEvent{Kind: controller.EventPBX, At: ev.Time(), Node: node, PBXEvent: ev})
	svc.Drain(context.Background())
}

func directService(t *testing.T, cfg Config) (*Service, *storage.Store, *sim.PBX) {
	t.Helper()
	p, err := sim.New(sim.Config{Seed: 1}, clock.NewManual(t0), quiet)
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	svc := newService(t, cfg, Deps{PBX: p, Store: st, Journal: testJournal(t, st), Now: func() time.Time { return t0.Add(time.Hour) }})
	return svc, st, p
}

func seedActive(t *testing.T, st *storage.Store, id, name, callerLeg string, started time.Time) {
	t.Helper()
	r := &storage.Recording{ID: id, CallID: "c-" + id, Node: "pbx1", PBXName: name, CallerLeg: callerLeg, AgentID: "1001", Queue: "support",
		Status: storage.RecordingActive, StartedAt: started, Format: "wav"}
	if err := st.CreateRecording(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// The PBX reports a recording failed: it is marked failed with the cause.
func TestFailedRecordingMarkedFailed(t *testing.T) {
	svc, st, _ := directService(t, Config{})
	seedActive(t, st, "r1", "support-1001-c1", "leg-1", t0)
	feed(svc, "pbx1", adapters.RecordingFailed{Base: adapters.Base{At: t0.Add(3 * time.Second)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: "support-1001-c1"}, Cause: "disk full"})
	got, _ := st.Recording(context.Background(), "r1")
	if got.Status != storage.RecordingFailed || got.Error != "pbx: disk full" || got.EndedAt == nil || !got.EndedAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("%+v", got)
	}
}

// FreeSWITCH names a recording by its path; the event finds the row by
// the name's stem, and the PBX's duration wins over the event span.
func TestFinishByPathUsesPBXDuration(t *testing.T) {
	root := t.TempDir()
	svc, st, _ := directService(t, Config{Nodes: map[string]NodeConfig{"pbx1": {Root: root, URIPrefix: "https://rec.example/"}}})
	seedActive(t, st, "r1", "q-a-c1", "leg-1", t0)
	body := []byte("RIFF....WAVEnot really audio")
	if err := os.WriteFile(filepath.Join(root, "q-a-c1.wav"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	feed(svc, "pbx1", adapters.RecordingFinished{Base: adapters.Base{At: t0.Add(200 * time.Second)},
		Recording: adapters.RecordingRef{Node: "pbx1", Name: "/var/lib/freeswitch/recordings/q-a-c1.wav"}, Path: "/var/lib/freeswitch/recordings/q-a-c1.wav", Format: "wav", Duration: 187500 * time.Millisecond})
	got, _ := st.Recording(context.Background(), "r1")
	if got.Status != storage.RecordingFinished || got.DurationMS != 187500 || got.SizeBytes == nil || *got.SizeBytes != int64(len(body)) ||
		got.Checksum != fmt.Sprintf("sha256:%x", sha256.Sum256(body)) || got.URI != "https://rec.example/q-a-c1.wav" {
		t.Fatalf("%+v", got)
	}
}

// A PBX duration longer than the recording lasted is not believed: the
// event span is kept and the row says why.
func TestImplausiblePBXDuration(t *testing.T) {
	svc, st, _ := directService(t, Config{})
	seedActive(t, st, "r1", "n1", "leg-1", t0)
	feed(svc, "pbx1", adapters.RecordingFinished{Base: adapters.Base{At: t0.Add(3 * time.Minute)},
		Recording: adapters.RecordingRef{Node: "pbx1", Name: "n1"}, Duration: 10 * time.Hour})
	got, _ := st.Recording(context.Background(), "r1")
	if got.DurationMS != 180000 || got.Note == "" {
		t.Fatalf("%+v", got)
	}
	seedActive(t, st, "r2", "n2", "leg-2", t0)
	feed(svc, "pbx1", adapters.RecordingFinished{Base: adapters.Base{At: t0.Add(3*time.Minute + 500*time.Millisecond)},
		Recording: adapters.RecordingRef{Node: "pbx1", Name: "n2"}, Duration: 181 * time.Second})
	got, _ = st.Recording(context.Background(), "r2")
	if got.DurationMS != 181000 || got.Note != "" {
		t.Fatalf("whole-second PBX figure within slack: %+v", got)
	}
}

// After a reconnect: a recording whose legs survive keeps running; one the
// PBX lists as stored is finished; one whose file is on disk is finished
// with its WAV duration, size and checksum; one nowhere is missing.
func TestMissedFinishReconciled(t *testing.T) {
	root := t.TempDir()
	svc, st, _ := directService(t, Config{Nodes: map[string]NodeConfig{"pbx1": {Root: root}}})
	seedActive(t, st, "alive", "n-alive", "leg-alive", t0)
	seedActive(t, st, "listed", "n-listed", "leg-gone-1", t0)
	seedActive(t, st, "ondisk", "n-ondisk", "leg-gone-2", t0)
	seedActive(t, st, "lost", "n-lost", "leg-gone-3", t0)
	other := &storage.Recording{ID: "othernode", Node: "pbx2", PBXName: "x", Status: storage.RecordingActive, StartedAt: t0}
	if err := st.CreateRecording(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "n-ondisk.wav"), wav(8000, 2, 12*8000*2), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartPause(context.Background(), "lost", t0.Add(time.Minute), "ag", "card"); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(10 * time.Minute)
	feed(svc, "pbx1", adapters.Reconciled{Base: adapters.Base{At: at}, Node: "pbx1",
		Legs:       []adapters.LegInfo{{Ref: adapters.LegRef{Node: "pbx1", ID: "leg-alive"}, State: "Up"}},
		Recordings: []adapters.StoredRecording{{Name: "n-listed", Format: "wav"}}})
	ctx := context.Background()
	want := map[string]string{"alive": storage.RecordingActive, "listed": storage.RecordingFinished, "ondisk": storage.RecordingFinished,
		"lost": storage.RecordingMissing, "othernode": storage.RecordingActive}
	for id, status := range want {
		got, err := st.Recording(ctx, id)
		if err != nil || got.Status != status {
			t.Errorf("%s: %+v %v", id, got, err)
		}
	}
	d, _ := st.Recording(ctx, "ondisk")
	if d.DurationMS != 12000 || d.SizeBytes == nil || *d.SizeBytes != 44+12*8000*2 || len(d.Checksum) != 71 {
		t.Fatalf("on disk: %+v", d)
	}
	l, _ := st.Recording(ctx, "listed")
	if l.EndedAt == nil || !l.EndedAt.Equal(at) || l.DurationMS != 600000 || l.Note == "" {
		t.Fatalf("listed: %+v", l)
	}
	lost, _ := st.Recording(ctx, "lost")
	if len(lost.Pauses) != 1 || lost.Pauses[0].ResumedAt == nil || lost.PausedMS != 9*60*1000 {
		t.Fatalf("open pause not closed: %+v", lost.Pauses)
	}
}

// wav builds a PCM WAV header followed by n bytes of silence.
func wav(rate, blockAlign uint32, n int) []byte {
	b := make([]byte, 44+n)
	copy(b[0:], "RIFF")
	le32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	le32(b[16:], 16)
	b[20], b[22] = 1, 1 // PCM, mono
	le32(b[24:], rate)
	le32(b[28:], rate*blockAlign)
	b[32], b[34] = byte(blockAlign), 16
	copy(b[36:], "data")
	le32(b[40:], uint32(n))
	return b
}

func le32(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
