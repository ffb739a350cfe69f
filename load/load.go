// Package load drives synthetic call traffic through the real controller
// and routing engine against a chosen PBX and measures what it costs:
// calls completed per second, process CPU per call, memory (peak RSS and
// the live heap over the run) and time to answer. It is what
// `switchboard load` runs, and what docs/benchmarks.md reports.
//
// Three PBXs are available:
//
//   - sim: the in-process simulated PBX (Poisson arrivals, exponential
//     ring and talk times, callers with patience), on a clock that may run
//     faster than real time;
//   - asterisk: the ARI adapter with the real ari/v6 client over loopback
//     HTTP and WebSocket, against the fake Asterisk (aritest);
//   - freeswitch: the ESL adapter with the real eslgo client over
//     loopback TCP, against the fake FreeSWITCH (esltest).
//
// With the wire fakes, callers arrive at the configured rate (Poisson,
// seeded), agents answer after the ring time and hang up after the talk
// time. The figures cover the whole process: controller, routing,
// adapter, client library, the fake PBX and the journal.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// PBX names.
const (
	PBXSim        = "sim"
	PBXAsterisk   = "asterisk"
	PBXFreeSWITCH = "freeswitch"
)

const queueName = "support"

// ErrInvalid is wrapped by option errors (bad usage: exit 2).
var ErrInvalid = errors.New("invalid load options")

// Options say what traffic to drive.
type Options struct {
	// PBX is sim (default), asterisk or freeswitch.
	PBX string
	// Agents are logged in from the start (default 100).
	Agents int
	// Rate is new calls per second (default 10), Poisson.
	Rate float64
	// Duration is how long callers arrive (default 1m); on the simulator
	// it is simulated time.
	Duration time.Duration
	// Speed runs the simulator's clock this many times faster than real
	// time (sim only; default 1).
	Speed float64
	// Ring is how long an agent's phone rings before it is picked up
	// (default 1s; the simulator's mean). Talk is the talk time (default
	// 12s; the simulator's mean). WrapUp is after-call work (default 2s).
	Ring, Talk, WrapUp time.Duration
	// Patience is how long a caller waits for an agent before hanging up
	// (the simulator's mean; fixed on the wire fakes); 0: never.
	Patience time.Duration
	// Drain bounds how long the run waits, after the last arrival, for
	// the calls in progress to end (default 2×(ring+talk+wrap-up) plus
	// patience, at least 10 s; on the simulator, where those are means of
	// exponential draws, 10× their sum, in simulated time).
	Drain time.Duration
	// Seed makes the arrivals (and the simulator) reproducible.
	Seed uint64
	// Database, when set, is a DSN (sqlite:PATH or MySQL) the records go
	// to through the write-behind journal, as in serve; empty: records
	// are counted and dropped, so the figures are the call path alone.
	Database string
	// JournalDir holds the journal's local log with Database (default a
	// temporary directory, removed afterwards).
	JournalDir string
	// SampleEvery is the wall time between two samples (default a
	// twentieth of the run, at least a second).
	SampleEvery time.Duration
	// Progress, when set, receives each sample as it is taken.
	Progress func(Sample)
	// Log receives the adapter's and the controller's logs (default none).
	Log *slog.Logger
}

