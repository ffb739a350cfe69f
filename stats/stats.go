// Package stats keeps the live per-queue figures a floor is run by:
// offered, answered, abandoned, service level, abandon rate, average speed
// of answer and handle time, for the current day. It is pure: the
// controller feeds it what happened and when.
//
// Definitions (the same as the storage reports):
//
//   - offered: calls that joined the queue (counted once per call and queue).
//   - answered: calls an agent picked up; answered within threshold when
//     the wait (original enqueue → answer) is at most the threshold.
//   - abandoned: calls whose caller hung up before an agent answered.
//     Short abandons — under ShortAbandon (default 5 s) — are counted but
//     left out of the service level: a caller who hangs up at once did not
//     wait for service.
//   - service level (FormulaAbandons, the default) = answered within
//     threshold ÷ (answered + abandoned − short abandons). Callers who
//     gave up after the short-abandon threshold count against the service
//     level; those who hung up at once do not. The other formulas:
//     FormulaAnswered = answered within threshold ÷ answered (abandons
//     ignored, as some PBX reports do) and FormulaOffered = answered
//     within threshold ÷ offered (every call that joined the queue,
//     including ones still waiting, overflowed or exited). With nothing
//     to measure yet the service level is 1 (no caller has been failed)
//     and Measured is false.
//   - abandon rate = abandoned ÷ (answered + abandoned).
//   - ASA (average speed of answer) = total wait of answered calls ÷
//     answered; AHT = total talk of finished calls ÷ finished calls.
package stats

import (
	"fmt"
	"sort"
	"time"
)

// Formula names a service-level definition.
type Formula string

// Service-level formulas (see the package comment).
const (
	FormulaAbandons Formula = "abandons"
	FormulaAnswered Formula = "answered"
	FormulaOffered  Formula = "offered"
)

// ParseFormula checks a formula name; "" is FormulaAbandons.
func ParseFormula(s string) (Formula, error) {
	switch Formula(s) {
	case "":
		return FormulaAbandons, nil
	case FormulaAbandons, FormulaAnswered, FormulaOffered:
		return Formula(s), nil
	}
	return "", fmt.Errorf("service level formula %q: want abandons, answered or offered", s)
}

// Queue is one queue's figures for the day.
type Queue struct {
	Name              string
	Threshold         time.Duration
	Goal              float64
	Offered           int
	Answered          int
	AnsweredInSL      int
	Abandoned         int
	ShortAbandoned    int
	Overflowed        int
	Exited            int
	WaitTotal         time.Duration // answered calls' waits
	HandleTotal       time.Duration
	Handled           int
	CallbacksOffered  int
	CallbacksAccepted int
	// Formula is the service-level definition in force.
	Formula Formula
}

// ServiceLevel returns the fraction answered within the threshold and
// whether any call has been measured.
func (q *Queue) ServiceLevel() (float64, bool) {
	den := q.Answered + q.Abandoned - q.ShortAbandoned
	switch q.Formula {
	case FormulaAnswered:
		den = q.Answered
	case FormulaOffered:
		den = q.Offered
	}
	if den <= 0 {
		return 1, false
	}
	return float64(q.AnsweredInSL) / float64(den), true
}

// AbandonRate is abandoned ÷ (answered + abandoned).
func (q *Queue) AbandonRate() float64 {
	den := q.Answered + q.Abandoned
	if den == 0 {
		return 0
	}
	return float64(q.Abandoned) / float64(den)
}

// ASA is the average speed of answer.
func (q *Queue) ASA() time.Duration {
	if q.Answered == 0 {
		return 0
	}
	return q.WaitTotal / time.Duration(q.Answered)
}

// AHT is the average handle time (talk) of finished calls.
func (q *Queue) AHT() time.Duration {
	if q.Handled == 0 {
		return 0
	}
	return q.HandleTotal / time.Duration(q.Handled)
}

