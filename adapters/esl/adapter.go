// Package esl is switchboard's FreeSWITCH adapter: it implements the PBX
// port (package adapters) over the event socket with
// github.com/percipia/eslgo, and makes that client safe.
//
// How calls reach switchboard: the dialplan sets switchboard=true and parks
// the call; the adapter holds two inbound ESL connections (events and
// commands), sees CHANNEL_PARK and reports CallArrived. Parked calls live
// in FreeSWITCH, not in a socket to us, so they survive a restart of
// switchboard or of the ESL link and are adopted on reconnect by
// reconciling with `show channels as json`. docs/freeswitch.md explains
// the choice against the outbound `socket` application.
//
// Defences against eslgo v1.5.2 (each has a test in defences_test.go):
//   - serialized commands: one command in flight per connection (link.send);
//   - drop on timeout: a command without its reply drops and redials the
//     connection (link.send);
//   - resequencing: events are re-ordered by Event-Sequence in a short
//     window before the state machine sees them (reorder.go), and the per-leg
//     state machine is monotonic, so ANSWER never follows HANGUP;
//   - plain event format: `event plain …` (eslgo cannot parse json/xml);
//   - health probe: `api status` on each connection every HealthInterval
//     catches a reader that died silently on an unknown Content-Type;
//   - reconnect with backoff and re-subscription, then reconciliation;
//   - eslgo's printf logger bridged to slog.
package esl

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"

	"github.com/switchboard-cc/switchboard/adapters"
)

// subscribeFormat is the event format we ask for. Defence "plain event
// format": eslgo returns empty headers for json and xml events.
const subscribeFormat = "plain"

// subscribedEvents are the events the adapter needs.
var subscribedEvents = []string{
	"CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_PARK", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE",
	"CHANNEL_EXECUTE_COMPLETE", "DTMF", "RECORD_START", "RECORD_STOP", "BACKGROUND_JOB",
}

// legState only moves forward (defence "monotonic state machine").
type legState int

const (
	legNew legState = iota
	legRinging
	legAnswered
)

type leg struct {
	role       adapters.LegRole
	tag        string
	state      legState
	originated bool
	job        string
	local      bool // we asked for the hangup
	// session is the adapter's session number when we originated the leg:
	// reconciliation reports only legs from earlier sessions as vanished.
	session uint64
}

type playback struct {
	leg    string
	pieces int
}

// Adapter is the FreeSWITCH implementation of adapters.PBX.
type Adapter struct {
	cfg Config
	log *slog.Logger
	out chan adapters.Event

	ev *link
	// cmds are the command connections; commands for one leg always use
	// the same one (cmdFor), so they stay in order.
	cmds []*link

	intake    chan rawEvent
	broken    chan brokenLink
	reconcile chan struct{}
	running   atomic.Bool
	// life ends when Run's context ends; emit and background work watch it.
	life context.Context
	stop context.CancelFunc
	// outMu guards closing out against late emits from command callers.
	outMu     sync.RWMutex
	outClosed bool

	m metrics

	mu        sync.Mutex
	legs      map[string]*leg
	gone      map[string]struct{}
	goneOrder []string
	jobs      map[string]string    // Job-UUID → leg uuid
	plays     map[string]*playback // Application-UUID of the last piece → playback
	recs      map[string]string    // recording path → leg uuid
	up        bool
	downErr   string
	// session counts the sessions that came up (subscribed): the events
	// of a leg originated in the current one come on its events
	// connection, so nothing about that leg was missed.
	session uint64
}

type rawEvent struct {
	ev      *eslgo.Event
	arrived time.Time
}

type brokenLink struct {
	name string
	s    *session
	err  error
}

// maxTombstones bounds the memory of hung-up legs kept to ignore their
// late events.
const maxTombstones = 100000

