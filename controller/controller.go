// Package controller carries the life of a call between the PBX port, the
// routing engine and storage (DESIGN.md, "One inbound call, end to end").
//
// One goroutine — the loop in Run — owns the routing engine and every
// call's state. PBX events, operator requests and engine timers all enter
// that loop; PBX commands leave it in their own goroutines, bounded by a
// timeout, and their results come back into the loop as events. The loop
// never waits on the PBX or the database: records go to a write-behind
// journal.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/stats"
	"github.com/switchboard-cc/switchboard/storage"
)

// Errors callers branch on (the API maps them to 404 / 409).
var (
	ErrUnknownAgent = routing.ErrUnknownAgent
	ErrUnknownCall  = errors.New("unknown call")
	ErrInvalidState = routing.ErrInvalidState
	ErrNotRunning   = errors.New("controller not running")
)

// Journal takes records for the database without waiting on it
// (storage.Journal satisfies it).
type Journal interface {
	Append(rec storage.Record)
}

// Store gives the controller what it needs at start (storage.Store
// satisfies it): the calls that were live when switchboard stopped, and
// today's finished calls to seed the statistics.
type Store interface {
	LiveCalls(ctx context.Context) ([]storage.Call, error)
	Calls(ctx context.Context, f storage.CallFilter) ([]storage.Call, error)
}

// Observer sees the life of every call (recordings, callbacks, metrics).
// Observe is called from the controller loop and must not block.
type Observer interface {
	Observe(CallEvent)
}

// CallEvent is what an Observer sees.
type CallEvent struct {
	Kind         string // arrived, queued, offered, answered, bridged, ended, abandoned, exited, pbx
	At           time.Time
	CallID       string
	Queue        string
	AgentID      string
	CallerNumber string
	DialedNumber string
	Node         string
	Caller       adapters.LegRef
	AgentLeg     adapters.LegRef
	Bridge       adapters.BridgeRef
	PBXEvent     adapters.Event
}

// Config tunes the controller.
type Config struct {
	// CommandTimeout bounds every PBX command (default 5 s).
	CommandTimeout time.Duration `yaml:"command_timeout" json:"command_timeout"`
	// HoldClass is the music-on-hold class ("" = the PBX default).
	HoldClass string `yaml:"hold_class" json:"hold_class"`
	// Greeting is played to a caller before hold (empty = none).
	Greeting string `yaml:"greeting" json:"greeting"`
	// Announce plays position / estimated-wait announcements when the
	// routing file asks for them.
	Announce bool `yaml:"announce" json:"announce"`
	// Timezone is the statistics day's zone (default UTC).
	Timezone string `yaml:"timezone" json:"timezone"`
	// ShortAbandon is left out of the service level (default 5 s).
	ShortAbandon time.Duration `yaml:"short_abandon" json:"short_abandon"`
	// RecentTraces is how many routing traces a call keeps (default 8).
	RecentTraces int `yaml:"recent_traces" json:"recent_traces"`
}

// Deps are the parts the controller joins.
type Deps struct {
	PBX       adapters.PBX
	Engine    *routing.Engine
	Journal   Journal // nil: nothing persisted
	Store     Store   // nil: no restart recovery
	Clock     clock.Clock
	Log       *slog.Logger
	Observers []Observer
}

// Controller is the call flow.
type Controller struct {
	cfg    Config
	pbx    adapters.PBX
	engine *routing.Engine
	jr     Journal
	store  Store
	clk    clock.Clock
	log    *slog.Logger
	obs    []Observer
	board  *stats.Board

	internal chan func()      // results of PBX commands, back into the loop
	requests chan request     // operator requests
	snapMu   sync.RWMutex     // guards snap
	snap     Snapshot         // last published snapshot
	running  chan struct{}    // closed when the loop runs
	calls    map[string]*call // by call id
	byLeg    map[adapters.LegRef]legOwner
	legRecs  map[adapters.LegRef]*storage.Leg
	offers   map[string]*offer // by tag
	nodes    map[string]NodeStatus
	recovery map[string]storage.Call // live calls from before a restart, by caller leg
	seq      uint64
	wg       sync.WaitGroup
	ctx      context.Context
}

type legOwner struct {
	callID string
	role   adapters.LegRole
	tag    string
}

