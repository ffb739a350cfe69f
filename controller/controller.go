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
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/stats"
	"github.com/switchboard-cc/switchboard/storage"
)

// Errors callers branch on (the API maps them to 404 / 409 / 503). They
// are the routing engine's own sentinels where the engine decides, so
// errors.Is works on either name.
var (
	ErrUnknownAgent = routing.ErrUnknownAgent
	ErrUnknownCall  = errors.New("unknown call")
	ErrInvalidState = routing.ErrInvalidState
	ErrNotRunning   = errors.New("controller not running")
	// ErrNoCallbackDesk: a callback was asked for but no desk is wired.
	ErrNoCallbackDesk = errors.New("no callback desk")
)

// Journal takes records for the database without waiting on it
// (storage.Journal satisfies it).
type Journal interface {
	Append(rec storage.Record)
}

// Store gives the controller what it needs at start (storage.Store
// satisfies it): the calls that were live when switchboard stopped with
// their legs and queue stints (so that resuming or closing them leaves no
// row half-written), and today's calls to seed the statistics.
type Store interface {
	LiveCalls(ctx context.Context) ([]storage.Call, error)
	CallLegs(ctx context.Context, callID string) ([]storage.Leg, error)
	CallWaits(ctx context.Context, callID string) ([]storage.QueueWait, error)
	Calls(ctx context.Context, f storage.CallFilter) ([]storage.Call, error)
}

// Observer sees the life of every call (recordings, callbacks, metrics).
// Observe is called from the controller loop and must not block (nor call
// back into the controller synchronously).
type Observer interface {
	Observe(CallEvent)
}

// CallEvent kinds.
const (
	EventArrived       = "arrived"
	EventQueued        = "queued"
	EventOffered       = "offered"
	EventAnswered      = "answered"
	EventBridged       = "bridged"
	EventEnded         = "ended"
	EventAbandoned     = "abandoned"
	EventExited        = "exited"
	EventCallbackOffer = "callback_offer"
	EventPBX           = "pbx"
	// EventHandedOver: the call's PBX node went to standby (another
	// switchboard took it over and routes the call now); this instance
	// forgot the call without closing it.
	EventHandedOver = "handed_over"
)

// CallEvent is what an Observer sees.
type CallEvent struct {
	Kind         string // one of the Event* constants
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
	// PBXEvent is set for Kind "pbx": every port event, in order, with the
	// call it belongs to when the leg is known (RecordingStarted/Finished,
	// DTMFReceived, Reconciled …). Always a value, never a pointer.
	PBXEvent adapters.Event
}

// Config tunes the controller.
type Config struct {
	// CommandTimeout bounds every PBX command (default 5 s).
	CommandTimeout time.Duration `yaml:"command_timeout" json:"command_timeout"`
	// HoldClass is the music-on-hold class ("" = the PBX default).
	HoldClass string `yaml:"hold_class" json:"hold_class"`
	// Greeting is a sound played to a caller after answer, before hold
	// (empty = none).
	Greeting string `yaml:"greeting" json:"greeting"`
	// Timezone is the statistics day's zone (default UTC).
	Timezone string `yaml:"timezone" json:"timezone"`
	// ShortAbandon is left out of the service level (default 5 s; negative
	// counts every abandon).
	ShortAbandon time.Duration `yaml:"short_abandon" json:"short_abandon"`
	// ServiceLevel picks the formula (see package stats): "abandons"
	// (default), "answered" or "offered".
	ServiceLevel string `yaml:"service_level" json:"service_level"`
	// RecentTraces is how many routing traces a call keeps (default 8).
	RecentTraces int `yaml:"recent_traces" json:"recent_traces"`
	// VoicemailContext is the dialplan context a voicemail exit continues
	// in when the routing file's target names only a box (default
	// "switchboard-voicemail").
	VoicemailContext string `yaml:"voicemail_context" json:"voicemail_context"`
}

// Deps are the parts the controller joins.
type Deps struct {
	PBX       adapters.PBX
	Engine    *routing.Engine
	Journal   Journal // nil: nothing persisted
	Store     Store   // nil: no restart recovery, statistics start at zero
	Clock     clock.Clock
	Log       *slog.Logger
	Observers []Observer
	Callbacks CallbackDesk // nil: callback offers are logged, callers keep waiting
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
	desk   CallbackDesk
	board  *stats.Board
	loc    *time.Location

	internal chan func()  // results of PBX commands, back into the loop
	requests chan request // operator requests
	running  chan struct{}
	stopped  chan struct{}
	ctx      context.Context
	wg       sync.WaitGroup

	snapMu    sync.RWMutex
	snap      Snapshot
	published time.Time     // wall time of the last publish
	snapEvery time.Duration // least wall time between two publishes
	dirty     atomic.Bool   // the floor changed since the last published snapshot

	// Loop-owned state.
	calls    map[string]*call
	byLeg    map[adapters.LegRef]legOwner
	legRecs  map[adapters.LegRef]*storage.Leg
	offers   map[string]*offer // by tag
	nodes    map[string]NodeStatus
	ups      map[string]uint64        // per node: how often it came up (NodeState)
	recovery map[string]recoveredCall // live calls from before a restart, by caller leg "node/id"

	// callOffers indexes offers by call id, so a call's end or a withdraw
	// finds its offers without scanning every live offer (hundreds on a big
	// floor, at every call's end). Kept by putOffer and dropOffer only.
	callOffers map[string]map[string]*offer
	// hangAfterPlay: caller legs that leave with an announcement and are
	// hung up when it finishes.
	hangAfterPlay map[adapters.LegRef]bool
	// snoops are the supervisor legs on live calls, by tag (supervise.go).
	snoops map[string]*snoop
	seq    uint64
	// seedPage is how many calls one storage page holds when today's
	// figures are seeded at start (0: 10,000; tests page smaller).
	seedPage int

	// For Idle (tests on a manual clock).
	busy     atomic.Int32
	inflight atomic.Int32
	deadline atomic.Int64 // next engine deadline, unix ns; 0 = none
	received atomic.Uint64
}

