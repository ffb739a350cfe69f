package routing

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// escalationFile is the example: billing ≥ 8 at first, ≥ 5
// after 30 s, anyone with the skill after 90 s, overflow to general after
// 180 s, a callback offer after 300 s (in general, where the call is by
// then: waits count from the first enqueue, across the overflow).
const escalationFile = `
skills: [billing]
queues:
  - name: billing
    steps:
      - {after: 0s, require: {billing: 8}}
      - {after: 30s, require: {billing: 5}}
      - {after: 90s, require: {billing: 1}}
      - {after: 180s, overflow_to: general}
  - name: general
    steps:
      - {after: 300s, offer_callback: true}
agents:
  - {id: expert, skills: {billing: 9}, queues: {billing: 1}}
  - {id: mid, skills: {billing: 6}, queues: {billing: 1}}
  - {id: junior, skills: {billing: 2}, queues: {billing: 1}}
  - {id: other, queues: {general: 1}}
`

// TestEscalationAtExactStepBoundaries: under a fake clock, each step
// applies exactly at its boundary — not 1 ns before, and at the boundary
// and 1 ns after — whether the clock reaches it by a timer (Tick) or an
// agent frees up just after it.
func TestEscalationAtExactStepBoundaries(t *testing.T) {
	cfg := mustParse(t, escalationFile)
	arrive := t0.Add(123456789 * time.Nanosecond) // not on a second: no rounding hides an error
	for _, b := range []struct {
		name           string
		prev, boundary time.Duration // the step before and this one
		agent          string        // the only agent logged in: eligible from this step on
		want           string        // what happens at the boundary
		step           string
	}{
		{"entry: expert at once", 0, 0, "expert", "offer expert", "step 1 (after 0s)"},
		{"level 5 from 30 s", 0, 30 * time.Second, "mid", "offer mid", "step 2 (after 30s)"},
		{"any level from 90 s", 30 * time.Second, 90 * time.Second, "junior", "offer junior", "step 3 (after 1m30s)"},
		{"overflow at 180 s", 90 * time.Second, 180 * time.Second, "other", "overflow general, offer other", "entry"},
		{"callback at 300 s", 180 * time.Second, 300 * time.Second, "", "callback general", ""},
	} {
		for _, delta := range []time.Duration{-time.Nanosecond, 0, time.Nanosecond} {
			t.Run(fmt.Sprintf("%s/%+dns", b.name, delta), func(t *testing.T) {
				if b.boundary == 0 && delta < 0 {
					t.Skip("no time before arrival")
				}
				e := mustEngine(t, cfg)
				if b.agent != "" {
					mustLogin(t, e, b.agent, t0)
				}
				ds, err := e.Arrive(Call{ID: "c"}, arrive)
				if err != nil {
					t.Fatal(err)
				}
				if b.boundary > 0 {
					if got := describeAll(ds); got != "" {
						t.Fatalf("on arrival: %s", got)
					}
					e.Tick(arrive.Add(b.prev)) // whatever the step before does
					if got := describeAll(e.Tick(arrive.Add(b.boundary - time.Nanosecond))); got != "" {
						t.Fatalf("1 ns before the boundary: %s", got)
					}
					if delta < 0 {
						return
					}
					ds = e.Tick(arrive.Add(b.boundary + delta))
				}
				if got := describeAll(ds); !strings.HasPrefix(got, b.want) {
					t.Fatalf("at boundary%+dns: %q, want %q", delta, got, b.want)
				}
				if o := offers(ds); b.step != "" && (len(o) != 1 || o[0].Trace.Step != b.step) {
					t.Fatalf("trace step %+v, want %q", o, b.step)
				}
			})
		}
	}
	// The agent frees up 1 ns after a boundary that a Tick has passed:
	// it takes the widened call.
	e := mustEngine(t, cfg)
	e.Arrive(Call{ID: "c"}, arrive)
	e.Tick(arrive.Add(30 * time.Second))
	if o := offers(mustLogin(t, e, "mid", arrive.Add(30*time.Second+time.Nanosecond))); len(o) != 1 || o[0].AgentID != "mid" {
		t.Fatalf("mid after 30 s: %+v", o)
	}
	// And 1 ns before, it does not.
	e = mustEngine(t, cfg)
	e.Arrive(Call{ID: "c"}, arrive)
	e.Tick(arrive.Add(30*time.Second - time.Nanosecond))
	if o := offers(mustLogin(t, e, "mid", arrive.Add(30*time.Second-time.Nanosecond))); len(o) != 0 {
		t.Fatalf("mid before 30 s: %+v", o)
	}
}

