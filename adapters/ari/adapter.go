package ari

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/CyCoreSystems/ari/v6"
	"github.com/CyCoreSystems/ari/v6/client/native"
	"github.com/CyCoreSystems/ari/v6/rid"

	"github.com/switchboard-cc/switchboard/adapters"
)

// ErrTimeout means an ARI request did not answer within the request timeout.
var ErrTimeout = errors.New("ari request timed out")

// Adapter is the Asterisk implementation of adapters.PBX.
type Adapter struct {
	cfg   Config
	log   *slog.Logger
	nodes []*node
	by    map[string]*node
	out   chan adapters.Event
	q     *fifo[adapters.Event]
	seq   atomic.Uint64

	runOnce sync.Once
}

var (
	_ adapters.PBX   = (*Adapter)(nil)
	_ adapters.Ready = (*Adapter)(nil)
)

// New builds an adapter; it does not connect until Run.
func New(cfg Config, log *slog.Logger) (*Adapter, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Adapter{
		cfg: cfg,
		log: log.With("pbx", "asterisk"),
		by:  map[string]*node{},
		out: make(chan adapters.Event, 1024),
		q:   newFifo[adapters.Event](),
	}
	for _, nc := range cfg.Nodes {
		n := newNode(a, nc)
		a.nodes = append(a.nodes, n)
		a.by[nc.Name] = n
	}
	return a, nil
}

// Events implements adapters.PBX.
func (a *Adapter) Events() <-chan adapters.Event { return a.out }

// emit appends a port event to the adapter's ordered queue; never blocks.
func (a *Adapter) emit(e adapters.Event) { a.q.push(e) }