type legOwner struct {
	callID string
	role   adapters.LegRole
	tag    string
	// upGen, for a leg learned from a command's result (an originate),
	// is how often its node had come up then (ups); 0 for legs learned
	// from the PBX's events. Results and events reach the loop in any
	// order, so a reconciliation may list the node's legs from before
	// such a leg existed: one learned since the node last came up has
	// not vanished while the link was down.
	upGen uint64
}

type callPhase string

const (
	phaseArriving callPhase = "arriving"
	phaseQueued   callPhase = "queued"
	phaseRinging  callPhase = "offered"
	phaseTalking  callPhase = "talking"
	phaseEnded    callPhase = "ended"
	// phaseCallback is a callback entry waiting for an agent (no live leg).
	phaseCallback callPhase = "callback"
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
	answered   bool // caller leg answered (by us or before it reached us)
	onHold     bool // music on hold is meant to be playing
	resumed    bool // restored after a restart: already counted as offered
	callback   *CallbackEntry
	// aheadCancel ends a callback's dial ahead (the customer kept waiting
	// is released) when the entry ends.
	aheadCancel context.CancelFunc
	recovered   bool // talking call restored after a restart, no engine entry
	// recLegs are the call's legs that were open in storage when
	// switchboard stopped, not yet found again on the PBX; the node's
	// reconciliation adopts or closes them.
	recLegs map[adapters.LegRef]storage.Leg
}

type offer struct {
	tag      string
	callID   string
	agentID  string
	endpoint string
	leg      adapters.LegRef
	up       bool
	dead     bool // withdrawn or failed: late events are ignored
	// gone: the leg's end was seen (its events may overtake the
	// Originate result). An offer leaves c.offers only when its leg is
	// gone or the originate failed, so that a leg rung for a withdrawn
	// offer is still found, hung up and recorded.
	gone   bool
	cancel context.CancelFunc
}

type request struct {
	fn   func() error
	done chan error
}

// tagPrefix marks agent legs switchboard originated for an offer. A leg
// carrying it that no live offer owns (a withdrawn ring that answered
// late, a ring left over from before a restart) is hung up.
const tagPrefix = "sbo/"

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
	if cfg.VoicemailContext == "" {
		cfg.VoicemailContext = "switchboard-voicemail"
	}
	loc := time.UTC
	if cfg.Timezone != "" {
		l, err := time.LoadLocation(cfg.Timezone)
		if err != nil {
			return nil, fmt.Errorf("controller.timezone %q: %w", cfg.Timezone, err)
		}
		loc = l
	}
	formula, err := stats.ParseFormula(cfg.ServiceLevel)
	if err != nil {
		return nil, fmt.Errorf("controller.service_level: %w", err)
	}
	c := &Controller{
		cfg: cfg, pbx: d.PBX, engine: d.Engine, jr: d.Journal, store: d.Store, clk: d.Clock, log: d.Log.With("component", "controller"),
		obs: d.Observers, desk: d.Callbacks, board: stats.New(loc, cfg.ShortAbandon), loc: loc,
		snapEvery: 100 * time.Millisecond,
		internal:  make(chan func(), 4096), requests: make(chan request), running: make(chan struct{}), stopped: make(chan struct{}),
		calls: map[string]*call{}, byLeg: map[adapters.LegRef]legOwner{}, ups: map[string]uint64{}, legRecs: map[adapters.LegRef]*storage.Leg{}, offers: map[string]*offer{}, callOffers: map[string]map[string]*offer{},
		nodes: map[string]NodeStatus{}, recovery: map[string]recoveredCall{}, hangAfterPlay: map[adapters.LegRef]bool{},
	}
	c.board.SetFormula(formula)
	for _, q := range d.Engine.Queues() {
		c.board.SetQueue(q.Name, q.ServiceLevelThreshold, q.ServiceLevelGoal)
	}
	return c, nil
}

// Run is the event loop. It first reads the calls storage still holds as
// live (restart recovery) and today's figures, then serves until ctx ends
// or the PBX event stream closes. Run may be called once.
func (c *Controller) Run(ctx context.Context) error {
	c.ctx = ctx
	c.recover(ctx)
	// The first snapshot (recovered calls, today's seeded figures) is
	// published before Running reports the loop up: whoever waits for
	// that and reads Snapshot must not see an empty floor.
	c.publish()
	close(c.running)
	defer close(c.stopped)
	defer c.wg.Wait()
	evs := c.pbx.Events()
	// One clock timer for the engine's next deadline, replaced only when an
	// earlier deadline appears: a new timer per loop turn would pile up
	// (each costs memory until it fires).
	var timer <-chan time.Time
	var timerAt time.Time
	for {
		c.deadline.Store(0)
		if at, ok := c.engine.NextDeadline(); ok {
			c.deadline.Store(at.UnixNano())
			if timer == nil || at.Before(timerAt) {
				now := c.clk.Now()
				timer, timerAt = c.clk.After(at.Sub(now)), at
				// After is relative: if the clock moved meanwhile (a test
				// advancing a manual clock) the timer is late; arm again.
				// Only a manual clock can jump between the two reads; a real
				// or scaled clock always moves, and re-arming would spin.
				if _, manual := c.clk.(*clock.Manual); manual && !c.clk.Now().Equal(now) {
					timer = nil
					continue
				}
			}
		}
		c.busy.Store(0)
		select {
		case <-ctx.Done():
			c.publish()
			return nil
		case ev, ok := <-evs:
			c.busy.Store(1)
			if !ok {
				c.publish()
				return nil
			}
			c.received.Add(1)
			c.onPBX(normalize(ev))
		case fn := <-c.internal:
			c.busy.Store(1)
			fn()
		case r := <-c.requests:
			c.busy.Store(1)
			r.done <- r.fn()
		case <-timer:
			c.busy.Store(1)
			timer = nil
			c.apply(c.engine.Tick(c.clk.Now()))
		}
		c.dirty.Store(true)
	}
}

