package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/recordings"
	"github.com/switchboard-cc/switchboard/recordings/review"
	"github.com/switchboard-cc/switchboard/storage"
)

func newRecordingsCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "recordings",
		Aliases: []string{"recording"},
		Short:   "Recording metadata, quality review and retention (see docs/recordings.md)",
		Long: `recordings works on a running server's recording metadata: search and export,
everything known about one recording, start/stop/pause/resume on the PBX,
tags, legal hold, the library of model calls, purge, scorecards,
evaluations, averages and the weekly review sample.

Who acts (--by, --reviewer) defaults to $SWITCHBOARD_USER, then $USER; it is
stored with pause spans and evaluations and written to the audit log.`,
	}
	cmd.AddCommand(
		newRecListCmd(app, "list", false),
		newRecListCmd(app, "search", false),
		newRecListCmd(app, "library", true),
		newRecShowCmd(app),
		newRecExportCmd(app),
		newRecStartCmd(app),
		newRecStopCmd(app),
		newRecPauseCmd(app, true),
		newRecPauseCmd(app, false),
		newRecTagCmd(app),
		newRecHoldCmd(app),
		newRecExemplaryCmd(app),
		newRecPurgeCmd(app),
		newRecScorecardsCmd(app),
		newRecEvaluationsCmd(app),
		newRecEvaluateCmd(app, "evaluate"),
		newRecAveragesCmd(app),
		newRecReviewCmd(app),
	)
	return cmd
}

// actorOr is who acts: the flag, else $SWITCHBOARD_USER / $USER; flag
// names the flag for the usage error when neither is set.
func actorOr(app *App, v, flag string) (string, error) {
	if v == "" {
		v = defaultAuthor(app)
	}
	if strings.TrimSpace(v) == "" {
		return "", usagef("%s: who acts is required (or set SWITCHBOARD_USER)", flag)
	}
	return v, nil
}

// ---------------------------------------------------------------- filters

// recFilter holds the search flags shared by list, search, library and export.
type recFilter struct {
	from, to, agent, queue, caller, call, node, tag, status string
	minScore, maxScore, minDur, maxDur, held                string
	exemplary                                               bool
	paging                                                  bool
	limit                                                   int
	cursor                                                  string
}

func (f *recFilter) bind(fl *pflag.FlagSet, paging bool) {
	fl.StringVar(&f.from, "from", "", "started at or after: RFC 3339, a date (2026-11-22, UTC) or an age (24h, 7d = that long ago)")
	fl.StringVar(&f.to, "to", "", "started before (same forms as --from)")
	fl.StringVar(&f.agent, "agent", "", "only this agent")
	fl.StringVar(&f.queue, "queue", "", "only this queue")
	fl.StringVar(&f.caller, "caller", "", "only this caller number (exact)")
	fl.StringVar(&f.call, "call", "", "only this call id")
	fl.StringVar(&f.node, "node", "", "only this PBX node")
	fl.StringVar(&f.tag, "tag", "", "only recordings with this tag")
	fl.StringVar(&f.status, "status", "", "recording, pending, finished, failed or missing")
	fl.StringVar(&f.minScore, "min-score", "", "evaluation score at least (0–100)")
	fl.StringVar(&f.maxScore, "max-score", "", "evaluation score at most (0–100)")
	fl.StringVar(&f.minDur, "min-duration", "", "at least this long (90s, 5m)")
	fl.StringVar(&f.maxDur, "max-duration", "", "at most this long")
	fl.StringVar(&f.held, "held", "", "true: only under legal hold; false: only not held")
	f.paging = paging
	if paging {
		fl.IntVar(&f.limit, "limit", 50, "recordings per page (1–10000)")
		fl.StringVar(&f.cursor, "cursor", "", "continue after the page that printed this cursor")
	}
}

// query checks the flags (a mistake is a usage error naming the flag) and
// builds the API's query string.
func (f *recFilter) query(now time.Time) (url.Values, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	for _, tf := range []struct{ flag, key, v string }{{"--from", "from", f.from}, {"--to", "to", f.to}} {
		if tf.v == "" {
			continue
		}
		t, err := parseWhen(tf.v, now)
		if err != nil {
			return nil, usagef("%s: %v", tf.flag, err)
		}
		q.Set(tf.key, t.UTC().Format(time.RFC3339Nano))
	}
	set("agent", f.agent)
	set("queue", f.queue)
	set("caller", f.caller)
	set("call", f.call)
	set("node", f.node)
	set("tag", f.tag)
	switch f.status {
	case "", storage.RecordingActive, storage.RecordingPending, storage.RecordingFinished, storage.RecordingFailed, storage.RecordingMissing:
		set("status", f.status)
	default:
		return nil, usagef("--status %q: want recording, pending, finished, failed or missing", f.status)
	}
	for _, sf := range []struct{ flag, key, v string }{{"--min-score", "min_score", f.minScore}, {"--max-score", "max_score", f.maxScore}} {
		if sf.v == "" {
			continue
		}
		x, err := strconv.ParseFloat(sf.v, 64)
		if err != nil || x < 0 || x > 100 {
			return nil, usagef("%s %q: want a score within 0–100", sf.flag, sf.v)
		}
		q.Set(sf.key, sf.v)
	}
	for _, df := range []struct{ flag, key, v string }{{"--min-duration", "min_duration", f.minDur}, {"--max-duration", "max_duration", f.maxDur}} {
		if df.v == "" {
			continue
		}
		d, err := time.ParseDuration(df.v)
		if err != nil {
			if n, nerr := strconv.Atoi(df.v); nerr == nil {
				d, err = time.Duration(n)*time.Second, nil
			}
		}
		if err != nil || d < 0 {
			return nil, usagef("%s %q: want a duration such as 90s or 5m", df.flag, df.v)
		}
		q.Set(df.key, d.String())
	}
	if f.held != "" {
		b, err := strconv.ParseBool(f.held)
		if err != nil {
			return nil, usagef("--held %q: want true or false", f.held)
		}
		q.Set("held", strconv.FormatBool(b))
	}
	if f.exemplary {
		q.Set("exemplary", "true")
	}
	if f.paging {
		if f.limit < 1 || f.limit > 10000 {
			return nil, usagef("--limit %d: want 1–10000", f.limit)
		}
		q.Set("limit", strconv.Itoa(f.limit))
	}
	set("cursor", f.cursor)
	return q, nil
}

