package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Reports: the daily and interval figures a manager runs the floor by,
// computed by SQL aggregation that runs unchanged on SQLite and MySQL.
//
// Definitions (the same as the live stats package, so the wallboard and
// the report agree):
//
//   - A queue's calls are its stints (queue_waits) that entered the queue
//     in the period: a call that overflowed from A to B is offered to both;
//     a call answered after midnight counts on the day it entered.
//   - offered: distinct calls with a stint in the queue.
//   - answered / abandoned / overflowed / exited / callback: stints that
//     left the queue that way.
//   - answered within threshold: the call's wait, from its first enqueue
//     to the answer (calls.wait_seconds), is at most the queue's threshold.
//   - short abandons: abandons under ShortAbandon (default 5 s); left out
//     of the service level under the default formula.
//   - service level (formula "abandons", default) = answered within
//     threshold ÷ (answered + abandoned − short abandons); "answered":
//     ÷ answered; "offered": ÷ offered. 1 with nothing to measure.
//   - ASA = total wait of answered calls ÷ answered.
//   - AHT = total talk of answered calls that have ended ÷ those calls.
//   - per agent: calls answered by the agent that arrived in the period,
//     their talk, the agent's wrap-up time, handle = talk + wrap-up, and
//     not-ready time by reason, each state span clipped to the period.

// ErrBadReport is wrapped by errors in report parameters.
var ErrBadReport = errors.New("invalid report request")

// ReportOptions tune a report. The zero value is a UTC day, every queue,
// a 20 s threshold, 5 s short abandons and the "abandons" formula.
type ReportOptions struct {
	// Location sets day boundaries (default UTC).
	Location *time.Location
	// Queue limits the report to one queue ("" = all).
	Queue string
	// Threshold is the service-level threshold for queues that have no
	// row in the queues table and no entry in Thresholds (default 20 s).
	Threshold time.Duration
	// Thresholds are per-queue thresholds (from the routing file); they
	// win over the queues table.
	Thresholds map[string]time.Duration
	// ShortAbandon: abandons under it are short (default 5 s; < 0: none).
	ShortAbandon time.Duration
	// Formula is "abandons" (default), "answered" or "offered".
	Formula string
	// Interval is the bucket width of IntervalReport (default 30 min); it
	// must divide a day.
	Interval time.Duration
}

func (o *ReportOptions) norm() error {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Threshold <= 0 {
		o.Threshold = 20 * time.Second
	}
	if o.ShortAbandon == 0 {
		o.ShortAbandon = 5 * time.Second
	}
	switch o.Formula {
	case "":
		o.Formula = "abandons"
	case "abandons", "answered", "offered":
	default:
		return fmt.Errorf("%w: formula %q: want abandons, answered or offered", ErrBadReport, o.Formula)
	}
	if o.Interval == 0 {
		o.Interval = 30 * time.Minute
	}
	if o.Interval < time.Minute || (24*time.Hour)%o.Interval != 0 || o.Interval%time.Minute != 0 {
		return fmt.Errorf("%w: interval %s: want whole minutes dividing a day (15m, 30m, 1h)", ErrBadReport, o.Interval)
	}
	for q, d := range o.Thresholds {
		if d <= 0 {
			return fmt.Errorf("%w: threshold of queue %q is %s", ErrBadReport, q, d)
		}
	}
	return nil
}

// QueueFigures is one queue's figures for a period.
type QueueFigures struct {
	Queue            string  `json:"queue"`
	Offered          int64   `json:"offered"`
	Answered         int64   `json:"answered"`
	AnsweredInSL     int64   `json:"answered_within_threshold"`
	Abandoned        int64   `json:"abandoned"`
	ShortAbandoned   int64   `json:"short_abandoned"`
	Overflowed       int64   `json:"overflowed"`
	Exited           int64   `json:"exited"`
	Callbacks        int64   `json:"callbacks"`
	ThresholdSeconds float64 `json:"threshold_seconds"`
	ServiceLevel     float64 `json:"service_level"`
	// Measured is false when no call could be measured (service level 1).
	Measured      bool    `json:"measured"`
	AbandonRate   float64 `json:"abandon_rate"`
	ASASeconds    float64 `json:"asa_seconds"`
	AHTSeconds    float64 `json:"aht_seconds"`
	WaitSeconds   float64 `json:"wait_seconds_total"`
	Handled       int64   `json:"handled"`
	HandleSeconds float64 `json:"talk_seconds_total"`
}

