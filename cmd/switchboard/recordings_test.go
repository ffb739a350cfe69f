package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/recordings"
	"github.com/switchboard-cc/switchboard/server"
	"github.com/switchboard-cc/switchboard/storage"
)

var recT0 = time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC) // a Monday

// recordingsServer serves the real recordings API over real HTTP, on a
// desk over SQLite with no PBX attached, at a fixed "now".
func recordingsServer(t *testing.T, now time.Time) (*storage.Store, string) {
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "sb.db"), storage.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	desk := recordings.NewDesk(st, nil, recordings.Config{}, func() time.Time { return now })
	srv, err := api.New(api.Options{Token: "tok"}, api.RecordingRoutes(desk.API()))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return st, hs.URL
}

func seedRecording(t *testing.T, st *storage.Store, id, agent, queue, caller, status string, at time.Time, dur time.Duration, mod func(*storage.Recording)) {
	t.Helper()
	r := &storage.Recording{ID: id, CallID: "call-" + id, Node: "pbx1", PBXName: id, Path: "/rec/" + id + ".wav", Format: "wav",
		AgentID: agent, Queue: queue, CallerNumber: caller, Status: status, StartedAt: at, DurationMS: dur.Milliseconds()}
	if status != storage.RecordingActive {
		end := at.Add(dur)
		r.EndedAt = &end
	}
	if mod != nil {
		mod(r)
	}
	if err := st.CreateRecording(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// rcli runs `switchboard recordings …` against url as user sup-1.
func rcli(t *testing.T, url string, args ...string) (int, string, string) {
	t.Helper()
	env := map[string]string{"SWITCHBOARD_SERVER": url, "SWITCHBOARD_TOKEN": "tok", "USER": "sup-1"}
	return cli(t, env, append([]string{"recordings"}, args...)...)
}

func mustRCLI(t *testing.T, url string, args ...string) string {
	t.Helper()
	code, out, stderr := rcli(t, url, args...)
	if code != 0 {
		t.Fatalf("recordings %v: exit %d\n%s", args, code, stderr)
	}
	return out
}

// hasRow reports whether a table line starts with these cells.
func hasRow(out string, cells ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(cells) && slices.Equal(f[:len(cells)], cells) {
			return true
		}
	}
	return false
}

func listIDs(t *testing.T, url string, args ...string) ([]string, string) {
	t.Helper()
	var page struct {
		Recordings []storage.Recording `json:"recordings"`
		NextCursor string              `json:"next_cursor"`
	}
	out := mustRCLI(t, url, append(append([]string{"list"}, args...), "-o", "json")...)
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("list %v: %v\n%s", args, err, out)
	}
	ids := []string{}
	for _, r := range page.Recordings {
		ids = append(ids, r.ID)
	}
	return ids, page.NextCursor
}

