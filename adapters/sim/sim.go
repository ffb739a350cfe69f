// Package sim is an in-process simulated PBX that implements the adapters
// port: callers arrive on configured lines at a Poisson rate, wait with a
// limited patience and hang up when it runs out; simulated agents answer
// their phone after a ring delay (or never: no-answer happens), talk for a
// handle time, then hang up. Everything is driven by a clock.Clock and a
// seeded random source, so a run is reproducible: real time for the demo,
// accelerated time for load and simulations, a manual clock in tests.
package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/routing"
)

// NodeName is the node id every simulated leg carries.
const NodeName = "sim"

// Config describes the simulated world.
type Config struct {
	// Seed makes a run reproducible.
	Seed uint64 `yaml:"seed" json:"seed"`
	// Streams are the inbound lines callers dial.
	Streams []Stream `yaml:"streams" json:"streams"`
	// AgentGroups generate simulated agents (ids prefix-001 …).
	AgentGroups []AgentGroup `yaml:"agent_groups" json:"agent_groups"`
	// Speed runs simulated time this many times faster than real time for
	// `switchboard serve --pbx sim` (1 = real time).
	Speed float64 `yaml:"speed" json:"speed"`
}

// Stream is one line with its own caller population.
type Stream struct {
	DialedNumber  string            `yaml:"dialed_number" json:"dialed_number"`
	CallerPrefix  string            `yaml:"caller_prefix" json:"caller_prefix"`
	Vars          map[string]string `yaml:"vars" json:"vars"`
	RatePerMinute float64           `yaml:"rate_per_minute" json:"rate_per_minute"`
	// PatienceMean is the mean patience: how long a caller waits for an
	// agent before hanging up (0 = callers never give up).
	PatienceMean time.Duration `yaml:"patience_mean" json:"patience_mean"`
	// Patience is the distribution of patience around its mean:
	// "exponential" (default), "lognormal" (σ = 1, the shape call-centre
	// studies report) or "fixed".
	Patience string `yaml:"patience" json:"patience"`
	// VIPShare is the fraction of callers who carry VIP=1.
	VIPShare float64 `yaml:"vip_share" json:"vip_share"`
	// CallbackShare is the fraction of callers who accept a callback when
	// one is offered: hearing the callbacks desk's offer prompt
	// ("callback-offer") they press 1, and at "callback-confirm-or-other"
	// they press 1 to confirm the number they called from; from the
	// offer on they no longer give up by themselves. The others let the
	// offer time out and keep waiting.
	CallbackShare float64 `yaml:"callback_share" json:"callback_share"`
}

// AgentGroup generates Count agents with the same profile.
type AgentGroup struct {
	Prefix     string            `yaml:"prefix" json:"prefix"`
	Count      int               `yaml:"count" json:"count"`
	Skills     map[string]int    `yaml:"skills" json:"skills"`
	Attributes map[string]string `yaml:"attributes" json:"attributes"`
	Queues     map[string]int    `yaml:"queues" json:"queues"`
	// AnswerProbability is the chance an offered call is answered; the
	// rest ring until the originate timeout (no answer, cause 19).
	// 0 means unset: agents always answer (use NeverAnswer for phones
	// that are never picked up).
	AnswerProbability float64 `yaml:"answer_probability" json:"answer_probability"`
	NeverAnswer       bool    `yaml:"never_answer" json:"never_answer"`
	// RingDelay is the mean (exponential) time before an agent picks up.
	RingDelay time.Duration `yaml:"ring_delay" json:"ring_delay"`
	// HandleTime is the mean (exponential) talk time; 2 min when unset.
	HandleTime time.Duration `yaml:"handle_time" json:"handle_time"`
	// AgentHangsUp is the share of calls the agent ends (the caller ends
	// the rest); 0 means half.
	AgentHangsUp float64 `yaml:"agent_hangs_up" json:"agent_hangs_up"`
}

// Agents returns the routing agents the groups describe; each one's
// endpoint is "sim/<id>", which Originate recognises.
func (c Config) Agents() []routing.Agent {
	var out []routing.Agent
	for _, g := range c.AgentGroups {
		for i := 1; i <= g.Count; i++ {
			id := fmt.Sprintf("%s-%03d", g.Prefix, i)
			out = append(out, routing.Agent{ID: id, Name: id, Endpoint: "sim/" + id, Skills: copyMap(g.Skills), Attributes: copyMap(g.Attributes), Queues: copyMap(g.Queues)})
		}
	}
	return out
}

