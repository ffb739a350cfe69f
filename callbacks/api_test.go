package callbacks

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/api"
)

// TestAPI drives the callback endpoints over HTTP: a bad request names its
// field and creates nothing; schedule, show, reschedule, cancel; a second
// cancel is a conflict; an unknown id is 404.
func TestAPI(t *testing.T) {
	r := newRig(t, Config{}, "")
	srv, err := api.New(api.Options{Log: quiet()}, api.CallbackRoutes(r.desk.API()))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := do("POST", "/api/v1/callbacks", `{"number":"12ab","queue":"support"}`)
	if code != 400 || out["error"].(map[string]any)["field"] != "number" {
		t.Fatalf("bad number: %d %v", code, out)
	}
	if code, out = do("GET", "/api/v1/callbacks", ""); code != 200 || len(out["callbacks"].([]any)) != 0 {
		t.Fatalf("bad request created something: %v", out)
	}
	code, out = do("POST", "/api/v1/callbacks", `{"number":"+331234","queue":"support","window":"09:00-18:00","tz":"Europe/Paris","attempts":2,"note":"renewal"}`)
	if code != 201 {
		t.Fatalf("schedule: %d %v", code, out)
	}
	id := out["id"].(string)
	if code, out = do("GET", "/api/v1/callbacks/"+id, ""); code != 200 || out["note"] != "renewal" || out["max_attempts"].(float64) != 2 {
		t.Fatalf("show: %d %v", code, out)
	}
	if code, out = do("POST", "/api/v1/callbacks/"+id+"/reschedule", `{"at":"2026-11-24 10:00"}`); code != 200 || !strings.HasPrefix(out["not_before"].(string), "2026-11-24T09:00:00") {
		t.Fatalf("reschedule: %d %v", code, out)
	}
	if code, out = do("POST", "/api/v1/callbacks/"+id+"/reschedule", `{"at":"whenever"}`); code != 400 || out["error"].(map[string]any)["field"] != "at" {
		t.Fatalf("bad reschedule: %d %v", code, out)
	}
	if code, _ = do("POST", "/api/v1/callbacks/"+id+"/cancel", ""); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	if code, _ = do("POST", "/api/v1/callbacks/"+id+"/cancel", ""); code != 409 {
		t.Fatalf("second cancel: %d", code)
	}
	if code, _ = do("GET", "/api/v1/callbacks/nope", ""); code != 404 {
		t.Fatalf("unknown: %d", code)
	}
	if code, out = do("GET", "/api/v1/callbacks/stats?from=2026-11-23T00:00:00Z&to=2026-11-24T00:00:00Z", ""); code != 200 {
		t.Fatalf("stats: %d %v", code, out)
	}
}
