package recordings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/storage"
)

// Errors callers (API, CLI) branch on.
var (
	// ErrNotAllowed means the queue's policy forbids recording (mode never).
	ErrNotAllowed = errors.New("recording not allowed by the queue's policy")
	// ErrNoCall means the call is not bridged (or not known) here.
	ErrNoCall = errors.New("call is not bridged on this switchboard")
	// ErrAlreadyRecording means the call has a running recording.
	ErrAlreadyRecording = errors.New("call is already being recorded")
	// ErrNotRecording means an agent has no running recording to act on.
	ErrNotRecording = errors.New("no running recording")
)

// Store is what the service needs from storage (storage.Store satisfies it).
type Store interface {
	Recording(ctx context.Context, id string) (*storage.Recording, error)
	RecordingByPBXName(ctx context.Context, node, name string) (*storage.Recording, error)
	RecordingsOfCall(ctx context.Context, callID string) ([]storage.Recording, error)
	ActiveRecordings(ctx context.Context, node string) ([]storage.Recording, error)
	PendingRecordings(ctx context.Context, node string) ([]storage.Recording, error)
}

// Journal carries the service's writes to the database (storage.Journal
// satisfies it): on local disk first, in the database when it answers, in
// order, replayed after a restart. The service never writes recording
// rows to the database itself, so a database outage neither stops a
// recording nor loses the PBX's facts about one, and no event waits for
// the database.
type Journal interface {
	Append(rec storage.Record)
	// Flush waits until what was appended is in the database, or ctx
	// ends.
	Flush(ctx context.Context) error
}

// startFlushWait bounds how long an on-demand start waits for its row to
// reach the database: long enough that a supervisor's next `recordings
// show ID` finds it when the database is up, short enough that an outage
// does not hold the request (the recording runs either way; the row
// follows when the database is back).
const startFlushWait = 3 * time.Second

// Recorder is the part of the PBX port the service drives
// (adapters.PBX satisfies it).
type Recorder interface {
	Play(ctx context.Context, leg adapters.LegRef, media ...adapters.Media) (string, error)
	Record(ctx context.Context, req adapters.RecordRequest) (adapters.RecordingRef, error)
	StopRecording(ctx context.Context, rec adapters.RecordingRef) error
	PauseRecording(ctx context.Context, rec adapters.RecordingRef) error
	ResumeRecording(ctx context.Context, rec adapters.RecordingRef) error
}

// Deps are what a Service joins.
type Deps struct {
	PBX   Recorder
	Store Store
	// Journal takes every write of a recording row (required).
	Journal Journal
	Log     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// CommandTimeout bounds each PBX command and database write (default 5 s).
	CommandTimeout time.Duration
	// AnnounceTimeout is how long to wait for the announcement to finish
	// before recording starts anyway (default 30 s).
	AnnounceTimeout time.Duration
}

// Service applies the recording policy to bridged calls and keeps each
// recording's metadata from the PBX's own events. It implements
// controller.Observer: Observe only queues the event; Run works the queue
// on its own goroutine, so the controller loop never waits on the PBX or
// the database.
type Service struct {
	cfg   Config
	tpls  map[string]Template
	pbx   Recorder
	store Store
	jr    Journal
	log   *slog.Logger
	now   func() time.Time
	cmdTO time.Duration
	annTO time.Duration

	qmu    sync.Mutex
	queue  []controller.CallEvent
	busy   bool // a batch is being handled (guarded by qmu)
	signal chan struct{}
	// The database lane (guarded by qmu): events that need a database
	// read — about a recording an earlier run started, and the PBX's
	// (re)connect, whose reconciliation reads the node's rows — are worked
	// on a goroutine of their own, in order, so a database that is slow
	// or away never holds the events of this process's own recordings.
	dbq      []dbItem
	dbBusy   bool
	dbSignal chan struct{}
	// due are reconciliations the database could not answer, by node
	// (the latest (re)connect wins), retried with a backoff on the
	// database lane until it does.
	due map[string]dbItem

	mu       sync.Mutex
	calls    map[string]*bridged // by call id, while bridged
	byName   map[string]string   // node/name (rendered name and PBX name) → recording id
	refs     map[string]adapters.RecordingRef
	announce map[string]*pendingStart // by playback id
	// rows are this process's recordings from their create until they end,
	// as last written: PBX events about them are settled from memory, so
	// they need no database read and a row whose create is still in the
	// journal (database away) is found all the same.
	rows map[string]storage.Recording
	// names are, per call while it lasts, the names of every recording
	// this process started on it (and, once read, an earlier run's):
	// the duplicate-name check of a bridge is answered from them.
	names map[string]*callNames
	// listed are the legs each node listed live at its last (re)connect,
	// by node then leg id: a call on one of them may have been recorded
	// by an earlier run (or another switchboard), which only the database
	// knows. Any other call began while this process was connected.
	listed map[string]map[string]bool
	// open are the open pause spans of the recordings in rows (as
	// journalled), pausing the recordings a pause or resume is acting on.
	open    map[string]storage.PauseSpan
	pausing map[string]bool
}

// callNames is what the service knows of the recording names one call
// used.
type callNames struct {
	used map[string]bool // node/name
	// read: an earlier run's names are in used (the database answered);
	// unknown: the database could not say, so every new name takes the
	// suffix rather than be asked again.
	read, unknown bool
}

type bridged struct {
	ev          controller.CallEvent
	recordingID string // the running recording, if any
}

// dbItem is an event on the database lane. For a (re)connect, known
// holds the recordings this process held in flight when it came: one it
// started later (the reconnect's list of live legs cannot show its call)
// is its own to follow, never reconciliation's.
type dbItem struct {
	ev    controller.CallEvent
	known map[string]bool
	// reason is the policy's, for a bridged call whose name check needs
	// the database.
	reason string
}

// Reconciliation retry backoff while the database does not answer.
const (
	reconcileRetryMin = 250 * time.Millisecond
	reconcileRetryMax = 10 * time.Second
)

// pendingStart is a recording waiting for its announcement to end. Its
// row (status pending) is in the database, so a restart finds it again
// (onReconciled); a restored one has no playback id of this process and
// is matched by its caller leg instead.
type pendingStart struct {
	call     controller.CallEvent
	row      *storage.Recording
	deadline time.Time
	restored bool
}

