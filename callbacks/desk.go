package callbacks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/storage"
)

// QueueConfig is one queue's callback policy.
type QueueConfig struct {
	// Offer says when a waiting caller hears the callback offer.
	Offer OfferRule `yaml:"offer" json:"offer"`
	// DialOrder: customer_first (default) or agent_first.
	DialOrder DialOrder `yaml:"dial_order" json:"dial_order"`
	// Retry is the policy for customers who do not answer.
	Retry Retry `yaml:"retry" json:"retry"`
	// Hours is when the queue takes callbacks ("mon-fri 08:00-20:00"; ""
	// = always) in HoursTZ.
	Hours   string `yaml:"hours" json:"hours"`
	HoursTZ string `yaml:"hours_tz" json:"hours_tz"`
	// Closed is what happens to an entry due while the queue is closed:
	// next_opening (default) or schedule (in ScheduleWindow).
	Closed         ClosedAction `yaml:"closed" json:"closed"`
	ScheduleWindow string       `yaml:"schedule_window" json:"schedule_window"`
	// LeadTime (customer_first only; 0 = off) dials a callback's customer
	// as soon as an agent is predicted free within it, instead of when an
	// agent is free. LeadHoldLimit bounds how long an answered customer
	// then waits for an agent before being released (default 2 minutes).
	LeadTime      time.Duration `yaml:"lead_time" json:"lead_time"`
	LeadHoldLimit time.Duration `yaml:"lead_hold_limit" json:"lead_hold_limit"`
}

// Bounds of the lead-time settings.
const (
	MaxLeadTime          = 5 * time.Minute
	DefaultLeadHoldLimit = 2 * time.Minute
	MinLeadHoldLimit     = 10 * time.Second
	MaxLeadHoldLimit     = 30 * time.Minute
)

// KeyError is a configuration mistake in one key (dotted, from
// callbacks.…), so the config loader can point at its file and line.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// Config tunes the callback desk.
type Config struct {
	// Instance names this switchboard in claims (default host-pid-random).
	Instance string `yaml:"instance" json:"instance"`
	// CustomerEndpoint is the dial string for a customer, {number} replaced
	// ("PJSIP/{number}@trunk", "sofia/gateway/carrier/{number}", "sim/customer/{number}").
	CustomerEndpoint string `yaml:"customer_endpoint" json:"customer_endpoint"`
	// CallerID is the number customers see when called back.
	CallerID string `yaml:"caller_id" json:"caller_id"`
	// RingTimeout bounds ringing the customer (default 30 s); AgentRingTimeout the agent (20 s).
	RingTimeout      time.Duration `yaml:"ring_timeout" json:"ring_timeout"`
	AgentRingTimeout time.Duration `yaml:"agent_ring_timeout" json:"agent_ring_timeout"`
	// Poll is how often due callbacks are looked for (default 5 s).
	Poll time.Duration `yaml:"poll" json:"poll"`
	// KeyTimeout is how long the offer waits for a key (default 10 s).
	KeyTimeout time.Duration `yaml:"key_timeout" json:"key_timeout"`
	// Queues holds per-queue policy; a queue not listed gets the defaults
	// and is never offered callbacks by the desk's own rule.
	Queues map[string]QueueConfig `yaml:"queues" json:"queues"`
}

