package esl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
)

// TestCallLifecycle: arrival, answer, hold, prompts, agent originate,
// bridge, recording with mask/unmask, far-side hangup.
func TestCallLifecycle(t *testing.T) {
	h := startHarness(t, nil, nil)
	ctx := ctxT(t)
	if hb := h.fs.Global("switchboard_heartbeat"); hb == "" {
		t.Fatal("no heartbeat for the dialplan's fallback test")
	}
	caller := h.arrive(t, "5551234", "800")

	if err := h.a.Answer(ctx, caller); err != nil {
		t.Fatal(err)
	}
	h.rec.waitFor(t, "caller answered", isType[adapters.LegAnswered](caller.ID))

	if err := h.a.StartHold(ctx, caller, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "moh playing", func() bool {
		c, _ := h.fs.Channel(caller.ID)
		return len(c.Playing) == 1 && c.Playing[0] == "local_stream://moh"
	})
	if err := h.a.StopHold(ctx, caller); err != nil {
		t.Fatal(err)
	}
	pid, err := h.a.Play(ctx, caller, adapters.Media{Kind: "sound", Value: "ivr/ivr-you_are_number.wav"}, adapters.Media{Kind: "number", Value: "3"})
	if err != nil {
		t.Fatal(err)
	}
	pf := h.rec.waitFor(t, "playback finished", isType[adapters.PlaybackFinished](caller.ID)).(adapters.PlaybackFinished)
	if pf.PlaybackID != pid {
		t.Fatalf("playback id %q want %q", pf.PlaybackID, pid)
	}
	if _, err := h.a.Play(ctx, caller, adapters.Media{Kind: "number", Value: "3; rm -rf"}); err == nil {
		t.Fatal("a non-number in a number prompt was accepted")
	}

	agent, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: "user/1001", CallerIDNumber: "5551234",
		CallerIDName: "Support, Queue", Timeout: 15 * time.Second, Tag: "offer-1", Role: adapters.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	ans := h.rec.waitFor(t, "agent answered", isType[adapters.LegAnswered](agent.ID)).(adapters.LegAnswered)
	if ans.Tag != "offer-1" {
		t.Fatalf("tag %q", ans.Tag)
	}
	ch, _ := h.fs.Channel(agent.ID)
	if ch.CallerNumber != "5551234" || ch.Vars["origination_caller_id_name"] != "Support, Queue" || ch.Vars["originate_timeout"] != "15" {
		t.Fatalf("agent leg %+v", ch)
	}

	br, err := h.a.Bridge(ctx, caller, agent)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := h.a.Record(ctx, adapters.RecordRequest{Bridge: br, Name: "call-1"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Name != "/rec/call-1.wav" {
		t.Fatalf("recording %+v", rec)
	}
	// A second recording to the same file while the first runs is refused
	// (the two would overwrite one file), and the first is untouched.
	if dup, err := h.a.Record(ctx, adapters.RecordRequest{Bridge: br, Name: "call-1"}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second recording to one file: %+v %v", dup, err)
	}
	rs := h.rec.waitFor(t, "recording started", isType[adapters.RecordingStarted](caller.ID)).(adapters.RecordingStarted)
	if rs.Path != "/rec/call-1.wav" || rs.Format != "wav" {
		t.Fatalf("%+v", rs)
	}
	if err := h.a.PauseRecording(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if c, _ := h.fs.Channel(caller.ID); len(c.Masked) != 1 {
		t.Fatalf("not masked: %+v", c)
	}
	if err := h.a.ResumeRecording(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := h.a.SetVar(ctx, caller, "switchboard_agent", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := h.fs.DTMF(caller.ID, "5"); err != nil {
		t.Fatal(err)
	}
	d := h.rec.waitFor(t, "dtmf", isType[adapters.DTMFReceived](caller.ID)).(adapters.DTMFReceived)
	if d.Digit != "5" {
		t.Fatalf("%+v", d)
	}

	if err := h.fs.Hangup(caller.ID, "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	fin := h.rec.waitFor(t, "recording finished", isType[adapters.RecordingFinished](caller.ID)).(adapters.RecordingFinished)
	if fin.Path != "/rec/call-1.wav" {
		t.Fatalf("%+v", fin)
	}
	hu := h.rec.waitFor(t, "caller hung up", isType[adapters.LegHungUp](caller.ID)).(adapters.LegHungUp)
	if hu.Cause != 16 || hu.Local {
		t.Fatalf("%+v", hu)
	}
	ahu := h.rec.waitFor(t, "agent hung up", isType[adapters.LegHungUp](agent.ID)).(adapters.LegHungUp)
	if ahu.Tag != "offer-1" {
		t.Fatalf("%+v", ahu)
	}
	if err := h.a.Hangup(ctx, caller, 16); !errors.Is(err, adapters.ErrUnknownLeg) {
		t.Fatalf("hangup of a gone leg: %v", err)
	}
}

// TestOriginateDialStrings: agent legs are originated from whatever dial
// string the agent has (a directory user, a SIP URI on a profile, a
// loopback into a context), each with the origination_uuid we chose (the
// leg's ref), caller id and timeout; Hangup sends the Q.850 cause as
// FreeSWITCH's cause name and the leg ends with it.
func TestOriginateDialStrings(t *testing.T) {
	h := startHarness(t, nil, nil)
	ctx := ctxT(t)
	for i, tc := range []struct {
		endpoint string
		cause    int
		name     string
	}{
		{"user/1001", 16, "NORMAL_CLEARING"},
		{"sofia/internal/1001@pbx.example.com", 17, "USER_BUSY"},
		{"loopback/1001/agents", 41, "NORMAL_TEMPORARY_FAILURE"},
	} {
		tag := fmt.Sprintf("offer-%d", i)
		ref, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: tc.endpoint, CallerIDNumber: "5551234",
			CallerIDName: "Queue support", Timeout: 12 * time.Second, Tag: tag, Role: adapters.RoleAgent})
		if err != nil {
			t.Fatalf("%s: %v", tc.endpoint, err)
		}
		h.rec.waitFor(t, tc.endpoint+" answered", isType[adapters.LegAnswered](ref.ID))
		ch, ok := h.fs.Channel(ref.ID)
		if !ok || ch.Name != tc.endpoint || ch.Vars["origination_uuid"] != ref.ID || ch.CallerNumber != "5551234" ||
			ch.Vars["origination_caller_id_name"] != "Queue support" || ch.Vars["originate_timeout"] != "12" ||
			ch.Vars["switchboard_tag"] != tag || ch.Vars["switchboard_role"] != "agent" {
			t.Fatalf("%s: channel %+v", tc.endpoint, ch)
		}
		sent := ""
		for _, c := range h.fs.Commands() {
			if strings.HasPrefix(c, "bgapi originate ") && strings.Contains(c, "origination_uuid="+ref.ID) {
				sent = c
			}
		}
		if !strings.Contains(sent, "}"+tc.endpoint+" &park()") {
			t.Fatalf("%s: sent %q", tc.endpoint, sent)
		}
		if err := h.a.Hangup(ctx, ref, tc.cause); err != nil {
			t.Fatal(err)
		}
		hu := h.rec.waitFor(t, tc.endpoint+" hung up", isType[adapters.LegHungUp](ref.ID)).(adapters.LegHungUp)
		if hu.Cause != tc.cause || hu.CauseText != tc.name || !hu.Local || hu.Tag != tag {
			t.Fatalf("%s: %+v", tc.endpoint, hu)
		}
		if !slices.Contains(h.fs.Commands(), "api uuid_kill "+ref.ID+" "+tc.name) {
			t.Fatalf("%s: no uuid_kill with %s", tc.endpoint, tc.name)
		}
	}
}

// TestOriginateFailures: no answer (cause 19), busy, and an endpoint
// FreeSWITCH cannot dial (no channel at all: only BACKGROUND_JOB says so).
func TestOriginateFailures(t *testing.T) {
	h := startHarness(t, nil, nil)
	ctx := ctxT(t)
	h.fs.Endpoint("user/1002", esltest.Behavior{NoAnswer: true, RingFor: 20 * time.Millisecond})
	h.fs.Endpoint("user/1003", esltest.Behavior{FailCause: "USER_BUSY"})
	for _, tc := range []struct {
		endpoint string
		cause    int
		reason   string
	}{
		{"user/1002", 19, "NO_ANSWER"},
		{"user/1003", 17, "USER_BUSY"},
		{"nosuchendpoint/foo", 66, "CHAN_NOT_IMPLEMENTED"},
	} {
		ref, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: tc.endpoint, Tag: tc.reason, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		f := h.rec.waitFor(t, "originate failed "+tc.endpoint, isType[adapters.OriginateFailed](ref.ID)).(adapters.OriginateFailed)
		if f.Cause != tc.cause || f.Reason != tc.reason || f.Tag != tc.reason {
			t.Errorf("%s: %+v", tc.endpoint, f)
		}
	}
	if _, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: "user/1001 &park()\n\nexit"}); err == nil {
		t.Fatal("an endpoint with spaces and line breaks was accepted")
	}
	if _, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: "user/1001", Vars: map[string]string{"x": "a}b"}}); err == nil {
		t.Fatal("a variable with a brace was accepted")
	}
}

