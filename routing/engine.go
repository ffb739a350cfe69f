package routing

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"
)

// Engine is the ACD: it keeps queues, waiting calls and agents, and turns
// each event (a call arrives, an agent becomes available, a timer is due)
// into decisions. It is pure: no I/O, no goroutines, no clock of its own —
// every method is handed `now` — so the same engine serves live traffic,
// the simulator and `rules test` deterministically.
//
// It is not safe for concurrent use: one goroutine (the controller's event
// loop) owns it.
//
// A []Decision a method returns is the caller's: the engine never reads or
// writes it again, so it may be kept, appended to or applied while calling
// the engine again. (Slices, and traces' Considered lists, are cut from
// shared chunks to save an allocation each, with their capacity capped so
// an append moves to the caller's own memory; see decisions.)
type Engine struct {
	cfg    *Config
	queues map[string]*queueState
	agents map[string]*agentState
	calls  map[string]*callState
	timers timerHeap
	seq    uint64
	token  uint64
	rng    *rand.Rand
	// Entry rule index: rule positions per dialed number, and the
	// positions of rules that match any number.
	byDialed map[string][]int
	anyDial  []int
	// Lead-time dialling (Resume.LeadTime): the waiting entries that may
	// be dialled ahead, and the agents earmarked by a dial ahead (agent
	// id → call id), so one predicted agent never starts two dials.
	leadCalls map[string]*callState
	earmarks  map[string]string
	// idSlab is the unused rest of a chunk that traces' Considered lists
	// are cut from (see considered).
	idSlab []string
	// decSlab is the unused rest of a chunk that decision slices are cut
	// from (see decisions).
	decSlab []Decision
}

type callPhase int

const (
	phaseWaiting callPhase = iota
	phaseOffered
	phaseConnected
)

type callState struct {
	call     Call
	queue    string
	priority int
	since    time.Time // original enqueue time: kept across RONA, overflow, reload
	seq      uint64    // arrival order, the tie-breaker
	vtime    time.Time // since minus priority ageing credit: the queue order key
	require  map[string]int
	filter   AgentFilter // entry rule's agent condition
	rule     string
	phase    callPhase
	offers   offerSet // agent id → offer timer token
	// offerQueue is the queue the ringing offers came from: its miss
	// rules apply even if the call overflowed while ringing.
	offerQueue string
	declined   map[string]bool // agents that let it ring out
	agent      string          // connected agent
	answered   time.Time
	hops       int // overflows taken, to stop cycles
	stepIdx    int // highest escalation step reached (-1 = none)
	// maxWaitDone: the maximum-wait exit was applied (a callback offer
	// keeps the call waiting; it is not offered twice).
	maxWaitDone bool
	tokens      callTokens
	// announceAt is when the next announcement is due (zero: none armed).
	announceAt time.Time
	// wrapUp is the answering queue's wrap-up, fixed when answered: a
	// reload that removes or changes the queue does not change it.
	wrapUp time.Duration
	// owner, when set, is the only agent who may take the call (an
	// agent-owned callback) until its deadline.
	owner owner
	// Lead-time dialling: ahead is the agent earmarked by this entry's
	// dial ahead ("" none or released), aheadOn that the dial was made
	// (the customer is ringing or on the line); leadAt/leadToken the
	// armed re-check timer.
	ahead     string
	aheadOn   bool
	leadAt    time.Time
	leadToken uint64
}

type callTokens struct{ step, maxWait, announce uint64 }

type agentState struct {
	def          Agent
	state        AgentState
	reason       string
	since        time.Time
	idleSince    time.Time // when the agent last became available: longest-idle key
	callID       string
	misses       int
	handled      int
	talk         time.Duration
	lastOffer    time.Time
	wrapToken    uint64
	wrapUntil    time.Time // end of the current wrap-up
	reasonToken  uint64
	pendingNR    string    // not ready requested during a call
	availAt      time.Time // idleSince when put in the queues' avail lists (their sort key)
	inAvail      bool
	flagged      bool
	queuesSorted []string
}

type queueState struct {
	cfg     *QueueConfig
	waiting []*callState // ordered by (vtime, seq); only phaseWaiting calls
	members map[string]*agentState
	// avail is the queue's free members ordered by (when they became
	// free, id): longest idle first. It is the matching index: a call
	// only ever looks at free members of its own queue, and longest-idle
	// stops at the first eligible ones.
	avail  []*agentState
	rrLast string // round-robin memory: the last agent offered a call
	// stepLabels name the steps in traces ("step 2 (after 30s)"), built
	// once so a decision does not format them.
	stepLabels []string
	// loggedIn counts members not logged out; staffed those also not
	// paused (available, offered, on call, wrap-up). Kept on every state
	// change so estimates and the no-agents policy cost O(1).
	loggedIn, staffed int
	// aht is an exponentially weighted mean of recent handle times (talk +
	// wrap-up), the basis of the estimated wait.
	aht time.Duration
}

// NewEngine builds an engine on a configuration. The configuration is
// normalized (defaults filled); an invalid one panics only if the caller
// skipped Normalize/ParseRules and it is inconsistent — use NewEngineChecked
// to get the error instead.
func NewEngine(cfg *Config) *Engine {
	e, err := NewEngineChecked(cfg)
	if err != nil {
		panic(err)
	}
	return e
}

// NewEngineChecked is NewEngine returning configuration errors.
func NewEngineChecked(cfg *Config) (*Engine, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c := *cfg
	c.Queues = slices.Clone(cfg.Queues)
	if err := c.Normalize(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:    &c,
		queues: map[string]*queueState{},
		agents: map[string]*agentState{},
		calls:  map[string]*callState{},
		rng:    rand.New(rand.NewPCG(1, 2)),

		leadCalls: map[string]*callState{},
		earmarks:  map[string]string{},
	}
	for i := range c.Queues {
		q := &c.Queues[i]
		qs := &queueState{cfg: q, members: map[string]*agentState{}}
		for i, st := range q.Steps {
			qs.stepLabels = append(qs.stepLabels, fmt.Sprintf("step %d (after %s)", i+1, st.After))
		}
		e.queues[q.Name] = qs
	}
	e.byDialed = map[string][]int{}
	for i, r := range c.Entry {
		if len(r.Dialed) == 0 {
			e.anyDial = append(e.anyDial, i)
			continue
		}
		for _, d := range r.Dialed {
			if l := e.byDialed[d]; len(l) == 0 || l[len(l)-1] != i {
				e.byDialed[d] = append(l, i)
			}
		}
	}
	for _, a := range c.Agents {
		e.UpsertAgent(a, time.Time{})
	}
	return e, nil
}

// Config returns the configuration in force. Callers must not modify it.
func (e *Engine) Config() *Config { return e.cfg }

// ---------------------------------------------------------------- agents

// UpsertAgent adds an agent or replaces its definition (skills, queues);
// its live state is kept. New agents start logged out.
func (e *Engine) UpsertAgent(a Agent, now time.Time) []Decision {
	var out []Decision
	ag, ok := e.agents[a.ID]
	var left []string
	if !ok {
		ag = &agentState{state: StateLoggedOut, since: now}
		e.agents[a.ID] = ag
	} else {
		left = ag.queuesSorted
		e.unindex(ag)
	}
	ag.def = cloneAgent(a)
	ag.queuesSorted = sortedQueues(ag.def.Queues)
	e.index(ag)
	if ag.state == StateAvailable {
		out = e.matchAgent(ag, now, out)
	}
	// Queues the agent left may now have nobody to serve them.
	return e.leadScan(now, e.leaveEmpty(left, now, out))
}

// RemoveAgent deletes an agent. A call offered to it goes back to its place.
func (e *Engine) RemoveAgent(id string, now time.Time) []Decision {
	ag, ok := e.agents[id]
	if !ok {
		return nil
	}
	var out []Decision
	if ag.state == StateOffered {
		out = e.withdrawAgentOffer(ag, "agent removed", now, out)
	}
	e.unindex(ag)
	delete(e.agents, id)
	if e.earmarks[id] != "" {
		if cs := e.calls[e.earmarks[id]]; cs != nil {
			cs.ahead = ""
		}
		delete(e.earmarks, id)
	}
	return e.leadScan(now, e.leaveEmpty(ag.queuesSorted, now, out))
}