// Report is what a run measured. Durations are in seconds and memory in
// bytes, so that -o json reads the same as the table.
type Report struct {
	PBX    string  `json:"pbx" yaml:"pbx"`
	Agents int     `json:"agents" yaml:"agents"`
	Rate   float64 `json:"rate_per_second" yaml:"rate_per_second"`
	Speed  float64 `json:"speed" yaml:"speed"`
	// TrafficSeconds is how long callers arrived (simulated time on the
	// simulator); WallSeconds the whole run, drain included.
	TrafficSeconds float64 `json:"traffic_seconds" yaml:"traffic_seconds"`
	WallSeconds    float64 `json:"wall_seconds" yaml:"wall_seconds"`

	// Calls, as the controller saw them. Offered = Completed + Abandoned
	// + Exited + Live.
	Offered  int `json:"offered" yaml:"offered"`
	Answered int `json:"answered" yaml:"answered"`
	// Bridged counts the answered calls whose caller and agent were
	// joined; Completed the answered calls that ended.
	Bridged   int `json:"bridged" yaml:"bridged"`
	Completed int `json:"completed" yaml:"completed"`
	Abandoned int `json:"abandoned" yaml:"abandoned"`
	Exited    int `json:"exited" yaml:"exited"`
	Live      int `json:"live_at_end" yaml:"live_at_end"`

	// ArrivalsPerSecond is the arrival rate achieved over the traffic
	// time; CompletedPerSecond the calls completed per second once the
	// floor is warm (from one ring+talk+wrap-up after the start to the
	// last arrival), on the run's clock.
	ArrivalsPerSecond  float64 `json:"arrivals_per_second" yaml:"arrivals_per_second"`
	CompletedPerSecond float64 `json:"completed_per_second" yaml:"completed_per_second"`

	// CPU of the whole process over the run, and per call handled
	// (completed, abandoned or exited).
	CPUSeconds   float64 `json:"cpu_seconds" yaml:"cpu_seconds"`
	CPUPerCallUS float64 `json:"cpu_per_call_us" yaml:"cpu_per_call_us"`
	// CPUShare is CPU over wall time (1 = one core busy).
	CPUShare float64 `json:"cpu_share" yaml:"cpu_share"`

	// Memory: the process's peak RSS, and its live heap (after a
	// collection) at the start of traffic, at its highest sample and at
	// the end of traffic.
	PeakRSSBytes   int64  `json:"peak_rss_bytes" yaml:"peak_rss_bytes"`
	HeapStartBytes uint64 `json:"heap_start_bytes" yaml:"heap_start_bytes"`
	HeapPeakBytes  uint64 `json:"heap_peak_bytes" yaml:"heap_peak_bytes"`
	HeapEndBytes   uint64 `json:"heap_end_bytes" yaml:"heap_end_bytes"`
	// Goroutines the run left behind once everything it started had
	// stopped (0 unless something leaks).
	Goroutines int `json:"goroutines_left" yaml:"goroutines_left"`

	// TimeToAnswer is arrival → agent answer of the answered calls, on
	// the run's clock.
	TimeToAnswer Percentiles `json:"time_to_answer" yaml:"time_to_answer"`

	// Events is the PBX events the controller took; Records what it gave
	// the journal.
	Events  uint64 `json:"pbx_events" yaml:"pbx_events"`
	Records int64  `json:"records" yaml:"records"`
	// PBXCounts are the PBX's own figures (the simulator's bookkeeping,
	// the fake's requests and originates), counted apart from the
	// controller.
	PBXCounts map[string]int `json:"pbx_counts" yaml:"pbx_counts"`

	Samples []Sample `json:"samples,omitempty" yaml:"samples,omitempty"`
}

// Percentiles of a duration, in seconds.
type Percentiles struct {
	Count int     `json:"count" yaml:"count"`
	P50   float64 `json:"p50" yaml:"p50"`
	P90   float64 `json:"p90" yaml:"p90"`
	P99   float64 `json:"p99" yaml:"p99"`
	Max   float64 `json:"max" yaml:"max"`
}

// Sample is the run at one moment.
type Sample struct {
	WallSeconds  float64 `json:"wall_seconds" yaml:"wall_seconds"`
	ClockSeconds float64 `json:"clock_seconds" yaml:"clock_seconds"` // on the run's clock
	Offered      int     `json:"offered" yaml:"offered"`
	Completed    int     `json:"completed" yaml:"completed"`
	Live         int     `json:"live" yaml:"live"`
	Waiting      int     `json:"waiting" yaml:"waiting"`
	HeapBytes    uint64  `json:"heap_bytes" yaml:"heap_bytes"`
	RSSBytes     int64   `json:"rss_bytes" yaml:"rss_bytes"`
}