// parseWhen reads RFC 3339, "2006-01-02 15:04" (UTC), a date (UTC
// midnight) or an age before now ("24h", "7d", "2w").
func parseWhen(s string, now time.Time) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	if d, err := api.ParseAge(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (2026-11-22T09:00:00Z, 2026-11-22 09:00), a date or an age (24h, 7d)", s)
}

// ------------------------------------------------------------ list / show

type recPage struct {
	Recordings []storage.Recording `json:"recordings"`
	NextCursor string              `json:"next_cursor"`
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func whenPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return when(*t)
}

func score(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', -1, 64) // stored rounded to 2 decimals
}

func ms(v int64) string { return secs(float64(v) / 1000) }

// flags are one-letter marks: H legal hold, E exemplary, P paused now.
func flags(r storage.Recording) string {
	var b strings.Builder
	if r.LegalHold {
		b.WriteByte('H')
	}
	if r.Exemplary {
		b.WriteByte('E')
	}
	for _, p := range r.Pauses {
		if p.ResumedAt == nil {
			b.WriteByte('P')
			break
		}
	}
	return dash(b.String())
}

func newRecListCmd(app *App, use string, library bool) *cobra.Command {
	var f recFilter
	short := map[string]string{
		"list":    "List recordings, newest first (filters: time range, agent, queue, caller, tag, score, duration, status)",
		"search":  "Search recordings (the same as list)",
		"library": "The library of model calls for training (recordings flagged exemplary)",
	}[use]
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Example: map[string]string{
			"list":    "  switchboard recordings list --queue billing --from 7d --min-duration 5m\n  switchboard recordings list --agent 1001 --status failed -o json",
			"search":  "  switchboard recordings search --caller +4930123 --tag complaint",
			"library": "  switchboard recordings library --queue support",
		}[use],
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.exemplary = f.exemplary || library
			q, err := f.query(time.Now())
			if err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out recPage
			if err := c.Get(cmd.Context(), "/api/v1/recordings?"+q.Encode(), &out); err != nil {
				return err
			}
			if out.Recordings == nil {
				out.Recordings = []storage.Recording{}
			}
			return app.Print(out, func(t *Table) {
				if library {
					t.Header = []string{"ID", "STARTED", "DURATION", "AGENT", "QUEUE", "SCORE", "FLAGGED BY", "NOTE"}
					for _, r := range out.Recordings {
						t.Row(r.ID, when(r.StartedAt), ms(r.DurationMS), dash(r.AgentID), dash(r.Queue), score(r.Score), dash(r.ExemplaryBy), dash(r.Note))
					}
				} else {
					t.Header = []string{"ID", "STARTED", "DURATION", "STATUS", "AGENT", "QUEUE", "CALLER", "SCORE", "TAGS", "FLAGS"}
					for _, r := range out.Recordings {
						t.Row(r.ID, when(r.StartedAt), ms(r.DurationMS), r.Status, dash(r.AgentID), dash(r.Queue), dash(r.CallerNumber),
							score(r.Score), dash(strings.Join(r.Tags, ",")), flags(r))
					}
				}
				if len(out.Recordings) == 0 {
					t.Footer = append(t.Footer, "no recordings match")
				}
				if out.NextCursor != "" {
					t.Footer = append(t.Footer, fmt.Sprintf("more: %s %s --cursor %s", cmd.CommandPath(), strings.Join(flagArgs(cmd), " "), out.NextCursor))
				}
			})
		},
	}
	f.bind(cmd.Flags(), true)
	if !library {
		cmd.Flags().BoolVar(&f.exemplary, "exemplary", false, "only the library of model calls")
	}
	return cmd
}

// flagArgs are the flags the user set (except --cursor), to print the
// command that fetches the next page.
func flagArgs(cmd *cobra.Command) []string {
	var out []string
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if fl.Name == "cursor" {
			return
		}
		if fl.Value.Type() == "bool" {
			out = append(out, "--"+fl.Name)
			return
		}
		out = append(out, "--"+fl.Name, fl.Value.String())
	})
	return out
}

func newRecShowCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Everything known about one recording: file, legs, pause spans, tags, hold, evaluations with scores and comments",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var d recordings.Detail
			if err := c.Get(cmd.Context(), "/api/v1/recordings/"+url.PathEscape(args[0]), &d); err != nil {
				return err
			}
			return app.Print(d, func(t *Table) { showTable(t, d) })
		},
	}
}

