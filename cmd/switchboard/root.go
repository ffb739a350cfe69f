package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/config"
)

// Env is what a command run sees of the process: its output streams and
// environment. Tests pass their own.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) (string, bool)
}

// App carries the global flags and shared helpers to every command.
type App struct {
	Env
	// Server is the API base URL client commands talk to.
	Server string
	// Token is the bearer token for write operations.
	Token string
	// Output is table, json or yaml.
	Output string
}

// newRoot builds the command tree. A room adds its command with one
// AddCommand line below, from its own file cmd/switchboard/<room>.go
// defining new<Room>Cmd(app *App) *cobra.Command.
func newRoot(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:   "switchboard",
		Short: "Call-center control plane beside Asterisk or FreeSWITCH",
		Long: `switchboard owns queueing, skill-based routing, callbacks, agent states and
the floor's numbers, beside an Asterisk (ARI) or FreeSWITCH (ESL) PBX.

Run it with "switchboard serve"; the other commands talk to a running server
through its API (--server, SWITCHBOARD_SERVER).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return app.checkOutput()
		},
	}
	root.SetOut(app.Stdout)
	root.SetErr(app.Stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&app.Server, "server", app.envOr("SWITCHBOARD_SERVER", defaultServer), "switchboard API base URL (env SWITCHBOARD_SERVER)")
	pf.StringVar(&app.Token, "token", app.envOr("SWITCHBOARD_TOKEN", ""), "bearer token for write operations (env SWITCHBOARD_TOKEN)")
	pf.StringVarP(&app.Output, "output", "o", "table", "output format: table, json or yaml")
	_ = root.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp
	})

	root.AddCommand(
		newServeCmd(app),
		newAgentCmd(app),
		newQueueCmd(app),
		newCallCmd(app),
		newStatsCmd(app),
		newConfigCmd(app),
		newDoctorCmd(app),
		newVersionCmd(app),
		newCompletionCmd(app),
		newRulesCmd(app),
		newCallbackCmd(app),
		newMigrateCmd(app), newReportCmd(app),
		newRecordingsCmd(app),
		newLoadCmd(app),
	)
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

// run executes the CLI and returns the process exit status: 0 success,
// 1 failure, 2 bad usage or bad configuration.
func run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) (string, bool) { return "", false }
	}
	app := &App{Env: env}
	root := newRoot(app)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(app.Stderr, "switchboard:", err)
	return exitCode(err)
}

// usageError marks mistakes on the command line itself (exit 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func exitCode(err error) int {
	var ue usageError
	switch {
	case errors.Is(err, config.ErrInvalid), errors.As(err, &ue), isCobraUsage(err):
		return 2
	default:
		return 1
	}
}

// isCobraUsage recognises cobra's own argument and flag errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func (a *App) envOr(name, def string) string {
	if v, ok := a.Getenv(name); ok && v != "" {
		return v
	}
	return def
}