// New builds an adapter from cfg (defaults filled in); it does not
// connect: Run does.
func New(cfg Config, log *slog.Logger) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.Node)
	a := &Adapter{
		cfg:       cfg,
		log:       log,
		out:       make(chan adapters.Event, cfg.EventBuffer),
		intake:    make(chan rawEvent, 65536),
		broken:    make(chan brokenLink, 16),
		reconcile: make(chan struct{}, 1),
		legs:      map[string]*leg{},
		gone:      map[string]struct{}{},
		jobs:      map[string]string{},
		plays:     map[string]*playback{},
		recs:      map[string]string{},
	}
	onBroken := func(name string, s *session, err error) {
		a.m.drops.Add(1)
		a.broken <- brokenLink{name, s, err}
	}
	a.life, a.stop = context.WithCancel(context.Background())
	a.ev = &link{name: "events", log: log, timeout: cfg.CommandTimeout, onBroken: onBroken}
	for i := range cfg.CommandConns {
		a.cmds = append(a.cmds, &link{name: fmt.Sprintf("commands-%d", i), log: log, timeout: cfg.CommandTimeout, onBroken: onBroken})
	}
	return a, nil
}

// Events implements adapters.PBX.
func (a *Adapter) Events() <-chan adapters.Event { return a.out }

// Ready implements adapters.Ready.
func (a *Adapter) Ready() (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.up {
		return true, ""
	}
	if a.downErr == "" {
		return false, "freeswitch " + a.cfg.Addr + " not connected"
	}
	return false, "freeswitch " + a.cfg.Addr + ": " + a.downErr
}

// Run implements adapters.PBX: it connects both links, subscribes,
// reconciles and then keeps them alive until ctx ends.
func (a *Adapter) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("esl: Run called twice")
	}
	defer func() {
		a.stop()
		a.outMu.Lock()
		a.outClosed = true
		close(a.out)
		a.outMu.Unlock()
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			a.stop()
		case <-a.life.Done():
		}
	}()

	evc, cmdc, err := a.dialSession(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.eventLoop(ctx) }()
	go func() { defer wg.Done(); a.healthLoop(ctx) }()
	defer wg.Wait()
	defer func() {
		for _, l := range a.links() {
			l.drop(nil, errors.New("shutting down"))
		}
	}()

	if err := a.startSession(ctx, evc, cmdc); err != nil {
		a.teardown(err)
		return fmt.Errorf("freeswitch event socket %s: %w", a.cfg.Addr, err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case b := <-a.broken:
			current := a.linkByName(b.name).current()
			if current != nil && current != b.s {
				continue // a stale report about a connection already replaced
			}
			a.teardown(b.err)
			if !a.redial(ctx) {
				return nil
			}
		}
	}
}

func (a *Adapter) linkByName(name string) *link {
	for _, l := range a.links() {
		if l.name == name {
			return l
		}
	}
	return a.ev
}

// links returns the events link and every command link.
func (a *Adapter) links() []*link { return append([]*link{a.ev}, a.cmds...) }

// cmdFor picks the command connection for a leg (or any key): the same
// key always gets the same connection.
func (a *Adapter) cmdFor(key string) *link {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return a.cmds[h.Sum32()%uint32(len(a.cmds))]
}

// teardown drops both connections and reports the node down.
func (a *Adapter) teardown(err error) {
	for _, l := range a.links() {
		l.drop(nil, err)
	}
	// drain the reports the drops just produced
	for {
		select {
		case <-a.broken:
			continue
		default:
		}
		break
	}
	a.mu.Lock()
	wasUp := a.up
	a.up = false
	a.downErr = err.Error()
	a.mu.Unlock()
	if wasUp {
		a.emit(adapters.NodeState{Base: adapters.Base{At: time.Now()}, Node: a.cfg.Node, Up: false, Err: err.Error()})
	}
}

// redial reconnects with exponential backoff until it succeeds or ctx ends.
// Defence "reconnect with backoff and re-subscription".
func (a *Adapter) redial(ctx context.Context) bool {
	d := a.cfg.ReconnectMin
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
		}
		evc, cmdc, err := a.dialSession(ctx)
		if err == nil {
			if err = a.startSession(ctx, evc, cmdc); err == nil {
				a.m.reconnects.Add(1)
				return true
			}
			a.teardown(err)
		}
		d = backoff(d, a.cfg.ReconnectMax)
		a.log.Warn("freeswitch redial failed", "addr", a.cfg.Addr, "err", err, "retry_in", d)
	}
}

// backoff is the wait before the next redial after waiting d: doubled, up
// to max, so a FreeSWITCH that is down is not hammered and one that comes
// back is found within max.
func backoff(d, max time.Duration) time.Duration {
	return min(d*2, max)
}

