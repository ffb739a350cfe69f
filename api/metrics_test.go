package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMetricsExposeFloorAndStore(t *testing.T) {
	floor := FloorView{
		Queues: []Queue{{Name: "support", Waiting: 3, LongestWaitSeconds: 42, Answered: 10, Abandoned: 2, Offered: 12,
			ServiceLevel: 0.8, ServiceLevelGoal: 0.95, ServiceLevelThresholdSeconds: 20, AbandonRate: 2.0 / 12,
			AgentsByState: map[string]int{"on_call": 2}}},
		Nodes:  []Node{{Name: "pbx1", Up: true}, {Name: "pbx2", Up: false}},
		Totals: AgentsTotals(map[string]int{"available": 1, "on_call": 2}),
	}
	h := NewMetrics(MetricsSources{
		Floor: func() FloorView { return floor },
		Store: func() StoreHealth { return StoreHealth{JournalBacklog: 7, DBUp: true} },
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`switchboard_queue_waiting_calls{queue="support"} 3`,
		`switchboard_queue_longest_wait_seconds{queue="support"} 42`,
		`switchboard_queue_answered_calls_total{queue="support"} 10`,
		`switchboard_queue_abandoned_calls_total{queue="support"} 2`,
		`switchboard_queue_service_level_ratio{queue="support"} 0.8`,
		`switchboard_queue_agents{queue="support",state="on_call"} 2`,
		`switchboard_queue_agents{queue="support",state="available"} 0`,
		`switchboard_agents{state="available"} 1`,
		`switchboard_pbx_connected{node="pbx1"} 1`,
		`switchboard_pbx_connected{node="pbx2"} 0`,
		`switchboard_journal_backlog_records 7`,
		`switchboard_database_up 1`,
		`# TYPE switchboard_queue_answered_calls_total counter`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// AgentsTotals is a test helper building Totals from agent counts.
func AgentsTotals(m map[string]int) Totals { return Totals{AgentsByState: m} }

func TestStreamSendsEventsUntilClientLeaves(t *testing.T) {
	n := 0
	ts := httptest.NewServer(Stream("floor", 10*time.Millisecond, func() any { n++; return map[string]int{"n": n} }))
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	var got []int
	for len(got) < 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var v map[string]int
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Fatalf("bad event data %q: %v", data, err)
			}
			got = append(got, v["n"])
		}
	}
	if got[0] >= got[1] || got[1] >= got[2] {
		t.Errorf("events did not advance: %v", got)
	}
	cancel()
	_, _ = io.Copy(io.Discard, resp.Body)
}
