package server

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/ari"
	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
	"github.com/switchboard-cc/switchboard/config"
)

// serve with pbx.kind mixed starts both adapters behind one controller: a
// caller on the fake Asterisk and one on the fake FreeSWITCH both become
// calls of the one floor (each on its own node), /metrics shows both nodes
// connected, and with Asterisk gone the node stays ready on FreeSWITCH,
// degraded, naming the node that is down.
func TestServeMixedPBX(t *testing.T) {
	ast, err := aritest.New(aritest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ast.Close()
	fs, err := esltest.New(esltest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()

	cfg := testConfig(t)
	cfg.PBX.Kind = config.PBXMixed
	cfg.PBX.Asterisk.Nodes = []ari.NodeConfig{{Name: "ast1", URL: ast.URL(), Password: "switchboard"}}
	cfg.PBX.FreeSWITCH.Node = "fs1"
	cfg.PBX.FreeSWITCH.Addr = fs.Addr()
	_, url := start(t, cfg)

	waitHTTP := func(what, path, want string) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			status, body := get(t, url+path)
			if status == 200 && strings.Contains(body, want) {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: GET %s = %d %s", what, path, status, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitHTTP("ready", "/readyz", `"ready": true`)
	waitHTTP("asterisk node up", "/metrics", `switchboard_pbx_connected{node="ast1"} 1`)
	waitHTTP("freeswitch node up", "/metrics", `switchboard_pbx_connected{node="fs1"} 1`)
	deadline := time.Now().Add(20 * time.Second)
	for !ast.Connected("switchboard") {
		if time.Now().After(deadline) {
			t.Fatal("the Asterisk adapter never connected its app")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := ast.InjectCall("switchboard", aritest.Caller{Number: "+33111", Exten: "s", Args: []string{"1000"}}); err != nil {
		t.Fatal(err)
	}
	fs.InboundCall(esltest.Call{CallerNumber: "+33222", Dialed: "1000", Vars: map[string]string{"switchboard": "true"}})
	calls := waitHTTP("a call on each node", "/api/v1/calls?live=true", "+33222")
	for _, want := range []string{"+33111", `"node": "ast1"`, `"node": "fs1"`} {
		if !strings.Contains(calls, want) {
			t.Errorf("live calls lack %s: %s", want, calls)
		}
	}

	ast.SetDown(true)
	ready := waitHTTP("ready on FreeSWITCH alone", "/readyz", "degraded")
	if !strings.Contains(ready, "ast1") {
		t.Errorf("degraded readiness does not name the node down: %s", ready)
	}
	waitHTTP("asterisk node down", "/metrics", `switchboard_pbx_connected{node="ast1"} 0`)
}
