package recordings

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/recordings/review"
	"github.com/switchboard-cc/switchboard/storage"
)

// DeskStore is the storage the desk works on (storage.Store satisfies it).
type DeskStore interface {
	Store
	PurgeStore
	SearchRecordings(ctx context.Context, f storage.RecordingFilter) ([]storage.Recording, string, error)
	TagRecording(ctx context.Context, id string, add, remove []string) error
	SetLegalHold(ctx context.Context, id string, hold bool, actor, reason string) error
	SetExemplary(ctx context.Context, id string, on bool, by, note string) error
	ApplyScorecard(ctx context.Context, name, checksum, body, by string, at time.Time) (*storage.ScorecardVersion, bool, error)
	ScorecardVersionOf(ctx context.Context, name string, version int) (*storage.ScorecardVersion, error)
	ScorecardVersions(ctx context.Context) ([]storage.ScorecardVersion, error)
	CreateEvaluation(ctx context.Context, e *storage.Evaluation) error
	AddEvaluationComment(ctx context.Context, c *storage.EvaluationComment) error
	Evaluations(ctx context.Context, recordingID string) ([]storage.Evaluation, error)
	AverageScores(ctx context.Context, by string, from, to time.Time) ([]storage.ScoreAverage, error)
	ReviewSample(ctx context.Context, week time.Time, n int, seed string, agentID string) ([]storage.ReviewSampleItem, error)
	AppendAudit(ctx context.Context, e *storage.AuditEntry) error
}

// FieldError is bad input naming the field (the API answers 400 with it).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// FirstField names the offending field (the API's convention).
func (e *FieldError) FirstField() string { return e.Field }

// Desk is what operators and supervisors do with recordings: search,
// show, pause/resume, tags, legal hold, the model-call library, purge,
// export, scorecards, evaluations, averages and the review sample. The
// API and the CLI (through the API) use it.
type Desk struct {
	store DeskStore
	svc   *Service // nil when no PBX is attached (pause/resume/start then fail)
	cfg   Config
	now   func() time.Time
}

// NewDesk builds a desk; svc may be nil.
func NewDesk(store DeskStore, svc *Service, cfg Config, now func() time.Time) *Desk {
	cfg.Defaults()
	if now == nil {
		now = time.Now
	}
	return &Desk{store: store, svc: svc, cfg: cfg, now: now}
}

// ErrNoPBX means the operation needs the PBX and none is attached.
var ErrNoPBX = errors.New("no PBX attached to this switchboard")

// Search lists recordings (see storage.RecordingFilter).
func (d *Desk) Search(ctx context.Context, f storage.RecordingFilter) ([]storage.Recording, string, error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	return d.store.SearchRecordings(ctx, f)
}

// Detail is everything known about one recording.
type Detail struct {
	storage.Recording
	// LocalPath is where switchboard reads the file ("" = not reachable).
	LocalPath   string               `json:"local_path,omitempty"`
	Evaluations []storage.Evaluation `json:"evaluations"`
}

// Show returns one recording with its pauses, tags and evaluations.
func (d *Desk) Show(ctx context.Context, id string) (*Detail, error) {
	r, err := d.store.Recording(ctx, id)
	if err != nil {
		return nil, err
	}
	evs, err := d.store.Evaluations(ctx, id)
	if err != nil {
		return nil, err
	}
	if evs == nil {
		evs = []storage.Evaluation{}
	}
	d.cardOrder(ctx, evs)
	return &Detail{Recording: *r, LocalPath: d.cfg.LocalPath(r), Evaluations: evs}, nil
}

