package callbacks

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/storage"
)

// Lead-time dialling: routing asks (DialAhead) for a customer-first
// callback's customer to be called before any agent is free, because an
// agent is predicted free within the queue's lead_time. The desk claims
// the callback and writes the attempt exactly as Connect does, rings the
// customer and, once they answer, keeps them on hold ("connecting you")
// while the entry waits in its place; the Connect that follows when an
// agent is offered rings only the agent and bridges. The customer waits
// at most the queue's lead_hold_limit after answering.

// aheadDial is one callback dialled ahead.
type aheadDial struct {
	cb   *storage.Callback
	plan Plan
	att  *storage.CallbackAttempt
	log  *slog.Logger
	// ready is closed when the customer's ring ended: answered (cust set)
	// or not (result set, the attempt recorded).
	ready    chan struct{}
	answered bool
	cust     adapters.LegRef
	at       time.Time // when the customer answered
	result   Result

	mu     sync.Mutex
	taken  bool          // a Connect holds the attempt (agent ringing)
	closed bool          // the attempt was recorded; nothing more to do
	wake   chan struct{} // closed when a Connect takes it (the watch stops)
}

// AheadResult is how a dial ahead ended: the customer is on the line and
// waiting (Answered), or the attempt is over (not answered; Finished and
// NextAt as for Connect).
type AheadResult struct {
	Answered bool
	Customer adapters.LegRef
	Result   Result
}

// DialAhead rings a callback's customer before an agent is free. It
// returns when the customer answered (they then wait on hold until a
// Connect brings an agent, ctx ends, or the hold limit passes) or when the
// attempt failed, recorded with the retry policy. predicted is the agent
// routing expects free (kept on the attempt row). Another instance holding
// the callback gives ErrClaimed and nothing is dialled.
func (d *Desk) DialAhead(ctx context.Context, callbackID, predicted string) (AheadResult, error) {
	now := d.clk.Now()
	d.mu.Lock()
	if d.ahead[callbackID] != nil {
		d.mu.Unlock()
		return AheadResult{}, fmt.Errorf("callback %s is already dialled ahead: %w", callbackID, ErrClaimed)
	}
	a := &aheadDial{ready: make(chan struct{}), wake: make(chan struct{})}
	d.ahead[callbackID] = a // a Connect arriving during the ring waits for it
	d.mu.Unlock()
	cb, plan, att, err := d.begin(ctx, callbackID, predicted, now)
	if err != nil {
		d.dropAhead(callbackID, a)
		a.result = Result{Outcome: OutcomeFailed}
		close(a.ready)
		return AheadResult{}, err
	}
	a.cb, a.plan, a.att = cb, plan, att
	a.log = d.log.With("callback_id", cb.ID, "queue", cb.Queue, "attempt", att.Seq, "predicted_agent", predicted)
	a.log.Info("dialling callback ahead of a free agent")
	cust, out, cause, rerr := d.ring(ctx, d.customerReq(cb, att, ""))
	d.noteLeg(att, cust)
	if rerr != nil || out != OutcomeConnected {
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		res, ferr := d.finish(ctx, cb, plan, att, Result{Outcome: out, Customer: cust}, cause, errText(rerr), a.log)
		d.dropAhead(callbackID, a)
		a.result = res
		close(a.ready)
		if ferr != nil {
			return AheadResult{Result: res}, ferr
		}
		return AheadResult{Result: res}, rerr
	}
	// Watch for the customer's hangup from the moment they answered: one
	// during the prompt below (or before the watch starts) must end the
	// wait, not leave a dead leg in the queue until the hold limit.
	// Observe drops byLeg[cust] on the hangup, under the same lock, so a
	// leg missing there hung up between ring's return and now.
	hung := make(chan adapters.Event, 4)
	d.mu.Lock()
	if _, up := d.byLeg[cust]; up {
		d.waiters[att.Tag] = hung
	} else {
		hung <- adapters.LegHungUp{Base: adapters.Base{Ref: cust}, Tag: att.Tag}
	}
	d.mu.Unlock()
	a.answered, a.cust, a.at = true, cust, d.clk.Now()
	d.store.AttemptAnswered(context.WithoutCancel(ctx), att.ID, a.at)
	d.renew(ctx, cb.ID)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	d.pbx.Play(pctx, cust, adapters.Media{Kind: "sound", Value: "callback-connecting"})
	d.pbx.StartHold(pctx, cust, "")
	cancel()
	close(a.ready)
	go d.watchAhead(ctx, a, hung)
	return AheadResult{Answered: true, Customer: cust}, nil
}

func (d *Desk) dropAhead(id string, a *aheadDial) {
	d.mu.Lock()
	if d.ahead[id] == a {
		delete(d.ahead, id)
	}
	delete(d.handed, id) // routing lets the entry go; it is handed again when due
	d.mu.Unlock()
}

// holdLimit is how long an answered customer waits for an agent.
func (d *Desk) holdLimit(queue string) time.Duration {
	if l := d.cfg.queue(queue).LeadHoldLimit; l > 0 {
		return l
	}
	return DefaultLeadHoldLimit
}

