package ari

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v6"
	"github.com/CyCoreSystems/ari/v6/client/native"

	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
)

// These tests pin down the ari/v6 behaviours that made this package read
// the events websocket itself. If a future ari/v6 fixes them, they fail,
// and the design can be revisited. The native client is stopped by
// cancelling its context, never Close() (which races with its reader).

func connectNative(t *testing.T, srv *aritest.Server) (ari.Subscription, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := native.New(&native.Options{Application: "switchboard", URL: srv.URL() + "/ari",
		WebsocketURL: wsURL(srv.URL()) + "/ari/events", Username: "switchboard", Password: "switchboard"})
	if err := c.ConnectWithContext(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	for i := 0; i < 1000 && !srv.Connected("switchboard"); i++ {
		time.Sleep(2 * time.Millisecond)
	}
	return c.Bus().Subscribe(nil, ari.Events.All), cancel
}

func TestLibraryBusDropsEvents(t *testing.T) {
	srv := startFake(t)
	sub, stop := connectNative(t, srv)
	defer stop()
	const n = 500
	for i := 0; i < n; i++ {
		if _, err := srv.InjectCall("switchboard", aritest.Caller{Number: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // a busy subscriber: not reading
	got := 0
	for {
		select {
		case <-sub.Events():
			got++
			continue
		case <-time.After(200 * time.Millisecond):
		}
		break
	}
	if got >= n {
		t.Fatalf("ari/v6's bus delivered all %d events to a slow subscriber; the drop defect is gone", n)
	}
	t.Logf("ari/v6 bus delivered %d of %d StasisStart to a slow subscriber", got, n)
}

func TestLibraryBusNeverDeliversApplicationReplaced(t *testing.T) {
	srv := startFake(t)
	sub, stop := connectNative(t, srv)
	defer stop()
	srv.ReplaceApp("switchboard")
	select {
	case e := <-sub.Events():
		t.Fatalf("ari/v6's bus delivered %s; ApplicationReplaced has keys now", e.GetType())
	case <-time.After(300 * time.Millisecond):
	}
}

// ari/v6 has no option for its HTTP client; setHTTPClient sets the
// unexported field. If a new ari/v6 renames or retypes it, this fails.
func TestLibraryHTTPClientField(t *testing.T) {
	c := native.New(&native.Options{Application: "x"})
	if err := setHTTPClient(c, &http.Client{Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
}

// ari/v6 logs through golang.org/x/exp/slog; newXSlog carries its records
// into log/slog. Shown with the library's own websocket loop, which logs
// when the socket is lost.
func TestLibraryLogsReachLogSlog(t *testing.T) {
	srv := startFake(t)
	var buf syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := native.New(&native.Options{Application: "switchboard", URL: srv.URL() + "/ari",
		WebsocketURL: wsURL(srv.URL()) + "/ari/events", Username: "switchboard", Password: "switchboard",
		Logger: newXSlog(slog.New(slog.NewTextHandler(&buf, nil)).With("node", "ast1"))})
	if err := c.ConnectWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "library connected", func() bool { return srv.Connected("switchboard") })
	srv.DropWebsocket("switchboard")
	waitUntil(t, "the library's log line in log/slog", func() bool {
		out := buf.String()
		return strings.Contains(out, "level=ERROR") && strings.Contains(out, "websocket") && strings.Contains(out, "node=ast1")
	})
}
