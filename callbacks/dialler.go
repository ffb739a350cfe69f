package callbacks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/storage"
)

// AgentOffer is the agent routing chose for a callback entry.
type AgentOffer struct {
	AgentID  string
	Endpoint string
	Name     string
}

// Result is how Connect ended.
type Result struct {
	Outcome  Outcome
	Customer adapters.LegRef
	Agent    adapters.LegRef
	Bridge   adapters.BridgeRef
	// Finished is true when the callback needs no more attempts
	// (connected, declined, or out of attempts).
	Finished bool
	// NextAt is the next attempt's earliest time when not Finished.
	NextAt time.Time
	// Attempt is the attempt's sequence number.
	Attempt int
	// KeepWaiting: the agent missed a callback dialled ahead; the customer
	// is still on the line, waiting in the entry's place for the next agent.
	KeepWaiting bool
}

// lease is how long a claim holds while dialling: both phones ringing
// out, plus margin for the bridge and the database write.
func (d *Desk) lease() time.Duration {
	return d.cfg.RingTimeout + d.cfg.AgentRingTimeout + 30*time.Second
}

// Connect dials a callback whose turn came, with the agent routing
// offered: it claims the callback (another instance holding it gives
// ErrClaimed), writes the attempt durably, and only then dials — the
// customer first or the agent first with a preview, per the queue — and
// bridges the two. It returns when the two are bridged or the attempt
// failed, having recorded the outcome and, on failure, the next attempt
// time per the retry policy. A nil error with Outcome != connected is a
// normal failed attempt; the offer goes back to routing either way and,
// unless Finished, the entry comes back when it is due again.
func (d *Desk) Connect(ctx context.Context, callbackID string, agent AgentOffer) (Result, error) {
	now := d.clk.Now()
	d.mu.Lock()
	a := d.ahead[callbackID]
	if a == nil {
		delete(d.handed, callbackID) // whatever happens, routing no longer holds it
	}
	d.mu.Unlock()
	if a != nil {
		// Dialled ahead (lead time): the customer is ringing or waiting;
		// this attempt is already claimed and begun.
		return d.connectAhead(ctx, a, agent)
	}
	cb, plan, att, err := d.begin(ctx, callbackID, agent.AgentID, now)
	if err != nil {
		return Result{}, err
	}
	log := d.log.With("callback_id", cb.ID, "agent_id", agent.AgentID, "queue", cb.Queue, "attempt", att.Seq)
	log.Info("dialling callback", "order", cb.DialOrder)
	res := Result{Attempt: att.Seq}
	var cause int
	var detail string
	if DialOrder(cb.DialOrder) == AgentFirst {
		res, cause, detail = d.dialAgentFirst(ctx, cb, att, agent)
	} else {
		res, cause, detail = d.dialCustomerFirst(ctx, cb, att, agent)
	}
	return d.finish(ctx, cb, plan, att, res, cause, detail, log)
}

// finish records an attempt's outcome and, on failure, the next attempt's
// time per the retry policy.
func (d *Desk) finish(ctx context.Context, cb *storage.Callback, plan Plan, att *storage.CallbackAttempt, res Result, cause int, detail string, log *slog.Logger) (Result, error) {
	return d.finishAt(ctx, cb, plan, att, res, cause, detail, log, d.clk.Now())
}