func showTable(t *Table, d recordings.Detail) {
	r := d.Recording
	t.Header = []string{"FIELD", "VALUE"}
	row := func(k, v string) {
		if v != "" && v != "-" {
			t.Row(k, v)
		}
	}
	row("id", r.ID)
	row("call", r.CallID)
	row("status", r.Status)
	row("reason", r.Reason)
	row("started by", r.StartedBy)
	row("agent", r.AgentID)
	row("queue", r.Queue)
	row("caller", r.CallerNumber)
	row("dialed", r.DialedNumber)
	row("node", r.Node)
	row("pbx name", r.PBXName)
	row("caller leg", r.CallerLeg)
	row("agent leg", r.AgentLeg)
	row("bridge", r.BridgeID)
	row("started", when(r.StartedAt))
	row("ended", whenPtr(r.EndedAt))
	row("duration", fmt.Sprintf("%s (%d ms)", ms(r.DurationMS), r.DurationMS))
	if r.PausedMS > 0 {
		row("paused", ms(r.PausedMS))
	}
	row("path", r.Path)
	row("uri", r.URI)
	row("local file", d.LocalPath)
	row("format", r.Format)
	if r.SizeBytes != nil {
		row("size", strconv.FormatInt(*r.SizeBytes, 10)+" bytes")
	}
	row("checksum", r.Checksum)
	row("retention until", whenPtr(r.RetentionUntil))
	row("legal hold", strconv.FormatBool(r.LegalHold))
	if r.Exemplary {
		row("exemplary", "yes, flagged by "+dash(r.ExemplaryBy))
	}
	row("tags", strings.Join(r.Tags, ", "))
	if r.Score != nil {
		row("score", fmt.Sprintf("%s (mean of %d evaluations)", score(r.Score), len(d.Evaluations)))
	}
	row("note", r.Note)
	row("error", r.Error)
	if len(r.Pauses) > 0 {
		t.Footer = append(t.Footer, "", "pause spans:")
		for _, p := range r.Pauses {
			end, by, span := "still paused", "", ""
			if p.ResumedAt != nil {
				end, by, span = when(*p.ResumedAt), " by "+p.ResumedBy, " ("+secs(p.ResumedAt.Sub(p.PausedAt).Seconds())+")"
			}
			t.Footer = append(t.Footer, fmt.Sprintf("  %s by %s (%s) → %s%s%s", when(p.PausedAt), p.PausedBy, p.Reason, end, by, span))
		}
	}
	for _, e := range d.Evaluations {
		verdict := "failed"
		if e.Passed {
			verdict = "passed"
		}
		if e.CriticalFailed {
			verdict += ", a critical criterion scored 0"
		}
		t.Footer = append(t.Footer, "", fmt.Sprintf("evaluation %s: %s@%d by %s at %s: %.2f%% (%s; raw %.2f%%)", e.ID, e.Scorecard, e.ScorecardVersion,
			e.Reviewer, when(e.CreatedAt), e.Percent, verdict, e.Raw))
		for _, s := range e.Scores {
			if s.NA {
				t.Footer = append(t.Footer, fmt.Sprintf("  %-16s n/a (weight %g)", s.Criterion, s.Weight))
			} else {
				t.Footer = append(t.Footer, fmt.Sprintf("  %-16s %g/%g × weight %g = %.2f", s.Criterion, s.Score, s.Max, s.Weight, s.Earned))
			}
		}
		for _, cm := range e.Comments {
			t.Footer = append(t.Footer, fmt.Sprintf("  at %s %s: %s", secs(float64(cm.OffsetMS)/1000), cm.Author, cm.Text))
		}
		if e.Notes != "" {
			t.Footer = append(t.Footer, "  notes: "+e.Notes)
		}
	}
}

// ------------------------------------------------------------------ export

func newRecExportCmd(app *App) *cobra.Command {
	var f recFilter
	var format, file string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export every matching recording (all pages) as CSV or JSON, to stdout or --file",
		Long: `export streams every recording that matches the filters (the same as list,
without paging) as CSV (one header line, the columns of docs/recordings.md)
or a JSON array. With --file the export is written to a temporary file
beside it and renamed only once the server has confirmed the last row, so an
interrupted export never leaves a file that looks complete.`,
		Example: "  switchboard recordings export --from 2026-11-01 --to 2026-12-01 --queue billing --file billing-nov.csv\n  switchboard recordings export --format json --agent 1001 > a1001.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "csv" && format != "json" {
				return usagef("--format %q: want csv or json", format)
			}
			q, err := f.query(time.Now())
			if err != nil {
				return err
			}
			q.Set("format", format)
			c, err := app.Client()
			if err != nil {
				return err
			}
			path := "/api/v1/recordings/export?" + q.Encode()
			if file == "" {
				_, err := c.export(cmd.Context(), path, app.Stdout)
				return err
			}
			tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.part")
			if err != nil {
				return fmt.Errorf("--file %s: %w", file, err)
			}
			defer os.Remove(tmp.Name()) // a no-op after the rename
			rows, err := c.export(cmd.Context(), path, tmp)
			if cerr := tmp.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("writing %s: %w", file, cerr)
			}
			if err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), file); err != nil {
				return fmt.Errorf("--file %s: %w", file, err)
			}
			fmt.Fprintf(app.Stderr, "exported %d recordings to %s\n", rows, file)
			return nil
		},
	}
	f.bind(cmd.Flags(), false)
	cmd.Flags().BoolVar(&f.exemplary, "exemplary", false, "only the library of model calls")
	cmd.Flags().StringVar(&format, "format", "csv", "csv or json")
	cmd.Flags().StringVar(&file, "file", "", "write to this file instead of stdout (replaced only when the export is complete)")
	return cmd
}

