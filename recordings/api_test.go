package recordings

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/storage"
)

// The recordings endpoints over real HTTP, on a desk over SQLite.
func TestRecordingsAPI(t *testing.T) {
	st := openStore(t)
	now := t0.Add(72 * time.Hour)
	desk := NewDesk(st, nil, Config{}, func() time.Time { return now })
	srv, err := api.New(api.Options{}, api.RecordingRoutes(desk.API()))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	finished(t, st, "r1", "a1", "billing", t0, nil)
	finished(t, st, "r2", "a2", "support", t0.Add(time.Minute), nil)

	do := func(method, path, body string) (int, map[string]any, string) {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("X-Switchboard-Actor", "sup-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return resp.StatusCode, m, string(raw)
	}
	field := func(m map[string]any) string {
		e, _ := m["error"].(map[string]any)
		f, _ := e["field"].(string)
		return f
	}

	code, m, raw := do("GET", "/api/v1/recordings?queue=billing", "")
	if code != 200 || !strings.Contains(raw, `"id": "r1"`) || strings.Contains(raw, `"id": "r2"`) || m["next_cursor"] != "" {
		t.Fatalf("search %d %s", code, raw)
	}
	code, m, _ = do("GET", "/api/v1/recordings?limit=1", "")
	if code != 200 || m["next_cursor"] == "" {
		t.Fatalf("cursor %d %v", code, m)
	}
	for q, f := range map[string]string{"from=yesterday": "from", "min_score=120": "min_score", "min_duration=x": "min_duration", "limit=0": "limit", "held=maybe": "held"} {
		if code, m, raw := do("GET", "/api/v1/recordings?"+q, ""); code != 400 || field(m) != f {
			t.Errorf("%s: %d %s", q, code, raw)
		}
	}
	for q, f := range map[string]string{"status=done": "status", "from=2026-11-24&to=2026-11-23": "to", "min_duration=5m&max_duration=1m": "max_duration", "cursor=zzz": "cursor"} {
		if code, m, raw := do("GET", "/api/v1/recordings?"+q, ""); code != 400 || field(m) != f {
			t.Errorf("%s: %d %s, want 400 naming %s", q, code, raw, f)
		}
	}
	// Exports and the new routes over the same HTTP server.
	resp0, err := http.Get(hs.URL + "/api/v1/recordings/export?format=json&queue=billing")
	if err != nil {
		t.Fatal(err)
	}
	body0, _ := io.ReadAll(resp0.Body)
	resp0.Body.Close()
	if resp0.StatusCode != 200 || resp0.Trailer.Get(api.ExportRowsTrailer) != "1" || !strings.Contains(string(body0), `"id":"r1"`) {
		t.Fatalf("export trailer %q: %s", resp0.Trailer.Get(api.ExportRowsTrailer), body0)
	}
	if code, m, _ := do("GET", "/api/v1/recordings/export?format=xml", ""); code != 400 || field(m) != "format" {
		t.Fatalf("export format: %d %v", code, m)
	}
	if code, _, raw := do("POST", "/api/v1/agents/a1/recording/pause", `{"reason": "card"}`); code != 503 {
		t.Fatalf("agent pause without PBX: %d %s", code, raw)
	}
	if code, _, _ := do("GET", "/api/v1/scorecards/none/versions", ""); code != 404 {
		t.Fatalf("history of an unknown card: %d", code)
	}
	if code, m, _ := do("GET", "/api/v1/scorecards/x/versions/first", ""); code != 400 || field(m) != "version" {
		t.Fatalf("bad version: %d %v", code, m)
	}
	if code, _, _ := do("GET", "/api/v1/recordings/nope", ""); code != 404 {
		t.Fatalf("unknown: %d", code)
	}
	if code, m, _ := do("POST", "/api/v1/recordings/r1/hold", `{"hold": true}`); code != 400 || field(m) != "reason" {
		t.Fatalf("hold without reason: %d %v", code, m)
	}
	if code, m, _ := do("POST", "/api/v1/recordings/r1/hold", `{"hold": true, "reason": "case 7"}`); code != 200 || m["legal_hold"] != true {
		t.Fatalf("hold: %d %v", code, m)
	}
	if code, m, _ := do("POST", "/api/v1/recordings/r1/tags", `{"add": ["vip"]}`); code != 200 || !strings.Contains(toJSON(m["tags"]), "vip") {
		t.Fatalf("tags: %d %v", code, m)
	}
	if code, _, raw := do("POST", "/api/v1/recordings/r1/pause", `{"reason": "card"}`); code != 503 {
		t.Fatalf("pause without PBX: %d %s", code, raw)
	}
	if code, _, raw := do("POST", "/api/v1/recordings/r1/pause", `{"reason": "card", "extra": 1}`); code != 400 || !strings.Contains(raw, "extra") {
		t.Fatalf("unknown field: %d %s", code, raw)
	}
	data, _ := os.ReadFile("testdata/scorecards.yaml")
	body, _ := json.Marshal(api.ScorecardFile{Filename: "scorecards.yaml", Content: strings.Replace(string(data), "max: 10", "max: ten", 1)})
	if code, m, raw := do("POST", "/api/v1/scorecards", string(body)); code != 400 || !strings.Contains(raw, "scorecards.yaml:25:14:") || field(m) != "" && field(m) != "content" {
		t.Fatalf("bad scorecard file: %d %s", code, raw)
	}
	if code, m, _ := do("GET", "/api/v1/scorecards", ""); code != 200 || toJSON(m["scorecards"]) != "[]" {
		t.Fatalf("a rejected file applied something: %v", m)
	}
	body, _ = json.Marshal(api.ScorecardFile{Content: string(data)})
	if code, _, raw := do("POST", "/api/v1/scorecards", string(body)); code != 200 || !strings.Contains(raw, `"version": 1`) {
		t.Fatalf("apply: %d %s", code, raw)
	}
	ev := `{"recording_id":"r2","scorecard":"support-standard","marks":[{"criterion":"greeting","score":4},{"criterion":"verify","score":1},{"criterion":"resolution","score":7},{"criterion":"upsell","na":true}],"comments":[{"at":"0:30","text":"clear opening"}]}`
	code, m, raw = do("POST", "/api/v1/evaluations", ev)
	if code != 201 || !strings.Contains(raw, `"percent": 82.5`) || !strings.Contains(raw, `"reviewer": "sup-1"`) {
		t.Fatalf("evaluate: %d %s", code, raw)
	}
	bad := strings.Replace(ev, `"score":4`, `"score":40`, 1)
	if code, m, _ := do("POST", "/api/v1/evaluations", bad); code != 400 || field(m) != "marks" {
		t.Fatalf("bad marks: %d %v", code, m)
	}
	if code, _, raw := do("GET", "/api/v1/evaluations/averages?by=queue", ""); code != 200 || !strings.Contains(raw, `"key": "support"`) || !strings.Contains(raw, `"average": 82.5`) {
		t.Fatalf("averages: %d %s", code, raw)
	}
	if code, m, _ := do("GET", "/api/v1/evaluations/averages?by=team", ""); code != 400 || field(m) != "by" {
		t.Fatalf("averages by team: %d %v", code, m)
	}
	if code, _, raw := do("GET", "/api/v1/recordings/r2", ""); code != 200 || !strings.Contains(raw, `"clear opening"`) || !strings.Contains(raw, `"offset_ms": 30000`) {
		t.Fatalf("show with evaluation: %d %s", code, raw)
	}
	// A later comment past the recording's end (r2 lasts 3 min) is a 400
	// naming "at", and nothing is stored.
	evID, _ := m["evaluation"].(map[string]any)["id"].(string)
	if code, m, raw := do("POST", "/api/v1/evaluations/"+evID+"/comments", `{"at": "3:30", "text": "after the end"}`); code != 400 || field(m) != "at" {
		t.Fatalf("comment past the end: %d %s", code, raw)
	}
	if code, _, raw := do("GET", "/api/v1/recordings/r2", ""); code != 200 || strings.Contains(raw, "after the end") {
		t.Fatalf("a rejected comment was stored: %d %s", code, raw)
	}
	if code, _, raw := do("GET", "/api/v1/review/sample?week=2026-11-23&n=1", ""); code != 200 || strings.Count(raw, `"recording_id"`) != 2 {
		t.Fatalf("sample: %d %s", code, raw)
	}
	if code, m, _ := do("POST", "/api/v1/recordings/purge", `{"older_than": "ninety days", "dry_run": true}`); code != 400 || field(m) != "older_than" {
		t.Fatalf("purge bad age: %d %v", code, m)
	}
	if code, _, raw := do("POST", "/api/v1/recordings/purge", `{"older_than": "2d", "dry_run": true}`); code != 200 || !strings.Contains(raw, `"held": 1`) || !strings.Contains(raw, `"id": "r2"`) {
		t.Fatalf("purge dry run: %d %s", code, raw)
	}
	if _, err := st.Recording(context.Background(), "r2"); err != nil {
		t.Fatal("dry run purged r2")
	}
	resp, err := http.Get(hs.URL + "/api/v1/recordings/export?format=csv&agent=a2")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || strings.Count(string(out), "\n") != 2 || !strings.Contains(string(out), "r2,c-r2,") {
		t.Fatalf("export: %d %q", resp.StatusCode, out)
	}
	_ = storage.RecordingFinished
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
