package callbacks

import (
	"context"
	"time"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/storage"
)

// Shown is one callback with its attempts, as `callback show` and
// GET /api/v1/callbacks/{id} present it.
type Shown struct {
	storage.Callback
	AttemptLog []storage.CallbackAttempt `json:"attempt_log"`
}

// API returns the desk as the HTTP API needs it; mount it with
// api.CallbackRoutes(desk.API()).
func (d *Desk) API() api.Callbacks {
	return api.Callbacks{
		List: func(ctx context.Context, q api.CallbackQuery) (any, error) {
			return d.List(ctx, storage.CallbackFilter{States: q.States, Queue: q.Queue, Agent: q.Agent, Limit: q.Limit})
		},
		Get: func(ctx context.Context, id string) (any, error) {
			cb, atts, err := d.Get(ctx, id)
			if err != nil {
				return nil, err
			}
			return Shown{Callback: *cb, AttemptLog: atts}, nil
		},
		Schedule: func(ctx context.Context, r api.CallbackRequest, actor string) (any, error) {
			return d.Schedule(ctx, Request{Number: r.Number, Queue: r.Queue, At: r.At, Window: r.Window, TZ: r.TZ, Agent: r.Agent,
				AgentDeadline: r.AgentDeadline, Attempts: r.Attempts, Interval: r.Interval, Priority: r.Priority, Note: r.Note, CreatedBy: actor})
		},
		Cancel: func(ctx context.Context, id, actor, reason string) error {
			if reason == "" {
				reason = "cancelled by " + actor
			}
			return d.Cancel(ctx, id, actor, reason)
		},
		Reschedule: func(ctx context.Context, id, actor string, r api.CallbackReschedule) (any, error) {
			return d.Reschedule(ctx, id, actor, r.At, r.Window, r.TZ)
		},
		Stats: func(ctx context.Context, from, to time.Time) (any, error) {
			return d.Stats(ctx, from, to)
		},
		NotFound: ErrNotFound,
		Conflict: ErrState,
	}
}
