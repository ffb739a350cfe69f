package esl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
)

// Each test here proves one defence against eslgo v1.5.2 (see the package
// comment). The comment on each says what happens without the defence.

// Without serialization (link.send holding the lock across write and
// reply), concurrent commands receive each other's replies: eslgo hands the
// next reply to whichever SendCommand is waiting. Crossing is a race that
// shows when many commands start at once, so the test releases 64
// goroutines together, each reading a distinct value on one connection,
// round after round, until a reply crosses or the rounds are spent
// (without the defence the first crossing comes within a few rounds).
func TestDefenceSerializedCommands(t *testing.T) {
	h := startHarness(t, nil, nil)
	ctx := ctxT(t)
	const legs, workers, rounds = 8, 64, 150
	ids := make([]string, legs)
	for i := range ids {
		ids[i] = h.fs.InboundCall(esltest.Call{CallerNumber: fmt.Sprint(i), Dialed: "1", NoPark: true,
			Vars: map[string]string{"color": fmt.Sprintf("value-%d", i)}})
	}
	var crossed []string
	for r := 0; r < rounds && len(crossed) == 0; r++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		for g := 0; g < workers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				i := (g + r) % legs
				<-start
				got, err := h.a.cmds[0].api(ctx, "uuid_getvar", ids[i]+" color")
				if want := fmt.Sprintf("value-%d", i); err != nil || got != want {
					mu.Lock()
					crossed = append(crossed, fmt.Sprintf("round %d, leg %d: got %q (%v)", r, i, got, err))
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
	}
	if len(crossed) > 0 {
		t.Fatalf("%d crossed replies, e.g. %s", len(crossed), crossed[0])
	}
}

// Without dropping the connection after a timed-out command, the late
// reply is read as the reply to the next command on that connection: the
// next uuid_getvar of "color" returns the slow variable's value.
func TestDefenceDropOnTimeout(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.CommandTimeout = 100 * time.Millisecond }, nil)
	ctx := ctxT(t)
	id := h.fs.InboundCall(esltest.Call{CallerNumber: "1", Dialed: "2", NoPark: true,
		Vars: map[string]string{"slowvar": "late-reply", "color": "red"}})
	h.fs.SetFaults(esltest.Faults{ReplyDelay: 400 * time.Millisecond, ReplyDelayMatch: "slowvar"})
	if _, err := h.a.cmds[0].api(ctx, "uuid_getvar", id+" slowvar"); !errors.Is(err, adapters.ErrUnreachable) {
		t.Fatalf("slow command: %v", err)
	}
	h.fs.SetFaults(esltest.Faults{})
	// The next command that gets a reply at all (the link may be redialing)
	// must get its own.
	var got string
	var err error
	waitUntil(t, "a command answered after the timeout", func() bool {
		got, err = h.a.cmds[0].api(ctx, "uuid_getvar", id+" color")
		return !errors.Is(err, adapters.ErrUnreachable)
	})
	if err != nil || got != "red" {
		t.Fatalf("next command got %q, %v (want red)", got, err)
	}
	h.rec.waitFor(t, "node down", func(e adapters.Event) bool { n, ok := e.(adapters.NodeState); return ok && !n.Up })
	h.rec.waitFor(t, "reconciled after redial", isType[adapters.Reconciled](""))
}