// AgentFigures is one agent's figures for a period.
type AgentFigures struct {
	AgentID         string             `json:"agent_id"`
	Calls           int64              `json:"calls"`
	TalkSeconds     float64            `json:"talk_seconds"`
	WrapUpSeconds   float64            `json:"wrap_up_seconds"`
	HandleSeconds   float64            `json:"handle_seconds"`
	AHTSeconds      float64            `json:"aht_seconds"`
	NotReadySeconds float64            `json:"not_ready_seconds"`
	NotReadyReasons map[string]float64 `json:"not_ready_by_reason"`
}

// DailyReport is a day's figures per queue and per agent.
type DailyReport struct {
	Date    string         `json:"date"` // YYYY-MM-DD in Location
	Zone    string         `json:"zone"`
	From    time.Time      `json:"from"`
	To      time.Time      `json:"to"`
	Formula string         `json:"formula"`
	Queues  []QueueFigures `json:"queues"`
	Agents  []AgentFigures `json:"agents"`
}

// IntervalFigures is one queue in one interval.
type IntervalFigures struct {
	Start time.Time `json:"start"`
	QueueFigures
}

// IntervalReport is a day cut into intervals, per queue. Intervals
// without calls are left out.
type IntervalReport struct {
	Date      string            `json:"date"`
	Zone      string            `json:"zone"`
	From      time.Time         `json:"from"`
	To        time.Time         `json:"to"`
	Interval  string            `json:"interval"`
	Formula   string            `json:"formula"`
	Intervals []IntervalFigures `json:"intervals"`
}

// DayBounds is [midnight, next midnight) of date ("YYYY-MM-DD") in loc, in
// UTC. It follows the zone's rules, so a DST day is 23 or 25 hours.
func DayBounds(date string, loc *time.Location) (time.Time, time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	d, err := time.ParseInLocation("2006-01-02", date, loc)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: date %q: want YYYY-MM-DD", ErrBadReport, date)
	}
	return d.UTC(), d.AddDate(0, 0, 1).UTC(), nil
}

// Daily computes the report of one day.
func (s *Store) Daily(ctx context.Context, date string, o ReportOptions) (*DailyReport, error) {
	if err := o.norm(); err != nil {
		return nil, err
	}
	from, to, err := DayBounds(date, o.Location)
	if err != nil {
		return nil, err
	}
	qs, err := s.queueFigures(ctx, from, to, o, 0)
	if err != nil {
		return nil, err
	}
	r := &DailyReport{Date: date, Zone: o.Location.String(), From: from, To: to, Formula: o.Formula, Queues: []QueueFigures{}}
	for _, q := range qs {
		r.Queues = append(r.Queues, q.QueueFigures)
	}
	if r.Agents, err = s.agentFigures(ctx, from, to, o); err != nil {
		return nil, err
	}
	return r, nil
}

// Interval computes one day cut into o.Interval buckets (aligned on
// the day's start in o.Location), per queue.
func (s *Store) Interval(ctx context.Context, date string, o ReportOptions) (*IntervalReport, error) {
	if err := o.norm(); err != nil {
		return nil, err
	}
	from, to, err := DayBounds(date, o.Location)
	if err != nil {
		return nil, err
	}
	rows, err := s.queueFigures(ctx, from, to, o, o.Interval)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(rows, func(a, b int) bool {
		if !rows[a].Start.Equal(rows[b].Start) {
			return rows[a].Start.Before(rows[b].Start)
		}
		return rows[a].Queue < rows[b].Queue
	})
	return &IntervalReport{Date: date, Zone: o.Location.String(), From: from, To: to, Interval: o.Interval.String(),
		Formula: o.Formula, Intervals: rows}, nil
}

// epochExpr is the dialect's "seconds since 1970" of a UTC datetime column.
func (s *Store) epochExpr(col string) string {
	if s.dialect == DialectMySQL {
		// The session time zone is forced to +00:00 at Open.
		return "UNIX_TIMESTAMP(" + col + ")"
	}
	return "CAST(strftime('%s', " + col + ") AS INTEGER)"
}

type queueRow struct {
	Queue          string
	Bucket         int64
	Offered        int64
	Answered       int64
	AnsweredInSL   int64
	Abandoned      int64
	ShortAbandoned int64
	Overflowed     int64
	Exited         int64
	Callbacks      int64
	WaitTotal      float64
	Handled        int64
	HandleTotal    float64
	Threshold      float64
}

