package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// CallFilter selects calls for lists and reports. Zero fields do not filter.
type CallFilter struct {
	From, To time.Time // arrived_at in [From, To)
	Queue    string
	AgentID  string
	Caller   string
	Outcome  string
	// BeforeAt and BeforeID page without OFFSET: only calls after
	// (BeforeAt, BeforeID) in list order (older, or as old with a smaller
	// id) — the last call of the previous page.
	BeforeAt time.Time
	BeforeID string
	Limit    int // default 100, at most 10,000
	Offset   int
}

// Calls lists calls newest first, ordered by (arrived_at, id) descending.
// Each filter has an index ending in that order (arrived_at;
// queue+arrived_at; agent_id+arrived_at; caller_number+arrived_at;
// outcome+arrived_at), so a page reads only its rows.
func (s *Store) Calls(ctx context.Context, f CallFilter) ([]Call, error) {
	var out []Call
	if err := callsQuery(s.db.WithContext(ctx), f).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list calls: %w", err)
	}
	return out, nil
}

func callsQuery(db *gorm.DB, f CallFilter) *gorm.DB {
	q := db.Model(&Call{})
	if !f.From.IsZero() {
		q = q.Where("arrived_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("arrived_at < ?", f.To.UTC())
	}
	if f.Queue != "" {
		q = q.Where("queue = ?", f.Queue)
	}
	if f.AgentID != "" {
		q = q.Where("agent_id = ?", f.AgentID)
	}
	if f.Caller != "" {
		q = q.Where("caller_number = ?", f.Caller)
	}
	if f.Outcome != "" {
		q = q.Where("outcome = ?", f.Outcome)
	}
	if !f.BeforeAt.IsZero() {
		at := f.BeforeAt.UTC()
		q = q.Where("arrived_at <= ? AND (arrived_at < ? OR id < ?)", at, at, f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit > 10000 {
		limit = 10000
	}
	return q.Order("arrived_at DESC, id DESC").Limit(limit).Offset(f.Offset)
}

// Call returns one call; ErrNotFound if unknown.
func (s *Store) Call(ctx context.Context, id string) (*Call, error) {
	var c Call
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("call %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("call %q: %w", id, err)
	}
	return &c, nil
}

// CallLegs returns a call's legs in creation order.
func (s *Store) CallLegs(ctx context.Context, callID string) ([]Leg, error) {
	var out []Leg
	err := s.db.WithContext(ctx).Where("call_id = ?", callID).Order("created_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("legs of call %q: %w", callID, err)
	}
	return out, nil
}

// CallWaits returns a call's queue stints in order.
func (s *Store) CallWaits(ctx context.Context, callID string) ([]QueueWait, error) {
	var out []QueueWait
	err := s.db.WithContext(ctx).Where("call_id = ?", callID).Order("entered_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("queue waits of call %q: %w", callID, err)
	}
	return out, nil
}

// LiveCalls returns calls not yet ended (outcome live): after a restart the
// controller resumes or closes each of them.
func (s *Store) LiveCalls(ctx context.Context) ([]Call, error) {
	var out []Call
	if err := liveCallsQuery(s.db.WithContext(ctx)).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("live calls: %w", err)
	}
	return out, nil
}

// liveCallsQuery reads the (outcome, arrived_at) index in order.
func liveCallsQuery(db *gorm.DB) *gorm.DB {
	return db.Model(&Call{}).Where("outcome = ?", OutcomeLive).Order("arrived_at, id")
}

// SaveCall upserts a call directly (tests, tools); the call flow uses the journal.
func (s *Store) SaveCall(ctx context.Context, c *Call) error {
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(c).Error; err != nil {
		return fmt.Errorf("save call %q: %w", c.ID, err)
	}
	return nil
}

// Agents lists stored agents by id.
func (s *Store) Agents(ctx context.Context) ([]Agent, error) {
	var out []Agent
	if err := s.db.WithContext(ctx).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return out, nil
}

// SaveAgent upserts an agent.
func (s *Store) SaveAgent(ctx context.Context, a *Agent) error {
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(a).Error; err != nil {
		return fmt.Errorf("save agent %q: %w", a.ID, err)
	}
	return nil
}

// AgentStateChanges lists an agent's transitions in [from, to).
func (s *Store) AgentStateChanges(ctx context.Context, agentID string, from, to time.Time, limit int) ([]AgentStateChange, error) {
	q := s.db.WithContext(ctx).Model(&AgentStateChange{})
	if agentID != "" {
		q = q.Where("agent_id = ?", agentID)
	}
	if !from.IsZero() {
		q = q.Where("at >= ?", from.UTC())
	}
	if !to.IsZero() {
		q = q.Where("at < ?", to.UTC())
	}
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	var out []AgentStateChange
	if err := q.Order("at DESC, id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("agent state changes: %w", err)
	}
	return out, nil
}

// AppendAudit writes an audit entry durably (not through the journal: the
// change it describes must not be acknowledged before it is recorded).
func (s *Store) AppendAudit(ctx context.Context, e *AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	if err := s.db.WithContext(ctx).Create(e).Error; err != nil {
		return fmt.Errorf("audit %s %s: %w", e.Action, e.Subject, err)
	}
	return nil
}

// Audit lists audit entries newest first.
func (s *Store) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit <= 0 || limit > 10000 {
		limit = 100
	}
	var out []AuditEntry
	if err := s.db.WithContext(ctx).Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return out, nil
}
