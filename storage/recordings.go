package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Recording statuses.
const (
	RecordingActive = "recording" // the PBX is writing (or was asked to)
	// RecordingPending: the announcement is playing; the PBX is asked to
	// record when it ends. Kept as a row so a restart of switchboard (or
	// of its PBX link) resumes the decision instead of forgetting it.
	RecordingPending  = "pending"
	RecordingFinished = "finished"
	RecordingFailed   = "failed"
	RecordingMissing  = "missing" // the PBX no longer has it and never reported it finished
)

// Errors callers of the recording repository branch on.
var (
	// ErrRecordingState means the operation does not fit the recording's
	// state (pause a finished recording, resume one not paused).
	ErrRecordingState = errors.New("recording is not in a state that allows this")
	// ErrBadFilter means a search filter or cursor is malformed; the
	// message names the field.
	ErrBadFilter = errors.New("bad recording filter")
	// ErrPastEnd means a review comment's position lies outside the
	// recording (negative, or after its end).
	ErrPastEnd = errors.New("position is past the end of the recording")
)

// Recording is everything switchboard knows about one recording. The PBX
// owns the audio; this row owns the facts about it.
type Recording struct {
	ID     string `gorm:"column:id;primaryKey;size:64" json:"id"`
	CallID string `gorm:"column:call_id;size:64" json:"call_id"`
	Node   string `gorm:"column:node;size:64" json:"node"`
	// PBXName is the PBX's name for the recording (ARI live recording
	// name, FreeSWITCH file path): PBX events are matched on (node, name).
	PBXName      string     `gorm:"column:pbx_name;size:255" json:"pbx_name"`
	CallerLeg    string     `gorm:"column:caller_leg;size:128" json:"caller_leg,omitempty"`
	AgentLeg     string     `gorm:"column:agent_leg;size:128" json:"agent_leg,omitempty"`
	BridgeID     string     `gorm:"column:bridge_id;size:128" json:"bridge_id,omitempty"`
	CallerNumber string     `gorm:"column:caller_number;size:64" json:"caller_number"`
	DialedNumber string     `gorm:"column:dialed_number;size:64" json:"dialed_number,omitempty"`
	AgentID      string     `gorm:"column:agent_id;size:64" json:"agent_id"`
	Queue        string     `gorm:"column:queue;size:64" json:"queue"`
	Path         string     `gorm:"column:path;size:512" json:"path,omitempty"`
	URI          string     `gorm:"column:uri;size:512" json:"uri,omitempty"`
	Format       string     `gorm:"column:format;size:16" json:"format,omitempty"`
	StartedAt    time.Time  `gorm:"column:started_at" json:"started_at"`
	EndedAt      *time.Time `gorm:"column:ended_at" json:"ended_at,omitempty"`
	// DurationMS is the PBX's own figure when it reports one, else the
	// span between the start and finish events.
	DurationMS int64  `gorm:"column:duration_ms" json:"duration_ms"`
	SizeBytes  *int64 `gorm:"column:size_bytes" json:"size_bytes,omitempty"`
	// Checksum is "sha256:<hex>" of the file, when switchboard can read it.
	Checksum string `gorm:"column:checksum;size:80" json:"checksum,omitempty"`
	Status   string `gorm:"column:status;size:16" json:"status"`
	// Reason says why it was recorded: always, sampled, on-demand.
	Reason    string `gorm:"column:reason;size:32" json:"reason,omitempty"`
	StartedBy string `gorm:"column:started_by;size:128" json:"started_by,omitempty"`
	Error     string `gorm:"column:error;size:255" json:"error,omitempty"`
	// PausedMS is the total of closed pause spans.
	PausedMS       int64      `gorm:"column:paused_ms" json:"paused_ms"`
	RetentionUntil *time.Time `gorm:"column:retention_until" json:"retention_until,omitempty"`
	LegalHold      bool       `gorm:"column:legal_hold" json:"legal_hold"`
	// Score is the mean percentage of the recording's evaluations.
	Score       *float64  `gorm:"column:score" json:"score,omitempty"`
	Evaluations int       `gorm:"column:evaluations" json:"evaluations"`
	Exemplary   bool      `gorm:"column:exemplary" json:"exemplary"`
	ExemplaryBy string    `gorm:"column:exemplary_by;size:128" json:"exemplary_by,omitempty"`
	Note        string    `gorm:"column:note;size:255" json:"note,omitempty"`
	CreatedAt   time.Time `gorm:"column:created_at" json:"created_at"`
	UpdatedAt   time.Time `gorm:"column:updated_at" json:"updated_at"`

	Tags   []string    `gorm:"-" json:"tags,omitempty"`
	Pauses []PauseSpan `gorm:"-" json:"pauses,omitempty"`
}

// TableName pins the table name.
func (Recording) TableName() string { return "recordings" }

// Duration is the recording's length.
func (r Recording) Duration() time.Duration { return time.Duration(r.DurationMS) * time.Millisecond }

// PauseSpan is one stretch during which the recording was paused (card
// details), with who paused it and why.
type PauseSpan struct {
	ID          uint64     `gorm:"column:id;primaryKey;autoIncrement" json:"id"`
	RecordingID string     `gorm:"column:recording_id;size:64" json:"recording_id"`
	PausedAt    time.Time  `gorm:"column:paused_at" json:"paused_at"`
	ResumedAt   *time.Time `gorm:"column:resumed_at" json:"resumed_at,omitempty"`
	PausedBy    string     `gorm:"column:paused_by;size:128" json:"paused_by"`
	Reason      string     `gorm:"column:reason;size:255" json:"reason"`
	ResumedBy   string     `gorm:"column:resumed_by;size:128" json:"resumed_by,omitempty"`
}

// TableName pins the table name.
func (PauseSpan) TableName() string { return "recording_pauses" }

// RecordingTag is one tag on one recording. StartedAt repeats the
// recording's start so a tag search reads its index in time order.
type RecordingTag struct {
	RecordingID string    `gorm:"column:recording_id;primaryKey;size:64" json:"recording_id"`
	Tag         string    `gorm:"column:tag;primaryKey;size:64" json:"tag"`
	StartedAt   time.Time `gorm:"column:started_at" json:"-"`
}

