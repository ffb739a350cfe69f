package mixed

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
)

// fakePBX records which commands reached it. It stands in for a member
// only where the mix's own logic (routing by node, restarts) is under
// test; the wire tests run the real adapters.
type fakePBX struct {
	name   string
	events chan adapters.Event
	runErr error // returned at once by Run when set
	mu     sync.Mutex
	calls  []string
}

func newFake(name string) *fakePBX {
	return &fakePBX{name: name, events: make(chan adapters.Event, 16)}
}

func (f *fakePBX) note(op string, node string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op+"@"+node)
}

func (f *fakePBX) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakePBX) Run(ctx context.Context) error {
	defer close(f.events)
	if f.runErr != nil {
		return f.runErr
	}
	<-ctx.Done()
	return nil
}
func (f *fakePBX) Events() <-chan adapters.Event { return f.events }
func (f *fakePBX) Answer(_ context.Context, l adapters.LegRef) error {
	f.note("answer", l.Node)
	return nil
}
func (f *fakePBX) Hangup(_ context.Context, l adapters.LegRef, _ int) error {
	f.note("hangup", l.Node)
	return nil
}
func (f *fakePBX) Play(_ context.Context, l adapters.LegRef, _ ...adapters.Media) (string, error) {
	f.note("play", l.Node)
	return "pb", nil
}
func (f *fakePBX) StopPlayback(_ context.Context, l adapters.LegRef, _ string) error {
	f.note("stopplayback", l.Node)
	return nil
}
func (f *fakePBX) StartHold(_ context.Context, l adapters.LegRef, _ string) error {
	f.note("starthold", l.Node)
	return nil
}
func (f *fakePBX) StopHold(_ context.Context, l adapters.LegRef) error {
	f.note("stophold", l.Node)
	return nil
}
func (f *fakePBX) Originate(_ context.Context, r adapters.OriginateRequest) (adapters.LegRef, error) {
	f.note("originate", r.Node)
	return adapters.LegRef{Node: r.Node, ID: "new"}, nil
}
func (f *fakePBX) Bridge(_ context.Context, legs ...adapters.LegRef) (adapters.BridgeRef, error) {
	f.note("bridge", legs[0].Node)
	return adapters.BridgeRef{Node: legs[0].Node, ID: "b"}, nil
}
func (f *fakePBX) Record(_ context.Context, r adapters.RecordRequest) (adapters.RecordingRef, error) {
	n := r.Bridge.Node
	if n == "" {
		n = r.Leg.Node
	}
	f.note("record", n)
	return adapters.RecordingRef{Node: n, Name: r.Name}, nil
}
func (f *fakePBX) StopRecording(_ context.Context, r adapters.RecordingRef) error {
	f.note("stoprecording", r.Node)
	return nil
}
func (f *fakePBX) PauseRecording(_ context.Context, r adapters.RecordingRef) error {
	f.note("pauserecording", r.Node)
	return nil
}
func (f *fakePBX) ResumeRecording(_ context.Context, r adapters.RecordingRef) error {
	f.note("resumerecording", r.Node)
	return nil
}
func (f *fakePBX) Snoop(_ context.Context, r adapters.SnoopRequest) (adapters.LegRef, error) {
	f.note("snoop", r.Target.Node)
	return adapters.LegRef{Node: r.Target.Node, ID: "s"}, nil
}
func (f *fakePBX) SetVar(_ context.Context, l adapters.LegRef, _, _ string) error {
	f.note("setvar", l.Node)
	return nil
}
func (f *fakePBX) Continue(_ context.Context, l adapters.LegRef, _, _ string) error {
	f.note("continue", l.Node)
	return nil
}

func fixed(a adapters.PBX) func() (adapters.PBX, error) {
	return func() (adapters.PBX, error) { return a, nil }
}

// runMix runs p until the test ends and returns Run's result channel.
func runMix(t *testing.T, p *PBX) chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return done
}

