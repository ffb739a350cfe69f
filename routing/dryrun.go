package routing

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// DryRunResult says what would happen to a call under a configuration:
// `switchboard rules test` and POST /api/v1/rules/test print it.
type DryRunResult struct {
	Queue    string `json:"queue"`
	Priority int    `json:"priority"`
	Rule     string `json:"rule"`
	// Agent is the agent that would be offered the call now ("" if none).
	Agent string `json:"agent,omitempty"`
	// Trace is why that agent: step, strategy, candidates, reason.
	Trace *Trace `json:"trace,omitempty"`
	// Waiting explains why no agent was chosen.
	Waiting string `json:"waiting,omitempty"`
	// Decisions are the engine's decisions, in words, in order.
	Decisions []string `json:"decisions"`
}

// DryRun routes one call through a fresh engine built on cfg, at now,
// with the given agents in their given states (for instance the live
// floor from the API). With agents nil, the agents declared in cfg are
// all taken as available, longest idle in file order. Nothing outside the
// fresh engine is touched.
func DryRun(cfg *Config, agents []AgentView, c Call, now time.Time) (DryRunResult, error) {
	e, err := NewEngineChecked(cfg)
	if err != nil {
		return DryRunResult{}, err
	}
	if agents == nil {
		for i, a := range e.cfg.Agents {
			if _, err := e.Login(a.ID, now.Add(time.Duration(i-len(e.cfg.Agents))*time.Second)); err != nil {
				return DryRunResult{}, err
			}
		}
	} else {
		// Restore in idle order so that longest-idle ties break as live.
		sorted := slices.Clone(agents)
		slices.SortStableFunc(sorted, func(a, b AgentView) int { return a.Since.Compare(b.Since) })
		for _, av := range sorted {
			e.restore(av)
		}
	}
	if c.ID == "" {
		c.ID = "dry-run"
	}
	ds, err := e.Arrive(c, now)
	if err != nil {
		return DryRunResult{}, err
	}
	res := DryRunResult{Decisions: []string{}}
	for _, d := range ds {
		res.Decisions = append(res.Decisions, Describe(d))
		switch v := d.(type) {
		case Queued:
			if res.Queue == "" {
				res.Queue, res.Priority, res.Rule = v.Queue, v.Priority, v.Rule
			}
		case Offer:
			if res.Agent == "" {
				res.Agent = v.AgentID
				tr := v.Trace
				res.Trace = &tr
			}
		}
	}
	if res.Agent == "" {
		if _, known := e.CallQueue(c.ID); known {
			res.Waiting = "no eligible agent is free now: the call waits (escalation steps may widen who can take it)"
		} else {
			res.Waiting = "the call leaves the queue (see decisions)"
		}
	}
	return res, nil
}

// restore puts an agent into the engine in the state a view reports,
// without producing decisions: a dry run on the live floor.
func (e *Engine) restore(av AgentView) {
	e.UpsertAgent(Agent{ID: av.ID, Name: av.Name, Endpoint: av.Endpoint, Skills: av.Skills, Attributes: av.Attributes, Queues: av.Queues}, av.Since)
	ag := e.agents[av.ID]
	if !av.State.Valid() || av.State == StateLoggedOut {
		return
	}
	e.setState(ag, av.State, av.Reason, av.Since, nil)
	if av.State == StateAvailable {
		ag.idleSince = av.Since
		e.indexAvail(ag)
	}
}

// Describe renders a decision in words for people (CLI, logs).
func Describe(d Decision) string {
	switch v := d.(type) {
	case Queued:
		return fmt.Sprintf("queued in %s (priority %d, rule %s)", v.Queue, v.Priority, v.Rule)
	case Offer:
		return fmt.Sprintf("offer to %s (%s): %s", v.AgentID, v.Trace.Step, v.Trace.Reason)
	case Withdraw:
		return fmt.Sprintf("withdraw %s from %s: %s", v.CallID, v.AgentID, v.Reason)
	case Announce:
		return fmt.Sprintf("announce position %d, estimated wait %s", v.Position, v.EstimatedWait)
	case Overflow:
		return fmt.Sprintf("overflow %s → %s (%s)", v.From, v.To, v.Reason)
	case QueueExit:
		s := fmt.Sprintf("leaves %s (%s): %s", v.Queue, v.Reason, v.Action)
		if v.Target != "" {
			s += " " + v.Target
		}
		if v.Media != "" {
			s += " " + v.Media
		}
		return s
	case OfferCallback:
		return fmt.Sprintf("offer a callback in %s", v.Queue)
	case AgentStateChanged:
		return fmt.Sprintf("agent %s %s → %s %s", v.AgentID, v.From, v.To, v.Reason)
	case AgentFlagged:
		return fmt.Sprintf("agent %s flagged: %s", v.AgentID, v.Reason)
	}
	return fmt.Sprintf("%T", d)
}

// Change is one difference between two routing configurations.
type Change struct {
	Change string `json:"change"` // added, removed, changed
	What   string `json:"what"`
	Detail string `json:"detail,omitempty"`
}

