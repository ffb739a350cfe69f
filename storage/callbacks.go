package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
)

// Callback states. The life of a callback:
//
//	pending ──Claim──▶ claimed ──BeginAttempt──▶ dialling ──FinishAttempt──▶ pending (retry) | completed | failed
//	claimed ──Release──▶ pending
//	pending|claimed ──Cancel──▶ cancelled
//
// A claim is a lease: claimed_by names the instance, lease_until says how
// long the claim holds without renewal. A lapsed claim on a claimed row is
// free to take; a lapsed claim on a dialling row is a crash in the middle
// of an attempt and is taken only by TakeOverInterrupted, which never
// redials it (see docs/callbacks.md, "Exactly once").
const (
	CallbackPending   = "pending"
	CallbackClaimed   = "claimed"
	CallbackDialling  = "dialling"
	CallbackCompleted = "completed"
	CallbackFailed    = "failed"
	CallbackCancelled = "cancelled"
)

// Errors callers of the callback repository branch on.
var (
	// ErrClaimLost means the row is not (or no longer) claimed by the
	// caller: another instance holds it, the lease lapsed, or it changed state.
	ErrClaimLost = errors.New("callback claim lost")
	// ErrCallbackState means the operation does not fit the callback's state
	// (cancel a completed callback, reschedule one being dialled).
	ErrCallbackState = errors.New("callback is not in a state that allows this")
)

// Callback is one virtual-hold entry or scheduled callback.
type Callback struct {
	ID       string `gorm:"column:id;primaryKey;size:64" json:"id"`
	Kind     string `gorm:"column:kind;size:16" json:"kind"`
	State    string `gorm:"column:state;size:16;index:idx_callbacks_state_due,priority:1" json:"state"`
	Queue    string `gorm:"column:queue;size:64;index:idx_callbacks_queue" json:"queue"`
	Number   string `gorm:"column:number;size:64" json:"number"`
	CallerID string `gorm:"column:caller_id;size:64" json:"caller_id,omitempty"` // number shown to the customer
	// OriginCallID is the call a virtual-hold entry came from.
	OriginCallID string `gorm:"column:origin_call_id;size:64" json:"origin_call_id,omitempty"`
	Priority     int    `gorm:"column:priority" json:"priority"`
	Skills       string `gorm:"column:skills;type:text" json:"skills,omitempty"` // JSON object skill → level
	// EnqueuedAt is the place in line (the caller's original enqueue time).
	EnqueuedAt time.Time `gorm:"column:enqueued_at" json:"enqueued_at"`
	// NotBefore is the earliest next dial.
	NotBefore       time.Time  `gorm:"column:not_before;index:idx_callbacks_state_due,priority:2" json:"not_before"`
	Window          string     `gorm:"column:window_spec;size:64" json:"window,omitempty"`
	TZ              string     `gorm:"column:tz;size:64" json:"tz,omitempty"`
	MaxAttempts     int        `gorm:"column:max_attempts" json:"max_attempts"`
	IntervalSeconds int        `gorm:"column:interval_seconds" json:"interval_seconds"`
	Multiplier      float64    `gorm:"column:multiplier" json:"multiplier"`
	Attempts        int        `gorm:"column:attempts" json:"attempts"`
	AgentID         string     `gorm:"column:agent_id;size:64;index:idx_callbacks_agent" json:"agent_id,omitempty"`
	AgentDeadline   *time.Time `gorm:"column:agent_deadline" json:"agent_deadline,omitempty"`
	DialOrder       string     `gorm:"column:dial_order;size:16" json:"dial_order,omitempty"`
	Note            string     `gorm:"column:note;type:text" json:"note,omitempty"`
	CreatedBy       string     `gorm:"column:created_by;size:128" json:"created_by,omitempty"`
	ClaimedBy       string     `gorm:"column:claimed_by;size:128" json:"claimed_by,omitempty"`
	LeaseUntil      *time.Time `gorm:"column:lease_until" json:"lease_until,omitempty"`
	Outcome         string     `gorm:"column:outcome;size:32" json:"outcome,omitempty"`
	Detail          string     `gorm:"column:detail;size:255" json:"detail,omitempty"`
	CreatedAt       time.Time  `gorm:"column:created_at;index:idx_callbacks_created" json:"created_at"`
	UpdatedAt       time.Time  `gorm:"column:updated_at" json:"updated_at"`
	ConnectedAt     *time.Time `gorm:"column:connected_at" json:"connected_at,omitempty"`
	EndedAt         *time.Time `gorm:"column:ended_at" json:"ended_at,omitempty"`
}