// TestCommandsRouteByNode: every command goes to the member owning the
// node its ref or request names (an empty OriginateRequest.Node to the
// first member); a node nobody owns is refused with ErrUnknownNode (which
// also wraps adapters.ErrUnknownLeg) naming it and the known nodes, and
// reaches no member.
func TestCommandsRouteByNode(t *testing.T) {
	ast, fs := newFake("asterisk"), newFake("freeswitch")
	p, err := New([]Member{
		{Name: "asterisk", Nodes: []string{"ast1", "ast2"}, New: fixed(ast)},
		{Name: "freeswitch", Nodes: []string{"fs1"}, New: fixed(fs)},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runMix(t, p)
	ctx := context.Background()
	waitUntil(t, "members running", func() bool { ok, _ := p.Ready(); return ok })
	cmds := []struct {
		op string
		do func(node string) error
	}{
		{"answer", func(n string) error { return p.Answer(ctx, adapters.LegRef{Node: n, ID: "l"}) }},
		{"hangup", func(n string) error { return p.Hangup(ctx, adapters.LegRef{Node: n, ID: "l"}, 16) }},
		{"play", func(n string) error { _, err := p.Play(ctx, adapters.LegRef{Node: n, ID: "l"}); return err }},
		{"stopplayback", func(n string) error { return p.StopPlayback(ctx, adapters.LegRef{Node: n, ID: "l"}, "pb") }},
		{"starthold", func(n string) error { return p.StartHold(ctx, adapters.LegRef{Node: n, ID: "l"}, "") }},
		{"stophold", func(n string) error { return p.StopHold(ctx, adapters.LegRef{Node: n, ID: "l"}) }},
		{"originate", func(n string) error {
			_, err := p.Originate(ctx, adapters.OriginateRequest{Node: n, Endpoint: "1001"})
			return err
		}},
		{"bridge", func(n string) error {
			_, err := p.Bridge(ctx, adapters.LegRef{Node: n, ID: "a"}, adapters.LegRef{Node: n, ID: "b"})
			return err
		}},
		{"record", func(n string) error {
			_, err := p.Record(ctx, adapters.RecordRequest{Bridge: adapters.BridgeRef{Node: n, ID: "b"}, Name: "r"})
			return err
		}},
		{"record", func(n string) error { // a leg, no bridge
			_, err := p.Record(ctx, adapters.RecordRequest{Leg: adapters.LegRef{Node: n, ID: "l"}, Name: "r"})
			return err
		}},
		{"stoprecording", func(n string) error { return p.StopRecording(ctx, adapters.RecordingRef{Node: n, Name: "r"}) }},
		{"pauserecording", func(n string) error { return p.PauseRecording(ctx, adapters.RecordingRef{Node: n, Name: "r"}) }},
		{"resumerecording", func(n string) error { return p.ResumeRecording(ctx, adapters.RecordingRef{Node: n, Name: "r"}) }},
		{"snoop", func(n string) error {
			_, err := p.Snoop(ctx, adapters.SnoopRequest{Target: adapters.LegRef{Node: n, ID: "l"}, Mode: adapters.SnoopListen, Supervisor: "2000"})
			return err
		}},
		{"setvar", func(n string) error { return p.SetVar(ctx, adapters.LegRef{Node: n, ID: "l"}, "k", "v") }},
		{"continue", func(n string) error { return p.Continue(ctx, adapters.LegRef{Node: n, ID: "l"}, "", "") }},
	}
	var wantAst, wantFS []string
	for _, c := range cmds {
		for _, node := range []string{"ast2", "fs1", "ast1"} {
			if err := c.do(node); err != nil {
				t.Fatalf("%s on %s: %v", c.op, node, err)
			}
			if node == "fs1" {
				wantFS = append(wantFS, c.op+"@"+node)
			} else {
				wantAst = append(wantAst, c.op+"@"+node)
			}
		}
		err := c.do("ghost")
		if !errors.Is(err, ErrUnknownNode) || !errors.Is(err, adapters.ErrUnknownLeg) ||
			!strings.Contains(err.Error(), `"ghost"`) || !strings.Contains(err.Error(), "ast1, ast2, fs1") {
			t.Fatalf("%s on an unknown node: %v", c.op, err)
		}
	}
	if _, err := p.Originate(ctx, adapters.OriginateRequest{Endpoint: "1001"}); err != nil {
		t.Fatal(err)
	}
	wantAst = append(wantAst, "originate@")
	if g := ast.got(); strings.Join(g, " ") != strings.Join(wantAst, " ") {
		t.Fatalf("asterisk got\n %v\nwant\n %v", g, wantAst)
	}
	if g := fs.got(); strings.Join(g, " ") != strings.Join(wantFS, " ") {
		t.Fatalf("freeswitch got\n %v\nwant\n %v", g, wantFS)
	}

	// A bridge or a recording across nodes is refused before any member
	// is asked.
	before := len(ast.got()) + len(fs.got())
	if _, err := p.Bridge(ctx, adapters.LegRef{Node: "ast1", ID: "a"}, adapters.LegRef{Node: "fs1", ID: "b"}); !errors.Is(err, adapters.ErrUnsupported) {
		t.Fatalf("bridge across nodes: %v", err)
	}
	if _, err := p.Record(ctx, adapters.RecordRequest{Bridge: adapters.BridgeRef{Node: "fs1", ID: "b"}, Leg: adapters.LegRef{Node: "ast1", ID: "l"}}); !errors.Is(err, adapters.ErrUnsupported) {
		t.Fatalf("record across nodes: %v", err)
	}
	if _, err := p.Bridge(ctx); err == nil {
		t.Fatal("bridge of no leg accepted")
	}
	if after := len(ast.got()) + len(fs.got()); after != before {
		t.Fatalf("refused commands reached a member (%d → %d calls)", before, after)
	}
}

// TestNewRefusesDuplicateNodes: a node name used by two members (or twice
// by one) is a configuration error naming the node and both members.
func TestNewRefusesDuplicateNodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []Member
		want    string
	}{
		{"across members", []Member{
			{Name: "asterisk", Nodes: []string{"pbx1"}, New: fixed(newFake("a"))},
			{Name: "freeswitch", Nodes: []string{"pbx1"}, New: fixed(newFake("f"))},
		}, `node name "pbx1" is used by both asterisk and freeswitch`},
		{"no members", nil, "no pbx adapter"},
		{"member without nodes", []Member{{Name: "freeswitch", New: fixed(newFake("f"))}}, "freeswitch owns no node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.members, Options{})
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestMemberDownAtStartIsRetried: a member whose Run fails (its PBX
// unreachable at start) is reported down on each of its nodes, rebuilt
// and run again, while the mix stays ready through the other member,
// degraded naming the failed one; commands to its node fail with
// adapters.ErrUnreachable meanwhile.
func TestMemberDownAtStartIsRetried(t *testing.T) {
	ast := newFake("asterisk")
	var builds atomic.Int32
	newFS := func() (adapters.PBX, error) {
		f := newFake("freeswitch")
		if builds.Add(1) <= 2 { // construction in New, first retry
			f.runErr = errors.New("dial tcp 127.0.0.1:8021: connection refused")
		}
		return f, nil
	}
	p, err := New([]Member{
		{Name: "asterisk", Nodes: []string{"ast1"}, New: fixed(ast)},
		{Name: "freeswitch", Nodes: []string{"fs1"}, New: newFS},
	}, Options{RetryDelay: time.Millisecond, RetryMax: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := runMix(t, p)
	ast.events <- adapters.NodeState{Node: "ast1", Up: true}
	var downs int
	for downs < 2 {
		e := <-p.Events()
		if ns, ok := e.(adapters.NodeState); ok && ns.Node == "fs1" && !ns.Up {
			if !strings.Contains(ns.Err, "connection refused") {
				t.Fatalf("down event %+v", ns)
			}
			downs++
		}
	}
	waitUntil(t, "freeswitch rebuilt and running", func() bool {
		_, running, _ := p.members[1].state()
		return builds.Load() == 3 && running
	})
	if ok, why := p.Ready(); !ok || why != "ok" {
		t.Fatalf("ready after the rebuild: %v %q", ok, why)
	}
	if _, err := p.Originate(context.Background(), adapters.OriginateRequest{Node: "fs1", Endpoint: "1001"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned while one member serves: %v", err)
	default:
	}
}

// TestReadyDegradedNamesTheOther: ready while one member runs, the detail
// naming the member that does not and why; not ready when none runs.
func TestReadyDegradedNamesTheOther(t *testing.T) {
	p, err := New([]Member{
		{Name: "asterisk", Nodes: []string{"ast1"}, New: fixed(newFake("a"))},
		{Name: "freeswitch", Nodes: []string{"fs1"}, New: fixed(newFake("f"))},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := p.Ready(); ok || !strings.Contains(why, "asterisk (ast1): not started") || !strings.Contains(why, "freeswitch (fs1): not started") {
		t.Fatalf("before Run: %v %q", ok, why)
	}
	m := p.members[1]
	m.mu.Lock()
	m.running, m.lastErr = false, "dial tcp: connection refused"
	m.mu.Unlock()
	p.members[0].mu.Lock()
	p.members[0].running = true
	p.members[0].mu.Unlock()
	ok, why := p.Ready()
	if !ok || why != "degraded: freeswitch (fs1): not running: dial tcp: connection refused" {
		t.Fatalf("one member down: %v %q", ok, why)
	}
	err = p.Answer(context.Background(), adapters.LegRef{Node: "fs1", ID: "x"})
	if !errors.Is(err, adapters.ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("command to the down member: %v", err)
	}
}

// TestAllDownAtStartFails: when every member's Run fails before any node
// came up, Run returns every member's error.
func TestAllDownAtStartFails(t *testing.T) {
	a, f := newFake("a"), newFake("f")
	a.runErr, f.runErr = errors.New("ari: no node reachable"), errors.New("esl: connection refused")
	p, err := New([]Member{
		{Name: "asterisk", Nodes: []string{"ast1"}, New: func() (adapters.PBX, error) { x := newFake("a"); x.runErr = a.runErr; return x, nil }},
		{Name: "freeswitch", Nodes: []string{"fs1"}, New: func() (adapters.PBX, error) { x := newFake("f"); x.runErr = f.runErr; return x, nil }},
	}, Options{RetryDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range p.Events() {
		}
	}()
	err = p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "asterisk: ari: no node reachable") || !strings.Contains(err.Error(), "freeswitch: esl: connection refused") {
		t.Fatalf("Run: %v", err)
	}
}

// TestEventsMergedInOrder: a burst on both members comes out whole, each
// member's events in its own order, while the consumer is slow to start
// (the members' channels fill and wait; nothing is dropped).
func TestEventsMergedInOrder(t *testing.T) {
	const n = 5000
	a, f := newFake("a"), newFake("f")
	p, err := New([]Member{
		{Name: "asterisk", Nodes: []string{"ast1"}, New: fixed(a)},
		{Name: "freeswitch", Nodes: []string{"fs1"}, New: fixed(f)},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runMix(t, p)
	for _, m := range []struct {
		f    *fakePBX
		node string
	}{{a, "ast1"}, {f, "fs1"}} {
		go func() {
			for i := range n {
				m.f.events <- adapters.DTMFReceived{Base: adapters.Base{Ref: adapters.LegRef{Node: m.node, ID: "l"}}, Digit: string(rune('0' + i%10)), Duration: time.Duration(i)}
			}
		}()
	}
	next := map[string]int{}
	for next["ast1"]+next["fs1"] < 2*n {
		e := (<-p.Events()).(adapters.DTMFReceived)
		if int(e.Duration) != next[e.Ref.Node] {
			t.Fatalf("node %s: event %d came when %d was due", e.Ref.Node, e.Duration, next[e.Ref.Node])
		}
		next[e.Ref.Node]++
	}
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