// Login makes a logged-out agent available.
func (e *Engine) Login(agentID string, now time.Time) ([]Decision, error) {
	ag, err := e.agent(agentID)
	if err != nil {
		return nil, err
	}
	if ag.state != StateLoggedOut {
		return nil, nil // already logged in: idempotent
	}
	ag.misses = 0
	return e.leadScan(now, e.becomeAvailable(ag, "login", now, nil)), nil
}

// Logout logs an agent out. An agent on a call cannot log out; a ringing
// offer is withdrawn and the call keeps its place.
func (e *Engine) Logout(agentID string, now time.Time) ([]Decision, error) {
	ag, err := e.agent(agentID)
	if err != nil {
		return nil, err
	}
	var out []Decision
	switch ag.state {
	case StateLoggedOut:
		return nil, nil
	case StateOnCall:
		return nil, fmt.Errorf("%w: agent %q is on call %q", ErrInvalidState, agentID, ag.callID)
	case StateOffered:
		out = e.withdrawAgentOffer(ag, "agent logged out", now, out)
	}
	ag.pendingNR = ""
	out = e.setState(ag, StateLoggedOut, "", now, out)
	return e.leadScan(now, e.leaveEmpty(ag.queuesSorted, now, out)), nil
}

// SetNotReady pauses an agent with a reason code, as asked by the agent
// (ActorAgent). During a call the pause takes effect when the call and its
// wrap-up end.
func (e *Engine) SetNotReady(agentID, reason string, now time.Time) ([]Decision, error) {
	return e.SetNotReadyAs(agentID, reason, ActorAgent, now)
}

// SetNotReadyAs is SetNotReady on behalf of by: a reason restricted to
// other actors (set_by in the routing file) fails with ErrNotAllowed and
// changes nothing.
func (e *Engine) SetNotReadyAs(agentID, reason string, by Actor, now time.Time) ([]Decision, error) {
	ag, err := e.agent(agentID)
	if err != nil {
		return nil, err
	}
	rc, ok := e.cfg.reason(reason)
	if !ok {
		// Both sentinels: callers that only know ErrInvalidState still
		// answer "refused" rather than "internal error".
		return nil, fmt.Errorf("%w: %q (allowed: %s) (%w)", ErrBadReason, reason, reasonList(e.cfg.NotReadyReasons), ErrInvalidState)
	}
	if !rc.allows(by) {
		return nil, fmt.Errorf("%w: reason %q may be set by %s, not by %s (%w)", ErrNotAllowed, reason, actorList(rc.SetBy), by, ErrInvalidState)
	}
	var out []Decision
	switch ag.state {
	case StateLoggedOut:
		return nil, fmt.Errorf("%w: agent %q is logged out", ErrInvalidState, agentID)
	case StateOnCall:
		ag.pendingNR = rc.Code
		return nil, nil
	case StateOffered:
		out = e.withdrawAgentOffer(ag, "agent paused", now, out)
	}
	return e.leadScan(now, e.goNotReady(ag, rc, now, out)), nil
}

// SetAvailable makes an agent available: ends a pause or ends wrap-up early.
func (e *Engine) SetAvailable(agentID string, now time.Time) ([]Decision, error) {
	ag, err := e.agent(agentID)
	if err != nil {
		return nil, err
	}
	switch ag.state {
	case StateAvailable:
		return nil, nil
	case StateNotReady, StateWrapUp:
		ag.misses = 0
		ag.pendingNR = ""
		return e.leadScan(now, e.becomeAvailable(ag, "", now, nil)), nil
	case StateOnCall:
		ag.pendingNR = ""
		return nil, nil
	}
	return nil, fmt.Errorf("%w: agent %q is %s", ErrInvalidState, agentID, ag.state)
}

// ExtendWrapUp lengthens the current wrap-up by d.
func (e *Engine) ExtendWrapUp(agentID string, d time.Duration, now time.Time) error {
	ag, err := e.agent(agentID)
	if err != nil {
		return err
	}
	if ag.state != StateWrapUp {
		return fmt.Errorf("%w: agent %q is %s, not in wrap-up", ErrInvalidState, agentID, ag.state)
	}
	if d <= 0 {
		return fmt.Errorf("%w: extension %s is not positive", ErrInvalidState, d)
	}
	// The old timer is invalidated by the new token.
	e.token++
	ag.wrapToken = e.token
	end := ag.wrapUntil
	if end.Before(now) {
		end = now
	}
	ag.wrapUntil = end.Add(d)
	e.pushTimer(ag.wrapUntil, timerWrapUp, agentID, "", 0, ag.wrapToken)
	return nil
}

// ----------------------------------------------------------------- calls

// Arrive classifies a new call with the entry rules, queues it and tries to
// match it at once.
func (e *Engine) Arrive(c Call, now time.Time) ([]Decision, error) {
	if c.ID == "" {
		return nil, fmt.Errorf("%w: call has no id", ErrUnknownCall)
	}
	if _, dup := e.calls[c.ID]; dup {
		return nil, fmt.Errorf("call %q already routed: %w", c.ID, ErrInvalidState)
	}
	r := e.classify(c, now)
	if r.Queue == "" {
		return nil, fmt.Errorf("%w: no queue for call %q and no default queue", ErrUnknownQueue, c.ID)
	}
	return e.enqueue(c, r.Queue, r.Priority, r.Require, r.Agent, r.Name, now, now, owner{})
}

// Enqueue puts a call into a named queue keeping an earlier enqueue time:
// a call resumed after a restart, or a callback entry that keeps the
// caller's place.
func (e *Engine) Enqueue(c Call, queue string, priority int, since time.Time, now time.Time) ([]Decision, error) {
	if _, ok := e.queues[queue]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownQueue, queue)
	}
	if _, dup := e.calls[c.ID]; dup {
		return nil, fmt.Errorf("call %q already routed: %w", c.ID, ErrInvalidState)
	}
	if since.IsZero() || since.After(now) {
		since = now
	}
	return e.enqueue(c, queue, priority, nil, nil, "resumed", since, now, owner{})
}

// Resume says how a call re-enters a queue with EnqueueResumed.
type Resume struct {
	// Priority and Since are the call's original priority and enqueue
	// time: its place in line.
	Priority int
	Since    time.Time
	// Require is the skill requirement the call had when it first queued
	// (a virtual-hold callback keeps it); escalation steps widen it as
	// for any call.
	Require map[string]int
	// Agent, when set, is the only agent who may take the call until
	// AgentUntil (an agent-owned callback); the queue's own steps still
	// apply to that agent. From AgentUntil on (or at once when it is zero
	// or past) any eligible agent of the queue may take it, and the call
	// keeps its place. Other calls are never held up behind it.
	Agent      string
	AgentUntil time.Time
	// OfferTimeout, when set, replaces the queue's offer_timeout for this
	// call: a callback entry's offer lasts while the customer and then the
	// agent ring, longer than an agent alone rings for a caller.
	OfferTimeout time.Duration
	// LeadTime, when positive, lets the engine ask for the call's customer
	// to be dialled before any agent is free (a DialAhead decision): when
	// the call is the one an agent predicted free within LeadTime would
	// take by the normal rules. See DialAhead and predictFree.
	LeadTime time.Duration
}

// EnqueueResumed is Enqueue for a call that carries a skill requirement
// and possibly an owner (see Resume): a callback entry keeping the
// caller's place.
func (e *Engine) EnqueueResumed(c Call, queue string, r Resume, now time.Time) ([]Decision, error) {
	if _, ok := e.queues[queue]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownQueue, queue)
	}
	if _, dup := e.calls[c.ID]; dup {
		return nil, fmt.Errorf("call %q already routed: %w", c.ID, ErrInvalidState)
	}
	since := r.Since
	if since.IsZero() || since.After(now) {
		since = now
	}
	var o owner
	if r.Agent != "" && (r.AgentUntil.IsZero() || r.AgentUntil.After(now)) {
		o = owner{agent: r.Agent, until: r.AgentUntil}
	}
	o.offerTimeout = r.OfferTimeout
	o.lead = max(r.LeadTime, 0)
	return e.enqueue(c, queue, r.Priority, cloneMap(r.Require), nil, "resumed", since, now, o)
}

