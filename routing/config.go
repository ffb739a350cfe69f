package routing

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Strategy names how a queue picks among available agents.
type Strategy string

// Strategies. The zero value means StrategyLongestIdle.
const (
	StrategyLongestIdle Strategy = "longest-idle"
	StrategyFewestCalls Strategy = "fewest-calls"
	StrategyRoundRobin  Strategy = "round-robin"
	StrategyTopDown     Strategy = "top-down"
	StrategyRingAll     Strategy = "ring-all"
	StrategyBestSkill   Strategy = "best-skill-first"
	StrategyLeastTalk   Strategy = "least-talk-time"
	StrategyRandom      Strategy = "random"
)

// Config is a compiled routing configuration: what ParseRules returns for
// a routing file, or what a program builds in code. An Engine never mutates
// the Config it is given; Reload swaps it for a new one.
type Config struct {
	// Version is a label for the configuration (a rules version number or a
	// content hash); it is copied into traces.
	Version string
	Queues  []QueueConfig
	// Entry rules are tried in order; the first that matches classifies the
	// call. A call no rule matches goes to DefaultQueue.
	Entry        []EntryRule
	DefaultQueue string
	// Agents declared in the routing file (others arrive with UpsertAgent).
	Agents []Agent
	// NotReadyReasons is the list of reason codes agents may use. Empty means
	// any reason is accepted.
	NotReadyReasons []ReasonCode
	// Boosts raise the priority of calls they match, after the entry rule
	// chose the queue (a VIP keeps the line it dialled but jumps ahead).
	Boosts []Boost
}

// Boost adds Add to the priority of every arriving call Match accepts.
type Boost struct {
	Name  string
	Match func(c Call, now time.Time) bool
	Add   int
}

// Actor is who asks for an agent state change; reason codes may be
// restricted to some actors (only the system sets "rona").
type Actor string

// Actors.
const (
	ActorAgent      Actor = "agent"
	ActorSupervisor Actor = "supervisor"
	ActorSystem     Actor = "system"
)

// AgentFilter is a compiled condition on an agent for a given call (from a
// routing file's `agent:` expression, or written in Go). Nil accepts all.
type AgentFilter func(a *Agent, c *Call) bool

// ReasonCode is one not-ready reason an agent may choose.
type ReasonCode struct {
	Code string
	// MaxDuration flags the agent (AgentFlagged) when held longer; 0 = no limit.
	MaxDuration time.Duration
	// SetBy lists who may set this reason; empty means anyone.
	SetBy []Actor
}

// allows reports whether by may set the reason.
func (r ReasonCode) allows(by Actor) bool {
	if len(r.SetBy) == 0 {
		return true
	}
	for _, a := range r.SetBy {
		if a == by {
			return true
		}
	}
	return false
}

// QueueConfig is one queue's behaviour.
type QueueConfig struct {
	Name     string
	Strategy Strategy
	// ServiceLevelThreshold and ServiceLevelGoal: e.g. 20 s and 0.95.
	ServiceLevelThreshold time.Duration
	ServiceLevelGoal      float64
	// OfferTimeout is how long an agent's phone rings before RONA.
	OfferTimeout time.Duration
	// WrapUp is after-call work time (an agent's own WrapUp wins).
	WrapUp time.Duration
	// MaxMisses: after this many RONAs in a row the agent goes not ready
	// with MissReason. 0 disables.
	MaxMisses  int
	MissReason string
	// MaxWait and MaxLength bound the queue; Exit says what happens then.
	MaxWait   time.Duration
	MaxLength int
	Exit      ExitPolicy
	// AnnounceEvery repeats position / estimated wait announcements; 0 = never.
	AnnounceEvery time.Duration
	// Steps widen the skill requirement with wait (escalation).
	Steps []Step
	// NoAgents says what happens to calls when nobody can take them: on
	// arrival (join) and, for calls already waiting, when the last member
	// logs out or pauses (leave). Zero value: calls wait.
	NoAgents NoAgentsPolicy
	// PriorityStep is how much wait one priority point is worth (default
	// 60 s): a priority-2 call is served as if it had arrived 2 minutes
	// earlier, so priority ages and a low-priority call never starves.
	PriorityStep time.Duration
}