func (o *Options) defaults() error {
	if o.PBX == "" {
		o.PBX = PBXSim
	}
	switch o.PBX {
	case PBXSim, PBXAsterisk, PBXFreeSWITCH:
	default:
		return fmt.Errorf("%w: pbx %q: want sim, asterisk or freeswitch", ErrInvalid, o.PBX)
	}
	if o.Agents == 0 {
		o.Agents = 100
	}
	if o.Rate == 0 {
		o.Rate = 10
	}
	if o.Duration == 0 {
		o.Duration = time.Minute
	}
	if o.Speed == 0 {
		o.Speed = 1
	}
	if o.Ring == 0 {
		o.Ring = time.Second
	}
	if o.Talk == 0 {
		o.Talk = 12 * time.Second
	}
	if o.WrapUp == 0 {
		o.WrapUp = 2 * time.Second
	}
	switch {
	case o.Agents < 1 || o.Agents > 100000:
		return fmt.Errorf("%w: agents %d: want 1..100000", ErrInvalid, o.Agents)
	case o.Rate < 0 || o.Rate > 100000:
		return fmt.Errorf("%w: rate %v: want 0..100000 calls a second", ErrInvalid, o.Rate)
	case o.Duration < 0:
		return fmt.Errorf("%w: duration %v is negative", ErrInvalid, o.Duration)
	case o.Speed < 0:
		return fmt.Errorf("%w: speed %v is negative", ErrInvalid, o.Speed)
	case o.Speed != 1 && o.PBX != PBXSim:
		return fmt.Errorf("%w: speed %v: only the simulator runs faster than real time (the wire fakes run on the wall clock)", ErrInvalid, o.Speed)
	case o.Ring < 0 || o.Talk < 0 || o.WrapUp < 0 || o.Patience < 0 || o.Drain < 0:
		return fmt.Errorf("%w: ring, talk, wrap-up, patience and drain must not be negative", ErrInvalid)
	}
	if o.Drain == 0 {
		o.Drain = max(2*(o.Ring+o.Talk+o.WrapUp)+o.Patience, 10*time.Second)
		if o.PBX == PBXSim {
			// Ring, talk and patience are exponential there: allow for
			// the tail (the run ends as soon as the last call does).
			o.Drain = max(10*(o.Ring+o.Talk+o.WrapUp+o.Patience), 10*time.Second)
		}
	}
	if o.SampleEvery <= 0 {
		wall := time.Duration(float64(o.Duration) / o.Speed)
		o.SampleEvery = max(wall/20, time.Second)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// Run drives the traffic the options describe and reports its figures.
// It returns early, with what it measured so far, when ctx ends.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	goroutines0 := runtime.NumGoroutine()
	b, err := newBackend(o, o.Log.With("component", o.PBX))
	if err != nil {
		return nil, fmt.Errorf("load: %s: %w", o.PBX, err)
	}
	var closeOnce sync.Once
	closeBackend := func() { closeOnce.Do(b.close) }
	defer closeBackend()
	clk := b.clock()

	rules, err := routing.ParseRules("load.yaml", []byte(fmt.Sprintf(
		"queues:\n  - name: %s\n    offer_timeout: 15s\n    wrap_up: %s\n    max_misses: 0\ndefault_queue: %s\n", queueName, o.WrapUp, queueName)))
	if err != nil {
		return nil, fmt.Errorf("load: routing: %w", err)
	}
	eng, err := routing.NewEngineChecked(rules)
	if err != nil {
		return nil, fmt.Errorf("load: routing: %w", err)
	}
	// Agents are in and available before the PBX runs, so the first
	// callers find them (the simulator's streams start with its Run).
	for _, a := range b.agents() {
		eng.UpsertAgent(a, clk.Now())
		if _, err := eng.Login(a.ID, clk.Now()); err != nil {
			return nil, fmt.Errorf("load: agent %s: %w", a.ID, err)
		}
	}

	jr, closeJournal, err := openJournal(ctx, o)
	if err != nil {
		return nil, err
	}
	obs := newTally()
	ctl, err := controller.New(controller.Config{}, controller.Deps{PBX: b.port(), Engine: eng, Journal: jr, Clock: clk,
		Log: o.Log, Observers: []controller.Observer{obs}})
	if err != nil {
		closeJournal()
		return nil, err
	}

	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	pbxErr := make(chan error, 1)
	wg.Add(2)
	go func() { defer wg.Done(); pbxErr <- b.port().Run(rctx) }()
	go func() { defer wg.Done(); _ = ctl.Run(rctx) }()
	stop := func() { cancel(); wg.Wait(); closeJournal() }

	if err := waitReady(ctx, ctl, pbxErr); err != nil {
		stop()
		return nil, fmt.Errorf("load: %s: %w", o.PBX, err)
	}

	r := &Report{PBX: o.PBX, Agents: o.Agents, Rate: o.Rate, Speed: o.Speed}
	cpu0, wall0, clk0 := processCPU(), time.Now(), clk.Now()
	warm := clk0.Add(min(o.Ring+o.Talk+o.WrapUp, o.Duration/2))
	obs.setWarm(warm)
	r.HeapStartBytes = liveHeap()
	r.HeapPeakBytes = r.HeapStartBytes
	end := clk0.Add(o.Duration)

	sample := func() Sample {
		s := Sample{WallSeconds: time.Since(wall0).Seconds(), ClockSeconds: clk.Now().Sub(clk0).Seconds(),
			HeapBytes: liveHeap(), RSSBytes: procStatus("VmRSS")}
		s.Offered, s.Completed, s.Live = obs.counts()
		for _, q := range ctl.Snapshot().Queues {
			s.Waiting += q.Waiting
		}
		r.HeapPeakBytes = max(r.HeapPeakBytes, s.HeapBytes)
		r.Samples = append(r.Samples, s)
		if o.Progress != nil {
			o.Progress(s)
		}
		return s
	}

	// Traffic.
	injectDone := make(chan error, 1)
	if b.generates() {
		close(injectDone)
	} else {
		go func() { injectDone <- inject(rctx, o, b, clk, end, obs) }()
	}
	ticker := time.NewTicker(o.SampleEvery)
	defer ticker.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	var runErr error
traffic:
	for clk.Now().Before(end) {
		select {
		case <-ctx.Done():
			runErr = ctx.Err()
			break traffic
		case err := <-pbxErr:
			runErr = fmt.Errorf("load: %s adapter stopped: %w", o.PBX, err)
			pbxErr <- err
			break traffic
		case <-ticker.C:
			sample()
		case <-poll.C:
		}
	}
	b.stopArrivals()
	if !b.generates() {
		if err := <-injectDone; err != nil && runErr == nil && ctx.Err() == nil {
			runErr = err
		}
	}
	trafficEnd := clk.Now()
	r.TrafficSeconds = trafficEnd.Sub(clk0).Seconds()
	r.HeapEndBytes = sample().HeapBytes
	completedWarm := obs.completedSinceWarm()

	// Drain: the calls in progress end by themselves.
	drainEnd := trafficEnd.Add(o.Drain)
	for runErr == nil && clk.Now().Before(drainEnd) {
		if _, _, live := obs.counts(); live == 0 {
			break
		}
		select {
		case <-ctx.Done():
			runErr = ctx.Err()
		case <-ticker.C:
			sample()
		case <-poll.C:
		}
	}
	// Let the controller finish what it started (hangups, records).
	idleBy := time.Now().Add(5 * time.Second)
	for !ctl.Idle() && time.Now().Before(idleBy) {
		time.Sleep(time.Millisecond)
	}
	cpu := processCPU() - cpu0
	wall := time.Since(wall0)
	r.Events = ctl.Received()
	r.PBXCounts = b.counts()
	stop()
	closeBackend()

	st := obs.final()
	r.Offered, r.Answered, r.Bridged, r.Completed, r.Abandoned, r.Exited = st.offered, st.answered, st.bridged, st.completed, st.abandoned, st.exited
	r.Live = st.offered - st.completed - st.abandoned - st.exited
	r.Records = jr.count()
	r.WallSeconds = wall.Seconds()
	if r.TrafficSeconds > 0 {
		r.ArrivalsPerSecond = float64(st.offeredInTraffic) / r.TrafficSeconds
	}
	if steady := trafficEnd.Sub(warm).Seconds(); steady > 0 {
		r.CompletedPerSecond = float64(completedWarm) / steady
	}
	r.CPUSeconds = cpu.Seconds()
	if handled := st.completed + st.abandoned + st.exited; handled > 0 {
		r.CPUPerCallUS = float64(cpu.Microseconds()) / float64(handled)
	}
	if wall > 0 {
		r.CPUShare = cpu.Seconds() / wall.Seconds()
	}
	r.PeakRSSBytes = procStatus("VmHWM")
	// Connections and timers wind down for a moment after their owners
	// stopped; a leak stays.
	for settle := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > goroutines0 && time.Now().Before(settle); {
		time.Sleep(10 * time.Millisecond)
	}
	r.Goroutines = runtime.NumGoroutine() - goroutines0
	r.TimeToAnswer = st.answer
	return r, runErr
}

func waitReady(ctx context.Context, ctl *controller.Controller, pbxErr chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ok, _ := ctl.Ready(); ok {
			return nil
		}
		select {
		case err := <-pbxErr:
			return fmt.Errorf("adapter stopped: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_, why := ctl.Ready()
			return fmt.Errorf("not ready after 30s: %s", why)
		}
	}
}

// inject brings callers to a wire fake at the configured Poisson rate
// until end, and hangs each up when its patience runs out before an
// agent answered.
func inject(ctx context.Context, o Options, b backend, clk interface{ Now() time.Time }, end time.Time, obs *tally) error {
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x10ad))
	next := clk.Now()
	for n := 1; ; n++ {
		next = next.Add(time.Duration(rng.ExpFloat64() * float64(time.Second) / o.Rate))
		if !next.Before(end) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
		number := fmt.Sprintf("+1555%07d", n)
		ch, err := b.inject(number)
		if err != nil {
			return fmt.Errorf("load: inject call %d: %w", n, err)
		}
		obs.injected.Add(1)
		if o.Patience > 0 {
			time.AfterFunc(o.Patience, func() {
				if !obs.wasAnswered(number) {
					_ = b.hangup(ch) // gone already if it ended meanwhile
				}
			})
		}
	}
}