// EntryRequirement is the skill requirement the call's entry rule gave it
// (a copy; nil when none or when the call is unknown): what a callback
// entry keeps for the caller who left the line.
func (e *Engine) EntryRequirement(callID string) map[string]int {
	if cs := e.calls[callID]; cs != nil {
		return cloneMap(cs.require)
	}
	return nil
}

// owner reserves a waiting call for one agent until a time (zero: for good).
type owner struct {
	agent string
	until time.Time
	// offerTimeout overrides the queue's offer timeout (0 = the queue's).
	offerTimeout time.Duration
	// lead is the call's lead time for dialling ahead (0 = never).
	lead time.Duration
}

func (e *Engine) enqueue(c Call, queue string, prio int, req map[string]int, filter AgentFilter, rule string, since, now time.Time, own owner) ([]Decision, error) {
	q := e.queues[queue]
	e.seq++
	cs := &callState{call: c, queue: queue, priority: prio, since: since, seq: e.seq, require: req, filter: filter, rule: rule, stepIdx: -1, owner: own}
	if own.agent != "" && !own.until.IsZero() {
		e.pushTimer(own.until, timerOwner, c.ID, own.agent, 0, 0)
	}
	cs.vtime = vtime(since, prio, q.cfg.PriorityStep)
	out := e.decisions()
	e.calls[c.ID] = cs
	out = append(out, Queued{CallID: c.ID, Queue: queue, Priority: prio, Since: since, Rule: rule})
	if q.empty() {
		return e.exitQueue(cs, "no_agents", q.cfg.NoAgents.Exit, now, out), nil
	}
	if q.cfg.MaxLength > 0 && len(q.waiting) >= q.cfg.MaxLength {
		return e.exitQueue(cs, "max_length", q.cfg.Exit, now, out), nil
	}
	e.insertWaiting(q, cs)
	if own.lead > 0 {
		e.leadCalls[c.ID] = cs
	}
	out = e.armCallTimers(cs, now, out, true)
	out = e.matchCall(cs, now, out)
	return e.leadScan(now, out), nil
}

// Answered: the agent picked up. Other ring-all offers are withdrawn.
func (e *Engine) Answered(callID, agentID string, now time.Time) []Decision {
	cs, ok := e.calls[callID]
	if !ok {
		return nil
	}
	if !cs.offers.has(agentID) {
		return nil
	}
	out := e.decisions()
	cs.offers.remove(agentID)
	var ids [1]string
	for _, other := range cs.offers.sortedIDs(ids[:0]) {
		cs.offers.remove(other)
		out = append(out, Withdraw{CallID: callID, AgentID: other, Reason: "answered by " + agentID})
		if ag := e.agents[other]; ag != nil && ag.state == StateOffered && ag.callID == callID {
			ag.callID = ""
			out = e.becomeAvailable(ag, "", now, out)
		}
	}
	cs.phase = phaseConnected
	cs.agent = agentID
	cs.answered = now
	if q := e.queues[cs.queue]; q != nil {
		cs.wrapUp = q.cfg.WrapUp
	}
	e.token++ // invalidates step/max-wait/announce timers
	cs.tokens = callTokens{}
	if ag := e.agents[agentID]; ag != nil {
		ag.misses = 0
		ag.handled++
		out = e.setState(ag, StateOnCall, "", now, out)
		ag.callID = callID
	}
	return e.leadScan(now, out)
}

// OfferFailed: the agent did not answer (RONA), was busy or the leg failed.
// The call goes back to its original place; the agent's miss count grows,
// and after MaxMisses in a row it goes not ready.
func (e *Engine) OfferFailed(callID, agentID, reason string, now time.Time) []Decision {
	cs, ok := e.calls[callID]
	if !ok {
		return nil
	}
	if !cs.offers.has(agentID) {
		return nil
	}
	return e.leadScan(now, e.offerFailed(cs, agentID, reason, now, nil))
}

func (e *Engine) offerFailed(cs *callState, agentID, reason string, now time.Time, out []Decision) []Decision {
	cs.offers.remove(agentID)
	if cs.declined == nil {
		cs.declined = map[string]bool{}
	}
	cs.declined[agentID] = true
	q := e.queues[cs.offerQueue]
	if q == nil {
		q = e.queues[cs.queue]
	}
	var paused []string // queues of an agent the misses paused
	if ag := e.agents[agentID]; ag != nil && ag.state == StateOffered && ag.callID == cs.call.ID {
		ag.callID = ""
		ag.misses++
		max := q.cfg.MaxMisses
		if max > 0 && ag.misses >= max {
			rc, _ := e.cfg.reason(q.cfg.MissReason)
			rc.Code = q.cfg.MissReason
			out = e.goNotReady(ag, rc, now, out)
			paused = ag.queuesSorted
		} else {
			// Available again, but not offered this call again right now.
			ag.idleSince = now
			out = e.setState(ag, StateAvailable, "", now, out)
			e.indexAvail(ag)
		}
	}
	if cs.offers.count() == 0 && cs.phase == phaseOffered {
		out = e.requeue(cs, now, out)
	}
	// The agent that missed may take other calls.
	if ag := e.agents[agentID]; ag != nil && ag.state == StateAvailable {
		out = e.matchAgent(ag, now, out)
	}
	return e.leaveEmpty(paused, now, out)
}

// Abandoned: the caller hung up before being connected (or the call was
// closed for another reason). Ringing agents are withdrawn; a connected
// call is treated as Ended.
func (e *Engine) Abandoned(callID string, now time.Time) []Decision {
	cs, ok := e.calls[callID]
	if !ok {
		return nil
	}
	if cs.phase == phaseConnected {
		return e.Ended(callID, now)
	}
	var out []Decision
	if cs.offers.count() > 0 {
		out = e.decisions() // withdrawals and the agents' state changes
	}
	e.removeWaiting(cs)
	var ids [1]string
	for _, id := range cs.offers.sortedIDs(ids[:0]) {
		cs.offers.remove(id)
		out = append(out, Withdraw{CallID: callID, AgentID: id, Reason: "caller hung up"})
		if ag := e.agents[id]; ag != nil && ag.state == StateOffered && ag.callID == callID {
			ag.callID = ""
			out = e.becomeAvailable(ag, "", now, out)
		}
	}
	e.forgetLead(cs)
	delete(e.calls, callID)
	return e.leadScan(now, out)
}

// Ended: a connected call finished. The agent goes to wrap-up (or straight
// to available with no wrap-up time, or to a pause requested during the call).
func (e *Engine) Ended(callID string, now time.Time) []Decision {
	cs, ok := e.calls[callID]
	if !ok {
		return nil
	}
	if cs.phase != phaseConnected {
		return e.Abandoned(callID, now)
	}
	delete(e.calls, callID)
	out := e.decisions()
	ag := e.agents[cs.agent]
	wrap := cs.wrapUp
	if ag != nil && ag.def.WrapUp > 0 {
		wrap = ag.def.WrapUp
	}
	talk := now.Sub(cs.answered)
	if talk < 0 {
		talk = 0
	}
	if q := e.queues[cs.queue]; q != nil {
		q.observeHandle(talk + wrap)
	}
	if ag == nil || ag.callID != callID {
		return out
	}
	ag.callID = ""
	ag.talk += talk
	switch {
	case wrap > 0:
		out = e.setState(ag, StateWrapUp, "", now, out)
		e.token++
		ag.wrapToken = e.token
		ag.wrapUntil = now.Add(wrap)
		e.pushTimer(ag.wrapUntil, timerWrapUp, ag.def.ID, "", 0, ag.wrapToken)
	case ag.pendingNR != "":
		rc, _ := e.cfg.reason(ag.pendingNR)
		rc.Code = ag.pendingNR
		ag.pendingNR = ""
		out = e.goNotReady(ag, rc, now, out)
	default:
		out = e.becomeAvailable(ag, "", now, out)
	}
	return e.leadScan(now, out)
}

// Tick fires every timer due at now: offer timeouts (RONA), wrap-up ends,
// escalation steps, maximum waits, announcements and pause limits.
func (e *Engine) Tick(now time.Time) []Decision {
	var out []Decision
	for len(e.timers) > 0 && !e.timers[0].at.After(now) {
		t := e.timers.pop()
		out = e.fire(t, now, out)
	}
	return e.leadScan(now, out)
}