// Run connects every node and delivers events until ctx ends. It fails at
// once, naming every URL, when no node can be reached within the connect
// timeout; nodes that are down keep being retried in the background.
func (a *Adapter) Run(ctx context.Context) error {
	started := false
	a.runOnce.Do(func() { started = true })
	if !started {
		return errors.New("ari: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		defer close(a.out)
		for {
			evs, ok := a.q.popAll(ctx)
			if !ok {
				return
			}
			for _, e := range evs {
				select {
				case a.out <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()

	// First connection of every node, in parallel, bounded by ConnectTimeout.
	type result struct {
		n   *node
		err error
	}
	res := make(chan result, len(a.nodes))
	for _, n := range a.nodes {
		go func(n *node) {
			cctx, ccancel := context.WithTimeout(ctx, a.cfg.ConnectTimeout)
			defer ccancel()
			res <- result{n, n.connectOnce(cctx)}
		}(n)
	}
	var errs []error
	up := 0
	for range a.nodes {
		r := <-res
		if r.err != nil {
			errs = append(errs, r.err)
			a.log.Error("asterisk node unreachable at start", "node", r.n.cfg.Name, "url", r.n.cfg.URL, "err", r.err)
		} else {
			up++
		}
	}
	if up == 0 {
		cancel()
		for _, n := range a.nodes {
			n.closeWS()
		}
		<-pumpDone
		for _, n := range a.nodes {
			n.tr.CloseIdleConnections()
		}
		return fmt.Errorf("ari: %w: %w", adapters.ErrUnreachable, errors.Join(errs...))
	}
	var wg sync.WaitGroup
	for _, n := range a.nodes {
		wg.Add(1)
		go func(n *node) {
			defer wg.Done()
			n.run(ctx)
		}(n)
	}
	<-ctx.Done()
	for _, n := range a.nodes {
		n.closeWS()
	}
	wg.Wait()
	<-pumpDone
	for _, n := range a.nodes {
		n.tr.CloseIdleConnections()
	}
	return nil
}

// Ready implements adapters.Ready: false in standby or with no node up.
func (a *Adapter) Ready() (bool, string) {
	var down []string
	up := 0
	for _, n := range a.nodes {
		st := n.status()
		if st.Standby {
			return false, fmt.Sprintf("standby: Stasis app %q on node %s was taken over by another switchboard (ApplicationReplaced)", n.cfg.App, n.cfg.Name)
		}
		if st.Up {
			up++
		} else {
			down = append(down, n.cfg.Name)
		}
	}
	if up == 0 {
		return false, "no Asterisk node connected: " + strings.Join(down, ", ")
	}
	if len(down) > 0 {
		return true, "degraded: down: " + strings.Join(down, ", ")
	}
	return true, "ok"
}

// NodeStatus is one node's link state, for /readyz and /metrics.
type NodeStatus struct {
	Name       string
	URL        string
	Up         bool
	Standby    bool
	Err        string
	Reconnects int64
	Legs       int
	Timeouts   int64
	Events     int64
}

// Status reports every node.
func (a *Adapter) Status() []NodeStatus {
	out := make([]NodeStatus, 0, len(a.nodes))
	for _, n := range a.nodes {
		out = append(out, n.status())
	}
	return out
}

func (a *Adapter) node(name string) (*node, error) {
	if name == "" && len(a.nodes) > 0 {
		return a.nodes[0], nil
	}
	n := a.by[name]
	if n == nil {
		return nil, fmt.Errorf("ari: node %q is not configured: %w", name, adapters.ErrUnknownLeg)
	}
	return n, nil
}

func (a *Adapter) id(prefix string) string {
	return fmt.Sprintf("sb-%s-%s", prefix, rid.New(""))
}

// --- commands --------------------------------------------------------------

// Answer implements adapters.PBX.
func (a *Adapter) Answer(ctx context.Context, leg adapters.LegRef) error {
	n, err := a.node(leg.Node)
	if err != nil {
		return err
	}
	if err := n.do(ctx, "answer "+leg.ID, func(c *native.Client) error {
		return c.Channel().Answer(key(ari.ChannelKey, leg.ID))
	}); err != nil {
		return err
	}
	// Answering an Up channel is 204 with no event: take the state from
	// the command's result.
	n.markAnswered(leg.ID)
	return nil
}

// Hangup implements adapters.PBX.
func (a *Adapter) Hangup(ctx context.Context, leg adapters.LegRef, cause int) error {
	n, err := a.node(leg.Node)
	if err != nil {
		return err
	}
	n.markLocalHangup(leg.ID, cause)
	return n.do(ctx, "hangup "+leg.ID, func(c *native.Client) error {
		return c.Channel().Hangup(key(ari.ChannelKey, leg.ID), causeReason(cause))
	})
}

// Play implements adapters.PBX.
func (a *Adapter) Play(ctx context.Context, leg adapters.LegRef, media ...adapters.Media) (string, error) {
	n, err := a.node(leg.Node)
	if err != nil {
		return "", err
	}
	if len(media) == 0 {
		return "", errors.New("ari: play: no media")
	}
	uris := make([]string, 0, len(media))
	for _, m := range media {
		switch m.Kind {
		case "sound", "number", "digits", "tone", "recording", "characters":
		default:
			return "", fmt.Errorf("ari: play %s: media kind %q: %w", leg, m.Kind, adapters.ErrUnsupported)
		}
		uris = append(uris, m.Kind+":"+m.Value)
	}
	pbID := a.id("pb")
	n.trackPlayback(pbID, leg.ID)
	err = n.do(ctx, "play "+leg.ID, func(c *native.Client) error {
		_, err := c.Channel().Play(key(ari.ChannelKey, leg.ID), pbID, uris...)
		return err
	})
	if err != nil {
		n.untrackPlayback(pbID)
		return "", err
	}
	return pbID, nil
}

// StopPlayback implements adapters.PBX.
func (a *Adapter) StopPlayback(ctx context.Context, leg adapters.LegRef, playbackID string) error {
	n, err := a.node(leg.Node)
	if err != nil {
		return err
	}
	return n.do(ctx, "stop playback "+playbackID, func(c *native.Client) error {
		return c.Playback().Stop(key(ari.PlaybackKey, playbackID))
	})
}

// StartHold implements adapters.PBX: channel music on hold.
func (a *Adapter) StartHold(ctx context.Context, leg adapters.LegRef, class string) error {
	n, err := a.node(leg.Node)
	if err != nil {
		return err
	}
	if class == "" {
		class = a.cfg.MOHClass
	}
	return n.do(ctx, "moh "+leg.ID, func(c *native.Client) error {
		return c.Channel().MOH(key(ari.ChannelKey, leg.ID), class)
	})
}

// StopHold implements adapters.PBX.
func (a *Adapter) StopHold(ctx context.Context, leg adapters.LegRef) error {
	n, err := a.node(leg.Node)
	if err != nil {
		return err
	}
	return n.do(ctx, "stop moh "+leg.ID, func(c *native.Client) error {
		return c.Channel().StopMOH(key(ari.ChannelKey, leg.ID))
	})
}

// Originate implements adapters.PBX. The channel id is chosen here and
// registered before the request, because Asterisk often sends the leg's
// first events before the HTTP response.
func (a *Adapter) Originate(ctx context.Context, req adapters.OriginateRequest) (adapters.LegRef, error) {
	n, err := a.node(req.Node)
	if err != nil {
		return adapters.LegRef{}, err
	}
	role := req.Role
	if role == "" {
		role = adapters.RoleAgent
	}
	id := a.id(string(role))
	ref := adapters.LegRef{Node: n.cfg.Name, ID: id}
	if err := n.originate(ctx, id, role, req, ""); err != nil {
		return adapters.LegRef{}, err
	}
	return ref, nil
}

// Bridge implements adapters.PBX: a mixing bridge with all legs.
func (a *Adapter) Bridge(ctx context.Context, legs ...adapters.LegRef) (adapters.BridgeRef, error) {
	if len(legs) == 0 {
		return adapters.BridgeRef{}, errors.New("ari: bridge: no legs")
	}
	for _, l := range legs[1:] {
		if l.Node != legs[0].Node {
			return adapters.BridgeRef{}, fmt.Errorf("ari: bridge %s with %s: legs on different Asterisk nodes: %w", legs[0], l, adapters.ErrUnsupported)
		}
	}
	n, err := a.node(legs[0].Node)
	if err != nil {
		return adapters.BridgeRef{}, err
	}
	ids := make([]string, len(legs))
	for i, l := range legs {
		ids[i] = l.ID
	}
	bid, err := n.bridge(ctx, ids...)
	if err != nil {
		return adapters.BridgeRef{}, err
	}
	return adapters.BridgeRef{Node: n.cfg.Name, ID: bid}, nil
}

// Record implements adapters.PBX.
func (a *Adapter) Record(ctx context.Context, req adapters.RecordRequest) (adapters.RecordingRef, error) {
	nodeName := req.Bridge.Node
	if req.Bridge.ID == "" {
		nodeName = req.Leg.Node
	}
	n, err := a.node(nodeName)
	if err != nil {
		return adapters.RecordingRef{}, err
	}
	name := req.Name
	if name == "" {
		name = a.id("rec")
	}
	if strings.Contains(name, "..") || strings.ContainsAny(name, "\x00") {
		return adapters.RecordingRef{}, fmt.Errorf("ari: record: name %q: must not contain ..", name)
	}
	format := req.Format
	if format == "" {
		format = a.cfg.RecordingFormat
	}
	opts := &ari.RecordingOptions{Format: format, MaxDuration: req.MaxDuration, Exists: "fail"}
	leg := req.Leg.ID
	n.trackRecording(name, format, leg)
	err = n.do(ctx, "record "+name, func(c *native.Client) error {
		var err error
		if req.Bridge.ID != "" {
			_, err = c.Bridge().Record(key(ari.BridgeKey, req.Bridge.ID), name, opts)
		} else {
			_, err = c.Channel().Record(key(ari.ChannelKey, req.Leg.ID), name, opts)
		}
		return err
	})
	if err != nil {
		n.untrackRecording(name)
		return adapters.RecordingRef{}, err
	}
	return adapters.RecordingRef{Node: n.cfg.Name, Name: name}, nil
}

// StopRecording implements adapters.PBX.
func (a *Adapter) StopRecording(ctx context.Context, rec adapters.RecordingRef) error {
	return a.recCmd(ctx, rec, "stop", func(c *native.Client, k *ari.Key) error { return c.LiveRecording().Stop(k) })
}

// PauseRecording implements adapters.PBX (the paused stretch is left out
// of the file, for card details).
func (a *Adapter) PauseRecording(ctx context.Context, rec adapters.RecordingRef) error {
	return a.recCmd(ctx, rec, "pause", func(c *native.Client, k *ari.Key) error { return c.LiveRecording().Pause(k) })
}

// ResumeRecording implements adapters.PBX.
func (a *Adapter) ResumeRecording(ctx context.Context, rec adapters.RecordingRef) error {
	return a.recCmd(ctx, rec, "unpause", func(c *native.Client, k *ari.Key) error { return c.LiveRecording().Resume(k) })
}

func (a *Adapter) recCmd(ctx context.Context, rec adapters.RecordingRef, what string, f func(*native.Client, *ari.Key) error) error {
	n, err := a.node(rec.Node)
	if err != nil {
		return err
	}
	return n.do(ctx, what+" recording "+rec.Name, func(c *native.Client) error {
		return f(c, key(ari.LiveRecordingKey, rec.Name))
	})
}

// Snoop implements adapters.PBX: a snoop channel on the target (spy both
// ways; whisper none, out to the target only, or both for barge), and the
// supervisor's endpoint, bridged together when the supervisor answers. It
// returns the supervisor's leg; hanging it up ends the snoop.
func (a *Adapter) Snoop(ctx context.Context, req adapters.SnoopRequest) (adapters.LegRef, error) {
	n, err := a.node(req.Target.Node)
	if err != nil {
		return adapters.LegRef{}, err
	}
	whisper := ""
	switch req.Mode {
	case adapters.SnoopListen, "":
		whisper = "none"
	case adapters.SnoopWhisper:
		whisper = "out"
	case adapters.SnoopBarge:
		whisper = "both"
	default:
		return adapters.LegRef{}, fmt.Errorf("ari: snoop mode %q: %w", req.Mode, adapters.ErrUnsupported)
	}
	if req.Supervisor == "" {
		return adapters.LegRef{}, errors.New("ari: snoop: supervisor endpoint is empty")
	}
	snoopID := a.id("spy")
	supID := a.id("sup")
	n.trackSnoop(snoopID, supID, req.Target.ID)
	err = n.do(ctx, "snoop "+req.Target.ID, func(c *native.Client) error {
		_, err := c.Channel().Snoop(key(ari.ChannelKey, req.Target.ID), snoopID, &ari.SnoopOptions{
			App: n.cfg.App, AppArgs: "sb,spy", Spy: ari.DirectionBoth, Whisper: ari.Direction(whisper),
		})
		return err
	})
	if err != nil {
		n.forget(snoopID)
		n.forget(supID)
		return adapters.LegRef{}, err
	}
	if err := n.originate(ctx, supID, adapters.RoleSnoop, adapters.OriginateRequest{
		Endpoint: req.Supervisor, Tag: req.Tag, Role: adapters.RoleSnoop, Timeout: 30 * time.Second,
	}, snoopID); err != nil {
		n.hangupAsync(snoopID)
		return adapters.LegRef{}, err
	}
	return adapters.LegRef{Node: n.cfg.Name, ID: supID}, nil
}

// SetVar implements adapters.PBX.
func (a *Adapter) SetVar(ctx context.Context, leg adapters.LegRef, name, value string) error {
	n, err := a.node(leg.Node)
	if err != nil {
		return err
	}
	return n.do(ctx, "set "+name+" on "+leg.ID, func(c *native.Client) error {
		return c.Channel().SetVariable(key(ari.ChannelKey, leg.ID), name, value)
	})
}

// Continue implements adapters.PBX: the channel leaves Stasis and goes on
// in the dialplan at context,extension,1 (or its next priority when both
// are empty). Its StasisEnd is reported as a LegHungUp with Local set and
// CauseText "continued in dialplan".
func (a *Adapter) Continue(ctx context.Context, leg adapters.LegRef, dialplanContext, extension string) error {
	n, err := a.node(leg.Node)
	if err != nil {
		return err
	}
	prio := 0
	if dialplanContext != "" || extension != "" {
		prio = 1
	}
	n.markContinued(leg.ID)
	return n.do(ctx, "continue "+leg.ID, func(c *native.Client) error {
		return c.Channel().Continue(key(ari.ChannelKey, leg.ID), dialplanContext, extension, prio)
	})
}

func key(kind, id string) *ari.Key { return ari.NewKey(kind, id) }

// causeReason maps a Q.850 cause to ARI's DELETE ?reason=.
func causeReason(cause int) string {
	switch cause {
	case 17:
		return "busy"
	case 19:
		return "no_answer"
	case 18:
		return "timeout"
	case 21:
		return "rejected"
	case 1:
		return "unallocated"
	case 34, 42:
		return "congestion"
	case 26:
		return "answered_elsewhere"
	case 38:
		return "failure"
	default:
		return "normal"
	}
}