// cardOrder puts each evaluation's scores in the order of its scorecard
// version's criteria (storage returns them by criterion id), so a reader
// sees them as the reviewer filled the card in. A card that cannot be
// loaded leaves the order as stored.
func (d *Desk) cardOrder(ctx context.Context, evs []storage.Evaluation) {
	cards := map[string]*review.Scorecard{}
	for i := range evs {
		e := &evs[i]
		key := e.Scorecard + "@" + strconv.Itoa(e.ScorecardVersion)
		c, ok := cards[key]
		if !ok {
			c, _ = d.Scorecard(ctx, e.Scorecard, e.ScorecardVersion)
			cards[key] = c
		}
		if c == nil {
			continue
		}
		pos := map[string]int{}
		for j, cr := range c.Criteria {
			pos[cr.ID] = j
		}
		sort.SliceStable(e.Scores, func(a, b int) bool { return pos[e.Scores[a].Criterion] < pos[e.Scores[b].Criterion] })
	}
}

// Start records a bridged call on demand.
func (d *Desk) Start(ctx context.Context, callID, by string) (string, error) {
	if d.svc == nil {
		return "", ErrNoPBX
	}
	if strings.TrimSpace(by) == "" {
		return "", &FieldError{"by", "who starts the recording is required"}
	}
	return d.svc.Start(ctx, callID, by)
}

// Stop ends a running recording.
func (d *Desk) Stop(ctx context.Context, id, by string) error {
	if d.svc == nil {
		return ErrNoPBX
	}
	return d.svc.Stop(ctx, id, by)
}

// Pause mutes a running recording with who and why.
func (d *Desk) Pause(ctx context.Context, id, by, reason string) (*storage.PauseSpan, error) {
	if d.svc == nil {
		return nil, ErrNoPBX
	}
	if strings.TrimSpace(by) == "" {
		return nil, &FieldError{"by", "who pauses the recording is required"}
	}
	if strings.TrimSpace(reason) == "" {
		return nil, &FieldError{"reason", "why the recording is paused is required (e.g. card details)"}
	}
	return d.svc.Pause(ctx, id, by, reason)
}

// Resume un-mutes a paused recording.
func (d *Desk) Resume(ctx context.Context, id, by string) (*storage.PauseSpan, error) {
	if d.svc == nil {
		return nil, ErrNoPBX
	}
	if strings.TrimSpace(by) == "" {
		return nil, &FieldError{"by", "who resumes the recording is required"}
	}
	return d.svc.Resume(ctx, id, by)
}

// AgentPause pauses the running recording of the call an agent is on (the
// agent's own action: it knows its call, not the recording id).
func (d *Desk) AgentPause(ctx context.Context, agentID, by, reason string) (*storage.PauseSpan, error) {
	id, err := d.agentRecording(ctx, agentID)
	if err != nil {
		return nil, err
	}
	return d.Pause(ctx, id, by, reason)
}

// AgentResume resumes the paused recording of the call an agent is on.
func (d *Desk) AgentResume(ctx context.Context, agentID, by string) (*storage.PauseSpan, error) {
	id, err := d.agentRecording(ctx, agentID)
	if err != nil {
		return nil, err
	}
	return d.Resume(ctx, id, by)
}

// agentRecording finds the recording an agent acts on: the service's own
// view of bridged calls first, then (after a restart, before the call's
// next event) the database's running recordings of that agent.
func (d *Desk) agentRecording(ctx context.Context, agentID string) (string, error) {
	if d.svc == nil {
		return "", ErrNoPBX
	}
	if strings.TrimSpace(agentID) == "" {
		return "", &FieldError{"agent", "required"}
	}
	if id := d.svc.RecordingOfAgent(agentID); id != "" {
		return id, nil
	}
	recs, _, err := d.store.SearchRecordings(ctx, storage.RecordingFilter{AgentID: agentID, Status: storage.RecordingActive, Limit: 2})
	if err != nil {
		return "", err
	}
	switch len(recs) {
	case 1:
		return recs[0].ID, nil
	case 0:
		return "", fmt.Errorf("agent %q: %w", agentID, ErrNotRecording)
	default:
		return "", fmt.Errorf("agent %q has more than one running recording (%s, %s): name the recording: %w", agentID, recs[0].ID, recs[1].ID, storage.ErrRecordingState)
	}
}

