package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchboard-cc/switchboard/adapters"
)

// Supervisor monitoring: a supervisor's phone is rung and joined to a
// connected call to listen to both sides, whisper to the agent only, or
// barge in (heard by both). The PBX does the media (ARI snoop channels,
// FreeSWITCH eavesdrop); the controller ties the supervisor leg to the
// call, journals it as a leg with role "snoop" (who listened, when, from
// which endpoint) and hangs it up when the call ends.

// ErrBadRequest is wrapped when an operator request names a bad field
// (the API maps it to 400).
var ErrBadRequest = errors.New("bad request")

// snoopTagPrefix marks supervisor legs; the rest of the tag is the call
// id and a sequence number.
const snoopTagPrefix = "sbs/"

// snoop is one supervisor leg on a call.
type snoop struct {
	tag      string
	callID   string
	mode     adapters.SnoopMode
	endpoint string
	leg      adapters.LegRef // zero until the PBX returned it (or its events came first)
}

// SnoopCall rings the supervisor endpoint (a dial string or endpoint as
// for agents: user/2000, PJSIP/2000, …) and joins it to a connected call:
// listen hears both sides, whisper speaks to the agent only, barge to
// both. The call must be talking to an agent (ErrInvalidState otherwise;
// ErrUnknownCall when there is no such live call). It returns the
// supervisor's leg; hanging that leg up (or the call ending) ends the
// monitoring.
func (c *Controller) SnoopCall(ctx context.Context, callID string, mode adapters.SnoopMode, endpoint string) (adapters.LegRef, error) {
	switch mode {
	case adapters.SnoopListen, adapters.SnoopWhisper, adapters.SnoopBarge:
	default:
		return adapters.LegRef{}, fmt.Errorf("%w: mode %q is not listen, whisper or barge", ErrBadRequest, mode)
	}
	if endpoint == "" {
		return adapters.LegRef{}, fmt.Errorf("%w: endpoint is required", ErrBadRequest)
	}
	var req adapters.SnoopRequest
	var sn *snoop
	err := c.do(ctx, func() error {
		cl, ok := c.calls[callID]
		if !ok || cl.phase == phaseEnded {
			return fmt.Errorf("%w: %q", ErrUnknownCall, callID)
		}
		if cl.phase != phaseTalking || cl.agentLeg.IsZero() {
			return fmt.Errorf("%w: call %q is %s, not talking to an agent", ErrInvalidState, callID, cl.phase)
		}
		if c.snoops == nil {
			c.snoops = map[string]*snoop{}
		}
		c.seq++
		sn = &snoop{tag: fmt.Sprintf("%s%s/%d", snoopTagPrefix, cl.id, c.seq), callID: cl.id, mode: mode, endpoint: endpoint}
		// Registered before the PBX is asked, so that the leg's events
		// (which may overtake the command's result) find it by tag.
		c.snoops[sn.tag] = sn
		// The agent's leg is the target: whisper then speaks to the agent
		// alone, and listen and barge reach both sides through it.
		req = adapters.SnoopRequest{Target: cl.agentLeg, Mode: mode, Supervisor: endpoint, Tag: sn.tag}
		return nil
	})
	if err != nil {
		return adapters.LegRef{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	leg, perr := c.pbx.Snoop(cctx, req)
	// Back in the loop: tie the leg to the call, or hang it up if the call
	// ended meanwhile. The loop runs this even if ctx has ended.
	c.post(func() {
		if perr != nil {
			delete(c.snoops, sn.tag)
			return
		}
		if c.snoops[sn.tag] != sn {
			return // the leg already came and went (its events overtook us)
		}
		c.claimSnoop(sn, leg)
		if cl := c.calls[sn.callID]; cl == nil || cl.phase != phaseTalking {
			c.hangup(leg, 16)
		}
	})
	if perr != nil {
		return adapters.LegRef{}, fmt.Errorf("snoop on call %q: %w", callID, perr)
	}
	c.log.Info("supervisor joined call", "call_id", callID, "mode", mode, "endpoint", endpoint, "leg", leg.String())
	return leg, nil
}

// claimSnoop records the supervisor leg once, when it is first known.
func (c *Controller) claimSnoop(sn *snoop, leg adapters.LegRef) {
	if !sn.leg.IsZero() || leg.IsZero() {
		return
	}
	sn.leg = leg
	if cl := c.calls[sn.callID]; cl != nil {
		c.journalLeg(cl.id, leg, adapters.RoleSnoop, "", sn.endpoint)
	}
}

// onSnoopEvent follows supervisor legs: answered, gone, or vanished while
// the PBX link was down. Called from onPBX for every event.
func (c *Controller) onSnoopEvent(ev adapters.Event) {
	if len(c.snoops) == 0 {
		return
	}
	var tag string
	gone, cause := false, 0
	switch e := ev.(type) {
	case adapters.LegAnswered:
		tag = e.Tag
	case adapters.LegHungUp:
		tag, gone, cause = e.Tag, true, e.Cause
	case adapters.OriginateFailed:
		tag, gone, cause = e.Tag, true, e.Cause
	case adapters.Reconciled:
		present := map[adapters.LegRef]bool{}
		for _, l := range e.Legs {
			present[l.Ref] = true
		}
		for t, sn := range c.snoops {
			if !sn.leg.IsZero() && sn.leg.Node == e.Node && !present[sn.leg] {
				c.journalLegUpdate(sn.leg, false, true, 0)
				delete(c.snoops, t)
			}
		}
		return
	default:
		return
	}
	sn := c.snoops[tag]
	if sn == nil {
		return
	}
	c.claimSnoop(sn, ev.Leg())
	if !gone {
		c.journalLegUpdate(sn.leg, true, false, 0)
		if cl := c.calls[sn.callID]; cl == nil || cl.phase != phaseTalking {
			c.hangup(sn.leg, 16) // answered after the call ended
		}
		return
	}
	c.journalLegUpdate(sn.leg, false, true, cause)
	delete(c.snoops, tag)
}

// endSnoops hangs up the supervisor legs of a call that ended.
func (c *Controller) endSnoops(callID string) {
	for _, sn := range c.snoops {
		if sn.callID == callID && !sn.leg.IsZero() {
			c.hangup(sn.leg, 16)
		}
	}
}
