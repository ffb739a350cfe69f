package esl

import (
	"container/heap"
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
)

// resequencer holds events for a short window and releases them in
// Event-Sequence order. Defence "resequencing": eslgo hands every event
// to its listener in a new goroutine, so they arrive in any order, and
// FreeSWITCH itself sometimes writes n+1 before n. Event-Sequence is one
// global counter with gaps (events we did not subscribe to use numbers
// too), so the window never waits for a missing number: an event is
// released once it has waited `window`, after every lower number that
// arrived meanwhile.
type resequencer struct {
	window time.Duration
	h      seqHeap
}

type pending struct {
	ev  fsEvent
	due time.Time
}

// seqHeap holds pointers: an fsEvent is a few hundred bytes, and the heap
// moves its elements on every push and pop.
type seqHeap []*pending

func (h seqHeap) Len() int { return len(h) }
func (h seqHeap) Less(i, j int) bool {
	if h[i].ev.Seq != h[j].ev.Seq {
		return h[i].ev.Seq < h[j].ev.Seq
	}
	return h[i].due.Before(h[j].due)
}
func (h seqHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)   { *h = append(*h, x.(*pending)) }
func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

func (r *resequencer) push(ev fsEvent, arrived time.Time) {
	heap.Push(&r.h, &pending{ev: ev, due: arrived.Add(r.window)})
}

// release returns, in sequence order, the events that may go now: the
// lowest number goes once it is due; anything behind it waits with it.
func (r *resequencer) release(now time.Time) []fsEvent {
	var out []fsEvent
	for r.h.Len() > 0 && !r.h[0].due.After(now) {
		out = append(out, heap.Pop(&r.h).(*pending).ev)
	}
	return out
}

// flush returns everything, in sequence order.
func (r *resequencer) flush() []fsEvent {
	var out []fsEvent
	for r.h.Len() > 0 {
		out = append(out, heap.Pop(&r.h).(*pending).ev)
	}
	return out
}

// next is when the earliest held event falls due.
func (r *resequencer) next() (time.Time, bool) {
	if r.h.Len() == 0 {
		return time.Time{}, false
	}
	// The heap top (lowest number) gates release.
	return r.h[0].due, true
}

// eventLoop owns event application: it decodes what eslgo delivered,
// resequences, applies to the leg state machine and emits port events; it
// also runs reconciliation, so that reconciliation and events never
// interleave.
func (a *Adapter) eventLoop(ctx context.Context) {
	rs := &resequencer{window: a.cfg.ReorderWindow}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var highest uint64
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-a.intake:
			ev, err := decodeEvent(r.ev.Headers, r.ev.Body, a.cfg.ArrivalVar)
			if err != nil {
				a.log.Warn("freeswitch event skipped", "err", err)
				break
			}
			a.m.events.Add(1)
			if ev.Seq < highest {
				a.m.reordered.Add(1)
			}
			highest = max(highest, ev.Seq)
			rs.push(ev, r.arrived)
		case <-timer.C:
		case <-a.reconcile:
			for _, ev := range rs.flush() {
				a.emit(a.apply(ev)...)
			}
			a.reconcileNow(ctx)
		}
		for _, ev := range rs.release(time.Now()) {
			a.emit(a.apply(ev)...)
		}
		if due, ok := rs.next(); ok {
			timer.Reset(max(time.Until(due), 0))
		} else {
			timer.Reset(time.Hour)
		}
	}
}