// New checks the configuration and builds a service.
func New(cfg Config, d Deps) (*Service, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, tpls: map[string]Template{}, pbx: d.PBX, store: d.Store, jr: d.Journal, log: d.Log, now: d.Now,
		cmdTO: d.CommandTimeout, annTO: d.AnnounceTimeout, signal: make(chan struct{}, 1), dbSignal: make(chan struct{}, 1), due: map[string]dbItem{},
		calls: map[string]*bridged{}, byName: map[string]string{}, refs: map[string]adapters.RecordingRef{},
		announce: map[string]*pendingStart{}, rows: map[string]storage.Recording{}, names: map[string]*callNames{}, listed: map[string]map[string]bool{},
		open: map[string]storage.PauseSpan{}, pausing: map[string]bool{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cmdTO <= 0 {
		s.cmdTO = 5 * time.Second
	}
	if s.annTO <= 0 {
		s.annTO = 30 * time.Second
	}
	for n, nc := range cfg.Nodes {
		t, _ := ParseTemplate(nc.Template) // validated above
		s.tpls[n] = t
	}
	if s.pbx == nil || s.store == nil || s.jr == nil {
		return nil, fmt.Errorf("recordings: service needs a PBX, a store and a journal")
	}
	return s, nil
}

// RecordingOfAgent returns the running recording of the call an agent is
// bridged to ("" when there is none this service knows of).
func (s *Service) RecordingOfAgent(agentID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.calls {
		if b.ev.AgentID == agentID && b.recordingID != "" {
			return b.recordingID
		}
	}
	return ""
}

// Config returns the service's configuration (defaults applied).
func (s *Service) Config() Config { return s.cfg }

// Observe implements controller.Observer. It never blocks.
func (s *Service) Observe(ev controller.CallEvent) {
	switch ev.Kind {
	case controller.EventBridged, controller.EventEnded, controller.EventAbandoned, controller.EventExited, controller.EventPBX:
	default:
		return
	}
	if ev.Kind == controller.EventPBX {
		switch deref(ev.PBXEvent).(type) {
		case adapters.RecordingStarted, adapters.RecordingFinished, adapters.RecordingFailed, adapters.Reconciled, adapters.PlaybackFinished:
		default:
			return
		}
		ev.PBXEvent = deref(ev.PBXEvent)
	}
	s.qmu.Lock()
	s.queue = append(s.queue, ev)
	s.qmu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// Run works the event queue until ctx ends, and the database lane on a
// goroutine of its own.
func (s *Service) Run(ctx context.Context) error {
	slow := make(chan struct{})
	go func() { defer close(slow); s.runDB(ctx) }()
	defer func() { <-slow }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s.qmu.Lock()
		batch := s.queue
		s.queue = nil
		s.busy = len(batch) > 0
		s.qmu.Unlock()
		for _, ev := range batch {
			s.handle(ctx, ev)
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.signal:
		case <-tick.C:
			s.expireAnnouncements(ctx)
		}
	}
}

// runDB works the database lane until ctx ends: events in order, and
// the reconciliations the database could not answer, retried with a
// backoff (0.25 s doubling to 10 s) until it does.
func (s *Service) runDB(ctx context.Context) {
	backoff := reconcileRetryMin
	retry := time.NewTimer(backoff)
	retry.Stop()
	armed := false
	for {
		s.qmu.Lock()
		batch := s.dbq
		s.dbq = nil
		s.dbBusy = len(batch) > 0
		s.qmu.Unlock()
		for _, it := range batch {
			s.handleDB(ctx, it)
		}
		if len(batch) > 0 {
			continue
		}
		if !armed && s.reconcileDue() {
			retry.Reset(backoff)
			armed = true
		}
		select {
		case <-ctx.Done():
			retry.Stop()
			return
		case <-s.dbSignal:
		case <-retry.C:
			armed = false
			if s.retryReconcile(ctx) {
				backoff = reconcileRetryMin
			} else {
				backoff = min(2*backoff, reconcileRetryMax)
			}
		}
	}
}

// Idle reports whether every observed event has been handled (a
// reconciliation waiting for the database to answer is not an event).
func (s *Service) Idle() bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.queue) == 0 && !s.busy && len(s.dbq) == 0 && !s.dbBusy
}

// ReconcileDue reports whether a reconciliation waits for the database.
func (s *Service) ReconcileDue() bool { return s.reconcileDue() }

func (s *Service) reconcileDue() bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.due) > 0
}

// Drain handles every queued event now, on both lanes (tests, shutdown).
func (s *Service) Drain(ctx context.Context) {
	for {
		s.qmu.Lock()
		batch := s.queue
		s.queue = nil
		s.qmu.Unlock()
		for _, ev := range batch {
			s.handle(ctx, ev)
		}
		s.qmu.Lock()
		slow := s.dbq
		s.dbq = nil
		s.qmu.Unlock()
		for _, it := range slow {
			s.handleDB(ctx, it)
		}
		if len(batch) == 0 && len(slow) == 0 {
			return
		}
	}
}

// toDB hands an event to the database lane.
func (s *Service) toDB(it dbItem) {
	s.qmu.Lock()
	s.dbq = append(s.dbq, it)
	s.qmu.Unlock()
	select {
	case s.dbSignal <- struct{}{}:
	default:
	}
}

// handleDB handles an event on the database lane.
func (s *Service) handleDB(ctx context.Context, it dbItem) {
	if it.ev.Kind == controller.EventBridged {
		s.startEarlier(ctx, it.ev, it.reason)
		return
	}
	switch e := it.ev.PBXEvent.(type) {
	case adapters.RecordingStarted:
		s.onStarted(ctx, e)
	case adapters.RecordingFinished:
		s.onFinished(ctx, e)
	case adapters.RecordingFailed:
		s.onFailed(ctx, e)
	case adapters.Reconciled:
		err := s.onReconciled(ctx, e, it.known)
		s.qmu.Lock()
		if err != nil {
			s.due[e.Node] = it
		} else {
			delete(s.due, e.Node)
		}
		s.qmu.Unlock()
		if err != nil {
			s.log.Error("reconcile recordings: will retry when the database answers", "node", e.Node, "err", err)
		}
	case adapters.PlaybackFinished:
		// Came after a (re)connect whose restore of pending rows was
		// still on this lane: matched now that it has run.
		if p := s.takeAnnouncement(e); p != nil {
			if _, err := s.recordRow(ctx, p.call, p.row); err != nil {
				s.log.Warn("recording not started after announcement", "call_id", p.call.CallID, "recording_id", p.row.ID, "err", err)
			}
		}
	}
}