// dialSession dials the events connection and the command connections.
func (a *Adapter) dialSession(ctx context.Context) (*session, []*session, error) {
	evs, err := a.dial(ctx, a.ev)
	if err != nil {
		return nil, nil, err
	}
	var cmds []*session
	for _, l := range a.cmds {
		s, err := a.dial(ctx, l)
		if err != nil {
			evs.close()
			for _, c := range cmds {
				c.close()
			}
			return nil, nil, err
		}
		cmds = append(cmds, s)
	}
	return evs, cmds, nil
}

// dial opens one authenticated inbound connection within ConnectTimeout.
func (a *Adapter) dial(ctx context.Context, l *link) (*session, error) {
	s, err := dialESL(ctx, a.cfg.Addr, a.cfg.Password, a.cfg.ConnectTimeout, slogLogger{log: a.log.With("link", l.name)})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, dialError(a.cfg.Addr, err)
	}
	return s, nil
}

// ErrAuth means FreeSWITCH refused the event socket password.
var ErrAuth = errors.New("freeswitch refused the event socket password")

func dialError(addr string, err error) error {
	if strings.Contains(err.Error(), "failed to auth") {
		return fmt.Errorf("freeswitch event socket %s: %w (check pbx.freeswitch.password / SWITCHBOARD_ESL_PASSWORD): %w", addr, ErrAuth, adapters.ErrUnreachable)
	}
	return fmt.Errorf("freeswitch event socket %s: %v: %w", addr, err, adapters.ErrUnreachable)
}

// startSession installs fresh connections, registers the event listener,
// subscribes in plain format and asks the event loop to reconcile.
func (a *Adapter) startSession(ctx context.Context, evc *session, cmdc []*session) error {
	evc.conn.RegisterEventListener(eslgo.EventListenAll, func(e *eslgo.Event) {
		select {
		case a.intake <- rawEvent{ev: e, arrived: time.Now()}:
		case <-ctx.Done():
		}
	})
	a.ev.attach(evc)
	for i, l := range a.cmds {
		l.attach(cmdc[i])
	}
	resp, err := a.ev.send(ctx, command.Event{Format: subscribeFormat, Listen: subscribedEvents})
	if err != nil {
		return fmt.Errorf("subscribing to events: %w", err)
	}
	if !resp.IsOk() {
		return fmt.Errorf("subscribing to events: freeswitch said %q", resp.GetReply())
	}
	if err := a.heartbeat(ctx); err != nil {
		return err
	}
	a.mu.Lock()
	a.up, a.downErr = true, ""
	a.session++
	a.mu.Unlock()
	a.log.Info("freeswitch connected", "addr", a.cfg.Addr)
	a.emit(adapters.NodeState{Base: adapters.Base{At: time.Now()}, Node: a.cfg.Node, Up: true})
	select {
	case a.reconcile <- struct{}{}:
	default:
	}
	return nil
}

// heartbeat sets the global variable the sample dialplan reads to decide
// between parking a call for switchboard and the fallback.
func (a *Adapter) heartbeat(ctx context.Context) error {
	_, err := a.cmds[0].api(ctx, "global_setvar", a.cfg.HeartbeatVar+"="+strconv.FormatInt(time.Now().Unix(), 10))
	if err != nil {
		return fmt.Errorf("setting heartbeat %s: %w", a.cfg.HeartbeatVar, err)
	}
	return nil
}

// healthLoop probes both connections with `api status`. Defence "health
// probe": when eslgo's reader has died (unknown Content-Type), no reply
// comes, the probe times out and the link is dropped and redialed.
func (a *Adapter) healthLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, l := range a.links() {
			if !l.connected() {
				continue
			}
			hctx, cancel := context.WithTimeout(ctx, a.cfg.HealthTimeout)
			if _, err := l.api(hctx, "status", ""); err != nil && ctx.Err() == nil {
				a.log.Warn("freeswitch health probe failed", "link", l.name, "err", err)
			}
			cancel()
		}
		if a.cmds[0].connected() {
			if err := a.heartbeat(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("freeswitch heartbeat failed", "err", err)
			}
		}
	}
}

// emit delivers events in order; it blocks rather than drop, until Run
// ends (after which events are discarded: nobody reads them).
func (a *Adapter) emit(evs ...adapters.Event) {
	a.outMu.RLock()
	defer a.outMu.RUnlock()
	if a.outClosed {
		return
	}
	for _, e := range evs {
		select {
		case a.out <- e:
		case <-a.life.Done():
			return
		}
	}
}