// Without the reply check, a reply that is not the command's own (here a
// stray frame, standing for any reply out of step with its command) is
// taken as the answer, and every later command on that connection reads
// its predecessor's reply. With it, the command fails with ErrCrossedReply
// and the connection is dropped and redialed like a timed-out one.
func TestDefenceReplyCheck(t *testing.T) {
	h := startHarness(t, nil, nil)
	ctx := ctxT(t)
	id := h.fs.InboundCall(esltest.Call{CallerNumber: "1", Dialed: "2", NoPark: true, Vars: map[string]string{"color": "red"}})
	for _, tc := range []struct {
		stray string
		cmd   func() error
	}{
		{"api/response", func() error {
			_, err := h.a.cmds[0].send(ctx, bgapi{cmd: "status", job: newUUID()})
			return err
		}},
		{"command/reply", func() error {
			_, err := h.a.cmds[0].api(ctx, "uuid_getvar", id+" color")
			return err
		}},
	} {
		h.fs.InjectFrame(tc.stray, "+OK stray\n")
		if err := tc.cmd(); !errors.Is(err, ErrCrossedReply) || !errors.Is(err, adapters.ErrUnreachable) {
			t.Fatalf("stray %s taken as the reply: %v", tc.stray, err)
		}
		h.rec.waitFor(t, "node down", func(e adapters.Event) bool { n, ok := e.(adapters.NodeState); return ok && !n.Up })
		h.rec.waitFor(t, "reconciled after redial", isType[adapters.Reconciled](""))
		if got, err := h.a.cmds[0].api(ctx, "uuid_getvar", id+" color"); err != nil || got != "red" {
			t.Fatalf("after the stray %s: got %q, %v (want red)", tc.stray, got, err)
		}
	}
	// uuid_bridge's reply names the second leg; one naming another leg is
	// not this bridge's.
	fits := func(reply string) bool { return reply == "+OK "+id }
	if _, err := h.a.cmds[0].apiChecked(ctx, "uuid_getvar", id+" color", fits); !errors.Is(err, ErrCrossedReply) {
		t.Fatalf("a reply failing the command's own check: %v", err)
	}
}

// Without resequencing, the fake's reversed batches (and eslgo's
// goroutine-per-event delivery) reach the state machine out of order:
// digits come out reversed and an agent leg's HANGUP overtakes its ANSWER.
func TestDefenceResequencing(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.ReorderWindow = 50 * time.Millisecond }, nil)
	ctx := ctxT(t)
	caller := h.arrive(t, "5551234", "800")
	h.fs.SetFaults(esltest.Faults{Reorder: 6})
	if err := h.fs.DTMF(caller.ID, "123456"); err != nil {
		t.Fatal(err)
	}
	var digits string
	for range 6 {
		digits += h.rec.waitFor(t, "digit", isType[adapters.DTMFReceived](caller.ID)).(adapters.DTMFReceived).Digit
	}
	if digits != "123456" {
		t.Fatalf("digits applied as %q", digits)
	}
	if n := metricValue(t, h.a, "switchboard_freeswitch_events_reordered_total"); n < 1 {
		t.Fatalf("reordered events counted %v", n)
	}
	h.fs.Endpoint("user/quick", esltest.Behavior{HangupAfter: time.Millisecond})
	for i := range 5 {
		ref, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: "user/quick", Tag: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		first := h.rec.waitFor(t, "agent leg event", func(e adapters.Event) bool {
			return e.Leg().ID == ref.ID
		})
		if _, ok := first.(adapters.LegAnswered); !ok {
			t.Fatalf("leg %d: first event %T, want LegAnswered", i, first)
		}
		h.rec.waitFor(t, "agent hung up", isType[adapters.LegHungUp](ref.ID))
	}
}

// The resequencer orders by Event-Sequence and never waits for a gap.
func TestResequencerUnit(t *testing.T) {
	r := &resequencer{window: 10 * time.Millisecond}
	t0 := time.Unix(0, 0)
	for _, s := range []uint64{105, 103, 104, 101} {
		r.push(fsEvent{Seq: s}, t0)
	}
	if got := r.release(t0.Add(5 * time.Millisecond)); len(got) != 0 {
		t.Fatalf("released before the window: %v", got)
	}
	var seqs []uint64
	for _, e := range r.release(t0.Add(10 * time.Millisecond)) {
		seqs = append(seqs, e.Seq)
	}
	if fmt.Sprint(seqs) != "[101 103 104 105]" { // 102 never came: not waited for
		t.Fatalf("released %v", seqs)
	}
	if _, ok := r.next(); ok {
		t.Fatal("events left")
	}
}