type callPhase string

const (
	phaseArriving callPhase = "arriving"
	phaseQueued   callPhase = "queued"
	phaseRinging  callPhase = "offered"
	phaseTalking  callPhase = "talking"
	phaseEnded    callPhase = "ended"
)

type call struct {
	id         string
	caller     adapters.LegRef
	callerNum  string
	callerName string
	dialed     string
	vars       map[string]string
	phase      callPhase
	queue      string
	priority   int
	arrivedAt  time.Time
	enqueuedAt time.Time
	offeredAt  time.Time
	answeredAt time.Time
	agentID    string
	agentLeg   adapters.LegRef
	bridge     adapters.BridgeRef
	offers     int
	traces     []routing.Trace
	waitSeq    int
	waitID     string
	waitStart  time.Time
	answered   bool // caller leg answered by us
}

type offer struct {
	tag     string
	callID  string
	agentID string
	leg     adapters.LegRef
	up      bool
	dead    bool // withdrawn or failed: late events are ignored
}

type request struct {
	fn   func() error
	done chan error
}

// New builds a controller. It does not start anything; Run does.
func New(cfg Config, d Deps) (*Controller, error) {
	if d.PBX == nil || d.Engine == nil {
		return nil, errors.New("controller: PBX and Engine are required")
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 5 * time.Second
	}
	if cfg.RecentTraces <= 0 {
		cfg.RecentTraces = 8
	}
	loc := time.UTC
	if cfg.Timezone != "" {
		l, err := time.LoadLocation(cfg.Timezone)
		if err != nil {
			return nil, fmt.Errorf("controller.timezone %q: %w", cfg.Timezone, err)
		}
		loc = l
	}
	c := &Controller{
		cfg: cfg, pbx: d.PBX, engine: d.Engine, jr: d.Journal, store: d.Store, clk: d.Clock, log: d.Log.With("component", "controller"),
		obs: d.Observers, board: stats.New(loc, cfg.ShortAbandon),
		internal: make(chan func(), 4096), requests: make(chan request), running: make(chan struct{}),
		calls: map[string]*call{}, byLeg: map[adapters.LegRef]legOwner{}, legRecs: map[adapters.LegRef]*storage.Leg{}, offers: map[string]*offer{},
		nodes: map[string]NodeStatus{}, recovery: map[string]storage.Call{},
	}
	for _, q := range d.Engine.Queues() {
		c.board.SetQueue(q.Name, q.ServiceLevelThreshold, q.ServiceLevelGoal)
	}
	return c, nil
}

// Run is the event loop. It returns when ctx ends or the PBX event stream
// closes.
func (c *Controller) Run(ctx context.Context) error {
	c.ctx = ctx
	c.recover(ctx)
	close(c.running)
	c.publish()
	defer c.wg.Wait()
	evs := c.pbx.Events()
	lastPublish := time.Now()
	for {
		var timer <-chan time.Time
		if at, ok := c.engine.NextDeadline(); ok {
			d := at.Sub(c.clk.Now())
			if d < 0 {
				d = 0
			}
			timer = c.clk.After(d)
		}
		select {
		case <-ctx.Done():
			c.publish()
			return nil
		case ev, ok := <-evs:
			if !ok {
				c.publish()
				return nil
			}
			c.onPBX(ev)
		case fn := <-c.internal:
			fn()
		case r := <-c.requests:
			r.done <- r.fn()
		case <-timer:
			c.apply(c.engine.Tick(c.clk.Now()))
		}
		// Publishing a snapshot costs a copy of the floor; at high event
		// rates once every 100 ms of real time is plenty for the wallboard.
		if time.Since(lastPublish) >= 100*time.Millisecond || len(evs) == 0 && len(c.internal) == 0 {
			c.publish()
			lastPublish = time.Now()
		}
	}
}

// do runs fn in the loop and waits for it.
func (c *Controller) do(ctx context.Context, fn func() error) error {
	select {
	case <-c.running:
	default:
		return ErrNotRunning
	}
	r := request{fn: fn, done: make(chan error, 1)}
	select {
	case c.requests <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// async runs a PBX command off the loop; then, back in the loop, done.
func (c *Controller) async(what string, cmd func(ctx context.Context) error, done func(err error)) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CommandTimeout)
		err := cmd(ctx)
		cancel()
		if err != nil && !errors.Is(err, adapters.ErrUnknownLeg) {
			c.log.Warn("pbx command failed", "command", what, "err", err)
		}
		if done != nil {
			c.post(func() { done(err) })
		}
	}()
}

