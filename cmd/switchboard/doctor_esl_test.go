package main

import (
	"strings"
	"testing"

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