// TableName pins the table name.
func (RecordingTag) TableName() string { return "recording_tags" }

// ScorecardVersion is one applied version of a scorecard. Body is the
// scorecard as JSON; evaluations name (scorecard, version), so changing
// the file never changes how an old evaluation reads.
type ScorecardVersion struct {
	ID        uint64    `gorm:"column:id;primaryKey;autoIncrement" json:"id"`
	Name      string    `gorm:"column:name;size:64" json:"name"`
	Version   int       `gorm:"column:version" json:"version"`
	Checksum  string    `gorm:"column:checksum;size:64" json:"checksum"`
	Body      string    `gorm:"column:body;type:text" json:"body"`
	AppliedBy string    `gorm:"column:applied_by;size:128" json:"applied_by"`
	AppliedAt time.Time `gorm:"column:applied_at" json:"applied_at"`
}

// TableName pins the table name.
func (ScorecardVersion) TableName() string { return "scorecard_versions" }

// Evaluation is one reviewer's scoring of one recording.
type Evaluation struct {
	ID               string    `gorm:"column:id;primaryKey;size:64" json:"id"`
	RecordingID      string    `gorm:"column:recording_id;size:64" json:"recording_id"`
	AgentID          string    `gorm:"column:agent_id;size:64" json:"agent_id"`
	Queue            string    `gorm:"column:queue;size:64" json:"queue"`
	Scorecard        string    `gorm:"column:scorecard;size:64" json:"scorecard"`
	ScorecardVersion int       `gorm:"column:scorecard_version" json:"scorecard_version"`
	Reviewer         string    `gorm:"column:reviewer;size:128" json:"reviewer"`
	Percent          float64   `gorm:"column:percent" json:"percent"`
	Raw              float64   `gorm:"column:raw" json:"raw"`
	Passed           bool      `gorm:"column:passed" json:"passed"`
	CriticalFailed   bool      `gorm:"column:critical_failed" json:"critical_failed"`
	Notes            string    `gorm:"column:notes;type:text" json:"notes,omitempty"`
	CreatedAt        time.Time `gorm:"column:created_at" json:"created_at"`

	Scores   []EvaluationScore   `gorm:"-" json:"scores"`
	Comments []EvaluationComment `gorm:"-" json:"comments,omitempty"`
}

// TableName pins the table name.
func (Evaluation) TableName() string { return "evaluations" }

// EvaluationScore is one criterion's mark in an evaluation.
type EvaluationScore struct {
	EvaluationID string  `gorm:"column:evaluation_id;primaryKey;size:64" json:"-"`
	Criterion    string  `gorm:"column:criterion;primaryKey;size:64" json:"criterion"`
	Score        float64 `gorm:"column:score" json:"score"`
	Max          float64 `gorm:"column:max_score" json:"max"`
	Weight       float64 `gorm:"column:weight" json:"weight"`
	NA           bool    `gorm:"column:na" json:"na,omitempty"`
	Earned       float64 `gorm:"column:earned" json:"earned"`
}

// TableName pins the table name.
func (EvaluationScore) TableName() string { return "evaluation_scores" }

// EvaluationComment is a reviewer's comment, pinned to a moment of the
// recording (OffsetMS from its start).
type EvaluationComment struct {
	ID           uint64    `gorm:"column:id;primaryKey;autoIncrement" json:"id"`
	EvaluationID string    `gorm:"column:evaluation_id;size:64" json:"evaluation_id"`
	OffsetMS     int64     `gorm:"column:offset_ms" json:"offset_ms"`
	Author       string    `gorm:"column:author;size:128" json:"author"`
	Text         string    `gorm:"column:text;type:text" json:"text"`
	CreatedAt    time.Time `gorm:"column:created_at" json:"created_at"`
}

// TableName pins the table name.
func (EvaluationComment) TableName() string { return "evaluation_comments" }

// ReviewSampleItem is one recording picked for a supervisor to review.
type ReviewSampleItem struct {
	WeekStart   time.Time `gorm:"column:week_start;primaryKey" json:"week_start"`
	AgentID     string    `gorm:"column:agent_id;primaryKey;size:64" json:"agent_id"`
	RecordingID string    `gorm:"column:recording_id;primaryKey;size:64" json:"recording_id"`
	PickedAt    time.Time `gorm:"column:picked_at" json:"picked_at"`
	// Reviewed is filled by the repository from the recording's evaluations.
	Reviewed bool `gorm:"-" json:"reviewed"`
}

// TableName pins the table name.
func (ReviewSampleItem) TableName() string { return "review_samples" }

// NewID returns a random id with a prefix ("rec-…", "ev-…").
func NewID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + hex.EncodeToString(b[:])
}

func recPtr(t time.Time) *time.Time { u := t.UTC(); return &u }

func recTrunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ------------------------------------------------------------ recordings

// CreateRecording stores a new recording row. A row with the same id is
// left as it is (a retried create is harmless).
func (s *Store) CreateRecording(ctx context.Context, r *Recording) error {
	if r.ID == "" {
		return fmt.Errorf("create recording: no id")
	}
	if r.Status == "" {
		r.Status = RecordingActive
	}
	now := time.Now().UTC()
	r.StartedAt = r.StartedAt.UTC()
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	r.UpdatedAt = now
	r.Error = recTrunc(r.Error, 255)
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(r).Error
	if err != nil {
		return fmt.Errorf("create recording %s: %w", r.ID, err)
	}
	return nil
}

// SaveRecording writes every column of an existing recording (and keeps
// its tags' copy of the start time in step).
func (s *Store) SaveRecording(ctx context.Context, r *Recording) error {
	r.UpdatedAt = time.Now().UTC()
	r.StartedAt = r.StartedAt.UTC()
	r.Error = recTrunc(r.Error, 255)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Select("*").Omit("id", "created_at").Where("id = ?", r.ID).Updates(r)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return tx.Model(&RecordingTag{}).Where("recording_id = ? AND started_at <> ?", r.ID, r.StartedAt).Update("started_at", r.StartedAt).Error
	})
	if err != nil {
		return fmt.Errorf("save recording %s: %w", r.ID, err)
	}
	return nil
}

