package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/storage"
)

// openStore opens the configured database (flags > env > file > defaults)
// for the commands that work on it directly rather than through a server.
func (a *App) openStore(cmd *cobra.Command, f *configFlags) (*storage.Store, error) {
	cfg, err := a.resolveConfig(cmd, f)
	if err != nil {
		return nil, err
	}
	return storage.Open(cmd.Context(), cfg.Database.DSN, storage.WithLogger(slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
}

func newMigrateCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply, roll back or list the database migrations",
		Long: `migrate works on the configured database (--database, --config,
SWITCHBOARD_DATABASE) directly; no server needs to run. The migrations are
embedded in the binary, one set per dialect (SQLite, MySQL/MariaDB).

Several instances may run "migrate up" (or start "serve", which migrates) at
once against one MySQL database: a lock lets one apply each migration once
while the others wait and then find nothing to do.`,
	}
	var f configFlags
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return app.withStore(cmd, &f, func(ctx context.Context, s *storage.Store) error {
				res, err := s.Migrate(ctx)
				if err != nil {
					return err
				}
				return app.Print(res, func(t *Table) {
					t.Header = []string{"VERSION", "APPLIED"}
					for _, m := range res {
						t.Row(m.Version, m.Name)
					}
					t.Footer = append(t.Footer, fmt.Sprintf("%d migration(s) applied to %s", len(res), s))
				})
			})
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Roll back the most recent migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return app.withStore(cmd, &f, func(ctx context.Context, s *storage.Store) error {
				m, err := s.MigrateDown(ctx)
				if err != nil {
					return err
				}
				return app.Print(m, func(t *Table) {
					if m == nil {
						t.Footer = append(t.Footer, "nothing to roll back")
						return
					}
					t.Footer = append(t.Footer, fmt.Sprintf("rolled back %d (%s) on %s", m.Version, m.Name, s))
				})
			})
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List every migration and whether it is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return app.withStore(cmd, &f, func(ctx context.Context, s *storage.Store) error {
				st, err := s.MigrationStatus(ctx)
				if err != nil {
					return err
				}
				return app.Print(st, func(t *Table) {
					t.Header = []string{"VERSION", "NAME", "STATE", "APPLIED AT"}
					pending := 0
					for _, m := range st {
						state, at := "pending", ""
						if m.Applied {
							state, at = "applied", m.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
						} else {
							pending++
						}
						t.Row(m.Version, m.Name, state, at)
					}
					t.Footer = append(t.Footer, fmt.Sprintf("%s: %d pending", s, pending))
				})
			})
		},
	}
	for _, c := range []*cobra.Command{up, down, status} {
		f.register(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func (a *App) withStore(cmd *cobra.Command, f *configFlags, fn func(context.Context, *storage.Store) error) error {
	s, err := a.openStore(cmd, f)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(cmd.Context(), s)
}
