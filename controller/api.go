package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/routing"
)

// Snapshot is a copy of the live floor, safe to hand to other goroutines.
type Snapshot struct {
	At     time.Time           `json:"at"`
	Queues []QueueStatus       `json:"queues"`
	Agents []routing.AgentView `json:"agents"`
	Calls  []CallStatus        `json:"calls"`
	Nodes  []NodeStatus        `json:"nodes"`
}

// QueueStatus is one queue on the wallboard.
type QueueStatus struct {
	Name                         string         `json:"name"`
	Waiting                      int            `json:"waiting"`
	Ringing                      int            `json:"ringing"`
	LongestWaitSeconds           float64        `json:"longest_wait_seconds"`
	Offered                      int            `json:"offered"`
	Answered                     int            `json:"answered"`
	AnsweredInSL                 int            `json:"answered_in_sl"`
	Abandoned                    int            `json:"abandoned"`
	Overflowed                   int            `json:"overflowed"`
	ServiceLevel                 float64        `json:"service_level"`
	ServiceLevelMeasured         bool           `json:"service_level_measured"`
	ServiceLevelGoal             float64        `json:"service_level_goal"`
	ServiceLevelThresholdSeconds float64        `json:"service_level_threshold_seconds"`
	AbandonRate                  float64        `json:"abandon_rate"`
	AvgWaitSeconds               float64        `json:"avg_wait_seconds"`
	AvgHandleSeconds             float64        `json:"avg_handle_seconds"`
	EstimatedWaitSeconds         float64        `json:"estimated_wait_seconds"`
	AgentsByState                map[string]int `json:"agents_by_state"`
	CallbacksOffered             int            `json:"callbacks_offered"`
	CallbacksWaiting             int            `json:"callbacks_waiting"`

	// oldest is the original enqueue time of the longest waiting call, so
	// that Snapshot can age LongestWaitSeconds to the moment it is read.
	oldest time.Time
}

// CallStatus is one live call.
type CallStatus struct {
	ID           string          `json:"id"`
	State        string          `json:"state"`
	Queue        string          `json:"queue"`
	Priority     int             `json:"priority"`
	CallerNumber string          `json:"caller_number"`
	DialedNumber string          `json:"dialed_number"`
	AgentID      string          `json:"agent_id,omitempty"`
	Node         string          `json:"node"`
	ArrivedAt    time.Time       `json:"arrived_at"`
	EnqueuedAt   time.Time       `json:"enqueued_at"`
	AnsweredAt   time.Time       `json:"answered_at"`
	WaitSeconds  float64         `json:"wait_seconds"`
	Offers       int             `json:"offers"`
	Traces       []routing.Trace `json:"traces,omitempty"`
	// Snoops are the supervisors listening to, whispering into or barging
	// into the call.
	Snoops []SnoopStatus `json:"snoops,omitempty"`
}

// NodeStatus is one PBX node's link.
type NodeStatus struct {
	Node    string    `json:"node"`
	Up      bool      `json:"up"`
	Standby bool      `json:"standby"`
	Error   string    `json:"error,omitempty"`
	Since   time.Time `json:"since"`
}

// Snapshot returns a picture of the floor, safe to keep and read from any
// goroutine. When the floor changed since the last picture the loop builds
// a new one (at most every 100 ms of wall time, so a busy wallboard does
// not slow routing; a loop that does not answer within a second yields the
// last picture); waits are aged to the clock's current time, so a floor
// where nothing happens still shows its callers' waits growing. Observers
// must not call it (they run in the loop).
func (c *Controller) Snapshot() Snapshot {
	if c.dirty.Load() && time.Since(c.lastPublish()) >= c.snapEvery {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.do(ctx, func() error { c.publish(); return nil })
		cancel()
	}
	c.snapMu.RLock()
	s := c.snap
	c.snapMu.RUnlock()
	now := c.clk.Now()
	if now.Before(s.At) {
		return s
	}
	s.At = now
	// The published slices are shared by every reader: age copies.
	s.Queues = append([]QueueStatus(nil), s.Queues...)
	for i := range s.Queues {
		if q := &s.Queues[i]; !q.oldest.IsZero() {
			q.LongestWaitSeconds = now.Sub(q.oldest).Seconds()
		}
	}
	s.Calls = append([]CallStatus(nil), s.Calls...)
	for i := range s.Calls {
		if cs := &s.Calls[i]; !cs.EnqueuedAt.IsZero() && cs.AnsweredAt.IsZero() {
			cs.WaitSeconds = now.Sub(cs.EnqueuedAt).Seconds()
		}
	}
	return s
}