// post hands fn to the loop; it never blocks the caller for long: when the
// loop is gone (shutdown) the result is dropped.
func (c *Controller) post(fn func()) {
	select {
	case c.internal <- fn:
	case <-c.ctxDone():
	}
}

func (c *Controller) ctxDone() <-chan struct{} {
	if c.ctx == nil {
		return nil
	}
	return c.ctx.Done()
}

func (c *Controller) notify(kind string, cl *call, extra func(*CallEvent)) {
	if len(c.obs) == 0 {
		return
	}
	ev := CallEvent{Kind: kind, At: c.clk.Now()}
	if cl != nil {
		ev.CallID, ev.Queue, ev.AgentID, ev.CallerNumber, ev.DialedNumber = cl.id, cl.queue, cl.agentID, cl.callerNum, cl.dialed
		ev.Node, ev.Caller, ev.AgentLeg, ev.Bridge = cl.caller.Node, cl.caller, cl.agentLeg, cl.bridge
	}
	if extra != nil {
		extra(&ev)
	}
	for _, o := range c.obs {
		o.Observe(ev)
	}
}

// callID derives a stable id from the caller leg, so a call found again
// after a restart or a reconnect keeps its id.
func callID(ref adapters.LegRef) string {
	id := ref.Node + "-" + ref.ID
	return strings.NewReplacer("/", "-", " ", "-").Replace(id)
}

// ----------------------------------------------------------- PBX events

func (c *Controller) onPBX(ev adapters.Event) {
	switch e := ev.(type) {
	case adapters.CallArrived:
		c.onArrived(e)
	case adapters.LegAnswered:
		c.onAnswered(e)
	case adapters.LegHungUp:
		c.onLegGone(e.Ref, e.Cause, e.CauseText, e.Local)
	case adapters.OriginateFailed:
		c.onLegGone(e.Ref, e.Cause, e.Reason, false)
	case adapters.NodeState:
		st := c.nodes[e.Node]
		st.Node, st.Up, st.Standby, st.Error, st.Since = e.Node, e.Up, e.Standby, e.Err, e.At
		c.nodes[e.Node] = st
		c.log.Info("pbx node state", "node", e.Node, "up", e.Up, "standby", e.Standby, "err", e.Err)
	case adapters.Reconciled:
		c.onReconciled(e)
	}
	if own, ok := c.byLeg[ev.Leg()]; ok {
		cl := c.calls[own.callID]
		c.notify("pbx", cl, func(ce *CallEvent) { ce.PBXEvent = ev })
	} else {
		c.notify("pbx", nil, func(ce *CallEvent) { ce.PBXEvent = ev; ce.Node = ev.Leg().Node })
	}
}

