package ari

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
)

// BenchmarkCompleteCalls drives complete calls through the real ari/v6
// client and aritest on loopback: StasisStart → answer → MOH → originate
// agent → agent answers → stop MOH → mixing bridge → agent hangs up →
// caller hung up. A small driver does what the controller would (one
// goroutine per command, as the port asks). At most 256 calls are in
// flight. Reports complete calls per second and process CPU per call (the
// fake Asterisk runs in the same process, so the CPU figure includes it).
//
//	go test -run '^$' -bench CompleteCalls -benchtime 3000x ./adapters/ari/
func BenchmarkCompleteCalls(b *testing.B) {
	srv, err := aritest.New(aritest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	cfg := testConfig(srv.URL())
	cfg.RequestTimeout = 10 * time.Second
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(ctx) }()
	ev := a.Events()
	for e := range ev {
		if _, ok := e.(*adapters.Reconciled); ok {
			break
		}
	}

	type call struct {
		caller adapters.LegRef
		agent  adapters.LegRef
	}
	var (
		mu     sync.Mutex
		byTag  = map[string]*call{}
		failed int
	)
	done := make(chan struct{}, 1024)
	fail := func(err error) {
		mu.Lock()
		failed++
		mu.Unlock()
		b.Error(err)
	}
	bg := context.Background()
	go func() {
		for e := range ev {
			switch v := e.(type) {
			case *adapters.CallArrived:
				c := &call{caller: v.Leg()}
				tag := v.Leg().ID
				mu.Lock()
				byTag[tag] = c
				mu.Unlock()
				go func() {
					if err := a.Answer(bg, c.caller); err != nil {
						fail(err)
						return
					}
					if err := a.StartHold(bg, c.caller, ""); err != nil {
						fail(err)
						return
					}
					agent, err := a.Originate(bg, adapters.OriginateRequest{Endpoint: "1001", Tag: tag, Timeout: 20 * time.Second})
					if err != nil {
						fail(err)
						return
					}
					mu.Lock()
					c.agent = agent
					mu.Unlock()
				}()
			case *adapters.LegAnswered:
				if v.Tag == "" {
					continue // the caller's own answer
				}
				mu.Lock()
				c := byTag[v.Tag]
				mu.Unlock()
				go func() {
					if err := a.StopHold(bg, c.caller); err != nil {
						fail(err)
						return
					}
					if _, err := a.Bridge(bg, c.caller, v.Leg()); err != nil {
						fail(err)
						return
					}
					// The agent ends the call; the caller is hung up after.
					if err := srv.HangupFar(v.Leg().ID, 16); err != nil {
						fail(err)
					}
				}()
			case *adapters.LegHungUp:
				if v.Tag == "" {
					done <- struct{}{} // the caller: call complete
					continue
				}
				mu.Lock()
				c := byTag[v.Tag]
				delete(byTag, v.Tag)
				mu.Unlock()
				go func() {
					if err := a.Hangup(bg, c.caller, 16); err != nil {
						fail(err)
					}
				}()
			case *adapters.OriginateFailed:
				fail(fmt.Errorf("originate failed: %+v", v))
			}
		}
	}()

	const inflight = 256
	sem := make(chan struct{}, inflight)
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0) //nolint:errcheck
	start := time.Now()
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			sem <- struct{}{}
			if _, err := srv.InjectCall("switchboard", aritest.Caller{Number: fmt.Sprint(i), Args: []string{"800"}}); err != nil {
				fail(err)
			}
		}
	}()
	for i := 0; i < b.N; i++ {
		select {
		case <-done:
			<-sem
		case <-time.After(30 * time.Second):
			b.Fatalf("stalled after %d of %d calls", i, b.N)
		}
	}
	b.StopTimer()
	elapsed := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1) //nolint:errcheck
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/call")
	b.ReportMetric(float64(srv.Requests())/float64(b.N), "requests/call")
	cancel()
	<-runDone
	if failed > 0 {
		b.Fatalf("%d failures", failed)
	}
}