// The per-leg state machine is monotonic: whatever order events come in,
// nothing follows a hangup (no ANSWER after HANGUP, no second arrival).
func TestMonotonicLegState(t *testing.T) {
	a, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.legs["agent"] = &leg{role: adapters.RoleAgent, tag: "t", originated: true}
	got := a.apply(fsEvent{Name: "CHANNEL_HANGUP", UUID: "agent", Q850: 19, HangupCause: "NO_ANSWER"})
	if f, ok := got[0].(adapters.OriginateFailed); !ok || f.Cause != 19 || f.Tag != "t" {
		t.Fatalf("hangup of unanswered agent leg: %#v", got)
	}
	for _, name := range []string{"CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_PARK", "DTMF"} {
		if got := a.apply(fsEvent{Name: name, UUID: "agent", Arrival: "true", Digit: "1"}); len(got) != 0 {
			t.Fatalf("%s after hangup produced %#v", name, got)
		}
	}
	got = a.apply(fsEvent{Name: "CHANNEL_PARK", UUID: "caller", Arrival: "true"})
	if len(got) != 1 {
		t.Fatalf("arrival: %#v", got)
	}
	if got := a.apply(fsEvent{Name: "CHANNEL_PARK", UUID: "caller", Arrival: "true"}); len(got) != 0 {
		t.Fatalf("second park produced %#v", got)
	}
	a.apply(fsEvent{Name: "CHANNEL_ANSWER", UUID: "caller"})
	if got := a.apply(fsEvent{Name: "CHANNEL_ANSWER", UUID: "caller"}); len(got) != 0 {
		t.Fatalf("second answer produced %#v", got)
	}
}

