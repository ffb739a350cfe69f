package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
)

// Reports serves the manager's reports from the database: a day per queue
// and per agent, a day in intervals, and the call detail records behind
// them. The server fills it from storage and the running configuration.
type Reports struct {
	Daily    func(ctx context.Context, date string, o storage.ReportOptions) (*storage.DailyReport, error)
	Interval func(ctx context.Context, date string, o storage.ReportOptions) (*storage.IntervalReport, error)
	Calls    func(ctx context.Context, f storage.CallFilter) ([]storage.Call, error)
	// Defaults are the options in force: the day's zone, short abandons
	// and service-level formula of the controller, each queue's threshold
	// from the routing rules. Query parameters override zone and formula.
	Defaults func() storage.ReportOptions
	// Now is the clock for "today" (default time.Now).
	Now func() time.Time
}

// CallRecords is a page of call detail records, newest first.
type CallRecords struct {
	Calls []storage.Call `json:"calls"`
	// NextCursor, when set, fetches the next (older) page as ?cursor=.
	NextCursor string `json:"next_cursor,omitempty"`
}

// ReportRoutes are GET /api/v1/reports/daily, /interval and /calls.
func ReportRoutes(r Reports) []Route {
	if r.Now == nil {
		r.Now = time.Now
	}
	h := &reportHandlers{r: r}
	return []Route{
		{Method: http.MethodGet, Path: "/api/v1/reports/daily", Handle: h.daily},
		{Method: http.MethodGet, Path: "/api/v1/reports/interval", Handle: h.interval},
		{Method: http.MethodGet, Path: "/api/v1/reports/calls", Handle: h.calls},
	}
}

type reportHandlers struct{ r Reports }

// onlyParams refuses a query parameter the endpoint does not know, naming
// it: a misspelt filter must not silently return everything.
func onlyParams(q url.Values, known ...string) error {
	for k := range q {
		ok := false
		for _, n := range known {
			ok = ok || k == n
		}
		if !ok {
			return BadRequest(k, fmt.Sprintf("unknown parameter; this endpoint takes %s", strings.Join(known, ", ")))
		}
	}
	return nil
}

// options reads date, queue, zone and formula (and interval when asked).
func (h *reportHandlers) options(r *http.Request, withInterval bool) (string, storage.ReportOptions, error) {
	q := r.URL.Query()
	known := []string{"date", "queue", "zone", "formula"}
	if withInterval {
		known = append(known, "interval")
	}
	var o storage.ReportOptions
	if h.r.Defaults != nil {
		o = h.r.Defaults()
	}
	if err := onlyParams(q, known...); err != nil {
		return "", o, err
	}
	if z := q.Get("zone"); z != "" {
		loc, err := time.LoadLocation(z)
		if err != nil || strings.EqualFold(z, "local") {
			return "", o, BadRequest("zone", fmt.Sprintf("unknown time zone %q: want an IANA name such as Europe/Paris or UTC", z))
		}
		o.Location = loc
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	date := q.Get("date")
	if date == "" {
		date = h.r.Now().In(o.Location).Format("2006-01-02")
	} else if _, err := time.Parse("2006-01-02", date); err != nil {
		return "", o, BadRequest("date", fmt.Sprintf("want YYYY-MM-DD, got %q", date))
	}
	o.Queue = q.Get("queue")
	if f := q.Get("formula"); f != "" {
		switch f {
		case "abandons", "answered", "offered":
			o.Formula = f
		default:
			return "", o, BadRequest("formula", fmt.Sprintf("want abandons, answered or offered, got %q", f))
		}
	}
	if withInterval {
		o.Interval = 30 * time.Minute
		if s := q.Get("interval"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < time.Minute || d%time.Minute != 0 || (24*time.Hour)%d != 0 {
				return "", o, BadRequest("interval", fmt.Sprintf("want whole minutes dividing a day (15m, 30m, 1h), got %q", s))
			}
			o.Interval = d
		}
	}
	return date, o, nil
}

// reportErr: a report refused for its parameters is a 400.
func reportErr(err error) error {
	if errors.Is(err, storage.ErrBadReport) {
		return &Error{Status: http.StatusBadRequest, Message: err.Error(), Err: err}
	}
	return fmt.Errorf("report: %w", err)
}

func (h *reportHandlers) daily(w http.ResponseWriter, r *http.Request) error {
	date, o, err := h.options(r, false)
	if err != nil {
		return err
	}
	rep, err := h.r.Daily(r.Context(), date, o)
	if err != nil {
		return reportErr(err)
	}
	return WriteJSON(w, http.StatusOK, rep)
}

func (h *reportHandlers) interval(w http.ResponseWriter, r *http.Request) error {
	date, o, err := h.options(r, true)
	if err != nil {
		return err
	}
	rep, err := h.r.Interval(r.Context(), date, o)
	if err != nil {
		return reportErr(err)
	}
	return WriteJSON(w, http.StatusOK, rep)
}

// parseWhen takes RFC 3339 or a date (midnight UTC).
func parseWhen(field, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, BadRequest(field, fmt.Sprintf("want RFC 3339 (2026-11-20T09:00:00Z) or YYYY-MM-DD, got %q", s))
}

// The cursor is the last call of a page: its arrival and id.
func encodeCursor(c storage.Call) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.ArrivedAt.UTC().Format(time.RFC3339Nano) + " " + c.ID))
}

