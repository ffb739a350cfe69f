package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is returned by the Floor's look-ups for an unknown agent,
// call or queue; handlers turn it into a 404.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when the agent or call is not in a state that
// allows the change (pause a logged-out agent); handlers turn it into 409.
var ErrConflict = errors.New("not allowed in the current state")

// Floor is what the floor endpoints need from the rest of switchboard:
// the live picture and the operator actions, plus recent calls from
// storage. The server fills it from the controller and the store; tests
// fill it from a real controller on the simulated PBX. Errors that callers
// branch on must wrap ErrNotFound or ErrConflict (or be mapped in
// Options.Errors).
type Floor struct {
	// View returns the live floor (queues, agents, live calls, nodes).
	View func() FloorView
	// LiveCalls returns the calls in progress.
	LiveCalls func() []Call
	// Login, Logout, Pause and Unpause change an agent's state.
	Login   func(ctx context.Context, agentID, reason string) error
	Logout  func(ctx context.Context, agentID, reason string) error
	Pause   func(ctx context.Context, agentID, reason string) error
	Unpause func(ctx context.Context, agentID, reason string) error
	// Hangup hangs up a live call with a Q.850 cause.
	Hangup func(ctx context.Context, callID string, cause int) error
	// RecentCalls returns up to limit finished calls, newest first.
	RecentCalls func(ctx context.Context, limit int) ([]Call, error)
	// StoredCall returns a finished call by id (ErrNotFound when unknown).
	StoredCall func(ctx context.Context, id string) (Call, error)
	// Every is the wallboard stream's interval (default 1s).
	Every time.Duration
}

// FloorRoutes are the queue, agent, call, floor and event-stream endpoints.
func FloorRoutes(f Floor) []Route {
	if f.Every <= 0 {
		f.Every = time.Second
	}
	h := &floorHandlers{f: f}
	return []Route{
		{Method: http.MethodGet, Path: "/api/v1/queues", Handle: h.queues},
		{Method: http.MethodGet, Path: "/api/v1/queues/{name}", Handle: h.queue},
		{Method: http.MethodGet, Path: "/api/v1/agents", Handle: h.agents},
		{Method: http.MethodGet, Path: "/api/v1/agents/{id}", Handle: h.agent},
		{Method: http.MethodPost, Path: "/api/v1/agents/{id}/login", Handle: h.change("login", f.Login)},
		{Method: http.MethodPost, Path: "/api/v1/agents/{id}/logout", Handle: h.change("logout", f.Logout)},
		{Method: http.MethodPost, Path: "/api/v1/agents/{id}/pause", Handle: h.change("pause", f.Pause)},
		{Method: http.MethodPost, Path: "/api/v1/agents/{id}/unpause", Handle: h.change("unpause", f.Unpause)},
		{Method: http.MethodGet, Path: "/api/v1/calls", Handle: h.calls},
		{Method: http.MethodGet, Path: "/api/v1/calls/{id}", Handle: h.call},
		{Method: http.MethodPost, Path: "/api/v1/calls/{id}/hangup", Handle: h.hangup},
		{Method: http.MethodGet, Path: "/api/v1/floor", Handle: h.floor},
		{Method: http.MethodGet, Path: "/api/v1/events", Raw: Stream("floor", f.Every, func() any { return f.View() })},
	}
}

type floorHandlers struct{ f Floor }

func (h *floorHandlers) queues(w http.ResponseWriter, r *http.Request) error {
	v := h.f.View()
	return WriteJSON(w, http.StatusOK, QueueList{At: v.At, Queues: v.Queues})
}

func (h *floorHandlers) queue(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	v := h.f.View()
	for _, q := range v.Queues {
		if q.Name != name {
			continue
		}
		d := QueueDetail{Queue: q, Calls: []Call{}}
		for _, c := range h.f.LiveCalls() {
			if c.Queue == name && c.AgentID == "" {
				d.Calls = append(d.Calls, c)
			}
		}
		sort.SliceStable(d.Calls, func(i, j int) bool { return d.Calls[i].WaitSeconds > d.Calls[j].WaitSeconds })
		return WriteJSON(w, http.StatusOK, d)
	}
	return NotFound(fmt.Sprintf("unknown queue %q", name), ErrNotFound)
}

func (h *floorHandlers) agents(w http.ResponseWriter, r *http.Request) error {
	v := h.f.View()
	return WriteJSON(w, http.StatusOK, AgentList{At: v.At, Agents: v.Agents})
}

func (h *floorHandlers) agent(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	a, ok := h.findAgent(id)
	if !ok {
		return NotFound(fmt.Sprintf("unknown agent %q", id), ErrNotFound)
	}
	return WriteJSON(w, http.StatusOK, a)
}

func (h *floorHandlers) findAgent(id string) (Agent, bool) {
	for _, a := range h.f.View().Agents {
		if a.ID == id {
			return a, true
		}
	}
	return Agent{}, false
}