// The search filters, each one alone, through the CLI and the real API on
// SQLite; then keyset paging visits every row once, newest first.
func TestRecordingsCLISearch(t *testing.T) {
	st, url := recordingsServer(t, recT0.AddDate(0, 0, 30))
	ctx := context.Background()
	seedRecording(t, st, "r1", "a1", "billing", "+4930111", storage.RecordingFinished, recT0, 3*time.Minute, nil)
	seedRecording(t, st, "r2", "a2", "support", "+4930222", storage.RecordingFinished, recT0.Add(time.Hour), 10*time.Minute, nil)
	seedRecording(t, st, "r3", "a1", "support", "+4930111", storage.RecordingFailed, recT0.Add(2*time.Hour), 0, nil)
	seedRecording(t, st, "r4", "a3", "sales", "+4930333", storage.RecordingFinished, recT0.Add(3*time.Hour), 45*time.Second,
		func(r *storage.Recording) { r.LegalHold = true })
	if err := st.TagRecording(ctx, "r2", []string{"complaint"}, nil); err != nil {
		t.Fatal(err)
	}
	score := 91.0
	if err := st.DB().Model(&storage.Recording{}).Where("id = ?", "r1").Update("score", score).Error; err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{nil, "r4,r3,r2,r1"},
		{[]string{"--agent", "a1"}, "r3,r1"},
		{[]string{"--queue", "support"}, "r3,r2"},
		{[]string{"--caller", "+4930111"}, "r3,r1"},
		{[]string{"--tag", "complaint"}, "r2"},
		{[]string{"--status", "failed"}, "r3"},
		{[]string{"--min-score", "90"}, "r1"},
		{[]string{"--max-score", "50"}, ""},
		{[]string{"--min-duration", "5m"}, "r2"},
		{[]string{"--max-duration", "1m"}, "r4,r3"},
		{[]string{"--from", "2026-11-16T10:00:00Z", "--to", "2026-11-16 12:00"}, "r3,r2"},
		{[]string{"--from", "60d"}, "r4,r3,r2,r1"}, // an age: 60 days before now (now is the test's clock)
		{[]string{"--held", "true"}, "r4"},
		{[]string{"--queue", "support", "--agent", "a1", "--status", "failed"}, "r3"},
	}
	for _, c := range cases {
		ids, _ := listIDs(t, url, c.args...)
		if got := strings.Join(ids, ","); got != c.want {
			t.Errorf("list %v = %q, want %q", c.args, got, c.want)
		}
	}
	// search is list by another name; the table says what it shows.
	out := mustRCLI(t, url, "search", "--tag", "complaint")
	if !strings.Contains(out, "STARTED") || !strings.Contains(out, "r2") || !strings.Contains(out, "10m00s") || !strings.Contains(out, "complaint") {
		t.Fatalf("search table:\n%s", out)
	}
	if out := mustRCLI(t, url, "list", "--held", "true"); !strings.Contains(out, "H") {
		t.Fatalf("held flag not shown:\n%s", out)
	}

	// Paging: 2 per page, following the cursor, visits every row once.
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		args := []string{"--limit", "2"}
		if cursor != "" {
			args = append(args, "--cursor", cursor)
		}
		ids, next := listIDs(t, url, args...)
		all = append(all, ids...)
		if next == "" {
			break
		}
		cursor = next
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if strings.Join(all, ",") != "r4,r3,r2,r1" {
		t.Fatalf("pages visited %v", all)
	}
	out = mustRCLI(t, url, "list", "--limit", "3", "--queue", "support")
	if strings.Contains(out, "more:") {
		t.Fatalf("a last page offers more:\n%s", out)
	}
	out = mustRCLI(t, url, "list", "--limit", "1", "--agent", "a1")
	if !strings.Contains(out, "more: switchboard recordings list --agent a1 --limit 1 --cursor ") {
		t.Fatalf("next page hint:\n%s", out)
	}
}

// Bad usage exits 2 before asking the server; the server's own refusals
// are printed with the field they name; an unreachable server is said so.
func TestRecordingsCLIErrors(t *testing.T) {
	st, url := recordingsServer(t, recT0.AddDate(0, 0, 30))
	seedRecording(t, st, "r1", "a1", "billing", "+4930111", storage.RecordingFinished, recT0, 3*time.Minute, nil)
	for _, args := range [][]string{
		{"list", "--status", "done"},
		{"list", "--from", "yesterday"},
		{"list", "--min-score", "120"},
		{"list", "--min-duration", "long"},
		{"list", "--limit", "0"},
		{"list", "--held", "maybe"},
		{"list", "extra-arg"},
		{"show"},
		{"export", "--format", "xml"},
		{"pause", "r1"},
		{"pause", "r1", "--agent", "a1", "--reason", "card"},
		{"resume"},
		{"hold", "set", "r1"},
		{"purge", "--older-than", "ninety days"},
		{"evaluate", "r1", "--mark", "greeting=4"},
		{"evaluate", "r1", "--scorecard", "support-standard", "--mark", "greeting"},
		{"evaluate", "r1", "--scorecard", "support-standard", "--mark", "greeting=4", "--comment", "nope"},
		{"evaluations", "comment", "ev-1", "--at", "1:05"},
		{"averages", "--agent", "--queue"},
		{"averages", "--by", "team"},
		{"review", "sample", "--n", "0"},
		{"review", "sample", "--week", "soon"},
		{"scorecards", "show", "x", "--version", "-1"},
		{"scorecards", "apply", "/nonexistent/scorecards.yaml"},
		{"tag", "add", "r1"},
	} {
		if code, _, stderr := rcli(t, url, args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, stderr)
		}
	}
	// No user known: who acts must be named.
	code, _, stderr := cli(t, map[string]string{"SWITCHBOARD_SERVER": url}, "recordings", "hold", "set", "r1", "--reason", "case 1")
	if code != 2 || !strings.Contains(stderr, "--by") {
		t.Errorf("hold without anyone acting: %d %q", code, stderr)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"show", "nope"}, `recording "nope"`},
		{[]string{"pause", "r1", "--reason", "card"}, "no PBX attached to this switchboard (HTTP 503)"},
		{[]string{"pause", "--agent", "a1", "--reason", "card"}, "no PBX attached"},
		{[]string{"exemplary", "set", "nope"}, "(HTTP 404)"},
		{[]string{"tag", "add", "r1", "bad,tag"}, `(field "add", HTTP 400)`},
		{[]string{"evaluate", "r1", "--scorecard", "none", "--mark", "a=1"}, `(field "scorecard", HTTP 400)`},
		{[]string{"scorecards", "history", "none"}, "(HTTP 404)"},
	} {
		code, _, stderr := rcli(t, url, c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", c.args, code, stderr, c.want)
		}
	}
	// Writes need the token.
	code, _, stderr = cli(t, map[string]string{"SWITCHBOARD_SERVER": url, "USER": "x"}, "recordings", "tag", "add", "r1", "vip")
	if code != 1 || !strings.Contains(stderr, "401") {
		t.Errorf("write without token: %d %q", code, stderr)
	}

	dead := deadAddr(t)
	for _, args := range [][]string{{"list"}, {"show", "r1"}, {"export"}, {"purge", "--dry-run"}, {"pause", "r1", "--reason", "x"}} {
		code, _, stderr := rcli(t, dead, args...)
		want := "switchboard server not reachable at " + dead + ": is `switchboard serve` running?"
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%v on a dead server: exit %d %q", args, code, stderr)
		}
	}
}

