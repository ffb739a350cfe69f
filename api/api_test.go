package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var errGone = errors.New("gone")

// plumbing mounts a write route that decodes a StateChange, so the tests
// below exercise auth, decoding and error rendering end to end.
func plumbing(t *testing.T, token string) *httptest.Server {
	t.Helper()
	routes := []Route{
		{Method: http.MethodPost, Path: "/api/v1/things/{id}/pause", Write: true, Handle: func(w http.ResponseWriter, r *http.Request) error {
			var in StateChange
			if err := Decode(r, &in, false); err != nil {
				return err
			}
			if r.PathValue("id") == "ghost" {
				return errGone
			}
			return WriteJSON(w, http.StatusOK, Result{OK: true, Agent: &Agent{ID: r.PathValue("id"), Reason: in.Reason}})
		}},
		{Method: http.MethodGet, Path: "/api/v1/things", Handle: func(w http.ResponseWriter, r *http.Request) error {
			return WriteJSON(w, http.StatusOK, map[string]int{"n": 1})
		}},
	}
	s, err := New(Options{Token: token, Errors: []ErrorStatus{{errGone, http.StatusNotFound}}}, routes)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func do(t *testing.T, method, url, token, body string) (int, ErrorBody, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var eb ErrorBody
	if resp.StatusCode >= 300 && strings.Contains(url, "/api/") {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: error with content type %q, want JSON: %s", method, url, ct, raw)
		}
		if err := json.Unmarshal(raw, &eb); err != nil || eb.Error.Message == "" {
			t.Errorf("%s %s: error body is not {\"error\":{\"message\":…}}: %s", method, url, raw)
		}
	}
	return resp.StatusCode, eb, string(raw)
}

func TestInputErrorsNameTheField(t *testing.T) {
	ts := plumbing(t, "")
	url := ts.URL + "/api/v1/things/a1/pause"
	tests := []struct {
		name   string
		body   string
		status int
		field  string
		msg    string
	}{
		{"unknown field", `{"reason":"lunch","reasn":"x"}`, 400, "reasn", `unknown field "reasn"`},
		{"wrong type", `{"reason":42}`, 400, "reason", "want a string, got number"},
		{"too long", `{"reason":"` + strings.Repeat("x", 65) + `"}`, 400, "reason", "at most 64 characters"},
		{"control characters", `{"reason":"a\u0007b"}`, 400, "reason", "control characters"},
		{"malformed", `{"reason":`, 400, "", "truncated JSON"},
		{"syntax", `{reason:1}`, 400, "", "malformed JSON"},
		{"trailing data", `{"reason":"a"} {"reason":"b"}`, 400, "", "unexpected data after the JSON object"},
		{"not an object", `["lunch"]`, 400, "", "want a JSON"},
		{"empty", ``, 400, "", "empty body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, eb, raw := do(t, http.MethodPost, url, "", tt.body)
			if status != tt.status || eb.Error.Field != tt.field || !strings.Contains(eb.Error.Message, tt.msg) {
				t.Errorf("got %d %s\nwant %d field %q message containing %q", status, raw, tt.status, tt.field, tt.msg)
			}
		})
	}
	if status, _, raw := do(t, http.MethodPost, url, "", `{"reason":"lunch"}`); status != 200 || !strings.Contains(raw, `"reason": "lunch"`) {
		t.Errorf("good input: %d %s", status, raw)
	}
}

func TestOversizeBody(t *testing.T) {
	ts := plumbing(t, "")
	status, _, _ := do(t, http.MethodPost, ts.URL+"/api/v1/things/a/pause", "", `{"reason":"`+strings.Repeat("x", MaxBody)+`"}`)
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", status)
	}
}

func TestWrongContentType(t *testing.T) {
	ts := plumbing(t, "")
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/things/a/pause", strings.NewReader("reason=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("status %d, want 415", resp.StatusCode)
	}
}

func TestWritesNeedTheToken(t *testing.T) {
	ts := plumbing(t, "s3cret")
	url := ts.URL + "/api/v1/things/a/pause"
	for _, tt := range []struct {
		token  string
		status int
	}{
		{"", 401}, {"wrong", 401}, {"S3CRET", 401}, {"s3cret2", 401}, {"s3cret", 200},
	} {
		status, _, raw := do(t, http.MethodPost, url, tt.token, `{"reason":"x"}`)
		if status != tt.status {
			t.Errorf("token %q: status %d (%s), want %d", tt.token, status, raw, tt.status)
		}
	}
	// Reads stay open: the wallboard on a wall screen carries no token.
	if status, _, _ := do(t, http.MethodGet, ts.URL+"/api/v1/things", "", ""); status != 200 {
		t.Errorf("read needed a token: %d", status)
	}
}

func TestUnknownEndpointsAndMethodsAreJSON(t *testing.T) {
	ts := plumbing(t, "")
	if status, _, _ := do(t, http.MethodGet, ts.URL+"/api/v1/nothing", "", ""); status != 404 {
		t.Errorf("unknown endpoint: %d, want 404", status)
	}
	if status, _, _ := do(t, http.MethodDelete, ts.URL+"/api/v1/things", "", ""); status != 405 {
		t.Errorf("wrong method: %d, want 405", status)
	}
}

func TestSentinelErrorsMapToStatus(t *testing.T) {
	ts := plumbing(t, "")
	status, eb, _ := do(t, http.MethodPost, ts.URL+"/api/v1/things/ghost/pause", "", `{"reason":"x"}`)
	if status != 404 || eb.Error.Message != "gone" {
		t.Errorf("got %d %+v, want 404 gone", status, eb)
	}
}

func TestDuplicateRouteFailsNew(t *testing.T) {
	h := func(http.ResponseWriter, *http.Request) error { return nil }
	_, err := New(Options{}, []Route{{Method: "GET", Path: "/api/v1/x", Handle: h}}, []Route{{Method: "GET", Path: "/api/v1/x", Handle: h}})
	if err == nil || !strings.Contains(err.Error(), "registered twice") {
		t.Errorf("err = %v, want a duplicate-route error", err)
	}
}

func TestHealthAndReady(t *testing.T) {
	ready, why := false, "pbx down"
	s, err := New(Options{Ready: func() (bool, string) { return ready, why }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	if status, _, _ := do(t, "GET", ts.URL+"/healthz", "", ""); status != 200 {
		t.Errorf("healthz %d", status)
	}
	if status, _, raw := do(t, "GET", ts.URL+"/readyz", "", ""); status != 503 || !strings.Contains(raw, "pbx down") {
		t.Errorf("readyz while not ready: %d %s", status, raw)
	}
	ready, why = true, "ok"
	if status, _, _ := do(t, "GET", ts.URL+"/readyz", "", ""); status != 200 {
		t.Errorf("readyz when ready: %d", status)
	}
}