// export streams a GET into w without the client's overall timeout (a
// large export takes as long as it takes; the command's context bounds
// it) and checks the server's trailers: an export the server did not
// confirm row count for is truncated, and says so.
func (c *Client) export(ctx context.Context, path string, w io.Writer) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return 0, fmt.Errorf("building request GET %s: %w", path, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := *c.HTTP
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		if isConnError(err) {
			return 0, fmt.Errorf("%w at %s: is `switchboard serve` running? (%v)", ErrUnreachable, c.Base, rootCause(err))
		}
		return 0, fmt.Errorf("GET %s%s: %w", c.Base, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
			return 0, &APIError{Status: resp.StatusCode, Message: eb.Error.Message, Field: eb.Error.Field}
		}
		return 0, &APIError{Status: resp.StatusCode, Message: fmt.Sprintf("GET %s: %s", path, strings.TrimSpace(string(data)))}
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return 0, fmt.Errorf("export cut off after %d bytes: %w", n, err)
	}
	if e := resp.Trailer.Get(api.ExportErrorTrailer); e != "" {
		return 0, fmt.Errorf("export incomplete after %d bytes: the server failed: %s", n, e)
	}
	rows, err := strconv.Atoi(resp.Trailer.Get(api.ExportRowsTrailer))
	if err != nil {
		return 0, fmt.Errorf("export incomplete after %d bytes: the server did not confirm the end of it", n)
	}
	return rows, nil
}

// --------------------------------------------------------- PBX operations

func newRecStartCmd(app *App) *cobra.Command {
	var by string
	cmd := &cobra.Command{
		Use:   "start CALL_ID",
		Short: "Record a bridged call on demand (after the queue's announcement, if it has one)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			who, err := actorOr(app, by, "--by")
			if err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out struct {
				RecordingID         string `json:"recording_id"`
				PendingAnnouncement bool   `json:"pending_announcement"`
			}
			if err := c.Post(cmd.Context(), "/api/v1/recordings", api.RecordingStart{CallID: args[0], By: who}, &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				if out.PendingAnnouncement {
					t.Footer = []string{"the queue's announcement is playing; recording starts when it ends"}
					return
				}
				t.Header = []string{"RECORDING", "CALL", "BY"}
				t.Row(out.RecordingID, args[0], who)
			})
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "who starts it (default $SWITCHBOARD_USER, then $USER)")
	return cmd
}

func newRecStopCmd(app *App) *cobra.Command {
	var by string
	cmd := &cobra.Command{
		Use:   "stop ID",
		Short: "Stop a running recording (the PBX's finish event fills in duration and file)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			who, err := actorOr(app, by, "--by")
			if err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out map[string]string
			if err := c.Post(cmd.Context(), "/api/v1/recordings/"+url.PathEscape(args[0])+"/stop", api.RecordingAction{By: who}, &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) { t.Header = []string{"STOPPING"}; t.Row(out["stopping"]) })
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "who stops it (default $SWITCHBOARD_USER, then $USER)")
	return cmd
}

// newRecPauseCmd is pause (pause=true) or resume: by recording id, or
// with --agent on the call that agent is on (the agent's own action).
func newRecPauseCmd(app *App, pause bool) *cobra.Command {
	var by, reason, agent string
	use, short := "resume [ID | --agent AGENT]", "Resume a paused recording; the pause span is closed with who"
	if pause {
		use, short = "pause [ID | --agent AGENT] --reason WHY", "Pause a running recording (card details); the span is stored with who and why"
	}
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: "  switchboard recordings pause rec-1f2e… --reason 'card details'\n  switchboard recordings pause --agent 1001 --reason 'card details' --by 1001",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (agent != "") {
				return usagef("name the recording (ID) or the agent whose call it is (--agent), not both")
			}
			if pause && strings.TrimSpace(reason) == "" {
				return usagef("--reason: why the recording is paused is required (e.g. 'card details')")
			}
			if agent != "" && by == "" {
				by = agent // the agent's own action unless someone else is named
			}
			who, err := actorOr(app, by, "--by")
			if err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			verb := map[bool]string{true: "pause", false: "resume"}[pause]
			path := "/api/v1/recordings/" + url.PathEscape(firstOr(args)) + "/" + verb
			if agent != "" {
				path = "/api/v1/agents/" + url.PathEscape(agent) + "/recording/" + verb
			}
			var span storage.PauseSpan
			if err := c.Post(cmd.Context(), path, api.RecordingAction{By: who, Reason: reason}, &span); err != nil {
				return err
			}
			return app.Print(span, func(t *Table) {
				t.Header = []string{"RECORDING", "PAUSED", "BY", "REASON", "RESUMED", "BY"}
				t.Row(span.RecordingID, when(span.PausedAt), span.PausedBy, span.Reason, whenPtr(span.ResumedAt), dash(span.ResumedBy))
			})
		},
	}
	cmd.Flags().StringVar(&agent, "agent", "", "act on the recording of the call this agent is on")
	cmd.Flags().StringVar(&by, "by", "", "who acts (default: the --agent, else $SWITCHBOARD_USER, then $USER)")
	if pause {
		cmd.Flags().StringVar(&reason, "reason", "", "why (required; stored with the pause span)")
	}
	return cmd
}

