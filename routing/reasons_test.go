package routing

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The reasons are built without fmt on the hot path; they must read
// exactly as the fmt formats they replaced (traces are stored and shown
// by `call show`, and tests and people compare them).
func TestOfferReasonsMatchFmt(t *testing.T) {
	ag := &agentState{def: Agent{ID: "a0042", Skills: map[string]int{"fr": 7, "es": 3, "q": 4}, Queues: map[string]int{"q": 3}},
		handled: 12, talk: 1*time.Hour + 2*time.Minute + 3500*time.Millisecond, idleSince: time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("x", 3600))}
	req := map[string]int{"fr": 5, "es": 1}
	for _, tc := range []struct {
		strategy Strategy
		req      map[string]int
		want     string
	}{
		{StrategyFewestCalls, req, fmt.Sprintf("fewest calls: %s has handled %d", ag.def.ID, ag.handled)},
		{StrategyLeastTalk, req, fmt.Sprintf("least talk time: %s has talked %s", ag.def.ID, ag.talk)},
		{StrategyTopDown, req, fmt.Sprintf("top-down: %s is first in order (%d)", ag.def.ID, 3)},
		{StrategyRoundRobin, req, fmt.Sprintf("round-robin: %s is next in turn", ag.def.ID)},
		{StrategyBestSkill, req, fmt.Sprintf("best skill: %s scores %d", ag.def.ID, 10)},
		{StrategyBestSkill, nil, fmt.Sprintf("best skill: %s scores %d", ag.def.ID, 4)},
		{StrategyRandom, req, fmt.Sprintf("random: %s drawn", ag.def.ID)},
		{StrategyLongestIdle, req, fmt.Sprintf("longest idle: %s available since %s", ag.def.ID, ag.idleSince.UTC().Format(time.RFC3339))},
	} {
		t.Run(string(tc.strategy), func(t *testing.T) {
			q := &queueState{cfg: &QueueConfig{Name: "q", Strategy: tc.strategy}}
			if got := offerReason(q, ag, tc.req); got != tc.want {
				t.Errorf("offerReason = %q, want %q", got, tc.want)
			}
		})
	}
	if got, want := ringAllReason(17), fmt.Sprintf("ring-all: %d available agents rung at once; the first to answer wins", 17); got != want {
		t.Errorf("ringAllReason = %q, want %q", got, want)
	}
	if got, want := randomReason("bob", 250), fmt.Sprintf("random: %s drawn from %d", "bob", 250); got != want {
		t.Errorf("randomReason = %q, want %q", got, want)
	}
	for _, w := range []time.Duration{0, 42 * time.Second, 3*time.Hour + 5*time.Second} {
		want := fmt.Sprintf("agent %s became available: first eligible call in its queues by their order (%s is its priority %d) and then by wait (waited %s, call priority %d)",
			"a1", "sales", 2, w, -1)
		if got := availableReason("a1", "sales", 2, w, -1); got != want {
			t.Errorf("availableReason = %q, want %q", got, want)
		}
	}
	// Ids longer than the stack buffer spill to the heap and stay whole.
	long := &agentState{def: Agent{ID: fmt.Sprint(make([]int, 200))}}
	q := &queueState{cfg: &QueueConfig{Name: "q", Strategy: StrategyRoundRobin}}
	if got, want := offerReason(q, long, nil), "round-robin: "+long.def.ID+" is next in turn"; got != want {
		t.Errorf("long id: got %q, want %q", got, want)
	}
}

func TestAppendDurationMatchesString(t *testing.T) {
	ds := []time.Duration{0, 1, -1, 999, 1000, 1001, 1500, 999999, time.Millisecond, 1500 * time.Microsecond,
		999999999, time.Second, -time.Second, 1500 * time.Millisecond, time.Minute, 61 * time.Second,
		time.Hour, time.Hour + time.Nanosecond, 100*time.Hour + 59*time.Minute + 59*time.Second,
		math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10000; i++ {
		// Every magnitude: nanoseconds to centuries, both signs.
		d := time.Duration(rng.Int64N(int64(1) << uint(rng.IntN(63))))
		if rng.IntN(2) == 0 {
			d = -d
		}
		ds = append(ds, d, d.Round(time.Second), d.Round(time.Millisecond))
	}
	for _, d := range ds {
		if got, want := string(appendDuration([]byte("x"), d)), "x"+d.String(); got != want {
			t.Fatalf("appendDuration(%d) = %q, want %q", int64(d), got, want)
		}
	}
}
