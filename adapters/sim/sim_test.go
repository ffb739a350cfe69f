package sim

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/clock"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// world runs a sim on a manual clock and records every event it emits.
type world struct {
	t   *testing.T
	clk *clock.Manual
	p   *PBX
	mu  sync.Mutex
	evs []adapters.Event
	n   atomic.Uint64 // events taken off the channel and recorded
	got chan struct{}
}

func newWorld(t *testing.T, cfg Config) *world {
	t.Helper()
	clk := clock.NewManual(t0)
	p, err := New(cfg, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, clk: clk, p: p, got: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { p.Run(ctx); done <- struct{}{} }()
	go func() {
		for ev := range p.Events() {
			w.mu.Lock()
			w.evs = append(w.evs, ev)
			w.mu.Unlock()
			w.n.Add(1)
		}
		done <- struct{}{}
	}()
	t.Cleanup(func() { cancel(); <-done; <-done })
	w.settle()
	return w
}

func (w *world) settle() {
	w.t.Helper()
	quiet := 0
	for deadline := time.Now().Add(5 * time.Second); quiet < 3; {
		if time.Now().After(deadline) {
			w.t.Fatal("sim did not settle")
		}
		if w.p.Idle() && w.n.Load() == w.p.Delivered() {
			quiet++
		} else {
			quiet = 0
		}
		runtime.Gosched()
	}
}

// run advances the clock to each sim timer in turn until d has passed.
func (w *world) run(d time.Duration) {
	w.t.Helper()
	end := w.clk.Now().Add(d)
	for {
		w.settle()
		next, ok := w.p.NextEvent()
		if !ok || next.After(end) {
			w.clk.Advance(end.Sub(w.clk.Now()))
			w.settle()
			return
		}
		w.clk.Advance(next.Sub(w.clk.Now()))
	}
}

func (w *world) events() []adapters.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]adapters.Event(nil), w.evs...)
}

func (w *world) trace() string {
	var b strings.Builder
	for _, ev := range w.events() {
		fmt.Fprintf(&b, "%s %T %s\n", ev.Time().Format("15:04:05.000000"), ev, ev.Leg())
	}
	return b.String()
}

func TestSameSeedSameRun(t *testing.T) {
	cfg := Config{Seed: 7, Streams: []Stream{{DialedNumber: "1000", RatePerMinute: 6, PatienceMean: 30 * time.Second, Patience: "lognormal"}}}
	a, b := newWorld(t, cfg), newWorld(t, cfg)
	a.run(10 * time.Minute)
	b.run(10 * time.Minute)
	if a.trace() != b.trace() {
		t.Fatal("two runs with one seed differ")
	}
	if st := a.p.Stats(); st.Arrivals < 30 || st.Abandoned+len(a.p.Legs()) != st.Arrivals || st.Abandoned == 0 {
		t.Fatalf("with nobody answering every caller abandons: %+v", a.p.Stats())
	}
	cfg.Seed = 8
	c := newWorld(t, cfg)
	c.run(10 * time.Minute)
	if c.trace() == a.trace() {
		t.Fatal("another seed gave the same run")
	}
}

