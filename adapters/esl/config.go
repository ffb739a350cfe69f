package esl

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
)

// Config is the FreeSWITCH adapter's part of switchboard.yaml (pbx.freeswitch).
type Config struct {
	// Node names this FreeSWITCH in leg refs and logs; default "freeswitch".
	Node string `yaml:"node"`
	// Addr is the inbound event socket (event_socket.conf.xml listen-ip:
	// listen-port); default 127.0.0.1:8021. Env SWITCHBOARD_ESL_ADDR.
	Addr string `yaml:"addr"`
	// Password is the event socket password; default ClueCon.
	// Env SWITCHBOARD_ESL_PASSWORD.
	Password string `yaml:"password"`
	// ConnectTimeout bounds one dial plus auth; default 5s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// CommandTimeout bounds one command and its reply; a command that
	// times out drops and redials the connection; default 5s.
	CommandTimeout time.Duration `yaml:"command_timeout"`
	// HealthInterval is how often `api status` probes each connection;
	// default 5s. HealthTimeout bounds the probe; default 2s.
	HealthInterval time.Duration `yaml:"health_interval"`
	HealthTimeout  time.Duration `yaml:"health_timeout"`
	// ReconnectMin and ReconnectMax bound the redial backoff; defaults
	// 200ms and 10s.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// ReorderWindow is how long an event may wait for lower Event-Sequence
	// numbers before it is applied; default 20ms. Never waits for a gap.
	ReorderWindow time.Duration `yaml:"reorder_window"`
	// ArrivalVar is the channel variable the dialplan sets to "true" before
	// park to hand the call to switchboard; default "switchboard".
	ArrivalVar string `yaml:"arrival_var"`
	// RecordingDir is where FreeSWITCH writes recordings (a path on the
	// FreeSWITCH host); default /var/lib/freeswitch/recordings/switchboard.
	RecordingDir string `yaml:"recording_dir"`
	// RecordingFormat is the file extension when a request names none; default wav.
	RecordingFormat string `yaml:"recording_format"`
	// MOHStream is the default music on hold; default local_stream://moh.
	// A StartHold class "x" plays local_stream://x.
	MOHStream string `yaml:"moh_stream"`
	// SayLanguage is the language of number prompts (say); default en.
	SayLanguage string `yaml:"say_language"`
	// FallbackContext and FallbackExtension are where Continue sends a call
	// when the controller names none; defaults switchboard_fallback / fallback
	// (see dialplans/freeswitch).
	FallbackContext   string `yaml:"fallback_context"`
	FallbackExtension string `yaml:"fallback_extension"`
	// HeartbeatVar is the FreeSWITCH global variable switchboard sets to the
	// current Unix time on connect and on every health probe; the sample
	// dialplan sends calls to the fallback when it is older than 20s.
	// Default switchboard_heartbeat.
	HeartbeatVar string `yaml:"heartbeat_var"`
	// CommandConns is how many command connections to keep (default 4).
	// Each carries one command at a time (the serialized-commands defence);
	// a leg's commands always use the same one, so they stay in order.
	CommandConns int `yaml:"command_connections"`
	// EventBuffer is the size of the Events channel; default 4096.
	EventBuffer int `yaml:"event_buffer"`
	// AgentEndpoint expands a bare agent extension in
	// OriginateRequest.Endpoint ("1001", no '/') to a dial string; {ext} is
	// replaced (default "user/{ext}"; e.g. "sofia/gateway/asterisk/{ext}"
	// for phones registered on an Asterisk reached by a trunk). A full dial
	// string (with '/') is used as given.
	AgentEndpoint string `yaml:"agent_endpoint"`
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid freeswitch config")

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	str := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	str(&c.Node, "freeswitch")
	str(&c.Addr, "127.0.0.1:8021")
	str(&c.Password, "ClueCon")
	def(&c.ConnectTimeout, 5*time.Second)
	def(&c.CommandTimeout, 5*time.Second)
	def(&c.HealthInterval, 5*time.Second)
	def(&c.HealthTimeout, 2*time.Second)
	def(&c.ReconnectMin, 200*time.Millisecond)
	def(&c.ReconnectMax, 10*time.Second)
	def(&c.ReorderWindow, 20*time.Millisecond)
	str(&c.ArrivalVar, "switchboard")
	str(&c.RecordingDir, "/var/lib/freeswitch/recordings/switchboard")
	str(&c.RecordingFormat, "wav")
	str(&c.MOHStream, "local_stream://moh")
	str(&c.SayLanguage, "en")
	str(&c.FallbackContext, "switchboard_fallback")
	str(&c.FallbackExtension, "fallback")
	str(&c.HeartbeatVar, "switchboard_heartbeat")
	str(&c.AgentEndpoint, "user/{ext}")
	if c.EventBuffer == 0 {
		c.EventBuffer = 4096
	}
	if c.CommandConns == 0 {
		c.CommandConns = 4
	}
	return c
}

// Validate reports the first invalid field (after defaults), naming it.
func (c Config) Validate() error {
	c = c.withDefaults()
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("%w: addr %q: %v", ErrConfig, c.Addr, err)
	}
	for name, d := range map[string]time.Duration{
		"connect_timeout": c.ConnectTimeout, "command_timeout": c.CommandTimeout,
		"health_interval": c.HealthInterval, "health_timeout": c.HealthTimeout,
		"reconnect_min": c.ReconnectMin, "reconnect_max": c.ReconnectMax, "reorder_window": c.ReorderWindow,
	} {
		if d < 0 {
			return fmt.Errorf("%w: %s must be positive, got %s", ErrConfig, name, d)
		}
	}
	if c.ReconnectMax < c.ReconnectMin {
		return fmt.Errorf("%w: reconnect_max %s is below reconnect_min %s", ErrConfig, c.ReconnectMax, c.ReconnectMin)
	}
	for name, v := range map[string]string{"node": c.Node, "arrival_var": c.ArrivalVar, "recording_format": c.RecordingFormat,
		"say_language": c.SayLanguage, "fallback_context": c.FallbackContext, "fallback_extension": c.FallbackExtension, "heartbeat_var": c.HeartbeatVar} {
		if !namePattern.MatchString(v) {
			return fmt.Errorf("%w: %s %q may hold only letters, digits, '.', '_' and '-'", ErrConfig, name, v)
		}
	}
	if c.CommandConns < 0 || c.CommandConns > 32 {
		return fmt.Errorf("%w: command_connections must be between 1 and 32, got %d", ErrConfig, c.CommandConns)
	}
	if c.EventBuffer < 0 {
		return fmt.Errorf("%w: event_buffer must be positive, got %d", ErrConfig, c.EventBuffer)
	}
	if err := safeArg("recording_dir", c.RecordingDir); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := safeArg("moh_stream", c.MOHStream); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := safeLine("password", c.Password); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if !strings.Contains(c.AgentEndpoint, "{ext}") {
		return fmt.Errorf("%w: agent_endpoint %q must contain {ext}, e.g. user/{ext}", ErrConfig, c.AgentEndpoint)
	}
	if err := safeArg("agent_endpoint", c.AgentEndpoint); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// NodeName is the node name the adapter puts in its leg refs (Node, or
// its default).
func (c Config) NodeName() string { return c.withDefaults().Node }

// endpoint expands a bare extension (no '/') with the agent template; a
// dial string is returned as given.
func (c Config) endpoint(ep string) string {
	if ep == "" || strings.Contains(ep, "/") {
		return ep
	}
	return strings.ReplaceAll(c.AgentEndpoint, "{ext}", ep)
}
