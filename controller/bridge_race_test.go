package controller

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// slowBridgePBX holds the controller's Bridge command so a test can act
// in between: before the PBX makes the bridge (first) or after it made it
// but before the reply reaches the controller. It keeps the causes of the
// hangups the controller asks for.
type slowBridgePBX struct {
	*sim.PBX
	first   bool
	arrived chan []adapters.LegRef
	release chan struct{}

	mu      sync.Mutex
	hangups []int
}

func (g *slowBridgePBX) Hangup(ctx context.Context, ref adapters.LegRef, cause int) error {
	g.mu.Lock()
	g.hangups = append(g.hangups, cause)
	g.mu.Unlock()
	return g.PBX.Hangup(ctx, ref, cause)
}

func (g *slowBridgePBX) Bridge(ctx context.Context, refs ...adapters.LegRef) (adapters.BridgeRef, error) {
	if g.first {
		g.arrived <- refs
		<-g.release
		return g.PBX.Bridge(ctx, refs...)
	}
	b, err := g.PBX.Bridge(ctx, refs...)
	g.arrived <- refs
	<-g.release
	return b, err
}

// The agent hangs up 1 ms after the pick-up, and the hangup reaches the
// controller before the bridge's reply: either the PBX had made the bridge
// (the reply, a success, is merely late) or the leg was gone before it
// could (the reply is an error). The call ends at the hangup, answered by
// the agent with 1 ms of talk, and listeners see no "bridged" after its
// "ended" (a recording would start on a dead call); the late reply neither
// ends the call again nor hangs anything up, and no leg is left.
func TestAgentHangsUpBeforeBridgeReply(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first bool
	}{
		{"bridged, reply late", false},
		{"hung up before the bridge", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, testRules, []sim.AgentGroup{good}, nil, nil)
			g := &slowBridgePBX{PBX: r.sim, first: tc.first, arrived: make(chan []adapters.LegRef, 1), release: make(chan struct{})}
			r.stopController()
			r.restart()
			r.pbx = g
			r.start(newEngine(t, testRules, []sim.AgentGroup{good}), nil)
			r.settle()
			r.login("good-001")
			caller := r.inject("1000", "5551000", 0)
			// Step the clock to each sim happening until the agent picks up
			// and the controller's Bridge is held (the controller is then
			// never idle, so the rig's settle cannot be used).
			var refs []adapters.LegRef
			deadline := time.Now().Add(10 * time.Second)
		wait:
			for {
				select {
				case refs = <-g.arrived:
					break wait
				default:
				}
				if time.Now().After(deadline) {
					t.Fatal("the controller never bridged")
				}
				if r.sim.Idle() && r.ctl.Idle() {
					step := time.Second
					if at, ok := r.sim.NextEvent(); ok && at.After(r.clk.Now()) && at.Sub(r.clk.Now()) < step {
						step = at.Sub(r.clk.Now())
					}
					r.clk.Advance(step)
				}
				time.Sleep(100 * time.Microsecond)
			}
			answeredAt := r.clk.Now()
			var agentLeg adapters.LegRef
			for _, ref := range refs {
				if ref != caller {
					agentLeg = ref
				}
			}
			if agentLeg.IsZero() {
				t.Fatalf("bridge of %v has no agent leg", refs)
			}
			r.clk.Advance(time.Millisecond)
			r.sim.HangupFar(agentLeg)
			for {
				if _, live := r.call(caller); !live {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the agent's hangup did not end the call")
				}
				time.Sleep(100 * time.Microsecond)
			}
			close(g.release)
			r.settle()

			// Only the caller is hung up, normally, when the agent's
			// hangup ends the call; not both legs again with cause 41 as
			// for a bridge that failed on a live call.
			g.mu.Lock()
			hangups := fmt.Sprint(g.hangups)
			g.mu.Unlock()
			if hangups != "[16]" {
				t.Fatalf("the controller hung up legs with causes %s, want [16] (the caller, once)", hangups)
			}
			want := []string{"arrived", "queued", "offered", "answered", "ended"}
			if got := r.obs.of(callID(caller)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("observer saw %v, want %v", got, want)
			}
			c := r.jr.calls()[callID(caller)]
			if c.Outcome != storage.OutcomeAnswered || c.AgentID != "good-001" || c.EndReason != "agent hung up" ||
				c.AnsweredAt == nil || !c.AnsweredAt.Equal(answeredAt) || c.EndedAt == nil || !c.EndedAt.Equal(answeredAt.Add(time.Millisecond)) ||
				math.Abs(c.TalkSeconds-0.001) > 1e-9 {
				t.Fatalf("call record %+v; want answered by good-001 at %s, 1 ms of talk, ended by the agent", c, answeredAt)
			}
			if q := r.queue("support"); q.Answered != 1 || q.Abandoned != 0 {
				t.Fatalf("support: %+v, want the call answered", q)
			}
			if a := r.agent("good-001"); a.State != routing.StateWrapUp {
				t.Fatalf("agent %s after the call, want wrap-up", a.State)
			}
			if legs := r.sim.Legs(); len(legs) != 0 {
				t.Fatalf("legs left on the PBX: %v", legs)
			}
			r.advance(15 * time.Second)
			if a := r.agent("good-001"); a.State != routing.StateAvailable {
				t.Fatalf("agent %s after wrap-up, want available", a.State)
			}
			if n := len(r.ctl.Snapshot().Calls); n != 0 {
				t.Fatalf("%d calls left in the controller", n)
			}
		})
	}
}