// Idle reports whether the controller has nothing left to do at the
// current clock time: no PBX event or command result waiting, no command
// in flight, no engine timer due. Tests on a manual clock advance time only
// when both the PBX and the controller are idle.
func (c *Controller) Idle() bool {
	if c.busy.Load() != 0 || c.inflight.Load() != 0 || len(c.internal) != 0 || len(c.pbx.Events()) != 0 {
		return false
	}
	if d := c.deadline.Load(); d != 0 && d <= c.clk.Now().UnixNano() {
		return false
	}
	return true
}

// Running returns ErrNotRunning until the event loop has started and
// after it has stopped: a caller that must not act half-way (store a
// rules version it could not put in force) asks first.
func (c *Controller) Running() error {
	select {
	case <-c.stopped:
		return ErrNotRunning
	default:
	}
	select {
	case <-c.running:
		return nil
	default:
		return ErrNotRunning
	}
}

// Received is how many PBX events the loop has taken (tests compare it
// with what the PBX delivered).
func (c *Controller) Received() uint64 { return c.received.Load() }

// NextDeadline is the engine's next timer, as the loop last saw it.
func (c *Controller) NextDeadline() (time.Time, bool) {
	d := c.deadline.Load()
	if d == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, d).In(c.clk.Now().Location()), true
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
	case <-c.stopped:
		return ErrNotRunning
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
	c.inflight.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.inflight.Add(-1)
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

