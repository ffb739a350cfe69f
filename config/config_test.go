package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseErrorsNameFileLineKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // substring of the error, which always starts with the file name
	}{
		{"unknown top-level key", "server:\n  listen: 127.0.0.1:9000\nfoo: 1\n", "sb.yaml:3:1: foo: unknown key \"foo\""},
		{"unknown nested key", "server:\n  listn: 127.0.0.1:9000\n", "sb.yaml:2:3: server.listn: unknown key \"listn\" (valid keys in server: listen, shutdown_timeout, token)"},
		{"bad duration", "server:\n  shutdown_timeout: soon\n", "sb.yaml:2:21: server.shutdown_timeout: cannot unmarshal !!str `soon` into time.Duration"},
		{"negative duration", "server:\n  shutdown_timeout: -1s\n", "sb.yaml:2:3: server.shutdown_timeout: must be positive"},
		{"section not a mapping", "server: 8080\n", "sb.yaml:1:9: server: want a mapping of keys, got \"8080\""},
		{"bad pbx", "pbx:\n  kind: cisco\n", "sb.yaml:2:3: pbx.kind: must be one of sim, asterisk, freeswitch, mixed; got \"cisco\""},
		{"bad listen", "server:\n  listen: localhost\n", "sb.yaml:2:3: server.listen: \"localhost\" is not host:port"},
		{"public listen without token", "server:\n  listen: 0.0.0.0:8080\n", "sb.yaml:2:3: server.listen: \"0.0.0.0:8080\" is not a loopback address"},
		{"bad dsn", "database:\n  dsn: postgres://x/y\n", "sb.yaml:2:3: database.dsn: unsupported database scheme \"postgres\""},
		{"duplicate key", "log:\n  level: info\n  level: debug\n", "sb.yaml:3:3: log.level: key given twice"},
		{"bad log level", "log:\n  level: loud\n", "sb.yaml:2:3: log.level: must be one of debug"},
		{"syntax error", "server:\n  listen: [\n", "sb.yaml:"},
		{"not a mapping", "- a\n- b\n", "sb.yaml:1:1: the config file must be a mapping"},
		{"two documents", "log:\n  level: info\n---\nlog:\n  level: debug\n", "more than one YAML document"},
		{"merge keys", "server:\n  <<: {listen: x}\n", "merge keys"},
		{"bad sim stream", "pbx:\n  sim:\n    streams:\n      - rate_per_minute: 5\n", "sb.yaml:2:3: pbx.sim: sim.streams[0].dialed_number: required"},
		{"unknown sim key", "pbx:\n  sim:\n    agent_groups:\n      - prefix: x\n        skils: {a: 1}\n", "sb.yaml:5:9: pbx.sim.agent_groups[0].skils: unknown key"},
		{"bad time zone", "controller:\n  timezone: Mars/Olympus\n", "sb.yaml:2:3: controller.timezone: unknown time zone"},
		{"lead time with agent first", "callbacks:\n  queues:\n    billing:\n      dial_order: agent_first\n      lead_time: 20s\n",
			"sb.yaml:5:7: callbacks.queues.billing.lead_time: 20s needs dial_order customer_first"},
		{"lead time too long", "callbacks:\n  queues:\n    support:\n      lead_time: 6m\n", "sb.yaml:4:7: callbacks.queues.support.lead_time: 6m0s is out of bounds (0 to 5m0s"},
		{"negative lead time", "callbacks:\n  queues:\n    support:\n      lead_time: -1s\n", "sb.yaml:4:7: callbacks.queues.support.lead_time: -1s is out of bounds"},
		{"hold limit too short", "callbacks:\n  queues:\n    support:\n      lead_time: 20s\n      lead_hold_limit: 5s\n", "sb.yaml:5:7: callbacks.queues.support.lead_hold_limit: 5s is out of bounds (10s to 30m0s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := Defaults()
			got, _, err := Parse("sb.yaml", []byte(tt.yaml), base)
			if err == nil {
				t.Fatalf("Parse accepted bad config; got %+v", got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "sb.yaml") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.want)
			}
			if !reflect.DeepEqual(got, base) {
				t.Errorf("a rejected file changed the config: %+v", got)
			}
		})
	}
}

