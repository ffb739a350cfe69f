package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/routing"
)

func newRulesCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Validate, test and compare routing files",
		Long: `rules works on routing files (see docs/routing.md). validate and test need
no running server: a manager can check a change on a laptop before it goes live.`,
	}
	cmd.AddCommand(newRulesValidateCmd(app), newRulesTestCmd(app), newRulesDiffCmd(app))
	return cmd
}

func loadRules(path string) (*routing.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("read routing file: %v", err)
	}
	cfg, err := routing.ParseRules(path, data)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

func newRulesValidateCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a routing file; every error with file:line:column",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadRules(args[0])
			if err != nil {
				return fmt.Errorf("%s is not valid:\n%w", args[0], err)
			}
			type summary struct {
				File   string `json:"file"`
				Valid  bool   `json:"valid"`
				Queues int    `json:"queues"`
				Rules  int    `json:"entry_rules"`
				Agents int    `json:"agents"`
			}
			s := summary{File: args[0], Valid: true, Queues: len(cfg.Queues), Rules: len(cfg.Entry), Agents: len(cfg.Agents)}
			return app.Print(s, func(t *Table) {
				t.Header = []string{"FILE", "VALID", "QUEUES", "ENTRY RULES", "AGENTS"}
				t.Row(s.File, "yes", s.Queues, s.Rules, s.Agents)
			})
		},
	}
}

// testResult is what `rules test` reports about one call.
type testResult struct {
	Queue    string          `json:"queue"`
	Priority int             `json:"priority"`
	Rule     string          `json:"rule"`
	Agent    string          `json:"agent,omitempty"`
	Trace    *routing.Trace  `json:"trace,omitempty"`
	Waiting  string          `json:"waiting,omitempty"`
	Events   []string        `json:"decisions"`
	Agents   []testAgentInfo `json:"agents_considered,omitempty"`
}

type testAgentInfo struct {
	ID    string     `json:"id"`
	State string     `json:"state"`
	Since *time.Time `json:"since,omitempty"`
}