// Recording returns one recording with its tags and pause spans.
func (s *Store) Recording(ctx context.Context, id string) (*Recording, error) {
	var r Recording
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("recording %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("recording %q: %w", id, err)
	}
	if err := s.fillRecordings(ctx, []*Recording{&r}, true); err != nil {
		return nil, err
	}
	return &r, nil
}

// RecordingByPBXName finds the recording a PBX event is about.
func (s *Store) RecordingByPBXName(ctx context.Context, node, name string) (*Recording, error) {
	var r Recording
	err := s.db.WithContext(ctx).Where("node = ? AND pbx_name = ?", node, name).Order("created_at DESC").Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("recording %s on node %q: %w", name, node, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("recording %s on node %q: %w", name, node, err)
	}
	return &r, nil
}

// RecordingsOfCall lists a call's recordings, oldest first, without tags
// or pauses (idx_rec_call): what a new recording's name must not repeat.
func (s *Store) RecordingsOfCall(ctx context.Context, callID string) ([]Recording, error) {
	var out []Recording
	if err := s.db.WithContext(ctx).Where("call_id = ?", callID).Order("started_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("recordings of call %q: %w", callID, err)
	}
	return out, nil
}

// PendingRecordings lists a node's recordings waiting for their
// announcement to end (all nodes when node is empty), oldest first.
func (s *Store) PendingRecordings(ctx context.Context, node string) ([]Recording, error) {
	q := s.db.WithContext(ctx).Where("status = ?", RecordingPending)
	if node != "" {
		q = q.Where("node = ?", node)
	}
	var out []Recording
	if err := q.Order("started_at").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("pending recordings of node %q: %w", node, err)
	}
	return out, nil
}

// ActiveRecordings lists the recordings of a node (all nodes when node is
// empty) still marked recording: what reconciliation settles.
func (s *Store) ActiveRecordings(ctx context.Context, node string) ([]Recording, error) {
	q := s.db.WithContext(ctx).Where("status = ?", RecordingActive)
	if node != "" {
		q = q.Where("node = ?", node)
	}
	var out []Recording
	if err := q.Order("started_at").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("active recordings of node %q: %w", node, err)
	}
	return out, nil
}

// fillRecordings loads tags (and, when pauses is set, pause spans) for rows.
func (s *Store) fillRecordings(ctx context.Context, rs []*Recording, pauses bool) error {
	if len(rs) == 0 {
		return nil
	}
	ids := make([]string, len(rs))
	byID := make(map[string]*Recording, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
		byID[r.ID] = r
		r.Tags, r.Pauses = nil, nil
	}
	var tags []RecordingTag
	if err := s.db.WithContext(ctx).Where("recording_id IN ?", ids).Order("tag").Find(&tags).Error; err != nil {
		return fmt.Errorf("recording tags: %w", err)
	}
	for _, t := range tags {
		byID[t.RecordingID].Tags = append(byID[t.RecordingID].Tags, t.Tag)
	}
	if pauses {
		var ps []PauseSpan
		if err := s.db.WithContext(ctx).Where("recording_id IN ?", ids).Order("paused_at, id").Find(&ps).Error; err != nil {
			return fmt.Errorf("recording pauses: %w", err)
		}
		for _, p := range ps {
			byID[p.RecordingID].Pauses = append(byID[p.RecordingID].Pauses, p)
		}
	}
	return nil
}

// StartPause opens a pause span. It fails with ErrRecordingState when the
// recording is not running or already paused; the check and the insert are
// one transaction so two pauses racing leave one span.
func (s *Store) StartPause(ctx context.Context, id string, at time.Time, by, reason string) (*PauseSpan, error) {
	var span PauseSpan
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var r Recording
		if err := lockRow(tx, s.dialect).Where("id = ?", id).Take(&r).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrNotFound
			}
			return err
		}
		if r.Status != RecordingActive {
			return fmt.Errorf("%w: it is %s", ErrRecordingState, r.Status)
		}
		var open int64
		if err := tx.Model(&PauseSpan{}).Where("recording_id = ? AND resumed_at IS NULL", id).Count(&open).Error; err != nil {
			return err
		}
		if open > 0 {
			return fmt.Errorf("%w: already paused", ErrRecordingState)
		}
		span = PauseSpan{RecordingID: id, PausedAt: at.UTC(), PausedBy: recTrunc(by, 128), Reason: recTrunc(reason, 255)}
		if err := tx.Create(&span).Error; err != nil {
			return err
		}
		return tx.Model(&Recording{}).Where("id = ?", id).Update("updated_at", time.Now().UTC()).Error
	})
	if err != nil {
		return nil, fmt.Errorf("pause recording %s: %w", id, err)
	}
	return &span, nil
}

// EndPause closes the open pause span and adds it to the paused total.
// ErrRecordingState when the recording is not paused.
func (s *Store) EndPause(ctx context.Context, id string, at time.Time, by string) (*PauseSpan, error) {
	var span PauseSpan
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var r Recording
		if err := lockRow(tx, s.dialect).Where("id = ?", id).Take(&r).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrNotFound
			}
			return err
		}
		if err := tx.Where("recording_id = ? AND resumed_at IS NULL", id).Order("id DESC").Take(&span).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("%w: not paused", ErrRecordingState)
			}
			return err
		}
		at = at.UTC()
		if at.Before(span.PausedAt) {
			at = span.PausedAt
		}
		span.ResumedAt, span.ResumedBy = &at, recTrunc(by, 128)
		if err := tx.Model(&PauseSpan{}).Where("id = ?", span.ID).Updates(map[string]any{"resumed_at": at, "resumed_by": span.ResumedBy}).Error; err != nil {
			return err
		}
		return tx.Model(&Recording{}).Where("id = ?", id).Updates(map[string]any{
			"paused_ms": gorm.Expr("paused_ms + ?", at.Sub(span.PausedAt).Milliseconds()), "updated_at": time.Now().UTC()}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("resume recording %s: %w", id, err)
	}
	return &span, nil
}