func (c *Controller) onArrived(e adapters.CallArrived) {
	if _, known := c.byLeg[e.Ref]; known {
		return // the same leg reported twice (reconcile after a live arrival)
	}
	now := c.clk.Now()
	cl := &call{id: callID(e.Ref), caller: e.Ref, callerNum: e.CallerNumber, callerName: e.CallerName, dialed: e.DialedNumber,
		vars: e.Vars, phase: phaseArriving, arrivedAt: now, answered: e.Answered}
	if prev, ok := c.calls[cl.id]; ok && prev.phase != phaseEnded {
		return
	}
	c.calls[cl.id] = cl
	c.byLeg[e.Ref] = legOwner{callID: cl.id, role: adapters.RoleCaller}
	c.journalLeg(cl, e.Ref, adapters.RoleCaller, "", "")
	log := c.log.With("call_id", cl.id, "node", e.Ref.Node)
	c.notify("arrived", cl, nil)

	// A call from before a restart (or found again after a reconnect)
	// keeps its original arrival and place in line.
	if old, ok := c.recovery[e.Ref.String()]; ok {
		delete(c.recovery, e.Ref.String())
		cl.arrivedAt = old.ArrivedAt
		since := old.ArrivedAt
		if old.EnqueuedAt != nil {
			since = *old.EnqueuedAt
		}
		if old.AnsweredAt != nil {
			// It was talking to an agent; the bridge survived in the PBX.
			// Keep it as a live call without an engine entry.
			cl.phase, cl.queue, cl.agentID, cl.answeredAt = phaseTalking, old.Queue, old.AgentID, *old.AnsweredAt
			c.journalCall(cl, storage.OutcomeLive, "")
			log.Info("resumed a connected call after restart")
			return
		}
		cl.priority = old.Priority
		ds, err := c.engine.Enqueue(routing.Call{ID: cl.id, CallerNumber: cl.callerNum, DialedNumber: cl.dialed, Node: e.Ref.Node, Vars: cl.vars}, old.Queue, old.Priority, since, now)
		if err == nil {
			cl.enqueuedAt = since
			log.Info("resumed a waiting call after restart", "queue", old.Queue, "since", since)
			c.apply(ds)
			return
		}
		log.Warn("could not resume call in its queue; routing it again", "queue", old.Queue, "err", err)
	}
	ds, err := c.engine.Arrive(routing.Call{ID: cl.id, CallerNumber: cl.callerNum, DialedNumber: cl.dialed, Node: e.Ref.Node, Vars: cl.vars}, now)
	if err != nil {
		log.Error("routing rejected the call; handing it back to the dialplan", "err", err)
		c.endCall(cl, storage.OutcomeFailed, "routing: "+err.Error(), now)
		c.async("continue", func(ctx context.Context) error { return c.pbx.Continue(ctx, e.Ref, "", "") }, nil)
		return
	}
	c.apply(ds)
}

func (c *Controller) onAnswered(e adapters.LegAnswered) {
	own, ok := c.byLeg[e.Ref]
	if !ok {
		return
	}
	if own.role != adapters.RoleAgent {
		return
	}
	c.journalLegUpdate(e.Ref, true, false, 0)
	of := c.offers[own.tag]
	cl := c.calls[own.callID]
	if of == nil || of.dead || cl == nil || cl.phase == phaseEnded {
		// The caller left or the offer was withdrawn while it rang.
		c.hangup(e.Ref, 16)
		return
	}
	now := c.clk.Now()
	of.up = true
	ds := c.engine.Answered(cl.id, of.agentID, now)
	cl.phase = phaseTalking
	cl.agentID = of.agentID
	cl.agentLeg = e.Ref
	cl.answeredAt = now
	wait := now.Sub(cl.enqueuedAt)
	c.board.Answered(cl.queue, wait, now)
	c.closeWait(cl, "answered", now)
	c.journalCall(cl, storage.OutcomeLive, "")
	c.log.Info("agent answered", "call_id", cl.id, "agent_id", of.agentID, "queue", cl.queue, "wait", wait.Round(time.Millisecond))
	c.notify("answered", cl, nil)
	c.apply(ds)
	caller, agent := cl.caller, e.Ref
	c.async("stop hold", func(ctx context.Context) error { return c.pbx.StopHold(ctx, caller) }, nil)
	var bridge adapters.BridgeRef
	c.async("bridge", func(ctx context.Context) error {
		var err error
		bridge, err = c.pbx.Bridge(ctx, caller, agent)
		return err
	}, func(err error) {
		if err != nil {
			// Without a bridge the two legs cannot talk: end both.
			c.log.Error("bridge failed; ending the call", "call_id", cl.id, "err", err)
			c.hangup(caller, 41)
			c.hangup(agent, 41)
			return
		}
		cl.bridge = bridge
		c.notify("bridged", cl, nil)
	})
}

