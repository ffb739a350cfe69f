// Package callbacks provides virtual hold (a caller leaves the line and
// keeps their place) and scheduled callbacks (a call at an agreed time,
// inside a window, with retries and an owner). It holds the scheduling
// rules (this file and schedule.go, pure and clock-free), the durable claim
// protocol over storage (store.go) and the dialler that drives a PBX
// through the neutral adapters port (dialler.go).
package callbacks

import (
	"fmt"
	"strings"
	"time"
)

// Window is a daily time-of-day window in a time zone, optionally limited
// to some weekdays: "09:00-18:00", "mon-fri 09:00-18:00", "22:00-06:00"
// (crosses midnight and belongs to the day it starts on). The zero Window
// is always open.
type Window struct {
	// days[d] is true when a window starts on weekday d.
	days [7]bool
	// from and to are minutes after local midnight; to > 1440 when the
	// window crosses midnight.
	from, to int
	loc      *time.Location
	spec     string
	set      bool
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWindow parses a window spec ("" = always open) in the IANA time
// zone tz ("" = UTC). The error names what is wrong with which part.
func ParseWindow(spec, tz string) (Window, error) {
	loc, err := LoadZone(tz)
	if err != nil {
		return Window{}, err
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return Window{loc: loc}, nil
	}
	w := Window{loc: loc, spec: spec, set: true}
	daysPart, rangePart := "", spec
	if i := strings.LastIndexAny(spec, " \t"); i >= 0 {
		daysPart, rangePart = strings.TrimSpace(spec[:i]), strings.TrimSpace(spec[i+1:])
	}
	if daysPart == "" {
		for d := range w.days {
			w.days[d] = true
		}
	} else {
		days, err := parseWeekdays(daysPart)
		if err != nil {
			return Window{}, err
		}
		for _, d := range days {
			w.days[d] = true
		}
	}
	a, b, ok := strings.Cut(rangePart, "-")
	if !ok {
		return Window{}, fmt.Errorf("window %q: use HH:MM-HH:MM, optionally after days (mon-fri 09:00-18:00)", spec)
	}
	if w.from, err = parseHHMM(a); err != nil {
		return Window{}, fmt.Errorf("window %q: %w", spec, err)
	}
	if w.to, err = parseHHMM(b); err != nil {
		return Window{}, fmt.Errorf("window %q: %w", spec, err)
	}
	if w.from == w.to {
		return Window{}, fmt.Errorf("window %q is empty (start equals end; use 00:00-24:00 for all day)", spec)
	}
	if w.from == 24*60 {
		return Window{}, fmt.Errorf("window %q: a window cannot start at 24:00", spec)
	}
	if w.to < w.from {
		w.to += 24 * 60
	}
	return w, nil
}

// LoadZone loads an IANA time zone; "" is UTC.
func LoadZone(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || strings.EqualFold(tz, "local") {
		return nil, fmt.Errorf("unknown time zone %q (use an IANA name such as Europe/Paris)", tz)
	}
	return loc, nil
}

func parseWeekdays(s string) ([]time.Weekday, error) {
	s = strings.ToLower(s)
	if s == "daily" {
		return []time.Weekday{0, 1, 2, 3, 4, 5, 6}, nil
	}
	var out []time.Weekday
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if a, b, ok := strings.Cut(part, "-"); ok {
			da, oka := weekdayNames[strings.TrimSpace(a)]
			db, okb := weekdayNames[strings.TrimSpace(b)]
			if !oka || !okb {
				return nil, fmt.Errorf("days %q: use mon, tue, wed, thu, fri, sat, sun, a range mon-fri, or daily", part)
			}
			for d := da; ; d = (d + 1) % 7 {
				out = append(out, d)
				if d == db {
					break
				}
			}
			continue
		}
		d, ok := weekdayNames[part]
		if !ok {
			return nil, fmt.Errorf("days %q: use mon, tue, wed, thu, fri, sat, sun, a range mon-fri, or daily", part)
		}
		out = append(out, d)
	}
	return out, nil
}

