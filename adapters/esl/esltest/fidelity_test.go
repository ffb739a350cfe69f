package esltest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"
)

// These tests hold the fake to the frames a real FreeSWITCH 1.10.12 sent
// (testdata/*.jsonl, copied from the project's captures): what the fake
// writes must have the same shape as what the real switch wrote in the
// same situation.

// realFrames returns the s2c frames of one capture, optionally of one
// connection ("inbound"/"outbound", "" = all).
func realFrames(t *testing.T, name, conn string) []Frame {
	t.Helper()
	var out []Frame
	for i, l := range loadCapture(t, name) {
		if l.Dir != "s2c" || l.Close || (conn != "" && l.Conn != conn) {
			continue
		}
		f, err := ReadFrame(bufio.NewReader(strings.NewReader(l.Data)))
		if err != nil {
			t.Fatalf("%s:%d: %v", name, i+1, err)
		}
		out = append(out, f)
	}
	return out
}

func names(hs []Header) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}

func countHeader(hs []Header, name string) int {
	n := 0
	for _, h := range hs {
		if h.Name == name {
			n++
		}
	}
	return n
}

// How many times each event carries Hangup-Cause: CHANNEL_HANGUP once,
// CHANNEL_HANGUP_COMPLETE twice, events before the hangup never — in the
// fake as in every real capture.
func TestHangupCauseCountsMatchCaptures(t *testing.T) {
	real := map[string]map[int]bool{}
	for _, name := range []string{"bridge-record.jsonl", "events-originate-park-answer-hangup.jsonl", "no-answer.jsonl", "eavesdrop.jsonl", "dtmf.jsonl"} {
		for _, f := range realFrames(t, name, "") {
			if f.ContentType() != "text/event-plain" {
				continue
			}
			hs, _, err := ParseEventBody(f.Body)
			if err != nil {
				t.Fatal(err)
			}
			ev := hs[0].Value
			if real[ev] == nil {
				real[ev] = map[int]bool{}
			}
			real[ev][countHeader(hs, "Hangup-Cause")] = true
		}
	}
	s := startServer(t)
	s.Endpoint("user/1002", Behavior{NoAnswer: true, RingFor: 10 * time.Millisecond})
	c := dialRaw(t, s, "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_PARK CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE DTMF BACKGROUND_JOB")
	caller := s.InboundCall(Call{CallerNumber: "5551234", Dialed: "800"})
	c.send("api uuid_answer " + caller)
	c.send("api originate {origination_uuid=agent1}user/1001 &park()")
	c.send("api originate {origination_uuid=agent2}user/1002 &park()")
	c.send("api uuid_bridge " + caller + " agent1")
	if err := s.DTMF(caller, "1"); err != nil {
		t.Fatal(err)
	}
	c.send("api uuid_kill " + caller)
	seen := map[string]bool{}
	for replies := 0; replies < 5 || !seen["CHANNEL_HANGUP_COMPLETE@agent1"]; {
		f := c.next()
		switch f.ContentType() {
		case "api/response":
			replies++
		case "text/event-plain":
			hs, _, err := ParseEventBody(f.Body)
			if err != nil {
				t.Fatal(err)
			}
			ev := hs[0].Value
			id, _ := Frame{Headers: hs}.Get("Unique-ID")
			seen[ev+"@"+id] = true
			if n := countHeader(hs, "Hangup-Cause"); real[ev] != nil && !real[ev][n] {
				t.Errorf("%s carries Hangup-Cause %d times; real FreeSWITCH: %v", ev, n, real[ev])
			}
		}
	}
}

// The outbound socket's frames: the connect reply (channel dump first,
// then Content-Type, Reply-Text, Socket-Mode, Control, and no
// Content-Length), the linger notice (with Channel-Name and the linger
// time), the final disconnect notice — header names in the real order.
func TestOutboundFramesMatchCaptures(t *testing.T) {
	type shape struct{ connect, linger, disconnect []string }
	realShape := func(name string) shape {
		var sh shape
		for _, f := range realFrames(t, name, "outbound") {
			switch {
			case f.ContentType() == "command/reply" && len(f.Headers) > 10:
				sh.connect = names(f.Headers)
			case f.ContentType() == "text/disconnect-notice":
				if d, _ := f.Get("Content-Disposition"); d == "linger" {
					sh.linger = names(f.Headers)
				} else {
					sh.disconnect = names(f.Headers)
				}
			}
		}
		return sh
	}
	for _, tc := range []struct {
		capture, linger string
		selfClose       bool
	}{
		{"outbound-socket.jsonl", "linger", false},
		{"outbound-socket-linger-timeout.jsonl", "linger 1", true},
		{"outbound-socket-nolinger.jsonl", "", false},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			want := realShape(tc.capture)
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
			got := names(dump.Headers)
			if got[0] != want.connect[0] || strings.Join(got[len(got)-4:], ",") != strings.Join(want.connect[len(want.connect)-4:], ",") {
				t.Errorf("connect reply headers\n got %v … %v\nwant %v … %v", got[:1], got[len(got)-4:], want.connect[:1], want.connect[len(want.connect)-4:])
			}
			if _, has := dump.Get("Content-Length"); has {
				t.Error("connect reply has a Content-Length")
			}
			c.send("myevents")
			c.expect("command/reply")
			if tc.linger != "" {
				c.send(tc.linger)
				c.expect("command/reply")
			}
			if err := s.Hangup(uuid, "USER_BUSY"); err != nil {
				t.Fatal(err)
			}
			var linger, disconnect []string
			for disconnect == nil {
				f := c.next()
				if f.ContentType() != "text/disconnect-notice" {
					continue
				}
				if d, _ := f.Get("Content-Disposition"); d == "linger" {
					linger = names(f.Headers)
					if v, _ := f.Get("Linger-Time"); tc.selfClose && v != "1" || !tc.selfClose && v != "-1" {
						t.Errorf("Linger-Time %q", v)
					}
					if v, _ := f.Get("Channel-Name"); v == "" {
						t.Error("linger notice without Channel-Name")
					}
					if !tc.selfClose {
						c.send("exit")
					}
					continue
				}
				disconnect = names(f.Headers)
			}
			if fmt.Sprint(linger) != fmt.Sprint(want.linger) || fmt.Sprint(disconnect) != fmt.Sprint(want.disconnect) {
				t.Errorf("notices\n got linger %v disconnect %v\nwant linger %v disconnect %v", linger, disconnect, want.linger, want.disconnect)
			}
		})
	}
}

