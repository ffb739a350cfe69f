package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/routing"
)

func newRulesCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Validate, test, compare, apply and roll back routing files",
		Long: `rules works on routing files (see docs/routing.md).

validate, test and "diff OLD NEW" need no running server: a manager can check
a change on a laptop before it goes live. apply, history, show, rollback and
"diff FILE" talk to the server (--server, --token): every applied file is
stored as a new version with its author, time and comment, and is put in force
without dropping a call.`,
	}
	cmd.AddCommand(newRulesValidateCmd(app), newRulesTestCmd(app), newRulesDiffCmd(app),
		newRulesApplyCmd(app), newRulesHistoryCmd(app), newRulesShowCmd(app), newRulesRollbackCmd(app))
	return cmd
}

func readRules(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("read routing file: %v", err)
	}
	return data, nil
}

func loadRules(path string) (*routing.Config, error) {
	data, err := readRules(path)
	if err != nil {
		return nil, err
	}
	cfg, err := routing.ParseRules(path, data)
	if err != nil {
		return nil, fmt.Errorf("%s is not valid:\n%w", path, err)
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
				return err
			}
			s := api.ValidationResult{Valid: true, Queues: len(cfg.Queues), EntryRules: len(cfg.Entry), Agents: len(cfg.Agents)}
			return app.Print(s, func(t *Table) {
				t.Header = []string{"FILE", "VALID", "QUEUES", "ENTRY RULES", "AGENTS"}
				t.Row(args[0], "yes", s.Queues, s.EntryRules, s.Agents)
			})
		},
	}
}