func (c *Config) normalize() error {
	if c.Instance == "" {
		host, _ := os.Hostname()
		c.Instance = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randID(3))
	}
	if c.CustomerEndpoint == "" {
		c.CustomerEndpoint = "{number}"
	}
	if !strings.Contains(c.CustomerEndpoint, "{number}") {
		return fmt.Errorf("callbacks.customer_endpoint %q: needs {number}", c.CustomerEndpoint)
	}
	if c.RingTimeout <= 0 {
		c.RingTimeout = 30 * time.Second
	}
	if c.AgentRingTimeout <= 0 {
		c.AgentRingTimeout = 20 * time.Second
	}
	if c.Poll <= 0 {
		c.Poll = 5 * time.Second
	}
	if c.KeyTimeout <= 0 {
		c.KeyTimeout = 10 * time.Second
	}
	for name, q := range c.Queues {
		switch q.DialOrder {
		case "":
			q.DialOrder = CustomerFirst
		case CustomerFirst, AgentFirst:
		default:
			return fmt.Errorf("callbacks.queues.%s.dial_order %q: use customer_first or agent_first", name, q.DialOrder)
		}
		switch q.Closed {
		case "":
			q.Closed = ClosedNextOpening
		case ClosedNextOpening, ClosedSchedule:
		default:
			return fmt.Errorf("callbacks.queues.%s.closed %q: use next_opening or schedule", name, q.Closed)
		}
		if err := q.Retry.Validate(); err != nil {
			return fmt.Errorf("callbacks.queues.%s.retry: %w", name, err)
		}
		if _, err := ParseWindow(q.Hours, q.HoursTZ); err != nil {
			return fmt.Errorf("callbacks.queues.%s.hours: %w", name, err)
		}
		if _, err := ParseWindow(q.ScheduleWindow, q.HoursTZ); err != nil {
			return fmt.Errorf("callbacks.queues.%s.schedule_window: %w", name, err)
		}
		key := "callbacks.queues." + name + "."
		switch {
		case q.LeadTime < 0 || q.LeadTime > MaxLeadTime:
			return &KeyError{Key: key + "lead_time", Msg: fmt.Sprintf("%s is out of bounds (0 to %s; 0 = off)", q.LeadTime, MaxLeadTime)}
		case q.LeadTime > 0 && q.DialOrder == AgentFirst:
			return &KeyError{Key: key + "lead_time", Msg: fmt.Sprintf("%s needs dial_order customer_first: an agent-first dial needs a free agent to ring first", q.LeadTime)}
		case q.LeadHoldLimit == 0:
			q.LeadHoldLimit = DefaultLeadHoldLimit
		case q.LeadHoldLimit < MinLeadHoldLimit || q.LeadHoldLimit > MaxLeadHoldLimit:
			return &KeyError{Key: key + "lead_hold_limit", Msg: fmt.Sprintf("%s is out of bounds (%s to %s)", q.LeadHoldLimit, MinLeadHoldLimit, MaxLeadHoldLimit)}
		}
		c.Queues[name] = q
	}
	return nil
}

// Validate checks the configuration as New would, without changing it.
// A mistake in one key is a *KeyError.
func (c Config) Validate() error {
	cp := c
	cp.Queues = make(map[string]QueueConfig, len(c.Queues))
	for k, v := range c.Queues {
		cp.Queues[k] = v
	}
	if cp.Instance == "" {
		cp.Instance = "validate" // no host name look-up for a check
	}
	return cp.normalize()
}

func (c *Config) queue(name string) QueueConfig {
	q, ok := c.Queues[name]
	if !ok {
		q = QueueConfig{DialOrder: CustomerFirst, Closed: ClosedNextOpening}
	}
	return q
}

// Entry is a callback handed to the call flow to wait in its queue like a
// caller: it keeps Since (the original enqueue time), Priority and Skills.
type Entry struct {
	// CallID is the id routing knows the entry by ("cb-" + callback id).
	CallID     string
	CallbackID string
	Queue      string
	Priority   int
	Since      time.Time
	Number     string
	Skills     map[string]int
	// Agent, when set, is the only agent who may take it (agent-owned,
	// before its deadline).
	Agent    string
	Deadline time.Time
	// OfferTimeout is how long routing's offer of the entry to an agent
	// may last: the customer's ring, then the agent's, and a margin. The
	// queue's offer timeout (one agent ringing) would withdraw it mid-dial.
	OfferTimeout time.Duration
	// LeadTime is the queue's lead time (customer-first callbacks only):
	// routing may ask for the customer to be dialled that long before an
	// agent is predicted free.
	LeadTime time.Duration
}

// Floor is what the desk needs from the call flow (the controller): put
// an entry in its queue keeping its place, and take it out again
// (cancelled, or claimed by another instance).
type Floor interface {
	EnqueueCallback(ctx context.Context, e Entry) error
	RemoveCallback(ctx context.Context, callID string) error
}