// Tag adds and removes tags.
func (d *Desk) Tag(ctx context.Context, id string, add, remove []string) error {
	if len(add) == 0 && len(remove) == 0 {
		return &FieldError{"add", "give tags to add or remove"}
	}
	if err := d.store.TagRecording(ctx, id, add, remove); err != nil {
		if errors.Is(err, storage.ErrBadFilter) {
			return &FieldError{"add", err.Error()}
		}
		return err
	}
	return nil
}

// Hold sets or lifts a legal hold (audited).
func (d *Desk) Hold(ctx context.Context, id string, on bool, actor, reason string) error {
	if on && strings.TrimSpace(reason) == "" {
		return &FieldError{"reason", "a legal hold needs a reason (case or ticket)"}
	}
	return d.store.SetLegalHold(ctx, id, on, actor, reason)
}

// Exemplary adds a recording to (or removes it from) the training library.
func (d *Desk) Exemplary(ctx context.Context, id string, on bool, by, note string) error {
	r, err := d.store.Recording(ctx, id)
	if err != nil {
		return err
	}
	if on && r.Status != storage.RecordingFinished {
		return fmt.Errorf("recording %s is %s: only finished recordings join the library: %w", id, r.Status, storage.ErrRecordingState)
	}
	return d.store.SetExemplary(ctx, id, on, by, note)
}

// Purge runs (or dry-runs) a purge.
func (d *Desk) Purge(ctx context.Context, o PurgeOptions) (*PurgeReport, error) {
	if o.OlderThan < 0 {
		return nil, &FieldError{"older_than", "must not be negative"}
	}
	return Purge(ctx, d.store, d.cfg, d.now(), o)
}

// ----------------------------------------------------------------- export

// ExportColumns are the CSV columns, in order.
var ExportColumns = []string{"id", "call_id", "started_at", "ended_at", "duration_s", "status", "agent_id", "queue", "caller_number",
	"dialed_number", "node", "path", "uri", "format", "size_bytes", "checksum", "paused_s", "score", "evaluations", "exemplary",
	"legal_hold", "retention_until", "tags", "reason", "started_by", "error"}

