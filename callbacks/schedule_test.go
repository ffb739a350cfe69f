package callbacks

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustWindow(t *testing.T, spec, tz string) Window {
	t.Helper()
	w, err := ParseWindow(spec, tz)
	if err != nil {
		t.Fatalf("ParseWindow(%q, %q): %v", spec, tz, err)
	}
	return w
}

func TestParseWindowErrors(t *testing.T) {
	for _, tc := range []struct{ spec, tz, want string }{
		{"9-18", "", "HH:MM"},
		{"09:00", "", "HH:MM-HH:MM"},
		{"09:00-09:00", "", "empty"},
		{"25:00-26:00", "", "25:00"},
		{"09:60-10:00", "", "09:60"},
		{"24:00-06:00", "", "cannot start at 24:00"},
		{"mon-xyz 09:00-18:00", "", "days"},
		{"funday 09:00-18:00", "", "days"},
		{"09:00-18:00", "Mars/Olympus", "unknown time zone"},
		{"09:00-18:00", "Local", "unknown time zone"},
		{"+9:00-18:00", "", "HH:MM"},
	} {
		_, err := ParseWindow(tc.spec, tc.tz)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseWindow(%q, %q) = %v, want error containing %q", tc.spec, tc.tz, err, tc.want)
		}
	}
}

func TestWindowNext(t *testing.T) {
	paris := mustZone(t, "Europe/Paris")
	ny := mustZone(t, "America/New_York")
	at := func(loc *time.Location, s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name     string
		spec, tz string
		loc      *time.Location
		now      string
		want     string
	}{
		{"inside", "09:00-18:00", "Europe/Paris", paris, "2026-11-23 10:00", "2026-11-23 10:00"},
		{"before opening", "09:00-18:00", "Europe/Paris", paris, "2026-11-23 07:30", "2026-11-23 09:00"},
		{"at closing is outside", "09:00-18:00", "Europe/Paris", paris, "2026-11-23 18:00", "2026-11-24 09:00"},
		{"after closing", "09:00-18:00", "Europe/Paris", paris, "2026-11-23 20:00", "2026-11-24 09:00"},
		{"weekday window skips weekend", "mon-fri 09:00-18:00", "Europe/Paris", paris, "2026-11-27 19:00", "2026-11-30 09:00"},
		{"crossing midnight, evening part", "22:00-06:00", "Europe/Paris", paris, "2026-11-23 23:15", "2026-11-23 23:15"},
		{"crossing midnight, morning part", "22:00-06:00", "Europe/Paris", paris, "2026-11-24 03:00", "2026-11-24 03:00"},
		{"crossing midnight, closed afternoon", "22:00-06:00", "Europe/Paris", paris, "2026-11-24 12:00", "2026-11-24 22:00"},
		{"crossing midnight belongs to its start day", "fri 22:00-06:00", "Europe/Paris", paris, "2026-11-28 05:00", "2026-11-28 05:00"},
		{"crossing midnight, not on saturday night", "fri 22:00-06:00", "Europe/Paris", paris, "2026-11-28 23:00", "2026-12-04 22:00"},
		{"crossing midnight, monday morning is sunday's window", "mon-fri 22:00-06:00", "Europe/Paris", paris, "2026-11-30 02:00", "2026-11-30 22:00"},
		{"all day", "00:00-24:00", "Europe/Paris", paris, "2026-11-23 23:59", "2026-11-23 23:59"},
		// Another zone: 09:00 in New York is 15:00 in Paris.
		{"customer zone differs", "09:00-18:00", "America/New_York", paris, "2026-11-23 10:00", "2026-11-23 15:00"},
		// DST, spring forward in New York (2026-03-08 02:00 → 03:00): the
		// window 02:00-03:00 does not exist that night.
		{"dst gap window skipped", "02:00-03:00", "America/New_York", ny, "2026-03-08 00:30", "2026-03-09 02:00"},
		// A window over the gap starts at the shifted wall time and ends on time.
		{"dst gap start shifted", "02:30-05:00", "America/New_York", ny, "2026-03-08 01:00", "2026-03-08 03:30"},
		// Fall back (2026-11-01 02:00 EDT → 01:00 EST): 01:00-03:00 is three hours long.
		{"dst fall back inside", "01:00-03:00", "America/New_York", ny, "2026-11-01 02:30", "2026-11-01 02:30"},
		// A window crossing midnight on a DST night keeps its wall-clock end.
		{"dst midnight crossing end", "22:00-06:00", "Europe/Paris", paris, "2026-03-29 05:30", "2026-03-29 05:30"},
		{"dst midnight crossing after end", "22:00-06:00", "Europe/Paris", paris, "2026-03-29 06:00", "2026-03-29 22:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := mustWindow(t, tc.spec, tc.tz)
			now := at(tc.loc, tc.now)
			got, ok := w.Next(now)
			want := at(tc.loc, tc.want)
			if !ok || !got.Equal(want) {
				t.Fatalf("Next(%s) = %s %v, want %s", now, got.In(tc.loc), ok, want)
			}
			if !w.Contains(got) {
				t.Fatalf("Contains(Next) false at %s", got)
			}
			if got.Equal(now) != w.Contains(now) {
				t.Fatalf("Contains(%s) disagrees with Next", now)
			}
		})
	}
}