// TableName pins the table name.
func (Callback) TableName() string { return "callbacks" }

// CallbackAttempt is one dial attempt, written durably before the PBX is
// asked to dial. (callback_id, seq) is unique: an attempt can be started once.
type CallbackAttempt struct {
	ID         uint64     `gorm:"column:id;primaryKey;autoIncrement" json:"id"`
	CallbackID string     `gorm:"column:callback_id;size:64;uniqueIndex:idx_callback_attempts_seq,priority:1" json:"callback_id"`
	Seq        int        `gorm:"column:seq;uniqueIndex:idx_callback_attempts_seq,priority:2" json:"seq"`
	Instance   string     `gorm:"column:instance;size:128" json:"instance"`
	AgentID    string     `gorm:"column:agent_id;size:64" json:"agent_id,omitempty"`
	Tag        string     `gorm:"column:tag;size:128" json:"tag"` // originate tag, found again in PBX reconciliation
	LegNode    string     `gorm:"column:leg_node;size:64" json:"leg_node,omitempty"`
	LegID      string     `gorm:"column:leg_id;size:128" json:"leg_id,omitempty"`
	StartedAt  time.Time  `gorm:"column:started_at" json:"started_at"`
	AnsweredAt *time.Time `gorm:"column:answered_at" json:"answered_at,omitempty"`
	EndedAt    *time.Time `gorm:"column:ended_at" json:"ended_at,omitempty"`
	// Outcome is empty while the attempt runs.
	Outcome string `gorm:"column:outcome;size:32" json:"outcome,omitempty"`
	Cause   int    `gorm:"column:cause" json:"cause,omitempty"`
	Detail  string `gorm:"column:detail;size:255" json:"detail,omitempty"`
}

// TableName pins the table name.
func (CallbackAttempt) TableName() string { return "callback_attempts" }

func utcPtr(t time.Time) *time.Time { u := t.UTC(); return &u }

// CreateCallback stores a new callback (state pending unless set).
func (s *Store) CreateCallback(ctx context.Context, cb *Callback) error {
	if cb.ID == "" {
		return fmt.Errorf("create callback: no id")
	}
	if cb.State == "" {
		cb.State = CallbackPending
	}
	cb.EnqueuedAt, cb.NotBefore = cb.EnqueuedAt.UTC(), cb.NotBefore.UTC()
	if cb.CreatedAt.IsZero() {
		cb.CreatedAt = time.Now().UTC()
	}
	cb.CreatedAt = cb.CreatedAt.UTC()
	cb.UpdatedAt = cb.CreatedAt
	if err := s.db.WithContext(ctx).Create(cb).Error; err != nil {
		return fmt.Errorf("create callback %s: %w", cb.ID, err)
	}
	return nil
}

// GetCallback returns one callback; ErrNotFound if unknown.
func (s *Store) GetCallback(ctx context.Context, id string) (*Callback, error) {
	var cb Callback
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&cb).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("callback %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("callback %q: %w", id, err)
	}
	return &cb, nil
}

// CallbackFilter selects callbacks for lists. Zero fields do not filter.
type CallbackFilter struct {
	States []string
	Queue  string
	Agent  string
	Kind   string
	// DueBefore keeps callbacks whose NotBefore is at or before it.
	DueBefore time.Time
	Limit     int
}

// ListCallbacks lists callbacks in service order: priority first, then
// place in line.
func (s *Store) ListCallbacks(ctx context.Context, f CallbackFilter) ([]Callback, error) {
	q := s.db.WithContext(ctx).Model(&Callback{})
	if len(f.States) > 0 {
		q = q.Where("state IN ?", f.States)
	}
	if f.Queue != "" {
		q = q.Where("queue = ?", f.Queue)
	}
	if f.Agent != "" {
		q = q.Where("agent_id = ?", f.Agent)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if !f.DueBefore.IsZero() {
		q = q.Where("not_before <= ?", f.DueBefore.UTC())
	}
	limit := f.Limit
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	var out []Callback
	if err := q.Order("priority DESC").Order("enqueued_at ASC").Order("id ASC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list callbacks: %w", err)
	}
	return out, nil
}

// CallbackAttempts lists a callback's attempts in order.
func (s *Store) CallbackAttempts(ctx context.Context, id string) ([]CallbackAttempt, error) {
	var out []CallbackAttempt
	if err := s.db.WithContext(ctx).Where("callback_id = ?", id).Order("seq ASC").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("callback %q attempts: %w", id, err)
	}
	return out, nil
}

