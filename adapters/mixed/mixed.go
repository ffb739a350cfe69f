// Package mixed implements the PBX port (package adapters) over several PBX
// adapters at once — an Asterisk (ARI) adapter and a FreeSWITCH (ESL)
// adapter beside each other — so one controller and one queue serve
// calls on both (issue #5).
//
// Every adapter keeps doing what it does alone: it connects, reconnects,
// reconciles and reports its nodes. This package only
//
//   - merges their event streams into one channel, each adapter's events
//     in that adapter's own order, none dropped;
//   - sends every command to the adapter that owns the node the leg,
//     bridge, recording or request names (LegRef.Node,
//     OriginateRequest.Node, …), and refuses a node nobody owns with an
//     error wrapping ErrUnknownNode;
//   - is ready while at least one adapter is, naming the others;
//   - keeps going when one PBX is down: an adapter whose Run ends (its PBX
//     unreachable at start) is rebuilt and run again after a pause, while
//     the others go on.
//
// Node names must be unique across the adapters: a leg names only its
// node, so two adapters with a node of one name could not be told apart.
package mixed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cc/switchboard/adapters"
)

// Sentinel errors.
var (
	// ErrUnknownNode means a command named a node that no adapter owns. The
	// error also wraps adapters.ErrUnknownLeg: a leg on a node nobody
	// knows is a leg the PBX does not know, and callers that treat that
	// as "gone" need no new branch.
	ErrUnknownNode = errors.New("unknown pbx node")
	// ErrConfig is wrapped by every error New returns about its members
	// (no member, a member without nodes, a node name used twice).
	ErrConfig = errors.New("invalid mixed pbx")
)

// Defaults.
const (
	// DefaultRetryDelay is the first pause before an adapter whose Run
	// ended is rebuilt; it doubles up to DefaultRetryMax.
	DefaultRetryDelay = time.Second
	DefaultRetryMax   = 30 * time.Second
	// eventBuffer is the merged channel's size. The adapters keep their
	// own queues (ARI an unbounded ordered queue per node, ESL its
	// event_buffer with back-pressure), so this only smooths the hand-over.
	eventBuffer = 1024
)

// Member is one adapter of the mix.
type Member struct {
	// Name says which PBX it is in logs and errors (asterisk, freeswitch).
	Name string
	// Nodes are the node names the adapter puts in its LegRefs (the ARI
	// nodes' names, the FreeSWITCH node).
	Nodes []string
	// New builds the adapter. New calls it once, so that a bad
	// configuration fails at once; Run calls it again to replace an
	// adapter whose Run ended (an adapter runs only once).
	New func() (adapters.PBX, error)
}

// Options tune the mix.
type Options struct {
	// RetryDelay is the first pause before an adapter whose Run ended is
	// rebuilt and run again (default 1s); it doubles up to RetryMax
	// (default 30s) while the PBX stays unreachable.
	RetryDelay time.Duration
	RetryMax   time.Duration
	Log        *slog.Logger
}

// member is a Member at run time: the adapter serving now and whether it
// runs.
type member struct {
	Member
	mu      sync.Mutex
	cur     adapters.PBX
	running bool
	lastErr string // why the last Run ended, while not running
	up      bool   // one of its nodes reported up since it was built
}

func (m *member) state() (adapters.PBX, bool, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur, m.running, m.lastErr
}

// PBX is the mixed port. It implements adapters.PBX and adapters.Ready.
type PBX struct {
	members []*member
	byNode  map[string]*member
	nodes   []string // every node name, sorted, for error messages
	opts    Options
	log     *slog.Logger
	out     chan adapters.Event
	once    sync.Once
}

var (
	_ adapters.PBX   = (*PBX)(nil)
	_ adapters.Ready = (*PBX)(nil)
)

