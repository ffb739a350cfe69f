package main

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/api"
)

func newAgentCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "List agents and change their state",
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List agents with their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out api.AgentList
			if err := c.Get(cmd.Context(), "/api/v1/agents", &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{"ID", "NAME", "STATE", "REASON", "SINCE", "CALL", "QUEUES"}
				for _, a := range out.Agents {
					since := "-"
					if !a.Since.IsZero() {
						since = secs(out.At.Sub(a.Since).Seconds())
					}
					t.Row(a.ID, dash(a.Name), a.State, dash(a.Reason), since, dash(a.CallID), dash(queueNames(a.Queues)))
				}
				t.Footer = append(t.Footer, fmt.Sprintf("%d agents", len(out.Agents)))
			})
		},
	}
	cmd.AddCommand(list)
	for _, op := range []struct {
		name, short string
		reason      bool
	}{
		{"login", "Log an agent in (available for calls)", false},
		{"logout", "Log an agent out", false},
		{"pause", "Pause an agent (not ready) with a reason", true},
		{"unpause", "Make a paused agent available again", false},
	} {
		var reason string
		c := &cobra.Command{
			Use:   op.name + " AGENT_ID",
			Short: op.short,
			Args:  cobra.ExactArgs(1),
			ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return app.agentIDs(cmd), cobra.ShellCompDirectiveNoFileComp
			},
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := app.Client()
				if err != nil {
					return err
				}
				var out api.Result
				path := "/api/v1/agents/" + url.PathEscape(args[0]) + "/" + op.name
				if err := c.Post(cmd.Context(), path, api.StateChange{Reason: reason}, &out); err != nil {
					return err
				}
				return app.Print(out, func(t *Table) {
					if out.Agent != nil {
						t.Header = []string{"ID", "STATE", "REASON"}
						t.Row(out.Agent.ID, out.Agent.State, dash(out.Agent.Reason))
					}
				})
			},
		}
		if op.reason {
			c.Flags().StringVar(&reason, "reason", "break", "pause reason code (break, lunch, training …)")
		} else {
			c.Flags().StringVar(&reason, "reason", "", "reason recorded with the change")
		}
		cmd.AddCommand(c)
	}
	return cmd
}

// agentIDs completes agent ids from the running server, if any.
func (a *App) agentIDs(cmd *cobra.Command) []string {
	c, err := a.Client()
	if err != nil {
		return nil
	}
	var out api.AgentList
	if c.Get(cmd.Context(), "/api/v1/agents", &out) != nil {
		return nil
	}
	ids := make([]string, 0, len(out.Agents))
	for _, ag := range out.Agents {
		ids = append(ids, ag.ID)
	}
	return ids
}

func queueNames(m map[string]int) string {
	names := make([]string, 0, len(m))
	for q := range m {
		names = append(names, q)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
