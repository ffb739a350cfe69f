package esl

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
)

// TestOriginateBareExtension: a bare agent extension ("1001") is dialled
// through agent_endpoint (default user/{ext}); a full dial string is sent
// as given. A mixed floor relies on it: the controller originates the
// agent on the caller's node with the agent's one endpoint, and each node
// renders it in its own form.
func TestOriginateBareExtension(t *testing.T) {
	for _, tc := range []struct {
		name, template, endpoint, dial string
	}{
		{"default template", "", "1001", "user/1001"},
		{"trunk to another pbx", "sofia/gateway/asterisk/{ext}", "2001", "sofia/gateway/asterisk/2001"},
		{"dial string kept", "sofia/gateway/asterisk/{ext}", "user/1002", "user/1002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHarness(t, func(c *Config) { c.AgentEndpoint = tc.template }, nil)
			ref, err := h.a.Originate(ctxT(t), adapters.OriginateRequest{Endpoint: tc.endpoint, Tag: "t", Timeout: 5 * time.Second, Role: adapters.RoleAgent})
			if err != nil {
				t.Fatal(err)
			}
			h.rec.waitFor(t, "answered", isType[adapters.LegAnswered](ref.ID))
			if ch, ok := h.fs.Channel(ref.ID); !ok || ch.Name != tc.dial {
				t.Fatalf("channel %+v, want name %q", ch, tc.dial)
			}
			sent := ""
			for _, c := range h.fs.Commands() {
				if strings.HasPrefix(c, "bgapi originate ") && strings.Contains(c, "origination_uuid="+ref.ID) {
					sent = c
				}
			}
			if !strings.Contains(sent, "}"+tc.dial+" &park()") {
				t.Fatalf("sent %q, want dial string %q", sent, tc.dial)
			}
		})
	}
}

// TestAgentEndpointValidated: a template without {ext}, or one that would
// break the originate line, is refused naming agent_endpoint.
func TestAgentEndpointValidated(t *testing.T) {
	for _, tpl := range []string{"user/1001", "user/{ext} &bridge(x)"} {
		err := Config{AgentEndpoint: tpl}.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "agent_endpoint") {
			t.Fatalf("%q: %v", tpl, err)
		}
	}
	if err := (Config{AgentEndpoint: "sofia/gateway/ast/{ext}"}).Validate(); err != nil {
		t.Fatal(err)
	}
}