// New builds every member's adapter. It fails, wrapping ErrConfig, when
// there is no member, a member owns no node, or a node name is used
// twice (naming both members); a member's own New error is returned as is,
// prefixed with the member's name.
func New(members []Member, opts Options) (*PBX, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("%w: no pbx adapter to mix", ErrConfig)
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = DefaultRetryDelay
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	if opts.RetryMax < opts.RetryDelay {
		opts.RetryMax = opts.RetryDelay
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	p := &PBX{byNode: map[string]*member{}, opts: opts, log: opts.Log, out: make(chan adapters.Event, eventBuffer)}
	for i, mb := range members {
		if mb.Name == "" {
			mb.Name = fmt.Sprintf("pbx-%d", i+1)
		}
		if len(mb.Nodes) == 0 {
			return nil, fmt.Errorf("%w: %s owns no node", ErrConfig, mb.Name)
		}
		if mb.New == nil {
			return nil, fmt.Errorf("%w: %s has no constructor", ErrConfig, mb.Name)
		}
		m := &member{Member: mb}
		for _, n := range mb.Nodes {
			if n == "" {
				return nil, fmt.Errorf("%w: %s has a node with no name", ErrConfig, mb.Name)
			}
			if other, dup := p.byNode[n]; dup {
				return nil, fmt.Errorf("%w: node name %q is used by both %s and %s: node names must be unique across the PBXs", ErrConfig, n, other.Name, mb.Name)
			}
			p.byNode[n] = m
			p.nodes = append(p.nodes, n)
		}
		p.members = append(p.members, m)
	}
	sort.Strings(p.nodes)
	for _, m := range p.members {
		a, err := m.New()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		m.cur = a
	}
	return p, nil
}

// Nodes lists every node name of the mix, sorted.
func (p *PBX) Nodes() []string { return append([]string(nil), p.nodes...) }

// Events implements adapters.PBX: every member's events, each member's in
// its own order. It is closed when Run returns.
func (p *PBX) Events() <-chan adapters.Event { return p.out }

// Run implements adapters.PBX. It runs every member and merges their
// events until ctx ends. It fails only when every member's first Run
// fails before any node came up (no PBX reachable at start), with all
// their errors; a member whose Run ends otherwise is reported down
// (NodeState for each of its nodes), rebuilt and run again after a pause
// while the others go on.
func (p *PBX) Run(ctx context.Context) error {
	started := false
	p.once.Do(func() { started = true })
	if !started {
		return errors.New("mixed: Run called twice")
	}
	defer close(p.out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu        sync.Mutex
		firstErrs = make([]error, len(p.members))
		failed    int
		anyUp     bool
		fatal     error
	)
	// noteUp is called by the forwarders when a node reports up: from then
	// on a failing member is retried, never fatal.
	noteUp := func(m *member) {
		m.mu.Lock()
		m.up = true
		m.mu.Unlock()
		mu.Lock()
		anyUp = true
		mu.Unlock()
	}
	// firstFailed records a member's failed first Run and reports whether
	// that leaves no PBX at all (every member failed, none ever up).
	firstFailed := func(i int, err error) bool {
		mu.Lock()
		defer mu.Unlock()
		firstErrs[i] = err
		failed++
		if failed == len(p.members) && !anyUp {
			fatal = errors.Join(firstErrs...)
			return true
		}
		return false
	}

	var wg sync.WaitGroup
	for i, m := range p.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p.runMember(ctx, i, m, noteUp, firstFailed) {
				cancel()
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if fatal != nil {
		return fmt.Errorf("no pbx reachable at start: %w", fatal)
	}
	return nil
}

// runMember runs m until ctx ends, rebuilding it after each Run that ends
// early. It returns true when the whole mix must stop (every member
// failed at start).
func (p *PBX) runMember(ctx context.Context, i int, m *member, noteUp func(*member), firstFailed func(int, error) bool) bool {
	delay := p.opts.RetryDelay
	first := true
	for {
		m.mu.Lock()
		a := m.cur
		m.running, m.lastErr, m.up = true, "", false
		m.mu.Unlock()

		fwd := make(chan struct{})
		go func() { defer close(fwd); p.forward(ctx, m, a.Events(), noteUp) }()
		err := a.Run(ctx)
		// The port closes Events when Run returns: every event of this
		// adapter is forwarded before anything is said about its end.
		<-fwd
		if ctx.Err() != nil {
			m.mu.Lock()
			m.running = false
			m.mu.Unlock()
			return false
		}
		if err == nil {
			err = errors.New("adapter stopped")
		}
		m.mu.Lock()
		wasUp := m.up
		m.running, m.lastErr = false, err.Error()
		m.mu.Unlock()
		p.log.Warn("pbx adapter stopped; it is rebuilt and run again while the other PBXs go on",
			"pbx", m.Name, "nodes", strings.Join(m.Nodes, ","), "err", err, "retry_in", delay)
		now := time.Now()
		for _, n := range m.Nodes {
			if !p.send(ctx, adapters.NodeState{Base: adapters.Base{At: now}, Node: n, Err: err.Error()}) {
				return false
			}
		}
		if first && firstFailed(i, fmt.Errorf("%s: %w", m.Name, err)) {
			return true
		}
		first = false
		if wasUp {
			delay = p.opts.RetryDelay
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		delay = min(2*delay, p.opts.RetryMax)
		na, err := m.New()
		if err != nil {
			// The configuration was good at start; a constructor that
			// fails now is a bug or a vanished resource. Keep the old
			// adapter's place and try again later.
			p.log.Error("pbx adapter could not be rebuilt", "pbx", m.Name, "err", err)
			m.mu.Lock()
			m.lastErr = "rebuild: " + err.Error()
			m.mu.Unlock()
			continue
		}
		m.mu.Lock()
		m.cur = na
		m.mu.Unlock()
	}
}

// forward copies one adapter's events into the merged channel until the
// adapter closes its channel. Once ctx ends nobody reads the merged
// channel any more, so the rest is drained and discarded: the adapter's
// own shutdown must never wait on us.
func (p *PBX) forward(ctx context.Context, m *member, in <-chan adapters.Event, noteUp func(*member)) {
	for e := range in {
		if nodeUp(e) {
			noteUp(m)
		}
		if !p.send(ctx, e) {
			for range in {
			}
			return
		}
	}
}

// nodeUp reports whether e says a node came up and active. Adapters send
// events as values or pointers (the ARI adapter sends pointers).
func nodeUp(e adapters.Event) bool {
	switch ns := e.(type) {
	case adapters.NodeState:
		return ns.Up && !ns.Standby
	case *adapters.NodeState:
		return ns != nil && ns.Up && !ns.Standby
	}
	return false
}

// send hands one event to the consumer, waiting for it as long as the mix
// runs (never dropping); false once ctx ended.
func (p *PBX) send(ctx context.Context, e adapters.Event) bool {
	select {
	case p.out <- e:
		return true
	case <-ctx.Done():
		return false
	}
}

// owner returns the adapter that owns node ("" = the first member), or an
// error naming what was asked: ErrUnknownNode for a node nobody owns,
// adapters.ErrUnreachable while the owner is being rebuilt.
func (p *PBX) owner(node, what string) (adapters.PBX, error) {
	m := p.members[0]
	if node != "" {
		var ok bool
		if m, ok = p.byNode[node]; !ok {
			return nil, fmt.Errorf("%s on node %q: %w (known nodes: %s): %w", what, node, ErrUnknownNode, strings.Join(p.nodes, ", "), adapters.ErrUnknownLeg)
		}
	}
	a, running, why := m.state()
	if !running {
		return nil, fmt.Errorf("%s on node %q: %w: %s adapter not running (%s)", what, node, adapters.ErrUnreachable, m.Name, why)
	}
	return a, nil
}

// Answer implements adapters.PBX on the leg's node.
func (p *PBX) Answer(ctx context.Context, leg adapters.LegRef) error {
	a, err := p.owner(leg.Node, "answer "+leg.String())
	if err != nil {
		return err
	}
	return a.Answer(ctx, leg)
}

// Hangup implements adapters.PBX on the leg's node.
func (p *PBX) Hangup(ctx context.Context, leg adapters.LegRef, cause int) error {
	a, err := p.owner(leg.Node, "hangup "+leg.String())
	if err != nil {
		return err
	}
	return a.Hangup(ctx, leg, cause)
}

// Play implements adapters.PBX on the leg's node.
func (p *PBX) Play(ctx context.Context, leg adapters.LegRef, media ...adapters.Media) (string, error) {
	a, err := p.owner(leg.Node, "play on "+leg.String())
	if err != nil {
		return "", err
	}
	return a.Play(ctx, leg, media...)
}

// StopPlayback implements adapters.PBX on the leg's node.
func (p *PBX) StopPlayback(ctx context.Context, leg adapters.LegRef, playbackID string) error {
	a, err := p.owner(leg.Node, "stop playback "+playbackID+" on "+leg.String())
	if err != nil {
		return err
	}
	return a.StopPlayback(ctx, leg, playbackID)
}

// StartHold implements adapters.PBX on the leg's node.
func (p *PBX) StartHold(ctx context.Context, leg adapters.LegRef, class string) error {
	a, err := p.owner(leg.Node, "start hold on "+leg.String())
	if err != nil {
		return err
	}
	return a.StartHold(ctx, leg, class)
}

// StopHold implements adapters.PBX on the leg's node.
func (p *PBX) StopHold(ctx context.Context, leg adapters.LegRef) error {
	a, err := p.owner(leg.Node, "stop hold on "+leg.String())
	if err != nil {
		return err
	}
	return a.StopHold(ctx, leg)
}

// Originate implements adapters.PBX on req.Node (empty: the first
// member's default node). The member renders req.Endpoint in its own
// form (a bare extension through its agent_endpoint template).
func (p *PBX) Originate(ctx context.Context, req adapters.OriginateRequest) (adapters.LegRef, error) {
	a, err := p.owner(req.Node, "originate "+req.Endpoint)
	if err != nil {
		return adapters.LegRef{}, err
	}
	return a.Originate(ctx, req)
}

// Bridge implements adapters.PBX on the legs' node. A bridge mixes the
// media of one PBX: legs on different nodes are refused
// (adapters.ErrUnsupported), never half bridged.
func (p *PBX) Bridge(ctx context.Context, legs ...adapters.LegRef) (adapters.BridgeRef, error) {
	if len(legs) == 0 {
		return adapters.BridgeRef{}, fmt.Errorf("bridge: no leg given: %w", adapters.ErrUnknownLeg)
	}
	node := legs[0].Node
	for _, l := range legs[1:] {
		if l.Node != node {
			return adapters.BridgeRef{}, fmt.Errorf("bridge %s with %s: legs on different nodes cannot share a bridge: %w", legs[0], l, adapters.ErrUnsupported)
		}
	}
	a, err := p.owner(node, "bridge "+legs[0].String())
	if err != nil {
		return adapters.BridgeRef{}, err
	}
	return a.Bridge(ctx, legs...)
}

// Record implements adapters.PBX on the node of the bridge (or, with no
// bridge, of the leg).
func (p *PBX) Record(ctx context.Context, req adapters.RecordRequest) (adapters.RecordingRef, error) {
	node := req.Leg.Node
	if req.Bridge.ID != "" {
		node = req.Bridge.Node
		if !req.Leg.IsZero() && req.Leg.Node != node {
			return adapters.RecordingRef{}, fmt.Errorf("record %s: bridge %s/%s and leg %s are on different nodes: %w", req.Name, req.Bridge.Node, req.Bridge.ID, req.Leg, adapters.ErrUnsupported)
		}
	}
	a, err := p.owner(node, "record "+req.Name)
	if err != nil {
		return adapters.RecordingRef{}, err
	}
	return a.Record(ctx, req)
}

// StopRecording implements adapters.PBX on the recording's node.
func (p *PBX) StopRecording(ctx context.Context, rec adapters.RecordingRef) error {
	a, err := p.owner(rec.Node, "stop recording "+rec.Name)
	if err != nil {
		return err
	}
	return a.StopRecording(ctx, rec)
}

// PauseRecording implements adapters.PBX on the recording's node.
func (p *PBX) PauseRecording(ctx context.Context, rec adapters.RecordingRef) error {
	a, err := p.owner(rec.Node, "pause recording "+rec.Name)
	if err != nil {
		return err
	}
	return a.PauseRecording(ctx, rec)
}

// ResumeRecording implements adapters.PBX on the recording's node.
func (p *PBX) ResumeRecording(ctx context.Context, rec adapters.RecordingRef) error {
	a, err := p.owner(rec.Node, "resume recording "+rec.Name)
	if err != nil {
		return err
	}
	return a.ResumeRecording(ctx, rec)
}

// Snoop implements adapters.PBX on the target leg's node; the supervisor
// endpoint is dialled from that node, in its form.
func (p *PBX) Snoop(ctx context.Context, req adapters.SnoopRequest) (adapters.LegRef, error) {
	a, err := p.owner(req.Target.Node, "snoop on "+req.Target.String())
	if err != nil {
		return adapters.LegRef{}, err
	}
	return a.Snoop(ctx, req)
}

// SetVar implements adapters.PBX on the leg's node.
func (p *PBX) SetVar(ctx context.Context, leg adapters.LegRef, name, value string) error {
	a, err := p.owner(leg.Node, "set "+name+" on "+leg.String())
	if err != nil {
		return err
	}
	return a.SetVar(ctx, leg, name, value)
}

// Continue implements adapters.PBX on the leg's node.
func (p *PBX) Continue(ctx context.Context, leg adapters.LegRef, dialplanContext, extension string) error {
	a, err := p.owner(leg.Node, "continue "+leg.String())
	if err != nil {
		return err
	}
	return a.Continue(ctx, leg, dialplanContext, extension)
}

// Ready implements adapters.Ready: ready while at least one member is,
// degraded naming every member that is not (and what a ready member says
// of its own nodes, such as an Asterisk node down beside another).
func (p *PBX) Ready() (bool, string) {
	ready := 0
	var problems []string
	for _, m := range p.members {
		a, running, why := m.state()
		ok, detail := true, ""
		switch {
		case !running && why != "":
			ok, detail = false, "not running: "+why
		case !running:
			ok, detail = false, "not started"
		default:
			if r, has := a.(adapters.Ready); has {
				ok, detail = r.Ready()
			}
		}
		label := m.Name + " (" + strings.Join(m.Nodes, ", ") + ")"
		if ok {
			ready++
			if d, degraded := strings.CutPrefix(detail, "degraded: "); degraded {
				problems = append(problems, label+": "+d)
			}
			continue
		}
		problems = append(problems, label+": "+detail)
	}
	if ready == 0 {
		return false, "no pbx ready: " + strings.Join(problems, "; ")
	}
	if len(problems) > 0 {
		return true, "degraded: " + strings.Join(problems, "; ")
	}
	return true, "ok"
}

// Collector returns a Prometheus collector over every member that has one
// (the ARI and ESL adapters' link metrics), asking each member's current
// adapter at scrape time, so a rebuilt adapter is the one reported.
func (p *PBX) Collector() prometheus.Collector { return collector{p} }

type collector struct{ p *PBX }

type hasCollector interface{ Collector() prometheus.Collector }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.p.members {
		a, _, _ := m.state()
		if hc, ok := a.(hasCollector); ok {
			hc.Collector().Describe(ch)
		}
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.p.members {
		a, _, _ := m.state()
		if hc, ok := a.(hasCollector); ok {
			hc.Collector().Collect(ch)
		}
	}
}