// ClaimCallback claims a callback for owner until now+lease with one
// atomic conditional UPDATE: it succeeds only when the row is pending (and
// due), or claimed under a lapsed lease, or already claimed by owner.
// Two instances racing for one row: the database serialises the two
// UPDATEs on the row and exactly one sees its condition still true.
// It returns ErrClaimLost when another holds it or it is not claimable.
func (s *Store) ClaimCallback(ctx context.Context, id, owner string, now time.Time, lease time.Duration) error {
	now = now.UTC()
	res := s.db.WithContext(ctx).Model(&Callback{}).
		Where("id = ?", id).
		Where("(state = ? AND not_before <= ?) OR (state = ? AND (lease_until < ? OR claimed_by = ?))",
			CallbackPending, now, CallbackClaimed, now, owner).
		Updates(map[string]any{"state": CallbackClaimed, "claimed_by": owner, "lease_until": now.Add(lease), "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("claim callback %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("claim callback %s by %s: %w", id, owner, ErrClaimLost)
	}
	return nil
}

// ClaimDue claims up to limit due callbacks (pending with NotBefore at or
// before now, or claimed under a lapsed lease) for owner, in service order,
// and returns the ones it won. Rows another instance wins in between are
// skipped, never shared.
func (s *Store) ClaimDue(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Callback, error) {
	now = now.UTC()
	if limit <= 0 {
		limit = 10
	}
	var cands []Callback
	err := s.db.WithContext(ctx).Model(&Callback{}).Select("id").
		Where("(state = ? AND not_before <= ?) OR (state = ? AND lease_until < ?)", CallbackPending, now, CallbackClaimed, now).
		Order("priority DESC").Order("enqueued_at ASC").Order("id ASC").Limit(limit * 2).Find(&cands).Error
	if err != nil {
		return nil, fmt.Errorf("claim due callbacks: %w", err)
	}
	var won []Callback
	for _, c := range cands {
		if len(won) >= limit {
			break
		}
		if err := s.ClaimCallback(ctx, c.ID, owner, now, lease); err != nil {
			if errors.Is(err, ErrClaimLost) {
				continue
			}
			return won, err
		}
		cb, err := s.GetCallback(ctx, c.ID)
		if err != nil {
			return won, err
		}
		won = append(won, *cb)
	}
	return won, nil
}

// RenewLease extends owner's claim (claimed or dialling) to now+lease.
func (s *Store) RenewLease(ctx context.Context, id, owner string, now time.Time, lease time.Duration) error {
	now = now.UTC()
	res := s.db.WithContext(ctx).Model(&Callback{}).
		Where("id = ? AND claimed_by = ? AND state IN ? AND lease_until >= ?", id, owner, []string{CallbackClaimed, CallbackDialling}, now).
		Updates(map[string]any{"lease_until": now.Add(lease), "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("renew callback lease %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("renew callback lease %s by %s: %w", id, owner, ErrClaimLost)
	}
	return nil
}

// ReleaseCallback gives a claim back without an attempt (the agent went
// away before anything was dialled); the callback keeps its place.
func (s *Store) ReleaseCallback(ctx context.Context, id, owner string, now time.Time) error {
	now = now.UTC()
	res := s.db.WithContext(ctx).Model(&Callback{}).
		Where("id = ? AND claimed_by = ? AND state = ?", id, owner, CallbackClaimed).
		Updates(map[string]any{"state": CallbackPending, "claimed_by": "", "lease_until": nil, "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("release callback %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("release callback %s by %s: %w", id, owner, ErrClaimLost)
	}
	return nil
}

// BeginAttempt durably records that owner is about to dial attempt
// number Attempts+1, in one transaction: the callback moves claimed →
// dialling only while owner's lease holds, and the attempt row's unique
// (callback_id, seq) makes a second start of the same attempt impossible.
// Only after it returns may the PBX be asked to dial. It returns the
// attempt (with its sequence number) or ErrClaimLost.
func (s *Store) BeginAttempt(ctx context.Context, id, owner, agentID, tag string, now time.Time) (*CallbackAttempt, error) {
	now = now.UTC()
	var att *CallbackAttempt
	// The transaction starts with its write: SQLite then takes the write
	// lock at once (waiting out the busy timeout) instead of failing to
	// upgrade a read lock, and InnoDB locks the row before anything is read.
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Callback{}).Where("id = ? AND state = ? AND claimed_by = ? AND lease_until >= ?", id, CallbackClaimed, owner, now).
			Updates(map[string]any{"state": CallbackDialling, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("begin attempt on callback %s by %s: %w", id, owner, ErrClaimLost)
		}
		var started int64
		if err := tx.Model(&CallbackAttempt{}).Where("callback_id = ?", id).Count(&started).Error; err != nil {
			return err
		}
		att = &CallbackAttempt{CallbackID: id, Seq: int(started) + 1, Instance: owner, AgentID: agentID, Tag: tag, StartedAt: now}
		if att.Tag == "" {
			att.Tag = fmt.Sprintf("cb-%s-%d", id, att.Seq)
		}
		if err := tx.Create(att).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return fmt.Errorf("attempt %d of callback %s already started: %w", att.Seq, id, ErrClaimLost)
			}
			return err
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrClaimLost) || errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("begin attempt on callback %s: %w", id, err)
	}
	return att, nil
}

