package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// reportFlags are report's own flags beside the config flags.
type reportFlags struct {
	date     string
	queue    string
	zone     string
	interval time.Duration
}

func newReportCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Daily and interval reports per queue and per agent",
		Long: `report reads the configured database (--database, --config) directly, so it
works on a reporting replica and with no server running.

Per queue: offered, answered, answered within the threshold, abandoned (short
abandons apart), overflowed, exited, service level, abandon rate, average
speed of answer (ASA) and average handle (talk) time (AHT). Per agent: calls,
talk, wrap-up and handle time, not-ready time by reason. The day's zone,
short-abandon threshold and service-level formula come from the controller
settings; each queue's threshold from the routing file when one is
configured, else the queues table, else 20 s. Definitions: docs/storage.md.`,
	}
	daily := &cobra.Command{
		Use:     "daily",
		Short:   "One day per queue and per agent",
		Example: "  switchboard report daily --date 2026-11-20 --queue support -o json",
		Args:    cobra.NoArgs,
	}
	interval := &cobra.Command{
		Use:     "interval",
		Short:   "One day in intervals (15m, 30m, 1h) per queue",
		Example: "  switchboard report interval --date 2026-11-20 --interval 1h",
		Args:    cobra.NoArgs,
	}
	for _, c := range []*cobra.Command{daily, interval} {
		var cf configFlags
		var rf reportFlags
		cf.register(c)
		fl := c.Flags()
		fl.StringVar(&rf.date, "date", "", "day YYYY-MM-DD in the report zone (default today)")
		fl.StringVar(&rf.queue, "queue", "", "only this queue")
		fl.StringVar(&rf.zone, "zone", "", "time zone of the day, e.g. Europe/Paris (default controller.timezone)")
		if c == interval {
			fl.DurationVar(&rf.interval, "interval", 30*time.Minute, "interval width: whole minutes dividing a day")
		}
		c.RunE = func(cmd *cobra.Command, _ []string) error {
			cfg, err := app.resolveConfig(cmd, &cf)
			if err != nil {
				return err
			}
			o, err := reportOptions(cfg, rf)
			if err != nil {
				return err
			}
			date := rf.date
			if date == "" {
				date = time.Now().In(o.Location).Format("2006-01-02")
			}
			s, err := app.openStore(cmd, &cf)
			if err != nil {
				return err
			}
			defer s.Close()
			if c == daily {
				r, err := s.Daily(cmd.Context(), date, o)
				if err != nil {
					return reportErr(err)
				}
				return app.Print(r, func(t *Table) { dailyTable(t, r) })
			}
			r, err := s.Interval(cmd.Context(), date, o)
			if err != nil {
				return reportErr(err)
			}
			return app.Print(r, func(t *Table) { intervalTable(t, r, o.Location) })
		}
		cmd.AddCommand(c)
	}
	return cmd
}

func reportErr(err error) error {
	if errors.Is(err, storage.ErrBadReport) {
		return usageError{err}
	}
	return err
}

// reportOptions takes the zone, short-abandon rule and formula from the
// controller settings and the thresholds from the routing file.
func reportOptions(cfg config.Config, rf reportFlags) (storage.ReportOptions, error) {
	o := storage.ReportOptions{Queue: rf.queue, Interval: rf.interval, ShortAbandon: cfg.Controller.ShortAbandon,
		Formula: cfg.Controller.ServiceLevel}
	zone := cfg.Controller.Timezone
	if rf.zone != "" {
		zone = rf.zone
	}
	if zone == "" {
		zone = "UTC"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return o, usagef("--zone %q: %v", zone, err)
	}
	o.Location = loc
	if cfg.Routing.File != "" {
		data, err := readRules(cfg.Routing.File)
		if err != nil {
			return o, err
		}
		rc, err := routing.ParseRules(cfg.Routing.File, data)
		if err != nil {
			return o, fmt.Errorf("routing file %s (for the queues' thresholds): %w", cfg.Routing.File, err)
		}
		o.Thresholds = map[string]time.Duration{}
		for _, q := range rc.Queues {
			o.Thresholds[q.Name] = q.ServiceLevelThreshold
		}
	}
	return o, nil
}

func dailyTable(t *Table, r *storage.DailyReport) {
	t.Header = []string{"QUEUE", "OFFERED", "ANSWERED", "ABANDONED", "OVERFLOWED", "SL", "THRESHOLD", "ABANDON RATE", "ASA", "AHT"}
	for _, q := range r.Queues {
		t.Row(q.Queue, q.Offered, q.Answered, abandoned(q), q.Overflowed, pct(q.ServiceLevel), secs(q.ThresholdSeconds), pct(q.AbandonRate),
			secs(q.ASASeconds), secs(q.AHTSeconds))
	}
	t.Footer = append(t.Footer, fmt.Sprintf("%s (%s), service level formula %q", r.Date, r.Zone, r.Formula))
	if len(r.Agents) > 0 {
		t.Footer = append(t.Footer, "", fmt.Sprintf("%-14s %6s %9s %9s %9s %9s  %s", "AGENT", "CALLS", "TALK", "WRAP-UP", "HANDLE", "AHT", "NOT READY"))
		for _, a := range r.Agents {
			t.Footer = append(t.Footer, fmt.Sprintf("%-14s %6d %9s %9s %9s %9s  %s", a.AgentID, a.Calls, secs(a.TalkSeconds),
				secs(a.WrapUpSeconds), secs(a.HandleSeconds), secs(a.AHTSeconds), notReady(a)))
		}
	}
}

func intervalTable(t *Table, r *storage.IntervalReport, loc *time.Location) {
	t.Header = []string{"START", "QUEUE", "OFFERED", "ANSWERED", "ABANDONED", "SL", "ASA", "AHT"}
	for _, iv := range r.Intervals {
		t.Row(iv.Start.In(loc).Format("15:04"), iv.Queue, iv.Offered, iv.Answered, abandoned(iv.QueueFigures), pct(iv.ServiceLevel),
			secs(iv.ASASeconds), secs(iv.AHTSeconds))
	}
	t.Footer = append(t.Footer, fmt.Sprintf("%s (%s) in %s intervals, service level formula %q", r.Date, r.Zone, r.Interval, r.Formula))
}

func abandoned(q storage.QueueFigures) string {
	if q.ShortAbandoned > 0 {
		return fmt.Sprintf("%d (%d short)", q.Abandoned, q.ShortAbandoned)
	}
	return fmt.Sprint(q.Abandoned)
}

func notReady(a storage.AgentFigures) string {
	if a.NotReadySeconds == 0 {
		return "-"
	}
	reasons := make([]string, 0, len(a.NotReadyReasons))
	for r := range a.NotReadyReasons {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	parts := make([]string, 0, len(reasons))
	for _, r := range reasons {
		name := r
		if name == "" {
			name = "(none)"
		}
		parts = append(parts, name+" "+secs(a.NotReadyReasons[r]))
	}
	return secs(a.NotReadySeconds) + ": " + strings.Join(parts, ", ")
}
