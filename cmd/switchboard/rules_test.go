package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/configs"
	"github.com/switchboard-cc/switchboard/routing"
)

const cliRulesV1 = `queues:
  - name: support
  - name: general
entry:
  - {name: support-line, dialed: ["1000"], queue: support}
agents:
  - {id: alice, skills: {support: 5}, queues: {support: 1, general: 1}}
  - {id: bob, skills: {support: 9}, queues: {support: 1}}
`

func writeRules(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "routing.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRulesValidateOffline(t *testing.T) {
	good := writeRules(t, cliRulesV1)
	code, out, stderr := cli(t, nil, "rules", "validate", good, "-o", "json")
	if code != 0 || !strings.Contains(out, `"valid": true`) {
		t.Fatalf("exit %d out %q err %q", code, out, stderr)
	}
	bad := writeRules(t, "queues:\n  - name: a\n    stratgy: x\nentry:\n  - {queue: b}\n")
	code, _, stderr = cli(t, nil, "rules", "validate", bad)
	if code == 0 || !strings.Contains(stderr, bad+":3:5: unknown key \"stratgy\"") || !strings.Contains(stderr, bad+":5:") {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
}

func TestRulesTestOffline(t *testing.T) {
	f := writeRules(t, cliRulesV1)
	code, out, stderr := cli(t, nil, "rules", "test", f, "--call", `{"dialed_number":"1000"}`, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res routing.DryRunResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	// Longest idle in file order: alice first.
	if res.Queue != "support" || res.Agent != "alice" || res.Trace == nil || res.Trace.Candidates != 2 {
		t.Fatalf("%+v", res)
	}
	code, _, stderr = cli(t, nil, "rules", "test", f, "--call", `{"dialled":"1000"}`)
	if code == 0 || !strings.Contains(stderr, "--call") {
		t.Fatalf("bad call accepted: %d %q", code, stderr)
	}
	code, _, stderr = cli(t, nil, "rules", "test", f, "--at", "tomorrow")
	if code == 0 || !strings.Contains(stderr, "--at") {
		t.Fatalf("bad --at accepted: %d %q", code, stderr)
	}
}

func TestRulesDiffOffline(t *testing.T) {
	a := writeRules(t, cliRulesV1)
	b := writeRules(t, strings.Replace(cliRulesV1, "queue: support}", "queue: general, priority: 3}", 1))
	code, out, stderr := cli(t, nil, "rules", "diff", a, b)
	if code != 0 || !strings.Contains(out, "entry rule support-line") || !strings.Contains(out, "support/0 → general/3") {
		t.Fatalf("exit %d out %q err %q", code, out, stderr)
	}
}

// TestRulesApplyHistoryShowRollback drives the server-side commands
// against the real rules API over HTTP (versions kept in memory here; the
// API's own tests run them on SQLite).
func TestRulesApplyHistoryShowRollback(t *testing.T) {
	var mu sync.Mutex
	var versions []api.RuleVersion
	var inForce string
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	rs := api.Rules{
		Add: func(_ context.Context, v *api.RuleVersion) error {
			mu.Lock()
			defer mu.Unlock()
			v.Version, v.CreatedAt, v.SHA256 = int64(len(versions)+1), at, fmt.Sprintf("%064d", len(versions)+1)
			versions = append(versions, *v)
			return nil
		},
		List: func(_ context.Context, limit int) ([]api.RuleVersion, error) {
			mu.Lock()
			defer mu.Unlock()
			var out []api.RuleVersion
			for i := len(versions) - 1; i >= 0 && len(out) < limit; i-- {
				v := versions[i]
				v.Content = ""
				out = append(out, v)
			}
			return out, nil
		},
		Get: func(_ context.Context, n int64) (api.RuleVersion, error) {
			mu.Lock()
			defer mu.Unlock()
			if n < 1 || int(n) > len(versions) {
				return api.RuleVersion{}, fmt.Errorf("version %d: %w", n, api.ErrNotFound)
			}
			return versions[n-1], nil
		},
		Reload: func(_ context.Context, cfg *routing.Config) error { inForce = cfg.Version; return nil },
	}
	s, err := api.New(api.Options{Token: "tok"}, api.RulesRoutes(rs))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	env := map[string]string{"SWITCHBOARD_SERVER": ts.URL, "SWITCHBOARD_TOKEN": "tok", "USER": "alice"}
	f1 := writeRules(t, cliRulesV1)
	f2 := writeRules(t, strings.Replace(cliRulesV1, "- name: general", "- name: general\n    wrap_up: 30s", 1))
	srv := []string{"--server", ts.URL, "--token", "tok"}
	if code, _, stderr := cli(t, env, append([]string{"rules", "apply", f1, "--comment", "first"}, srv...)...); code != 0 {
		t.Fatalf("apply 1: %s", stderr)
	}
	if code, _, stderr := cli(t, env, append([]string{"rules", "apply", f2, "--author", "bob"}, srv...)...); code != 0 {
		t.Fatalf("apply 2: %s", stderr)
	}
	bad := writeRules(t, "queues: [")
	if code, _, stderr := cli(t, env, append([]string{"rules", "apply", bad}, srv...)...); code == 0 || !strings.Contains(stderr, "not valid") {
		t.Fatalf("bad apply: %d %s", code, stderr)
	}
	code, out, stderr := cli(t, env, append([]string{"rules", "history"}, srv...)...)
	if code != 0 || !strings.Contains(out, "2 (in force)") || !strings.Contains(out, "bob") || !strings.Contains(out, "first") {
		t.Fatalf("history: %d %q %q", code, out, stderr)
	}
	code, out, _ = cli(t, env, append([]string{"rules", "show", "1"}, srv...)...)
	if code != 0 || out != cliRulesV1 {
		t.Fatalf("show 1: %q", out)
	}
	code, out, stderr = cli(t, env, append([]string{"rules", "diff", f1}, srv...)...)
	if code != 0 || !strings.Contains(out, "wrap_up 30s → 10s") {
		t.Fatalf("diff against in force: %d %q %q", code, out, stderr)
	}
	code, out, stderr = cli(t, env, append([]string{"rules", "rollback", "1", "--comment", "undo"}, srv...)...)
	if code != 0 || !strings.Contains(out, "3") || inForce != "3" {
		t.Fatalf("rollback: %d %q %q (in force %s)", code, out, stderr, inForce)
	}
	if versions[2].RollbackOf != 1 || versions[2].Content != cliRulesV1 || versions[2].Author != "alice" {
		t.Fatalf("version 3 %+v", versions[2])
	}
	code, _, stderr = cli(t, env, append([]string{"rules", "rollback", "9"}, srv...)...)
	if code == 0 || !strings.Contains(stderr, "no rules version 9") {
		t.Fatalf("rollback to unknown: %d %q", code, stderr)
	}
}

// TestCallShowExplainsTheRouting is "why this agent" end to end: the
// engine's trace of each offer is kept by the controller, written with
// the call row to the database, served by GET /api/v1/calls/{id} and
// printed by `call show`, for a call of the simulated demo that has
// ended (so that the row, not the live floor, answers).
func TestCallShowExplainsTheRouting(t *testing.T) {
	url := startServer(t, 20)
	var id string
	waitFor(t, "an answered call that has ended", 60*time.Second, func() bool {
		code, out, _ := cli(t, nil, "call", "list", "--server", url, "-o", "json")
		var l api.CallList
		if code != 0 || json.Unmarshal([]byte(out), &l) != nil {
			return false
		}
		for _, c := range l.Calls {
			if !c.Live && c.Outcome == "answered" && c.AgentID != "" {
				id = c.ID
				return true
			}
		}
		return false
	})
	code, out, stderr := cli(t, nil, "call", "show", id, "--server", url, "-o", "json")
	if code != 0 {
		t.Fatalf("call show -o json: %d %s", code, stderr)
	}
	var c struct {
		api.Call
		Detail struct {
			Trace []routing.Trace `json:"trace"`
		} `json:"detail"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Detail.Trace) == 0 {
		t.Fatalf("no stored trace for %s:\n%s", id, out)
	}
	last := c.Detail.Trace[len(c.Detail.Trace)-1]
	if last.Version != demoVersion(t) || last.Queue != c.Queue || last.Rule == "" || last.Step == "" || last.Strategy == "" || last.Reason == "" ||
		len(last.Considered) == 0 || !slices.Contains(last.Considered, c.AgentID) {
		t.Fatalf("trace of the offer %s answered: %+v (call %+v)", c.AgentID, last, c.Call)
	}
	code, out, stderr = cli(t, nil, "call", "show", id, "--server", url)
	if code != 0 || !strings.Contains(out, "why this agent") || !strings.Contains(out, "rules version "+last.Version+", rule "+last.Rule) || !strings.Contains(out, last.Reason) {
		t.Fatalf("call show: %d %s\n%s", code, stderr, out)
	}
}

// demoVersion is the version label of the embedded demo routing file.
func demoVersion(t *testing.T) string {
	t.Helper()
	cfg, err := routing.ParseRules("routing.yaml", configs.DemoRouting)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Version
}

// TestShippedRoutingFilesValidate runs `rules validate` and `rules test`
// on the files shipped in configs/: the demo and the commented example.
func TestShippedRoutingFilesValidate(t *testing.T) {
	for _, f := range []string{"../../configs/routing.yaml", "../../configs/routing.example.yaml"} {
		code, out, stderr := cli(t, nil, "rules", "validate", f, "-o", "json")
		if code != 0 || !strings.Contains(out, `"valid": true`) {
			t.Errorf("%s: exit %d %s %s", f, code, out, stderr)
		}
	}
	for _, tc := range []struct{ file, at, call, queue, rule, agent string }{
		{"../../configs/routing.yaml", "2026-12-24T10:00:00+01:00", `{"dialed_number":"3000"}`, "sales", "sales-line", ""},
		{"../../configs/routing.yaml", "2026-12-25T10:00:00+01:00", `{"dialed_number":"3000"}`, "general", "sales-after-hours", ""},
		{"../../configs/routing.yaml", "2026-12-24T10:00:00+01:00", `{"dialed_number":"1000","vars":{"VIP":"1"}}`, "support", "support-line+vip", ""},
		{"../../configs/routing.example.yaml", "2026-11-24T10:00:00+01:00", `{"dialed_number":"0800100200","customer":{"language":"fr"}}`, "support", "french-support", "alice"},
		{"../../configs/routing.example.yaml", "2026-11-24T10:00:00-05:00", `{"dialed_number":"0800100200","caller_number":"+12125550100"}`, "support", "english-support", "bob"},
		{"../../configs/routing.example.yaml", "2026-12-25T10:00:00+01:00", `{"dialed_number":"0800100200"}`, "closed", "closed", ""},
	} {
		code, out, stderr := cli(t, nil, "rules", "test", tc.file, "--at", tc.at, "--call", tc.call, "-o", "json")
		var res routing.DryRunResult
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
			t.Fatalf("%s %s: exit %d %s %s", tc.file, tc.call, code, out, stderr)
		}
		if res.Queue != tc.queue || res.Rule != tc.rule || res.Agent != tc.agent {
			t.Errorf("%s at %s %s → %s/%s/%s, want %s/%s/%s", tc.file, tc.at, tc.call, res.Queue, res.Rule, res.Agent, tc.queue, tc.rule, tc.agent)
		}
	}
}

// TestDemoSimServesEveryQueue: in the demo (`make run`), every queue of
// the embedded routing file has simulated agents who can take its calls
// from the first second (its first step's requirement), and every line
// the simulated callers dial reaches a queue.
func TestDemoSimServesEveryQueue(t *testing.T) {
	cfg, err := routing.ParseRules("routing.yaml", configs.DemoRouting)
	if err != nil {
		t.Fatal(err)
	}
	sim := config.DemoSim()
	agents := sim.Agents()
	for _, q := range cfg.Queues {
		var req map[string]int
		if len(q.Steps) > 0 && q.Steps[0].After == 0 {
			req = q.Steps[0].Require
		}
		able := 0
		for _, a := range agents {
			if _, member := a.Queues[q.Name]; !member {
				continue
			}
			ok := true
			for s, lvl := range req {
				ok = ok && a.Skills[s] >= lvl
			}
			if ok {
				able++
			}
		}
		if able == 0 {
			t.Errorf("queue %s: no simulated agent meets %v", q.Name, req)
		}
	}
	e := routing.NewEngine(cfg)
	for _, st := range sim.Streams {
		if q, _, rule := e.Classify(routing.Call{DialedNumber: st.DialedNumber}, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)); rule == "default" {
			t.Errorf("line %s reaches %s by no rule", st.DialedNumber, q)
		}
	}
}