// A real log/data frame (Content-Type first, Log-* headers, User-Data
// that may be empty, one log line as body) reaches the client byte for
// byte through InjectRaw, so adapter tests can hit eslgo with exactly
// what FreeSWITCH sends.
func TestInjectRealLogData(t *testing.T) {
	var frame []byte
	for _, l := range loadCapture(t, "log-data.jsonl") {
		if l.Dir == "s2c" && strings.HasPrefix(l.Data, "Content-Type: log/data") {
			frame = []byte(l.Data)
			break
		}
	}
	if frame == nil {
		t.Fatal("no log/data frame in the capture")
	}
	s := startServer(t)
	c := dialRaw(t, s, "")
	s.InjectRaw(frame)
	got, err := readRaw(t, c.r)
	if err != nil || !bytes.Equal(got, frame) {
		t.Fatalf("got %q (%v)\nwant %q", got, err, frame)
	}
}

// Eavesdrop as FreeSWITCH does it: the supervisor leg runs the eavesdrop
// application (CHANNEL_EXECUTE Application eavesdrop, Application-Data the
// target) and no CHANNEL_BRIDGE is raised; on a missing target it
// completes at once and the leg hangs up NORMAL_CLEARING; when the target
// hangs up, the eavesdrop completes and the supervisor hangs up too.
func TestEavesdropMatchesCapture(t *testing.T) {
	// What the real supervisor legs (the -a halves running eavesdrop) did.
	realSeq := map[string][]string{}
	for _, f := range realFrames(t, "eavesdrop.jsonl", "inbound") {
		if f.ContentType() != "text/event-plain" {
			continue
		}
		hs, _, _ := ParseEventBody(f.Body)
		ev := Frame{Headers: hs}
		app, _ := ev.Get("Application")
		id, _ := ev.Get("Unique-ID")
		name, _ := ev.Get("Event-Name")
		if app == "eavesdrop" || len(realSeq[id]) > 0 {
			realSeq[id] = append(realSeq[id], name+":"+app)
		}
	}
	var realShapes []string
	for _, seq := range realSeq {
		realShapes = append(realShapes, strings.Join(seq, ","))
	}
	sort.Strings(realShapes)

	s := startServer(t)
	c := dialRaw(t, s, "CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_BRIDGE CHANNEL_HANGUP")
	target := s.InboundCall(Call{CallerNumber: "5551234", Dialed: "800", NoPark: true})
	c.send("api originate {origination_uuid=e1}user/2000 &eavesdrop(" + target + ")")
	c.send("api originate {origination_uuid=e3}user/2000 &eavesdrop(0d2b2ad6-0000-4000-8000-000000000000)")
	fakeSeq := map[string][]string{}
	done := func() bool { return len(fakeSeq["e3"]) >= 3 }
	for replies := 0; replies < 2 || !done(); {
		f := c.next()
		if f.ContentType() == "api/response" {
			replies++
			if replies <= 2 && !strings.HasPrefix(string(f.Body), "+OK e") {
				t.Fatalf("originate: %q", f.Body)
			}
			if replies == 2 {
				c.send("api uuid_kill " + target)
			}
			continue
		}
		hs, _, _ := ParseEventBody(f.Body)
		ev := Frame{Headers: hs}
		app, _ := ev.Get("Application")
		id, _ := ev.Get("Unique-ID")
		name, _ := ev.Get("Event-Name")
		if name == "CHANNEL_BRIDGE" {
			t.Errorf("eavesdrop raised CHANNEL_BRIDGE on %s", id)
		}
		if id == "e1" || id == "e3" {
			fakeSeq[id] = append(fakeSeq[id], name+":"+app)
		}
	}
	for len(fakeSeq["e1"]) < 3 {
		f := c.next()
		hs, _, _ := ParseEventBody(f.Body)
		ev := Frame{Headers: hs}
		if id, _ := ev.Get("Unique-ID"); id == "e1" {
			app, _ := ev.Get("Application")
			name, _ := ev.Get("Event-Name")
			fakeSeq["e1"] = append(fakeSeq["e1"], name+":"+app)
		}
	}
	for id, seq := range fakeSeq {
		got := strings.Join(seq, ",")
		found := false
		for _, r := range realShapes {
			if strings.HasPrefix(r, got) {
				found = true
			}
		}
		if !found {
			t.Errorf("supervisor leg %s: %s; real legs: %v", id, got, realShapes)
		}
	}
}