func TestCallerAbandonsAfterPatience(t *testing.T) {
	w := newWorld(t, Config{})
	ref := w.p.InjectCall("1000", "5551000", map[string]string{"VIP": "1"}, 30*time.Second)
	w.run(29 * time.Second)
	if len(w.p.Legs()) != 1 {
		t.Fatal("caller left early")
	}
	w.run(2 * time.Second)
	evs := w.events()
	arr, ok := evs[2].(adapters.CallArrived) // after NodeState and Reconciled
	if !ok || arr.Ref != ref || arr.Vars["VIP"] != "1" || arr.DialedNumber != "1000" {
		t.Fatalf("arrival %#v", evs[2])
	}
	h, ok := evs[len(evs)-1].(adapters.LegHungUp)
	if !ok || h.Ref != ref || h.Local || !h.At.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("last event %#v", evs[len(evs)-1])
	}
	if s := w.p.Stats(); s.Abandoned != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestAgentAnswersTalksAndHangsUp(t *testing.T) {
	g := AgentGroup{Prefix: "a", Count: 1, RingDelay: 2 * time.Second, HandleTime: time.Minute, AgentHangsUp: 1}
	w := newWorld(t, Config{AgentGroups: []AgentGroup{g}})
	w.p.KeepWaits()
	caller := w.p.InjectCall("1000", "5551000", nil, 0)
	ctx := context.Background()
	if err := w.p.Answer(ctx, caller); err != nil {
		t.Fatal(err)
	}
	agent, err := w.p.Originate(ctx, adapters.OriginateRequest{Endpoint: "sim/a-001", Timeout: 30 * time.Second, Tag: "offer-1"})
	if err != nil {
		t.Fatal(err)
	}
	var answered adapters.LegAnswered
	for answered.Ref.IsZero() {
		w.run(100 * time.Millisecond)
		for _, ev := range w.events() {
			if a, ok := ev.(adapters.LegAnswered); ok && a.Ref == agent {
				answered = a
			}
		}
		if w.clk.Now().Sub(t0) > time.Minute {
			t.Fatal("agent never answered")
		}
	}
	if answered.Tag != "offer-1" {
		t.Fatalf("tag not echoed: %+v", answered)
	}
	br, err := w.p.Bridge(ctx, caller, agent)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := w.p.Record(ctx, adapters.RecordRequest{Bridge: br, Name: "call-1"})
	if err != nil {
		t.Fatal(err)
	}
	w.run(time.Hour)
	// The bridge (and its recording) lasts until its last leg leaves.
	if err := w.p.Hangup(ctx, caller, 16); err != nil {
		t.Fatal(err)
	}
	w.settle()
	var hung adapters.LegHungUp
	var fin adapters.RecordingFinished
	var started adapters.RecordingStarted
	for _, ev := range w.events() {
		switch e := ev.(type) {
		case adapters.RecordingStarted:
			started = e
		case adapters.LegHungUp:
			if !e.Local {
				hung = e
			}
		case adapters.RecordingFinished:
			fin = e
		}
	}
	if hung.Ref != agent || hung.Tag != "offer-1" {
		t.Fatalf("the agent should have hung up (AgentHangsUp 1): %+v", hung)
	}
	if fin.Recording != rec || fin.Duration <= 0 || fin.Duration != fin.At.Sub(started.At) || started.Recording != rec {
		t.Fatalf("recording not finished with the bridge: %+v", fin)
	}
	s := w.p.Stats()
	if s.Connected != 1 || len(s.Waits) != 1 || s.Waits[0] != answered.At.Sub(t0) {
		t.Fatalf("wait must run from arrival to the agent's answer: %+v", s)
	}
}

func TestNoAnswerFailsWithCause19(t *testing.T) {
	w := newWorld(t, Config{AgentGroups: []AgentGroup{{Prefix: "n", Count: 1, NeverAnswer: true}}})
	leg, err := w.p.Originate(context.Background(), adapters.OriginateRequest{Endpoint: "sim/n-001", Timeout: 20 * time.Second, Tag: "t"})
	if err != nil {
		t.Fatal(err)
	}
	w.run(time.Minute)
	evs := w.events()
	f, ok := evs[len(evs)-1].(adapters.OriginateFailed)
	if !ok || f.Ref != leg || f.Cause != 19 || f.Tag != "t" || !f.At.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("%#v", evs[len(evs)-1])
	}
	if _, err := w.p.Originate(context.Background(), adapters.OriginateRequest{Endpoint: "PJSIP/1001"}); !errors.Is(err, adapters.ErrUnsupported) {
		t.Fatalf("a non-sim endpoint: %v", err)
	}
}

func TestCommandsOnUnknownLegs(t *testing.T) {
	w := newWorld(t, Config{})
	ctx := context.Background()
	ghost := adapters.LegRef{Node: NodeName, ID: "caller-999"}
	for name, err := range map[string]error{
		"answer":  w.p.Answer(ctx, ghost),
		"hangup":  w.p.Hangup(ctx, ghost, 16),
		"hold":    w.p.StartHold(ctx, ghost, ""),
		"setvar":  w.p.SetVar(ctx, ghost, "a", "b"),
		"cont":    w.p.Continue(ctx, ghost, "x", "y"),
		"foreign": w.p.Answer(ctx, adapters.LegRef{Node: "pbx1", ID: "caller-1"}),
	} {
		if !errors.Is(err, adapters.ErrUnknownLeg) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDTMFSnoopContinue(t *testing.T) {
	w := newWorld(t, Config{})
	ctx := context.Background()
	caller := w.p.InjectCall("1000", "5551000", nil, 0)
	w.p.PressDTMF(caller, "1")
	spy, err := w.p.Snoop(ctx, adapters.SnoopRequest{Target: caller, Mode: adapters.SnoopListen, Supervisor: "sim/sup", Tag: "spy"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.p.Continue(ctx, caller, "fallback", "s"); err != nil {
		t.Fatal(err)
	}
	w.run(time.Second)
	var dtmf, spyUp, gone bool
	for _, ev := range w.events() {
		switch e := ev.(type) {
		case adapters.DTMFReceived:
			dtmf = e.Digit == "1" && e.Ref == caller
		case adapters.LegAnswered:
			spyUp = spyUp || e.Ref == spy && e.Tag == "spy"
		case adapters.LegHungUp:
			gone = gone || e.Ref == caller && e.Local
		}
	}
	if !dtmf || !spyUp || !gone {
		t.Fatalf("dtmf %v snoop %v continue %v\n%s", dtmf, spyUp, gone, w.trace())
	}
}

func TestLoseLinkThenResync(t *testing.T) {
	w := newWorld(t, Config{})
	a := w.p.InjectCall("1000", "5551001", nil, 0)
	b := w.p.InjectCall("1000", "5551002", map[string]string{"VIP": "1"}, 0)
	w.settle()
	n := len(w.events())
	w.p.LoseLink(a)
	w.p.Resync()
	w.settle()
	evs := w.events()[n:]
	if d, ok := evs[0].(adapters.NodeState); !ok || d.Up {
		t.Fatalf("first %#v", evs[0])
	}
	if u, ok := evs[1].(adapters.NodeState); !ok || !u.Up {
		t.Fatalf("second %#v", evs[1])
	}
	if ad, ok := evs[2].(adapters.CallArrived); !ok || !ad.Adopted || ad.Ref != b || ad.Vars["VIP"] != "1" {
		t.Fatalf("adopted %#v", evs[2])
	}
	rc, ok := evs[3].(adapters.Reconciled)
	if !ok || len(rc.Legs) != 1 || rc.Legs[0].Ref != b {
		t.Fatalf("reconciled %#v", evs[3])
	}
	for _, ev := range evs {
		if h, ok := ev.(adapters.LegHungUp); ok {
			t.Fatalf("a vanished leg must not report a hangup: %#v", h)
		}
	}
	if s := w.p.Stats(); s.Vanished != 1 || s.Abandoned != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Streams: []Stream{{DialedNumber: "1", RatePerMinute: -1}}}, "sim.streams[0].rate_per_minute"},
		{Config{Streams: []Stream{{RatePerMinute: 1}}}, "sim.streams[0].dialed_number"},
		{Config{Streams: []Stream{{DialedNumber: "1", Patience: "gamma"}}}, "sim.streams[0].patience"},
		{Config{Streams: []Stream{{DialedNumber: "1", VIPShare: 2}}}, "sim.streams[0].vip_share"},
		{Config{Streams: []Stream{{DialedNumber: "1", CallbackShare: -0.1}}}, "sim.streams[0].callback_share"},
		{Config{AgentGroups: []AgentGroup{{Count: 1}}}, "sim.agent_groups[0].prefix"},
		{Config{AgentGroups: []AgentGroup{{Prefix: "a"}, {Prefix: "a"}}}, "sim.agent_groups[1].prefix"},
		{Config{AgentGroups: []AgentGroup{{Prefix: "a", AnswerProbability: 1.5}}}, "answer_probability"},
	} {
		_, err := New(tc.cfg, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestAgentsFromGroups(t *testing.T) {
	c := Config{AgentGroups: []AgentGroup{{Prefix: "sup", Count: 2, Skills: map[string]int{"support": 7}, Queues: map[string]int{"support": 1}}}}
	as := c.Agents()
	if len(as) != 2 || as[0].ID != "sup-001" || as[1].Endpoint != "sim/sup-002" || as[0].Skills["support"] != 7 || as[1].Queues["support"] != 1 {
		t.Fatalf("%+v", as)
	}
	as[0].Skills["support"] = 1
	if c.AgentGroups[0].Skills["support"] != 7 {
		t.Fatal("agents share the group's maps")
	}
}

// Long runs keep no per-call state once calls end.
func TestNothingKeptAfterCallsEnd(t *testing.T) {
	w := newWorld(t, Config{Seed: 3, Streams: []Stream{{DialedNumber: "1000", RatePerMinute: 60, PatienceMean: 10 * time.Second}}})
	w.run(10 * time.Minute)
	w.p.mu.Lock()
	legs, timers, recs := len(w.p.legs), len(w.p.timers), len(w.p.recs)
	w.p.mu.Unlock()
	s := w.p.Stats()
	if s.Arrivals < 500 || legs > 30 || timers > 40 || recs != 0 || s.Waits != nil || s.AbandonWaits != nil {
		t.Fatalf("after %d arrivals: %d legs, %d timers, %d recordings, waits kept %d", s.Arrivals, legs, timers, recs, len(s.AbandonWaits))
	}
}

// TestCallbackShare: with CallbackShare 1 every caller presses 1 once the
// callback offer has been heard, and 1 again once the number is read
// back, and no longer gives up by themselves; with 0 nobody presses
// anything. Other prompts get no key.
func TestCallbackShare(t *testing.T) {
	for _, share := range []float64{0, 1} {
		w := newWorld(t, Config{Seed: 3, Streams: []Stream{{DialedNumber: "1000", RatePerMinute: 60, PatienceMean: 20 * time.Second, Patience: "fixed", CallbackShare: share}}})
		var caller adapters.LegRef
		for i := 0; i < 10 && caller.IsZero(); i++ {
			w.run(time.Second)
			for _, ev := range w.events() {
				if a, ok := ev.(adapters.CallArrived); ok {
					caller = a.Ref
					break
				}
			}
		}
		ctx := context.Background()
		if _, err := w.p.Play(ctx, caller, adapters.Media{Kind: "sound", Value: "welcome"}); err != nil {
			t.Fatal(err)
		}
		w.run(2 * time.Second)
		if _, err := w.p.Play(ctx, caller, adapters.Media{Kind: "sound", Value: "callback-offer"}); err != nil {
			t.Fatal(err)
		}
		w.run(2 * time.Second)
		if _, err := w.p.Play(ctx, caller, adapters.Media{Kind: "sound", Value: "callback-your-number"}, adapters.Media{Kind: "digits", Value: "123"},
			adapters.Media{Kind: "sound", Value: "callback-confirm-or-other"}); err != nil {
			t.Fatal(err)
		}
		w.run(30 * time.Second)
		var keys []string
		var hungUp bool
		for _, ev := range w.events() {
			switch e := ev.(type) {
			case adapters.DTMFReceived:
				if e.Ref == caller {
					keys = append(keys, e.Digit)
				}
			case adapters.LegHungUp:
				hungUp = hungUp || e.Ref == caller
			}
		}
		want, gaveUp, accepted := "", true, 0
		if share == 1 {
			want, gaveUp, accepted = "11", false, 1
		}
		if strings.Join(keys, "") != want || hungUp != gaveUp || (w.p.Stats().CallbacksAccepted > 0) != (accepted > 0) {
			t.Fatalf("share %v: keys %q (want %q), gave up %v, stats %+v\n%s", share, keys, want, hungUp, w.p.Stats(), w.trace())
		}
	}
}

// A simulator started later (switchboard restarted on the same database)
// names its channels apart from the last run's, as a real PBX does, so
// call ids derived from them never collide with stored history.
func TestLegIDsUniqueAcrossRuns(t *testing.T) {
	first := newWorld(t, Config{})
	a := first.p.InjectCall("1000", "5551000", nil, 0)
	clk := clock.NewManual(t0.Add(time.Second))
	p, err := New(Config{}, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	b := p.ref(p.newID("caller"))
	p.mu.Unlock()
	if a == b {
		t.Fatalf("two runs named their first caller leg alike: %s", a)
	}
}

// Standby (another controller took the node over): one NodeState with
// Standby, then every command is refused with ErrStandby and nothing more
// is delivered, while the simulated callers go on (and give up).
func TestStandbyRefusesAndGoesQuiet(t *testing.T) {
	w := newWorld(t, Config{AgentGroups: []AgentGroup{{Prefix: "a", Count: 1, RingDelay: time.Second}}})
	ref := w.p.InjectCall("1000", "5551000", nil, 30*time.Second)
	w.settle()
	n := len(w.events())
	w.p.Standby()
	w.settle()
	evs := w.events()[n:]
	if len(evs) != 1 {
		t.Fatalf("events after standby: %v", evs)
	}
	if st, ok := evs[0].(adapters.NodeState); !ok || !st.Standby || st.Up {
		t.Fatalf("standby reported as %#v", evs[0])
	}
	if ok, why := w.p.Ready(); ok || !strings.Contains(why, "standby") {
		t.Fatalf("Ready in standby: %v %q", ok, why)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"answer": w.p.Answer(ctx, ref),
		"hangup": w.p.Hangup(ctx, ref, 16),
		"hold":   w.p.StartHold(ctx, ref, ""),
		"originate": func() error {
			_, err := w.p.Originate(ctx, adapters.OriginateRequest{Endpoint: "sim/a-001", Tag: "x"})
			return err
		}(),
	} {
		if !errors.Is(err, adapters.ErrStandby) {
			t.Errorf("%s in standby: %v, want ErrStandby", name, err)
		}
	}
	w.run(time.Minute)
	if got := w.events()[n:]; len(got) != 1 {
		t.Fatalf("events delivered in standby: %v", got[1:])
	}
	if st := w.p.Stats(); st.Abandoned != 1 || st.Originates != 0 {
		t.Fatalf("the simulated caller should give up unseen: %+v", st)
	}
}