func (c *Controller) onLegGone(ref adapters.LegRef, cause int, text string, local bool) {
	own, ok := c.byLeg[ref]
	if !ok {
		return
	}
	delete(c.byLeg, ref)
	c.journalLegUpdate(ref, false, true, cause)
	now := c.clk.Now()
	cl := c.calls[own.callID]
	switch own.role {
	case adapters.RoleCaller:
		if cl == nil || cl.phase == phaseEnded {
			return
		}
		switch cl.phase {
		case phaseTalking:
			c.finishTalk(cl, now, "caller hung up")
		default:
			c.abandon(cl, now, fmt.Sprintf("caller hung up (cause %d %s)", cause, text))
		}
	case adapters.RoleAgent:
		of := c.offers[own.tag]
		delete(c.offers, own.tag)
		if of == nil || cl == nil {
			return
		}
		if of.up && cl.phase == phaseTalking && cl.agentLeg == ref {
			c.finishTalk(cl, now, "agent hung up")
			return
		}
		if of.dead || cl.phase == phaseEnded {
			return
		}
		of.dead = true
		reason := fmt.Sprintf("agent leg ended before answer (cause %d %s)", cause, text)
		c.log.Info("offer failed", "call_id", cl.id, "agent_id", of.agentID, "reason", reason)
		c.apply(c.engine.OfferFailed(cl.id, of.agentID, reason, now))
		if cl.phase == phaseRinging && !c.hasLiveOffer(cl.id) {
			cl.phase = phaseQueued
		}
		c.journalCall(cl, storage.OutcomeLive, "")
	}
}

func (c *Controller) hasLiveOffer(callID string) bool {
	for _, o := range c.offers {
		if o.callID == callID && !o.dead {
			return true
		}
	}
	return false
}

// finishTalk ends a connected call: the other leg is hung up, the agent
// goes to wrap-up.
func (c *Controller) finishTalk(cl *call, now time.Time, why string) {
	talk := now.Sub(cl.answeredAt)
	c.board.Handled(cl.queue, talk, now)
	if cl.caller != (adapters.LegRef{}) {
		if _, live := c.byLeg[cl.caller]; live {
			c.hangup(cl.caller, 16)
		}
	}
	if _, live := c.byLeg[cl.agentLeg]; live {
		c.hangup(cl.agentLeg, 16)
	}
	c.apply(c.engine.Ended(cl.id, now))
	c.endCall(cl, storage.OutcomeAnswered, why, now)
	c.notify("ended", cl, nil)
}

func (c *Controller) abandon(cl *call, now time.Time, why string) {
	wait := now.Sub(cl.enqueuedAt)
	if cl.enqueuedAt.IsZero() {
		wait = now.Sub(cl.arrivedAt)
	}
	if cl.queue != "" {
		c.board.Abandoned(cl.queue, wait, now)
	}
	c.closeWait(cl, "abandoned", now)
	c.apply(c.engine.Abandoned(cl.id, now))
	c.endCall(cl, storage.OutcomeAbandoned, why, now)
	c.notify("abandoned", cl, nil)
}

func (c *Controller) onReconciled(e adapters.Reconciled) {
	now := c.clk.Now()
	present := map[adapters.LegRef]bool{}
	for _, l := range e.Legs {
		present[l.Ref] = true
	}
	// Calls on this node whose legs the PBX no longer holds vanished while
	// the link was down: close them, each once, with the reason.
	for _, ref := range c.sortedLegs() {
		if ref.Node != e.Node || present[ref] {
			continue
		}
		own := c.byLeg[ref]
		c.log.Warn("leg vanished while the PBX link was down", "leg", ref.String(), "call_id", own.callID, "role", own.role)
		c.onLegGone(ref, 0, "vanished while PBX link was down", false)
	}
	// Calls remembered from before a restart that the PBX does not hold.
	for key, old := range c.recovery {
		if !strings.HasPrefix(key, e.Node+"/") {
			continue
		}
		delete(c.recovery, key)
		cl := &call{id: old.ID, queue: old.Queue, arrivedAt: old.ArrivedAt, agentID: old.AgentID, callerNum: old.CallerNumber, dialed: old.DialedNumber, priority: old.Priority}
		if old.EnqueuedAt != nil {
			cl.enqueuedAt = *old.EnqueuedAt
		}
		outcome := storage.OutcomeLost
		if old.AnsweredAt != nil {
			outcome = storage.OutcomeAnswered
			cl.answeredAt = *old.AnsweredAt
		}
		c.endCall(cl, outcome, "lost: switchboard restarted and the PBX no longer holds the call", now)
	}
}

func (c *Controller) sortedLegs() []adapters.LegRef {
	out := make([]adapters.LegRef, 0, len(c.byLeg))
	for ref := range c.byLeg {
		out = append(out, ref)
	}
	sortLegs(out)
	return out
}

// ---------------------------------------------------------- decisions