// retryReconcile runs every due reconciliation once more; it reports
// whether all of them went through.
func (s *Service) retryReconcile(ctx context.Context) bool {
	s.qmu.Lock()
	due := make([]dbItem, 0, len(s.due))
	for _, it := range s.due {
		due = append(due, it)
	}
	s.qmu.Unlock()
	ok := true
	for _, it := range due {
		e := it.ev.PBXEvent.(adapters.Reconciled)
		err := s.onReconciled(ctx, e, it.known)
		s.qmu.Lock()
		if cur, still := s.due[e.Node]; still && cur.ev.PBXEvent.(adapters.Reconciled).At.Equal(e.At) {
			if err == nil {
				delete(s.due, e.Node)
			}
		}
		s.qmu.Unlock()
		if err != nil {
			ok = false
			s.log.Warn("reconcile recordings: database still not answering", "node", e.Node, "err", err)
		} else {
			s.log.Info("recordings reconciled after the database came back", "node", e.Node)
		}
	}
	return ok
}

func deref(e adapters.Event) adapters.Event {
	switch v := e.(type) {
	case *adapters.RecordingStarted:
		return *v
	case *adapters.RecordingFinished:
		return *v
	case *adapters.RecordingFailed:
		return *v
	case *adapters.Reconciled:
		return *v
	case *adapters.PlaybackFinished:
		return *v
	}
	return e
}

func (s *Service) handle(ctx context.Context, ev controller.CallEvent) {
	switch ev.Kind {
	case controller.EventBridged:
		s.mu.Lock()
		s.calls[ev.CallID] = &bridged{ev: ev}
		s.mu.Unlock()
		pol := s.cfg.PolicyFor(ev.Queue)
		d := pol.Decide(s.cfg.SampleSeed, ev.CallID)
		s.log.Debug("recording policy", "call_id", ev.CallID, "queue", ev.Queue, "policy", pol.String(), "record", d.Record, "reason", d.Reason)
		if d.Record && s.needsDB(ev) {
			// A call that was up before this process's (re)connect: only
			// the database knows an earlier run's recordings of it, so its
			// start waits for that read on the database lane, never here.
			s.toDB(dbItem{ev: ev, reason: d.Reason})
		} else if d.Record {
			if _, err := s.start(ctx, ev, d.Reason, "policy"); err != nil {
				s.log.Warn("recording not started", "call_id", ev.CallID, "queue", ev.Queue, "agent_id", ev.AgentID, "node", ev.Node, "err", err)
			}
		}
	case controller.EventEnded, controller.EventAbandoned, controller.EventExited:
		s.mu.Lock()
		b := s.calls[ev.CallID]
		delete(s.calls, ev.CallID)
		delete(s.names, ev.CallID)
		var ref adapters.RecordingRef
		running := false
		if b != nil && b.recordingID != "" {
			ref, running = s.refs[b.recordingID]
		}
		s.mu.Unlock()
		if running {
			// Asterisk keeps recording a bridge after its callers left (the
			// recorder is a member of its own), so the call's end stops the
			// recording explicitly; the PBX's finish event then settles the
			// metadata. A PBX that already stopped (FreeSWITCH stops with
			// the channel) answers "unknown", which is fine.
			cctx, cancel := context.WithTimeout(ctx, s.cmdTO)
			err := s.pbx.StopRecording(cctx, ref)
			cancel()
			if err != nil && !errors.Is(err, adapters.ErrUnknownLeg) {
				s.log.Warn("stop recording at call end", "call_id", ev.CallID, "recording_id", b.recordingID, "node", ref.Node, "err", err)
			}
		}
	case controller.EventPBX:
		// This process's own recordings are settled here, from memory;
		// anything that needs the database goes to its lane.
		switch e := ev.PBXEvent.(type) {
		case adapters.RecordingStarted:
			if s.lookupMem(e.Recording) == nil {
				s.toDB(dbItem{ev: ev})
				return
			}
			s.onStarted(ctx, e)
		case adapters.RecordingFinished:
			if s.lookupMem(e.Recording) == nil {
				s.toDB(dbItem{ev: ev})
				return
			}
			s.onFinished(ctx, e)
		case adapters.RecordingFailed:
			if s.lookupMem(e.Recording) == nil {
				s.toDB(dbItem{ev: ev})
				return
			}
			s.onFailed(ctx, e)
		case adapters.Reconciled:
			s.mu.Lock()
			legs := make(map[string]bool, len(e.Legs))
			for _, l := range e.Legs {
				legs[l.Ref.ID] = true
			}
			s.listed[e.Node] = legs
			known := make(map[string]bool, len(s.rows))
			for id := range s.rows {
				known[id] = true
			}
			s.mu.Unlock()
			s.toDB(dbItem{ev: ev, known: known})
		case adapters.PlaybackFinished:
			p := s.takeAnnouncement(e)
			if p == nil {
				s.qmu.Lock()
				behind := len(s.dbq) > 0 || s.dbBusy
				s.qmu.Unlock()
				if behind {
					// Perhaps the announcement of a pending row a
					// (re)connect's restore, still on the database lane,
					// is about to take up: matched after it.
					s.toDB(dbItem{ev: ev})
				}
				return
			}
			if _, err := s.recordRow(ctx, p.call, p.row); err != nil {
				s.log.Warn("recording not started after announcement", "call_id", p.call.CallID, "recording_id", p.row.ID, "err", err)
			}
		}
	}
}