func (c *Controller) lastPublish() time.Time {
	c.snapMu.RLock()
	defer c.snapMu.RUnlock()
	return c.published
}

// publish builds the snapshot; called from the loop only.
func (c *Controller) publish() {
	c.dirty.Store(false)
	now := c.clk.Now()
	s := Snapshot{At: now, Agents: c.engine.Agents()}
	board := map[string]int{}
	figures := c.board.Queues(now)
	for i := range figures {
		board[figures[i].Name] = i
	}
	entries := map[string]int{}
	for _, cl := range c.calls {
		if cl.callback != nil && cl.phase != phaseTalking {
			entries[cl.queue]++
		}
	}
	for _, q := range c.engine.Queues() {
		qs := QueueStatus{Name: q.Name, Waiting: q.Waiting, Ringing: q.Ringing, ServiceLevelGoal: q.ServiceLevelGoal,
			ServiceLevelThresholdSeconds: q.ServiceLevelThreshold.Seconds(), EstimatedWaitSeconds: q.EstimatedWait.Seconds(),
			AgentsByState: map[string]int{}, ServiceLevel: 1, CallbacksWaiting: entries[q.Name]}
		if !q.OldestSince.IsZero() {
			qs.oldest = q.OldestSince
			qs.LongestWaitSeconds = now.Sub(q.OldestSince).Seconds()
		}
		for st, n := range q.AgentsByState {
			qs.AgentsByState[string(st)] = n
		}
		if i, ok := board[q.Name]; ok {
			f := &figures[i]
			qs.Offered, qs.Answered, qs.AnsweredInSL, qs.Abandoned, qs.Overflowed = f.Offered, f.Answered, f.AnsweredInSL, f.Abandoned, f.Overflowed
			qs.ServiceLevel, qs.ServiceLevelMeasured = f.ServiceLevel()
			qs.AbandonRate = f.AbandonRate()
			qs.AvgWaitSeconds = f.ASA().Seconds()
			qs.AvgHandleSeconds = f.AHT().Seconds()
			qs.CallbacksOffered = f.CallbacksOffered
		}
		s.Queues = append(s.Queues, qs)
	}
	for _, cl := range c.calls {
		cs := CallStatus{ID: cl.id, State: string(cl.phase), Queue: cl.queue, Priority: cl.priority, CallerNumber: cl.callerNum,
			DialedNumber: cl.dialed, AgentID: cl.agentID, Node: cl.caller.Node, ArrivedAt: cl.arrivedAt, EnqueuedAt: cl.enqueuedAt,
			AnsweredAt: cl.answeredAt, Offers: cl.offers, Traces: append([]routing.Trace(nil), cl.traces...), Snoops: c.snoopStatus(cl.id)}
		if !cl.enqueuedAt.IsZero() {
			end := now
			if !cl.answeredAt.IsZero() {
				end = cl.answeredAt
			}
			cs.WaitSeconds = end.Sub(cl.enqueuedAt).Seconds()
		}
		s.Calls = append(s.Calls, cs)
	}
	sort.Slice(s.Calls, func(i, j int) bool {
		return s.Calls[i].ArrivedAt.Before(s.Calls[j].ArrivedAt) || s.Calls[i].ArrivedAt.Equal(s.Calls[j].ArrivedAt) && s.Calls[i].ID < s.Calls[j].ID
	})
	for _, n := range c.nodes {
		s.Nodes = append(s.Nodes, n)
	}
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].Node < s.Nodes[j].Node })
	c.snapMu.Lock()
	c.snap = s
	c.published = time.Now()
	c.snapMu.Unlock()
}

