package recordings

import (
	"context"
	"io"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/recordings/review"
	"github.com/switchboard-cc/switchboard/storage"
)

// API is the desk as the HTTP API's func table (api.RecordingRoutes).
func (d *Desk) API() api.Recordings {
	return api.Recordings{
		Search: func(ctx context.Context, f storage.RecordingFilter) (any, string, error) {
			out, next, err := d.Search(ctx, f)
			if out == nil {
				out = []storage.Recording{}
			}
			return out, next, err
		},
		Export: func(ctx context.Context, f storage.RecordingFilter, format string, w io.Writer) (int, error) {
			return d.Export(ctx, f, format, w)
		},
		Get:   func(ctx context.Context, id string) (any, error) { return d.Show(ctx, id) },
		Start: d.Start,
		Stop:  d.Stop,
		Pause: func(ctx context.Context, id, by, reason string) (any, error) { return d.Pause(ctx, id, by, reason) },
		Resume: func(ctx context.Context, id, by string) (any, error) {
			return d.Resume(ctx, id, by)
		},
		Tag:       d.Tag,
		Hold:      d.Hold,
		Exemplary: d.Exemplary,
		Purge: func(ctx context.Context, olderThan time.Duration, dryRun bool, actor string) (any, error) {
			return d.Purge(ctx, PurgeOptions{OlderThan: olderThan, DryRun: dryRun, Actor: actor})
		},
		Scorecards: func(ctx context.Context) (any, error) { return d.Scorecards(ctx) },
		ApplyScorecards: func(ctx context.Context, filename string, data []byte, actor string) (any, error) {
			return d.ApplyScorecards(ctx, filename, data, actor)
		},
		Scorecard: func(ctx context.Context, name string, version int) (any, error) {
			return d.ScorecardVersion(ctx, name, version)
		},
		ScorecardHistory: func(ctx context.Context, name string) (any, error) { return d.ScorecardHistory(ctx, name) },
		AgentPause: func(ctx context.Context, agentID, by, reason string) (any, error) {
			return d.AgentPause(ctx, agentID, by, reason)
		},
		AgentResume: func(ctx context.Context, agentID, by string) (any, error) { return d.AgentResume(ctx, agentID, by) },
		Evaluate: func(ctx context.Context, req api.EvaluationRequest) (any, error) {
			in := EvaluationInput{RecordingID: req.RecordingID, Scorecard: req.Scorecard, Version: req.Version, Reviewer: req.Reviewer,
				Notes: req.Notes, Exemplary: req.Exemplary}
			for _, m := range req.Marks {
				in.Marks = append(in.Marks, review.Mark{Criterion: m.Criterion, Score: m.Score, NA: m.NA})
			}
			for _, c := range req.Comments {
				in.Comments = append(in.Comments, CommentInput{At: c.At, Text: c.Text})
			}
			ev, res, err := d.Evaluate(ctx, in)
			if err != nil {
				return nil, err
			}
			return map[string]any{"evaluation": ev, "result": res}, nil
		},
		Comment: func(ctx context.Context, evaluationID, author, at, text string) (any, error) {
			return d.Comment(ctx, evaluationID, author, at, text)
		},
		Averages: func(ctx context.Context, by string, from, to time.Time) (any, error) {
			out, err := d.Averages(ctx, by, from, to)
			if out == nil && err == nil {
				out = []storage.ScoreAverage{}
			}
			return out, err
		},
		ReviewSample: func(ctx context.Context, week time.Time, n int, agent string) (any, error) {
			out, err := d.ReviewSample(ctx, week, n, agent)
			if out == nil && err == nil {
				out = []storage.ReviewSampleItem{}
			}
			return out, err
		},
		NotFound:    []error{storage.ErrNotFound, ErrNoCall},
		Conflict:    []error{storage.ErrRecordingState, ErrAlreadyRecording, ErrNotAllowed, ErrNotRecording},
		BadInput:    []error{review.ErrInvalid, review.ErrScore, storage.ErrBadFilter},
		Unavailable: []error{ErrNoPBX, adapters.ErrUnreachable},
	}
}
