package main

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/api"
)

func newQueueCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Show queues",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List queues with their live figures",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out api.QueueList
			if err := c.Get(cmd.Context(), "/api/v1/queues", &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) { queueTable(t, out.Queues) })
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "show QUEUE",
		Short: "Show one queue and the calls waiting in it",
		Args:  cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return app.queueNames(cmd), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var q api.QueueDetail
			if err := c.Get(cmd.Context(), "/api/v1/queues/"+url.PathEscape(args[0]), &q); err != nil {
				return err
			}
			return app.Print(q, func(t *Table) {
				t.Header = []string{"FIELD", "VALUE"}
				t.Row("name", q.Name)
				t.Row("waiting", q.Waiting)
				t.Row("longest wait", secs(q.LongestWaitSeconds))
				t.Row("offered", q.Offered)
				t.Row("answered", q.Answered)
				t.Row("abandoned", q.Abandoned)
				t.Row("service level", fmt.Sprintf("%s (goal %s in %s)", pct(q.ServiceLevel), pct(q.ServiceLevelGoal), secs(q.ServiceLevelThresholdSeconds)))
				t.Row("abandon rate", pct(q.AbandonRate))
				t.Row("avg wait", secs(q.AvgWaitSeconds))
				t.Row("avg handle", secs(q.AvgHandleSeconds))
				t.Row("agents", states(q.AgentsByState))
				t.Row("callbacks waiting", q.CallbacksWaiting)
				for _, call := range q.Calls {
					t.Footer = append(t.Footer, fmt.Sprintf("waiting: %s from %s for %s", call.ID, dash(call.CallerNumber), secs(call.WaitSeconds)))
				}
			})
		},
	})
	return cmd
}

func queueTable(t *Table, qs []api.Queue) {
	t.Header = []string{"QUEUE", "WAITING", "LONGEST", "ANSWERED", "ABANDONED", "SL", "GOAL", "ABANDON%", "AGENTS"}
	for _, q := range qs {
		t.Row(q.Name, q.Waiting, secs(q.LongestWaitSeconds), q.Answered, q.Abandoned,
			pct(q.ServiceLevel), fmt.Sprintf("%s/%s", pct(q.ServiceLevelGoal), secs(q.ServiceLevelThresholdSeconds)),
			pct(q.AbandonRate), states(q.AgentsByState))
	}
}

// states prints agents by state in a fixed order: available=3 on_call=2 …
func states(m map[string]int) string {
	order := []string{"available", "offered", "on_call", "wrap_up", "not_ready", "logged_out"}
	seen := map[string]bool{}
	var parts []string
	for _, s := range order {
		seen[s] = true
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", s, m[s]))
		}
	}
	var rest []string
	for s, n := range m {
		if !seen[s] && n > 0 {
			rest = append(rest, fmt.Sprintf("%s=%d", s, n))
		}
	}
	sort.Strings(rest)
	parts = append(parts, rest...)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func (a *App) queueNames(cmd *cobra.Command) []string {
	c, err := a.Client()
	if err != nil {
		return nil
	}
	var out api.QueueList
	if c.Get(cmd.Context(), "/api/v1/queues", &out) != nil {
		return nil
	}
	names := make([]string, 0, len(out.Queues))
	for _, q := range out.Queues {
		names = append(names, q.Name)
	}
	return names
}