// Diff lists what changes from a to b: queues (every setting), entry
// rules (order, target, priority, requirement, expressions are compared by
// name and position), boosts, reasons, the default queue and agents.
func Diff(a, b *Config) []Change {
	var out []Change
	qa := map[string]QueueConfig{}
	for _, q := range a.Queues {
		qa[q.Name] = q
	}
	qb := map[string]bool{}
	for _, q := range b.Queues {
		qb[q.Name] = true
		old, ok := qa[q.Name]
		if !ok {
			out = append(out, Change{"added", "queue " + q.Name, string(q.Strategy)})
			continue
		}
		if d := queueDiff(old, q); d != "" {
			out = append(out, Change{"changed", "queue " + q.Name, d})
		}
	}
	for _, q := range a.Queues {
		if !qb[q.Name] {
			out = append(out, Change{"removed", "queue " + q.Name, "waiting calls move to the default queue"})
		}
	}
	ra := map[string]int{}
	for i, r := range a.Entry {
		ra[r.Name] = i
	}
	rb := map[string]bool{}
	for i, r := range b.Entry {
		rb[r.Name] = true
		j, ok := ra[r.Name]
		if !ok {
			out = append(out, Change{"added", "entry rule " + r.Name, fmt.Sprintf("→ %s priority %d (position %d)", r.Queue, r.Priority, i+1)})
			continue
		}
		old := a.Entry[j]
		var d []string
		if i != j {
			d = append(d, fmt.Sprintf("position %d → %d", j+1, i+1))
		}
		if old.Queue != r.Queue || old.Priority != r.Priority {
			d = append(d, fmt.Sprintf("%s/%d → %s/%d", old.Queue, old.Priority, r.Queue, r.Priority))
		}
		if !reflect.DeepEqual(old.Require, r.Require) {
			d = append(d, fmt.Sprintf("require %v → %v", old.Require, r.Require))
		}
		if !slices.Equal(old.Dialed, r.Dialed) {
			d = append(d, fmt.Sprintf("dialed %v → %v", old.Dialed, r.Dialed))
		}
		if old.AgentExpr != r.AgentExpr {
			d = append(d, fmt.Sprintf("agent %q → %q", old.AgentExpr, r.AgentExpr))
		}
		if len(d) > 0 {
			out = append(out, Change{"changed", "entry rule " + r.Name, strings.Join(d, "; ")})
		}
	}
	for _, r := range a.Entry {
		if !rb[r.Name] {
			out = append(out, Change{"removed", "entry rule " + r.Name, ""})
		}
	}
	ba := map[string]Boost{}
	for _, x := range a.Boosts {
		ba[x.Name] = x
	}
	bb := map[string]bool{}
	for _, x := range b.Boosts {
		bb[x.Name] = true
		if old, ok := ba[x.Name]; !ok {
			out = append(out, Change{"added", "boost " + x.Name, fmt.Sprintf("+%d", x.Add)})
		} else if old.Add != x.Add {
			out = append(out, Change{"changed", "boost " + x.Name, fmt.Sprintf("+%d → +%d", old.Add, x.Add)})
		}
	}
	for _, x := range a.Boosts {
		if !bb[x.Name] {
			out = append(out, Change{"removed", "boost " + x.Name, ""})
		}
	}
	if fmt.Sprint(a.NotReadyReasons) != fmt.Sprint(b.NotReadyReasons) {
		out = append(out, Change{"changed", "reasons", fmt.Sprintf("%s → %s", reasonList(a.NotReadyReasons), reasonList(b.NotReadyReasons))})
	}
	if a.DefaultQueue != b.DefaultQueue {
		out = append(out, Change{"changed", "default_queue", a.DefaultQueue + " → " + b.DefaultQueue})
	}
	aa := map[string]Agent{}
	for _, x := range a.Agents {
		aa[x.ID] = x
	}
	ab := map[string]bool{}
	for _, x := range b.Agents {
		ab[x.ID] = true
		if old, ok := aa[x.ID]; !ok {
			out = append(out, Change{"added", "agent " + x.ID, ""})
		} else if !reflect.DeepEqual(cloneAgent(old), cloneAgent(x)) {
			out = append(out, Change{"changed", "agent " + x.ID, fmt.Sprintf("skills %v → %v, queues %v → %v", old.Skills, x.Skills, old.Queues, x.Queues)})
		}
	}
	for _, x := range a.Agents {
		if !ab[x.ID] {
			out = append(out, Change{"removed", "agent " + x.ID, ""})
		}
	}
	return out
}

func queueDiff(a, b QueueConfig) string {
	var d []string
	add := func(name string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			d = append(d, fmt.Sprintf("%s %v → %v", name, x, y))
		}
	}
	add("strategy", a.Strategy, b.Strategy)
	add("service level", fmt.Sprintf("%s/%.2f", a.ServiceLevelThreshold, a.ServiceLevelGoal), fmt.Sprintf("%s/%.2f", b.ServiceLevelThreshold, b.ServiceLevelGoal))
	add("offer_timeout", a.OfferTimeout, b.OfferTimeout)
	add("wrap_up", a.WrapUp, b.WrapUp)
	add("max_misses", a.MaxMisses, b.MaxMisses)
	add("miss_reason", a.MissReason, b.MissReason)
	add("max_wait", a.MaxWait, b.MaxWait)
	add("max_length", a.MaxLength, b.MaxLength)
	add("on_exit", a.Exit, b.Exit)
	add("no_agents", a.NoAgents, b.NoAgents)
	add("announce_every", a.AnnounceEvery, b.AnnounceEvery)
	add("priority_step", a.PriorityStep, b.PriorityStep)
	add("steps", stepsString(a.Steps), stepsString(b.Steps))
	return strings.Join(d, "; ")
}

func stepsString(steps []Step) string {
	parts := make([]string, 0, len(steps))
	for _, s := range steps {
		p := fmt.Sprintf("after %s", s.After)
		if len(s.Require) > 0 {
			p += fmt.Sprintf(" require %v", s.Require)
		}
		if s.AgentExpr != "" {
			p += fmt.Sprintf(" agent %q", s.AgentExpr)
		}
		if s.OverflowTo != "" {
			p += " overflow to " + s.OverflowTo
		}
		if s.OfferCallback {
			p += " offer callback"
		}
		parts = append(parts, p)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