func TestParseAcceptsGoodFile(t *testing.T) {
	data := "server:\n  listen: 0.0.0.0:9090\n  token: s3cret\n  shutdown_timeout: 3s\ndatabase:\n  dsn: 'sb:pw@tcp(db:3306)/switchboard?parseTime=true'\npbx:\n  kind: asterisk\nrouting:\n  file: rules.yaml\nlog:\n  level: debug\n  format: json\n"
	got, f, err := Parse("sb.yaml", []byte(data), Defaults())
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Server:     Server{Listen: "0.0.0.0:9090", Token: "s3cret", ShutdownTimeout: 3 * time.Second},
		Database:   Database{DSN: "sb:pw@tcp(db:3306)/switchboard?parseTime=true", JournalDir: "switchboard.journal"},
		PBX:        PBX{Kind: PBXAsterisk, Sim: DemoSim()},
		Routing:    Routing{File: "rules.yaml"},
		Controller: Defaults().Controller,
		Log:        Log{Level: "debug", Format: "json"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if !f.Sets("server.listen") || f.Sets("server.nothing") {
		t.Error("File.Sets does not track keys")
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	for _, data := range []string{"", "# only a comment\n", "---\n"} {
		got, _, err := Parse("sb.yaml", []byte(data), Defaults())
		if err != nil || !reflect.DeepEqual(got, Defaults()) {
			t.Errorf("Parse(%q) = %+v, %v; want defaults", data, got, err)
		}
	}
}

func TestSampleFileIsValid(t *testing.T) {
	// configs/switchboard.yaml documents the defaults: it must load and
	// agree with them, or the docs lie.
	got, _, err := LoadFile(filepath.Join("..", "configs", "switchboard.yaml"), Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if want := Defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("configs/switchboard.yaml disagrees with Defaults():\n got %+v\nwant %+v", got, want)
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sb.yaml")
	if err := os.WriteFile(file, []byte("server:\n  listen: 127.0.0.1:7000\nlog:\n  level: warn\n  format: json\ndatabase:\n  dsn: sqlite:file.db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SWITCHBOARD_LISTEN": "127.0.0.1:7100", "SWITCHBOARD_LOG_LEVEL": "error"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := Resolve(Sources{File: file, Getenv: getenv, Flags: []Override{{Key: "server.listen", Value: "127.0.0.1:7200", Source: "--listen"}}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:7200" {
		t.Errorf("flag lost to lower precedence: listen = %s", cfg.Server.Listen)
	}
	if cfg.Log.Level != "error" {
		t.Errorf("environment lost to the file: level = %s", cfg.Log.Level)
	}
	if cfg.Log.Format != "json" || cfg.Database.DSN != "sqlite:file.db" {
		t.Errorf("file values lost: %+v", cfg)
	}
	if cfg.PBX.Kind != PBXSim || cfg.Server.ShutdownTimeout != 10*time.Second {
		t.Errorf("defaults lost: %+v", cfg)
	}

	none, err := Resolve(Sources{})
	if err != nil || !reflect.DeepEqual(none, Defaults()) {
		t.Errorf("no sources: got %+v, %v; want defaults", none, err)
	}
}

func TestResolveErrorsNameTheSource(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sb.yaml")
	if err := os.WriteFile(file, []byte("server:\n  listen: 0.0.0.0:8080\n  token: abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  Sources
		want string
	}{
		{"bad env value", Sources{Getenv: envOf("SWITCHBOARD_PBX", "nope")}, "environment SWITCHBOARD_PBX: pbx.kind: must be one of"},
		{"bad flag", Sources{Flags: []Override{{Key: "server.listen", Value: "nowhere", Source: "--listen"}}}, "--listen: server.listen: \"nowhere\" is not host:port"},
		{"bad flag type", Sources{Flags: []Override{{Key: "server.shutdown_timeout", Value: "x", Source: "--shutdown-timeout"}}}, "--shutdown-timeout: server.shutdown_timeout: cannot unmarshal"},
		{"flag clears token the file needs", Sources{File: file, Flags: []Override{{Key: "server.token", Value: "", Source: "--token"}}}, "--token"},
		{"missing file", Sources{File: filepath.Join(dir, "nope.yaml")}, "nope.yaml: cannot read config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Resolve(tt.src)
			if err == nil {
				t.Fatalf("accepted: %+v", cfg)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q and wrap ErrInvalid", err, tt.want)
			}
		})
	}
}

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoopbackWithoutToken(t *testing.T) {
	for _, tt := range []struct {
		listen, token string
		ok            bool
	}{
		{"127.0.0.1:8080", "", true},
		{"[::1]:8080", "", true},
		{"localhost:8080", "", true},
		{":8080", "", false},
		{"0.0.0.0:8080", "", false},
		{"192.0.2.7:8080", "", false},
		{"0.0.0.0:8080", "t0ken", true},
	} {
		c := Defaults()
		c.Server.Listen, c.Server.Token = tt.listen, tt.token
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("listen %q token %q: err = %v, want ok=%v", tt.listen, tt.token, err, tt.ok)
		}
	}
}

func TestMaskedHidesSecrets(t *testing.T) {
	c := Defaults()
	c.Server.Token = "tok-123"
	c.Database.DSN = "sb:hunter2@tcp(db:3306)/switchboard"
	out, err := c.MaskedYAML()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "tok-123") || strings.Contains(s, "hunter2") {
		t.Errorf("secret shown:\n%s", s)
	}
	if !strings.Contains(s, "token: '"+Masked+"'") && !strings.Contains(s, "token: \""+Masked+"\"") && !strings.Contains(s, "token: "+Masked) {
		t.Errorf("token not masked:\n%s", s)
	}
	if !strings.Contains(s, "sb:"+Masked+"@tcp(db:3306)/switchboard") {
		t.Errorf("dsn not masked:\n%s", s)
	}
}

func TestAdapterSections(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sb.yaml")
	data := "pbx:\n  kind: asterisk\n  asterisk:\n    nodes:\n      - name: pbx1\n        url: http://pbx1:8088\n    request_timeout: 2s\n"
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envOf("SWITCHBOARD_ARI_PASSWORD", "ari-secret", "SWITCHBOARD_ARI_APP", "sbapp", "SWITCHBOARD_ESL_ADDR", "fs:8021", "SWITCHBOARD_ESL_PASSWORD", "Clue")
	cfg, err := Resolve(Sources{File: file, Getenv: env})
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.PBX.Asterisk.Nodes
	if len(n) != 1 || n[0].Name != "pbx1" || n[0].URL != "http://pbx1:8088" || n[0].Password != "ari-secret" || n[0].App != "sbapp" {
		t.Errorf("ARI env did not merge into the file's first node: %+v", n)
	}
	if cfg.PBX.Asterisk.RequestTimeout != 2*time.Second {
		t.Errorf("request_timeout = %s", cfg.PBX.Asterisk.RequestTimeout)
	}
	if cfg.PBX.FreeSWITCH.Addr != "fs:8021" || cfg.PBX.FreeSWITCH.Password != "Clue" {
		t.Errorf("ESL env ignored: %+v", cfg.PBX.FreeSWITCH)
	}
	// With no file, SWITCHBOARD_ARI_URL creates the first node.
	cfg, err = Resolve(Sources{Getenv: envOf("SWITCHBOARD_ARI_URL", "http://a:8088")})
	if err != nil || len(cfg.PBX.Asterisk.Nodes) != 1 || cfg.PBX.Asterisk.Nodes[0].URL != "http://a:8088" {
		t.Errorf("SWITCHBOARD_ARI_URL alone: %+v, %v", cfg.PBX.Asterisk.Nodes, err)
	}
	out, err := cfg.MaskedYAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "ClueCon") {
		t.Errorf("config show leaks a password:\n%s", out)
	}

	for _, tt := range []struct{ yaml, want string }{
		{"pbx:\n  asterisk:\n    nodes:\n      - url: http://x\n        passwd: y\n", "sb.yaml:5:9: pbx.asterisk.nodes[0].passwd: unknown key \"passwd\""},
		{"pbx:\n  asterisk:\n    heartbeat: often\n", "sb.yaml:3:16: pbx.asterisk.heartbeat: cannot unmarshal"},
		{"pbx:\n  kind: freeswitch\n  freeswitch:\n    addr: nowhere\n", "sb.yaml:3:3: pbx.freeswitch: invalid freeswitch config: addr \"nowhere\""},
	} {
		_, _, err := Parse("sb.yaml", []byte(tt.yaml), Defaults())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

// TestMixedPBX: kind mixed uses both sections; a node name on both PBXs
// is refused at the line of the key that set it (the FreeSWITCH node, or
// the Asterisk node's name when FreeSWITCH keeps its default), naming
// both keys; a bad FreeSWITCH section is refused as with kind freeswitch.
func TestMixedPBX(t *testing.T) {
	good := "pbx:\n  kind: mixed\n  asterisk:\n    nodes:\n      - {name: ast1, url: http://a:8088, password: x}\n  freeswitch:\n    node: fs1\n    addr: f:8021\n"
	cfg, _, err := Parse("sb.yaml", []byte(good), Defaults())
	if err != nil || cfg.PBX.Kind != PBXMixed || cfg.PBX.FreeSWITCH.NodeName() != "fs1" || cfg.PBX.Asterisk.NodeNames()[0] != "ast1" {
		t.Fatalf("Parse(mixed) = %+v, %v", cfg.PBX, err)
	}
	for _, tt := range []struct{ name, yaml, want string }{
		{"same node name set on both", "pbx:\n  kind: mixed\n  asterisk:\n    nodes:\n      - {name: pbx1, password: x}\n  freeswitch:\n    node: pbx1\n",
			`sb.yaml:7:5: pbx.freeswitch.node: node name "pbx1" is both pbx.freeswitch.node and pbx.asterisk.nodes[0].name`},
		{"asterisk node named like the freeswitch default", "pbx:\n  kind: mixed\n  asterisk:\n    nodes:\n      - {name: ast1, password: x}\n      - {name: freeswitch, password: x}\n",
			`sb.yaml:6:10: pbx.asterisk.nodes[1].name: node name "freeswitch" is both pbx.freeswitch.node and pbx.asterisk.nodes[1].name`},
		{"bad freeswitch section", "pbx:\n  kind: mixed\n  freeswitch:\n    addr: nowhere\n", `sb.yaml:3:3: pbx.freeswitch: invalid freeswitch config: addr "nowhere"`},
		{"bad agent template", "pbx:\n  kind: mixed\n  freeswitch:\n    agent_endpoint: user/1001\n", `sb.yaml:3:3: pbx.freeswitch: invalid freeswitch config: agent_endpoint "user/1001" must contain {ext}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse("sb.yaml", []byte(tt.yaml), Defaults())
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// The shipped file's commented `recordings:` example must stay true to the
// real keys: uncommented, it parses (unknown keys are refused), validates,
// and sets what its comments say.
func TestSampleRecordingsExampleParses(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "configs", "switchboard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		if line == "# recordings:" {
			in = true
		}
		if in && !strings.HasPrefix(line, "#") {
			break
		}
		if in {
			block = append(block, strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
		}
	}
	if len(block) < 2 {
		t.Fatal("configs/switchboard.yaml has no commented recordings: example")
	}
	cfg, _, err := Parse("switchboard.yaml recordings example", []byte(strings.Join(block, "\n")), Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rec := cfg.Recordings
	if rec.Default.Mode != "never" || rec.Queues["billing"].Announce == "" || rec.Queues["sales"].Percent != 20 ||
		rec.Queues["sales"].MaxDuration != 2*time.Hour || rec.Nodes["*"].Template == "" || len(rec.PurgeCommand) != 3 ||
		rec.PurgeTimeout != 30*time.Second || rec.ReviewPerAgent != 5 {
		t.Fatalf("recordings example parsed to %+v", rec)
	}
}
