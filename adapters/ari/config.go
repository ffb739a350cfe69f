// Package ari implements the PBX port (package adapters) for Asterisk over
// ARI, with the github.com/CyCoreSystems/ari/v6 client.
//
// REST commands go through ari/v6's native client; its types and event
// decoder (ari.DecodeEvent) are used for every event. The events websocket
// is run by this package rather than by native.Client.Connect, because the
// library's connection loop has defects that lose calls (all reproduced in
// this package's tests, see adapter_test.go and docs/asterisk.md):
//
//   - its event bus buffers 100 events per subscriber and drops the rest;
//   - ApplicationReplaced carries no keys, so the bus never delivers it;
//   - it reconnects silently, with no keepalive, so the gap is invisible;
//   - Connected() and Close() race with its reader goroutine (-race fails).
//
// Here each node's socket is read by one goroutine that decodes and appends
// to the node's own unbounded ordered queue at once; a worker turns the
// queue into port events. Connect, disconnect, replacement and a silent
// socket (heartbeat user events stop coming back) are all seen, and every
// (re)connect is followed by reconciliation with what Asterisk still holds.
package ari

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Defaults.
const (
	DefaultURL      = "http://127.0.0.1:8088"
	DefaultApp      = "switchboard"
	DefaultUsername = "switchboard"
)

// NodeConfig is one Asterisk node's ARI endpoint.
type NodeConfig struct {
	// Name identifies the node in LegRef.Node, logs and metrics (default
	// "asterisk" for the first node, "asterisk-N" after).
	Name string `yaml:"name"`
	// URL is the Asterisk HTTP server, without /ari (default http://127.0.0.1:8088).
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// App is the Stasis application name (default switchboard).
	App string `yaml:"app"`
}

// Config is the Asterisk adapter's part of the config file.
type Config struct {
	Nodes []NodeConfig `yaml:"nodes"`
	// RequestTimeout bounds every ARI REST request (default 5s).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// ConnectTimeout bounds the first connection at start (default 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// ReconnectDelay is the pause between reconnect attempts (default 1s).
	ReconnectDelay time.Duration `yaml:"reconnect_delay"`
	// Heartbeat is how often a user event is sent round the websocket to
	// prove it alive; three missed beats drop and redial it (default 5s).
	Heartbeat time.Duration `yaml:"heartbeat"`
	// AgentEndpoint expands a bare agent extension in OriginateRequest.Endpoint
	// ("1001") to a dial string; {ext} is replaced (default "PJSIP/{ext}",
	// e.g. "Local/{ext}@agents").
	AgentEndpoint string `yaml:"agent_endpoint"`
	// RecordingFormat is the default recording format (default wav).
	RecordingFormat string `yaml:"recording_format"`
	// RecordingDir is where Asterisk writes recordings, reported in
	// recording events (default /var/spool/asterisk/recording).
	RecordingDir string `yaml:"recording_dir"`
	// MOHClass is the default music-on-hold class (default "default").
	MOHClass string `yaml:"moh_class"`
	// MaxInflight bounds concurrent REST requests per node (default 64).
	MaxInflight int `yaml:"max_inflight"`
}

// withDefaults fills defaults and validates; the error names the field.
func (c Config) withDefaults() (Config, error) {
	if len(c.Nodes) == 0 {
		c.Nodes = []NodeConfig{{}}
	}
	nodes := make([]NodeConfig, len(c.Nodes))
	seen := map[string]bool{}
	for i, n := range c.Nodes {
		n.Name = defaultNodeName(n.Name, i)
		if seen[n.Name] {
			return c, fmt.Errorf("ari: nodes[%d].name: duplicate node name %q", i, n.Name)
		}
		seen[n.Name] = true
		if n.URL == "" {
			n.URL = DefaultURL
		}
		n.URL = strings.TrimSuffix(strings.TrimSuffix(n.URL, "/"), "/ari")
		u, err := url.Parse(n.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("ari: nodes[%d].url: %q is not an http(s) URL", i, n.URL)
		}
		if n.Username == "" {
			n.Username = DefaultUsername
		}
		if n.App == "" {
			n.App = DefaultApp
		}
		if n.Password == "" {
			return c, fmt.Errorf("ari: nodes[%d].password: empty (set it in the config file or SWITCHBOARD_ARI_PASSWORD)", i)
		}
		nodes[i] = n
	}
	c.Nodes = nodes
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.ReconnectDelay <= 0 {
		c.ReconnectDelay = time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 5 * time.Second
	}
	if c.AgentEndpoint == "" {
		c.AgentEndpoint = "PJSIP/{ext}"
	}
	if !strings.Contains(c.AgentEndpoint, "{ext}") {
		return c, errors.New("ari: agent_endpoint: must contain {ext}, e.g. PJSIP/{ext}")
	}
	if c.RecordingFormat == "" {
		c.RecordingFormat = "wav"
	}
	if c.RecordingDir == "" {
		c.RecordingDir = "/var/spool/asterisk/recording"
	}
	if c.MOHClass == "" {
		c.MOHClass = "default"
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 64
	}
	return c, nil
}

// NodeNames are the node names the adapter puts in its leg refs, in
// order (each node's name, or its default: asterisk, asterisk-2 …).
func (c Config) NodeNames() []string {
	names := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		names[i] = defaultNodeName(n.Name, i)
	}
	if len(names) == 0 {
		names = []string{defaultNodeName("", 0)}
	}
	return names
}

func defaultNodeName(name string, i int) string {
	switch {
	case name != "":
		return name
	case i == 0:
		return "asterisk"
	default:
		return fmt.Sprintf("asterisk-%d", i+1)
	}
}

// endpoint expands a bare extension with the agent template.
func (c Config) endpoint(ep string) string {
	if strings.Contains(ep, "/") {
		return ep
	}
	return strings.ReplaceAll(c.AgentEndpoint, "{ext}", ep)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
