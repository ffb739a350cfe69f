package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/adapters/ari"
	"github.com/switchboard-cc/switchboard/adapters/esl"
	"github.com/switchboard-cc/switchboard/config"
)

// doctorCheck is one line of `switchboard doctor`: what was checked, on
// which PBX node, whether it passed, what was seen and what to fix.
type doctorCheck struct {
	PBX    string `json:"pbx"`
	Node   string `json:"node"`
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

var errDoctorFailed = errors.New("doctor found problems")

func newDoctorCmd(app *App) *cobra.Command {
	var f configFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the PBX connection and say what to fix",
		Long: `doctor checks the configured PBX without taking calls over: for Asterisk,
ARI reachability, the ARI credentials, the Asterisk version and whether the
Stasis app is registered (it is while a switchboard is connected); for
FreeSWITCH, event socket reachability, the password, the FreeSWITCH version
and a plain event subscription; for a mixed floor (pbx.kind mixed), both.
Each failed check says what to fix. Exit status 1 when any check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := app.resolveConfig(cmd, &f)
			if err != nil {
				return err
			}
			var checks []doctorCheck
			kind := cfg.PBX.Kind
			// A mixed floor is checked as both of its PBXs.
			if kind == config.PBXAsterisk || kind == config.PBXMixed {
				for _, c := range ari.Doctor(cmd.Context(), cfg.PBX.Asterisk) {
					checks = append(checks, doctorCheck{PBX: "asterisk", Node: c.Node, Name: c.Name, OK: c.OK, Detail: c.Detail, Fix: c.Fix})
				}
			}
			if kind == config.PBXFreeSWITCH || kind == config.PBXMixed {
				for _, c := range esl.Doctor(cmd.Context(), cfg.PBX.FreeSWITCH) {
					checks = append(checks, doctorCheck{PBX: "freeswitch", Node: c.Node, Name: c.Name, OK: c.OK, Detail: c.Detail, Fix: c.Fix})
				}
			}
			switch kind {
			case config.PBXAsterisk, config.PBXFreeSWITCH, config.PBXMixed:
			default:
				checks = append(checks, doctorCheck{PBX: cfg.PBX.Kind, Name: "pbx checks", OK: true,
					Detail: fmt.Sprintf("no doctor checks for pbx kind %q in this build", cfg.PBX.Kind)})
			}
			failed := 0
			for _, c := range checks {
				if !c.OK {
					failed++
				}
			}
			err = app.Print(checks, func(t *Table) {
				t.Header = []string{"PBX", "NODE", "CHECK", "RESULT", "DETAIL", "FIX"}
				for _, c := range checks {
					res := "ok"
					if !c.OK {
						res = "FAIL"
					}
					t.Row(c.PBX, c.Node, c.Name, res, c.Detail, c.Fix)
				}
			})
			if err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%w: %d of %d checks failed", errDoctorFailed, failed, len(checks))
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