func (a *Adapter) ref(id string) adapters.LegRef { return adapters.LegRef{Node: a.cfg.Node, ID: id} }

// buryLocked forgets a leg and remembers that it is gone, so late events
// about it are ignored.
func (a *Adapter) buryLocked(id string) {
	if l, ok := a.legs[id]; ok && l.job != "" {
		delete(a.jobs, l.job)
	}
	delete(a.legs, id)
	if _, ok := a.gone[id]; ok {
		return
	}
	a.gone[id] = struct{}{}
	a.goneOrder = append(a.goneOrder, id)
	if len(a.goneOrder) > maxTombstones {
		delete(a.gone, a.goneOrder[0])
		a.goneOrder = a.goneOrder[1:]
	}
}

// apply runs one event through the per-leg state machine and returns the
// port events it produces.
func (a *Adapter) apply(ev fsEvent) []adapters.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	base := adapters.Base{Ref: a.ref(ev.UUID), At: ev.At}

	switch ev.Name {
	case "BACKGROUND_JOB":
		id, ok := a.jobs[ev.JobUUID]
		if !ok {
			return nil
		}
		delete(a.jobs, ev.JobUUID)
		good, cause := jobResult(ev.Body)
		l := a.legs[id]
		if good || l == nil {
			return nil
		}
		a.buryLocked(id)
		return []adapters.Event{adapters.OriginateFailed{Base: adapters.Base{Ref: a.ref(id), At: ev.At}, Tag: l.tag, Cause: causeCode(cause), Reason: cause}}
	case "RECORD_START", "RECORD_STOP":
		// Recording events are keyed by path and may follow the hangup.
		id, ok := a.recs[ev.RecordPath]
		if !ok {
			return nil
		}
		rec := adapters.RecordingRef{Node: a.cfg.Node, Name: ev.RecordPath}
		format := strings.TrimPrefix(path.Ext(ev.RecordPath), ".")
		base.Ref = a.ref(id)
		if ev.Name == "RECORD_START" {
			return []adapters.Event{adapters.RecordingStarted{Base: base, Recording: rec, Format: format, Path: ev.RecordPath}}
		}
		delete(a.recs, ev.RecordPath)
		return []adapters.Event{adapters.RecordingFinished{Base: base, Recording: rec, Format: format, Path: ev.RecordPath, Duration: ev.RecordSecs}}
	}
	if ev.UUID == "" {
		return nil
	}
	if _, dead := a.gone[ev.UUID]; dead {
		return nil // monotonic: nothing brings a hung-up leg back
	}
	l := a.legs[ev.UUID]
	switch ev.Name {
	case "CHANNEL_PARK":
		if l != nil || ev.Arrival != "true" {
			return nil
		}
		l = &leg{role: adapters.RoleCaller, state: legRinging}
		if ev.AnswerState == "answered" {
			l.state = legAnswered
		}
		a.legs[ev.UUID] = l
		return []adapters.Event{adapters.CallArrived{Base: base, CallerNumber: ev.CallerNum, CallerName: ev.CallerName,
			DialedNumber: ev.Dest, Vars: ev.Vars, Answered: l.state == legAnswered}}
	case "CHANNEL_CREATE":
		if l != nil && l.state < legRinging {
			l.state = legRinging
		}
	case "CHANNEL_ANSWER":
		if l == nil || l.state >= legAnswered {
			return nil
		}
		l.state = legAnswered
		return []adapters.Event{adapters.LegAnswered{Base: base, Tag: l.tag}}
	case "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE":
		if l == nil {
			return nil
		}
		a.buryLocked(ev.UUID)
		if l.originated && l.state < legAnswered {
			return []adapters.Event{adapters.OriginateFailed{Base: base, Tag: l.tag, Cause: ev.Q850, Reason: ev.HangupCause}}
		}
		return []adapters.Event{adapters.LegHungUp{Base: base, Cause: ev.Q850, CauseText: ev.HangupCause, Local: l.local, Tag: l.tag}}
	case "DTMF":
		if l == nil || ev.Digit == "" {
			return nil
		}
		return []adapters.Event{adapters.DTMFReceived{Base: base, Digit: ev.Digit, Duration: ev.DigitDur}}
	case "CHANNEL_EXECUTE_COMPLETE":
		p, ok := a.plays[ev.AppUUID]
		if ev.AppUUID == "" || !ok {
			return nil
		}
		delete(a.plays, ev.AppUUID)
		id, _, _ := strings.Cut(ev.AppUUID, "#")
		return []adapters.Event{adapters.PlaybackFinished{Base: adapters.Base{Ref: a.ref(p.leg), At: ev.At}, PlaybackID: id}}
	}
	return nil
}