func lockRow(tx *gorm.DB, dialect string) *gorm.DB {
	if dialect == DialectMySQL {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx // SQLite: the write transaction is already exclusive
}

// TagRecording adds and removes tags (lower-cased, trimmed).
func (s *Store) TagRecording(ctx context.Context, id string, add, remove []string) error {
	norm := func(in []string) ([]string, error) {
		var out []string
		for _, t := range in {
			t = strings.ToLower(strings.TrimSpace(t))
			if t == "" {
				continue
			}
			if len(t) > 64 || strings.ContainsAny(t, ", \t\n") {
				return nil, fmt.Errorf("%w: tag %q: at most 64 characters, no spaces or commas", ErrBadFilter, t)
			}
			out = append(out, t)
		}
		return out, nil
	}
	a, err := norm(add)
	if err != nil {
		return err
	}
	rm, err := norm(remove)
	if err != nil {
		return err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var r Recording
		if err := lockRow(tx, s.dialect).Select("id", "started_at").Where("id = ?", id).Take(&r).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrNotFound
			}
			return err
		}
		for _, t := range a {
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&RecordingTag{RecordingID: id, Tag: t, StartedAt: r.StartedAt.UTC()}).Error; err != nil {
				return err
			}
		}
		if len(rm) > 0 {
			if err := tx.Where("recording_id = ? AND tag IN ?", id, rm).Delete(&RecordingTag{}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("tag recording %s: %w", id, err)
	}
	return nil
}

// SetLegalHold sets or lifts a legal hold, with an audit entry in the same
// transaction.
func (s *Store) SetLegalHold(ctx context.Context, id string, hold bool, actor, reason string) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Recording{}).Where("id = ?", id).Updates(map[string]any{"legal_hold": hold, "updated_at": time.Now().UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		action := "recording.hold"
		if !hold {
			action = "recording.release"
		}
		return tx.Create(&AuditEntry{At: time.Now().UTC(), Actor: actor, Action: action, Subject: "recording/" + id, Detail: reason}).Error
	})
	if err != nil {
		return fmt.Errorf("legal hold on recording %s: %w", id, err)
	}
	return nil
}

// SetExemplary adds a recording to (or removes it from) the library of
// model calls for training.
func (s *Store) SetExemplary(ctx context.Context, id string, on bool, by, note string) error {
	upd := map[string]any{"exemplary": on, "exemplary_by": recTrunc(by, 128), "updated_at": time.Now().UTC()}
	if on {
		upd["note"] = recTrunc(note, 255)
	} else {
		upd["exemplary_by"] = ""
	}
	res := s.db.WithContext(ctx).Model(&Recording{}).Where("id = ?", id).Updates(upd)
	if res.Error != nil {
		return fmt.Errorf("exemplary flag on recording %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("exemplary flag on recording %s: %w", id, ErrNotFound)
	}
	return nil
}

// ---------------------------------------------------------------- search

// RecordingFilter selects recordings. Zero fields do not filter. Results
// are newest first (started_at, then id); Cursor continues a listing where
// the previous page ended, so deep pages cost what the first page costs.
type RecordingFilter struct {
	From, To    time.Time // started_at in [From, To)
	AgentID     string
	Queue       string
	Caller      string // caller number, exact
	CallID      string
	Node        string
	Tag         string
	Status      string
	MinScore    *float64
	MaxScore    *float64
	MinDuration time.Duration
	MaxDuration time.Duration
	Exemplary   bool // only the library of model calls
	LegalHold   *bool
	Limit       int    // default 100, at most 10,000
	Cursor      string // from the previous page's next cursor
}

// Validate names the field that is wrong.
func (f RecordingFilter) Validate() error {
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return fmt.Errorf("%w: from must be before to", ErrBadFilter)
	}
	switch f.Status {
	case "", RecordingActive, RecordingPending, RecordingFinished, RecordingFailed, RecordingMissing:
	default:
		return fmt.Errorf("%w: status %q is not recording, pending, finished, failed or missing", ErrBadFilter, f.Status)
	}
	if f.MinDuration < 0 || f.MaxDuration < 0 || (f.MaxDuration > 0 && f.MaxDuration < f.MinDuration) {
		return fmt.Errorf("%w: duration range %s–%s", ErrBadFilter, f.MinDuration, f.MaxDuration)
	}
	for name, p := range map[string]*float64{"min_score": f.MinScore, "max_score": f.MaxScore} {
		if p != nil && (math.IsNaN(*p) || *p < 0 || *p > 100) {
			return fmt.Errorf("%w: %s %v is not within 0–100", ErrBadFilter, name, *p)
		}
	}
	if f.Limit < 0 {
		return fmt.Errorf("%w: limit %d is negative", ErrBadFilter, f.Limit)
	}
	if f.Cursor != "" {
		if _, _, err := decodeCursor(f.Cursor); err != nil {
			return err
		}
	}
	return nil
}

func encodeCursor(r Recording) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(r.StartedAt.UTC().UnixNano(), 10) + "|" + r.ID))
}

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w: cursor is not one this server gave out", ErrBadFilter)
	}
	ts, id, ok := strings.Cut(string(b), "|")
	n, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", fmt.Errorf("%w: cursor is not one this server gave out", ErrBadFilter)
	}
	return time.Unix(0, n).UTC(), id, nil
}

// SearchRecordings lists recordings matching f, newest first, with tags
// and pause spans, and the cursor of the next page ("" at the end). Each
// filter combined with the time order is served by an index
// (docs/recordings.md, "Search and indexes"; TestSearchPlansUseIndexes
// checks the plans).
func (s *Store) SearchRecordings(ctx context.Context, f RecordingFilter) ([]Recording, string, error) {
	return s.searchRecordings(ctx, f, rangeIndexRows)
}

