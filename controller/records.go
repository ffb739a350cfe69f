package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/storage"
)

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// journalCall writes the call row as it stands (an upsert by call id).
//
// Callback entries (no live leg) write no call rows: the callbacks desk
// keeps their records.
func (c *Controller) journalCall(cl *call, outcome, reason string) {
	if c.jr == nil || cl.callback != nil {
		return
	}
	rec := storage.Call{ID: cl.id, Node: cl.caller.Node, CallerLegID: cl.caller.String(), CallerNumber: cl.callerNum, CallerName: cl.callerName,
		DialedNumber: cl.dialed, Queue: cl.queue, Priority: cl.priority, AgentID: cl.agentID, ArrivedAt: cl.arrivedAt.UTC(),
		EnqueuedAt: tp(cl.enqueuedAt), OfferedAt: tp(cl.offeredAt), AnsweredAt: tp(cl.answeredAt), Outcome: outcome, EndReason: reason,
		Offers: cl.offers, UpdatedAt: c.clk.Now().UTC()}
	if !cl.enqueuedAt.IsZero() {
		end := c.clk.Now()
		if !cl.answeredAt.IsZero() {
			end = cl.answeredAt
		}
		rec.WaitSeconds = end.Sub(cl.enqueuedAt).Seconds()
	}
	if len(cl.traces) > 0 {
		b, _ := json.Marshal(cl.traces)
		rec.Trace = string(b)
	}
	c.jr.Append(rec)
}

func (c *Controller) journalLeg(callID string, ref adapters.LegRef, role adapters.LegRole, agentID, endpoint string) {
	if c.jr == nil || ref.IsZero() {
		return
	}
	rec := &storage.Leg{ID: ref.String(), CallID: callID, Node: ref.Node, ChannelID: ref.ID, Role: string(role), AgentID: agentID,
		Endpoint: endpoint, CreatedAt: c.clk.Now().UTC()}
	c.legRecs[ref] = rec
	c.jr.Append(*rec)
}

// journalLegUpdate rewrites a leg row after it answered or ended.
func (c *Controller) journalLegUpdate(ref adapters.LegRef, answered bool, ended bool, cause int) {
	rec := c.legRecs[ref]
	if rec == nil || c.jr == nil {
		return
	}
	now := c.clk.Now()
	if answered {
		rec.AnsweredAt = tp(now)
	}
	if ended {
		rec.EndedAt = tp(now)
		rec.Cause = cause
		delete(c.legRecs, ref)
	}
	c.jr.Append(*rec)
}

// openWait starts a queue stint (a call that overflows has several).
func (c *Controller) openWait(cl *call, now time.Time) {
	if cl.waitID != "" {
		return
	}
	cl.waitSeq++
	cl.waitID = fmt.Sprintf("%s/%d", cl.id, cl.waitSeq)
	cl.waitStart = now
	if c.jr != nil && cl.callback == nil {
		c.jr.Append(storage.QueueWait{ID: cl.waitID, CallID: cl.id, Queue: cl.queue, EnteredAt: now.UTC()})
	}
}

func (c *Controller) closeWait(cl *call, outcome string, now time.Time) {
	if cl.waitID == "" {
		return
	}
	if c.jr != nil && cl.callback == nil {
		c.jr.Append(storage.QueueWait{ID: cl.waitID, CallID: cl.id, Queue: cl.queue, EnteredAt: cl.waitStart.UTC(), LeftAt: tp(now),
			Outcome: outcome, WaitSeconds: now.Sub(cl.waitStart).Seconds(), AgentID: cl.agentID})
	}
	cl.waitID = ""
}