// eslgo returns empty headers for json (and xml) events; the adapter
// subscribes in plain. This test shows both halves.
func TestDefencePlainFormat(t *testing.T) {
	h := startHarness(t, nil, nil)
	found := false
	for _, c := range h.fs.Commands() {
		if strings.HasPrefix(c, "event ") {
			found = true
			if !strings.HasPrefix(c, "event plain ") {
				t.Fatalf("subscribed with %q", c)
			}
		}
	}
	if !found {
		t.Fatal("never subscribed")
	}
	h.arrive(t, "1", "2") // plain events are decoded

	// What json would have given: eslgo parses no headers at all.
	// Dialed through the splice so that closing it is race-free.
	sess, err := dialESL(ctxT(t), h.fs.Addr(), "ClueCon", 2*time.Second, eslgo.NilLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.close()
	conn := sess.conn
	got := make(chan *eslgo.Event, 4)
	conn.RegisterEventListener(eslgo.EventListenAll, func(e *eslgo.Event) { got <- e })
	if _, err := conn.SendCommand(ctxT(t), command.Event{Format: "json", Listen: []string{"CHANNEL_CREATE"}}); err != nil {
		t.Fatal(err)
	}
	h.fs.InboundCall(esltest.Call{CallerNumber: "3", Dialed: "4"})
	select {
	case e := <-got:
		if e.GetName() != "" {
			t.Fatalf("eslgo parsed a json event (%q): the plain-format defence may no longer be needed", e.GetName())
		}
	case <-time.After(waitLimit):
		t.Fatal("no json event")
	}
}

// Without the health probe, an unknown Content-Type kills eslgo's reader
// silently: no more events, no disconnect callback, calls stop arriving.
// With it, the probe times out, the link is redialed, and the call that
// came meanwhile is reported (adopted by reconciliation or seen live).
func TestDefenceHealthProbe(t *testing.T) {
	h := startHarness(t, func(c *Config) {
		c.HealthInterval = 30 * time.Millisecond
		c.HealthTimeout = 200 * time.Millisecond
	}, nil)
	// A log/data frame exactly as FreeSWITCH 1.10.12 sent it (after `log 7`
	// on any connection of the same client), and the rejection an ACL
	// gives.
	logData, err := os.ReadFile("testdata/frames/log-data.frame")
	if err != nil {
		t.Fatal(err)
	}
	for i, frame := range []struct {
		ctype string
		raw   []byte
	}{
		{"log/data", logData},
		{"text/rude-rejection", []byte("Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n")},
	} {
		h.fs.InjectRaw(frame.raw)
		id := h.fs.InboundCall(esltest.Call{CallerNumber: fmt.Sprint(i), Dialed: "800", Vars: map[string]string{"switchboard": "true"}})
		h.rec.waitFor(t, "the call after a "+frame.ctype+" frame", isType[adapters.CallArrived](id))
		h.rec.waitFor(t, "node down", func(e adapters.Event) bool { n, ok := e.(adapters.NodeState); return ok && !n.Up })
		h.rec.waitFor(t, "reconciled after redial", isType[adapters.Reconciled](""))
	}
	h.arrive(t, "5551234", "800")
}

// Reconnect with backoff and re-subscription, then reconciliation: a call
// that hung up while the link was down is left out of Reconciled, a call
// that survived is listed, one that arrived in the gap is adopted, and live
// events flow again.
func TestDefenceReconnectReconcile(t *testing.T) {
	h := startHarness(t, nil, nil)
	ctx := ctxT(t)
	survivor := h.arrive(t, "111", "800")
	vanishing := h.arrive(t, "222", "800")
	if err := h.a.Answer(ctx, survivor); err != nil {
		t.Fatal(err)
	}
	h.fs.Endpoint("user/1001", esltest.Behavior{Manual: true})
	agent, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: "user/1001", Tag: "offer-9"})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "agent ringing", func() bool { _, ok := h.fs.Channel(agent.ID); return ok })

	h.fs.SetFaults(esltest.Faults{Refuse: true})
	h.fs.DropConnections()
	h.rec.waitFor(t, "node down", func(e adapters.Event) bool { n, ok := e.(adapters.NodeState); return ok && !n.Up })
	if ok, why := h.a.Ready(); ok || why == "" {
		t.Fatalf("ready while down: %v %q", ok, why)
	}
	if err := h.a.Answer(ctx, survivor); !errors.Is(err, adapters.ErrUnreachable) {
		t.Fatalf("command while down: %v", err)
	}
	// While the link is down: one call hangs up, one new call is parked,
	// the ringing agent answers. FreeSWITCH sends nobody these events.
	if err := h.fs.Hangup(vanishing.ID, "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	newcomer := h.fs.InboundCall(esltest.Call{CallerNumber: "333", Dialed: "800", Vars: map[string]string{"switchboard": "true"}})
	if err := h.fs.Answer(agent.ID); err != nil {
		t.Fatal(err)
	}
	h.fs.SetFaults(esltest.Faults{})

	adopted := h.rec.waitFor(t, "adopted newcomer", isType[adapters.CallArrived](newcomer)).(adapters.CallArrived)
	if !adopted.Adopted || adopted.CallerNumber != "333" {
		t.Fatalf("%+v", adopted)
	}
	rec := h.rec.waitFor(t, "reconciled", isType[adapters.Reconciled]("")).(adapters.Reconciled)
	legs := map[string]adapters.LegInfo{}
	for _, l := range rec.Legs {
		legs[l.Ref.ID] = l
	}
	if _, ok := legs[vanishing.ID]; ok {
		t.Errorf("vanished call listed: %+v", rec.Legs)
	}
	if l, ok := legs[survivor.ID]; !ok || l.State != "Up" {
		t.Errorf("survivor missing or not up: %+v", rec.Legs)
	}
	if l, ok := legs[agent.ID]; !ok || l.Tag != "offer-9" {
		t.Errorf("agent leg missing or untagged: %+v", rec.Legs)
	}
	// The answer missed during the gap is reported.
	found := false
	for _, e := range h.rec.all() {
		if a, ok := e.(adapters.LegAnswered); ok && a.Ref.ID == agent.ID && a.Tag == "offer-9" {
			found = true
		}
	}
	if !found {
		t.Error("agent answer during the gap not reported")
	}
	// Re-subscribed: live events flow again.
	h.arrive(t, "444", "800")
	subs := 0
	for _, c := range h.fs.Commands() {
		if strings.HasPrefix(c, "event plain") {
			subs++
		}
	}
	if subs < 2 {
		t.Fatalf("subscribed %d times", subs)
	}
	if n := metricValue(t, h.a, "switchboard_freeswitch_reconnects_total"); n < 1 {
		t.Fatalf("reconnects counted %v", n)
	}
	if n := metricValue(t, h.a, "switchboard_freeswitch_node_up"); n != 1 {
		t.Fatalf("node_up %v", n)
	}
}

