package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/server"
)

// TestSupervisorCLIAgainstServe listens to, then stops listening to, a
// call of a running switchboard (simulated PBX, one agent who talks for
// hours, four callers arriving a second), and checks each refusal
// the way a supervisor sees it.
func TestSupervisorCLIAgainstServe(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.Token = "tok"
	cfg.Database.DSN = "sqlite:" + filepath.Join(dir, "switchboard.db")
	cfg.Database.JournalDir = filepath.Join(dir, "journal")
	cfg.PBX.Sim = sim.Config{Seed: 5, Speed: 1,
		Streams: []sim.Stream{{DialedNumber: "1000", CallerPrefix: "+3314500", RatePerMinute: 240}},
		AgentGroups: []sim.AgentGroup{{Prefix: "desk", Count: 1, Skills: map[string]int{"support": 7}, Queues: map[string]int{"support": 1},
			AnswerProbability: 1, RingDelay: 20 * time.Millisecond, HandleTime: 100 * time.Hour}}}
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	url := "http://" + srv.Addr()
	env := map[string]string{"SWITCHBOARD_SERVER": url, "SWITCHBOARD_TOKEN": "tok"}
	sb := func(args ...string) (int, string, string) { t.Helper(); return cli(t, env, args...) }
	must := func(args ...string) string {
		t.Helper()
		code, out, stderr := sb(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
		return out
	}
	find := func(state string) string {
		var list api.CallList
		if err := json.Unmarshal([]byte(must("call", "list", "--live", "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		for _, c := range list.Calls {
			if c.State == state {
				return c.ID
			}
		}
		return ""
	}
	var talking, queued string
	waitFor(t, "a call talking and one queued", 30*time.Second, func() bool {
		talking, queued = find("talking"), find("queued")
		return talking != "" && queued != ""
	})

	var sn api.Snoop
	if err := json.Unmarshal([]byte(must("call", "listen", talking, "--endpoint", "sim/sup-7", "-o", "json")), &sn); err != nil ||
		sn.CallID != talking || sn.Mode != "listen" || sn.Endpoint != "sim/sup-7" || sn.Leg.ID == "" {
		t.Fatalf("listen: %v %+v", err, sn)
	}
	// The floor's picture is at most 100 ms old.
	waitFor(t, "call show listing the supervisor", 10*time.Second, func() bool {
		out := must("call", "show", talking)
		return strings.Contains(out, "supervisors:\n  listen sim/sup-7 (leg "+sn.Leg.ID+"), on the call since")
	})
	out := must("call", "barge", talking, "--endpoint", "sim/sup-8")
	if !strings.Contains(out, "CALL") || !strings.Contains(out, "barge") || !strings.Contains(out, "sim/sup-8 is rung; end with: switchboard call stop "+talking) {
		t.Fatalf("barge (table):\n%s", out)
	}

	for _, tt := range []struct {
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		{[]string{"call", "whisper", talking, "--endpoint", "user/2001 &park()"}, env, 1, `white space is not allowed (field "endpoint", HTTP 400)`},
		{[]string{"call", "whisper", talking, "--endpoint", "2001"}, env, 1, `(field "endpoint", HTTP 400)`},
		{[]string{"call", "barge", talking}, env, 2, "--endpoint is required"},
		{[]string{"call", "listen"}, env, 2, "accepts 1 arg"},
		{[]string{"call", "stop"}, env, 2, "accepts between 1 and 2 arg"},
		{[]string{"call", "listen", "no-such-call", "--endpoint", "sim/x"}, env, 1, `no live call "no-such-call" (HTTP 404)`},
		{[]string{"call", "barge", queued, "--endpoint", "sim/x"}, env, 1, "not talking to an agent (HTTP 409)"},
		{[]string{"call", "listen", talking, "--endpoint", "sim/x"}, map[string]string{"SWITCHBOARD_SERVER": url}, 1, "HTTP 401"},
		{[]string{"call", "stop", talking, "no-such-leg"}, env, 1, `has no supervisor leg "no-such-leg" (HTTP 404)`},
		{[]string{"call", "listen", talking, "--endpoint", "sim/x"}, map[string]string{"SWITCHBOARD_SERVER": deadAddr(t)}, 1, "switchboard server not reachable at"},
	} {
		code, _, stderr := cli(t, tt.env, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("%v: exit %d %q, want %d containing %q", tt.args, code, stderr, tt.code, tt.stderr)
		}
	}

	var end api.SnoopEnd
	if err := json.Unmarshal([]byte(must("call", "stop", talking, sn.Leg.ID, "-o", "json")), &end); err != nil ||
		len(end.Ended) != 1 || end.Ended[0] != sn.Leg {
		t.Fatalf("stop one: %v %+v", err, end)
	}
	if out := must("call", "stop", talking); !strings.Contains(out, "call "+talking+": supervisor leg ") {
		t.Fatalf("stop the rest:\n%s", out)
	}
	waitFor(t, "the supervisors gone from call show", 10*time.Second, func() bool {
		return !strings.Contains(must("call", "show", talking), "supervisors:")
	})
	if code, _, stderr := sb("call", "stop", talking); code != 1 || !strings.Contains(stderr, "no supervisor is on call") {
		t.Fatalf("stop with nobody on the call: %d %q", code, stderr)
	}
	if out := must("call", "show", talking); !strings.Contains(out, "talking") {
		t.Fatalf("the call did not go on:\n%s", out)
	}
}