// Validate checks the configuration and names the field at fault.
func (c Config) Validate() error {
	for i, s := range c.Streams {
		if s.RatePerMinute < 0 {
			return fmt.Errorf("sim.streams[%d].rate_per_minute: %v is negative", i, s.RatePerMinute)
		}
		if s.VIPShare < 0 || s.VIPShare > 1 {
			return fmt.Errorf("sim.streams[%d].vip_share: %v is not between 0 and 1", i, s.VIPShare)
		}
		if s.CallbackShare < 0 || s.CallbackShare > 1 {
			return fmt.Errorf("sim.streams[%d].callback_share: %v is not between 0 and 1", i, s.CallbackShare)
		}
		if s.PatienceMean < 0 {
			return fmt.Errorf("sim.streams[%d].patience_mean: negative", i)
		}
		switch s.Patience {
		case "", "exponential", "lognormal", "fixed":
		default:
			return fmt.Errorf("sim.streams[%d].patience: %q is not exponential, lognormal or fixed", i, s.Patience)
		}
		if s.DialedNumber == "" {
			return fmt.Errorf("sim.streams[%d].dialed_number: required", i)
		}
	}
	seen := map[string]bool{}
	for i, g := range c.AgentGroups {
		if g.Prefix == "" {
			return fmt.Errorf("sim.agent_groups[%d].prefix: required", i)
		}
		if seen[g.Prefix] {
			return fmt.Errorf("sim.agent_groups[%d].prefix: %q used twice", i, g.Prefix)
		}
		seen[g.Prefix] = true
		if g.Count < 0 {
			return fmt.Errorf("sim.agent_groups[%d].count: negative", i)
		}
		if g.AnswerProbability < 0 || g.AnswerProbability > 1 {
			return fmt.Errorf("sim.agent_groups[%d].answer_probability: %v is not between 0 and 1", i, g.AnswerProbability)
		}
		if g.AgentHangsUp < 0 || g.AgentHangsUp > 1 {
			return fmt.Errorf("sim.agent_groups[%d].agent_hangs_up: %v is not between 0 and 1", i, g.AgentHangsUp)
		}
		if g.RingDelay < 0 || g.HandleTime < 0 {
			return fmt.Errorf("sim.agent_groups[%d]: ring_delay and handle_time must not be negative", i)
		}
	}
	return nil
}

func copyMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	c := make(map[string]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

type legState int

const (
	legRinging legState = iota
	legUp
	legGone
)

type leg struct {
	id       string
	role     adapters.LegRole
	state    legState
	tag      string
	group    *AgentGroup
	peer     string // bridged leg id
	bridge   string
	caller   *callerInfo
	deadline uint64 // timer token for patience / ring timeout
	created  time.Time
	answered time.Time // when an agent leg picked up
	// callerNum and dialed are kept for reconciliation reports.
	callerNum, dialed string
	vars              map[string]string
}

type callerInfo struct {
	stream   int
	arrived  time.Time
	answered bool // bridged to an agent
	// wantsCallback: this caller accepts a callback offer (CallbackShare);
	// inCallback: they pressed 1 and wait for the dialogue to end.
	wantsCallback, inCallback bool
}

// Log counts what the simulated world did, by its own bookkeeping (not the
// controller's): tests use it as the hand count.
type Log struct {
	Arrivals      int
	Abandoned     int             // callers who hung up before reaching an agent
	Connected     int             // callers bridged to an agent
	Waits         []time.Duration // arrival → bridge, for each connected caller
	AbandonWaits  []time.Duration // arrival → hang up, for each abandoning caller
	AgentNoAnswer int
	Originates    int
	// CallbacksAccepted counts callers who pressed 1 at a callback offer.
	CallbacksAccepted int
	// Vanished counts legs dropped by LoseLink (gone while the link was down).
	Vanished int
}

// PBX is the simulated PBX.
type PBX struct {
	cfg  Config
	clk  clock.Clock
	log  *slog.Logger
	rng  *rand.Rand
	evs  chan adapters.Event
	wake chan struct{}

	mu     sync.Mutex
	legs   map[string]*leg
	groups map[string]*AgentGroup // by agent id
	timers []simTimer
	token  uint64
	nextID uint64
	// run makes channel ids unique across runs, as a real PBX's are
	// (Asterisk: epoch.sequence): a switchboard restarted on the same
	// database with a new simulator must not reuse the call ids of the
	// last run, or its records would overwrite that run's history.
	run     string
	stats   Log
	pending []adapters.Event
	running bool
	bridges map[string][]string
	recs    map[string]*recording
	keepLog bool
	busy    bool // events taken from pending but not yet delivered
	started bool // Run has begun (Idle is false before)
	// standby: another controller took the node over (Standby); every
	// command is refused and no event is delivered any more.
	standby bool
	// noArrivals: StopArrivals was called; the streams fall silent.
	noArrivals bool
	// delivered counts events handed to the Events channel: a consumer
	// that counts what it took knows exactly when it has seen everything.
	delivered atomic.Uint64
}

type recording struct {
	name    string
	started time.Time
	leg     string
	bridge  string
}

type simTimer struct {
	at    time.Time
	token uint64
	fn    func(now time.Time)
}

// New builds a simulated PBX.
func New(cfg Config, clk clock.Clock, log *slog.Logger) (*PBX, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.Default()
	}
	p := &PBX{cfg: cfg, clk: clk, log: log.With("pbx", "sim"), rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5b0a7d)),
		evs: make(chan adapters.Event, 1024), wake: make(chan struct{}, 1), legs: map[string]*leg{}, groups: map[string]*AgentGroup{},
		bridges: map[string][]string{}, recs: map[string]*recording{}, run: strconv.FormatInt(clk.Now().UnixMilli(), 36)}
	for i := range p.cfg.AgentGroups {
		g := &p.cfg.AgentGroups[i]
		for j := 1; j <= g.Count; j++ {
			p.groups[fmt.Sprintf("%s-%03d", g.Prefix, j)] = g
		}
	}
	return p, nil
}

