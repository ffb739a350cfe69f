package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
	"github.com/switchboard-cc/switchboard/storage/mariadbtest"
)

// migrate up/status/down and report daily/interval against a SQLite file
// through the CLI, the way an operator runs them.
func TestMigrateAndReportCommands(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "sb.db")
	code, out, errOut := cli(t, nil, "migrate", "status", "--database", db)
	if code != 0 || !strings.Contains(out, "pending") {
		t.Fatalf("status before up: %d %q %q", code, out, errOut)
	}
	if code, out, errOut = cli(t, nil, "migrate", "up", "--database", db); code != 0 || !strings.Contains(out, "00001_core.sql") {
		t.Fatalf("up: %d %q %q", code, out, errOut)
	}
	if code, out, _ = cli(t, nil, "migrate", "up", "--database", db); code != 0 || !strings.Contains(out, "0 migration(s) applied") {
		t.Fatalf("second up: %d %q", code, out)
	}
	if code, out, _ = cli(t, nil, "migrate", "status", "--database", db); code != 0 || !strings.Contains(out, ": 0 pending") {
		t.Fatalf("status after up: %d %q", code, out)
	}

	ctx := context.Background()
	s, err := storage.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	ans, end := at.Add(12*time.Second), at.Add(112*time.Second)
	if err := s.SaveCall(ctx, &storage.Call{ID: "c1", Queue: "support", AgentID: "a1", ArrivedAt: at, AnsweredAt: &ans, EndedAt: &end,
		WaitSeconds: 12, TalkSeconds: 100, Outcome: storage.OutcomeAnswered, UpdatedAt: end}); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Create(&storage.QueueWait{ID: "c1/1", CallID: "c1", Queue: "support", EnteredAt: at, LeftAt: &ans,
		Outcome: storage.OutcomeAnswered, WaitSeconds: 12, AgentID: "a1"}).Error; err != nil {
		t.Fatal(err)
	}
	s.Close()

	code, out, errOut = cli(t, nil, "report", "daily", "--database", db, "--date", "2026-11-20")
	if code != 0 || !strings.Contains(out, "support") || !strings.Contains(out, "100.0%") || !strings.Contains(out, "a1") {
		t.Fatalf("daily table: %d %q %q", code, out, errOut)
	}
	code, out, _ = cli(t, nil, "report", "daily", "--database", db, "--date", "2026-11-20", "-o", "json")
	var r storage.DailyReport
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil || len(r.Queues) != 1 || r.Queues[0].ASASeconds != 12 {
		t.Fatalf("daily json: %d %v %q", code, err, out)
	}
	if code, out, _ = cli(t, nil, "report", "interval", "--database", db, "--date", "2026-11-20", "--interval", "1h"); code != 0 || !strings.Contains(out, "09:00") {
		t.Fatalf("interval: %d %q", code, out)
	}
	// Bad input: exit 2, a clear message.
	if code, _, errOut = cli(t, nil, "report", "interval", "--database", db, "--interval", "7m"); code != 2 || !strings.Contains(errOut, "interval") {
		t.Fatalf("bad interval: %d %q", code, errOut)
	}
	if code, _, errOut = cli(t, nil, "report", "daily", "--database", db, "--date", "20-11-2026"); code != 2 || !strings.Contains(errOut, "YYYY-MM-DD") {
		t.Fatalf("bad date: %d %q", code, errOut)
	}
	if code, _, errOut = cli(t, nil, "report", "daily", "--database", db, "--zone", "Mars/Olympus"); code != 2 {
		t.Fatalf("bad zone: %d %q", code, errOut)
	}

	if code, out, _ = cli(t, nil, "migrate", "down", "--database", db); code != 0 || !strings.Contains(out, "rolled back") {
		t.Fatalf("down: %d %q", code, out)
	}
	if code, out, _ = cli(t, nil, "migrate", "status", "--database", db); code != 0 || !strings.Contains(out, ": 1 pending") {
		t.Fatalf("status after down: %d %q", code, out)
	}
}

// The same commands on MariaDB, the production dialect, through a
// mysql:// DSN from the environment (SWITCHBOARD_DATABASE), as an operator
// points them at the real database; the password never reaches the output.
func TestMigrateAndReportOnMariaDB(t *testing.T) {
	srv := mariadbtest.ForTest(t)
	dsn, err := srv.NewDatabase(context.Background(), "cli_migrate")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SWITCHBOARD_DATABASE": dsn}
	code, out, errOut := cli(t, env, "migrate", "status")
	if code != 0 || !strings.Contains(out, "pending") {
		t.Fatalf("status before up: %d %q %q", code, out, errOut)
	}
	if code, out, errOut = cli(t, env, "migrate", "up", "-o", "json"); code != 0 || !strings.Contains(out, "00001_core.sql") {
		t.Fatalf("up: %d %q %q", code, out, errOut)
	}
	if code, out, _ = cli(t, env, "migrate", "status"); code != 0 || !strings.Contains(out, ": 0 pending") {
		t.Fatalf("status after up: %d %q", code, out)
	}
	if code, out, errOut = cli(t, env, "report", "daily", "--date", "2026-11-20", "--zone", "Europe/Paris"); code != 0 || !strings.Contains(out, "Europe/Paris") {
		t.Fatalf("daily on an empty day: %d %q %q", code, out, errOut)
	}
	if code, out, _ = cli(t, env, "migrate", "down"); code != 0 || !strings.Contains(out, "rolled back") {
		t.Fatalf("down: %d %q", code, out)
	}
	// A database that is not there: exit 1 naming it, password masked.
	bad := map[string]string{"SWITCHBOARD_DATABASE": "mysql://sb:hunter2@tcp(127.0.0.1:1)/sb"}
	if code, _, errOut = cli(t, bad, "migrate", "status"); code != 1 || !strings.Contains(errOut, "127.0.0.1:1") || strings.Contains(errOut, "hunter2") {
		t.Fatalf("unreachable database: %d %q", code, errOut)
	}
}