// ------------------------------------------------------------ the tally

// tally counts the calls from the controller's events. Observe runs in
// the controller's loop; the lock is never held for long.
type tally struct {
	injected atomic.Int64

	mu        sync.Mutex
	warm      time.Time
	arrived   map[string]time.Time // call id → arrival, while unanswered
	bridged   map[string]bool      // call id → bridged, while it lasts
	answeredN map[string]bool      // caller number → answered (wire patience)
	trafficOn bool
	st        tallyState
	hist      histogram
}

type tallyState struct {
	offered, offeredInTraffic, answered, bridged, completed, abandoned, exited int
	completedWarm                                                              int
	answer                                                                     Percentiles
}

func newTally() *tally {
	return &tally{arrived: map[string]time.Time{}, bridged: map[string]bool{}, answeredN: map[string]bool{}, trafficOn: true}
}

func (t *tally) setWarm(at time.Time) {
	t.mu.Lock()
	t.warm = at
	t.mu.Unlock()
}

// Observe implements controller.Observer.
func (t *tally) Observe(e controller.CallEvent) {
	switch e.Kind {
	case controller.EventArrived, controller.EventAnswered, controller.EventBridged, controller.EventEnded, controller.EventAbandoned, controller.EventExited:
	default:
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e.Kind {
	case controller.EventArrived:
		t.st.offered++
		if t.trafficOn {
			t.st.offeredInTraffic++
		}
		t.arrived[e.CallID] = e.At
	case controller.EventAnswered:
		t.st.answered++
		if at, ok := t.arrived[e.CallID]; ok {
			t.hist.add(e.At.Sub(at))
			delete(t.arrived, e.CallID)
		}
		if e.CallerNumber != "" {
			t.answeredN[e.CallerNumber] = true
		}
	case controller.EventBridged:
		if !t.bridged[e.CallID] {
			t.bridged[e.CallID] = true
			t.st.bridged++
		}
	case controller.EventEnded:
		t.st.completed++
		if !t.warm.IsZero() && !e.At.Before(t.warm) {
			t.st.completedWarm++
		}
		t.forget(e)
	case controller.EventAbandoned:
		t.st.abandoned++
		t.forget(e)
	case controller.EventExited:
		t.st.exited++
		t.forget(e)
	}
}

func (t *tally) forget(e controller.CallEvent) {
	delete(t.arrived, e.CallID)
	delete(t.bridged, e.CallID)
	delete(t.answeredN, e.CallerNumber)
}

func (t *tally) wasAnswered(number string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.answeredN[number]
}

func (t *tally) counts() (offered, completed, live int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st.offered, t.st.completed, t.st.offered - t.st.completed - t.st.abandoned - t.st.exited
}

// completedSinceWarm ends the traffic window: calls arriving from now on
// are drain, not traffic.
func (t *tally) completedSinceWarm() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trafficOn = false
	return t.st.completedWarm
}