func firstOr(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// ------------------------------------------------- tags, hold, exemplary

// printRecording prints a recording after a change (tags, hold, flag).
func printRecording(app *App, d recordings.Detail) error {
	return app.Print(d, func(t *Table) {
		r := d.Recording
		t.Header = []string{"ID", "STATUS", "TAGS", "LEGAL HOLD", "EXEMPLARY"}
		t.Row(r.ID, r.Status, dash(strings.Join(r.Tags, ",")), r.LegalHold, r.Exemplary)
	})
}

func newRecTagCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "tag", Short: "Add or remove tags (lower case, no spaces or commas)"}
	for _, add := range []bool{true, false} {
		use, short := "remove ID TAG...", "Remove tags from a recording"
		if add {
			use, short = "add ID TAG...", "Add tags to a recording"
		}
		cmd.AddCommand(&cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.MinimumNArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := app.Client()
				if err != nil {
					return err
				}
				body := api.RecordingTags{Remove: args[1:]}
				if add {
					body = api.RecordingTags{Add: args[1:]}
				}
				var d recordings.Detail
				if err := c.Post(cmd.Context(), "/api/v1/recordings/"+url.PathEscape(args[0])+"/tags", body, &d); err != nil {
					return err
				}
				return printRecording(app, d)
			},
		})
	}
	return cmd
}

func newRecHoldCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "hold", Short: "Legal hold: a held recording is never purged (set and release are audited)"}
	for _, on := range []bool{true, false} {
		var by, reason string
		use, short := "release ID", "Release a legal hold"
		if on {
			use, short = "set ID --reason CASE", "Put a recording under legal hold"
		}
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if on && strings.TrimSpace(reason) == "" {
					return usagef("--reason: a legal hold needs a reason (case or ticket)")
				}
				who, err := actorOr(app, by, "--by")
				if err != nil {
					return err
				}
				c, err := app.Client()
				if err != nil {
					return err
				}
				var d recordings.Detail
				if err := c.Post(cmd.Context(), "/api/v1/recordings/"+url.PathEscape(args[0])+"/hold", api.RecordingHold{Hold: on, Reason: reason, By: who}, &d); err != nil {
					return err
				}
				return printRecording(app, d)
			},
		}
		c.Flags().StringVar(&reason, "reason", "", "case or ticket (required to set; kept in the audit log)")
		c.Flags().StringVar(&by, "by", "", "who (default $SWITCHBOARD_USER, then $USER)")
		cmd.AddCommand(c)
	}
	return cmd
}

func newRecExemplaryCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "exemplary", Short: "The exemplary-call flag: model calls for training (list them with `recordings library`)"}
	for _, on := range []bool{true, false} {
		var by, note string
		use, short := "unset ID", "Take a recording out of the library of model calls"
		if on {
			use, short = "set ID [--note WHY]", "Flag a finished recording as exemplary (adds it to the library)"
		}
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				who, err := actorOr(app, by, "--by")
				if err != nil {
					return err
				}
				c, err := app.Client()
				if err != nil {
					return err
				}
				var d recordings.Detail
				if err := c.Post(cmd.Context(), "/api/v1/recordings/"+url.PathEscape(args[0])+"/exemplary", api.RecordingExemplary{Exemplary: on, Note: note, By: who}, &d); err != nil {
					return err
				}
				return printRecording(app, d)
			},
		}
		if on {
			c.Flags().StringVar(&note, "note", "", "what makes it a model call")
		}
		c.Flags().StringVar(&by, "by", "", "who (default $SWITCHBOARD_USER, then $USER)")
		cmd.AddCommand(c)
	}
	return cmd
}

// ------------------------------------------------------------------- purge

func newRecPurgeCmd(app *App) *cobra.Command {
	var olderThan, by string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "purge [--older-than AGE] [--dry-run]",
		Short: "Delete recordings past retention: the file (purge_command or under the node's root), then the metadata; legal hold exempts",
		Long: `purge deletes every recording whose retention date has passed and, with
--older-than, every recording started longer ago than that which has no
retention date (a later retention date still wins). A legal hold exempts a
recording whatever its age. For each one the server deletes the file first
(through recordings.purge_command, or itself when the file lies under the
node's root), then the metadata, and writes an audit entry. A file that
cannot be deleted keeps its metadata (and the exit status is 1); the next
purge tries again. --dry-run lists what would go and changes nothing.`,
		Example: "  switchboard recordings purge --older-than 90d --dry-run\n  switchboard recordings purge --older-than 90d",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := api.ParseAge(olderThan); err != nil {
				return usagef("--older-than: %v", err)
			}
			who, err := actorOr(app, by, "--by")
			if err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			// A purge of many files takes as long as the files take.
			hc := *c.HTTP
			hc.Timeout = 0
			c.HTTP = &hc
			var rep recordings.PurgeReport
			if err := c.Post(cmd.Context(), "/api/v1/recordings/purge", api.RecordingPurge{OlderThan: olderThan, DryRun: dryRun, By: who}, &rep); err != nil {
				return err
			}
			if err := app.Print(rep, func(t *Table) {
				t.Header = []string{"ID", "CALL", "STARTED", "FILE", "ERROR"}
				for _, it := range rep.Purged {
					t.Row(it.ID, dash(it.CallID), when(it.StartedAt), it.File, "-")
				}
				for _, it := range rep.Failed {
					t.Row(it.ID, dash(it.CallID), when(it.StartedAt), it.File, it.Error)
				}
				verb := "purged"
				if rep.DryRun {
					verb = "would be purged (dry run: nothing changed)"
				}
				t.Footer = append(t.Footer, fmt.Sprintf("%d %s, %d failed, %d exempt under legal hold", len(rep.Purged), verb, len(rep.Failed), rep.Held))
			}); err != nil {
				return err
			}
			if len(rep.Failed) > 0 {
				return fmt.Errorf("%d recordings could not be purged; their metadata is kept and the next purge tries again", len(rep.Failed))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "also purge recordings started longer ago than this with no retention date: 90d, 12w, 36h")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be purged and change nothing")
	cmd.Flags().StringVar(&by, "by", "", "who purges, for the audit log (default $SWITCHBOARD_USER, then $USER)")
	return cmd
}