// endCall writes the final call row and forgets the call.
func (c *Controller) endCall(cl *call, outcome, reason string, now time.Time) {
	if cl.phase == phaseEnded {
		return
	}
	cl.phase = phaseEnded
	if cl.aheadCancel != nil {
		cl.aheadCancel() // a customer dialled ahead and still waiting is released
	}
	if c.jr != nil && cl.callback == nil {
		r := storage.Call{ID: cl.id, Node: cl.caller.Node, CallerLegID: cl.caller.String(), CallerNumber: cl.callerNum, CallerName: cl.callerName,
			DialedNumber: cl.dialed, Queue: cl.queue, Priority: cl.priority, AgentID: cl.agentID, ArrivedAt: cl.arrivedAt.UTC(),
			EnqueuedAt: tp(cl.enqueuedAt), OfferedAt: tp(cl.offeredAt), AnsweredAt: tp(cl.answeredAt), EndedAt: tp(now),
			Outcome: outcome, EndReason: reason, Offers: cl.offers, UpdatedAt: now.UTC()}
		if !cl.enqueuedAt.IsZero() {
			end := now
			if !cl.answeredAt.IsZero() {
				end = cl.answeredAt
			}
			r.WaitSeconds = end.Sub(cl.enqueuedAt).Seconds()
		}
		if !cl.answeredAt.IsZero() {
			r.TalkSeconds = now.Sub(cl.answeredAt).Seconds()
		}
		if len(cl.traces) > 0 {
			b, _ := json.Marshal(cl.traces)
			r.Trace = string(b)
		}
		c.jr.Append(r)
	}
	if c.calls[cl.id] == cl {
		delete(c.calls, cl.id)
	}
	c.endSnoops(cl.id)
	// No agent phone may keep ringing for a call that is over, whatever
	// the engine said: a live offer is withdrawn here (an originate still
	// on its way is hung up when it returns, as the offer is dead; the
	// offer leaves c.offers when its leg is gone).
	for _, of := range c.callOffers[cl.id] {
		if !of.dead && !of.up {
			of.dead = true
			if of.cancel != nil {
				of.cancel() // a callback being connected
			}
			if !of.leg.IsZero() {
				if _, live := c.byLeg[of.leg]; live {
					c.hangup(of.leg, 16)
				}
			}
		}
	}
	c.log.Debug("call ended", "call_id", cl.id, "outcome", outcome, "reason", reason)
}

// recoveredCall is a call that was live when switchboard last stopped,
// with what storage holds of it.
type recoveredCall struct {
	storage.Call
	legs  []storage.Leg       // its legs without an end
	waits []storage.QueueWait // its queue stints, oldest first
}

// recover loads the calls that were live when switchboard last stopped,
// with their open legs and their queue stints. Each is resumed when the
// PBX reports its caller leg again (CallArrived with Adopted), or closed as
// lost when the node's reconciliation shows the PBX no longer holds it;
// either way its legs and stints are carried on or closed, never left
// open. Today's finished calls seed the statistics.
func (c *Controller) recover(ctx context.Context) {
	if c.store == nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	live, err := c.store.LiveCalls(rctx)
	if err != nil {
		c.log.Error("restart recovery: could not read live calls; they will stay open until the next restart", "err", err)
	}
	for _, cl := range live {
		rc := recoveredCall{Call: cl}
		legs, err := c.store.CallLegs(rctx, cl.ID)
		if err != nil {
			c.log.Warn("restart recovery: could not read the call's legs; they stay open", "call_id", cl.ID, "err", err)
		}
		for _, l := range legs {
			if l.EndedAt == nil {
				rc.legs = append(rc.legs, l)
			}
		}
		if rc.waits, err = c.store.CallWaits(rctx, cl.ID); err != nil {
			c.log.Warn("restart recovery: could not read the call's queue stints", "call_id", cl.ID, "err", err)
		}
		c.recovery[cl.CallerLegID] = rc
	}
	if len(live) > 0 {
		c.log.Info("restart recovery: calls live at the last stop will be resumed or closed", "calls", len(live))
	}
	c.seedStats(rctx)
}