// TestSnoop: listen, whisper and barge are eavesdrop legs with the right
// whisper variables; the supervisor leg ends with the target.
func TestSnoop(t *testing.T) {
	h := startHarness(t, nil, nil)
	ctx := ctxT(t)
	caller := h.arrive(t, "5551234", "800")
	for _, tc := range []struct {
		mode       adapters.SnoopMode
		aleg, bleg string
	}{{adapters.SnoopListen, "", ""}, {adapters.SnoopWhisper, "true", ""}, {adapters.SnoopBarge, "true", "true"}} {
		ref, err := h.a.Snoop(ctx, adapters.SnoopRequest{Target: caller, Mode: tc.mode, Supervisor: "user/2000", Tag: "sup-" + string(tc.mode)})
		if err != nil {
			t.Fatal(err)
		}
		h.rec.waitFor(t, "supervisor answered", isType[adapters.LegAnswered](ref.ID))
		c, ok := h.fs.Channel(ref.ID)
		if !ok || c.EavesdropOn != caller.ID || c.Vars["eavesdrop_whisper_aleg"] != tc.aleg || c.Vars["eavesdrop_whisper_bleg"] != tc.bleg {
			t.Fatalf("%s: %+v", tc.mode, c)
		}
	}
	if err := h.a.Hangup(ctx, caller, 0); err != nil {
		t.Fatal(err)
	}
	hu := h.rec.waitFor(t, "caller gone", isType[adapters.LegHungUp](caller.ID)).(adapters.LegHungUp)
	if !hu.Local {
		t.Fatalf("our own hangup not marked local: %+v", hu)
	}
	h.rec.waitFor(t, "a supervisor leg ends with the target", func(e adapters.Event) bool {
		hu, ok := e.(adapters.LegHungUp)
		return ok && strings.HasPrefix(hu.Tag, "sup-")
	})
}

