package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/storage"
)

// history serves recent and stored calls to the API from the store.
type history struct{ store *storage.Store }

// recent returns up to limit finished calls, newest first. Calls still in
// progress are the controller's to report; the store may hold them too,
// and the API skips those it already listed as live.
func (h history) recent(ctx context.Context, limit int) ([]api.Call, error) {
	rows, err := h.store.Calls(ctx, storage.CallFilter{Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]api.Call, 0, len(rows))
	for _, c := range rows {
		out = append(out, storedCall(c))
	}
	return out, nil
}

func (h history) call(ctx context.Context, id string) (api.Call, error) {
	c, err := h.store.Call(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return api.Call{}, fmt.Errorf("%w: %w", api.ErrNotFound, err)
	}
	if err != nil {
		return api.Call{}, err
	}
	out := storedCall(*c)
	// call show explains routing: the stored trace, legs and waits.
	detail := map[string]any{}
	if c.Trace != "" {
		var tr any
		if json.Unmarshal([]byte(c.Trace), &tr) == nil {
			detail["trace"] = tr
		} else {
			detail["trace"] = c.Trace
		}
	}
	if legs, err := h.store.CallLegs(ctx, id); err == nil && len(legs) > 0 {
		detail["legs"] = legs
	}
	if waits, err := h.store.CallWaits(ctx, id); err == nil && len(waits) > 0 {
		detail["waits"] = waits
	}
	if c.EndReason != "" {
		detail["end_reason"] = c.EndReason
	}
	if len(detail) > 0 {
		out.Detail = detail
	}
	return out, nil
}

func storedCall(c storage.Call) api.Call {
	state := "ended"
	switch {
	case c.EndedAt != nil:
	case c.AnsweredAt != nil:
		state = "on_call"
	case c.OfferedAt != nil:
		state = "offered"
	case c.EnqueuedAt != nil:
		state = "queued"
	default:
		state = "arrived"
	}
	return api.Call{
		ID: c.ID, Live: false, State: state, Queue: c.Queue, AgentID: c.AgentID,
		CallerNumber: c.CallerNumber, DialedNumber: c.DialedNumber, Node: c.Node,
		ArrivedAt: c.ArrivedAt, AnsweredAt: c.AnsweredAt, EndedAt: c.EndedAt,
		WaitSeconds: c.WaitSeconds, TalkSeconds: c.TalkSeconds, Outcome: c.Outcome,
	}
}
