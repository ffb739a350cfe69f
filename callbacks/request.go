package callbacks

import (
	"strings"
	"time"
)

// Request is a scheduled callback as an operator, an agent or a program
// asks for it (CLI flags, API JSON). Times and durations are strings so
// that every mistake is reported against the field it came from.
type Request struct {
	// Number is the customer's number: digits with an optional leading +;
	// spaces, dashes, dots and parentheses are ignored.
	Number string `json:"number" yaml:"number"`
	Queue  string `json:"queue" yaml:"queue"`
	// At is the earliest call time: RFC 3339 (2026-11-23T10:00:00+01:00)
	// or "2026-11-23 10:00" in TZ. Empty means now.
	At string `json:"at,omitempty" yaml:"at"`
	// Window is the daily calling window ("09:00-18:00", "mon-fri
	// 09:00-18:00", "22:00-06:00"); empty means any time.
	Window string `json:"window,omitempty" yaml:"window"`
	// TZ is the customer's IANA time zone for At and Window (default UTC).
	TZ string `json:"tz,omitempty" yaml:"tz"`
	// Agent owns the callback until AgentDeadline.
	Agent string `json:"agent,omitempty" yaml:"agent"`
	// AgentDeadline: a duration after At ("45m") or an RFC 3339 time;
	// default DefaultAgentGrace after At.
	AgentDeadline string `json:"agent_deadline,omitempty" yaml:"agent_deadline"`
	// Attempts is the maximum number of tries (default 3).
	Attempts int `json:"attempts,omitempty" yaml:"attempts"`
	// Interval between tries ("10m", default 10m).
	Interval string `json:"interval,omitempty" yaml:"interval"`
	// Priority in the queue (higher first; default 0).
	Priority int    `json:"priority,omitempty" yaml:"priority"`
	Note     string `json:"note,omitempty" yaml:"note"`
	// CreatedBy is who asked (operator, agent id, "api").
	CreatedBy string `json:"created_by,omitempty" yaml:"created_by"`
}

// Limits on request fields.
const (
	DefaultAgentGrace = time.Hour
	MaxNoteLen        = 1000
	maxNumberDigits   = 32
	// PastTolerance accepts an At slightly in the past (clock skew, a
	// form filled a minute ago) as "now"; older is a mistake.
	PastTolerance = 5 * time.Minute
	// MaxAhead bounds how far ahead a callback may be scheduled.
	MaxAhead = 366 * 24 * time.Hour
)

// Spec is a validated request, ready to store.
type Spec struct {
	Number        string
	Queue         string
	Plan          Plan
	Note          string
	CreatedBy     string
	TZ            string
	RequestedTime time.Time
}

// QueueChecker says whether a queue exists (nil accepts any name).
type QueueChecker func(name string) bool

// NormalizeNumber strips presentation characters and checks what is left
// is a dialable number.
func NormalizeNumber(s string) (string, bool) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", false
		}
	}
	n := b.String()
	digits := strings.TrimPrefix(n, "+")
	if len(digits) < 2 || len(digits) > maxNumberDigits {
		return "", false
	}
	return n, true
}

