package routing

import (
	"testing"
	"time"
)

// TestCalendarTimeZonesAndDST: opening hours are wall-clock hours in the
// calendar's zone, so on the days the clocks change a span lasts an hour
// more or less of real time, and a span in an hour that does not exist
// never opens; holidays are local dates; midnight is local midnight.
func TestCalendarTimeZonesAndDST(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name     string
		tz       string
		hours    map[string]string
		holidays []string
		at       string
		open     bool
	}{
		// Paris, spring forward on Sunday 2026-03-29: 02:00 CET → 03:00 CEST.
		{"spring: 01:00-04:00 opens at 01:00 CET", "Europe/Paris", map[string]string{"sun": "01:00-04:00"}, nil, "2026-03-29T00:00:00Z", true},
		{"spring: still open just before the jump", "Europe/Paris", map[string]string{"sun": "01:00-04:00"}, nil, "2026-03-29T00:59:59Z", true},
		{"spring: open at 03:00 CEST", "Europe/Paris", map[string]string{"sun": "01:00-04:00"}, nil, "2026-03-29T01:00:00Z", true},
		{"spring: closed at 04:00 CEST, 2 real hours later", "Europe/Paris", map[string]string{"sun": "01:00-04:00"}, nil, "2026-03-29T02:00:00Z", false},
		{"spring: an hour that does not exist never opens (before)", "Europe/Paris", map[string]string{"sun": "02:00-03:00"}, nil, "2026-03-29T00:59:59Z", false},
		{"spring: an hour that does not exist never opens (after)", "Europe/Paris", map[string]string{"sun": "02:00-03:00"}, nil, "2026-03-29T01:00:00Z", false},
		{"spring: a night span across the change ends at 06:00 CEST", "Europe/Paris", map[string]string{"sat": "22:00-06:00"}, nil, "2026-03-29T03:59:00Z", true},
		{"spring: … and not at 06:00 CET", "Europe/Paris", map[string]string{"sat": "22:00-06:00"}, nil, "2026-03-29T04:00:00Z", false},
		// Paris, fall back on Sunday 2026-10-25: 03:00 CEST → 02:00 CET.
		{"fall: 02:00-03:00 first pass", "Europe/Paris", map[string]string{"sun": "02:00-03:00"}, nil, "2026-10-25T00:00:00Z", true},
		{"fall: 02:00-03:00 second pass", "Europe/Paris", map[string]string{"sun": "02:00-03:00"}, nil, "2026-10-25T01:30:00Z", true},
		{"fall: closed at 03:00 CET, 2 real hours later", "Europe/Paris", map[string]string{"sun": "02:00-03:00"}, nil, "2026-10-25T02:00:00Z", false},
		// New York, fall back on Sunday 2026-11-01, and local midnights.
		{"New York: Friday 16:30 local is Friday 21:30 UTC", "America/New_York", map[string]string{"mon-fri": "09:00-17:00"}, nil, "2026-11-27T21:30:00Z", true},
		{"New York: Saturday 00:30 UTC is still Friday evening, closed", "America/New_York", map[string]string{"mon-fri": "09:00-17:00"}, nil, "2026-11-28T00:30:00Z", false},
		{"New York: 09:00 EST the day after the change is 14:00 UTC", "America/New_York", map[string]string{"mon-fri": "09:00-17:00"}, nil, "2026-11-02T14:00:00Z", true},
		{"New York: 13:59 UTC is 08:59 EST, closed", "America/New_York", map[string]string{"mon-fri": "09:00-17:00"}, nil, "2026-11-02T13:59:59Z", false},
		{"New York: 09:00 EDT the Friday before is 13:00 UTC", "America/New_York", map[string]string{"mon-fri": "09:00-17:00"}, nil, "2026-10-30T13:00:00Z", true},
		// Holidays are local dates.
		{"holiday starts at local midnight", "Europe/Paris", map[string]string{"daily": "00:00-24:00"}, []string{"2026-12-25"}, "2026-12-24T23:30:00Z", false},
		{"holiday ends at local midnight", "Europe/Paris", map[string]string{"daily": "00:00-24:00"}, []string{"2026-12-25"}, "2026-12-25T23:30:00Z", true},
		{"the day before a holiday, 23:59 local", "Europe/Paris", map[string]string{"daily": "00:00-24:00"}, []string{"2026-12-25"}, "2026-12-24T22:59:00Z", true},
		{"a span that started before the holiday keeps its early hours", "Europe/Paris", map[string]string{"thu": "22:00-06:00"}, []string{"2026-12-25"}, "2026-12-25T01:00:00Z", true},
		// 24:00 and 00:00.
		{"open until 24:00", "UTC", map[string]string{"mon": "18:00-24:00"}, nil, "2026-11-23T23:59:59Z", true},
		{"24:00 is the next day", "UTC", map[string]string{"mon": "18:00-24:00"}, nil, "2026-11-24T00:00:00Z", false},
		{"a span from 00:00", "UTC", map[string]string{"tue": "00:00-01:00"}, nil, "2026-11-24T00:00:00Z", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cal, err := NewCalendar("c", tc.tz, tc.hours, tc.holidays)
			if err != nil {
				t.Fatal(err)
			}
			if got := cal.Open(utc(tc.at)); got != tc.open {
				local := utc(tc.at).In(cal.Location())
				t.Fatalf("Open(%s = %s local) = %v, want %v", tc.at, local.Format("Mon 2006-01-02 15:04:05 MST"), got, tc.open)
			}
		})
	}
}

// TestEntryRuleTimeIsTheCalendarsWallClock: hour, weekday and date in a
// rule with a calendar are that calendar's local time, across a change of
// clocks; without a calendar they are UTC.
func TestEntryRuleTimeIsTheCalendarsWallClock(t *testing.T) {
	cfg := mustParse(t, `
calendars:
  paris: {timezone: Europe/Paris, hours: {daily: "00:00-24:00"}}
queues: [{name: morning}, {name: christmas}, {name: utc-morning}, {name: other}]
default_queue: other
entry:
  - {name: christmas, open: paris, when: 'date == "2026-12-25"', queue: christmas}
  - {name: morning, open: paris, when: 'hour == 8 && weekday == "sun"', queue: morning}
  - {name: utc-morning, when: 'hour == 8', queue: utc-morning}
`)
	e := mustEngine(t, cfg)
	for _, tc := range []struct {
		at   string
		want string
	}{
		{"2026-03-29T06:30:00Z", "morning"},     // 08:30 CEST, the day clocks go forward
		{"2026-03-29T07:30:00Z", "other"},       // 09:30 CEST
		{"2026-03-22T07:30:00Z", "morning"},     // 08:30 CET, the Sunday before
		{"2026-03-23T08:30:00Z", "utc-morning"}, // Monday: not Paris' rule, UTC's
		{"2026-12-24T23:30:00Z", "christmas"},   // already the 25th in Paris
		{"2026-12-25T23:30:00Z", "other"},       // the 26th in Paris
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		if q, _, r := e.Classify(Call{}, at); q != tc.want {
			t.Errorf("%s → %s (%s), want %s", tc.at, q, r, tc.want)
		}
	}
}
