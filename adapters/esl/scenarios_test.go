package esl

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
)

// The queue scenarios of the issue at the port level: real eslgo ↔
// esltest, the test playing the controller's part. (The controller-level
// versions belong in e2e tests once package controller exists.)

// A caller waiting on hold hangs up before any agent is offered: abandon.
func TestScenarioAbandon(t *testing.T) {
	h := startHarness(t, nil, nil)
	ctx := ctxT(t)
	caller := h.arrive(t, "5550001", "800")
	for range 2 { // the second answer finds the leg up: no second LegAnswered
		if err := h.a.Answer(ctx, caller); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.a.Play(ctx, caller, adapters.Media{Kind: "sound", Value: "ivr/ivr-you_are_number.wav"}, adapters.Media{Kind: "number", Value: "4"}); err != nil {
		t.Fatal(err)
	}
	if err := h.a.StartHold(ctx, caller, "support"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "hold music", func() bool {
		c, _ := h.fs.Channel(caller.ID)
		for _, p := range c.Playing {
			if p == "local_stream://support" {
				return true
			}
		}
		return false
	})
	if err := h.fs.Hangup(caller.ID, "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	hu := h.rec.waitFor(t, "abandon", isType[adapters.LegHungUp](caller.ID)).(adapters.LegHungUp)
	if hu.Local || hu.Cause != 16 {
		t.Fatalf("%+v", hu)
	}
	if err := h.a.StopHold(ctx, caller); err == nil {
		t.Fatal("hold stopped on a gone caller")
	}
	answers := 0
	for _, e := range h.rec.all() {
		if _, ok := e.(adapters.LegAnswered); ok && e.Leg().ID == caller.ID {
			answers++
		}
	}
	if answers != 1 {
		t.Fatalf("%d LegAnswered for one caller", answers)
	}
}

// The first agent rings out (RONA), the second answers and is bridged.
func TestScenarioNoAnswerThenAnotherAgent(t *testing.T) {
	h := startHarness(t, nil, nil)
	ctx := ctxT(t)
	h.fs.Endpoint("user/1001", esltest.Behavior{NoAnswer: true, RingFor: 30 * time.Millisecond})
	h.fs.Endpoint("user/1002", esltest.Behavior{AnswerAfter: 10 * time.Millisecond})
	caller := h.arrive(t, "5550002", "800")
	if err := h.a.Answer(ctx, caller); err != nil {
		t.Fatal(err)
	}
	if err := h.a.StartHold(ctx, caller, ""); err != nil {
		t.Fatal(err)
	}
	first, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: "user/1001", Timeout: 15 * time.Second, Tag: "offer-a1"})
	if err != nil {
		t.Fatal(err)
	}
	f := h.rec.waitFor(t, "RONA", isType[adapters.OriginateFailed](first.ID)).(adapters.OriginateFailed)
	if f.Cause != 19 || f.Tag != "offer-a1" {
		t.Fatalf("%+v", f)
	}
	second, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: "user/1002", Timeout: 15 * time.Second, Tag: "offer-a2"})
	if err != nil {
		t.Fatal(err)
	}
	if a := h.rec.waitFor(t, "second agent", isType[adapters.LegAnswered](second.ID)).(adapters.LegAnswered); a.Tag != "offer-a2" {
		t.Fatalf("%+v", a)
	}
	if err := h.a.StopHold(ctx, caller); err != nil {
		t.Fatal(err)
	}
	if _, err := h.a.Bridge(ctx, caller, second); err != nil {
		t.Fatal(err)
	}
	if c, _ := h.fs.Channel(caller.ID); c.Bridged != second.ID {
		t.Fatalf("caller bridged to %q", c.Bridged)
	}
	// The agent hangs up first; the caller is parked again for switchboard
	// (park_after_bridge in the sample dialplan) and stays ours.
	if err := h.a.SetVar(ctx, caller, "park_after_bridge", "true"); err != nil {
		t.Fatal(err)
	}
	if err := h.fs.Hangup(second.ID, "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	h.rec.waitFor(t, "agent gone", isType[adapters.LegHungUp](second.ID))
	waitUntil(t, "caller parked again", func() bool { c, ok := h.fs.Channel(caller.ID); return ok && c.App == "park" })
	if err := h.a.Hangup(ctx, caller, 16); err != nil {
		t.Fatal(err)
	}
	if hu := h.rec.waitFor(t, "caller gone", isType[adapters.LegHungUp](caller.ID)).(adapters.LegHungUp); !hu.Local {
		t.Fatalf("%+v", hu)
	}
	arrivals := 0
	for _, e := range h.rec.all() {
		if _, ok := e.(adapters.CallArrived); ok {
			arrivals++
		}
	}
	if arrivals != 1 {
		t.Fatalf("%d arrivals: the re-park after the bridge must not be a new call", arrivals)
	}
}

// Many calls at once with reordered delivery: every call sees exactly its
// own legs' events, answers before hangups, tags intact.
func TestScenarioConcurrentCallsUnderReorder(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.ReorderWindow = 30 * time.Millisecond }, nil)
	h.fs.SetFaults(esltest.Faults{Reorder: 5})
	ctx := ctxT(t)
	const calls = 40
	callers := make([]string, calls)
	for i := range callers {
		callers[i] = h.fs.InboundCall(esltest.Call{CallerNumber: fmt.Sprintf("6%03d", i), Dialed: "800",
			Vars: map[string]string{"switchboard": "true"}})
	}
	for range calls {
		h.rec.waitFor(t, "arrival", isType[adapters.CallArrived](""))
	}
	agents := make([]adapters.LegRef, calls)
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := adapters.LegRef{Node: "freeswitch", ID: callers[i]}
			if err := h.a.Answer(ctx, c); err != nil {
				errs <- err
				return
			}
			ag, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: fmt.Sprintf("user/%d", 1000+i), Tag: fmt.Sprint(i)})
			if err != nil {
				errs <- err
				return
			}
			agents[i] = ag
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seenAnswer := map[string]string{}
	for range calls * 2 {
		e := h.rec.waitFor(t, "answers", isType[adapters.LegAnswered]("")).(adapters.LegAnswered)
		seenAnswer[e.Ref.ID] = e.Tag
	}
	for i, ag := range agents {
		if seenAnswer[ag.ID] != fmt.Sprint(i) {
			t.Fatalf("agent %d answered with tag %q", i, seenAnswer[ag.ID])
		}
		if _, ok := seenAnswer[callers[i]]; !ok {
			t.Fatalf("caller %d not answered", i)
		}
		if err := h.fs.Hangup(ag.ID, "NORMAL_CLEARING"); err != nil {
			t.Fatal(err)
		}
	}
	for range calls {
		e := h.rec.waitFor(t, "agent hangups", isType[adapters.LegHungUp]("")).(adapters.LegHungUp)
		if e.Tag == "" {
			t.Fatalf("hangup of an untagged leg %+v", e)
		}
	}
	for _, e := range h.rec.all() {
		if f, ok := e.(adapters.OriginateFailed); ok {
			t.Fatalf("an answered leg was reported failed (hangup applied before answer): %+v", f)
		}
	}
}