// post hands fn to the loop; when the loop is gone (shutdown) the result
// is dropped.
func (c *Controller) post(fn func()) {
	select {
	case c.internal <- fn:
	case <-c.stopped:
	}
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

// normalize turns the pointer events some adapters send (&LegAnswered{…})
// into values, so one type switch serves every adapter.
func normalize(ev adapters.Event) adapters.Event {
	switch e := ev.(type) {
	case *adapters.CallArrived:
		return *e
	case *adapters.LegAnswered:
		return *e
	case *adapters.LegHungUp:
		return *e
	case *adapters.OriginateFailed:
		return *e
	case *adapters.DTMFReceived:
		return *e
	case *adapters.PlaybackFinished:
		return *e
	case *adapters.RecordingStarted:
		return *e
	case *adapters.RecordingFinished:
		return *e
	case *adapters.RecordingFailed:
		return *e
	case *adapters.NodeState:
		return *e
	case *adapters.Reconciled:
		return *e
	}
	return ev
}

// ----------------------------------------------------------- PBX events

func (c *Controller) onPBX(ev adapters.Event) {
	// An agent leg's events may overtake the result of the Originate that
	// created it: the tag ties the leg to its offer at once.
	switch e := ev.(type) {
	case adapters.LegAnswered:
		c.claimTagged(e.Ref, e.Tag)
	case adapters.LegHungUp:
		c.claimTagged(e.Ref, e.Tag)
	case adapters.OriginateFailed:
		c.claimTagged(e.Ref, e.Tag)
	}
	// Observers see the event with its call before the call may end.
	if own, ok := c.byLeg[ev.Leg()]; ok {
		c.notify(EventPBX, c.calls[own.callID], func(ce *CallEvent) { ce.PBXEvent = ev })
	} else {
		c.notify(EventPBX, nil, func(ce *CallEvent) {
			ce.PBXEvent = ev
			ce.Node = ev.Leg().Node
			if n, ok := ev.(adapters.Reconciled); ok {
				ce.Node = n.Node
			}
		})
	}
	c.onSnoopEvent(ev)
	switch e := ev.(type) {
	case adapters.CallArrived:
		c.onArrived(e)
	case adapters.LegAnswered:
		c.onAnswered(e)
	case adapters.LegHungUp:
		c.onLegGone(e.Ref, e.Cause, e.CauseText)
	case adapters.OriginateFailed:
		c.onLegGone(e.Ref, e.Cause, e.Reason)
	case adapters.PlaybackFinished:
		c.onPlaybackFinished(e)
	case adapters.NodeState:
		c.onNodeState(e)
	case adapters.Reconciled:
		c.onReconciled(e)
	}
}

// claimTagged registers an agent leg by its offer tag when the loop has
// not seen the Originate result yet. A leg with our tag that no live offer
// owns is hung up if it answered.
func (c *Controller) claimTagged(ref adapters.LegRef, tag string) {
	if tag == "" || ref.IsZero() {
		return
	}
	if _, known := c.byLeg[ref]; known {
		return
	}
	of := c.offers[tag]
	if of == nil {
		return
	}
	if of.leg.IsZero() {
		of.leg = ref
	}
	c.trackAgentLeg(of, ref)
}

// trackAgentLeg ties an agent leg to its offer and writes its row, once,
// whichever comes first: the Originate result or the leg's own events.
func (c *Controller) trackAgentLeg(of *offer, ref adapters.LegRef) {
	if _, known := c.byLeg[ref]; !known {
		c.byLeg[ref] = legOwner{callID: of.callID, role: adapters.RoleAgent, tag: of.tag, upGen: c.ups[ref.Node]}
	}
	if c.legRecs[ref] == nil {
		c.journalLeg(of.callID, ref, adapters.RoleAgent, of.agentID, of.endpoint)
	}
}

func (c *Controller) onArrived(e adapters.CallArrived) {
	if _, known := c.byLeg[e.Ref]; known {
		return // the same leg reported twice (reconcile after a live arrival)
	}
	if c.inStandby(e.Ref.Node) {
		// Another switchboard owns the node: it routes this call.
		c.log.Warn("call arrived on a node in standby; left to the active switchboard", "leg", e.Ref.String())
		return
	}
	if e.Vars[VarRole] != "" && e.Vars[VarRole] != string(adapters.RoleCaller) {
		return // one of our own legs reported by reconciliation, not a caller
	}
	now := c.clk.Now()
	arrived := now
	if !e.At.IsZero() && e.At.Before(now) && !e.Adopted {
		arrived = e.At
	}
	cl := &call{id: callID(e.Ref), caller: e.Ref, callerNum: e.CallerNumber, callerName: e.CallerName, dialed: e.DialedNumber,
		vars: e.Vars, phase: phaseArriving, arrivedAt: arrived, answered: e.Answered}
	if prev, ok := c.calls[cl.id]; ok && prev.phase != phaseEnded {
		return
	}
	c.calls[cl.id] = cl
	c.byLeg[e.Ref] = legOwner{callID: cl.id, role: adapters.RoleCaller}
	log := c.log.With("call_id", cl.id, "node", e.Ref.Node)
	rc := routing.Call{ID: cl.id, CallerNumber: cl.callerNum, DialedNumber: cl.dialed, Node: e.Ref.Node, Vars: cl.vars}

	// A call from before a restart keeps its id, arrival and place in line.
	if old, ok := c.recovery[e.Ref.String()]; ok {
		delete(c.recovery, e.Ref.String())
		cl.id, rc.ID = old.ID, old.ID
		delete(c.calls, callID(e.Ref))
		c.calls[cl.id] = cl
		c.byLeg[e.Ref] = legOwner{callID: cl.id, role: adapters.RoleCaller}
		cl.arrivedAt, cl.offers, cl.resumed = old.ArrivedAt, old.Offers, true
		since := old.ArrivedAt
		if old.EnqueuedAt != nil {
			since = *old.EnqueuedAt
		}
		c.resumeRecords(cl, e.Ref, old)
		if old.AnsweredAt != nil {
			// It was talking to an agent and the PBX still holds it: keep it
			// as a live call outside the engine (the agent's state was lost
			// with the old process); its end is recorded when a leg goes.
			cl.phase, cl.queue, cl.agentID, cl.answeredAt, cl.enqueuedAt = phaseTalking, old.Queue, old.AgentID, *old.AnsweredAt, since
			cl.recovered = true
			c.journalCall(cl, storage.OutcomeLive, "")
			log.Info("resumed a connected call after restart", "agent_id", old.AgentID)
			return
		}
		cl.priority = old.Priority
		ds, err := c.engine.Enqueue(rc, old.Queue, old.Priority, since, now)
		if errors.Is(err, routing.ErrUnknownQueue) {
			q := c.engine.Config().DefaultQueue
			log.Warn("queue of a resumed call no longer exists; resuming it in the default queue", "queue", old.Queue, "default", q)
			ds, err = c.engine.Enqueue(rc, q, old.Priority, since, now)
		}
		if err == nil {
			cl.enqueuedAt = since
			log.Info("resumed a waiting call after restart", "queue", old.Queue, "since", since)
			c.notify(EventArrived, cl, nil)
			c.apply(ds)
			return
		}
		log.Warn("could not resume call; routing it as new", "queue", old.Queue, "err", err)
		cl.resumed = false
		c.closeWait(cl, storage.OutcomeOverflowed, now)
	}
	if c.legRecs[e.Ref] == nil {
		c.journalLeg(cl.id, e.Ref, adapters.RoleCaller, "", "")
	}
	c.notify(EventArrived, cl, nil)
	ds, err := c.engine.Arrive(rc, now)
	if err != nil {
		log.Error("routing rejected the call; handing it back to the dialplan", "err", err)
		c.endCall(cl, storage.OutcomeFailed, "routing: "+err.Error(), now)
		ref := e.Ref
		c.async("continue", func(ctx context.Context) error { return c.pbx.Continue(ctx, ref, "", "") }, nil)
		return
	}
	c.apply(ds)
}

func (c *Controller) onAnswered(e adapters.LegAnswered) {
	own, ok := c.byLeg[e.Ref]
	if !ok {
		if strings.HasPrefix(e.Tag, tagPrefix) {
			// Our ring, but no offer owns it any more.
			c.hangup(e.Ref, 16)
		}
		return
	}
	if own.role != adapters.RoleAgent {
		return
	}
	c.journalLegUpdate(e.Ref, true, false, 0)
	of := c.offers[own.tag]
	cl := c.calls[own.callID]
	if cl != nil && cl.phase == phaseTalking && cl.agentLeg == e.Ref {
		return // already connected (a callback the desk reported answered)
	}
	if of == nil || of.dead || cl == nil || cl.phase == phaseEnded || cl.phase == phaseTalking {
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
	c.closeWait(cl, storage.OutcomeAnswered, now)
	c.journalCall(cl, storage.OutcomeLive, "")
	c.log.Info("agent answered", "call_id", cl.id, "agent_id", of.agentID, "queue", cl.queue, "wait", wait.Round(time.Millisecond))
	c.notify(EventAnswered, cl, nil)
	c.apply(ds)
	caller, agent, held := cl.caller, e.Ref, cl.onHold
	cl.onHold = false
	var bridge adapters.BridgeRef
	c.async("bridge", func(ctx context.Context) error {
		if held {
			// Best effort: a bridge takes the caller off hold anyway on
			// most PBXs; the bridge is what must succeed.
			_ = c.pbx.StopHold(ctx, caller)
		}
		var err error
		bridge, err = c.pbx.Bridge(ctx, caller, agent)
		return err
	}, func(err error) {
		if err != nil {
			if cl.phase != phaseTalking {
				return // a leg went meanwhile; its hangup ended the call
			}
			// Without a bridge the two legs cannot talk: end both.
			c.log.Error("bridge failed; ending the call", "call_id", cl.id, "err", err)
			c.hangup(caller, 41)
			c.hangup(agent, 41)
			return
		}
		cl.bridge = bridge
		// A leg may hang up just after the PBX bridged, and its hangup
		// reach the loop before this reply: the call then ended at that
		// hangup (finishTalk: answered, agent, talk time from the
		// pick-up, all already in its record). No "bridged" follows its
		// "ended" on purpose: listeners act on it as on a live
		// conversation (recordings starts recording the bridge), which
		// here is gone. TestAgentHangsUpBeforeBridgeReply.
		if cl.phase == phaseTalking {
			c.notify(EventBridged, cl, nil)
		}
	})
}

func (c *Controller) onLegGone(ref adapters.LegRef, cause int, text string) {
	delete(c.hangAfterPlay, ref)
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
		talkWhy, waitWhy := "caller hung up", fmt.Sprintf("caller hung up (cause %d %s)", cause, text)
		if text == reasonVanished {
			talkWhy, waitWhy = reasonVanished, reasonVanished
		}
		switch cl.phase {
		case phaseTalking:
			c.finishTalk(cl, now, talkWhy)
		default:
			c.abandon(cl, now, waitWhy)
		}
	case adapters.RoleAgent:
		of := c.offers[own.tag]
		c.dropOffer(own.tag)
		if of != nil {
			of.gone = true
		}
		if of == nil || cl == nil {
			return
		}
		if cl.phase == phaseTalking && cl.agentLeg == ref {
			why := "agent hung up"
			if text == reasonVanished {
				why = reasonVanished
			}
			c.finishTalk(cl, now, why)
			return
		}
		if of.dead || cl.phase == phaseEnded {
			return
		}
		of.dead = true
		reason := fmt.Sprintf("agent leg ended before answer (cause %d %s)", cause, text)
		c.log.Info("offer failed", "call_id", cl.id, "agent_id", of.agentID, "reason", reason)
		c.apply(c.engine.OfferFailed(cl.id, of.agentID, reason, now))
		c.settlePhase(cl)
		c.journalCall(cl, storage.OutcomeLive, "")
	}
}

// settlePhase moves a ringing call back to queued once no offer rings.
func (c *Controller) settlePhase(cl *call) {
	if cl.phase == phaseRinging && !c.hasLiveOffer(cl.id) {
		cl.phase = phaseQueued
		if cl.callback != nil {
			cl.phase = phaseCallback
		}
	}
}

func (c *Controller) hasLiveOffer(callID string) bool {
	for _, o := range c.callOffers[callID] {
		if !o.dead {
			return true
		}
	}
	return false
}

// finishTalk ends a connected call: the other leg is hung up, the agent
// goes to wrap-up.
func (c *Controller) finishTalk(cl *call, now time.Time, why string) {
	talk := now.Sub(cl.answeredAt)
	if cl.callback == nil {
		c.board.Handled(cl.queue, talk, now)
	}
	for _, ref := range []adapters.LegRef{cl.caller, cl.agentLeg} {
		if _, live := c.byLeg[ref]; live && !ref.IsZero() {
			c.hangup(ref, 16)
		}
	}
	if !cl.recovered {
		c.apply(c.engine.Ended(cl.id, now))
	}
	c.endCall(cl, storage.OutcomeAnswered, why, now)
	c.notify(EventEnded, cl, nil)
}

func (c *Controller) abandon(cl *call, now time.Time, why string) {
	wait := now.Sub(cl.enqueuedAt)
	if cl.enqueuedAt.IsZero() {
		wait = now.Sub(cl.arrivedAt)
	}
	if cl.queue != "" && cl.callback == nil {
		// A callback customer dialled ahead who hangs up is the desk's
		// attempt (hung_up), not a queue abandon: they were counted as a
		// callback accepted when they left the line.
		c.board.Abandoned(cl.queue, wait, now)
	}
	c.closeWait(cl, storage.OutcomeAbandoned, now)
	c.apply(c.engine.Abandoned(cl.id, now))
	c.endCall(cl, storage.OutcomeAbandoned, why, now)
	c.notify(EventAbandoned, cl, nil)
}

func (c *Controller) onPlaybackFinished(e adapters.PlaybackFinished) {
	if c.hangAfterPlay[e.Ref] {
		delete(c.hangAfterPlay, e.Ref)
		c.hangup(e.Ref, 16)
		return
	}
	own, ok := c.byLeg[e.Ref]
	if !ok || own.role != adapters.RoleCaller {
		return
	}
	cl := c.calls[own.callID]
	if cl == nil || (cl.phase != phaseQueued && cl.phase != phaseRinging) || cl.onHold {
		return
	}
	// A greeting or an announcement ended while the caller still waits:
	// back to music on hold.
	c.startHold(cl)
}

func (c *Controller) startHold(cl *call) {
	cl.onHold = true
	ref, class := cl.caller, c.cfg.HoldClass
	c.async("start hold", func(ctx context.Context) error { return c.pbx.StartHold(ctx, ref, class) }, nil)
}

// onReconciled settles what happened while the link to a node was down
// (or while switchboard was stopped): calls whose legs the PBX no longer
// holds are closed once, with the reason; agent legs no offer owns are
// hung up; talking calls resumed after a restart find their agent leg.
func (c *Controller) onReconciled(e adapters.Reconciled) {
	now := c.clk.Now()
	present := map[adapters.LegRef]bool{}
	for _, l := range e.Legs {
		present[l.Ref] = true
	}
	for _, ref := range c.sortedLegs() {
		if ref.Node != e.Node || present[ref] {
			continue
		}
		own := c.byLeg[ref]
		if own.upGen != 0 && own.upGen == c.ups[e.Node] {
			continue // originated since the node came up: see legOwner.upGen
		}
		c.log.Warn("leg vanished while the PBX link was down", "leg", ref.String(), "call_id", own.callID, "role", own.role)
		c.onLegGone(ref, 0, reasonVanished)
	}
	for _, l := range e.Legs {
		if _, known := c.byLeg[l.Ref]; known || !strings.HasPrefix(l.Tag, tagPrefix) {
			continue
		}
		if _, ringing := c.offers[l.Tag]; ringing {
			// An offer's leg whose originate is still on its way (the PBX
			// listed it before the result reached the loop): the result
			// tracks it, or hangs it up if the offer was withdrawn.
			continue
		}
		// An agent leg of ours that no offer owns: either the agent of a
		// talking call resumed after a restart, or a stray ring.
		callID, _ := parseTag(l.Tag)
		if cl := c.calls[callID]; cl != nil && cl.recovered && cl.agentLeg.IsZero() && l.State == "Up" {
			cl.agentLeg = l.Ref
			c.byLeg[l.Ref] = legOwner{callID: cl.id, role: adapters.RoleAgent, tag: l.Tag}
			c.putOffer(&offer{tag: l.Tag, callID: cl.id, agentID: cl.agentID, leg: l.Ref, up: true})
			if rec, ok := cl.recLegs[l.Ref]; ok {
				// Its row from before the stop goes on (and is closed at its hangup).
				delete(cl.recLegs, l.Ref)
				c.legRecs[l.Ref] = &rec
			}
			continue
		}
		c.log.Info("hanging up an agent leg no offer owns", "leg", l.Ref.String(), "tag", l.Tag)
		c.hangup(l.Ref, 16)
	}
	// Legs of resumed calls that the PBX did not give back (a ring that
	// ended during the stop, an agent leg gone) or that were hung up above
	// as strays: their rows are closed now.
	for _, id := range c.sortedCallIDs() {
		cl := c.calls[id]
		for ref, rec := range cl.recLegs {
			if ref.Node == e.Node {
				delete(cl.recLegs, ref)
				c.closeRecoveredLeg(rec, later(now, cl.arrivedAt))
			}
		}
	}
	// Calls remembered from before a restart that the PBX does not hold.
	for key, old := range c.recovery {
		if !strings.HasPrefix(key, e.Node+"/") {
			continue
		}
		delete(c.recovery, key)
		// Closed when switchboard found out — or at the last moment the
		// stored call was known alive, if the clock now reads earlier
		// (a clock stepped back, an accelerated simulation restarted): an
		// end before its own arrival or answer would be a torn record.
		end := later(now, old.lastKnown())
		for _, l := range old.legs {
			c.closeRecoveredLeg(l, end)
		}
		for _, w := range old.waits {
			if w.LeftAt == nil {
				left := later(end, w.EnteredAt)
				w.LeftAt, w.Outcome, w.WaitSeconds = tp(left), storage.OutcomeLost, left.Sub(w.EnteredAt).Seconds()
				if c.jr != nil {
					c.jr.Append(w)
				}
			}
		}
		cl := &call{id: old.ID, queue: old.Queue, arrivedAt: old.ArrivedAt, agentID: old.AgentID, callerNum: old.CallerNumber,
			callerName: old.CallerName, dialed: old.DialedNumber, priority: old.Priority, offers: old.Offers}
		if ref, ok := parseLeg(old.CallerLegID); ok {
			cl.caller = ref
		}
		if old.EnqueuedAt != nil {
			cl.enqueuedAt = *old.EnqueuedAt
		}
		if old.OfferedAt != nil {
			cl.offeredAt = *old.OfferedAt
		}
		outcome, reason := storage.OutcomeLost, reasonLostWaiting
		if old.AnsweredAt != nil {
			outcome, reason = storage.OutcomeAnswered, reasonLostTalking
			cl.answeredAt = *old.AnsweredAt
		}
		c.log.Warn("call from before the restart is gone from the PBX", "call_id", old.ID, "outcome", outcome)
		c.endCall(cl, outcome, reason, end)
	}
}

// Reasons written on calls closed by reconciliation.
const (
	reasonVanished    = "vanished while PBX link was down"
	reasonLostWaiting = "lost: the caller left while switchboard was stopped (the PBX no longer holds the call)"
	reasonLostTalking = "ended while switchboard was stopped (the PBX no longer holds the call); end time is when switchboard found out"
)

func (c *Controller) sortedLegs() []adapters.LegRef {
	out := make([]adapters.LegRef, 0, len(c.byLeg))
	for ref := range c.byLeg {
		out = append(out, ref)
	}
	sortLegs(out)
	return out
}

func makeTag(callID, agentID string, seq uint64) string {
	return fmt.Sprintf("%s%s/%s/%d", tagPrefix, callID, agentID, seq)
}

// parseTag returns the call and agent ids a tag names.
func parseTag(tag string) (callID, agentID string) {
	rest, ok := strings.CutPrefix(tag, tagPrefix)
	if !ok {
		return "", ""
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 3 {
		return "", ""
	}
	return strings.Join(parts[:len(parts)-2], "/"), parts[len(parts)-2]
}

func parseLeg(s string) (adapters.LegRef, bool) {
	node, id, ok := strings.Cut(s, "/")
	if !ok || id == "" {
		return adapters.LegRef{}, false
	}
	return adapters.LegRef{Node: node, ID: id}, true
}

// Channel variables set on agent legs.
const (
	VarRole  = "SWITCHBOARD_ROLE"
	VarCall  = "SWITCHBOARD_CALL"
	VarQueue = "SWITCHBOARD_QUEUE"
)

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
				if cl.callback == nil {
					c.board.Overflowed(v.From, now)
				}
				c.closeWait(cl, storage.OutcomeOverflowed, now)
				c.log.Info("overflow", "call_id", v.CallID, "from", v.From, "to", v.To, "reason", v.Reason)
			}
		case routing.QueueExit:
			c.onExit(v, now)
		case routing.OfferCallback:
			c.onOfferCallback(v.CallID, v.Queue, "routing step", now)
		case routing.DialAhead:
			c.onDialAhead(v)
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
	sameStint := cl.waitID != "" && cl.queue == v.Queue
	cl.queue, cl.priority = v.Queue, v.Priority
	if cl.phase == phaseArriving {
		cl.phase = phaseQueued
		if cl.callback != nil {
			cl.phase = phaseCallback
		}
	}
	if cl.enqueuedAt.IsZero() {
		cl.enqueuedAt = v.Since
	}
	if !sameStint {
		if cl.waitID != "" {
			// A stint resumed after a restart in a queue that is gone.
			c.closeWait(cl, storage.OutcomeOverflowed, now)
		}
		// A resumed call was counted before the restart (seeded from
		// storage); count it again only if it moves on.
		if cl.callback == nil && !(cl.resumed && first) {
			c.board.Offered(v.Queue, now)
		}
		c.openWait(cl, now)
	}
	c.journalCall(cl, storage.OutcomeLive, "")
	c.notify(EventQueued, cl, nil)
	if first && cl.callback == nil {
		ref, answered, greeting, class := cl.caller, cl.answered, c.cfg.Greeting, c.cfg.HoldClass
		cl.answered = true
		cl.onHold = greeting == ""
		c.async("answer and greet", func(ctx context.Context) error {
			if !answered {
				if err := c.pbx.Answer(ctx, ref); err != nil {
					return err
				}
			}
			if greeting != "" {
				// Hold starts when the greeting's PlaybackFinished arrives.
				_, err := c.pbx.Play(ctx, ref, adapters.Media{Kind: "sound", Value: greeting})
				return err
			}
			return c.pbx.StartHold(ctx, ref, class)
		}, nil)
	}
}