// TestUnreachableAndBadPassword: Run fails clearly at start.
func TestUnreachableAndBadPassword(t *testing.T) {
	fs, err := esltest.New(esltest.Options{Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	a, err := New(Config{Addr: fs.Addr(), Password: "wrong", ConnectTimeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(context.Background())
	if !errors.Is(err, ErrAuth) || !errors.Is(err, adapters.ErrUnreachable) {
		t.Fatalf("bad password: %v", err)
	}
	if _, ok := <-a.Events(); ok {
		t.Fatal("events channel open after Run returned")
	}

	fs.Close()
	a, _ = New(Config{Addr: fs.Addr(), ConnectTimeout: 2 * time.Second}, nil)
	if err := a.Run(context.Background()); !errors.Is(err, adapters.ErrUnreachable) {
		t.Fatalf("closed port: %v", err)
	}
	if _, err := New(Config{Addr: "nohostport"}, nil); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "addr") {
		t.Fatalf("bad addr: %v", err)
	}
	if _, err := New(Config{ReconnectMin: time.Second, ReconnectMax: time.Millisecond}, nil); err == nil || !strings.Contains(err.Error(), "reconnect_max") {
		t.Fatalf("bad backoff: %v", err)
	}
}

// TestContinue hands a call back to the dialplan; it ends for switchboard.
func TestContinue(t *testing.T) {
	h := startHarness(t, nil, nil)
	ctx := ctxT(t)
	caller := h.arrive(t, "5551234", "800")
	if err := h.a.Continue(ctx, caller, "", ""); err != nil {
		t.Fatal(err)
	}
	hu := h.rec.waitFor(t, "continued", isType[adapters.LegHungUp](caller.ID)).(adapters.LegHungUp)
	if hu.CauseText != "continued in dialplan" || !hu.Local {
		t.Fatalf("%+v", hu)
	}
	c, ok := h.fs.Channel(caller.ID)
	if !ok || c.Dialed != "fallback" || c.Context != "switchboard_fallback" {
		t.Fatalf("transferred to %+v", c)
	}
	if err := h.fs.Hangup(caller.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := h.a.Continue(ctx, caller, "x y", ""); err == nil {
		t.Fatal("a context with a space was accepted")
	}
}

// The defaults a stock FreeSWITCH needs: its event socket on
// 127.0.0.1:8021 with password ClueCon (SWITCHBOARD_ESL_ADDR and
// SWITCHBOARD_ESL_PASSWORD override them through the config package).
func TestConfigDefaults(t *testing.T) {
	d := Config{}.withDefaults()
	if d.Addr != "127.0.0.1:8021" || d.Password != "ClueCon" || d.Node != "freeswitch" || d.CommandConns != 4 {
		t.Fatalf("%+v", d)
	}
	for _, bad := range []Config{{CommandConns: 33}, {ReorderWindow: -1}, {Node: "a b"}, {Password: "x\nexit"}, {RecordingDir: "/a b"}} {
		if err := bad.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v accepted: %v", bad, err)
		}
	}
}
