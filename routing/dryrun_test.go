package routing

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDryRunWithFileAgents(t *testing.T) {
	data, _ := os.ReadFile("testdata/routing.example.yaml")
	cfg, err := ParseRules("routing.example.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, paris)
	res, err := DryRun(cfg, nil, Call{DialedNumber: "0800100300", Vars: map[string]string{"VIP": "1"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	// Billing, best skill first among level ≥ 8: chloe (9).
	if res.Queue != "billing" || res.Priority != 5 || res.Rule != "billing+vip-flag" || res.Agent != "chloe" {
		t.Fatalf("%+v", res)
	}
	if res.Trace == nil || res.Trace.Step != "step 1 (after 0s)" || !strings.Contains(res.Trace.Reason, "best skill") {
		t.Fatalf("trace %+v", res.Trace)
	}
	// The engine the dry run used is its own: running again gives the same.
	again, _ := DryRun(cfg, nil, Call{DialedNumber: "0800100300", Vars: map[string]string{"VIP": "1"}}, now)
	if again.Agent != "chloe" {
		t.Fatalf("second dry run %+v", again)
	}
}

func TestDryRunOnLiveStates(t *testing.T) {
	cfg := mustParse(t, `
queues:
  - name: support
agents:
  - {id: a, queues: {support: 1}}
  - {id: b, queues: {support: 1}}
  - {id: c, queues: {support: 1}}
`)
	live := []AgentView{
		{ID: "a", State: StateOnCall, Since: at(0), Queues: map[string]int{"support": 1}},
		{ID: "b", State: StateAvailable, Since: at(50), Queues: map[string]int{"support": 1}},
		{ID: "c", State: StateAvailable, Since: at(10), Queues: map[string]int{"support": 1}},
	}
	res, err := DryRun(cfg, live, Call{}, at(100))
	if err != nil {
		t.Fatal(err)
	}
	if res.Agent != "c" || res.Trace.Candidates != 2 {
		t.Fatalf("want c (idle since 10 s) of 2 free: %+v", res)
	}
	live[2].State = StateNotReady
	live[1].State = StateWrapUp
	res, _ = DryRun(cfg, live, Call{}, at(100))
	if res.Agent != "" || !strings.Contains(res.Waiting, "waits") {
		t.Fatalf("nobody free: %+v", res)
	}
}

func TestDiff(t *testing.T) {
	a := mustParse(t, `
queues:
  - {name: support, wrap_up: 5s}
  - {name: old}
entry:
  - {name: one, dialed: ["1"], queue: support}
  - {name: two, dialed: ["2"], queue: old}
boosts: [{name: vip, when: 'true', add: 5}]
agents: [{id: x, skills: {s: 1}, queues: {support: 1, old: 1}}]
`)
	b := mustParse(t, `
queues:
  - {name: support, wrap_up: 9s, steps: [{after: 30s, require: {s: 2}}]}
  - {name: new}
entry:
  - {name: two, dialed: ["2"], queue: new}
  - {name: one, dialed: ["1"], queue: support, priority: 2}
boosts: [{name: vip, when: 'true', add: 3}]
agents: [{id: x, skills: {s: 2}, queues: {support: 1, new: 1}}]
`)
	var got []string
	for _, c := range Diff(a, b) {
		got = append(got, c.Change+" "+c.What+": "+c.Detail)
	}
	want := []string{
		"changed queue support: wrap_up 5s → 9s; steps [] → [after 30s require map[s:2]]",
		"added queue new: longest-idle",
		"removed queue old: waiting calls move to the default queue",
		"changed entry rule two: position 2 → 1; old/0 → new/0",
		"changed entry rule one: position 1 → 2; support/0 → support/2",
		"changed boost vip: +5 → +3",
		"changed agent x: skills map[s:1] → map[s:2], queues map[old:1 support:1] → map[new:1 support:1]",
	}
	joined := strings.Join(got, "\n")
	if len(got) != len(want) {
		t.Errorf("%d changes, want %d:\n%s", len(got), len(want), joined)
	}
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("missing %q in\n%s", w, joined)
		}
	}
	if d := Diff(a, a); len(d) != 0 {
		t.Fatalf("a file differs from itself: %v", fmt.Sprint(d))
	}
}