// NextDeadline is when Tick should next be called.
func (e *Engine) NextDeadline() (time.Time, bool) {
	for len(e.timers) > 0 {
		if e.timerLive(e.timers[0]) {
			return e.timers[0].at, true
		}
		e.timers.pop()
	}
	return time.Time{}, false
}

// Reload swaps in a new configuration without dropping a call; a
// configuration with any error changes nothing. How each call moves to
// the new version (docs/routing.md, "Live reload"):
//
//   - agents keep their live state; those declared in the new file take
//     its skills, attributes and queues;
//   - a waiting or ringing call keeps its original enqueue time, priority,
//     entry rule and entry requirement; its place is recomputed under the
//     new queue's priority_step; if its queue is gone it moves to the new
//     default queue (Overflow and Queued, reason "queue removed by rules
//     reload");
//   - its escalation step is recomputed from its wait under the new steps
//     (a step already due applies at once, an overflow step too), and its
//     maximum wait and announcements are re-armed from the original
//     enqueue time — without an extra announcement at the reload;
//   - a ringing call keeps ringing (its offer timeout is the old one);
//   - a connected call is not touched: it keeps the wrap-up of the queue
//     that answered it;
//   - then every waiting call is matched, in arrival order, and the new
//     no_agents policies apply.
func (e *Engine) Reload(cfg *Config, now time.Time) ([]Decision, error) {
	n, err := NewEngineChecked(cfg)
	if err != nil {
		return nil, err
	}
	var out []Decision
	// Queue statistics (recent handle time, round-robin turn) carry over to
	// a queue of the same name, so estimates do not reset on every edit.
	for name, nq := range n.queues {
		if oq := e.queues[name]; oq != nil {
			nq.aht, nq.rrLast = oq.aht, oq.rrLast
		}
	}
	e.cfg = n.cfg
	e.queues = n.queues
	e.byDialed, e.anyDial = n.byDialed, n.anyDial
	for _, a := range e.cfg.Agents {
		if _, ok := e.agents[a.ID]; !ok {
			e.agents[a.ID] = &agentState{state: StateLoggedOut, since: now}
		}
		e.agents[a.ID].def = cloneAgent(a)
		e.agents[a.ID].queuesSorted = sortedQueues(a.Queues)
	}
	for _, id := range sortedKeys(e.agents) {
		ag := e.agents[id]
		ag.inAvail = false // the new queues' free lists start empty
		e.index(ag)
	}
	for _, id := range e.callIDsInOrder() {
		cs := e.calls[id]
		if cs.phase == phaseConnected {
			continue
		}
		if _, ok := e.queues[cs.queue]; !ok {
			from := cs.queue
			cs.queue = e.cfg.DefaultQueue
			out = append(out, Overflow{CallID: id, From: from, To: cs.queue, Reason: "queue removed by rules reload"},
				Queued{CallID: id, Queue: cs.queue, Priority: cs.priority, Since: cs.since, Rule: cs.rule})
		}
		cs.vtime = vtime(cs.since, cs.priority, e.queues[cs.queue].cfg.PriorityStep)
		cs.stepIdx = -1
		if cs.phase == phaseWaiting {
			e.insertWaiting(e.queues[cs.queue], cs)
		}
		out = e.armCallTimers(cs, now, out, false)
	}
	for _, id := range e.callIDsInOrder() {
		if cs := e.calls[id]; cs != nil && cs.phase == phaseWaiting {
			out = e.matchCall(cs, now, out)
		}
	}
	names := make([]string, 0, len(e.cfg.Queues))
	for _, q := range e.cfg.Queues {
		names = append(names, q.Name)
	}
	out = e.leaveEmpty(names, now, out)
	e.reloadEarmarks()
	return e.leadScan(now, out), nil
}

func (e *Engine) callIDsInOrder() []string {
	ids := make([]*callState, 0, len(e.calls))
	for _, c := range e.calls {
		ids = append(ids, c)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].seq < ids[j].seq })
	out := make([]string, len(ids))
	for i, c := range ids {
		out[i] = c.call.ID
	}
	return out
}

// --------------------------------------------------------------- helpers

func (e *Engine) agent(id string) (*agentState, error) {
	ag, ok := e.agents[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAgent, id)
	}
	return ag, nil
}

// classify runs the entry rules (first match wins, else the default
// queue) and then every boost, whose additions sum.
func (e *Engine) classify(c Call, now time.Time) EntryRule {
	r := EntryRule{Name: "default", Queue: e.cfg.DefaultQueue}
	// Walk the two sorted index lists together: file order is kept, and
	// rules for other numbers are never looked at.
	own, wild := e.byDialed[c.DialedNumber], e.anyDial
	for len(own) > 0 || len(wild) > 0 {
		var i int
		if len(wild) == 0 || (len(own) > 0 && own[0] < wild[0]) {
			i, own = own[0], own[1:]
		} else {
			i, wild = wild[0], wild[1:]
		}
		if er := &e.cfg.Entry[i]; er.Match == nil || er.Match(c, now) {
			r = *er
			break
		}
	}
	for _, b := range e.cfg.Boosts {
		if b.Match == nil || b.Match(c, now) {
			r.Priority += b.Add
			r.Name += "+" + b.Name
		}
	}
	return r
}

// Classify reports which entry rule (and boosts) a call would match now,
// without routing it: `rules test` and the API's dry run use it.
func (e *Engine) Classify(c Call, now time.Time) (queue string, priority int, rule string) {
	r := e.classify(c, now)
	return r.Queue, r.Priority, r.Name
}

// vtime is the queue-order key: priority ageing means each priority point
// counts as step of extra wait, so a call with a lower priority that has
// waited long enough overtakes a newer high-priority call and never
// starves. The key does not change with time, so the order is a plain
// sorted list and no timer is needed to age priorities.
func vtime(since time.Time, prio int, step time.Duration) time.Time {
	if step <= 0 {
		step = DefaultPriorityStep
	}
	// Priorities from the API or boosts that sum past the file's bounds
	// must not overflow the credit into a time in the far future.
	prio = min(max(prio, -maxCreditPoints), maxCreditPoints)
	step = min(step, MaxPriorityStep)
	return since.Add(-time.Duration(prio) * step)
}

// maxCreditPoints caps the priority that counts for ageing: 10 × the
// file's bound, enough for a few boosts on top of an entry priority.
const maxCreditPoints = 10 * MaxPriority

// requeue puts a call whose offers all failed back in its place. Its
// maximum wait may have passed while it rang (the timer found it ringing
// and let it be): then it leaves now, as it would have.
func (e *Engine) requeue(cs *callState, now time.Time, out []Decision) []Decision {
	q := e.queues[cs.queue]
	e.insertWaiting(q, cs)
	if q.cfg.MaxWait > 0 && !now.Before(cs.since.Add(q.cfg.MaxWait)) && !cs.maxWaitDone {
		cs.maxWaitDone = true
		return e.exitQueue(cs, "max_wait", q.cfg.Exit, now, out)
	}
	return e.matchCall(cs, now, out)
}

func (e *Engine) insertWaiting(q *queueState, cs *callState) {
	cs.phase = phaseWaiting
	i := sort.Search(len(q.waiting), func(i int) bool { return lessCall(cs, q.waiting[i]) })
	q.waiting = slices.Insert(q.waiting, i, cs)
}

func lessCall(a, b *callState) bool {
	if !a.vtime.Equal(b.vtime) {
		return a.vtime.Before(b.vtime)
	}
	return a.seq < b.seq
}

func (e *Engine) removeWaiting(cs *callState) {
	q := e.queues[cs.queue]
	if q == nil {
		return
	}
	i := sort.Search(len(q.waiting), func(i int) bool { return !lessCall(q.waiting[i], cs) })
	if i < len(q.waiting) && q.waiting[i] == cs {
		q.waiting = slices.Delete(q.waiting, i, i+1)
		return
	}
	// Fallback (should not happen): linear removal keeps the list sound.
	if j := slices.Index(q.waiting, cs); j >= 0 {
		q.waiting = slices.Delete(q.waiting, j, j+1)
	}
}