// describeAll renders the decisions that matter here, in order.
func describeAll(ds []Decision) string {
	var parts []string
	for _, d := range ds {
		switch v := d.(type) {
		case Offer:
			parts = append(parts, "offer "+v.AgentID)
		case Overflow:
			parts = append(parts, "overflow "+v.To)
		case OfferCallback:
			parts = append(parts, "callback "+v.Queue)
		case QueueExit:
			parts = append(parts, "exit "+v.Reason)
		}
	}
	return strings.Join(parts, ", ")
}

// TestRONAAndTheMissPenalty: the call goes back to its place with its
// wait; the agent who let it ring is not offered it again while someone
// else can take it; after max_misses in a row it goes not ready with the
// configured reason (a reason that may carry a limit and be system-only).
func TestRONAAndTheMissPenalty(t *testing.T) {
	cfg := mustParse(t, `
reasons:
  - {code: missed, max: 10m, set_by: [system]}
  - {code: break}
queues:
  - {name: q, offer_timeout: 10s, max_misses: 2, miss_reason: missed, wrap_up: 0s}
agents:
  - {id: a, queues: {q: 1}}
  - {id: b, queues: {q: 1}}
`)
	type step struct {
		do   func(e *Engine) []Decision
		want string // agent states and decisions after the step
	}
	miss := func(s int) func(e *Engine) []Decision {
		return func(e *Engine) []Decision { return e.Tick(at(s)) }
	}
	state := func(e *Engine, ds []Decision) string {
		var parts []string
		for _, id := range []string{"a", "b"} {
			av, _ := e.Agent(id)
			s := id + ":" + string(av.State)
			if av.State == StateNotReady {
				s += "/" + av.Reason
			}
			if av.Misses > 0 {
				s += fmt.Sprintf("(%d)", av.Misses)
			}
			parts = append(parts, s)
		}
		for _, d := range ds {
			switch v := d.(type) {
			case Offer:
				parts = append(parts, "offer "+v.CallID+"→"+v.AgentID)
			case Withdraw:
				parts = append(parts, "withdraw "+v.CallID+"←"+v.AgentID+" ("+v.Reason+")")
			case AgentFlagged:
				parts = append(parts, "flag "+v.AgentID)
			}
		}
		return strings.Join(parts, " ")
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a miss puts the call back; another agent takes it", []step{
			{func(e *Engine) []Decision { return mustLogin(t, e, "a", at(0)) }, "a:available b:logged_out"},
			{func(e *Engine) []Decision { ds, _ := e.Arrive(Call{ID: "c1"}, at(1)); return ds }, "a:offered b:logged_out offer c1→a"},
			{func(e *Engine) []Decision { return mustLogin(t, e, "b", at(2)) }, "a:offered b:available"},
			{miss(11), "a:available(1) b:offered withdraw c1←a (no answer) offer c1→b"},
		}},
		{"the only agent is offered the call again, then paused", []step{
			{func(e *Engine) []Decision { return mustLogin(t, e, "a", at(0)) }, "a:available b:logged_out"},
			{func(e *Engine) []Decision { ds, _ := e.Arrive(Call{ID: "c1"}, at(1)); return ds }, "a:offered b:logged_out offer c1→a"},
			{miss(11), "a:offered(1) b:logged_out withdraw c1←a (no answer) offer c1→a"},
			{miss(21), "a:not_ready/missed(2) b:logged_out withdraw c1←a (no answer)"},
			{func(e *Engine) []Decision { return e.Tick(at(21 + 600)) }, "a:not_ready/missed(2) b:logged_out flag a"},
			// b logs in: the call kept its place and its wait.
			{func(e *Engine) []Decision { return mustLogin(t, e, "b", at(700)) }, "a:not_ready/missed(2) b:offered offer c1→b"},
		}},
		{"an answer resets the count", []step{
			{func(e *Engine) []Decision { return mustLogin(t, e, "a", at(0)) }, "a:available b:logged_out"},
			{func(e *Engine) []Decision { ds, _ := e.Arrive(Call{ID: "c1"}, at(1)); return ds }, "a:offered b:logged_out offer c1→a"},
			{miss(11), "a:offered(1) b:logged_out withdraw c1←a (no answer) offer c1→a"},
			{func(e *Engine) []Decision { return e.Answered("c1", "a", at(12)) }, "a:on_call b:logged_out"},
			{func(e *Engine) []Decision { return e.Ended("c1", at(20)) }, "a:available b:logged_out"},
			{func(e *Engine) []Decision { ds, _ := e.Arrive(Call{ID: "c2"}, at(21)); return ds }, "a:offered b:logged_out offer c2→a"},
			{miss(31), "a:offered(1) b:logged_out withdraw c2←a (no answer) offer c2→a"},
		}},
		{"a failed leg counts as a miss; coming back from the pause resets", []step{
			{func(e *Engine) []Decision { return mustLogin(t, e, "a", at(0)) }, "a:available b:logged_out"},
			{func(e *Engine) []Decision { ds, _ := e.Arrive(Call{ID: "c1"}, at(1)); return ds }, "a:offered b:logged_out offer c1→a"},
			{func(e *Engine) []Decision { return e.OfferFailed("c1", "a", "busy", at(2)) }, "a:offered(1) b:logged_out offer c1→a"},
			{func(e *Engine) []Decision { return e.OfferFailed("c1", "a", "busy", at(3)) }, "a:not_ready/missed(2) b:logged_out"},
			{func(e *Engine) []Decision { ds, _ := e.SetAvailable("a", at(4)); return ds }, "a:offered b:logged_out offer c1→a"},
		}},
		{"a stale miss (offer already withdrawn) changes nothing", []step{
			{func(e *Engine) []Decision { return mustLogin(t, e, "a", at(0)) }, "a:available b:logged_out"},
			{func(e *Engine) []Decision { ds, _ := e.Arrive(Call{ID: "c1"}, at(1)); return ds }, "a:offered b:logged_out offer c1→a"},
			{func(e *Engine) []Decision { return e.Answered("c1", "a", at(2)) }, "a:on_call b:logged_out"},
			{func(e *Engine) []Decision { return e.OfferFailed("c1", "a", "no answer", at(3)) }, "a:on_call b:logged_out"},
			{func(e *Engine) []Decision { return e.Tick(at(11)) }, "a:on_call b:logged_out"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEngine(t, cfg)
			for i, s := range tc.steps {
				ds := s.do(e)
				if got := state(e, ds); got != s.want {
					t.Fatalf("step %d:\n got %s\nwant %s", i+1, got, s.want)
				}
			}
			if w := e.Waiting("q"); len(w) > 0 && w[0].CallID == "c1" && !w[0].Since.Equal(at(1)) {
				t.Fatalf("the call lost its wait: %+v", w[0])
			}
		})
	}
	// The miss reason is the system's: an agent cannot pick it.
	e := mustEngine(t, cfg)
	mustLogin(t, e, "a", at(0))
	if _, err := e.SetNotReady("a", "missed", at(1)); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("agent chose the system reason: %v", err)
	}
}