// Export writes every recording matching f (all pages) as "csv" or
// "json" (an array), streaming page by page. It returns how many rows.
func (d *Desk) Export(ctx context.Context, f storage.RecordingFilter, format string, w io.Writer) (int, error) {
	if format != "csv" && format != "json" {
		return 0, &FieldError{"format", fmt.Sprintf("%q is not csv or json", format)}
	}
	if err := f.Validate(); err != nil {
		return 0, err
	}
	f.Limit, f.Cursor = 1000, ""
	var cw *csv.Writer
	if format == "csv" {
		cw = csv.NewWriter(w)
		if err := cw.Write(ExportColumns); err != nil {
			return 0, err
		}
	} else if _, err := io.WriteString(w, "["); err != nil {
		return 0, err
	}
	n := 0
	for {
		page, next, err := d.store.SearchRecordings(ctx, f)
		if err != nil {
			return n, err
		}
		for i := range page {
			r := &page[i]
			if cw != nil {
				if err := cw.Write(csvRow(r)); err != nil {
					return n, err
				}
			} else {
				b, err := json.Marshal(r)
				if err != nil {
					return n, err
				}
				sep := ",\n"
				if n == 0 {
					sep = "\n"
				}
				if _, err := io.WriteString(w, sep+string(b)); err != nil {
					return n, err
				}
			}
			n++
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	if cw != nil {
		cw.Flush()
		return n, cw.Error()
	}
	_, err := io.WriteString(w, "\n]\n")
	return n, err
}

func csvRow(r *storage.Recording) []string {
	t := func(p *time.Time) string {
		if p == nil {
			return ""
		}
		return p.UTC().Format(time.RFC3339)
	}
	size, score := "", ""
	if r.SizeBytes != nil {
		size = strconv.FormatInt(*r.SizeBytes, 10)
	}
	if r.Score != nil {
		score = strconv.FormatFloat(*r.Score, 'f', 2, 64)
	}
	st := r.StartedAt
	return []string{r.ID, r.CallID, t(&st), t(r.EndedAt), strconv.FormatFloat(float64(r.DurationMS)/1000, 'f', 3, 64), r.Status,
		r.AgentID, r.Queue, r.CallerNumber, r.DialedNumber, r.Node, r.Path, r.URI, r.Format, size, r.Checksum,
		strconv.FormatFloat(float64(r.PausedMS)/1000, 'f', 3, 64), score, strconv.Itoa(r.Evaluations), strconv.FormatBool(r.Exemplary),
		strconv.FormatBool(r.LegalHold), t(r.RetentionUntil), strings.Join(r.Tags, " "), r.Reason, r.StartedBy, r.Error}
}

// ------------------------------------------------------------- scorecards

// AppliedScorecard is one scorecard of an applied file.
type AppliedScorecard struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Changed bool   `json:"changed"`
}

// ApplyScorecards parses a scorecard file and stores a new version of each
// card whose content changed. A file with any error applies nothing.
func (d *Desk) ApplyScorecards(ctx context.Context, filename string, data []byte, actor string) ([]AppliedScorecard, error) {
	cards, err := review.Parse(filename, data)
	if err != nil {
		return nil, err
	}
	at := d.now()
	var out []AppliedScorecard
	for _, c := range cards {
		body, _ := json.Marshal(c)
		v, created, err := d.store.ApplyScorecard(ctx, c.Name, c.Checksum(), string(body), actor, at)
		if err != nil {
			return out, err
		}
		if created {
			if err := d.store.AppendAudit(ctx, &storage.AuditEntry{At: at, Actor: actor, Action: "scorecard.apply",
				Subject: fmt.Sprintf("scorecard/%s@%d", c.Name, v.Version), Detail: "from " + filename}); err != nil {
				return out, err
			}
		}
		out = append(out, AppliedScorecard{Name: c.Name, Version: v.Version, Changed: created})
	}
	return out, nil
}

// Scorecard loads a stored scorecard version (0 = latest).
func (d *Desk) Scorecard(ctx context.Context, name string, version int) (*review.Scorecard, error) {
	v, err := d.store.ScorecardVersionOf(ctx, name, version)
	if err != nil {
		return nil, err
	}
	var c review.Scorecard
	if err := json.Unmarshal([]byte(v.Body), &c); err != nil {
		return nil, fmt.Errorf("scorecard %s@%d: stored body unreadable: %w", name, v.Version, err)
	}
	c.Version = v.Version
	return &c, nil
}

// StoredScorecard is one stored version of a scorecard with who applied it
// and when.
type StoredScorecard struct {
	review.Scorecard
	Checksum  string    `json:"checksum"`
	AppliedBy string    `json:"applied_by"`
	AppliedAt time.Time `json:"applied_at"`
}

// ScorecardVersion returns one stored version of a card (0 = latest).
func (d *Desk) ScorecardVersion(ctx context.Context, name string, version int) (*StoredScorecard, error) {
	if version < 0 {
		return nil, &FieldError{"version", fmt.Sprintf("%d is not a version number", version)}
	}
	v, err := d.store.ScorecardVersionOf(ctx, name, version)
	if err != nil {
		return nil, err
	}
	out := &StoredScorecard{Checksum: v.Checksum, AppliedBy: v.AppliedBy, AppliedAt: v.AppliedAt}
	if err := json.Unmarshal([]byte(v.Body), &out.Scorecard); err != nil {
		return nil, fmt.Errorf("scorecard %s@%d: stored body unreadable: %w", name, v.Version, err)
	}
	out.Version = v.Version
	return out, nil
}

// ScorecardVersionInfo is one line of a card's history.
type ScorecardVersionInfo struct {
	Version   int       `json:"version"`
	Checksum  string    `json:"checksum"`
	AppliedBy string    `json:"applied_by"`
	AppliedAt time.Time `json:"applied_at"`
	Criteria  int       `json:"criteria"`
	PassMark  float64   `json:"pass_mark"`
}

// ScorecardHistory lists every stored version of a card, oldest first.
func (d *Desk) ScorecardHistory(ctx context.Context, name string) ([]ScorecardVersionInfo, error) {
	vs, err := d.store.ScorecardVersions(ctx)
	if err != nil {
		return nil, err
	}
	var out []ScorecardVersionInfo
	for _, v := range vs {
		if v.Name != name {
			continue
		}
		var c review.Scorecard
		if err := json.Unmarshal([]byte(v.Body), &c); err != nil {
			return nil, fmt.Errorf("scorecard %s@%d: stored body unreadable: %w", name, v.Version, err)
		}
		out = append(out, ScorecardVersionInfo{Version: v.Version, Checksum: v.Checksum, AppliedBy: v.AppliedBy, AppliedAt: v.AppliedAt,
			Criteria: len(c.Criteria), PassMark: c.PassMark})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("scorecard %q: %w", name, storage.ErrNotFound)
	}
	return out, nil
}

// Scorecards lists the latest version of every stored scorecard.
func (d *Desk) Scorecards(ctx context.Context) ([]review.Scorecard, error) {
	vs, err := d.store.ScorecardVersions(ctx)
	if err != nil {
		return nil, err
	}
	latest := map[string]storage.ScorecardVersion{}
	var order []string
	for _, v := range vs {
		if _, ok := latest[v.Name]; !ok {
			order = append(order, v.Name)
		}
		latest[v.Name] = v
	}
	out := []review.Scorecard{}
	for _, n := range order {
		var c review.Scorecard
		if err := json.Unmarshal([]byte(latest[n].Body), &c); err != nil {
			return nil, fmt.Errorf("scorecard %s: stored body unreadable: %w", n, err)
		}
		c.Version = latest[n].Version
		out = append(out, c)
	}
	return out, nil
}

// ------------------------------------------------------------ evaluations

// CommentInput is a time-stamped comment in an evaluation request.
type CommentInput struct {
	// At is the position in the recording, e.g. "1m05s".
	At   string `json:"at"`
	Text string `json:"text"`
}

// EvaluationInput is a reviewer's scoring of one recording.
type EvaluationInput struct {
	RecordingID string         `json:"recording_id"`
	Scorecard   string         `json:"scorecard"`
	Version     int            `json:"version,omitempty"` // 0 = latest
	Reviewer    string         `json:"reviewer"`
	Marks       []review.Mark  `json:"marks"`
	Comments    []CommentInput `json:"comments,omitempty"`
	Notes       string         `json:"notes,omitempty"`
	// Exemplary adds the recording to the library of model calls.
	Exemplary bool `json:"exemplary,omitempty"`
}

// Evaluate scores a finished recording against a stored scorecard version
// and stores the evaluation with per-criterion scores and comments.
func (d *Desk) Evaluate(ctx context.Context, in EvaluationInput) (*storage.Evaluation, *review.Result, error) {
	if strings.TrimSpace(in.Reviewer) == "" {
		return nil, nil, &FieldError{"reviewer", "required"}
	}
	if in.Scorecard == "" {
		return nil, nil, &FieldError{"scorecard", "required"}
	}
	card, err := d.Scorecard(ctx, in.Scorecard, in.Version)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil, &FieldError{"scorecard", err.Error()}
		}
		return nil, nil, err
	}
	res, err := review.Score(*card, in.Marks)
	if err != nil {
		return nil, nil, &FieldError{"marks", err.Error()}
	}
	rec, err := d.store.Recording(ctx, in.RecordingID)
	if err != nil {
		return nil, nil, err
	}
	var comments []storage.EvaluationComment
	for i, c := range in.Comments {
		off, err := parseOffset(c.At)
		if err != nil {
			return nil, nil, &FieldError{fmt.Sprintf("comments[%d].at", i), err.Error()}
		}
		if rec.DurationMS > 0 && off.Milliseconds() > rec.DurationMS {
			return nil, nil, &FieldError{fmt.Sprintf("comments[%d].at", i), fmt.Sprintf("%s is past the end of the recording (%s)", off, rec.Duration())}
		}
		if strings.TrimSpace(c.Text) == "" {
			return nil, nil, &FieldError{fmt.Sprintf("comments[%d].text", i), "empty"}
		}
		comments = append(comments, storage.EvaluationComment{OffsetMS: off.Milliseconds(), Author: in.Reviewer, Text: c.Text})
	}
	e := &storage.Evaluation{RecordingID: in.RecordingID, Scorecard: card.Name, ScorecardVersion: card.Version, Reviewer: in.Reviewer,
		Percent: res.Percent, Raw: res.Raw, Passed: res.Passed, CriticalFailed: res.CriticalFailed, Notes: in.Notes,
		CreatedAt: d.now(), Comments: comments}
	for _, l := range res.Lines {
		e.Scores = append(e.Scores, storage.EvaluationScore{Criterion: l.Criterion, Score: l.Score, Max: l.Max, Weight: l.Weight, NA: l.NA, Earned: l.Earned})
	}
	if err := d.store.CreateEvaluation(ctx, e); err != nil {
		return nil, nil, err
	}
	if in.Exemplary {
		if err := d.store.SetExemplary(ctx, in.RecordingID, true, in.Reviewer, "evaluation "+e.ID); err != nil {
			return e, &res, err
		}
	}
	return e, &res, nil
}