// finishAt is finish for an attempt that ended at end.
func (d *Desk) finishAt(ctx context.Context, cb *storage.Callback, plan Plan, att *storage.CallbackAttempt, res Result, cause int, detail string, log *slog.Logger, end time.Time) (Result, error) {
	res.Attempt = att.Seq
	next, done := plan.AfterAttempt(res.Outcome, end)
	r := storage.AttemptResult{Outcome: string(res.Outcome), Cause: cause, Detail: detail, Attempts: next.Attempts}
	switch {
	case res.Outcome == OutcomeConnected:
		r.State, r.Connected = storage.CallbackCompleted, end
	case done:
		r.State = storage.CallbackFailed
	default:
		r.State, r.NotBefore = storage.CallbackPending, next.NotBefore
		res.NextAt = next.NotBefore
	}
	res.Finished = done
	// The outcome must be written even when ctx ended mid-attempt.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.store.FinishAttempt(wctx, cb.ID, att.ID, d.cfg.Instance, r, end); err != nil {
		// The claim lapsed (we were too slow) or the database is away:
		// the attempt stays open and recovery settles it; it is never
		// redialled blindly.
		log.Error("could not record callback outcome", "outcome", res.Outcome, "err", err)
		return res, err
	}
	log.Info("callback attempt ended", "outcome", res.Outcome, "cause", cause, "finished", done, "next_at", res.NextAt)
	return res, nil
}

// begin claims a callback (ErrClaimed when another instance or attempt
// holds it), checks its window and writes the attempt: nothing is dialled
// before begin returns.
func (d *Desk) begin(ctx context.Context, callbackID, agentID string, now time.Time) (*storage.Callback, Plan, *storage.CallbackAttempt, error) {
	if err := d.store.ClaimCallback(ctx, callbackID, d.cfg.Instance, now, d.lease()); err != nil {
		if errors.Is(err, storage.ErrClaimLost) {
			return nil, Plan{}, nil, fmt.Errorf("callback %s: %w", callbackID, ErrClaimed)
		}
		return nil, Plan{}, nil, err
	}
	cb, err := d.store.GetCallback(ctx, callbackID)
	if err != nil {
		return nil, Plan{}, nil, err
	}
	plan, err := PlanOf(cb)
	if err != nil {
		d.store.ReleaseCallback(ctx, callbackID, d.cfg.Instance, now)
		return nil, Plan{}, nil, err
	}
	// The window may have closed between dispatch and the agent's offer.
	if !plan.Window.Contains(now) {
		d.store.ReleaseCallback(ctx, callbackID, d.cfg.Instance, now)
		return nil, Plan{}, nil, fmt.Errorf("callback %s: window %q closed before dialling: %w", callbackID, cb.Window, ErrState)
	}
	att, err := d.store.BeginAttempt(ctx, callbackID, d.cfg.Instance, agentID, "", now)
	if err != nil {
		if errors.Is(err, storage.ErrClaimLost) {
			return nil, Plan{}, nil, fmt.Errorf("callback %s: %w", callbackID, ErrClaimed)
		}
		d.store.ReleaseCallback(ctx, callbackID, d.cfg.Instance, now)
		return nil, Plan{}, nil, err
	}
	return cb, plan, att, nil
}

func (d *Desk) customerEndpoint(number string) string {
	return strings.ReplaceAll(d.cfg.CustomerEndpoint, "{number}", number)
}

// ring originates one leg and waits for it to answer or fail. The waiter
// is registered before the originate so an answer that beats the
// originate's reply is not lost.
func (d *Desk) ring(ctx context.Context, req adapters.OriginateRequest) (adapters.LegRef, Outcome, int, error) {
	ch := make(chan adapters.Event, 8)
	d.mu.Lock()
	d.waiters[req.Tag] = ch
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.waiters, req.Tag)
		d.mu.Unlock()
	}()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	leg, err := d.pbx.Originate(cctx, req)
	cancel()
	if err != nil {
		return leg, OutcomeFailed, 0, fmt.Errorf("originate %s: %w", req.Endpoint, err)
	}
	d.mu.Lock()
	d.byLeg[leg] = req.Tag
	d.mu.Unlock()
	// A PBX that never reports back must not hold the attempt forever.
	guard := d.clk.After(req.Timeout + 15*time.Second)
	for {
		select {
		case ev := <-ch:
			switch e := ev.(type) {
			case adapters.LegAnswered:
				return leg, OutcomeConnected, 0, nil
			case adapters.OriginateFailed:
				return leg, outcomeOf(e.Cause), e.Cause, nil
			case adapters.LegHungUp:
				return leg, outcomeOf(e.Cause), e.Cause, nil
			}
		case <-guard:
			d.hangup(leg)
			return leg, OutcomeNoAnswer, 19, nil
		case <-ctx.Done():
			d.hangup(leg)
			return leg, OutcomeInterrupted, 0, ctx.Err()
		}
	}
}