// Store is the durable memory the desk uses (storage.Store satisfies it).
type Store interface {
	CreateCallback(ctx context.Context, cb *storage.Callback) error
	GetCallback(ctx context.Context, id string) (*storage.Callback, error)
	ListCallbacks(ctx context.Context, f storage.CallbackFilter) ([]storage.Callback, error)
	CallbackAttempts(ctx context.Context, id string) ([]storage.CallbackAttempt, error)
	ClaimCallback(ctx context.Context, id, owner string, now time.Time, lease time.Duration) error
	ReleaseCallback(ctx context.Context, id, owner string, now time.Time) error
	RenewLease(ctx context.Context, id, owner string, now time.Time, lease time.Duration) error
	BeginAttempt(ctx context.Context, id, owner, agentID, tag string, now time.Time) (*storage.CallbackAttempt, error)
	AttemptLeg(ctx context.Context, attemptID uint64, node, legID string) error
	AttemptAnswered(ctx context.Context, attemptID uint64, at time.Time) error
	FinishAttempt(ctx context.Context, cbID string, attemptID uint64, owner string, r storage.AttemptResult, now time.Time) error
	TakeOverInterrupted(ctx context.Context, owner string, now time.Time, lease time.Duration) ([]storage.Callback, []storage.CallbackAttempt, error)
	CancelCallback(ctx context.Context, id, why string, now time.Time) error
	RescheduleCallback(ctx context.Context, id string, notBefore time.Time, window, tz string, agentDeadline *time.Time, now time.Time) error
	DeferCallback(ctx context.Context, id string, notBefore time.Time, now time.Time) error
	CallbackStats(ctx context.Context, from, to time.Time) ([]storage.CallbackCounts, error)
	RecordCallbackOffer(ctx context.Context, queue, callID string, at time.Time) error
	CallbackOfferAccepted(ctx context.Context, callID, callbackID string, at time.Time) error
	AppendAudit(ctx context.Context, e *storage.AuditEntry) error
}

// Errors callers branch on.
var (
	// ErrClaimed means another instance (or an earlier attempt) holds the
	// callback: the offer must be given back and the entry dropped.
	ErrClaimed = errors.New("callback claimed elsewhere")
	// ErrNotFound means no such callback.
	ErrNotFound = storage.ErrNotFound
	// ErrState means the callback's state does not allow the change.
	ErrState = storage.ErrCallbackState
)

// Desk runs callbacks for one switchboard instance: it hands due entries
// to the floor, dials them when an agent is offered, and keeps the
// durable record. It is safe for concurrent use.
type Desk struct {
	cfg   Config
	store Store
	pbx   adapters.PBX
	floor Floor
	clk   clock.Clock
	log   *slog.Logger
	hours map[string]Window

	mu      sync.Mutex
	handed  map[string]bool // callback id → entry is in the floor's queue
	waiters map[string]chan adapters.Event
	byLeg   map[adapters.LegRef]string // leg → tag, for events without a tag
	ivr     map[adapters.LegRef]*offerSession
	legs    map[string]map[string]adapters.LegInfo // node → tag → leg, from the latest reconciliation
	seenRec bool
	ahead   map[string]*aheadDial // callback id → its dial ahead (lead time)
}

// New builds a desk. floor may be nil in tools that only list and edit
// callbacks (CLI through storage).
func New(cfg Config, store Store, pbx adapters.PBX, floor Floor, clk clock.Clock, log *slog.Logger) (*Desk, error) {
	// normalize fills defaults into the queues: on a copy, so a caller's
	// map (shared by a second desk, or read while this one runs) is never
	// written.
	queues := make(map[string]QueueConfig, len(cfg.Queues))
	for k, v := range cfg.Queues {
		queues[k] = v
	}
	cfg.Queues = queues
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.Default()
	}
	d := &Desk{cfg: cfg, store: store, pbx: pbx, floor: floor, clk: clk, log: log.With("component", "callbacks"),
		hours: map[string]Window{}, handed: map[string]bool{}, waiters: map[string]chan adapters.Event{},
		byLeg: map[adapters.LegRef]string{}, ivr: map[adapters.LegRef]*offerSession{}, legs: map[string]map[string]adapters.LegInfo{},
		ahead: map[string]*aheadDial{}}
	for name, q := range cfg.Queues {
		w, _ := ParseWindow(q.Hours, q.HoursTZ)
		d.hours[name] = w
	}
	return d, nil
}

// Instance is the name this desk claims under.
func (d *Desk) Instance() string { return d.cfg.Instance }

func randID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newID is a sortable, unique callback id.
func (d *Desk) newID() string {
	return d.clk.Now().UTC().Format("20060102T150405") + "-" + randID(4)
}