func newRulesTestCmd(app *App) *cobra.Command {
	var callJSON, at string
	var live bool
	cmd := &cobra.Command{
		Use:   "test FILE --call '{json}'",
		Short: "Show where a call would go and which agent would take it, and why",
		Long: `test classifies a call with the file's entry rules and runs the engine on it.
The call is JSON with caller_number, dialed_number, vars and customer, e.g.
  switchboard rules test configs/routing.yaml --call '{"dialed_number":"2000","vars":{"VIP":"1"}}'
Without --live the agents declared in the file are all taken as available
(longest idle first in file order). With --live, the agents and their current
states come from the running server (--server).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadRules(args[0])
			if err != nil {
				return fmt.Errorf("%s is not valid:\n%w", args[0], err)
			}
			var call routing.Call
			dec := json.NewDecoder(strings.NewReader(callJSON))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&call); err != nil {
				return usagef("--call: %v (fields: caller_number, dialed_number, node, vars, customer)", err)
			}
			if call.ID == "" {
				call.ID = "test-call"
			}
			now := time.Now().UTC()
			if at != "" {
				if now, err = time.Parse(time.RFC3339, at); err != nil {
					return usagef("--at %q: use RFC 3339, e.g. 2026-11-23T09:30:00+01:00", at)
				}
			}
			e, err := routing.NewEngineChecked(cfg)
			if err != nil {
				return err
			}
			var considered []testAgentInfo
			if live {
				c, err := app.Client()
				if err != nil {
					return err
				}
				var agents []routing.AgentView
				if err := c.Get(cmd.Context(), "/api/v1/agents", &agents); err != nil {
					return err
				}
				sort.Slice(agents, func(i, j int) bool { return agents[i].Since.Before(agents[j].Since) })
				for _, a := range agents {
					e.UpsertAgent(routing.Agent{ID: a.ID, Name: a.Name, Endpoint: a.Endpoint, Skills: a.Skills, Attributes: a.Attributes, Queues: a.Queues}, a.Since)
					if a.State == routing.StateAvailable {
						if _, err := e.Login(a.ID, a.Since); err != nil {
							return err
						}
					}
					since := a.Since
					considered = append(considered, testAgentInfo{ID: a.ID, State: string(a.State), Since: &since})
				}
			} else {
				for i, a := range cfg.Agents {
					if _, err := e.Login(a.ID, now.Add(time.Duration(i-len(cfg.Agents))*time.Second)); err != nil {
						return err
					}
					considered = append(considered, testAgentInfo{ID: a.ID, State: string(routing.StateAvailable)})
				}
			}
			ds, err := e.Arrive(call, now)
			if err != nil {
				return err
			}
			res := testResult{Agents: considered}
			for _, d := range ds {
				switch v := d.(type) {
				case routing.Queued:
					res.Queue, res.Priority, res.Rule = v.Queue, v.Priority, v.Rule
					res.Events = append(res.Events, fmt.Sprintf("queued in %s (priority %d, rule %s)", v.Queue, v.Priority, v.Rule))
				case routing.Offer:
					if res.Agent == "" {
						res.Agent = v.AgentID
						tr := v.Trace
						res.Trace = &tr
					}
					res.Events = append(res.Events, fmt.Sprintf("offer to %s: %s", v.AgentID, v.Trace.Reason))
				case routing.QueueExit:
					res.Events = append(res.Events, fmt.Sprintf("leaves %s (%s): %s", v.Queue, v.Reason, v.Action))
				case routing.Overflow:
					res.Events = append(res.Events, fmt.Sprintf("overflow %s → %s (%s)", v.From, v.To, v.Reason))
				case routing.Announce:
					res.Events = append(res.Events, fmt.Sprintf("announce position %d, estimated wait %s", v.Position, v.EstimatedWait))
				}
			}
			if res.Agent == "" {
				res.Waiting = "no eligible agent is free now: the call waits (escalation steps may widen it)"
			}
			return app.Print(res, func(t *Table) {
				t.Header = []string{"QUEUE", "PRIORITY", "RULE", "AGENT", "WHY"}
				why := res.Waiting
				if res.Trace != nil {
					why = res.Trace.Reason
				}
				t.Row(res.Queue, res.Priority, res.Rule, res.Agent, why)
			})
		},
	}
	cmd.Flags().StringVar(&callJSON, "call", "{}", "the call as JSON")
	cmd.Flags().StringVar(&at, "at", "", "evaluate at this time (RFC 3339) instead of now: calendars and time-of-day rules")
	cmd.Flags().BoolVar(&live, "live", false, "use the running server's agents and their current states")
	return cmd
}

func newRulesDiffCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Show what changes between two routing files (queues, rules, agents)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := loadRules(args[0])
			if err != nil {
				return fmt.Errorf("%s is not valid:\n%w", args[0], err)
			}
			b, err := loadRules(args[1])
			if err != nil {
				return fmt.Errorf("%s is not valid:\n%w", args[1], err)
			}
			changes := diffRules(a, b)
			return app.Print(changes, func(t *Table) {
				t.Header = []string{"CHANGE", "WHAT", "DETAIL"}
				for _, c := range changes {
					t.Row(c.Change, c.What, c.Detail)
				}
			})
		},
	}
}

type ruleChange struct {
	Change string `json:"change"` // added, removed, changed
	What   string `json:"what"`
	Detail string `json:"detail,omitempty"`
}

func diffRules(a, b *routing.Config) []ruleChange {
	var out []ruleChange
	qa, qb := map[string]routing.QueueConfig{}, map[string]routing.QueueConfig{}
	for _, q := range a.Queues {
		qa[q.Name] = q
	}
	for _, q := range b.Queues {
		qb[q.Name] = q
	}
	for _, q := range b.Queues {
		old, ok := qa[q.Name]
		if !ok {
			out = append(out, ruleChange{"added", "queue " + q.Name, ""})
			continue
		}
		if d := describeQueueDiff(old, q); d != "" {
			out = append(out, ruleChange{"changed", "queue " + q.Name, d})
		}
	}
	for _, q := range a.Queues {
		if _, ok := qb[q.Name]; !ok {
			out = append(out, ruleChange{"removed", "queue " + q.Name, "waiting calls move to the default queue"})
		}
	}
	ra, rb := map[string]routing.EntryRule{}, map[string]routing.EntryRule{}
	for _, r := range a.Entry {
		ra[r.Name] = r
	}
	for _, r := range b.Entry {
		rb[r.Name] = r
	}
	for i, r := range b.Entry {
		old, ok := ra[r.Name]
		switch {
		case !ok:
			out = append(out, ruleChange{"added", "entry rule " + r.Name, fmt.Sprintf("→ %s priority %d (position %d)", r.Queue, r.Priority, i+1)})
		case old.Queue != r.Queue || old.Priority != r.Priority || fmt.Sprint(old.Require) != fmt.Sprint(r.Require):
			out = append(out, ruleChange{"changed", "entry rule " + r.Name, fmt.Sprintf("%s/%d → %s/%d", old.Queue, old.Priority, r.Queue, r.Priority)})
		}
	}
	for _, r := range a.Entry {
		if _, ok := rb[r.Name]; !ok {
			out = append(out, ruleChange{"removed", "entry rule " + r.Name, ""})
		}
	}
	if a.DefaultQueue != b.DefaultQueue {
		out = append(out, ruleChange{"changed", "default_queue", a.DefaultQueue + " → " + b.DefaultQueue})
	}
	aa, ab := map[string]routing.Agent{}, map[string]routing.Agent{}
	for _, x := range a.Agents {
		aa[x.ID] = x
	}
	for _, x := range b.Agents {
		ab[x.ID] = x
		if old, ok := aa[x.ID]; !ok {
			out = append(out, ruleChange{"added", "agent " + x.ID, ""})
		} else if fmt.Sprint(old.Skills, old.Queues, old.Endpoint) != fmt.Sprint(x.Skills, x.Queues, x.Endpoint) {
			out = append(out, ruleChange{"changed", "agent " + x.ID, fmt.Sprintf("skills %v → %v, queues %v → %v", old.Skills, x.Skills, old.Queues, x.Queues)})
		}
	}
	for _, x := range a.Agents {
		if _, ok := ab[x.ID]; !ok {
			out = append(out, ruleChange{"removed", "agent " + x.ID, ""})
		}
	}
	return out
}

func describeQueueDiff(a, b routing.QueueConfig) string {
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
	add("max_wait", a.MaxWait, b.MaxWait)
	add("max_length", a.MaxLength, b.MaxLength)
	add("on_exit", a.Exit, b.Exit)
	add("steps", a.Steps, b.Steps)
	return strings.Join(d, "; ")
}
