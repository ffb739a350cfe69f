package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// MigrationState is one migration and whether it is applied.
type MigrationState struct {
	Version   int64     `json:"version"`
	Name      string    `json:"name"`
	Applied   bool      `json:"applied"`
	AppliedAt time.Time `json:"applied_at,omitempty"`
}

func (s *Store) provider() (*goose.Provider, error) {
	fsys, err := s.migrations()
	if err != nil {
		return nil, err
	}
	db, err := s.sqlDB()
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if s.dialect == DialectMySQL {
		dialect = goose.DialectMySQL
		// Several switchboard instances starting at once against one
		// database: the table lock lets exactly one run the migrations;
		// the others wait and then find nothing to do.
		l, err := lock.NewMySQLTableLocker(lock.WithTableLockTimeout(2*time.Second, 150))
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithLocker(l))
	}
	return goose.NewProvider(dialect, db, fsys, opts...)
}

// Migrate applies every pending migration. Running it again is a no-op.
func (s *Store) Migrate(ctx context.Context) ([]MigrationState, error) {
	p, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", s.dsn, err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", s.dsn, err)
	}
	out := make([]MigrationState, 0, len(res))
	for _, r := range res {
		out = append(out, MigrationState{Version: r.Source.Version, Name: r.Source.Path, Applied: r.Error == nil})
	}
	return out, nil
}

// MigrateDown rolls back the most recent migration.
func (s *Store) MigrateDown(ctx context.Context) (*MigrationState, error) {
	p, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("migrate down %s: %w", s.dsn, err)
	}
	r, err := p.Down(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate down %s: %w", s.dsn, err)
	}
	if r == nil {
		return nil, nil
	}
	return &MigrationState{Version: r.Source.Version, Name: r.Source.Path}, nil
}

// MigrationStatus lists every known migration and whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	p, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("migration status %s: %w", s.dsn, err)
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status %s: %w", s.dsn, err)
	}
	out := make([]MigrationState, 0, len(st))
	for _, m := range st {
		out = append(out, MigrationState{Version: m.Source.Version, Name: m.Source.Path, Applied: m.State == goose.StateApplied, AppliedAt: m.AppliedAt})
	}
	return out, nil
}