func decodeCursor(s string) (time.Time, string, error) {
	bad := BadRequest("cursor", "not a cursor this endpoint returned (next_cursor)")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", bad
	}
	at, id, ok := strings.Cut(string(b), " ")
	t, err := time.Parse(time.RFC3339Nano, at)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", bad
	}
	return t, id, nil
}

var outcomes = []string{storage.OutcomeLive, storage.OutcomeAnswered, storage.OutcomeAbandoned, storage.OutcomeOverflowed,
	storage.OutcomeFailed, storage.OutcomeCallback, storage.OutcomeExited, storage.OutcomeLost}

func (h *reportHandlers) calls(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := onlyParams(q, "from", "to", "queue", "agent", "caller", "outcome", "limit", "cursor"); err != nil {
		return err
	}
	f := storage.CallFilter{Queue: q.Get("queue"), AgentID: q.Get("agent"), Caller: q.Get("caller"), Limit: 100}
	var err error
	if s := q.Get("from"); s != "" {
		if f.From, err = parseWhen("from", s); err != nil {
			return err
		}
	}
	if s := q.Get("to"); s != "" {
		if f.To, err = parseWhen("to", s); err != nil {
			return err
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return BadRequest("to", "must be after from")
	}
	if s := q.Get("outcome"); s != "" {
		ok := false
		for _, o := range outcomes {
			ok = ok || s == o
		}
		if !ok {
			return BadRequest("outcome", fmt.Sprintf("want one of %s, got %q", strings.Join(outcomes, ", "), s))
		}
		f.Outcome = s
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return BadRequest("limit", fmt.Sprintf("want a number 1..1000, got %q", s))
		}
		f.Limit = n
	}
	if s := q.Get("cursor"); s != "" {
		if f.BeforeAt, f.BeforeID, err = decodeCursor(s); err != nil {
			return err
		}
	}
	rows, err := h.r.Calls(r.Context(), f)
	if err != nil {
		return fmt.Errorf("reading call records: %w", err)
	}
	for i := range rows {
		rows[i].Trace = "" // the routing trace is for one call's detail (/api/v1/calls/{id})
	}
	out := CallRecords{Calls: rows}
	if out.Calls == nil {
		out.Calls = []storage.Call{}
	}
	if len(rows) == f.Limit {
		out.NextCursor = encodeCursor(rows[len(rows)-1])
	}
	return WriteJSON(w, http.StatusOK, out)
}
