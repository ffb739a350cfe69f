package main

import (
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/api"
)

// callbackRow is what the list and show commands print of a callback.
type callbackRow struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	State       string `json:"state"`
	Queue       string `json:"queue"`
	Number      string `json:"number"`
	NotBefore   string `json:"not_before"`
	Window      string `json:"window"`
	TZ          string `json:"tz"`
	Attempts    int    `json:"attempts"`
	MaxAttempts int    `json:"max_attempts"`
	AgentID     string `json:"agent_id"`
	Outcome     string `json:"outcome"`
	Note        string `json:"note"`
}

func newCallbackCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "callback", Short: "Virtual hold and scheduled callbacks (see docs/callbacks.md)"}

	var state, queue, agent string
	list := &cobra.Command{
		Use:   "list",
		Short: "List callbacks in service order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"state": state, "queue": queue, "agent": agent} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var out struct {
				Callbacks []callbackRow `json:"callbacks"`
			}
			if err := c.Get(cmd.Context(), "/api/v1/callbacks?"+q.Encode(), &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{"ID", "STATE", "KIND", "QUEUE", "NUMBER", "NEXT", "WINDOW", "TRIES", "AGENT"}
				for _, r := range out.Callbacks {
					t.Row(r.ID, r.State, r.Kind, r.Queue, r.Number, r.NotBefore, dash(r.Window), fmt.Sprintf("%d/%d", r.Attempts, r.MaxAttempts), dash(r.AgentID))
				}
			})
		},
	}
	list.Flags().StringVar(&state, "state", "", "pending, claimed, dialling, completed, failed, cancelled (comma-separated)")
	list.Flags().StringVar(&queue, "queue", "", "only this queue")
	list.Flags().StringVar(&agent, "agent", "", "only callbacks owned by this agent")
	cmd.AddCommand(list)

	cmd.AddCommand(&cobra.Command{
		Use:   "show ID",
		Short: "Show a callback and every attempt",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out map[string]any
			if err := c.Get(cmd.Context(), "/api/v1/callbacks/"+url.PathEscape(args[0]), &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{"FIELD", "VALUE"}
				for _, k := range []string{"id", "kind", "state", "queue", "number", "priority", "enqueued_at", "not_before", "window", "tz", "attempts", "max_attempts", "agent_id", "agent_deadline", "outcome", "detail", "note", "created_by", "created_at", "connected_at"} {
					if v, ok := out[k]; ok && v != nil && v != "" {
						t.Row(k, fmt.Sprint(v))
					}
				}
				if log, ok := out["attempt_log"].([]any); ok {
					for _, a := range log {
						m, _ := a.(map[string]any)
						t.Footer = append(t.Footer, fmt.Sprintf("attempt %v at %v: %v (cause %v) %v", m["seq"], m["started_at"], dash(fmt.Sprint(m["outcome"])), m["cause"], m["detail"]))
					}
				}
			})
		},
	})

	var req api.CallbackRequest
	schedule := &cobra.Command{
		Use:   "schedule",
		Short: "Schedule a callback: --number … --queue … [--at …] [--window 09:00-18:00 --tz …] [--agent …] [--attempts …] [--note …]",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out callbackRow
			if err := c.Post(cmd.Context(), "/api/v1/callbacks", req, &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{"ID", "QUEUE", "NUMBER", "FIRST CALL", "WINDOW"}
				t.Row(out.ID, out.Queue, out.Number, out.NotBefore, dash(out.Window))
			})
		},
	}
	f := schedule.Flags()
	f.StringVar(&req.Number, "number", "", "customer's number (digits, optional leading +)")
	f.StringVar(&req.Queue, "queue", "", "queue whose agents call back")
	f.StringVar(&req.At, "at", "", "earliest call time: RFC 3339, or \"2026-11-24 10:00\" in --tz (default now)")
	f.StringVar(&req.Window, "window", "", "daily calling window: 09:00-18:00, mon-fri 09:00-18:00, 22:00-06:00")
	f.StringVar(&req.TZ, "tz", "", "customer's IANA time zone (default UTC)")
	f.StringVar(&req.Agent, "agent", "", "agent who owns the callback first")
	f.StringVar(&req.AgentDeadline, "agent-deadline", "", "until when the agent owns it: a duration after --at (45m) or a time")
	f.IntVar(&req.Attempts, "attempts", 0, "maximum tries (default: the queue's policy, 3)")
	f.StringVar(&req.Interval, "interval", "", "time between tries (default: the queue's policy, 10m)")
	f.IntVar(&req.Priority, "priority", 0, "priority in the queue (higher first)")
	f.StringVar(&req.Note, "note", "", "note shown to the agent")
	cmd.AddCommand(schedule)

	var reason string
	cancel := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a callback that is not being dialled",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out map[string]string
			if err := c.Post(cmd.Context(), "/api/v1/callbacks/"+url.PathEscape(args[0])+"/cancel", api.CallbackCancel{Reason: reason}, &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) { t.Header = []string{"ID", "STATE"}; t.Row(out["id"], out["state"]) })
		},
	}
	cancel.Flags().StringVar(&reason, "reason", "", "why (kept in the audit log)")
	cmd.AddCommand(cancel)

	var rs api.CallbackReschedule
	reschedule := &cobra.Command{
		Use:   "reschedule ID --at …",
		Short: "Move a pending callback to a new time (and window)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out callbackRow
			if err := c.Post(cmd.Context(), "/api/v1/callbacks/"+url.PathEscape(args[0])+"/reschedule", rs, &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{"ID", "NEXT", "WINDOW", "TZ"}
				t.Row(out.ID, out.NotBefore, dash(out.Window), dash(out.TZ))
			})
		},
	}
	reschedule.Flags().StringVar(&rs.At, "at", "", "new earliest call time")
	reschedule.Flags().StringVar(&rs.Window, "window", "", "new calling window (default: keep)")
	reschedule.Flags().StringVar(&rs.TZ, "tz", "", "new time zone (default: keep)")
	cmd.AddCommand(reschedule)

	var from, to string
	stats := &cobra.Command{
		Use:   "stats",
		Short: "Per-queue callback figures: offered, accepted, completed, failed, average time from request to connection",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"from": from, "to": to} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var out struct {
				Queues []struct {
					Queue               string  `json:"queue"`
					Offered             int64   `json:"offered"`
					Accepted            int64   `json:"accepted"`
					Requested           int64   `json:"requested"`
					Waiting             int64   `json:"waiting"`
					Completed           int64   `json:"completed"`
					Failed              int64   `json:"failed"`
					Cancelled           int64   `json:"cancelled"`
					AvgToConnectSeconds float64 `json:"avg_to_connect_seconds"`
				} `json:"queues"`
			}
			if err := c.Get(cmd.Context(), "/api/v1/callbacks/stats?"+q.Encode(), &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{"QUEUE", "OFFERED", "ACCEPTED", "REQUESTED", "WAITING", "COMPLETED", "FAILED", "CANCELLED", "AVG TO CONNECT"}
				for _, r := range out.Queues {
					avg := "-"
					if r.Completed > 0 {
						avg = time.Duration(r.AvgToConnectSeconds * float64(time.Second)).Round(time.Second).String()
					}
					t.Row(r.Queue, fmt.Sprint(r.Offered), fmt.Sprint(r.Accepted), fmt.Sprint(r.Requested), fmt.Sprint(r.Waiting),
						fmt.Sprint(r.Completed), fmt.Sprint(r.Failed), fmt.Sprint(r.Cancelled), avg)
				}
			})
		},
	}
	stats.Flags().StringVar(&from, "from", "", "start of the period, RFC 3339 (default 24 hours before --to)")
	stats.Flags().StringVar(&to, "to", "", "end of the period, RFC 3339 (default now)")
	cmd.AddCommand(stats)
	return cmd
}
