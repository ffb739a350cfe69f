package controller

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/clock"
)

// twoNodes is the simulator plus a second node whose link state the test
// reports, the way a multi-node adapter reports each node's link.
type twoNodes struct {
	*sim.PBX
	evs    chan adapters.Event
	inject chan adapters.Event
}

func (p *twoNodes) Events() <-chan adapters.Event { return p.evs }

func (p *twoNodes) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		in := p.PBX.Events()
		for {
			select {
			case ev, ok := <-in:
				if !ok {
					return
				}
				p.evs <- ev
			case ev := <-p.inject:
				p.evs <- ev
			}
		}
	}()
	err := p.PBX.Run(ctx)
	<-done
	close(p.evs)
	return err
}

// Readiness with several PBX nodes: ready while at least one node is up
// and active; the others down or in standby make it degraded, named in
// the reason; not ready only when no node serves.
func TestReadyDegradedWhileOneNodeServes(t *testing.T) {
	clk := clock.NewManual(t0)
	s, err := sim.New(sim.Config{Seed: 1}, clk, quiet)
	if err != nil {
		t.Fatal(err)
	}
	p := &twoNodes{PBX: s, evs: make(chan adapters.Event, 64), inject: make(chan adapters.Event)}
	ctl, err := New(Config{}, Deps{PBX: p, Engine: newEngine(t, testRules, nil), Clock: clk, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctl.snapEvery = 0
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.Run(ctx) }()
	go func() { defer wg.Done(); ctl.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	node := func(name string, up, standby bool, why string) {
		p.inject <- adapters.NodeState{Base: adapters.Base{At: clk.Now()}, Node: name, Up: up, Standby: standby, Err: why}
	}
	for _, step := range []struct {
		name   string
		report func()
		ready  bool
		reason []string // all in the reason; none means ""
	}{
		{"both up", func() { node("pbx2", true, false, "") }, true, nil},
		{"pbx2 down", func() { node("pbx2", false, false, "connection refused") }, true, []string{"degraded: ", "pbx node pbx2 down: connection refused"}},
		{"sim in standby too", func() { node(sim.NodeName, false, true, "replaced") }, false, []string{"pbx node pbx2 down", "pbx node sim: standby"}},
		{"pbx2 back", func() { node("pbx2", true, false, "") }, true, []string{"degraded: ", "pbx node sim: standby"}},
	} {
		step.report()
		deadline := time.Now().Add(5 * time.Second)
		for {
			ok, why := ctl.Ready()
			match := ok == step.ready && (len(step.reason) > 0 || why == "")
			for _, want := range step.reason {
				match = match && strings.Contains(why, want)
			}
			if match {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: Ready() = %v %q, want %v with %q", step.name, ok, why, step.ready, step.reason)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
