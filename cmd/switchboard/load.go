package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/load"
)

func newLoadCmd(app *App) *cobra.Command {
	var o load.Options
	var samples, progress bool
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Drive synthetic calls through the controller and routing against a PBX, and measure",
		Long: `load runs the real controller and routing engine in this process against a
PBX and drives synthetic calls through them: callers arrive at --rate a
second (Poisson) for --duration, are queued, offered to one of --agents
agents, answered after --ring, talk for --talk and are wrapped up. It then
reports calls completed per second, process CPU per call, peak RSS and the
live heap over the run, and time-to-answer percentiles.

--pbx sim       the simulated PBX, at --speed times real time (--duration
                is then simulated time; ring and talk are means)
--pbx asterisk  the ARI adapter and the real ari/v6 client over loopback
                against an in-process fake Asterisk
--pbx freeswitch  the ESL adapter and the real eslgo client over loopback
                against an in-process fake FreeSWITCH

CPU and memory are the whole process: controller, routing, adapter, client
library, the fake PBX and (with --database) the journal and the database
driver. Without --database, records are counted and dropped.`,
		Example: `  switchboard load --pbx sim --agents 1000 --rate 50 --duration 10m --speed 20
  switchboard load --pbx asterisk --agents 200 --rate 30 --duration 1m --talk 3s
  switchboard load --pbx freeswitch --agents 200 --rate 10 --duration 1m -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if progress {
				o.Progress = func(s load.Sample) {
					fmt.Fprintf(app.Stderr, "%7.1fs  offered %6d  completed %6d  live %5d  waiting %5d  heap %6.1f MiB  rss %6.1f MiB\n",
						s.ClockSeconds, s.Offered, s.Completed, s.Live, s.Waiting, mib(int64(s.HeapBytes)), mib(s.RSSBytes))
				}
			}
			r, err := load.Run(cmd.Context(), o)
			if errors.Is(err, load.ErrInvalid) {
				return usageError{err}
			}
			if r == nil {
				return err
			}
			if !samples {
				r.Samples = nil
			}
			if perr := app.Print(r, func(t *Table) { loadTable(t, r) }); perr != nil {
				return perr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.PBX, "pbx", load.PBXSim, "PBX: sim, asterisk or freeswitch")
	f.IntVar(&o.Agents, "agents", 100, "agents logged in")
	f.Float64Var(&o.Rate, "rate", 10, "new calls per second")
	f.DurationVar(&o.Duration, "duration", time.Minute, "how long callers arrive (simulated time with --pbx sim)")
	f.Float64Var(&o.Speed, "speed", 1, "simulated time runs this many times faster than real time (--pbx sim)")
	f.DurationVar(&o.Ring, "ring", time.Second, "ring time before an agent answers")
	f.DurationVar(&o.Talk, "talk", 12*time.Second, "talk time")
	f.DurationVar(&o.WrapUp, "wrap-up", 2*time.Second, "after-call work time")
	f.DurationVar(&o.Patience, "patience", 0, "a caller hangs up after waiting this long (0: never)")
	f.DurationVar(&o.Drain, "drain", 0, "after the last arrival, wait at most this long for calls to end (default from ring, talk, wrap-up and patience)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed for arrivals (and the simulator)")
	f.StringVar(&o.Database, "database", "", "also write the records through the journal to this DSN (sqlite:PATH or MySQL); default: count them only")
	f.StringVar(&o.JournalDir, "journal-dir", "", "journal directory with --database (default: a temporary one)")
	f.BoolVar(&samples, "samples", false, "include the samples taken during the run in -o json|yaml")
	f.BoolVar(&progress, "progress", false, "print a line per sample on stderr while the run goes")
	_ = cmd.RegisterFlagCompletionFunc("pbx", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{load.PBXSim, load.PBXAsterisk, load.PBXFreeSWITCH}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func loadTable(t *Table, r *load.Report) {
	t.Header = []string{"FIGURE", "VALUE"}
	clock := "s"
	if r.PBX == load.PBXSim && r.Speed != 1 {
		clock = fmt.Sprintf("s simulated (%g× real time)", r.Speed)
	}
	t.Row("pbx", r.PBX)
	t.Row("agents", r.Agents)
	t.Row("traffic", fmt.Sprintf("%.1f%s at %g calls/s; wall %.1fs", r.TrafficSeconds, clock, r.Rate, r.WallSeconds))
	t.Row("calls", fmt.Sprintf("%d offered, %d answered, %d bridged, %d completed, %d abandoned, %d exited, %d still live", r.Offered, r.Answered, r.Bridged, r.Completed, r.Abandoned, r.Exited, r.Live))
	t.Row("arrivals/s", fmt.Sprintf("%.2f", r.ArrivalsPerSecond))
	t.Row("completed/s", fmt.Sprintf("%.2f (sustained, after warm-up)", r.CompletedPerSecond))
	t.Row("cpu", fmt.Sprintf("%.2fs (%.0f%% of one core), %.0f µs per call", r.CPUSeconds, 100*r.CPUShare, r.CPUPerCallUS))
	t.Row("peak rss", fmt.Sprintf("%.1f MiB", mib(r.PeakRSSBytes)))
	t.Row("live heap", fmt.Sprintf("%.1f MiB at start, %.1f MiB peak, %.1f MiB at end of traffic", mib(int64(r.HeapStartBytes)), mib(int64(r.HeapPeakBytes)), mib(int64(r.HeapEndBytes))))
	ta := r.TimeToAnswer
	t.Row("time to answer", fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s (%d answered)", dur(ta.P50), dur(ta.P90), dur(ta.P99), dur(ta.Max), ta.Count))
	t.Row("pbx events", r.Events)
	t.Row("records", r.Records)
	var counts []string
	keys := make([]string, 0, len(r.PBXCounts))
	for k := range r.PBXCounts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		counts = append(counts, fmt.Sprintf("%s %d", k, r.PBXCounts[k]))
	}
	t.Row("pbx's own count", strings.Join(counts, ", "))
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func dur(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}
