package routing

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Lead-time dialling ("dial ahead") for callback entries.
//
// A callback entry with a lead time L (Resume.LeadTime) does not wait for
// a free agent before its customer is dialled: when no agent can take it
// now and an agent is predicted free within L, and that agent — were it
// free now — would take this entry by the normal rules (nobody ahead of it
// in any of the agent's queues could take that agent), the engine emits
// DialAhead. The entry keeps its place and goes on waiting; nothing is
// reserved. The predicted agent is earmarked so that it starts at most one
// dial ahead at a time; the earmark goes when the entry is offered to an
// agent or leaves, when the agent is offered another call, or when a
// reload takes the agent out of the entry's queue.

// predictFree is how long until ag is predicted free for a call of queue
// q, and the earliest time from which that will be within lead (zero when
// it never will while the agent stays in its state). ok is false when ag
// is no candidate at all: not a member, paused or logged out, free (the
// normal match handles it), ringing, or going on a pause after its call.
//
//   - in wrap-up: the wrap-up still to run;
//   - on a call: max(AHT − talk so far, wrap-up), where AHT is the queue of
//     that call's recent average handle time (talk + wrap-up, the EWMA the
//     estimated wait uses) — a call past its average still has its whole
//     wrap-up ahead. No AHT yet (nothing handled since start): no
//     prediction.
func (e *Engine) predictFree(ag *agentState, lead time.Duration, now time.Time) (remaining time.Duration, within time.Time, ok bool) {
	if ag.pendingNR != "" {
		return 0, time.Time{}, false
	}
	switch ag.state {
	case StateWrapUp:
		remaining = max(ag.wrapUntil.Sub(now), 0)
		return remaining, ag.wrapUntil.Add(-lead), true
	case StateOnCall:
		cur := e.calls[ag.callID]
		if cur == nil || cur.phase != phaseConnected {
			return 0, time.Time{}, false
		}
		cq := e.queues[cur.queue]
		if cq == nil || cq.aht <= 0 {
			return 0, time.Time{}, false
		}
		wrap := cur.wrapUp
		if ag.def.WrapUp > 0 {
			wrap = ag.def.WrapUp
		}
		remaining = max(cq.aht-now.Sub(cur.answered), wrap)
		if wrap > lead {
			return remaining, time.Time{}, true
		}
		return remaining, cur.answered.Add(cq.aht - lead), true
	}
	return 0, time.Time{}, false
}

// leadScan emits a DialAhead for every lead-time entry whose turn is
// predicted within its lead time, and arms a re-check timer for the
// others. It runs at the end of every event that can change a
// prediction; with no lead-time entry it costs one map length.
func (e *Engine) leadScan(now time.Time, out []Decision) []Decision {
	if len(e.leadCalls) == 0 {
		return out
	}
	cands := make([]*callState, 0, len(e.leadCalls))
	for _, cs := range e.leadCalls {
		cands = append(cands, cs)
	}
	slices.SortFunc(cands, func(a, b *callState) int { return cmp.Compare(a.seq, b.seq) })
	for _, cs := range cands {
		if cs.phase != phaseWaiting || cs.aheadOn || cs.owner.lead <= 0 {
			continue
		}
		out = e.leadCheck(cs, now, out)
	}
	return out
}

