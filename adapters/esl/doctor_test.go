package esl

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
)

func TestDoctor(t *testing.T) {
	fs, err := esltest.New(esltest.Options{Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ctx := context.Background()

	names := func(cs []Check) string {
		var s []string
		for _, c := range cs {
			r := "ok"
			if !c.OK {
				r = "FAIL"
			}
			s = append(s, c.Name+"="+r)
		}
		return strings.Join(s, ",")
	}
	good := Doctor(ctx, Config{Addr: fs.Addr(), Password: "s3cret", ConnectTimeout: 2 * time.Second})
	if got := names(good); got != "esl reachable=ok,esl password=ok,freeswitch version=ok,event subscription=ok" {
		t.Fatalf("healthy switch: %s %+v", got, good)
	}
	if !strings.Contains(good[2].Detail, "1.10.12") {
		t.Errorf("version detail %q", good[2].Detail)
	}

	bad := Doctor(ctx, Config{Addr: fs.Addr(), Password: "ClueCon", ConnectTimeout: 2 * time.Second})
	if got := names(bad); got != "esl reachable=ok,esl password=FAIL,freeswitch version=FAIL,event subscription=FAIL" {
		t.Fatalf("wrong password: %s", got)
	}
	if !strings.Contains(bad[1].Fix, "SWITCHBOARD_ESL_PASSWORD") {
		t.Errorf("fix %q", bad[1].Fix)
	}

	addr := fs.Addr()
	fs.Close()
	down := Doctor(ctx, Config{Addr: addr, ConnectTimeout: 2 * time.Second})
	if got := names(down); !strings.HasPrefix(got, "esl reachable=FAIL") || !strings.Contains(down[0].Fix, "event_socket.conf.xml") {
		t.Fatalf("down: %s %+v", got, down)
	}

	if c := Doctor(ctx, Config{Addr: "nonsense"}); len(c) != 1 || c[0].OK || c[0].Name != "config" {
		t.Fatalf("bad config: %+v", c)
	}
	for _, v := range []struct {
		in    string
		major int
		minor int
		ok    bool
	}{
		{"FreeSWITCH Version 1.10.12-release~64bit (-release 64bit)", 1, 10, true},
		{"FreeSWITCH Version 1.8.7+git~20190702T200609Z~6047ebddfc~64bit", 1, 8, true},
		{"-ERR no reply", 0, 0, false},
	} {
		ma, mi, err := parseVersion(v.in)
		if (err == nil) != v.ok || ma != v.major || mi != v.minor {
			t.Errorf("%q: %d.%d %v", v.in, ma, mi, err)
		}
	}
}
