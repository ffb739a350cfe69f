package storage

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

// The hand-worked day (2026-11-20 UTC) behind the report tests.
//
//	support (threshold 30 s from the queues table)
//	  c1 09:00 answered, call wait 10 s, talk 100 s, a1     in SL
//	  c2 09:10 answered, wait 40 s, talk 200 s, a2          not in SL
//	  c3 09:20 abandoned after 3 s                          short abandon
//	  c4 09:40 abandoned after 60 s
//	  c5 10:05 overflowed to sales after 30 s
//	  c7 10:30 answered, wait 5 s, still talking, a2         in SL, not handled
//	  c6 the day before (23:59 on the 19th)                  not counted
//	sales (threshold 60 s from ReportOptions.Thresholds)
//	  c5 10:05:30 answered, call wait 45 s, talk 50 s, a1   in SL
//	billing (default threshold 20 s)
//	  c8 11:00 answered, wait 25 s, talk 10 s, a3           not in SL
//	  c9 11:30 exited
//
//	support: offered 6, answered 3, in SL 2, abandoned 2 (1 short),
//	  overflowed 1; SL = 2 / (3 + 2 − 1) = 0.5; ASA = 55/3; AHT = 150;
//	  abandon rate = 2/5.
//	agents: a1 2 calls, talk 150, wrap-up 30, not ready 3300 (meeting
//	  1800 from a change the evening before, break 900 + 600 open at the
//	  end of the day); a2 2 calls, talk 200 (c7 still up), training 3600;
//	  a3 1 call, talk 10.
func seedReportDay(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	at := func(h, m, sec int) time.Time {
		return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second)
	}
	pt := func(t time.Time) *time.Time { return &t }
	type callSpec struct {
		id, queue, agent string
		arrived          time.Time
		wait, talk       float64
		outcome          string
		ended            bool
	}
	calls := []callSpec{
		{"c1", "support", "a1", at(9, 0, 0), 10, 100, OutcomeAnswered, true},
		{"c2", "support", "a2", at(9, 10, 0), 40, 200, OutcomeAnswered, true},
		{"c3", "support", "", at(9, 20, 0), 3, 0, OutcomeAbandoned, true},
		{"c4", "support", "", at(9, 40, 0), 60, 0, OutcomeAbandoned, true},
		{"c5", "sales", "a1", at(10, 5, 0), 45, 50, OutcomeAnswered, true},
		{"c6", "support", "a1", at(-1, 59, 0), 5, 30, OutcomeAnswered, true},
		{"c7", "support", "a2", at(10, 30, 0), 5, 0, OutcomeLive, false},
		{"c8", "billing", "a3", at(11, 0, 0), 25, 10, OutcomeAnswered, true},
		{"c9", "billing", "", at(11, 30, 0), 90, 0, OutcomeExited, true},
	}
	for _, c := range calls {
		row := &Call{ID: c.id, Queue: c.queue, AgentID: c.agent, ArrivedAt: c.arrived, EnqueuedAt: pt(c.arrived), WaitSeconds: c.wait,
			TalkSeconds: c.talk, Outcome: c.outcome, UpdatedAt: c.arrived}
		if c.agent != "" {
			row.AnsweredAt = pt(c.arrived.Add(time.Duration(c.wait) * time.Second))
		}
		if c.ended {
			row.EndedAt = pt(c.arrived.Add(time.Duration(c.wait+c.talk) * time.Second))
		}
		if err := s.SaveCall(ctx, row); err != nil {
			t.Fatal(err)
		}
	}
	waits := []QueueWait{
		{ID: "c1/1", CallID: "c1", Queue: "support", EnteredAt: at(9, 0, 0), Outcome: OutcomeAnswered, WaitSeconds: 10, AgentID: "a1"},
		{ID: "c2/1", CallID: "c2", Queue: "support", EnteredAt: at(9, 10, 0), Outcome: OutcomeAnswered, WaitSeconds: 40, AgentID: "a2"},
		{ID: "c3/1", CallID: "c3", Queue: "support", EnteredAt: at(9, 20, 0), Outcome: OutcomeAbandoned, WaitSeconds: 3},
		{ID: "c4/1", CallID: "c4", Queue: "support", EnteredAt: at(9, 40, 0), Outcome: OutcomeAbandoned, WaitSeconds: 60},
		{ID: "c5/1", CallID: "c5", Queue: "support", EnteredAt: at(10, 5, 0), Outcome: OutcomeOverflowed, WaitSeconds: 30},
		{ID: "c5/2", CallID: "c5", Queue: "sales", EnteredAt: at(10, 5, 30), Outcome: OutcomeAnswered, WaitSeconds: 15, AgentID: "a1"},
		{ID: "c6/1", CallID: "c6", Queue: "support", EnteredAt: at(-1, 59, 0), Outcome: OutcomeAnswered, WaitSeconds: 5, AgentID: "a1"},
		{ID: "c7/1", CallID: "c7", Queue: "support", EnteredAt: at(10, 30, 0), Outcome: OutcomeAnswered, WaitSeconds: 5, AgentID: "a2"},
		{ID: "c8/1", CallID: "c8", Queue: "billing", EnteredAt: at(11, 0, 0), Outcome: OutcomeAnswered, WaitSeconds: 25, AgentID: "a3"},
		{ID: "c9/1", CallID: "c9", Queue: "billing", EnteredAt: at(11, 30, 0), Outcome: OutcomeExited, WaitSeconds: 90},
	}
	for i := range waits {
		w := waits[i]
		left := w.EnteredAt.Add(time.Duration(w.WaitSeconds) * time.Second)
		w.LeftAt = &left
		if err := s.DB().Create(&w).Error; err != nil {
			t.Fatal(err)
		}
	}
	states := []AgentStateChange{
		{ID: "a1/0", AgentID: "a1", FromState: "available", ToState: "not_ready", Reason: "meeting", At: at(-1, 0, 0)},
		{ID: "a1/1", AgentID: "a1", FromState: "not_ready", ToState: "available", At: at(0, 30, 0)},
		{ID: "a1/2", AgentID: "a1", FromState: "available", ToState: "on_call", At: at(9, 0, 10)},
		{ID: "a1/3", AgentID: "a1", FromState: "on_call", ToState: "wrap_up", At: at(9, 1, 50)},
		{ID: "a1/4", AgentID: "a1", FromState: "wrap_up", ToState: "available", At: at(9, 2, 20)},
		{ID: "a1/5", AgentID: "a1", FromState: "available", ToState: "not_ready", Reason: "break", At: at(12, 0, 0)},
		{ID: "a1/6", AgentID: "a1", FromState: "not_ready", ToState: "available", At: at(12, 15, 0)},
		{ID: "a1/7", AgentID: "a1", FromState: "available", ToState: "not_ready", Reason: "break", At: at(23, 50, 0)},
		{ID: "a2/1", AgentID: "a2", FromState: "available", ToState: "not_ready", Reason: "training", At: at(14, 0, 0)},
		{ID: "a2/2", AgentID: "a2", FromState: "not_ready", ToState: "logged_out", At: at(15, 0, 0)},
		{ID: "a2/3", AgentID: "a2", FromState: "logged_out", ToState: "not_ready", Reason: "late", At: at(24, 0, 0)}, // next day
	}
	for i := range states {
		if err := s.DB().Create(&states[i]).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveQueue(ctx, &Queue{Name: "support", ServiceLevelSeconds: 30, ServiceLevelGoal: 0.8}); err != nil {
		t.Fatal(err)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestDailyReportHandWorked(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		s := openMigrated(t, dsn)
		seedReportDay(t, s)
		r, err := s.Daily(context.Background(), "2026-11-20", ReportOptions{Thresholds: map[string]time.Duration{"sales": time.Minute}})
		if err != nil {
			t.Fatal(err)
		}
		byQ := map[string]QueueFigures{}
		for _, q := range r.Queues {
			byQ[q.Queue] = q
		}
		if len(r.Queues) != 3 {
			t.Fatalf("queues %+v", r.Queues)
		}
		sup := byQ["support"]
		if sup.Offered != 6 || sup.Answered != 3 || sup.AnsweredInSL != 2 || sup.Abandoned != 2 || sup.ShortAbandoned != 1 ||
			sup.Overflowed != 1 || sup.Handled != 2 || sup.ThresholdSeconds != 30 {
			t.Fatalf("support counts %+v", sup)
		}
		if !near(sup.ServiceLevel, 0.5) || !sup.Measured || !near(sup.ASASeconds, 55.0/3) || !near(sup.AHTSeconds, 150) || !near(sup.AbandonRate, 0.4) {
			t.Fatalf("support rates %+v", sup)
		}
		sal := byQ["sales"]
		if sal.Offered != 1 || sal.Answered != 1 || sal.AnsweredInSL != 1 || sal.ThresholdSeconds != 60 || !near(sal.ASASeconds, 45) || !near(sal.AHTSeconds, 50) {
			t.Fatalf("sales %+v", sal)
		}
		bil := byQ["billing"]
		if bil.Offered != 2 || bil.Answered != 1 || bil.AnsweredInSL != 0 || bil.Exited != 1 || bil.ThresholdSeconds != 20 || !near(bil.ServiceLevel, 0) {
			t.Fatalf("billing %+v", bil)
		}
		if len(r.Agents) != 3 {
			t.Fatalf("agents %+v", r.Agents)
		}
		a1, a2, a3 := r.Agents[0], r.Agents[1], r.Agents[2]
		if a1.AgentID != "a1" || a1.Calls != 2 || !near(a1.TalkSeconds, 150) || !near(a1.WrapUpSeconds, 30) || !near(a1.HandleSeconds, 180) ||
			!near(a1.AHTSeconds, 90) || !near(a1.NotReadySeconds, 3300) || !near(a1.NotReadyReasons["meeting"], 1800) || !near(a1.NotReadyReasons["break"], 1500) {
			t.Fatalf("a1 %+v", a1)
		}
		if a2.Calls != 2 || !near(a2.TalkSeconds, 200) || !near(a2.NotReadySeconds, 3600) || !near(a2.NotReadyReasons["training"], 3600) || len(a2.NotReadyReasons) != 1 {
			t.Fatalf("a2 %+v", a2)
		}
		if a3.Calls != 1 || !near(a3.TalkSeconds, 10) || a3.NotReadySeconds != 0 {
			t.Fatalf("a3 %+v", a3)
		}

		// Other formulas and one queue only.
		r, err = s.Daily(context.Background(), "2026-11-20", ReportOptions{Queue: "support", Formula: "offered"})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Queues) != 1 || !near(r.Queues[0].ServiceLevel, 2.0/6) {
			t.Fatalf("offered formula %+v", r.Queues)
		}
		// The agents of one queue: calls in it, no state time (states
		// are not per queue).
		if len(r.Agents) != 2 || r.Agents[0].Calls != 1 || r.Agents[0].NotReadySeconds != 0 {
			t.Fatalf("support agents %+v", r.Agents)
		}
		r, _ = s.Daily(context.Background(), "2026-11-20", ReportOptions{Queue: "support", Formula: "answered", ShortAbandon: -1})
		if !near(r.Queues[0].ServiceLevel, 2.0/3) || r.Queues[0].ShortAbandoned != 0 {
			t.Fatalf("answered formula %+v", r.Queues)
		}
		// An empty day is an empty report, not an error.
		r, err = s.Daily(context.Background(), "2026-11-21", ReportOptions{})
		if err != nil || len(r.Queues) != 0 {
			t.Fatalf("empty day %+v %v", r, err)
		}
	})
}

