package routing

import (
	"testing"
	"time"
)

// dialAheads lists the DialAhead decisions among ds.
func dialAheads(ds []Decision) []DialAhead {
	var out []DialAhead
	for _, d := range ds {
		if v, ok := d.(DialAhead); ok {
			out = append(out, v)
		}
	}
	return out
}

// leadRig is an engine with queue q (30 s wrap-up unless said) and agents
// alice and bob serving it.
type leadRig struct {
	t  *testing.T
	e  *Engine
	t0 time.Time
}

func newLeadRig(t *testing.T, wrap time.Duration) *leadRig {
	t.Helper()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	cfg := &Config{Queues: []QueueConfig{{Name: "q", Strategy: StrategyLongestIdle, WrapUp: wrap, OfferTimeout: time.Minute}},
		Agents: []Agent{
			{ID: "alice", Endpoint: "a", Skills: map[string]int{"fr": 5}, Queues: map[string]int{"q": 1}},
			{ID: "bob", Endpoint: "b", Skills: map[string]int{"fr": 1}, Queues: map[string]int{"q": 1}},
		}}
	return &leadRig{t: t, e: NewEngine(cfg), t0: t0}
}

func (r *leadRig) at(d time.Duration) time.Time { return r.t0.Add(d) }

func (r *leadRig) must(ds []Decision, err error) []Decision {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
	return ds
}

// talk logs agent in, gives it call id at now (answered) and returns.
func (r *leadRig) talk(agent, id string, now time.Time) {
	r.t.Helper()
	r.must(r.e.Login(agent, now))
	ds := r.must(r.e.Arrive(Call{ID: id, Vars: map[string]string{}}, now))
	if got := offersIn(ds)[id]; got != agent {
		r.t.Fatalf("call %s offered to %q, want %s (%v)", id, got, agent, ds)
	}
	r.e.Answered(id, agent, now)
}

// entry enqueues a lead-time callback entry.
func (r *leadRig) entry(id string, lead time.Duration, since, now time.Time, req map[string]int, prio int) []Decision {
	r.t.Helper()
	return r.must(r.e.EnqueueResumed(Call{ID: id}, "q", Resume{Since: since, Priority: prio, Require: req, LeadTime: lead}, now))
}

// expectAhead checks ds holds exactly the wanted dial-aheads (call→agent).
func (r *leadRig) expectAhead(what string, ds []Decision, want map[string]string) {
	r.t.Helper()
	got := map[string]string{}
	for _, d := range dialAheads(ds) {
		got[d.CallID] = d.Agent
	}
	if len(got) != len(want) {
		r.t.Fatalf("%s: dial-aheads %v, want %v", what, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			r.t.Fatalf("%s: dial-aheads %v, want %v", what, got, want)
		}
	}
}

// TestDialAheadWrapUpBoundary: an agent in wrap-up is predicted free when
// its remaining wrap-up is at most the lead time — not a nanosecond before.
func TestDialAheadWrapUpBoundary(t *testing.T) {
	const lead = 20 * time.Second
	r := newLeadRig(t, 30*time.Second)
	r.talk("alice", "c1", r.t0)
	r.e.Ended("c1", r.at(time.Minute)) // wrap-up until 1m30s
	r.expectAhead("entry, wrap-up 30s left", r.entry("cb", lead, r.t0, r.at(time.Minute), nil, 0), nil)
	if when, ok := r.e.NextDeadline(); !ok || !when.Equal(r.at(70*time.Second)) {
		t.Fatalf("next deadline %v %v, want the lead check at 1m10s (wrap-up end − lead)", when, ok)
	}
	r.expectAhead("L+1ns before free", r.e.Tick(r.at(70*time.Second-time.Nanosecond)), nil)
	ds := r.e.Tick(r.at(70 * time.Second))
	r.expectAhead("L before free", ds, map[string]string{"cb": "alice"})
	if d := dialAheads(ds)[0]; d.Remaining != lead || d.Queue != "q" || d.Reason == "" {
		t.Fatalf("dial ahead %+v", d)
	}
	if w := r.e.Waiting("q"); len(w) != 1 || w[0].CallID != "cb" {
		t.Fatalf("the entry must keep waiting in its place: %+v", w)
	}
	// Nothing more is dialled for it while it waits.
	r.expectAhead("later tick", r.e.Tick(r.at(80*time.Second)), nil)
	// The agent frees up: the entry, still at the front, gets it; the
	// earmark goes.
	ds = r.e.Tick(r.at(90 * time.Second))
	if got := offersIn(ds)["cb"]; got != "alice" {
		t.Fatalf("at the end of wrap-up the entry is offered to %q, want alice (%v)", got, ds)
	}
	if ag, dialled := r.e.DialAheadOf("cb"); ag != "" || !dialled {
		t.Fatalf("after the offer: earmark %q dialled %v, want none, true", ag, dialled)
	}
}