// takeAnnouncement removes and returns the pending start a playback's end
// is about, if any.
func (s *Service) takeAnnouncement(e adapters.PlaybackFinished) *pendingStart {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.announce[e.PlaybackID]
	delete(s.announce, e.PlaybackID)
	if p == nil && e.Ref.ID != "" {
		// A pending start restored after a restart: this process never
		// knew its playback id; the caller's playback ending is the
		// announcement ending.
		for k, q := range s.announce {
			if q.restored && q.call.Caller.ID == e.Ref.ID {
				p = q
				delete(s.announce, k)
				break
			}
		}
	}
	return p
}

// Start records a bridged call on demand (agent or supervisor). It
// returns the recording id ("" while an announcement plays first).
func (s *Service) Start(ctx context.Context, callID, by string) (string, error) {
	s.mu.Lock()
	b := s.calls[callID]
	s.mu.Unlock()
	if b == nil {
		return "", fmt.Errorf("start recording of call %q: %w", callID, ErrNoCall)
	}
	if s.cfg.PolicyFor(b.ev.Queue).Mode == ModeNever {
		return "", fmt.Errorf("start recording of call %q (queue %q): %w", callID, b.ev.Queue, ErrNotAllowed)
	}
	id, err := s.start(ctx, b.ev, "on-demand", by)
	if err == nil && id != "" {
		// The caller was handed an id: let it read its own write.
		fctx, cancel := context.WithTimeout(ctx, startFlushWait)
		if ferr := s.jr.Flush(fctx); ferr != nil {
			s.log.Warn("on-demand recording started; its row is not in the database yet", "call_id", callID, "recording_id", id, "err", ferr)
		}
		cancel()
	}
	return id, err
}

func (s *Service) start(ctx context.Context, ev controller.CallEvent, reason, by string) (string, error) {
	s.mu.Lock()
	if b := s.calls[ev.CallID]; b != nil && b.recordingID != "" {
		id := b.recordingID
		s.mu.Unlock()
		return id, fmt.Errorf("call %q: %w", ev.CallID, ErrAlreadyRecording)
	}
	for _, p := range s.announce {
		if p.call.CallID == ev.CallID {
			// The announcement for a start already asked for is playing:
			// the call is recorded when it ends, once (a second start would
			// play it again and record the call twice under one name).
			s.mu.Unlock()
			return "", nil
		}
	}
	s.mu.Unlock()
	pol := s.cfg.PolicyFor(ev.Queue)
	if pol.Announce != "" && !ev.Caller.IsZero() {
		// The decision is stored first (status pending): a restart while
		// the announcement plays finds it and records the call then,
		// rather than forgetting a call the policy said to record.
		r, err := s.prepareRow(ctx, ev, reason, by)
		if err != nil {
			return "", fmt.Errorf("announce before recording call %q: %w", ev.CallID, err)
		}
		r.Status = storage.RecordingPending
		s.create(r)
		cctx, cancel := context.WithTimeout(ctx, s.cmdTO)
		id, err := s.pbx.Play(cctx, ev.Caller, adapters.Media{Kind: "sound", Value: pol.Announce})
		cancel()
		if err != nil {
			// No announcement, no recording: where the announcement is the
			// legal basis for recording, recording without it is worse
			// than not recording. The failed row makes it visible.
			r.Status, r.Error = storage.RecordingFailed, "announcement failed: "+err.Error()
			end := s.now().UTC()
			r.EndedAt = &end
			s.done(r)
			s.write(r, []string{"status", "error", "ended_at"}, storage.RecordingPending)
			return r.ID, fmt.Errorf("announce before recording call %q: %w", ev.CallID, err)
		}
		s.mu.Lock()
		s.announce[id] = &pendingStart{call: ev, row: r, deadline: s.now().Add(s.annTO)}
		s.mu.Unlock()
		return "", nil
	}
	return s.record(ctx, ev, reason, by)
}

func (s *Service) expireAnnouncements(ctx context.Context) {
	now := s.now()
	var due []*pendingStart
	s.mu.Lock()
	for id, p := range s.announce {
		if !now.Before(p.deadline) {
			due = append(due, p)
			delete(s.announce, id)
		}
	}
	s.mu.Unlock()
	for _, p := range due {
		if _, err := s.recordRow(ctx, p.call, p.row); err != nil {
			s.log.Warn("recording not started after announcement timeout", "call_id", p.call.CallID, "err", err)
		}
	}
}

func (s *Service) newRow(ev controller.CallEvent, reason, by string) *storage.Recording {
	now := s.now().UTC()
	id := storage.NewID("rec-")
	tpl, ok := s.tpls[ev.Node]
	if !ok {
		tpl, ok = s.tpls["*"]
	}
	if !ok {
		tpl, _ = ParseTemplate("")
	}
	name := tpl.Render(NameFields{CallID: ev.CallID, RecordingID: id, Queue: ev.Queue, Agent: ev.AgentID,
		Caller: ev.CallerNumber, Dialed: ev.DialedNumber, Node: ev.Node, At: now})
	pol := s.cfg.PolicyFor(ev.Queue)
	r := &storage.Recording{ID: id, CallID: ev.CallID, Node: ev.Node, PBXName: name,
		CallerLeg: ev.Caller.ID, AgentLeg: ev.AgentLeg.ID, BridgeID: ev.Bridge.ID,
		CallerNumber: ev.CallerNumber, DialedNumber: ev.DialedNumber, AgentID: ev.AgentID, Queue: ev.Queue,
		Format: pol.Format, StartedAt: now, Status: storage.RecordingActive, Reason: reason, StartedBy: by}
	if pol.RetentionDays > 0 {
		until := now.AddDate(0, 0, pol.RetentionDays)
		r.RetentionUntil = &until
	}
	return r
}

// record writes the row first (status recording, to the journal: on local
// disk before the PBX is asked, whether or not the database answers), then
// asks the PBX: a crash between the two leaves a row that reconciliation
// settles, never a file nobody knows about.
func (s *Service) record(ctx context.Context, ev controller.CallEvent, reason, by string) (string, error) {
	r, err := s.prepareRow(ctx, ev, reason, by)
	if err != nil {
		return "", fmt.Errorf("record call %q: %w", ev.CallID, err)
	}
	s.create(r)
	return s.recordRow(ctx, ev, r)
}