// apply carries out the engine's decisions in order.
func (c *Controller) apply(ds []routing.Decision) {
	now := c.clk.Now()
	for _, d := range ds {
		switch v := d.(type) {
		case routing.Queued:
			c.onQueued(v, now)
		case routing.Offer:
			c.onOffer(v, now)
		case routing.Withdraw:
			c.onWithdraw(v)
		case routing.Announce:
			c.onAnnounce(v)
		case routing.Overflow:
			if cl := c.calls[v.CallID]; cl != nil {
				c.board.Overflowed(v.From, now)
				c.closeWait(cl, "overflowed", now)
				c.log.Info("overflow", "call_id", v.CallID, "from", v.From, "to", v.To, "reason", v.Reason)
			}
		case routing.QueueExit:
			c.onExit(v, now)
		case routing.OfferCallback:
			if cl := c.calls[v.CallID]; cl != nil {
				c.board.CallbackOffered(v.Queue, now)
				c.notify("callback_offer", cl, nil)
			}
		case routing.AgentStateChanged:
			c.onAgentState(v)
		case routing.AgentFlagged:
			c.log.Warn("agent flagged", "agent_id", v.AgentID, "reason", v.Reason)
		}
	}
}

func (c *Controller) onQueued(v routing.Queued, now time.Time) {
	cl := c.calls[v.CallID]
	if cl == nil {
		return
	}
	first := cl.phase == phaseArriving
	cl.queue, cl.priority = v.Queue, v.Priority
	if cl.phase == phaseArriving || cl.phase == phaseQueued {
		cl.phase = phaseQueued
	}
	if cl.enqueuedAt.IsZero() {
		cl.enqueuedAt = v.Since
	}
	c.board.Offered(v.Queue, now)
	c.openWait(cl, now)
	c.journalCall(cl, storage.OutcomeLive, "")
	c.notify("queued", cl, nil)
	if first {
		ref := cl.caller
		answered := cl.answered
		greeting := c.cfg.Greeting
		class := c.cfg.HoldClass
		c.async("answer and hold", func(ctx context.Context) error {
			if !answered {
				if err := c.pbx.Answer(ctx, ref); err != nil {
					return err
				}
			}
			if greeting != "" {
				if _, err := c.pbx.Play(ctx, ref, adapters.Media{Kind: "sound", Value: greeting}); err != nil {
					return err
				}
			}
			return c.pbx.StartHold(ctx, ref, class)
		}, nil)
		cl.answered = true
	}
}

func (c *Controller) onOffer(v routing.Offer, now time.Time) {
	cl := c.calls[v.CallID]
	if cl == nil {
		c.apply(c.engine.OfferFailed(v.CallID, v.AgentID, "call unknown to the controller", now))
		return
	}
	c.seq++
	tag := fmt.Sprintf("offer-%d", c.seq)
	of := &offer{tag: tag, callID: cl.id, agentID: v.AgentID}
	c.offers[tag] = of
	cl.phase = phaseRinging
	cl.offers++
	cl.offeredAt = now
	cl.traces = append(cl.traces, v.Trace)
	if len(cl.traces) > c.cfg.RecentTraces {
		cl.traces = cl.traces[len(cl.traces)-c.cfg.RecentTraces:]
	}
	c.journalCall(cl, storage.OutcomeLive, "")
	c.notify("offered", cl, func(e *CallEvent) { e.AgentID = v.AgentID })
	if v.Endpoint == "" {
		c.log.Error("agent has no endpoint to ring", "agent_id", v.AgentID, "call_id", cl.id)
		of.dead = true
		delete(c.offers, tag)
		c.apply(c.engine.OfferFailed(cl.id, v.AgentID, "agent has no endpoint", now))
		return
	}
	req := adapters.OriginateRequest{Node: cl.caller.Node, Endpoint: v.Endpoint, CallerIDNumber: cl.callerNum, CallerIDName: cl.callerName,
		Timeout: v.Timeout + 2*time.Second, Tag: tag, Role: adapters.RoleAgent, Vars: map[string]string{"SWITCHBOARD_CALL": cl.id, "SWITCHBOARD_QUEUE": cl.queue}}
	var leg adapters.LegRef
	c.async("originate agent leg", func(ctx context.Context) error {
		var err error
		leg, err = c.pbx.Originate(ctx, req)
		return err
	}, func(err error) {
		if err != nil {
			if !of.dead {
				of.dead = true
				delete(c.offers, tag)
				c.log.Warn("could not ring agent", "agent_id", v.AgentID, "call_id", cl.id, "err", err)
				c.apply(c.engine.OfferFailed(cl.id, v.AgentID, "originate failed: "+err.Error(), c.clk.Now()))
			}
			return
		}
		of.leg = leg
		if of.dead {
			// Withdrawn while the originate was on its way.
			c.hangup(leg, 16)
			return
		}
		c.byLeg[leg] = legOwner{callID: cl.id, role: adapters.RoleAgent, tag: tag}
		c.journalLeg(cl, leg, adapters.RoleAgent, v.AgentID, v.Endpoint)
	})
}

