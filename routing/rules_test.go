package routing

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseDemoRoutingFile(t *testing.T) {
	data, err := os.ReadFile("testdata/routing.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseRules("routing.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngineChecked(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		call      Call
		wantQueue string
		wantPrio  int
	}{
		{Call{ID: "1", DialedNumber: "1000"}, "support", 0},
		{Call{ID: "2", DialedNumber: "2000"}, "billing", 0},
		{Call{ID: "3", DialedNumber: "3000"}, "sales", 0},
		{Call{ID: "4", DialedNumber: "9999"}, "general", 0},
		{Call{ID: "5", DialedNumber: "2000", Vars: map[string]string{"VIP": "1"}}, "billing", 5},
		{Call{ID: "6", DialedNumber: "1000", Customer: map[string]string{"vip": "true"}}, "support", 5},
	} {
		ds, err := e.Arrive(tc.call, t0)
		if err != nil {
			t.Fatal(err)
		}
		q, ok := has[Queued](ds)
		if !ok || q.Queue != tc.wantQueue || q.Priority != tc.wantPrio {
			t.Errorf("call %+v → %+v, want %s prio %d", tc.call, q, tc.wantQueue, tc.wantPrio)
		}
	}
}

func TestParseRulesErrorsPointAtTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"unknown key", "queues:\n  - name: a\n    strategi: random\n", "routing.yaml:3:"},
		{"unknown queue in entry", "queues:\n  - name: a\nentry:\n  - name: r\n    queue: b\n", "routing.yaml:5:12: entry rule \"r\" sends calls to unknown queue \"b\""},
		{"bad duration", "queues:\n  - name: a\n    wrap_up: ten\n", "routing.yaml:3:14: wrap_up \"ten\" is not a duration"},
		{"bad strategy", "queues:\n  - name: a\n    strategy: fastest\n", "routing.yaml:3:15: queue \"a\": unknown strategy"},
		{"expression type error", "queues:\n  - name: a\nentry:\n  - when: 'dialed > 3'\n    queue: a\n", "routing.yaml:4:11: entry rule \"entry 1\":"},
		{"misspelt field in expression", "queues:\n  - name: a\nentry:\n  - when: 'dialled == \"1\"'\n    queue: a\n", "unknown name dialled"},
		{"unknown skill", "skills: [billing]\nqueues:\n  - name: a\n    steps:\n      - {after: 0s, require: {biling: 5}}\n", "unknown skill \"biling\""},
		{"unreachable step order", "queues:\n  - name: a\n    steps:\n      - {after: 30s}\n      - {after: 10s}\n", "step 2 (after 10s) can never be reached"},
		{"unreachable step after max wait", "queues:\n  - name: a\n    max_wait: 1m\n    on_exit: {action: hangup}\n    steps:\n      - {after: 2m}\n", "max_wait is 1m0s"},
		{"overflow cycle", "queues:\n  - name: a\n    steps: [{after: 1m, overflow_to: b}]\n  - name: b\n    steps: [{after: 1m, overflow_to: a}]\n", "overflow cycle: a → b → a"},
		{"queue nobody serves", "queues:\n  - name: a\n  - name: b\nagents:\n  - {id: x, queues: {a: 1}}\n", "queue \"b\" can never be served"},
		{"widest step unmet", "queues:\n  - name: a\n    steps: [{after: 0s, require: {billing: 9}}]\nagents:\n  - {id: x, skills: {billing: 3}, queues: {a: 1}}\n", "no member meets its widest requirement"},
		{"goal not a fraction", "queues:\n  - name: a\n    service_level: {threshold: 20s, goal: 95}\n", "must be a fraction"},
		{"bad calendar", "calendars:\n  c: {timezone: Mars/Olympus}\nqueues:\n  - name: a\n", "unknown time zone"},
		{"empty", "", "routing file is empty"},
		{"not yaml", "queues: [", "routing.yaml:1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseRules("routing.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("accepted: %+v", cfg)
			}
			if cfg != nil {
				t.Fatal("a rejected file must yield no config")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid")
			}
		})
	}
}

func TestCalendarEdges(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	cal, err := NewCalendar("night", "Europe/Paris", map[string]string{"fri": "22:00-06:00", "mon-thu": "08:00-18:00"}, []string{"2026-12-25"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		open bool
	}{
		{time.Date(2026, 11, 27, 21, 59, 0, 0, paris), false}, // Friday before the night shift
		{time.Date(2026, 11, 27, 22, 0, 0, 0, paris), true},   // starts exactly at 22:00
		{time.Date(2026, 11, 27, 23, 59, 0, 0, paris), true},
		{time.Date(2026, 11, 28, 0, 0, 0, 0, paris), true}, // across midnight into Saturday
		{time.Date(2026, 11, 28, 5, 59, 0, 0, paris), true},
		{time.Date(2026, 11, 28, 6, 0, 0, 0, paris), false}, // ends exactly at 06:00
		{time.Date(2026, 11, 23, 8, 0, 0, 0, paris), true},  // Monday opening
		{time.Date(2026, 11, 23, 18, 0, 0, 0, paris), false},
		{time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC), true},  // 08:00 Paris in winter is 07:00 UTC
		{time.Date(2026, 12, 25, 10, 0, 0, 0, paris), false},   // holiday (a Friday)
		{time.Date(2026, 12, 25, 23, 0, 0, 0, paris), false},   // the night shift starting on a holiday is closed
		{time.Date(2026, 12, 26, 2, 0, 0, 0, paris), false},    // …including its early hours
		{time.Date(2026, 12, 24, 10, 0, 0, 0, paris), true},    // Thursday before
		{time.Date(2026, 7, 6, 6, 30, 0, 0, time.UTC), true},   // summer: 08:30 Paris (UTC+2)
		{time.Date(2026, 7, 6, 16, 30, 0, 0, time.UTC), false}, // 18:30 Paris
	} {
		if got := cal.Open(tc.at); got != tc.open {
			t.Errorf("Open(%s) = %v, want %v", tc.at, got, tc.open)
		}
	}
	if _, err := NewCalendar("x", "", map[string]string{"funday": "08:00-09:00"}, nil); err == nil {
		t.Error("bad day accepted")
	}
	if _, err := NewCalendar("x", "", map[string]string{"mon": "8-9"}, nil); err == nil {
		t.Error("bad range accepted")
	}
}