func newRulesTestCmd(app *App) *cobra.Command {
	var callJSON, at string
	var live bool
	cmd := &cobra.Command{
		Use:   "test FILE --call '{json}'",
		Short: "Show where a call would go, which agent would take it now, and why",
		Long: `test classifies a call with the file's entry rules and runs the routing engine
on it. The call is JSON with caller_number, dialed_number, node, vars and
customer, e.g.
  switchboard rules test configs/routing.yaml --call '{"dialed_number":"2000","vars":{"VIP":"1"}}'
Without --live the agents declared in the file are all taken as available
(longest idle in file order) and nothing leaves this machine. With --live the
file is tested on the server against its agents in their current states.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readRules(args[0])
			if err != nil {
				return err
			}
			var call routing.Call
			dec := json.NewDecoder(strings.NewReader(callJSON))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&call); err != nil {
				return usagef("--call: %v (fields: caller_number, dialed_number, node, vars, customer)", err)
			}
			now := time.Now()
			if at != "" {
				if now, err = time.Parse(time.RFC3339, at); err != nil {
					return usagef("--at %q: use RFC 3339, e.g. 2026-11-23T09:30:00+01:00", at)
				}
			}
			var res routing.DryRunResult
			if live {
				c, err := app.Client()
				if err != nil {
					return err
				}
				in := api.TestRules{Filename: args[0], Content: string(data), Call: call, Live: true}
				if at != "" {
					in.At = now
				}
				if err := c.Post(cmd.Context(), "/api/v1/rules/test", in, &res); err != nil {
					return err
				}
			} else {
				cfg, err := routing.ParseRules(args[0], data)
				if err != nil {
					return fmt.Errorf("%s is not valid:\n%w", args[0], err)
				}
				if res, err = routing.DryRun(cfg, nil, call, now); err != nil {
					return err
				}
			}
			return app.Print(res, func(t *Table) {
				t.Header = []string{"QUEUE", "PRIORITY", "RULE", "AGENT", "WHY"}
				why := res.Waiting
				if res.Trace != nil {
					why = fmt.Sprintf("%s; %s; %d candidates %v", res.Trace.Step, res.Trace.Reason, res.Trace.Candidates, res.Trace.Considered)
				}
				t.Row(res.Queue, res.Priority, res.Rule, res.Agent, why)
			})
		},
	}
	cmd.Flags().StringVar(&callJSON, "call", "{}", "the call as JSON")
	cmd.Flags().StringVar(&at, "at", "", "evaluate at this time (RFC 3339) instead of now: calendars and time-of-day rules")
	cmd.Flags().BoolVar(&live, "live", false, "test on the server against its agents in their current states")
	return cmd
}

func newRulesDiffCmd(app *App) *cobra.Command {
	var against int64
	cmd := &cobra.Command{
		Use:   "diff OLD NEW | diff FILE",
		Short: "Show what changes between two routing files, or between a file and the version in force",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var changes []routing.Change
			if len(args) == 2 {
				a, err := loadRules(args[0])
				if err != nil {
					return err
				}
				b, err := loadRules(args[1])
				if err != nil {
					return err
				}
				changes = routing.Diff(a, b)
			} else {
				data, err := readRules(args[0])
				if err != nil {
					return err
				}
				c, err := app.Client()
				if err != nil {
					return err
				}
				if err := c.Post(cmd.Context(), "/api/v1/rules/diff", api.ValidateRules{Filename: args[0], Content: string(data), Against: against}, &changes); err != nil {
					return err
				}
			}
			if changes == nil {
				changes = []routing.Change{}
			}
			return app.Print(changes, func(t *Table) {
				t.Header = []string{"CHANGE", "WHAT", "DETAIL"}
				for _, c := range changes {
					t.Row(c.Change, c.What, c.Detail)
				}
			})
		},
	}
	cmd.Flags().Int64Var(&against, "against", 0, "with one FILE: compare with this stored version instead of the one in force")
	return cmd
}

func defaultAuthor(app *App) string {
	for _, k := range []string{"SWITCHBOARD_USER", "USER", "LOGNAME"} {
		if v, ok := app.Getenv(k); ok && v != "" {
			return v
		}
	}
	return ""
}

func printVersion(app *App, v api.RuleVersion) error {
	return app.Print(v, func(t *Table) {
		t.Header = []string{"VERSION", "AUTHOR", "CREATED", "COMMENT"}
		t.Row(v.Version, v.Author, v.CreatedAt.Format(time.RFC3339), v.Comment)
	})
}

func newRulesApplyCmd(app *App) *cobra.Command {
	var comment, author string
	cmd := &cobra.Command{
		Use:   "apply FILE --comment WHY",
		Short: "Store a routing file as a new version and put it in force without dropping calls",
		Long: `apply checks FILE locally, then sends it to the server, which checks it
again, stores it as a new version (author, time, comment, audit entry) and
reloads the routing engine: waiting calls keep their place and wait time and
are re-evaluated under the new version (docs/routing.md, "Live reload"). A
file with any error changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := loadRules(args[0]); err != nil {
				return err
			}
			data, _ := readRules(args[0])
			if author == "" {
				author = defaultAuthor(app)
			}
			if author == "" {
				return usagef("--author: who applies this version (or set SWITCHBOARD_USER)")
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			var v api.RuleVersion
			if err := c.Post(cmd.Context(), "/api/v1/rules", api.ApplyRules{Filename: args[0], Content: string(data), Author: author, Comment: comment}, &v); err != nil {
				return err
			}
			return printVersion(app, v)
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why this change (kept in the history)")
	cmd.Flags().StringVar(&author, "author", "", "who applies it (default $SWITCHBOARD_USER, then $USER)")
	return cmd
}

func newRulesHistoryCmd(app *App) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List stored routing versions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit <= 0 || limit > 1000 {
				return usagef("--limit %d: a number from 1 to 1000", limit)
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			var l []api.RuleVersion
			if err := c.Get(cmd.Context(), "/api/v1/rules/versions?limit="+strconv.Itoa(limit), &l); err != nil {
				return err
			}
			return app.Print(l, func(t *Table) {
				t.Header = []string{"VERSION", "AUTHOR", "CREATED", "SHA256", "COMMENT"}
				for i, v := range l {
					comment := v.Comment
					if v.RollbackOf > 0 && !strings.Contains(comment, "rollback") {
						comment = fmt.Sprintf("(rollback to %d) %s", v.RollbackOf, comment)
					}
					ver := strconv.FormatInt(v.Version, 10)
					if i == 0 {
						ver += " (in force)"
					}
					t.Row(ver, v.Author, v.CreatedAt.Format(time.RFC3339), v.SHA256[:min(12, len(v.SHA256))], comment)
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many versions")
	return cmd
}

func newRulesShowCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "show [VERSION]",
		Short: "Print a stored routing file (default: the version in force)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/api/v1/rules"
			if len(args) == 1 {
				n, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil || n <= 0 {
					return usagef("VERSION %q: a version number from `switchboard rules history`", args[0])
				}
				path = "/api/v1/rules/versions/" + args[0]
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			var v api.RuleVersion
			if err := c.Get(cmd.Context(), path, &v); err != nil {
				return err
			}
			if app.Output == "" || app.Output == "table" {
				// The file itself, ready to edit and apply again.
				_, err := fmt.Fprint(app.Stdout, v.Content)
				return err
			}
			return app.Print(v, nil)
		},
	}
}

func newRulesRollbackCmd(app *App) *cobra.Command {
	var comment, author string
	cmd := &cobra.Command{
		Use:   "rollback VERSION --comment WHY",
		Short: "Put an earlier version back in force (stored as a new version)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || n <= 0 {
				return usagef("VERSION %q: a version number from `switchboard rules history`", args[0])
			}
			if author == "" {
				author = defaultAuthor(app)
			}
			if author == "" {
				return usagef("--author: who rolls back (or set SWITCHBOARD_USER)")
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			var v api.RuleVersion
			if err := c.Post(cmd.Context(), "/api/v1/rules/rollback", api.Rollback{Version: n, Author: author, Comment: comment}, &v); err != nil {
				var ae *APIError
				if errors.As(err, &ae) && ae.Status == 404 {
					return fmt.Errorf("no rules version %d: see `switchboard rules history`", n)
				}
				return err
			}
			return printVersion(app, v)
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why (kept in the history)")
	cmd.Flags().StringVar(&author, "author", "", "who rolls back (default $SWITCHBOARD_USER, then $USER)")
	return cmd
}
