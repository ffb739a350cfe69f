package routing

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// offerSet keeps one offer inline and moves to a map on a second: every
// step of that must read the same as the map it replaced.
func TestOfferSet(t *testing.T) {
	type op struct {
		add    string // agent to offer (with the next token), or
		remove string // agent to withdraw
	}
	for _, tc := range []struct {
		name string
		ops  []op
		want map[string]uint64
	}{
		{"empty", nil, map[string]uint64{}},
		{"one", []op{{add: "b"}}, map[string]uint64{"b": 1}},
		{"renewed", []op{{add: "b"}, {add: "b"}}, map[string]uint64{"b": 2}},
		{"one removed", []op{{add: "b"}, {remove: "b"}}, map[string]uint64{}},
		{"other removed", []op{{add: "b"}, {remove: "c"}}, map[string]uint64{"b": 1}},
		{"empty id", []op{{add: ""}}, map[string]uint64{"": 1}},
		{"two", []op{{add: "c"}, {add: "a"}}, map[string]uint64{"a": 2, "c": 1}},
		{"ring-all", []op{{add: "c"}, {add: "a"}, {add: "b"}, {remove: "a"}}, map[string]uint64{"b": 3, "c": 1}},
		{"all gone", []op{{add: "c"}, {add: "a"}, {remove: "a"}, {remove: "c"}}, map[string]uint64{}},
		{"again after empty", []op{{add: "c"}, {remove: "c"}, {add: "d"}}, map[string]uint64{"d": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s offerSet
			tok := uint64(0)
			for _, o := range tc.ops {
				if o.remove != "" {
					s.remove(o.remove)
					continue
				}
				tok++
				s.add(o.add, tok)
			}
			if s.count() != len(tc.want) {
				t.Errorf("count = %d, want %d", s.count(), len(tc.want))
			}
			for _, id := range []string{"", "a", "b", "c", "d"} {
				want, ok := tc.want[id]
				if s.tokenOf(id) != want || s.has(id) != ok {
					t.Errorf("%q: token %d has %v, want %d %v", id, s.tokenOf(id), s.has(id), want, ok)
				}
			}
			var wantIDs []string
			for id := range tc.want {
				wantIDs = append(wantIDs, id)
			}
			slices.Sort(wantIDs)
			if got := s.sortedIDs([]string{"keep"}); !slices.Equal(got[1:], wantIDs) || got[0] != "keep" {
				t.Errorf("sortedIDs = %q, want keep + %q", got, wantIDs)
			}
		})
	}
}

// Traces' Considered lists are cut from a shared chunk: across many
// offers (more than a chunk holds) each keeps its own ids, and a reader
// appending to one does not write over the next offer's list.
func TestConsideredListsStayApart(t *testing.T) {
	var ags []Agent
	for i := 0; i < 8; i++ {
		ags = append(ags, agent(fmt.Sprintf("a%d", i), map[string]int{"support": 1}, nil))
	}
	e := newTestEngine(t, QueueConfig{Name: "support"}, ags...)
	for i, a := range ags {
		mustLogin(t, e, a.ID, at(i))
	}
	var traces []Trace
	var want [][]string
	for i := 0; i < 3*idSlabSize; i++ {
		now := at(100 + i)
		id := fmt.Sprintf("c%d", i)
		ds, err := e.Arrive(Call{ID: id}, now)
		if err != nil {
			t.Fatal(err)
		}
		o := offers(ds)
		if len(o) != 1 {
			t.Fatalf("call %d: offers %+v", i, o)
		}
		traces = append(traces, o[0].Trace)
		want = append(want, slices.Clone(o[0].Trace.Considered))
		e.Abandoned(id, now)
	}
	for _, tr := range traces {
		// A reader extending a list must not reach the next one.
		_ = append(tr.Considered, "intruder")
	}
	for i, tr := range traces {
		if len(tr.Considered) == 0 || !slices.Equal(tr.Considered, want[i]) {
			t.Fatalf("offer %d: considered %q, want %q", i, tr.Considered, want[i])
		}
	}
	// The lists name the free agents best first (longest idle): five of
	// the eight, the offered one first.
	if got := traces[0].Considered; len(got) != maxTraceConsidered || got[0] != "a0" {
		t.Errorf("first offer considered %q", got)
	}
}

// Decision slices are cut from a shared chunk: a caller keeping them
// across later calls (the controller feeds the engine while applying a
// slice) sees each unchanged, and appending to one does not write over
// the next.
func TestDecisionSlicesStayApart(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support"},
		agent("a", map[string]int{"support": 1}, nil), agent("b", map[string]int{"support": 1}, nil))
	mustLogin(t, e, "a", at(0))
	mustLogin(t, e, "b", at(1))
	var kept, want [][]Decision
	keep := func(ds []Decision) {
		kept = append(kept, ds)
		want = append(want, slices.Clone(ds))
	}
	for i := 0; i < decSlabSize; i++ {
		now := at(10 + i)
		id := fmt.Sprintf("c%d", i)
		ds, err := e.Arrive(Call{ID: id}, now)
		if err != nil {
			t.Fatal(err)
		}
		keep(ds)
		o := offers(ds)
		if len(o) != 1 {
			t.Fatalf("call %d: offers %+v", i, o)
		}
		if i%2 == 0 {
			keep(e.Abandoned(id, now))
			continue
		}
		keep(e.Answered(id, o[0].AgentID, now))
		keep(e.Ended(id, now))
	}
	for _, ds := range kept {
		// More than the room a slice is cut with.
		_ = append(ds, slices.Repeat([]Decision{Withdraw{CallID: "intruder"}}, decisionsCap)...)
	}
	for i, ds := range kept {
		if len(ds) == 0 || !reflect.DeepEqual(ds, want[i]) {
			t.Fatalf("slice %d: %+v, want %+v", i, ds, want[i])
		}
	}
}
