package routing

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchFloor is the scale the product targets: agents with 20 skills each
// (levels 1–10), each a member of 3 of the queues; every fourth queue
// escalates on a skill (level ≥ 5, then any level after 30 s); one entry
// rule per queue by dialed number plus a VIP rule and a VIP boost, as a
// real routing file would have.
type benchFloor struct {
	e      *Engine
	queues int
	onCall map[string]string // agent id → its call (agents that are busy)
	busy   []string
}

func queueName(q int) string { return fmt.Sprintf("q%04d", q) }

func benchConfig(queues int) *Config {
	cfg := &Config{}
	for q := 0; q < queues; q++ {
		qc := QueueConfig{Name: queueName(q), WrapUp: 0, MaxWait: 10 * time.Minute, Exit: ExitPolicy{Action: ExitVoicemail}}
		if q%4 == 0 {
			sk := fmt.Sprintf("s%02d", q%20)
			qc.Steps = []Step{{After: 0, Require: map[string]int{sk: 5}}, {After: 30 * time.Second, Require: map[string]int{sk: 1}}}
		}
		cfg.Queues = append(cfg.Queues, qc)
		cfg.Entry = append(cfg.Entry, EntryRule{Name: "line-" + queueName(q), Dialed: []string{strconv.Itoa(10000 + q)}, Queue: queueName(q)})
	}
	cfg.Entry = append([]EntryRule{{Name: "vip", Queue: queueName(0), Priority: 5, Match: func(c Call, _ time.Time) bool { return c.Customer["vip"] == "platinum" }}}, cfg.Entry...)
	cfg.Boosts = []Boost{{Name: "vip", Add: 2, Match: func(c Call, _ time.Time) bool { return c.Vars["VIP"] == "1" }}}
	return cfg
}

// newBenchFloor builds the floor. With busy set, every agent logs in and
// takes a call, and waiting calls join afterwards (a saturated floor, the
// hard case for agent-available). Without it, every agent is free and
// nobody waits (the hard case for call arrival: many candidates).
func newBenchFloor(b *testing.B, agents, queues, waiting int, busy bool) *benchFloor {
	b.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	e, err := NewEngineChecked(benchConfig(queues))
	if err != nil {
		b.Fatal(err)
	}
	f := &benchFloor{e: e, queues: queues, onCall: map[string]string{}}
	now := t0
	for a := 0; a < agents; a++ {
		ag := Agent{ID: fmt.Sprintf("a%06d", a), Skills: map[string]int{}, Queues: map[string]int{}}
		for s := 0; s < 20; s++ {
			ag.Skills[fmt.Sprintf("s%02d", s)] = 1 + rng.IntN(10)
		}
		for k := 0; k < 3; k++ {
			ag.Queues[queueName(rng.IntN(queues))] = 1 + k
		}
		e.UpsertAgent(ag, now)
		ds, err := e.Login(ag.ID, now.Add(time.Duration(a)*time.Microsecond))
		if err != nil {
			b.Fatal(err)
		}
		f.answer(ds, now)
		if !busy {
			continue
		}
		// A call joins one of the agent's queues; whoever is free and
		// eligible answers it (an agent below a queue's skill floor may
		// stay free until an eligible call comes).
		qs := sortedQueues(ag.Queues)
		ds, _ = e.Enqueue(Call{ID: "warm-" + ag.ID}, qs[rng.IntN(len(qs))], 0, now, now)
		f.answer(ds, now)
	}
	for c := 0; c < waiting; c++ {
		ts := now.Add(time.Duration(c) * time.Millisecond)
		ds, _ := e.Enqueue(Call{ID: fmt.Sprintf("w%07d", c)}, queueName(rng.IntN(queues)), rng.IntN(3), ts, ts)
		f.answer(ds, ts)
	}
	for id := range f.onCall {
		f.busy = append(f.busy, id)
	}
	return f
}

// answer takes every offer in ds as answered at once (the sim's agents
// always pick up in the benchmark) and records who is on which call.
func (f *benchFloor) answer(ds []Decision, now time.Time) int {
	n := 0
	for _, d := range ds {
		if o, ok := d.(Offer); ok {
			f.e.Answered(o.CallID, o.AgentID, now)
			f.onCall[o.AgentID] = o.CallID
			n++
		}
	}
	return n
}