// prepareRow builds a new row with a name no recording of the call uses.
func (s *Service) prepareRow(ctx context.Context, ev controller.CallEvent, reason, by string) (*storage.Recording, error) {
	r := s.newRow(ev, reason, by)
	if s.nameTaken(ctx, ev, r.PBXName) {
		// The same call recorded again within the template's resolution
		// (stopped and restarted on demand in one second): the PBX would
		// refuse or overwrite a file of that name, and its events would
		// match the wrong row. The suffix is the new row's own id, so it
		// cannot repeat either.
		r.PBXName += "-" + strings.TrimPrefix(r.ID, "rec-")
	}
	s.mu.Lock()
	s.callNamesLocked(ev.CallID).used[ev.Node+"/"+r.PBXName] = true
	s.mu.Unlock()
	return r, nil
}

// recordRow asks the PBX to record for a row already stored (status
// recording, or pending while an announcement played: it becomes
// recording now, starting now).
func (s *Service) recordRow(ctx context.Context, ev controller.CallEvent, r *storage.Recording) (string, error) {
	log := s.log.With("call_id", ev.CallID, "queue", ev.Queue, "agent_id", ev.AgentID, "node", ev.Node, "recording_id", r.ID)
	reason, by := r.Reason, r.StartedBy
	if r.Status == storage.RecordingPending {
		r.Status = storage.RecordingActive
		r.StartedAt = s.now().UTC()
		if pol := s.cfg.PolicyFor(r.Queue); pol.RetentionDays > 0 {
			until := r.StartedAt.AddDate(0, 0, pol.RetentionDays)
			r.RetentionUntil = &until
		}
		s.write(r, []string{"status", "started_at", "retention_until"}, storage.RecordingPending)
	}
	s.mu.Lock()
	s.byName[ev.Node+"/"+r.PBXName] = r.ID
	s.rows[r.ID] = *r // a restored pending row is in flight from now on too
	if b := s.calls[ev.CallID]; b != nil {
		b.recordingID = r.ID
	}
	s.mu.Unlock()
	pol := s.cfg.PolicyFor(ev.Queue)
	cctx, cancel := context.WithTimeout(ctx, s.cmdTO)
	ref, err := s.pbx.Record(cctx, adapters.RecordRequest{Bridge: ev.Bridge, Leg: legIfNoBridge(ev), Name: r.PBXName, Format: pol.Format, MaxDuration: pol.MaxDuration})
	cancel()
	if err != nil {
		s.forgetCall(ev.CallID, r.ID)
		r.Status, r.Error = storage.RecordingFailed, "record command: "+err.Error()
		end := s.now().UTC()
		r.EndedAt = &end
		s.done(r)
		s.write(r, []string{"status", "error", "ended_at"})
		return r.ID, fmt.Errorf("record call %q: %w", ev.CallID, err)
	}
	s.mu.Lock()
	s.refs[r.ID] = ref
	s.byName[ref.Node+"/"+ref.Name] = r.ID
	s.mu.Unlock()
	if ref.Name != r.PBXName || (ref.Node != "" && ref.Node != r.Node) {
		// FreeSWITCH names a recording by its path: keep the PBX's name,
		// so events after a restart still find the row. Only the name is
		// written: a start event may have come meanwhile.
		s.mu.Lock()
		cur, ok := s.rows[r.ID]
		s.mu.Unlock()
		if !ok {
			cur = *r
		}
		cur.PBXName = ref.Name
		if ref.Node != "" {
			cur.Node = ref.Node
		}
		s.write(&cur, []string{"pbx_name", "node"})
	}
	log.Info("recording requested", "reason", reason, "by", by, "name", ref.Name)
	return r.ID, nil
}

// nameTaken reports whether a recording of this call on this node already
// uses name. Names repeat only within one call (templates hold {call_id}
// or {recording_id}), so the service's memory of the call answers: every
// name this process used on it, and — for a call up before the node's
// last (re)connect — the names the database lists for it, read once
// (loadEarlier; on the database lane for a policy start, so a bridge
// never waits for the database). FreeSWITCH names a recording by its
// file path (/dir/<name>.wav), which is what the row keeps, so stored
// names count by their stem too: comparing the rendered name with the
// stored one would miss every FreeSWITCH recording and let a second one
// overwrite the first one's file. A name the database could not check
// is taken: the suffix cannot repeat, and the call is recorded anyway.
func (s *Service) nameTaken(ctx context.Context, ev controller.CallEvent, name string) bool {
	if s.needsDB(ev) {
		if err := s.loadEarlier(ctx, ev); err != nil {
			s.log.Warn("recording name check: database not answering; name made unique", "call_id", ev.CallID, "node", ev.Node, "err", err)
		}
	}
	key := ev.Node + "/" + name
	s.mu.Lock()
	defer s.mu.Unlock()
	_, running := s.byName[key]
	m := s.names[ev.CallID]
	return running || (m != nil && (m.unknown || m.used[key]))
}

// needsDB reports whether the call's earlier recordings are unknown to
// this process: it was up before the node's last (re)connect and the
// database has not been asked yet.
func (s *Service) needsDB(ev controller.CallEvent) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.names[ev.CallID]; m != nil && (m.read || m.unknown) {
		return false
	}
	listed := func(l adapters.LegRef) bool {
		if l.ID == "" {
			return false
		}
		node := l.Node
		if node == "" {
			node = ev.Node
		}
		return s.listed[node][l.ID]
	}
	return listed(ev.Caller) || listed(ev.AgentLeg)
}

// loadEarlier reads the names the database holds for a call (an earlier
// run's recordings of it) into the service's memory, once. If the
// database cannot answer, the call's names are marked unknown: every new
// one takes the suffix.
func (s *Service) loadEarlier(ctx context.Context, ev controller.CallEvent) error {
	cctx, cancel := context.WithTimeout(ctx, s.cmdTO)
	recs, err := s.store.RecordingsOfCall(cctx, ev.CallID)
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.callNamesLocked(ev.CallID)
	if err != nil {
		m.unknown = true
		return fmt.Errorf("recordings of call %q: %w", ev.CallID, err)
	}
	m.read = true
	for _, r := range recs {
		m.used[r.Node+"/"+r.PBXName] = true
		m.used[r.Node+"/"+stemOf(r.PBXName)] = true
	}
	return nil
}

