package callbacks

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// CallFlow is what the desk needs from the controller to join its call
// flow (*controller.Controller satisfies it).
type CallFlow interface {
	EnqueueCallback(ctx context.Context, e controller.CallbackEntry) error
	AcceptCallback(ctx context.Context, callID string) error
	RemoveCallback(ctx context.Context, id string) error
}

// Plug joins a Desk to the controller: it is the controller's
// CallbackDesk (Deps.Callbacks) and one of its Observers (PBX events, for
// the caller's keys and the dialled legs), and the desk's Floor.
//
// Wiring, in the server:
//
//	plug := callbacks.NewPlug()
//	desk, _ := callbacks.New(cfg, store, pbx, plug, clk, log)
//	ctl, _ := controller.New(ccfg, controller.Deps{…, Callbacks: plug, Observers: []controller.Observer{plug, …}})
//	plug.Attach(desk, ctl)
//	go desk.Run(ctx)
type Plug struct {
	desk *Desk
	flow CallFlow
}

// NewPlug returns an unattached plug (the desk and controller each need
// the other at construction).
func NewPlug() *Plug { return &Plug{} }

// Attach sets the two sides. Call it before the controller runs.
func (p *Plug) Attach(d *Desk, flow CallFlow) { p.desk, p.flow = d, flow }

// Observe implements controller.Observer: PBX events go to the desk.
func (p *Plug) Observe(ev controller.CallEvent) {
	if ev.PBXEvent != nil && p.desk != nil {
		p.desk.Observe(ev.PBXEvent)
	}
}

// OfferCallback implements controller.CallbackDesk: plays the offer when
// the queue's policy says so (routing already decided it should be
// offered; the desk's own rule is consulted only for queues it knows).
func (p *Plug) OfferCallback(ctx context.Context, o controller.CallbackOffer) error {
	if p.desk == nil || p.flow == nil {
		return errors.New("callback desk not attached")
	}
	if o.Caller.IsZero() {
		return fmt.Errorf("callback offer for %s: no caller leg", o.CallID)
	}
	p.desk.Offer(ctx, OfferCall{CallID: o.CallID, Leg: o.Caller, Queue: o.Queue, CallerNumber: o.CallerNumber, Priority: o.Priority, EnqueuedAt: o.EnqueuedAt, Skills: o.Skills},
		func(ok bool, cb *storage.Callback) error {
			if !ok {
				return nil
			}
			return p.flow.AcceptCallback(context.WithoutCancel(ctx), o.CallID)
		})
	return nil
}

// Connect implements controller.CallbackDesk. An entry that did not
// connect always leaves the controller's queue (Remove): the desk hands it
// back when it is due again, with its original place, so a retry interval
// or a claim by another instance never leaves a stale entry in routing.
func (p *Plug) Connect(ctx context.Context, e controller.CallbackEntry, offer routing.Offer) (controller.CallbackResult, error) {
	id, ok := CallbackIDOf(e.ID)
	if !ok || p.desk == nil {
		return controller.CallbackResult{Remove: true, Reason: "not a callback entry"}, nil
	}
	res, err := p.desk.Connect(ctx, id, AgentOffer{AgentID: offer.AgentID, Endpoint: offer.Endpoint})
	if err != nil {
		return controller.CallbackResult{Remove: true, Reason: err.Error()}, nil
	}
	out := controller.CallbackResult{Customer: res.Customer, Agent: res.Agent, Bridge: res.Bridge, Reason: string(res.Outcome)}
	if res.Outcome == OutcomeConnected {
		out.Answered = true
		return out, nil
	}
	// A customer dialled ahead whose agent missed keeps waiting in place.
	out.Remove = !res.KeepWaiting
	return out, nil
}

// DialAhead implements controller.CallbackDialAhead: routing predicts an
// agent free within the queue's lead time, so the customer is called
// now. An attempt that did not leave the customer on the line removes
// the entry (the desk hands it back when it is due again, in its place).
func (p *Plug) DialAhead(ctx context.Context, e controller.CallbackEntry, d routing.DialAhead) (controller.DialAheadResult, error) {
	id, ok := CallbackIDOf(e.ID)
	if !ok || p.desk == nil {
		return controller.DialAheadResult{Remove: true, Reason: "not a callback entry"}, nil
	}
	res, err := p.desk.DialAhead(ctx, id, d.Agent)
	if err != nil {
		return controller.DialAheadResult{Remove: true, Reason: err.Error()}, nil
	}
	if res.Answered {
		return controller.DialAheadResult{Answered: true, Customer: res.Customer}, nil
	}
	return controller.DialAheadResult{Remove: true, Reason: string(res.Result.Outcome)}, nil
}

// EnqueueCallback implements Floor on the controller: the entry joins its
// queue with its place, priority and skills; an agent-owned one is offered
// only to its owner until its deadline, then to the queue (routing's timer).
func (p *Plug) EnqueueCallback(ctx context.Context, e Entry) error {
	if p.flow == nil {
		return errors.New("callback desk not attached to a controller")
	}
	return p.flow.EnqueueCallback(ctx, controller.CallbackEntry{ID: e.CallID, Queue: e.Queue, Priority: e.Priority, EnqueuedAt: e.Since,
		CallerNumber: e.Number, Vars: map[string]string{"SWITCHBOARD_CALLBACK": e.CallbackID}, Skills: e.Skills,
		Agent: e.Agent, AgentUntil: e.Deadline, OfferTimeout: e.OfferTimeout, LeadTime: e.LeadTime})
}

// RemoveCallback implements Floor: a cancelled or rescheduled entry leaves
// the controller's queue at once. An entry the controller no longer holds
// (already connected, or never handed) is not an error.
func (p *Plug) RemoveCallback(ctx context.Context, callID string) error {
	if p.flow == nil {
		return nil
	}
	if err := p.flow.RemoveCallback(ctx, callID); err != nil && !errors.Is(err, controller.ErrUnknownCall) {
		return err
	}
	return nil
}
