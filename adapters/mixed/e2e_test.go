package mixed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/ari"
	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
	"github.com/switchboard-cc/switchboard/adapters/esl"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// End to end over real sockets: the controller and the routing engine,
// this mix of the ARI adapter (real ari/v6 client) against aritest and
// the ESL adapter (real eslgo client) against esltest, one queue served
// by agents whose endpoint is a bare extension, rendered by each node in
// its own form (PJSIP/{ext}, user/{ext}).

const e2eRules = `
queues:
  - name: support
    offer_timeout: 2s
    wrap_up: 50ms
    max_misses: 3
entry:
  - {when: 'dialed == "800"', queue: support}
default_queue: support
`

// journal keeps the last version of every call record.
type journal struct {
	mu    sync.Mutex
	calls map[string]storage.Call
}

func (j *journal) Append(r storage.Record) {
	if c, ok := r.(storage.Call); ok {
		j.mu.Lock()
		j.calls[c.ID] = c
		j.mu.Unlock()
	}
}

func (j *journal) call(id string) (storage.Call, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	c, ok := j.calls[id]
	return c, ok
}

// bridges notes the node of every call's bridge.
type bridges struct {
	mu    sync.Mutex
	nodes map[string]string
}

func (b *bridges) Observe(e controller.CallEvent) {
	if e.Kind == controller.EventBridged {
		b.mu.Lock()
		b.nodes[e.CallID] = e.Bridge.Node
		b.mu.Unlock()
	}
}

func (b *bridges) node(id string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nodes[id]
}

type floor struct {
	t   *testing.T
	ast *aritest.Server
	fs  *esltest.Server
	pbx *PBX
	ctl *controller.Controller
	jr  *journal
	br  *bridges
}