func (s *Service) callNamesLocked(callID string) *callNames {
	m := s.names[callID]
	if m == nil {
		m = &callNames{used: map[string]bool{}}
		s.names[callID] = m
	}
	return m
}

// startEarlier starts, on the database lane, the policy's recording of a
// call up before the node's last (re)connect: its earlier names are read
// first (one read, up to the command timeout); a call that ended or was
// bridged anew meanwhile is left alone.
func (s *Service) startEarlier(ctx context.Context, ev controller.CallEvent, reason string) {
	if err := s.loadEarlier(ctx, ev); err != nil {
		s.log.Warn("recording name check: database not answering; name made unique", "call_id", ev.CallID, "node", ev.Node, "err", err)
	}
	s.mu.Lock()
	b := s.calls[ev.CallID]
	same := b != nil && b.ev.Bridge == ev.Bridge && b.ev.AgentLeg == ev.AgentLeg
	s.mu.Unlock()
	if !same {
		return
	}
	if _, err := s.start(ctx, ev, reason, "policy"); err != nil {
		s.log.Warn("recording not started", "call_id", ev.CallID, "queue", ev.Queue, "agent_id", ev.AgentID, "node", ev.Node, "err", err)
	}
}

func stemOf(name string) string { return strings.TrimSuffix(path.Base(name), path.Ext(name)) }

func legIfNoBridge(ev controller.CallEvent) adapters.LegRef {
	if ev.Bridge.ID == "" {
		return ev.Caller
	}
	return adapters.LegRef{}
}

func (s *Service) forgetCall(callID, recID string) {
	s.mu.Lock()
	if b := s.calls[callID]; b != nil && b.recordingID == recID {
		b.recordingID = ""
	}
	s.mu.Unlock()
}

// create journals a new row (insert; an existing row of that id is left
// alone) and keeps it in memory until the recording ends.
func (s *Service) create(r *storage.Recording) {
	s.mu.Lock()
	s.rows[r.ID] = *r
	s.mu.Unlock()
	s.jr.Append(storage.RecordingWrite{Seq: storage.NewID("rw-"), Create: true, Row: *r})
}

// write journals an update of cols of r (the service's own columns only),
// applied only while the row's status is one of ifStatus when given, and
// keeps the in-memory copy of a recording still in flight up to date.
func (s *Service) write(r *storage.Recording, cols []string, ifStatus ...string) {
	s.mu.Lock()
	if _, ok := s.rows[r.ID]; ok {
		s.rows[r.ID] = *r
	}
	s.mu.Unlock()
	s.jr.Append(storage.RecordingWrite{Seq: storage.NewID("rw-"), Row: *r, Columns: cols, IfStatus: ifStatus})
}

// writeEnd journals the update that ends a recording (cols of r, as
// write) together with the close of a pause still open then, at at: the
// span gets its end and the paused total counts it in the same database
// transaction as the end, whenever the database takes it — so a
// recording that ends paused during an outage does not stay paused.
func (s *Service) writeEnd(r *storage.Recording, cols []string, at time.Time, ifStatus ...string) {
	s.mu.Lock()
	if _, ok := s.rows[r.ID]; ok {
		s.rows[r.ID] = *r
	}
	s.mu.Unlock()
	at = at.UTC()
	s.jr.Append(storage.RecordingWrite{Seq: storage.NewID("rw-"), Row: *r, Columns: cols, IfStatus: ifStatus,
		ClosePauseAt: &at, ClosePauseBy: pauseCloser})
}

// errDBAway marks a lookup the database could not answer.
var errDBAway = errors.New("database not answering")

// lookup finds the row a PBX event is about: in memory for this process's
// recordings (by the name the PBX used, or its stem: FreeSWITCH reports
// /dir/name.wav for name), else in the database, asked once (an earlier
// run's recording). A database that does not answer gives errDBAway:
// the caller then journals the write by name instead of waiting.
func (s *Service) lookup(ctx context.Context, ref adapters.RecordingRef) (*storage.Recording, error) {
	if r := s.lookupMem(ref); r != nil {
		return r, nil
	}
	stem := stemOf(ref.Name)
	s.mu.Lock()
	id := s.byName[ref.Node+"/"+ref.Name]
	if id == "" {
		id = s.byName[ref.Node+"/"+stem]
	}
	s.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, s.cmdTO)
	defer cancel()
	if id != "" {
		got, err := s.store.Recording(cctx, id)
		return got, dbErr(err)
	}
	got, err := s.store.RecordingByPBXName(cctx, ref.Node, ref.Name)
	if errors.Is(err, storage.ErrNotFound) && stem != ref.Name {
		got, err = s.store.RecordingByPBXName(cctx, ref.Node, stem)
	}
	return got, dbErr(err)
}

// lookupMem finds a recording this process holds in flight (nil if it
// holds none of that name).
func (s *Service) lookupMem(ref adapters.RecordingRef) *storage.Recording {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.byName[ref.Node+"/"+ref.Name]
	if id == "" {
		id = s.byName[ref.Node+"/"+stemOf(ref.Name)]
	}
	if r, ok := s.rows[id]; ok {
		return &r
	}
	return nil
}

func dbErr(err error) error {
	if err == nil || errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return fmt.Errorf("%w: %w", errDBAway, err)
}

// byNameWrite journals a PBX event's write for a recording this process does
// not hold and the database could not be asked about: the journal finds
// the row by (node, name) when it applies it.
func (s *Service) byNameWrite(ref adapters.RecordingRef, w storage.RecordingWrite) {
	w.Seq, w.Node, w.PBXName = storage.NewID("rw-"), ref.Node, ref.Name
	s.jr.Append(w)
}

