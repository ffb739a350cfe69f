package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/server"
	"github.com/switchboard-cc/switchboard/storage"
	"github.com/switchboard-cc/switchboard/wallboard/browsertest"
)

// startServer runs the embedded defaults (simulated PBX, SQLite, demo
// routing) on a free port, with the simulation running speed times faster
// than real time, until the test ends.
func startServer(t *testing.T, speed float64) string {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.DSN = "sqlite:" + filepath.Join(dir, "switchboard.db")
	cfg.Database.JournalDir = filepath.Join(dir, "journal")
	cfg.PBX.Sim.Speed = speed
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s of cancel")
		}
	})
	return "http://" + srv.Addr()
}

func queues(t *testing.T, url string) api.QueueList {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/queues")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var ql api.QueueList
	if err := json.Unmarshal(b, &ql); err != nil {
		t.Fatalf("GET /api/v1/queues: %v\n%s", err, b)
	}
	return ql
}

// waitFor polls cond until it holds or the bound passes (a bound on the
// test, not a timing assertion: the accelerated simulation gets there in
// a few seconds).
func waitFor(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %s", what, bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServeAnswersCallsAndStatsReportThem is the demo end to end: the
// default configuration on the simulated PBX answers calls on the demo
// queues, the API shows them, and `switchboard stats` computes service
// level and abandon rate from them.
func TestServeAnswersCallsAndStatsReportThem(t *testing.T) {
	url := startServer(t, 20)
	answered := func(ql api.QueueList) (n int) {
		for _, q := range ql.Queues {
			n += q.Answered
		}
		return n
	}
	waitFor(t, "answered calls in /api/v1/queues", 60*time.Second, func() bool { return answered(queues(t, url)) >= 10 })

	ql := queues(t, url)
	names := map[string]api.Queue{}
	for _, q := range ql.Queues {
		names[q.Name] = q
		if q.ServiceLevel < 0 || q.ServiceLevel > 1 || q.AbandonRate < 0 || q.AbandonRate > 1 {
			t.Errorf("queue %s: service level %v / abandon rate %v outside 0..1", q.Name, q.ServiceLevel, q.AbandonRate)
		}
		if q.AnsweredInThreshold > q.Answered {
			t.Errorf("queue %s: %d answered within threshold of %d answered", q.Name, q.AnsweredInThreshold, q.Answered)
		}
	}
	for _, want := range []string{"support", "billing", "sales", "general"} {
		if _, ok := names[want]; !ok {
			t.Errorf("queue %s missing from /api/v1/queues", want)
		}
	}
	if names["support"].Offered == 0 || names["billing"].Offered == 0 {
		t.Errorf("demo lines 1000/2000 routed nothing to support/billing: %+v", ql.Queues)
	}
	agents := 0
	for _, n := range names["support"].AgentsByState {
		agents += n
	}
	if agents == 0 {
		t.Error("support has no agents: the sim agent groups did not join the queue")
	}

	code, out, stderr := cli(t, nil, "stats", "--server", url)
	if code != 0 {
		t.Fatalf("stats: exit %d: %s", code, stderr)
	}
	m := regexp.MustCompile(`service level: ([0-9.]+)%  \((\d+) answered within their queue's threshold, of (\d+) answered or abandoned\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("stats prints no service level line:\n%s", out)
	}
	in, _ := strconv.Atoi(m[2])
	base, _ := strconv.Atoi(m[3])
	slPct, _ := strconv.ParseFloat(m[1], 64)
	if base < 10 || in > base {
		t.Errorf("service level counts %d of %d: want at least 10 calls measured", in, base)
	}
	if want := 100 * float64(in) / float64(base); slPct < want-0.06 || slPct > want+0.06 {
		t.Errorf("service level %.1f%% does not match %d/%d", slPct, in, base)
	}
	if !regexp.MustCompile(`abandon rate:  [0-9.]+%  \(\d+ abandoned, \d+ answered\)`).MatchString(out) {
		t.Errorf("stats prints no abandon rate line:\n%s", out)
	}
	for _, q := range []string{"support", "billing", "sales"} {
		if !strings.Contains(out, q) {
			t.Errorf("stats lacks queue %s:\n%s", q, out)
		}
	}

	// The client commands work against the real server too.
	code, out, stderr = cli(t, nil, "agent", "pause", "sup-001", "--reason", "lunch", "--server", url, "-o", "json")
	if code != 0 && !strings.Contains(stderr, "HTTP 409") {
		t.Fatalf("agent pause: exit %d: %s", code, stderr)
	}
	code, out, stderr = cli(t, nil, "agent", "pause", "nobody", "--server", url)
	if code != 1 || !strings.Contains(stderr, `unknown agent "nobody" (HTTP 404)`) {
		t.Errorf("pause of an unknown agent: exit %d %q %q", code, out, stderr)
	}
	code, out, stderr = cli(t, nil, "call", "list", "--server", url)
	if code != 0 || !strings.Contains(out, "sim-") {
		t.Errorf("call list: exit %d %q %q", code, out, stderr)
	}

	// Hang up a live call through the CLI; then it is no longer live.
	var live api.CallList
	waitFor(t, "a live call", 30*time.Second, func() bool {
		code, out, _ := cli(t, nil, "call", "list", "--live", "--server", url, "-o", "json")
		return code == 0 && json.Unmarshal([]byte(out), &live) == nil && len(live.Calls) > 0
	})
	id := live.Calls[0].ID
	code, _, stderr = cli(t, nil, "call", "hangup", id, "--server", url)
	if code != 0 && !strings.Contains(stderr, "no live call") { // it may have ended on its own meanwhile
		t.Fatalf("call hangup %s: exit %d: %s", id, code, stderr)
	}
	waitFor(t, "the hung-up call to leave the live list", 30*time.Second, func() bool {
		var cl api.CallList
		code, out, _ := cli(t, nil, "call", "list", "--live", "--server", url, "-o", "json")
		if code != 0 || json.Unmarshal([]byte(out), &cl) != nil {
			return false
		}
		for _, c := range cl.Calls {
			if c.ID == id {
				return false
			}
		}
		return true
	})
	code, _, stderr = cli(t, nil, "call", "hangup", "no-such-call", "--server", url)
	if code != 1 || !strings.Contains(stderr, `no live call "no-such-call" (HTTP 404)`) {
		t.Errorf("hangup of an unknown call: exit %d %q", code, stderr)
	}
}

// TestWallboardFollowsSimulatedCalls loads the wallboard of a real server
// in headless Chromium and watches its numbers move as simulated calls
// are answered, with no reload.
func TestWallboardFollowsSimulatedCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	url := startServer(t, 20)
	ctx := browsertest.New(t, 120*time.Second)
	answered := `[data-queue="support"] [data-metric="answered"]`
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/"), chromedp.WaitVisible(answered)); err != nil {
		t.Fatalf("wallboard did not show the support queue: %v", err)
	}
	read := func() int {
		s, err := textOf(ctx, answered)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			t.Fatalf("answered shows %q", s)
		}
		return n
	}
	first := read()
	waitFor(t, "the wallboard's answered count to rise", 60*time.Second, func() bool { return read() > first })
	for _, q := range []string{"support", "billing", "sales", "general"} {
		if _, err := textOf(ctx, `[data-queue="`+q+`"] [data-metric="service_level"]`); err != nil {
			t.Errorf("queue %s not on the wallboard: %v", q, err)
		}
	}
	status, err := textOf(ctx, `#status`)
	if err != nil || status != "LIVE" {
		t.Errorf("status = %q, %v; want LIVE", status, err)
	}
}

// TestServeShutsDownCleanlyAndKeepsTheCalls runs `switchboard serve` as the
// binary would (config file, then the signal context ends), and checks
// that it exits 0 and that every call it had answered is in the database
// afterwards: the journal was flushed on the way out.
func TestServeShutsDownCleanlyAndKeepsTheCalls(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sb.db")
	url := deadAddr(t) // a free port, for serve to take
	file := filepath.Join(dir, "switchboard.yaml")
	cfg := "server:\n  listen: " + strings.TrimPrefix(url, "http://") + "\ndatabase:\n  dsn: sqlite:" + db + "\n  journal_dir: " + filepath.Join(dir, "journal") + "\npbx:\n  sim:\n    speed: 30\n"
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	sw := &syncWriter{w: &stderr}
	go func() {
		done <- run(ctx, []string{"serve", "--config", file}, Env{Stdout: io.Discard, Stderr: sw})
	}()
	var floor api.FloorView
	waitFor(t, "five answered calls", 60*time.Second, func() bool {
		resp, err := http.Get(url + "/api/v1/floor")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&floor) == nil && floor.Totals.Answered >= 5
	})
	cancel() // what SIGINT/SIGTERM do in main
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, sw.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s")
	}
	store, err := storage.Open(context.Background(), "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	calls, err := store.Calls(context.Background(), storage.CallFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	answered := 0
	for _, c := range calls {
		if c.AnsweredAt != nil {
			answered++
		}
	}
	if answered < floor.Totals.Answered {
		t.Fatalf("the API reported %d answered calls before shutdown, the database holds %d after it", floor.Totals.Answered, answered)
	}
}

// syncWriter lets the serve goroutine and the test share a buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.w)
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// textOf reads an element's text in one evaluation: the page re-renders
// every second, so a node found by one DevTools call may be gone by the
// next.
func textOf(ctx context.Context, sel string) (string, error) {
	js := "(() => { const e = document.querySelector(" + strconv.Quote(sel) + "); return e ? e.textContent : null; })()"
	s, err := chromedp.Run(ctx, chromedp.Evaluate[*string](js))
	if err != nil {
		return "", err
	}
	if s == nil {
		return "", fmt.Errorf("no element %s", sel)
	}
	return *s, nil
}
