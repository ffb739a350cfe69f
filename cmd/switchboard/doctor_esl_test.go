package main

import (
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
)

// `switchboard doctor --pbx freeswitch` against the fake FreeSWITCH on a
// real socket, configured only through SWITCHBOARD_ESL_ADDR and
// SWITCHBOARD_ESL_PASSWORD: all four checks pass with the right password;
// a wrong one fails the password check with the fix; an address where
// nothing listens fails reachability. Exit status 1 on any failure.
func TestDoctorFreeSWITCH(t *testing.T) {
	fs, err := esltest.New(esltest.Options{Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	env := map[string]string{"SWITCHBOARD_ESL_ADDR": fs.Addr(), "SWITCHBOARD_ESL_PASSWORD": "s3cret"}
	code, out, stderr := cli(t, env, "doctor", "--pbx", "freeswitch")
	if code != 0 {
		t.Fatalf("healthy switch: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"esl reachable", "esl password", "freeswitch version", "1.10.12", "event subscription"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a check failed:\n%s", out)
	}

	env["SWITCHBOARD_ESL_PASSWORD"] = "ClueCon"
	code, out, _ = cli(t, env, "doctor", "--pbx", "freeswitch")
	if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, "SWITCHBOARD_ESL_PASSWORD") {
		t.Fatalf("wrong password: exit %d\n%s", code, out)
	}

	addr := fs.Addr()
	fs.Close()
	env = map[string]string{"SWITCHBOARD_ESL_ADDR": addr}
	code, out, _ = cli(t, env, "doctor", "--pbx", "freeswitch")
	if code != 1 || !strings.Contains(out, "event_socket.conf.xml") {
		t.Fatalf("nothing listening: exit %d\n%s", code, out)
	}
}

// `switchboard doctor --pbx mixed` checks both PBXs of a mixed floor: the
// fake Asterisk's checks and the fake FreeSWITCH's, each labelled, and a
// failure on either fails the run.
func TestDoctorMixed(t *testing.T) {
	fs, err := esltest.New(esltest.Options{Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ast, err := aritest.New(aritest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ast.Close()
	env := map[string]string{
		"SWITCHBOARD_ESL_ADDR": fs.Addr(), "SWITCHBOARD_ESL_PASSWORD": "s3cret",
		"SWITCHBOARD_ARI_URL": ast.URL() + "/ari", "SWITCHBOARD_ARI_PASSWORD": "switchboard",
	}
	code, out, stderr := cli(t, env, "doctor", "--pbx", "mixed")
	// The Stasis app is not registered (no switchboard connected): that
	// one check fails; every other passes, on both PBXs.
	if code != 1 || !strings.Contains(stderr, "1 of 8 checks failed") {
		t.Fatalf("mixed: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"ARI reachable", "Asterisk version", "esl reachable", "freeswitch version", "event subscription"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	env["SWITCHBOARD_ESL_PASSWORD"] = "ClueCon"
	code, out, stderr = cli(t, env, "doctor", "--pbx", "mixed")
	if code != 1 || !strings.Contains(stderr, "4 of 8 checks failed") || !strings.Contains(out, "SWITCHBOARD_ESL_PASSWORD") ||
		!strings.Contains(out, "FreeSWITCH refused the password (-ERR invalid)") || strings.Contains(out, "[]string") {
		t.Fatalf("mixed, wrong ESL password: exit %d\n%s%s", code, out, stderr)
	}
}