// ---- commands (adapters.PBX) ----

// legID checks that a ref belongs to this node and is safe on a command line.
func (a *Adapter) legID(l adapters.LegRef) (string, error) {
	if l.Node != "" && l.Node != a.cfg.Node {
		return "", fmt.Errorf("leg %s belongs to node %q, not %q: %w", l, l.Node, a.cfg.Node, adapters.ErrUnknownLeg)
	}
	if !namePattern.MatchString(l.ID) {
		return "", fmt.Errorf("leg id %q: %w", l.ID, adapters.ErrUnknownLeg)
	}
	return l.ID, nil
}

// Answer implements adapters.PBX (uuid_answer); LegAnswered follows once.
func (a *Adapter) Answer(ctx context.Context, l adapters.LegRef) error {
	id, err := a.legID(l)
	if err != nil {
		return err
	}
	if _, err := a.cmdFor(id).api(ctx, "uuid_answer", id); err != nil {
		return err
	}
	// FreeSWITCH raises no CHANNEL_ANSWER for a leg already up; report the
	// answer from the command's result (once: the state machine drops the
	// event's duplicate).
	a.mu.Lock()
	lg, ok := a.legs[id]
	emit := ok && lg.state < legAnswered
	if emit {
		lg.state = legAnswered
	}
	a.mu.Unlock()
	if emit {
		a.emit(adapters.LegAnswered{Base: adapters.Base{Ref: a.ref(id), At: time.Now()}, Tag: lg.tag})
	}
	return nil
}

// Hangup implements adapters.PBX; cause is Q.850 (0 = normal clearing).
func (a *Adapter) Hangup(ctx context.Context, l adapters.LegRef, cause int) error {
	id, err := a.legID(l)
	if err != nil {
		return err
	}
	if cause == 0 {
		cause = 16
	}
	a.mu.Lock()
	if lg, ok := a.legs[id]; ok {
		lg.local = true
	}
	a.mu.Unlock()
	_, err = a.cmdFor(id).api(ctx, "uuid_kill", id+" "+causeName(cause))
	return err
}

// mediaArg maps one port prompt to a FreeSWITCH application and argument.
func (a *Adapter) mediaArg(m adapters.Media) (app, arg string, err error) {
	if err := safeLine("media "+m.Kind, m.Value); err != nil {
		return "", "", err
	}
	switch m.Kind {
	case "sound", "":
		if m.Value == "" {
			return "", "", errors.New("media sound: empty value")
		}
		return "playback", m.Value, nil
	case "number", "digits":
		if _, err := strconv.ParseInt(m.Value, 10, 64); err != nil {
			return "", "", fmt.Errorf("media %s %q is not a whole number", m.Kind, m.Value)
		}
		mode := "pronounced"
		if m.Kind == "digits" {
			mode = "iterated"
		}
		return "say", a.cfg.SayLanguage + " number " + mode + " " + m.Value, nil
	case "tone":
		return "playback", "tone_stream://" + m.Value, nil
	}
	return "", "", fmt.Errorf("media kind %q: %w", m.Kind, adapters.ErrUnsupported)
}

// Play implements adapters.PBX: each prompt is a sendmsg execute with its
// own Event-UUID; PlaybackFinished follows the last prompt's
// CHANNEL_EXECUTE_COMPLETE.
func (a *Adapter) Play(ctx context.Context, l adapters.LegRef, media ...adapters.Media) (string, error) {
	id, err := a.legID(l)
	if err != nil {
		return "", err
	}
	if len(media) == 0 {
		return "", errors.New("play: no media")
	}
	type piece struct{ app, arg string }
	pieces := make([]piece, len(media))
	for i, m := range media {
		if pieces[i].app, pieces[i].arg, err = a.mediaArg(m); err != nil {
			return "", fmt.Errorf("play on %s: %w", l, err)
		}
	}
	pid := newUUID()
	last := fmt.Sprintf("%s#%d", pid, len(pieces)-1)
	a.mu.Lock()
	a.plays[last] = &playback{leg: id, pieces: len(pieces)}
	a.mu.Unlock()
	for i, p := range pieces {
		resp, err := a.cmdFor(id).send(ctx, sendmsg{uuid: id, app: p.app, arg: p.arg, eventUUID: fmt.Sprintf("%s#%d", pid, i)})
		if err == nil {
			err = replyError("sendmsg "+id, resp.GetReply())
		}
		if err != nil {
			a.mu.Lock()
			delete(a.plays, last)
			a.mu.Unlock()
			return "", fmt.Errorf("play on %s: %w", l, err)
		}
	}
	return pid, nil
}

