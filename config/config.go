// Package config is switchboard's one configuration file
// (configs/switchboard.yaml): its shape, the embedded defaults, strict
// loading that names file, line and key for every mistake, and the
// precedence flags > environment (SWITCHBOARD_…) > file > defaults.
//
// Each package that needs settings owns a Config struct with yaml tags;
// this package composes them into sections and adds only what belongs to
// no package (where to listen, which PBX, where the routing file is).
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/ari"
	"github.com/switchboard-cc/switchboard/adapters/esl"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/callbacks"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/recordings"
	"github.com/switchboard-cc/switchboard/storage"
)

// PBX kinds: which adapter serve starts.
const (
	PBXSim        = "sim"
	PBXAsterisk   = "asterisk"
	PBXFreeSWITCH = "freeswitch"
	// PBXMixed runs the Asterisk and the FreeSWITCH adapter side by side
	// (pbx.asterisk and pbx.freeswitch both used), one floor over both.
	PBXMixed = "mixed"
)

// Config is the whole file.
type Config struct {
	Server   Server   `yaml:"server"`
	Database Database `yaml:"database"`
	PBX      PBX      `yaml:"pbx"`
	Routing  Routing  `yaml:"routing"`
	// Controller tunes the call flow (command timeout, hold music,
	// greeting, statistics day).
	Controller controller.Config `yaml:"controller"`
	// Callbacks configures scheduled callbacks and virtual hold.
	Callbacks callbacks.Config `yaml:"callbacks"`
	// Recordings configures the recording policy, file naming and review.
	Recordings recordings.Config `yaml:"recordings"`
	Log        Log               `yaml:"log"`
}