func (e *Engine) leadCheck(cs *callState, now time.Time, out []Decision) []Decision {
	q := e.queues[cs.queue]
	if q == nil {
		return out
	}
	lead := cs.owner.lead
	req, filter := e.requirement(cs)
	var best *agentState
	var bestRem time.Duration
	var next time.Time
	for _, ag := range q.members {
		if e.earmarks[ag.def.ID] != "" || cs.declined[ag.def.ID] || !eligible(ag, req, filter, &cs.call) {
			continue
		}
		rem, within, ok := e.predictFree(ag, lead, now)
		if !ok {
			continue
		}
		if rem > lead {
			if !within.IsZero() && within.After(now) && (next.IsZero() || within.Before(next)) {
				next = within
			}
			continue
		}
		// Would this agent, free now, take this entry? Someone ahead of it
		// (in this queue or one the agent serves first) would get it.
		if e.bestCallFor(ag, false) != cs {
			continue
		}
		if best == nil || rem < bestRem || (rem == bestRem && ag.def.ID < best.def.ID) {
			best, bestRem = ag, rem
		}
	}
	if best != nil {
		cs.aheadOn, cs.ahead = true, best.def.ID
		e.earmarks[best.def.ID] = cs.call.ID
		cs.leadToken, cs.leadAt = 0, time.Time{}
		return append(out, DialAhead{CallID: cs.call.ID, Queue: cs.queue, Agent: best.def.ID, Remaining: bestRem,
			Reason: fmt.Sprintf("no agent free; %s (%s) predicted free in %s, within the lead time %s, and this entry is next for it",
				best.def.ID, best.state, bestRem, lead)})
	}
	if !next.IsZero() && !next.Equal(cs.leadAt) {
		e.token++
		cs.leadToken, cs.leadAt = e.token, next
		e.pushTimer(next, timerLead, cs.call.ID, "", 0, cs.leadToken)
	}
	return out
}

// releaseEarmarks runs when cs is offered to ag: the entry's earmark is
// no longer needed (it has an agent), and an earmark ag held for another
// entry is stale (ag is taken by this call).
func (e *Engine) releaseEarmarks(cs *callState, ag *agentState) {
	if cs.ahead != "" {
		if e.earmarks[cs.ahead] == cs.call.ID {
			delete(e.earmarks, cs.ahead)
		}
		cs.ahead = ""
	}
	if other := e.earmarks[ag.def.ID]; other != "" && other != cs.call.ID {
		if ocs := e.calls[other]; ocs != nil {
			ocs.ahead = ""
		}
		delete(e.earmarks, ag.def.ID)
	}
}

// forgetLead drops a call that leaves the engine from the lead-time books.
func (e *Engine) forgetLead(cs *callState) {
	if cs.ahead != "" && e.earmarks[cs.ahead] == cs.call.ID {
		delete(e.earmarks, cs.ahead)
	}
	cs.ahead = ""
	delete(e.leadCalls, cs.call.ID)
}

// reloadEarmarks keeps an earmark only while its agent still serves the
// entry's queue (which a reload may have changed, or moved the entry to
// the default queue) and still meets the entry's requirement there. The
// dial itself is not undone: an entry dialled ahead stays dialled.
func (e *Engine) reloadEarmarks() {
	for _, agID := range sortedKeys(e.earmarks) {
		cs := e.calls[e.earmarks[agID]]
		ag := e.agents[agID]
		keep := false
		if cs != nil && ag != nil {
			if q := e.queues[cs.queue]; q != nil && q.members[agID] == ag {
				req, filter := e.requirement(cs)
				keep = eligible(ag, req, filter, &cs.call)
			}
		}
		if !keep {
			if cs != nil {
				cs.ahead = ""
			}
			delete(e.earmarks, agID)
		}
	}
}

// CancelDialAhead says a dial ahead of callID ended without leaving its
// customer on the line (no answer, refused by the dialler): the entry,
// still in its place, may be dialled ahead again, and its earmark is
// released for other entries.
func (e *Engine) CancelDialAhead(callID string, now time.Time) []Decision {
	cs := e.calls[callID]
	if cs == nil || !cs.aheadOn {
		return nil
	}
	if cs.ahead != "" && e.earmarks[cs.ahead] == callID {
		delete(e.earmarks, cs.ahead)
	}
	cs.ahead, cs.aheadOn = "", false
	return e.leadScan(now, nil)
}

// DialAheadOf reports a call's dial-ahead state: the agent it earmarks
// ("" none) and whether its customer was dialled ahead.
func (e *Engine) DialAheadOf(callID string) (agent string, dialled bool) {
	if cs := e.calls[callID]; cs != nil {
		return cs.ahead, cs.aheadOn
	}
	return "", false
}
