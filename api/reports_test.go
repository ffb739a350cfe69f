package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
)

// reportsServer is the reports API over a real SQLite store holding 40
// calls on 2026-11-20 between 09:00 and 10:57 UTC: support (even) and
// billing (odd), answered by a1/a2 after 10 s (every fifth abandoned
// after 30 s), 100 s talk, callers 5550..5553.
func reportsServer(t *testing.T) (*httptest.Server, *storage.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "sb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	for i := 0; i < 40; i++ {
		at := base.Add(time.Duration(i) * 3 * time.Minute)
		q := []string{"support", "billing"}[i%2]
		c := &storage.Call{ID: fmt.Sprintf("c%02d", i), Queue: q, CallerNumber: fmt.Sprintf("555%d", i%4), ArrivedAt: at, EnqueuedAt: &at,
			Outcome: storage.OutcomeAnswered, WaitSeconds: 10, Trace: `[{"step":"matched"}]`, UpdatedAt: at}
		w := storage.QueueWait{ID: c.ID + "/1", CallID: c.ID, Queue: q, EnteredAt: at, Outcome: storage.OutcomeAnswered, WaitSeconds: 10}
		if i%5 == 0 {
			c.Outcome, c.WaitSeconds, w.Outcome, w.WaitSeconds = storage.OutcomeAbandoned, 30, storage.OutcomeAbandoned, 30
		} else {
			ans, end := at.Add(10*time.Second), at.Add(110*time.Second)
			c.AgentID, c.AnsweredAt, c.EndedAt, c.TalkSeconds = fmt.Sprintf("a%d", 1+i%2), &ans, &end, 100
			w.AgentID = c.AgentID
		}
		if err := st.SaveCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := st.DB().Create(&w).Error; err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(Options{}, ReportRoutes(Reports{
		Daily: st.Daily, Interval: st.Interval, Calls: st.Calls,
		Defaults: func() storage.ReportOptions {
			return storage.ReportOptions{Thresholds: map[string]time.Duration{"support": 15 * time.Second, "billing": 5 * time.Second}}
		},
		Now: func() time.Time { return base.Add(3 * time.Hour) },
	}))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, st
}

func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode
}

func TestReportEndpoints(t *testing.T) {
	ts, _ := reportsServer(t)

	var d storage.DailyReport
	if code := getJSON(t, ts.URL+"/api/v1/reports/daily", &d); code != 200 {
		t.Fatalf("daily: %d", code)
	}
	// No date: today by the injected clock.
	if d.Date != "2026-11-20" || len(d.Queues) != 2 || len(d.Agents) != 2 {
		t.Fatalf("daily %+v", d)
	}
	for _, q := range d.Queues {
		// 20 calls each, 4 abandoned; support's 15 s threshold takes
		// the 10 s answers, billing's 5 s none.
		wantSL := map[string]float64{"support": 1, "billing": 0}[q.Queue]
		if q.Offered != 20 || q.Answered != 16 || q.Abandoned != 4 || q.ASASeconds != 10 || q.AHTSeconds != 100 || q.ServiceLevel != wantSL*16/20 {
			t.Fatalf("queue %+v", q)
		}
	}
	if a := d.Agents[0]; a.AgentID != "a1" || a.Calls != 16 || a.TalkSeconds != 1600 {
		t.Fatalf("agent %+v", a)
	}
	if code := getJSON(t, ts.URL+"/api/v1/reports/daily?date=2026-11-20&queue=billing&formula=answered&zone=Europe/Paris", &d); code != 200 ||
		len(d.Queues) != 1 || d.Queues[0].Queue != "billing" || d.Formula != "answered" || d.Zone != "Europe/Paris" {
		t.Fatalf("daily billing: %d %+v", code, d)
	}

	var iv storage.IntervalReport
	if code := getJSON(t, ts.URL+"/api/v1/reports/interval?date=2026-11-20&interval=1h", &iv); code != 200 || len(iv.Intervals) != 4 || iv.Interval != "1h0m0s" {
		t.Fatalf("interval: %d %+v", code, iv)
	}
	if f := iv.Intervals[0]; !f.Start.Equal(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)) || f.Offered != 10 {
		t.Fatalf("first interval %+v", f)
	}

	// Call records, paged by cursor: every call once, newest first.
	var seen []string
	next := ts.URL + "/api/v1/reports/calls?limit=7"
	for pages := 0; next != ""; pages++ {
		var p CallRecords
		if code := getJSON(t, next, &p); code != 200 || pages > 10 {
			t.Fatalf("calls page %d: %d", pages, code)
		}
		for _, c := range p.Calls {
			if c.Trace != "" {
				t.Fatal("call list carries routing traces")
			}
			seen = append(seen, c.ID)
		}
		next = ""
		if p.NextCursor != "" {
			next = ts.URL + "/api/v1/reports/calls?limit=7&cursor=" + url.QueryEscape(p.NextCursor)
		}
	}
	if len(seen) != 40 || seen[0] != "c39" || seen[39] != "c00" {
		t.Fatalf("paged %d calls: %v", len(seen), seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("not newest first: %v", seen)
		}
	}
	var p CallRecords
	getJSON(t, ts.URL+"/api/v1/reports/calls?queue=support&caller=5552&outcome=answered&from=2026-11-20T09:00:00Z&to=2026-11-21", &p)
	// support is even i, caller 5552 is i%4==2, answered is i%5!=0.
	if len(p.Calls) != 8 || p.NextCursor != "" {
		t.Fatalf("filtered calls: %d %+v", len(p.Calls), p)
	}
	getJSON(t, ts.URL+"/api/v1/reports/calls?agent=a2", &p)
	if len(p.Calls) != 16 {
		t.Fatalf("agent a2: %d calls", len(p.Calls))
	}
}

// Bad parameters: a 400 naming the parameter.
func TestReportEndpointsRejectBadInput(t *testing.T) {
	ts, _ := reportsServer(t)
	for _, tc := range []struct{ path, field string }{
		{"/api/v1/reports/daily?date=20-11-2026", "date"},
		{"/api/v1/reports/daily?date=2026-02-30", "date"},
		{"/api/v1/reports/daily?zone=Mars/Olympus", "zone"},
		{"/api/v1/reports/daily?formula=best", "formula"},
		{"/api/v1/reports/daily?queu=support", "queu"},
		{"/api/v1/reports/daily?interval=1h", "interval"},
		{"/api/v1/reports/interval?interval=7m", "interval"},
		{"/api/v1/reports/interval?interval=90s", "interval"},
		{"/api/v1/reports/interval?interval=soon", "interval"},
		{"/api/v1/reports/calls?limit=0", "limit"},
		{"/api/v1/reports/calls?limit=5000", "limit"},
		{"/api/v1/reports/calls?from=yesterday", "from"},
		{"/api/v1/reports/calls?to=2026-13-01", "to"},
		{"/api/v1/reports/calls?from=2026-11-21&to=2026-11-20", "to"},
		{"/api/v1/reports/calls?outcome=won", "outcome"},
		{"/api/v1/reports/calls?cursor=xyz", "cursor"},
		{"/api/v1/reports/calls?agent_id=a1", "agent_id"},
	} {
		var body ErrorBody
		code := getJSON(t, ts.URL+tc.path, &body)
		if code != http.StatusBadRequest || body.Error.Field != tc.field || body.Error.Message == "" {
			t.Errorf("%s: %d %+v, want 400 naming %q", tc.path, code, body, tc.field)
		}
	}
}
