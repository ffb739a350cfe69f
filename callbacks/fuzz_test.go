package callbacks

import (
	"testing"
	"time"
)

// FuzzParseWindow checks the window parser never panics and that what it
// accepts behaves: Next is never before the asked time, lands inside the
// window, and the spec parses again to the same answers.
func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"09:00-18:00", "22:00-06:00", "mon-fri 09:00-18:00", "sat,sun 10:00-12:00", "daily 00:00-24:00", "", "24:00-01:00", "fri-mon 23:59-00:01", "9-5"} {
		f.Add(s, "Europe/Paris", int64(1795000000))
	}
	f.Add("02:00-03:00", "America/New_York", int64(1772953200))
	f.Fuzz(func(t *testing.T, spec, tz string, unix int64) {
		if tz != "" && tz != "UTC" && tz != "Europe/Paris" && tz != "America/New_York" && tz != "Asia/Kolkata" {
			tz = "" // loading arbitrary zone names reads the file system
		}
		w, err := ParseWindow(spec, tz)
		if err != nil {
			return
		}
		now := time.Unix(unix%(1<<40), 0)
		next, ok := w.Next(now)
		if !ok {
			t.Fatalf("%q: accepted window never opens", spec)
		}
		if next.Before(now) {
			t.Fatalf("%q: Next(%s) = %s is in the past", spec, now, next)
		}
		if next.Sub(now) > 9*24*time.Hour {
			t.Fatalf("%q: Next(%s) = %s is more than a week ahead", spec, now, next)
		}
		if !w.Contains(next) {
			t.Fatalf("%q: Next(%s) = %s is not inside", spec, now, next)
		}
		again, err := ParseWindow(w.String(), tz)
		if err != nil {
			t.Fatalf("%q: String() %q does not parse: %v", spec, w.String(), err)
		}
		if n2, _ := again.Next(now); !n2.Equal(next) {
			t.Fatalf("%q: reparsed window disagrees", spec)
		}
	})
}

// FuzzRequestValidate checks validation never panics and that an accepted
// request is dialable: a normalized number and a first time not before now.
func FuzzRequestValidate(f *testing.F) {
	f.Add("+33 1 23 45 67 89", "support", "2026-11-23 10:00", "09:00-18:00", "Europe/Paris", "alice", "30m", 3, "10m")
	f.Add("12ab", "", "yesterday", "25:00-01:00", "x", "", "1h", -1, "1s")
	f.Fuzz(func(t *testing.T, number, queue, at, window, tz, agent, deadline string, attempts int, interval string) {
		if tz != "" && tz != "UTC" && tz != "Europe/Paris" {
			tz = "UTC"
		}
		now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
		sp, err := Request{Number: number, Queue: queue, At: at, Window: window, TZ: tz, Agent: agent, AgentDeadline: deadline, Attempts: attempts, Interval: interval}.Validate(now, nil)
		if err != nil {
			return
		}
		if n, ok := NormalizeNumber(sp.Number); !ok || n != sp.Number {
			t.Fatalf("accepted number %q does not normalize to itself", sp.Number)
		}
		if sp.Plan.NotBefore.Before(now.Add(-PastTolerance)) {
			t.Fatalf("first dial %s before now", sp.Plan.NotBefore)
		}
		if !sp.Plan.Window.Contains(sp.Plan.NotBefore) {
			t.Fatalf("first dial %s outside window %q", sp.Plan.NotBefore, window)
		}
	})
}