// Validate checks a request and turns it into a Spec. Every problem is
// reported with its field name, all at once; nothing is created on error.
func (r Request) Validate(now time.Time, queues QueueChecker) (Spec, error) {
	var errs FieldErrors
	sp := Spec{Note: r.Note, CreatedBy: strings.TrimSpace(r.CreatedBy), TZ: r.TZ}
	if r.Number == "" {
		errs.add("number", "is required")
	} else if n, ok := NormalizeNumber(r.Number); !ok {
		errs.add("number", "%q is not a phone number (digits, optional leading +)", r.Number)
	} else {
		sp.Number = n
	}
	sp.Queue = strings.TrimSpace(r.Queue)
	switch {
	case sp.Queue == "":
		errs.add("queue", "is required")
	case queues != nil && !queues(sp.Queue):
		errs.add("queue", "unknown queue %q", sp.Queue)
	}
	loc, err := LoadZone(r.TZ)
	tz := r.TZ
	if err != nil {
		errs.add("tz", "%v", err)
		loc, tz = time.UTC, ""
	}
	win, err := ParseWindow(r.Window, tz)
	if err != nil {
		errs.add("window", "%v", err)
	}
	at := now
	if strings.TrimSpace(r.At) != "" {
		t, err := ParseTime(r.At, loc)
		switch {
		case err != nil:
			errs.add("at", "%v", err)
		case t.Before(now.Add(-PastTolerance)):
			errs.add("at", "%s is in the past", t.Format(time.RFC3339))
		case t.After(now.Add(MaxAhead)):
			errs.add("at", "%s is more than a year ahead", t.Format(time.RFC3339))
		case t.After(now):
			at = t
		}
	}
	sp.RequestedTime = at
	retry := Retry{MaxAttempts: r.Attempts}
	if r.Attempts < 0 || r.Attempts > MaxAttemptsLimit {
		errs.add("attempts", "must be 1..%d, got %d", MaxAttemptsLimit, r.Attempts)
	}
	if r.Interval != "" {
		d, err := time.ParseDuration(r.Interval)
		switch {
		case err != nil:
			errs.add("interval", "%q is not a duration (10m, 1h30m)", r.Interval)
		case d < MinInterval:
			errs.add("interval", "must be at least %s, got %s", MinInterval, d)
		case d > 7*24*time.Hour:
			errs.add("interval", "must be at most 168h, got %s", d)
		default:
			retry.Interval = d
		}
	}
	retry = retry.normalized()
	agent := strings.TrimSpace(r.Agent)
	var deadline time.Time
	if r.AgentDeadline != "" && agent == "" {
		errs.add("agent_deadline", "needs an agent")
	}
	if agent != "" {
		deadline = at.Add(DefaultAgentGrace)
		if r.AgentDeadline != "" {
			if d, err := time.ParseDuration(r.AgentDeadline); err == nil {
				if d <= 0 {
					errs.add("agent_deadline", "must be after at, got %s", d)
				}
				deadline = at.Add(d)
			} else if t, err := ParseTime(r.AgentDeadline, loc); err == nil {
				if !t.After(at) {
					errs.add("agent_deadline", "%s is not after at (%s)", t.Format(time.RFC3339), at.Format(time.RFC3339))
				}
				deadline = t
			} else {
				errs.add("agent_deadline", "%q is neither a duration (45m) nor a time", r.AgentDeadline)
			}
		}
	}
	if len(r.Note) > MaxNoteLen {
		errs.add("note", "is %d characters; at most %d", len(r.Note), MaxNoteLen)
	}
	if r.Priority < -100 || r.Priority > 100 {
		errs.add("priority", "must be -100..100, got %d", r.Priority)
	}
	if len(errs) > 0 {
		return Spec{}, errs
	}
	sp.Plan = Plan{Kind: KindScheduled, Queue: sp.Queue, Priority: r.Priority, Window: win, Retry: retry,
		Agent: agent, AgentDeadline: deadline, NotBefore: at}
	first, ok := sp.Plan.NextEligible(at)
	if !ok {
		return Spec{}, FieldErrors{{Field: "window", Msg: "never opens"}}
	}
	sp.Plan.NotBefore = first
	// A scheduled callback's place in line is its first eligible time: it
	// is served before callers who arrived after that moment.
	sp.Plan.EnqueuedAt = first
	if agent != "" && deadline.Before(first) {
		// The window opens after the deadline: give the agent the same
		// grace from the first possible dial.
		sp.Plan.AgentDeadline = first.Add(deadline.Sub(at))
	}
	return sp, nil
}

// ParseTime reads RFC 3339 or "YYYY-MM-DD HH:MM[:SS]" / "YYYY-MM-DDTHH:MM"
// in loc.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &timeError{s}
}

type timeError struct{ s string }

func (e *timeError) Error() string {
	return "\"" + e.s + "\" is not a time (2026-11-23T10:00:00+01:00, or 2026-11-23 10:00 in tz)"
}