func TestWindowDSTFallBackLength(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	w := mustWindow(t, "01:00-03:00", "America/New_York")
	start := time.Date(2026, 11, 1, 0, 59, 0, 0, ny)
	open, _ := w.Next(start)
	end, ok := w.End(open)
	if !ok {
		t.Fatal("no end")
	}
	// 01:00 EDT to 03:00 EST is three real hours on the fall-back night.
	if got := end.Sub(open); got != 3*time.Hour {
		t.Fatalf("fall-back window lasts %s, want 3h", got)
	}
}

func TestWindowAlways(t *testing.T) {
	w := mustWindow(t, "", "")
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	if got, ok := w.Next(now); !ok || !got.Equal(now) || !w.Always() {
		t.Fatalf("empty window Next = %s %v", got, ok)
	}
}

func TestRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		r      Retry
		failed int
		want   time.Duration
	}{
		{Retry{}, 1, 10 * time.Minute},
		{Retry{Interval: 5 * time.Minute}, 3, 5 * time.Minute},
		{Retry{Interval: time.Minute, Multiplier: 2}, 1, time.Minute},
		{Retry{Interval: time.Minute, Multiplier: 2}, 4, 8 * time.Minute},
		{Retry{Interval: time.Minute, Multiplier: 2, MaxInterval: 5 * time.Minute}, 4, 5 * time.Minute},
		{Retry{Interval: time.Hour, Multiplier: 10}, 50, 30 * 24 * time.Hour},
	} {
		if got := tc.r.Delay(tc.failed); got != tc.want {
			t.Errorf("%+v.Delay(%d) = %s, want %s", tc.r, tc.failed, got, tc.want)
		}
	}
}

