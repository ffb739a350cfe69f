package controller

import (
	"sort"
	"strings"

	"github.com/switchboard-cc/switchboard/adapters"
)

// Standby: when another switchboard takes a PBX node over (ARI
// ApplicationReplaced, reported as NodeState{Standby: true}), that
// instance adopts the node's calls, routes them and writes their records —
// to the same database, when the two share one. This instance must then
// stop acting on the node entirely: the adapter refuses every command, so
// an offer would only ring nobody and count as the agent's miss, and any
// record written from here (a "live" call row on each offer, a leg
// update) would overwrite the active instance's newer version of the
// same call.

// onNodeState keeps the node's link state and lets go of the node's calls
// when it enters standby.
func (c *Controller) onNodeState(e adapters.NodeState) {
	prev := c.nodes[e.Node]
	st := prev
	st.Node, st.Up, st.Standby, st.Error, st.Since = e.Node, e.Up, e.Standby, e.Err, e.At
	c.nodes[e.Node] = st
	if e.Up && !prev.Up {
		c.ups[e.Node]++
	}
	c.log.Info("pbx node state", "node", e.Node, "up", e.Up, "standby", e.Standby, "err", e.Err)
	if e.Standby && !prev.Standby {
		c.handOver(e.Node)
	}
}

// inStandby reports whether another switchboard has taken the node over.
func (c *Controller) inStandby(node string) bool { return c.nodes[node].Standby }

// passive reports whether every PBX node this instance knows is in
// standby: it then writes nothing at all (agent state changes included),
// as the active instance records the floor.
func (c *Controller) passive() bool {
	if len(c.nodes) == 0 {
		return false
	}
	for _, n := range c.nodes {
		if !n.Standby {
			return false
		}
	}
	return true
}

// handOver forgets every call on node without writing a record: its
// offers are withdrawn, it leaves the routing engine (agents ringing for
// it are available again; an agent talking on it goes to wrap-up as after
// any call), and observers see EventHandedOver. Calls remembered from
// before a restart on that node are left to the active instance too.
func (c *Controller) handOver(node string) {
	now := c.clk.Now()
	var ids []string
	for id, cl := range c.calls {
		if cl.caller.Node == node || cl.caller.IsZero() && cl.agentLeg.Node == node {
			ids = append(ids, id)
		}
	}
	// Waiting calls leave the engine first, then ringing ones, then talking
	// ones: an agent freed by a withdrawn ring or an ended talk must find
	// none of this node's calls still queued, or the engine would offer
	// it one (and the refused ring would count as the agent's miss).
	rank := func(cl *call) int {
		switch cl.phase {
		case phaseRinging:
			return 1
		case phaseTalking:
			return 2
		}
		return 0
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := c.calls[ids[i]], c.calls[ids[j]]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		return ids[i] < ids[j]
	})
	for _, id := range ids {
		cl := c.calls[id]
		for tag, of := range c.callOffers[id] {
			of.dead = true
			if of.cancel != nil {
				of.cancel()
			}
			c.dropOffer(tag)
			c.forgetLeg(of.leg)
		}
		c.forgetLeg(cl.caller)
		c.forgetLeg(cl.agentLeg)
		for tag, sn := range c.snoops {
			if sn.callID == id {
				delete(c.snoops, tag)
				c.forgetLeg(sn.leg)
			}
		}
		// Ended before the engine's decisions are applied: the withdraws
		// they carry find dead offers, and late command results find an
		// ended call, so nothing is sent to the PBX or the journal.
		cl.phase = phaseEnded
		delete(c.calls, id)
		if !cl.recovered {
			c.apply(c.engine.Abandoned(id, now))
		}
		c.log.Warn("call handed over to the switchboard that took the node over; this instance no longer routes or records it",
			"call_id", id, "node", node, "queue", cl.queue, "agent_id", cl.agentID)
		c.notify(EventHandedOver, cl, nil)
	}
	// Legs of the node that no call owns any more (a withdrawn ring).
	for ref := range c.byLeg {
		if ref.Node == node {
			c.forgetLeg(ref)
		}
	}
	for key := range c.recovery {
		if strings.HasPrefix(key, node+"/") {
			delete(c.recovery, key)
		}
	}
	if len(ids) > 0 {
		c.log.Warn("pbx node in standby: its calls were handed over", "node", node, "calls", len(ids))
	}
}

func (c *Controller) forgetLeg(ref adapters.LegRef) {
	if ref.IsZero() {
		return
	}
	delete(c.byLeg, ref)
	delete(c.legRecs, ref)
	delete(c.hangAfterPlay, ref)
}
