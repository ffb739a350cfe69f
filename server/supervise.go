package server

import (
	"context"
	"errors"
	"fmt"

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

// supervisionErr maps the controller's and the PBX's refusals onto the
// API's; an unreachable PBX or a node in standby stay as they are (503
// through the server's error table).
func supervisionErr(err error) error {
	switch {
	case errors.Is(err, controller.ErrBadRequest):
		// The API validated the request already; this is the controller's
		// own check agreeing.
		return api.BadRequest("", err.Error())
	case errors.Is(err, controller.ErrUnknownSnoop):
		return fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, adapters.ErrUnknownLeg):
		// The agent's leg went between the check and the command: the
		// call is no longer talking to an agent.
		return fmt.Errorf("%w: %w", api.ErrConflict, err)
	}
	return floorErr(err)
}
