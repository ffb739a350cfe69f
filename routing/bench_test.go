package routing

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// benchEngine builds the scale the product targets: agents with 20 skills
// each, spread over queues, every agent busy (on a call) and waitingCalls
// calls waiting, so each decision works against a full floor.
func benchEngine(b *testing.B, agents, queues, waiting int) *Engine {
	b.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	cfg := &Config{}
	for q := 0; q < queues; q++ {
		qc := QueueConfig{Name: fmt.Sprintf("q%04d", q), WrapUp: 0}
		if q%4 == 0 {
			qc.Steps = []Step{{After: 0, Require: map[string]int{fmt.Sprintf("s%02d", q%20): 5}}, {After: 30 * time.Second, Require: map[string]int{fmt.Sprintf("s%02d", q%20): 1}}}
		}
		cfg.Queues = append(cfg.Queues, qc)
	}
	e, err := NewEngineChecked(cfg)
	if err != nil {
		b.Fatal(err)
	}
	now := t0
	for a := 0; a < agents; a++ {
		ag := Agent{ID: fmt.Sprintf("a%06d", a), Skills: map[string]int{}, Queues: map[string]int{}}
		for s := 0; s < 20; s++ {
			ag.Skills[fmt.Sprintf("s%02d", s)] = 1 + rng.IntN(10)
		}
		for k := 0; k < 3; k++ {
			ag.Queues[fmt.Sprintf("q%04d", rng.IntN(queues))] = 1 + k
		}
		e.UpsertAgent(ag, now)
	}
	// Fill the floor: every agent logs in and takes a call.
	for a := 0; a < agents; a++ {
		id := fmt.Sprintf("a%06d", a)
		e.Login(id, now)
		if av, _ := e.Agent(id); av.State == StateAvailable {
			qn := ""
			for q := range av.Queues {
				qn = q
				break
			}
			ds, _ := e.Enqueue(Call{ID: "warm-" + id}, qn, 0, now, now)
			for _, d := range ds {
				if o, ok := d.(Offer); ok {
					e.Answered(o.CallID, o.AgentID, now)
				}
			}
		}
	}
	for c := 0; c < waiting; c++ {
		e.Enqueue(Call{ID: fmt.Sprintf("w%07d", c)}, fmt.Sprintf("q%04d", rng.IntN(queues)), rng.IntN(3), now.Add(time.Duration(c)*time.Millisecond), now)
	}
	return e
}

func busyAgents(e *Engine) []string {
	var out []string
	for _, a := range e.Agents() {
		if a.State == StateOnCall {
			out = append(out, a.ID)
		}
	}
	return out
}

// BenchmarkRouteCallArrival: one call arrives at a full floor (no agent
// free): classify, insert in queue order, look for a free agent.
func BenchmarkRouteCallArrival(b *testing.B) {
	for _, sz := range []struct{ agents, queues, waiting int }{{10000, 1000, 50000}} {
		b.Run(fmt.Sprintf("agents=%d/queues=%d/waiting=%d", sz.agents, sz.queues, sz.waiting), func(b *testing.B) {
			e := benchEngine(b, sz.agents, sz.queues, sz.waiting)
			now := t0.Add(time.Minute)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := fmt.Sprintf("n%d", i)
				e.Enqueue(Call{ID: id}, fmt.Sprintf("q%04d", i%sz.queues), 0, now, now)
				b.StopTimer()
				e.Abandoned(id, now) // keep the floor the same size
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRouteAgentAvailable: an agent finishes a call and becomes free
// while 50,000 calls wait: find the best eligible call across its queues
// and offer it.
func BenchmarkRouteAgentAvailable(b *testing.B) {
	for _, sz := range []struct{ agents, queues, waiting int }{{1000, 1000, 50000}, {10000, 1000, 50000}, {100000, 1000, 50000}} {
		if testing.Short() && sz.agents > 10000 {
			continue
		}
		b.Run(fmt.Sprintf("agents=%d/queues=%d/waiting=%d", sz.agents, sz.queues, sz.waiting), func(b *testing.B) {
			e := benchEngine(b, sz.agents, sz.queues, sz.waiting)
			busy := busyAgents(e)
			now := t0.Add(time.Minute)
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc)/float64(sz.waiting+sz.agents), "heapB/(call+agent)")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := busy[i%len(busy)]
				av, _ := e.Agent(id)
				if av.State != StateOnCall {
					b.StopTimer()
					continue
				}
				// The agent's call ends; with no wrap-up it is free at once
				// and is offered the next call.
				b.StopTimer()
				call := av.CallID
				b.StartTimer()
				ds := e.Ended(call, now)
				b.StopTimer()
				for _, d := range ds {
					if o, ok := d.(Offer); ok {
						e.Answered(o.CallID, o.AgentID, now)
					}
				}
				// Refill the waiting line so it stays at its size.
				e.Enqueue(Call{ID: fmt.Sprintf("r%d", i)}, fmt.Sprintf("q%04d", i%sz.queues), 0, now, now)
				b.StartTimer()
			}
		})
	}
}