// reconcileNow compares what FreeSWITCH holds with what the adapter knows
// after a (re)connect: legs that vanished are forgotten (the controller
// closes their calls from the Reconciled list), answers missed during the
// gap are reported, and switchboard channels the adapter does not know
// (parked callers from before a restart, legs it originated in an earlier
// life) are adopted.
func (a *Adapter) reconcileNow(ctx context.Context) {
	a.mu.Lock()
	session := a.session
	a.mu.Unlock()
	body, err := a.cmds[0].api(ctx, "show", "channels as json")
	if err != nil {
		a.log.Warn("freeswitch reconcile: show channels failed", "err", err)
		return
	}
	rows, err := parseChannels([]byte(body))
	if err != nil {
		a.log.Warn("freeswitch reconcile: cannot read show channels", "err", err)
		return
	}
	type adopt struct {
		row           channelRow
		role, tag     string
		arrival, vars string
	}
	var unknown []adopt
	a.mu.Lock()
	for _, r := range rows {
		_, known := a.legs[r.UUID]
		_, dead := a.gone[r.UUID]
		if !known && !dead {
			unknown = append(unknown, adopt{row: r})
		}
	}
	a.mu.Unlock()
	for i := range unknown {
		id := unknown[i].row.UUID
		if !namePattern.MatchString(id) {
			continue
		}
		role, err := a.cmdFor(id).api(ctx, "uuid_getvar", id+" "+varPrefix+"role")
		if err != nil {
			continue
		}
		unknown[i].role = role
		if role == "_undef_" || role == "" {
			if v, err := a.cmdFor(id).api(ctx, "uuid_getvar", id+" "+a.cfg.ArrivalVar); err == nil {
				unknown[i].arrival = v
			}
			continue
		}
		if t, err := a.cmdFor(id).api(ctx, "uuid_getvar", id+" "+varPrefix+"tag"); err == nil && t != "_undef_" {
			unknown[i].tag = t
		}
	}

	now := time.Now()
	var out []adapters.Event
	a.mu.Lock()
	present := make(map[string]channelRow, len(rows))
	for _, r := range rows {
		present[r.UUID] = r
	}
	var pending []string // ours, originated in this session, not listed
	for id, l := range a.legs {
		r, ok := present[id]
		if !ok && l.originated && l.session == session {
			// Originated since this session came up: bgapi answers before
			// FreeSWITCH creates the channel, so the listing may not have
			// it yet. Its events (create, answer, or the hangup of a
			// failed dial) come on the subscribed connection; it has not
			// vanished, and the controller must not be told it did.
			pending = append(pending, id)
			continue
		}
		if !ok {
			a.log.Info("freeswitch leg vanished while the link was down", "call_leg", id, "role", l.role)
			a.buryLocked(id)
			continue
		}
		if r.CallState == "ACTIVE" && l.state < legAnswered {
			l.state = legAnswered
			out = append(out, adapters.LegAnswered{Base: adapters.Base{Ref: a.ref(id), At: now}, Tag: l.tag})
		}
	}
	for _, u := range unknown {
		if _, dead := a.gone[u.row.UUID]; dead {
			continue
		}
		if _, known := a.legs[u.row.UUID]; known {
			continue
		}
		st := legRinging
		if u.row.CallState == "ACTIVE" {
			st = legAnswered
		}
		switch {
		case u.role == string(adapters.RoleCaller) || u.arrival == "true":
			a.legs[u.row.UUID] = &leg{role: adapters.RoleCaller, state: st}
			out = append(out, adapters.CallArrived{Base: adapters.Base{Ref: a.ref(u.row.UUID), At: now},
				CallerNumber: u.row.CIDNum, CallerName: u.row.CIDName, DialedNumber: u.row.Dest,
				Answered: st == legAnswered, Adopted: true})
		case u.role == string(adapters.RoleAgent) || u.role == string(adapters.RoleSnoop) || u.role == string(adapters.RoleCallback):
			a.legs[u.row.UUID] = &leg{role: adapters.LegRole(u.role), tag: u.tag, state: st, originated: true}
		}
	}
	rec := adapters.Reconciled{Base: adapters.Base{At: now}, Node: a.cfg.Node}
	for _, r := range rows {
		l, ok := a.legs[r.UUID]
		if !ok {
			continue
		}
		state := "Ring"
		if l.state == legAnswered {
			state = "Up"
		}
		rec.Legs = append(rec.Legs, adapters.LegInfo{Ref: a.ref(r.UUID), State: state, CallerNumber: r.CIDNum,
			DialedNumber: r.Dest, Tag: l.tag})
	}
	sort.Strings(pending)
	for _, id := range pending {
		l := a.legs[id]
		state := "Ring"
		if l.state == legAnswered {
			state = "Up"
		}
		rec.Legs = append(rec.Legs, adapters.LegInfo{Ref: a.ref(id), State: state, Tag: l.tag})
	}
	a.mu.Unlock()
	out = append(out, rec)
	a.emit(out...)
}

// newUUID returns a random version 4 UUID (origination_uuid, Job-UUID).
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