// Export walks every page (more rows than the server's 1,000-row export
// page) as CSV and as JSON, to stdout and to a file.
func TestRecordingsCLIExport(t *testing.T) {
	st, url := recordingsServer(t, recT0.AddDate(0, 0, 30))
	const n = 1234
	rows := make([]storage.Recording, n)
	for i := range rows {
		at := recT0.Add(-time.Duration(i) * time.Minute)
		end := at.Add(90 * time.Second)
		rows[i] = storage.Recording{ID: fmt.Sprintf("b%04d", i), CallID: fmt.Sprintf("c%04d", i), Node: "pbx1", AgentID: fmt.Sprintf("a%d", i%7),
			Queue: "bulk", CallerNumber: "+1555", Status: storage.RecordingFinished, StartedAt: at, EndedAt: &end, DurationMS: 90000,
			CreatedAt: at, UpdatedAt: at}
	}
	if err := st.DB().CreateInBatches(rows, 200).Error; err != nil {
		t.Fatal(err)
	}
	seedRecording(t, st, "other", "a1", "support", "+1", storage.RecordingFinished, recT0, time.Minute, nil)

	out := mustRCLI(t, url, "export", "--queue", "bulk")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 || !slices.Equal(recs[0], recordings.ExportColumns) || recs[1][0] != "b0000" || recs[n][0] != fmt.Sprintf("b%04d", n-1) {
		t.Fatalf("csv: %d lines, header %v, first %v", len(recs), recs[0], recs[1])
	}
	seen := map[string]bool{}
	for _, r := range recs[1:] {
		if seen[r[0]] || r[7] != "bulk" {
			t.Fatalf("row %v twice or from another queue", r)
		}
		seen[r[0]] = true
	}

	file := filepath.Join(t.TempDir(), "bulk.json")
	code, _, stderr := rcli(t, url, "export", "--queue", "bulk", "--agent", "a3", "--format", "json", "--file", file)
	if code != 0 || !strings.Contains(stderr, "exported 176 recordings to "+file) {
		t.Fatalf("export --file: %d %q", code, stderr)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var arr []storage.Recording
	if err := json.Unmarshal(data, &arr); err != nil || len(arr) != 176 || arr[0].AgentID != "a3" {
		t.Fatalf("json file: %v, %d rows", err, len(arr))
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*.part"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

// A stream the server cuts after the first bytes is reported as
// incomplete (exit 1), and --file is then not written at all.
func TestRecordingsCLIExportCutOff(t *testing.T) {
	fail := fmt.Errorf("database went away")
	srv, err := api.New(api.Options{}, api.RecordingRoutes(api.Recordings{
		Export: func(_ context.Context, _ storage.RecordingFilter, _ string, w io.Writer) (int, error) {
			io.WriteString(w, strings.Join(recordings.ExportColumns, ",")+"\nb1,c1,2026-11-16T09:00:00Z\n")
			return 1, fail
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	file := filepath.Join(t.TempDir(), "out.csv")
	code, _, stderr := rcli(t, hs.URL, "export", "--file", file)
	if code != 1 || !strings.Contains(stderr, "export incomplete") || !strings.Contains(stderr, "database went away") {
		t.Fatalf("cut export: %d %q", code, stderr)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("a cut export left %s: %v", file, err)
	}
	code, _, stderr = rcli(t, hs.URL, "export")
	if code != 1 || !strings.Contains(stderr, "export incomplete") {
		t.Fatalf("cut export to stdout: %d %q", code, stderr)
	}
}

// The review loop and retention through the CLI on the real API over
// SQLite: scorecards from the shipped file (versioned, a bad file applies
// nothing), an evaluation with the hand-worked weights, comments, show,
// averages, the library, tags, legal hold, review sample, purge.
func TestRecordingsCLIReviewAndRetention(t *testing.T) {
	now := recT0.AddDate(0, 0, 30)
	st, url := recordingsServer(t, now)
	ctx := context.Background()
	seedRecording(t, st, "r1", "a1", "billing", "+4930111", storage.RecordingFinished, recT0, 3*time.Minute, nil)
	seedRecording(t, st, "r2", "a2", "support", "+4930222", storage.RecordingFinished, recT0.Add(time.Hour), 10*time.Minute, nil)
	seedRecording(t, st, "live", "a2", "support", "+4930222", storage.RecordingActive, recT0.Add(2*time.Hour), 0, nil)
	seedRecording(t, st, "old", "a1", "billing", "+4930999", storage.RecordingFinished, now.AddDate(0, 0, -100), time.Minute, nil)
	seedRecording(t, st, "old-held", "a1", "billing", "+4930999", storage.RecordingFinished, now.AddDate(0, 0, -100), time.Minute, nil)
	expired := now.Add(-time.Hour)
	seedRecording(t, st, "expired", "a3", "sales", "+4930888", storage.RecordingFinished, now.AddDate(0, 0, -5), time.Minute,
		func(r *storage.Recording) { r.RetentionUntil = &expired })
	if _, err := st.StartPause(ctx, "live", recT0.Add(2*time.Hour+time.Minute), "a2", "card details"); err != nil {
		t.Fatal(err)
	}

	// Scorecards: a bad file is refused locally (file:line:col, exit 2)
	// and nothing is stored; the shipped file applies as version 1; a
	// changed file makes version 2 of the card that changed only.
	shipped, err := os.ReadFile("../../configs/scorecards.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(string(shipped), "max: 10", "max: ten", 1)), 0o644)
	code, _, stderr := rcli(t, url, "scorecards", "apply", bad)
	if code != 2 || !strings.Contains(stderr, bad+":25:14:") {
		t.Fatalf("bad scorecard file: %d %q", code, stderr)
	}
	if out := mustRCLI(t, url, "scorecards", "list", "-o", "json"); !strings.Contains(out, `"scorecards": []`) {
		t.Fatalf("a refused file stored something: %s", out)
	}
	good := filepath.Join(dir, "scorecards.yaml")
	os.WriteFile(good, shipped, 0o644)
	out := mustRCLI(t, url, "scorecards", "apply", good)
	if !strings.Contains(out, "support-standard") || strings.Count(out, "new version") != 2 {
		t.Fatalf("apply:\n%s", out)
	}
	if out := mustRCLI(t, url, "scorecards", "apply", good); strings.Count(out, "unchanged") != 2 {
		t.Fatalf("re-apply of the same file:\n%s", out)
	}
	os.WriteFile(good, []byte(strings.Replace(string(shipped), "pass_mark: 80", "pass_mark: 85", 1)), 0o644)
	out = mustRCLI(t, url, "scorecards", "apply", good, "--by", "qa-lead")
	if !hasRow(out, "support-standard", "2", "new", "version") || !hasRow(out, "billing-compliance", "1", "unchanged") {
		t.Fatalf("apply of a changed file:\n%s", out)
	}
	out = mustRCLI(t, url, "scorecards", "history", "support-standard")
	if !strings.Contains(out, "1 ") || !strings.Contains(out, "2 (latest)") || !strings.Contains(out, "qa-lead") || !strings.Contains(out, "sup-1") {
		t.Fatalf("history:\n%s", out)
	}
	out = mustRCLI(t, url, "scorecards", "show", "support-standard", "--version", "1")
	if !strings.Contains(out, "resolution") || !strings.Contains(out, "40.0%") || !strings.Contains(out, "pass mark 80%") {
		t.Fatalf("show version 1:\n%s", out)
	}
	if out := mustRCLI(t, url, "scorecards", "show", "support-standard"); !strings.Contains(out, "support-standard@2") || !strings.Contains(out, "pass mark 85%") {
		t.Fatalf("show latest:\n%s", out)
	}

	// The hand-worked evaluation (docs/recordings.md): support-standard v1
	// greeting 4/5 ×10 = 8, verify 1/1 ×30 = 30, resolution 7/10 ×40 = 28,
	// upsell n/a (weight 20 drops out): 66 / 80 = 82.5 %, passes 80.
	out = mustRCLI(t, url, "evaluate", "r2", "--scorecard", "support-standard", "--version", "1",
		"--mark", "greeting=4", "--mark", "verify=1", "--mark", "resolution=7", "--mark", "upsell=na",
		"--comment", "0:30 clear opening", "--notes", "good call")
	if !strings.Contains(out, "82.50%, passed") || !strings.Contains(out, "28.00") {
		t.Fatalf("evaluate:\n%s", out)
	}
	// The same marks against v2 (pass mark 85) fail; a second reviewer.
	code, out, _ = cli(t, map[string]string{"SWITCHBOARD_SERVER": url, "SWITCHBOARD_TOKEN": "tok", "SWITCHBOARD_USER": "sup-2"},
		"recordings", "evaluations", "add", "r2", "--scorecard", "support-standard",
		"--mark", "greeting=5", "--mark", "verify=1", "--mark", "resolution=10", "--mark", "upsell=0", "-o", "json")
	var ev struct {
		Evaluation storage.Evaluation `json:"evaluation"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &ev) != nil || ev.Evaluation.Percent != 80 || ev.Evaluation.Passed || ev.Evaluation.Reviewer != "sup-2" || ev.Evaluation.ScorecardVersion != 2 {
		t.Fatalf("second evaluation: %d %s", code, out)
	}
	// A critical criterion at 0 fails the whole evaluation.
	out = mustRCLI(t, url, "evaluate", "r1", "--scorecard", "support-standard",
		"--mark", "greeting=5", "--mark", "verify=0", "--mark", "resolution=10", "--mark", "upsell=5")
	if !strings.Contains(out, "0.00%, failed (a critical criterion scored 0)") {
		t.Fatalf("critical:\n%s", out)
	}
	code, _, stderr = rcli(t, url, "evaluate", "r1", "--scorecard", "support-standard", "--mark", "greeting=9", "--mark", "verify=1", "--mark", "resolution=1", "--mark", "upsell=1")
	if code != 1 || !strings.Contains(stderr, `(field "marks", HTTP 400)`) {
		t.Fatalf("mark above max: %d %q", code, stderr)
	}
	code, _, stderr = rcli(t, url, "evaluate", "live", "--scorecard", "support-standard", "--mark", "greeting=1", "--mark", "verify=1", "--mark", "resolution=1", "--mark", "upsell=1")
	if code != 1 || !strings.Contains(stderr, "HTTP 409") {
		t.Fatalf("evaluating a running recording: %d %q", code, stderr)
	}
	out = mustRCLI(t, url, "evaluations", "comment", ev.Evaluation.ID, "--at", "2:10", "--text", "long hold without asking")
	if !strings.Contains(out, "2m10s") || !strings.Contains(out, "sup-1") {
		t.Fatalf("comment:\n%s", out)
	}
	// Past the end of the 10-minute recording: the field is named and
	// nothing is stored; inside it, the comment is taken.
	if code, _, stderr := rcli(t, url, "evaluations", "comment", ev.Evaluation.ID, "--at", "11:00", "--text", "x"); code != 1 || !strings.Contains(stderr, `field "at"`) {
		t.Fatalf("comment past the end: %d %s", code, stderr)
	}
	if code, _, stderr := rcli(t, url, "evaluations", "comment", ev.Evaluation.ID, "--at", "9:00", "--text", "x"); code != 0 {
		t.Fatalf("comment: %s", stderr)
	}

	// show: everything, including both evaluations with their lines.
	out = mustRCLI(t, url, "show", "r2")
	for _, want := range []string{"call-r2", "a2", "support", "+4930222", "/rec/r2.wav", "10m00s (600000 ms)", "81.25 (mean of 2 evaluations)",
		"support-standard@1 by sup-1", "82.50% (passed", "resolution       7/10 × weight 40 = 28.00", "upsell           n/a (weight 20)",
		"at 30s sup-1: clear opening", "notes: good call", "support-standard@2 by sup-2", "at 2m10s sup-1: long hold without asking"} {
		if !strings.Contains(out, want) {
			t.Errorf("show r2 lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("show r2:\n%s", out)
	}
	if out := mustRCLI(t, url, "list", "--status", "recording"); !hasRow(out, "live") || !strings.Contains(out, " P") {
		t.Fatalf("a paused recording is not marked P in the list:\n%s", out)
	}
	out = mustRCLI(t, url, "show", "live")
	if !strings.Contains(out, "pause spans:") || !strings.Contains(out, "by a2 (card details) → still paused") {
		t.Fatalf("show live:\n%s", out)
	}
	if out := mustRCLI(t, url, "evaluations", "list", "r2"); strings.Count(out, "support-standard@") != 2 {
		t.Fatalf("evaluations list:\n%s", out)
	}
	// Score search sees the evaluations.
	if ids, _ := listIDs(t, url, "--min-score", "80"); strings.Join(ids, ",") != "r2" {
		t.Fatalf("min-score 80: %v", ids)
	}

	// Averages: per queue (r2's two: 82.5 and 80 → 81.25; r1's 0) and per agent.
	out = mustRCLI(t, url, "averages", "--queue")
	if !hasRow(out, "support", "2", "81.25%", "1") || !hasRow(out, "billing", "1", "0.00%", "0") {
		t.Fatalf("averages per queue:\n%s", out)
	}
	if out := mustRCLI(t, url, "averages", "--by", "agent", "--from", "2026-11-01", "-o", "json"); !strings.Contains(out, `"key": "a2"`) || !strings.Contains(out, `"average": 81.25`) {
		t.Fatalf("averages per agent:\n%s", out)
	}
	if out := mustRCLI(t, url, "averages", "--to", "2026-11-01"); !strings.Contains(out, "no evaluations") {
		t.Fatalf("averages in an empty period:\n%s", out)
	}

	// Library of model calls: only finished recordings join.
	if code, _, stderr := rcli(t, url, "exemplary", "set", "live"); code != 1 || !strings.Contains(stderr, "HTTP 409") {
		t.Fatalf("exemplary on a running recording: %d %q", code, stderr)
	}
	mustRCLI(t, url, "exemplary", "set", "r2", "--note", "textbook de-escalation")
	out = mustRCLI(t, url, "library")
	if !strings.Contains(out, "r2") || !strings.Contains(out, "textbook de-escalation") || !strings.Contains(out, "sup-1") || strings.Contains(out, "r1 ") {
		t.Fatalf("library:\n%s", out)
	}
	mustRCLI(t, url, "exemplary", "unset", "r2")
	if out := mustRCLI(t, url, "library"); !strings.Contains(out, "no recordings match") {
		t.Fatalf("library after unset:\n%s", out)
	}

	// Tags.
	out = mustRCLI(t, url, "tag", "add", "r1", "Complaint", "vip")
	if !strings.Contains(out, "complaint,vip") {
		t.Fatalf("tag add:\n%s", out)
	}
	if out := mustRCLI(t, url, "tag", "remove", "r1", "vip"); !strings.Contains(out, "complaint") || strings.Contains(out, "vip") {
		t.Fatalf("tag remove:\n%s", out)
	}

	// Review sample: the week of recT0, one per agent among finished ones.
	out = mustRCLI(t, url, "review", "sample", "--week", "2026-11-18", "--n", "1", "-o", "json")
	var sample struct {
		Sample []storage.ReviewSampleItem `json:"sample"`
	}
	if err := json.Unmarshal([]byte(out), &sample); err != nil || len(sample.Sample) != 2 {
		t.Fatalf("sample: %v %s", err, out)
	}
	for _, it := range sample.Sample {
		if it.RecordingID == "live" || !it.WeekStart.Equal(recT0.Truncate(24*time.Hour)) || !it.Reviewed {
			t.Fatalf("sample item %+v", it)
		}
	}
	if out := mustRCLI(t, url, "review", "sample", "--week", "2026-11-18", "--n", "1"); !strings.Contains(out, "2 recordings for 2 agents, 2 reviewed") {
		t.Fatalf("sample table:\n%s", out)
	}

	// Retention: hold one of the two old recordings; the dry run lists
	// the old one and the expired one, counts the held one, changes nothing.
	out = mustRCLI(t, url, "hold", "set", "old-held", "--reason", "case 2026-114")
	if !strings.Contains(out, "true") {
		t.Fatalf("hold:\n%s", out)
	}
	out = mustRCLI(t, url, "purge", "--older-than", "90d", "--dry-run")
	if !strings.Contains(out, "old ") || !strings.Contains(out, "expired") || strings.Contains(out, "old-held") ||
		!strings.Contains(out, "2 would be purged (dry run: nothing changed), 0 failed, 1 exempt under legal hold") {
		t.Fatalf("purge dry run:\n%s", out)
	}
	for _, id := range []string{"old", "expired", "old-held"} {
		if _, err := st.Recording(ctx, id); err != nil {
			t.Fatalf("the dry run removed %s", id)
		}
	}
	// Without --older-than only the expired retention date counts.
	if out := mustRCLI(t, url, "purge", "--dry-run"); !strings.Contains(out, "expired") || strings.Contains(out, "old ") {
		t.Fatalf("purge by retention date only:\n%s", out)
	}
	out = mustRCLI(t, url, "purge", "--older-than", "90d", "--by", "cron")
	if !strings.Contains(out, "2 purged, 0 failed, 1 exempt under legal hold") {
		t.Fatalf("purge:\n%s", out)
	}
	for id, gone := range map[string]bool{"old": true, "expired": true, "old-held": false, "r1": false} {
		_, err := st.Recording(ctx, id)
		if (err != nil) != gone {
			t.Errorf("%s: gone=%v, want %v", id, err != nil, gone)
		}
	}
	audit, err := st.Audit(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	var purged, holds []string
	for _, a := range audit {
		switch a.Action {
		case "recording.purge":
			if a.Actor != "cron" {
				t.Errorf("purge audited as %q", a.Actor)
			}
			purged = append(purged, a.Subject)
		case "recording.hold":
			holds = append(holds, a.Actor+" "+a.Subject+" "+a.Detail)
		}
	}
	slices.Sort(purged)
	if strings.Join(purged, ",") != "recording/expired,recording/old" || strings.Join(holds, ",") != "sup-1 recording/old-held case 2026-114" {
		t.Fatalf("audit: purged %v holds %v", purged, holds)
	}
	mustRCLI(t, url, "hold", "release", "old-held")
	if out := mustRCLI(t, url, "purge", "--older-than", "90d", "-o", "json"); !strings.Contains(out, `"id": "old-held"`) {
		t.Fatalf("released hold not purged:\n%s", out)
	}
}

// The whole loop on `switchboard serve`: the simulated PBX records a
// bridged call per the queue's policy, the configured scorecard file is
// versioned at start, and the CLI pauses by recording id and by the
// agent's own action (who and why stored), resumes, stops and evaluates.
func TestRecordingsCLIAgainstServe(t *testing.T) {
	dir := t.TempDir()
	shipped, err := os.ReadFile("../../configs/scorecards.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cards := filepath.Join(dir, "scorecards.yaml")
	if err := os.WriteFile(cards, shipped, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.Token = "tok"
	cfg.Database.DSN = "sqlite:" + filepath.Join(dir, "switchboard.db")
	cfg.Database.JournalDir = filepath.Join(dir, "journal")
	// One support line, one agent who talks for hours: the call stays up
	// (and its recording running) until the test stops it.
	cfg.PBX.Sim = sim.Config{Seed: 3, Speed: 1,
		Streams:     []sim.Stream{{DialedNumber: "1000", CallerPrefix: "+3314500", RatePerMinute: 120}},
		AgentGroups: []sim.AgentGroup{{Prefix: "sup", Count: 1, Skills: map[string]int{"support": 7}, Queues: map[string]int{"support": 1}, HandleTime: 100 * time.Hour}}}
	cfg.Recordings = recordings.Config{Queues: map[string]recordings.Policy{"support": {Mode: recordings.ModeAlways, RetentionDays: 30}},
		Scorecards: cards}
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	url := "http://" + srv.Addr()

	// The configured scorecard file was stored at start.
	if out := mustRCLI(t, url, "scorecards", "list"); !hasRow(out, "support-standard", "1") || !hasRow(out, "billing-compliance", "1") {
		t.Fatalf("scorecards at start:\n%s", out)
	}
	var id string
	waitFor(t, "a running recording", 20*time.Second, func() bool {
		ids, _ := listIDs(t, url, "--status", "recording", "--agent", "sup-001")
		if len(ids) > 0 {
			id = ids[0]
		}
		return id != ""
	})
	out := mustRCLI(t, url, "pause", id, "--reason", "card details")
	if !strings.Contains(out, "sup-1") || !strings.Contains(out, "card details") {
		t.Fatalf("pause:\n%s", out)
	}
	if code, _, stderr := rcli(t, url, "pause", id, "--reason", "again"); code != 1 || !strings.Contains(stderr, "HTTP 409") {
		t.Fatalf("second pause: %d %q", code, stderr)
	}
	// The agent resumes from its own desktop: by --agent, acting as itself.
	out = mustRCLI(t, url, "resume", "--agent", "sup-001", "-o", "json")
	var span storage.PauseSpan
	if err := json.Unmarshal([]byte(out), &span); err != nil || span.RecordingID != id || span.ResumedBy != "sup-001" || span.ResumedAt == nil {
		t.Fatalf("resume by the agent: %v %s", err, out)
	}
	mustRCLI(t, url, "pause", "--agent", "sup-001", "--reason", "cvv")
	mustRCLI(t, url, "resume", id, "--by", "sup-9")
	mustRCLI(t, url, "stop", id)
	var d recordings.Detail
	waitFor(t, "the recording finished", 20*time.Second, func() bool {
		out := mustRCLI(t, url, "show", id, "-o", "json")
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatal(err)
		}
		return d.Status == storage.RecordingFinished
	})
	if d.AgentID != "sup-001" || d.Queue != "support" || d.CallerNumber == "" || d.Node != sim.NodeName || d.Reason != "always" ||
		d.EndedAt == nil || d.DurationMS <= 0 || d.RetentionUntil == nil || d.RetentionUntil.Sub(d.StartedAt) < 29*24*time.Hour {
		t.Fatalf("metadata %+v", d.Recording)
	}
	if len(d.Pauses) != 2 {
		t.Fatalf("pause spans %+v", d.Pauses)
	}
	p0, p1 := d.Pauses[0], d.Pauses[1]
	if p0.PausedBy != "sup-1" || p0.Reason != "card details" || p0.ResumedBy != "sup-001" ||
		p1.PausedBy != "sup-001" || p1.Reason != "cvv" || p1.ResumedBy != "sup-9" || p1.ResumedAt == nil {
		t.Fatalf("pause spans %+v", d.Pauses)
	}
	if code, _, stderr := rcli(t, url, "resume", "--agent", "sup-001"); code != 1 || !strings.Contains(stderr, "no running recording") {
		t.Fatalf("agent without a running recording: %d %q", code, stderr)
	}
	out = mustRCLI(t, url, "evaluate", id, "--scorecard", "support-standard",
		"--mark", "greeting=4", "--mark", "verify=1", "--mark", "resolution=7", "--mark", "upsell=na")
	if !strings.Contains(out, "82.50%, passed") {
		t.Fatalf("evaluate:\n%s", out)
	}
	// The call goes on: a supervisor records it again on demand.
	out = mustRCLI(t, url, "start", d.CallID, "--by", "sup-7", "-o", "json")
	var started struct {
		RecordingID string `json:"recording_id"`
	}
	if err := json.Unmarshal([]byte(out), &started); err != nil || started.RecordingID == "" || started.RecordingID == id {
		t.Fatalf("start on demand: %v %s", err, out)
	}
	var again recordings.Detail
	if err := json.Unmarshal([]byte(mustRCLI(t, url, "show", started.RecordingID, "-o", "json")), &again); err != nil ||
		again.Reason != "on-demand" || again.StartedBy != "sup-7" || again.CallID != d.CallID || again.PBXName == d.PBXName {
		t.Fatalf("on-demand recording %+v", again.Recording)
	}
	if code, _, stderr := rcli(t, url, "start", d.CallID); code != 1 || !strings.Contains(stderr, "already being recorded") {
		t.Fatalf("second start: %d %q", code, stderr)
	}
	if code, _, stderr := rcli(t, url, "start", "no-such-call"); code != 1 || !strings.Contains(stderr, "HTTP 404") {
		t.Fatalf("start of an unknown call: %d %q", code, stderr)
	}
	if out := mustRCLI(t, url, "show", id); !strings.Contains(out, "support-standard@1 by sup-1") || !strings.Contains(out, "82.5 (mean of 1 evaluations)") {
		t.Fatalf("show after evaluation:\n%s", out)
	}
}