// AttemptLeg records the PBX leg of a running attempt (after Originate
// returned it), so reconciliation can find it.
func (s *Store) AttemptLeg(ctx context.Context, attemptID uint64, node, legID string) error {
	return s.db.WithContext(ctx).Model(&CallbackAttempt{}).Where("id = ?", attemptID).
		Updates(map[string]any{"leg_node": node, "leg_id": legID}).Error
}

// AttemptAnswered records that the customer answered.
func (s *Store) AttemptAnswered(ctx context.Context, attemptID uint64, at time.Time) error {
	return s.db.WithContext(ctx).Model(&CallbackAttempt{}).Where("id = ? AND answered_at IS NULL", attemptID).
		Update("answered_at", at.UTC()).Error
}

// AttemptResult is how an attempt ended and what becomes of its callback.
type AttemptResult struct {
	Outcome string
	Cause   int
	Detail  string
	// State is the callback's next state: pending (retry), completed or failed.
	State string
	// Attempts is the callback's new count of attempts used.
	Attempts int
	// NotBefore is the next eligible time when State is pending.
	NotBefore time.Time
	// Connected is when customer and agent were bridged (zero if never).
	Connected time.Time
}

// FinishAttempt closes the attempt and moves its callback on, in one
// transaction, only while owner still holds the dialling claim.
func (s *Store) FinishAttempt(ctx context.Context, cbID string, attemptID uint64, owner string, r AttemptResult, now time.Time) error {
	now = now.UTC()
	switch r.State {
	case CallbackPending, CallbackCompleted, CallbackFailed:
	default:
		return fmt.Errorf("finish attempt on callback %s: next state %q: %w", cbID, r.State, ErrCallbackState)
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&CallbackAttempt{}).Where("id = ? AND callback_id = ? AND outcome = ''", attemptID, cbID).
			Updates(map[string]any{"outcome": r.Outcome, "cause": r.Cause, "detail": trunc(r.Detail, 255), "ended_at": now})
		if res.Error != nil {
			return fmt.Errorf("finish attempt %d: %w", attemptID, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("finish attempt %d of callback %s: already finished: %w", attemptID, cbID, ErrClaimLost)
		}
		up := map[string]any{"state": r.State, "attempts": r.Attempts, "outcome": r.Outcome, "detail": trunc(r.Detail, 255),
			"claimed_by": "", "lease_until": nil, "updated_at": now}
		if r.State == CallbackPending {
			up["not_before"] = r.NotBefore.UTC()
		} else {
			up["ended_at"] = now
		}
		if !r.Connected.IsZero() {
			up["connected_at"] = r.Connected.UTC()
		}
		res = tx.Model(&Callback{}).Where("id = ? AND state = ? AND claimed_by = ?", cbID, CallbackDialling, owner).Updates(up)
		if res.Error != nil {
			return fmt.Errorf("finish attempt on callback %s: %w", cbID, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("finish attempt on callback %s by %s: %w", cbID, owner, ErrClaimLost)
		}
		return nil
	})
}

