package eslload

import (
	"context"
	"testing"
	"time"
)

// TestRun drives a few calls end to end; every one must complete.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Run(ctx, Options{Calls: 40, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed != 0 || r.Calls != 40 || r.CallsPerSec <= 0 {
		t.Fatalf("%+v", r)
	}
	if _, err := Run(ctx, Options{}); err == nil {
		t.Fatal("zero calls accepted")
	}
}

// BenchmarkCalls reports complete calls per second and CPU per call
// (adapter + eslgo + fake FreeSWITCH in one process).
//
//	go test -run XXX -bench Calls -benchtime 3000x ./adapters/esl/eslload/
func BenchmarkCalls(b *testing.B) {
	r, err := Run(context.Background(), Options{Calls: b.N, Concurrency: 64})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.CallsPerSec, "calls/s")
	b.ReportMetric(float64(r.CPUPerCall.Microseconds()), "cpu-µs/call")
}

// TestRunController drives calls through controller, adapter, eslgo and
// the fake; every one must end answered.
func TestRunController(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := RunController(ctx, ControllerOptions{Calls: 60, Agents: 16})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed != 0 || r.Calls != 60 || r.CallsPerSec <= 0 || r.CPUPerCall <= 0 {
		t.Fatalf("%+v", r)
	}
	if _, err := RunController(ctx, ControllerOptions{}); err == nil {
		t.Fatal("zero calls accepted")
	}
}

// BenchmarkControllerCalls reports complete calls per second and CPU per
// call through the whole FreeSWITCH path (controller + adapter + eslgo +
// fake FreeSWITCH in one process, adapter defaults). One op is one call.
//
//	go test -run '^$' -bench ControllerCalls -benchtime 3000x ./adapters/esl/eslload/
func BenchmarkControllerCalls(b *testing.B) {
	r, err := RunController(context.Background(), ControllerOptions{Calls: b.N})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.CallsPerSec, "calls/s")
	b.ReportMetric(float64(r.CPUPerCall.Microseconds()), "cpu-µs/call")
}