func (c *Controller) onOffer(v routing.Offer, now time.Time) {
	cl := c.calls[v.CallID]
	if cl == nil {
		c.apply(c.engine.OfferFailed(v.CallID, v.AgentID, "call unknown to the controller", now))
		return
	}
	c.seq++
	tag := makeTag(cl.id, v.AgentID, c.seq)
	of := &offer{tag: tag, callID: cl.id, agentID: v.AgentID, endpoint: v.Endpoint}
	c.putOffer(of)
	cl.phase = phaseRinging
	cl.offers++
	cl.offeredAt = now
	cl.traces = append(cl.traces, v.Trace)
	if len(cl.traces) > c.cfg.RecentTraces {
		cl.traces = cl.traces[len(cl.traces)-c.cfg.RecentTraces:]
	}
	c.journalCall(cl, storage.OutcomeLive, "")
	c.notify(EventOffered, cl, func(e *CallEvent) { e.AgentID = v.AgentID })
	if cl.callback != nil {
		c.connectCallback(cl, of, v)
		return
	}
	if v.Endpoint == "" {
		c.log.Error("agent has no endpoint to ring", "agent_id", v.AgentID, "call_id", cl.id)
		of.dead = true
		c.dropOffer(tag)
		c.apply(c.engine.OfferFailed(cl.id, v.AgentID, "agent has no endpoint", now))
		c.settlePhase(cl)
		return
	}
	// The PBX gives up a little after the engine's own offer timeout, so
	// that RONA is decided in one place (the engine) and the leg is then
	// hung up by us.
	req := adapters.OriginateRequest{Node: cl.caller.Node, Endpoint: v.Endpoint, CallerIDNumber: cl.callerNum, CallerIDName: cl.callerName,
		Timeout: v.Timeout + 2*time.Second, Tag: tag, Role: adapters.RoleAgent,
		Vars: map[string]string{VarCall: cl.id, VarQueue: cl.queue, VarRole: string(adapters.RoleAgent)}}
	var leg adapters.LegRef
	c.async("originate agent leg", func(ctx context.Context) error {
		var err error
		leg, err = c.pbx.Originate(ctx, req)
		return err
	}, func(err error) {
		if err != nil {
			c.dropOffer(tag)
			if !of.dead {
				of.dead = true
				c.log.Warn("could not ring agent", "agent_id", v.AgentID, "call_id", cl.id, "err", err)
				c.apply(c.engine.OfferFailed(cl.id, v.AgentID, "originate failed: "+err.Error(), c.clk.Now()))
				c.settlePhase(cl)
			}
			return
		}
		if of.leg.IsZero() {
			of.leg = leg
		}
		if of.gone {
			// The leg already came and went (its events overtook us); its
			// row was written and closed then.
			return
		}
		c.trackAgentLeg(of, leg)
		if of.dead {
			// Withdrawn (or its call ended) while the originate was on its
			// way: the phone must not ring on.
			c.hangup(leg, 16)
		}
	})
}