// A command waiting for its reply when FreeSWITCH drops the connection
// fails at once with ErrUnreachable and the node is redialed. Without the
// session's life ending that wait, the command sits out its whole command
// timeout (eslgo never learns the connection went: the splice keeps
// FreeSWITCH's close from it), holding the link's lock, so the drop, the
// node-down report, the redial and every command for that link's legs wait
// behind it. Here the timeout is an hour: without the defence the test
// runs into its deadline. The same holds when the adapter stops: Run
// returns without waiting for a command in flight.
func TestDefenceConnectionLostMidCommand(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.CommandTimeout = time.Hour }, nil)
	ctx := ctxT(t)
	id := h.fs.InboundCall(esltest.Call{CallerNumber: "1", Dialed: "2", NoPark: true,
		Vars: map[string]string{"slowvar": "never", "color": "red"}})
	long, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	inFlight := func() chan error {
		slow := func() int {
			n := 0
			for _, c := range h.fs.Commands() {
				if strings.Contains(c, "slowvar") {
					n++
				}
			}
			return n
		}
		before := slow()
		h.fs.SetFaults(esltest.Faults{ReplyDelay: time.Hour, ReplyDelayMatch: "slowvar"})
		done := make(chan error, 1)
		go func() {
			// No deadline but the hour: only the defence ends the wait.
			_, err := h.a.cmds[0].api(long, "uuid_getvar", id+" slowvar")
			done <- err
		}()
		waitUntil(t, "the slow command reached FreeSWITCH", func() bool { return slow() > before })
		h.fs.SetFaults(esltest.Faults{})
		return done
	}
	returned := func(done chan error) error {
		var err error
		waitUntil(t, "the command in flight returned", func() bool {
			select {
			case err = <-done:
				return true
			default:
				return false
			}
		})
		return err
	}

	done := inFlight()
	h.fs.DropConnections()
	if err := returned(done); !errors.Is(err, adapters.ErrUnreachable) {
		t.Fatalf("command in flight on a dropped connection: %v", err)
	}
	h.rec.waitFor(t, "node down", func(e adapters.Event) bool { n, ok := e.(adapters.NodeState); return ok && !n.Up })
	h.rec.waitFor(t, "reconciled after redial", isType[adapters.Reconciled](""))
	var got string
	var err error
	waitUntil(t, "a command answered after the redial", func() bool {
		got, err = h.a.cmds[0].api(ctx, "uuid_getvar", id+" color")
		return !errors.Is(err, adapters.ErrUnreachable)
	})
	if err != nil || got != "red" {
		t.Fatalf("after the redial: %q, %v", got, err)
	}

	done = inFlight()
	h.cancel()
	select {
	case <-h.runErr:
	case <-time.After(waitLimit):
		t.Fatal("Run did not return while a command was in flight")
	}
	h.runErr <- nil // for the harness's cleanup
	if err := returned(done); err == nil {
		t.Fatal("command in flight at shutdown reported success")
	}
}

// Redials back off: the wait doubles from reconnect_min up to
// reconnect_max (without it a FreeSWITCH that is down is dialed as fast as
// it refuses).
func TestRedialBackoff(t *testing.T) {
	d, got := 10*time.Millisecond, []time.Duration{}
	for range 6 {
		d = backoff(d, 100*time.Millisecond)
		got = append(got, d)
	}
	if fmt.Sprint(got) != "[20ms 40ms 80ms 100ms 100ms 100ms]" {
		t.Fatalf("backoff %v", got)
	}
}

// captureHandler keeps slog records.
type captureHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (c *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (c *captureHandler) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	line := r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	c.msgs = append(c.msgs, line)
	return nil
}
func (c *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrHandler{c, as}
}
func (c *captureHandler) WithGroup(string) slog.Handler { return c }

type attrHandler struct {
	*captureHandler
	attrs []slog.Attr
}

