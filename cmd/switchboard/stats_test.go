package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/server"
	"github.com/switchboard-cc/switchboard/storage"
)

// discardJournal takes the controller's records; this test reads the
// live figures, not the rows.
type discardJournal struct{}

func (discardJournal) Append(storage.Record) {}

// scriptedFloor is a controller on the simulated PBX and a manual clock,
// behind the API's floor routes with the server's own view of a
// snapshot, so the CLI reads exactly what `switchboard serve` would serve.
type scriptedFloor struct {
	t   *testing.T
	clk *clock.Manual
	pbx *sim.PBX
	ctl *controller.Controller
	url string
}

func newScriptedFloor(t *testing.T, rules string, groups []sim.AgentGroup) *scriptedFloor {
	t.Helper()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	quiet := slog.New(slog.DiscardHandler)
	clk := clock.NewManual(t0)
	cfg := sim.Config{Seed: 42, AgentGroups: groups}
	p, err := sim.New(cfg, clk, quiet)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := routing.ParseRules("scripted.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := routing.NewEngineChecked(rc)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.Agents() {
		eng.UpsertAgent(a, t0)
	}
	ctl, err := controller.New(controller.Config{}, controller.Deps{PBX: p, Engine: eng, Journal: discardJournal{}, Clock: clk, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = p.Run(ctx) }()
	go func() { defer wg.Done(); _ = ctl.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	srv, err := api.New(api.Options{}, api.FloorRoutes(api.Floor{
		View:      func() api.FloorView { return server.FloorView(ctl.Snapshot()) },
		LiveCalls: func() []api.Call { return liveCallsOf(ctl.Snapshot()) },
		Login:     func(ctx context.Context, id, _ string) error { return ctl.AgentLogin(ctx, id) },
		Hangup:    func(ctx context.Context, id string, cause int) error { return ctl.HangupCall(ctx, id, cause) },
	}))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	f := &scriptedFloor{t: t, clk: clk, pbx: p, ctl: ctl, url: hs.URL}
	deadline := time.Now().Add(10 * time.Second)
	for ok, _ := ctl.Ready(); !ok; ok, _ = ctl.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("controller not ready")
		}
		time.Sleep(time.Millisecond)
	}
	f.settle()
	return f
}

// liveCallsOf is what GET /api/v1/calls?live needs: the ids and caller
// numbers of the calls in progress.
func liveCallsOf(snap controller.Snapshot) []api.Call {
	out := make([]api.Call, 0, len(snap.Calls))
	for _, c := range snap.Calls {
		out = append(out, api.Call{ID: c.ID, Live: true, State: c.State, Queue: c.Queue, AgentID: c.AgentID,
			CallerNumber: c.CallerNumber, DialedNumber: c.DialedNumber, ArrivedAt: c.ArrivedAt, WaitSeconds: c.WaitSeconds})
	}
	return out
}