// Ready reports whether the controller can route calls: it runs and at
// least one PBX node is up and active (not in standby). Nodes that are
// down or in standby while another node serves leave it ready but
// degraded, the reason naming them ("degraded: pbx node ast2 down: …"):
// the calls on the nodes that are up go on being routed, and taking the
// instance out of service would stop them for nothing. When no node has
// reported yet, the adapter's own Ready decides.
func (c *Controller) Ready() (bool, string) {
	select {
	case <-c.running:
	default:
		return false, "controller not started"
	}
	nodes := c.Snapshot().Nodes
	if len(nodes) == 0 {
		if r, ok := c.pbx.(adapters.Ready); ok {
			if ok, why := r.Ready(); !ok {
				return false, why
			}
		}
		return true, ""
	}
	active := 0
	var problems []string
	for _, n := range nodes {
		switch {
		case n.Standby:
			problems = append(problems, fmt.Sprintf("pbx node %s: standby (another switchboard took over)", n.Node))
		case !n.Up:
			problems = append(problems, fmt.Sprintf("pbx node %s down: %s", n.Node, n.Error))
		default:
			active++
		}
	}
	if active == 0 {
		return false, strings.Join(problems, "; ")
	}
	if len(problems) > 0 {
		return true, "degraded: " + strings.Join(problems, "; ")
	}
	return true, ""
}

func (c *Controller) agentOp(ctx context.Context, fn func(now time.Time) ([]routing.Decision, error)) error {
	return c.do(ctx, func() error {
		ds, err := fn(c.clk.Now())
		if err != nil {
			return err
		}
		c.apply(ds)
		c.dirty.Store(true)
		c.snapMu.Lock()
		c.published = time.Time{} // the next Snapshot shows the change
		c.snapMu.Unlock()
		return nil
	})
}

// AgentLogin makes an agent available.
func (c *Controller) AgentLogin(ctx context.Context, agentID string) error {
	return c.agentOp(ctx, func(now time.Time) ([]routing.Decision, error) { return c.engine.Login(agentID, now) })
}

// AgentLogout logs an agent out (refused while on a call).
func (c *Controller) AgentLogout(ctx context.Context, agentID string) error {
	return c.agentOp(ctx, func(now time.Time) ([]routing.Decision, error) { return c.engine.Logout(agentID, now) })
}

// AgentPause puts an agent in not ready with a reason code.
func (c *Controller) AgentPause(ctx context.Context, agentID, reason string) error {
	if reason == "" {
		reason = "break"
	}
	return c.agentOp(ctx, func(now time.Time) ([]routing.Decision, error) { return c.engine.SetNotReady(agentID, reason, now) })
}

// AgentUnpause makes a paused (or wrapping-up) agent available.
func (c *Controller) AgentUnpause(ctx context.Context, agentID string) error {
	return c.agentOp(ctx, func(now time.Time) ([]routing.Decision, error) { return c.engine.SetAvailable(agentID, now) })
}

// UpsertAgent adds or redefines an agent (its live state is kept). The
// definition is checked first; a bad one changes nothing.
func (c *Controller) UpsertAgent(ctx context.Context, a routing.Agent) error {
	if a.ID == "" {
		return fmt.Errorf("agent: id is required: %w", routing.ErrInvalid)
	}
	for s, lvl := range a.Skills {
		if lvl < 1 || lvl > 10 {
			return fmt.Errorf("agent %q: skills.%s: level %d is outside 1..10: %w", a.ID, s, lvl, routing.ErrInvalid)
		}
	}
	return c.agentOp(ctx, func(now time.Time) ([]routing.Decision, error) { return c.engine.UpsertAgent(a, now), nil })
}

// HangupCall hangs up a live call's caller leg (cause 0 = 16, normal
// clearing); the rest follows from the hangup event. A callback entry
// waiting for an agent (no leg) is taken out of its queue at once.
func (c *Controller) HangupCall(ctx context.Context, id string, cause int) error {
	var ref adapters.LegRef
	err := c.do(ctx, func() error {
		cl, ok := c.calls[id]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownCall, id)
		}
		if cl.caller.IsZero() {
			c.removeEntry(cl, "removed by operator")
			return nil
		}
		ref = cl.caller
		return nil
	})
	if err != nil || ref.IsZero() {
		return err
	}
	if cause == 0 {
		cause = 16
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	return c.pbx.Hangup(cctx, ref, cause)
}

// ReloadRules swaps in a new routing configuration without dropping a call.
func (c *Controller) ReloadRules(ctx context.Context, cfg *routing.Config) error {
	return c.do(ctx, func() error {
		ds, err := c.engine.Reload(cfg, c.clk.Now())
		if err != nil {
			return err
		}
		for _, q := range c.engine.Queues() {
			c.board.SetQueue(q.Name, q.ServiceLevelThreshold, q.ServiceLevelGoal)
		}
		c.apply(ds)
		c.publish()
		return nil
	})
}