// requirement is the skill requirement and agent condition in force for
// the call now: the last escalation step reached, else the entry rule's.
func (e *Engine) requirement(cs *callState) (map[string]int, AgentFilter) {
	q := e.queues[cs.queue]
	req, filter := cs.require, cs.filter
	if cs.stepIdx >= 0 && cs.stepIdx < len(q.cfg.Steps) {
		s := &q.cfg.Steps[cs.stepIdx]
		req, filter = s.Require, s.Agent
	}
	if id := cs.owner.agent; id != "" {
		// Only owned calls (rare) pay for the wrapping closure.
		inner := filter
		filter = func(a *Agent, c *Call) bool { return a.ID == id && (inner == nil || inner(a, c)) }
	}
	return req, filter
}

// stepLabel names the requirement in force, for traces and views.
func (e *Engine) stepLabel(cs *callState) string {
	q := e.queues[cs.queue]
	if cs.stepIdx >= 0 && cs.stepIdx < len(q.stepLabels) {
		return q.stepLabels[cs.stepIdx]
	}
	return "entry"
}

func eligible(ag *agentState, req map[string]int, filter AgentFilter, c *Call) bool {
	for s, lvl := range req {
		if ag.def.Skills[s] < lvl {
			return false
		}
	}
	return filter == nil || filter(&ag.def, c)
}

// matchCall offers a waiting call to the best free eligible agent (all of
// them for ring-all). Only the queue's free members are looked at — the
// queue's availability index — in one pass without sorting or allocating,
// keeping the best few for the trace.
func (e *Engine) matchCall(cs *callState, now time.Time, out []Decision) []Decision {
	if cs.phase != phaseWaiting {
		return out
	}
	q := e.queues[cs.queue]
	if len(q.avail) == 0 {
		return out
	}
	req, filter := e.requirement(cs)
	if q.cfg.Strategy == StrategyRingAll {
		return e.ringAll(cs, q, req, filter, now, out)
	}
	if q.cfg.Strategy == StrategyRandom {
		return e.randomPick(cs, q, req, filter, now, out)
	}
	var top [maxTraceConsidered]*agentState
	n, cands := 0, 0
	if q.cfg.Strategy == StrategyLongestIdle {
		// The index is already in this strategy's order: the first
		// eligible free member wins; a few more are kept for the trace.
		for _, ag := range q.avail {
			if cs.declined[ag.def.ID] || !eligible(ag, req, filter, &cs.call) {
				continue
			}
			top[n] = ag
			n++
			if n == len(top) {
				break
			}
		}
		cands = n
	} else {
		better := e.better(q, req)
		for _, ag := range q.avail {
			if cs.declined[ag.def.ID] || !eligible(ag, req, filter, &cs.call) {
				continue
			}
			cands++
			// Insert into the small sorted top list.
			k := n
			for k > 0 && better(ag, top[k-1]) {
				k--
			}
			if k < len(top) {
				if n < len(top) {
					n++
				}
				copy(top[k+1:n], top[k:n-1])
				top[k] = ag
			}
		}
	}
	if cands == 0 {
		return out
	}
	if q.cfg.Strategy == StrategyRoundRobin {
		top[0] = e.nextInTurn(cs, q, req, filter)
		n = 1
	}
	trace := e.trace(cs, q)
	trace.Candidates, trace.Free, trace.Considered = cands, len(q.avail), e.considered(n)
	for i := 0; i < n; i++ {
		trace.Considered[i] = top[i].def.ID
	}
	trace.Reason = offerReason(q, top[0], req)
	e.removeWaiting(cs)
	cs.phase = phaseOffered
	return e.offer(cs, top[0], q, trace, now, out)
}

// trace starts the trace of an offer of cs from q.
func (e *Engine) trace(cs *callState, q *queueState) Trace {
	return Trace{Version: e.cfg.Version, Queue: q.cfg.Name, Rule: cs.rule, Step: e.stepLabel(cs), Strategy: string(q.cfg.Strategy)}
}

// idSlabSize is how many agent ids one chunk of Considered lists holds:
// about 25 offers of the longest list, 128 of one id.
const idSlabSize = 128

// considered is a list of n agent ids for a trace's Considered, cut from
// a shared chunk rather than allocated per offer (an offer is made on
// almost every routing decision). Its capacity is n, so a reader that
// appends gets its own copy and never writes over a neighbour's list;
// the engine never writes a list again once the offer is out. A chunk
// stays in memory while any trace cut from it does (the controller
// keeps an offer's trace for the life of its call): at most
// idSlabSize ids, 2 KB, per chunk.
func (e *Engine) considered(n int) []string {
	if n > len(e.idSlab) {
		if n > idSlabSize {
			return make([]string, n)
		}
		e.idSlab = make([]string, idSlabSize)
	}
	s := e.idSlab[:n:n]
	e.idSlab = e.idSlab[n:]
	return s
}

// decSlabSize is how many decisions one chunk of returned slices holds:
// 64 slices of decisionsCap.
const (
	decisionsCap = 4
	decSlabSize  = 64 * decisionsCap
)

// decisions is an empty slice for a method's decisions with room for
// decisionsCap (an arrival, an answer or an end makes up to about that
// many), cut from a shared chunk rather than allocated per call. Its
// capacity is capped, so appending past it moves to a slice of the
// caller's own, and the engine never touches a slice once returned: the
// caller owns it and may keep it across later calls into the engine
// (the controller does: it applies decisions and feeds the engine again
// while iterating). A chunk, and the decisions in it, stays in memory
// while any slice cut from it does: 4 KB plus what those decisions hold,
// which is nothing for a caller that drops a slice once applied.
func (e *Engine) decisions() []Decision {
	if len(e.decSlab) < decisionsCap {
		e.decSlab = make([]Decision, decSlabSize)
	}
	s := e.decSlab[:0:decisionsCap]
	e.decSlab = e.decSlab[decisionsCap:]
	return s
}

// ringAll offers the call to every free eligible agent, in id order.
func (e *Engine) ringAll(cs *callState, q *queueState, req map[string]int, filter AgentFilter, now time.Time, out []Decision) []Decision {
	var cands []*agentState
	for _, ag := range q.avail {
		if !cs.declined[ag.def.ID] && eligible(ag, req, filter, &cs.call) {
			cands = append(cands, ag)
		}
	}
	if len(cands) == 0 {
		return out
	}
	slices.SortFunc(cands, func(a, b *agentState) int { return cmp.Compare(a.def.ID, b.def.ID) })
	trace := e.trace(cs, q)
	trace.Candidates, trace.Free = len(cands), len(q.avail)
	trace.Reason = ringAllReason(len(cands))
	trace.Considered = e.considered(min(len(cands), maxTraceConsidered))
	for i := range trace.Considered {
		trace.Considered[i] = cands[i].def.ID
	}
	e.removeWaiting(cs)
	cs.phase = phaseOffered
	for _, ag := range cands {
		out = e.offer(cs, ag, q, trace, now, out)
	}
	return out
}

// randomPick draws one free eligible agent uniformly (seeded: the same
// events give the same draws, so simulations reproduce).
func (e *Engine) randomPick(cs *callState, q *queueState, req map[string]int, filter AgentFilter, now time.Time, out []Decision) []Decision {
	var cands []*agentState
	for _, ag := range q.avail {
		if !cs.declined[ag.def.ID] && eligible(ag, req, filter, &cs.call) {
			cands = append(cands, ag)
		}
	}
	if len(cands) == 0 {
		return out
	}
	ag := cands[e.rng.IntN(len(cands))] // cands are in index order: reproducible
	trace := e.trace(cs, q)
	trace.Candidates, trace.Free, trace.Considered = len(cands), len(q.avail), e.considered(1)
	trace.Considered[0] = ag.def.ID
	trace.Reason = randomReason(ag.def.ID, len(cands))
	e.removeWaiting(cs)
	cs.phase = phaseOffered
	return e.offer(cs, ag, q, trace, now, out)
}