// settle waits until the simulator and the controller have nothing left
// to do at the current manual time.
func (f *scriptedFloor) settle() {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for quiet := 0; quiet < 3; {
		if time.Now().After(deadline) {
			f.t.Fatal("the floor did not settle")
		}
		if f.pbx.Idle() && f.ctl.Idle() {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// at moves the manual clock to sec seconds after the start, in 100 ms
// steps settled one by one, so every whole second of the script (waits,
// patience, wrap-up) is reached exactly and nothing collapses onto one
// clock jump.
func (f *scriptedFloor) at(start time.Time, sec int) {
	f.t.Helper()
	end := start.Add(time.Duration(sec) * time.Second)
	for f.clk.Now().Before(end) {
		f.clk.Advance(100 * time.Millisecond)
		f.settle()
	}
}

// cliOK runs the CLI against the floor and fails the test on a non-zero
// exit.
func (f *scriptedFloor) cliOK(args ...string) string {
	f.t.Helper()
	code, out, stderr := cli(f.t, nil, append(args, "--server", f.url)...)
	if code != 0 {
		f.t.Fatalf("switchboard %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

// hangup ends the live call of this caller through `switchboard call
// hangup`, found by `switchboard call list --live`.
func (f *scriptedFloor) hangup(caller string) {
	f.t.Helper()
	var cl api.CallList
	if err := json.Unmarshal([]byte(f.cliOK("call", "list", "--live", "-o", "json")), &cl); err != nil {
		f.t.Fatal(err)
	}
	for _, c := range cl.Calls {
		if c.CallerNumber == caller {
			f.cliOK("call", "hangup", c.ID)
			f.settle()
			return
		}
	}
	f.t.Fatalf("no live call from %s in %+v", caller, cl.Calls)
}

// `switchboard stats` on the scripted day of the controller's
// TestHandCountedScriptedDay, driven through the CLI and the API (agent
// login, call list, call hangup) on a manual clock: one agent who picks
// up at once, support queue (service level 20 s, short abandons under
// 5 s, wrap-up 10 s):
//
//	t=0   A arrives, answered at once            wait  0 s  within 20 s
//	t=1   B arrives, waits (the agent talks to A)
//	t=2   C arrives, hangs up at t=5              abandon after 3 s: short
//	t=3   D arrives, hangs up at t=33             abandon after 30 s
//	t=40  A hung up; wrap-up until t=50; B answered at t=50   wait 49 s  late
//	t=60  E arrives
//	t=61  B hung up; wrap-up until t=71; E answered at t=71   wait 11 s  within
//
// Counted by hand: offered 5, answered 3 (2 within), abandoned 2 (1
// short); service level = 2 / (3 + 2 − 1) = 50.0 %; abandon rate =
// 2 / (3 + 2) = 40.0 %; average wait of the answered = (0 + 49 + 11) / 3
// = 20 s. The table, its footer and -o json must all say so.
func TestStatsCLIAgreesWithHandCountedScriptedDay(t *testing.T) {
	const rules = `
queues:
  - name: support
    offer_timeout: 15s
    wrap_up: 10s
    service_level: {threshold: 20s, goal: 0.8}
entry:
  - {when: 'dialed == "1000"', queue: support}
default_queue: support
`
	inst := sim.AgentGroup{Prefix: "inst", Count: 1, Queues: map[string]int{"support": 1}, AnswerProbability: 1, HandleTime: 10 * time.Hour}
	f := newScriptedFloor(t, rules, []sim.AgentGroup{inst})
	start := f.clk.Now()
	f.cliOK("agent", "login", "inst-001")
	f.settle()
	inject := func(caller string, patience time.Duration) {
		f.pbx.InjectCall("1000", caller, nil, patience)
		f.settle()
	}
	inject("5550001", 0) // A
	f.at(start, 1)
	inject("5550002", 0) // B
	f.at(start, 2)
	inject("5550003", 3*time.Second) // C
	f.at(start, 3)
	inject("5550004", 30*time.Second) // D
	f.at(start, 40)
	f.hangup("5550001")
	f.at(start, 60)
	inject("5550005", 0) // E
	f.at(start, 61)
	f.hangup("5550002")
	f.at(start, 80)
	// The controller publishes a new picture at most every 100 ms of wall
	// time; past that, the next read builds it from the final state.
	time.Sleep(150 * time.Millisecond)

	out := f.cliOK("stats")
	t.Logf("switchboard stats:\n%s", out)
	var row []string
	for _, line := range strings.Split(out, "\n") {
		if fields := strings.Fields(line); len(fields) > 0 && fields[0] == "support" {
			row = fields
		}
	}
	// QUEUE WAITING LONGEST ANSWERED ABANDONED SL GOAL ABANDON% AGENTS
	want := []string{"support", "0", "0s", "3", "2", "50.0%", "80.0%/20s", "40.0%", "on_call=1"}
	if strings.Join(row, " ") != strings.Join(want, " ") {
		t.Errorf("support row %q, counted by hand %q", row, want)
	}
	for _, line := range []string{
		"service level: 50.0%  (2 answered within their queue's threshold, of 4 answered or abandoned)",
		"abandon rate:  40.0%  (2 abandoned, 3 answered)",
		"waiting now:   0  (longest 0s)",
		"agents:        on_call=1",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("stats lacks %q", line)
		}
	}

	var v api.FloorView
	if err := json.Unmarshal([]byte(f.cliOK("stats", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Queues) != 1 {
		t.Fatalf("queues %+v", v.Queues)
	}
	q, tt := v.Queues[0], v.Totals
	got := []any{q.Offered, q.Answered, q.AnsweredInThreshold, q.Abandoned, q.ServiceLevel, q.AbandonRate, q.AvgWaitSeconds, q.Waiting,
		tt.Offered, tt.Answered, tt.AnsweredInThreshold, tt.ServiceLevelBase, tt.Abandoned, tt.ServiceLevel, tt.AbandonRate}
	wantJSON := []any{5, 3, 2, 2, 0.5, 0.4, 20.0, 0, 5, 3, 2, 4, 2, 0.5, 0.4}
	for i := range got {
		if got[i] != wantJSON[i] {
			t.Fatalf("stats -o json: queue offered, answered, within, abandoned, SL, abandon rate, avg wait, waiting; totals offered, answered, within, SL base, abandoned, SL, abandon rate = %v; counted by hand %v", got, wantJSON)
		}
	}
}
