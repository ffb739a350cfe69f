package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

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

// ErrUnknownSnoop is wrapped when a call has no supervisor leg by the name
// given (the API maps it to 404).
var ErrUnknownSnoop = errors.New("no such supervisor")

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
	since    time.Time
	answered bool
	// stopped: an operator ended the monitoring before the PBX returned
	// the leg; it is hung up as soon as it is known.
	stopped bool
}

// SnoopStatus is one supervisor on a live call (CallStatus.Snoops).
type SnoopStatus struct {
	Leg      adapters.LegRef    `json:"leg"`
	Mode     adapters.SnoopMode `json:"mode"`
	Endpoint string             `json:"endpoint"`
	// Since is when the supervisor asked to join.
	Since time.Time `json:"since"`
	// Answered is false while the supervisor's phone rings.
	Answered bool `json:"answered"`
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
		sn = &snoop{tag: fmt.Sprintf("%s%s/%d", snoopTagPrefix, cl.id, c.seq), callID: cl.id, mode: mode, endpoint: endpoint, since: c.clk.Now()}
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
		if cl := c.calls[sn.callID]; cl == nil || cl.phase != phaseTalking || sn.stopped {
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
		sn.answered = true
		c.journalLegUpdate(sn.leg, true, false, 0)
		if cl := c.calls[sn.callID]; cl == nil || cl.phase != phaseTalking || sn.stopped {
			c.hangup(sn.leg, 16) // answered after the call ended or the monitoring was stopped
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

// EndSnoop ends supervisor monitoring of a live call: the supervisor leg
// whose id (LegRef.ID) is legID, or every supervisor leg of the call when
// legID is empty. The call goes on. It returns the legs it hung up; a leg
// the PBX has not returned yet is hung up as soon as it is known (it is
// not in the result). ErrUnknownCall when there is no such live call,
// ErrUnknownSnoop when the call has no such supervisor (or none at all).
// A hangup the PBX refuses is returned as an error and may be retried:
// the leg stays the call's until the PBX reports it gone.
func (c *Controller) EndSnoop(ctx context.Context, callID, legID string) ([]adapters.LegRef, error) {
	var legs []adapters.LegRef
	err := c.do(ctx, func() error {
		cl, ok := c.calls[callID]
		if !ok || cl.phase == phaseEnded {
			return fmt.Errorf("%w: %q", ErrUnknownCall, callID)
		}
		found := false
		for _, sn := range c.snoops {
			if sn.callID != callID || legID != "" && sn.leg.ID != legID {
				continue
			}
			found = true
			if sn.leg.IsZero() {
				sn.stopped = true // SnoopCall's result or the leg's first event hangs it up
				continue
			}
			legs = append(legs, sn.leg)
		}
		if !found {
			if legID == "" {
				return fmt.Errorf("%w: no supervisor is on call %q", ErrUnknownSnoop, callID)
			}
			return fmt.Errorf("%w: call %q has no supervisor leg %q", ErrUnknownSnoop, callID, legID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(legs, func(i, j int) bool { return legs[i].String() < legs[j].String() })
	// Hung up from here, not from the loop, so that the caller hears about
	// an unreachable PBX; the leg's hangup event then closes its row.
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	var errs []error
	for _, leg := range legs {
		// A leg the PBX no longer knows left on its own meanwhile.
		if err := c.pbx.Hangup(cctx, leg, 16); err != nil && !errors.Is(err, adapters.ErrUnknownLeg) {
			errs = append(errs, fmt.Errorf("hanging up supervisor leg %s of call %q: %w", leg, callID, err))
			continue
		}
		c.log.Info("supervisor left call", "call_id", callID, "leg", leg.String())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return legs, nil
}

// snoopStatus lists the supervisors on a call whose legs are known, for
// the snapshot; called from the loop.
func (c *Controller) snoopStatus(callID string) []SnoopStatus {
	if len(c.snoops) == 0 {
		return nil
	}
	var out []SnoopStatus
	for _, sn := range c.snoops {
		if sn.callID == callID && !sn.leg.IsZero() {
			out = append(out, SnoopStatus{Leg: sn.leg, Mode: sn.mode, Endpoint: sn.endpoint, Since: sn.since, Answered: sn.answered})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Since.Before(out[j].Since) || out[i].Since.Equal(out[j].Since) && out[i].Leg.String() < out[j].Leg.String()
	})
	return out
}
