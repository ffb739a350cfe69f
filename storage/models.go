package storage

import "time"

// Record is anything the journal can persist: a model with an idempotency
// key. Writing the same key twice leaves one row holding the later
// version, so replays never duplicate.
type Record interface {
	JournalKey() string
}

// Call outcomes.
const (
	OutcomeLive       = "live"
	OutcomeAnswered   = "answered"
	OutcomeAbandoned  = "abandoned"
	OutcomeOverflowed = "overflowed"
	OutcomeFailed     = "failed"
	OutcomeCallback   = "callback"
	OutcomeExited     = "exited"
	OutcomeLost       = "lost"
)

// Call is one customer interaction from arrival to final hangup. The row is
// written at arrival (outcome live) and rewritten at each milestone.
//
// The schema is the migrations' (storage/migrations); index tags here only
// name the indexes they create. Times are the caller's: GORM's automatic
// created/updated times are off, or an upsert would stamp the database
// write's wall-clock time over the record's own (a replay hours later, a
// simulated clock).
type Call struct {
	ID           string     `gorm:"column:id;primaryKey;size:64" json:"id"`
	Node         string     `gorm:"column:node;size:64" json:"node"`
	CallerLegID  string     `gorm:"column:caller_leg_id;size:128;index:idx_calls_caller_leg" json:"caller_leg_id"`
	CallerNumber string     `gorm:"column:caller_number;size:64;index:idx_calls_caller_arrived,priority:1" json:"caller_number"`
	CallerName   string     `gorm:"column:caller_name;size:128" json:"caller_name"`
	DialedNumber string     `gorm:"column:dialed_number;size:64" json:"dialed_number"`
	Queue        string     `gorm:"column:queue;size:64;index:idx_calls_queue_arrived,priority:1" json:"queue"`
	Priority     int        `gorm:"column:priority" json:"priority"`
	AgentID      string     `gorm:"column:agent_id;size:64;index:idx_calls_agent_arrived,priority:1" json:"agent_id"`
	ArrivedAt    time.Time  `gorm:"column:arrived_at;index:idx_calls_arrived;index:idx_calls_queue_arrived,priority:2;index:idx_calls_agent_arrived,priority:2;index:idx_calls_caller_arrived,priority:2;index:idx_calls_outcome_arrived,priority:2" json:"arrived_at"`
	EnqueuedAt   *time.Time `gorm:"column:enqueued_at" json:"enqueued_at,omitempty"`
	OfferedAt    *time.Time `gorm:"column:offered_at" json:"offered_at,omitempty"`
	AnsweredAt   *time.Time `gorm:"column:answered_at" json:"answered_at,omitempty"`
	EndedAt      *time.Time `gorm:"column:ended_at" json:"ended_at,omitempty"`
	Outcome      string     `gorm:"column:outcome;size:16;index:idx_calls_outcome_arrived,priority:1" json:"outcome"`
	EndReason    string     `gorm:"column:end_reason;size:255" json:"end_reason,omitempty"`
	WaitSeconds  float64    `gorm:"column:wait_seconds" json:"wait_seconds"`
	TalkSeconds  float64    `gorm:"column:talk_seconds" json:"talk_seconds"`
	Offers       int        `gorm:"column:offers" json:"offers"`
	Trace        string     `gorm:"column:trace;type:text" json:"trace,omitempty"`
	UpdatedAt    time.Time  `gorm:"column:updated_at;autoUpdateTime:false" json:"updated_at"`
}

// TableName pins the table name.
func (Call) TableName() string { return "calls" }

// JournalKey implements Record.
func (c Call) JournalKey() string { return "calls/" + c.ID }

// Leg is one PBX channel of a call.
type Leg struct {
	ID         string     `gorm:"column:id;primaryKey;size:160" json:"id"` // node/channel
	CallID     string     `gorm:"column:call_id;size:64;index:idx_legs_call" json:"call_id"`
	Node       string     `gorm:"column:node;size:64" json:"node"`
	ChannelID  string     `gorm:"column:channel_id;size:128" json:"channel_id"`
	Role       string     `gorm:"column:role;size:16" json:"role"`
	AgentID    string     `gorm:"column:agent_id;size:64" json:"agent_id,omitempty"`
	Endpoint   string     `gorm:"column:endpoint;size:255" json:"endpoint,omitempty"`
	CreatedAt  time.Time  `gorm:"column:created_at;autoCreateTime:false" json:"created_at"`
	AnsweredAt *time.Time `gorm:"column:answered_at" json:"answered_at,omitempty"`
	EndedAt    *time.Time `gorm:"column:ended_at" json:"ended_at,omitempty"`
	Cause      int        `gorm:"column:cause" json:"cause"`
}

// TableName pins the table name.
func (Leg) TableName() string { return "legs" }

// JournalKey implements Record.
func (l Leg) JournalKey() string { return "legs/" + l.ID }

