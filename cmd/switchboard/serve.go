package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/server"
)

func newServeCmd(app *App) *cobra.Command {
	var f configFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run switchboard: PBX adapter, routing, storage, API and wallboard",
		Long: `serve runs switchboard until SIGINT or SIGTERM, then shuts down cleanly
(drains HTTP, flushes the journal to the database).

With no config file it runs the embedded defaults: the simulated PBX with
simulated callers and agents, SQLite in ./switchboard.db and the API and
wallboard on http://127.0.0.1:8080.`,
		Example: `  switchboard serve
  switchboard serve --config /etc/switchboard/switchboard.yaml
  switchboard serve --pbx asterisk --database 'mysql://sb:pw@tcp(db:3306)/switchboard?parseTime=true'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := app.resolveConfig(cmd, &f)
			if err != nil {
				return err
			}
			log := newLogger(app, cfg.Log)
			srv, err := server.New(cfg, log)
			if err != nil {
				return err
			}
			return srv.Run(cmd.Context())
		},
	}
	f.register(cmd)
	return cmd
}

func newLogger(app *App, c config.Log) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		panic(fmt.Sprintf("log level %q passed validation but does not parse: %v", c.Level, err))
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(app.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(app.Stderr, opts))
}