func outcomeOf(cause int) Outcome {
	switch cause {
	case 17, 21:
		return OutcomeBusy
	case 18, 19, 0, 16:
		return OutcomeNoAnswer
	}
	return OutcomeFailed
}

func (d *Desk) hangup(leg adapters.LegRef) {
	if leg.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.pbx.Hangup(ctx, leg, 16); err != nil && !errors.Is(err, adapters.ErrUnknownLeg) {
		d.log.Warn("hangup failed", "leg", leg.String(), "err", err)
	}
}

func (d *Desk) customerReq(cb *storage.Callback, att *storage.CallbackAttempt, node string) adapters.OriginateRequest {
	return adapters.OriginateRequest{Node: node, Endpoint: d.customerEndpoint(cb.Number), CallerIDNumber: cb.CallerID, Timeout: d.cfg.RingTimeout,
		Tag: att.Tag, Role: adapters.RoleCallback, Vars: map[string]string{"SWITCHBOARD_CALLBACK": cb.ID, "SWITCHBOARD_QUEUE": cb.Queue}}
}

func (d *Desk) agentReq(cb *storage.Callback, att *storage.CallbackAttempt, agent AgentOffer, node string) adapters.OriginateRequest {
	// The agent's phone shows who is being called: the preview.
	name := "Callback " + cb.Number
	return adapters.OriginateRequest{Node: node, Endpoint: agent.Endpoint, CallerIDNumber: cb.Number, CallerIDName: name, Timeout: d.cfg.AgentRingTimeout,
		Tag: att.Tag + "-agent", Role: adapters.RoleAgent,
		Vars: map[string]string{"SWITCHBOARD_CALLBACK": cb.ID, "SWITCHBOARD_QUEUE": cb.Queue, "SWITCHBOARD_CALLBACK_NUMBER": cb.Number,
			"SWITCHBOARD_CALLBACK_NOTE": cb.Note, "SWITCHBOARD_CALLBACK_ATTEMPT": fmt.Sprint(att.Seq)}}
}

func (d *Desk) dialCustomerFirst(ctx context.Context, cb *storage.Callback, att *storage.CallbackAttempt, agent AgentOffer) (Result, int, string) {
	cust, out, cause, err := d.ring(ctx, d.customerReq(cb, att, ""))
	d.noteLeg(att, cust)
	if err != nil || out != OutcomeConnected {
		return Result{Outcome: out, Customer: cust}, cause, errText(err)
	}
	d.store.AttemptAnswered(context.WithoutCancel(ctx), att.ID, d.clk.Now())
	d.renew(ctx, cb.ID)
	// The customer hears that an agent is being connected while the
	// agent's phone rings.
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	d.pbx.Play(pctx, cust, adapters.Media{Kind: "sound", Value: "callback-connecting"})
	d.pbx.StartHold(pctx, cust, "")
	cancel()
	ag, aout, acause, err := d.ring(ctx, d.agentReq(cb, att, agent, cust.Node))
	if err != nil || aout != OutcomeConnected {
		// The customer answered but the agent did not: say sorry, hang up;
		// this does not use one of the customer's attempts.
		d.hangup(cust)
		if aout == OutcomeInterrupted {
			return Result{Outcome: OutcomeInterrupted, Customer: cust, Agent: ag}, acause, errText(err)
		}
		return Result{Outcome: OutcomeAgentMissed, Customer: cust, Agent: ag}, acause, "agent did not answer: " + errText(err)
	}
	return d.bridge(ctx, cust, ag)
}