// searchRecordings is SearchRecordings with the rare-range bound given
// (tests use a small one on a small table).
func (s *Store) searchRecordings(ctx context.Context, f RecordingFilter, rangeRows int) ([]Recording, string, error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit > 10000 {
		limit = 10000
	}
	plan, err := s.searchPlan(ctx, f, rangeRows)
	if err != nil {
		return nil, "", fmt.Errorf("search recordings: %w", err)
	}
	var out []Recording
	if err := searchQuery(s.db.WithContext(ctx), f, limit+1, plan).Find(&out).Error; err != nil {
		return nil, "", fmt.Errorf("search recordings: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor(out[limit-1])
	}
	ptrs := make([]*Recording, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := s.fillRecordings(ctx, ptrs, true); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// rangeIndexRows is where a score or duration range stops being "rare": up
// to this many matching rows are read through the range's own index and
// sorted; past it the matches are dense enough that reading in time order
// fills a page quickly.
const rangeIndexRows = 10000

// rangePlan says how the statement treats the score and duration ranges.
// Their indexes give no time order, so using one means sorting what the
// range holds: right for a rare range (calls over an hour, scores of the
// few evaluated calls), ruinous for a common one (a quarter of the table).
// SQLite's planner cannot tell them apart without ANALYZE statistics,
// which switchboard does not keep (a full ANALYZE of a large table would
// hold the single connection for seconds), so the choice is made here from
// a bounded count and pinned with an index hint, on both dialects alike.
type rangePlan struct {
	dialect string
	// force is the index to read the range through ("" = none).
	force string
	// avoid are range indexes the statement must not use (their ranges
	// are common).
	avoid []string
}

// rangeIndex is one range filter and its index.
type rangeIndex struct {
	index, col string
	min, max   *float64
}

func (f RecordingFilter) ranges() []rangeIndex {
	var out []rangeIndex
	if f.MinScore != nil || f.MaxScore != nil {
		out = append(out, rangeIndex{"idx_rec_score", "score", f.MinScore, f.MaxScore})
	}
	if f.MinDuration > 0 || f.MaxDuration > 0 {
		r := rangeIndex{index: "idx_rec_duration", col: "duration_ms"}
		if f.MinDuration > 0 {
			v := float64(f.MinDuration.Milliseconds())
			r.min = &v
		}
		if f.MaxDuration > 0 {
			v := float64(f.MaxDuration.Milliseconds())
			r.max = &v
		}
		out = append(out, r)
	}
	return out
}

// searchPlan counts, for each score or duration range in f, up to
// rangeRows of its matches through its index (a covering index range
// read: bounded work), and picks the rarest range under that bound.
func (s *Store) searchPlan(ctx context.Context, f RecordingFilter, rangeRows int) (rangePlan, error) {
	plan := rangePlan{dialect: s.dialect}
	best := int64(rangeRows)
	for _, r := range f.ranges() {
		var conds []string
		var args []any
		if r.min != nil {
			conds, args = append(conds, r.col+" >= ?"), append(args, *r.min)
		}
		if r.max != nil {
			conds, args = append(conds, r.col+" <= ?"), append(args, *r.max)
		}
		var n int64
		q := "SELECT COUNT(*) FROM (SELECT 1 FROM " + plan.table(r.index) + " WHERE " + strings.Join(conds, " AND ") + " LIMIT ?) x"
		if err := s.db.WithContext(ctx).Raw(q, append(args, rangeRows)...).Scan(&n).Error; err != nil {
			return plan, fmt.Errorf("sizing the %s range: %w", r.col, err)
		}
		plan.avoid = append(plan.avoid, r.index)
		if n < best {
			best, plan.force = n, r.index
		}
	}
	return plan, nil
}

// table is the recordings table with the plan's index hint (or the one
// given: the sizing count reads through it).
func (p rangePlan) table(force string) string {
	if force == "" {
		force = p.force
	}
	switch {
	case force != "" && p.dialect == DialectMySQL:
		return "recordings FORCE INDEX (" + force + ")"
	case force != "":
		return "recordings INDEXED BY " + force
	case len(p.avoid) > 0 && p.dialect == DialectMySQL:
		return "recordings IGNORE INDEX (" + strings.Join(p.avoid, ", ") + ")"
	}
	return "recordings"
}

// rangeCol is how a range column is written in the statement: SQLite's
// unary + keeps the planner off that column's index (MySQL has IGNORE
// INDEX in table for that).
func (p rangePlan) rangeCol(col string) string {
	if p.dialect != DialectMySQL && p.force == "" && len(p.avoid) > 0 {
		return "+recordings." + col
	}
	return "recordings." + col
}

// searchQuery is the one statement a search runs (f already validated).
// The order is (started_at, id) descending, which every search index ends
// with, and the cursor is a range on that pair: a deep page costs what the
// first page costs.
func searchQuery(db *gorm.DB, f RecordingFilter, limit int, plan rangePlan) *gorm.DB {
	// A tag search reads the tag's rows in time order and joins the
	// recordings: the time range, the cursor and the order then go on the
	// tag row's copy of started_at.
	q := db.Table(plan.table(""))
	tcol, idcol := "recordings.started_at", "recordings.id"
	if f.Tag != "" {
		q = db.Table("recording_tags AS t").Select("recordings.*").Joins("JOIN "+plan.table("")+" ON recordings.id = t.recording_id").
			Where("t.tag = ?", strings.ToLower(f.Tag))
		tcol, idcol = "t.started_at", "t.recording_id"
	}
	cols := []string{tcol}
	if f.Tag != "" {
		// The same bounds on the recording's own start (equal to the tag
		// row's) let a plan that starts from another index (agent + tag)
		// use them too.
		cols = append(cols, "recordings.started_at")
	}
	for _, c := range cols {
		if !f.From.IsZero() {
			q = q.Where(c+" >= ?", f.From.UTC())
		}
		if !f.To.IsZero() {
			q = q.Where(c+" < ?", f.To.UTC())
		}
	}
	for _, c := range []struct{ col, v string }{{"agent_id", f.AgentID}, {"queue", f.Queue}, {"caller_number", f.Caller},
		{"call_id", f.CallID}, {"node", f.Node}, {"status", f.Status}} {
		if c.v != "" {
			q = q.Where("recordings."+c.col+" = ?", c.v)
		}
	}
	if f.MinScore != nil {
		q = q.Where(plan.rangeCol("score")+" >= ?", *f.MinScore)
	}
	if f.MaxScore != nil {
		q = q.Where(plan.rangeCol("score")+" <= ?", *f.MaxScore)
	}
	if f.MinDuration > 0 {
		q = q.Where(plan.rangeCol("duration_ms")+" >= ?", f.MinDuration.Milliseconds())
	}
	if f.MaxDuration > 0 {
		q = q.Where(plan.rangeCol("duration_ms")+" <= ?", f.MaxDuration.Milliseconds())
	}
	if f.Exemplary {
		q = q.Where("recordings.exemplary = ?", true)
	}
	if f.LegalHold != nil {
		q = q.Where("recordings.legal_hold = ?", *f.LegalHold)
	}
	if f.Cursor != "" {
		at, id, _ := decodeCursor(f.Cursor)
		// "started_at <= at" bounds the index range; the OR only settles
		// ties on the same instant.
		q = q.Where(tcol+" <= ? AND ("+tcol+" < ? OR "+idcol+" < ?)", at, at, id)
		if f.Tag != "" {
			q = q.Where("recordings.started_at <= ?", at)
		}
	}
	return q.Order(tcol + " DESC, " + idcol + " DESC").Limit(limit)
}

// ----------------------------------------------------------------- purge

// PurgeFilter selects recordings to purge at Now: those whose retention
// date has passed, and, with OlderThan, those started before Now-OlderThan
// whose retention date (if any) has passed too. Legal hold always exempts.
type PurgeFilter struct {
	Now       time.Time
	OlderThan time.Duration
	Limit     int // default 1000 per call
}

func purgeQuery(db *gorm.DB, f PurgeFilter, held bool) *gorm.DB {
	now := f.Now.UTC()
	q := db.Model(&Recording{}).Where("legal_hold = ?", held).Where("status NOT IN ?", []string{RecordingActive, RecordingPending})
	if f.OlderThan > 0 {
		q = q.Where("((retention_until IS NOT NULL AND retention_until <= ?) OR (started_at < ? AND retention_until IS NULL))", now, now.Add(-f.OlderThan))
	} else {
		q = q.Where("(retention_until IS NOT NULL AND retention_until <= ?)", now)
	}
	return q
}

// PurgeCandidates lists what a purge would delete, oldest first, and how
// many otherwise-due recordings legal hold exempts. It changes nothing (the
// dry run).
func (s *Store) PurgeCandidates(ctx context.Context, f PurgeFilter) (due []Recording, held int64, err error) {
	if f.Now.IsZero() {
		return nil, 0, fmt.Errorf("purge: no reference time")
	}
	if f.OlderThan < 0 {
		return nil, 0, fmt.Errorf("%w: older_than %s is negative", ErrBadFilter, f.OlderThan)
	}
	limit := f.Limit
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	if err := purgeQuery(s.db.WithContext(ctx), f, false).Order("started_at, id").Limit(limit).Find(&due).Error; err != nil {
		return nil, 0, fmt.Errorf("purge candidates: %w", err)
	}
	// Held ones: the same selection with the hold condition inverted.
	if err := purgeQuery(s.db.WithContext(ctx), f, true).Count(&held).Error; err != nil {
		return nil, 0, fmt.Errorf("purge candidates (held): %w", err)
	}
	return due, held, nil
}

// PurgeRecording deletes one recording's metadata (pauses, tags,
// evaluations, sample entries) and writes the audit entry, in one
// transaction. It re-checks the selection inside the transaction, so a
// legal hold set since the candidates were listed still wins
// (ErrRecordingState).
func (s *Store) PurgeRecording(ctx context.Context, id string, f PurgeFilter, actor, detail string) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := purgeQuery(tx, f, false).Where("id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: no longer due for purge (legal hold, retention date or gone)", ErrRecordingState)
		}
		var evIDs []string
		if err := tx.Model(&Evaluation{}).Where("recording_id = ?", id).Pluck("id", &evIDs).Error; err != nil {
			return err
		}
		if len(evIDs) > 0 {
			if err := tx.Where("evaluation_id IN ?", evIDs).Delete(&EvaluationScore{}).Error; err != nil {
				return err
			}
			if err := tx.Where("evaluation_id IN ?", evIDs).Delete(&EvaluationComment{}).Error; err != nil {
				return err
			}
			if err := tx.Where("id IN ?", evIDs).Delete(&Evaluation{}).Error; err != nil {
				return err
			}
		}
		for _, m := range []any{&PauseSpan{}, &RecordingTag{}, &ReviewSampleItem{}} {
			if err := tx.Where("recording_id = ?", id).Delete(m).Error; err != nil {
				return err
			}
		}
		if err := tx.Where("id = ?", id).Delete(&Recording{}).Error; err != nil {
			return err
		}
		return tx.Create(&AuditEntry{At: time.Now().UTC(), Actor: actor, Action: "recording.purge", Subject: "recording/" + id, Detail: detail}).Error
	})
	if err != nil {
		return fmt.Errorf("purge recording %s: %w", id, err)
	}
	return nil
}