// Board holds every queue's figures for the current day in a time zone.
type Board struct {
	loc          *time.Location
	day          string
	shortAbandon time.Duration
	formula      Formula
	queues       map[string]*Queue
}

// SetFormula picks the service-level definition for every queue.
func (b *Board) SetFormula(f Formula) {
	if f == "" {
		f = FormulaAbandons
	}
	b.formula = f
	for _, q := range b.queues {
		q.Formula = f
	}
}

// New returns a board whose day rolls over at midnight in loc.
// shortAbandon < 0 disables the short-abandon rule; 0 means 5 s.
func New(loc *time.Location, shortAbandon time.Duration) *Board {
	if loc == nil {
		loc = time.UTC
	}
	if shortAbandon == 0 {
		shortAbandon = 5 * time.Second
	}
	if shortAbandon < 0 {
		shortAbandon = 0
	}
	return &Board{loc: loc, shortAbandon: shortAbandon, formula: FormulaAbandons, queues: map[string]*Queue{}}
}

// SetQueue declares a queue and its service-level settings.
func (b *Board) SetQueue(name string, threshold time.Duration, goal float64) {
	q := b.q(name)
	q.Threshold, q.Goal = threshold, goal
}

func (b *Board) q(name string) *Queue {
	q := b.queues[name]
	if q == nil {
		q = &Queue{Name: name, Threshold: 20 * time.Second, Goal: 0.95, Formula: b.formula}
		b.queues[name] = q
	}
	return q
}

// roll resets the counters when at falls on a new day.
func (b *Board) roll(at time.Time) {
	d := at.In(b.loc).Format("2006-01-02")
	if d == b.day {
		return
	}
	b.day = d
	for name, q := range b.queues {
		b.queues[name] = &Queue{Name: name, Threshold: q.Threshold, Goal: q.Goal, Formula: q.Formula}
	}
}

// Offered counts a call joining a queue.
func (b *Board) Offered(queue string, at time.Time) {
	b.roll(at)
	b.q(queue).Offered++
}

// Answered counts an answer after waiting wait.
func (b *Board) Answered(queue string, wait time.Duration, at time.Time) {
	b.roll(at)
	q := b.q(queue)
	q.Answered++
	q.WaitTotal += wait
	if wait <= q.Threshold {
		q.AnsweredInSL++
	}
}

// Abandoned counts a caller hanging up after waiting wait.
func (b *Board) Abandoned(queue string, wait time.Duration, at time.Time) {
	b.roll(at)
	q := b.q(queue)
	q.Abandoned++
	if wait < b.shortAbandon {
		q.ShortAbandoned++
	}
}

// Overflowed counts a call leaving for another queue.
func (b *Board) Overflowed(queue string, at time.Time) {
	b.roll(at)
	b.q(queue).Overflowed++
}

// Exited counts a call leaving without an agent (max wait, closed …).
func (b *Board) Exited(queue string, at time.Time) {
	b.roll(at)
	b.q(queue).Exited++
}

// Handled counts a finished call's talk time.
func (b *Board) Handled(queue string, talk time.Duration, at time.Time) {
	b.roll(at)
	q := b.q(queue)
	q.Handled++
	q.HandleTotal += talk
}

// CallbackOffered and CallbackAccepted count virtual-hold offers.
func (b *Board) CallbackOffered(queue string, at time.Time) {
	b.roll(at)
	b.q(queue).CallbacksOffered++
}

// CallbackAccepted counts an accepted callback offer.
func (b *Board) CallbackAccepted(queue string, at time.Time) {
	b.roll(at)
	b.q(queue).CallbacksAccepted++
}

// Queues returns copies of every queue's figures as of now, by name.
func (b *Board) Queues(now time.Time) []Queue {
	b.roll(now)
	out := make([]Queue, 0, len(b.queues))
	for _, q := range b.queues {
		out = append(out, *q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Day is the current day (YYYY-MM-DD in the board's zone).
func (b *Board) Day() string { return b.day }
