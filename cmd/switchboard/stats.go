package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/api"
)

func newStatsCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Service level, abandon rate and waits per queue and in total",
		Long: `stats prints, per queue and for the whole floor, what happened since the
start of the day: calls offered, answered and abandoned, the service level
(share answered within the queue's threshold) against its goal, the abandon
rate, waits, and agents by state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			var f api.FloorView
			if err := c.Get(cmd.Context(), "/api/v1/floor", &f); err != nil {
				return err
			}
			return app.Print(f, func(t *Table) {
				queueTable(t, f.Queues)
				tt := f.Totals
				t.Footer = append(t.Footer,
					"",
					fmt.Sprintf("service level: %s  (%d answered within their queue's threshold, of %d answered or abandoned)", pct(tt.ServiceLevel), tt.AnsweredInThreshold, tt.ServiceLevelBase),
					fmt.Sprintf("abandon rate:  %s  (%d abandoned, %d answered)", pct(tt.AbandonRate), tt.Abandoned, tt.Answered),
					fmt.Sprintf("waiting now:   %d  (longest %s)", tt.Waiting, secs(tt.LongestWaitSeconds)),
					fmt.Sprintf("agents:        %s", states(tt.AgentsByState)),
				)
			})
		},
	}
}