// Server is the HTTP side: API, wallboard, metrics.
type Server struct {
	// Listen is the host:port the HTTP server binds.
	Listen string `yaml:"listen"`
	// Token, when set, is the bearer token write operations need. With no
	// token the server refuses to listen on anything but loopback.
	Token string `yaml:"token"`
	// ShutdownTimeout bounds the clean shutdown (drain HTTP, flush journal).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Database says where switchboard keeps its durable memory.
type Database struct {
	// DSN is sqlite:PATH or a MySQL DSN (mysql://user:pass@tcp(host:port)/db
	// or the bare go-sql-driver form user:pass@tcp(host:port)/db).
	DSN string `yaml:"dsn"`
	// JournalDir holds the write-behind journal: records are on local disk
	// here before they reach the database, and are replayed after a crash
	// or a database outage.
	JournalDir string `yaml:"journal_dir"`
}

// PBX picks the adapter and holds each adapter's settings. Only the
// section of the chosen kind is used; the others may stay in the file.
type PBX struct {
	// Kind is sim, asterisk, freeswitch or mixed (Asterisk and FreeSWITCH
	// side by side, both sections used).
	Kind string `yaml:"kind"`
	// Sim configures the simulated PBX (kind: sim): caller streams and
	// agent groups. The default is the demo floor.
	Sim sim.Config `yaml:"sim"`
	// Asterisk configures the ARI adapter (kind: asterisk).
	Asterisk ari.Config `yaml:"asterisk"`
	// FreeSWITCH configures the ESL adapter (kind: freeswitch).
	FreeSWITCH esl.Config `yaml:"freeswitch"`
}

// Routing points at the routing file (queues, agents, rules).
type Routing struct {
	// File is the routing file; empty means the embedded demo rules.
	File string `yaml:"file"`
}

// Log configures log/slog output on stderr.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Defaults returns the embedded defaults: simulated PBX, SQLite file
// switchboard.db in the working directory, 127.0.0.1:8080.
func Defaults() Config {
	return Config{
		Server: Server{
			Listen:          "127.0.0.1:8080",
			ShutdownTimeout: 10 * time.Second,
		},
		Database: Database{DSN: "sqlite:switchboard.db", JournalDir: "switchboard.journal"},
		PBX:      PBX{Kind: PBXSim, Sim: DemoSim()},
		Controller: controller.Config{
			CommandTimeout: 5 * time.Second,
			Timezone:       "UTC",
			ShortAbandon:   5 * time.Second,
			RecentTraces:   8,
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

// FieldError is one invalid value, named by its dotted key
// (server.listen). Load and Resolve turn it into an *Error that also says
// where the value came from.
type FieldError struct {
	Key string
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// Validate checks values that the types alone do not constrain. It returns
// the first problem as a *FieldError.
func (c Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	if _, _, err := SplitListen(c.Server.Listen); err != nil {
		return bad("server.listen", "%v", err)
	}
	if c.Server.ShutdownTimeout <= 0 {
		return bad("server.shutdown_timeout", "must be positive, got %s", c.Server.ShutdownTimeout)
	}
	if strings.ContainsAny(c.Server.Token, " \t\r\n") {
		return bad("server.token", "must not contain white space")
	}
	if c.Server.Token == "" {
		host, _, _ := SplitListen(c.Server.Listen)
		if !IsLoopback(host) {
			return bad("server.listen", "%q is not a loopback address: set server.token (or SWITCHBOARD_TOKEN, --token) before listening beyond this machine", c.Server.Listen)
		}
	}
	if err := checkDSN(c.Database.DSN); err != nil {
		return bad("database.dsn", "%v", err)
	}
	if c.Database.JournalDir == "" {
		return bad("database.journal_dir", "empty: the journal needs a directory")
	}
	switch c.PBX.Kind {
	case PBXSim:
		if err := c.PBX.Sim.Validate(); err != nil {
			return bad("pbx.sim", "%v", err)
		}
		if c.PBX.Sim.Speed < 0 {
			return bad("pbx.sim.speed", "must not be negative, got %v", c.PBX.Sim.Speed)
		}
	case PBXAsterisk:
	case PBXFreeSWITCH:
		if err := c.PBX.FreeSWITCH.Validate(); err != nil {
			return bad("pbx.freeswitch", "%v", err)
		}
	case PBXMixed:
		if err := c.PBX.FreeSWITCH.Validate(); err != nil {
			return bad("pbx.freeswitch", "%v", err)
		}
		// A leg names only its node, so a node name must say which PBX it
		// is on.
		fsNode := c.PBX.FreeSWITCH.NodeName()
		for i, n := range c.PBX.Asterisk.NodeNames() {
			if n == fsNode {
				key := "pbx.freeswitch.node"
				if c.PBX.FreeSWITCH.Node == "" {
					key = fmt.Sprintf("pbx.asterisk.nodes[%d].name", i)
				}
				return bad(key, "node name %q is both pbx.freeswitch.node and pbx.asterisk.nodes[%d].name: node names must be unique across the PBXs of a mixed floor", n, i)
			}
		}
	default:
		return bad("pbx.kind", "must be one of sim, asterisk, freeswitch, mixed; got %q", c.PBX.Kind)
	}
	if c.Controller.Timezone != "" {
		if _, err := time.LoadLocation(c.Controller.Timezone); err != nil {
			return bad("controller.timezone", "unknown time zone %q", c.Controller.Timezone)
		}
	}
	if c.Controller.CommandTimeout < 0 || c.Controller.ShortAbandon < 0 {
		return bad("controller", "command_timeout and short_abandon must not be negative")
	}
	if err := c.Callbacks.Validate(); err != nil {
		var ke *callbacks.KeyError
		if errors.As(err, &ke) {
			return bad(ke.Key, "%s", ke.Msg)
		}
		return bad("callbacks", "%v", err)
	}
	rec := c.Recordings
	rec.Defaults()
	if err := rec.Validate(); err != nil {
		return bad("recordings", "%v", err)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be one of debug, info, warn, error; got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "must be text or json; got %q", c.Log.Format)
	}
	return nil
}

// SplitListen splits host:port and checks the port.
func SplitListen(addr string) (host string, port int, err error) {
	if addr == "" {
		return "", 0, fmt.Errorf("empty address: want host:port such as 127.0.0.1:8080")
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number 0..65535", addr, p)
	}
	return h, n, nil
}

// IsLoopback reports whether host names only this machine. An empty host
// (":8080") binds every interface and is not loopback.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkDSN accepts sqlite:PATH, mysql://… and the bare go-sql-driver form.
func checkDSN(dsn string) error {
	switch {
	case dsn == "":
		return fmt.Errorf("empty: want sqlite:PATH or a MySQL DSN")
	case strings.HasPrefix(dsn, "sqlite:"):
		if strings.TrimPrefix(dsn, "sqlite:") == "" {
			return fmt.Errorf("%q names no file: want sqlite:PATH such as sqlite:switchboard.db", dsn)
		}
		return nil
	case strings.HasPrefix(dsn, "mysql://"):
		rest := strings.TrimPrefix(dsn, "mysql://")
		if !strings.Contains(rest, "/") {
			return fmt.Errorf("MySQL DSN names no database: want mysql://user:pass@tcp(host:3306)/db")
		}
		return nil
	case strings.Contains(dsn, "@tcp(") || strings.Contains(dsn, "@unix("):
		if !strings.Contains(dsn[strings.Index(dsn, "@"):], ")/") {
			return fmt.Errorf("MySQL DSN names no database: want user:pass@tcp(host:3306)/db")
		}
		return nil
	default:
		if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
			return fmt.Errorf("unsupported database scheme %q: want sqlite:PATH or a MySQL DSN", u.Scheme)
		}
		return fmt.Errorf("%q is neither sqlite:PATH nor a MySQL DSN (user:pass@tcp(host:3306)/db)", storage.MaskDSN(dsn))
	}
}

// DemoSim is the simulated floor `switchboard serve` runs by default: the
// demo routing file's lines 1000 (support), 2000 (billing) and 3000
// (sales), each with its own callers, and agent groups sup-, bil- and sal-
// whose skills and queues match those queues, so calls are answered within
// seconds of start. It is sized to run busy but not drowned (about 70–80 %
// occupancy), so the wallboard shows real waits and the odd abandon.
func DemoSim() sim.Config {
	return sim.Config{
		Seed:  1,
		Speed: 1,
		Streams: []sim.Stream{
			{DialedNumber: "1000", CallerPrefix: "+3314500", RatePerMinute: 10, PatienceMean: 90 * time.Second, Patience: "lognormal", VIPShare: 0.05},
			// Billing offers callbacks after 30 s (configs/routing.yaml);
			// half of the callers offered one accept it.
			{DialedNumber: "2000", CallerPrefix: "+3314600", RatePerMinute: 6, PatienceMean: 90 * time.Second, Patience: "lognormal", CallbackShare: 0.5},
			{DialedNumber: "3000", CallerPrefix: "+3314700", RatePerMinute: 6, PatienceMean: 120 * time.Second, Patience: "lognormal"},
		},
		AgentGroups: []sim.AgentGroup{
			{Prefix: "sup", Count: 12, Skills: map[string]int{"support": 7, "general": 5}, Queues: map[string]int{"support": 1, "general": 2},
				AnswerProbability: 0.97, RingDelay: 2 * time.Second, HandleTime: 45 * time.Second},
			{Prefix: "bil", Count: 8, Skills: map[string]int{"billing": 8, "general": 3}, Queues: map[string]int{"billing": 1, "general": 3},
				AnswerProbability: 0.97, RingDelay: 2 * time.Second, HandleTime: 45 * time.Second},
			{Prefix: "sal", Count: 6, Skills: map[string]int{"sales": 6, "general": 5}, Queues: map[string]int{"sales": 1, "general": 2},
				AnswerProbability: 0.97, RingDelay: 2 * time.Second, HandleTime: 45 * time.Second},
		},
	}
}
