package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeSupervision has one call talking (c1, with supervisor leg sup-1 on
// it) and one waiting (c2); it records what reached it, so the tests can
// check that refused requests reach nothing. The real controller on the
// simulated PBX is driven through these routes in package server.
type fakeSupervision struct{ got []string }

func (f *fakeSupervision) supervision() Supervision {
	return Supervision{
		Snoop: func(_ context.Context, id, mode, ep string) (Leg, error) {
			f.got = append(f.got, "snoop "+id+" "+mode+" "+ep)
			switch id {
			case "c1":
				return Leg{Node: "ast1", ID: "sup-2"}, nil
			case "c2":
				return Leg{}, fmt.Errorf("call %q is queued: %w", id, ErrConflict)
			}
			return Leg{}, fmt.Errorf("call %q: %w", id, ErrNotFound)
		},
		EndSnoop: func(_ context.Context, id, leg string) ([]Leg, error) {
			f.got = append(f.got, "end "+id+" "+leg)
			if id != "c1" || leg != "" && leg != "sup-1" {
				return nil, fmt.Errorf("no such supervisor: %w", ErrNotFound)
			}
			return []Leg{{Node: "ast1", ID: "sup-1"}}, nil
		},
	}
}

func TestSnoopRequestsAreValidated(t *testing.T) {
	f := &fakeSupervision{}
	s, err := New(Options{}, SupervisionRoutes(f.supervision()))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	url := ts.URL + "/api/v1/calls/c1/snoop"
	for _, tt := range []struct {
		name, body, field, msg string
	}{
		{"no mode", `{"endpoint":"PJSIP/2001"}`, "mode", "required"},
		{"bad mode", `{"mode":"shout","endpoint":"PJSIP/2001"}`, "mode", `"shout" is not listen, whisper or barge`},
		{"mode case", `{"mode":"Listen","endpoint":"PJSIP/2001"}`, "mode", "is not listen"},
		{"no endpoint", `{"mode":"listen"}`, "endpoint", "required"},
		{"not a dial string", `{"mode":"listen","endpoint":"2001"}`, "endpoint", "technology/resource"},
		{"white space", `{"mode":"listen","endpoint":"user/2001 &park()"}`, "endpoint", "white space"},
		{"line break", `{"mode":"listen","endpoint":"user/2001\nbgapi x"}`, "endpoint", "white space"},
		{"control", `{"mode":"listen","endpoint":"user/20\u000701"}`, "endpoint", "control characters"},
		{"variables", `{"mode":"barge","endpoint":"{origination_caller_id_number=1}user/2001"}`, "endpoint", "channel variables"},
		{"too long", `{"mode":"listen","endpoint":"PJSIP/` + strings.Repeat("1", 251) + `"}`, "endpoint", "at most 255"},
		{"unknown field", `{"mode":"listen","endpoint":"PJSIP/2001","agent":"a1"}`, "agent", `unknown field "agent"`},
		{"wrong type", `{"mode":1,"endpoint":"PJSIP/2001"}`, "mode", "want a string"},
		{"empty", ``, "", "empty body"},
		{"trailing", `{"mode":"listen","endpoint":"PJSIP/2001"}x`, "", "unexpected data"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, eb, raw := do(t, http.MethodPost, url, "", tt.body)
			if status != http.StatusBadRequest || eb.Error.Field != tt.field || !strings.Contains(eb.Error.Message, tt.msg) {
				t.Errorf("got %d %s, want 400 field %q containing %q", status, raw, tt.field, tt.msg)
			}
		})
	}
	if len(f.got) != 0 {
		t.Fatalf("refused requests reached the controller: %q", f.got)
	}
	// 255 characters is still fine.
	ep := "PJSIP/" + strings.Repeat("1", 249)
	if status, _, raw := do(t, http.MethodPost, url, "", `{"mode":"listen","endpoint":"`+ep+`"}`); status != http.StatusCreated {
		t.Fatalf("255-character endpoint: %d %s", status, raw)
	}
}

func TestSnoopEndpoints(t *testing.T) {
	f := &fakeSupervision{}
	s, err := New(Options{Token: "tok"}, SupervisionRoutes(f.supervision()))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	body := `{"mode":"whisper","endpoint":"sofia/internal/2001@pbx.example"}`
	for _, tt := range []struct {
		method, path, token, body string
		status                    int
		want                      string
	}{
		{"POST", "/api/v1/calls/c1/snoop", "", body, 401, "bearer token"},
		{"DELETE", "/api/v1/calls/c1/snoop/sup-1", "", "", 401, "bearer token"},
		{"POST", "/api/v1/calls/c1/snoop", "tok", body, 201, `"id": "sup-2"`},
		{"POST", "/api/v1/calls/c2/snoop", "tok", body, 409, `call \"c2\" is queued`},
		{"POST", "/api/v1/calls/nope/snoop", "tok", body, 404, `call \"nope\"`},
		{"GET", "/api/v1/calls/c1/snoop", "tok", "", 405, "not allowed"},
		{"DELETE", "/api/v1/calls/c1/snoop/sup-9", "tok", "", 404, "no such supervisor"},
		{"DELETE", "/api/v1/calls/c1/snoop/sup-1", "tok", "", 200, `"id": "sup-1"`},
		{"DELETE", "/api/v1/calls/c1/snoop", "tok", "", 200, `"ended": [`},
	} {
		status, _, raw := do(t, tt.method, ts.URL+tt.path, tt.token, tt.body)
		if status != tt.status || !strings.Contains(raw, tt.want) {
			t.Errorf("%s %s: %d %s, want %d containing %s", tt.method, tt.path, status, raw, tt.status, tt.want)
		}
	}
	want := []string{"snoop c1 whisper sofia/internal/2001@pbx.example", "snoop c2 whisper sofia/internal/2001@pbx.example",
		"snoop nope whisper sofia/internal/2001@pbx.example", "end c1 sup-9", "end c1 sup-1", "end c1 "}
	if strings.Join(f.got, "|") != strings.Join(want, "|") {
		t.Fatalf("reached the controller:\n%q\nwant\n%q", f.got, want)
	}

	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/calls/c1/snoop", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sn Snoop
	if err := json.NewDecoder(resp.Body).Decode(&sn); err != nil {
		t.Fatal(err)
	}
	if sn != (Snoop{CallID: "c1", Mode: "whisper", Endpoint: "sofia/internal/2001@pbx.example", Leg: Leg{Node: "ast1", ID: "sup-2"}}) ||
		resp.Header.Get("Location") != "/api/v1/calls/c1/snoop/sup-2" {
		t.Fatalf("answer %+v, Location %q", sn, resp.Header.Get("Location"))
	}
}
