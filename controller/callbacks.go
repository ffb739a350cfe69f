package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// CallbackDesk is the callbacks room as the controller needs it. Both
// methods are called from their own goroutines (never from the loop), so
// they may talk to the caller or the PBX; they must honour ctx.
type CallbackDesk interface {
	// OfferCallback: routing wants a waiting caller offered a callback
	// (virtual hold) — an escalation step, or a queue exit whose action is
	// callback. The caller keeps waiting meanwhile. The desk talks to the
	// caller (prompts; DTMF reaches it through Observe) and, when they
	// accept, calls Controller.AcceptCallback and later EnqueueCallback.
	OfferCallback(ctx context.Context, offer CallbackOffer) error
	// Connect: routing picked an agent for a callback entry. The desk calls
	// the customer and the agent (and bridges them), then reports. It may
	// take as long as ringing takes; ctx ends if the offer is withdrawn
	// (the agent logged out, the entry was cancelled).
	Connect(ctx context.Context, entry CallbackEntry, offer routing.Offer) (CallbackResult, error)
}

// CallbackDialAhead is implemented by a CallbackDesk that can dial a
// callback's customer before an agent is free (lead time): routing's
// DialAhead. Called from its own goroutine; ctx ends when the entry
// leaves (so a customer kept waiting is released).
type CallbackDialAhead interface {
	DialAhead(ctx context.Context, entry CallbackEntry, d routing.DialAhead) (DialAheadResult, error)
}

// DialAheadResult is what became of a DialAhead: the customer answered
// and waits in the entry's place (Customer is their leg; its hangup ends
// the entry), or the attempt is over (Remove takes the entry out; the
// desk hands it back when due).
type DialAheadResult struct {
	Answered bool
	Customer adapters.LegRef
	Remove   bool
	Reason   string
}

// CallbackOffer is a waiting caller routing wants offered a callback.
type CallbackOffer struct {
	CallID       string
	Queue        string
	Priority     int
	EnqueuedAt   time.Time
	CallerNumber string
	DialedNumber string
	Caller       adapters.LegRef
	Reason       string // "routing step", "max_wait" …
	// Skills is the skill requirement the caller's entry rule gave it,
	// which a callback entry keeps.
	Skills map[string]int
}

// CallbackEntry is a callback waiting for an agent, with no live leg. It
// keeps the caller's original place: enqueue time and priority.
type CallbackEntry struct {
	ID           string // unique among live calls; the callbacks desk's id
	Queue        string
	Priority     int
	EnqueuedAt   time.Time
	CallerNumber string
	DialedNumber string
	Vars         map[string]string
	// Skills is the skill requirement kept from the caller's entry.
	Skills map[string]int
	// Agent, when set, is the only agent routing offers the entry to until
	// AgentUntil (an agent-owned callback); then any agent of the queue.
	Agent      string
	AgentUntil time.Time
	// OfferTimeout bounds routing's offer of the entry to an agent (the
	// whole Connect: customer and agent ringing); 0 = the queue's.
	OfferTimeout time.Duration
	// LeadTime lets routing ask for the customer to be dialled that long
	// before an agent is predicted free (routing.Resume.LeadTime); the
	// desk must implement CallbackDialAhead. 0 = off.
	LeadTime time.Duration
}

// CallbackResult is what became of a Connect.
type CallbackResult struct {
	// Answered: customer and agent are connected. Customer and Agent name
	// the legs (their hangups end the call as for any call); Bridge the
	// bridge when the desk made one.
	Answered bool
	Customer adapters.LegRef
	Agent    adapters.LegRef
	Bridge   adapters.BridgeRef
	// Remove (when not answered) takes the entry out of the queue for
	// good (customer unreachable, retries exhausted: the desk reschedules
	// it itself); otherwise the entry keeps its place and routing offers
	// it again.
	Remove bool
	Reason string
}

