package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
)

// RecordingStart is the body of POST /api/v1/recordings (record a bridged
// call on demand).
type RecordingStart struct {
	CallID string `json:"call_id"`
	By     string `json:"by,omitempty"`
}

// RecordingAction is the body of pause/resume/stop: who (default: the
// X-Switchboard-Actor header) and why.
type RecordingAction struct {
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// RecordingTags is the body of POST /api/v1/recordings/{id}/tags.
type RecordingTags struct {
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// RecordingHold is the body of POST /api/v1/recordings/{id}/hold. By
// (default: the X-Switchboard-Actor header) goes into the audit log.
type RecordingHold struct {
	Hold   bool   `json:"hold"`
	Reason string `json:"reason,omitempty"`
	By     string `json:"by,omitempty"`
}

// RecordingExemplary is the body of POST /api/v1/recordings/{id}/exemplary.
type RecordingExemplary struct {
	Exemplary bool   `json:"exemplary"`
	Note      string `json:"note,omitempty"`
	By        string `json:"by,omitempty"`
}

// RecordingPurge is the body of POST /api/v1/recordings/purge.
type RecordingPurge struct {
	// OlderThan is "90d", "12h", "2160h" … ("" = retention dates only).
	OlderThan string `json:"older_than,omitempty"`
	DryRun    bool   `json:"dry_run"`
	// By is who purges (the audit log's actor; default: the
	// X-Switchboard-Actor header).
	By string `json:"by,omitempty"`
}

// ScorecardFile is the body of POST /api/v1/scorecards.
type ScorecardFile struct {
	Filename string `json:"filename"`
	Content  string `json:"content"`
	By       string `json:"by,omitempty"`
}

// Export trailers: a CSV or JSON export streams page by page, so an error
// after the first byte cannot change the status any more. The server
// declares these trailers; a client that does not find ExportRowsTrailer
// (or finds ExportErrorTrailer) after the body holds a truncated file.
const (
	ExportRowsTrailer  = "X-Switchboard-Export-Rows"
	ExportErrorTrailer = "X-Switchboard-Export-Error"
)

// EvaluationMark is one criterion's mark.
type EvaluationMark struct {
	Criterion string  `json:"criterion"`
	Score     float64 `json:"score"`
	NA        bool    `json:"na,omitempty"`
}

// EvaluationCommentInput is a comment at a position of the recording.
type EvaluationCommentInput struct {
	At     string `json:"at"`
	Text   string `json:"text"`
	Author string `json:"author,omitempty"`
}

// EvaluationRequest is the body of POST /api/v1/evaluations.
type EvaluationRequest struct {
	RecordingID string                   `json:"recording_id"`
	Scorecard   string                   `json:"scorecard"`
	Version     int                      `json:"version,omitempty"`
	Reviewer    string                   `json:"reviewer,omitempty"`
	Marks       []EvaluationMark         `json:"marks"`
	Comments    []EvaluationCommentInput `json:"comments,omitempty"`
	Notes       string                   `json:"notes,omitempty"`
	Exemplary   bool                     `json:"exemplary,omitempty"`
}

// Recordings is the recordings desk as the API needs it; the server fills
// it from recordings.Desk.API. Results are rendered as JSON as they are.
type Recordings struct {
	Search          func(ctx context.Context, f storage.RecordingFilter) (any, string, error)
	Export          func(ctx context.Context, f storage.RecordingFilter, format string, w io.Writer) (int, error)
	Get             func(ctx context.Context, id string) (any, error)
	Start           func(ctx context.Context, callID, by string) (string, error)
	Stop            func(ctx context.Context, id, by string) error
	Pause           func(ctx context.Context, id, by, reason string) (any, error)
	Resume          func(ctx context.Context, id, by string) (any, error)
	Tag             func(ctx context.Context, id string, add, remove []string) error
	Hold            func(ctx context.Context, id string, hold bool, actor, reason string) error
	Exemplary       func(ctx context.Context, id string, on bool, actor, note string) error
	Purge           func(ctx context.Context, olderThan time.Duration, dryRun bool, actor string) (any, error)
	Scorecards      func(ctx context.Context) (any, error)
	ApplyScorecards func(ctx context.Context, filename string, data []byte, actor string) (any, error)
	// Scorecard is one stored version of a card (version 0 = latest);
	// ScorecardHistory lists every version of a card, oldest first.
	Scorecard        func(ctx context.Context, name string, version int) (any, error)
	ScorecardHistory func(ctx context.Context, name string) (any, error)
	// AgentPause and AgentResume act on the running recording of the call
	// an agent is on: the agent's own action (desktop button, softphone
	// key) needs no recording id.
	AgentPause   func(ctx context.Context, agentID, by, reason string) (any, error)
	AgentResume  func(ctx context.Context, agentID, by string) (any, error)
	Evaluate     func(ctx context.Context, req EvaluationRequest) (any, error)
	Comment      func(ctx context.Context, evaluationID, author, at, text string) (any, error)
	Averages     func(ctx context.Context, by string, from, to time.Time) (any, error)
	ReviewSample func(ctx context.Context, week time.Time, n int, agent string) (any, error)
	// Sentinels of the desk: unknown (404), state conflict (409), bad
	// input without a field (400), no PBX (503).
	NotFound    []error
	Conflict    []error
	BadInput    []error
	Unavailable []error
}

// RecordingRoutes returns the recordings and quality-review endpoints.
func RecordingRoutes(c Recordings) []Route {
	h := &recHandlers{c: c}
	return []Route{
		{Method: http.MethodGet, Path: "/api/v1/recordings", Handle: h.search},
		{Method: http.MethodPost, Path: "/api/v1/recordings", Handle: h.start},
		{Method: http.MethodGet, Path: "/api/v1/recordings/export", Handle: h.export},
		{Method: http.MethodPost, Path: "/api/v1/recordings/purge", Handle: h.purge},
		{Method: http.MethodGet, Path: "/api/v1/recordings/{id}", Handle: h.get},
		{Method: http.MethodPost, Path: "/api/v1/recordings/{id}/pause", Handle: h.pause},
		{Method: http.MethodPost, Path: "/api/v1/recordings/{id}/resume", Handle: h.resume},
		{Method: http.MethodPost, Path: "/api/v1/recordings/{id}/stop", Handle: h.stop},
		{Method: http.MethodPost, Path: "/api/v1/recordings/{id}/tags", Handle: h.tags},
		{Method: http.MethodPost, Path: "/api/v1/recordings/{id}/hold", Handle: h.hold},
		{Method: http.MethodPost, Path: "/api/v1/recordings/{id}/exemplary", Handle: h.exemplary},
		{Method: http.MethodGet, Path: "/api/v1/scorecards", Handle: h.scorecards},
		{Method: http.MethodPost, Path: "/api/v1/scorecards", Handle: h.applyScorecards},
		{Method: http.MethodGet, Path: "/api/v1/scorecards/{name}", Handle: h.scorecard},
		{Method: http.MethodGet, Path: "/api/v1/scorecards/{name}/versions", Handle: h.scorecardHistory},
		{Method: http.MethodGet, Path: "/api/v1/scorecards/{name}/versions/{version}", Handle: h.scorecard},
		{Method: http.MethodPost, Path: "/api/v1/agents/{id}/recording/pause", Handle: h.agentPause},
		{Method: http.MethodPost, Path: "/api/v1/agents/{id}/recording/resume", Handle: h.agentResume},
		{Method: http.MethodPost, Path: "/api/v1/evaluations", Handle: h.evaluate},
		{Method: http.MethodPost, Path: "/api/v1/evaluations/{id}/comments", Handle: h.comment},
		{Method: http.MethodGet, Path: "/api/v1/evaluations/averages", Handle: h.averages},
		{Method: http.MethodGet, Path: "/api/v1/review/sample", Handle: h.sample},
	}
}

type recHandlers struct{ c Recordings }

func (h *recHandlers) mapErr(err error) error {
	var fe interface{ FirstField() string }
	is := func(list []error) bool {
		for _, e := range list {
			if e != nil && errors.Is(err, e) {
				return true
			}
		}
		return false
	}
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Field: fe.FirstField(), Message: err.Error(), Err: err}
	case errors.Is(err, storage.ErrBadFilter) || is(h.c.BadInput):
		return &Error{Status: http.StatusBadRequest, Message: err.Error(), Err: err}
	case errors.Is(err, storage.ErrNotFound) || is(h.c.NotFound):
		return &Error{Status: http.StatusNotFound, Message: err.Error(), Err: err}
	case errors.Is(err, storage.ErrRecordingState) || is(h.c.Conflict):
		return &Error{Status: http.StatusConflict, Message: err.Error(), Err: err}
	case is(h.c.Unavailable):
		return &Error{Status: http.StatusServiceUnavailable, Message: err.Error(), Err: err}
	}
	return err
}