func parseHHMM(s string) (int, error) {
	s = strings.TrimSpace(s)
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("time %q: use HH:MM (00:00-24:00)", s)
	}
	h, m := 0, 0
	for i, c := range []byte(s) {
		if i == 2 {
			continue
		}
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("time %q: use HH:MM (00:00-24:00)", s)
		}
		if i < 2 {
			h = h*10 + int(c-'0')
		} else {
			m = m*10 + int(c-'0')
		}
	}
	if h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q: use HH:MM (00:00-24:00)", s)
	}
	return h*60 + m, nil
}

// String returns the spec the window was parsed from ("" = always).
func (w Window) String() string { return w.spec }

// Location is the window's time zone (UTC for the zero Window).
func (w Window) Location() *time.Location {
	if w.loc == nil {
		return time.UTC
	}
	return w.loc
}

// Always reports whether the window never closes.
func (w Window) Always() bool { return !w.set }

// bounds returns the window that starts on the local calendar day of day
// (wall-clock times in the zone). ok is false when no window starts that
// day, or when a DST jump leaves it empty (02:30-03:00 on a spring-forward
// night does not exist).
func (w Window) bounds(y int, m time.Month, d int) (start, end time.Time, ok bool) {
	loc := w.Location()
	wd := time.Date(y, m, d, 12, 0, 0, 0, loc).Weekday()
	if !w.days[wd] {
		return time.Time{}, time.Time{}, false
	}
	start = wallTime(y, m, d, w.from, loc)
	end = wallTime(y, m, d, w.to, loc)
	if !end.After(start) {
		return time.Time{}, time.Time{}, false
	}
	return start, end, true
}

// Contains reports whether t is inside the window.
func (w Window) Contains(t time.Time) bool {
	n, ok := w.Next(t)
	return ok && n.Equal(t)
}

// Next returns the earliest instant at or after t inside the window. ok is
// false only for a window that opens on no day (it cannot be parsed so).
func (w Window) Next(t time.Time) (time.Time, bool) {
	if !w.set {
		return t, true
	}
	lt := t.In(w.Location())
	// Start one day back: yesterday's window may cross midnight into today.
	for i := -1; i <= 8; i++ {
		start, end, ok := w.bounds(lt.Year(), lt.Month(), lt.Day()+i)
		if !ok || !end.After(t) {
			continue
		}
		if start.After(t) {
			return start, true
		}
		return t, true
	}
	return time.Time{}, false
}

// End returns the end of the window occurrence that contains t; ok is false
// when t is outside the window. A dialler uses it not to start an attempt
// that cannot finish inside the window.
func (w Window) End(t time.Time) (time.Time, bool) {
	if !w.set {
		return time.Time{}, false
	}
	lt := t.In(w.Location())
	for i := -1; i <= 0; i++ {
		start, end, ok := w.bounds(lt.Year(), lt.Month(), lt.Day()+i)
		if ok && !start.After(t) && end.After(t) {
			return end, true
		}
	}
	return time.Time{}, false
}

// wallTime is the instant when the clocks in loc show minute min after
// midnight of the given day (min past 1440 is the next day, by wall
// clock). A wall time inside a spring-forward gap does not exist; it maps
// to the instant it names with the offset before the gap, which is as far
// past the change as the wall time was past its start (02:30 → 03:30
// when 02:00 jumps to 03:00). A wall time that occurs twice (fall back)
// maps to its first occurrence. Go's time.Date leaves both cases
// unspecified, so they are settled here.
func wallTime(y int, m time.Month, d, min int, loc *time.Location) time.Time {
	naive := time.Date(y, m, d, 0, min, 0, 0, time.UTC)
	_, offBefore := naive.Add(-24 * time.Hour).In(loc).Zone()
	_, offAfter := naive.Add(24 * time.Hour).In(loc).Zone()
	var best time.Time
	for _, off := range []int{offBefore, offAfter} {
		cand := naive.Add(-time.Duration(off) * time.Second).In(loc)
		if cand.Hour() != naive.Hour() || cand.Minute() != naive.Minute() || cand.Day() != naive.Day() {
			continue
		}
		if best.IsZero() || cand.Before(best) {
			best = cand
		}
	}
	if best.IsZero() {
		best = naive.Add(-time.Duration(offBefore) * time.Second).In(loc)
	}
	return best
}

// Open reports whether t is inside the window, so a Window can stand for a
// queue's hours (Hours).
func (w Window) Open(t time.Time) bool { return w.Contains(t) }
