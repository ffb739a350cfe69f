package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// CallbackRequest is the body of POST /api/v1/callbacks (a scheduled
// callback); the fields mirror `switchboard callback schedule`.
type CallbackRequest struct {
	Number        string `json:"number"`
	Queue         string `json:"queue"`
	At            string `json:"at,omitempty"`
	Window        string `json:"window,omitempty"`
	TZ            string `json:"tz,omitempty"`
	Agent         string `json:"agent,omitempty"`
	AgentDeadline string `json:"agent_deadline,omitempty"`
	Attempts      int    `json:"attempts,omitempty"`
	Interval      string `json:"interval,omitempty"`
	Priority      int    `json:"priority,omitempty"`
	Note          string `json:"note,omitempty"`
}

// CallbackReschedule is the body of POST /api/v1/callbacks/{id}/reschedule.
type CallbackReschedule struct {
	At     string `json:"at"`
	Window string `json:"window,omitempty"`
	TZ     string `json:"tz,omitempty"`
}

// CallbackCancel is the (optional) body of POST /api/v1/callbacks/{id}/cancel.
type CallbackCancel struct {
	Reason string `json:"reason,omitempty"`
}

// CallbackQuery filters GET /api/v1/callbacks.
type CallbackQuery struct {
	States []string
	Queue  string
	Agent  string
	Limit  int
}

// Callbacks is the callbacks desk as the API needs it; the server fills it
// from callbacks.Desk. Results are rendered as JSON as they are.
type Callbacks struct {
	List       func(ctx context.Context, q CallbackQuery) (any, error)
	Get        func(ctx context.Context, id string) (any, error)
	Schedule   func(ctx context.Context, r CallbackRequest, actor string) (any, error)
	Cancel     func(ctx context.Context, id, actor, reason string) error
	Reschedule func(ctx context.Context, id, actor string, r CallbackReschedule) (any, error)
	// Stats covers [from, to); a zero bound is the desk's choice (to: its
	// clock's now, from: 24 hours before to), so an accelerated demo
	// clock is honoured.
	Stats func(ctx context.Context, from, to time.Time) (any, error)
	// NotFound and Conflict are the desk's sentinels (unknown callback;
	// state does not allow the change).
	NotFound error
	Conflict error
}

// CallbackRoutes returns the callback endpoints.
func CallbackRoutes(c Callbacks) []Route {
	h := &callbackHandlers{c: c}
	return []Route{
		{Method: http.MethodGet, Path: "/api/v1/callbacks", Handle: h.list},
		{Method: http.MethodPost, Path: "/api/v1/callbacks", Handle: h.schedule},
		{Method: http.MethodGet, Path: "/api/v1/callbacks/stats", Handle: h.stats},
		{Method: http.MethodGet, Path: "/api/v1/callbacks/{id}", Handle: h.get},
		{Method: http.MethodPost, Path: "/api/v1/callbacks/{id}/cancel", Handle: h.cancel},
		{Method: http.MethodPost, Path: "/api/v1/callbacks/{id}/reschedule", Handle: h.reschedule},
	}
}

type callbackHandlers struct{ c Callbacks }

// mapErr turns desk errors into API errors: validation errors name their
// field (400), unknown callbacks are 404, state conflicts 409.
func (h *callbackHandlers) mapErr(err error) error {
	var fe interface{ FirstField() string }
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Field: fe.FirstField(), Message: err.Error(), Err: err}
	case h.c.NotFound != nil && errors.Is(err, h.c.NotFound):
		return &Error{Status: http.StatusNotFound, Message: err.Error(), Err: err}
	case h.c.Conflict != nil && errors.Is(err, h.c.Conflict):
		return &Error{Status: http.StatusConflict, Message: err.Error(), Err: err}
	}
	return err
}

func actor(r *http.Request) string {
	if a := r.Header.Get("X-Switchboard-Actor"); a != "" {
		return a
	}
	return "api"
}

func (h *callbackHandlers) list(w http.ResponseWriter, r *http.Request) error {
	q := CallbackQuery{Queue: r.URL.Query().Get("queue"), Agent: r.URL.Query().Get("agent")}
	if s := r.URL.Query().Get("state"); s != "" {
		q.States = strings.Split(s, ",")
	}
	out, err := h.c.List(r.Context(), q)
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"callbacks": out})
}

func (h *callbackHandlers) get(w http.ResponseWriter, r *http.Request) error {
	out, err := h.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (h *callbackHandlers) schedule(w http.ResponseWriter, r *http.Request) error {
	var req CallbackRequest
	if err := Decode(r, &req, false); err != nil {
		return err
	}
	out, err := h.c.Schedule(r.Context(), req, actor(r))
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusCreated, out)
}

func (h *callbackHandlers) cancel(w http.ResponseWriter, r *http.Request) error {
	var req CallbackCancel
	if err := Decode(r, &req, true); err != nil {
		return err
	}
	if err := h.c.Cancel(r.Context(), r.PathValue("id"), actor(r), req.Reason); err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id"), "state": "cancelled"})
}

func (h *callbackHandlers) reschedule(w http.ResponseWriter, r *http.Request) error {
	var req CallbackReschedule
	if err := Decode(r, &req, false); err != nil {
		return err
	}
	out, err := h.c.Reschedule(r.Context(), r.PathValue("id"), actor(r), req)
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (h *callbackHandlers) stats(w http.ResponseWriter, r *http.Request) error {
	var from, to time.Time
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if s := r.URL.Query().Get(name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return BadRequest(name, "not an RFC 3339 time")
			}
			*dst = t
		}
	}
	out, err := h.c.Stats(r.Context(), from, to)
	if err != nil {
		return h.mapErr(err)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"queues": out})
}