// queueFigures aggregates queue_waits (joined to calls for the call-level
// wait and talk) per queue, and per bucket when width > 0.
func (s *Store) queueFigures(ctx context.Context, from, to time.Time, o ReportOptions, width time.Duration) ([]IntervalFigures, error) {
	sel, args := s.queueReportSQL(from, to, o, width)
	var rows []queueRow
	if err := s.db.WithContext(ctx).Raw(sel, args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("queue report %s..%s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	return queueResults(rows, from, width, o), nil
}

// queueReportSQL is the query behind queueFigures (apart, so a test can
// EXPLAIN it).
func (s *Store) queueReportSQL(from, to time.Time, o ReportOptions, width time.Duration) (string, []any) {
	var args []any
	// The threshold of each row's queue: the caller's map, else the
	// queues table, else the default.
	thr := "COALESCE(q.service_level_seconds, ?)"
	var thrArgs []any
	if len(o.Thresholds) > 0 {
		names := make([]string, 0, len(o.Thresholds))
		for n := range o.Thresholds {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		b.WriteString("(CASE w.queue")
		for _, n := range names {
			b.WriteString(" WHEN ? THEN ?")
			thrArgs = append(thrArgs, n, o.Thresholds[n].Seconds())
		}
		b.WriteString(" ELSE " + thr + " END)")
		thr = b.String()
	}
	thrArgs = append(thrArgs, o.Threshold.Seconds())
	wait := "COALESCE(c.wait_seconds, w.wait_seconds)"
	short := -1.0
	if o.ShortAbandon > 0 {
		short = o.ShortAbandon.Seconds()
	}
	bucket := "0"
	if width > 0 {
		// Buckets are aligned on the day's start (from), which need not be
		// a multiple of width in UTC (zones with :30 offsets).
		if s.dialect == DialectMySQL {
			bucket = "FLOOR((" + s.epochExpr("w.entered_at") + " - ?) / ?)"
		} else {
			bucket = "((" + s.epochExpr("w.entered_at") + " - ?) / ?)" // integer division, never negative
		}
	}
	sel := "SELECT w.queue AS queue, " + bucket + " AS bucket," +
		" COUNT(DISTINCT w.call_id) AS offered," +
		" SUM(CASE WHEN w.outcome = 'answered' THEN 1 ELSE 0 END) AS answered," +
		" SUM(CASE WHEN w.outcome = 'answered' AND " + wait + " <= " + thr + " THEN 1 ELSE 0 END) AS answered_in_sl," +
		" SUM(CASE WHEN w.outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned," +
		" SUM(CASE WHEN w.outcome = 'abandoned' AND " + wait + " < ? THEN 1 ELSE 0 END) AS short_abandoned," +
		" SUM(CASE WHEN w.outcome = 'overflowed' THEN 1 ELSE 0 END) AS overflowed," +
		" SUM(CASE WHEN w.outcome = 'exited' THEN 1 ELSE 0 END) AS exited," +
		" SUM(CASE WHEN w.outcome = 'callback' THEN 1 ELSE 0 END) AS callbacks," +
		" SUM(CASE WHEN w.outcome = 'answered' THEN " + wait + " ELSE 0 END) AS wait_total," +
		" SUM(CASE WHEN w.outcome = 'answered' AND c.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS handled," +
		" SUM(CASE WHEN w.outcome = 'answered' AND c.ended_at IS NOT NULL THEN c.talk_seconds ELSE 0 END) AS handle_total," +
		" MAX(" + thr + ") AS threshold" +
		" FROM queue_waits w LEFT JOIN calls c ON c.id = w.call_id LEFT JOIN queues q ON q.name = w.queue" +
		" WHERE w.entered_at >= ? AND w.entered_at < ?"
	if width > 0 {
		args = append(args, from.Unix(), int64(width/time.Second))
	}
	args = append(args, thrArgs...)
	args = append(args, short)
	args = append(args, thrArgs...)
	args = append(args, from, to)
	if o.Queue != "" {
		sel += " AND w.queue = ?"
		args = append(args, o.Queue)
	}
	sel += " GROUP BY w.queue"
	if width > 0 {
		sel += ", bucket"
	}
	sel += " ORDER BY queue"
	return sel, args
}

func queueResults(rows []queueRow, from time.Time, width time.Duration, o ReportOptions) []IntervalFigures {
	out := make([]IntervalFigures, 0, len(rows))
	for _, r := range rows {
		f := QueueFigures{Queue: r.Queue, Offered: r.Offered, Answered: r.Answered, AnsweredInSL: r.AnsweredInSL,
			Abandoned: r.Abandoned, ShortAbandoned: r.ShortAbandoned, Overflowed: r.Overflowed, Exited: r.Exited,
			Callbacks: r.Callbacks, ThresholdSeconds: r.Threshold, WaitSeconds: r.WaitTotal, Handled: r.Handled,
			HandleSeconds: r.HandleTotal}
		den := f.Answered + f.Abandoned - f.ShortAbandoned
		switch o.Formula {
		case "answered":
			den = f.Answered
		case "offered":
			den = f.Offered
		}
		f.ServiceLevel = 1
		if den > 0 {
			f.ServiceLevel, f.Measured = float64(f.AnsweredInSL)/float64(den), true
		}
		if f.Answered+f.Abandoned > 0 {
			f.AbandonRate = float64(f.Abandoned) / float64(f.Answered+f.Abandoned)
		}
		if f.Answered > 0 {
			f.ASASeconds = f.WaitSeconds / float64(f.Answered)
		}
		if f.Handled > 0 {
			f.AHTSeconds = f.HandleSeconds / float64(f.Handled)
		}
		out = append(out, IntervalFigures{Start: from.Add(time.Duration(r.Bucket) * width), QueueFigures: f})
	}
	return out
}

type agentCallRow struct {
	AgentID string
	Calls   int64
	Talk    float64
}

type stateSpan struct {
	AgentID string
	ToState string
	Reason  string
	At      flexTime
	NextAt  flexTime
}

// stateLookback bounds how far before a period the report looks for the
// state an agent was in when the period opened.
const stateLookback = 7 * 24 * time.Hour

// flexTime scans a datetime that SQLite hands back as text when it comes
// out of an expression (a window function) rather than a column.
type flexTime struct {
	T     time.Time
	Valid bool
}

func (f *flexTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		f.Valid = false
		return nil
	case time.Time:
		f.T, f.Valid = x.UTC(), true
		return nil
	case []byte:
		return f.parse(string(x))
	case string:
		return f.parse(x)
	}
	return fmt.Errorf("datetime: cannot scan %T", v)
}

func (f *flexTime) parse(s string) error {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02T15:04:05.999999999-07:00",
		"2006-01-02 15:04:05.999999999Z07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			f.T, f.Valid = t.UTC(), true
			return nil
		}
	}
	return fmt.Errorf("datetime %q: unknown format", s)
}