// PlanOf rebuilds the scheduling plan of a stored callback.
func PlanOf(cb *storage.Callback) (Plan, error) {
	w, err := ParseWindow(cb.Window, cb.TZ)
	if err != nil {
		return Plan{}, fmt.Errorf("callback %s: %w", cb.ID, err)
	}
	p := Plan{Kind: Kind(cb.Kind), Queue: cb.Queue, Priority: cb.Priority, EnqueuedAt: cb.EnqueuedAt, NotBefore: cb.NotBefore,
		Window: w, Retry: Retry{MaxAttempts: cb.MaxAttempts, Interval: time.Duration(cb.IntervalSeconds) * time.Second, Multiplier: cb.Multiplier},
		Attempts: cb.Attempts, Agent: cb.AgentID}
	if cb.AgentDeadline != nil {
		p.AgentDeadline = *cb.AgentDeadline
	}
	return p, nil
}

// Schedule validates a request and stores the scheduled callback. Nothing
// is stored when the request is invalid.
func (d *Desk) Schedule(ctx context.Context, r Request) (*storage.Callback, error) {
	now := d.clk.Now()
	var known QueueChecker
	if len(d.cfg.Queues) > 0 {
		known = func(q string) bool { _, ok := d.cfg.Queues[q]; return ok }
	}
	sp, err := r.Validate(now, known)
	if err != nil {
		return nil, err
	}
	q := d.cfg.queue(sp.Queue)
	if r.Attempts == 0 && q.Retry.MaxAttempts > 0 {
		sp.Plan.Retry.MaxAttempts = q.Retry.MaxAttempts
	}
	if r.Interval == "" && q.Retry.Interval > 0 {
		sp.Plan.Retry.Interval = q.Retry.Interval
		sp.Plan.Retry.Multiplier = q.Retry.Multiplier
	}
	cb := &storage.Callback{ID: d.newID(), Kind: string(KindScheduled), Queue: sp.Queue, Number: sp.Number, CallerID: d.cfg.CallerID,
		Priority: sp.Plan.Priority, EnqueuedAt: sp.Plan.EnqueuedAt, NotBefore: sp.Plan.NotBefore, Window: sp.Plan.Window.String(), TZ: sp.TZ,
		AgentID: sp.Plan.Agent, Note: sp.Note, CreatedBy: sp.CreatedBy, DialOrder: string(q.DialOrder), CreatedAt: now, Skills: "{}"}
	setRetry(cb, sp.Plan.Retry)
	if sp.Plan.Agent != "" {
		dl := sp.Plan.AgentDeadline
		cb.AgentDeadline = &dl
	}
	if err := d.store.CreateCallback(ctx, cb); err != nil {
		return nil, err
	}
	d.log.Info("callback scheduled", "callback_id", cb.ID, "queue", cb.Queue, "agent_id", cb.AgentID, "not_before", cb.NotBefore)
	return cb, nil
}

func setRetry(cb *storage.Callback, r Retry) {
	r = r.normalized()
	cb.MaxAttempts, cb.IntervalSeconds, cb.Multiplier = r.MaxAttempts, int(r.Interval/time.Second), r.Multiplier
}

// Hold is a waiting caller who accepted a callback.
type Hold struct {
	CallID     string
	Queue      string
	Number     string
	Priority   int
	EnqueuedAt time.Time
	Skills     map[string]int
}

// AcceptHold stores a virtual-hold entry durably, keeping the caller's
// original enqueue time, priority and skills, and hands it to the floor at
// once. The caller may be told "we will call you back" only after it
// returns without error.
func (d *Desk) AcceptHold(ctx context.Context, h Hold) (*storage.Callback, error) {
	return d.acceptHold(ctx, h, true)
}

func (d *Desk) acceptHold(ctx context.Context, h Hold, dispatch bool) (*storage.Callback, error) {
	n, ok := NormalizeNumber(h.Number)
	if !ok {
		return nil, FieldErrors{{Field: "number", Msg: fmt.Sprintf("%q is not a phone number", h.Number)}}
	}
	now := d.clk.Now()
	q := d.cfg.queue(h.Queue)
	skills, _ := json.Marshal(h.Skills)
	cb := &storage.Callback{ID: d.newID(), Kind: string(KindVirtualHold), Queue: h.Queue, Number: n, CallerID: d.cfg.CallerID,
		OriginCallID: h.CallID, Priority: h.Priority, Skills: string(skills), EnqueuedAt: h.EnqueuedAt, NotBefore: now,
		DialOrder: string(q.DialOrder), CreatedBy: "caller", CreatedAt: now}
	setRetry(cb, q.Retry)
	if err := d.store.CreateCallback(ctx, cb); err != nil {
		return nil, err
	}
	if h.CallID != "" {
		// Statistics only: a failure here must not undo the promise.
		if err := d.store.CallbackOfferAccepted(ctx, h.CallID, cb.ID, now); err != nil {
			d.log.Warn("could not count the accepted callback offer", "call_id", h.CallID, "err", err)
		}
	}
	d.log.Info("virtual hold accepted", "callback_id", cb.ID, "call_id", h.CallID, "queue", h.Queue, "since", h.EnqueuedAt)
	if dispatch {
		d.Dispatch(ctx)
	}
	return cb, nil
}