// StopPlayback implements adapters.PBX (uuid_break all) and reports the
// playback finished.
func (a *Adapter) StopPlayback(ctx context.Context, l adapters.LegRef, playbackID string) error {
	id, err := a.legID(l)
	if err != nil {
		return err
	}
	if _, err := a.cmdFor(id).api(ctx, "uuid_break", id+" all"); err != nil {
		return err
	}
	a.mu.Lock()
	found := false
	for k := range a.plays {
		if strings.HasPrefix(k, playbackID+"#") {
			delete(a.plays, k)
			found = true
		}
	}
	a.mu.Unlock()
	if found {
		a.emit(adapters.PlaybackFinished{Base: adapters.Base{Ref: l, At: time.Now()}, PlaybackID: playbackID})
	}
	return nil
}

// StartHold implements adapters.PBX: music on hold with uuid_broadcast.
func (a *Adapter) StartHold(ctx context.Context, l adapters.LegRef, class string) error {
	id, err := a.legID(l)
	if err != nil {
		return err
	}
	stream := a.cfg.MOHStream
	if class != "" {
		if !namePattern.MatchString(class) {
			return fmt.Errorf("hold class %q may hold only letters, digits, '.', '_' and '-'", class)
		}
		stream = "local_stream://" + class
	}
	_, err = a.cmdFor(id).api(ctx, "uuid_broadcast", id+" "+stream+" aleg")
	return err
}

// StopHold implements adapters.PBX (uuid_break all).
func (a *Adapter) StopHold(ctx context.Context, l adapters.LegRef) error {
	id, err := a.legID(l)
	if err != nil {
		return err
	}
	_, err = a.cmdFor(id).api(ctx, "uuid_break", id+" all")
	return err
}

// Originate implements adapters.PBX with bgapi and an origination_uuid and
// Job-UUID we choose, so every event of the new leg is recognised.
func (a *Adapter) Originate(ctx context.Context, req adapters.OriginateRequest) (adapters.LegRef, error) {
	if req.Node != "" && req.Node != a.cfg.Node {
		return adapters.LegRef{}, fmt.Errorf("originate on node %q from adapter %q: %w", req.Node, a.cfg.Node, adapters.ErrUnknownLeg)
	}
	role := req.Role
	if role == "" {
		role = adapters.RoleAgent
	}
	// A bare extension is rendered in this node's form (agent_endpoint), so
	// one agent definition works from every node of a mixed floor.
	return a.originate(ctx, a.cfg.endpoint(req.Endpoint), req.CallerIDNumber, req.CallerIDName, req.Timeout, req.Tag, role, req.Vars, "park()")
}

func (a *Adapter) originate(ctx context.Context, endpoint, cidNum, cidName string, timeout time.Duration, tag string, role adapters.LegRole, extra map[string]string, app string) (adapters.LegRef, error) {
	if err := safeArg("endpoint", endpoint); err != nil {
		return adapters.LegRef{}, fmt.Errorf("originate: %w", err)
	}
	id, job := newUUID(), newUUID()
	vars := [][2]string{{"origination_uuid", id}, {varPrefix + "role", string(role)}}
	if tag != "" {
		vars = append(vars, [2]string{varPrefix + "tag", tag})
	}
	if cidNum != "" {
		vars = append(vars, [2]string{"origination_caller_id_number", cidNum})
	}
	if cidName != "" {
		vars = append(vars, [2]string{"origination_caller_id_name", cidName})
	}
	if timeout > 0 {
		vars = append(vars, [2]string{"originate_timeout", strconv.Itoa(int(math.Ceil(timeout.Seconds())))})
	}
	for k, v := range extra {
		vars = append(vars, [2]string{k, v})
	}
	parts := make([]string, 0, len(vars))
	for _, kv := range vars {
		s, err := originateVar(kv[0], kv[1])
		if err != nil {
			return adapters.LegRef{}, fmt.Errorf("originate %s: %w", endpoint, err)
		}
		parts = append(parts, s)
	}
	args := "{" + strings.Join(parts, ",") + "}" + endpoint + " &" + app
	a.mu.Lock()
	a.legs[id] = &leg{role: role, tag: tag, originated: true, job: job, session: a.session}
	a.jobs[job] = id
	a.mu.Unlock()
	resp, err := a.cmdFor(id).send(ctx, bgapi{cmd: "originate", args: args, job: job})
	if err == nil && !resp.IsOk() {
		err = fmt.Errorf("freeswitch bgapi originate %s: %s", endpoint, resp.GetReply())
	}
	if err != nil {
		a.mu.Lock()
		delete(a.legs, id)
		delete(a.jobs, job)
		a.mu.Unlock()
		return adapters.LegRef{}, err
	}
	return a.ref(id), nil
}

