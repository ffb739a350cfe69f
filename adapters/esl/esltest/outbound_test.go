package esltest

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestOutboundSocket: the fake dials an outbound listener, waits for
// `connect`, sends the channel dump the way FreeSWITCH 1.10.12 does, then
// serves myevents/linger/sendmsg; with linger the socket stays after the
// hangup until exit, without it the socket closes after CHANNEL_HANGUP.
func TestOutboundSocket(t *testing.T) {
	for _, linger := range []bool{true, false} {
		s := startServer(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		uuid, err := s.DialOutbound(ln.Addr().String(), Call{CallerNumber: "5551234", Dialed: "5000"})
		if err != nil {
			t.Fatal(err)
		}
		nc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		c := &client{t: t, nc: nc, r: bufio.NewReader(nc)}
		c.send("connect")
		dump := c.expect("command/reply")
		if v, _ := dump.Get("Reply-Text"); v != "%2BOK%0A" {
			t.Fatalf("Reply-Text %q", v)
		}
		if _, has := dump.Get("Content-Length"); has || len(dump.Body) != 0 {
			t.Fatal("channel dump has a body")
		}
		if v, _ := dump.Get("Unique-ID"); v != uuid {
			t.Fatalf("Unique-ID %q want %q", v, uuid)
		}
		if v, _ := dump.Get("Caller-Caller-ID-Number"); v != "5551234" {
			t.Fatalf("caller %q", v)
		}
		if v, _ := dump.Get("Socket-Mode"); v != "async" {
			t.Fatalf("Socket-Mode %q", v)
		}
		c.send("myevents")
		if v, _ := c.expect("command/reply").Get("Reply-Text"); v != "+OK Events Enabled" {
			t.Fatal(v)
		}
		if linger {
			c.send("linger")
			if v, _ := c.expect("command/reply").Get("Reply-Text"); v != "+OK will linger" {
				t.Fatal(v)
			}
		}
		c.send("sendmsg\ncall-command: execute\nexecute-app-name: answer")
		if v, _ := c.expect("command/reply").Get("Reply-Text"); v != "+OK" {
			t.Fatal(v)
		}
		if ev := eventOf(t, c.expect("text/event-plain")); ev["Event-Name"] != "CHANNEL_ANSWER" || ev["Unique-ID"] != uuid {
			t.Fatalf("%v", ev["Event-Name"])
		}
		c.send("sendmsg\ncall-command: hangup\nhangup-cause: USER_BUSY")
		var names []string
		for {
			f, err := ReadFrame(c.r)
			if err == io.EOF || (err != nil && !linger) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.ContentType() == "text/event-plain" {
				names = append(names, eventOf(t, f)["Event-Name"])
				continue
			}
			if f.ContentType() == "text/disconnect-notice" {
				d, _ := f.Get("Content-Disposition")
				names = append(names, "notice:"+d)
				if linger && d == "linger" {
					c.send("exit")
				}
			}
		}
		got := strings.Join(names, ",")
		if linger && (!strings.Contains(got, "CHANNEL_HANGUP_COMPLETE,") || !strings.HasSuffix(got, "notice:linger,notice:disconnect")) {
			t.Errorf("linger: %s", got)
		}
		if !linger && (strings.Contains(got, "CHANNEL_HANGUP_COMPLETE") || !strings.HasSuffix(got, "CHANNEL_HANGUP,notice:disconnect")) {
			t.Errorf("no linger: %s", got)
		}
	}
}
