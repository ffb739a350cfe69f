package routing

import (
	"fmt"
	"strings"
	"time"
)

// Calendar says when a line is open: weekly hours in a time zone, minus
// holidays. Hours may cross midnight ("22:00-06:00" on fri means Friday
// 22:00 to Saturday 06:00).
type Calendar struct {
	Name     string
	loc      *time.Location
	week     [7][]span // by time.Weekday
	holidays map[string]bool
}

type span struct{ from, to int } // minutes since midnight; to may exceed 1440

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// NewCalendar builds a calendar. hours maps day specs (mon, mon-fri,
// "sat,sun", daily) to comma-separated ranges ("08:00-12:00,13:00-18:00").
func NewCalendar(name, tz string, hours map[string]string, holidays []string) (*Calendar, error) {
	return newCalendar(name, tz, hours, holidays, nil)
}

// Bounds on one calendar: Open walks a day's ranges on every call that a
// calendar rule looks at.
const (
	maxRangesPerDay = 48
	maxHolidays     = 10000
)

// newCalendar is NewCalendar sharing time zones already loaded (locs may
// be nil): a file with many calendars in one zone reads its zone once.
func newCalendar(name, tz string, hours map[string]string, holidays []string, locs map[string]*time.Location) (*Calendar, error) {
	loc := time.UTC
	if tz != "" {
		if l := locs[tz]; l != nil {
			loc = l
		} else {
			l, err := time.LoadLocation(tz)
			if err != nil {
				return nil, fmt.Errorf("unknown time zone %q", tz)
			}
			loc = l
			if locs != nil {
				locs[tz] = l
			}
		}
	}
	if len(holidays) > maxHolidays {
		return nil, fmt.Errorf("%d holidays; at most %d", len(holidays), maxHolidays)
	}
	c := &Calendar{Name: name, loc: loc, holidays: map[string]bool{}}
	for _, spec := range sortedKeys(hours) {
		ranges := hours[spec]
		days, err := parseDays(spec)
		if err != nil {
			return nil, err
		}
		if n := strings.Count(ranges, ",") + 1; n > maxRangesPerDay {
			return nil, fmt.Errorf("hours %q: %d ranges; at most %d a day", spec, n, maxRangesPerDay)
		}
		for _, r := range strings.Split(ranges, ",") {
			sp, err := parseSpan(strings.TrimSpace(r))
			if err != nil {
				return nil, fmt.Errorf("hours %q: %w", spec, err)
			}
			for _, d := range days {
				if len(c.week[d]) >= maxRangesPerDay {
					return nil, fmt.Errorf("hours %q: more than %d ranges on %s", spec, maxRangesPerDay, strings.ToLower(d.String()[:3]))
				}
				c.week[d] = append(c.week[d], sp)
			}
		}
	}
	for _, h := range holidays {
		if _, err := time.Parse("2006-01-02", h); err != nil {
			return nil, fmt.Errorf("holiday %q is not a date YYYY-MM-DD", h)
		}
		c.holidays[h] = true
	}
	return c, nil
}

func parseDays(spec string) ([]time.Weekday, error) {
	spec = strings.ToLower(strings.TrimSpace(spec))
	if spec == "daily" || spec == "all" {
		return []time.Weekday{0, 1, 2, 3, 4, 5, 6}, nil
	}
	var out []time.Weekday
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if a, b, ok := strings.Cut(part, "-"); ok {
			da, oka := dayNames[a]
			db, okb := dayNames[b]
			if !oka || !okb {
				return nil, fmt.Errorf("day range %q: use mon, tue, wed, thu, fri, sat, sun", part)
			}
			for d := da; ; d = (d + 1) % 7 {
				out = append(out, d)
				if d == db {
					break
				}
			}
			continue
		}
		d, ok := dayNames[part]
		if !ok {
			return nil, fmt.Errorf("day %q: use mon, tue, wed, thu, fri, sat, sun, a range mon-fri, or daily", part)
		}
		out = append(out, d)
	}
	return out, nil
}

func parseSpan(s string) (span, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return span{}, fmt.Errorf("range %q: use HH:MM-HH:MM", s)
	}
	from, err := parseClock(a)
	if err != nil {
		return span{}, err
	}
	to, err := parseClock(b)
	if err != nil {
		return span{}, err
	}
	if to == from {
		return span{}, fmt.Errorf("range %q is empty", s)
	}
	if to < from {
		to += 24 * 60 // crosses midnight
	}
	return span{from, to}, nil
}

func parseClock(s string) (int, error) {
	var h, m int
	if n, err := fmt.Sscanf(strings.TrimSpace(s), "%d:%d", &h, &m); n != 2 || err != nil || h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q: use HH:MM (00:00-24:00)", s)
	}
	return h*60 + m, nil
}

// Open reports whether the calendar is open at t. A span that crosses
// midnight belongs to the day it starts on, so a holiday closes the
// evening that starts on it, not the early hours after it.
func (c *Calendar) Open(t time.Time) bool {
	lt := t.In(c.loc)
	min := lt.Hour()*60 + lt.Minute()
	today := lt.Format("2006-01-02")
	if !c.holidays[today] {
		for _, sp := range c.week[lt.Weekday()] {
			if min >= sp.from && min < sp.to {
				return true
			}
		}
	}
	y := lt.AddDate(0, 0, -1)
	if !c.holidays[y.Format("2006-01-02")] {
		for _, sp := range c.week[y.Weekday()] {
			if sp.to > 24*60 && min < sp.to-24*60 {
				return true
			}
		}
	}
	return false
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }
