package routing

import (
	"testing"
	"time"
)

// offersIn lists the call→agent offers among decisions.
func offersIn(ds []Decision) map[string]string {
	out := map[string]string{}
	for _, d := range ds {
		if o, ok := d.(Offer); ok {
			out[o.CallID] = o.AgentID
		}
	}
	return out
}

// TestEnqueueResumed: a resumed call keeps its place and its skill
// requirement, and an owned call goes only to its owner until the
// deadline, then to any agent, without holding up the calls behind it.
func TestEnqueueResumed(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	agents := []Agent{
		{ID: "alice", Endpoint: "a", Skills: map[string]int{"fr": 3}, Queues: map[string]int{"q": 1}},
		{ID: "bob", Endpoint: "b", Skills: map[string]int{"fr": 8}, Queues: map[string]int{"q": 1}},
	}
	type step struct {
		at     time.Duration // after t0
		login  string        // agent who logs in (becomes available)
		offers map[string]string
	}
	cases := []struct {
		name  string
		entry Resume
		steps []step
	}{
		{"owner first, others not held up", Resume{Since: t0.Add(-time.Minute), Agent: "alice", AgentUntil: t0.Add(10 * time.Minute)}, []step{
			{at: 0, login: "bob", offers: map[string]string{"later": "bob"}},
			{at: time.Minute, login: "alice", offers: map[string]string{"cb": "alice"}},
		}},
		{"required skills kept", Resume{Since: t0.Add(-time.Minute), Require: map[string]int{"fr": 5}}, []step{
			{at: 0, login: "alice", offers: map[string]string{"later": "alice"}},
			{at: time.Minute, login: "bob", offers: map[string]string{"cb": "bob"}},
		}},
		{"place kept ahead of a later caller", Resume{Since: t0.Add(-time.Minute)}, []step{
			{at: 0, login: "bob", offers: map[string]string{"cb": "bob"}},
		}},
		{"past deadline: no owner", Resume{Since: t0.Add(-time.Minute), Agent: "alice", AgentUntil: t0.Add(-time.Second)}, []step{
			{at: 0, login: "bob", offers: map[string]string{"cb": "bob"}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(&Config{Queues: []QueueConfig{{Name: "q", Strategy: StrategyLongestIdle}}})
			for _, a := range agents {
				e.UpsertAgent(a, t0)
			}
			// A caller who arrived after the entry's place, then the entry.
			if _, err := e.Enqueue(Call{ID: "later"}, "q", 0, t0.Add(-30*time.Second), t0); err != nil {
				t.Fatal(err)
			}
			if _, err := e.EnqueueResumed(Call{ID: "cb"}, "q", tc.entry, t0); err != nil {
				t.Fatal(err)
			}
			if w := e.Waiting("q"); len(w) != 2 || w[0].CallID != "cb" {
				t.Fatalf("queue order %+v, want the entry first", w)
			}
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				var ds []Decision
				if s.login != "" {
					var err error
					if ds, err = e.Login(s.login, now); err != nil {
						t.Fatal(err)
					}
				}
				got := offersIn(ds)
				if len(got) != len(s.offers) {
					t.Fatalf("step %d: offers %v, want %v", i, got, s.offers)
				}
				for c, a := range s.offers {
					if got[c] != a {
						t.Fatalf("step %d: offers %v, want %v", i, got, s.offers)
					}
				}
			}
		})
	}
}

// TestOwnedDeadlineOffersQueue: at the deadline, a free agent other than
// the owner is offered the entry by Tick, and NextDeadline names the
// deadline so the controller's timer wakes for it.
func TestOwnedDeadlineOffersQueue(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	e := NewEngine(&Config{Queues: []QueueConfig{{Name: "q"}}})
	e.UpsertAgent(Agent{ID: "bob", Endpoint: "b", Queues: map[string]int{"q": 1}}, t0)
	if _, err := e.Login("bob", t0); err != nil {
		t.Fatal(err)
	}
	until := t0.Add(5 * time.Minute)
	ds, err := e.EnqueueResumed(Call{ID: "cb"}, "q", Resume{Since: t0, Agent: "alice", AgentUntil: until}, t0)
	if err != nil || len(offersIn(ds)) != 0 {
		t.Fatalf("offered before the deadline: %v %v", ds, err)
	}
	if at, ok := e.NextDeadline(); !ok || !at.Equal(until) {
		t.Fatalf("next deadline %v %v, want %v", at, ok, until)
	}
	if got := offersIn(e.Tick(until.Add(-time.Second))); len(got) != 0 {
		t.Fatalf("offered early: %v", got)
	}
	if got := offersIn(e.Tick(until)); got["cb"] != "bob" {
		t.Fatalf("at the deadline: %v", got)
	}
}

// TestEntryRequirement: the entry rule's skills are what a callback
// entry keeps for the caller.
func TestEntryRequirement(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	cfg, err := ParseRules("r.yaml", []byte(`
queues: [{name: q}]
entry:
  - {when: 'dialed == "1"', queue: q, require: {fr: 6}}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(cfg)
	if _, err := e.Arrive(Call{ID: "c", DialedNumber: "1"}, t0); err != nil {
		t.Fatal(err)
	}
	req := e.EntryRequirement("c")
	if req["fr"] != 6 || len(req) != 1 {
		t.Fatalf("requirement %v", req)
	}
	req["fr"] = 1 // a copy: the engine's own is untouched
	if e.EntryRequirement("c")["fr"] != 6 || e.EntryRequirement("nobody") != nil {
		t.Fatal("not a copy, or an unknown call has one")
	}
}

// TestResumedOfferTimeout: a resumed call's own offer timeout replaces the
// queue's, so a callback's offer is not withdrawn while the customer rings.
func TestResumedOfferTimeout(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	e := NewEngine(&Config{Queues: []QueueConfig{{Name: "q", OfferTimeout: 15 * time.Second}}})
	e.UpsertAgent(Agent{ID: "bob", Endpoint: "b", Queues: map[string]int{"q": 1}}, t0)
	if _, err := e.Login("bob", t0); err != nil {
		t.Fatal(err)
	}
	ds, err := e.EnqueueResumed(Call{ID: "cb"}, "q", Resume{Since: t0, OfferTimeout: time.Minute}, t0)
	if err != nil {
		t.Fatal(err)
	}
	var offer Offer
	for _, d := range ds {
		if o, ok := d.(Offer); ok {
			offer = o
		}
	}
	if offer.CallID != "cb" || offer.Timeout != time.Minute {
		t.Fatalf("offer %+v", offer)
	}
	for _, d := range e.Tick(t0.Add(30 * time.Second)) {
		if _, ok := d.(Withdraw); ok {
			t.Fatalf("withdrawn at the queue's timeout: %+v", d)
		}
	}
	var withdrawn bool
	for _, d := range e.Tick(t0.Add(time.Minute)) {
		_, ok := d.(Withdraw)
		withdrawn = withdrawn || ok
	}
	if !withdrawn {
		t.Fatal("not withdrawn at its own timeout")
	}
}
