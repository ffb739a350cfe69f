package recordings

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
)

// PurgeStore is what a purge needs from storage.
type PurgeStore interface {
	PurgeCandidates(ctx context.Context, f storage.PurgeFilter) ([]storage.Recording, int64, error)
	PurgeRecording(ctx context.Context, id string, f storage.PurgeFilter, actor, detail string) error
}

// PurgeOptions say what to purge.
type PurgeOptions struct {
	// OlderThan also selects recordings started before now-OlderThan that
	// have no retention date (0: only recordings past their retention date).
	OlderThan time.Duration `json:"older_than"`
	// DryRun lists what would go and changes nothing.
	DryRun bool   `json:"dry_run"`
	Actor  string `json:"actor"`
	// Limit bounds how many recordings one run handles (default 100,000).
	Limit int `json:"limit,omitempty"`
}

// PurgeItem is one recording in a purge report.
type PurgeItem struct {
	ID        string    `json:"id"`
	CallID    string    `json:"call_id"`
	StartedAt time.Time `json:"started_at"`
	Path      string    `json:"path,omitempty"`
	// File says what happened (or would happen) to the file.
	File  string `json:"file"`
	Error string `json:"error,omitempty"`
}

// PurgeReport is the outcome of a purge (or of its dry run).
type PurgeReport struct {
	DryRun bool        `json:"dry_run"`
	Now    time.Time   `json:"now"`
	Purged []PurgeItem `json:"purged"`
	// Failed recordings keep their metadata: a file that could not be
	// deleted must stay findable, and the next purge tries again.
	Failed []PurgeItem `json:"failed,omitempty"`
	// Held counts recordings otherwise due that a legal hold exempts.
	Held int64 `json:"held"`
}

// Purge deletes recordings due for deletion: first the file (through
// purge_command, or directly under the node's root), then the metadata
// with an audit entry. A dry run reports the same selection and changes
// nothing.
func Purge(ctx context.Context, st PurgeStore, cfg Config, now time.Time, o PurgeOptions) (*PurgeReport, error) {
	cfg.Defaults()
	if o.OlderThan < 0 {
		return nil, fmt.Errorf("purge: older_than %s is negative", o.OlderThan)
	}
	if strings.TrimSpace(o.Actor) == "" {
		return nil, fmt.Errorf("purge: actor is required (it goes into the audit log)")
	}
	limit := o.Limit
	if limit <= 0 {
		limit = 100000
	}
	f := storage.PurgeFilter{Now: now.UTC(), OlderThan: o.OlderThan, Limit: 1000}
	rep := &PurgeReport{DryRun: o.DryRun, Now: f.Now, Purged: []PurgeItem{}}
	failed := map[string]bool{}
	for len(rep.Purged)+len(rep.Failed) < limit {
		due, held, err := st.PurgeCandidates(ctx, f)
		if err != nil {
			return rep, err
		}
		rep.Held = held
		progressed := false
		for _, r := range due {
			if failed[r.ID] || len(rep.Purged)+len(rep.Failed) >= limit {
				continue
			}
			it := PurgeItem{ID: r.ID, CallID: r.CallID, StartedAt: r.StartedAt, Path: r.Path}
			if o.DryRun {
				it.File = fileAction(cfg, &r)
				rep.Purged = append(rep.Purged, it)
				progressed = true
				continue
			}
			what, err := deleteFile(ctx, cfg, &r)
			it.File = what
			if err == nil {
				err = st.PurgeRecording(ctx, r.ID, f, o.Actor, fmt.Sprintf("path=%s file=%s older_than=%s", r.Path, what, o.OlderThan))
			}
			if err != nil {
				it.Error = err.Error()
				rep.Failed = append(rep.Failed, it)
				failed[r.ID] = true
				continue
			}
			rep.Purged = append(rep.Purged, it)
			progressed = true
		}
		// A dry run sees the same first page again and again; a real run
		// that made no progress would too.
		if o.DryRun || !progressed || len(due) < f.Limit {
			if o.DryRun && len(due) == f.Limit {
				rep.Purged = append(rep.Purged, PurgeItem{ID: "…", File: "more than 1000 due; the dry run lists the first 1000"})
			}
			break
		}
	}
	return rep, nil
}

func fileAction(cfg Config, r *storage.Recording) string {
	switch {
	case len(cfg.PurgeCommand) > 0:
		return "purge_command"
	case cfg.LocalPath(r) != "":
		return "delete " + cfg.LocalPath(r)
	default:
		return "left on the PBX (no purge_command and no root for node " + r.Node + ")"
	}
}

// deleteFile removes a recording's file. The command runs without a
// shell, so a file name can never become shell syntax.
func deleteFile(ctx context.Context, cfg Config, r *storage.Recording) (string, error) {
	if len(cfg.PurgeCommand) > 0 {
		rep := strings.NewReplacer("{path}", r.Path, "{name}", r.PBXName, "{node}", r.Node, "{id}", r.ID)
		args := make([]string, len(cfg.PurgeCommand))
		for i, a := range cfg.PurgeCommand {
			args[i] = rep.Replace(a)
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.PurgeTimeout)
		defer cancel()
		out, err := exec.CommandContext(cctx, args[0], args[1:]...).CombinedOutput()
		if err != nil {
			msg := strings.TrimSpace(string(out))
			if len(msg) > 200 {
				msg = msg[:200]
			}
			return "purge_command failed", fmt.Errorf("purge_command %q for recording %s: %w: %s", args, r.ID, err, msg)
		}
		return "purge_command ok", nil
	}
	if p := cfg.LocalPath(r); p != "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "delete failed", fmt.Errorf("delete %s for recording %s: %w", p, r.ID, err)
		} else if err != nil {
			return "already gone", nil
		}
		return "deleted", nil
	}
	return "left on the PBX", nil
}