// EnqueueCallback puts a callback entry in its queue, keeping its original
// enqueue time, priority and skill requirement, reserved for its owner
// agent until its deadline when it has one. When routing offers it to an
// agent the desk's Connect is called instead of ringing the agent here.
func (c *Controller) EnqueueCallback(ctx context.Context, e CallbackEntry) error {
	if e.ID == "" || e.Queue == "" {
		return fmt.Errorf("callback entry: id and queue are required (id %q, queue %q)", e.ID, e.Queue)
	}
	return c.do(ctx, func() error {
		if _, dup := c.calls[e.ID]; dup {
			return fmt.Errorf("callback entry %q: %w: a live call has that id", e.ID, ErrInvalidState)
		}
		if c.desk == nil {
			return fmt.Errorf("callback entry %q: %w", e.ID, ErrNoCallbackDesk)
		}
		now := c.clk.Now()
		entry := e
		cl := &call{id: e.ID, callerNum: e.CallerNumber, dialed: e.DialedNumber, vars: e.Vars, phase: phaseArriving,
			arrivedAt: now, callback: &entry}
		c.calls[cl.id] = cl
		ds, err := c.engine.EnqueueResumed(routing.Call{ID: e.ID, CallerNumber: e.CallerNumber, DialedNumber: e.DialedNumber, Vars: e.Vars},
			e.Queue, routing.Resume{Priority: e.Priority, Since: e.EnqueuedAt, Require: e.Skills, Agent: e.Agent, AgentUntil: e.AgentUntil,
				OfferTimeout: e.OfferTimeout, LeadTime: e.LeadTime}, now)
		if err != nil {
			delete(c.calls, cl.id)
			return fmt.Errorf("callback entry %q: %w", e.ID, err)
		}
		c.apply(ds)
		return nil
	})
}

// AcceptCallback: the waiting caller accepted a callback. The call leaves
// the queue (outcome callback, not an abandon); the desk hangs the caller
// up after its confirmation prompt.
func (c *Controller) AcceptCallback(ctx context.Context, callID string) error {
	return c.do(ctx, func() error {
		cl := c.calls[callID]
		if cl == nil || cl.callback != nil {
			return fmt.Errorf("%w: %q", ErrUnknownCall, callID)
		}
		if cl.phase != phaseQueued && cl.phase != phaseRinging {
			return fmt.Errorf("call %q is %s: %w", callID, cl.phase, ErrInvalidState)
		}
		now := c.clk.Now()
		c.board.CallbackAccepted(cl.queue, now)
		c.closeWait(cl, storage.OutcomeCallback, now)
		c.apply(c.engine.Abandoned(cl.id, now))
		c.endCall(cl, storage.OutcomeCallback, "caller accepted a callback", now)
		c.notify(EventEnded, cl, nil)
		return nil
	})
}

// RemoveCallback takes a callback entry out of its queue (cancelled by
// the desk); a Connect in progress for it is cancelled.
func (c *Controller) RemoveCallback(ctx context.Context, id string) error {
	return c.do(ctx, func() error {
		cl := c.calls[id]
		if cl == nil || cl.callback == nil {
			return fmt.Errorf("%w: no callback entry %q", ErrUnknownCall, id)
		}
		c.removeEntry(cl, "removed by the callbacks desk")
		return nil
	})
}

// removeEntry takes a leg-less callback entry out of routing.
func (c *Controller) removeEntry(cl *call, why string) {
	now := c.clk.Now()
	if cl.phase == phaseTalking {
		// Connected: the legs' hangups end it.
		for _, ref := range []adapters.LegRef{cl.caller, cl.agentLeg} {
			if !ref.IsZero() {
				c.hangup(ref, 16)
			}
		}
		return
	}
	c.apply(c.engine.Abandoned(cl.id, now))
	c.closeWait(cl, storage.OutcomeFailed, now)
	c.endCall(cl, storage.OutcomeFailed, why, now)
}

func (c *Controller) onOfferCallback(callID, queue, reason string, now time.Time) {
	cl := c.calls[callID]
	if cl == nil || cl.callback != nil {
		return
	}
	c.board.CallbackOffered(queue, now)
	c.notify(EventCallbackOffer, cl, nil)
	if c.desk == nil {
		c.log.Info("routing offers a callback but no callback desk is configured; the caller keeps waiting", "call_id", cl.id, "queue", queue)
		return
	}
	o := CallbackOffer{CallID: cl.id, Queue: queue, Priority: cl.priority, EnqueuedAt: cl.enqueuedAt, CallerNumber: cl.callerNum,
		DialedNumber: cl.dialed, Caller: cl.caller, Reason: reason, Skills: c.engine.EntryRequirement(cl.id)}
	c.wg.Add(1)
	c.inflight.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.inflight.Add(-1)
		if err := c.desk.OfferCallback(c.ctx, o); err != nil {
			c.log.Warn("callback offer failed; the caller keeps waiting", "call_id", o.CallID, "err", err)
		}
	}()
}

