package routing

import "time"

// AgentState is where an agent is in the routing life cycle.
type AgentState string

// Agent states. Only StateAvailable agents are offered calls.
const (
	StateLoggedOut AgentState = "logged_out"
	StateAvailable AgentState = "available"
	StateOffered   AgentState = "offered" // reserved for a call, phone ringing
	StateOnCall    AgentState = "on_call"
	StateWrapUp    AgentState = "wrap_up"
	StateNotReady  AgentState = "not_ready"
)

// Valid reports whether s is one of the known states.
func (s AgentState) Valid() bool {
	switch s {
	case StateLoggedOut, StateAvailable, StateOffered, StateOnCall, StateWrapUp, StateNotReady:
		return true
	}
	return false
}

// AgentStates lists every state in display order.
var AgentStates = []AgentState{StateAvailable, StateOffered, StateOnCall, StateWrapUp, StateNotReady, StateLoggedOut}

// Agent is the static definition of an agent: who they are and what they
// can take. Its live state is kept by the Engine.
type Agent struct {
	ID   string `json:"id" yaml:"id"`
	Name string `json:"name,omitempty" yaml:"name"`
	// Endpoint is the PBX dial target for this agent's phone (PJSIP/1001,
	// user/1001, a sim agent id). Routing never dials; it carries it for the
	// controller.
	Endpoint string `json:"endpoint,omitempty" yaml:"endpoint"`
	// Skills maps a skill name to a level 1..10.
	Skills map[string]int `json:"skills,omitempty" yaml:"skills"`
	// Attributes are free-form: language, team, site …
	Attributes map[string]string `json:"attributes,omitempty" yaml:"attributes"`
	// Queues maps queue name to the agent's priority in it (1 = first
	// choice); an agent serves only the queues listed.
	Queues map[string]int `json:"queues,omitempty" yaml:"queues"`
	// WrapUp overrides the queue's wrap-up time when non-zero.
	WrapUp time.Duration `json:"wrap_up,omitempty" yaml:"wrap_up"`
}

// Call is what the entry rules see of an arriving call.
type Call struct {
	ID           string            `json:"id"`
	CallerNumber string            `json:"caller_number"`
	DialedNumber string            `json:"dialed_number"`
	Node         string            `json:"node,omitempty"`
	Vars         map[string]string `json:"vars,omitempty"`
	// Customer holds attributes looked up before routing (vip, tier,
	// language …); routing never does the look-up itself.
	Customer map[string]string `json:"customer,omitempty"`
}

// Decision is one thing the engine decided; the controller carries it out.
// The concrete types below are the whole set.
type Decision interface{ isDecision() }

// Offer: ring AgentID for CallID. Ring-all queues yield several Offers for
// one call; the first to answer wins and the engine withdraws the rest.
type Offer struct {
	CallID   string        `json:"call_id"`
	AgentID  string        `json:"agent_id"`
	Endpoint string        `json:"endpoint"`
	Queue    string        `json:"queue"`
	Timeout  time.Duration `json:"timeout"`
	Trace    Trace         `json:"trace"`
}

// Withdraw: stop ringing AgentID for CallID (ring-all loser, caller gone).
type Withdraw struct {
	CallID  string `json:"call_id"`
	AgentID string `json:"agent_id"`
	Reason  string `json:"reason"`
}

// Queued: the call joined a queue (on arrival, overflow or re-queue).
type Queued struct {
	CallID   string    `json:"call_id"`
	Queue    string    `json:"queue"`
	Priority int       `json:"priority"`
	Since    time.Time `json:"since"` // original enqueue time, kept across RONA and overflow
	Rule     string    `json:"rule,omitempty"`
}

// Announce: tell the caller their position and estimated wait.
type Announce struct {
	CallID        string        `json:"call_id"`
	Position      int           `json:"position"`
	EstimatedWait time.Duration `json:"estimated_wait"`
}

// Overflow: the call moved from one queue to another, keeping its wait.
type Overflow struct {
	CallID string `json:"call_id"`
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// ExitAction is what happens to a call that leaves a queue without an agent.
type ExitAction string

// Exit actions.
const (
	ExitHangup    ExitAction = "hangup"
	ExitVoicemail ExitAction = "voicemail"
	ExitAnnounce  ExitAction = "announce" // play Media then hang up
	ExitCallback  ExitAction = "callback" // offer a callback
	ExitDialplan  ExitAction = "dialplan" // hand back to the PBX dialplan
)

// QueueExit: the call leaves the queue without an agent (max wait, max
// length, closed, no agents).
type QueueExit struct {
	CallID string     `json:"call_id"`
	Queue  string     `json:"queue"`
	Reason string     `json:"reason"` // max_wait, max_length, closed, no_agents
	Action ExitAction `json:"action"`
	Media  string     `json:"media,omitempty"`
	Target string     `json:"target,omitempty"` // voicemail box or dialplan context
}

// OfferCallback: offer the caller a callback that keeps their place.
type OfferCallback struct {
	CallID string `json:"call_id"`
	Queue  string `json:"queue"`
}

// AgentStateChanged: an agent moved between states.
type AgentStateChanged struct {
	AgentID string     `json:"agent_id"`
	From    AgentState `json:"from"`
	To      AgentState `json:"to"`
	Reason  string     `json:"reason,omitempty"`
	At      time.Time  `json:"at"`
}

// AgentFlagged: an agent exceeded a limit (not-ready reason held too long).
type AgentFlagged struct {
	AgentID string    `json:"agent_id"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// DialAhead: dial a callback entry's customer now, before any agent is
// free, because Agent is predicted free within the entry's lead time
// (Resume.LeadTime). Nothing is reserved: the entry keeps its place and
// waits; when an agent (that one or another) frees up it goes to
// whoever is at the front by the normal rules — this entry if it still
// is. At most one DialAhead is made per entry until CancelDialAhead, and
// at most one per predicted agent at a time (the agent is earmarked).
type DialAhead struct {
	CallID string `json:"call_id"`
	Queue  string `json:"queue"`
	// Agent is the agent predicted free; Remaining is the predicted time
	// until it is free (at most the lead time).
	Agent     string        `json:"agent"`
	Remaining time.Duration `json:"remaining"`
	Reason    string        `json:"reason"`
}

func (Offer) isDecision()             {}
func (DialAhead) isDecision()         {}
func (Withdraw) isDecision()          {}
func (Queued) isDecision()            {}
func (Announce) isDecision()          {}
func (Overflow) isDecision()          {}
func (QueueExit) isDecision()         {}
func (OfferCallback) isDecision()     {}
func (AgentStateChanged) isDecision() {}
func (AgentFlagged) isDecision()      {}

// Trace explains one routing decision: which rule and step applied, which
// candidates were looked at, and why the chosen one won. It is stored with
// the call and shown by `call show`.
type Trace struct {
	// Version is the routing configuration's label (the rules version in
	// force), Queue the queue the offer is made from.
	Version    string `json:"version,omitempty"`
	Queue      string `json:"queue,omitempty"`
	Rule       string `json:"rule,omitempty"`
	Step       string `json:"step,omitempty"`
	Strategy   string `json:"strategy,omitempty"`
	Candidates int    `json:"candidates"`
	// Free is how many members of the queue were free at the time (the
	// longest-idle strategy stops at the first few eligible of them, in
	// idle order, so Candidates may be smaller).
	Free       int      `json:"free,omitempty"`
	Considered []string `json:"considered,omitempty"` // first few agent ids, best first
	Reason     string   `json:"reason"`
}
