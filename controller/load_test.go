package controller

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// countJournal counts records and keeps none (load runs measure the
// controller, not the database).
type countJournal struct{ n atomic.Int64 }

func (j *countJournal) Append(storage.Record) { j.n.Add(1) }

const loadRules = `
queues:
  - name: support
    offer_timeout: 15s
    wrap_up: 2s
    max_misses: 0
default_queue: support
`

// floor is a controller and a sim on a scaled clock: agents agents,
// ratePerSec callers a second, simulated time running speed× real time.
type floor struct {
	clk    *clock.Scaled
	sim    *sim.PBX
	ctl    *Controller
	jr     *countJournal
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startFloor(tb testing.TB, agents int, ratePerSec, speed float64) *floor {
	tb.Helper()
	clk := clock.NewScaled(t0, speed)
	groups := []sim.AgentGroup{{Prefix: "a", Count: agents, Queues: map[string]int{"support": 1}, AnswerProbability: 0.97,
		RingDelay: time.Second, HandleTime: 12 * time.Second}}
	p, err := sim.New(sim.Config{Seed: 9, AgentGroups: groups,
		Streams: []sim.Stream{{DialedNumber: "1000", RatePerMinute: ratePerSec * 60, PatienceMean: time.Minute}}}, clk, quiet)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := routing.ParseRules("load.yaml", []byte(loadRules))
	if err != nil {
		tb.Fatal(err)
	}
	e := routing.NewEngine(cfg)
	for _, a := range (sim.Config{AgentGroups: groups}).Agents() {
		e.UpsertAgent(a, clk.Now())
		if _, err := e.Login(a.ID, clk.Now()); err != nil {
			tb.Fatal(err)
		}
	}
	f := &floor{clk: clk, sim: p, jr: &countJournal{}}
	f.ctl, err = New(Config{}, Deps{PBX: p, Engine: e, Journal: f.jr, Clock: clk, Log: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.wg.Add(2)
	go func() { defer f.wg.Done(); p.Run(ctx) }()
	go func() { defer f.wg.Done(); f.ctl.Run(ctx) }()
	return f
}

func (f *floor) stop() { f.cancel(); f.wg.Wait() }

// sizes is the controller's per-call state, read in the loop.
func (f *floor) sizes() (calls, legs, offers, legRecs int, indexErr error) {
	done := make(chan struct{})
	f.ctl.post(func() {
		calls, legs, offers, legRecs = len(f.ctl.calls), len(f.ctl.byLeg), len(f.ctl.offers), len(f.ctl.legRecs)
		indexErr = f.ctl.offerIndexErr()
		close(done)
	})
	<-done
	return
}

// BenchmarkControllerThroughSim: one op is one PBX event through the
// controller loop, on a floor of 1,000 agents taking 50 calls a second
// run 100× faster than real time (5,000 calls a wall second offered).
// events/s is the wall rate the loop kept; cpu-µs/call the process CPU
// (controller, routing and the simulator) per call that arrived; lag-ms
// how far the loop's event count trailed what the simulator delivered at
// the end (near 0 while the loop keeps up).
func BenchmarkControllerThroughSim(b *testing.B) {
	f := startFloor(b, 1000, 50, 100)
	defer f.stop()
	b.ResetTimer()
	start, startEv, startCalls, cpu0 := time.Now(), f.ctl.Received(), f.sim.Stats().Arrivals, cpuTime()
	for f.ctl.Received()-startEv < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	n := f.ctl.Received() - startEv
	calls := f.sim.Stats().Arrivals - startCalls
	b.ReportMetric(float64(n)/el.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(max(calls, 1)), "cpu-µs/call")
	b.ReportMetric(float64(f.sim.Delivered()-f.ctl.Received())/(float64(n)/el.Seconds())*1000, "lag-ms")
	b.ReportMetric(float64(f.sim.Stats().Arrivals)/f.clk.Now().Sub(t0).Seconds(), "sim-calls/s")
}

func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLoadMemoryFlat runs 1,000 agents at 50 calls a second for 10
// minutes of simulated time (SWITCHBOARD_LOAD=1; speed with
// SWITCHBOARD_LOAD_SPEED, default 20× — 30 s of wall time; 1 runs the
// full ten minutes in real time) and checks that memory does not grow
// with the number of calls handled:
//   - the live heap after 10 minutes stays within 1.5× (+8 MiB) of the
//     heap after 2 minutes, while the calls handled grow about fivefold;
//   - the controller's per-call maps stay bounded by the live calls
//     (legs and leg records ≤ 3 per call, offers ≤ 1 per call, + slack
//     for the ones ending right now);
//   - goroutines stay flat (no per-call goroutine left behind);
//   - the simulator kept the configured rate: arrivals within 5 σ of
//     30,000 (Poisson: σ ≈ 173).
func TestLoadMemoryFlat(t *testing.T) {
	if os.Getenv("SWITCHBOARD_LOAD") == "" {
		t.Skip("load run: set SWITCHBOARD_LOAD=1")
	}
	speed := 20.0
	if s := os.Getenv("SWITCHBOARD_LOAD_SPEED"); s != "" {
		var err error
		if speed, err = strconv.ParseFloat(s, 64); err != nil || speed <= 0 {
			t.Fatalf("SWITCHBOARD_LOAD_SPEED=%q: want a positive number", s)
		}
	}
	const agents, rate, minutes = 1000, 50.0, 10
	f := startFloor(t, agents, rate, speed)
	defer f.stop()
	cpu0, wall0 := cpuTime(), time.Now()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	var heap2 uint64
	var handled2, goroutines2 int
	var peakRSS int64
	for minute := 1; minute <= minutes; minute++ {
		for f.clk.Now().Sub(t0) < time.Duration(minute)*time.Minute {
			time.Sleep(20 * time.Millisecond)
		}
		h := heap()
		rss := rssKB()
		peakRSS = max(peakRSS, rss)
		calls, legs, offers, legRecs, indexErr := f.sizes()
		if indexErr != nil {
			t.Errorf("minute %d: %v", minute, indexErr)
		}
		st := f.sim.Stats()
		q := f.ctl.Snapshot().Queues[0]
		handled := st.Connected + st.Abandoned
		g := runtime.NumGoroutine()
		t.Logf("min %2d: heap %6.1f MiB rss %6.1f MiB goroutines %4d | sim %6d arrivals %6d answered %5d abandoned | live calls %4d legs %4d offers %4d legrecs %4d | SL %.3f waiting %d | events %d",
			minute, float64(h)/(1<<20), float64(rss)/1024, g, st.Arrivals, st.Connected, st.Abandoned, calls, legs, offers, legRecs,
			q.ServiceLevel, q.Waiting, f.ctl.Received())
		if legs > 3*calls+10 || legRecs > 3*calls+10 || offers > calls+10 {
			t.Errorf("minute %d: per-call state not freed: %d calls, %d legs, %d offers, %d leg records", minute, calls, legs, offers, legRecs)
		}
		switch minute {
		case 2:
			heap2, handled2, goroutines2 = h, handled, g
		case minutes:
			if h > heap2*3/2+8<<20 {
				t.Errorf("heap grew from %.1f to %.1f MiB between minute 2 and %d (calls handled %d → %d)", float64(heap2)/(1<<20), float64(h)/(1<<20), minutes, handled2, handled)
			}
			if handled < 4*handled2 {
				t.Errorf("only %d calls handled by minute %d against %d by minute 2: the floor did not carry the load", handled, minutes, handled2)
			}
			if g > goroutines2+100 {
				t.Errorf("goroutines grew from %d to %d", goroutines2, g)
			}
			want := rate * 60 * minutes
			if d := float64(st.Arrivals) - want; d > 5*173 || d < -5*173 {
				t.Errorf("%d arrivals in %d simulated minutes, want %.0f ± %d", st.Arrivals, minutes, want, 5*173)
			}
		}
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	st := f.sim.Stats()
	fmt.Printf("LOAD %d agents, %.0f calls/s, %d simulated min at %v×: wall %v, CPU %v (%.0f%% of one core, %.0f µs per call), peak RSS %.1f MiB, %d arrivals, %d PBX events, %d records\n",
		agents, rate, minutes, speed, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), 100*cpu.Seconds()/wall.Seconds(),
		float64(cpu.Microseconds())/float64(max(st.Arrivals, 1)), float64(peakRSS)/1024, st.Arrivals, f.ctl.Received(), f.jr.n.Load())
}