// KeepWaits makes the sim keep every wait in its Log (tests); off by
// default so long runs stay flat in memory.
func (p *PBX) KeepWaits() { p.mu.Lock(); p.keepLog = true; p.mu.Unlock() }

// Idle reports whether the simulation has nothing due at the current
// clock time and no event waiting to be delivered (tests on a manual clock).
func (p *PBX) Idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started || len(p.pending) > 0 || len(p.evs) > 0 || p.busy {
		return false
	}
	return len(p.timers) == 0 || p.timers[0].at.After(p.clk.Now())
}

// Delivered is how many events the sim has put on the Events channel.
func (p *PBX) Delivered() uint64 { return p.delivered.Load() }

// Events implements adapters.PBX.
func (p *PBX) Events() <-chan adapters.Event { return p.evs }

// Stats returns a copy of the sim's own bookkeeping.
func (p *PBX) Stats() Log {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Waits = append([]time.Duration(nil), p.stats.Waits...)
	s.AbandonWaits = append([]time.Duration(nil), p.stats.AbandonWaits...)
	return s
}

// Ready implements adapters.Ready: the sim is always connected once running.
func (p *PBX) Ready() (bool, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.standby {
		return false, "standby: another controller took the simulated PBX over"
	}
	if !p.running {
		return false, "simulated PBX not started"
	}
	return true, ""
}

// Run drives the simulation until ctx ends.
func (p *PBX) Run(ctx context.Context) error {
	defer close(p.evs)
	now := p.clk.Now()
	p.mu.Lock()
	p.running = true
	p.started = true
	for i, s := range p.cfg.Streams {
		if s.RatePerMinute > 0 {
			p.scheduleArrival(i, now)
		}
	}
	p.emit(adapters.NodeState{Base: adapters.Base{At: now}, Node: NodeName, Up: true})
	p.emit(adapters.Reconciled{Base: adapters.Base{At: now}, Node: NodeName})
	p.mu.Unlock()
	// One clock timer is armed at a time, for the earliest sim timer; it
	// is replaced only when an earlier one appears, so a busy run does not
	// pile up clock timers (each costs memory until it fires).
	var armed <-chan time.Time
	var armedAt time.Time
	for {
		if !p.flush(ctx) {
			return nil
		}
		p.mu.Lock()
		now = p.clk.Now()
		fired := p.fireDue(now)
		next, has := time.Time{}, len(p.timers) > 0
		if has {
			next = p.timers[0].at
		}
		p.mu.Unlock()
		if fired {
			continue
		}
		if has && (armed == nil || next.Before(armedAt)) {
			armed, armedAt = p.clk.After(next.Sub(now)), next
			// After is relative: if the clock moved between Now and After
			// (a test advancing a manual clock), the timer is late. Arm again.
			// Only a manual clock can jump between the two reads; a real
			// or scaled clock always moves, and re-arming would spin.
			if _, manual := p.clk.(*clock.Manual); manual && !p.clk.Now().Equal(now) {
				armed = nil
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-armed:
			armed = nil
		case <-p.wake:
		}
	}
}

// flush delivers pending events without holding the lock.
func (p *PBX) flush(ctx context.Context) bool {
	for {
		p.mu.Lock()
		evs := p.pending
		p.pending = nil
		p.busy = len(evs) > 0
		p.mu.Unlock()
		if len(evs) == 0 {
			return true
		}
		for _, ev := range evs {
			select {
			case p.evs <- ev:
				p.delivered.Add(1)
			case <-ctx.Done():
				return false
			}
		}
		p.mu.Lock()
		p.busy = false
		p.mu.Unlock()
	}
}

func (p *PBX) emit(ev adapters.Event) {
	if p.standby {
		// The node's events go to the controller that took it over.
		return
	}
	p.pending = append(p.pending, ev)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// NextEvent is when the sim's next timer (an arrival, a patience running
// out, an agent answering …) is due; tests advance a manual clock straight
// to it so that no two things collapse onto one clock step.
func (p *PBX) NextEvent() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.timers) == 0 {
		return time.Time{}, false
	}
	return p.timers[0].at, true
}

