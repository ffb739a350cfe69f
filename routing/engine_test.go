package routing

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func newTestEngine(t *testing.T, q QueueConfig, agents ...Agent) *Engine {
	t.Helper()
	e, err := NewEngineChecked(&Config{Queues: []QueueConfig{q, {Name: "general"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		e.UpsertAgent(a, t0)
	}
	return e
}

func agent(id string, queues map[string]int, skills map[string]int) Agent {
	return Agent{ID: id, Endpoint: "sim/" + id, Queues: queues, Skills: skills}
}

func offers(ds []Decision) []Offer {
	var out []Offer
	for _, d := range ds {
		if o, ok := d.(Offer); ok {
			out = append(out, o)
		}
	}
	return out
}

func has[T Decision](ds []Decision) (T, bool) {
	for _, d := range ds {
		if v, ok := d.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

func mustLogin(t *testing.T, e *Engine, id string, now time.Time) []Decision {
	t.Helper()
	ds, err := e.Login(id, now)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestLongestIdleGetsTheCall(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support"},
		agent("a", map[string]int{"support": 1}, nil), agent("b", map[string]int{"support": 1}, nil))
	mustLogin(t, e, "b", at(0)) // b idle longest
	mustLogin(t, e, "a", at(5))
	ds, _ := e.Arrive(Call{ID: "c1"}, at(10))
	o := offers(ds)
	if len(o) != 1 || o[0].AgentID != "b" {
		t.Fatalf("offers = %+v, want one to b (idle since 0s)", o)
	}
	if o[0].Trace.Strategy != string(StrategyLongestIdle) || o[0].Trace.Candidates != 2 {
		t.Errorf("trace = %+v", o[0].Trace)
	}
}

func TestLongestIdleSpreadsLoad(t *testing.T) {
	var agents []Agent
	for i := 0; i < 10; i++ {
		agents = append(agents, agent(fmt.Sprintf("a%02d", i), map[string]int{"support": 1}, nil))
	}
	e := newTestEngine(t, QueueConfig{Name: "support", WrapUp: 0, ServiceLevelGoal: 0.8}, agents...)
	for i, a := range agents {
		mustLogin(t, e, a.ID, at(i))
	}
	count := map[string]int{}
	now := 100
	for i := 0; i < 1000; i++ {
		id := fmt.Sprintf("c%d", i)
		ds, _ := e.Arrive(Call{ID: id}, at(now))
		o := offers(ds)
		if len(o) != 1 {
			t.Fatalf("call %d: %d offers", i, len(o))
		}
		count[o[0].AgentID]++
		e.Answered(id, o[0].AgentID, at(now))
		now += 1
		e.Ended(id, at(now))
		e.Tick(at(now + 20)) // wrap-up over
		now += 21
	}
	for _, a := range agents {
		if count[a.ID] != 100 {
			t.Errorf("agent %s took %d calls, want 100 (fair share)", a.ID, count[a.ID])
		}
	}
}

func TestPriorityAndAgeing(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support"}, agent("a", map[string]int{"support": 1}, nil))
	e.Arrive(Call{ID: "old-low"}, at(0))
	e.cfg.Entry = nil
	// A priority 1 call arriving 30 s later overtakes (1 point = 60 s).
	e.Enqueue(Call{ID: "new-high"}, "support", 1, at(30), at(30))
	// A priority 1 call arriving 90 s later does not: the old call has aged past it.
	e.Enqueue(Call{ID: "newer-high"}, "support", 1, at(90), at(90))
	w := e.Waiting("support")
	got := []string{w[0].CallID, w[1].CallID, w[2].CallID}
	want := []string{"new-high", "old-low", "newer-high"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
	ds := mustLogin(t, e, "a", at(100))
	if o := offers(ds); len(o) != 1 || o[0].CallID != "new-high" {
		t.Fatalf("offer = %+v", o)
	}
}

func TestRONAKeepsPlaceAndPausesAfterMisses(t *testing.T) {
	q := QueueConfig{Name: "support", OfferTimeout: 10 * time.Second, MaxMisses: 2, MissReason: "rona"}
	e := newTestEngine(t, q, agent("a", map[string]int{"support": 1}, nil), agent("b", map[string]int{"support": 1}, nil))
	mustLogin(t, e, "a", at(0))
	ds, _ := e.Arrive(Call{ID: "c1"}, at(1))
	if o := offers(ds); len(o) != 1 || o[0].AgentID != "a" {
		t.Fatalf("first offer %+v", o)
	}
	e.Arrive(Call{ID: "c2"}, at(2)) // waits behind c1
	// No answer within 10 s: withdrawn, back in place (ahead of c2).
	ds = e.Tick(at(11))
	if w, ok := has[Withdraw](ds); !ok || w.AgentID != "a" || w.Reason != "no answer" {
		t.Fatalf("tick: %+v", ds)
	}
	wv := e.Waiting("support")
	if len(wv) < 1 || wv[0].CallID != "c1" && !wv[0].Ringing {
		t.Fatalf("waiting after RONA: %+v", wv)
	}
	// a was not re-offered c1 (it just let it ring out) but takes c2.
	if o := offers(ds); len(o) != 1 || o[0].CallID != "c2" || o[0].AgentID != "a" {
		t.Fatalf("after RONA offers = %+v, want c2 to a", o)
	}
	if got := e.Waiting("support")[0]; got.CallID != "c1" || !got.Since.Equal(at(1)) {
		t.Fatalf("c1 lost its place or wait: %+v", got)
	}
	// Second miss in a row: a goes not ready with the configured reason.
	ds = e.Tick(at(30))
	if sc, ok := has[AgentStateChanged](ds); !ok || sc.To != StateNotReady || sc.Reason != "rona" {
		t.Fatalf("second miss: %+v", ds)
	}
	// b logs in and gets c1 first (oldest).
	ds = mustLogin(t, e, "b", at(31))
	if o := offers(ds); len(o) != 1 || o[0].CallID != "c1" {
		t.Fatalf("b offers %+v", o)
	}
}

func TestRingAllFirstAnswerWins(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support", Strategy: StrategyRingAll},
		agent("a", map[string]int{"support": 1}, nil), agent("b", map[string]int{"support": 1}, nil), agent("c", map[string]int{"support": 1}, nil))
	for _, id := range []string{"a", "b", "c"} {
		mustLogin(t, e, id, at(0))
	}
	ds, _ := e.Arrive(Call{ID: "c1"}, at(1))
	if len(offers(ds)) != 3 {
		t.Fatalf("ring-all offered %d", len(offers(ds)))
	}
	ds = e.Answered("c1", "b", at(3))
	var withdrawn []string
	for _, d := range ds {
		if w, ok := d.(Withdraw); ok {
			withdrawn = append(withdrawn, w.AgentID)
		}
	}
	if fmt.Sprint(withdrawn) != "[a c]" {
		t.Fatalf("withdrawn %v", withdrawn)
	}
	if av, _ := e.Agent("a"); av.State != StateAvailable {
		t.Errorf("a is %s", av.State)
	}
	if bv, _ := e.Agent("b"); bv.State != StateOnCall {
		t.Errorf("b is %s", bv.State)
	}
}

func TestAbandonWhileOfferedFreesAgent(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support"}, agent("a", map[string]int{"support": 1}, nil))
	mustLogin(t, e, "a", at(0))
	e.Arrive(Call{ID: "c1"}, at(1))
	ds := e.Abandoned("c1", at(2))
	if w, ok := has[Withdraw](ds); !ok || w.AgentID != "a" {
		t.Fatalf("abandon: %+v", ds)
	}
	if av, _ := e.Agent("a"); av.State != StateAvailable {
		t.Fatalf("a is %s", av.State)
	}
	if _, ok := e.CallQueue("c1"); ok {
		t.Fatal("call still known")
	}
}

func TestWrapUpThenNextCall(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support", WrapUp: 30 * time.Second}, agent("a", map[string]int{"support": 1}, nil))
	mustLogin(t, e, "a", at(0))
	e.Arrive(Call{ID: "c1"}, at(1))
	e.Answered("c1", "a", at(2))
	e.Arrive(Call{ID: "c2"}, at(3))
	ds := e.Ended("c1", at(60))
	if sc, ok := has[AgentStateChanged](ds); !ok || sc.To != StateWrapUp {
		t.Fatalf("end: %+v", ds)
	}
	if d, _ := e.NextDeadline(); !d.Equal(at(90)) {
		t.Fatalf("next deadline %v, want wrap-up end %v", d, at(90))
	}
	if ds := e.Tick(at(89)); len(offers(ds)) != 0 {
		t.Fatal("offered during wrap-up")
	}
	if err := e.ExtendWrapUp("a", 10*time.Second, at(89)); err != nil {
		t.Fatal(err)
	}
	if ds := e.Tick(at(90)); len(offers(ds)) != 0 {
		t.Fatal("offered before the extended wrap-up ended")
	}
	ds = e.Tick(at(100))
	if o := offers(ds); len(o) != 1 || o[0].CallID != "c2" {
		t.Fatalf("after wrap-up: %+v", ds)
	}
}

func TestSkillExpansionAtExactBoundaries(t *testing.T) {
	q := QueueConfig{Name: "billing", Steps: []Step{
		{After: 0, Require: map[string]int{"billing": 8}},
		{After: 30 * time.Second, Require: map[string]int{"billing": 5}},
		{After: 90 * time.Second, Require: map[string]int{"billing": 1}},
		{After: 180 * time.Second, OverflowTo: "general"},
	}}
	e := newTestEngine(t, q, agent("mid", map[string]int{"billing": 1}, map[string]int{"billing": 5}),
		agent("gen", map[string]int{"general": 1}, nil))
	mustLogin(t, e, "mid", at(0))
	ds, _ := e.Arrive(Call{ID: "c1"}, at(0))
	if len(offers(ds)) != 0 {
		t.Fatal("level 5 agent offered a call needing 8")
	}
	if ds := e.Tick(at(29)); len(offers(ds)) != 0 {
		t.Fatal("widened one second early")
	}
	ds = e.Tick(at(30))
	if o := offers(ds); len(o) != 1 || o[0].AgentID != "mid" || o[0].Trace.Step == "entry" {
		t.Fatalf("at 30 s: %+v", ds)
	}
	e.Answered("c1", "mid", at(31)) // mid busy from now on
	// A second call with nobody free overflows at exactly 180 s with its wait kept.
	e.Arrive(Call{ID: "c2"}, at(40))
	mustLogin(t, e, "gen", at(40))
	if ds := e.Tick(at(219)); len(offers(ds)) != 0 {
		t.Fatal("overflowed early")
	}
	ds = e.Tick(at(220))
	ov, ok := has[Overflow](ds)
	if !ok || ov.From != "billing" || ov.To != "general" {
		t.Fatalf("overflow: %+v", ds)
	}
	if o := offers(ds); len(o) != 1 || o[0].AgentID != "gen" {
		t.Fatalf("after overflow: %+v", ds)
	}
}

func TestMaxWaitExit(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support", MaxWait: time.Minute, Exit: ExitPolicy{Action: ExitVoicemail, Target: "100@default"}})
	e.Arrive(Call{ID: "c1"}, at(0))
	ds := e.Tick(at(60))
	x, ok := has[QueueExit](ds)
	if !ok || x.Reason != "max_wait" || x.Action != ExitVoicemail || x.Target != "100@default" {
		t.Fatalf("exit: %+v", ds)
	}
}

func TestLogoutWhileOfferedReturnsCall(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support"}, agent("a", map[string]int{"support": 1}, nil), agent("b", map[string]int{"support": 1}, nil))
	mustLogin(t, e, "a", at(0))
	e.Arrive(Call{ID: "c1"}, at(1))
	mustLogin(t, e, "b", at(2))
	ds, err := e.Logout("a", at(3))
	if err != nil {
		t.Fatal(err)
	}
	if o := offers(ds); len(o) != 1 || o[0].AgentID != "b" {
		t.Fatalf("after logout: %+v", ds)
	}
	if _, err := e.Logout("zz", at(3)); err == nil {
		t.Fatal("unknown agent accepted")
	}
}

func TestStrategies(t *testing.T) {
	mk := func(s Strategy) *Engine {
		e := newTestEngine(t, QueueConfig{Name: "support", Strategy: s},
			agent("a", map[string]int{"support": 3}, map[string]int{"support": 4}),
			agent("b", map[string]int{"support": 1}, map[string]int{"support": 9}),
			agent("c", map[string]int{"support": 2}, map[string]int{"support": 6}))
		mustLogin(t, e, "c", at(0))
		mustLogin(t, e, "a", at(1))
		mustLogin(t, e, "b", at(2))
		return e
	}
	for _, tc := range []struct {
		s    Strategy
		want string
	}{
		{StrategyLongestIdle, "c"},
		{StrategyTopDown, "b"},
		{StrategyBestSkill, "b"},
		{StrategyRoundRobin, "a"},
		{StrategyFewestCalls, "c"},
		{StrategyLeastTalk, "c"},
	} {
		t.Run(string(tc.s), func(t *testing.T) {
			e := mk(tc.s)
			ds, _ := e.Arrive(Call{ID: "x"}, at(10))
			if o := offers(ds); len(o) != 1 || o[0].AgentID != tc.want {
				t.Fatalf("got %+v, want %s", o, tc.want)
			}
		})
	}
	t.Run("round-robin remembers", func(t *testing.T) {
		e := mk(StrategyRoundRobin)
		var got []string
		for i := 0; i < 4; i++ {
			id := fmt.Sprint("x", i)
			ds, _ := e.Arrive(Call{ID: id}, at(10+i))
			o := offers(ds)[0]
			got = append(got, o.AgentID)
			e.Answered(id, o.AgentID, at(10+i))
			e.Ended(id, at(10+i))
			e.SetAvailable(o.AgentID, at(10+i))
		}
		if fmt.Sprint(got) != "[a b c a]" {
			t.Fatalf("round robin order %v", got)
		}
	})
	t.Run("random is seeded", func(t *testing.T) {
		a, b := mk(StrategyRandom), mk(StrategyRandom)
		for i := 0; i < 5; i++ {
			id := fmt.Sprint("x", i)
			da, _ := a.Arrive(Call{ID: id}, at(10))
			db, _ := b.Arrive(Call{ID: id}, at(10))
			if offers(da)[0].AgentID != offers(db)[0].AgentID {
				t.Fatal("random strategy not reproducible")
			}
			a.Abandoned(id, at(10))
			b.Abandoned(id, at(10))
		}
	})
}

func TestReloadKeepsWaitingCalls(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support"}, agent("a", map[string]int{"general": 1}, nil))
	e.Arrive(Call{ID: "c1"}, at(0))
	e.Arrive(Call{ID: "c2"}, at(5))
	// New version: support gets a step overflowing to general after 30 s.
	ds, err := e.Reload(&Config{Queues: []QueueConfig{{Name: "support", Steps: []Step{{After: 30 * time.Second, OverflowTo: "general"}}}, {Name: "general"}}}, at(40))
	if err != nil {
		t.Fatal(err)
	}
	// c1 has waited 40 s > 30 s: overflows at once, keeping its enqueue time.
	var moved []string
	for _, d := range ds {
		if o, ok := d.(Overflow); ok {
			moved = append(moved, o.CallID)
		}
	}
	if fmt.Sprint(moved) != "[c1 c2]" {
		t.Fatalf("moved %v (%+v)", moved, ds)
	}
	w := e.Waiting("general")
	if len(w) != 2 || !w[0].Since.Equal(at(0)) {
		t.Fatalf("general waiting %+v", w)
	}
	if _, err := e.Reload(&Config{Queues: []QueueConfig{{Name: "x", Exit: ExitPolicy{OverflowTo: "nope"}}}}, at(41)); err == nil {
		t.Fatal("invalid reload accepted")
	}
	if len(e.Waiting("general")) != 2 {
		t.Fatal("rejected reload changed state")
	}
}

func TestNotReadyReasonLimitFlags(t *testing.T) {
	e, _ := NewEngineChecked(&Config{Queues: []QueueConfig{{Name: "q"}}, NotReadyReasons: []ReasonCode{{Code: "break", MaxDuration: 15 * time.Minute}}})
	e.UpsertAgent(agent("a", map[string]int{"q": 1}, nil), at(0))
	mustLogin(t, e, "a", at(0))
	if _, err := e.SetNotReady("a", "nap", at(1)); err == nil {
		t.Fatal("unknown reason accepted")
	}
	if _, err := e.SetNotReady("a", "break", at(1)); err != nil {
		t.Fatal(err)
	}
	ds := e.Tick(at(1 + 15*60))
	if f, ok := has[AgentFlagged](ds); !ok || f.AgentID != "a" {
		t.Fatalf("flag: %+v", ds)
	}
}

func TestAnnouncements(t *testing.T) {
	e := newTestEngine(t, QueueConfig{Name: "support", AnnounceEvery: 30 * time.Second}, agent("a", map[string]int{"support": 1}, nil))
	mustLogin(t, e, "a", at(0))
	e.SetNotReady("a", "break", at(0))
	e.Arrive(Call{ID: "c1"}, at(0))
	ds, _ := e.Arrive(Call{ID: "c2"}, at(1))
	an, ok := has[Announce](ds)
	if !ok || an.Position != 2 {
		t.Fatalf("announce %+v", ds)
	}
	ds = e.Tick(at(31))
	var repeated []string
	for _, d := range ds {
		if an, ok := d.(Announce); ok {
			repeated = append(repeated, fmt.Sprint(an.CallID, "@", an.Position))
		}
	}
	if fmt.Sprint(repeated) != "[c1@1 c2@2]" {
		t.Fatalf("repeat announcements %v", repeated)
	}
}