func TestRetryValidate(t *testing.T) {
	for _, tc := range []struct {
		r     Retry
		field string
	}{
		{Retry{MaxAttempts: 21}, "attempts"},
		{Retry{MaxAttempts: -1}, "attempts"},
		{Retry{Interval: time.Second}, "interval"},
		{Retry{Multiplier: 0.5}, "multiplier"},
		{Retry{MaxInterval: -time.Second}, "max_interval"},
	} {
		err := tc.r.Validate()
		var fe FieldErrors
		if !errors.As(err, &fe) || fe[0].Field != tc.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want field %s", tc.r, err, tc.field)
		}
	}
	if err := (Retry{MaxAttempts: 3, Interval: time.Minute}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestRetriesAndSpacing walks a plan through failed attempts: each retry
// is spaced by the policy, pushed into the window, and the last failure
// ends it.
func TestRetriesAndSpacing(t *testing.T) {
	paris := mustZone(t, "Europe/Paris")
	start := time.Date(2026, 11, 23, 17, 20, 0, 0, paris)
	p := Plan{Kind: KindScheduled, Queue: "support", Window: mustWindow(t, "09:00-18:00", "Europe/Paris"),
		Retry: Retry{MaxAttempts: 3, Interval: 20 * time.Minute, Multiplier: 2}, NotBefore: start}
	now := start
	var got []time.Time
	for i := 0; ; i++ {
		at, ok := p.NextEligible(now)
		if !ok {
			t.Fatal("never eligible")
		}
		got = append(got, at)
		var done bool
		p, done = p.AfterAttempt(OutcomeNoAnswer, at.Add(40*time.Second))
		if done {
			break
		}
		now = at.Add(40 * time.Second)
		if i > 10 {
			t.Fatal("never exhausted")
		}
	}
	want := []time.Time{
		start, // 17:20
		time.Date(2026, 11, 23, 17, 40, 40, 0, paris), // +20 min
		time.Date(2026, 11, 24, 9, 0, 0, 0, paris),    // +40 min = 18:21 → next morning
	}
	if len(got) != len(want) {
		t.Fatalf("attempts at %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("attempt %d at %s, want %s", i+1, got[i], want[i])
		}
	}
	if p.Attempts != 3 || !p.Exhausted() {
		t.Fatalf("attempts %d exhausted %v", p.Attempts, p.Exhausted())
	}
}

func TestAfterAttemptOutcomes(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	p := Plan{Retry: Retry{MaxAttempts: 2, Interval: time.Minute}}
	if n, done := p.AfterAttempt(OutcomeConnected, now); !done || n.Attempts != 1 {
		t.Fatal("connected is done")
	}
	if _, done := p.AfterAttempt(OutcomeDeclined, now); !done {
		t.Fatal("declined is done")
	}
	n, done := p.AfterAttempt(OutcomeAgentMissed, now)
	if done || n.Attempts != 0 || !n.NotBefore.Equal(now) {
		t.Fatalf("agent missed: %+v %v; must not use a customer attempt", n, done)
	}
	n, done = p.AfterAttempt(OutcomeInterrupted, now)
	if done || n.Attempts != 1 || !n.NotBefore.Equal(now.Add(time.Minute)) {
		t.Fatalf("interrupted counts as an attempt and waits the interval: %+v %v", n, done)
	}
	if _, done := n.AfterAttempt(OutcomeBusy, now); !done {
		t.Fatal("second failure of two is done")
	}
}

func TestAgentOwnedFallback(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	p := Plan{Agent: "alice", AgentDeadline: t0.Add(30 * time.Minute)}
	for _, tc := range []struct {
		now       time.Time
		agent     string
		agentOnly bool
	}{
		{t0, "alice", true},
		{t0.Add(29 * time.Minute), "alice", true},
		{t0.Add(30 * time.Minute), "", false},
		{t0.Add(2 * time.Hour), "", false},
	} {
		a, only := p.Target(tc.now)
		if a != tc.agent || only != tc.agentOnly {
			t.Errorf("Target(%s) = %q %v, want %q %v", tc.now, a, only, tc.agent, tc.agentOnly)
		}
	}
	if a, only := (Plan{}).Target(t0); a != "" || only {
		t.Fatal("unowned callback has a target")
	}
}

// hours is a test calendar: open weekdays 09:00-17:00 UTC.
type hours struct{}

func (hours) Open(t time.Time) bool {
	t = t.UTC()
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday && t.Hour() >= 9 && t.Hour() < 17
}

type never struct{}

func (never) Open(time.Time) bool { return false }

func TestWhenClosed(t *testing.T) {
	fri := time.Date(2026, 11, 27, 17, 30, 0, 0, time.UTC) // Friday after closing
	mon9 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	orig := fri.Add(-20 * time.Minute)
	p := Plan{Kind: KindVirtualHold, Queue: "support", EnqueuedAt: orig, NotBefore: fri}

	n, err := WhenClosed(p, ClosedNextOpening, hours{}, Window{}, fri)
	if err != nil || !n.NotBefore.Equal(mon9) || !n.EnqueuedAt.Equal(orig) || n.Kind != KindVirtualHold {
		t.Fatalf("next opening: %+v %v; want Monday 09:00 keeping the place", n, err)
	}
	win := mustWindow(t, "10:00-12:00", "")
	n, err = WhenClosed(p, ClosedSchedule, hours{}, win, fri)
	want := mon9.Add(time.Hour)
	if err != nil || !n.NotBefore.Equal(want) || !n.EnqueuedAt.Equal(want) || n.Kind != KindScheduled || n.Window.String() != "10:00-12:00" {
		t.Fatalf("schedule: %+v %v; want a scheduled callback Monday 10:00", n, err)
	}
	// A schedule window opening before the queue is clipped to the opening.
	early := mustWindow(t, "07:00-12:00", "")
	if n, _ = WhenClosed(p, ClosedSchedule, hours{}, early, fri); !n.NotBefore.Equal(mon9) {
		t.Fatalf("early window: %s, want %s", n.NotBefore, mon9)
	}
	if _, err := WhenClosed(p, ClosedNextOpening, never{}, Window{}, fri); !errors.Is(err, ErrNeverOpens) {
		t.Fatalf("never opens: %v", err)
	}
}

func TestOfferRule(t *testing.T) {
	for _, tc := range []struct {
		r        OfferRule
		waited   time.Duration
		estimate time.Duration
		staffed  bool
		want     bool
	}{
		{OfferRule{Always: true}, 0, 0, true, true},
		{OfferRule{After: time.Minute}, 59 * time.Second, 0, true, false},
		{OfferRule{After: time.Minute}, time.Minute, 0, true, true},
		{OfferRule{EstimatedWaitOver: 5 * time.Minute}, 0, 4 * time.Minute, true, false},
		{OfferRule{EstimatedWaitOver: 5 * time.Minute}, 0, 6 * time.Minute, true, true},
		{OfferRule{EstimatedWaitOver: 5 * time.Minute}, 0, 0, false, true},
		{OfferRule{}, time.Hour, time.Hour, true, false},
	} {
		if got := tc.r.ShouldOffer(tc.waited, tc.estimate, tc.staffed); got != tc.want {
			t.Errorf("%+v.ShouldOffer(%s, %s, %v) = %v", tc.r, tc.waited, tc.estimate, tc.staffed, got)
		}
	}
}

func TestRequestValidate(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	queues := func(n string) bool { return n == "support" }
	ok := Request{Number: "+33 1 23-45.67.89", Queue: "support", At: "2026-11-23 10:00", Window: "09:00-18:00",
		TZ: "Europe/Paris", Agent: "alice", Attempts: 4, Interval: "15m", Note: "supply reminder"}
	sp, err := ok.Validate(now, queues)
	if err != nil {
		t.Fatal(err)
	}
	paris := mustZone(t, "Europe/Paris")
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, paris)
	if sp.Number != "+33123456789" || !sp.Plan.NotBefore.Equal(at) || !sp.Plan.EnqueuedAt.Equal(at) ||
		sp.Plan.Retry.MaxAttempts != 4 || sp.Plan.Retry.Interval != 15*time.Minute ||
		!sp.Plan.AgentDeadline.Equal(at.Add(DefaultAgentGrace)) || sp.Plan.Kind != KindScheduled {
		t.Fatalf("spec %+v", sp)
	}
	// Outside the window: moved to the next opening.
	late := ok
	late.At = "2026-11-23 20:00"
	sp, err = late.Validate(now, queues)
	if err != nil || !sp.Plan.NotBefore.Equal(time.Date(2026, 11, 24, 9, 0, 0, 0, paris)) {
		t.Fatalf("late: %v %v", sp.Plan.NotBefore, err)
	}

	for _, tc := range []struct {
		name   string
		mod    func(*Request)
		fields []string
	}{
		{"missing number and queue", func(r *Request) { r.Number, r.Queue = "", "" }, []string{"number", "queue"}},
		{"letters in number", func(r *Request) { r.Number = "12ab" }, []string{"number"}},
		{"plus in the middle", func(r *Request) { r.Number = "12+34" }, []string{"number"}},
		{"unknown queue", func(r *Request) { r.Queue = "nope" }, []string{"queue"}},
		{"bad tz", func(r *Request) { r.TZ = "Nowhere/Land" }, []string{"tz"}},
		{"bad window", func(r *Request) { r.Window = "9 to 5" }, []string{"window"}},
		{"bad at", func(r *Request) { r.At = "tomorrow" }, []string{"at"}},
		{"at in the past", func(r *Request) { r.At = "2026-11-22 10:00" }, []string{"at"}},
		{"at too far", func(r *Request) { r.At = "2028-01-01 10:00" }, []string{"at"}},
		{"too many attempts", func(r *Request) { r.Attempts = 99 }, []string{"attempts"}},
		{"interval too short", func(r *Request) { r.Interval = "5s" }, []string{"interval"}},
		{"interval not a duration", func(r *Request) { r.Interval = "often" }, []string{"interval"}},
		{"deadline without agent", func(r *Request) { r.Agent, r.AgentDeadline = "", "30m" }, []string{"agent_deadline"}},
		{"deadline before at", func(r *Request) { r.AgentDeadline = "2026-11-23T09:00:00+01:00" }, []string{"agent_deadline"}},
		{"deadline nonsense", func(r *Request) { r.AgentDeadline = "soon" }, []string{"agent_deadline"}},
		{"note too long", func(r *Request) { r.Note = strings.Repeat("x", MaxNoteLen+1) }, []string{"note"}},
		{"priority", func(r *Request) { r.Priority = 1000 }, []string{"priority"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.mod(&r)
			_, err := r.Validate(now, queues)
			var fe FieldErrors
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want field errors", err)
			}
			var got []string
			for _, f := range fe {
				got = append(got, f.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("fields %v, want %v (%v)", got, tc.fields, err)
			}
		})
	}
}

func TestRequestAgentDeadlineFollowsWindow(t *testing.T) {
	now := time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)
	sp, err := Request{Number: "100", Queue: "q", Window: "09:00-18:00", Agent: "bob", AgentDeadline: "30m"}.Validate(now, nil)
	if err != nil {
		t.Fatal(err)
	}
	open := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	if !sp.Plan.NotBefore.Equal(open) || !sp.Plan.AgentDeadline.Equal(open.Add(30*time.Minute)) {
		t.Fatalf("not before %s deadline %s", sp.Plan.NotBefore, sp.Plan.AgentDeadline)
	}
}