// ------------------------------------------------------------ scorecards

// ApplyScorecard stores a new version of a scorecard when its checksum
// differs from the latest stored version, and returns the version in
// force (new or unchanged) and whether it was created.
func (s *Store) ApplyScorecard(ctx context.Context, name, checksum, body, by string, at time.Time) (*ScorecardVersion, bool, error) {
	var out ScorecardVersion
	created := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var last ScorecardVersion
		err := lockRow(tx, s.dialect).Where("name = ?", name).Order("version DESC").Take(&last).Error
		if err == nil && last.Checksum == checksum {
			out = last
			return nil
		}
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		out = ScorecardVersion{Name: name, Version: last.Version + 1, Checksum: checksum, Body: body, AppliedBy: by, AppliedAt: at.UTC()}
		created = true
		return tx.Create(&out).Error
	})
	if err != nil {
		return nil, false, fmt.Errorf("apply scorecard %q: %w", name, err)
	}
	return &out, created, nil
}

// ScorecardVersionOf returns a scorecard version (the latest when version
// is 0).
func (s *Store) ScorecardVersionOf(ctx context.Context, name string, version int) (*ScorecardVersion, error) {
	var v ScorecardVersion
	q := s.db.WithContext(ctx).Where("name = ?", name)
	if version > 0 {
		q = q.Where("version = ?", version)
	}
	err := q.Order("version DESC").Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("scorecard %q version %d: %w", name, version, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("scorecard %q version %d: %w", name, version, err)
	}
	return &v, nil
}