// onDialAhead hands routing's DialAhead to the desk: the customer is
// called while the entry keeps its place.
func (c *Controller) onDialAhead(v routing.DialAhead) {
	cl := c.calls[v.CallID]
	dialer, ok := c.desk.(CallbackDialAhead)
	if cl == nil || cl.callback == nil || !ok {
		// Nothing to dial with: the entry waits for a free agent as before
		// (routing does not ask again for it).
		c.log.Warn("dial ahead asked for but not possible; the entry waits for a free agent", "call_id", v.CallID, "queue", v.Queue)
		return
	}
	c.log.Info("callback dialled ahead", "call_id", cl.id, "queue", v.Queue, "agent_id", v.Agent, "remaining", v.Remaining, "reason", v.Reason)
	ctx, cancel := context.WithCancel(c.ctx)
	cl.aheadCancel = cancel
	entry := *cl.callback
	c.wg.Add(1)
	c.inflight.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.inflight.Add(-1)
		res, err := dialer.DialAhead(ctx, entry, v)
		c.post(func() { c.onDialAheadResult(cl, res, err) })
	}()
}

func (c *Controller) onDialAheadResult(cl *call, res DialAheadResult, err error) {
	if c.calls[cl.id] != cl || cl.phase == phaseEnded || cl.phase == phaseTalking {
		// The entry went (or a Connect already connected it) meanwhile.
		if res.Answered && cl.phase != phaseTalking {
			c.hangup(res.Customer, 16)
		}
		return
	}
	if err != nil || !res.Answered {
		reason := res.Reason
		if err != nil {
			reason = err.Error()
		}
		c.log.Info("callback dialled ahead did not reach the customer; entry removed", "call_id", cl.id, "reason", reason)
		c.removeEntry(cl, "callback: "+reason)
		return
	}
	// The customer is on the line, on hold, in the entry's place: their
	// hangup ends the entry like any caller's.
	cl.caller = res.Customer
	cl.answered, cl.onHold = true, true
	c.byLeg[res.Customer] = legOwner{callID: cl.id, role: adapters.RoleCaller, upGen: c.ups[res.Customer.Node]}
	c.log.Info("callback customer answered ahead of an agent; waiting in place", "call_id", cl.id, "queue", cl.queue)
}

// connectCallback hands an offer for a callback entry to the desk.
func (c *Controller) connectCallback(cl *call, of *offer, v routing.Offer) {
	if c.desk == nil {
		of.dead = true
		c.dropOffer(of.tag)
		c.apply(c.engine.OfferFailed(cl.id, v.AgentID, "no callback desk", c.clk.Now()))
		c.settlePhase(cl)
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	of.cancel = cancel
	entry := *cl.callback
	c.wg.Add(1)
	c.inflight.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.inflight.Add(-1)
		res, err := c.desk.Connect(ctx, entry, v)
		cancel()
		c.post(func() { c.onCallbackResult(cl, of, res, err) })
	}()
}

func (c *Controller) onCallbackResult(cl *call, of *offer, res CallbackResult, err error) {
	now := c.clk.Now()
	stale := of.dead || c.calls[cl.id] != cl || cl.phase == phaseEnded
	if stale {
		c.dropOffer(of.tag)
		if res.Answered {
			// Connected after the offer was withdrawn: nobody expects it.
			for _, ref := range []adapters.LegRef{res.Customer, res.Agent} {
				if !ref.IsZero() {
					c.hangup(ref, 16)
				}
			}
		}
		return
	}
	if err != nil || !res.Answered {
		of.dead = true
		c.dropOffer(of.tag)
		reason := res.Reason
		if err != nil {
			reason = err.Error()
			if errors.Is(err, context.Canceled) {
				reason = "callback connect cancelled"
			}
		}
		if res.Remove && err == nil {
			c.log.Info("callback entry removed by the desk", "call_id", cl.id, "reason", reason)
			c.apply(c.engine.Abandoned(cl.id, now))
			c.closeWait(cl, storage.OutcomeFailed, now)
			c.endCall(cl, storage.OutcomeFailed, "callback: "+reason, now)
			return
		}
		c.apply(c.engine.OfferFailed(cl.id, of.agentID, "callback: "+reason, now))
		c.settlePhase(cl)
		return
	}
	of.up = true
	of.leg = res.Agent
	cl.caller = res.Customer
	cl.agentLeg = res.Agent
	cl.bridge = res.Bridge
	if !res.Customer.IsZero() {
		c.byLeg[res.Customer] = legOwner{callID: cl.id, role: adapters.RoleCaller, upGen: c.ups[res.Customer.Node]}
	}
	if !res.Agent.IsZero() {
		c.byLeg[res.Agent] = legOwner{callID: cl.id, role: adapters.RoleAgent, tag: of.tag, upGen: c.ups[res.Agent.Node]}
	}
	ds := c.engine.Answered(cl.id, of.agentID, now)
	cl.phase, cl.agentID, cl.answeredAt = phaseTalking, of.agentID, now
	c.closeWait(cl, storage.OutcomeAnswered, now)
	c.notify(EventAnswered, cl, nil)
	if cl.bridge.ID != "" {
		c.notify(EventBridged, cl, nil)
	}
	c.apply(ds)
}
