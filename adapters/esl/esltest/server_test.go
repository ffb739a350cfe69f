package esltest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type captureLine struct {
	T     int    `json:"t"`
	Conn  string `json:"conn"`
	Dir   string `json:"dir"`
	Data  string `json:"data"`
	Close bool   `json:"close"`
}

func loadCapture(t *testing.T, name string) []captureLine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []captureLine
	for i, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var c captureLine
		if err := json.Unmarshal(l, &c); err != nil {
			t.Fatalf("%s:%d: %v", name, i+1, err)
		}
		out = append(out, c)
	}
	return out
}

func startServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// readRaw reads one frame and returns its exact bytes.
func readRaw(t *testing.T, r *bufio.Reader) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	cl := -1
	for {
		line, err := r.ReadString('\n')
		buf.WriteString(line)
		if err != nil {
			return buf.Bytes(), err
		}
		if line == "\n" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			var n int
			for _, c := range strings.TrimSpace(v) {
				n = n*10 + int(c-'0')
			}
			cl = n
		}
	}
	if cl > 0 {
		body := make([]byte, cl)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		buf.Write(body)
	}
	return buf.Bytes(), nil
}

// TestReplayCaptures replays the client side of real FreeSWITCH captures
// against the fake and requires the fake's bytes to equal the real ones.
func TestReplayCaptures(t *testing.T) {
	for _, name := range []string{"inbound-auth-ok.jsonl", "inbound-auth-bad.jsonl", "inbound-command-before-auth.jsonl", "errors.jsonl"} {
		t.Run(name, func(t *testing.T) {
			s := startServer(t)
			s.Endpoint("loopback/7777/nosuchcontext", Behavior{FailCause: "NO_ROUTE_DESTINATION"})
			s.Endpoint("sofia/internal/nobody@127.0.0.1:5999", Behavior{FailCause: "NORMAL_TEMPORARY_FAILURE"})
			nc, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(nc)
			for i, l := range loadCapture(t, name) {
				switch {
				case l.Dir == "c2s" && !l.Close:
					if _, err := nc.Write([]byte(l.Data)); err != nil {
						t.Fatalf("line %d: write: %v", i+1, err)
					}
				case l.Dir == "s2c" && l.Close:
					if b, err := readRaw(t, r); err != io.EOF {
						t.Fatalf("line %d: want EOF, got %q %v", i+1, b, err)
					}
				case l.Dir == "s2c":
					got, err := readRaw(t, r)
					if err != nil {
						t.Fatalf("line %d: read: %v", i+1, err)
					}
					if string(got) != l.Data {
						t.Fatalf("line %d:\n got %q\nwant %q", i+1, got, l.Data)
					}
				}
			}
		})
	}
}

// TestCapturedFramesParse reads every frame FreeSWITCH sent in the
// captures with ReadFrame / ParseEventBody.
func TestCapturedFramesParse(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.jsonl")
	if len(files) == 0 {
		t.Fatal("no captures")
	}
	for _, f := range files {
		var events, completes int
		for i, l := range loadCapture(t, filepath.Base(f)) {
			if l.Dir != "s2c" || l.Close {
				continue
			}
			fr, err := ReadFrame(bufio.NewReader(strings.NewReader(l.Data)))
			if err != nil {
				t.Fatalf("%s:%d: %v", f, i+1, err)
			}
			if fr.ContentType() != "text/event-plain" {
				continue
			}
			events++
			hs, inner, err := ParseEventBody(fr.Body)
			if err != nil {
				t.Fatalf("%s:%d: %v", f, i+1, err)
			}
			name := ""
			causes := 0
			for _, h := range hs {
				if h.Name == "Event-Name" {
					name = h.Value
				}
				if h.Name == "Hangup-Cause" {
					causes++
				}
			}
			if name == "CHANNEL_HANGUP_COMPLETE" {
				completes++
				if causes != 2 {
					t.Errorf("%s:%d: HANGUP_COMPLETE with %d Hangup-Cause headers", f, i+1, causes)
				}
			}
			if name == "BACKGROUND_JOB" && len(inner) == 0 {
				t.Errorf("%s:%d: BACKGROUND_JOB without body", f, i+1)
			}
		}
		if strings.Contains(f, "bridge-record") && (events == 0 || completes == 0) {
			t.Errorf("%s: %d events, %d hangup completes", f, events, completes)
		}
	}
}

