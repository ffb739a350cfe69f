package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
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