func TestIntervalReportHandWorked(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		s := openMigrated(t, dsn)
		seedReportDay(t, s)
		r, err := s.Interval(context.Background(), "2026-11-20", ReportOptions{Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		type key struct {
			h int
			q string
		}
		got := map[key]QueueFigures{}
		for _, iv := range r.Intervals {
			got[key{iv.Start.Hour(), iv.Queue}] = iv.QueueFigures
		}
		if len(r.Intervals) != 4 {
			t.Fatalf("intervals %+v", r.Intervals)
		}
		if f := got[key{9, "support"}]; f.Offered != 4 || f.Answered != 2 || f.AnsweredInSL != 1 || f.Abandoned != 2 || f.ShortAbandoned != 1 {
			t.Fatalf("support 09:00 %+v", f)
		}
		if f := got[key{10, "support"}]; f.Offered != 2 || f.Overflowed != 1 || f.Answered != 1 || !near(f.ServiceLevel, 1) {
			t.Fatalf("support 10:00 %+v", f)
		}
		if f := got[key{10, "sales"}]; f.Offered != 1 || f.Answered != 1 {
			t.Fatalf("sales 10:00 %+v", f)
		}
		if f := got[key{11, "billing"}]; f.Offered != 2 || f.Exited != 1 {
			t.Fatalf("billing 11:00 %+v", f)
		}
		if !r.Intervals[0].Start.Equal(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)) {
			t.Fatalf("first interval %v", r.Intervals[0].Start)
		}

		// A zone east of UTC: the day starts at 2026-11-19 23:00 UTC, so
		// c6 (23:59 UTC on the 19th) is in it and the buckets are aligned
		// on local hours.
		cet := time.FixedZone("CET", 3600)
		r, err = s.Interval(context.Background(), "2026-11-20", ReportOptions{Interval: time.Hour, Location: cet, Queue: "support"})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Intervals) != 3 || r.Intervals[0].Start.In(cet).Hour() != 0 || r.Intervals[0].Offered != 1 || r.Intervals[1].Start.In(cet).Hour() != 10 {
			t.Fatalf("CET intervals %+v", r.Intervals)
		}
	})
}

func TestReportRejectsBadInput(t *testing.T) {
	dialects(t, testReportRejectsBadInput)
}

func testReportRejectsBadInput(t *testing.T, dsn string) {
	s := openMigrated(t, dsn)
	for name, tc := range map[string]struct {
		date string
		o    ReportOptions
	}{
		"date":      {"2026-13-01", ReportOptions{}},
		"formula":   {"2026-11-20", ReportOptions{Formula: "best"}},
		"interval":  {"2026-11-20", ReportOptions{Interval: 7 * time.Minute}},
		"seconds":   {"2026-11-20", ReportOptions{Interval: 90 * time.Second}},
		"threshold": {"2026-11-20", ReportOptions{Thresholds: map[string]time.Duration{"q": -time.Second}}},
	} {
		_, err := s.Interval(context.Background(), tc.date, tc.o)
		if !errors.Is(err, ErrBadReport) {
			t.Errorf("%s: %v, want ErrBadReport", name, err)
		}
	}
}