// resumeRecords carries a resumed call's rows on from where they stood:
// the caller leg keeps its row (created and answered times), the queue
// stint it was waiting in stays the open one (its entered time kept, no
// second stint opened), later stints are numbered after the stored ones,
// and its other open legs wait for the node's reconciliation.
func (c *Controller) resumeRecords(cl *call, caller adapters.LegRef, old recoveredCall) {
	for _, l := range old.legs {
		ref, ok := parseLeg(l.ID)
		if !ok {
			continue
		}
		if ref == caller {
			rec := l
			c.legRecs[caller] = &rec
			continue
		}
		if cl.recLegs == nil {
			cl.recLegs = map[adapters.LegRef]storage.Leg{}
		}
		cl.recLegs[ref] = l
	}
	cl.waitSeq = len(old.waits)
	for _, w := range old.waits {
		if w.LeftAt != nil {
			continue
		}
		if cl.waitID != "" {
			// Two open stints (should not happen): keep the last one.
			c.closeWait(cl, storage.OutcomeOverflowed, c.clk.Now())
		}
		cl.waitID, cl.waitStart, cl.queue = w.ID, w.EnteredAt, w.Queue
	}
	if old.AnsweredAt != nil && cl.waitID != "" {
		cl.agentID = old.AgentID
		c.closeWait(cl, storage.OutcomeAnswered, *old.AnsweredAt)
	}
}

// closeRecoveredLeg writes the end of a leg from before the restart that
// is gone (or hung up now): ended when switchboard found out, never before
// the leg's own creation or answer.
func (c *Controller) closeRecoveredLeg(l storage.Leg, now time.Time) {
	if c.jr == nil || l.EndedAt != nil {
		return
	}
	end := later(now, l.CreatedAt)
	if l.AnsweredAt != nil {
		end = later(end, *l.AnsweredAt)
	}
	l.EndedAt = tp(end)
	c.jr.Append(l)
}

// lastKnown is the latest moment the stored call was known alive.
func (r recoveredCall) lastKnown() time.Time {
	t := later(r.ArrivedAt, r.UpdatedAt)
	for _, p := range []*time.Time{r.EnqueuedAt, r.OfferedAt, r.AnsweredAt} {
		if p != nil {
			t = later(t, *p)
		}
	}
	return t
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (c *Controller) sortedCallIDs() []string {
	ids := make([]string, 0, len(c.calls))
	for id := range c.calls {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// seedStats replays today's calls from storage into the statistics, so a
// restart keeps the day's figures. Calls still live count as offered
// (they are resumed without being counted again); each call counts in the
// queue it was last in. Pages are read by keyset (the last call of a page
// is the cursor), not by OFFSET, which would read and skip every earlier
// row again on each page of a busy day.
func (c *Controller) seedStats(ctx context.Context) {
	now := c.clk.Now().In(c.loc)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, c.loc)
	page := c.seedPage
	if page <= 0 {
		page = 10000
	}
	var today []storage.Call
	f := storage.CallFilter{From: day, Limit: page}
	for {
		got, err := c.store.Calls(ctx, f)
		if err != nil {
			c.log.Warn("could not seed today's statistics; they start from zero", "err", err)
			return
		}
		today = append(today, got...)
		if len(got) < page {
			break
		}
		last := got[len(got)-1]
		f.BeforeAt, f.BeforeID = last.ArrivedAt, last.ID
	}
	at := c.clk.Now()
	secs := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	for _, cl := range today {
		if cl.Queue == "" {
			continue
		}
		c.board.Offered(cl.Queue, at)
		switch cl.Outcome {
		case storage.OutcomeAnswered:
			if cl.AnsweredAt != nil {
				c.board.Answered(cl.Queue, secs(cl.WaitSeconds), at)
				c.board.Handled(cl.Queue, secs(cl.TalkSeconds), at)
			}
		case storage.OutcomeAbandoned:
			c.board.Abandoned(cl.Queue, secs(cl.WaitSeconds), at)
		case storage.OutcomeExited:
			c.board.Exited(cl.Queue, at)
		case storage.OutcomeCallback:
			c.board.CallbackAccepted(cl.Queue, at)
		case storage.OutcomeLive:
			if cl.AnsweredAt != nil {
				// Talking at the stop: answered already; its talk is
				// counted when it ends.
				c.board.Answered(cl.Queue, secs(cl.WaitSeconds), at)
			}
		}
	}
	if len(today) > 0 {
		c.log.Info("statistics seeded from today's calls", "calls", len(today))
	}

}

func sortLegs(ls []adapters.LegRef) {
	sort.Slice(ls, func(i, j int) bool { return ls[i].String() < ls[j].String() })
}
