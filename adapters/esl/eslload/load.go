// Package eslload drives complete calls through the FreeSWITCH adapter and
// the real eslgo client against the fake FreeSWITCH (esltest) on real
// sockets, and measures calls per second and CPU per call. It is the
// FreeSWITCH half of the load command and of the benchmark in
// docs/benchmarks.md.
//
// One call is what a queue does with it: the call is parked and arrives,
// is answered and put on music on hold, an agent leg is originated and
// answers, hold stops, caller and agent are bridged, the bridge is
// recorded, and the caller hangs up; the call is complete when both
// hangups and the finished recording have been reported.
package eslload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/esl"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
)

// Options say how much load to drive.
type Options struct {
	// Calls is how many calls to complete.
	Calls int
	// Concurrency is how many calls are in flight at once; default 32.
	Concurrency int
	// Log receives adapter logs; nil discards them.
	Log *slog.Logger
}

// Result is what a run measured. CPU covers the whole process: adapter,
// eslgo and the fake FreeSWITCH together.
type Result struct {
	Calls       int
	Failed      int
	Elapsed     time.Duration
	CPU         time.Duration
	CallsPerSec float64
	CPUPerCall  time.Duration
}

// String formats the result for people.
func (r Result) String() string {
	return fmt.Sprintf("%d calls (%d failed) in %s: %.0f calls/s, %s CPU per call",
		r.Calls, r.Failed, r.Elapsed.Round(time.Millisecond), r.CallsPerSec, r.CPUPerCall.Round(time.Microsecond))
}

// Run starts a fake FreeSWITCH and an adapter, completes opts.Calls calls
// and reports the figures.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Calls <= 0 {
		return Result{}, errors.New("eslload: calls must be positive")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 32
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	fs, err := esltest.New(esltest.Options{PlaybackTime: time.Millisecond})
	if err != nil {
		return Result{}, err
	}
	defer fs.Close()
	a, err := esl.New(esl.Config{Addr: fs.Addr(), RecordingDir: "/rec"}, opts.Log)
	if err != nil {
		return Result{}, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(rctx) }()

	d := newDispatcher()
	ready := make(chan struct{})
	go d.run(a.Events(), ready)
	select {
	case <-ready:
	case err := <-runErr:
		return Result{}, fmt.Errorf("eslload: adapter: %w", err)
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}

	var next, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < opts.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(opts.Calls) || rctx.Err() != nil {
					return
				}
				if err := oneCall(rctx, fs, a, d, int(n)); err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	cancel()
	<-runErr
	r := Result{Calls: opts.Calls, Failed: int(failed.Load()), Elapsed: elapsed, CPU: cpu}
	r.CallsPerSec = float64(r.Calls-r.Failed) / elapsed.Seconds()
	if done := r.Calls - r.Failed; done > 0 {
		r.CPUPerCall = cpu / time.Duration(done)
	}
	if firstErr != nil {
		return r, fmt.Errorf("eslload: %d of %d calls failed, first: %w", r.Failed, r.Calls, firstErr)
	}
	return r, nil
}

func oneCall(ctx context.Context, fs *esltest.Server, a *esl.Adapter, d *dispatcher, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	callerID := esltest.NewUUID()
	callerEv := d.watch(callerID)
	defer d.forget(callerID)
	fs.InboundCall(esltest.Call{UUID: callerID, CallerNumber: fmt.Sprintf("555%04d", n%10000), Dialed: "800",
		Vars: map[string]string{"switchboard": "true"}})
	if _, err := wait[adapters.CallArrived](ctx, callerEv); err != nil {
		return fmt.Errorf("call %d arrival: %w", n, err)
	}
	caller := adapters.LegRef{Node: "freeswitch", ID: callerID}
	if err := a.Answer(ctx, caller); err != nil {
		return err
	}
	if err := a.StartHold(ctx, caller, ""); err != nil {
		return err
	}
	agent, err := a.Originate(ctx, adapters.OriginateRequest{Endpoint: fmt.Sprintf("user/%d", 1000+n%500),
		CallerIDNumber: "5550000", Timeout: 15 * time.Second, Tag: fmt.Sprint(n), Role: adapters.RoleAgent})
	if err != nil {
		return err
	}
	agentEv := d.watch(agent.ID)
	defer d.forget(agent.ID)
	if _, err := wait[adapters.LegAnswered](ctx, agentEv); err != nil {
		return fmt.Errorf("call %d agent answer: %w", n, err)
	}
	if err := a.StopHold(ctx, caller); err != nil {
		return err
	}
	br, err := a.Bridge(ctx, caller, agent)
	if err != nil {
		return err
	}
	if _, err := a.Record(ctx, adapters.RecordRequest{Bridge: br, Name: fmt.Sprintf("load-%d", n)}); err != nil {
		return err
	}
	if err := fs.Hangup(callerID, "NORMAL_CLEARING"); err != nil {
		return err
	}
	// Recording and hangup events carry different keys and may be applied
	// in either order when delivery was delayed beyond the reorder window.
	var recorded, hungUp bool
	for !recorded || !hungUp {
		select {
		case e := <-callerEv:
			switch e.(type) {
			case adapters.RecordingFinished:
				recorded = true
			case adapters.LegHungUp:
				hungUp = true
			}
		case <-ctx.Done():
			return fmt.Errorf("call %d end (recording finished %v, caller hung up %v): %w", n, recorded, hungUp, ctx.Err())
		}
	}
	if _, err := wait[adapters.LegHungUp](ctx, agentEv); err != nil {
		return fmt.Errorf("call %d agent hangup: %w", n, err)
	}
	return nil
}

func wait[T adapters.Event](ctx context.Context, ch <-chan adapters.Event) (T, error) {
	var zero T
	for {
		select {
		case e := <-ch:
			if t, ok := e.(T); ok {
				return t, nil
			}
		case <-ctx.Done():
			return zero, fmt.Errorf("waiting for %T: %w", zero, ctx.Err())
		}
	}
}

// dispatcher routes adapter events to per-leg channels, created by
// whichever side (event or waiter) comes first.
type dispatcher struct {
	mu   sync.Mutex
	legs map[string]chan adapters.Event
}

func newDispatcher() *dispatcher { return &dispatcher{legs: map[string]chan adapters.Event{}} }

func (d *dispatcher) watch(id string) chan adapters.Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch, ok := d.legs[id]
	if !ok {
		ch = make(chan adapters.Event, 32)
		d.legs[id] = ch
	}
	return ch
}

func (d *dispatcher) forget(id string) {
	d.mu.Lock()
	delete(d.legs, id)
	d.mu.Unlock()
}

func (d *dispatcher) run(events <-chan adapters.Event, ready chan struct{}) {
	once := sync.Once{}
	for e := range events {
		if _, ok := e.(adapters.Reconciled); ok {
			once.Do(func() { close(ready) })
			continue
		}
		id := e.Leg().ID
		if id == "" {
			continue
		}
		ch := d.watch(id)
		select {
		case ch <- e:
		default: // a leg nobody waits for any more
		}
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