// -------------------------------------------------------------- scorecards

func newRecScorecardsCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "scorecards",
		Aliases: []string{"scorecard"},
		Short:   "Scorecards with weighted criteria: a file, versioned like the routing rules",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "The latest version of every scorecard",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out struct {
				Scorecards []review.Scorecard `json:"scorecards"`
			}
			if err := c.Get(cmd.Context(), "/api/v1/scorecards", &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{"NAME", "VERSION", "CRITERIA", "PASS MARK", "TITLE"}
				for _, s := range out.Scorecards {
					t.Row(s.Name, s.Version, len(s.Criteria), fmt.Sprintf("%g%%", s.PassMark), dash(s.Title))
				}
			})
		},
	})

	var by string
	apply := &cobra.Command{
		Use:   "apply FILE",
		Short: "Check a scorecard file and store a new version of every card that changed",
		Long: `apply checks FILE locally (every error as file:line:column, exit 2), then
sends it to the server, which checks it again and stores a new version of
each scorecard whose content changed. A file with any error applies
nothing. Evaluations keep the version they were scored against.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			if _, err := review.Parse(args[0], data); err != nil {
				return usageError{err}
			}
			who, err := actorOr(app, by, "--by")
			if err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out struct {
				Applied []recordings.AppliedScorecard `json:"applied"`
			}
			if err := c.Post(cmd.Context(), "/api/v1/scorecards", api.ScorecardFile{Filename: filepath.Base(args[0]), Content: string(data), By: who}, &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{"SCORECARD", "VERSION", "CHANGE"}
				for _, a := range out.Applied {
					t.Row(a.Name, a.Version, map[bool]string{true: "new version", false: "unchanged"}[a.Changed])
				}
			})
		},
	}
	apply.Flags().StringVar(&by, "by", "", "who applies it (default $SWITCHBOARD_USER, then $USER)")
	cmd.AddCommand(apply)

	cmd.AddCommand(&cobra.Command{
		Use:   "history NAME",
		Short: "Every stored version of a scorecard",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out struct {
				Name     string                            `json:"name"`
				Versions []recordings.ScorecardVersionInfo `json:"versions"`
			}
			if err := c.Get(cmd.Context(), "/api/v1/scorecards/"+url.PathEscape(args[0])+"/versions", &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{"VERSION", "APPLIED", "BY", "CRITERIA", "PASS MARK", "CHECKSUM"}
				for i, v := range out.Versions {
					ver := strconv.Itoa(v.Version)
					if i == len(out.Versions)-1 {
						ver += " (latest)"
					}
					t.Row(ver, when(v.AppliedAt), dash(v.AppliedBy), v.Criteria, fmt.Sprintf("%g%%", v.PassMark), v.Checksum[:min(12, len(v.Checksum))])
				}
			})
		},
	})

	var version int
	show := &cobra.Command{
		Use:   "show NAME [--version N]",
		Short: "One version of a scorecard with its criteria and weights (default: the latest)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if version < 0 {
				return usagef("--version %d: want 1, 2, … (0 = latest)", version)
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			path := "/api/v1/scorecards/" + url.PathEscape(args[0])
			if version > 0 {
				path += "/versions/" + strconv.Itoa(version)
			}
			var out recordings.StoredScorecard
			if err := c.Get(cmd.Context(), path, &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				var total float64
				for _, cr := range out.Criteria {
					total += cr.Weight
				}
				t.Header = []string{"CRITERION", "WEIGHT", "SHARE", "MAX", "N/A", "CRITICAL", "LABEL"}
				for _, cr := range out.Criteria {
					t.Row(cr.ID, cr.Weight, fmt.Sprintf("%.1f%%", cr.Weight/total*100), cr.Max, yes(cr.AllowNA), yes(cr.Critical), cr.Label)
				}
				t.Footer = append(t.Footer, fmt.Sprintf("%s@%d %q: pass mark %g%%, applied %s by %s", out.Name, out.Version, out.Title, out.PassMark, when(out.AppliedAt), dash(out.AppliedBy)))
			})
		},
	}
	show.Flags().IntVar(&version, "version", 0, "the version to show (default: the latest)")
	cmd.AddCommand(show)
	return cmd
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}

// ------------------------------------------------------------ evaluations

func newRecEvaluationsCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "evaluations",
		Aliases: []string{"evaluation"},
		Short:   "Evaluations of recordings against a scorecard, with time-stamped comments",
	}
	cmd.AddCommand(newRecEvaluateCmd(app, "add"))
	cmd.AddCommand(&cobra.Command{
		Use:   "list RECORDING_ID",
		Short: "A recording's evaluations with per-criterion scores and comments",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var d recordings.Detail
			if err := c.Get(cmd.Context(), "/api/v1/recordings/"+url.PathEscape(args[0]), &d); err != nil {
				return err
			}
			return app.Print(d.Evaluations, func(t *Table) {
				t.Header = []string{"EVALUATION", "SCORECARD", "REVIEWER", "AT", "PERCENT", "PASSED", "COMMENTS"}
				for _, e := range d.Evaluations {
					t.Row(e.ID, fmt.Sprintf("%s@%d", e.Scorecard, e.ScorecardVersion), e.Reviewer, when(e.CreatedAt), fmt.Sprintf("%.2f%%", e.Percent), e.Passed, len(e.Comments))
				}
			})
		},
	})
	var at, text, author string
	comment := &cobra.Command{
		Use:   "comment EVALUATION_ID --at 1:05 --text …",
		Short: "Add a comment pinned to a moment of the recording",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(text) == "" {
				return usagef("--text: the comment is required")
			}
			who, err := actorOr(app, author, "--author")
			if err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out storage.EvaluationComment
			if err := c.Post(cmd.Context(), "/api/v1/evaluations/"+url.PathEscape(args[0])+"/comments", api.EvaluationCommentInput{At: at, Text: text, Author: who}, &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{"EVALUATION", "AT", "AUTHOR", "TEXT"}
				t.Row(out.EvaluationID, secs(float64(out.OffsetMS)/1000), out.Author, out.Text)
			})
		},
	}
	comment.Flags().StringVar(&at, "at", "", "position in the recording: 1:05, 65s, 1m05s")
	comment.Flags().StringVar(&text, "text", "", "the comment")
	comment.Flags().StringVar(&author, "author", "", "who (default $SWITCHBOARD_USER, then $USER)")
	cmd.AddCommand(comment)
	return cmd
}

// parseMarks reads "criterion=score" or "criterion=na" flags.
func parseMarks(in []string) ([]api.EvaluationMark, error) {
	var out []api.EvaluationMark
	for _, m := range in {
		k, v, ok := strings.Cut(m, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, usagef("--mark %q: want criterion=score or criterion=na", m)
		}
		if strings.EqualFold(v, "na") || strings.EqualFold(v, "n/a") {
			out = append(out, api.EvaluationMark{Criterion: k, NA: true})
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, usagef("--mark %q: %q is not a number or na", m, v)
		}
		out = append(out, api.EvaluationMark{Criterion: k, Score: x})
	}
	return out, nil
}

// parseComments reads "POSITION TEXT" flags ("1:05 greeted by script").
func parseComments(in []string) ([]api.EvaluationCommentInput, error) {
	var out []api.EvaluationCommentInput
	for _, c := range in {
		at, text, ok := strings.Cut(strings.TrimSpace(c), " ")
		if !ok || strings.TrimSpace(text) == "" {
			return nil, usagef("--comment %q: want \"POSITION TEXT\", e.g. \"1:05 clear greeting\"", c)
		}
		out = append(out, api.EvaluationCommentInput{At: at, Text: strings.TrimSpace(text)})
	}
	return out, nil
}

func newRecEvaluateCmd(app *App, use string) *cobra.Command {
	var card, reviewer, notes string
	var version int
	var marks, comments []string
	var exemplary bool
	cmd := &cobra.Command{
		Use:   use + " RECORDING_ID --scorecard NAME --mark CRITERION=SCORE…",
		Short: "Score a finished recording against a scorecard (every criterion once; n/a where the card allows it)",
		Long: `Each criterion of the scorecard is marked once: a score from 0 to its max,
or na where the card allows it. The percentage is
  Σ weight × score/max ÷ Σ weight (over the criteria that apply) × 100
and a critical criterion scored 0 fails the evaluation (0 %). Comments are
pinned to a moment of the recording.`,
		Example: "  switchboard recordings " + use + " rec-1f2e… --scorecard support-standard \\\n" +
			"      --mark greeting=4 --mark verify=1 --mark resolution=7 --mark upsell=na \\\n" +
			"      --comment '0:30 clear opening' --comment '2:10 long hold without asking'",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if card == "" {
				return usagef("--scorecard: which scorecard (see `switchboard recordings scorecards list`)")
			}
			if len(marks) == 0 {
				return usagef("--mark: give every criterion a mark (criterion=score or criterion=na)")
			}
			mk, err := parseMarks(marks)
			if err != nil {
				return err
			}
			cs, err := parseComments(comments)
			if err != nil {
				return err
			}
			who, err := actorOr(app, reviewer, "--reviewer")
			if err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			req := api.EvaluationRequest{RecordingID: args[0], Scorecard: card, Version: version, Reviewer: who, Marks: mk, Comments: cs,
				Notes: notes, Exemplary: exemplary}
			var out struct {
				Evaluation storage.Evaluation `json:"evaluation"`
				Result     review.Result      `json:"result"`
			}
			if err := c.Post(cmd.Context(), "/api/v1/evaluations", req, &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				e := out.Evaluation
				t.Header = []string{"CRITERION", "SCORE", "MAX", "WEIGHT", "EARNED"}
				for _, l := range out.Result.Lines {
					if l.NA {
						t.Row(l.Criterion, "n/a", l.Max, l.Weight, "-")
					} else {
						t.Row(l.Criterion, l.Score, l.Max, l.Weight, fmt.Sprintf("%.2f", l.Earned))
					}
				}
				verdict := map[bool]string{true: "passed", false: "failed"}[e.Passed]
				if e.CriticalFailed {
					verdict += " (a critical criterion scored 0)"
				}
				t.Footer = append(t.Footer, fmt.Sprintf("evaluation %s of %s against %s@%d: %.2f%%, %s", e.ID, e.RecordingID, e.Scorecard, e.ScorecardVersion, e.Percent, verdict))
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&card, "scorecard", "", "scorecard name")
	fl.IntVar(&version, "version", 0, "scorecard version (default: the latest)")
	fl.StringArrayVar(&marks, "mark", nil, "criterion=score or criterion=na (repeat for every criterion)")
	fl.StringArrayVar(&comments, "comment", nil, "\"POSITION TEXT\", e.g. \"1:05 clear greeting\" (repeatable)")
	fl.StringVar(&notes, "notes", "", "overall notes")
	fl.BoolVar(&exemplary, "exemplary", false, "also add the recording to the library of model calls")
	fl.StringVar(&reviewer, "reviewer", "", "who reviews (default $SWITCHBOARD_USER, then $USER)")
	return cmd
}

// ---------------------------------------------------- averages and review

func newRecAveragesCmd(app *App) *cobra.Command {
	var by, from, to string
	var perAgent, perQueue bool
	cmd := &cobra.Command{
		Use:     "averages [--agent | --queue] [--from …] [--to …]",
		Short:   "Average evaluation score per agent or per queue (each evaluation counts once)",
		Example: "  switchboard recordings averages --queue --from 30d",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case perAgent && perQueue:
				return usagef("--agent and --queue: choose one grouping")
			case perAgent:
				by = "agent"
			case perQueue:
				by = "queue"
			}
			if by != "agent" && by != "queue" {
				return usagef("--by %q: want agent or queue", by)
			}
			q := url.Values{"by": {by}}
			now := time.Now()
			for _, tf := range []struct{ flag, key, v string }{{"--from", "from", from}, {"--to", "to", to}} {
				if tf.v == "" {
					continue
				}
				t, err := parseWhen(tf.v, now)
				if err != nil {
					return usagef("%s: %v", tf.flag, err)
				}
				q.Set(tf.key, t.UTC().Format(time.RFC3339))
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out struct {
				By       string                 `json:"by"`
				Averages []storage.ScoreAverage `json:"averages"`
			}
			if err := c.Get(cmd.Context(), "/api/v1/evaluations/averages?"+q.Encode(), &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{strings.ToUpper(out.By), "EVALUATIONS", "AVERAGE", "PASSED"}
				for _, a := range out.Averages {
					t.Row(dash(a.Key), a.Evaluations, fmt.Sprintf("%.2f%%", a.Average), a.Passed)
				}
				if len(out.Averages) == 0 {
					t.Footer = []string{"no evaluations in this period"}
				}
			})
		},
	}
	cmd.Flags().StringVar(&by, "by", "agent", "agent or queue")
	cmd.Flags().BoolVar(&perAgent, "agent", false, "per agent (the same as --by agent)")
	cmd.Flags().BoolVar(&perQueue, "queue", false, "per queue (the same as --by queue)")
	cmd.Flags().StringVar(&from, "from", "", "evaluations made at or after (RFC 3339, date or age such as 30d)")
	cmd.Flags().StringVar(&to, "to", "", "evaluations made before")
	return cmd
}

func newRecReviewCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "review", Short: "The weekly review sample supervisors work through"}
	var week, agent string
	var n int
	sample := &cobra.Command{
		Use:   "sample [--week DATE] [--n N] [--agent A]",
		Short: "N finished recordings per agent for the week, picked at random and kept once drawn",
		Long: `sample returns the week's review sample: for every agent with finished
recordings that week (Monday to Sunday, UTC), N of them picked at random
(reproducibly: the same week gives the same pick). A sample once drawn is
kept; asking again tops it up when new recordings allow and shows which
items already have an evaluation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if week != "" {
				t, err := parseWhen(week, time.Now())
				if err != nil {
					return usagef("--week: %v", err)
				}
				q.Set("week", t.UTC().Format(time.RFC3339))
			}
			if cmd.Flags().Changed("n") {
				if n < 1 || n > 1000 {
					return usagef("--n %d: want 1–1000", n)
				}
				q.Set("n", strconv.Itoa(n))
			}
			if agent != "" {
				q.Set("agent", agent)
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out struct {
				Sample []storage.ReviewSampleItem `json:"sample"`
			}
			if err := c.Get(cmd.Context(), "/api/v1/review/sample?"+q.Encode(), &out); err != nil {
				return err
			}
			if out.Sample == nil {
				out.Sample = []storage.ReviewSampleItem{}
			}
			return app.Print(out, func(t *Table) {
				t.Header = []string{"WEEK", "AGENT", "RECORDING", "REVIEWED"}
				done := map[string]int{}
				for _, it := range out.Sample {
					t.Row(it.WeekStart.Format("2006-01-02"), it.AgentID, it.RecordingID, yes(it.Reviewed))
					if it.Reviewed {
						done[it.AgentID]++
					}
				}
				agents := map[string]bool{}
				for _, it := range out.Sample {
					agents[it.AgentID] = true
				}
				names := make([]string, 0, len(agents))
				for a := range agents {
					names = append(names, a)
				}
				sort.Strings(names)
				reviewed := 0
				for _, a := range names {
					reviewed += done[a]
				}
				t.Footer = append(t.Footer, fmt.Sprintf("%d recordings for %d agents, %d reviewed", len(out.Sample), len(names), reviewed))
			})
		},
	}
	sample.Flags().StringVar(&week, "week", "", "any day of the week (default: this week)")
	sample.Flags().IntVar(&n, "n", 0, "recordings per agent (default: recordings.review_per_agent, 5)")
	sample.Flags().StringVar(&agent, "agent", "", "only this agent")
	cmd.AddCommand(sample)
	return cmd
}