func (p *PBX) fireDue(now time.Time) bool {
	fired := false
	for len(p.timers) > 0 && !p.timers[0].at.After(now) {
		t := p.popTimer()
		fired = true
		// Things happen when they were due, not when the loop got to them:
		// on a scaled clock timer latency would otherwise stretch every
		// chain (arrivals came at ~60 % of the configured rate at 20×).
		t.fn(t.at)
	}
	return fired
}

func (p *PBX) schedule(at time.Time, fn func(now time.Time)) uint64 {
	p.token++
	p.pushTimer(simTimer{at: at, token: p.token, fn: fn})
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return p.token
}

// timers is a binary heap by time then token.
func (p *PBX) pushTimer(t simTimer) {
	p.timers = append(p.timers, t)
	i := len(p.timers) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !timerLess(p.timers[i], p.timers[parent]) {
			break
		}
		p.timers[i], p.timers[parent] = p.timers[parent], p.timers[i]
		i = parent
	}
}

func (p *PBX) popTimer() simTimer {
	t := p.timers[0]
	last := len(p.timers) - 1
	p.timers[0] = p.timers[last]
	p.timers = p.timers[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(p.timers) && timerLess(p.timers[l], p.timers[m]) {
			m = l
		}
		if r < len(p.timers) && timerLess(p.timers[r], p.timers[m]) {
			m = r
		}
		if m == i {
			break
		}
		p.timers[i], p.timers[m] = p.timers[m], p.timers[i]
		i = m
	}
	return t
}

func timerLess(a, b simTimer) bool {
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.token < b.token
}

func (p *PBX) exp(mean time.Duration) time.Duration {
	if mean <= 0 {
		return 0
	}
	return time.Duration(p.rng.ExpFloat64() * float64(mean))
}

// patience draws one caller's patience from the stream's distribution.
func (p *PBX) patience(s Stream) time.Duration {
	switch s.Patience {
	case "fixed":
		return s.PatienceMean
	case "lognormal":
		// σ = 1: mean = exp(μ + σ²/2), so μ = ln(mean) − 1/2.
		mu := math.Log(float64(s.PatienceMean)) - 0.5
		return time.Duration(math.Exp(mu + p.rng.NormFloat64()))
	}
	return p.exp(s.PatienceMean)
}

func (p *PBX) newID(prefix string) string {
	p.nextID++
	return prefix + "-" + p.run + "-" + strconv.FormatUint(p.nextID, 10)
}

func (p *PBX) scheduleArrival(stream int, now time.Time) {
	s := p.cfg.Streams[stream]
	mean := time.Duration(float64(time.Minute) / s.RatePerMinute)
	p.schedule(now.Add(p.exp(mean)), func(at time.Time) {
		if p.noArrivals {
			return
		}
		p.arrive(stream, at)
		p.scheduleArrival(stream, at)
	})
}

func (p *PBX) arrive(stream int, now time.Time) {
	s := p.cfg.Streams[stream]
	id := p.newID("caller")
	l := &leg{id: id, role: adapters.RoleCaller, state: legRinging, caller: &callerInfo{stream: stream, arrived: now}, created: now}
	p.legs[id] = l
	p.stats.Arrivals++
	vars := copyMap(s.Vars)
	if s.VIPShare > 0 && p.rng.Float64() < s.VIPShare {
		if vars == nil {
			vars = map[string]string{}
		}
		vars["VIP"] = "1"
	}
	caller := fmt.Sprintf("%s%06d", s.CallerPrefix, p.rng.IntN(1000000))
	l.callerNum, l.dialed, l.vars = caller, s.DialedNumber, vars
	// Drawn only when the stream has a share, so seeded runs without
	// callbacks are unchanged.
	if s.CallbackShare > 0 {
		l.caller.wantsCallback = p.rng.Float64() < s.CallbackShare
	}
	p.emit(adapters.CallArrived{Base: adapters.Base{Ref: p.ref(id), At: now}, CallerNumber: caller, DialedNumber: s.DialedNumber, Vars: vars})
	if s.PatienceMean > 0 {
		patience := p.patience(s)
		tok := p.schedule(now.Add(patience), func(at time.Time) { p.callerGivesUp(id, at) })
		l.deadline = tok
	}
}