// nextInTurn is round-robin with memory: the first free eligible member
// whose id comes after the last one served, wrapping around.
func (e *Engine) nextInTurn(cs *callState, q *queueState, req map[string]int, filter AgentFilter) *agentState {
	var after, first *agentState
	for _, ag := range q.avail {
		if cs.declined[ag.def.ID] || !eligible(ag, req, filter, &cs.call) {
			continue
		}
		if first == nil || ag.def.ID < first.def.ID {
			first = ag
		}
		if ag.def.ID > q.rrLast && (after == nil || ag.def.ID < after.def.ID) {
			after = ag
		}
	}
	if after != nil {
		return after
	}
	return first
}

func (e *Engine) offer(cs *callState, ag *agentState, q *queueState, trace Trace, now time.Time, out []Decision) []Decision {
	e.token++
	cs.offers.add(ag.def.ID, e.token)
	cs.offerQueue = q.cfg.Name
	e.releaseEarmarks(cs, ag)
	ag.callID = cs.call.ID
	ag.lastOffer = now
	if q.cfg.Strategy == StrategyRoundRobin {
		q.rrLast = ag.def.ID
	}
	out = e.setState(ag, StateOffered, "", now, out)
	timeout := q.cfg.OfferTimeout
	if cs.owner.offerTimeout > 0 {
		timeout = cs.owner.offerTimeout
	}
	e.pushTimer(now.Add(timeout), timerOffer, cs.call.ID, ag.def.ID, 0, e.token)
	return append(out, Offer{CallID: cs.call.ID, AgentID: ag.def.ID, Endpoint: ag.def.Endpoint, Queue: cs.queue, Timeout: timeout, Trace: trace})
}

// better returns the queue strategy's order: better(a, b) means a should
// get the call before b. Ties break by agent id so decisions are
// deterministic whatever the map order.
func (e *Engine) better(q *queueState, req map[string]int) func(a, b *agentState) bool {
	name := q.cfg.Name
	switch q.cfg.Strategy {
	case StrategyFewestCalls:
		return func(a, b *agentState) bool {
			return cmp.Or(cmp.Compare(a.handled, b.handled), a.idleSince.Compare(b.idleSince), cmp.Compare(a.def.ID, b.def.ID)) < 0
		}
	case StrategyLeastTalk:
		return func(a, b *agentState) bool {
			return cmp.Or(cmp.Compare(a.talk, b.talk), a.idleSince.Compare(b.idleSince), cmp.Compare(a.def.ID, b.def.ID)) < 0
		}
	case StrategyTopDown:
		return func(a, b *agentState) bool {
			return cmp.Or(cmp.Compare(a.def.Queues[name], b.def.Queues[name]), cmp.Compare(a.def.ID, b.def.ID)) < 0
		}
	case StrategyBestSkill:
		return func(a, b *agentState) bool {
			return cmp.Or(cmp.Compare(skillScore(b, req, name), skillScore(a, req, name)), a.idleSince.Compare(b.idleSince), cmp.Compare(a.def.ID, b.def.ID)) < 0
		}
	case StrategyRoundRobin:
		return func(a, b *agentState) bool { return a.def.ID < b.def.ID }
	}
	return func(a, b *agentState) bool {
		return cmp.Or(a.idleSince.Compare(b.idleSince), cmp.Compare(a.def.ID, b.def.ID)) < 0
	}
}

func skillScore(ag *agentState, req map[string]int, queue string) int {
	s := 0
	for k := range req {
		s += ag.def.Skills[k]
	}
	if len(req) == 0 {
		s = ag.def.Skills[queue]
	}
	return s
}

// matchAgent finds the best waiting call for a newly available agent: its
// queues in its own priority order (1 first); among queues of equal
// priority, the call that has waited longest (after priority ageing).
func (e *Engine) matchAgent(ag *agentState, now time.Time, out []Decision) []Decision {
	if ag.state != StateAvailable {
		return out
	}
	best := e.bestCallFor(ag, false)
	if best == nil {
		// Only calls this agent let ring out are waiting: offer one again
		// rather than leave the caller waiting for an agent who may never
		// come (app_queue rings the same member again, too).
		best = e.bestCallFor(ag, true)
	}
	if best == nil {
		return out
	}
	q := e.queues[best.queue]
	trace := e.trace(best, q)
	trace.Candidates, trace.Considered = 1, e.considered(1)
	trace.Considered[0] = ag.def.ID
	prio := ag.def.Queues[best.queue]
	if prio == 0 {
		prio = defaultQueuePriority
	}
	trace.Reason = availableReason(ag.def.ID, best.queue, prio, now.Sub(best.since).Round(time.Second), best.priority)
	e.removeWaiting(best)
	best.phase = phaseOffered
	return e.offer(best, ag, q, trace, now, out)
}

// bestCallFor is the call a free agent should take: its queues in its own
// priority order; among queues of equal priority, the call that has waited
// longest after priority ageing. Calls the agent declined are skipped
// unless retry is set.
func (e *Engine) bestCallFor(ag *agentState, retry bool) *callState {
	var best *callState
	bestPrio := 0
	for _, qn := range ag.queuesSorted {
		q := e.queues[qn]
		if q == nil {
			continue
		}
		prio := ag.def.Queues[qn]
		if prio == 0 {
			prio = defaultQueuePriority
		}
		if best != nil && prio > bestPrio {
			break
		}
		// Calls at the same escalation step share one requirement: the
		// agent is checked against each step once, so walking past calls
		// it cannot take costs a comparison each, not a skill check.
		var stepOK [16]int8 // 0 unknown, 1 eligible, -1 not
		steps := q.cfg.Steps
		for _, cs := range q.waiting {
			if cs.declined[ag.def.ID] != retry {
				continue
			}
			if i := cs.stepIdx; i >= 0 && i < len(stepOK) && i < len(steps) && steps[i].Agent == nil && cs.owner.agent == "" {
				if stepOK[i] == 0 {
					stepOK[i] = -1
					if eligible(ag, steps[i].Require, nil, nil) {
						stepOK[i] = 1
					}
				}
				if stepOK[i] < 0 {
					continue
				}
			} else if req, filter := e.requirement(cs); !eligible(ag, req, filter, &cs.call) {
				continue
			}
			if best == nil || lessCall(cs, best) {
				best, bestPrio = cs, prio
			}
			break
		}
	}
	return best
}

func (e *Engine) becomeAvailable(ag *agentState, reason string, now time.Time, out []Decision) []Decision {
	if ag.pendingNR != "" {
		rc, _ := e.cfg.reason(ag.pendingNR)
		rc.Code = ag.pendingNR
		ag.pendingNR = ""
		return e.goNotReady(ag, rc, now, out)
	}
	ag.idleSince = now
	out = e.setState(ag, StateAvailable, reason, now, out)
	e.indexAvail(ag)
	return e.matchAgent(ag, now, out)
}

func (e *Engine) goNotReady(ag *agentState, rc ReasonCode, now time.Time, out []Decision) []Decision {
	out = e.setState(ag, StateNotReady, rc.Code, now, out)
	if rc.MaxDuration > 0 {
		e.token++
		ag.reasonToken = e.token
		e.pushTimer(now.Add(rc.MaxDuration), timerReasonLimit, ag.def.ID, "", 0, ag.reasonToken)
	}
	// The pause may leave a queue with nobody to serve it.
	return e.leaveEmpty(ag.queuesSorted, now, out)
}

func (e *Engine) setState(ag *agentState, to AgentState, reason string, now time.Time, out []Decision) []Decision {
	from := ag.state
	if from == StateAvailable && to != StateAvailable {
		e.delAvail(ag)
	}
	if from == StateNotReady && to != StateNotReady {
		ag.reasonToken = 0
		ag.flagged = false
	}
	if from == StateWrapUp && to != StateWrapUp {
		ag.wrapToken = 0
	}
	if from == to && ag.reason == reason {
		return out
	}
	if dl, ds := presence(to)-presence(from), staffing(to)-staffing(from); dl != 0 || ds != 0 {
		for qn := range ag.def.Queues {
			if q := e.queues[qn]; q != nil {
				q.loggedIn += dl
				q.staffed += ds
			}
		}
	}
	ag.state, ag.reason, ag.since = to, reason, now
	return append(out, AgentStateChanged{AgentID: ag.def.ID, From: from, To: to, Reason: reason, At: now})
}

