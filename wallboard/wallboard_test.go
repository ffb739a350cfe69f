package wallboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/wallboard"
	"github.com/switchboard-cc/switchboard/wallboard/browsertest"
)

// floorAt is a floor whose numbers move with n, so the page must follow.
// "support" misses its goal badly (red); "billing" meets it (green).
func floorAt(n int) api.FloorView {
	return api.FloorView{
		At: time.Date(2026, 11, 22, 10, 0, n, 0, time.UTC),
		Queues: []api.Queue{
			{Name: "support", Waiting: 3 + n, LongestWaitSeconds: 75, Offered: 40 + n, Answered: 30 + n, Abandoned: 6,
				ServiceLevel: 0.5, ServiceLevelGoal: 0.95, ServiceLevelThresholdSeconds: 20, AbandonRate: 0.15,
				AgentsByState: map[string]int{"on_call": 4}, CallbacksWaiting: 2},
			{Name: "billing", Waiting: 0, Offered: 20, Answered: 20, ServiceLevel: 0.97, ServiceLevelGoal: 0.9,
				ServiceLevelThresholdSeconds: 30, AgentsByState: map[string]int{"available": 2}},
		},
		Nodes:  []api.Node{{Name: "sim", Up: true}},
		Totals: api.Totals{AgentsByState: map[string]int{"available": 2, "on_call": 4 + n%2}},
	}
}

func TestWallboardRendersLiveInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	var tick atomic.Int64
	h, err := api.New(api.Options{Root: wallboard.Handler()}, []api.Route{{
		Method: http.MethodGet, Path: "/api/v1/events",
		Raw: api.Stream("floor", 200*time.Millisecond, func() any { return floorAt(int(tick.Add(1))) }),
	}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	// Cleanups run last-in first-out: the browser (registered below) goes
	// first, so its open event stream does not hold up ts.Close.
	t.Cleanup(ts.Close)

	ctx := browsertest.New(t, 90*time.Second)
	sel := func(q, m string) string { return `[data-queue="` + q + `"] [data-metric="` + m + `"]` }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(sel("support", "answered")),
	); err != nil {
		t.Fatalf("wallboard did not render queues: %v", err)
	}
	first, err := textOf(ctx, sel("support", "answered"))
	if err != nil {
		t.Fatal(err)
	}
	firstN, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || firstN < 31 {
		t.Fatalf("answered today shows %q, want a number ≥ 31", first)
	}
	// The stream moves the numbers on; the page must follow without reload.
	var later string
	for i := 0; i < 100; i++ {
		later, err = textOf(ctx, sel("support", "answered"))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := strconv.Atoi(strings.TrimSpace(later)); n > firstN {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(later)); n <= firstN {
		t.Fatalf("answered stayed at %s (now %s): the page is not live", first, later)
	}

	checks := []struct{ sel, attr, want string }{
		{sel("support", "service_level"), "class", "red"},
		{sel("support", "abandon_rate"), "class", "red"},
		{sel("support", "longest_wait"), "class", "red"},
		{sel("billing", "service_level"), "class", "green"},
		{`[data-queue="support"]`, "class", "red"},
		{`[data-queue="billing"]`, "class", "green"},
		{`#status`, "class", "live"},
	}
	for _, c := range checks {
		js := "(() => { const e = document.querySelector(" + strconv.Quote(c.sel) + "); return e ? e.getAttribute(" + strconv.Quote(c.attr) + ") || '' : '(missing)'; })()"
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", c.sel, err)
		}
		if !strings.Contains(" "+got+" ", " "+c.want+" ") {
			t.Errorf("%s %s = %q, want it to contain %q", c.sel, c.attr, got, c.want)
		}
	}
	for _, c := range []struct{ sel, want string }{
		{sel("support", "service_level"), "50%"},
		{sel("billing", "service_level"), "97%"},
		{sel("support", "abandon_rate"), "15%"},
		{sel("support", "longest_wait"), "1:15"},
		{`[data-metric="agents_available"]`, "2"},
		{sel("support", "callbacks_waiting"), "2 callbacks"},
		{sel("billing", "callbacks_waiting"), "0 callbacks"},
	} {
		got, err := textOf(ctx, c.sel)
		if err != nil {
			t.Fatalf("%s: %v", c.sel, err)
		}
		if strings.TrimSpace(got) != c.want {
			t.Errorf("%s shows %q, want %q", c.sel, got, c.want)
		}
	}
	// Legible from across the room: the main figures are big.
	size, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('[data-metric="waiting"]')).fontSize`))
	if err != nil {
		t.Fatal(err)
	}
	if px, _ := strconv.ParseFloat(strings.TrimSuffix(size, "px"), 64); px < 60 {
		t.Errorf("figures are %s on a 1920px screen; want at least 60px", size)
	}
}

func TestWallboardPageHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	wallboard.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("content type %q", ct)
	}
	if !strings.Contains(rec.Body.String(), `new EventSource("api/v1/events")`) {
		t.Error("page does not subscribe to the event stream")
	}
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
