package recordings

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/recordings/review"
	"github.com/switchboard-cc/switchboard/storage"
)

func finished(t *testing.T, st *storage.Store, id, agent, queue string, at time.Time, mod func(*storage.Recording)) {
	t.Helper()
	end := at.Add(3 * time.Minute)
	r := &storage.Recording{ID: id, CallID: "c-" + id, Node: "pbx1", PBXName: id, Path: "/var/spool/asterisk/recording/" + id + ".wav",
		Format: "wav", AgentID: agent, Queue: queue, CallerNumber: "+1555", Status: storage.RecordingFinished, StartedAt: at, EndedAt: &end, DurationMS: 180000}
	if mod != nil {
		mod(r)
	}
	if err := st.CreateRecording(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// Purge through the desk: the dry run changes nothing (rows and files);
// the real run deletes the file through purge_command (run without a
// shell), then the metadata, and audits each; legal hold exempts; a file
// the command cannot delete keeps its metadata.
func TestPurgeWithCommand(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	root := t.TempDir()
	now := t0.AddDate(0, 0, 200)
	old := now.AddDate(0, 0, -120)
	for _, id := range []string{"a", "b", "held", "young", "stuck"} {
		at := old
		if id == "young" {
			at = now.AddDate(0, 0, -5)
		}
		finished(t, st, id, "ag", "q", at, func(r *storage.Recording) { r.LegalHold = id == "held"; r.Path = "/pbx/" + id + ".wav" })
		if id != "stuck" {
			if err := os.WriteFile(filepath.Join(root, id+".wav"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The hook deletes root/<name>.wav and fails when it is not there.
	cfg := Config{PurgeCommand: []string{"rm", filepath.Join(root, "{name}.wav")}}
	desk := NewDesk(st, nil, cfg, func() time.Time { return now })
	o := PurgeOptions{OlderThan: 90 * 24 * time.Hour, DryRun: true, Actor: "ops"}
	rep, err := desk.Purge(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Purged) != 3 || rep.Held != 1 || !rep.DryRun || rep.Purged[0].File != "purge_command" {
		t.Fatalf("dry run %+v", rep)
	}
	for _, id := range []string{"a", "b", "held", "young"} {
		if _, err := os.Stat(filepath.Join(root, id+".wav")); err != nil {
			t.Fatalf("dry run touched %s: %v", id, err)
		}
	}
	if all, _, _ := st.SearchRecordings(ctx, storage.RecordingFilter{}); len(all) != 5 {
		t.Fatalf("dry run deleted rows: %d left", len(all))
	}
	if a, _ := st.Audit(ctx, 10); len(a) != 0 {
		t.Fatalf("dry run audited: %+v", a)
	}
	o.DryRun = false
	rep, err = desk.Purge(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Purged) != 2 || len(rep.Failed) != 1 || rep.Failed[0].ID != "stuck" || !strings.Contains(rep.Failed[0].Error, "purge_command") {
		t.Fatalf("purge %+v", rep)
	}
	left, _, _ := st.SearchRecordings(ctx, storage.RecordingFilter{})
	ids := []string{}
	for _, r := range left {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, ",") != "young,stuck,held" && strings.Join(ids, ",") != "young,held,stuck" {
		t.Fatalf("left %v", ids)
	}
	for id, want := range map[string]bool{"a": false, "b": false, "held": true, "young": true} {
		_, err := os.Stat(filepath.Join(root, id+".wav"))
		if (err == nil) != want {
			t.Fatalf("file %s exists=%v want %v", id, err == nil, want)
		}
	}
	audit, _ := st.Audit(ctx, 10)
	if len(audit) != 2 || audit[0].Action != "recording.purge" || audit[0].Actor != "ops" {
		t.Fatalf("audit %+v", audit)
	}
	if _, err := desk.Purge(ctx, PurgeOptions{}); err == nil {
		t.Fatal("purge without actor accepted")
	}
}

// Without a command, a file under the node's root is deleted directly.
func TestPurgeUnderRoot(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	root := t.TempDir()
	now := t0.AddDate(1, 0, 0)
	keep := now.Add(-time.Hour)
	finished(t, st, "r1", "ag", "q", t0, func(r *storage.Recording) { r.RetentionUntil = &keep })
	if err := os.WriteFile(filepath.Join(root, "r1.wav"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	desk := NewDesk(st, nil, Config{Nodes: map[string]NodeConfig{"pbx1": {Root: root}}}, func() time.Time { return now })
	rep, err := desk.Purge(ctx, PurgeOptions{Actor: "cron"})
	if err != nil || len(rep.Purged) != 1 || rep.Purged[0].File != "deleted" {
		t.Fatalf("%+v %v", rep, err)
	}
	if _, err := os.Stat(filepath.Join(root, "r1.wav")); !os.IsNotExist(err) {
		t.Fatalf("file left: %v", err)
	}
}

func TestExportCSVAndJSON(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	for i, id := range []string{"e1", "e2", "e3"} {
		finished(t, st, id, "ag", "billing", t0.Add(time.Duration(i)*time.Minute), nil)
	}
	if err := st.TagRecording(ctx, "e2", []string{"vip", "complaint"}, nil); err != nil {
		t.Fatal(err)
	}
	desk := NewDesk(st, nil, Config{}, nil)
	var buf bytes.Buffer
	n, err := desk.Export(ctx, storage.RecordingFilter{Queue: "billing"}, "csv", &buf)
	if err != nil || n != 3 {
		t.Fatalf("%d %v", n, err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(ExportColumns, ",") || rows[2][0] != "e2" || rows[2][22] != "complaint vip" || rows[2][4] != "180.000" {
		t.Fatalf("csv %v %v", rows, err)
	}
	buf.Reset()
	if _, err := desk.Export(ctx, storage.RecordingFilter{}, "json", &buf); err != nil {
		t.Fatal(err)
	}
	var recs []storage.Recording
	if err := json.Unmarshal(buf.Bytes(), &recs); err != nil || len(recs) != 3 || recs[0].ID != "e3" {
		t.Fatalf("json %s %v", buf.String(), err)
	}
	buf.Reset()
	if n, err := desk.Export(ctx, storage.RecordingFilter{Queue: "none"}, "json", &buf); err != nil || n != 0 || json.Unmarshal(buf.Bytes(), &recs) != nil || len(recs) != 0 {
		t.Fatalf("empty export %q %v", buf.String(), err)
	}
	var fe *FieldError
	if _, err := desk.Export(ctx, storage.RecordingFilter{}, "xml", &buf); !errors.As(err, &fe) || fe.Field != "format" {
		t.Fatalf("format: %v", err)
	}
}

// Scorecards from the file, versioned; evaluations through the desk give
// the hand-worked figures of recordings/review, per agent and per queue.
func TestDeskEvaluations(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := t0.Add(48 * time.Hour)
	desk := NewDesk(st, nil, Config{}, func() time.Time { return now })
	data, err := os.ReadFile("testdata/scorecards.yaml")
	if err != nil {
		t.Fatal(err)
	}
	applied, err := desk.ApplyScorecards(ctx, "scorecards.yaml", data, "qa-lead")
	if err != nil || len(applied) != 2 || applied[0].Version != 1 || !applied[0].Changed {
		t.Fatalf("%+v %v", applied, err)
	}
	again, _ := desk.ApplyScorecards(ctx, "scorecards.yaml", data, "qa-lead")
	if again[0].Changed || again[0].Version != 1 {
		t.Fatalf("unchanged file made a version: %+v", again)
	}
	bad := bytes.Replace(data, []byte("weight: 10"), []byte("weight: -1"), 1)
	if _, err := desk.ApplyScorecards(ctx, "scorecards.yaml", bad, "qa-lead"); err == nil || !errors.Is(err, review.ErrInvalid) || !strings.Contains(err.Error(), "scorecards.yaml:") {
		t.Fatalf("bad file: %v", err)
	}
	changed := bytes.Replace(data, []byte("pass_mark: 80"), []byte("pass_mark: 75"), 1)
	v2, _ := desk.ApplyScorecards(ctx, "scorecards.yaml", changed, "qa-lead")
	if v2[0].Version != 2 || !v2[0].Changed || v2[1].Changed {
		t.Fatalf("changed: %+v", v2)
	}
	finished(t, st, "rA", "a1", "support", t0, nil)
	finished(t, st, "rB", "a1", "support", t0, nil)
	finished(t, st, "rC", "a1", "billing", t0, nil)
	m := func(g, v, r float64, up any) []review.Mark {
		u := review.Mark{Criterion: "upsell"}
		if f, ok := up.(float64); ok {
			u.Score = f
		} else {
			u.NA = true
		}
		return []review.Mark{{Criterion: "greeting", Score: g}, {Criterion: "verify", Score: v}, {Criterion: "resolution", Score: r}, u}
	}
	in := []EvaluationInput{
		{RecordingID: "rA", Scorecard: "support-standard", Version: 1, Reviewer: "sup1", Marks: m(4, 1, 7, nil),
			Comments: []CommentInput{{At: "1:05", Text: "good empathy"}}, Exemplary: true},
		{RecordingID: "rB", Scorecard: "support-standard", Version: 1, Reviewer: "sup1", Marks: m(5, 0, 10, 5.0)},
		{RecordingID: "rC", Scorecard: "support-standard", Version: 1, Reviewer: "sup2", Marks: m(3, 1, 9, 2.0)},
	}
	want := []float64{82.5, 0, 80}
	for i, e := range in {
		ev, res, err := desk.Evaluate(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Percent != want[i] || res.Percent != want[i] || ev.ScorecardVersion != 1 || ev.AgentID != "a1" {
			t.Fatalf("%s: %+v", e.RecordingID, ev)
		}
	}
	avg, err := desk.Averages(ctx, "agent", time.Time{}, time.Time{})
	if err != nil || len(avg) != 1 || avg[0].Average != 54.17 || avg[0].Evaluations != 3 || avg[0].Passed != 2 {
		t.Fatalf("by agent %+v %v", avg, err)
	}
	avg, _ = desk.Averages(ctx, "queue", time.Time{}, time.Time{})
	if len(avg) != 2 || avg[0].Key != "billing" || avg[0].Average != 80 || avg[1].Key != "support" || avg[1].Average != 41.25 {
		t.Fatalf("by queue %+v", avg)
	}
	d, err := desk.Show(ctx, "rA")
	if err != nil || !d.Exemplary || len(d.Evaluations) != 1 || len(d.Evaluations[0].Comments) != 1 || d.Evaluations[0].Comments[0].OffsetMS != 65000 ||
		len(d.Evaluations[0].Scores) != 4 || d.Score == nil || *d.Score != 82.5 {
		t.Fatalf("show %+v %v", d, err)
	}
	if _, err := desk.Comment(ctx, d.Evaluations[0].ID, "sup1", "2m", "coach on hold etiquette"); err != nil {
		t.Fatal(err)
	}
	var fe *FieldError
	// A comment added later is held to the recording's length (3 min) as
	// well: a field error naming "at", and nothing stored. The end itself
	// is a valid position.
	for _, at := range []string{"3m0.001s", "3:01", "1h"} {
		if _, err := desk.Comment(ctx, d.Evaluations[0].ID, "sup1", at, "past the end"); !errors.As(err, &fe) || fe.Field != "at" {
			t.Errorf("comment at %s on a 3 min recording: %v", at, err)
		}
	}
	if _, err := desk.Comment(ctx, d.Evaluations[0].ID, "sup1", "3:00", "at the very end"); err != nil {
		t.Fatal(err)
	}
	if evs := mustEvals(t, st, "rA"); len(evs[0].Comments) != 3 {
		t.Fatalf("comments after the rejected ones: %+v", evs[0].Comments)
	}
	bads := []struct {
		in    EvaluationInput
		field string
	}{
		{EvaluationInput{RecordingID: "rA", Scorecard: "support-standard", Marks: m(4, 1, 7, nil)}, "reviewer"},
		{EvaluationInput{RecordingID: "rA", Scorecard: "nope", Reviewer: "x", Marks: m(4, 1, 7, nil)}, "scorecard"},
		{EvaluationInput{RecordingID: "rA", Scorecard: "support-standard", Reviewer: "x", Marks: m(9, 1, 7, nil)}, "marks"},
		{EvaluationInput{RecordingID: "rA", Scorecard: "support-standard", Reviewer: "x", Marks: m(4, 1, 7, nil), Comments: []CommentInput{{At: "5m", Text: "x"}}}, "comments[0].at"},
		{EvaluationInput{RecordingID: "rA", Scorecard: "support-standard", Reviewer: "x", Marks: m(4, 1, 7, nil), Comments: []CommentInput{{At: "soon", Text: "x"}}}, "comments[0].at"},
	}
	for _, b := range bads {
		if _, _, err := desk.Evaluate(ctx, b.in); !errors.As(err, &fe) || fe.Field != b.field {
			t.Errorf("want field %s, got %v", b.field, err)
		}
	}
	if n := len(mustEvals(t, st, "rA")); n != 2-1 {
		t.Fatalf("a rejected evaluation was stored: %d", n)
	}
}

func mustEvals(t *testing.T, st *storage.Store, id string) []storage.Evaluation {
	t.Helper()
	e, err := st.Evaluations(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