// InjectCall makes a caller arrive now on a line (tests and demos), with a
// fixed patience (0 = never gives up). It returns the caller leg.
func (p *PBX) InjectCall(dialed, caller string, vars map[string]string, patience time.Duration) adapters.LegRef {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clk.Now()
	id := p.newID("caller")
	l := &leg{id: id, role: adapters.RoleCaller, state: legRinging, caller: &callerInfo{stream: -1, arrived: now}, created: now,
		callerNum: caller, dialed: dialed, vars: copyMap(vars)}
	p.legs[id] = l
	p.stats.Arrivals++
	p.emit(adapters.CallArrived{Base: adapters.Base{Ref: p.ref(id), At: now}, CallerNumber: caller, DialedNumber: dialed, Vars: copyMap(vars)})
	if patience > 0 {
		l.deadline = p.schedule(now.Add(patience), func(at time.Time) { p.callerGivesUp(id, at) })
	}
	return p.ref(id)
}

// HangupFar hangs a leg up from the far side (the caller or the agent put
// the phone down), as a test would script it.
func (p *PBX) HangupFar(ref adapters.LegRef) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clk.Now()
	if l := p.legs[ref.ID]; l != nil && l.state != legGone {
		if l.caller != nil && !l.caller.answered {
			p.countAbandon(l, now)
		}
		p.gone(l, 16, "normal clearing", false, now)
	}
}

// PressDTMF makes the far side of a leg press a key.
func (p *PBX) PressDTMF(ref adapters.LegRef, digit string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.emit(adapters.DTMFReceived{Base: adapters.Base{Ref: ref, At: p.clk.Now()}, Digit: digit, Duration: 100 * time.Millisecond})
}

func (p *PBX) countAbandon(l *leg, now time.Time) {
	p.stats.Abandoned++
	if p.keepLog {
		p.stats.AbandonWaits = append(p.stats.AbandonWaits, now.Sub(l.caller.arrived))
	}
}

func (p *PBX) callerGivesUp(id string, now time.Time) {
	l := p.legs[id]
	if l == nil || l.state == legGone || l.caller.answered || l.caller.inCallback {
		return
	}
	p.countAbandon(l, now)
	p.gone(l, 16, "caller hung up", false, now)
}

func (p *PBX) ref(id string) adapters.LegRef { return adapters.LegRef{Node: NodeName, ID: id} }

// gone ends a leg and emits its hangup (or OriginateFailed for an agent
// leg that never answered).
func (p *PBX) gone(l *leg, cause int, text string, local bool, now time.Time) {
	if l.state == legGone {
		return
	}
	wasUp := l.state == legUp
	l.state = legGone
	delete(p.legs, l.id)
	if l.bridge != "" {
		p.leaveBridge(l, now)
	}
	if !wasUp && l.role == adapters.RoleAgent && !local {
		p.emit(adapters.OriginateFailed{Base: adapters.Base{Ref: p.ref(l.id), At: now}, Tag: l.tag, Cause: cause, Reason: text})
		return
	}
	p.emit(adapters.LegHungUp{Base: adapters.Base{Ref: p.ref(l.id), At: now}, Cause: cause, CauseText: text, Local: local, Tag: l.tag})
}

func (p *PBX) leaveBridge(l *leg, now time.Time) {
	b := l.bridge
	l.bridge = ""
	members := p.bridges[b]
	for i, m := range members {
		if m == l.id {
			members = append(members[:i], members[i+1:]...)
			break
		}
	}
	if len(members) == 0 {
		delete(p.bridges, b)
		for name, r := range p.recs {
			if r.bridge == b {
				p.finishRecording(name, now)
			}
		}
		return
	}
	p.bridges[b] = members
}

func (p *PBX) finishRecording(name string, now time.Time) {
	r := p.recs[name]
	if r == nil {
		return
	}
	delete(p.recs, name)
	d := now.Sub(r.started)
	p.emit(adapters.RecordingFinished{Base: adapters.Base{Ref: p.ref(r.leg), At: now}, Recording: adapters.RecordingRef{Node: NodeName, Name: name},
		Format: "wav", Path: "/var/spool/sim/" + name + ".wav", Duration: d})
}

func (p *PBX) leg(ref adapters.LegRef) (*leg, error) {
	if p.standby {
		return nil, fmt.Errorf("leg %s: %w", ref, adapters.ErrStandby)
	}
	if ref.Node != NodeName {
		return nil, fmt.Errorf("leg %s: not a simulated leg: %w", ref, adapters.ErrUnknownLeg)
	}
	l := p.legs[ref.ID]
	if l == nil || l.state == legGone {
		return nil, fmt.Errorf("leg %s: %w", ref, adapters.ErrUnknownLeg)
	}
	return l, nil
}

