package server

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage/mariadbtest"
)

type healthBody struct {
	Ready   bool   `json:"ready"`
	Reason  string `json:"reason"`
	Status  string `json:"status"`
	Storage struct {
		Backlog int     `json:"journal_backlog_records"`
		Written int64   `json:"journal_written_records"`
		Spilled int64   `json:"journal_spilled_bytes"`
		Oldest  float64 `json:"journal_oldest_pending_seconds"`
		DBUp    bool    `json:"database_up"`
		DBError string  `json:"database_error"`
	} `json:"storage"`
}

func health(t *testing.T, url string) (int, healthBody) {
	t.Helper()
	code, body := get(t, url)
	var h healthBody
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	return code, h
}

func metric(t *testing.T, url, name string) float64 {
	t.Helper()
	_, body := get(t, url+"/metrics")
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// switchboard on MariaDB with the simulated floor running: MariaDB is
// killed and started again. /healthz, /readyz and /metrics show the
// database down and the journal's backlog growing while the floor goes on
// — calls are still answered, and the server stays ready: routing does not
// need the database — then the database up and the backlog written. The reports API answers from the same database.
func TestHealthShowsDatabaseOutage(t *testing.T) {
	srv := mariadbtest.ForTest(t)
	dsn, err := srv.NewDatabase(context.Background(), "server_health")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Database.DSN = dsn
	cfg.PBX.Sim.Speed = 30
	_, url := start(t, cfg)
	waitUntil(t, 30*time.Second, "ready with records written", func() bool {
		code, h := health(t, url+"/readyz")
		return code == 200 && h.Storage.DBUp && h.Storage.Written > 0
	})
	if code, body := get(t, url+"/api/v1/reports/daily"); code != 200 || !strings.Contains(body, `"queues"`) {
		t.Fatalf("daily report: %d %.300s", code, body)
	}
	if code, body := get(t, url+"/api/v1/reports/calls?limit=5"); code != 200 || !strings.Contains(body, `"calls"`) {
		t.Fatalf("call records: %d %.300s", code, body)
	}

	answered := func() float64 {
		_, body := get(t, url+"/metrics")
		total := 0.0
		for _, m := range regexp.MustCompile(`(?m)^switchboard_queue_answered_calls_total\{[^}]*\} (\S+)$`).FindAllStringSubmatch(body, -1) {
			v, _ := strconv.ParseFloat(m[1], 64)
			total += v
		}
		return total
	}
	srv.Stop()
	var during healthBody
	waitUntil(t, 30*time.Second, "health to show the database down with a backlog", func() bool {
		_, during = health(t, url+"/healthz")
		return !during.Storage.DBUp && during.Storage.DBError != "" && during.Storage.Backlog > 0 && during.Storage.Spilled > 0
	})
	// The whole server — controller, callbacks, recordings — goes on
	// answering calls with the database down.
	before := answered()
	waitUntil(t, 30*time.Second, "calls answered while the database is down", func() bool { return answered() > before })
	if _, h := health(t, url+"/healthz"); h.Storage.DBUp {
		t.Fatal("the database came back by itself")
	}
	code, ready := health(t, url+"/readyz")
	if code != 200 || !ready.Ready || !strings.Contains(ready.Reason, "database unreachable") || ready.Storage.DBUp {
		t.Fatalf("readyz during the outage: %d %+v", code, ready)
	}
	if metric(t, url, "switchboard_database_up") != 0 || metric(t, url, "switchboard_journal_backlog_records") == 0 ||
		metric(t, url, "switchboard_journal_spilled_bytes") == 0 {
		t.Fatal("/metrics does not show the outage")
	}
	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "the backlog written after the outage", func() bool {
		_, h := health(t, url+"/healthz")
		return h.Storage.DBUp && h.Storage.Written >= during.Storage.Written+int64(during.Storage.Backlog)
	})
	if metric(t, url, "switchboard_database_up") != 1 {
		t.Fatal("/metrics still shows the database down")
	}
}