func TestEntryRuleByCalendarAndTime(t *testing.T) {
	src := `
calendars:
  office: {timezone: America/New_York, hours: {mon-fri: "09:00-17:00"}}
queues:
  - name: day
  - name: night
entry:
  - {name: open, open: office, queue: day}
  - {name: late, when: 'hour >= 17 && weekday != "sat"', closed: office, queue: night}
`
	cfg, err := ParseRules("r.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := NewEngineChecked(cfg)
	ny, _ := time.LoadLocation("America/New_York")
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 23, 10, 0, 0, 0, ny), "day"},
		{time.Date(2026, 11, 23, 18, 0, 0, 0, ny), "night"},
		{time.Date(2026, 11, 23, 3, 0, 0, 0, ny), "day"}, // no rule: default queue (first)
	} {
		ds, _ := e.Arrive(Call{ID: tc.at.String()}, tc.at)
		if q, _ := has[Queued](ds); q.Queue != tc.want {
			t.Errorf("%s → %s, want %s", tc.at, q.Queue, tc.want)
		}
	}
}

func FuzzParseRules(f *testing.F) {
	for _, p := range []string{"testdata/routing.yaml", "testdata/routing.example.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("queues:\n  - name: a\n    steps: [{after: 1m, overflow_to: a}]\n"))
	f.Add([]byte("entry:\n  - when: 'vars.X == \"1\"'\n    queue: a\nqueues: [{name: a}]\n"))
	f.Fuzz(fuzzRules)
}

// fuzzRules is the fuzz target's body: a file either fails with
// positioned errors and no config, or builds an engine that routes.
func fuzzRules(t *testing.T, data []byte) {
	{
		cfg, err := ParseRules("fuzz.yaml", data)
		// The same file gives the same answer (errors in the same order:
		// no map order leaks into them).
		if _, again := ParseRules("fuzz.yaml", data); fmt.Sprint(again) != fmt.Sprint(err) {
			t.Fatalf("two parses disagree:\n%v\n--\n%v", err, again)
		}
		if err != nil {
			if cfg != nil {
				t.Fatal("error with a config")
			}
			var re RulesErrors
			if !errors.As(err, &re) || len(re) == 0 {
				t.Fatalf("error is not positioned: %v", err)
			}
			return
		}
		// A file that parses must build an engine and route a call.
		e, err := NewEngineChecked(cfg)
		if err != nil {
			t.Fatalf("parsed config rejected by the engine: %v", err)
		}
		// Drive it: an agent in every queue with every skill the file
		// names, calls with variables and customer attributes, time
		// moving through every step and timer. Nothing may panic, and
		// every call must end up somewhere the views can see.
		ag := Agent{ID: "fz", Skills: map[string]int{}, Queues: map[string]int{}, Attributes: map[string]string{"language": "fr"}}
		for _, q := range cfg.Queues {
			ag.Queues[q.Name] = 1
			for _, st := range q.Steps {
				for sk := range st.Require {
					ag.Skills[sk] = 5
				}
			}
		}
		e.UpsertAgent(ag, t0)
		e.Login("fz", t0)
		for i, c := range []Call{
			{ID: "x", DialedNumber: "1000"},
			{ID: "y", DialedNumber: "2000", Vars: map[string]string{"VIP": "1"}, Customer: map[string]string{"vip": "true", "language": "fr"}},
			{ID: "z", CallerNumber: "+33100000000"},
		} {
			if _, err := e.Arrive(c, t0.Add(time.Duration(i)*time.Second)); err != nil && len(cfg.Queues) > 0 {
				t.Fatalf("arrive: %v", err)
			}
		}
		for s := 1; s <= 40; s++ {
			for _, d := range e.Tick(t0.Add(time.Duration(s*15) * time.Second)) {
				if o, ok := d.(Offer); ok && s%3 == 0 {
					e.Answered(o.CallID, o.AgentID, t0.Add(time.Duration(s*15)*time.Second))
				}
			}
		}
		e.Queues()
		e.Agents()
		for _, q := range cfg.Queues {
			e.Waiting(q.Name)
		}
	}
}