// parseOffset reads "65s", "1m05s", "1:05" or "01:01:05".
func parseOffset(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("%q is negative", s)
		}
		return d, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("%q is not a position such as 1m05s or 1:05", s)
	}
	var total time.Duration
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 59 && total > 0 {
			return 0, fmt.Errorf("%q is not a position such as 1m05s or 1:05", s)
		}
		total = total*60 + time.Duration(n)
	}
	return total * time.Second, nil
}

// Comment adds a time-stamped comment to an evaluation.
func (d *Desk) Comment(ctx context.Context, evaluationID, author, at, text string) (*storage.EvaluationComment, error) {
	off, err := parseOffset(at)
	if err != nil {
		return nil, &FieldError{"at", err.Error()}
	}
	if strings.TrimSpace(text) == "" {
		return nil, &FieldError{"text", "empty"}
	}
	if strings.TrimSpace(author) == "" {
		return nil, &FieldError{"author", "required"}
	}
	c := &storage.EvaluationComment{EvaluationID: evaluationID, OffsetMS: off.Milliseconds(), Author: author, Text: text, CreatedAt: d.now()}
	if err := d.store.AddEvaluationComment(ctx, c); err != nil {
		if errors.Is(err, storage.ErrPastEnd) {
			// Storage checks the position against the recording's length
			// in the insert's transaction; to the caller it is bad input.
			return nil, &FieldError{"at", err.Error()}
		}
		return nil, err
	}
	return c, nil
}

// Averages are evaluation averages per agent or per queue.
func (d *Desk) Averages(ctx context.Context, by string, from, to time.Time) ([]storage.ScoreAverage, error) {
	if by != "agent" && by != "queue" {
		return nil, &FieldError{"by", fmt.Sprintf("%q is not agent or queue", by)}
	}
	return d.store.AverageScores(ctx, by, from, to)
}

// ReviewSample returns (drawing it the first time) the week's sample of
// finished recordings per agent; n 0 means the configured review_per_agent.
func (d *Desk) ReviewSample(ctx context.Context, week time.Time, n int, agentID string) ([]storage.ReviewSampleItem, error) {
	if n == 0 {
		n = d.cfg.ReviewPerAgent
	}
	if n < 1 || n > 1000 {
		return nil, &FieldError{"n", fmt.Sprintf("%d is not within 1–1000", n)}
	}
	if week.IsZero() {
		week = d.now()
	}
	return d.store.ReviewSample(ctx, week, n, d.cfg.SampleSeed, agentID)
}