// ParseAge reads "90d", "2w", "36h", "1h30m" for purge --older-than.
func ParseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v <= 0 || v > 100000 {
				return 0, fmt.Errorf("%q is not a positive number of %s (e.g. 90d)", s, map[string]string{"d": "days", "w": "weeks"}[suffix])
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not an age such as 90d, 2w or 36h", s)
	}
	return d, nil
}

// RecordingFilterFromQuery reads the search parameters; errors name the
// parameter.
func RecordingFilterFromQuery(q url.Values) (storage.RecordingFilter, error) {
	f := storage.RecordingFilter{AgentID: q.Get("agent"), Queue: q.Get("queue"), Caller: q.Get("caller"), CallID: q.Get("call"),
		Node: q.Get("node"), Tag: q.Get("tag"), Status: q.Get("status"), Cursor: q.Get("cursor")}
	tm := func(name string, dst *time.Time) error {
		if v := q.Get(name); v != "" {
			t, err := parseTime(v)
			if err != nil {
				return BadRequest(name, err.Error())
			}
			*dst = t
		}
		return nil
	}
	if err := tm("from", &f.From); err != nil {
		return f, err
	}
	if err := tm("to", &f.To); err != nil {
		return f, err
	}
	for name, dst := range map[string]**float64{"min_score": &f.MinScore, "max_score": &f.MaxScore} {
		if v := q.Get(name); v != "" {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x < 0 || x > 100 {
				return f, BadRequest(name, fmt.Sprintf("%q is not a score within 0–100", v))
			}
			*dst = &x
		}
	}
	for name, dst := range map[string]*time.Duration{"min_duration": &f.MinDuration, "max_duration": &f.MaxDuration} {
		if v := q.Get(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				if n, nerr := strconv.Atoi(v); nerr == nil && n >= 0 {
					d, err = time.Duration(n)*time.Second, nil
				}
			}
			if err != nil || d < 0 {
				return f, BadRequest(name, fmt.Sprintf("%q is not a duration such as 90s or 2m", v))
			}
			*dst = d
		}
	}
	if v := q.Get("exemplary"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, BadRequest("exemplary", fmt.Sprintf("%q is not true or false", v))
		}
		f.Exemplary = b
	}
	if v := q.Get("held"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, BadRequest("held", fmt.Sprintf("%q is not true or false", v))
		}
		f.LegalHold = &b
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return f, BadRequest("limit", fmt.Sprintf("%q is not within 1–10000", v))
		}
		f.Limit = n
	}
	// The filter's own check, field by field, so the 400 names the parameter.
	for _, c := range []struct {
		field string
		f     storage.RecordingFilter
	}{
		{"status", storage.RecordingFilter{Status: f.Status}},
		{"to", storage.RecordingFilter{From: f.From, To: f.To}},
		{"max_duration", storage.RecordingFilter{MinDuration: f.MinDuration, MaxDuration: f.MaxDuration}},
		{"cursor", storage.RecordingFilter{Cursor: f.Cursor}},
	} {
		if err := c.f.Validate(); err != nil {
			return f, BadRequest(c.field, err.Error())
		}
	}
	if err := f.Validate(); err != nil {
		return f, BadRequest("", err.Error())
	}
	return f, nil
}

