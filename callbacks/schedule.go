package callbacks

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Kind says how a callback came to be.
type Kind string

// Kinds.
const (
	// KindVirtualHold: a waiting caller left the line and kept their place.
	KindVirtualHold Kind = "virtual_hold"
	// KindScheduled: a call at an agreed time (API, CLI, an agent after a
	// call, or a proactive reminder).
	KindScheduled Kind = "scheduled"
)

// DialOrder says which leg a callback dials first.
type DialOrder string

// Dial orders.
const (
	// CustomerFirst rings the customer and brings the agent in when the
	// customer answers: no agent time is spent on unanswered numbers, but
	// the customer may wait a few seconds for the agent's phone.
	CustomerFirst DialOrder = "customer_first"
	// AgentFirst rings the agent, shows who is being called (a preview),
	// then rings the customer: the customer hears a person at once.
	AgentFirst DialOrder = "agent_first"
)

// ClosedAction is what happens to a callback whose queue is closed (its
// calendar) when its turn comes.
type ClosedAction string

// Closed actions.
const (
	// ClosedNextOpening keeps the entry and its place; it is served first
	// thing when the queue opens again.
	ClosedNextOpening ClosedAction = "next_opening"
	// ClosedSchedule turns it into a scheduled callback in the queue's
	// callback window after the next opening (it leaves the line).
	ClosedSchedule ClosedAction = "schedule"
)

// Outcome is how one dial attempt ended.
type Outcome string

// Attempt outcomes.
const (
	OutcomeConnected   Outcome = "connected"    // customer and agent bridged
	OutcomeNoAnswer    Outcome = "no_answer"    // customer's phone rang out
	OutcomeBusy        Outcome = "busy"         // customer busy or rejected
	OutcomeFailed      Outcome = "failed"       // the PBX could not dial
	OutcomeAgentMissed Outcome = "agent_missed" // the agent did not answer (not the customer's fault)
	OutcomeInterrupted Outcome = "interrupted"  // switchboard stopped during the attempt
	OutcomeDeclined    Outcome = "declined"     // the customer answered and refused
	// Lead-time dials (the customer is called before an agent is free):
	OutcomeNoAgent Outcome = "no_agent" // answered, but no agent came within the hold limit (not the customer's fault)
	OutcomeHungUp  Outcome = "hung_up"  // answered, then hung up (or was released) before an agent came
)

// CountsAgainstCustomer reports whether the outcome uses one of the
// customer's attempts. An agent who misses the preview, or a PBX
// failure before the customer was dialled, does not.
func (o Outcome) CountsAgainstCustomer() bool {
	switch o {
	case OutcomeAgentMissed, OutcomeNoAgent:
		return false
	}
	return true
}

// Retry is a retry policy: how many attempts, and how long to wait between
// them (Interval, multiplied by Multiplier after each failure, at most
// MaxInterval).
type Retry struct {
	MaxAttempts int           `yaml:"max_attempts" json:"max_attempts"`
	Interval    time.Duration `yaml:"interval" json:"interval"`
	Multiplier  float64       `yaml:"multiplier" json:"multiplier"`
	MaxInterval time.Duration `yaml:"max_interval" json:"max_interval"`
}

// DefaultRetry is three attempts ten minutes apart.
var DefaultRetry = Retry{MaxAttempts: 3, Interval: 10 * time.Minute, Multiplier: 1}

// Limits on retry policies; a typo (1000 attempts, 1 s apart) must not
// turn into harassment of a customer.
const (
	MaxAttemptsLimit = 20
	MinInterval      = 30 * time.Second
)

// normalized fills defaults.
func (r Retry) normalized() Retry {
	if r.MaxAttempts == 0 {
		r.MaxAttempts = DefaultRetry.MaxAttempts
	}
	if r.Interval == 0 {
		r.Interval = DefaultRetry.Interval
	}
	if r.Multiplier == 0 {
		r.Multiplier = 1
	}
	return r
}