// NoAgentsWhen names the condition of a NoAgentsPolicy.
type NoAgentsWhen string

// Conditions for NoAgentsPolicy.
const (
	// NoAgentsLoggedOut: no member of the queue is logged in.
	NoAgentsLoggedOut NoAgentsWhen = "logged_out"
	// NoAgentsUnavailable: no member is logged in and ready — all are
	// logged out or not ready (members on calls or in wrap-up count as
	// staffed: the call will be served).
	NoAgentsUnavailable NoAgentsWhen = "unavailable"
)

// NoAgentsPolicy is a queue's answer to "nobody can take this call".
type NoAgentsPolicy struct {
	When NoAgentsWhen // empty disables the policy
	Exit ExitPolicy   // overflow or action, as for max wait
}

// ExitPolicy says what happens to a call that cannot stay in the queue.
type ExitPolicy struct {
	Action     ExitAction
	OverflowTo string // with Action "" and OverflowTo set, the call overflows
	Media      string
	Target     string
}

// Step is one escalation step: from After on, the call may go to agents
// that meet Require (skill name → minimum level; empty = any agent of the
// queue).
type Step struct {
	After   time.Duration
	Require map[string]int
	// OverflowTo moves the call to another queue at After.
	OverflowTo string
	// OfferCallback offers a callback at After.
	OfferCallback bool
	// Agent further restricts who may take the call from this step on
	// (an `agent:` expression, e.g. agent.attributes.language ==
	// call.customer.language); nil = skills only. AgentExpr is its source.
	Agent     AgentFilter
	AgentExpr string
}

// EntryRule classifies an arriving call.
type EntryRule struct {
	Name string
	// Dialed, when set, limits the rule to calls to these numbers. It is
	// indexed: with a thousand lines, a call only tries the rules for its
	// own number and the rules without a Dialed list, in file order.
	Dialed []string
	// Match is the compiled predicate; nil matches everything.
	Match func(c Call, now time.Time) bool
	// Queue, Priority and Require are the result.
	Queue    string
	Priority int
	Require  map[string]int
	// Agent restricts who may take the call until the queue's first
	// escalation step applies (see Step.Agent).
	Agent     AgentFilter
	AgentExpr string
}

// Errors callers branch on.
var (
	ErrUnknownAgent = errors.New("unknown agent")
	ErrUnknownCall  = errors.New("unknown call")
	ErrUnknownQueue = errors.New("unknown queue")
	ErrInvalidState = errors.New("invalid agent state change")
	ErrBadReason    = errors.New("unknown not-ready reason")
	ErrInvalid      = errors.New("invalid routing configuration")
	ErrNotAllowed   = errors.New("not allowed")
)

// Defaults applied by Normalize.
const (
	DefaultOfferTimeout  = 15 * time.Second
	DefaultWrapUp        = 10 * time.Second
	DefaultSLThreshold   = 20 * time.Second
	DefaultSLGoal        = 0.95
	DefaultMissReason    = "rona"
	DefaultMaxMisses     = 3
	DefaultPriorityStep  = 60 * time.Second
	defaultQueuePriority = 1
	maxTraceConsidered   = 5
	maxOverflowHops      = 8
)

