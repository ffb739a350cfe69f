package routing

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := ParseRules("r.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return cfg
}

func mustEngine(t *testing.T, cfg *Config) *Engine {
	t.Helper()
	e, err := NewEngineChecked(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestParseErrorPositionsSurviveComments: positions are those of the file
// as written (comments, blank lines), every mistake is reported, not just
// the first.
func TestParseErrorPositionsSurviveComments(t *testing.T) {
	src := `# comment
# comment

default_queue: general

queues:
  - name: general
    # a comment
    stratgy: longest-idle

  - name: x
    max_length: lots
`
	_, err := ParseRules("bad.yaml", []byte(src))
	var re RulesErrors
	if !errors.As(err, &re) || len(re) != 2 {
		t.Fatalf("want 2 positioned errors, got %v", err)
	}
	if got := re[0].Pos.String(); got != "bad.yaml:9:5" || !strings.Contains(re[0].Msg, `unknown key "stratgy"`) {
		t.Errorf("first error %v", re[0])
	}
	if got := re[1].Pos.String(); got != "bad.yaml:12:17" {
		t.Errorf("second error at %s: %v", got, re[1])
	}
}

func TestParseNewKeysErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"set_by", "reasons: [{code: b, set_by: [boss]}]\nqueues: [{name: a, max_misses: 0}]\n", `r.yaml:1:30: reason "b": set_by "boss"`},
		{"no_agents when", "queues:\n  - name: a\n    no_agents: {when: never}\n", `r.yaml:3:23: queue "a": no_agents.when "never"`},
		{"no_agents without when", "queues:\n  - name: a\n    no_agents: {action: hangup}\n", "no_agents needs when"},
		{"no_agents unknown target", "queues:\n  - name: a\n    no_agents: {when: logged_out, overflow_to: zz}\n", `no_agents overflows to unknown queue "zz"`},
		{"agent expression type", "queues:\n  - name: a\n    steps: [{after: 0s, agent: 'agent.skills.x == \"y\"'}]\n", `queue "a" step 1: agent:`},
		{"agent expression name", "queues:\n  - name: a\nentry:\n  - {queue: a, agent: 'agent.langauge == \"fr\"'}\n", `entry rule "entry 1": agent:`},
		{"boost nothing", "queues: [{name: a}]\nboosts:\n  - {name: vip, when: 'true'}\n", `boost "vip": add is missing`},
		{"boost expression", "queues: [{name: a}]\nboosts:\n  - {name: vip, when: 'customer.vip > 1', add: 2}\n", `r.yaml:3:23: boost "vip"`},
		{"miss reason unknown", "reasons: [{code: break}]\nqueues:\n  - name: a\n    miss_reason: nap\n", `miss_reason "nap" is not one of the reasons`},
		{"default miss reason missing", "reasons: [{code: break}]\nqueues:\n  - name: a\n", `reason "rona", which is not in reasons`},
		{"priority_step", "queues:\n  - name: a\n    priority_step: 0s\n", "priority_step must be positive"},
		{"top-level list", "- a\n- b\n", "a routing file is a mapping"},
		{"duplicate key", "queues:\n  - name: a\n    wrap_up: 1s\n    wrap_up: 2s\n", "r.yaml:4:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseRules("r.yaml", []byte(tc.src))
			if err == nil || cfg != nil {
				t.Fatalf("accepted: %+v", cfg)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestNoAgentsPolicy(t *testing.T) {
	cfg := mustParse(t, `
queues:
  - name: support
    no_agents: {when: unavailable, overflow_to: general}
  - name: general
  - name: night
    no_agents: {when: logged_out, action: voicemail, target: night@vm}
agents:
  - {id: a, queues: {support: 1}}
  - {id: g, queues: {general: 1}}
  - {id: n, queues: {night: 1}}
`)
	t.Run("join: nobody logged in overflows at once", func(t *testing.T) {
		e := mustEngine(t, cfg)
		ds, _ := e.Enqueue(Call{ID: "c1"}, "support", 0, at(0), at(0))
		if ov, ok := has[Overflow](ds); !ok || ov.To != "general" || ov.Reason != "no_agents" {
			t.Fatalf("decisions %+v", ds)
		}
	})
	t.Run("join: a member on a call counts as staffed", func(t *testing.T) {
		e := mustEngine(t, cfg)
		mustLogin(t, e, "a", at(0))
		e.Enqueue(Call{ID: "c1"}, "support", 0, at(0), at(0))
		e.Answered("c1", "a", at(1))
		ds, _ := e.Enqueue(Call{ID: "c2"}, "support", 0, at(2), at(2))
		if _, ok := has[Overflow](ds); ok {
			t.Fatalf("overflowed though a is on a call: %+v", ds)
		}
	})
	t.Run("leave: last member pauses, waiting calls move keeping their wait", func(t *testing.T) {
		e := mustEngine(t, cfg)
		mustLogin(t, e, "a", at(0))
		e.Enqueue(Call{ID: "c1"}, "support", 0, at(0), at(0))
		e.Answered("c1", "a", at(1))
		e.Enqueue(Call{ID: "c2"}, "support", 0, at(2), at(2))
		e.Enqueue(Call{ID: "c3"}, "support", 0, at(3), at(3))
		if ds, err := e.SetNotReady("a", "break", at(4)); err != nil || len(ds) != 0 {
			t.Fatalf("pause during a call takes effect later: %v %+v", err, ds)
		}
		e.Ended("c1", at(5))
		ds := e.Tick(at(5 + int(DefaultWrapUp/time.Second))) // wrap-up over → paused
		var moved []string
		for _, d := range ds {
			if ov, ok := d.(Overflow); ok {
				moved = append(moved, ov.CallID)
			}
		}
		if fmt.Sprint(moved) != "[c2 c3]" {
			t.Fatalf("moved %v: %+v", moved, ds)
		}
		if w := e.Waiting("general"); len(w) != 2 || !w[0].Since.Equal(at(2)) {
			t.Fatalf("general %+v", w)
		}
	})
	t.Run("leave: logout with an action", func(t *testing.T) {
		e := mustEngine(t, cfg)
		mustLogin(t, e, "n", at(0))
		e.SetNotReady("n", "break", at(0))
		ds, _ := e.Enqueue(Call{ID: "c1"}, "night", 0, at(1), at(1))
		if _, ok := has[QueueExit](ds); ok {
			t.Fatal("logged_out policy fired for a paused (logged-in) agent")
		}
		ds, _ = e.Logout("n", at(2))
		x, ok := has[QueueExit](ds)
		if !ok || x.CallID != "c1" || x.Reason != "no_agents" || x.Action != ExitVoicemail || x.Target != "night@vm" {
			t.Fatalf("logout: %+v", ds)
		}
		if _, known := e.CallQueue("c1"); known {
			t.Fatal("exited call still known")
		}
	})
	t.Run("without a policy calls wait", func(t *testing.T) {
		e := mustEngine(t, cfg)
		ds, _ := e.Enqueue(Call{ID: "c1"}, "general", 0, at(0), at(0))
		if _, ok := has[QueueExit](ds); ok {
			t.Fatal("general has no policy")
		}
		if len(e.Waiting("general")) != 1 {
			t.Fatal("call not waiting")
		}
	})
}

func TestReasonSetBy(t *testing.T) {
	cfg := mustParse(t, `
reasons:
  - {code: break, max: 15m}
  - {code: coaching, set_by: [supervisor]}
  - {code: rona, set_by: [system]}
queues: [{name: q}]
agents: [{id: a, queues: {q: 1}}]
`)
	e := mustEngine(t, cfg)
	mustLogin(t, e, "a", at(0))
	if _, err := e.SetNotReady("a", "rona", at(1)); !errors.Is(err, ErrNotAllowed) || !errors.Is(err, ErrInvalidState) {
		t.Fatalf("agent set a system reason: %v", err)
	}
	if _, err := e.SetNotReady("a", "nap", at(1)); !errors.Is(err, ErrBadReason) || !errors.Is(err, ErrInvalidState) {
		t.Fatalf("unknown reason: %v", err)
	}
	if av, _ := e.Agent("a"); av.State != StateAvailable {
		t.Fatalf("a refused change changed state: %s", av.State)
	}
	if _, err := e.SetNotReady("a", "coaching", at(1)); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("agent set a supervisor reason: %v", err)
	}
	if _, err := e.SetNotReadyAs("a", "coaching", ActorSupervisor, at(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetNotReady("a", "break", at(2)); err != nil {
		t.Fatal(err)
	}
	// RONA still uses the system-only reason.
	e2 := mustEngine(t, cfg)
	mustLogin(t, e2, "a", at(0))
	for i := 0; i < DefaultMaxMisses; i++ {
		e2.Arrive(Call{ID: fmt.Sprint("c", i)}, at(i*100))
		e2.Tick(at(i*100 + int(DefaultOfferTimeout/time.Second)))
		e2.Abandoned(fmt.Sprint("c", i), at(i*100+50))
	}
	if av, _ := e2.Agent("a"); av.State != StateNotReady || av.Reason != "rona" {
		t.Fatalf("after %d misses: %+v", DefaultMaxMisses, av)
	}
}

// TestAgentExpressions: an entry rule and an escalation step restrict
// agents by attributes matched against the call (Twilio-style targeting).
func TestAgentExpressions(t *testing.T) {
	cfg := mustParse(t, `
queues:
  - name: support
    steps:
      - {after: 0s, require: {support: 5}, agent: 'agent.attributes.language == call.customer.language'}
      - {after: 60s, require: {support: 1}}
entry:
  - {name: fr, when: 'customer.language == "fr"', queue: support}
agents:
  - {id: en-high, skills: {support: 9}, attributes: {language: en}, queues: {support: 1}}
  - {id: fr-low, skills: {support: 2}, attributes: {language: fr, site: lyon}, queues: {support: 1}}
  - {id: fr-high, skills: {support: 8}, attributes: {language: fr, site: paris}, queues: {support: 1}}
`)
	e := mustEngine(t, cfg)
	for i, id := range []string{"en-high", "fr-low", "fr-high"} {
		mustLogin(t, e, id, at(i))
	}
	// Step 0 applies from the start (after: 0s): language must match.
	ds, _ := e.Arrive(Call{ID: "c1", Customer: map[string]string{"language": "fr"}}, at(10))
	if o := offers(ds); len(o) != 1 || o[0].AgentID != "fr-high" || o[0].Trace.Candidates != 1 {
		t.Fatalf("fr call: %+v", o)
	}
	e.Answered("c1", "fr-high", at(10))
	// A German caller matches nobody until the step at 60 s widens it.
	ds, _ = e.Arrive(Call{ID: "c2", Customer: map[string]string{"language": "de"}}, at(11))
	if len(offers(ds)) != 0 {
		t.Fatalf("de call offered: %+v", ds)
	}
	ds = e.Tick(at(71))
	if o := offers(ds); len(o) != 1 || o[0].AgentID != "en-high" {
		t.Fatalf("de call after 60 s: %+v", ds)
	}
}

func TestEntryFilterBeforeFirstStep(t *testing.T) {
	cfg := mustParse(t, `
queues:
  - name: support
    steps: [{after: 30s}]
entry:
  - {name: fr, when: 'customer.language == "fr"', queue: support, agent: 'agent.attributes.site == "paris"'}
agents:
  - {id: lyon, attributes: {site: lyon}, queues: {support: 1}}
`)
	e := mustEngine(t, cfg)
	mustLogin(t, e, "lyon", at(0))
	ds, _ := e.Arrive(Call{ID: "c1", Customer: map[string]string{"language": "fr"}}, at(0))
	if len(offers(ds)) != 0 {
		t.Fatal("entry agent condition ignored")
	}
	if ds := e.Tick(at(29)); len(offers(ds)) != 0 {
		t.Fatal("widened early")
	}
	if ds := e.Tick(at(30)); len(offers(ds)) != 1 {
		t.Fatalf("step at 30 s (no condition) did not widen: %+v", ds)
	}
}

func TestBoostsKeepTheLineAndRaisePriority(t *testing.T) {
	cfg := mustParse(t, `
queues: [{name: support}, {name: billing}]
entry:
  - {name: billing-line, when: 'dialed == "2000"', queue: billing}
boosts:
  - {name: vip, when: 'customer.vip == "true" || vars.VIP == "1"', add: 5}
  - {name: platinum, when: 'customer.tier == "platinum"', add: 2}
`)
	e := mustEngine(t, cfg)
	for _, tc := range []struct {
		c     Call
		queue string
		prio  int
		rule  string
	}{
		{Call{ID: "1", DialedNumber: "2000"}, "billing", 0, "billing-line"},
		{Call{ID: "2", DialedNumber: "2000", Vars: map[string]string{"VIP": "1"}}, "billing", 5, "billing-line+vip"},
		{Call{ID: "3", DialedNumber: "9", Customer: map[string]string{"vip": "true", "tier": "platinum"}}, "support", 7, "default+vip+platinum"},
	} {
		q, p, r := e.Classify(tc.c, at(0))
		if q != tc.queue || p != tc.prio || r != tc.rule {
			t.Errorf("%+v → %s/%d/%s, want %s/%d/%s", tc.c, q, p, r, tc.queue, tc.prio, tc.rule)
		}
	}
}

func TestPriorityStepPerQueue(t *testing.T) {
	// With 10 s per point, a priority-3 call is 30 s "older": it overtakes
	// a call that arrived 20 s before it but not one that arrived 40 s before.
	e := mustEngine(t, &Config{Queues: []QueueConfig{{Name: "q", PriorityStep: 10 * time.Second}}})
	e.Enqueue(Call{ID: "old"}, "q", 0, at(0), at(0))
	e.Enqueue(Call{ID: "mid"}, "q", 0, at(20), at(20))
	e.Enqueue(Call{ID: "vip"}, "q", 3, at(40), at(40))
	var got []string
	for _, w := range e.Waiting("q") {
		got = append(got, w.CallID)
	}
	if fmt.Sprint(got) != "[old vip mid]" {
		t.Fatalf("order %v", got)
	}
}

// TestPriorityNeverStarves: a stream of high-priority calls cannot hold
// back a low-priority call for ever; it is served once its wait exceeds
// the priority credit of the newcomers.
func TestPriorityNeverStarves(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support", WrapUp: 0}, agent("a", map[string]int{"support": 1}, nil))
	mustLogin(t, e, "a", at(0))
	e.Enqueue(Call{ID: "busy"}, "support", 0, at(0), at(0))
	e.Answered("busy", "a", at(0))
	e.Enqueue(Call{ID: "low"}, "support", 0, at(1), at(1))
	served := -1
	for i := 0; i < 20; i++ {
		now := 10 + i*10
		e.Enqueue(Call{ID: fmt.Sprint("hi", i)}, "support", 2, at(now), at(now)) // 2 points = 120 s credit
		prev := "busy"
		if i > 0 {
			av, _ := e.Agent("a")
			prev = av.CallID
		}
		ds := e.Ended(prev, at(now+5))
		o := offers(ds)
		if len(o) != 1 {
			t.Fatalf("round %d: %+v", i, ds)
		}
		e.Answered(o[0].CallID, "a", at(now+5))
		if o[0].CallID == "low" {
			served = now + 5
			break
		}
	}
	// low waits until the newest high call is more than 120 s younger.
	if served < 0 || served > 140 {
		t.Fatalf("low-priority call served at %d s (want by 140 s)", served)
	}
}

func TestMaxLengthExitsWithItsAction(t *testing.T) {
	e := mustEngine(t, &Config{Queues: []QueueConfig{{Name: "q", MaxLength: 1, Exit: ExitPolicy{Action: ExitCallback}}}})
	e.Enqueue(Call{ID: "c1"}, "q", 0, at(0), at(0))
	ds, _ := e.Enqueue(Call{ID: "c2"}, "q", 0, at(1), at(1))
	x, ok := has[QueueExit](ds)
	if !ok || x.Reason != "max_length" || x.Action != ExitCallback {
		t.Fatalf("%+v", ds)
	}
	if _, known := e.CallQueue("c2"); known {
		t.Fatal("a call refused for max_length stays in limbo")
	}
	if w := e.Waiting("q"); len(w) != 1 {
		t.Fatalf("waiting %+v", w)
	}
}

func TestMaxWaitCallbackKeepsPlace(t *testing.T) {
	e := mustEngine(t, &Config{Queues: []QueueConfig{{Name: "q", MaxWait: time.Minute, Exit: ExitPolicy{Action: ExitCallback}}}})
	e.Enqueue(Call{ID: "c1"}, "q", 0, at(0), at(0))
	ds := e.Tick(at(60))
	if cb, ok := has[OfferCallback](ds); !ok || cb.CallID != "c1" {
		t.Fatalf("%+v", ds)
	}
	if w := e.Waiting("q"); len(w) != 1 || w[0].CallID != "c1" {
		t.Fatalf("caller lost the place while a callback is offered: %+v", w)
	}
}

func TestOverflowChain(t *testing.T) {
	// a → b → c by max wait and steps; the call keeps its enqueue time
	// through every hop and each queue's steps count from that time.
	cfg := mustParse(t, `
queues:
  - name: a
    max_wait: 30s
    on_exit: {overflow_to: b}
  - name: b
    steps: [{after: 50s, overflow_to: c}]
  - name: c
    max_wait: 90s
    on_exit: {action: voicemail, target: vm}
`)
	e := mustEngine(t, cfg)
	e.Enqueue(Call{ID: "x"}, "a", 0, at(0), at(0))
	var hops []string
	for s := 1; s <= 100; s++ {
		for _, d := range e.Tick(at(s)) {
			switch v := d.(type) {
			case Overflow:
				hops = append(hops, fmt.Sprintf("%s→%s@%d", v.From, v.To, s))
			case QueueExit:
				hops = append(hops, fmt.Sprintf("exit %s %s@%d", v.Queue, v.Action, s))
			}
		}
	}
	if fmt.Sprint(hops) != "[a→b@30 b→c@50 exit c voicemail@90]" {
		t.Fatalf("hops %v", hops)
	}
}

func TestOverflowLoopIsBoundedAtRunTime(t *testing.T) {
	// Built in code (the parser rejects cycles): a ↔ b with a no-agents
	// overflow each way; the call must not bounce for ever.
	e := mustEngine(t, &Config{Queues: []QueueConfig{
		{Name: "a", NoAgents: NoAgentsPolicy{When: NoAgentsLoggedOut, Exit: ExitPolicy{OverflowTo: "b"}}},
		{Name: "b", NoAgents: NoAgentsPolicy{When: NoAgentsLoggedOut, Exit: ExitPolicy{OverflowTo: "a"}}},
	}})
	ds, _ := e.Enqueue(Call{ID: "x"}, "a", 0, at(0), at(0))
	x, ok := has[QueueExit](ds)
	if !ok || x.Reason != "overflow_loop" {
		t.Fatalf("%+v", ds)
	}
}

func TestTraceListsBestCandidatesFirst(t *testing.T) {
	var agents []Agent
	for i := 0; i < 8; i++ {
		agents = append(agents, agent(fmt.Sprintf("a%d", i), map[string]int{"support": 1}, nil))
	}
	e := newTestEngine(t, QueueConfig{Name: "support"}, agents...)
	for i := 7; i >= 0; i-- { // a7 idle longest
		mustLogin(t, e, fmt.Sprintf("a%d", i), at(7-i))
	}
	ds, _ := e.Arrive(Call{ID: "c"}, at(20))
	o := offers(ds)[0]
	if o.AgentID != "a7" || o.Trace.Candidates != 5 || o.Trace.Free != 8 || fmt.Sprint(o.Trace.Considered) != "[a7 a6 a5 a4 a3]" {
		t.Fatalf("trace %+v", o.Trace)
	}
	if !strings.Contains(o.Trace.Reason, "longest idle") || o.Trace.Rule != "default" || o.Trace.Step != "entry" {
		t.Fatalf("trace %+v", o.Trace)
	}
}

// TestFairnessOverManyDecisions: each load-spreading strategy shares
// 1,000 calls evenly between equal agents.
func TestFairnessOverManyDecisions(t *testing.T) {
	for _, s := range []Strategy{StrategyLongestIdle, StrategyFewestCalls, StrategyRoundRobin, StrategyLeastTalk} {
		t.Run(string(s), func(t *testing.T) {
			var agents []Agent
			for i := 0; i < 10; i++ {
				agents = append(agents, agent(fmt.Sprintf("a%02d", i), map[string]int{"support": 1}, nil))
			}
			e := newTestEngine(t, QueueConfig{Name: "support", Strategy: s, WrapUp: time.Second}, agents...)
			for i, a := range agents {
				mustLogin(t, e, a.ID, at(i))
			}
			count := map[string]int{}
			now := 100
			// Two calls at a time so that several agents are free at each
			// decision and the strategy, not availability, picks.
			for i := 0; i < 500; i++ {
				var ids []string
				for k := 0; k < 2; k++ {
					id := fmt.Sprintf("c%d-%d", i, k)
					ds, _ := e.Arrive(Call{ID: id}, at(now))
					o := offers(ds)
					if len(o) != 1 {
						t.Fatalf("call %s: %+v", id, ds)
					}
					count[o[0].AgentID]++
					e.Answered(id, o[0].AgentID, at(now))
					ids = append(ids, id)
				}
				now += 10
				for _, id := range ids {
					e.Ended(id, at(now))
				}
				e.Tick(at(now + 2))
				now += 3
			}
			for _, a := range agents {
				if c := count[a.ID]; c != 100 {
					t.Errorf("%s took %d calls, want 100", a.ID, c)
				}
			}
		})
	}
}

func TestReloadCarriesQueueStatsAndMovesRemovedQueues(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support", WrapUp: 0}, agent("a", map[string]int{"support": 1}, nil))
	mustLogin(t, e, "a", at(0))
	e.Arrive(Call{ID: "c1"}, at(0))
	e.Answered("c1", "a", at(0))
	e.Ended("c1", at(120)) // AHT 2 min
	e.SetNotReady("a", "break", at(120))
	e.Arrive(Call{ID: "c2"}, at(130))
	before := e.Queues()[0].EstimatedWait
	if _, err := e.Reload(&Config{Queues: []QueueConfig{{Name: "support", WrapUp: 0}, {Name: "general"}}}, at(140)); err != nil {
		t.Fatal(err)
	}
	if after := e.Queues()[0].EstimatedWait; after != before {
		t.Fatalf("estimate changed by reload: %s → %s", before, after)
	}
	// Remove support: c2 moves to the default queue (general), keeping its wait.
	ds, err := e.Reload(&Config{Queues: []QueueConfig{{Name: "general"}}}, at(150))
	if err != nil {
		t.Fatal(err)
	}
	if ov, ok := has[Overflow](ds); !ok || ov.CallID != "c2" || ov.To != "general" {
		t.Fatalf("%+v", ds)
	}
	if w := e.Waiting("general"); len(w) != 1 || !w[0].Since.Equal(at(130)) {
		t.Fatalf("%+v", w)
	}
}

// TestReloadNarrowingDoesNotStrandCalls: a new version whose steps are
// stricter re-evaluates each waiting call by its wait under the new steps.
func TestReloadRecomputesStepsFromWait(t *testing.T) {
	q := QueueConfig{Name: "billing", Steps: []Step{{After: 0, Require: map[string]int{"billing": 9}}}}
	e := newTestEngine(t, q, agent("mid", map[string]int{"billing": 1}, map[string]int{"billing": 5}))
	mustLogin(t, e, "mid", at(0))
	e.Arrive(Call{ID: "old"}, at(0))
	e.Arrive(Call{ID: "new"}, at(50))
	// v2 widens to level 5 after 40 s: "old" (waited 60 s) qualifies at
	// once, "new" (10 s) at 90 s — both measured from the original enqueue.
	v2 := Config{Queues: []QueueConfig{{Name: "billing", Steps: []Step{{After: 0, Require: map[string]int{"billing": 9}}, {After: 40 * time.Second, Require: map[string]int{"billing": 5}}}}, {Name: "general"}}}
	ds, err := e.Reload(&v2, at(60))
	if err != nil {
		t.Fatal(err)
	}
	if o := offers(ds); len(o) != 1 || o[0].CallID != "old" || !strings.HasPrefix(o[0].Trace.Step, "step 2") {
		t.Fatalf("reload: %+v", ds)
	}
	e.Answered("old", "mid", at(61))
	e.Ended("old", at(62))
	if ds := e.Tick(at(62 + int(DefaultWrapUp/time.Second))); len(offers(ds)) != 0 {
		t.Fatalf("new offered before its 40 s: %+v", ds)
	}
	if ds := e.Tick(at(90)); len(offers(ds)) != 1 {
		t.Fatalf("new not offered at 90 s: %+v", ds)
	}
}

func TestEnqueueErrorsChangeNothing(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support"})
	if _, err := e.Enqueue(Call{ID: "c"}, "nope", 0, at(0), at(0)); !errors.Is(err, ErrUnknownQueue) {
		t.Fatalf("%v", err)
	}
	e.Enqueue(Call{ID: "c"}, "support", 0, at(0), at(0))
	if _, err := e.Arrive(Call{ID: "c"}, at(1)); err == nil {
		t.Fatal("duplicate call accepted")
	}
	if _, err := e.Arrive(Call{}, at(1)); err == nil {
		t.Fatal("call without id accepted")
	}
	if w := e.Waiting("support"); len(w) != 1 {
		t.Fatalf("%+v", w)
	}
}

// TestDialedIndexKeepsFileOrder: rules with a dialed list are indexed, yet
// the first matching rule in file order still wins.
func TestDialedIndexKeepsFileOrder(t *testing.T) {
	cfg := mustParse(t, `
queues: [{name: general}, {name: vip}, {name: billing}, {name: night}]
entry:
  - {name: vip-any-line, when: 'customer.vip == "true"', queue: vip}
  - {name: billing-line, dialed: ["2000", "2001"], queue: billing}
  - {name: night, when: 'vars.NIGHT == "1"', queue: night}
  - {name: billing-again, dialed: ["2000"], queue: general}
`)
	e := mustEngine(t, cfg)
	for _, tc := range []struct {
		c    Call
		rule string
	}{
		{Call{DialedNumber: "2000"}, "billing-line"},
		{Call{DialedNumber: "2001", Customer: map[string]string{"vip": "true"}}, "vip-any-line"},
		{Call{DialedNumber: "2001", Vars: map[string]string{"NIGHT": "1"}}, "billing-line"},
		{Call{DialedNumber: "3000", Vars: map[string]string{"NIGHT": "1"}}, "night"},
		{Call{DialedNumber: "3000"}, "default"},
	} {
		if _, _, r := e.Classify(tc.c, at(0)); r != tc.rule {
			t.Errorf("%+v → %s, want %s", tc.c, r, tc.rule)
		}
	}
}

// TestConfigsMatchTestdata keeps the fixtures this package tests in step
// with the files shipped in configs/.
func TestConfigsMatchTestdata(t *testing.T) {
	for _, name := range []string{"routing.yaml", "routing.example.yaml"} {
		want, err := os.ReadFile(filepath.Join("..", "configs", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("routing/testdata/%s differs from configs/%s: cp configs/%s routing/testdata/", name, name, name)
		}
	}
}

// TestExampleRoutingFile runs the commented example through calendar
// edges (holiday, night shift across midnight, New York hours), language
// targeting and the no-agents policy of the closed queue.
func TestExampleRoutingFile(t *testing.T) {
	data, err := os.ReadFile("testdata/routing.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseRules("routing.example.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	fr := map[string]string{"language": "fr"}
	for _, tc := range []struct {
		name  string
		at    time.Time
		call  Call
		queue string
		rule  string
		exit  string
		login []string
	}{
		{"office hours, French", time.Date(2026, 11, 24, 10, 0, 0, 0, paris), Call{DialedNumber: "0800100200", Customer: fr}, "support", "french-support", "", nil},
		{"lunch break is closed", time.Date(2026, 11, 24, 13, 0, 0, 0, paris), Call{DialedNumber: "0800100200", Customer: fr}, "closed", "closed", "no_agents", nil},
		{"Christmas is closed", time.Date(2026, 12, 25, 10, 0, 0, 0, paris), Call{DialedNumber: "0800100200", Customer: fr}, "closed", "closed", "no_agents", nil},
		{"night shift after midnight", time.Date(2026, 11, 25, 2, 0, 0, 0, paris), Call{DialedNumber: "0800100300"}, "night", "night-line", "", []string{"eve"}},
		{"night shift with nobody there", time.Date(2026, 11, 25, 2, 0, 0, 0, paris), Call{DialedNumber: "0800100300"}, "night", "night-line", "no_agents", nil},
		{"night shift does not start on saturday", time.Date(2026, 11, 28, 23, 0, 0, 0, paris), Call{DialedNumber: "0800100300"}, "closed", "closed", "no_agents", nil},
		{"billing line", time.Date(2026, 11, 24, 9, 0, 0, 0, paris), Call{DialedNumber: "0800100300"}, "billing", "billing", "", nil},
		{"platinum first", time.Date(2026, 11, 24, 9, 0, 0, 0, paris), Call{DialedNumber: "0800100300", Customer: map[string]string{"tier": "platinum"}}, "vip", "vip-customers", "", nil},
		{"English in New York hours", time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC), Call{DialedNumber: "0800100200", CallerNumber: "+12125550100"}, "support", "english-support", "", nil},
		{"campaign by hour", time.Date(2026, 11, 24, 19, 0, 0, 0, time.UTC), Call{DialedNumber: "5555", Vars: map[string]string{"CAMPAIGN": "winter"}}, "sales", "sales-campaign", "no_agents", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEngine(t, cfg)
			for _, id := range tc.login {
				mustLogin(t, e, id, tc.at.Add(-time.Hour))
			}
			tc.call.ID = "c"
			ds, err := e.Arrive(tc.call, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			q, _ := has[Queued](ds)
			if q.Queue != tc.queue || q.Rule != tc.rule {
				t.Fatalf("→ %s by %s, want %s by %s", q.Queue, q.Rule, tc.queue, tc.rule)
			}
			x, exited := has[QueueExit](ds)
			ov, overflowed := has[Overflow](ds)
			switch {
			case tc.exit == "" && (exited || overflowed):
				t.Fatalf("left the queue: %+v %+v", x, ov)
			case tc.exit != "" && !exited && !overflowed:
				t.Fatalf("stayed, want exit %s: %+v", tc.exit, ds)
			case exited && x.Reason != tc.exit, overflowed && ov.Reason != tc.exit:
				t.Fatalf("exit %+v %+v, want %s", x, ov, tc.exit)
			}
		})
	}
}

// TestAliasBombIsNotExpanded: nested aliases must not make validation
// exponential (the API validates files sent by users).
func TestAliasBombIsNotExpanded(t *testing.T) {
	// 200 queues × 200 steps × 200 skills through aliases: 8 million
	// nodes if every alias were walked, from a file of a few kilobytes.
	var b strings.Builder
	b.WriteString("skills: []\nx:\n  r: &r {")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "k%d: 1, ", i)
	}
	b.WriteString("}\n  s: &s {after: 1s, require: *r}\n  ss: &ss [")
	b.WriteString(strings.Repeat("*s, ", 200))
	b.WriteString("]\n  q: &q {name: a, steps: *ss}\nqueues: [")
	b.WriteString(strings.Repeat("*q, ", 200))
	b.WriteString("]\n")
	src := b.String()
	p := &parser{file: "bomb.yaml"}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		t.Fatal(err)
	}
	p.checkKeys(root.Content[0], reflect.TypeOf(ruleFile{}), "")
	if p.visits > 1000 {
		t.Fatalf("checkKeys walked %d nodes for a %d-byte file", p.visits, len(src))
	}
	if _, err := ParseRules("bomb.yaml", []byte(src)); err == nil {
		t.Fatal("accepted")
	}
}

// TestMaxWaitPassedWhileRinging: the maximum wait expires while the call
// rings an agent who then does not answer; the call leaves at once
// instead of waiting for ever.
func TestMaxWaitPassedWhileRinging(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support", OfferTimeout: 20 * time.Second, MaxWait: 30 * time.Second, Exit: ExitPolicy{Action: ExitVoicemail}},
		agent("a", map[string]int{"support": 1}, nil))
	e.Arrive(Call{ID: "c1"}, at(0))
	mustLogin(t, e, "a", at(25)) // rings from 25 s to 45 s; max wait at 30 s
	if ds := e.Tick(at(30)); len(ds) != 0 {
		t.Fatalf("ringing call exited: %+v", ds)
	}
	ds := e.Tick(at(45))
	x, ok := has[QueueExit](ds)
	if !ok || x.Reason != "max_wait" || x.Action != ExitVoicemail {
		t.Fatalf("after RONA past max wait: %+v", ds)
	}
	if _, known := e.CallQueue("c1"); known {
		t.Fatal("call still waiting")
	}
}

// TestOverflowWhileRinging: a step moves the call to another queue while
// it rings; the miss is judged by the queue that made the offer, and the
// call comes back in its new queue with its original enqueue time.
func TestOverflowWhileRinging(t *testing.T) {
	e := mustEngine(t, &Config{Queues: []QueueConfig{
		{Name: "billing", OfferTimeout: 20 * time.Second, MaxMisses: 1, MissReason: "rona", Steps: []Step{{After: 30 * time.Second, OverflowTo: "general"}}},
		{Name: "general", MaxMisses: 0},
	}})
	e.UpsertAgent(agent("a", map[string]int{"billing": 1}, nil), at(0))
	e.Arrive(Call{ID: "c"}, at(0))
	mustLogin(t, e, "a", at(25)) // rings 25 s → 45 s; overflow step at 30 s
	ds := e.Tick(at(30))
	if ov, ok := has[Overflow](ds); !ok || ov.To != "general" {
		t.Fatalf("no overflow while ringing: %+v", ds)
	}
	ds = e.Tick(at(45))
	if sc, ok := has[AgentStateChanged](ds); !ok || sc.To != StateNotReady || sc.Reason != "rona" {
		t.Fatalf("billing's max_misses 1 not applied: %+v", ds)
	}
	if w := e.Waiting("general"); len(w) != 1 || !w[0].Since.Equal(at(0)) {
		t.Fatalf("general %+v", w)
	}
}