// Validate checks the policy; errors name the field.
func (r Retry) Validate() error {
	var errs FieldErrors
	if r.MaxAttempts < 0 || r.MaxAttempts > MaxAttemptsLimit {
		errs.add("attempts", "must be 1..%d, got %d", MaxAttemptsLimit, r.MaxAttempts)
	}
	if r.Interval != 0 && r.Interval < MinInterval {
		errs.add("interval", "must be at least %s, got %s", MinInterval, r.Interval)
	}
	if r.Multiplier != 0 && (r.Multiplier < 1 || r.Multiplier > 10 || math.IsNaN(r.Multiplier)) {
		errs.add("multiplier", "must be 1..10, got %v", r.Multiplier)
	}
	if r.MaxInterval < 0 {
		errs.add("max_interval", "must not be negative")
	}
	return errs.err()
}

// Delay is the wait after the failed-th failed attempt (1-based).
func (r Retry) Delay(failed int) time.Duration {
	r = r.normalized()
	if failed < 1 {
		failed = 1
	}
	d := float64(r.Interval) * math.Pow(r.Multiplier, float64(failed-1))
	if r.MaxInterval > 0 && d > float64(r.MaxInterval) {
		d = float64(r.MaxInterval)
	}
	if d > float64(30*24*time.Hour) {
		d = float64(30 * 24 * time.Hour)
	}
	return time.Duration(d)
}

// Plan is the scheduling state of one callback: everything the pure rules
// need to say when and to whom it may be dialled next.
type Plan struct {
	Kind     Kind
	Queue    string
	Priority int
	// EnqueuedAt is the caller's original place in line (virtual hold) or
	// the scheduled time (scheduled): routing orders the entry by it.
	EnqueuedAt time.Time
	// NotBefore is the earliest next dial.
	NotBefore time.Time
	Window    Window
	Retry     Retry
	// Attempts counts attempts that used one of the customer's tries.
	Attempts int
	// Agent owns the callback until AgentDeadline; then the queue may serve it.
	Agent         string
	AgentDeadline time.Time
}

// NextEligible is the earliest time at or after now when the callback may
// be dialled: not before NotBefore, inside the window. ok is false when the
// window never opens.
func (p Plan) NextEligible(now time.Time) (time.Time, bool) {
	t := now
	if p.NotBefore.After(t) {
		t = p.NotBefore
	}
	return p.Window.Next(t)
}

// Exhausted reports whether every attempt is used.
func (p Plan) Exhausted() bool { return p.Attempts >= p.Retry.normalized().MaxAttempts }

// AfterAttempt applies an attempt's outcome that ended at end. done is true
// when the callback is finished (connected, declined or out of attempts);
// otherwise the plan's NotBefore is the next eligible time.
func (p Plan) AfterAttempt(o Outcome, end time.Time) (next Plan, done bool) {
	next = p
	switch o {
	case OutcomeConnected, OutcomeDeclined:
		// The try was made and reached the customer: it counts, so a
		// completed callback shows the tries it took (1/3, not 0/3).
		next.Attempts++
		return next, true
	}
	if o == OutcomeNoAgent {
		// We kept the customer waiting in vain: not their fault, but they
		// are not called straight back either — the retry interval.
		at, ok := next.Window.Next(end.Add(p.Retry.Delay(max(next.Attempts, 1))))
		if !ok {
			return next, true
		}
		next.NotBefore = at
		return next, false
	}
	if !o.CountsAgainstCustomer() {
		// The agent missed: try again soon, with another agent.
		next.NotBefore = end
		return next, false
	}
	next.Attempts++
	if next.Exhausted() {
		return next, true
	}
	at, ok := next.Window.Next(end.Add(p.Retry.Delay(next.Attempts)))
	if !ok {
		return next, true
	}
	next.NotBefore = at
	return next, false
}

// Target says who may take the callback at now: the owning agent until
// the deadline (agentOnly true), then any agent of the queue.
func (p Plan) Target(now time.Time) (agent string, agentOnly bool) {
	if p.Agent == "" {
		return "", false
	}
	if p.AgentDeadline.IsZero() || now.Before(p.AgentDeadline) {
		return p.Agent, true
	}
	return "", false
}

// Hours says when a queue is open (routing.Calendar satisfies it).
type Hours interface {
	Open(t time.Time) bool
}

