package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/storage"
)

// faultPBX is the simulated PBX with its link to supervisor commands
// cut on demand: Snoop and Hangup fail as an adapter's do when the node
// is not connected, or when another switchboard took it over.
type faultPBX struct {
	*sim.PBX
	fail atomic.Pointer[error]
}

func (p *faultPBX) refuse(err error) { p.fail.Store(&err) }
func (p *faultPBX) heal()            { p.fail.Store(nil) }

func (p *faultPBX) failing(what string) error {
	if e := p.fail.Load(); e != nil && *e != nil {
		return fmt.Errorf("%s: %w", what, *e)
	}
	return nil
}

func (p *faultPBX) Snoop(ctx context.Context, req adapters.SnoopRequest) (adapters.LegRef, error) {
	if err := p.failing("snoop"); err != nil {
		return adapters.LegRef{}, err
	}
	return p.PBX.Snoop(ctx, req)
}

func (p *faultPBX) Hangup(ctx context.Context, ref adapters.LegRef, cause int) error {
	if err := p.failing("hangup " + ref.String()); err != nil {
		return err
	}
	return p.PBX.Hangup(ctx, ref, cause)
}

func (p *faultPBX) has(ref adapters.LegRef) bool {
	for _, l := range p.Legs() {
		if l == ref {
			return true
		}
	}
	return false
}

// supervisorServer is a whole switchboard (HTTP, controller, journal,
// SQLite) on the simulated PBX with one agent who talks for hours and no
// caller of its own: the test injects them. The controller is rebuilt on
// the same parts with the PBX wrapped in a faultPBX, so that the test can
// cut the PBX off; the API reads the controller through the Server, so
// every route serves the rebuilt one.
func supervisorServer(t *testing.T) (*faultPBX, string) {
	t.Helper()
	cfg := testConfig(t)
	cfg.Server.Token = "tok"
	cfg.PBX.Sim = sim.Config{Seed: 7, Speed: 1, AgentGroups: []sim.AgentGroup{{Prefix: "desk", Count: 1,
		Skills: map[string]int{"support": 7}, Queues: map[string]int{"support": 1}, AnswerProbability: 1,
		RingDelay: 20 * time.Millisecond, HandleTime: 100 * time.Hour}}}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	s, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	fp := &faultPBX{PBX: s.pbx.(*sim.PBX)}
	s.pbx = fp
	if s.ctl, err = controller.New(cfg.Controller, controller.Deps{PBX: fp, Engine: s.engine, Journal: s.journal, Store: s.store,
		Clock: s.clk, Log: log, Observers: []controller.Observer{s.recs}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	return fp, "http://" + s.Addr()
}

// call does one API request with the token and decodes a 2xx answer into
// out; it returns the status and the raw body.
func call(t *testing.T, method, url, body string, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, url, err, raw)
		}
	}
	return resp.StatusCode, string(raw)
}

// eventually polls cond until it holds; the bound is the test's, not a
// timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveCallFrom returns the live call from caller number, if any.
func liveCallFrom(t *testing.T, url, caller string) (api.Call, bool) {
	t.Helper()
	var list api.CallList
	if st, raw := call(t, http.MethodGet, url+"/api/v1/calls?live=true", "", &list); st != 200 {
		t.Fatalf("list calls: %d %s", st, raw)
	}
	for _, c := range list.Calls {
		if c.CallerNumber == caller {
			return c, true
		}
	}
	return api.Call{}, false
}

// callDetail is the part of GET /api/v1/calls/{id} this test reads.
type callDetail struct {
	Live   bool `json:"live"`
	Detail struct {
		Snoops []api.Supervisor `json:"snoops"`
		Legs   []storage.Leg    `json:"legs"`
	} `json:"detail"`
}