// cpuTime is the process's user+system CPU time so far. The machine is
// shared: wall-clock ns/op includes time the benchmark was not running,
// CPU time per op does not (it does include the collector's work on other
// threads, which is a real cost of the decision).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func reportHeap(b *testing.B, per int, unit string) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/float64(per), unit)
}

// BenchmarkRouteCallArrival: one call arrives (classified by the entry
// rules, 1,001 of them, indexed by dialed number; a boost; queued in
// priority order; matched). Sub-benchmarks:
//   - full: every agent busy, 50,000 waiting: the call is classified and
//     queued behind the others (no agent to find).
//   - free: every agent free, nobody waiting: the best free agent of the
//     queue is chosen under its strategy and skills and offered the call.
//
// One op is the arrival decision plus the caller hanging up (Abandoned),
// which keeps the floor the same size without pausing the timer.
func BenchmarkRouteCallArrival(b *testing.B) {
	for _, sz := range []struct {
		agents, queues, waiting int
		busy                    bool
		name                    string
	}{
		{1000, 1000, 50000, true, "full"},
		{10000, 1000, 50000, true, "full"},
		{100000, 1000, 50000, true, "full"},
		{1000, 1000, 0, false, "free"},
		{10000, 1000, 0, false, "free"},
		{100000, 1000, 0, false, "free"},
	} {
		if testing.Short() && sz.agents > 10000 {
			continue
		}
		b.Run(fmt.Sprintf("%s/agents=%d/queues=%d/waiting=%d", sz.name, sz.agents, sz.queues, sz.waiting), func(b *testing.B) {
			f := newBenchFloor(b, sz.agents, sz.queues, sz.waiting, sz.busy)
			ids := make([]string, 4096)
			dialed := make([]string, len(ids))
			for i := range ids {
				ids[i] = fmt.Sprintf("n%d", i)
				dialed[i] = strconv.Itoa(10000 + (i*7919)%sz.queues)
			}
			vars := map[string]string{"VIP": "1"}
			start := t0.Add(time.Minute)
			offered := 0
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				// Time moves 1 ms per op; timers (escalation, maximum
				// wait) fire as they would live, and their cost is in ops.
				now := start.Add(time.Duration(i) * time.Millisecond)
				if i%1024 == 0 {
					f.answer(f.e.Tick(now), now)
				}
				k := i % len(ids)
				c := Call{ID: ids[k], DialedNumber: dialed[k], CallerNumber: "+33100000000"}
				if i%10 == 0 {
					c.Vars = vars
				}
				ds, err := f.e.Arrive(c, now)
				if err != nil {
					b.Fatal(err)
				}
				for _, d := range ds {
					if _, ok := d.(Offer); ok {
						offered++
					}
				}
				f.e.Abandoned(c.ID, now)
			}
			b.StopTimer()
			reportCPU(b, cpu0)
			b.ReportMetric(float64(offered)/float64(b.N), "offers/op")
			reportHeap(b, sz.agents+sz.waiting, "heapB/(agent+call)")
			runtime.KeepAlive(f)
		})
	}
}