func (s *Service) onStarted(ctx context.Context, e adapters.RecordingStarted) {
	r, err := s.lookup(ctx, e.Recording)
	if errors.Is(err, storage.ErrNotFound) {
		s.log.Warn("recording started that switchboard did not ask for", "node", e.Recording.Node, "name", e.Recording.Name, "err", err)
		return
	}
	cols := []string{}
	row := storage.Recording{}
	if err != nil {
		r = &row
		s.log.Warn("recording start stored by name: "+err.Error(), "node", e.Recording.Node, "name", e.Recording.Name)
	} else if r.Status != storage.RecordingActive {
		return // a late start after the finish: the finish wins
	}
	if !e.At.IsZero() {
		r.StartedAt = e.At.UTC()
		cols = append(cols, "started_at")
	}
	if e.Path != "" {
		r.Path = e.Path
		cols = append(cols, "path")
	}
	if e.Format != "" {
		r.Format = e.Format
		cols = append(cols, "format")
	}
	if err != nil {
		s.byNameWrite(e.Recording, storage.RecordingWrite{Row: row, Columns: cols, IfStatus: []string{storage.RecordingActive}})
		return
	}
	r.URI = s.uri(r)
	s.write(r, append(cols, "uri"), storage.RecordingActive)
}

func (s *Service) onFinished(ctx context.Context, e adapters.RecordingFinished) {
	r, err := s.lookup(ctx, e.Recording)
	if errors.Is(err, storage.ErrNotFound) {
		s.log.Warn("recording finished that switchboard does not know", "node", e.Recording.Node, "name", e.Recording.Name, "err", err)
		return
	}
	at := e.At.UTC()
	if at.IsZero() {
		at = s.now().UTC()
	}
	if err != nil {
		// An earlier run's recording and no database to read its start
		// from: the journal settles the duration against the stored start
		// when it applies the write.
		row := storage.Recording{Node: e.Recording.Node, PBXName: e.Recording.Name, Path: e.Path, Format: e.Format,
			EndedAt: &at, Status: storage.RecordingFinished}
		cols := []string{"status", "ended_at"}
		if e.Path != "" {
			cols = append(cols, "path")
		}
		if e.Format != "" {
			cols = append(cols, "format")
		}
		if s.fileFacts(&row, false) {
			cols = append(cols, "size_bytes", "checksum")
		}
		s.log.Warn("recording finish stored by name: "+err.Error(), "node", e.Recording.Node, "name", e.Recording.Name)
		s.byNameWrite(e.Recording, storage.RecordingWrite{Row: row, Columns: cols, Finish: true, PBXDuration: e.Duration,
			ClosePauseAt: &at, ClosePauseBy: pauseCloser})
		return
	}
	cols := []string{"status", "ended_at", "duration_ms", "path", "format", "uri"}
	if e.Path != "" {
		r.Path = e.Path
	}
	if e.Format != "" {
		r.Format = e.Format
	}
	r.EndedAt = &at
	ms, note := storage.RecordingDuration(r.StartedAt, at, e.Duration)
	if note != "" {
		s.log.Warn("pbx recording duration longer than the recording lasted; using the event span",
			"recording_id", r.ID, "call_id", r.CallID, "node", r.Node, "pbx_duration", e.Duration, "span", at.Sub(r.StartedAt))
		r.Note = note
		cols = append(cols, "note")
	}
	r.DurationMS = ms
	r.Status = storage.RecordingFinished
	r.URI = s.uri(r)
	if s.fileFacts(r, false) {
		cols = append(cols, "size_bytes", "checksum")
	}
	// Forgotten first: whoever sees the row ended finds the call free to
	// record again.
	s.done(r)
	s.writeEnd(r, cols, at)
}

func (s *Service) onFailed(ctx context.Context, e adapters.RecordingFailed) {
	r, err := s.lookup(ctx, e.Recording)
	if errors.Is(err, storage.ErrNotFound) {
		s.log.Warn("recording failed that switchboard does not know", "node", e.Recording.Node, "name", e.Recording.Name, "err", err)
		return
	}
	at := e.At.UTC()
	if at.IsZero() {
		at = s.now().UTC()
	}
	cols := []string{"status", "error", "ended_at"}
	// Only a recording still running (or waiting for its announcement)
	// can fail: a failure reported after the finish — late, or by a PBX
	// that sends both — must not turn a finished recording into a failed
	// one. The same condition goes with the write, for a finish still in
	// the journal when it is applied.
	if err != nil {
		s.log.Warn("recording failure stored by name: "+err.Error(), "node", e.Recording.Node, "name", e.Recording.Name)
		s.byNameWrite(e.Recording, storage.RecordingWrite{Columns: cols, ClosePauseAt: &at, ClosePauseBy: pauseCloser, IfStatus: failable,
			Row: storage.Recording{Status: storage.RecordingFailed, Error: "pbx: " + e.Cause, EndedAt: &at}})
		return
	}
	if r.Status != storage.RecordingActive && r.Status != storage.RecordingPending {
		s.log.Info("recording failure after its end ignored", "recording_id", r.ID, "call_id", r.CallID, "node", r.Node, "status", r.Status, "cause", e.Cause)
		return
	}
	r.Status, r.Error, r.EndedAt = storage.RecordingFailed, "pbx: "+e.Cause, &at
	s.done(r)
	s.writeEnd(r, cols, at, failable...)
	s.log.Warn("recording failed", "recording_id", r.ID, "call_id", r.CallID, "agent_id", r.AgentID, "queue", r.Queue, "node", r.Node, "cause", e.Cause)
}

// pauseCloser is who closes a pause still open when its recording ends.
const pauseCloser = "system"

// failable are the states a PBX failure may end.
var failable = []string{storage.RecordingActive, storage.RecordingPending}

func (s *Service) done(r *storage.Recording) {
	s.mu.Lock()
	delete(s.refs, r.ID)
	delete(s.rows, r.ID)
	delete(s.open, r.ID)
	for k, v := range s.byName {
		if v == r.ID {
			delete(s.byName, k)
		}
	}
	if b := s.calls[r.CallID]; b != nil && b.recordingID == r.ID {
		b.recordingID = ""
	}
	s.mu.Unlock()
}

func (s *Service) uri(r *storage.Recording) string {
	nc := s.cfg.Node(r.Node)
	if nc.URIPrefix == "" {
		return r.URI
	}
	return nc.URIPrefix + path.Base(fileName(r))
}

func fileName(r *storage.Recording) string {
	if r.Path != "" {
		return path.Base(r.Path)
	}
	if r.Format != "" {
		return path.Base(r.PBXName) + "." + r.Format
	}
	return path.Base(r.PBXName)
}

