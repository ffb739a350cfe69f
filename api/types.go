package api

import "time"

// The JSON shapes of /api/v1. They are the API's own contract, copied out
// of the controller's and storage's types so those can change without
// breaking clients. The CLI decodes the same types.

// Queue is one queue's live figures (GET /api/v1/queues).
type Queue struct {
	Name    string `json:"name"`
	Waiting int    `json:"waiting"`
	// LongestWaitSeconds is how long the oldest waiting call has waited.
	LongestWaitSeconds float64 `json:"longest_wait_seconds"`
	Offered            int     `json:"offered"`
	Answered           int     `json:"answered"`
	// AnsweredInThreshold counts answered calls that waited at most
	// ServiceLevelThresholdSeconds.
	AnsweredInThreshold int `json:"answered_in_threshold"`
	Abandoned           int `json:"abandoned"`
	// ServiceLevel is the fraction 0..1 of calls answered within
	// ServiceLevelThresholdSeconds; ServiceLevelGoal is the target fraction.
	ServiceLevel                 float64        `json:"service_level"`
	ServiceLevelGoal             float64        `json:"service_level_goal"`
	ServiceLevelThresholdSeconds float64        `json:"service_level_threshold_seconds"`
	AbandonRate                  float64        `json:"abandon_rate"`
	AvgWaitSeconds               float64        `json:"avg_wait_seconds"`
	AvgHandleSeconds             float64        `json:"avg_handle_seconds"`
	AgentsByState                map[string]int `json:"agents_by_state"`
	CallbacksWaiting             int            `json:"callbacks_waiting"`
}

// Agent is one agent's live state (GET /api/v1/agents).
type Agent struct {
	ID     string         `json:"id"`
	Name   string         `json:"name,omitempty"`
	State  string         `json:"state"`
	Reason string         `json:"reason,omitempty"`
	Since  time.Time      `json:"since"`
	CallID string         `json:"call_id,omitempty"`
	Queues map[string]int `json:"queues,omitempty"`
	Skills map[string]int `json:"skills,omitempty"`
}

// Call is a live or recent call (GET /api/v1/calls, /api/v1/calls/{id}).
type Call struct {
	ID           string     `json:"id"`
	Live         bool       `json:"live"`
	State        string     `json:"state"`
	Queue        string     `json:"queue,omitempty"`
	AgentID      string     `json:"agent_id,omitempty"`
	CallerNumber string     `json:"caller_number,omitempty"`
	DialedNumber string     `json:"dialed_number,omitempty"`
	Node         string     `json:"node,omitempty"`
	ArrivedAt    time.Time  `json:"arrived_at"`
	AnsweredAt   *time.Time `json:"answered_at,omitempty"`
	EndedAt      *time.Time `json:"ended_at,omitempty"`
	WaitSeconds  float64    `json:"wait_seconds"`
	TalkSeconds  float64    `json:"talk_seconds,omitempty"`
	Outcome      string     `json:"outcome,omitempty"`
	Detail       any        `json:"detail,omitempty"`
}

// Node is one PBX node's connection state.
type Node struct {
	Name    string `json:"name"`
	Up      bool   `json:"up"`
	Standby bool   `json:"standby,omitempty"`
	Error   string `json:"error,omitempty"`
}

// FloorView is the whole live picture: what the wallboard stream sends and
// GET /api/v1/floor returns.
type FloorView struct {
	At     time.Time `json:"at"`
	Queues []Queue   `json:"queues"`
	Agents []Agent   `json:"agents"`
	Nodes  []Node    `json:"nodes"`
	Totals Totals    `json:"totals"`
}

// Totals sums the queues: what `switchboard stats` prints on its last line.
type Totals struct {
	Waiting            int     `json:"waiting"`
	LongestWaitSeconds float64 `json:"longest_wait_seconds"`
	Offered            int     `json:"offered"`
	Answered           int     `json:"answered"`
	Abandoned          int     `json:"abandoned"`
	// AnsweredInThreshold counts calls answered within their queue's threshold.
	AnsweredInThreshold int `json:"answered_in_threshold"`
	// ServiceLevelBase is what the service level divides by: answered plus
	// abandoned calls, short abandons left out.
	ServiceLevelBase int `json:"service_level_base"`
	// ServiceLevel and AbandonRate are over all queues (0..1).
	ServiceLevel  float64        `json:"service_level"`
	AbandonRate   float64        `json:"abandon_rate"`
	AgentsByState map[string]int `json:"agents_by_state"`
}

// StateChange is the body of POST /api/v1/agents/{id}/login|logout|pause|unpause.
type StateChange struct {
	// Reason is why (pause reason codes: break, lunch, training …).
	Reason string `json:"reason"`
}

// Validate bounds the reason.
func (s *StateChange) Validate() error {
	if len(s.Reason) > 64 {
		return BadRequest("reason", "at most 64 characters")
	}
	for _, r := range s.Reason {
		if r < 0x20 || r == 0x7f {
			return BadRequest("reason", "control characters are not allowed")
		}
	}
	return nil
}

// Hangup is the body of POST /api/v1/calls/{id}/hangup.
type Hangup struct {
	// Cause is the Q.850 cause to hang up with (default 16, normal clearing).
	Cause int `json:"cause"`
}

// Validate bounds the cause.
func (h *Hangup) Validate() error {
	if h.Cause < 0 || h.Cause > 127 {
		return BadRequest("cause", "a Q.850 cause is 1..127")
	}
	return nil
}

// Result is the body of a successful state change.
type Result struct {
	OK    bool   `json:"ok"`
	Agent *Agent `json:"agent,omitempty"`
	Call  *Call  `json:"call,omitempty"`
}

// QueueList is GET /api/v1/queues.
type QueueList struct {
	At     time.Time `json:"at"`
	Queues []Queue   `json:"queues"`
}

// QueueDetail is GET /api/v1/queues/{name}: the queue and its waiting calls.
type QueueDetail struct {
	Queue
	Calls []Call `json:"calls"`
}

// AgentList is GET /api/v1/agents.
type AgentList struct {
	At     time.Time `json:"at"`
	Agents []Agent   `json:"agents"`
}

// CallList is GET /api/v1/calls: live calls first, then recent ones.
type CallList struct {
	At    time.Time `json:"at"`
	Calls []Call    `json:"calls"`
}
