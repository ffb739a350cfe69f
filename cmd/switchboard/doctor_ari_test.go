package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/ari"
	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
)

// `switchboard doctor --pbx asterisk` against the fake Asterisk, set up
// from the environment only, as an engineer would before the first start.
func TestDoctorAsterisk(t *testing.T) {
	srv, err := aritest.New(aritest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	env := map[string]string{"SWITCHBOARD_ARI_URL": srv.URL() + "/ari", "SWITCHBOARD_ARI_PASSWORD": "switchboard"}
	type check struct {
		PBX, Node, Name, Detail, Fix string
		OK                           bool
	}
	doctor := func(env map[string]string) (int, map[string]check, string) {
		t.Helper()
		code, out, stderr := cli(t, env, "doctor", "--pbx", "asterisk", "-o", "json")
		var cs []check
		if err := json.Unmarshal([]byte(out), &cs); err != nil {
			t.Fatalf("doctor -o json: %v\n%s\n%s", err, out, stderr)
		}
		m := map[string]check{}
		for _, c := range cs {
			m[c.Name] = c
		}
		return code, m, stderr
	}

	// No switchboard connected yet: all good but the app, which says what to do.
	code, cs, stderr := doctor(env)
	if code != 1 || !strings.Contains(stderr, "1 of 4 checks failed") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
	for _, n := range []string{"ARI reachable", "ARI credentials", "Asterisk version"} {
		if !cs[n].OK || cs[n].PBX != "asterisk" || cs[n].Node != "asterisk" {
			t.Errorf("%s: %+v", n, cs[n])
		}
	}
	if c := cs["Asterisk version"]; c.Detail != "22.10.1" {
		t.Errorf("version %+v", c)
	}
	if c := cs["Stasis app registered"]; c.OK || !strings.Contains(c.Fix, "switchboard serve") {
		t.Errorf("app not registered: %+v", c)
	}

	// With switchboard connected every check passes, and doctor did not
	// take the app over.
	a, err := ari.New(ari.Config{Nodes: []ari.NodeConfig{{URL: srv.URL(), Password: "switchboard"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(ctx) }()
	defer func() { cancel(); <-runDone }()
	go func() {
		for range a.Events() {
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !srv.Connected("switchboard") {
		if time.Now().After(deadline) {
			t.Fatal("adapter never connected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, cs, stderr := doctor(env); code != 0 || !cs["Stasis app registered"].OK {
		t.Fatalf("with switchboard connected: exit %d %q %+v", code, stderr, cs)
	}
	if !srv.Connected("switchboard") || srv.Connections("switchboard") != 1 {
		t.Fatal("doctor took the Stasis app over from the running switchboard")
	}

	// A wrong password names the file to fix.
	bad := map[string]string{"SWITCHBOARD_ARI_URL": srv.URL(), "SWITCHBOARD_ARI_PASSWORD": "wrong"}
	if code, cs, _ := doctor(bad); code != 1 || cs["ARI credentials"].OK || !strings.Contains(cs["ARI credentials"].Fix, "ari.conf") {
		t.Fatalf("wrong password: exit %d %+v", code, cs["ARI credentials"])
	}
}

// `switchboard serve --pbx asterisk` with nothing listening at the ARI URL
// exits 1 and says "Asterisk unreachable at URL".
func TestServeAsteriskUnreachable(t *testing.T) {
	dead := deadAddr(t)
	dir := t.TempDir()
	env := map[string]string{
		"SWITCHBOARD_ARI_URL": dead, "SWITCHBOARD_ARI_PASSWORD": "switchboard",
		"SWITCHBOARD_LISTEN": "127.0.0.1:0", "SWITCHBOARD_DATABASE": "sqlite:" + filepath.Join(dir, "sb.db"),
		"SWITCHBOARD_JOURNAL_DIR": filepath.Join(dir, "journal"), "SWITCHBOARD_LOG_LEVEL": "error",
	}
	code, _, stderr := cli(t, env, "serve", "--pbx", "asterisk")
	if code != 1 || !strings.Contains(stderr, "Asterisk unreachable at "+dead) {
		t.Fatalf("exit %d, stderr %q; want exit 1 and 'Asterisk unreachable at %s'", code, stderr, dead)
	}
}