// Bridge implements adapters.PBX with uuid_bridge; FreeSWITCH bridges two
// legs, and the first leg stands for the bridge.
func (a *Adapter) Bridge(ctx context.Context, legs ...adapters.LegRef) (adapters.BridgeRef, error) {
	if len(legs) != 2 {
		return adapters.BridgeRef{}, fmt.Errorf("bridge of %d legs: freeswitch uuid_bridge joins exactly two: %w", len(legs), adapters.ErrUnsupported)
	}
	x, err := a.legID(legs[0])
	if err != nil {
		return adapters.BridgeRef{}, err
	}
	y, err := a.legID(legs[1])
	if err != nil {
		return adapters.BridgeRef{}, err
	}
	// FreeSWITCH answers "+OK <second uuid>": a reply naming another leg
	// was meant for another command (see replyFits).
	fits := func(reply string) bool {
		return strings.HasPrefix(reply, "-") || strings.TrimSpace(reply) == "+OK "+y
	}
	if _, err := a.cmdFor(x).apiChecked(ctx, "uuid_bridge", x+" "+y, fits); err != nil {
		return adapters.BridgeRef{}, err
	}
	return adapters.BridgeRef{Node: a.cfg.Node, ID: x}, nil
}

// Record implements adapters.PBX with uuid_record start on the bridge's A
// leg (or the leg); the recording is named by its path.
func (a *Adapter) Record(ctx context.Context, req adapters.RecordRequest) (adapters.RecordingRef, error) {
	target := adapters.LegRef(req.Bridge)
	if target.ID == "" {
		target = req.Leg
	}
	id, err := a.legID(target)
	if err != nil {
		return adapters.RecordingRef{}, err
	}
	if !namePattern.MatchString(req.Name) {
		return adapters.RecordingRef{}, fmt.Errorf("recording name %q may hold only letters, digits, '.', '_' and '-'", req.Name)
	}
	format := req.Format
	if format == "" {
		format = a.cfg.RecordingFormat
	}
	if !namePattern.MatchString(format) {
		return adapters.RecordingRef{}, fmt.Errorf("recording format %q", format)
	}
	p := strings.TrimSuffix(a.cfg.RecordingDir, "/") + "/" + req.Name + "." + format
	args := id + " start " + p
	if req.MaxDuration > 0 {
		args += " " + strconv.Itoa(int(math.Ceil(req.MaxDuration.Seconds())))
	}
	a.mu.Lock()
	if _, busy := a.recs[p]; busy {
		// FreeSWITCH would open a second recorder on the same file (the
		// two overwrite each other) and report both by one path, so their
		// events could not be told apart.
		a.mu.Unlock()
		return adapters.RecordingRef{}, fmt.Errorf("recording %s is already running on node %q: pick another name", p, a.cfg.Node)
	}
	a.recs[p] = id
	a.mu.Unlock()
	if _, err := a.cmdFor(id).api(ctx, "uuid_record", args); err != nil {
		a.mu.Lock()
		delete(a.recs, p)
		a.mu.Unlock()
		return adapters.RecordingRef{}, err
	}
	return adapters.RecordingRef{Node: a.cfg.Node, Name: p}, nil
}

