package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage/mariadbtest"
)

// maria is the MariaDB the whole storage suite shares (tests that stop or
// freeze the server start their own with mariadbtest.ForTest).
var maria mariadbtest.Shared

func TestMain(m *testing.M) {
	// Re-executed children (kill -9 and concurrent-migration tests) run
	// their part and exit without running the suite.
	if child := os.Getenv(childEnv); child != "" {
		os.Exit(runChild(child))
	}
	code := m.Run()
	cleanupBenchData()
	maria.Cleanup()
	os.Exit(code)
}

// dialects runs a test on SQLite and on a real MariaDB.
func dialects(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, "sqlite:"+filepath.Join(t.TempDir(), "sb.db"))
	})
	t.Run("mariadb", func(t *testing.T) {
		srv := maria.Get(t)
		dsn, err := srv.NewDatabase(context.Background(), "t_"+t.Name())
		if err != nil {
			t.Fatal(err)
		}
		fn(t, dsn)
	})
}

func openMigrated(t *testing.T, dsn string) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMigrateIdempotentAndStatus(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		again, err := s.Migrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != 0 {
			t.Fatalf("second migrate applied %d migrations", len(again))
		}
		st, err := s.MigrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) == 0 || !st[0].Applied {
			t.Fatalf("status %+v", st)
		}
		// Every migration rolls back, down to an empty schema, and the
		// whole set applies again.
		for i := len(st) - 1; i >= 0; i-- {
			m, err := s.MigrateDown(ctx)
			if err != nil {
				t.Fatalf("down from %d: %v", st[i].Version, err)
			}
			if m == nil || m.Version != st[i].Version {
				t.Fatalf("down rolled back %+v, want %d", m, st[i].Version)
			}
		}
		if m, err := s.MigrateDown(ctx); err == nil && m != nil {
			t.Fatalf("rolled back %+v below the first migration", m)
		}
		tables, err := s.DB().Migrator().GetTables()
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if !strings.HasPrefix(tb, "goose_") && tb != "sqlite_sequence" { // SQLite's own
				t.Errorf("table %s left after every migration was rolled back", tb)
			}
		}
		res, err := s.Migrate(ctx)
		if err != nil || len(res) != len(st) {
			t.Fatalf("up again: %d of %d, %v", len(res), len(st), err)
		}
	})
}

// Several switchboard instances starting at once against one MariaDB:
// separate processes, each with its own connection pool and goose
// provider, released together once all are connected. Each migration is
// applied once (the sum of what the instances applied is the number of
// migrations, goose's version table holds each version once) and no
// instance fails. Without the migration lock the instances race to create
// the same tables and fail with "table already exists".
func TestConcurrentMigrateRunsOnce(t *testing.T) {
	srv := maria.Get(t)
	ctx := context.Background()
	dsn, err := srv.NewDatabase(ctx, "t_concurrent_migrate")
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	kids := make([]*child, n)
	for i := range kids {
		kids[i] = startChild(t, "migrate", childDSN+"="+dsn)
	}
	for _, k := range kids {
		if l := k.line(t); l != "ready" {
			t.Fatalf("child: %q", l)
		}
	}
	for _, k := range kids {
		if _, err := io.WriteString(k.in, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for i, k := range kids {
		l := k.line(t)
		var applied int
		if _, err := fmt.Sscanf(l, "applied %d", &applied); err != nil {
			t.Fatalf("instance %d: %q", i, l)
		}
		total += applied
		if err := k.cmd.Wait(); err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	s := openMigrated(t, dsn)
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if total != len(st) {
		t.Fatalf("migrations applied %d times in all, want %d (once each)", total, len(st))
	}
	var dup []int64
	if err := s.DB().Raw("SELECT version_id FROM goose_db_version GROUP BY version_id HAVING COUNT(*) > 1").Scan(&dup).Error; err != nil {
		t.Fatal(err)
	}
	if len(dup) > 0 {
		t.Fatalf("versions recorded more than once: %v", dup)
	}
	for _, m := range st {
		if !m.Applied {
			t.Fatalf("migration %d not applied", m.Version)
		}
	}
}

func TestOpenErrorsNameTheDSN(t *testing.T) {
	_, err := Open(context.Background(), "mysql://bob:secret@tcp(127.0.0.1:1)/x")
	if err == nil {
		t.Fatal("opened a closed port")
	}
	if got := err.Error(); !contains(got, "bob:"+Masked+"@") || contains(got, "secret") {
		t.Fatalf("error %q should name the DSN with the password masked", got)
	}
	if _, err := Open(context.Background(), "sqlite:"); err == nil {
		t.Fatal("empty sqlite path accepted")
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}
func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestCallsQueries(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		base := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
		for i := 0; i < 30; i++ {
			q := []string{"support", "billing", "sales"}[i%3]
			c := &Call{ID: fmt.Sprintf("c%02d", i), Queue: q, AgentID: fmt.Sprintf("a%d", i%2), CallerNumber: fmt.Sprintf("555%02d", i%5),
				ArrivedAt: base.Add(time.Duration(i) * time.Minute), Outcome: OutcomeAnswered, UpdatedAt: base}
			if i == 29 {
				c.Outcome = OutcomeLive
			}
			if err := s.SaveCall(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Calls(ctx, CallFilter{Queue: "billing", From: base.Add(10 * time.Minute), Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].ID != "c28" || got[2].ID != "c22" {
			t.Fatalf("billing newest first: %+v", ids(got))
		}
		got, _ = s.Calls(ctx, CallFilter{Caller: "55503"})
		if len(got) != 6 {
			t.Fatalf("caller filter: %d", len(got))
		}
		live, _ := s.LiveCalls(ctx)
		if len(live) != 1 || live[0].ID != "c29" {
			t.Fatalf("live %v", ids(live))
		}
		if _, err := s.Call(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown call: %v", err)
		}
		c, err := s.Call(ctx, "c05")
		if err != nil || !c.ArrivedAt.Equal(base.Add(5*time.Minute)) {
			t.Fatalf("c05 %+v %v (times must round-trip in UTC)", c, err)
		}
		if err := s.AppendAudit(ctx, &AuditEntry{Actor: "ops", Action: "test", Subject: "x"}); err != nil {
			t.Fatal(err)
		}
		a, _ := s.Audit(ctx, 10)
		if len(a) != 1 || a[0].Actor != "ops" {
			t.Fatalf("audit %+v", a)
		}
	})
}

func ids(cs []Call) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}