// parseTime accepts RFC 3339 or a date (midnight UTC).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (2026-11-22T09:00:00Z) or a date (2026-11-22)", s)
}

func (h *recHandlers) search(w http.ResponseWriter, r *http.Request) error {
	f, err := RecordingFilterFromQuery(r.URL.Query())
	if err != nil {
		return err
	}
	out, next, err := h.c.Search(r.Context(), f)
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"recordings": out, "next_cursor": next})
}

func (h *recHandlers) export(w http.ResponseWriter, r *http.Request) error {
	f, err := RecordingFilterFromQuery(r.URL.Query())
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "json" {
		return BadRequest("format", fmt.Sprintf("%q is not csv or json", format))
	}
	ct := map[string]string{"csv": "text/csv; charset=utf-8", "json": "application/json"}[format]
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="recordings.%s"`, format))
	w.Header().Set("Trailer", ExportRowsTrailer+", "+ExportErrorTrailer)
	// The body streams page by page. An error before the first byte is an
	// ordinary error response; after it, only the trailer can say so.
	cw := &countingWriter{w: w}
	n, err := h.c.Export(r.Context(), f, format, cw)
	if err != nil {
		if cw.n == 0 {
			return h.mapErr(err)
		}
		w.Header().Set(ExportErrorTrailer, strings.ReplaceAll(err.Error(), "\n", " "))
		return nil
	}
	w.Header().Set(ExportRowsTrailer, strconv.Itoa(n))
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (h *recHandlers) get(w http.ResponseWriter, r *http.Request) error {
	out, err := h.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, out)
}

func by(r *http.Request, body string) string {
	if body != "" {
		return body
	}
	return actor(r)
}

func (h *recHandlers) start(w http.ResponseWriter, r *http.Request) error {
	var req RecordingStart
	if err := Decode(r, &req, false); err != nil {
		return err
	}
	if req.CallID == "" {
		return BadRequest("call_id", "required")
	}
	id, err := h.c.Start(r.Context(), req.CallID, by(r, req.By))
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusAccepted, map[string]any{"recording_id": id, "pending_announcement": id == ""})
}

func (h *recHandlers) pause(w http.ResponseWriter, r *http.Request) error {
	var req RecordingAction
	if err := Decode(r, &req, true); err != nil {
		return err
	}
	out, err := h.c.Pause(r.Context(), r.PathValue("id"), by(r, req.By), req.Reason)
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (h *recHandlers) resume(w http.ResponseWriter, r *http.Request) error {
	var req RecordingAction
	if err := Decode(r, &req, true); err != nil {
		return err
	}
	out, err := h.c.Resume(r.Context(), r.PathValue("id"), by(r, req.By))
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (h *recHandlers) stop(w http.ResponseWriter, r *http.Request) error {
	var req RecordingAction
	if err := Decode(r, &req, true); err != nil {
		return err
	}
	if err := h.c.Stop(r.Context(), r.PathValue("id"), by(r, req.By)); err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusAccepted, map[string]any{"stopping": r.PathValue("id")})
}

func (h *recHandlers) tags(w http.ResponseWriter, r *http.Request) error {
	var req RecordingTags
	if err := Decode(r, &req, false); err != nil {
		return err
	}
	if err := h.c.Tag(r.Context(), r.PathValue("id"), req.Add, req.Remove); err != nil {
		return h.mapErr(err)
	}
	return h.get(w, r)
}

func (h *recHandlers) hold(w http.ResponseWriter, r *http.Request) error {
	var req RecordingHold
	if err := Decode(r, &req, false); err != nil {
		return err
	}
	if err := h.c.Hold(r.Context(), r.PathValue("id"), req.Hold, by(r, req.By), req.Reason); err != nil {
		return h.mapErr(err)
	}
	return h.get(w, r)
}

func (h *recHandlers) exemplary(w http.ResponseWriter, r *http.Request) error {
	var req RecordingExemplary
	if err := Decode(r, &req, false); err != nil {
		return err
	}
	if err := h.c.Exemplary(r.Context(), r.PathValue("id"), req.Exemplary, by(r, req.By), req.Note); err != nil {
		return h.mapErr(err)
	}
	return h.get(w, r)
}

func (h *recHandlers) purge(w http.ResponseWriter, r *http.Request) error {
	var req RecordingPurge
	if err := Decode(r, &req, false); err != nil {
		return err
	}
	age, err := ParseAge(req.OlderThan)
	if err != nil {
		return BadRequest("older_than", err.Error())
	}
	out, err := h.c.Purge(r.Context(), age, req.DryRun, by(r, req.By))
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (h *recHandlers) scorecards(w http.ResponseWriter, r *http.Request) error {
	out, err := h.c.Scorecards(r.Context())
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"scorecards": out})
}

func (h *recHandlers) applyScorecards(w http.ResponseWriter, r *http.Request) error {
	var req ScorecardFile
	if err := Decode(r, &req, false); err != nil {
		return err
	}
	if req.Filename == "" {
		req.Filename = "scorecards.yaml"
	}
	out, err := h.c.ApplyScorecards(r.Context(), req.Filename, []byte(req.Content), by(r, req.By))
	if err != nil {
		if e := h.mapErr(err); e != err {
			return e
		}
		return &Error{Status: http.StatusBadRequest, Field: "content", Message: err.Error(), Err: err}
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"applied": out})
}

func (h *recHandlers) scorecard(w http.ResponseWriter, r *http.Request) error {
	version := 0
	if v := r.PathValue("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return BadRequest("version", fmt.Sprintf("%q is not a version number (1, 2, …)", v))
		}
		version = n
	}
	out, err := h.c.Scorecard(r.Context(), r.PathValue("name"), version)
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (h *recHandlers) scorecardHistory(w http.ResponseWriter, r *http.Request) error {
	out, err := h.c.ScorecardHistory(r.Context(), r.PathValue("name"))
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"name": r.PathValue("name"), "versions": out})
}

// agentBy is who acts on an agent's recording: the body's by, else the
// X-Switchboard-Actor header, else the agent itself (its own action).
func agentBy(r *http.Request, body string) string {
	if body != "" {
		return body
	}
	if a := r.Header.Get("X-Switchboard-Actor"); a != "" {
		return a
	}
	return r.PathValue("id")
}

func (h *recHandlers) agentPause(w http.ResponseWriter, r *http.Request) error {
	var req RecordingAction
	if err := Decode(r, &req, true); err != nil {
		return err
	}
	out, err := h.c.AgentPause(r.Context(), r.PathValue("id"), agentBy(r, req.By), req.Reason)
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (h *recHandlers) agentResume(w http.ResponseWriter, r *http.Request) error {
	var req RecordingAction
	if err := Decode(r, &req, true); err != nil {
		return err
	}
	out, err := h.c.AgentResume(r.Context(), r.PathValue("id"), agentBy(r, req.By))
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (h *recHandlers) evaluate(w http.ResponseWriter, r *http.Request) error {
	var req EvaluationRequest
	if err := Decode(r, &req, false); err != nil {
		return err
	}
	if req.Reviewer == "" {
		req.Reviewer = actor(r)
	}
	out, err := h.c.Evaluate(r.Context(), req)
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusCreated, out)
}

func (h *recHandlers) comment(w http.ResponseWriter, r *http.Request) error {
	var req EvaluationCommentInput
	if err := Decode(r, &req, false); err != nil {
		return err
	}
	out, err := h.c.Comment(r.Context(), r.PathValue("id"), by(r, req.Author), req.At, req.Text)
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusCreated, out)
}

func (h *recHandlers) averages(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var from, to time.Time
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = parseTime(v); err != nil {
			return BadRequest("from", err.Error())
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = parseTime(v); err != nil {
			return BadRequest("to", err.Error())
		}
	}
	group := q.Get("by")
	if group == "" {
		group = "agent"
	}
	out, err := h.c.Averages(r.Context(), group, from, to)
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"by": group, "averages": out})
}

func (h *recHandlers) sample(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var week time.Time
	if v := q.Get("week"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return BadRequest("week", err.Error())
		}
		week = t
	}
	n := 0
	if v := q.Get("n"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil || x < 1 || x > 1000 {
			return BadRequest("n", fmt.Sprintf("%q is not within 1–1000", v))
		}
		n = x
	}
	out, err := h.c.ReviewSample(r.Context(), week, n, q.Get("agent"))
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"sample": out})
}