// Answer implements adapters.PBX.
func (p *PBX) Answer(ctx context.Context, ref adapters.LegRef) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, err := p.leg(ref)
	if err != nil {
		return err
	}
	if l.state == legUp {
		return nil
	}
	l.state = legUp
	p.emit(adapters.LegAnswered{Base: adapters.Base{Ref: ref, At: p.clk.Now()}})
	return nil
}

// Hangup implements adapters.PBX.
func (p *PBX) Hangup(ctx context.Context, ref adapters.LegRef, cause int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, err := p.leg(ref)
	if err != nil {
		return err
	}
	if cause == 0 {
		cause = 16
	}
	p.gone(l, cause, "hung up by switchboard", true, p.clk.Now())
	return nil
}

// Play implements adapters.PBX: each prompt takes a second of sim time.
func (p *PBX) Play(ctx context.Context, ref adapters.LegRef, media ...adapters.Media) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.leg(ref); err != nil {
		return "", err
	}
	id := p.newID("playback")
	now := p.clk.Now()
	end := now.Add(time.Duration(len(media)) * time.Second)
	p.schedule(end, func(at time.Time) {
		if _, ok := p.legs[ref.ID]; ok {
			p.emit(adapters.PlaybackFinished{Base: adapters.Base{Ref: ref, At: at}, PlaybackID: id})
		}
	})
	if l := p.legs[ref.ID]; l != nil && l.caller != nil && l.caller.wantsCallback {
		p.answerCallbackPrompt(l, media, end)
	}
	return id, nil
}

// Prompt names the callbacks desk plays (callbacks.PromptOffer and
// callbacks.PromptConfirm); the sim cannot import that package.
const (
	promptCallbackOffer   = "callback-offer"
	promptCallbackConfirm = "callback-confirm-or-other"
)

// answerCallbackPrompt makes a caller who wants a callback press 1 when
// the offer (and then the number read back) has been heard.
func (p *PBX) answerCallbackPrompt(l *leg, media []adapters.Media, end time.Time) {
	for _, m := range media {
		if m.Value != promptCallbackOffer && m.Value != promptCallbackConfirm {
			continue
		}
		if m.Value == promptCallbackOffer && !l.caller.inCallback {
			l.caller.inCallback = true
			p.stats.CallbacksAccepted++
		}
		id := l.id
		p.schedule(end, func(at time.Time) {
			if cur := p.legs[id]; cur == l && l.state != legGone && !l.caller.answered {
				p.emit(adapters.DTMFReceived{Base: adapters.Base{Ref: p.ref(id), At: at}, Digit: "1", Duration: 100 * time.Millisecond})
			}
		})
		return
	}
}

// StopPlayback implements adapters.PBX.
func (p *PBX) StopPlayback(ctx context.Context, ref adapters.LegRef, id string) error { return nil }

// StartHold implements adapters.PBX.
func (p *PBX) StartHold(ctx context.Context, ref adapters.LegRef, class string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.leg(ref)
	return err
}

// StopHold implements adapters.PBX.
func (p *PBX) StopHold(ctx context.Context, ref adapters.LegRef) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.leg(ref)
	return err
}