// BenchmarkRouteAgentAvailable: an agent finishes a call (no wrap-up) and
// becomes free while 50,000 calls wait in 1,000 queues: the engine finds
// the oldest eligible call (after priority ageing and skill escalation)
// across the agent's queues in its own queue priority order and offers it.
// One op is that decision plus the agent answering and one new call
// joining, which keeps the floor the same size without pausing the timer.
func BenchmarkRouteAgentAvailable(b *testing.B) {
	for _, sz := range []struct{ agents, queues, waiting int }{{1000, 1000, 50000}, {10000, 1000, 50000}, {100000, 1000, 50000}} {
		if testing.Short() && sz.agents > 10000 {
			continue
		}
		b.Run(fmt.Sprintf("agents=%d/queues=%d/waiting=%d", sz.agents, sz.queues, sz.waiting), func(b *testing.B) {
			f := newBenchFloor(b, sz.agents, sz.queues, sz.waiting, true)
			ids := make([]string, 1<<16)
			for i := range ids {
				ids[i] = fmt.Sprintf("r%d", i)
			}
			start := t0.Add(time.Minute)
			offered := 0
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				now := start.Add(time.Duration(i) * time.Millisecond)
				if i%1024 == 0 {
					f.answer(f.e.Tick(now), now)
				}
				ag := f.busy[i%len(f.busy)]
				call := f.onCall[ag]
				if call == "" {
					continue
				}
				ds := f.e.Ended(call, now)
				delete(f.onCall, ag)
				offered += f.answer(ds, now)
				// Refill the waiting line (ids recycle once the calls they
				// named have been answered and ended long before).
				id := ids[i%len(ids)]
				if _, known := f.e.CallQueue(id); !known {
					ds, _ := f.e.Enqueue(Call{ID: id}, queueName(i%f.queues), 0, now, now)
					f.answer(ds, now)
				}
			}
			b.StopTimer()
			reportCPU(b, cpu0)
			b.ReportMetric(float64(offered)/float64(b.N), "offers/op")
			reportHeap(b, sz.agents+sz.waiting, "heapB/(agent+call)")
			runtime.KeepAlive(f)
		})
	}
}

// BenchmarkWaitingCallMemory reports the heap held per waiting call: one
// op enqueues one more call (with its timers: escalation, maximum wait)
// into a floor of 10,000 busy agents and 1,000 queues.
func BenchmarkWaitingCallMemory(b *testing.B) {
	f := newBenchFloor(b, 10000, 1000, 0, true)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%d", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.e.Enqueue(Call{ID: ids[i], CallerNumber: "+33100000000", DialedNumber: "10042"}, queueName(i%f.queues), i%3, t0, t0)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heapB/waiting-call")
	runtime.KeepAlive(f)
	runtime.KeepAlive(ids)
}