// Get returns one callback with its attempts.
func (d *Desk) Get(ctx context.Context, id string) (*storage.Callback, []storage.CallbackAttempt, error) {
	cb, err := d.store.GetCallback(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	atts, err := d.store.CallbackAttempts(ctx, id)
	return cb, atts, err
}

// List lists callbacks.
func (d *Desk) List(ctx context.Context, f storage.CallbackFilter) ([]storage.Callback, error) {
	return d.store.ListCallbacks(ctx, f)
}

// Cancel cancels a callback that is not being dialled, takes it off the
// floor and writes an audit entry.
func (d *Desk) Cancel(ctx context.Context, id, actor, why string) error {
	now := d.clk.Now()
	if err := d.store.CancelCallback(ctx, id, why, now); err != nil {
		return err
	}
	d.drop(ctx, id)
	return d.store.AppendAudit(ctx, &storage.AuditEntry{At: now.UTC(), Actor: actor, Action: "callback.cancel", Subject: id, Detail: why})
}

// Reschedule moves a pending callback to a new time and window (validated
// like a new request: errors name the field).
func (d *Desk) Reschedule(ctx context.Context, id, actor, at, window, tz string) (*storage.Callback, error) {
	cb, err := d.store.GetCallback(ctx, id)
	if err != nil {
		return nil, err
	}
	if window == "" {
		window = cb.Window
	}
	if tz == "" {
		tz = cb.TZ
	}
	sp, err := Request{Number: cb.Number, Queue: cb.Queue, At: at, Window: window, TZ: tz, Agent: cb.AgentID}.Validate(d.clk.Now(), nil)
	if err != nil {
		return nil, err
	}
	var dl *time.Time
	if cb.AgentID != "" {
		dl = &sp.Plan.AgentDeadline
	}
	now := d.clk.Now()
	if err := d.store.RescheduleCallback(ctx, id, sp.Plan.NotBefore, sp.Plan.Window.String(), tz, dl, now); err != nil {
		return nil, err
	}
	d.drop(ctx, id)
	if err := d.store.AppendAudit(ctx, &storage.AuditEntry{At: now.UTC(), Actor: actor, Action: "callback.reschedule", Subject: id,
		Detail: fmt.Sprintf("at %s window %q tz %q", sp.Plan.NotBefore.Format(time.RFC3339), window, tz)}); err != nil {
		return nil, err
	}
	return d.store.GetCallback(ctx, id)
}

// drop takes an entry off the floor if this desk handed it there.
func (d *Desk) drop(ctx context.Context, id string) {
	d.mu.Lock()
	was := d.handed[id]
	delete(d.handed, id)
	d.mu.Unlock()
	if was && d.floor != nil {
		if err := d.floor.RemoveCallback(ctx, EntryCallID(id)); err != nil {
			d.log.Warn("could not take callback off the queue", "callback_id", id, "err", err)
		}
	}
}

// handedCount is how many entries this desk has on the floor.
func (d *Desk) handedCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.handed)
}

// EntryCallID is the routing call id of a callback entry.
func EntryCallID(callbackID string) string { return "cb-" + callbackID }

// CallbackIDOf returns the callback id behind a routing call id, if any.
func CallbackIDOf(callID string) (string, bool) { return strings.CutPrefix(callID, "cb-") }

