package ari

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
)

func TestDoctor(t *testing.T) {
	srv := startFake(t)
	old, err := aritest.New(aritest.Options{Version: "18.20.0"})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()

	find := func(cs []Check, name string) Check {
		for _, c := range cs {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no %q check in %+v", name, cs)
		return Check{}
	}
	ctx := context.Background()

	cs := Doctor(ctx, testConfig(srv.URL()))
	for _, n := range []string{"ARI reachable", "ARI credentials", "Asterisk version"} {
		if c := find(cs, n); !c.OK {
			t.Errorf("%s failed: %+v", n, c)
		}
	}
	if c := find(cs, "Stasis app registered"); c.OK || !strings.Contains(c.Fix, "switchboard serve") {
		t.Errorf("app check with no switchboard connected: %+v", c)
	}

	h := start(t, testConfig(srv.URL()), srv)
	_ = h
	if c := find(Doctor(ctx, testConfig(srv.URL())), "Stasis app registered"); !c.OK {
		t.Errorf("app check with switchboard connected: %+v", c)
	}
	if !srv.Connected("switchboard") {
		t.Error("doctor took the app over from the running switchboard")
	}

	bad := testConfig(srv.URL())
	bad.Nodes[0].Password = "wrong"
	if c := find(Doctor(ctx, bad), "ARI credentials"); c.OK || !strings.Contains(c.Fix, "ari.conf") {
		t.Errorf("wrong password: %+v", c)
	}
	if c := find(Doctor(ctx, testConfig(closed)), "ARI reachable"); c.OK || !strings.Contains(c.Detail, "Asterisk unreachable at "+closed) || !strings.Contains(c.Fix, "http.conf") {
		t.Errorf("closed port: %+v", c)
	}
	if c := find(Doctor(ctx, testConfig(old.URL())), "Asterisk version"); c.OK || c.Detail != "18.20.0" {
		t.Errorf("old Asterisk: %+v", c)
	}
}
