package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/storage"
)

// child is `switchboard serve` running as its own process.
type child struct {
	cmd    *exec.Cmd
	stderr *syncWriter
	done   chan error
}

func startServe(t *testing.T, config string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--config", config)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	c := &child{cmd: cmd, stderr: &syncWriter{w: &bytes.Buffer{}}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = c.stderr, c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			t.Logf("serve (pid %d) output:\n%s", cmd.Process.Pid, c.stderr.String())
		}
	})
	return c
}

// wait waits for the child to exit and returns its error.
func (c *child) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not exit")
		return nil
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

type healthBody struct {
	Storage api.StoreHealth `json:"storage"`
}

// runOf is the run token of a simulated call id (sim-caller-<run>-<n>):
// each simulator names its channels apart from the last run's.
func runOf(id string) string {
	parts := strings.Split(id, "-")
	if len(parts) < 4 {
		return ""
	}
	return parts[len(parts)-2]
}

// TestKill9MidRunKeepsHistoryAndResumes starts `switchboard serve` as a
// real process on SQLite with the simulated PBX, kills it with SIGKILL in
// the middle of a busy run (calls waiting, ringing and talking), checks
// that migrations are idempotent on the database it left, starts it again
// on the same database and journal, and checks that
//   - calls are routed again: new calls are answered after the restart,
//     and the accelerated simulated time goes on from the killed run's
//     (it does not restart at the wall clock, behind the stored calls);
//   - the history is intact: every call answered before the kill (as the
//     API counted it, once the journal had taken it) is still there,
//     answered; none of the killed run's calls is left live (the
//     simulator died with switchboard, so they are closed as lost or as
//     ended while stopped, with their reason);
//   - no row is half-written: every call's outcome agrees with its times,
//     every finished call's legs have an end and its queue stints a leave.
func TestKill9MidRunKeepsHistoryAndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts switchboard twice as a child process")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "sb.db")
	url := deadAddr(t)
	file := filepath.Join(dir, "switchboard.yaml")
	cfg := "server:\n  listen: " + strings.TrimPrefix(url, "http://") + "\ndatabase:\n  dsn: sqlite:" + db +
		"\n  journal_dir: " + filepath.Join(dir, "journal") + "\npbx:\n  sim:\n    speed: 30\n"
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	first := startServe(t, file)
	var floor api.FloorView
	var live api.CallList
	waitFor(t, "20 answered calls and calls in progress", 90*time.Second, func() bool {
		return getJSON(url+"/api/v1/floor", &floor) == nil && floor.Totals.Answered >= 20 &&
			getJSON(url+"/api/v1/calls?live=true", &live) == nil && len(live.Calls) >= 3
	})
	answeredBefore := floor.Totals.Answered
	run1 := runOf(live.Calls[0].ID)
	if run1 == "" {
		t.Fatalf("call id %q carries no run", live.Calls[0].ID)
	}
	// The journal's own promise (durable on local disk within 10 ms) is
	// storage's test; here: once it has written what it held when the API
	// counted those calls, the kill must not lose or tear them.
	var h healthBody
	if err := getJSON(url+"/healthz", &h); err != nil {
		t.Fatal(err)
	}
	target := h.Storage.JournalWritten + int64(h.Storage.JournalBacklog)
	waitFor(t, "the journal to write what it held", 30*time.Second, func() bool {
		return getJSON(url+"/healthz", &h) == nil && h.Storage.JournalWritten >= target
	})

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := first.wait(t)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("serve did not die of SIGKILL: %v", err)
	}

	// Migrations on the database the killed process left: nothing to do,
	// every one applied, twice over.
	for range 2 {
		code, out, stderr := cli(t, nil, "migrate", "up", "--database", "sqlite:"+db, "-o", "json")
		var applied []storage.MigrationState
		if code != 0 || json.Unmarshal([]byte(out), &applied) != nil || len(applied) != 0 {
			t.Fatalf("migrate up after kill -9: exit %d, %q %q", code, out, stderr)
		}
	}
	code, out, stderr := cli(t, nil, "migrate", "status", "--database", "sqlite:"+db, "-o", "json")
	var status []storage.MigrationState
	if code != 0 || json.Unmarshal([]byte(out), &status) != nil || len(status) == 0 {
		t.Fatalf("migrate status: exit %d, %q %q", code, out, stderr)
	}
	for _, m := range status {
		if !m.Applied {
			t.Fatalf("migration %d %s pending after kill -9", m.Version, m.Name)
		}
	}

	second := startServe(t, file)
	waitFor(t, "the restarted switchboard ready", 60*time.Second, func() bool {
		var r map[string]any
		return getJSON(url+"/readyz", &r) == nil
	})
	if err := getJSON(url+"/api/v1/floor", &floor); err != nil {
		t.Fatal(err)
	}
	seeded := floor.Totals.Answered
	if seeded < answeredBefore {
		t.Errorf("today's figures after the restart count %d answered, the killed run had %d", seeded, answeredBefore)
	}
	waitFor(t, "calls answered after the restart", 90*time.Second, func() bool {
		return getJSON(url+"/api/v1/floor", &floor) == nil && floor.Totals.Answered >= seeded+10
	})
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.wait(t); err != nil {
		t.Fatalf("the restarted serve did not stop cleanly on SIGTERM: %v", err)
	}

	store, err := storage.Open(context.Background(), "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var all []storage.Call
	for f := (storage.CallFilter{Limit: 1000}); ; {
		page, err := store.Calls(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < f.Limit {
			break
		}
		f.BeforeAt, f.BeforeID = page[len(page)-1].ArrivedAt, page[len(page)-1].ID
	}
	answered1, closedAtRestart, answered2 := 0, 0, 0
	var lastArrival1, firstArrival2 time.Time
	for _, c := range all {
		if runOf(c.ID) == run1 {
			lastArrival1 = later(lastArrival1, c.ArrivedAt)
		} else if firstArrival2.IsZero() || c.ArrivedAt.Before(firstArrival2) {
			firstArrival2 = c.ArrivedAt
		}
	}
	if !firstArrival2.After(lastArrival1) {
		t.Errorf("the restarted simulation's first call (%v) arrived before the killed run's last (%v): simulated time went back", firstArrival2, lastArrival1)
	}
	for _, c := range all {
		checkCallRow(t, c)
		checkCallChildren(t, store, c)
		if runOf(c.ID) == run1 {
			if c.Outcome == storage.OutcomeLive {
				t.Errorf("call %s of the killed run is still live", c.ID)
			}
			if c.AnsweredAt != nil {
				answered1++
			}
			if strings.Contains(c.EndReason, "switchboard was stopped") {
				closedAtRestart++
			}
		} else if c.AnsweredAt != nil {
			answered2++
		}
	}
	if answered1 < answeredBefore {
		t.Errorf("the database holds %d answered calls of the killed run; the API counted %d before the kill", answered1, answeredBefore)
	}
	if closedAtRestart == 0 {
		t.Error("no call in progress at the kill was closed at the restart")
	}
	if answered2 < 10 {
		t.Errorf("only %d calls of the restarted run answered", answered2)
	}
	t.Logf("%d calls stored: killed run %d answered (API had counted %d), %d closed at the restart; restarted run %d answered",
		len(all), answered1, answeredBefore, closedAtRestart, answered2)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// checkCallRow: a call row agrees with itself — outcome, times and agent.
func checkCallRow(t *testing.T, c storage.Call) {
	t.Helper()
	bad := func(why string) { t.Errorf("call %s %s: %+v", c.ID, why, c) }
	ended := c.EndedAt != nil
	switch c.Outcome {
	case storage.OutcomeLive:
		if ended {
			bad("is live with an end time")
		}
	case storage.OutcomeAnswered:
		if c.AnsweredAt == nil || c.AgentID == "" {
			bad("answered without answer time or agent")
		}
	case storage.OutcomeAbandoned, storage.OutcomeLost, storage.OutcomeExited, storage.OutcomeOverflowed, storage.OutcomeFailed, storage.OutcomeCallback:
		if c.AnsweredAt != nil {
			bad("answered yet " + c.Outcome)
		}
	default:
		bad("has an unknown outcome")
	}
	if c.Outcome != storage.OutcomeLive && (!ended || c.EndReason == "") {
		bad("finished without end time or reason")
	}
	if c.CallerLegID == "" || c.ArrivedAt.IsZero() {
		bad("has no caller leg or arrival")
	}
	if c.EnqueuedAt != nil && c.EnqueuedAt.Before(c.ArrivedAt) {
		bad("enqueued before it arrived")
	}
	if c.AnsweredAt != nil && (c.EnqueuedAt == nil || c.AnsweredAt.Before(*c.EnqueuedAt)) {
		bad("answered before it was enqueued")
	}
	if ended && (c.EndedAt.Before(c.ArrivedAt) || c.AnsweredAt != nil && c.EndedAt.Before(*c.AnsweredAt)) {
		bad("ended before it arrived or was answered")
	}
}

// checkCallChildren: a finished call keeps no leg without an end and no
// queue stint never left; every leg and stint names its call.
func checkCallChildren(t *testing.T, store *storage.Store, c storage.Call) {
	t.Helper()
	ctx := context.Background()
	legs, err := store.CallLegs(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	waits, err := store.CallWaits(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	finished := c.Outcome != storage.OutcomeLive
	for _, l := range legs {
		if finished && l.EndedAt == nil {
			t.Errorf("call %s (%s) keeps leg %s open", c.ID, c.Outcome, l.ID)
		}
	}
	for _, w := range waits {
		if finished && w.LeftAt == nil {
			t.Errorf("call %s (%s) keeps queue stint %s open", c.ID, c.Outcome, w.ID)
		}
	}
}