// Originate implements adapters.PBX. Endpoints "sim/<agent id>" ring a
// simulated agent with its group's profile; "sim/customer/<number>" rings
// a customer (callbacks) who answers after the ring delay; anything else
// fails with cause 3 (no route).
func (p *PBX) Originate(ctx context.Context, req adapters.OriginateRequest) (adapters.LegRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.standby {
		return adapters.LegRef{}, fmt.Errorf("originate %q: %w", req.Endpoint, adapters.ErrStandby)
	}
	now := p.clk.Now()
	p.stats.Originates++
	target, ok := strings.CutPrefix(req.Endpoint, "sim/")
	if !ok {
		return adapters.LegRef{}, fmt.Errorf("originate %q: not a sim endpoint (sim/<agent>): %w", req.Endpoint, adapters.ErrUnsupported)
	}
	role := req.Role
	if role == "" {
		role = adapters.RoleAgent
	}
	id := p.newID("agent")
	l := &leg{id: id, role: role, state: legRinging, tag: req.Tag, created: now}
	g := p.groups[target]
	l.group = g
	p.legs[id] = l
	answerProb, ringMean := 1.0, 3*time.Second
	if g != nil {
		answerProb, ringMean = g.AnswerProbability, g.RingDelay
		if answerProb == 0 {
			answerProb = 1
		}
		if g.NeverAnswer {
			answerProb = 0
		}
	} else if !strings.HasPrefix(target, "customer/") {
		// Unknown agents never answer (a phone that is not plugged in).
		answerProb = 0
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	if p.rng.Float64() < answerProb {
		delay := p.exp(ringMean)
		if delay < timeout {
			p.schedule(now.Add(delay), func(at time.Time) {
				if l.state != legRinging {
					return
				}
				l.state = legUp
				l.answered = at
				p.emit(adapters.LegAnswered{Base: adapters.Base{Ref: p.ref(id), At: at}, Tag: l.tag})
			})
			return p.ref(id), nil
		}
	}
	p.stats.AgentNoAnswer++
	p.schedule(now.Add(timeout), func(at time.Time) {
		if l.state == legRinging {
			p.gone(l, 19, "no answer", false, at)
		}
	})
	return p.ref(id), nil
}

// Bridge implements adapters.PBX. When a caller is bridged to an agent the
// talk time starts; at its end one side hangs up.
func (p *PBX) Bridge(ctx context.Context, refs ...adapters.LegRef) (adapters.BridgeRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ls []*leg
	for _, r := range refs {
		l, err := p.leg(r)
		if err != nil {
			return adapters.BridgeRef{}, fmt.Errorf("bridge: %w", err)
		}
		ls = append(ls, l)
	}
	id := p.newID("bridge")
	now := p.clk.Now()
	var caller, agent *leg
	for _, l := range ls {
		if l.bridge != "" {
			p.leaveBridge(l, now)
		}
		l.bridge = id
		p.bridges[id] = append(p.bridges[id], l.id)
		if l.caller != nil {
			caller = l
		} else if l.role == adapters.RoleAgent {
			agent = l
		}
	}
	if caller != nil && agent != nil && !caller.caller.answered {
		caller.caller.answered = true
		// The wait ends when the agent picked up (the ACD's "answered"),
		// not when the bridge was made.
		picked := agent.answered
		if picked.IsZero() {
			picked = now
		}
		w := picked.Sub(caller.caller.arrived)
		p.stats.Connected++
		if p.keepLog {
			p.stats.Waits = append(p.stats.Waits, w)
		}
		handle, agentShare := 2*time.Minute, 0.5
		if g := agent.group; g != nil {
			if g.HandleTime > 0 {
				handle = g.HandleTime
			}
			if g.AgentHangsUp > 0 {
				agentShare = g.AgentHangsUp
			}
		}
		talk := p.exp(handle)
		callerHangs := p.rng.Float64() >= agentShare
		p.schedule(now.Add(talk), func(at time.Time) {
			who := agent
			if callerHangs {
				who = caller
			}
			if who.state != legGone {
				p.gone(who, 16, "normal clearing", false, at)
			}
		})
	}
	return adapters.BridgeRef{Node: NodeName, ID: id}, nil
}

// Record implements adapters.PBX.
func (p *PBX) Record(ctx context.Context, req adapters.RecordRequest) (adapters.RecordingRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	legID := req.Leg.ID
	if req.Bridge.ID != "" {
		m := p.bridges[req.Bridge.ID]
		if len(m) == 0 {
			return adapters.RecordingRef{}, fmt.Errorf("record bridge %s: no such bridge: %w", req.Bridge.ID, adapters.ErrUnknownLeg)
		}
		legID = m[0]
	} else if _, err := p.leg(req.Leg); err != nil {
		return adapters.RecordingRef{}, err
	}
	name := req.Name
	if name == "" {
		name = p.newID("rec")
	}
	if _, dup := p.recs[name]; dup {
		return adapters.RecordingRef{}, fmt.Errorf("record %q: a recording with that name is running", name)
	}
	now := p.clk.Now()
	p.recs[name] = &recording{name: name, started: now, leg: legID, bridge: req.Bridge.ID}
	p.emit(adapters.RecordingStarted{Base: adapters.Base{Ref: p.ref(legID), At: now}, Recording: adapters.RecordingRef{Node: NodeName, Name: name}, Format: "wav", Path: "/var/spool/sim/" + name + ".wav"})
	return adapters.RecordingRef{Node: NodeName, Name: name}, nil
}

// StopRecording implements adapters.PBX.
func (p *PBX) StopRecording(ctx context.Context, rec adapters.RecordingRef) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.standby {
		return fmt.Errorf("stop recording %q: %w", rec.Name, adapters.ErrStandby)
	}
	if p.recs[rec.Name] == nil {
		return fmt.Errorf("stop recording %q: %w", rec.Name, adapters.ErrUnknownLeg)
	}
	p.finishRecording(rec.Name, p.clk.Now())
	return nil
}

// PauseRecording implements adapters.PBX.
func (p *PBX) PauseRecording(ctx context.Context, rec adapters.RecordingRef) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.standby {
		return fmt.Errorf("pause recording %q: %w", rec.Name, adapters.ErrStandby)
	}
	if p.recs[rec.Name] == nil {
		return fmt.Errorf("pause recording %q: %w", rec.Name, adapters.ErrUnknownLeg)
	}
	return nil
}