// putOffer adds an offer (replacing any with its tag) to c.offers and
// the per-call index.
func (c *Controller) putOffer(of *offer) {
	c.dropOffer(of.tag)
	c.offers[of.tag] = of
	byTag := c.callOffers[of.callID]
	if byTag == nil {
		byTag = map[string]*offer{}
		c.callOffers[of.callID] = byTag
	}
	byTag[of.tag] = of
}

// dropOffer removes the offer with tag, if any, from c.offers and the
// per-call index (a call's entry goes with its last offer).
func (c *Controller) dropOffer(tag string) {
	of := c.offers[tag]
	if of == nil {
		return
	}
	delete(c.offers, tag)
	if byTag := c.callOffers[of.callID]; byTag != nil {
		delete(byTag, tag)
		if len(byTag) == 0 {
			delete(c.callOffers, of.callID)
		}
	}
}

func (c *Controller) onWithdraw(v routing.Withdraw) {
	for _, of := range c.callOffers[v.CallID] {
		if of.agentID != v.AgentID || of.dead {
			continue
		}
		of.dead = true
		if of.cancel != nil {
			of.cancel() // a callback being connected
		}
		if !of.leg.IsZero() {
			c.hangup(of.leg, 16)
		}
		// Otherwise the originate is still on its way: its result hangs
		// the leg up (of.dead), as does a late answer by tag.
	}
	if cl := c.calls[v.CallID]; cl != nil {
		c.settlePhase(cl)
	}
}

