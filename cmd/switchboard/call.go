package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/routing"
)

func newCallCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "call",
		Short: "List, show and hang up calls; listen, whisper or barge as a supervisor",
	}
	var limit int
	var live bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List live calls, then recent ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return usagef("--limit %d: want 1..1000", limit)
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if live {
				q.Set("live", "true")
			}
			var out api.CallList
			if err := c.Get(cmd.Context(), "/api/v1/calls?"+q.Encode(), &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{"ID", "STATE", "QUEUE", "AGENT", "FROM", "TO", "ARRIVED", "WAIT", "TALK", "OUTCOME"}
				for _, c := range out.Calls {
					t.Row(c.ID, c.State, dash(c.Queue), dash(c.AgentID), dash(c.CallerNumber), dash(c.DialedNumber),
						c.ArrivedAt.Local().Format(time.TimeOnly), secs(c.WaitSeconds), secs(c.TalkSeconds), dash(c.Outcome))
				}
			})
		},
	}
	list.Flags().IntVar(&limit, "limit", 50, "how many calls to list (1..1000)")
	list.Flags().BoolVar(&live, "live", false, "only calls in progress")
	cmd.AddCommand(list)

	cmd.AddCommand(&cobra.Command{
		Use:   "show CALL_ID",
		Short: "Show one call, with its routing trace",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var call api.Call
			if err := c.Get(cmd.Context(), "/api/v1/calls/"+url.PathEscape(args[0]), &call); err != nil {
				return err
			}
			return app.Print(call, func(t *Table) {
				t.Header = []string{"FIELD", "VALUE"}
				t.Row("id", call.ID)
				t.Row("state", call.State)
				t.Row("live", call.Live)
				t.Row("queue", dash(call.Queue))
				t.Row("agent", dash(call.AgentID))
				t.Row("from", dash(call.CallerNumber))
				t.Row("to", dash(call.DialedNumber))
				t.Row("node", dash(call.Node))
				t.Row("arrived", call.ArrivedAt.Local().Format(time.RFC3339))
				if call.AnsweredAt != nil {
					t.Row("answered", call.AnsweredAt.Local().Format(time.RFC3339))
				}
				if call.EndedAt != nil {
					t.Row("ended", call.EndedAt.Local().Format(time.RFC3339))
				}
				t.Row("wait", secs(call.WaitSeconds))
				t.Row("talk", secs(call.TalkSeconds))
				t.Row("outcome", dash(call.Outcome))
				if call.Detail != nil {
					t.Footer = append(t.Footer, routingLines(call.Detail)...)
					t.Footer = append(t.Footer, supervisorLines(call.Detail)...)
					b, _ := json.MarshalIndent(call.Detail, "", "  ")
					t.Footer = append(t.Footer, fmt.Sprintf("detail:\n%s", b))
				}
			})
		},
	})

	var cause int
	hangup := &cobra.Command{
		Use:   "hangup CALL_ID",
		Short: "Hang up a live call",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out api.Result
			if err := c.Post(cmd.Context(), "/api/v1/calls/"+url.PathEscape(args[0])+"/hangup", api.Hangup{Cause: cause}, &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Footer = append(t.Footer, fmt.Sprintf("call %s: hangup sent", args[0]))
			})
		},
	}
	hangup.Flags().IntVar(&cause, "cause", 16, "Q.850 cause (16 normal clearing)")
	cmd.AddCommand(hangup)
	addSupervisorCmds(app, cmd)
	return cmd
}

// routingLines renders the routing traces of a call's detail ("trace"
// for a stored call, "traces" for a live one), one line per offer: why
// this agent.
func routingLines(detail any) []string {
	m, ok := detail.(map[string]any)
	if !ok {
		return nil
	}
	raw, ok := m["trace"]
	if !ok {
		raw = m["traces"]
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil
	}
	var traces []routing.Trace
	if json.Unmarshal(b, &traces) != nil || len(traces) == 0 {
		return nil
	}
	out := []string{"why this agent (one line per offer):"}
	for i, tr := range traces {
		out = append(out, fmt.Sprintf("  %d. queue %s, rules version %s, rule %s, %s, %s: %d free, %d candidates %v — %s",
			i+1, dash(tr.Queue), dash(tr.Version), dash(tr.Rule), dash(tr.Step), dash(tr.Strategy), tr.Free, tr.Candidates, tr.Considered, tr.Reason))
	}
	return out
}