func (d *Desk) dialAgentFirst(ctx context.Context, cb *storage.Callback, att *storage.CallbackAttempt, agent AgentOffer) (Result, int, string) {
	ag, aout, acause, err := d.ring(ctx, d.agentReq(cb, att, agent, ""))
	if err != nil || aout != OutcomeConnected {
		if aout == OutcomeInterrupted {
			return Result{Outcome: OutcomeInterrupted, Agent: ag}, acause, errText(err)
		}
		return Result{Outcome: OutcomeAgentMissed, Agent: ag}, acause, "agent did not answer: " + errText(err)
	}
	d.renew(ctx, cb.ID)
	cust, out, cause, err := d.ring(ctx, d.customerReq(cb, att, ag.Node))
	d.noteLeg(att, cust)
	if err != nil || out != OutcomeConnected {
		d.hangup(ag)
		return Result{Outcome: out, Customer: cust, Agent: ag}, cause, errText(err)
	}
	d.store.AttemptAnswered(context.WithoutCancel(ctx), att.ID, d.clk.Now())
	return d.bridge(ctx, cust, ag)
}

// renew extends the claim when the first leg answered, so the second
// leg's full ring time fits in the lease: a lease that lapsed mid-call
// would let recovery on another instance settle a live attempt.
func (d *Desk) renew(ctx context.Context, id string) {
	if err := d.store.RenewLease(context.WithoutCancel(ctx), id, d.cfg.Instance, d.clk.Now(), d.lease()); err != nil {
		d.log.Warn("could not renew the callback's claim", "callback_id", id, "err", err)
	}
}

func (d *Desk) noteLeg(att *storage.CallbackAttempt, leg adapters.LegRef) {
	if leg.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.store.AttemptLeg(ctx, att.ID, leg.Node, leg.ID); err != nil {
		d.log.Warn("could not record callback leg", "attempt", att.ID, "err", err)
	}
}