// change serves one agent state change. The body is optional ({} or
// empty) except for pause, whose reason defaults to "break" when empty.
func (h *floorHandlers) change(op string, do func(context.Context, string, string) error) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		var in StateChange
		if err := Decode(r, &in, true); err != nil {
			return err
		}
		if op == "pause" && in.Reason == "" {
			in.Reason = "break"
		}
		if do == nil {
			return &Error{Status: http.StatusNotImplemented, Message: op + " is not available on this server"}
		}
		if err := do(r.Context(), id, in.Reason); err != nil {
			return agentError(op, id, err)
		}
		a, ok := h.findAgent(id)
		res := Result{OK: true}
		if ok {
			res.Agent = &a
		}
		return WriteJSON(w, http.StatusOK, res)
	}
}

func agentError(op, id string, err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("unknown agent %q", id), Err: err}
	case errors.Is(err, ErrConflict):
		return &Error{Status: http.StatusConflict, Message: fmt.Sprintf("cannot %s agent %q: %v", op, id, err), Err: err}
	}
	return fmt.Errorf("%s agent %q: %w", op, id, err)
}

// calls lists live calls first (longest first), then recent ones from
// storage, up to limit.
func (h *floorHandlers) calls(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		if k != "limit" && k != "live" {
			return BadRequest(k, fmt.Sprintf("unknown query parameter %q (want limit, live)", k))
		}
	}
	limit := 50
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return BadRequest("limit", fmt.Sprintf("want a number 1..1000, got %q", s))
		}
		limit = n
	}
	liveOnly := false
	if s := q.Get("live"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return BadRequest("live", fmt.Sprintf("want true or false, got %q", s))
		}
		liveOnly = b
	}
	live := h.f.LiveCalls()
	sort.SliceStable(live, func(i, j int) bool { return live[i].ArrivedAt.Before(live[j].ArrivedAt) })
	out := CallList{At: h.f.View().At, Calls: make([]Call, 0, limit)}
	seen := map[string]bool{}
	for _, c := range live {
		if len(out.Calls) == limit {
			break
		}
		out.Calls = append(out.Calls, c)
		seen[c.ID] = true
	}
	if !liveOnly && len(out.Calls) < limit && h.f.RecentCalls != nil {
		recent, err := h.f.RecentCalls(r.Context(), limit)
		if err != nil {
			return fmt.Errorf("reading recent calls: %w", err)
		}
		for _, c := range recent {
			if len(out.Calls) == limit {
				break
			}
			if !seen[c.ID] {
				out.Calls = append(out.Calls, c)
			}
		}
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (h *floorHandlers) call(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	for _, c := range h.f.LiveCalls() {
		if c.ID == id {
			return WriteJSON(w, http.StatusOK, c)
		}
	}
	if h.f.StoredCall != nil {
		c, err := h.f.StoredCall(r.Context(), id)
		if err == nil {
			return WriteJSON(w, http.StatusOK, c)
		}
		if !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("reading call %q: %w", id, err)
		}
	}
	return NotFound(fmt.Sprintf("unknown call %q", id), ErrNotFound)
}

func (h *floorHandlers) hangup(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in Hangup
	if err := Decode(r, &in, true); err != nil {
		return err
	}
	if in.Cause == 0 {
		in.Cause = 16
	}
	if h.f.Hangup == nil {
		return &Error{Status: http.StatusNotImplemented, Message: "hangup is not available on this server"}
	}
	if err := h.f.Hangup(r.Context(), id, in.Cause); err != nil {
		switch {
		case errors.Is(err, ErrNotFound):
			return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no live call %q", id), Err: err}
		case errors.Is(err, ErrConflict):
			return &Error{Status: http.StatusConflict, Message: fmt.Sprintf("cannot hang up call %q: %v", id, err), Err: err}
		}
		return fmt.Errorf("hanging up call %q: %w", id, err)
	}
	return WriteJSON(w, http.StatusOK, Result{OK: true})
}

func (h *floorHandlers) floor(w http.ResponseWriter, r *http.Request) error {
	return WriteJSON(w, http.StatusOK, h.f.View())
}

// Sum fills v.Totals from its queues and agents, with the controller's
// definitions: service level = answered within threshold ÷ (answered +
// abandoned, short abandons left out); abandon rate = abandoned ÷
// (answered + abandoned). Each queue's service-level base is recovered
// from its own figures, since each queue has its own threshold.
func Sum(v *FloorView) {
	t := Totals{AgentsByState: map[string]int{}}
	for _, q := range v.Queues {
		t.Waiting += q.Waiting
		if q.LongestWaitSeconds > t.LongestWaitSeconds {
			t.LongestWaitSeconds = q.LongestWaitSeconds
		}
		t.Offered += q.Offered
		t.Answered += q.Answered
		t.Abandoned += q.Abandoned
		t.AnsweredInThreshold += q.AnsweredInThreshold
		base := q.Answered + q.Abandoned
		if q.ServiceLevel > 0 && q.AnsweredInThreshold > 0 {
			base = int(float64(q.AnsweredInThreshold)/q.ServiceLevel + 0.5)
		}
		t.ServiceLevelBase += base
	}
	for _, a := range v.Agents {
		t.AgentsByState[strings.ToLower(a.State)]++
	}
	t.ServiceLevel = 1 // nobody failed yet
	if t.ServiceLevelBase > 0 {
		t.ServiceLevel = float64(t.AnsweredInThreshold) / float64(t.ServiceLevelBase)
	}
	if n := t.Answered + t.Abandoned; n > 0 {
		t.AbandonRate = float64(t.Abandoned) / float64(n)
	}
	v.Totals = t
}
