package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeFloor is a small in-memory floor: enough state to check that the
// handlers map inputs and errors correctly. The end-to-end behaviour with
// the real controller and simulated PBX is tested in package server.
type fakeFloor struct {
	agents map[string]*Agent
	calls  []Call
	hung   []string
}

func (f *fakeFloor) floor() Floor {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	change := func(from []string, to string) func(context.Context, string, string) error {
		return func(_ context.Context, id, reason string) error {
			a, ok := f.agents[id]
			if !ok {
				return fmt.Errorf("agent %q: %w", id, ErrNotFound)
			}
			for _, s := range from {
				if a.State == s {
					a.State, a.Reason = to, reason
					return nil
				}
			}
			return fmt.Errorf("agent %q is %s: %w", id, a.State, ErrConflict)
		}
	}
	return Floor{
		View: func() FloorView {
			v := FloorView{At: at, Queues: []Queue{{Name: "support", Waiting: 1, Answered: 9, ServiceLevel: 1}}}
			for _, a := range f.agents {
				v.Agents = append(v.Agents, *a)
			}
			Sum(&v)
			return v
		},
		LiveCalls: func() []Call { return append([]Call(nil), f.calls...) },
		Login:     change([]string{"logged_out"}, "available"),
		Logout:    change([]string{"available", "not_ready"}, "logged_out"),
		Pause:     change([]string{"available"}, "not_ready"),
		Unpause:   change([]string{"not_ready"}, "available"),
		Hangup: func(_ context.Context, id string, cause int) error {
			for _, c := range f.calls {
				if c.ID == id {
					f.hung = append(f.hung, fmt.Sprintf("%s/%d", id, cause))
					return nil
				}
			}
			return fmt.Errorf("call %q: %w", id, ErrNotFound)
		},
		RecentCalls: func(context.Context, int) ([]Call, error) {
			return []Call{{ID: "old-1", State: "ended"}, {ID: "c1", State: "stale duplicate"}}, nil
		},
		StoredCall: func(_ context.Context, id string) (Call, error) {
			if id == "old-1" {
				return Call{ID: "old-1", State: "ended"}, nil
			}
			return Call{}, ErrNotFound
		},
	}
}