// onReconciled settles this node's recordings still marked recording after
// a (re)connect: one whose call legs survive is still running; one the PBX
// lists as stored (or whose file is under the node's root) finished while
// the link was down; any other is missing. It runs on the database lane;
// an error means the database did not answer and nothing was settled
// that a retry would settle differently (every step skips what an
// earlier attempt did).
func (s *Service) onReconciled(ctx context.Context, e adapters.Reconciled, known map[string]bool) error {
	// What this service journalled before must be in the database first:
	// the rows read below are then its latest view, so an announcement
	// already settled is not taken up again.
	fctx, cancel := context.WithTimeout(ctx, s.cmdTO)
	err := s.jr.Flush(fctx)
	cancel()
	if err != nil {
		return fmt.Errorf("reconcile node %q: %w", e.Node, err)
	}
	if err := s.restorePending(ctx, e); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, s.cmdTO)
	active, err := s.store.ActiveRecordings(cctx, e.Node)
	cancel()
	if err != nil {
		return fmt.Errorf("reconcile node %q: %w", e.Node, err)
	}
	live := map[string]bool{}
	for _, l := range e.Legs {
		live[l.Ref.ID] = true
	}
	stored := map[string]adapters.StoredRecording{}
	for _, sr := range e.Recordings {
		stored[sr.Name] = sr
		stored[strings.TrimSuffix(path.Base(sr.Name), path.Ext(sr.Name))] = sr
	}
	now := e.At.UTC()
	if now.IsZero() {
		now = s.now().UTC()
	}
	for i := range active {
		r := &active[i]
		s.mu.Lock()
		_, held := s.rows[r.ID]
		s.mu.Unlock()
		if held && !known[r.ID] {
			continue // started after the (re)connect: followed by this process
		}
		if (r.CallerLeg != "" && live[r.CallerLeg]) || (r.AgentLeg != "" && live[r.AgentLeg]) {
			continue
		}
		stem := strings.TrimSuffix(path.Base(r.PBXName), path.Ext(r.PBXName))
		sr, listed := stored[r.PBXName]
		if !listed {
			sr, listed = stored[stem]
		}
		if listed && sr.Format != "" && r.Format == "" {
			r.Format = sr.Format
		}
		if listed && sr.Path != "" {
			r.Path = sr.Path
		}
		onDisk := s.fileFacts(r, true)
		if listed || onDisk {
			r.Status = storage.RecordingFinished
			r.Note = "finish event missed; settled by reconciliation"
			if r.EndedAt == nil {
				r.EndedAt = &now
			}
			if r.DurationMS == 0 && r.EndedAt.After(r.StartedAt) {
				// Without the PBX's figure or a readable WAV header this is
				// an upper bound (from start to the reconnect).
				r.DurationMS = r.EndedAt.Sub(r.StartedAt).Milliseconds()
				r.Note += "; duration is an upper bound"
			}
		} else {
			r.Status = storage.RecordingMissing
			r.Error = "not on the PBX after reconnect"
			r.EndedAt = &now
		}
		r.URI = s.uri(r)
		// Only while still marked recording: a finish journalled earlier
		// (and not yet in the database) wins over this view.
		s.done(r)
		s.writeEnd(r, []string{"status", "note", "error", "ended_at", "duration_ms", "path", "format", "uri", "size_bytes", "checksum"}, now, storage.RecordingActive)
		s.log.Info("recording reconciled", "recording_id", r.ID, "call_id", r.CallID, "node", r.Node, "status", r.Status)
	}
	return nil
}

// restorePending takes up the node's recordings still waiting for their
// announcement after a (re)connect — switchboard restarted, or the PBX
// link dropped, while it played. One whose caller is still up is waited
// for again (until its caller's playback ends, or the announce timeout
// from when it was decided) and then recorded; one whose call is gone is
// failed, saying so. One this process already waits for is left alone.
func (s *Service) restorePending(ctx context.Context, e adapters.Reconciled) error {
	cctx, cancel := context.WithTimeout(ctx, s.cmdTO)
	pending, err := s.store.PendingRecordings(cctx, e.Node)
	cancel()
	if err != nil {
		return fmt.Errorf("pending recordings of node %q: %w", e.Node, err)
	}
	live := map[string]bool{}
	for _, l := range e.Legs {
		live[l.Ref.ID] = true
	}
	now := e.At.UTC()
	if now.IsZero() {
		now = s.now().UTC()
	}
	for i := range pending {
		r := &pending[i]
		s.mu.Lock()
		_, known := s.rows[r.ID] // recorded by this process meanwhile
		for _, p := range s.announce {
			if p.row.ID == r.ID {
				known = true
				break
			}
		}
		s.mu.Unlock()
		if known {
			continue
		}
		if r.CallerLeg == "" || !live[r.CallerLeg] {
			r.Status, r.Error, r.EndedAt = storage.RecordingFailed, "call ended before the announcement finished (not recorded)", &now
			s.write(r, []string{"status", "error", "ended_at"}, storage.RecordingPending)
			continue
		}
		ev := controller.CallEvent{Kind: controller.EventBridged, CallID: r.CallID, Queue: r.Queue, AgentID: r.AgentID,
			CallerNumber: r.CallerNumber, DialedNumber: r.DialedNumber, Node: r.Node,
			Caller: adapters.LegRef{Node: r.Node, ID: r.CallerLeg}, AgentLeg: adapters.LegRef{Node: r.Node, ID: r.AgentLeg},
			Bridge: adapters.BridgeRef{Node: r.Node, ID: r.BridgeID}}
		if r.AgentLeg == "" {
			ev.AgentLeg = adapters.LegRef{}
		}
		s.mu.Lock()
		if s.calls[r.CallID] == nil {
			// So the call's end stops the recording, and Start and the
			// agent's pause find it, as for a call bridged in this process.
			s.calls[r.CallID] = &bridged{ev: ev}
		}
		s.announce["restored/"+r.ID] = &pendingStart{call: ev, row: r, deadline: r.StartedAt.Add(s.annTO), restored: true}
		s.mu.Unlock()
		s.log.Info("pending recording taken up after reconnect", "recording_id", r.ID, "call_id", r.CallID, "node", r.Node)
	}
	return nil
}