// Normalize fills defaults and checks the configuration for mistakes a
// program can make (routing files get richer, positioned errors from
// ParseRules). It returns an error naming the queue or rule at fault.
func (c *Config) Normalize() error {
	seen := map[string]bool{}
	for i := range c.Queues {
		q := &c.Queues[i]
		if q.Name == "" {
			return fmt.Errorf("%w: queue %d has no name", ErrInvalid, i+1)
		}
		if seen[q.Name] {
			return fmt.Errorf("%w: queue %q declared twice", ErrInvalid, q.Name)
		}
		seen[q.Name] = true
		if q.Strategy == "" {
			q.Strategy = StrategyLongestIdle
		}
		if q.OfferTimeout <= 0 {
			q.OfferTimeout = DefaultOfferTimeout
		}
		if q.WrapUp < 0 {
			return fmt.Errorf("%w: queue %q: wrap_up is negative", ErrInvalid, q.Name)
		}
		if q.ServiceLevelThreshold <= 0 {
			q.ServiceLevelThreshold = DefaultSLThreshold
		}
		if q.ServiceLevelGoal <= 0 {
			q.ServiceLevelGoal = DefaultSLGoal
		}
		if q.ServiceLevelGoal > 1 {
			return fmt.Errorf("%w: queue %q: service level goal %v is not a fraction 0..1", ErrInvalid, q.Name, q.ServiceLevelGoal)
		}
		if q.MissReason == "" {
			q.MissReason = DefaultMissReason
		}
		if q.PriorityStep <= 0 {
			q.PriorityStep = DefaultPriorityStep
		}
		switch q.NoAgents.When {
		case "", NoAgentsLoggedOut, NoAgentsUnavailable:
		default:
			return fmt.Errorf("%w: queue %q: no_agents.when %q (use logged_out or unavailable)", ErrInvalid, q.Name, q.NoAgents.When)
		}
		sort.SliceStable(q.Steps, func(a, b int) bool { return q.Steps[a].After < q.Steps[b].After })
	}
	for i := range c.Queues {
		q := &c.Queues[i]
		if q.Exit.OverflowTo != "" && !seen[q.Exit.OverflowTo] {
			return fmt.Errorf("%w: queue %q overflows to unknown queue %q", ErrInvalid, q.Name, q.Exit.OverflowTo)
		}
		if to := q.NoAgents.Exit.OverflowTo; to != "" && (!seen[to] || to == q.Name) {
			return fmt.Errorf("%w: queue %q: no_agents overflows to unknown queue %q", ErrInvalid, q.Name, to)
		}
		for _, s := range q.Steps {
			if s.OverflowTo != "" && !seen[s.OverflowTo] {
				return fmt.Errorf("%w: queue %q step after %s overflows to unknown queue %q", ErrInvalid, q.Name, s.After, s.OverflowTo)
			}
		}
	}
	if c.DefaultQueue != "" && !seen[c.DefaultQueue] {
		return fmt.Errorf("%w: default queue %q is not declared", ErrInvalid, c.DefaultQueue)
	}
	if c.DefaultQueue == "" && len(c.Queues) > 0 {
		c.DefaultQueue = c.Queues[0].Name
	}
	for _, r := range c.Entry {
		if !seen[r.Queue] {
			return fmt.Errorf("%w: entry rule %q sends calls to unknown queue %q", ErrInvalid, r.Name, r.Queue)
		}
	}
	for _, a := range c.Agents {
		if err := checkAgent(a, seen); err != nil {
			return err
		}
	}
	return nil
}

func checkAgent(a Agent, queues map[string]bool) error {
	if a.ID == "" {
		return fmt.Errorf("%w: agent has no id", ErrInvalid)
	}
	for s, lvl := range a.Skills {
		if lvl < 1 || lvl > 10 {
			return fmt.Errorf("%w: agent %q: skill %q level %d is outside 1..10", ErrInvalid, a.ID, s, lvl)
		}
	}
	if queues != nil {
		for q := range a.Queues {
			if !queues[q] {
				return fmt.Errorf("%w: agent %q is a member of unknown queue %q", ErrInvalid, a.ID, q)
			}
		}
	}
	return nil
}

func (c *Config) queue(name string) *QueueConfig {
	for i := range c.Queues {
		if c.Queues[i].Name == name {
			return &c.Queues[i]
		}
	}
	return nil
}

func (c *Config) reason(code string) (ReasonCode, bool) {
	if len(c.NotReadyReasons) == 0 {
		return ReasonCode{Code: code}, true
	}
	for _, r := range c.NotReadyReasons {
		if r.Code == code {
			return r, true
		}
	}
	return ReasonCode{}, false
}
