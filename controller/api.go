package controller

import (
	"context"
	"fmt"
	"sort"
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
}

// NodeStatus is one PBX node's link.
type NodeStatus struct {
	Node    string    `json:"node"`
	Up      bool      `json:"up"`
	Standby bool      `json:"standby"`
	Error   string    `json:"error,omitempty"`
	Since   time.Time `json:"since"`
}

// Snapshot returns the last published picture of the floor (refreshed by
// the loop at most every 100 ms, and whenever it goes idle).
func (c *Controller) Snapshot() Snapshot {
	c.snapMu.RLock()
	defer c.snapMu.RUnlock()
	return c.snap
}

// publish builds the snapshot; called from the loop only.
func (c *Controller) publish() {
	now := c.clk.Now()
	s := Snapshot{At: now, Agents: c.engine.Agents()}
	board := map[string]int{}
	figures := c.board.Queues(now)
	for i := range figures {
		board[figures[i].Name] = i
	}
	for _, q := range c.engine.Queues() {
		qs := QueueStatus{Name: q.Name, Waiting: q.Waiting, Ringing: q.Ringing, ServiceLevelGoal: q.ServiceLevelGoal,
			ServiceLevelThresholdSeconds: q.ServiceLevelThreshold.Seconds(), EstimatedWaitSeconds: q.EstimatedWait.Seconds(),
			AgentsByState: map[string]int{}, ServiceLevel: 1}
		if !q.OldestSince.IsZero() {
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
			AnsweredAt: cl.answeredAt, Offers: cl.offers, Traces: append([]routing.Trace(nil), cl.traces...)}
		if !cl.enqueuedAt.IsZero() {
			end := now
			if !cl.answeredAt.IsZero() {
				end = cl.answeredAt
			}
			cs.WaitSeconds = end.Sub(cl.enqueuedAt).Seconds()
		}
		s.Calls = append(s.Calls, cs)
	}
	sort.Slice(s.Calls, func(i, j int) bool { return s.Calls[i].ArrivedAt.Before(s.Calls[j].ArrivedAt) || s.Calls[i].ArrivedAt.Equal(s.Calls[j].ArrivedAt) && s.Calls[i].ID < s.Calls[j].ID })
	for _, n := range c.nodes {
		s.Nodes = append(s.Nodes, n)
	}
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].Node < s.Nodes[j].Node })
	c.snapMu.Lock()
	c.snap = s
	c.snapMu.Unlock()
}

// Ready reports whether the controller runs and every PBX node is up and
// active (not in standby).
func (c *Controller) Ready() (bool, string) {
	select {
	case <-c.running:
	default:
		return false, "controller not started"
	}
	if r, ok := c.pbx.(adapters.Ready); ok {
		if ok, why := r.Ready(); !ok {
			return false, why
		}
	}
	for _, n := range c.Snapshot().Nodes {
		if n.Standby {
			return false, fmt.Sprintf("pbx node %s: standby (another controller took over)", n.Node)
		}
		if !n.Up {
			return false, fmt.Sprintf("pbx node %s down: %s", n.Node, n.Error)
		}
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
		c.publish()
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

// UpsertAgent adds or redefines an agent.
func (c *Controller) UpsertAgent(ctx context.Context, a routing.Agent) error {
	return c.agentOp(ctx, func(now time.Time) ([]routing.Decision, error) { return c.engine.UpsertAgent(a, now), nil })
}

// HangupCall hangs up a live call's caller leg; the rest follows from the
// hangup event.
func (c *Controller) HangupCall(ctx context.Context, id string, cause int) error {
	var ref adapters.LegRef
	err := c.do(ctx, func() error {
		cl, ok := c.calls[id]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownCall, id)
		}
		ref = cl.caller
		return nil
	})
	if err != nil {
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