// client is a raw ESL client for driving the fake in these tests.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, s *Server, events string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := &client{t: t, nc: nc, r: bufio.NewReader(nc)}
	c.expect("auth/request")
	c.send("auth ClueCon")
	c.expect("command/reply")
	if events != "" {
		c.send("event plain " + events)
		c.expect("command/reply")
	}
	return c
}

func (c *client) send(cmd string) {
	if _, err := c.nc.Write([]byte(cmd + "\r\n\r\n")); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) next() Frame {
	c.t.Helper()
	f, err := ReadFrame(c.r)
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	return f
}

func (c *client) expect(ct string) Frame {
	c.t.Helper()
	f := c.next()
	if f.ContentType() != ct {
		c.t.Fatalf("want %s, got %s %q", ct, f.ContentType(), f.Body)
	}
	return f
}

func eventOf(t *testing.T, f Frame) map[string]string {
	t.Helper()
	hs, inner, err := ParseEventBody(f.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{"_body": string(inner)}
	for _, h := range hs {
		if _, ok := m[h.Name]; !ok {
			m[h.Name] = h.Value
		}
	}
	return m
}

// headerNames returns the event header names up to the first variable_.
func headerNames(t *testing.T, body []byte) []string {
	hs, _, err := ParseEventBody(body)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range hs {
		if strings.HasPrefix(h.Name, "variable_") || strings.HasPrefix(h.Name, "Caller-") || strings.HasPrefix(h.Name, "Channel-Read") || strings.HasPrefix(h.Name, "Channel-Write") {
			continue
		}
		out = append(out, h.Name)
	}
	return out
}

// TestEventShapeMatchesCapture compares the fake's lifecycle events with
// the real ones header by header (names and order, channel block and
// Caller-/variable_ lines aside).
func TestEventShapeMatchesCapture(t *testing.T) {
	real := map[string][]string{}
	for _, l := range loadCapture(t, "bridge-record.jsonl") {
		if l.Dir != "s2c" || !strings.Contains(l.Data, "text/event-plain") {
			continue
		}
		f, err := ReadFrame(bufio.NewReader(strings.NewReader(l.Data)))
		if err != nil {
			t.Fatal(err)
		}
		ev := eventOf(t, f)
		if _, seen := real[ev["Event-Name"]]; !seen {
			real[ev["Event-Name"]] = headerNames(t, f.Body)
		}
	}
	s := startServer(t)
	c := dialRaw(t, s, "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_PARK CHANNEL_BRIDGE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE RECORD_START")
	c.send("api originate {origination_uuid=aaaa,origination_caller_id_number=5551234}loopback/9664 &park()")
	if got := string(c.expect("api/response").Body); got != "+OK aaaa\n" {
		t.Fatalf("originate: %q", got)
	}
	c.send("api originate {origination_uuid=bbbb}loopback/6001 &park()")
	c.send("api uuid_bridge aaaa bbbb")
	c.send("api uuid_record aaaa start /rec/x.wav")
	c.send("api uuid_kill aaaa")
	fake := map[string][]string{}
	deadline := time.Now().Add(5 * time.Second)
	for len(fake) < 7 && time.Now().Before(deadline) {
		f := c.next()
		if f.ContentType() != "text/event-plain" {
			continue
		}
		ev := eventOf(t, f)
		if _, seen := fake[ev["Event-Name"]]; !seen {
			fake[ev["Event-Name"]] = headerNames(t, f.Body)
		}
	}
	for _, name := range []string{"CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_PARK", "CHANNEL_BRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "RECORD_START"} {
		r, f := real[name], fake[name]
		if len(r) == 0 || len(f) == 0 {
			t.Fatalf("%s: real %d headers, fake %d", name, len(r), len(f))
		}
		// the first 17 headers (event block + start of channel block) must match in order
		n := min(17, len(r))
		if strings.Join(r[:n], ",") != strings.Join(f[:min(n, len(f))], ",") {
			t.Errorf("%s header order:\nreal %v\nfake %v", name, r[:n], f[:min(n, len(f))])
		}
		want := map[string]bool{}
		for _, h := range r {
			want[h] = true
		}
		for _, h := range []string{"Bridge-A-Unique-ID", "Bridge-B-Unique-ID", "Other-Leg-Unique-ID", "Record-File-Path", "Hangup-Cause", "Answer-State", "Unique-ID", "Event-Sequence"} {
			if want[h] && !contains(f, h) {
				t.Errorf("%s: fake lacks %s", name, h)
			}
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestShowChannelsShape: same JSON keys as the real `show channels as
// json`, and the real empty form.
func TestShowChannelsShape(t *testing.T) {
	var realKeys []string
	for _, l := range loadCapture(t, "show-channels.jsonl") {
		if l.Dir == "s2c" && strings.Contains(l.Data, `"row_count":4`) {
			f, _ := ReadFrame(bufio.NewReader(strings.NewReader(l.Data)))
			var v struct{ Rows []map[string]any }
			if err := json.Unmarshal(f.Body, &v); err != nil {
				t.Fatal(err)
			}
			for k := range v.Rows[0] {
				realKeys = append(realKeys, k)
			}
			break
		}
	}
	s := startServer(t)
	c := dialRaw(t, s, "")
	c.send("api show channels as json")
	if got := string(c.expect("api/response").Body); got != "{\"row_count\": 0}\n" {
		t.Fatalf("empty: %q", got)
	}
	s.InboundCall(Call{CallerNumber: "5551234", Dialed: "100"})
	c.send("api show channels as json")
	body := c.expect("api/response").Body
	if bytes.HasSuffix(body, []byte("\n")) {
		t.Error("trailing newline")
	}
	var v struct {
		RowCount int `json:"row_count"`
		Rows     []map[string]any
	}
	if err := json.Unmarshal(body, &v); err != nil || v.RowCount != 1 {
		t.Fatalf("%v %s", err, body)
	}
	for _, k := range realKeys {
		if _, ok := v.Rows[0][k]; !ok {
			t.Errorf("fake row lacks %q", k)
		}
	}
}

// TestAPIBlocksEvents: no event is written between an api command and its
// reply, so an api originate's CHANNEL_CREATE follows the reply.
func TestAPIBlocksEvents(t *testing.T) {
	s := startServer(t)
	s.Endpoint("user/1001", Behavior{AnswerAfter: 30 * time.Millisecond})
	c := dialRaw(t, s, "CHANNEL_CREATE CHANNEL_ANSWER")
	c.send("api originate {origination_uuid=u1}user/1001 &park()")
	if f := c.next(); f.ContentType() != "api/response" || string(f.Body) != "+OK u1\n" {
		t.Fatalf("first frame %s %q", f.ContentType(), f.Body)
	}
	if ev := eventOf(t, c.expect("text/event-plain")); ev["Event-Name"] != "CHANNEL_CREATE" {
		t.Fatalf("got %s", ev["Event-Name"])
	}
}

// TestBgapiNoAnswer: bgapi replies at once with the Job-UUID we chose and
// the result comes as BACKGROUND_JOB; a leg nobody answers ends NO_ANSWER
// with q850 19.
func TestBgapiNoAnswer(t *testing.T) {
	s := startServer(t)
	s.Endpoint("user/1002", Behavior{NoAnswer: true, RingFor: 20 * time.Millisecond})
	c := dialRaw(t, s, "BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE")
	c.send("bgapi originate {origination_uuid=u2}user/1002 &park()\nJob-UUID: job-1")
	r := c.expect("command/reply")
	if v, _ := r.Get("Reply-Text"); v != "+OK Job-UUID: job-1" {
		t.Fatalf("reply %q", v)
	}
	var job, hup map[string]string
	for job == nil || hup == nil {
		ev := eventOf(t, c.expect("text/event-plain"))
		switch ev["Event-Name"] {
		case "BACKGROUND_JOB":
			job = ev
		case "CHANNEL_HANGUP_COMPLETE":
			hup = ev
		}
	}
	if job["Job-UUID"] != "job-1" || job["_body"] != "-ERR NO_ANSWER\n" {
		t.Errorf("job %v", job)
	}
	if hup["Hangup-Cause"] != "NO_ANSWER" || hup["variable_hangup_cause_q850"] != "19" {
		t.Errorf("hangup %v", hup)
	}
}

// TestFaults: reordered delivery, injected unknown content type, refused
// connections, slow replies.
func TestFaults(t *testing.T) {
	t.Run("reorder", func(t *testing.T) {
		s := startServer(t)
		s.SetFaults(Faults{Reorder: 4})
		c := dialRaw(t, s, "DTMF")
		id := s.InboundCall(Call{CallerNumber: "1", Dialed: "2"})
		if err := s.DTMF(id, "1234"); err != nil {
			t.Fatal(err)
		}
		var seqs []string
		for range 4 {
			seqs = append(seqs, eventOf(t, c.expect("text/event-plain"))["DTMF-Digit"])
		}
		if strings.Join(seqs, "") != "4321" {
			t.Fatalf("delivered %v, want reversed", seqs)
		}
	})
	t.Run("inject", func(t *testing.T) {
		s := startServer(t)
		c := dialRaw(t, s, "")
		s.InjectFrame("text/rude-rejection", "go away\n")
		if f := c.expect("text/rude-rejection"); string(f.Body) != "go away\n" {
			t.Fatal(string(f.Body))
		}
	})
	t.Run("refuse", func(t *testing.T) {
		s := startServer(t)
		s.SetFaults(Faults{Refuse: true})
		nc, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := ReadFrame(bufio.NewReader(nc)); err == nil {
			t.Fatal("refused connection delivered a frame")
		}
	})
	t.Run("slow", func(t *testing.T) {
		s := startServer(t)
		c := dialRaw(t, s, "")
		s.SetFaults(Faults{ReplyDelay: 200 * time.Millisecond, ReplyDelayMatch: "status"})
		c.send("api status")
		_ = c.nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := ReadFrame(c.r); err == nil {
			t.Fatal("slow reply arrived early")
		}
	})
	t.Run("drop", func(t *testing.T) {
		s := startServer(t)
		c := dialRaw(t, s, "")
		s.DropConnections()
		if _, err := ReadFrame(c.r); err == nil {
			t.Fatal("dropped connection still open")
		}
	})
}

// TestBridgeRecordHangup walks the lifecycle the adapter relies on.
func TestBridgeRecordHangup(t *testing.T) {
	s := startServer(t)
	c := dialRaw(t, s, "ALL")
	caller := s.InboundCall(Call{CallerNumber: "5551234", Dialed: "800", Vars: map[string]string{"park_after_bridge": "true"}})
	c.send("api uuid_answer " + caller)
	c.send("bgapi originate {origination_uuid=agent1,origination_caller_id_number=5551234}user/1001 &park()")
	want := map[string]bool{}
	for !want["BACKGROUND_JOB"] {
		f := c.next()
		if f.ContentType() == "text/event-plain" {
			want[eventOf(t, f)["Event-Name"]] = true
		}
	}
	c.send("api uuid_bridge " + caller + " agent1")
	c.send("api uuid_record " + caller + " start /rec/a.wav")
	c.send("api uuid_record " + caller + " mask /rec/a.wav")
	seen := []string{}
	for replies := 0; replies < 3; {
		f := c.next()
		switch f.ContentType() {
		case "api/response":
			if !strings.HasPrefix(string(f.Body), "+OK") {
				t.Fatalf("reply %q", f.Body)
			}
			replies++
		case "text/event-plain":
			ev := eventOf(t, f)
			seen = append(seen, ev["Event-Name"]+"@"+ev["Unique-ID"])
		}
	}
	if err := s.Hangup("agent1", "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	for !contains(seen, "CHANNEL_PARK") || !contains(seen, "CHANNEL_DESTROY") {
		f := c.next()
		if f.ContentType() == "text/event-plain" {
			ev := eventOf(t, f)
			seen = append(seen, ev["Event-Name"]+"@"+ev["Unique-ID"])
			seen = append(seen, ev["Event-Name"])
		}
	}
	for _, w := range []string{"CHANNEL_BRIDGE@" + caller, "RECORD_START@" + caller, "CHANNEL_UNBRIDGE@" + caller, "CHANNEL_HANGUP@agent1", "CHANNEL_PARK@" + caller} {
		if !contains(seen, w) {
			t.Errorf("missing %s in %v", w, seen)
		}
	}
	ci, ok := s.Channel(caller)
	if !ok || ci.App != "park" || len(ci.Masked) != 1 {
		t.Errorf("caller after agent hangup: %+v", ci)
	}
}

// TestEventSequenceGlobal: Event-Sequence is one counter for the whole
// switch, as in FreeSWITCH. A connection subscribed to a few events sees
// gaps where the others went, and the numbers of events nobody subscribed
// to are used up all the same (the fake does not render those, but must
// not skip their numbers); a connection subscribed to everything sees
// consecutive numbers, and the same number as the other connection for
// the same event.
func TestEventSequenceGlobal(t *testing.T) {
	s := startServer(t)
	few := dialRaw(t, s, "CHANNEL_ANSWER")
	seqOf := func(ev map[string]string) uint64 {
		n, err := strconv.ParseUint(ev["Event-Sequence"], 10, 64)
		if err != nil {
			t.Fatalf("Event-Sequence %q: %v", ev["Event-Sequence"], err)
		}
		return n
	}
	answer := func(c *client) (map[string]string, []uint64) {
		id := s.InboundCall(Call{CallerNumber: "1", Dialed: "2"})
		c.send("api uuid_answer " + id)
		var seqs []uint64
		var ans map[string]string
		for replied := false; !replied || ans == nil; {
			f := c.next()
			switch f.ContentType() {
			case "api/response":
				replied = true
			case "text/event-plain":
				ev := eventOf(t, f)
				seqs = append(seqs, seqOf(ev))
				if ev["Event-Name"] == "CHANNEL_ANSWER" && ev["Unique-ID"] == id {
					ans = ev
				}
			}
		}
		return ans, seqs
	}
	// Nobody takes CHANNEL_CREATE, CHANNEL_EXECUTE or CHANNEL_PARK.
	a1, _ := answer(few)
	a2, _ := answer(few)
	if gap := seqOf(a2) - seqOf(a1); gap != 4 {
		t.Fatalf("answers numbered %d and %d: %d apart, want 4 (CREATE, EXECUTE and PARK between, unsubscribed)", seqOf(a1), seqOf(a2), gap)
	}
	all := dialRaw(t, s, "ALL")
	a3, allSeqs := answer(all)
	for i := 1; i < len(allSeqs); i++ {
		if allSeqs[i] != allSeqs[i-1]+1 {
			t.Fatalf("subscribed to ALL, saw %v: not consecutive", allSeqs)
		}
	}
	a3few := eventOf(t, few.expect("text/event-plain"))
	if a3few["Unique-ID"] != a3["Unique-ID"] || seqOf(a3few) != seqOf(a3) {
		t.Fatalf("the same CHANNEL_ANSWER numbered %d on one connection and %d on the other", seqOf(a3few), seqOf(a3))
	}
	if gap := seqOf(a3) - seqOf(a2); gap != 4 {
		t.Fatalf("answers numbered %d and %d: %d apart, want 4", seqOf(a2), seqOf(a3), gap)
	}
}

// TestHangupAfterBridge: a leg with HangupAfterBridge stays up until it is
// bridged however long that takes, then hangs up by itself.
func TestHangupAfterBridge(t *testing.T) {
	s := startServer(t)
	s.Endpoint("user/1001", Behavior{HangupAfterBridge: time.Millisecond})
	c := dialRaw(t, s, "ALL")
	caller := s.InboundCall(Call{CallerNumber: "5551234", Dialed: "800"})
	c.send("api originate {origination_uuid=agent1}user/1001 &park()")
	for f := c.next(); f.ContentType() != "api/response"; f = c.next() {
	}
	// The agent leg is up and stays up: the fake never hangs it up before
	// the bridge (what HangupAfter from answer would do).
	c.send("api uuid_getvar agent1 origination_uuid")
	for f := c.next(); f.ContentType() != "api/response"; f = c.next() {
		if f.ContentType() == "text/event-plain" {
			if ev := eventOf(t, f); ev["Event-Name"] == "CHANNEL_HANGUP" {
				t.Fatalf("agent leg hung up before the bridge")
			}
		}
	}
	if _, ok := s.Channel("agent1"); !ok {
		t.Fatal("agent leg gone before the bridge")
	}
	c.send("api uuid_bridge " + caller + " agent1")
	var seen []string
	for !contains(seen, "CHANNEL_HANGUP@agent1") {
		f := c.next()
		if f.ContentType() == "text/event-plain" {
			ev := eventOf(t, f)
			seen = append(seen, ev["Event-Name"]+"@"+ev["Unique-ID"])
		}
	}
	bridge, hangup := -1, -1
	for i, e := range seen {
		switch e {
		case "CHANNEL_BRIDGE@" + caller:
			bridge = i
		case "CHANNEL_HANGUP@agent1":
			hangup = i
		}
	}
	if bridge < 0 || hangup < bridge {
		t.Fatalf("events %v: want the agent's hangup after the bridge", seen)
	}
}

// TestBridged: Bridged counts the originated legs that were ever bridged
// with another channel, each leg once (bridged again, with another
// caller, it still counts once), never an inbound leg nor an originated
// one that was answered but never bridged; a pattern ending in "*"
// matches by prefix. Two originated legs bridged together both count.
func TestBridged(t *testing.T) {
	s := startServer(t)
	c := dialRaw(t, s, "")
	api := func(cmd string) {
		t.Helper()
		c.send("api " + cmd)
		if f := c.expect("api/response"); !strings.HasPrefix(string(f.Body), "+OK") {
			t.Fatalf("%s: %q", cmd, f.Body)
		}
	}
	callers := []string{
		s.InboundCall(Call{CallerNumber: "5551001", Dialed: "800"}),
		s.InboundCall(Call{CallerNumber: "5551002", Dialed: "800"}),
	}
	for _, leg := range []struct{ uuid, dial string }{
		{"agent1", "user/1001"}, {"agent2", "user/1002"}, {"agent3", "user/2001"},
		{"conf1", "user/3001"}, {"conf2", "user/3002"},
	} {
		api("originate {origination_uuid=" + leg.uuid + "}" + leg.dial + " &park()")
	}
	if n := s.Bridged("user/*"); n != 0 {
		t.Fatalf("Bridged(user/*) = %d before any bridge, want 0", n)
	}
	api("uuid_bridge " + callers[0] + " agent1")
	api("uuid_bridge " + callers[1] + " agent1") // agent1 again: still one leg
	api("uuid_bridge " + callers[1] + " agent2")
	api("uuid_bridge conf1 conf2") // two originated legs: both connected
	for _, tc := range []struct {
		pattern string
		want    int
	}{
		{"user/1001", 1},
		{"user/1002", 1},
		{"user/1*", 2},
		{"user/2001", 0}, // answered, never bridged
		{"user/2*", 0},
		{"user/3*", 2},
		{"user/*", 4},
		{"user/", 0},   // exact match without "*"
		{"sofia/*", 0}, // inbound callers are not counted
		{"*", 4},
	} {
		if n := s.Bridged(tc.pattern); n != tc.want {
			t.Errorf("Bridged(%q) = %d, want %d", tc.pattern, n, tc.want)
		}
	}
}