// TestSupervisorSnoopOverHTTP drives the supervisor endpoints of a running
// switchboard, real controller on the simulated PBX: every refusal with
// its status and nothing changed, a listen and a barge whose legs show in
// `call show` (live: under snoops; stored: as legs with role snoop), one
// supervisor leaving on request, the other hung up with the call.
func TestSupervisorSnoopOverHTTP(t *testing.T) {
	fp, url := supervisorServer(t)
	eventually(t, "the agent logged in", func() bool {
		var a api.Agent
		st, _ := call(t, http.MethodGet, url+"/api/v1/agents/desk-001", "", &a)
		return st == 200 && a.State == "available"
	})
	fp.InjectCall("1000", "+3314500001", nil, 0)
	var talking api.Call
	eventually(t, "the first call talking", func() bool {
		c, ok := liveCallFrom(t, url, "+3314500001")
		talking = c
		return ok && c.State == "talking"
	})
	fp.InjectCall("1000", "+3314500002", nil, 0)
	var queued api.Call
	eventually(t, "the second call queued", func() bool {
		c, ok := liveCallFrom(t, url, "+3314500002")
		queued = c
		return ok && c.State == "queued"
	})
	snoop := func(id string) string { return url + "/api/v1/calls/" + id + "/snoop" }
	legsBefore := len(fp.Legs())

	listen := `{"mode":"listen","endpoint":"sim/sup-7"}`
	for _, tt := range []struct {
		name, method, url, body string
		fail                    error
		status                  int
		want                    string
	}{
		{"bad mode", "POST", snoop(talking.ID), `{"mode":"spy","endpoint":"sim/sup-7"}`, nil, 400, `"field": "mode"`},
		{"no endpoint", "POST", snoop(talking.ID), `{"mode":"listen"}`, nil, 400, `"field": "endpoint"`},
		{"unknown field", "POST", snoop(talking.ID), `{"mode":"listen","endpoint":"sim/sup-7","by":"x"}`, nil, 400, `"field": "by"`},
		{"unknown call", "POST", snoop("no-such-call"), listen, nil, 404, `no live call \"no-such-call\"`},
		{"not talking", "POST", snoop(queued.ID), listen, nil, 409, `"message": "call \"` + queued.ID + `\" is queued, not talking to an agent"`},
		{"pbx unreachable", "POST", snoop(talking.ID), listen, adapters.ErrUnreachable, 503, "pbx unreachable"},
		{"pbx standby", "POST", snoop(talking.ID), listen, adapters.ErrStandby, 503, "standby"},
		{"no supervisor to end", "DELETE", snoop(talking.ID), "", nil, 404, `"message": "no supervisor is on call \"` + talking.ID + `\""`},
		{"end on unknown call", "DELETE", snoop("no-such-call") + "/x", "", nil, 404, `no live call \"no-such-call\"`},
	} {
		fp.refuse(tt.fail)
		st, raw := call(t, tt.method, tt.url, tt.body, nil)
		fp.heal()
		if st != tt.status || !bytes.Contains([]byte(raw), []byte(tt.want)) {
			t.Errorf("%s: %d %s, want %d containing %q", tt.name, st, raw, tt.status, tt.want)
		}
	}
	// Without the token nothing happens either.
	req, _ := http.NewRequest(http.MethodPost, snoop(talking.ID), bytes.NewReader([]byte(listen)))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("without a token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if n := len(fp.Legs()); n != legsBefore {
		t.Fatalf("refused requests left %d legs, want %d", n, legsBefore)
	}

	var a, b api.Snoop
	if st, raw := call(t, http.MethodPost, snoop(talking.ID), listen, &a); st != 201 || a.Leg.ID == "" || a.Mode != "listen" || a.CallID != talking.ID {
		t.Fatalf("listen: %d %s", st, raw)
	}
	if st, raw := call(t, http.MethodPost, snoop(talking.ID), `{"mode":"barge","endpoint":"sim/sup-8"}`, &b); st != 201 || b.Leg.ID == "" {
		t.Fatalf("barge: %d %s", st, raw)
	}
	legA, legB := adapters.LegRef{Node: a.Leg.Node, ID: a.Leg.ID}, adapters.LegRef{Node: b.Leg.Node, ID: b.Leg.ID}
	if !fp.has(legA) || !fp.has(legB) {
		t.Fatalf("supervisor legs %v, %v not on the PBX: %v", legA, legB, fp.Legs())
	}
	eventually(t, "call show listing both supervisors", func() bool {
		var d callDetail
		call(t, http.MethodGet, url+"/api/v1/calls/"+talking.ID, "", &d)
		s := d.Detail.Snoops
		return d.Live && len(s) == 2 && s[0].Leg == a.Leg && s[0].Mode == "listen" && s[0].Endpoint == "sim/sup-7" && s[0].Answered &&
			s[1].Leg == b.Leg && s[1].Mode == "barge"
	})

	// The barging supervisor leaves; the call and the listener go on.
	var end api.SnoopEnd
	if st, raw := call(t, http.MethodDelete, snoop(talking.ID)+"/"+b.Leg.ID, "", &end); st != 200 || len(end.Ended) != 1 || end.Ended[0] != b.Leg {
		t.Fatalf("end barge: %d %s", st, raw)
	}
	eventually(t, "the barging supervisor gone", func() bool {
		var d callDetail
		call(t, http.MethodGet, url+"/api/v1/calls/"+talking.ID, "", &d)
		return !fp.has(legB) && d.Live && len(d.Detail.Snoops) == 1 && d.Detail.Snoops[0].Leg == a.Leg
	})
	if st, raw := call(t, http.MethodDelete, snoop(talking.ID)+"/"+b.Leg.ID, "", nil); st != 404 {
		t.Fatalf("end the same supervisor again: %d %s", st, raw)
	}

	// The call ends: the listener is hung up with it, and the stored call
	// shows both supervisors as ended snoop legs.
	if st, raw := call(t, http.MethodPost, url+"/api/v1/calls/"+talking.ID+"/hangup", "", nil); st != 200 {
		t.Fatalf("hangup: %d %s", st, raw)
	}
	eventually(t, "the listener hung up with the call", func() bool { return !fp.has(legA) })
	var stored callDetail
	eventually(t, "the stored call with its snoop legs", func() bool {
		stored = callDetail{}
		call(t, http.MethodGet, url+"/api/v1/calls/"+talking.ID, "", &stored)
		n := 0
		for _, l := range stored.Detail.Legs {
			if l.Role == "snoop" && l.EndedAt != nil && l.AnsweredAt != nil &&
				(l.ChannelID == a.Leg.ID && l.Endpoint == "sim/sup-7" || l.ChannelID == b.Leg.ID && l.Endpoint == "sim/sup-8") {
				n++
			}
		}
		return !stored.Live && n == 2
	})
	if st, raw := call(t, http.MethodPost, snoop(talking.ID), listen, nil); st != 404 {
		t.Fatalf("listen on an ended call: %d %s", st, raw)
	}
}