// TestDialAheadOnCall: an agent on a call is predicted free at the
// queue's average handle time (talk + wrap-up) after it answered, but
// never sooner than its wrap-up; no average yet, no prediction.
func TestDialAheadOnCall(t *testing.T) {
	const lead = 20 * time.Second
	cases := []struct {
		name  string
		wrap  time.Duration
		prime bool          // handle one call first so the queue has an AHT
		at    time.Duration // first time (after the second call's answer) the entry is dialled; 0 = never
	}{
		{"AHT 60s, wrap-up 5s: at 40s", 5 * time.Second, true, 40 * time.Second},
		{"wrap-up longer than the lead: not while on the call", 25 * time.Second, true, 0},
		{"no AHT yet: no prediction", 5 * time.Second, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newLeadRig(t, tc.wrap)
			start := r.t0
			if tc.prime {
				// One handled call: talk 60s − wrap, so AHT = 60s.
				r.talk("alice", "c0", r.t0)
				r.e.Ended("c0", r.t0.Add(time.Minute-tc.wrap))
				r.e.Tick(r.t0.Add(time.Minute)) // wrap-up ends, alice free
				start = r.t0.Add(2 * time.Minute)
				ds := r.must(r.e.Arrive(Call{ID: "c1"}, start))
				if offersIn(ds)["c1"] != "alice" {
					t.Fatalf("c1 not offered to alice: %v", ds)
				}
				r.e.Answered("c1", "alice", start)
			} else {
				r.talk("alice", "c1", start)
			}
			r.expectAhead("entry", r.entry("cb", lead, r.t0, start, nil, 0), nil)
			if tc.at == 0 {
				r.expectAhead("much later", r.e.Tick(start.Add(10*time.Minute)), nil)
				return
			}
			r.expectAhead("1ns early", r.e.Tick(start.Add(tc.at-time.Nanosecond)), nil)
			ds := r.e.Tick(start.Add(tc.at))
			r.expectAhead("on time", ds, map[string]string{"cb": "alice"})
			if d := dialAheads(ds)[0]; d.Remaining != lead {
				t.Fatalf("remaining %s, want %s", d.Remaining, lead)
			}
		})
	}
}

// TestDialAheadOnlyAtTheFront: nobody ahead of the entry who could take
// the predicted agent; someone ahead who could not take it does not stop
// the dial; a caller ahead leaving starts it.
func TestDialAheadOnlyAtTheFront(t *testing.T) {
	const lead = 20 * time.Second
	r := newLeadRig(t, 10*time.Second)
	r.talk("alice", "c1", r.t0)
	r.e.Ended("c1", r.at(time.Minute)) // wrap-up 10s left: within the lead
	now := r.at(time.Minute)
	// A caller ahead who needs a skill alice lacks does not hold it up…
	r.must(r.e.EnqueueResumed(Call{ID: "picky"}, "q", Resume{Since: r.t0.Add(-time.Hour), Require: map[string]int{"de": 1}}, now))
	// …a caller ahead alice could take does.
	r.must(r.e.Enqueue(Call{ID: "early"}, "q", 0, r.t0.Add(-time.Minute), now))
	r.expectAhead("someone ahead", r.entry("cb", lead, r.t0, now, nil, 0), nil)
	r.expectAhead("still ahead", r.e.Tick(r.at(65*time.Second)), nil)
	r.expectAhead("the caller ahead hangs up", r.e.Abandoned("early", r.at(66*time.Second)), map[string]string{"cb": "alice"})
}