func (h *attrHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(h.attrs...)
	return h.captureHandler.Handle(ctx, r)
}
func (h *attrHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrHandler{h.captureHandler, append(append([]slog.Attr(nil), h.attrs...), as...)}
}

// eslgo's printf logger reaches slog (with component=eslgo) instead of the
// standard log package.
func TestLoggerBridgedToSlog(t *testing.T) {
	capture := &captureHandler{}
	h := startHarness(t, nil, slog.New(capture))
	h.fs.InjectFrame("text/rude-rejection", "Access Denied, go away.\n")
	waitUntil(t, "eslgo warning in slog", func() bool {
		capture.mu.Lock()
		defer capture.mu.Unlock()
		for _, m := range capture.msgs {
			if strings.Contains(m, "text/rude-rejection") && strings.Contains(m, "component=eslgo") && strings.Contains(m, "node=freeswitch") {
				return true
			}
		}
		return false
	})
}

// metricValue reads one metric of the adapter's collector by name.
func metricValue(t *testing.T, a *Adapter, name string) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	a.Collector().Collect(ch)
	close(ch)
	for m := range ch {
		if !strings.Contains(m.Desc().String(), `"`+name+`"`) {
			continue
		}
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		if d.Counter != nil {
			return d.Counter.GetValue()
		}
		return d.Gauge.GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// Reconciliation while an originate is on its way: bgapi answers before
// FreeSWITCH creates the channel, so a listing taken meanwhile lacks a leg
// originated in this session. That leg has not vanished (its events come
// on the subscribed connection): Reconciled lists it as ringing, so the
// controller does not close its offer, and its answer is still reported.
// It was forgotten, and the controller rang the next agent
// (TestE2EConcurrentCommandsNoCrossedReplies caught it under load).
func TestDefenceReconcileKeepsLegOriginatedThisSession(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.CommandConns = 2; c.CommandTimeout = 10 * time.Second }, nil)
	ctx := ctxT(t)
	h.fs.Endpoint("user/1001", esltest.Behavior{Manual: true})
	// The fake holds each originate, before creating its channel, for
	// far longer than the listing takes.
	h.fs.SetFaults(esltest.Faults{ReplyDelay: time.Second, ReplyDelayMatch: "originate"})
	for attempt := 0; attempt < 30; attempt++ {
		tag := fmt.Sprintf("offer-%d", attempt)
		type result struct {
			ref adapters.LegRef
			err error
		}
		res := make(chan result, 1)
		go func() {
			ref, err := h.a.Originate(ctx, adapters.OriginateRequest{Endpoint: "user/1001", Tag: tag})
			res <- result{ref, err}
		}()
		var id string
		waitUntil(t, "originate on its way", func() bool {
			h.a.mu.Lock()
			defer h.a.mu.Unlock()
			for lid, l := range h.a.legs {
				if l.tag == tag {
					id = lid
				}
			}
			return id != ""
		})
		if h.a.cmdFor(id) == h.a.cmds[0] {
			// The listing would queue behind this originate on the same
			// connection: try another leg id.
			r := <-res
			if r.err != nil {
				t.Fatal(r.err)
			}
			continue
		}
		h.a.reconcile <- struct{}{}
		rec := h.rec.waitFor(t, "reconciled", isType[adapters.Reconciled]("")).(adapters.Reconciled)
		listed := false
		for _, l := range rec.Legs {
			if l.Ref.ID == id {
				listed = l.State == "Ring" && l.Tag == tag
			}
		}
		if !listed {
			t.Fatalf("leg %s being originated is not listed as ringing: %+v", id, rec.Legs)
		}
		r := <-res
		if r.err != nil || r.ref.ID != id {
			t.Fatalf("originate: %+v", r)
		}
		waitUntil(t, "agent ringing", func() bool { _, ok := h.fs.Channel(id); return ok })
		if err := h.fs.Answer(id); err != nil {
			t.Fatal(err)
		}
		h.rec.waitFor(t, "answer of the leg", func(e adapters.Event) bool {
			a, ok := e.(adapters.LegAnswered)
			return ok && a.Ref.ID == id && a.Tag == tag
		})
		return
	}
	t.Fatal("every originate went on the listing's connection")
}