// value turns the pointer events the ARI adapter sends into values, so
// the tests switch over one form.
func value(e adapters.Event) adapters.Event {
	switch p := e.(type) {
	case *adapters.NodeState:
		return *p
	case *adapters.CallArrived:
		return *p
	case *adapters.LegHungUp:
		return *p
	}
	return e
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newMix builds the mix of one aritest (node ast1) and one esltest (node
// fs1) with fast reconnects.
func newMix(t *testing.T) (*aritest.Server, *esltest.Server, *PBX) {
	t.Helper()
	srv, err := aritest.New(aritest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	fs, err := esltest.New(esltest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Close)
	acfg := ari.Config{RequestTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, ReconnectDelay: 20 * time.Millisecond,
		Heartbeat: time.Second, Nodes: []ari.NodeConfig{{Name: "ast1", URL: srv.URL(), Password: "switchboard"}}}
	ecfg := esl.Config{Node: "fs1", Addr: fs.Addr(), CommandTimeout: 2 * time.Second, HealthInterval: time.Hour,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond}
	p, err := New([]Member{
		{Name: "asterisk", Nodes: acfg.NodeNames(), New: func() (adapters.PBX, error) { return ari.New(acfg, quiet()) }},
		{Name: "freeswitch", Nodes: []string{ecfg.NodeName()}, New: func() (adapters.PBX, error) { return esl.New(ecfg, quiet()) }},
	}, Options{RetryDelay: 20 * time.Millisecond, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return srv, fs, p
}

func startFloor(t *testing.T, agents ...string) *floor {
	t.Helper()
	srv, fs, p := newMix(t)
	rules, err := routing.ParseRules("e2e.yaml", []byte(e2eRules))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := routing.NewEngineChecked(rules)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, ext := range agents {
		eng.UpsertAgent(routing.Agent{ID: "agent-" + ext, Endpoint: ext, Queues: map[string]int{"support": 1}}, now)
	}
	f := &floor{t: t, ast: srv, fs: fs, pbx: p, jr: &journal{calls: map[string]storage.Call{}}, br: &bridges{nodes: map[string]string{}}}
	f.ctl, err = controller.New(controller.Config{CommandTimeout: 3 * time.Second}, controller.Deps{PBX: p, Engine: eng, Journal: f.jr,
		Observers: []controller.Observer{f.br}, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = p.Run(ctx) }()
	go func() { defer wg.Done(); _ = f.ctl.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitUntil(t, "both nodes up", func() bool {
		ok, why := f.ctl.Ready()
		return ok && why == "" && len(f.ctl.Snapshot().Nodes) == 2
	})
	for _, ext := range agents {
		if err := f.ctl.AgentLogin(context.Background(), "agent-"+ext); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// callAst and callFS bring a caller for line 800 onto one node and return
// the controller's call id.
func (f *floor) callAst(number string) string {
	f.t.Helper()
	id, err := f.ast.InjectCall("switchboard", aritest.Caller{Number: number, Exten: "s", Args: []string{"800"}})
	if err != nil {
		f.t.Fatal(err)
	}
	return "ast1-" + id
}

func (f *floor) callFS(number string) string {
	id := f.fs.InboundCall(esltest.Call{CallerNumber: number, Dialed: "800",
		Vars: map[string]string{"switchboard": "true", "park_after_bridge": "true"}})
	return "fs1-" + id
}

// answered waits until the call is stored answered and checks that it was
// bridged on its own node.
func (f *floor) answered(id, node string) storage.Call {
	f.t.Helper()
	var c storage.Call
	waitUntil(f.t, "call "+id+" answered", func() bool {
		var ok bool
		c, ok = f.jr.call(id)
		return ok && c.Outcome == storage.OutcomeAnswered
	})
	if got := f.br.node(id); got != node {
		f.t.Fatalf("call %s bridged on node %q, want its own node %q", id, got, node)
	}
	return c
}

// TestOneQueueAcrossBothNodes: callers arrive on the Asterisk node and on
// the FreeSWITCH node into one queue; the queue's agents (bare
// extensions) take them one after another, every call rung, answered and
// bridged on the caller's node, the agent dialled in that node's form.
func TestOneQueueAcrossBothNodes(t *testing.T) {
	f := startFloor(t, "1001", "1002")
	f.ast.Behave("PJSIP/*", aritest.Behavior{AnswerAfter: 5 * time.Millisecond, HangupAfterBridge: 20 * time.Millisecond})
	f.fs.Endpoint("user/*", esltest.Behavior{AnswerAfter: 5 * time.Millisecond, HangupAfterBridge: 20 * time.Millisecond})
	type call struct{ id, node string }
	var calls []call
	for i := range 4 {
		calls = append(calls, call{f.callAst(fmt.Sprintf("55510%d", i)), "ast1"}, call{f.callFS(fmt.Sprintf("55520%d", i)), "fs1"})
	}
	agentsSeen := map[string]bool{}
	for _, c := range calls {
		rec := f.answered(c.id, c.node)
		agentsSeen[rec.AgentID] = true
	}
	if !agentsSeen["agent-1001"] || !agentsSeen["agent-1002"] {
		t.Fatalf("agents who answered: %v, want both agents of the one queue", agentsSeen)
	}
	if n := f.ast.Bridged("PJSIP/*"); n != 4 {
		t.Fatalf("asterisk bridged %d agent legs (PJSIP/{ext}), want 4", n)
	}
	if n := f.fs.Bridged("user/*"); n != 4 {
		t.Fatalf("freeswitch bridged %d agent legs (user/{ext}), want 4", n)
	}
	for _, ch := range f.ast.Channels() {
		if strings.HasPrefix(ch.Endpoint, "user/") {
			t.Fatalf("asterisk was asked to dial a FreeSWITCH dial string: %+v", ch)
		}
	}
}

// TestOnePBXDown: with Asterisk down (no HTTP, websocket dropped) the
// controller stays ready, degraded naming ast1, and calls on FreeSWITCH
// go on being routed and answered; Asterisk comes back and its calls are
// answered again. Then FreeSWITCH refuses and drops its connections while
// Asterisk's calls keep being answered.
func TestOnePBXDown(t *testing.T) {
	f := startFloor(t, "1001", "1002")
	f.ast.Behave("PJSIP/*", aritest.Behavior{AnswerAfter: 5 * time.Millisecond, HangupAfterBridge: 20 * time.Millisecond})
	f.fs.Endpoint("user/*", esltest.Behavior{AnswerAfter: 5 * time.Millisecond, HangupAfterBridge: 20 * time.Millisecond})

	f.ast.SetDown(true)
	waitUntil(t, "ast1 reported down", func() bool {
		ok, why := f.ctl.Ready()
		return ok && strings.Contains(why, "pbx node ast1 down")
	})
	if ok, why := f.pbx.Ready(); !ok || !strings.Contains(why, "degraded") || !strings.Contains(why, "ast1") {
		t.Fatalf("mix ready while Asterisk is down: %v %q", ok, why)
	}
	for i := range 3 {
		f.answered(f.callFS(fmt.Sprintf("5553%02d", i)), "fs1")
	}
	f.ast.SetDown(false)
	waitUntil(t, "ast1 back", func() bool { ok, why := f.ctl.Ready(); return ok && why == "" })
	f.answered(f.callAst("5554000"), "ast1")

	f.fs.SetFaults(esltest.Faults{Refuse: true})
	f.fs.DropConnections()
	waitUntil(t, "fs1 reported down", func() bool {
		ok, why := f.ctl.Ready()
		return ok && strings.Contains(why, "pbx node fs1 down")
	})
	for i := range 3 {
		f.answered(f.callAst(fmt.Sprintf("5555%02d", i)), "ast1")
	}
	f.fs.SetFaults(esltest.Faults{})
	waitUntil(t, "fs1 back", func() bool { ok, why := f.ctl.Ready(); return ok && why == "" })
	f.answered(f.callFS("5556000"), "fs1")
}

// TestFreeSWITCHDownAtStart: the mix starts with FreeSWITCH refusing
// every connection; Asterisk serves (its calls answered), FreeSWITCH is
// reported down, and once it accepts the rebuilt ESL adapter connects and
// its calls are answered too.
func TestFreeSWITCHDownAtStart(t *testing.T) {
	srv, fs, p := newMix(t)
	fs.SetFaults(esltest.Faults{Refuse: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	sawDown := make(chan adapters.NodeState, 1)
	arrived := make(chan adapters.CallArrived, 4)
	go func() {
		for e := range p.Events() {
			switch e := value(e).(type) {
			case adapters.NodeState:
				if e.Node == "fs1" && !e.Up {
					select {
					case sawDown <- e:
					default:
					}
				}
			case adapters.CallArrived:
				arrived <- e
			}
		}
	}()
	select {
	case ns := <-sawDown:
		if ns.Err == "" {
			t.Fatalf("down without a reason: %+v", ns)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fs1 never reported down")
	}
	waitUntil(t, "asterisk connected", func() bool { return srv.Connected("switchboard") })
	if ok, why := p.Ready(); !ok || !strings.Contains(why, "freeswitch (fs1)") {
		t.Fatalf("ready with FreeSWITCH down at start: %v %q", ok, why)
	}
	if _, err := srv.InjectCall("switchboard", aritest.Caller{Number: "1", Exten: "s", Args: []string{"800"}}); err != nil {
		t.Fatal(err)
	}
	if e := waitArrival(t, arrived); e.Ref.Node != "ast1" {
		t.Fatalf("arrival %+v", e)
	}
	fs.SetFaults(esltest.Faults{})
	waitUntil(t, "freeswitch rebuilt and connected", func() bool { ok, why := p.Ready(); return ok && why == "ok" })
	fs.InboundCall(esltest.Call{CallerNumber: "2", Dialed: "800", Vars: map[string]string{"switchboard": "true"}})
	if e := waitArrival(t, arrived); e.Ref.Node != "fs1" {
		t.Fatalf("arrival %+v", e)
	}
}

// TestBurstOnBothMerged: a burst of calls arriving and hanging up on both
// PBXs at once comes out of the mix whole: every leg's CallArrived, then
// its LegHungUp, none lost, none out of its leg's order.
func TestBurstOnBothMerged(t *testing.T) {
	const n = 150
	srv, fs, p := newMix(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	type legState struct{ arrived, hung bool }
	var mu sync.Mutex
	legs := map[adapters.LegRef]*legState{}
	var bad []string
	up := map[string]bool{}
	go func() {
		for e := range p.Events() {
			mu.Lock()
			switch e := value(e).(type) {
			case adapters.NodeState:
				up[e.Node] = e.Up
			case adapters.CallArrived:
				if legs[e.Ref] != nil {
					bad = append(bad, "second arrival of "+e.Ref.String())
				}
				legs[e.Ref] = &legState{arrived: true}
			case adapters.LegHungUp:
				l := legs[e.Ref]
				if l == nil {
					bad = append(bad, "hangup before arrival of "+e.Ref.String())
				} else {
					l.hung = true
				}
			}
			mu.Unlock()
		}
	}()
	waitUntil(t, "both nodes up", func() bool { mu.Lock(); defer mu.Unlock(); return up["ast1"] && up["fs1"] })
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range n {
			id, err := srv.InjectCall("switchboard", aritest.Caller{Number: fmt.Sprint(i), Exten: "s", Args: []string{"800"}})
			if err != nil {
				t.Error(err)
				return
			}
			if err := srv.HangupFar(id, 16); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range n {
			id := fs.InboundCall(esltest.Call{CallerNumber: fmt.Sprint(i), Dialed: "800", Vars: map[string]string{"switchboard": "true"}})
			if err := fs.Hangup(id, "NORMAL_CLEARING"); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	waitUntil(t, "every leg of the burst arrived and hung up", func() bool {
		mu.Lock()
		defer mu.Unlock()
		count := map[string]int{}
		for ref, l := range legs {
			if l.arrived && l.hung {
				count[ref.Node]++
			}
		}
		return count["ast1"] == n && count["fs1"] == n
	})
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("out of order: %v", bad)
	}
}

func waitArrival(t *testing.T, ch chan adapters.CallArrived) adapters.CallArrived {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no CallArrived")
		return adapters.CallArrived{}
	}
}