// agentFigures sums answered calls per agent (calls by agent and arrival,
// the (agent_id, arrived_at) index) and the time spent in wrap-up and
// not-ready per reason: each state change's span runs to the agent's next
// change (LEAD over the (agent_id, at) index), clipped to the period. The
// state an agent was in at the start is its last change before it; spans
// still open end at min(period end, now).
func (s *Store) agentFigures(ctx context.Context, from, to time.Time, o ReportOptions) ([]AgentFigures, error) {
	agents := map[string]*AgentFigures{}
	get := func(id string) *AgentFigures {
		a := agents[id]
		if a == nil {
			a = &AgentFigures{AgentID: id, NotReadyReasons: map[string]float64{}}
			agents[id] = a
		}
		return a
	}
	q, args := agentCallsSQL(from, to, o)
	var calls []agentCallRow
	if err := s.db.WithContext(ctx).Raw(q, args...).Scan(&calls).Error; err != nil {
		return nil, fmt.Errorf("agent report %s..%s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	for _, c := range calls {
		a := get(c.AgentID)
		a.Calls, a.TalkSeconds = c.Calls, c.Talk
	}
	if o.Queue == "" {
		// Spans overlapping the period: those of the changes in it, and
		// the one each agent was in when it opened.
		var spans []stateSpan
		for _, q := range []func(time.Time, time.Time) (string, []any){agentSpansSQL, s.agentOpeningSQL} {
			sql, args := q(from, to)
			got, err := s.scanSpans(ctx, sql, args)
			if err != nil {
				return nil, fmt.Errorf("agent states %s..%s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
			}
			spans = append(spans, got...)
		}
		now := time.Now().UTC()
		for _, sp := range spans {
			start, end := sp.At.T, to
			if sp.NextAt.Valid && sp.NextAt.T.Before(end) {
				end = sp.NextAt.T
			}
			if !sp.NextAt.Valid && now.Before(end) {
				end = now
			}
			if start.Before(from) {
				start = from
			}
			d := end.Sub(start).Seconds()
			if d <= 0 {
				continue
			}
			a := get(sp.AgentID)
			if sp.ToState == "wrap_up" {
				a.WrapUpSeconds += d
			} else {
				a.NotReadySeconds += d
				a.NotReadyReasons[sp.Reason] += d
			}
		}
	}
	out := make([]AgentFigures, 0, len(agents))
	for _, a := range agents {
		a.HandleSeconds = a.TalkSeconds + a.WrapUpSeconds
		if a.Calls > 0 {
			a.AHTSeconds = a.HandleSeconds / float64(a.Calls)
		}
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AgentID < out[j].AgentID })
	return out, nil
}

// agentCallsSQL sums each agent's answered calls that arrived in the
// period (the arrived_at index; per queue, the (queue, arrived_at) one).
func agentCallsSQL(from, to time.Time, o ReportOptions) (string, []any) {
	q := "SELECT agent_id, COUNT(*) AS calls, SUM(CASE WHEN ended_at IS NOT NULL THEN talk_seconds ELSE 0 END) AS talk" +
		" FROM calls WHERE agent_id <> '' AND answered_at IS NOT NULL AND arrived_at >= ? AND arrived_at < ?"
	args := []any{from, to}
	if o.Queue != "" {
		q += " AND queue = ?"
		args = append(args, o.Queue)
	}
	return q + " GROUP BY agent_id", args
}

func (s *Store) scanSpans(ctx context.Context, q string, args []any) ([]stateSpan, error) {
	rows, err := s.db.WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var spans []stateSpan
	for rows.Next() {
		var sp stateSpan
		if err := rows.Scan(&sp.AgentID, &sp.ToState, &sp.Reason, &sp.At, &sp.NextAt); err != nil {
			return nil, err
		}
		spans = append(spans, sp)
	}
	return spans, rows.Err()
}

// agentSpansSQL lists the wrap-up and not-ready spans that start in the
// period (the at index), each running to the agent's next change in it.
func agentSpansSQL(from, to time.Time) (string, []any) {
	q := "SELECT agent_id, to_state, reason, at, next_at FROM (" +
		"SELECT s.agent_id, s.to_state, s.reason, s.at, LEAD(s.at) OVER (PARTITION BY s.agent_id ORDER BY s.at, s.id) AS next_at" +
		" FROM agent_state_changes s WHERE s.at >= ? AND s.at < ?" +
		") x WHERE to_state IN ('wrap_up', 'not_ready')"
	return q, []any{from, to}
}

// agentOpeningSQL lists, per agent in wrap-up or not ready when the period
// opened, that state (its last change before the period, at most
// stateLookback earlier) and the agent's first change in the period, where
// the span ends. Both are seeks on the (agent_id, at) index per agent, not
// a scan of the lookback: on MySQL a loose index scan (GROUP BY agent_id
// with MAX(at)); on SQLite, which has none, a recursive skip over the
// distinct agent ids of the same index. Changes at the same instant are
// ordered by id, as in agentSpansSQL.
func (s *Store) agentOpeningSQL(from, to time.Time) (string, []any) {
	firstIn := "(SELECT MIN(y.at) FROM agent_state_changes y WHERE y.agent_id = s.agent_id AND y.at >= ? AND y.at < ?)"
	if s.dialect == DialectMySQL {
		q := "SELECT s.agent_id, s.to_state, s.reason, s.at, " + firstIn + " AS next_at" +
			" FROM (SELECT agent_id, MAX(at) AS at FROM agent_state_changes WHERE at >= ? AND at < ? GROUP BY agent_id) m" +
			" JOIN agent_state_changes s ON s.id = (SELECT MAX(z.id) FROM agent_state_changes z WHERE z.agent_id = m.agent_id AND z.at = m.at)" +
			" WHERE s.to_state IN ('wrap_up', 'not_ready')"
		return q, []any{from, to, from.Add(-stateLookback), from}
	}
	q := "WITH RECURSIVE ag(id) AS (" +
		"SELECT MIN(agent_id) FROM agent_state_changes" +
		" UNION ALL SELECT (SELECT MIN(x.agent_id) FROM agent_state_changes x WHERE x.agent_id > ag.id) FROM ag WHERE ag.id IS NOT NULL)" +
		" SELECT s.agent_id, s.to_state, s.reason, s.at, " + firstIn + " AS next_at" +
		" FROM ag JOIN agent_state_changes s ON s.rowid = (SELECT x.rowid FROM agent_state_changes x" +
		" WHERE x.agent_id = ag.id AND x.at >= ? AND x.at < ? ORDER BY x.at DESC, x.id DESC LIMIT 1)" +
		" WHERE s.to_state IN ('wrap_up', 'not_ready')"
	return q, []any{from, to, from.Add(-stateLookback), from}
}

// SaveQueue upserts a queue's service-level settings, so reports keep the
// threshold in force even when the routing file is not at hand.
func (s *Store) SaveQueue(ctx context.Context, q *Queue) error {
	if q.UpdatedAt.IsZero() {
		q.UpdatedAt = time.Now().UTC()
	}
	if err := s.db.WithContext(ctx).Save(q).Error; err != nil {
		return fmt.Errorf("save queue %q: %w", q.Name, err)
	}
	return nil
}