// TestWrapUp: per queue or per agent, ended early by the agent, extended
// (repeatedly), and a pause asked for during the call taking effect after
// it.
func TestWrapUp(t *testing.T) {
	q := QueueConfig{Name: "q", WrapUp: 30 * time.Second}
	for _, tc := range []struct {
		name   string
		agent  time.Duration // the agent's own wrap-up
		queue  time.Duration
		during func(e *Engine) error // at 70 s, in wrap-up
		free   int                   // when the waiting call is offered (s)
	}{
		{"queue's wrap-up", 0, 30 * time.Second, nil, 90},
		{"agent's own wins", 5 * time.Second, 30 * time.Second, nil, 65},
		{"no wrap-up: the next call at once", 0, 0, nil, 60},
		{"ended early", 0, 30 * time.Second, func(e *Engine) error { _, err := e.SetAvailable("a", at(70)); return err }, 70},
		{"extended twice", 0, 30 * time.Second, func(e *Engine) error {
			if err := e.ExtendWrapUp("a", 20*time.Second, at(70)); err != nil {
				return err
			}
			return e.ExtendWrapUp("a", 10*time.Second, at(71))
		}, 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := q
			q.WrapUp = tc.queue
			e := newTestEngine(t, q, Agent{ID: "a", Queues: map[string]int{"q": 1}, WrapUp: tc.agent})
			mustLogin(t, e, "a", at(0))
			e.Arrive(Call{ID: "c1"}, at(1))
			e.Answered("c1", "a", at(2))
			e.Arrive(Call{ID: "c2"}, at(3))
			ds := e.Ended("c1", at(60))
			offeredAt := -1
			if len(offers(ds)) == 1 {
				offeredAt = 60
			}
			if tc.during != nil && offeredAt < 0 {
				if err := tc.during(e); err != nil {
					t.Fatal(err)
				}
				if av, _ := e.Agent("a"); av.State == StateOffered {
					offeredAt = 70
				}
			}
			for s := 61; s <= 200 && offeredAt < 0; s++ {
				if len(offers(e.Tick(at(s)))) == 1 {
					offeredAt = s
				}
			}
			if offeredAt != tc.free {
				t.Fatalf("next call offered at %d s, want %d s", offeredAt, tc.free)
			}
		})
	}
	t.Run("pause asked during the call", func(t *testing.T) {
		e := newTestEngine(t, q, agent("a", map[string]int{"q": 1}, nil))
		mustLogin(t, e, "a", at(0))
		e.Arrive(Call{ID: "c1"}, at(1))
		e.Answered("c1", "a", at(2))
		if ds, err := e.SetNotReady("a", "lunch", at(10)); err != nil || len(ds) != 0 {
			t.Fatalf("%v %+v", err, ds)
		}
		e.Arrive(Call{ID: "c2"}, at(11))
		e.Ended("c1", at(60))
		ds := e.Tick(at(90))
		if sc, ok := has[AgentStateChanged](ds); !ok || sc.To != StateNotReady || sc.Reason != "lunch" || len(offers(ds)) != 0 {
			t.Fatalf("after wrap-up: %+v", ds)
		}
	})
	t.Run("errors change nothing", func(t *testing.T) {
		e := newTestEngine(t, q, agent("a", map[string]int{"q": 1}, nil))
		mustLogin(t, e, "a", at(0))
		if err := e.ExtendWrapUp("a", time.Minute, at(1)); !errors.Is(err, ErrInvalidState) {
			t.Fatalf("extend while available: %v", err)
		}
		e.Arrive(Call{ID: "c1"}, at(1))
		e.Answered("c1", "a", at(2))
		e.Ended("c1", at(3))
		if err := e.ExtendWrapUp("a", 0, at(4)); !errors.Is(err, ErrInvalidState) {
			t.Fatalf("extend by 0: %v", err)
		}
		if err := e.ExtendWrapUp("zz", time.Minute, at(4)); !errors.Is(err, ErrUnknownAgent) {
			t.Fatalf("unknown agent: %v", err)
		}
		if d, _ := e.NextDeadline(); !d.Equal(at(33)) {
			t.Fatalf("wrap-up ends %v", d)
		}
	})
}