// Dispatch hands every due pending callback not yet on the floor to it:
// inside its window and its queue's hours, to its owner before the
// deadline. Entries due while the queue is closed follow the queue's
// closed policy. It returns how many entries it handed over.
func (d *Desk) Dispatch(ctx context.Context) int {
	if d.floor == nil {
		return 0
	}
	now := d.clk.Now()
	due, err := d.store.ListCallbacks(ctx, storage.CallbackFilter{States: []string{storage.CallbackPending}, DueBefore: now})
	if err != nil {
		d.log.Warn("could not list due callbacks", "err", err)
		return 0
	}
	n := 0
	for i := range due {
		cb := &due[i]
		d.mu.Lock()
		handed := d.handed[cb.ID]
		d.mu.Unlock()
		if handed {
			continue
		}
		p, err := PlanOf(cb)
		if err != nil {
			d.log.Error("unreadable callback", "callback_id", cb.ID, "err", err)
			continue
		}
		if at, ok := p.NextEligible(now); !ok || at.After(now) {
			if ok {
				d.store.DeferCallback(ctx, cb.ID, at, now)
			}
			continue
		}
		if hours := d.hours[cb.Queue]; !hours.Always() && !hours.Contains(now) {
			d.whenClosed(ctx, cb, p, now)
			continue
		}
		e := Entry{CallID: EntryCallID(cb.ID), CallbackID: cb.ID, Queue: cb.Queue, Priority: cb.Priority, Since: cb.EnqueuedAt, Number: cb.Number,
			OfferTimeout: d.lease() + 15*time.Second}
		if cb.Skills != "" {
			json.Unmarshal([]byte(cb.Skills), &e.Skills)
		}
		if q := d.cfg.queue(cb.Queue); DialOrder(cb.DialOrder) != AgentFirst {
			e.LeadTime = q.LeadTime
		}
		if agent, only := p.Target(now); only {
			e.Agent, e.Deadline = agent, p.AgentDeadline
		}
		if err := d.floor.EnqueueCallback(ctx, e); err != nil {
			d.log.Warn("could not enqueue callback", "callback_id", cb.ID, "queue", cb.Queue, "err", err)
			continue
		}
		d.mu.Lock()
		d.handed[cb.ID] = true
		d.mu.Unlock()
		n++
	}
	return n
}

func (d *Desk) whenClosed(ctx context.Context, cb *storage.Callback, p Plan, now time.Time) {
	q := d.cfg.queue(cb.Queue)
	sw, _ := ParseWindow(q.ScheduleWindow, q.HoursTZ)
	next, err := WhenClosed(p, q.Closed, d.hours[cb.Queue], sw, now)
	if err != nil {
		d.log.Error("queue closed and never opens; callback left pending", "callback_id", cb.ID, "queue", cb.Queue, "err", err)
		return
	}
	if next.Kind == KindScheduled && Kind(cb.Kind) != KindScheduled || q.Closed == ClosedSchedule {
		err = d.store.RescheduleCallback(ctx, cb.ID, next.NotBefore, next.Window.String(), q.HoursTZ, nil, now)
	} else {
		err = d.store.DeferCallback(ctx, cb.ID, next.NotBefore, now)
	}
	if err != nil {
		d.log.Warn("could not move callback past closed hours", "callback_id", cb.ID, "err", err)
		return
	}
	d.log.Info("queue closed; callback moved", "callback_id", cb.ID, "queue", cb.Queue, "policy", q.Closed, "not_before", next.NotBefore)
}

// Run looks for due callbacks every Poll and settles attempts interrupted
// by a crash, until ctx ends.
func (d *Desk) Run(ctx context.Context) error {
	for {
		d.Recover(ctx)
		d.Dispatch(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-d.clk.After(d.cfg.Poll):
		}
	}
}

// Stats returns per-queue callback figures for [from, to): offers made
// and accepted, callbacks requested by outcome, and the average time from
// request to connection — from the database, so they survive restarts and
// add up across instances. A zero to is now (the desk's clock), a zero
// from 24 hours before to.
func (d *Desk) Stats(ctx context.Context, from, to time.Time) ([]QueueStats, error) {
	if to.IsZero() {
		to = d.clk.Now().Add(time.Second) // created this second is included
	}
	if from.IsZero() {
		from = to.Add(-24 * time.Hour)
	}
	if !from.Before(to) {
		return nil, FieldErrors{{Field: "from", Msg: fmt.Sprintf("%s is not before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))}}
	}
	rows, err := d.store.CallbackStats(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]QueueStats, len(rows))
	for i, r := range rows {
		out[i] = QueueStats{CallbackCounts: r}
	}
	return out, nil
}

// QueueStats are a queue's callback figures.
type QueueStats struct {
	storage.CallbackCounts
}