// TakeOverInterrupted claims callbacks left dialling under a lapsed lease —
// an instance stopped in the middle of an attempt — for owner, and returns
// each with its unfinished attempt. The caller must settle every attempt
// with FinishAttempt after looking at what the PBX still holds; it must not
// dial them again as they are.
func (s *Store) TakeOverInterrupted(ctx context.Context, owner string, now time.Time, lease time.Duration) ([]Callback, []CallbackAttempt, error) {
	now = now.UTC()
	var cands []Callback
	if err := s.db.WithContext(ctx).Select("id").Where("state = ? AND lease_until < ?", CallbackDialling, now).Order("id").Find(&cands).Error; err != nil {
		return nil, nil, fmt.Errorf("find interrupted callbacks: %w", err)
	}
	var cbs []Callback
	var atts []CallbackAttempt
	for _, c := range cands {
		res := s.db.WithContext(ctx).Model(&Callback{}).Where("id = ? AND state = ? AND lease_until < ?", c.ID, CallbackDialling, now).
			Updates(map[string]any{"claimed_by": owner, "lease_until": now.Add(lease), "updated_at": now})
		if res.Error != nil {
			return cbs, atts, fmt.Errorf("take over callback %s: %w", c.ID, res.Error)
		}
		if res.RowsAffected == 0 {
			continue // another instance took it
		}
		cb, err := s.GetCallback(ctx, c.ID)
		if err != nil {
			return cbs, atts, err
		}
		var att CallbackAttempt
		err = s.db.WithContext(ctx).Where("callback_id = ? AND outcome = ''", c.ID).Order("seq DESC").Take(&att).Error
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return cbs, atts, fmt.Errorf("interrupted attempt of %s: %w", c.ID, err)
		}
		cbs = append(cbs, *cb)
		atts = append(atts, att) // zero attempt when none is open (should not happen)
	}
	return cbs, atts, nil
}