// TestEstimatedWait checks the documented estimate: position × AHT ÷
// staffed members, AHT an EWMA (1/8) of talk + wrap-up, 3 minutes before
// any call, unknown (0) with nobody staffed.
func TestEstimatedWait(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "q", WrapUp: 20 * time.Second, AnnounceEvery: time.Minute},
		agent("a", map[string]int{"q": 1}, nil), agent("b", map[string]int{"q": 1}, nil), agent("c", map[string]int{"q": 1}, nil))
	est := func(ds []Decision) time.Duration {
		an, ok := has[Announce](ds)
		if !ok {
			t.Fatalf("no announcement: %+v", ds)
		}
		return an.EstimatedWait
	}
	ds, _ := e.Arrive(Call{ID: "w1"}, at(0))
	if got := est(ds); got != 0 {
		t.Fatalf("nobody staffed: %s", got)
	}
	mustLogin(t, e, "a", at(1)) // a takes w1
	mustLogin(t, e, "b", at(1))
	e.SetNotReady("b", "break", at(1)) // paused: not staffed
	e.Answered("w1", "a", at(2))
	ds, _ = e.Arrive(Call{ID: "w2"}, at(3))
	if got := est(ds); got != 3*time.Minute {
		t.Fatalf("no call handled yet, 1 staffed, position 1: %s, want 3m", got)
	}
	e.Ended("w1", at(102)) // handle 100 s talk + 20 s wrap-up = 120 s
	mustLogin(t, e, "c", at(102))
	e.Answered("w2", "c", at(103))
	ds, _ = e.Arrive(Call{ID: "w3"}, at(104))
	ds2, _ := e.Arrive(Call{ID: "w4"}, at(105))
	// 2 staffed (a in wrap-up, c on a call); AHT 120 s.
	if got := est(ds); got != 60*time.Second {
		t.Fatalf("position 1: %s, want 60s", got)
	}
	if got := est(ds2); got != 120*time.Second {
		t.Fatalf("position 2: %s, want 120s", got)
	}
	e.Ended("w2", at(103+280)) // 280 s + 20 s = 300 s: AHT 120 + (300-120)/8 = 142.5 s
	if got := e.Queues()[0].EstimatedWait; got != time.Duration(3*142.5*float64(time.Second)/2) {
		t.Fatalf("after a long call, position 3: %s, want %s", got, time.Duration(3*142.5*float64(time.Second)/2))
	}
}
