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
func (c *Controller) journalCall(cl *call, outcome, reason string) {
	if c.jr == nil {
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

func (c *Controller) journalLeg(cl *call, ref adapters.LegRef, role adapters.LegRole, agentID, endpoint string) {
	if c.jr == nil {
		return
	}
	rec := &storage.Leg{ID: ref.String(), CallID: cl.id, Node: ref.Node, ChannelID: ref.ID, Role: string(role), AgentID: agentID,
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
	if c.jr != nil {
		c.jr.Append(storage.QueueWait{ID: cl.waitID, CallID: cl.id, Queue: cl.queue, EnteredAt: now.UTC()})
	}
}

func (c *Controller) closeWait(cl *call, outcome string, now time.Time) {
	if cl.waitID == "" {
		return
	}
	if c.jr != nil {
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
	if c.jr != nil {
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
	delete(c.calls, cl.id)
	for tag, of := range c.offers {
		if of.callID == cl.id && of.leg.IsZero() {
			delete(c.offers, tag)
		}
	}
	c.log.Debug("call ended", "call_id", cl.id, "outcome", outcome, "reason", reason)
}

// recover loads the calls that were live when switchboard last stopped.
// Each is resumed when the PBX reports its caller leg again (CallArrived
// with Adopted), or closed as lost when the node's reconciliation shows the
// PBX no longer holds it. Today's finished calls seed the statistics.
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
		c.recovery[cl.CallerLegID] = cl
	}
	if len(live) > 0 {
		c.log.Info("restart recovery: calls live at the last stop will be resumed or closed", "calls", len(live))
	}
	now := c.clk.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	done, err := c.store.Calls(rctx, storage.CallFilter{From: day, Limit: 10000})
	if err != nil {
		c.log.Warn("could not seed today's statistics", "err", err)
		return
	}
	sort.Slice(done, func(i, j int) bool { return done[i].ArrivedAt.Before(done[j].ArrivedAt) })
	for _, cl := range done {
		if cl.Queue == "" || cl.Outcome == storage.OutcomeLive {
			continue
		}
		c.board.Offered(cl.Queue, cl.ArrivedAt)
		switch cl.Outcome {
		case storage.OutcomeAnswered:
			c.board.Answered(cl.Queue, time.Duration(cl.WaitSeconds*float64(time.Second)), cl.ArrivedAt)
			c.board.Handled(cl.Queue, time.Duration(cl.TalkSeconds*float64(time.Second)), cl.ArrivedAt)
		case storage.OutcomeAbandoned:
			c.board.Abandoned(cl.Queue, time.Duration(cl.WaitSeconds*float64(time.Second)), cl.ArrivedAt)
		}
	}
}

func sortLegs(ls []adapters.LegRef) {
	sort.Slice(ls, func(i, j int) bool { return ls[i].String() < ls[j].String() })
}
