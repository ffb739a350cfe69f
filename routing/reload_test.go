package routing

import (
	"fmt"
	"testing"
	"time"
)

func decisionsOf[T Decision](ds []Decision) []T {
	var out []T
	for _, d := range ds {
		if v, ok := d.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestReloadWhileRingingRecomputesSteps: a call ringing an agent during a
// reload gets the new version's steps from its wait, not the old
// version's step timers applied to the new steps by index (the old step 2
// at 30 s fired the new step 2, an overflow meant for 200 s).
func TestReloadWhileRingingRecomputesSteps(t *testing.T) {
	v1 := &Config{Queues: []QueueConfig{
		{Name: "billing", OfferTimeout: time.Hour, Steps: []Step{
			{After: 0, Require: map[string]int{"billing": 5}},
			{After: 30 * time.Second, Require: map[string]int{"billing": 1}},
			{After: 90 * time.Second, OverflowTo: "general"},
		}},
		{Name: "general"},
	}}
	e := mustEngine(t, v1)
	e.UpsertAgent(agent("a", map[string]int{"billing": 1}, map[string]int{"billing": 5}), at(0))
	mustLogin(t, e, "a", at(0))
	if ds, _ := e.Arrive(Call{ID: "c"}, at(5)); len(offers(ds)) != 1 {
		t.Fatalf("not offered: %+v", ds)
	}
	v2 := &Config{Queues: []QueueConfig{
		{Name: "billing", Steps: []Step{
			{After: 0, Require: map[string]int{"billing": 5}},
			{After: 200 * time.Second, OverflowTo: "general"},
		}},
		{Name: "general"},
	}}
	if _, err := e.Reload(v2, at(10)); err != nil {
		t.Fatal(err)
	}
	for s := 11; s < 205; s++ {
		ds := e.Tick(at(s))
		if ov := decisionsOf[Overflow](ds); len(ov) > 0 {
			t.Fatalf("overflowed after %d s of wait, want 200 s", s-5)
		}
	}
	ds := e.Tick(at(205))
	if ov, ok := has[Overflow](ds); !ok || ov.To != "general" {
		t.Fatalf("no overflow at 200 s of wait: %+v", ds)
	}
}

// TestReloadKeepsAnnouncementCadence: a reload does not make every
// waiting caller hear an announcement at once; the next one comes when it
// was due.
func TestReloadKeepsAnnouncementCadence(t *testing.T) {
	cfg := &Config{Queues: []QueueConfig{{Name: "q", AnnounceEvery: 60 * time.Second}}}
	e := mustEngine(t, cfg)
	for i := 0; i < 3; i++ {
		ds, _ := e.Arrive(Call{ID: fmt.Sprint("c", i)}, at(i))
		if len(decisionsOf[Announce](ds)) != 1 {
			t.Fatalf("no announcement on joining: %+v", ds)
		}
	}
	ds, err := e.Reload(&Config{Queues: []QueueConfig{{Name: "q", AnnounceEvery: 60 * time.Second, WrapUp: time.Second}}}, at(30))
	if err != nil {
		t.Fatal(err)
	}
	if an := decisionsOf[Announce](ds); len(an) != 0 {
		t.Fatalf("reload announced %+v", an)
	}
	if an := decisionsOf[Announce](e.Tick(at(59))); len(an) != 0 {
		t.Fatalf("early %+v", an)
	}
	if an := decisionsOf[Announce](e.Tick(at(60))); len(an) != 1 || an[0].CallID != "c0" || an[0].Position != 1 {
		t.Fatalf("at 60 s: %+v", an)
	}
	if an := decisionsOf[Announce](e.Tick(at(62))); len(an) != 2 {
		t.Fatalf("at 62 s: %+v", an)
	}
	// A version that announces more often brings the next one forward.
	if _, err := e.Reload(&Config{Queues: []QueueConfig{{Name: "q", AnnounceEvery: 10 * time.Second}}}, at(70)); err != nil {
		t.Fatal(err)
	}
	if an := decisionsOf[Announce](e.Tick(at(80))); len(an) != 3 {
		t.Fatalf("at 80 s: %+v", an)
	}
}

// TestAnnouncementsResumeAfterRONA: an announcement due while the call
// rang is skipped, not lost for good: the call hears the next ones once
// it waits again.
func TestAnnouncementsResumeAfterRONA(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "q", AnnounceEvery: 30 * time.Second, OfferTimeout: 40 * time.Second, MaxMisses: 0},
		agent("a", map[string]int{"q": 1}, nil))
	e.Arrive(Call{ID: "c"}, at(0))
	mustLogin(t, e, "a", at(10)) // rings 10 → 50 s
	if an := decisionsOf[Announce](e.Tick(at(30))); len(an) != 0 {
		t.Fatalf("announced while ringing: %+v", an)
	}
	e.Logout("a", at(45)) // withdrawn: the call waits again
	if an := decisionsOf[Announce](e.Tick(at(60))); len(an) != 1 {
		t.Fatal("announcements stopped after the call rang")
	}
}