func TestFloorEndpoints(t *testing.T) {
	f := &fakeFloor{
		agents: map[string]*Agent{"a1": {ID: "a1", State: "available"}, "a2": {ID: "a2", State: "logged_out"}},
		calls:  []Call{{ID: "c1", Live: true, State: "queued", Queue: "support", WaitSeconds: 12}},
	}
	s, err := New(Options{}, FloorRoutes(f.floor()))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	tests := []struct {
		method, path, body string
		status             int
		field, contains    string
	}{
		{"GET", "/api/v1/queues", "", 200, "", `"service_level": 1`},
		{"GET", "/api/v1/queues/support", "", 200, "", `"id": "c1"`},
		{"GET", "/api/v1/queues/nope", "", 404, "", `unknown queue \"nope\"`},
		{"GET", "/api/v1/agents/a1", "", 200, "", `"state": "available"`},
		{"GET", "/api/v1/agents/zz", "", 404, "", `unknown agent \"zz\"`},
		{"POST", "/api/v1/agents/a1/pause", `{"reason":"lunch"}`, 200, "", `"reason": "lunch"`},
		{"POST", "/api/v1/agents/a1/pause", `{"reason":"lunch"}`, 409, "", `cannot pause agent \"a1\"`},
		{"POST", "/api/v1/agents/a1/unpause", ``, 200, "", `"state": "available"`},
		{"POST", "/api/v1/agents/zz/login", `{}`, 404, "", `unknown agent \"zz\"`},
		{"POST", "/api/v1/agents/a2/login", `{"reson":"x"}`, 400, "reson", `unknown field`},
		{"POST", "/api/v1/agents/a2/login", `{"reason":5}`, 400, "reason", `want a string`},
		{"POST", "/api/v1/agents/a2/login", `{"reason":"start"}`, 200, "", `"state": "available"`},
		{"GET", "/api/v1/calls", "", 200, "", `"id": "old-1"`},
		{"GET", "/api/v1/calls?limit=0", "", 400, "limit", `want a number 1..1000`},
		{"GET", "/api/v1/calls?live=maybe", "", 400, "live", `want true or false`},
		{"GET", "/api/v1/calls?sort=x", "", 400, "sort", `unknown query parameter`},
		{"GET", "/api/v1/calls/c1", "", 200, "", `"live": true`},
		{"GET", "/api/v1/calls/old-1", "", 200, "", `"state": "ended"`},
		{"GET", "/api/v1/calls/none", "", 404, "", `unknown call \"none\"`},
		{"POST", "/api/v1/calls/c1/hangup", `{"cause":300}`, 400, "cause", `1..127`},
		{"POST", "/api/v1/calls/c1/hangup", ``, 200, "", `"ok": true`},
		{"POST", "/api/v1/calls/none/hangup", `{}`, 404, "", `no live call \"none\"`},
		{"GET", "/api/v1/floor", "", 200, "", `"totals"`},
	}
	for _, tt := range tests {
		status, eb, raw := do(t, tt.method, ts.URL+tt.path, "", tt.body)
		if status != tt.status || eb.Error.Field != tt.field || !strings.Contains(raw, tt.contains) {
			t.Errorf("%s %s %s: got %d field %q\n%s\nwant %d field %q containing %s", tt.method, tt.path, tt.body, status, eb.Error.Field, raw, tt.status, tt.field, tt.contains)
		}
	}
	if len(f.hung) != 1 || f.hung[0] != "c1/16" {
		t.Errorf("hangups = %v, want [c1/16] (default cause 16)", f.hung)
	}
	// A rejected request changed nothing.
	if f.agents["a2"].Reason != "start" || f.agents["a1"].State != "available" {
		t.Errorf("state after the run: a1=%+v a2=%+v", f.agents["a1"], f.agents["a2"])
	}
	// Recent calls never repeat a live one.
	_, _, raw := do(t, "GET", ts.URL+"/api/v1/calls", "", "")
	var cl CallList
	if err := json.Unmarshal([]byte(raw), &cl); err != nil {
		t.Fatal(err)
	}
	if len(cl.Calls) != 2 || cl.Calls[0].ID != "c1" || cl.Calls[1].ID != "old-1" {
		t.Errorf("calls = %+v, want live c1 then old-1", cl.Calls)
	}
}

func TestSum(t *testing.T) {
	v := FloorView{Queues: []Queue{
		// 8 answered, 6 within threshold, 2 abandoned of which 1 short: base 9.
		{Name: "a", Offered: 10, Answered: 8, AnsweredInThreshold: 6, Abandoned: 2, ServiceLevel: 6.0 / 9, AbandonRate: 0.2, Waiting: 1, LongestWaitSeconds: 5},
		{Name: "b", Offered: 10, Answered: 10, AnsweredInThreshold: 10, ServiceLevel: 1, Waiting: 2, LongestWaitSeconds: 9},
		{Name: "idle", ServiceLevel: 1},
	}, Agents: []Agent{{State: "available"}, {State: "on_call"}, {State: "on_call"}}}
	Sum(&v)
	tt := v.Totals
	if tt.Offered != 20 || tt.Answered != 18 || tt.Abandoned != 2 || tt.AnsweredInThreshold != 16 || tt.ServiceLevelBase != 19 || tt.Waiting != 3 || tt.LongestWaitSeconds != 9 {
		t.Errorf("totals %+v", tt)
	}
	if tt.ServiceLevel != 16.0/19 || tt.AbandonRate != 0.1 {
		t.Errorf("service level %v abandon rate %v", tt.ServiceLevel, tt.AbandonRate)
	}
	if tt.AgentsByState["on_call"] != 2 || tt.AgentsByState["available"] != 1 {
		t.Errorf("agents %v", tt.AgentsByState)
	}
	empty := FloorView{Queues: []Queue{{Name: "q", ServiceLevel: 1}}}
	Sum(&empty)
	if empty.Totals.ServiceLevel != 1 || empty.Totals.AbandonRate != 0 {
		t.Errorf("nothing happened yet: %+v", empty.Totals)
	}
}