// ScorecardVersions lists every stored version, by name then version.
func (s *Store) ScorecardVersions(ctx context.Context) ([]ScorecardVersion, error) {
	var out []ScorecardVersion
	if err := s.db.WithContext(ctx).Order("name, version").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("scorecard versions: %w", err)
	}
	return out, nil
}

// ----------------------------------------------------------- evaluations

// CreateEvaluation stores an evaluation with its scores and comments and
// refreshes the recording's mean score, in one transaction. Agent and
// queue are copied from the recording so averages need no join.
func (s *Store) CreateEvaluation(ctx context.Context, e *Evaluation) error {
	if e.ID == "" {
		e.ID = NewID("ev-")
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now()
	}
	e.CreatedAt = e.CreatedAt.UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var r Recording
		if err := lockRow(tx, s.dialect).Where("id = ?", e.RecordingID).Take(&r).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrNotFound
			}
			return err
		}
		if r.Status != RecordingFinished {
			return fmt.Errorf("%w: only a finished recording can be evaluated (it is %s)", ErrRecordingState, r.Status)
		}
		e.AgentID, e.Queue = r.AgentID, r.Queue
		if err := tx.Create(e).Error; err != nil {
			return err
		}
		for i := range e.Scores {
			e.Scores[i].EvaluationID = e.ID
		}
		if len(e.Scores) > 0 {
			if err := tx.Create(&e.Scores).Error; err != nil {
				return err
			}
		}
		for i := range e.Comments {
			e.Comments[i].EvaluationID = e.ID
			if e.Comments[i].CreatedAt.IsZero() {
				e.Comments[i].CreatedAt = e.CreatedAt
			}
			if e.Comments[i].Author == "" {
				e.Comments[i].Author = e.Reviewer
			}
		}
		if len(e.Comments) > 0 {
			if err := tx.Create(&e.Comments).Error; err != nil {
				return err
			}
		}
		return refreshScore(tx, e.RecordingID)
	})
	if err != nil {
		return fmt.Errorf("evaluation of recording %s: %w", e.RecordingID, err)
	}
	return nil
}

func refreshScore(tx *gorm.DB, recordingID string) error {
	var agg struct {
		N   int64
		Avg *float64
	}
	if err := tx.Model(&Evaluation{}).Select("COUNT(*) AS n, AVG(percent) AS avg").Where("recording_id = ?", recordingID).Scan(&agg).Error; err != nil {
		return err
	}
	var score any
	if agg.Avg != nil {
		score = math.Round(*agg.Avg*100) / 100
	}
	return tx.Model(&Recording{}).Where("id = ?", recordingID).Updates(map[string]any{"score": score, "evaluations": agg.N, "updated_at": time.Now().UTC()}).Error
}

// AddEvaluationComment adds a time-stamped comment to an evaluation. A
// position before the start or past the end of the evaluated recording is
// ErrPastEnd and stores nothing; the check reads the recording's length in
// the same transaction as the insert. (A recording whose length is not
// known, duration 0, cannot be checked beyond the start.)
func (s *Store) AddEvaluationComment(ctx context.Context, c *EvaluationComment) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	c.CreatedAt = c.CreatedAt.UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var ev Evaluation
		if err := tx.Select("id", "recording_id").Where("id = ?", c.EvaluationID).Take(&ev).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrNotFound
			}
			return err
		}
		var rec Recording
		if err := tx.Select("id", "duration_ms").Where("id = ?", ev.RecordingID).Take(&rec).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrNotFound
			}
			return err
		}
		if c.OffsetMS < 0 {
			return fmt.Errorf("%w: %d ms is before its start", ErrPastEnd, c.OffsetMS)
		}
		if rec.DurationMS > 0 && c.OffsetMS > rec.DurationMS {
			return fmt.Errorf("%w: %s is past the end of recording %s (%s)", ErrPastEnd,
				time.Duration(c.OffsetMS)*time.Millisecond, rec.ID, rec.Duration())
		}
		return tx.Create(c).Error
	})
	if err != nil {
		return fmt.Errorf("comment on evaluation %s: %w", c.EvaluationID, err)
	}
	return nil
}

// Evaluations returns a recording's evaluations, oldest first, with their
// scores and comments.
func (s *Store) Evaluations(ctx context.Context, recordingID string) ([]Evaluation, error) {
	var out []Evaluation
	if err := s.db.WithContext(ctx).Where("recording_id = ?", recordingID).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("evaluations of recording %s: %w", recordingID, err)
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]string, len(out))
	idx := map[string]int{}
	for i, e := range out {
		ids[i] = e.ID
		idx[e.ID] = i
	}
	var scores []EvaluationScore
	if err := s.db.WithContext(ctx).Where("evaluation_id IN ?", ids).Find(&scores).Error; err != nil {
		return nil, fmt.Errorf("evaluation scores: %w", err)
	}
	for _, sc := range scores {
		out[idx[sc.EvaluationID]].Scores = append(out[idx[sc.EvaluationID]].Scores, sc)
	}
	var comments []EvaluationComment
	if err := s.db.WithContext(ctx).Where("evaluation_id IN ?", ids).Order("offset_ms, id").Find(&comments).Error; err != nil {
		return nil, fmt.Errorf("evaluation comments: %w", err)
	}
	for _, c := range comments {
		out[idx[c.EvaluationID]].Comments = append(out[idx[c.EvaluationID]].Comments, c)
	}
	return out, nil
}

