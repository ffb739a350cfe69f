package routing

import (
	"sort"
	"time"
)

// QueueView is a copy of one queue's live state.
type QueueView struct {
	Name     string   `json:"name"`
	Strategy Strategy `json:"strategy"`
	Waiting  int      `json:"waiting"`
	Ringing  int      `json:"ringing"`
	// OldestSince is the original enqueue time of the longest-waiting call
	// (zero when none waits).
	OldestSince           time.Time          `json:"oldest_since"`
	AgentsByState         map[AgentState]int `json:"agents_by_state"`
	Members               int                `json:"members"`
	ServiceLevelThreshold time.Duration      `json:"service_level_threshold"`
	ServiceLevelGoal      float64            `json:"service_level_goal"`
	// EstimatedWait is the estimate for a call joining now.
	EstimatedWait time.Duration `json:"estimated_wait"`
}

// AgentView is a copy of one agent's live state.
type AgentView struct {
	ID         string            `json:"id"`
	Name       string            `json:"name,omitempty"`
	Endpoint   string            `json:"endpoint,omitempty"`
	State      AgentState        `json:"state"`
	Reason     string            `json:"reason,omitempty"`
	Since      time.Time         `json:"since"`
	CallID     string            `json:"call_id,omitempty"`
	Queues     map[string]int    `json:"queues,omitempty"`
	Skills     map[string]int    `json:"skills,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Handled    int               `json:"handled"`
	Misses     int               `json:"misses"`
	Flagged    bool              `json:"flagged"`
}

// WaitingView is one waiting (or ringing) call in queue order.
type WaitingView struct {
	CallID       string    `json:"call_id"`
	Queue        string    `json:"queue"`
	Position     int       `json:"position"`
	Since        time.Time `json:"since"`
	Priority     int       `json:"priority"`
	CallerNumber string    `json:"caller_number"`
	Ringing      bool      `json:"ringing"`
	Step         string    `json:"step"`
}

// Queues returns every queue in configuration order.
func (e *Engine) Queues() []QueueView {
	out := make([]QueueView, 0, len(e.cfg.Queues))
	ringing := map[string]int{}
	oldest := map[string]time.Time{}
	for _, cs := range e.calls {
		if cs.phase == phaseOffered {
			ringing[cs.queue]++
		}
		if cs.phase != phaseConnected {
			if o, ok := oldest[cs.queue]; !ok || cs.since.Before(o) {
				oldest[cs.queue] = cs.since
			}
		}
	}
	for i := range e.cfg.Queues {
		qc := &e.cfg.Queues[i]
		q := e.queues[qc.Name]
		v := QueueView{
			Name: qc.Name, Strategy: qc.Strategy, Waiting: len(q.waiting), Ringing: ringing[qc.Name],
			OldestSince: oldest[qc.Name], AgentsByState: map[AgentState]int{}, Members: len(q.members),
			ServiceLevelThreshold: qc.ServiceLevelThreshold, ServiceLevelGoal: qc.ServiceLevelGoal,
			EstimatedWait: e.estimate(q, len(q.waiting)+1),
		}
		for _, ag := range q.members {
			v.AgentsByState[ag.state]++
		}
		out = append(out, v)
	}
	return out
}

// Agents returns every agent sorted by id.
func (e *Engine) Agents() []AgentView {
	out := make([]AgentView, 0, len(e.agents))
	for _, id := range sortedKeys(e.agents) {
		out = append(out, e.view(e.agents[id]))
	}
	return out
}

// Agent returns one agent.
func (e *Engine) Agent(id string) (AgentView, bool) {
	ag, ok := e.agents[id]
	if !ok {
		return AgentView{}, false
	}
	return e.view(ag), true
}

func (e *Engine) view(ag *agentState) AgentView {
	return AgentView{
		ID: ag.def.ID, Name: ag.def.Name, Endpoint: ag.def.Endpoint, State: ag.state, Reason: ag.reason,
		Since: ag.since, CallID: ag.callID, Queues: cloneMap(ag.def.Queues), Skills: cloneMap(ag.def.Skills),
		Attributes: cloneMap(ag.def.Attributes), Handled: ag.handled, Misses: ag.misses, Flagged: ag.flagged,
	}
}

// Waiting returns the calls of a queue that have no agent yet: waiting ones
// in queue order, then ringing ones.
func (e *Engine) Waiting(queue string) []WaitingView {
	q := e.queues[queue]
	if q == nil {
		return nil
	}
	out := make([]WaitingView, 0, len(q.waiting))
	for i, cs := range q.waiting {
		out = append(out, WaitingView{CallID: cs.call.ID, Queue: queue, Position: i + 1, Since: cs.since, Priority: cs.priority, CallerNumber: cs.call.CallerNumber, Step: e.stepLabel(cs)})
	}
	var ringing []*callState
	for _, cs := range e.calls {
		if cs.queue == queue && cs.phase == phaseOffered {
			ringing = append(ringing, cs)
		}
	}
	sort.Slice(ringing, func(i, j int) bool { return lessCall(ringing[i], ringing[j]) })
	for _, cs := range ringing {
		out = append(out, WaitingView{CallID: cs.call.ID, Queue: queue, Since: cs.since, Priority: cs.priority, CallerNumber: cs.call.CallerNumber, Ringing: true, Step: e.stepLabel(cs)})
	}
	return out
}

// CallQueue reports the queue a routed call is in and whether the engine
// knows the call.
func (e *Engine) CallQueue(callID string) (string, bool) {
	cs, ok := e.calls[callID]
	if !ok {
		return "", false
	}
	return cs.queue, true
}