func (e *Engine) withdrawAgentOffer(ag *agentState, why string, now time.Time, out []Decision) []Decision {
	cs := e.calls[ag.callID]
	ag.callID = ""
	if cs == nil {
		return out
	}
	cs.offers.remove(ag.def.ID)
	out = append(out, Withdraw{CallID: cs.call.ID, AgentID: ag.def.ID, Reason: why})
	if cs.offers.count() == 0 && cs.phase == phaseOffered {
		// The leaving agent is in StateOffered, so not in any avail index:
		// matching cannot pick it again.
		out = e.requeue(cs, now, out)
	}
	return out
}

// presence and staffing are an agent's contribution to its queues'
// loggedIn and staffed counts.
func presence(s AgentState) int {
	if s == StateLoggedOut {
		return 0
	}
	return 1
}

func staffing(s AgentState) int {
	if s == StateLoggedOut || s == StateNotReady {
		return 0
	}
	return 1
}

func (e *Engine) index(ag *agentState) {
	for qn := range ag.def.Queues {
		if q := e.queues[qn]; q != nil {
			q.members[ag.def.ID] = ag
			q.loggedIn += presence(ag.state)
			q.staffed += staffing(ag.state)
		}
	}
	if ag.state == StateAvailable {
		e.indexAvail(ag)
	}
}

// indexAvail puts a free agent into its queues' avail lists, keyed by
// its idleSince now (idempotent: an agent already listed is moved).
func (e *Engine) indexAvail(ag *agentState) {
	e.delAvail(ag)
	ag.availAt, ag.inAvail = ag.idleSince, true
	for qn := range ag.def.Queues {
		if q := e.queues[qn]; q != nil {
			i := q.availPos(ag)
			q.avail = slices.Insert(q.avail, i, ag)
		}
	}
}

func (e *Engine) delAvail(ag *agentState) {
	if !ag.inAvail {
		return
	}
	ag.inAvail = false
	for qn := range ag.def.Queues {
		if q := e.queues[qn]; q != nil {
			if i := q.availPos(ag); i < len(q.avail) && q.avail[i] == ag {
				q.avail = slices.Delete(q.avail, i, i+1)
			}
		}
	}
}

// availPos is where ag goes (or is) in q.avail.
func (q *queueState) availPos(ag *agentState) int {
	// Agents usually become free "now", after everyone listed: check the
	// end first.
	if n := len(q.avail); n == 0 || availLess(q.avail[n-1], ag) {
		return n
	}
	i, _ := slices.BinarySearchFunc(q.avail, ag, func(x, t *agentState) int {
		return cmp.Or(x.availAt.Compare(t.availAt), cmp.Compare(x.def.ID, t.def.ID))
	})
	return i
}

func availLess(a, b *agentState) bool {
	return cmp.Or(a.availAt.Compare(b.availAt), cmp.Compare(a.def.ID, b.def.ID)) < 0
}

func (e *Engine) unindex(ag *agentState) {
	for qn := range ag.def.Queues {
		if q := e.queues[qn]; q != nil {
			if _, ok := q.members[ag.def.ID]; ok {
				q.loggedIn -= presence(ag.state)
				q.staffed -= staffing(ag.state)
			}
			delete(q.members, ag.def.ID)
		}
	}
	e.delAvail(ag)
}

// armCallTimers schedules a waiting call's escalation steps, maximum wait
// and announcements relative to its original enqueue time, and applies at
// once every step its wait has already passed (resumed calls, reloads).
// With announceNow the caller hears its position at once (it just joined
// this queue); otherwise the announcements keep their cadence.
func (e *Engine) armCallTimers(cs *callState, now time.Time, out []Decision, announceNow bool) []Decision {
	q := e.queues[cs.queue]
	e.token++
	cs.tokens = callTokens{step: e.token, maxWait: e.token, announce: e.token}
	wait := now.Sub(cs.since)
	// Only the next step is on the heap; firing it arms the one after, so
	// a waiting call holds at most three timers whatever its steps.
	for i, s := range q.cfg.Steps {
		if s.After <= wait {
			cs.stepIdx = i
			continue
		}
		e.pushTimer(cs.since.Add(s.After), timerStep, cs.call.ID, "", i, cs.tokens.step)
		break
	}
	if q.cfg.MaxWait > 0 {
		e.pushTimer(cs.since.Add(q.cfg.MaxWait), timerMaxWait, cs.call.ID, "", 0, cs.tokens.maxWait)
	}
	if every := q.cfg.AnnounceEvery; every > 0 {
		next := now.Add(every)
		switch {
		case announceNow && cs.phase == phaseWaiting:
			out = append(out, e.announce(cs, now))
		case cs.announceAt.After(now) && cs.announceAt.Before(next):
			next = cs.announceAt // the one already due comes as planned
		}
		cs.announceAt = next
		e.pushTimer(next, timerAnnounce, cs.call.ID, "", 0, cs.tokens.announce)
	}
	if cs.stepIdx >= 0 {
		out = e.applyStep(cs, cs.stepIdx, now, out, false)
	}
	return out
}

func (e *Engine) announce(cs *callState, now time.Time) Announce {
	pos := e.position(cs)
	return Announce{CallID: cs.call.ID, Position: pos, EstimatedWait: e.estimate(e.queues[cs.queue], pos)}
}

func (e *Engine) position(cs *callState) int {
	q := e.queues[cs.queue]
	for i, w := range q.waiting {
		if w == cs {
			return i + 1
		}
	}
	return 1
}

// estimate is the estimated wait for position pos: pos × AHT ÷ staffed
// agents, where AHT is the recent handle time (talk + wrap-up, an EWMA; 3
// minutes before any call has been handled) and staffed agents are the
// queue's members that are logged in and not paused. No staffed agent:
// the estimate is unknown (0).
func (e *Engine) estimate(q *queueState, pos int) time.Duration {
	staffed := q.staffed
	if staffed == 0 {
		return 0
	}
	aht := q.aht
	if aht == 0 {
		aht = 3 * time.Minute
	}
	return time.Duration(int64(aht) * int64(pos) / int64(staffed))
}

func (q *queueState) observeHandle(d time.Duration) {
	if q.aht == 0 {
		q.aht = d
		return
	}
	// EWMA with weight 1/8: recent calls count, one long call does not swing it.
	q.aht += (d - q.aht) / 8
}

func (e *Engine) applyStep(cs *callState, idx int, now time.Time, out []Decision, fresh bool) []Decision {
	q := e.queues[cs.queue]
	s := q.cfg.Steps[idx]
	cs.stepIdx = idx
	if s.OfferCallback && fresh {
		out = append(out, OfferCallback{CallID: cs.call.ID, Queue: cs.queue})
	}
	if s.OverflowTo != "" {
		return e.overflow(cs, s.OverflowTo, fmt.Sprintf("escalation step after %s", s.After), now, out)
	}
	if cs.phase == phaseWaiting && fresh {
		out = e.matchCall(cs, now, out)
	}
	return out
}

func (e *Engine) overflow(cs *callState, to, why string, now time.Time, out []Decision) []Decision {
	if cs.hops >= maxOverflowHops {
		// Cycles are load errors, but reloads can chain queues at run
		// time: a call never bounces for ever.
		return e.exitQueue(cs, "overflow_loop", ExitPolicy{Action: ExitHangup}, now, out)
	}
	from := cs.queue
	if cs.phase == phaseWaiting {
		e.removeWaiting(cs)
	}
	cs.hops++
	cs.queue = to
	cs.stepIdx = -1
	cs.maxWaitDone = false
	cs.declined = nil
	tq := e.queues[to]
	cs.vtime = vtime(cs.since, cs.priority, tq.cfg.PriorityStep)
	out = append(out, Overflow{CallID: cs.call.ID, From: from, To: to, Reason: why},
		Queued{CallID: cs.call.ID, Queue: to, Priority: cs.priority, Since: cs.since, Rule: cs.rule})
	if cs.phase == phaseWaiting && tq.empty() {
		return e.exitQueue(cs, "no_agents", tq.cfg.NoAgents.Exit, now, out)
	}
	if cs.phase == phaseWaiting {
		e.insertWaiting(e.queues[to], cs)
		out = e.armCallTimers(cs, now, out, true)
		out = e.matchCall(cs, now, out)
	}
	return out
}