// ScoreAverage is the mean evaluation percentage of one agent or queue.
type ScoreAverage struct {
	Key         string  `json:"key"`
	Evaluations int64   `json:"evaluations"`
	Average     float64 `json:"average"`
	Passed      int64   `json:"passed"`
}

// AverageScores groups evaluations created in [from, to) by "agent" or
// "queue": each evaluation counts once; averages round to two decimals.
func (s *Store) AverageScores(ctx context.Context, by string, from, to time.Time) ([]ScoreAverage, error) {
	col := map[string]string{"agent": "agent_id", "queue": "queue"}[by]
	if col == "" {
		return nil, fmt.Errorf("%w: by %q is not agent or queue", ErrBadFilter, by)
	}
	q := s.db.WithContext(ctx).Model(&Evaluation{})
	if !from.IsZero() {
		q = q.Where("created_at >= ?", from.UTC())
	}
	if !to.IsZero() {
		q = q.Where("created_at < ?", to.UTC())
	}
	var rows []struct {
		K  string
		N  int64
		A  float64
		NP int64
	}
	passedExpr := "SUM(CASE WHEN passed THEN 1 ELSE 0 END)"
	if err := q.Select(col + " AS k, COUNT(*) AS n, AVG(percent) AS a, " + passedExpr + " AS np").Group(col).Order(col).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("average scores by %s: %w", by, err)
	}
	out := make([]ScoreAverage, len(rows))
	for i, r := range rows {
		out[i] = ScoreAverage{Key: r.K, Evaluations: r.N, Average: math.Round(r.A*100) / 100, Passed: r.NP}
	}
	return out, nil
}

// ----------------------------------------------------------- review sample

// WeekStart is the Monday 00:00 UTC of t's week: review samples are per
// ISO week.
func WeekStart(t time.Time) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	wd := (int(d.Weekday()) + 6) % 7 // Monday 0
	return d.AddDate(0, 0, -wd)
}

// ReviewSample returns the week's review sample: for every agent with
// finished recordings started that week, n of them chosen at random
// (seeded by seed, week and agent, so the pick is reproducible). A sample
// once drawn is kept: calling again returns it, topped up to n when new
// recordings allow, and reports which items already have an evaluation.
func (s *Store) ReviewSample(ctx context.Context, week time.Time, n int, seed string, agentID string) ([]ReviewSampleItem, error) {
	if n <= 0 || n > 1000 {
		return nil, fmt.Errorf("%w: n %d is not within 1–1000", ErrBadFilter, n)
	}
	ws := WeekStart(week)
	we := ws.AddDate(0, 0, 7)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var cands []struct {
			ID      string
			AgentID string
		}
		q := tx.Model(&Recording{}).Select("id, agent_id").
			Where("status = ? AND started_at >= ? AND started_at < ? AND agent_id <> ''", RecordingFinished, ws, we)
		if agentID != "" {
			q = q.Where("agent_id = ?", agentID)
		}
		if err := q.Find(&cands).Error; err != nil {
			return err
		}
		var have []ReviewSampleItem
		hq := tx.Where("week_start = ?", ws)
		if agentID != "" {
			hq = hq.Where("agent_id = ?", agentID)
		}
		if err := hq.Find(&have).Error; err != nil {
			return err
		}
		picked := map[string]map[string]bool{}
		for _, h := range have {
			if picked[h.AgentID] == nil {
				picked[h.AgentID] = map[string]bool{}
			}
			picked[h.AgentID][h.RecordingID] = true
		}
		byAgent := map[string][]string{}
		for _, c := range cands {
			if !picked[c.AgentID][c.ID] {
				byAgent[c.AgentID] = append(byAgent[c.AgentID], c.ID)
			}
		}
		now := time.Now().UTC()
		var add []ReviewSampleItem
		for agent, ids := range byAgent {
			need := n - len(picked[agent])
			if need <= 0 {
				continue
			}
			for _, id := range samplePick(seed, ws, agent, ids, need) {
				add = append(add, ReviewSampleItem{WeekStart: ws, AgentID: agent, RecordingID: id, PickedAt: now})
			}
		}
		if len(add) > 0 {
			return tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(add, 500).Error
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("review sample for week of %s: %w", ws.Format("2006-01-02"), err)
	}
	var out []ReviewSampleItem
	q := s.db.WithContext(ctx).Where("week_start = ?", ws)
	if agentID != "" {
		q = q.Where("agent_id = ?", agentID)
	}
	if err := q.Order("agent_id, picked_at, recording_id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("review sample: %w", err)
	}
	if len(out) > 0 {
		ids := make([]string, len(out))
		for i, it := range out {
			ids[i] = it.RecordingID
		}
		var done []string
		if err := s.db.WithContext(ctx).Model(&Evaluation{}).Distinct("recording_id").Where("recording_id IN ?", ids).Pluck("recording_id", &done).Error; err != nil {
			return nil, fmt.Errorf("review sample progress: %w", err)
		}
		dset := map[string]bool{}
		for _, d := range done {
			dset[d] = true
		}
		for i := range out {
			out[i].Reviewed = dset[out[i].RecordingID]
		}
	}
	return out, nil
}

// samplePick chooses need of ids at random: ordered by a keyed hash, a
// seeded, reproducible shuffle that does not depend on the order the
// database returned rows in. It reorders ids.
func samplePick(seed string, week time.Time, agent string, ids []string, need int) []string {
	sort.Slice(ids, func(i, j int) bool {
		hi, hj := sampleKey(seed, week, agent, ids[i]), sampleKey(seed, week, agent, ids[j])
		if hi != hj {
			return hi < hj
		}
		return ids[i] < ids[j]
	})
	return ids[:min(need, len(ids))]
}

func sampleKey(seed string, week time.Time, agent, id string) uint64 {
	// SHA-256, not FNV: ids differ only in their last characters, and
	// FNV's high bits barely move for that, which orders by id, not at random.
	sum := sha256.Sum256([]byte(seed + "\x00" + week.Format("2006-01-02") + "\x00" + agent + "\x00" + id))
	return binary.BigEndian.Uint64(sum[:8])
}
