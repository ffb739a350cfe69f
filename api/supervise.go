package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// Supervisor monitoring: a supervisor's phone is rung and joined to a call
// that is talking to an agent, to listen (hears both sides), whisper (the
// agent hears the supervisor, the caller does not) or barge (both hear).
// The supervisor's leg belongs to the call: it is listed with the live
// call, stored with the call's legs (role "snoop") and hung up when the
// call ends; the supervisor may also leave before.

// Snoop modes accepted by POST /api/v1/calls/{id}/snoop.
const (
	SnoopListen  = "listen"
	SnoopWhisper = "whisper"
	SnoopBarge   = "barge"
)

// maxEndpoint is the longest endpoint accepted: the legs table keeps 255.
const maxEndpoint = 255

// SnoopRequest is the body of POST /api/v1/calls/{id}/snoop.
type SnoopRequest struct {
	// Mode is listen, whisper or barge.
	Mode string `json:"mode"`
	// Endpoint is the supervisor's phone as the PBX dials it, like an
	// agent's: PJSIP/2001, Local/2001@supervisors, user/2001,
	// sofia/internal/2001@pbx.example.
	Endpoint string `json:"endpoint"`
}

// Validate checks the mode and the endpoint.
func (s *SnoopRequest) Validate() error {
	switch s.Mode {
	case SnoopListen, SnoopWhisper, SnoopBarge:
	case "":
		return BadRequest("mode", "required: listen, whisper or barge")
	default:
		return BadRequest("mode", fmt.Sprintf("%q is not listen, whisper or barge", s.Mode))
	}
	return validEndpoint(s.Endpoint)
}

// validEndpoint refuses what no dial string holds and what would change
// the PBX command built from it: white space ends FreeSWITCH's originate
// argument (what follows would be run as the application), braces and
// angle brackets open a block of channel variables.
func validEndpoint(ep string) error {
	switch {
	case ep == "":
		return BadRequest("endpoint", "required: the supervisor's phone as the PBX dials it (PJSIP/2001, user/2001, …)")
	case len(ep) > maxEndpoint:
		return BadRequest("endpoint", fmt.Sprintf("at most %d characters", maxEndpoint))
	case !strings.Contains(ep, "/"):
		return BadRequest("endpoint", fmt.Sprintf("%q is not a dial string: want technology/resource (PJSIP/2001, user/2001, …)", ep))
	}
	for _, r := range ep {
		switch {
		case r == unicode.ReplacementChar:
			return BadRequest("endpoint", "not valid UTF-8")
		case unicode.IsSpace(r):
			return BadRequest("endpoint", "white space is not allowed")
		case unicode.IsControl(r):
			return BadRequest("endpoint", "control characters are not allowed")
		case strings.ContainsRune("{}<>[]", r):
			return BadRequest("endpoint", fmt.Sprintf("%q is not allowed: channel variables cannot be set through the endpoint", r))
		}
	}
	return nil
}

// Leg names one PBX leg: the node it is on and its id there.
type Leg struct {
	Node string `json:"node"`
	ID   string `json:"id"`
}

// Supervisor is one supervisor on a live call, listed under "snoops" in
// the call's detail (GET /api/v1/calls/{id}).
type Supervisor struct {
	Leg      Leg       `json:"leg"`
	Mode     string    `json:"mode"`
	Endpoint string    `json:"endpoint"`
	Since    time.Time `json:"since"`
	// Answered is false while the supervisor's phone rings.
	Answered bool `json:"answered"`
}

// Snoop is the answer to POST /api/v1/calls/{id}/snoop: the supervisor's
// leg, to be named when ending it.
type Snoop struct {
	CallID   string `json:"call_id"`
	Mode     string `json:"mode"`
	Endpoint string `json:"endpoint"`
	Leg      Leg    `json:"leg"`
}

// SnoopEnd is the answer to DELETE /api/v1/calls/{id}/snoop[/{leg}]: the
// supervisor legs hung up. The call goes on.
type SnoopEnd struct {
	CallID string `json:"call_id"`
	Ended  []Leg  `json:"ended"`
}

// Supervision is what the supervisor endpoints need; the server fills it
// from the controller. Errors wrap ErrNotFound (no such live call, or no
// such supervisor on it), ErrConflict (the call is not talking to an
// agent) or are *Error values; others are mapped by Options.Errors (an
// unreachable PBX is a 503).
type Supervision struct {
	// Snoop rings endpoint and joins it to the call in mode.
	Snoop func(ctx context.Context, callID, mode, endpoint string) (Leg, error)
	// EndSnoop hangs up the call's supervisor leg legID, or all of them
	// when legID is empty, and returns the legs hung up.
	EndSnoop func(ctx context.Context, callID, legID string) ([]Leg, error)
}

// SupervisionRoutes are the supervisor listen, whisper and barge endpoints.
func SupervisionRoutes(s Supervision) []Route {
	h := &superviseHandlers{s: s}
	return []Route{
		{Method: http.MethodPost, Path: "/api/v1/calls/{id}/snoop", Handle: h.snoop},
		{Method: http.MethodDelete, Path: "/api/v1/calls/{id}/snoop", Handle: h.end},
		{Method: http.MethodDelete, Path: "/api/v1/calls/{id}/snoop/{leg}", Handle: h.end},
	}
}

type superviseHandlers struct{ s Supervision }

func (h *superviseHandlers) snoop(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in SnoopRequest
	if err := Decode(r, &in, false); err != nil {
		return err
	}
	if h.s.Snoop == nil {
		return &Error{Status: http.StatusNotImplemented, Message: "supervisor monitoring is not available on this server"}
	}
	leg, err := h.s.Snoop(r.Context(), id, in.Mode, in.Endpoint)
	if err != nil {
		return superviseError(err)
	}
	w.Header().Set("Location", "/api/v1/calls/"+url.PathEscape(id)+"/snoop/"+url.PathEscape(leg.ID))
	return WriteJSON(w, http.StatusCreated, Snoop{CallID: id, Mode: in.Mode, Endpoint: in.Endpoint, Leg: leg})
}

func (h *superviseHandlers) end(w http.ResponseWriter, r *http.Request) error {
	id, leg := r.PathValue("id"), r.PathValue("leg")
	if h.s.EndSnoop == nil {
		return &Error{Status: http.StatusNotImplemented, Message: "supervisor monitoring is not available on this server"}
	}
	legs, err := h.s.EndSnoop(r.Context(), id, leg)
	if err != nil {
		return superviseError(err)
	}
	if legs == nil {
		legs = []Leg{}
	}
	return WriteJSON(w, http.StatusOK, SnoopEnd{CallID: id, Ended: legs})
}

// superviseError keeps *Error values, turns ErrNotFound and ErrConflict
// into 404 and 409 with the error's own words (they name the call), and
// leaves the rest to Options.Errors.
func superviseError(err error) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, ErrNotFound):
		return &Error{Status: http.StatusNotFound, Message: err.Error(), Err: err}
	case errors.Is(err, ErrConflict):
		return &Error{Status: http.StatusConflict, Message: err.Error(), Err: err}
	}
	return err
}
