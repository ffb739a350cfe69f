package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/controller"
)

// supervision joins the controller's supervisor monitoring to the API.
func (s *Server) supervision() api.Supervision {
	return api.Supervision{
		Snoop: func(ctx context.Context, callID, mode, endpoint string) (api.Leg, error) {
			leg, err := s.ctl.SnoopCall(ctx, callID, adapters.SnoopMode(mode), endpoint)
			if err != nil {
				return api.Leg{}, supervisionErr(err)
			}
			return api.Leg{Node: leg.Node, ID: leg.ID}, nil
		},
		EndSnoop: func(ctx context.Context, callID, legID string) ([]api.Leg, error) {
			legs, err := s.ctl.EndSnoop(ctx, callID, legID)
			if err != nil {
				return nil, supervisionErr(err)
			}
			out := make([]api.Leg, 0, len(legs))
			for _, l := range legs {
				out = append(out, api.Leg{Node: l.Node, ID: l.ID})
			}
			return out, nil
		},
	}
}

// supervisionErr turns the controller's refusals into API errors in
// words for the supervisor: 400 (the API validated the request already;
// this is the controller's own check agreeing), 404 for an unknown call or
// supervisor, 409 for a call not talking to an agent. An unreachable PBX
// or a node in standby stay as they are: 503 through the server's table.
func supervisionErr(err error) error {
	msg := func(sentinel error) string { return strings.TrimPrefix(err.Error(), sentinel.Error()+": ") }
	switch {
	case errors.Is(err, controller.ErrBadRequest):
		return &api.Error{Status: http.StatusBadRequest, Message: msg(controller.ErrBadRequest), Err: err}
	case errors.Is(err, controller.ErrUnknownCall):
		return &api.Error{Status: http.StatusNotFound, Message: "no live call " + msg(controller.ErrUnknownCall), Err: err}
	case errors.Is(err, controller.ErrUnknownSnoop):
		return &api.Error{Status: http.StatusNotFound, Message: msg(controller.ErrUnknownSnoop), Err: err}
	case errors.Is(err, controller.ErrInvalidState):
		return &api.Error{Status: http.StatusConflict, Message: msg(controller.ErrInvalidState), Err: err}
	case errors.Is(err, adapters.ErrUnknownLeg):
		// The agent's leg went between the check and the command: the
		// call is no longer talking to an agent.
		return &api.Error{Status: http.StatusConflict, Message: "the call is no longer talking to an agent: " + err.Error(), Err: err}
	}
	return err
}
