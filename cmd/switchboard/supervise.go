package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/api"
)

// addSupervisorCmds adds call listen|whisper|barge and call stop: a
// supervisor's phone joined to a call talking to an agent, and sent away.
func addSupervisorCmds(app *App, call *cobra.Command) {
	for _, m := range []struct{ mode, short string }{
		{api.SnoopListen, "Listen to a call: the supervisor hears the caller and the agent, neither hears them"},
		{api.SnoopWhisper, "Whisper to the agent of a call: the agent hears the supervisor, the caller does not"},
		{api.SnoopBarge, "Barge into a call: the caller and the agent both hear the supervisor"},
	} {
		var endpoint string
		cmd := &cobra.Command{
			Use:   m.mode + " CALL_ID --endpoint DIAL_STRING",
			Short: m.short,
			Long: m.short + `.

switchboard rings --endpoint (the supervisor's phone as the PBX dials it:
PJSIP/2001 or Local/2001@supervisors on Asterisk, user/2001 or
sofia/internal/2001@host on FreeSWITCH) and joins it to the call once
answered. The call must be talking to an agent. The supervisor leaves by
hanging up, with "switchboard call stop CALL_ID [LEG]", or when the call
ends.`,
			Example: "  switchboard call " + m.mode + " ast1-1733150000.42 --endpoint PJSIP/2001",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if strings.TrimSpace(endpoint) == "" {
					return usagef("call %s: --endpoint is required: the supervisor's phone as the PBX dials it (PJSIP/2001, user/2001, …)", m.mode)
				}
				c, err := app.Client()
				if err != nil {
					return err
				}
				var out api.Snoop
				if err := c.Post(cmd.Context(), "/api/v1/calls/"+url.PathEscape(args[0])+"/snoop",
					api.SnoopRequest{Mode: m.mode, Endpoint: endpoint}, &out); err != nil {
					return err
				}
				return app.Print(out, func(t *Table) {
					t.Header = []string{"CALL", "MODE", "ENDPOINT", "NODE", "LEG"}
					t.Row(out.CallID, out.Mode, out.Endpoint, dash(out.Leg.Node), out.Leg.ID)
					t.Footer = append(t.Footer, fmt.Sprintf("%s is rung; end with: switchboard call stop %s %s", out.Endpoint, out.CallID, out.Leg.ID))
				})
			},
		}
		cmd.Flags().StringVar(&endpoint, "endpoint", "", "the supervisor's phone as the PBX dials it (PJSIP/2001, user/2001, …)")
		call.AddCommand(cmd)
	}

	call.AddCommand(&cobra.Command{
		Use:   "stop CALL_ID [LEG]",
		Short: "End supervisor listen, whisper or barge on a call (one supervisor leg, or all); the call goes on",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			path := "/api/v1/calls/" + url.PathEscape(args[0]) + "/snoop"
			if len(args) == 2 {
				if args[1] == "" {
					return usagef("call stop: LEG is empty (leave it out to end every supervisor on the call)")
				}
				path += "/" + url.PathEscape(args[1])
			}
			var out api.SnoopEnd
			if err := c.Do(cmd.Context(), http.MethodDelete, path, nil, &out); err != nil {
				return err
			}
			return app.Print(out, func(t *Table) {
				for _, l := range out.Ended {
					t.Footer = append(t.Footer, fmt.Sprintf("call %s: supervisor leg %s hung up", out.CallID, l.ID))
				}
				if len(out.Ended) == 0 {
					t.Footer = append(t.Footer, fmt.Sprintf("call %s: the supervisor's phone is still being rung; it is hung up as soon as it is up", out.CallID))
				}
			})
		},
	})
}

// supervisorLines renders the supervisors on a live call ("snoops" in its
// detail) for call show.
func supervisorLines(detail any) []string {
	m, ok := detail.(map[string]any)
	if !ok || m["snoops"] == nil {
		return nil
	}
	b, err := json.Marshal(m["snoops"])
	if err != nil {
		return nil
	}
	var sups []api.Supervisor
	if json.Unmarshal(b, &sups) != nil || len(sups) == 0 {
		return nil
	}
	out := []string{"supervisors:"}
	for _, s := range sups {
		state := "on the call"
		if !s.Answered {
			state = "ringing"
		}
		out = append(out, fmt.Sprintf("  %s %s (leg %s), %s since %s", s.Mode, s.Endpoint, s.Leg.ID, state, s.Since.Local().Format(time.TimeOnly)))
	}
	return out
}
