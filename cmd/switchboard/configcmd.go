package main

import (
	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/config"
)

// configFlags are the flags that override config keys, shared by serve and
// config show so both resolve the configuration the same way.
type configFlags struct {
	file     string
	listen   string
	database string
	pbx      string
	routing  string
	logLevel string
}

func (f *configFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "config", "c", "", "config file (env SWITCHBOARD_CONFIG); none = embedded defaults")
	fl.StringVar(&f.listen, "listen", "", "HTTP listen address host:port (server.listen)")
	fl.StringVar(&f.database, "database", "", "database: sqlite:PATH or a MySQL DSN (database.dsn)")
	fl.StringVar(&f.pbx, "pbx", "", "PBX adapter: sim, asterisk or freeswitch (pbx.kind)")
	fl.StringVar(&f.routing, "routing", "", "routing file (routing.file)")
	fl.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (log.level)")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	_ = cmd.MarkFlagFilename("routing", "yaml", "yml")
	_ = cmd.RegisterFlagCompletionFunc("pbx", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{config.PBXSim, config.PBXAsterisk, config.PBXFreeSWITCH}, cobra.ShellCompDirectiveNoFileComp
	})
}

// resolve builds the effective config: flags > environment > file > defaults.
func (a *App) resolveConfig(cmd *cobra.Command, f *configFlags) (config.Config, error) {
	file := f.file
	if !cmd.Flags().Changed("config") {
		file = a.envOr("SWITCHBOARD_CONFIG", "")
	}
	var flags []config.Override
	add := func(flag, key, value string) {
		if cmd.Flags().Changed(flag) {
			flags = append(flags, config.Override{Key: key, Value: value, Source: "flag --" + flag})
		}
	}
	add("listen", "server.listen", f.listen)
	add("database", "database.dsn", f.database)
	add("pbx", "pbx.kind", f.pbx)
	add("routing", "routing.file", f.routing)
	add("log-level", "log.level", f.logLevel)
	add("token", "server.token", a.Token)
	return config.Resolve(config.Sources{File: file, Getenv: a.Getenv, Flags: flags})
}

func newConfigCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the configuration",
	}
	var f configFlags
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration (secrets masked)",
		Long: `Print the configuration serve would run with, after merging defaults, the
config file, SWITCHBOARD_… environment variables and flags. Passwords, tokens
and the password in DSNs are masked. An invalid configuration is reported
with its file, line and key, and exits with status 2.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := app.resolveConfig(cmd, &f)
			if err != nil {
				return err
			}
			if app.Output == "table" {
				// A config is a tree; YAML is its table.
				b, err := cfg.MaskedYAML()
				if err != nil {
					return err
				}
				_, err = app.Stdout.Write(b)
				return err
			}
			m, err := cfg.MaskedMap()
			if err != nil {
				return err
			}
			return app.Print(m, nil)
		},
	}
	f.register(show)
	cmd.AddCommand(show)
	return cmd
}
