package eslload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/esl"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/routing"
)

// ControllerOptions say how much load RunController drives.
type ControllerOptions struct {
	// Calls is how many calls to complete.
	Calls int
	// Agents is how many agents are logged in (user/1000 … on the fake);
	// default 128. At most this many calls are in flight.
	Agents int
	// TalkTime is how long an agent talks, from the bridge, before hanging
	// up; default 1ms.
	TalkTime time.Duration
	// Adapter overrides the FreeSWITCH adapter's settings (Addr is always
	// the fake's); the zero value runs the adapter's defaults.
	Adapter esl.Config
	// Log receives adapter and controller logs; nil discards them.
	Log *slog.Logger
}

// RunController drives complete calls through the whole FreeSWITCH path:
// the controller (routing, offers, records), the adapter, the real eslgo
// client and the fake FreeSWITCH on real sockets. One call is: parked and
// arrives, answered and put on hold, offered to an agent whose leg is
// originated and answers, bridged, the agent hangs up TalkTime after the
// bridge and the controller hangs up the caller. A call is complete when
// the controller reports it bridged and then ended; one that ended without
// a bridge (a failed uuid_bridge), was abandoned or left the queue counts
// as failed, and RunController then returns an error with the figures.
func RunController(ctx context.Context, opts ControllerOptions) (Result, error) {
	if opts.Calls <= 0 {
		return Result{}, errors.New("eslload: calls must be positive")
	}
	if opts.Agents <= 0 {
		opts.Agents = 128
	}
	if opts.TalkTime <= 0 {
		opts.TalkTime = time.Millisecond
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	fs, err := esltest.New(esltest.Options{PlaybackTime: time.Millisecond})
	if err != nil {
		return Result{}, err
	}
	defer fs.Close()
	fs.Endpoint("user/*", esltest.Behavior{HangupAfterBridge: opts.TalkTime})
	cfg := opts.Adapter
	cfg.Addr = fs.Addr()
	if cfg.RecordingDir == "" {
		cfg.RecordingDir = "/rec"
	}
	a, err := esl.New(cfg, opts.Log)
	if err != nil {
		return Result{}, err
	}
	rules, err := routing.ParseRules("eslload.yaml", []byte("queues:\n  - name: support\n    offer_timeout: 30s\n    wrap_up: 1ms\ndefault_queue: support\n"))
	if err != nil {
		return Result{}, err
	}
	eng, err := routing.NewEngineChecked(rules)
	if err != nil {
		return Result{}, err
	}
	now := time.Now()
	for i := range opts.Agents {
		eng.UpsertAgent(routing.Agent{ID: fmt.Sprintf("a%d", i), Endpoint: fmt.Sprintf("user/%d", 1000+i), Queues: map[string]int{"support": 1}}, now)
	}
	count := &outcomes{signal: make(chan struct{}, 1), bridged: map[string]bool{}}
	ctl, err := controller.New(controller.Config{}, controller.Deps{PBX: a, Engine: eng, Observers: []controller.Observer{count}, Log: opts.Log})
	if err != nil {
		return Result{}, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	runErr := make(chan error, 1)
	wg.Add(2)
	go func() { defer wg.Done(); runErr <- a.Run(rctx) }()
	go func() { defer wg.Done(); _ = ctl.Run(rctx) }()
	defer func() { cancel(); wg.Wait() }()
	for {
		if ok, _ := ctl.Ready(); ok {
			break
		}
		select {
		case err := <-runErr:
			return Result{}, fmt.Errorf("eslload: adapter: %w", err)
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	for i := range opts.Agents {
		if err := ctl.AgentLogin(rctx, fmt.Sprintf("a%d", i)); err != nil {
			return Result{}, err
		}
	}

	cpu0 := cpuTime()
	start := time.Now()
	injected := 0
	for {
		done := int(count.complete.Load() + count.failed.Load())
		if done >= opts.Calls {
			break
		}
		for injected < opts.Calls && injected-done < opts.Agents {
			fs.InboundCall(esltest.Call{CallerNumber: fmt.Sprintf("8%06d", injected), Dialed: "800",
				Vars: map[string]string{"switchboard": "true"}})
			injected++
		}
		select {
		case <-count.signal:
		case <-time.After(30 * time.Second):
			return Result{}, fmt.Errorf("eslload: stuck at %d of %d calls", done, opts.Calls)
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	r := Result{Calls: opts.Calls, Failed: int(count.failed.Load()), Elapsed: elapsed, CPU: cpu}
	r.CallsPerSec = float64(r.Calls-r.Failed) / elapsed.Seconds()
	if ok := r.Calls - r.Failed; ok > 0 {
		r.CPUPerCall = cpu / time.Duration(ok)
	}
	if r.Failed > 0 {
		return r, fmt.Errorf("eslload: %d of %d calls did not complete (ended unbridged, abandoned or left the queue)", r.Failed, r.Calls)
	}
	return r, nil
}

// outcomes counts the calls the controller finished: complete (bridged,
// then ended) or failed. Observe runs on the controller's loop only.
type outcomes struct {
	complete, failed atomic.Int64
	signal           chan struct{}
	bridged          map[string]bool // calls bridged and not yet ended
}

// Observe implements controller.Observer.
func (o *outcomes) Observe(e controller.CallEvent) {
	switch e.Kind {
	case controller.EventBridged:
		o.bridged[e.CallID] = true
		return
	case controller.EventEnded:
		if o.bridged[e.CallID] {
			o.complete.Add(1)
		} else {
			o.failed.Add(1)
		}
		delete(o.bridged, e.CallID)
	case controller.EventAbandoned, controller.EventExited:
		delete(o.bridged, e.CallID)
		o.failed.Add(1)
	default:
		return
	}
	select {
	case o.signal <- struct{}{}:
	default:
	}
}
