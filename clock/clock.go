// Package clock abstracts time so that the simulator, the controller and
// `rules simulate` can run on real time, accelerated time or a manual clock
// driven by a test. The routing engine never uses a Clock: it is handed
// `now` by its caller.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed on this clock.
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Scaled runs Factor times faster than the wall clock from Start: one real
// second is Factor simulated seconds. It drives accelerated simulations.
type Scaled struct {
	Start  time.Time // simulated time at Origin
	Origin time.Time // wall time when the clock started
	Factor float64
}

// NewScaled starts a clock at start running factor times real speed.
func NewScaled(start time.Time, factor float64) *Scaled {
	if factor <= 0 {
		factor = 1
	}
	return &Scaled{Start: start, Origin: time.Now(), Factor: factor}
}

// Now returns the simulated time.
func (s *Scaled) Now() time.Time {
	return s.Start.Add(time.Duration(float64(time.Since(s.Origin)) * s.Factor))
}

// After fires after d of simulated time.
func (s *Scaled) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	real := time.Duration(float64(d) / s.Factor)
	time.AfterFunc(real, func() { ch <- s.Now() })
	return ch
}

// Manual is advanced by hand; tests use it for exact, repeatable timing.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	waiters []manualWaiter
}

type manualWaiter struct {
	at time.Time
	ch chan time.Time
}

// NewManual returns a manual clock set to start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now returns the manual time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// After fires when Advance moves the clock to or past now+d.
func (m *Manual) After(d time.Duration) <-chan time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan time.Time, 1)
	at := m.now.Add(d)
	if d <= 0 {
		ch <- m.now
		return ch
	}
	m.waiters = append(m.waiters, manualWaiter{at: at, ch: ch})
	return ch
}

// Advance moves the clock forward by d and fires every timer that is due.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	m.now = m.now.Add(d)
	now := m.now
	kept := m.waiters[:0]
	var due []manualWaiter
	for _, w := range m.waiters {
		if !w.at.After(now) {
			due = append(due, w)
		} else {
			kept = append(kept, w)
		}
	}
	m.waiters = kept
	m.mu.Unlock()
	for _, w := range due {
		w.ch <- now
	}
}