// CancelCallback cancels a callback that is not being dialled. It returns
// ErrCallbackState for a callback being dialled or already finished.
func (s *Store) CancelCallback(ctx context.Context, id, why string, now time.Time) error {
	now = now.UTC()
	res := s.db.WithContext(ctx).Model(&Callback{}).Where("id = ? AND state IN ?", id, []string{CallbackPending, CallbackClaimed}).
		Updates(map[string]any{"state": CallbackCancelled, "outcome": "cancelled", "detail": trunc(why, 255), "claimed_by": "", "lease_until": nil, "ended_at": now, "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("cancel callback %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return s.stateError(ctx, id, "cancel")
	}
	return nil
}

// RescheduleCallback changes when (and in which window) a pending callback
// is dialled; EnqueuedAt moves with it. Other states get ErrCallbackState.
func (s *Store) RescheduleCallback(ctx context.Context, id string, notBefore time.Time, window, tz string, agentDeadline *time.Time, now time.Time) error {
	now = now.UTC()
	up := map[string]any{"not_before": notBefore.UTC(), "enqueued_at": notBefore.UTC(), "window_spec": window, "tz": tz, "kind": "scheduled", "updated_at": now}
	if agentDeadline != nil {
		up["agent_deadline"] = agentDeadline.UTC()
	}
	res := s.db.WithContext(ctx).Model(&Callback{}).Where("id = ? AND state = ?", id, CallbackPending).Updates(up)
	if res.Error != nil {
		return fmt.Errorf("reschedule callback %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return s.stateError(ctx, id, "reschedule")
	}
	return nil
}

// DeferCallback moves a pending callback's next eligible time (queue
// closed: next opening) without touching its place in line.
func (s *Store) DeferCallback(ctx context.Context, id string, notBefore time.Time, now time.Time) error {
	res := s.db.WithContext(ctx).Model(&Callback{}).Where("id = ? AND state = ?", id, CallbackPending).
		Updates(map[string]any{"not_before": notBefore.UTC(), "updated_at": now.UTC()})
	if res.Error != nil {
		return fmt.Errorf("defer callback %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return s.stateError(ctx, id, "defer")
	}
	return nil
}

func (s *Store) stateError(ctx context.Context, id, op string) error {
	cb, err := s.GetCallback(ctx, id)
	if err != nil {
		return err
	}
	return fmt.Errorf("%s callback %s in state %s: %w", op, id, cb.State, ErrCallbackState)
}

// CallbackOffer is one callback offer played to a waiting caller.
type CallbackOffer struct {
	ID         uint64     `gorm:"column:id;primaryKey;autoIncrement" json:"id"`
	Queue      string     `gorm:"column:queue;size:64" json:"queue"`
	CallID     string     `gorm:"column:call_id;size:64;index:idx_callback_offers_call" json:"call_id"`
	OfferedAt  time.Time  `gorm:"column:offered_at;index:idx_callback_offers_at" json:"offered_at"`
	AcceptedAt *time.Time `gorm:"column:accepted_at" json:"accepted_at,omitempty"`
	CallbackID string     `gorm:"column:callback_id;size:64" json:"callback_id,omitempty"`
}

// TableName pins the table name.
func (CallbackOffer) TableName() string { return "callback_offers" }

// RecordCallbackOffer notes that a waiting caller was offered a callback.
func (s *Store) RecordCallbackOffer(ctx context.Context, queue, callID string, at time.Time) error {
	o := &CallbackOffer{Queue: queue, CallID: callID, OfferedAt: at.UTC()}
	if err := s.db.WithContext(ctx).Create(o).Error; err != nil {
		return fmt.Errorf("record callback offer to %s: %w", callID, err)
	}
	return nil
}

// CallbackOfferAccepted marks the latest offer to callID accepted, with
// the callback it became. A call never offered (a callback stored by
// another path) changes nothing.
func (s *Store) CallbackOfferAccepted(ctx context.Context, callID, callbackID string, at time.Time) error {
	var o CallbackOffer
	err := s.db.WithContext(ctx).Where("call_id = ? AND accepted_at IS NULL", callID).Order("id DESC").Take(&o).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("callback offer to %s: %w", callID, err)
	}
	if err := s.db.WithContext(ctx).Model(&CallbackOffer{}).Where("id = ?", o.ID).
		Updates(map[string]any{"accepted_at": at.UTC(), "callback_id": callbackID}).Error; err != nil {
		return fmt.Errorf("accept callback offer to %s: %w", callID, err)
	}
	return nil
}

// CallbackCounts is per-queue callback statistics over a period.
type CallbackCounts struct {
	Queue string `json:"queue"`
	// Offered and Accepted count virtual-hold offers made in the period
	// and how many of them the caller accepted.
	Offered             int64   `json:"offered"`
	Accepted            int64   `json:"accepted"`
	Requested           int64   `json:"requested"`
	Waiting             int64   `json:"waiting"`
	Completed           int64   `json:"completed"`
	Failed              int64   `json:"failed"`
	Cancelled           int64   `json:"cancelled"`
	AvgToConnectSeconds float64 `json:"avg_to_connect_seconds"`
}

// CallbackStats counts, per queue, the callback offers made in [from, to)
// and those accepted, the callbacks created in [from, to) by state, and
// the average time from request to connection of those connected. Queues
// are in name order.
func (s *Store) CallbackStats(ctx context.Context, from, to time.Time) ([]CallbackCounts, error) {
	var offers []struct {
		Queue    string
		Offered  int64
		Accepted int64
	}
	err := s.db.WithContext(ctx).Model(&CallbackOffer{}).
		Select("queue, COUNT(*) AS offered, SUM(CASE WHEN accepted_at IS NULL THEN 0 ELSE 1 END) AS accepted").
		Where("offered_at >= ? AND offered_at < ?", from.UTC(), to.UTC()).Group("queue").Scan(&offers).Error
	if err != nil {
		return nil, fmt.Errorf("callback offer stats: %w", err)
	}
	var rows []Callback
	err = s.db.WithContext(ctx).Select("queue", "state", "created_at", "connected_at").
		Where("created_at >= ? AND created_at < ?", from.UTC(), to.UTC()).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("callback stats: %w", err)
	}
	by := map[string]*CallbackCounts{}
	var order []string
	get := func(q string) *CallbackCounts {
		c := by[q]
		if c == nil {
			c = &CallbackCounts{Queue: q}
			by[q] = c
			order = append(order, q)
		}
		return c
	}
	for _, o := range offers {
		c := get(o.Queue)
		c.Offered, c.Accepted = o.Offered, o.Accepted
	}
	sums := map[string]float64{}
	connected := map[string]int{}
	for _, r := range rows {
		c := get(r.Queue)
		c.Requested++
		switch r.State {
		case CallbackPending, CallbackClaimed, CallbackDialling:
			c.Waiting++
		case CallbackCompleted:
			c.Completed++
		case CallbackFailed:
			c.Failed++
		case CallbackCancelled:
			c.Cancelled++
		}
		if r.ConnectedAt != nil {
			sums[r.Queue] += r.ConnectedAt.Sub(r.CreatedAt).Seconds()
			connected[r.Queue]++
		}
	}
	sort.Strings(order)
	out := make([]CallbackCounts, 0, len(order))
	for _, q := range order {
		c := by[q]
		if n := connected[q]; n > 0 {
			c.AvgToConnectSeconds = sums[q] / float64(n)
		}
		out = append(out, *c)
	}
	return out, nil
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
