package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/controller"
)

// floor joins the controller and the store into the API's Floor.
func (s *Server) floor() api.Floor {
	h := history{store: s.store}
	return api.Floor{
		View:      s.floorView,
		LiveCalls: func() []api.Call { return liveCalls(s.ctl.Snapshot()) },
		Login: func(ctx context.Context, id, _ string) error {
			return floorErr(s.ctl.AgentLogin(ctx, id))
		},
		Logout: func(ctx context.Context, id, _ string) error {
			return floorErr(s.ctl.AgentLogout(ctx, id))
		},
		Pause: func(ctx context.Context, id, reason string) error {
			return floorErr(s.ctl.AgentPause(ctx, id, reason))
		},
		Unpause: func(ctx context.Context, id, _ string) error {
			return floorErr(s.ctl.AgentUnpause(ctx, id))
		},
		Hangup: func(ctx context.Context, id string, cause int) error {
			return floorErr(s.ctl.HangupCall(ctx, id, cause))
		},
		RecentCalls: h.recent,
		StoredCall:  h.call,
	}
}

// floorErr maps the controller's sentinels onto the API's.
func floorErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, controller.ErrUnknownAgent), errors.Is(err, controller.ErrUnknownCall):
		return fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, controller.ErrInvalidState):
		return fmt.Errorf("%w: %w", api.ErrConflict, err)
	}
	return err
}

func (s *Server) floorView() api.FloorView { return FloorView(s.ctl.Snapshot()) }

// FloorView copies a controller snapshot into the API's shapes (totals
// summed by api.Sum): what GET /api/v1/floor serves, and so what
// `switchboard stats` prints. Exported so a test can put a controller on
// a manual clock behind the very view the server gives.
func FloorView(snap controller.Snapshot) api.FloorView {
	v := api.FloorView{At: snap.At, Queues: make([]api.Queue, 0, len(snap.Queues)), Agents: make([]api.Agent, 0, len(snap.Agents)), Nodes: []api.Node{}}
	for _, q := range snap.Queues {
		v.Queues = append(v.Queues, api.Queue{
			Name: q.Name, Waiting: q.Waiting, LongestWaitSeconds: q.LongestWaitSeconds,
			Offered: q.Offered, Answered: q.Answered, AnsweredInThreshold: q.AnsweredInSL, Abandoned: q.Abandoned,
			ServiceLevel: q.ServiceLevel, ServiceLevelGoal: q.ServiceLevelGoal, ServiceLevelThresholdSeconds: q.ServiceLevelThresholdSeconds,
			AbandonRate: q.AbandonRate, AvgWaitSeconds: q.AvgWaitSeconds, AvgHandleSeconds: q.AvgHandleSeconds,
			AgentsByState: q.AgentsByState, CallbacksWaiting: q.CallbacksWaiting,
		})
	}
	for _, a := range snap.Agents {
		v.Agents = append(v.Agents, api.Agent{ID: a.ID, Name: a.Name, State: string(a.State), Reason: a.Reason, Since: a.Since,
			CallID: a.CallID, Queues: a.Queues, Skills: a.Skills})
	}
	for _, n := range snap.Nodes {
		v.Nodes = append(v.Nodes, api.Node{Name: n.Node, Up: n.Up, Standby: n.Standby, Error: n.Error})
	}
	api.Sum(&v)
	return v
}

func liveCalls(snap controller.Snapshot) []api.Call {
	out := make([]api.Call, 0, len(snap.Calls))
	for _, c := range snap.Calls {
		ac := api.Call{ID: c.ID, Live: true, State: c.State, Queue: c.Queue, AgentID: c.AgentID,
			CallerNumber: c.CallerNumber, DialedNumber: c.DialedNumber, Node: c.Node, ArrivedAt: c.ArrivedAt,
			WaitSeconds: c.WaitSeconds}
		if !c.AnsweredAt.IsZero() {
			t := c.AnsweredAt
			ac.AnsweredAt = &t
			ac.TalkSeconds = snap.At.Sub(t).Seconds()
		}
		detail := map[string]any{}
		if len(c.Traces) > 0 {
			detail["traces"], detail["priority"], detail["offers"] = c.Traces, c.Priority, c.Offers
		}
		if len(c.Snoops) > 0 {
			sups := make([]api.Supervisor, 0, len(c.Snoops))
			for _, sn := range c.Snoops {
				sups = append(sups, api.Supervisor{Leg: api.Leg{Node: sn.Leg.Node, ID: sn.Leg.ID}, Mode: string(sn.Mode),
					Endpoint: sn.Endpoint, Since: sn.Since, Answered: sn.Answered})
			}
			detail["snoops"] = sups
		}
		if len(detail) > 0 {
			ac.Detail = detail
		}
		out = append(out, ac)
	}
	return out
}