// ResumeRecording implements adapters.PBX.
func (p *PBX) ResumeRecording(ctx context.Context, rec adapters.RecordingRef) error {
	return p.PauseRecording(ctx, rec)
}

// Snoop implements adapters.PBX: the supervisor leg answers at once.
func (p *PBX) Snoop(ctx context.Context, req adapters.SnoopRequest) (adapters.LegRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.leg(req.Target); err != nil {
		return adapters.LegRef{}, err
	}
	id := p.newID("snoop")
	now := p.clk.Now()
	p.legs[id] = &leg{id: id, role: adapters.RoleSnoop, state: legUp, tag: req.Tag, created: now}
	p.emit(adapters.LegAnswered{Base: adapters.Base{Ref: p.ref(id), At: now}, Tag: req.Tag})
	return p.ref(id), nil
}

// SetVar implements adapters.PBX.
func (p *PBX) SetVar(ctx context.Context, ref adapters.LegRef, name, value string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.leg(ref)
	return err
}

// Continue implements adapters.PBX: the leg leaves switchboard's control.
func (p *PBX) Continue(ctx context.Context, ref adapters.LegRef, dialplanContext, extension string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, err := p.leg(ref)
	if err != nil {
		return err
	}
	p.gone(l, 16, "continued in dialplan", true, p.clk.Now())
	return nil
}

// LoseLink simulates the link to the PBX dropping: a NodeState down is
// reported, and the given legs end while the link is down, so no hangup
// event is ever sent for them (callers among them count as Vanished, not
// as abandoned). Resync brings the link back.
func (p *PBX) LoseLink(lost ...adapters.LegRef) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clk.Now()
	p.running = false
	p.emit(adapters.NodeState{Base: adapters.Base{At: now}, Node: NodeName, Up: false, Err: "simulated link loss"})
	for _, ref := range lost {
		l := p.legs[ref.ID]
		if l == nil {
			continue
		}
		l.state = legGone
		delete(p.legs, l.id)
		if l.bridge != "" {
			p.leaveBridge(l, now)
		}
		p.stats.Vanished++
	}
}

// Resync reports the link up again, the way a real adapter does after a
// (re)connect: every caller leg it holds as CallArrived{Adopted: true},
// then Reconciled with every leg. A controller started after a restart
// calls it to find the calls it must resume.
func (p *PBX) Resync() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clk.Now()
	p.running = true
	p.emit(adapters.NodeState{Base: adapters.Base{At: now}, Node: NodeName, Up: true})
	ids := make([]string, 0, len(p.legs))
	for id := range p.legs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var infos []adapters.LegInfo
	for _, id := range ids {
		l := p.legs[id]
		state := "Ring"
		if l.state == legUp {
			state = "Up"
		}
		infos = append(infos, adapters.LegInfo{Ref: p.ref(id), State: state, Tag: l.tag, BridgeID: l.bridge,
			CallerNumber: l.callerNum, DialedNumber: l.dialed})
		if l.caller != nil {
			p.emit(adapters.CallArrived{Base: adapters.Base{Ref: p.ref(id), At: now}, CallerNumber: l.callerNum, DialedNumber: l.dialed,
				Vars: copyMap(l.vars), Answered: l.state == legUp, Adopted: true})
		}
	}
	p.emit(adapters.Reconciled{Base: adapters.Base{At: now}, Node: NodeName, Legs: infos})
}

// Standby simulates another controller taking the node over, as ARI's
// ApplicationReplaced does: a NodeState{Standby: true} is reported, then
// every command is refused with adapters.ErrStandby and no further event
// is delivered (they go to the other controller). The simulated world
// goes on: callers keep waiting until their patience runs out, talks end.
func (p *PBX) Standby() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clk.Now()
	p.emit(adapters.NodeState{Base: adapters.Base{At: now}, Node: NodeName, Standby: true, Err: "simulated takeover by another controller"})
	p.running = false
	p.standby = true
}

// StopArrivals ends the streams: no new caller arrives from now on, the
// calls in progress go on to their end (a load run draining its floor).
func (p *PBX) StopArrivals() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.noArrivals = true
}

// Legs lists the live legs (for tests).
func (p *PBX) Legs() []adapters.LegRef {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]adapters.LegRef, 0, len(p.legs))
	for id := range p.legs {
		out = append(out, p.ref(id))
	}
	return out
}

// ExpectedArrivals is the mean number of arrivals in d across all streams
// (rate × time), for sizing tests and load.
func (c Config) ExpectedArrivals(d time.Duration) float64 {
	total := 0.0
	for _, s := range c.Streams {
		total += s.RatePerMinute * d.Minutes()
	}
	return math.Round(total)
}