// QueueWait is one stint of a call in one queue (a call that overflows has
// several).
type QueueWait struct {
	ID          string     `gorm:"column:id;primaryKey;size:96" json:"id"` // call id + "/" + sequence
	CallID      string     `gorm:"column:call_id;size:64;index:idx_waits_call" json:"call_id"`
	Queue       string     `gorm:"column:queue;size:64;index:idx_waits_queue_entered,priority:1" json:"queue"`
	EnteredAt   time.Time  `gorm:"column:entered_at;index:idx_waits_queue_entered,priority:2;index:idx_waits_entered" json:"entered_at"`
	LeftAt      *time.Time `gorm:"column:left_at" json:"left_at,omitempty"`
	Outcome     string     `gorm:"column:outcome;size:16" json:"outcome"`
	WaitSeconds float64    `gorm:"column:wait_seconds" json:"wait_seconds"`
	AgentID     string     `gorm:"column:agent_id;size:64" json:"agent_id,omitempty"`
}

// TableName pins the table name.
func (QueueWait) TableName() string { return "queue_waits" }

// JournalKey implements Record.
func (w QueueWait) JournalKey() string { return "queue_waits/" + w.ID }

// AgentStateChange is one agent state transition.
type AgentStateChange struct {
	ID                  string    `gorm:"column:id;primaryKey;size:96" json:"id"`
	AgentID             string    `gorm:"column:agent_id;size:64;index:idx_agent_states_agent_at,priority:1" json:"agent_id"`
	FromState           string    `gorm:"column:from_state;size:16" json:"from_state"`
	ToState             string    `gorm:"column:to_state;size:16" json:"to_state"`
	Reason              string    `gorm:"column:reason;size:64" json:"reason,omitempty"`
	At                  time.Time `gorm:"column:at;index:idx_agent_states_agent_at,priority:2;index:idx_agent_states_at" json:"at"`
	PrevDurationSeconds float64   `gorm:"column:prev_duration_seconds" json:"prev_duration_seconds"`
}

// TableName pins the table name.
func (AgentStateChange) TableName() string { return "agent_state_changes" }

// JournalKey implements Record.
func (a AgentStateChange) JournalKey() string { return "agent_state_changes/" + a.ID }

// Agent is an agent's definition and last known state.
type Agent struct {
	ID          string    `gorm:"column:id;primaryKey;size:64" json:"id"`
	Name        string    `gorm:"column:name;size:128" json:"name"`
	Endpoint    string    `gorm:"column:endpoint;size:255" json:"endpoint"`
	Skills      string    `gorm:"column:skills;type:text" json:"skills"`         // JSON object
	Attributes  string    `gorm:"column:attributes;type:text" json:"attributes"` // JSON object
	Queues      string    `gorm:"column:queues;type:text" json:"queues"`         // JSON object
	State       string    `gorm:"column:state;size:16" json:"state"`
	StateReason string    `gorm:"column:state_reason;size:64" json:"state_reason"`
	StateSince  time.Time `gorm:"column:state_since" json:"state_since"`
	UpdatedAt   time.Time `gorm:"column:updated_at;autoUpdateTime:false" json:"updated_at"`
}

// TableName pins the table name.
func (Agent) TableName() string { return "agents" }

// JournalKey implements Record.
func (a Agent) JournalKey() string { return "agents/" + a.ID }

// Queue is a queue's stored settings (the routing file is the source; this
// row lets reports know thresholds after the file changed).
type Queue struct {
	Name                string    `gorm:"column:name;primaryKey;size:64" json:"name"`
	ServiceLevelSeconds float64   `gorm:"column:service_level_seconds" json:"service_level_seconds"`
	ServiceLevelGoal    float64   `gorm:"column:service_level_goal" json:"service_level_goal"`
	UpdatedAt           time.Time `gorm:"column:updated_at;autoUpdateTime:false" json:"updated_at"`
}

// TableName pins the table name.
func (Queue) TableName() string { return "queues" }

// JournalKey implements Record.
func (q Queue) JournalKey() string { return "queues/" + q.Name }

// AuditEntry records who changed what (rules applied, callbacks cancelled,
// recordings purged). Audit entries are written directly, not through the
// journal: the change they describe is acknowledged only once they are durable.
type AuditEntry struct {
	ID      uint64    `gorm:"column:id;primaryKey;autoIncrement" json:"id"`
	At      time.Time `gorm:"column:at;index:idx_audit_at" json:"at"`
	Actor   string    `gorm:"column:actor;size:128" json:"actor"`
	Action  string    `gorm:"column:action;size:64" json:"action"`
	Subject string    `gorm:"column:subject;size:255" json:"subject"`
	Detail  string    `gorm:"column:detail;type:text" json:"detail"`
}

// TableName pins the table name.
func (AuditEntry) TableName() string { return "audit_entries" }