func (d *Desk) bridge(ctx context.Context, cust, ag adapters.LegRef) (Result, int, string) {
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d.pbx.StopHold(bctx, cust)
	br, err := d.pbx.Bridge(bctx, cust, ag)
	if err != nil {
		d.hangup(cust)
		d.hangup(ag)
		return Result{Outcome: OutcomeFailed, Customer: cust, Agent: ag}, 41, "bridge: " + err.Error()
	}
	d.mu.Lock()
	delete(d.byLeg, cust)
	delete(d.byLeg, ag)
	d.mu.Unlock()
	return Result{Outcome: OutcomeConnected, Customer: cust, Agent: ag, Bridge: br}, 0, ""
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Observe takes a PBX event (the controller's observer, or a test's
// loop). It never blocks: events for legs the desk is not waiting on are
// ignored, DTMF goes to the callback offer of that leg.
func (d *Desk) Observe(ev adapters.Event) {
	switch e := ev.(type) {
	case adapters.Reconciled:
		d.noteReconciled(e)
		return
	case adapters.DTMFReceived:
		d.onDTMF(e)
		return
	case adapters.PlaybackFinished:
		d.mu.Lock()
		ch := d.waiters["playleg:"+e.Ref.String()]
		d.mu.Unlock()
		if ch != nil {
			select {
			case ch <- e:
			default:
			}
		}
		return
	}
	tag := ""
	switch e := ev.(type) {
	case adapters.LegAnswered:
		tag = e.Tag
	case adapters.OriginateFailed:
		tag = e.Tag
	case adapters.LegHungUp:
		tag = e.Tag
		d.onIVRHangup(e.Ref)
	}
	d.mu.Lock()
	if tag == "" {
		tag = d.byLeg[ev.Leg()]
	}
	if _, gone := ev.(adapters.LegHungUp); gone {
		delete(d.byLeg, ev.Leg())
	}
	ch := d.waiters[tag]
	d.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- ev:
	default:
	}
}

func (d *Desk) noteReconciled(e adapters.Reconciled) {
	m := map[string]adapters.LegInfo{}
	for _, l := range e.Legs {
		if l.Tag != "" {
			m[l.Tag] = l
		}
	}
	d.mu.Lock()
	d.legs[e.Node] = m
	d.seenRec = true
	d.mu.Unlock()
}

// Recover settles attempts another instance (or this one, before a
// restart) left unfinished when it stopped in the middle of dialling. It
// never dials: an attempt whose customer leg the PBX still holds in a
// bridge counts as connected; any other counts as a used attempt, and the
// next one waits for the retry interval from the interrupted attempt's
// start. It waits until the PBX has reported its legs once
// (adapters.Reconciled), so a live call is not mistaken for a lost one.
func (d *Desk) Recover(ctx context.Context) int {
	d.mu.Lock()
	ready := d.seenRec
	d.mu.Unlock()
	if !ready {
		return 0
	}
	now := d.clk.Now()
	cbs, atts, err := d.store.TakeOverInterrupted(ctx, d.cfg.Instance, now, d.lease())
	if err != nil {
		d.log.Warn("could not look for interrupted callbacks", "err", err)
	}
	for i := range cbs {
		d.settle(ctx, &cbs[i], atts[i], now)
	}
	return len(cbs)
}

func (d *Desk) settle(ctx context.Context, cb *storage.Callback, att storage.CallbackAttempt, now time.Time) {
	log := d.log.With("callback_id", cb.ID, "attempt", att.Seq)
	plan, err := PlanOf(cb)
	if err != nil {
		log.Error("unreadable interrupted callback", "err", err)
		return
	}
	d.mu.Lock()
	cust, custOK := d.legs[att.LegNode][att.Tag]
	if !custOK {
		for _, m := range d.legs {
			if l, ok := m[att.Tag]; ok {
				cust, custOK = l, true
			}
		}
	}
	ag, agOK := adapters.LegInfo{}, false
	for _, m := range d.legs {
		if l, ok := m[att.Tag+"-agent"]; ok {
			ag, agOK = l, true
		}
	}
	d.mu.Unlock()
	outcome, detail := OutcomeInterrupted, "switchboard stopped during the attempt"
	if custOK && agOK && cust.BridgeID != "" && cust.BridgeID == ag.BridgeID {
		outcome, detail = OutcomeConnected, "found connected after restart"
	} else {
		// Half-made calls are ended: a customer left ringing or on hold
		// with no agent coming must not be kept waiting.
		if custOK {
			d.hangup(cust.Ref)
		}
		if agOK {
			d.hangup(ag.Ref)
		}
	}
	started := att.StartedAt
	if started.IsZero() {
		started = now
	}
	next, done := plan.AfterAttempt(outcome, started)
	if next.NotBefore.Before(now) && !done {
		next.NotBefore = now
		if at, ok := next.Window.Next(now); ok {
			next.NotBefore = at
		}
	}
	r := storage.AttemptResult{Outcome: string(outcome), Detail: detail, Attempts: next.Attempts}
	switch {
	case outcome == OutcomeConnected:
		r.State, r.Connected = storage.CallbackCompleted, now
	case done:
		r.State = storage.CallbackFailed
	default:
		r.State, r.NotBefore = storage.CallbackPending, next.NotBefore
	}
	if att.ID == 0 {
		log.Error("interrupted callback has no open attempt; leaving it for an operator")
		return
	}
	if err := d.store.FinishAttempt(ctx, cb.ID, att.ID, d.cfg.Instance, r, now); err != nil {
		log.Error("could not settle interrupted callback", "err", err)
		return
	}
	log.Warn("settled a callback attempt interrupted by a stop", "outcome", outcome, "state", r.State, "next_at", r.NotBefore)
}
