package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

var recT0 = time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC) // a Monday

func mkRec(id, agent, queue, caller, status string, at time.Time, dur time.Duration) *Recording {
	r := &Recording{ID: id, CallID: "call-" + id, Node: "pbx1", PBXName: "name-" + id, AgentID: agent, Queue: queue,
		CallerNumber: caller, Status: status, StartedAt: at, DurationMS: dur.Milliseconds(), Format: "wav"}
	if status != RecordingActive {
		r.EndedAt = recPtr(at.Add(dur))
	}
	return r
}

func TestRecordingLifecycleAndPauses(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		r := mkRec("r1", "1001", "billing", "+4930111", RecordingActive, recT0, 0)
		if err := s.CreateRecording(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRecording(ctx, mkRec("r1", "other", "x", "", RecordingActive, recT0, 0)); err != nil {
			t.Fatal("retried create must be harmless:", err)
		}
		got, err := s.RecordingByPBXName(ctx, "pbx1", "name-r1")
		if err != nil || got.AgentID != "1001" {
			t.Fatalf("by name: %+v %v", got, err)
		}
		p1 := recT0.Add(30 * time.Second)
		if _, err := s.StartPause(ctx, "r1", p1, "1001", "card details"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.StartPause(ctx, "r1", p1.Add(time.Second), "sup1", "again"); !errors.Is(err, ErrRecordingState) {
			t.Fatalf("second pause: %v", err)
		}
		if _, err := s.EndPause(ctx, "r1", p1.Add(45*time.Second), "1001"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EndPause(ctx, "r1", p1.Add(50*time.Second), "1001"); !errors.Is(err, ErrRecordingState) {
			t.Fatalf("resume when not paused: %v", err)
		}
		if _, err := s.StartPause(ctx, "r1", p1.Add(60*time.Second), "sup1", "cvv"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EndPause(ctx, "r1", p1.Add(70*time.Second), "sup1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.StartPause(ctx, "nope", p1, "x", "y"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
		if err := s.TagRecording(ctx, "r1", []string{"Complaint", " vip "}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.TagRecording(ctx, "r1", []string{"bad tag"}, nil); !errors.Is(err, ErrBadFilter) {
			t.Fatalf("bad tag: %v", err)
		}
		got, err = s.Recording(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if got.PausedMS != 55000 || len(got.Pauses) != 2 || got.Pauses[0].Reason != "card details" || got.Pauses[1].PausedBy != "sup1" ||
			got.Pauses[1].ResumedAt == nil || !got.Pauses[1].ResumedAt.Equal(p1.Add(70*time.Second)) {
			t.Fatalf("pauses %+v paused_ms %d", got.Pauses, got.PausedMS)
		}
		if fmt.Sprint(got.Tags) != "[complaint vip]" {
			t.Fatalf("tags %v", got.Tags)
		}
		got.Status, got.EndedAt, got.DurationMS = RecordingFinished, recPtr(recT0.Add(3*time.Minute)), 180000
		if err := s.SaveRecording(ctx, got); err != nil {
			t.Fatal(err)
		}
		if _, err := s.StartPause(ctx, "r1", recT0.Add(4*time.Minute), "x", "y"); !errors.Is(err, ErrRecordingState) {
			t.Fatalf("pause finished: %v", err)
		}
		act, err := s.ActiveRecordings(ctx, "pbx1")
		if err != nil || len(act) != 0 {
			t.Fatalf("active %v %v", act, err)
		}
	})
}

func TestSearchRecordings(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		for i := 0; i < 30; i++ {
			agent := []string{"a1", "a2", "a3"}[i%3]
			queue := []string{"billing", "support"}[i%2]
			st := RecordingFinished
			if i%10 == 9 {
				st = RecordingFailed
			}
			r := mkRec(fmt.Sprintf("r%02d", i), agent, queue, fmt.Sprintf("+1555%04d", i%5), st, recT0.Add(time.Duration(i)*time.Minute), time.Duration(i*10)*time.Second)
			if err := s.CreateRecording(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		// same start time for two rows: the cursor must still split them right
		if err := s.CreateRecording(ctx, mkRec("r05b", "a3", "support", "", RecordingFinished, recT0.Add(5*time.Minute), time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := s.TagRecording(ctx, "r04", []string{"escalation"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.TagRecording(ctx, "r07", []string{"escalation", "vip"}, nil); err != nil {
			t.Fatal(err)
		}
		ids := func(rs []Recording) string {
			out := ""
			for _, r := range rs {
				out += r.ID + " "
			}
			return out
		}
		f64 := func(v float64) *float64 { return &v }
		cases := []struct {
			name string
			f    RecordingFilter
			want string
		}{
			{"agent+queue", RecordingFilter{AgentID: "a1", Queue: "billing"}, "r24 r18 r12 r06 r00 "},
			{"time range", RecordingFilter{From: recT0.Add(3 * time.Minute), To: recT0.Add(6 * time.Minute)}, "r05b r05 r04 r03 "},
			{"caller", RecordingFilter{Caller: "+15550003"}, "r28 r23 r18 r13 r08 r03 "},
			{"status", RecordingFilter{Status: RecordingFailed}, "r29 r19 r09 "},
			{"tag", RecordingFilter{Tag: "Escalation"}, "r07 r04 "},
			{"duration", RecordingFilter{MinDuration: 250 * time.Second, MaxDuration: 270 * time.Second}, "r27 r26 r25 "},
			{"limit", RecordingFilter{Limit: 2}, "r29 r28 "},
		}
		for _, c := range cases {
			got, _, err := s.SearchRecordings(ctx, c.f)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if ids(got) != c.want {
				t.Errorf("%s: got %s want %s", c.name, ids(got), c.want)
			}
		}
		got, _, _ := s.SearchRecordings(ctx, RecordingFilter{Tag: "vip"})
		if len(got) != 1 || fmt.Sprint(got[0].Tags) != "[escalation vip]" {
			t.Fatalf("tags filled: %+v", got)
		}
		// Cursor pages cover everything once, in order.
		var all string
		cur := ""
		pages := 0
		for {
			page, next, err := s.SearchRecordings(ctx, RecordingFilter{Limit: 7, Cursor: cur})
			if err != nil {
				t.Fatal(err)
			}
			all += ids(page)
			pages++
			if next == "" {
				break
			}
			cur = next
		}
		full, _, _ := s.SearchRecordings(ctx, RecordingFilter{Limit: 1000})
		if all != ids(full) || len(full) != 31 || pages != 5 {
			t.Fatalf("paged %q (%d pages)\nfull  %q", all, pages, ids(full))
		}
		// Score filter after evaluations set scores.
		if err := s.db.Model(&Recording{}).Where("id IN ?", []string{"r01", "r02"}).Update("score", 55.5).Error; err != nil {
			t.Fatal(err)
		}
		got, _, _ = s.SearchRecordings(ctx, RecordingFilter{MaxScore: f64(60)})
		if ids(got) != "r02 r01 " {
			t.Fatalf("score: %s", ids(got))
		}
		for _, bad := range []RecordingFilter{{Status: "done"}, {Cursor: "!!"}, {MinScore: f64(101)}, {From: recT0, To: recT0}, {MinDuration: 5, MaxDuration: 2}} {
			if _, _, err := s.SearchRecordings(ctx, bad); !errors.Is(err, ErrBadFilter) {
				t.Errorf("%+v: %v", bad, err)
			}
		}
	})
}

func TestPurgeRespectsRetentionAndHold(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		now := recT0.AddDate(0, 0, 100)
		mk := func(id string, daysAgo int, keepUntil *time.Time, hold bool, status string) {
			r := mkRec(id, "a1", "q", "", status, now.AddDate(0, 0, -daysAgo), time.Minute)
			r.RetentionUntil, r.LegalHold = keepUntil, hold
			if err := s.CreateRecording(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		past, future := recPtr(now.Add(-time.Hour)), recPtr(now.AddDate(0, 1, 0))
		mk("expired", 40, past, false, RecordingFinished)         // retention passed → purged
		mk("expired-held", 40, past, true, RecordingFinished)     // legal hold → kept
		mk("kept-by-date", 200, future, false, RecordingFinished) // old, retention date ahead → kept
		mk("old-nodate", 120, nil, false, RecordingFinished)      // only with --older-than 90d
		mk("old-nodate-held", 120, nil, true, RecordingFailed)    // held
		mk("young-nodate", 10, nil, false, RecordingFinished)     // kept
		mk("old-active", 120, nil, false, RecordingActive)        // still recording → never
		if _, err := s.StartPause(ctx, "old-active", now, "x", "y"); err != nil {
			t.Fatal(err)
		}
		if err := s.TagRecording(ctx, "old-nodate", []string{"t"}, nil); err != nil {
			t.Fatal(err)
		}
		names := func(rs []Recording) string {
			o := ""
			for _, r := range rs {
				o += r.ID + " "
			}
			return o
		}
		due, held, err := s.PurgeCandidates(ctx, PurgeFilter{Now: now})
		if err != nil || names(due) != "expired " || held != 1 {
			t.Fatalf("retention only: %s held %d %v", names(due), held, err)
		}
		f := PurgeFilter{Now: now, OlderThan: 90 * 24 * time.Hour}
		due, held, err = s.PurgeCandidates(ctx, f)
		if err != nil || names(due) != "old-nodate expired " || held != 2 {
			t.Fatalf("older-than 90d: %s held %d %v", names(due), held, err)
		}
		// Dry run (listing) changed nothing.
		all, _, _ := s.SearchRecordings(ctx, RecordingFilter{})
		if len(all) != 7 {
			t.Fatalf("dry run changed rows: %d", len(all))
		}
		// A hold set after listing wins over the purge.
		if err := s.SetLegalHold(ctx, "expired", true, "legal", "case 42"); err != nil {
			t.Fatal(err)
		}
		if err := s.PurgeRecording(ctx, "expired", f, "ops", "x"); !errors.Is(err, ErrRecordingState) {
			t.Fatalf("held purge: %v", err)
		}
		if err := s.PurgeRecording(ctx, "old-nodate", f, "ops", "file /rec/old-nodate.wav deleted"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recording(ctx, "old-nodate"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("purged row still there: %v", err)
		}
		var tags int64
		s.db.Model(&RecordingTag{}).Where("recording_id = ?", "old-nodate").Count(&tags)
		if tags != 0 {
			t.Fatal("tags left behind")
		}
		audit, err := s.Audit(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(audit) != 2 || audit[0].Action != "recording.purge" || audit[0].Subject != "recording/old-nodate" || audit[0].Actor != "ops" ||
			audit[1].Action != "recording.hold" || audit[1].Detail != "case 42" {
			t.Fatalf("audit %+v", audit)
		}
	})
}

func TestEvaluationsAndAverages(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		// The hand-worked example of recordings/review (A 82.5, B 0, C 80)
		// plus D 90 for another agent in another queue:
		//   agent a1: (82.5 + 0 + 80)/3 = 54.17, passed 2;  agent a2: 90
		//   queue billing (A, B, D): (82.5+0+90)/3 = 57.5;  queue support (C): 80
		recs := []struct{ id, agent, queue string }{{"rA", "a1", "billing"}, {"rB", "a1", "billing"}, {"rC", "a1", "support"}, {"rD", "a2", "billing"}}
		for _, r := range recs {
			if err := s.CreateRecording(ctx, mkRec(r.id, r.agent, r.queue, "", RecordingFinished, recT0, time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateRecording(ctx, mkRec("rX", "a1", "billing", "", RecordingActive, recT0, 0)); err != nil {
			t.Fatal(err)
		}
		pct := map[string][2]float64{"rA": {82.5, 82.5}, "rB": {0, 70}, "rC": {80, 80}, "rD": {90, 90}}
		for _, id := range []string{"rA", "rB", "rC", "rD"} {
			e := &Evaluation{RecordingID: id, Scorecard: "support-standard", ScorecardVersion: 1, Reviewer: "sup1",
				Percent: pct[id][0], Raw: pct[id][1], Passed: pct[id][0] >= 80, CriticalFailed: id == "rB", CreatedAt: recT0.Add(time.Hour),
				Scores:   []EvaluationScore{{Criterion: "greeting", Score: 4, Max: 5, Weight: 10, Earned: 8}, {Criterion: "upsell", NA: true, Max: 5, Weight: 20}},
				Comments: []EvaluationComment{{OffsetMS: 65000, Text: "good de-escalation"}}}
			if err := s.CreateEvaluation(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateEvaluation(ctx, &Evaluation{RecordingID: "rX", Scorecard: "s", ScorecardVersion: 1}); !errors.Is(err, ErrRecordingState) {
			t.Fatalf("evaluate active: %v", err)
		}
		byAgent, err := s.AverageScores(ctx, "agent", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(byAgent) != "[{a1 3 54.17 2} {a2 1 90 1}]" {
			t.Fatalf("by agent %v", byAgent)
		}
		byQueue, err := s.AverageScores(ctx, "queue", recT0, recT0.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(byQueue) != "[{billing 3 57.5 2} {support 1 80 1}]" {
			t.Fatalf("by queue %v", byQueue)
		}
		// A second evaluation of rA: the recording's score is the mean.
		if err := s.CreateEvaluation(ctx, &Evaluation{RecordingID: "rA", Scorecard: "support-standard", ScorecardVersion: 1, Reviewer: "sup2", Percent: 70, Raw: 70}); err != nil {
			t.Fatal(err)
		}
		r, _ := s.Recording(ctx, "rA")
		if r.Score == nil || *r.Score != 76.25 || r.Evaluations != 2 {
			t.Fatalf("score %v n %d", r.Score, r.Evaluations)
		}
		evs, err := s.Evaluations(ctx, "rA")
		if err != nil || len(evs) != 2 || len(evs[0].Scores) != 2 || len(evs[0].Comments) != 1 || evs[0].Comments[0].Author != "sup1" || evs[0].AgentID != "a1" {
			t.Fatalf("evaluations %+v %v", evs, err)
		}
		if err := s.AddEvaluationComment(ctx, &EvaluationComment{EvaluationID: evs[1].ID, OffsetMS: 1000, Author: "sup2", Text: "check"}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddEvaluationComment(ctx, &EvaluationComment{EvaluationID: "nope", Text: "x"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("comment on unknown: %v", err)
		}
		if err := s.SetExemplary(ctx, "rD", true, "sup1", "textbook upsell"); err != nil {
			t.Fatal(err)
		}
		lib, _, _ := s.SearchRecordings(ctx, RecordingFilter{Exemplary: true})
		if len(lib) != 1 || lib[0].ID != "rD" || lib[0].Note != "textbook upsell" {
			t.Fatalf("library %+v", lib)
		}
		if _, err := s.AverageScores(ctx, "team", time.Time{}, time.Time{}); !errors.Is(err, ErrBadFilter) {
			t.Fatal(err)
		}
	})
}

func TestScorecardVersions(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		v, created, err := s.ApplyScorecard(ctx, "std", "sum1", `{"a":1}`, "ops", recT0)
		if err != nil || !created || v.Version != 1 {
			t.Fatalf("%+v %v %v", v, created, err)
		}
		v, created, err = s.ApplyScorecard(ctx, "std", "sum1", `{"a":1}`, "ops", recT0)
		if err != nil || created || v.Version != 1 {
			t.Fatalf("unchanged: %+v %v %v", v, created, err)
		}
		v, created, err = s.ApplyScorecard(ctx, "std", "sum2", `{"a":2}`, "ops2", recT0)
		if err != nil || !created || v.Version != 2 {
			t.Fatalf("changed: %+v %v %v", v, created, err)
		}
		old, err := s.ScorecardVersionOf(ctx, "std", 1)
		if err != nil || old.Body != `{"a":1}` {
			t.Fatalf("%+v %v", old, err)
		}
		latest, err := s.ScorecardVersionOf(ctx, "std", 0)
		if err != nil || latest.Version != 2 || latest.AppliedBy != "ops2" {
			t.Fatalf("%+v %v", latest, err)
		}
		if _, err := s.ScorecardVersionOf(ctx, "nope", 0); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	})
}

func TestReviewSample(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		week := recT0 // Monday
		n := 0
		add := func(agent, status string, at time.Time) {
			n++
			if err := s.CreateRecording(ctx, mkRec(fmt.Sprintf("s%03d", n), agent, "q", "", status, at, time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 10; i++ {
			add("a1", RecordingFinished, week.Add(time.Duration(i)*time.Hour))
		}
		add("a2", RecordingFinished, week.Add(24*time.Hour))
		add("a2", RecordingFailed, week.Add(25*time.Hour))
		add("a2", RecordingFinished, week.AddDate(0, 0, 7))             // next week
		add("a2", RecordingFinished, WeekStart(week).Add(-time.Second)) // last week
		items, err := s.ReviewSample(ctx, week.Add(50*time.Hour), 3, "seed", "")
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, it := range items {
			per[it.AgentID]++
			if !it.WeekStart.Equal(week.Truncate(24 * time.Hour)) {
				t.Fatalf("week start %v", it.WeekStart)
			}
		}
		if per["a1"] != 3 || per["a2"] != 1 || len(items) != 4 {
			t.Fatalf("sample %+v", items)
		}
		again, err := s.ReviewSample(ctx, week, 3, "other-seed", "")
		if err != nil || fmt.Sprint(again) != fmt.Sprint(items) {
			t.Fatalf("a drawn sample is kept:\n%v\n%v", again, items)
		}
		// Top-up to a larger N keeps the first picks.
		more, err := s.ReviewSample(ctx, week, 5, "seed", "a1")
		if err != nil || len(more) != 5 {
			t.Fatalf("top up %v %v", more, err)
		}
		// Different seeds on a fresh week pick differently (random), same seed same pick.
		w2 := week.AddDate(0, 0, 14)
		for i := 0; i < 40; i++ {
			add("b1", RecordingFinished, w2.Add(time.Duration(i)*time.Minute))
		}
		bs, err := s.ReviewSample(ctx, w2, 5, "seed1", "b1")
		if err != nil || len(bs) != 5 {
			t.Fatalf("b1 %v %v", bs, err)
		}
		first, last := 0, 0
		for _, it := range bs {
			var k int
			fmt.Sscanf(it.RecordingID, "s%03d", &k)
			if k <= 19 {
				first++
			}
			if k > 49 {
				last++
			}
		}
		if first == 5 || last == 5 {
			t.Fatalf("pick is the first or last five by time, not random: %v", bs)
		}
		e := &Evaluation{RecordingID: items[0].RecordingID, Scorecard: "x", ScorecardVersion: 1, Percent: 50}
		if err := s.CreateEvaluation(ctx, e); err != nil {
			t.Fatal(err)
		}
		after, _ := s.ReviewSample(ctx, week, 3, "seed", "")
		reviewed := 0
		for _, it := range after {
			if it.Reviewed {
				reviewed++
			}
		}
		if reviewed != 1 {
			t.Fatalf("reviewed %d", reviewed)
		}
		if _, err := s.ReviewSample(ctx, week, 0, "", ""); !errors.Is(err, ErrBadFilter) {
			t.Fatal(err)
		}
	})
}

// A tag row carries its recording's start (the tag search reads the tag
// index in time order): set when the tag is added, moved when the PBX's
// start event moves the recording's start, and filled by migration 00031
// for tags that existed before it.
func TestRecordingTagStartFollowsRecording(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		tagStart := func(id string) time.Time {
			t.Helper()
			var tg RecordingTag
			if err := s.DB().Where("recording_id = ?", id).Take(&tg).Error; err != nil {
				t.Fatal(err)
			}
			return tg.StartedAt
		}
		r := mkRec("r1", "1001", "billing", "+4930111", RecordingActive, recT0, 0)
		if err := s.CreateRecording(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.TagRecording(ctx, "r1", []string{"vip"}, nil); err != nil {
			t.Fatal(err)
		}
		if got := tagStart("r1"); !got.Equal(recT0) {
			t.Fatalf("tag start %v, want %v", got, recT0)
		}
		got, _ := s.Recording(ctx, "r1")
		got.StartedAt = recT0.Add(1500 * time.Millisecond) // the PBX's RecordingStarted
		if err := s.SaveRecording(ctx, got); err != nil {
			t.Fatal(err)
		}
		if got := tagStart("r1"); !got.Equal(recT0.Add(1500 * time.Millisecond)) {
			t.Fatalf("tag start not moved: %v", got)
		}
		found, _, err := s.SearchRecordings(ctx, RecordingFilter{Tag: "vip", From: recT0.Add(time.Second), To: recT0.Add(2 * time.Second)})
		if err != nil || len(found) != 1 {
			t.Fatalf("tag + time range: %v %v", found, err)
		}

		// Back to before 00031, a tag written the old way, and up again.
		for {
			st, err := s.MigrationStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			applied := false
			for _, m := range st {
				if m.Version == 31 && m.Applied {
					applied = true
				}
			}
			if !applied {
				break
			}
			if _, err := s.MigrateDown(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DB().Exec("INSERT INTO recordings (id, started_at, created_at, updated_at) VALUES ('r2', ?, ?, ?)", recT0.Add(time.Hour), recT0, recT0).Error; err != nil {
			t.Fatal(err)
		}
		if err := s.DB().Exec("INSERT INTO recording_tags (recording_id, tag) VALUES ('r2', 'complaint')").Error; err != nil {
			t.Fatal(err)
		}
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if got := tagStart("r2"); !got.Equal(recT0.Add(time.Hour)) {
			t.Fatalf("migration left the tag start at %v", got)
		}
		if got := tagStart("r1"); !got.Equal(recT0.Add(1500 * time.Millisecond)) {
			t.Fatalf("migration down and up lost r1's tag start: %v", got)
		}
	})
}

// The review sample is a uniform random pick: over many weeks each of an
// agent's 20 recordings is among the 5 picked a quarter of the time (within
// four standard deviations), with sequential ids that a weak hash would
// order; the same week, seed and agent always give the same pick.
func TestSamplePickIsUniform(t *testing.T) {
	const weeks, ids, n = 2000, 20, 5
	count := map[string]int{}
	for w := 0; w < weeks; w++ {
		week := recT0.AddDate(0, 0, 7*w)
		var in []string
		for i := 0; i < ids; i++ {
			in = append(in, fmt.Sprintf("rec-%03d", i))
		}
		picked := samplePick("seed", week, "a1", in, n)
		again := samplePick("seed", week, "a1", append([]string(nil), in...), n)
		if len(picked) != n || fmt.Sprint(picked) != fmt.Sprint(again) {
			t.Fatalf("week %d: %v then %v", w, picked, again)
		}
		for _, id := range picked {
			count[id]++
		}
	}
	want := float64(weeks) * n / ids
	sd := math.Sqrt(float64(weeks) * n / ids * (1 - float64(n)/ids))
	for i := 0; i < ids; i++ {
		id := fmt.Sprintf("rec-%03d", i)
		if d := math.Abs(float64(count[id]) - want); d > 4*sd {
			t.Errorf("%s picked %d times of %d weeks, want %.0f ± %.0f", id, count[id], weeks, want, 4*sd)
		}
	}
	if got := samplePick("seed", recT0, "a1", []string{"x", "y"}, 5); len(got) != 2 {
		t.Fatalf("fewer recordings than n: %v", got)
	}
}