// NextOpening returns the first minute at or after t when h is open,
// looking at most horizon ahead. Calendars are minute-grained, so a scan by
// minute is exact; 31 days is ~45,000 cheap checks, run once per closed
// entry, not per routing decision.
func NextOpening(h Hours, t time.Time, horizon time.Duration) (time.Time, bool) {
	if h == nil || h.Open(t) {
		return t, true
	}
	m := t.Truncate(time.Minute)
	if m.Before(t) {
		m = m.Add(time.Minute)
	}
	for end := t.Add(horizon); !m.After(end); m = m.Add(time.Minute) {
		if h.Open(m) {
			return m, true
		}
	}
	return time.Time{}, false
}

// ClosedHorizon bounds the search for the next opening.
const ClosedHorizon = 31 * 24 * time.Hour

// ErrNeverOpens means a queue's calendar has no opening within ClosedHorizon.
var ErrNeverOpens = errors.New("queue does not open within 31 days")

// WhenClosed applies the queue-closed policy to a plan found due while its
// queue is closed. scheduleWindow is the window a ClosedSchedule entry
// gets (the queue's callback window). The result keeps EnqueuedAt for
// ClosedNextOpening (the place in line) and sets it to the new time for
// ClosedSchedule.
func WhenClosed(p Plan, action ClosedAction, h Hours, scheduleWindow Window, now time.Time) (Plan, error) {
	open, ok := NextOpening(h, now, ClosedHorizon)
	if !ok {
		return p, fmt.Errorf("queue %q: %w", p.Queue, ErrNeverOpens)
	}
	switch action {
	case ClosedSchedule:
		p.Kind = KindScheduled
		p.Window = scheduleWindow
		at, ok := scheduleWindow.Next(open)
		if !ok {
			return p, fmt.Errorf("queue %q: callback window %q never opens", p.Queue, scheduleWindow)
		}
		// The queue must be open too; a window that starts before the
		// queue opens is clipped to the opening.
		if at2, ok := NextOpening(h, at, ClosedHorizon); ok {
			at = at2
		}
		p.NotBefore, p.EnqueuedAt = at, at
	default:
		p.NotBefore = open
	}
	return p, nil
}

// OfferRule decides when a waiting caller is offered a callback.
type OfferRule struct {
	// Always offers at once.
	Always bool `yaml:"always" json:"always"`
	// After offers once the caller has waited this long (0 = not by time).
	After time.Duration `yaml:"after" json:"after"`
	// EstimatedWaitOver offers when the estimated wait exceeds it (0 = not
	// by estimate). An unknown estimate (no agent staffed) counts as over.
	EstimatedWaitOver time.Duration `yaml:"estimated_wait_over" json:"estimated_wait_over"`
}

// ShouldOffer reports whether a caller who has waited waited, with the
// given estimate (0 = unknown), is to be offered a callback now.
func (r OfferRule) ShouldOffer(waited, estimate time.Duration, staffed bool) bool {
	if r.Always {
		return true
	}
	if r.After > 0 && waited >= r.After {
		return true
	}
	if r.EstimatedWaitOver > 0 && (estimate > r.EstimatedWaitOver || !staffed) {
		return true
	}
	return false
}

// ---------------------------------------------------------------- errors

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid callback")

// FieldError says which input field is wrong and why.
type FieldError struct {
	Field string `json:"field"`
	Msg   string `json:"message"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// FieldErrors is every problem found in one input; Error lists them all so
// an operator fixes them in one go.
type FieldErrors []FieldError

func (fe *FieldErrors) add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (fe FieldErrors) Error() string {
	parts := make([]string, len(fe))
	for i, e := range fe {
		parts[i] = e.Error()
	}
	return "invalid callback: " + strings.Join(parts, "; ")
}

// Unwrap lets errors.Is(err, ErrInvalid) hold.
func (fe FieldErrors) Unwrap() error { return ErrInvalid }

func (fe FieldErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// FirstField names the first wrong field (the API's error "field").
func (fe FieldErrors) FirstField() string {
	if len(fe) == 0 {
		return ""
	}
	return fe[0].Field
}