// exitQueue applies an exit policy to a call that cannot stay: overflow
// to another queue, or leave with an action. A callback at max wait keeps
// the call waiting (the caller may decline and keep the place); any other
// exit removes the call from the engine.
func (e *Engine) exitQueue(cs *callState, reason string, pol ExitPolicy, now time.Time, out []Decision) []Decision {
	if pol.OverflowTo != "" && pol.OverflowTo != cs.queue {
		return e.overflow(cs, pol.OverflowTo, reason, now, out)
	}
	action := pol.Action
	if action == "" {
		action = ExitHangup
	}
	if action == ExitCallback && reason == "max_wait" && cs.phase == phaseWaiting {
		return append(out, OfferCallback{CallID: cs.call.ID, Queue: cs.queue})
	}
	e.removeWaiting(cs)
	var ids [1]string
	for _, id := range cs.offers.sortedIDs(ids[:0]) {
		cs.offers.remove(id)
		out = append(out, Withdraw{CallID: cs.call.ID, AgentID: id, Reason: "call left queue: " + reason})
		if ag := e.agents[id]; ag != nil && ag.callID == cs.call.ID {
			ag.callID = ""
			out = e.becomeAvailable(ag, "", now, out)
		}
	}
	e.forgetLead(cs)
	delete(e.calls, cs.call.ID)
	return append(out, QueueExit{CallID: cs.call.ID, Queue: cs.queue, Reason: reason, Action: action, Media: pol.Media, Target: pol.Target})
}

// empty reports whether the queue's no-agents policy applies now.
func (q *queueState) empty() bool {
	switch q.cfg.NoAgents.When {
	case NoAgentsLoggedOut:
		return q.loggedIn == 0
	case NoAgentsUnavailable:
		return q.staffed == 0
	}
	return false
}

// leaveEmpty applies the no-agents policy to the calls waiting in queues
// that nobody can serve any more (after a logout, a pause, a removal).
func (e *Engine) leaveEmpty(queues []string, now time.Time, out []Decision) []Decision {
	for _, qn := range queues {
		q := e.queues[qn]
		if q == nil || !q.empty() || len(q.waiting) == 0 {
			continue
		}
		for _, cs := range slices.Clone(q.waiting) {
			out = e.exitQueue(cs, "no_agents", q.cfg.NoAgents.Exit, now, out)
		}
	}
	return out
}

// ----------------------------------------------------------------- timers

type timerKind int

const (
	timerOffer timerKind = iota
	timerWrapUp
	timerStep
	timerMaxWait
	timerAnnounce
	timerReasonLimit
	timerOwner // an owned call's deadline: any agent may take it from then
	timerLead  // a lead-time entry's next prediction check
)

type timer struct {
	at    time.Time
	kind  timerKind
	id    string // call or agent id
	agent string // the offered agent (offer timers)
	n     int    // step index (step timers)
	token uint64
	seq   uint64
}

// timerHeap is a binary min-heap on (at, seq), typed so that pushing a
// timer does not box it (container/heap would allocate on every push).
type timerHeap []timer

func (h timerHeap) less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *timerHeap) pop() timer {
	a := *h
	top := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a[last] = timer{} // drop string references for the collector
	a = a[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(a) && a.less(l, m) {
			m = l
		}
		if r < len(a) && a.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

func (e *Engine) pushTimer(at time.Time, kind timerKind, id, agent string, n int, token uint64) {
	e.seq++
	e.timers.push(timer{at: at, kind: kind, id: id, agent: agent, n: n, token: token, seq: e.seq})
}

// timerLive reports whether a timer still refers to current state; stale
// timers (superseded by a later token) are skipped.
func (e *Engine) timerLive(t timer) bool {
	switch t.kind {
	case timerOffer:
		cs := e.calls[t.id]
		return cs != nil && cs.offers.tokenOf(t.agent) == t.token
	case timerWrapUp:
		ag := e.agents[t.id]
		return ag != nil && ag.state == StateWrapUp && ag.wrapToken == t.token
	case timerReasonLimit:
		ag := e.agents[t.id]
		return ag != nil && ag.state == StateNotReady && ag.reasonToken == t.token
	case timerStep:
		cs := e.calls[t.id]
		return cs != nil && cs.phase != phaseConnected && cs.tokens.step == t.token
	case timerMaxWait:
		cs := e.calls[t.id]
		return cs != nil && cs.phase != phaseConnected && cs.tokens.maxWait == t.token
	case timerAnnounce:
		cs := e.calls[t.id]
		return cs != nil && cs.phase != phaseConnected && cs.tokens.announce == t.token
	case timerOwner:
		cs := e.calls[t.id]
		return cs != nil && cs.owner.agent == t.agent && cs.owner.until.Equal(t.at)
	case timerLead:
		cs := e.calls[t.id]
		return cs != nil && cs.leadToken == t.token
	}
	return false
}

func (e *Engine) fire(t timer, now time.Time, out []Decision) []Decision {
	if !e.timerLive(t) {
		return out
	}
	switch t.kind {
	case timerOffer:
		cs := e.calls[t.id]
		out = append(out, Withdraw{CallID: t.id, AgentID: t.agent, Reason: "no answer"})
		out = e.offerFailed(cs, t.agent, "no answer", now, out)
	case timerWrapUp:
		ag := e.agents[t.id]
		out = e.becomeAvailable(ag, "", now, out)
	case timerReasonLimit:
		ag := e.agents[t.id]
		if !ag.flagged {
			ag.flagged = true
			out = append(out, AgentFlagged{AgentID: ag.def.ID, Reason: fmt.Sprintf("not ready %q longer than allowed", ag.reason), At: now})
		}
	case timerStep:
		cs := e.calls[t.id]
		idx := t.n
		q := e.queues[cs.queue]
		if idx+1 < len(q.cfg.Steps) {
			e.pushTimer(cs.since.Add(q.cfg.Steps[idx+1].After), timerStep, cs.call.ID, "", idx+1, cs.tokens.step)
		}
		if idx > cs.stepIdx && idx < len(q.cfg.Steps) {
			out = e.applyStep(cs, idx, now, out, true)
		}
	case timerMaxWait:
		cs := e.calls[t.id]
		if cs.phase == phaseWaiting {
			cs.maxWaitDone = true
			out = e.exitQueue(cs, "max_wait", e.queues[cs.queue].cfg.Exit, now, out)
		}
	case timerAnnounce:
		// A ringing call is not announced to, but keeps its cadence for
		// when the offer fails and it waits again.
		cs := e.calls[t.id]
		if cs.phase == phaseWaiting {
			out = append(out, e.announce(cs, now))
		}
		cs.announceAt = now.Add(e.queues[cs.queue].cfg.AnnounceEvery)
		e.pushTimer(cs.announceAt, timerAnnounce, cs.call.ID, "", 0, cs.tokens.announce)
	case timerOwner:
		cs := e.calls[t.id]
		cs.owner.agent, cs.owner.until = "", time.Time{}
		out = e.matchCall(cs, now, out)
	case timerLead:
		// The check itself is Tick's closing leadScan.
		e.calls[t.id].leadAt = time.Time{}
	}
	return out
}

// ------------------------------------------------------------------ misc

func cloneAgent(a Agent) Agent {
	a.Skills = cloneMap(a.Skills)
	a.Attributes = cloneMap(a.Attributes)
	a.Queues = cloneMap(a.Queues)
	return a
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func sortedQueues(m map[string]int) []string {
	qs := make([]string, 0, len(m))
	for q := range m {
		qs = append(qs, q)
	}
	sort.Slice(qs, func(i, j int) bool {
		pi, pj := m[qs[i]], m[qs[j]]
		if pi == 0 {
			pi = defaultQueuePriority
		}
		if pj == 0 {
			pj = defaultQueuePriority
		}
		if pi != pj {
			return pi < pj
		}
		return qs[i] < qs[j]
	})
	return qs
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func reasonList(rs []ReasonCode) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ", "
		}
		s += r.Code
	}
	return s
}

func actorList(as []Actor) string {
	s := ""
	for i, a := range as {
		if i > 0 {
			s += ", "
		}
		s += string(a)
	}
	return s
}
