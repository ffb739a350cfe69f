package api

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

// bigFloor is a large floor: 200 queues, 5,000 agents.
func bigFloor() FloorView {
	v := FloorView{At: time.Now()}
	for i := 0; i < 200; i++ {
		v.Queues = append(v.Queues, Queue{Name: fmt.Sprintf("q%03d", i), Waiting: i % 7, Offered: 1000, Answered: 950, AnsweredInThreshold: 900,
			Abandoned: 50, ServiceLevel: 0.9, ServiceLevelGoal: 0.95, ServiceLevelThresholdSeconds: 20,
			AgentsByState: map[string]int{"available": 5, "on_call": 20}})
	}
	for i := 0; i < 5000; i++ {
		v.Agents = append(v.Agents, Agent{ID: fmt.Sprintf("a%05d", i), State: "on_call", Since: v.At, Queues: map[string]int{"q001": 1}})
	}
	Sum(&v)
	return v
}

// BenchmarkQueuesEndpoint measures GET /api/v1/queues on a 200-queue floor.
func BenchmarkQueuesEndpoint(b *testing.B) {
	v := bigFloor()
	s, err := New(Options{}, FloorRoutes(Floor{View: func() FloorView { return v }, LiveCalls: func() []Call { return nil }}))
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/api/v1/queues", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkSum measures the totals over 200 queues and 5,000 agents, done
// for every wallboard event and scrape.
func BenchmarkSum(b *testing.B) {
	v := bigFloor()
	b.ReportAllocs()
	for b.Loop() {
		Sum(&v)
	}
}

// BenchmarkDecodeStateChange measures the strict decoder on a typical body.
func BenchmarkDecodeStateChange(b *testing.B) {
	body := []byte(`{"reason":"lunch"}`)
	b.ReportAllocs()
	for b.Loop() {
		var sc StateChange
		if err := DecodeBytes(body, &sc, false); err != nil {
			b.Fatal(err)
		}
	}
}