// BenchmarkParseRulesWorstCases: ParseRules on the slowest files the
// limits allow (the API validates files from anyone holding the token, so
// no input may take seconds). One op parses one file; the goal is well
// under a second for every case on this 2-core machine.
//   - type-errors: 20,000 values of the wrong type (the positions were
//     found by one walk of the file per error: 31 s before).
//   - overflow-chain: 5,000 queues chained by overflow steps (the cycle
//     check walked the chain from every queue: 3.6 s before).
//   - entry-rules: 10,000 rules each with a compiled expression.
//   - steps: 1,900 queues × 50 steps (just under the size limit).
//   - long-expressions: 1,000 rules with 1.9 KB expressions.
//   - step-conditions: 37,500 steps with an agent condition, 10,000
//     distinct (one compilation each took 1.6 s for 40,000 before
//     repeated texts were compiled once and distinct ones bounded).
//   - patterns: `matches` patterns up to the file's budget of compiled
//     instructions; refused-patterns: 10,000 oversized ones (2.3 s
//     before patterns were bounded; refusing must not cost a
//     compilation each).
func BenchmarkParseRulesWorstCases(b *testing.B) {
	var typeErrs, chain, rules, steps, exprs, conds, pats, badPats strings.Builder
	typeErrs.WriteString("queues:\n")
	for i := 0; i < 20000; i++ {
		typeErrs.WriteString("  - {name: x, max_length: lots}\n")
	}
	chain.WriteString("queues:\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&chain, "  - {name: q%d, steps: [{after: 1s, overflow_to: q%d}]}\n", i, i+1)
	}
	chain.WriteString("  - {name: q5000}\n")
	rules.WriteString("queues: [{name: a}]\nentry:\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&rules, "  - {queue: a, when: 'caller == \"%d\" && hour > 3'}\n", i)
	}
	steps.WriteString("queues:\n")
	for i := 0; i < 1900; i++ {
		fmt.Fprintf(&steps, "  - name: q%d\n    steps:\n", i)
		for j := 0; j < MaxStepsPerQueue; j++ {
			fmt.Fprintf(&steps, "      - {after: %ds}\n", j)
		}
	}
	exprs.WriteString("queues: [{name: a}]\nentry:\n")
	long := strings.Repeat(` || caller == "12345"`, 90)
	for i := 0; i < 1000; i++ {
		// Distinct texts: a repeated one is compiled once.
		fmt.Fprintf(&exprs, "  - {name: r%d, queue: a, when: 'caller == \"%d\"%s'}\n", i, i, long)
	}
	conds.WriteString("queues:\n")
	for i := 0; i < 750; i++ {
		fmt.Fprintf(&conds, "  - name: q%d\n    steps:\n", i)
		for j := 0; j < MaxStepsPerQueue; j++ {
			fmt.Fprintf(&conds, "      - {after: %ds, agent: 'agent.skills.x > %d'}\n", j, (i*MaxStepsPerQueue+j)%MaxExpressions)
		}
	}
	pats.WriteString("queues: [{name: a}]\nentry:\n")
	for i := 0; i < MaxPatternsSize/(MaxPatternSize-10); i++ {
		fmt.Fprintf(&pats, "  - {queue: a, when: 'caller matches \"^[0-9]{%d}%d$\"'}\n", MaxPatternSize-10, i)
	}
	badPats.WriteString("queues: [{name: a}]\nentry:\n")
	for i := 0; i < MaxEntryRules; i++ {
		fmt.Fprintf(&badPats, "  - {queue: a, when: 'caller matches \"[a-z]{1000}%d\"'}\n", i)
	}
	for _, c := range []struct {
		name string
		src  string
		ok   bool
	}{
		{"type-errors", typeErrs.String(), false},
		{"overflow-chain", chain.String(), true},
		{"entry-rules", rules.String(), true},
		{"steps", steps.String(), true},
		{"long-expressions", exprs.String(), true},
		{"step-conditions", conds.String(), true},
		{"patterns", pats.String(), true},
		{"refused-patterns", badPats.String(), false},
	} {
		b.Run(c.name, func(b *testing.B) {
			data := []byte(c.src)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := ParseRules("worst.yaml", data); (err == nil) != c.ok {
					b.Fatalf("ok = %v: %.200v", err == nil, err)
				}
			}
		})
	}
}

// BenchmarkRouteWithLeadCallbacks: the full-floor arrival of
// BenchmarkRouteCallArrival (10,000 busy agents, 1,000 queues, 50,000
// waiting) with virtual-hold callbacks waiting under a lead time spread
// over the queues: every decision also looks for an agent predicted free
// for them, so this shows what lead-time callbacks add to each decision.
func BenchmarkRouteWithLeadCallbacks(b *testing.B) {
	for _, lead := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("lead-callbacks=%d", lead), func(b *testing.B) {
			f := newBenchFloor(b, 10000, 1000, 50000, true)
			now := t0.Add(30 * time.Second)
			for i := range lead {
				ds, err := f.e.EnqueueResumed(Call{ID: fmt.Sprintf("cb%d", i)}, queueName(i%1000),
					Resume{Since: t0.Add(-time.Duration(i) * time.Millisecond), LeadTime: 20 * time.Second}, now)
				if err != nil {
					b.Fatal(err)
				}
				f.answer(ds, now)
			}
			ids := make([]string, 4096)
			dialed := make([]string, len(ids))
			for i := range ids {
				ids[i] = fmt.Sprintf("n%d", i)
				dialed[i] = strconv.Itoa(10000 + (i*7919)%1000)
			}
			start := t0.Add(time.Minute)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				now := start.Add(time.Duration(i) * time.Millisecond)
				if i%1024 == 0 {
					f.answer(f.e.Tick(now), now)
				}
				k := i % len(ids)
				c := Call{ID: ids[k], DialedNumber: dialed[k], CallerNumber: "+33100000000"}
				if _, err := f.e.Arrive(c, now); err != nil {
					b.Fatal(err)
				}
				f.e.Abandoned(c.ID, now)
			}
			b.StopTimer()
			reportCPU(b, cpu0)
			runtime.KeepAlive(f)
		})
	}
}