func (c *Controller) onAnnounce(v routing.Announce) {
	cl := c.calls[v.CallID]
	if cl == nil || cl.callback != nil || (cl.phase != phaseQueued && cl.phase != phaseRinging) {
		return
	}
	ref, held := cl.caller, cl.onHold
	cl.onHold = false // back on hold when the announcement's playback ends
	media := []adapters.Media{{Kind: "sound", Value: "queue-thereare"}, {Kind: "number", Value: fmt.Sprint(v.Position)}, {Kind: "sound", Value: "queue-callswaiting"}}
	if v.EstimatedWait > 0 {
		mins := int((v.EstimatedWait + 59*time.Second) / time.Minute)
		media = append(media, adapters.Media{Kind: "sound", Value: "queue-holdtime"}, adapters.Media{Kind: "number", Value: fmt.Sprint(mins)}, adapters.Media{Kind: "sound", Value: "queue-minutes"})
	}
	c.async("announce", func(ctx context.Context) error {
		if held {
			_ = c.pbx.StopHold(ctx, ref)
		}
		_, err := c.pbx.Play(ctx, ref, media...)
		return err
	}, nil)
}

func (c *Controller) onExit(v routing.QueueExit, now time.Time) {
	cl := c.calls[v.CallID]
	if cl == nil {
		return
	}
	if v.Action == routing.ExitCallback {
		c.onOfferCallback(v.CallID, v.Queue, v.Reason, now)
		return
	}
	if cl.callback == nil {
		c.board.Exited(v.Queue, now)
	}
	c.closeWait(cl, storage.OutcomeExited, now)
	ref, held := cl.caller, cl.onHold
	c.log.Info("call leaves queue without an agent", "call_id", cl.id, "queue", v.Queue, "reason", v.Reason, "action", v.Action)
	if !ref.IsZero() {
		switch v.Action {
		case routing.ExitVoicemail, routing.ExitDialplan:
			dpContext, ext := v.Target, ""
			if a, b, ok := strings.Cut(v.Target, "@"); ok {
				ext, dpContext = a, b
			} else if v.Action == routing.ExitVoicemail {
				dpContext, ext = c.cfg.VoicemailContext, v.Target
			}
			c.async("continue", func(ctx context.Context) error {
				if held {
					_ = c.pbx.StopHold(ctx, ref)
				}
				return c.pbx.Continue(ctx, ref, dpContext, ext)
			}, nil)
		case routing.ExitAnnounce:
			media := v.Media
			c.async("announce", func(ctx context.Context) error {
				if held {
					_ = c.pbx.StopHold(ctx, ref)
				}
				if media == "" {
					return c.pbx.Hangup(ctx, ref, 16)
				}
				_, err := c.pbx.Play(ctx, ref, adapters.Media{Kind: "sound", Value: media})
				return err
			}, func(err error) {
				if err != nil {
					c.hangup(ref, 16)
				}
			})
			// The hangup follows the announcement's PlaybackFinished.
			c.hangAfterPlay[ref] = true
		default:
			c.hangup(ref, 16)
		}
	}
	c.endCall(cl, storage.OutcomeExited, "left queue "+v.Queue+": "+v.Reason, now)
	c.notify(EventExited, cl, nil)
}

func (c *Controller) onAgentState(v routing.AgentStateChanged) {
	if c.jr != nil && !c.passive() {
		c.seq++
		c.jr.Append(storage.AgentStateChange{ID: fmt.Sprintf("%s/%d/%d", v.AgentID, v.At.UnixNano(), c.seq), AgentID: v.AgentID,
			FromState: string(v.From), ToState: string(v.To), Reason: v.Reason, At: v.At.UTC()})
	}
}

func (c *Controller) hangup(ref adapters.LegRef, cause int) {
	c.async("hangup", func(ctx context.Context) error { return c.pbx.Hangup(ctx, ref, cause) }, nil)
}

// byLegRole is the role the loop knows a leg by (tests).
func (c *Controller) byLegRole(ref adapters.LegRef) adapters.LegRole {
	var role adapters.LegRole
	done := make(chan struct{})
	c.post(func() { role = c.byLeg[ref].role; close(done) })
	<-done
	return role
}