func (a *Adapter) recordCmd(ctx context.Context, rec adapters.RecordingRef, verb string) error {
	if rec.Node != "" && rec.Node != a.cfg.Node {
		return fmt.Errorf("recording %s on node %q: %w", rec.Name, rec.Node, adapters.ErrUnknownLeg)
	}
	a.mu.Lock()
	id, ok := a.recs[rec.Name]
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("recording %q is not running: %w", rec.Name, adapters.ErrUnknownLeg)
	}
	_, err := a.cmdFor(id).api(ctx, "uuid_record", id+" "+verb+" "+rec.Name)
	return err
}

// StopRecording implements adapters.PBX (uuid_record stop).
func (a *Adapter) StopRecording(ctx context.Context, rec adapters.RecordingRef) error {
	return a.recordCmd(ctx, rec, "stop")
}

// PauseRecording implements adapters.PBX (uuid_record mask: silence is
// written while card details are spoken).
func (a *Adapter) PauseRecording(ctx context.Context, rec adapters.RecordingRef) error {
	return a.recordCmd(ctx, rec, "mask")
}

// ResumeRecording implements adapters.PBX (uuid_record unmask).
func (a *Adapter) ResumeRecording(ctx context.Context, rec adapters.RecordingRef) error {
	return a.recordCmd(ctx, rec, "unmask")
}

// Snoop implements adapters.PBX: an originated supervisor leg running
// eavesdrop on the target; whisper lets the supervisor speak to the target
// leg (eavesdrop_whisper_aleg), barge to both sides.
func (a *Adapter) Snoop(ctx context.Context, req adapters.SnoopRequest) (adapters.LegRef, error) {
	id, err := a.legID(req.Target)
	if err != nil {
		return adapters.LegRef{}, err
	}
	vars := map[string]string{}
	switch req.Mode {
	case adapters.SnoopListen, "":
	case adapters.SnoopWhisper:
		vars["eavesdrop_whisper_aleg"] = "true"
	case adapters.SnoopBarge:
		vars["eavesdrop_whisper_aleg"] = "true"
		vars["eavesdrop_whisper_bleg"] = "true"
	default:
		return adapters.LegRef{}, fmt.Errorf("snoop mode %q: %w", req.Mode, adapters.ErrUnsupported)
	}
	return a.originate(ctx, req.Supervisor, "", "", 0, req.Tag, adapters.RoleSnoop, vars, "eavesdrop("+id+")")
}

// SetVar implements adapters.PBX (uuid_setvar).
func (a *Adapter) SetVar(ctx context.Context, l adapters.LegRef, name, value string) error {
	id, err := a.legID(l)
	if err != nil {
		return err
	}
	if !namePattern.MatchString(name) {
		return fmt.Errorf("channel variable name %q may hold only letters, digits, '.', '_' and '-'", name)
	}
	if err := safeLine("channel variable "+name, value); err != nil {
		return err
	}
	_, err = a.cmdFor(id).api(ctx, "uuid_setvar", id+" "+name+" "+value)
	return err
}

// Continue implements adapters.PBX: uuid_transfer to the extension and
// context given, or to the configured fallback. The leg is then reported
// as LegHungUp with Local set and CauseText "continued in dialplan".
func (a *Adapter) Continue(ctx context.Context, l adapters.LegRef, dialplanContext, extension string) error {
	id, err := a.legID(l)
	if err != nil {
		return err
	}
	if dialplanContext == "" {
		dialplanContext = a.cfg.FallbackContext
	}
	if extension == "" {
		extension = a.cfg.FallbackExtension
	}
	if err := safeArg("context", dialplanContext); err != nil {
		return err
	}
	if err := safeArg("extension", extension); err != nil {
		return err
	}
	if _, err := a.cmdFor(id).api(ctx, "uuid_transfer", id+" "+extension+" XML "+dialplanContext); err != nil {
		return err
	}
	// The leg is the dialplan's now: report it gone for switchboard, as the
	// Asterisk adapter does on StasisEnd after continue.
	a.mu.Lock()
	lg, ok := a.legs[id]
	if ok {
		a.buryLocked(id)
	}
	a.mu.Unlock()
	if ok {
		a.emit(adapters.LegHungUp{Base: adapters.Base{Ref: a.ref(id), At: time.Now()}, Cause: 16,
			CauseText: "continued in dialplan", Local: true, Tag: lg.tag})
	}
	return nil
}

var _ adapters.PBX = (*Adapter)(nil)
var _ adapters.Ready = (*Adapter)(nil)