func (t *tally) final() tallyState {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.st
	h := &t.hist
	st.answer = Percentiles{Count: h.n, P50: h.quantile(0.50).Seconds(), P90: h.quantile(0.90).Seconds(),
		P99: h.quantile(0.99).Seconds(), Max: h.max.Seconds()}
	return st
}

// --------------------------------------------------------------- records

// journal is what the controller writes to: the storage journal, or a
// counter that keeps nothing.
type journal interface {
	controller.Journal
	count() int64
}

type countingJournal struct {
	n    atomic.Int64
	next controller.Journal // nil: drop
}

func (j *countingJournal) Append(r storage.Record) {
	j.n.Add(1)
	if j.next != nil {
		j.next.Append(r)
	}
}

func (j *countingJournal) count() int64 { return j.n.Load() }

// openJournal opens the database and runs its journal when a DSN is set;
// the returned close flushes the journal and closes both.
func openJournal(ctx context.Context, o Options) (journal, func(), error) {
	if o.Database == "" {
		return &countingJournal{}, func() {}, nil
	}
	store, err := storage.Open(ctx, o.Database, storage.WithLogger(o.Log))
	if err != nil {
		return nil, nil, fmt.Errorf("load: database: %w", err)
	}
	if _, err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("load: migrating database: %w", err)
	}
	dir, tmp := o.JournalDir, ""
	if dir == "" {
		if tmp, err = os.MkdirTemp("", "switchboard-load-journal-"); err != nil {
			store.Close()
			return nil, nil, err
		}
		dir = tmp
	}
	j, err := storage.NewJournal(store, storage.JournalOptions{Dir: dir}, o.Log)
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("load: journal: %w", err)
	}
	jctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(jctx) }()
	closeFn := func() {
		fctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := j.Flush(fctx); err != nil {
			o.Log.Warn("load: journal not fully written at the end", "err", err)
		}
		cancel()
		stop()
		<-done
		store.Close()
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}
	return &countingJournal{next: j}, closeFn, nil
}