// TestDialAheadOncePerAgent: a predicted agent starts one dial ahead; an
// entry that jumps ahead (priority) does not dial the same agent again,
// but may dial another agent predicted free for it.
func TestDialAheadOncePerAgent(t *testing.T) {
	const lead = 20 * time.Second
	r := newLeadRig(t, 10*time.Second)
	r.talk("alice", "c1", r.t0)
	now := r.at(time.Minute)
	r.e.Ended("c1", now) // AHT 70s; alice in wrap-up for 10s
	r.talk("bob", "c2", now)
	r.expectAhead("first entry", r.entry("cb1", lead, r.t0, now, nil, 0), map[string]string{"cb1": "alice"})
	// cb2 is ahead of cb1 (priority) and alice would take it, but alice is
	// earmarked; bob, who just answered (70s to go), is not predicted.
	r.expectAhead("second entry", r.entry("cb2", lead, r.t0, now, nil, 5), nil)
	if ag, dialled := r.e.DialAheadOf("cb1"); ag != "alice" || !dialled {
		t.Fatalf("cb1 earmark %q dialled %v", ag, dialled)
	}
	// bob goes into wrap-up: predicted free for cb2 (it is ahead of cb1).
	r.expectAhead("bob in wrap-up", r.e.Ended("c2", r.at(61*time.Second)), map[string]string{"cb2": "bob"})
	// A dial ahead that ends without the customer frees the earmark and lets
	// the entry be dialled ahead again (it kept its place).
	ds := r.e.CancelDialAhead("cb1", r.at(62*time.Second))
	r.expectAhead("after cancel", ds, map[string]string{})
	if ag, dialled := r.e.DialAheadOf("cb1"); ag != "" || dialled {
		t.Fatalf("after cancel: earmark %q dialled %v", ag, dialled)
	}
}

// TestDialAheadNotForPausedAgents: an agent who asked for a pause after
// its call, or is logged out or paused, is predicted nothing.
func TestDialAheadNotForPausedAgents(t *testing.T) {
	r := newLeadRig(t, 10*time.Second)
	r.e.cfg.NotReadyReasons = []ReasonCode{{Code: "lunch"}}
	r.talk("alice", "c1", r.t0)
	r.must(r.e.SetNotReady("alice", "lunch", r.at(time.Second)))
	r.e.Ended("c1", r.at(time.Minute))
	r.expectAhead("pausing agent", r.entry("cb", time.Hour, r.t0, r.at(time.Minute), nil, 0), nil)
}

// TestDialAheadReload: a reload keeps an earmark whose agent still serves
// the entry's queue, drops it when the agent left the queue, and never
// dials an entry twice.
func TestDialAheadReload(t *testing.T) {
	const lead = 20 * time.Second
	for _, leaves := range []bool{false, true} {
		r := newLeadRig(t, 10*time.Second)
		r.talk("alice", "c1", r.t0)
		now := r.at(time.Minute)
		r.e.Ended("c1", now)
		r.expectAhead("entry", r.entry("cb", lead, r.t0, now, nil, 0), map[string]string{"cb": "alice"})
		cfg := *r.e.Config()
		cfg.Agents = []Agent{{ID: "alice", Endpoint: "a", Skills: map[string]int{"fr": 5}, Queues: map[string]int{"q": 1}}}
		if leaves {
			cfg.Queues = append(cfg.Queues, QueueConfig{Name: "other"})
			cfg.Agents[0].Queues = map[string]int{"other": 1}
		}
		ds, err := r.e.Reload(&cfg, r.at(61*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		r.expectAhead("reload", ds, nil)
		ag, dialled := r.e.DialAheadOf("cb")
		if want := map[bool]string{false: "alice", true: ""}[leaves]; ag != want || !dialled {
			t.Fatalf("agent leaves %v: earmark %q dialled %v, want %q, true", leaves, ag, dialled, want)
		}
		r.expectAhead("tick after reload", r.e.Tick(r.at(65*time.Second)), nil)
	}
}

// TestNoLeadTimeNoDialAhead: entries without a lead time (and callers)
// never get a DialAhead.
func TestNoLeadTimeNoDialAhead(t *testing.T) {
	r := newLeadRig(t, 10*time.Second)
	r.talk("alice", "c1", r.t0)
	r.e.Ended("c1", r.at(time.Minute))
	r.expectAhead("no lead", r.entry("cb", 0, r.t0, r.at(time.Minute), nil, 0), nil)
	r.expectAhead("tick", r.e.Tick(r.at(65*time.Second)), nil)
}