// TestReloadLeavesConnectedCallsAlone: a connected call whose queue the
// new version removes is not moved (no Overflow, no Queued: it waits
// nowhere), and its agent wraps up with the wrap-up of the queue that
// answered it.
func TestReloadLeavesConnectedCallsAlone(t *testing.T) {
	e := mustEngine(t, &Config{Queues: []QueueConfig{{Name: "support", WrapUp: 30 * time.Second}, {Name: "general"}}})
	e.UpsertAgent(agent("a", map[string]int{"support": 1}, nil), at(0))
	mustLogin(t, e, "a", at(0))
	e.Arrive(Call{ID: "talking"}, at(1))
	e.Answered("talking", "a", at(2))
	e.Arrive(Call{ID: "waiting"}, at(3))
	ds, err := e.Reload(&Config{Queues: []QueueConfig{{Name: "general", WrapUp: time.Second}}}, at(4))
	if err != nil {
		t.Fatal(err)
	}
	var moved []string
	for _, d := range ds {
		switch v := d.(type) {
		case Overflow:
			moved = append(moved, "overflow "+v.CallID+" "+v.From+"→"+v.To)
		case Queued:
			moved = append(moved, "queued "+v.CallID+" "+v.Queue)
		}
	}
	if fmt.Sprint(moved) != "[overflow waiting support→general queued waiting general]" {
		t.Fatalf("decisions %v", moved)
	}
	ds = e.Ended("talking", at(60))
	if sc, ok := has[AgentStateChanged](ds); !ok || sc.To != StateWrapUp {
		t.Fatalf("end: %+v", ds)
	}
	if d, _ := e.NextDeadline(); !d.Equal(at(90)) {
		t.Fatalf("wrap-up ends %v, want %v (support's 30 s)", d, at(90))
	}
}

// TestReloadReordersByTheNewPriorityStep: a waiting call's place is its
// enqueue time less its priority credit under the new version.
func TestReloadReordersByTheNewPriorityStep(t *testing.T) {
	e := mustEngine(t, &Config{Queues: []QueueConfig{{Name: "q", PriorityStep: time.Minute}}})
	e.Enqueue(Call{ID: "old"}, "q", 0, at(0), at(0))
	e.Enqueue(Call{ID: "vip"}, "q", 1, at(30), at(30))
	order := func() string {
		var ids []string
		for _, w := range e.Waiting("q") {
			ids = append(ids, w.CallID)
		}
		return fmt.Sprint(ids)
	}
	if got := order(); got != "[vip old]" {
		t.Fatalf("before %s", got)
	}
	if _, err := e.Reload(&Config{Queues: []QueueConfig{{Name: "q", PriorityStep: 10 * time.Second}}}, at(40)); err != nil {
		t.Fatal(err)
	}
	if got := order(); got != "[old vip]" {
		t.Fatalf("after %s", got)
	}
}

// TestHugePrioritiesKeepTheOrderSane: a priority far beyond the file's
// bounds (from the API) is capped, not overflowed into the far future
// where it would queue last.
func TestHugePrioritiesKeepTheOrderSane(t *testing.T) {
	e := mustEngine(t, &Config{Queues: []QueueConfig{{Name: "q"}}})
	e.Enqueue(Call{ID: "normal"}, "q", 0, at(0), at(0))
	e.Enqueue(Call{ID: "huge"}, "q", 1<<62, at(1), at(1))
	e.Enqueue(Call{ID: "negative"}, "q", -(1 << 62), at(2), at(2))
	var ids []string
	for _, w := range e.Waiting("q") {
		ids = append(ids, w.CallID)
	}
	if fmt.Sprint(ids) != "[huge normal negative]" {
		t.Fatalf("order %v", ids)
	}
}