func (c *Controller) onWithdraw(v routing.Withdraw) {
	for tag, of := range c.offers {
		if of.callID == v.CallID && of.agentID == v.AgentID && !of.dead {
			of.dead = true
			if !of.leg.IsZero() {
				c.hangup(of.leg, 16)
			}
			if of.leg.IsZero() {
				delete(c.offers, tag)
			}
		}
	}
	if cl := c.calls[v.CallID]; cl != nil && cl.phase == phaseRinging && !c.hasLiveOffer(cl.id) {
		cl.phase = phaseQueued
	}
}

func (c *Controller) onAnnounce(v routing.Announce) {
	cl := c.calls[v.CallID]
	if cl == nil || !c.cfg.Announce {
		return
	}
	ref := cl.caller
	media := []adapters.Media{{Kind: "sound", Value: "queue-thereare"}, {Kind: "number", Value: fmt.Sprint(v.Position)}, {Kind: "sound", Value: "queue-callswaiting"}}
	if v.EstimatedWait > 0 {
		mins := int((v.EstimatedWait + 59*time.Second) / time.Minute)
		media = append(media, adapters.Media{Kind: "sound", Value: "queue-holdtime"}, adapters.Media{Kind: "number", Value: fmt.Sprint(mins)}, adapters.Media{Kind: "sound", Value: "queue-minutes"})
	}
	c.async("announce", func(ctx context.Context) error { _, err := c.pbx.Play(ctx, ref, media...); return err }, nil)
}

func (c *Controller) onExit(v routing.QueueExit, now time.Time) {
	cl := c.calls[v.CallID]
	if cl == nil {
		return
	}
	c.board.Exited(v.Queue, now)
	c.closeWait(cl, "exited", now)
	ref := cl.caller
	c.log.Info("call leaves queue without an agent", "call_id", cl.id, "queue", v.Queue, "reason", v.Reason, "action", v.Action)
	switch v.Action {
	case routing.ExitVoicemail, routing.ExitDialplan:
		ctxName, ext := v.Target, ""
		if a, b, ok := strings.Cut(v.Target, "@"); ok {
			ext, ctxName = a, b
		}
		c.async("continue", func(ctx context.Context) error { return c.pbx.Continue(ctx, ref, ctxName, ext) }, nil)
	case routing.ExitAnnounce:
		media := v.Media
		c.async("announce and hang up", func(ctx context.Context) error {
			if media != "" {
				c.pbx.Play(ctx, ref, adapters.Media{Kind: "sound", Value: media})
			}
			return c.pbx.Hangup(ctx, ref, 16)
		}, nil)
	default:
		c.hangup(ref, 16)
	}
	delete(c.byLeg, ref)
	c.endCall(cl, storage.OutcomeExited, "left queue "+v.Queue+": "+v.Reason, now)
	c.notify("exited", cl, nil)
}

func (c *Controller) onAgentState(v routing.AgentStateChanged) {
	if c.jr != nil {
		c.seq++
		c.jr.Append(storage.AgentStateChange{ID: fmt.Sprintf("%s/%d/%d", v.AgentID, v.At.UnixNano(), c.seq), AgentID: v.AgentID,
			FromState: string(v.From), ToState: string(v.To), Reason: v.Reason, At: v.At.UTC()})
	}
}

func (c *Controller) hangup(ref adapters.LegRef, cause int) {
	c.async("hangup", func(ctx context.Context) error { return c.pbx.Hangup(ctx, ref, cause) }, nil)
}