// watchAhead keeps the claim of an answered dial ahead alive while the
// customer waits, and ends the wait: at the hold limit (released, outcome
// no_agent: not the customer's fault, retried after the interval), or when
// the customer hangs up or ctx ends (outcome hung_up). It stops as soon
// as a Connect takes the attempt over.
func (d *Desk) watchAhead(ctx context.Context, a *aheadDial, hung chan adapters.Event) {
	defer func() {
		d.mu.Lock()
		if d.waiters[a.att.Tag] == hung {
			delete(d.waiters, a.att.Tag)
		}
		d.mu.Unlock()
	}()
	deadline := a.at.Add(d.holdLimit(a.cb.Queue))
	renewEvery := d.lease() / 3
	for {
		a.mu.Lock()
		wake, taken := a.wake, a.taken
		a.mu.Unlock()
		if taken {
			select {
			case <-wake: // given back (the agent missed): watch again
				continue
			case <-ctx.Done():
				return
			}
		}
		left := deadline.Sub(d.clk.Now())
		var outcome Outcome
		var detail string
		select {
		case <-wake:
			continue // taken by a Connect
		case <-d.clk.After(min(left, renewEvery)):
			if d.clk.Now().Before(deadline) {
				d.renew(ctx, a.cb.ID)
				continue
			}
			outcome, detail = OutcomeNoAgent, fmt.Sprintf("no agent within the hold limit %s after the customer answered", d.holdLimit(a.cb.Queue))
		case ev := <-hung:
			if _, gone := ev.(adapters.LegHungUp); !gone {
				continue
			}
			outcome, detail = OutcomeHungUp, "the customer hung up while waiting for an agent"
		case <-ctx.Done():
			outcome, detail = OutcomeHungUp, "released while waiting for an agent (entry withdrawn or switchboard stopping)"
		}
		a.mu.Lock()
		if a.taken || a.closed {
			a.mu.Unlock()
			continue
		}
		a.closed = true
		a.mu.Unlock()
		end := d.clk.Now()
		if outcome == OutcomeNoAgent {
			// Off the queue first, so no agent is offered the entry while
			// the customer hears the apology.
			d.removeEntry(ctx, a)
			d.apologize(context.WithoutCancel(ctx), a, hung)
		}
		d.hangup(a.cust)
		d.finishAt(ctx, a.cb, a.plan, a.att, Result{Outcome: outcome, Customer: a.cust}, 0, detail, a.log, end)
		d.dropAhead(a.cb.ID, a)
		d.removeEntry(ctx, a)
		return
	}
}

// removeEntry takes a dial ahead's entry off the routing floor.
func (d *Desk) removeEntry(ctx context.Context, a *aheadDial) {
	if d.floor == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := d.floor.RemoveCallback(rctx, EntryCallID(a.cb.ID)); err != nil {
		a.log.Debug("entry already off the queue", "err", err)
	}
}

// apologize tells a customer released at the hold limit that we will call
// again (PromptSorryLater), and returns once the prompt has played, the
// customer hung up, or a bound passed: a hangup right after Play would
// cut the prompt off.
func (d *Desk) apologize(ctx context.Context, a *aheadDial, hung <-chan adapters.Event) {
	key := "playleg:" + a.cust.String()
	done := make(chan adapters.Event, 4)
	d.mu.Lock()
	d.waiters[key] = done
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		if d.waiters[key] == done {
			delete(d.waiters, key)
		}
		d.mu.Unlock()
	}()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	d.pbx.StopHold(pctx, a.cust)
	_, err := d.pbx.Play(pctx, a.cust, adapters.Media{Kind: "sound", Value: PromptSorryLater})
	cancel()
	if err != nil {
		a.log.Warn("apology prompt failed", "err", err)
		return
	}
	bound := d.clk.After(15 * time.Second)
	for {
		select {
		case <-done:
			return
		case ev := <-hung:
			if _, gone := ev.(adapters.LegHungUp); gone {
				return
			}
		case <-bound:
			return
		}
	}
}

// connectAhead is Connect for a callback dialled ahead: it waits for the
// customer's ring, then rings the agent and bridges. An agent who does not
// answer leaves the customer waiting in the entry's place (KeepWaiting).
func (d *Desk) connectAhead(ctx context.Context, a *aheadDial, agent AgentOffer) (Result, error) {
	select {
	case <-a.ready:
	case <-ctx.Done():
		return Result{Outcome: OutcomeInterrupted}, ctx.Err()
	}
	if !a.answered {
		return a.result, nil // recorded by DialAhead
	}
	a.mu.Lock()
	if a.taken || a.closed {
		a.mu.Unlock()
		return Result{Outcome: OutcomeFailed}, fmt.Errorf("callback %s: the dial ahead is over: %w", a.cb.ID, ErrClaimed)
	}
	a.taken = true
	close(a.wake)
	a.wake = make(chan struct{})
	a.mu.Unlock()
	log := a.log.With("agent_id", agent.AgentID)
	d.renew(ctx, a.cb.ID)
	ag, aout, acause, err := d.ring(ctx, d.agentReq(a.cb, a.att, agent, a.cust.Node))
	if err != nil || aout != OutcomeConnected {
		// Give the customer back to the watch: they keep waiting, and
		// routing offers the entry to the next agent.
		a.mu.Lock()
		a.taken = false
		close(a.wake)
		a.wake = make(chan struct{})
		a.mu.Unlock()
		log.Info("agent missed a callback dialled ahead; the customer keeps waiting", "cause", acause)
		return Result{Outcome: OutcomeAgentMissed, Customer: a.cust, Agent: ag, KeepWaiting: true, Attempt: a.att.Seq}, nil
	}
	res, cause, detail := d.bridge(ctx, a.cust, ag)
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	if res.Outcome == OutcomeConnected {
		detail = fmt.Sprintf("dialled ahead; the customer waited %s after answering", d.clk.Now().Sub(a.at).Round(time.Millisecond))
	}
	out, ferr := d.finish(ctx, a.cb, a.plan, a.att, res, cause, detail, log)
	d.dropAhead(a.cb.ID, a)
	return out, ferr
}
