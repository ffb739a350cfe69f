package ari

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/CyCoreSystems/ari/v6"
	"github.com/CyCoreSystems/ari/v6/client/native"
	"golang.org/x/net/websocket"

	"github.com/switchboard-cc/switchboard/adapters"
)

// leg is what a node knows of one channel.
type leg struct {
	id         string
	role       adapters.LegRole
	tag        string
	answered   bool
	inStasis   bool
	localHang  bool
	cause      int
	continued  bool
	sibling    bool   // second half of a Local pair in Stasis: not a call
	localBase  string // Local pair name without ;1/;2
	snoopOf    string // for a snoop channel: the target leg
	pairedSpy  string // for a supervisor leg: its snoop channel
	supervisor string // for a snoop channel: its supervisor leg
	bridge     string
	caller     string
	dialed     string
}

type rec struct {
	format string
	leg    string
}

// node is one Asterisk: its REST client, its events websocket and the legs
// switchboard holds on it.
type node struct {
	a   *Adapter
	cfg NodeConfig
	cli *native.Client
	log *slog.Logger
	sem chan struct{}
	hb  *http.Client // every REST request's client (ari/v6's and the heartbeat's)
	tr  *http.Transport

	raw *fifo[rawItem] // decoded events, in socket order, drained at once

	mu        sync.Mutex
	ws        *websocket.Conn
	up        bool
	standby   bool
	lastErr   string
	legs      map[string]*leg
	locals    map[string]string // Local base name → primary leg id
	playbacks map[string]string // playback id → leg id
	recs      map[string]rec
	// bridges are the mixing bridges switchboard created on the node, with
	// the channels it put in them. Asterisk keeps an ARI bridge until it
	// is deleted, even empty, so the last member to leave deletes it.
	bridges  map[string]map[string]bool
	memberOf map[string]string // channel id → its bridge in bridges

	reconnects atomic.Int64
	timeouts   atomic.Int64
	events     atomic.Int64
}

// rawItem is one unit of work for the node's worker: an ARI event, or a
// marker that a connection came up (reconcile) or went down.
type rawItem struct {
	ev    ari.Event
	up    bool
	down  error
	reply chan struct{}
}

func newNode(a *Adapter, nc NodeConfig) *node {
	n := &node{
		a:         a,
		cfg:       nc,
		log:       a.log.With("node", nc.Name),
		sem:       make(chan struct{}, a.cfg.MaxInflight),
		raw:       newFifo[rawItem](),
		legs:      map[string]*leg{},
		locals:    map[string]string{},
		playbacks: map[string]string{},
		recs:      map[string]rec{},
		bridges:   map[string]map[string]bool{},
		memberOf:  map[string]string{},
	}
	// Keep-alive connections for as many requests as may be in flight, so
	// that a busy node reuses them instead of dialling for every request.
	n.tr = &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: a.cfg.ConnectTimeout, KeepAlive: 15 * time.Second}).DialContext,
		MaxIdleConns:        a.cfg.MaxInflight + 2,
		MaxIdleConnsPerHost: a.cfg.MaxInflight + 2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: a.cfg.ConnectTimeout,
	}
	// The caller stops waiting at RequestTimeout (see rest); the client's
	// own timeout, a little later, aborts the request on the wire so a
	// hung Asterisk does not hold its goroutine and in-flight slot.
	n.hb = &http.Client{Transport: drainingTransport{n.tr}, Timeout: a.cfg.RequestTimeout + time.Second}
	// Only the REST half of native.Client is used: it is never Connect()ed
	// (and so never Close()d), which keeps its racy reconnect loop out.
	n.cli = native.New(&native.Options{
		Application:  nc.App,
		URL:          nc.URL + "/ari",
		WebsocketURL: wsURL(nc.URL) + "/ari/events",
		Username:     nc.Username,
		Password:     nc.Password,
		Logger:       newXSlog(n.log.With("component", "ari/v6")),
	})
	if err := setHTTPClient(n.cli, n.hb); err != nil {
		n.log.Warn("ari/v6 changed: REST requests use its default HTTP client (no timeout at the transport, 2 idle connections)", "err", err)
	}
	return n
}

// drainingTransport reads what is left of a response body before closing
// it. ari/v6 decodes a JSON reply with a json.Decoder and closes the body
// without reaching EOF, and net/http drops a connection whose body was
// closed early: every originate, bridge or playback reply would cost a
// new TCP connection.
type drainingTransport struct{ rt http.RoundTripper }

func (d drainingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.rt.RoundTrip(r)
	if err == nil && resp.Body != nil {
		resp.Body = drainOnClose{resp.Body}
	}
	return resp, err
}

type drainOnClose struct{ io.ReadCloser }

// Close drains at most 64 KiB (Asterisk's replies are small; a larger
// rest is not worth a connection), bounded by the client's timeout.
func (d drainOnClose) Close() error {
	io.Copy(io.Discard, io.LimitReader(d.ReadCloser, 64<<10)) //nolint:errcheck // best effort
	return d.ReadCloser.Close()
}

// setHTTPClient gives one native client our HTTP client. ari/v6 has no
// option for it: native.Client holds an unexported http.Client whose zero
// value means no timeout (a hung Asterisk holds every request's goroutine
// for ever) and http.DefaultTransport, which keeps 2 idle connections per
// host, so under load nearly every request dials a new TCP connection and
// closes it after (about 2,000 a second at 300 calls/s: the ephemeral
// ports run out within seconds, in TIME_WAIT, and Asterisk starts a thread
// per connection). The field of this one instance is set once, before its
// first use; no global state changes. TestLibraryHTTPClientField fails if
// a new ari/v6 renames or retypes the field.
func setHTTPClient(c *native.Client, hc *http.Client) error {
	f := reflect.ValueOf(c).Elem().FieldByName("httpClient")
	if !f.IsValid() || f.Type() != reflect.TypeOf(http.Client{}) {
		return errors.New("native.Client has no httpClient field of type http.Client")
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(*hc)) //nolint:gosec // see above
	return nil
}

func wsURL(httpURL string) string {
	if strings.HasPrefix(httpURL, "https://") {
		return "wss://" + strings.TrimPrefix(httpURL, "https://")
	}
	return "ws://" + strings.TrimPrefix(httpURL, "http://")
}

func (n *node) status() NodeStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	return NodeStatus{
		Name: n.cfg.Name, URL: n.cfg.URL, Up: n.up, Standby: n.standby, Err: n.lastErr,
		Reconnects: n.reconnects.Load(), Legs: len(n.legs), Timeouts: n.timeouts.Load(), Events: n.events.Load(),
	}
}

// do runs one REST request bounded by ctx and the request timeout. The
// native client takes no context and has no HTTP timeout, so the request
// runs in its own goroutine and the caller stops waiting at the deadline;
// MaxInflight bounds how many such requests a hung Asterisk can hold.
func (n *node) do(ctx context.Context, what string, f func(*native.Client) error) error {
	n.mu.Lock()
	standby, up := n.standby, n.up
	n.mu.Unlock()
	if standby {
		return fmt.Errorf("ari %s on %s: %w", what, n.cfg.Name, adapters.ErrStandby)
	}
	if !up {
		return fmt.Errorf("ari %s: Asterisk node %s (%s) not connected: %w", what, n.cfg.Name, n.cfg.URL, adapters.ErrUnreachable)
	}
	return n.rest(ctx, what, f)
}

// rest is do without the link checks (used by reconciliation and doctor).
func (n *node) rest(ctx context.Context, what string, f func(*native.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, n.a.cfg.RequestTimeout)
	defer cancel()
	select {
	case n.sem <- struct{}{}:
	case <-ctx.Done():
		n.timeouts.Add(1)
		return fmt.Errorf("ari %s on %s: too many requests in flight: %w: %w", what, n.cfg.Name, ErrTimeout, ctx.Err())
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-n.sem }()
		done <- f(n.cli)
	}()
	select {
	case err := <-done:
		if err != nil {
			if isTimeout(err) {
				n.timeouts.Add(1)
				return fmt.Errorf("ari %s on %s: %w: %v", what, n.cfg.Name, ErrTimeout, err)
			}
			return n.wrapErr(what, err)
		}
		return nil
	case <-ctx.Done():
		n.timeouts.Add(1)
		return fmt.Errorf("ari %s on %s: %w: %w", what, n.cfg.Name, ErrTimeout, ctx.Err())
	}
}

func (n *node) wrapErr(what string, err error) error {
	switch native.CodeFromError(rootErr(err)) {
	case 404:
		return fmt.Errorf("ari %s on %s: %w: %v", what, n.cfg.Name, adapters.ErrUnknownLeg, err)
	case 409, 422:
		// "Channel not in Stasis application": gone from switchboard's reach.
		return fmt.Errorf("ari %s on %s: %w: %v", what, n.cfg.Name, adapters.ErrUnknownLeg, err)
	case 401:
		return fmt.Errorf("ari %s on %s: Asterisk rejected the ARI credentials of user %q (401): %w", what, n.cfg.Name, n.cfg.Username, err)
	}
	return fmt.Errorf("ari %s on %s: %w", what, n.cfg.Name, err)
}

// isTimeout reports whether a request failed on the HTTP client's timeout,
// through ari/v6's eris wrappers.
func isTimeout(err error) bool {
	for err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return true
		}
		if c, ok := err.(interface{ Cause() error }); ok && errors.Unwrap(err) == nil {
			err = c.Cause()
			continue
		}
		err = errors.Unwrap(err)
	}
	return false
}

// rootErr unwraps eris wrappers down to the native request error.
func rootErr(err error) error {
	for {
		if native.CodeFromError(err) != 0 {
			return err
		}
		u := errors.Unwrap(err)
		if c, ok := err.(interface{ Cause() error }); ok && u == nil {
			u = c.Cause() // native's data-get errors
		}
		if u == nil {
			return err
		}
		err = u
	}
}

// --- connection ----------------------------------------------------------

// dial opens the events websocket, bounded by ctx.
func (n *node) dial(ctx context.Context) (*websocket.Conn, error) {
	v := url.Values{}
	v.Set("app", n.cfg.App)
	cfg, err := websocket.NewConfig(wsURL(n.cfg.URL)+"/ari/events?"+v.Encode(), "http://localhost/")
	if err != nil {
		return nil, fmt.Errorf("websocket config for %s: %w", n.cfg.URL, err)
	}
	cfg.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(n.cfg.Username+":"+n.cfg.Password)))
	// TCP keepalive finds a peer that vanished without a FIN.
	cfg.Dialer = &net.Dialer{KeepAlive: 15 * time.Second}
	ws, err := cfg.DialContext(ctx)
	if err != nil {
		var de *websocket.DialError
		if errors.As(err, &de) && errors.Is(de.Err, websocket.ErrBadStatus) {
			// The handshake got an HTTP status: find out which.
			if cerr := n.rest(ctx, "check credentials", func(c *native.Client) error {
				_, err := c.Asterisk().Info(nil)
				return err
			}); cerr != nil {
				return nil, fmt.Errorf("Asterisk at %s refused the events websocket: %w", n.cfg.URL, cerr)
			}
		}
		return nil, fmt.Errorf("Asterisk unreachable at %s: %w", n.cfg.URL, err)
	}
	return ws, nil
}

// connectOnce makes the first connection (Run's start check).
func (n *node) connectOnce(ctx context.Context) error {
	ws, err := n.dial(ctx)
	if err != nil {
		n.mu.Lock()
		n.lastErr = err.Error()
		n.mu.Unlock()
		n.a.emit(&adapters.NodeState{Base: n.base(""), Node: n.cfg.Name, Err: err.Error()})
		return err
	}
	n.mu.Lock()
	n.ws = ws
	n.mu.Unlock()
	return nil
}

func (n *node) closeWS() {
	n.mu.Lock()
	ws := n.ws
	n.mu.Unlock()
	if ws != nil {
		ws.Close() //nolint:errcheck // tearing down
	}
}

// run keeps the node connected until ctx ends: read, detect loss, redial,
// reconcile. It owns the worker that turns raw events into port events.
func (n *node) run(ctx context.Context) {
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		n.work(ctx)
	}()
	defer func() { <-workerDone }()
	first := true
	for ctx.Err() == nil {
		n.mu.Lock()
		ws := n.ws
		standby := n.standby
		n.mu.Unlock()
		if standby {
			// Replaced by another controller: do not redial (that would
			// take the app back); wait for shutdown.
			<-ctx.Done()
			return
		}
		if ws == nil {
			if !first {
				select {
				case <-time.After(n.a.cfg.ReconnectDelay):
				case <-ctx.Done():
					return
				}
				n.mu.Lock()
				standby := n.standby
				n.mu.Unlock()
				if standby {
					continue
				}
			}
			cctx, cancel := context.WithTimeout(ctx, n.a.cfg.ConnectTimeout)
			var err error
			ws, err = n.dial(cctx)
			cancel()
			if err != nil {
				first = false
				n.setDown(err)
				continue
			}
			n.mu.Lock()
			n.ws = ws
			n.mu.Unlock()
			n.reconnects.Add(1)
		}
		first = false
		err := n.read(ctx, ws)
		ws.Close() //nolint:errcheck
		n.mu.Lock()
		n.ws = nil
		n.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		n.raw.push(rawItem{down: err})
	}
}

func (n *node) setDown(err error) {
	n.mu.Lock()
	was := n.up
	n.up = false
	n.lastErr = err.Error()
	n.mu.Unlock()
	if was {
		n.log.Warn("asterisk link down", "url", n.cfg.URL, "err", err)
		n.a.emit(&adapters.NodeState{Base: n.base(""), Node: n.cfg.Name, Err: err.Error()})
	}
}

// read drains the socket into the raw queue at once. It asks the worker to
// reconcile first, so events that arrive meanwhile are handled after the
// listing. A heartbeat user event goes round every Heartbeat; when nothing
// at all arrives for three beats the socket is declared dead.
func (n *node) read(ctx context.Context, ws *websocket.Conn) error {
	n.raw.push(rawItem{up: true})
	hbCtx, stop := context.WithCancel(ctx)
	defer stop()
	go n.heartbeat(hbCtx)
	for {
		ws.SetReadDeadline(time.Now().Add(3 * n.a.cfg.Heartbeat)) //nolint:errcheck
		var data []byte
		if err := websocket.Message.Receive(ws, &data); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("no event or heartbeat from %s for %s: %w", n.cfg.URL, 3*n.a.cfg.Heartbeat, err)
			}
			return fmt.Errorf("events websocket to %s lost: %w", n.cfg.URL, err)
		}
		e, err := ari.DecodeEvent(data)
		if err != nil {
			n.log.Warn("undecodable ARI event skipped", "err", err, "bytes", len(data))
			continue
		}
		n.events.Add(1)
		if _, ok := e.(*ari.ApplicationReplaced); ok {
			// Standby at once, here and not in the worker: the redial loop
			// must see it before its next attempt, or it would take the
			// app back from the switchboard that just took it over.
			n.mu.Lock()
			n.standby = true
			n.mu.Unlock()
			n.raw.push(rawItem{ev: e})
			// Asterisk leaves the socket open and silent: stop reading.
			return errReplaced
		}
		n.raw.push(rawItem{ev: e})
	}
}

var errReplaced = errors.New("application replaced by another switchboard")

func (n *node) heartbeat(ctx context.Context) {
	t := time.NewTicker(n.a.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// POST /events/user/{name}?application=app comes back on the
		// websocket as ChannelUserevent: it proves the socket alive.
		n.sendHeartbeat(ctx)
	}
}

// --- worker --------------------------------------------------------------

func (n *node) work(ctx context.Context) {
	for {
		items, ok := n.raw.popAll(ctx)
		if !ok {
			return
		}
		for _, it := range items {
			switch {
			case it.up:
				n.connected(ctx)
			case it.down != nil:
				if errors.Is(it.down, errReplaced) {
					continue
				}
				n.setDown(it.down)
			case it.ev != nil:
				n.handle(ctx, it.ev)
			}
			if it.reply != nil {
				close(it.reply)
			}
		}
	}
}

// connected marks the node up and reconciles with what Asterisk holds.
func (n *node) connected(ctx context.Context) {
	n.mu.Lock()
	n.up = true
	n.lastErr = ""
	n.mu.Unlock()
	n.log.Info("asterisk link up", "url", n.cfg.URL, "app", n.cfg.App)
	n.a.emit(&adapters.NodeState{Base: n.base(""), Node: n.cfg.Name, Up: true})
	if err := n.reconcile(ctx); err != nil {
		n.log.Error("reconcile failed; dropping the link to retry", "err", err)
		n.closeWS()
	}
}

func (n *node) base(id string) adapters.Base {
	r := adapters.LegRef{}
	if id != "" {
		r = adapters.LegRef{Node: n.cfg.Name, ID: id}
	}
	return adapters.Base{Ref: r, At: time.Now()}
}

func (n *node) baseAt(id string, t ari.DateTime) adapters.Base {
	b := n.base(id)
	if tt := time.Time(t); !tt.IsZero() {
		b.At = tt
	}
	return b
}

// localBase returns the pair name of a Local channel half ("" otherwise).
func localBase(name string) string {
	if strings.HasPrefix(name, "Local/") && (strings.HasSuffix(name, ";1") || strings.HasSuffix(name, ";2")) {
		return name[:len(name)-2]
	}
	return ""
}

// parseArgs reads the appArgs switchboard gives its own legs: sb,role,tag.
func parseArgs(args []string) (role adapters.LegRole, tag string, ours bool) {
	if len(args) >= 2 && args[0] == "sb" {
		role = adapters.LegRole(args[1])
		if len(args) >= 3 {
			tag, _ = url.QueryUnescape(args[2])
		}
		return role, tag, true
	}
	return "", "", false
}

func (n *node) handle(ctx context.Context, e ari.Event) {
	switch ev := e.(type) {
	case *ari.StasisStart:
		n.onStasisStart(ctx, ev)
	case *ari.ChannelStateChange:
		if ev.Channel.State == "Up" {
			n.mu.Lock()
			l := n.legs[ev.Channel.ID]
			emit := l != nil && l.inStasis && !l.answered && !l.sibling && l.role == adapters.RoleCaller
			if emit {
				l.answered = true
			}
			n.mu.Unlock()
			if emit {
				n.a.emit(&adapters.LegAnswered{Base: n.baseAt(ev.Channel.ID, ev.Timestamp)})
			}
		}
	case *ari.ChannelHangupRequest:
		n.mu.Lock()
		if l := n.legs[ev.Channel.ID]; l != nil {
			if ev.Soft {
				l.localHang = true
			} else if ev.Cause != 0 && l.cause == 0 {
				l.cause = ev.Cause
			}
		}
		n.mu.Unlock()
	case *ari.StasisEnd:
		n.onEnd(ctx, ev.Channel.ID, 0, "", ev.Timestamp, false)
	case *ari.ChannelDestroyed:
		n.onEnd(ctx, ev.Channel.ID, ev.Cause, ev.CauseTxt, ev.Timestamp, true)
	case *ari.ChannelDtmfReceived:
		n.mu.Lock()
		l := n.legs[ev.Channel.ID]
		ok := l != nil && !l.sibling
		n.mu.Unlock()
		if ok {
			n.a.emit(&adapters.DTMFReceived{Base: n.baseAt(ev.Channel.ID, ev.Timestamp), Digit: ev.Digit, Duration: time.Duration(ev.DurationMs) * time.Millisecond})
		}
	case *ari.PlaybackFinished:
		n.mu.Lock()
		legID, ok := n.playbacks[ev.Playback.ID]
		delete(n.playbacks, ev.Playback.ID)
		n.mu.Unlock()
		if !ok {
			legID = strings.TrimPrefix(ev.Playback.TargetURI, "channel:")
		}
		n.a.emit(&adapters.PlaybackFinished{Base: n.baseAt(legID, ev.Timestamp), PlaybackID: ev.Playback.ID})
	case *ari.RecordingStarted:
		r := n.recInfo(ev.Recording.Name, ev.Recording.Format)
		n.a.emit(&adapters.RecordingStarted{Base: n.baseAt(r.leg, ev.Timestamp), Recording: adapters.RecordingRef{Node: n.cfg.Name, Name: ev.Recording.Name}, Format: r.format, Path: n.recPath(ev.Recording.Name, r.format)})
	case *ari.RecordingFinished:
		// ari.DurationSec decodes Asterisk's whole seconds into a
		// time.Duration already (nanoseconds): convert, do not scale.
		r := n.recInfo(ev.Recording.Name, ev.Recording.Format)
		n.untrackRecording(ev.Recording.Name)
		n.a.emit(&adapters.RecordingFinished{Base: n.baseAt(r.leg, ev.Timestamp), Recording: adapters.RecordingRef{Node: n.cfg.Name, Name: ev.Recording.Name}, Format: r.format, Path: n.recPath(ev.Recording.Name, r.format), Duration: time.Duration(ev.Recording.Duration)})
	case *ari.RecordingFailed:
		r := n.recInfo(ev.Recording.Name, ev.Recording.Format)
		n.untrackRecording(ev.Recording.Name)
		n.a.emit(&adapters.RecordingFailed{Base: n.baseAt(r.leg, ev.Timestamp), Recording: adapters.RecordingRef{Node: n.cfg.Name, Name: ev.Recording.Name}, Cause: ev.Recording.Cause})
	case *ari.ChannelEnteredBridge:
		n.mu.Lock()
		if l := n.legs[ev.Channel.ID]; l != nil {
			l.bridge = ev.Bridge.ID
		}
		n.mu.Unlock()
	case *ari.ChannelLeftBridge:
		n.mu.Lock()
		if l := n.legs[ev.Channel.ID]; l != nil && l.bridge == ev.Bridge.ID {
			l.bridge = ""
		}
		empty := n.leaveBridgeLocked(ev.Bridge.ID, ev.Channel.ID)
		n.mu.Unlock()
		if empty {
			n.deleteBridgeAsync(ev.Bridge.ID)
		}
	case *ari.BridgeDestroyed:
		n.mu.Lock()
		for id := range n.bridges[ev.Bridge.ID] {
			delete(n.memberOf, id)
		}
		delete(n.bridges, ev.Bridge.ID)
		n.mu.Unlock()
	case *ari.ApplicationReplaced:
		n.mu.Lock()
		n.standby = true
		n.up = false
		n.lastErr = errReplaced.Error()
		n.mu.Unlock()
		n.log.Error("STANDBY: another switchboard took over the Stasis app on this Asterisk (ApplicationReplaced); this instance stops acting on the node",
			"app", n.cfg.App, "url", n.cfg.URL)
		n.a.emit(&adapters.NodeState{Base: n.base(""), Node: n.cfg.Name, Standby: true, Err: errReplaced.Error()})
	case *ari.ChannelUserevent:
		// heartbeat: its arrival already extended the read deadline.
	}
}

func (n *node) recInfo(name, format string) rec {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.recs[name]
	if !ok || r.format == "" {
		r.format = format
	}
	return r
}

func (n *node) recPath(name, format string) string {
	return path.Join(n.a.cfg.RecordingDir, name+"."+format)
}

func (n *node) onStasisStart(ctx context.Context, ev *ari.StasisStart) {
	ch := ev.Channel
	role, tag, ours := parseArgs(ev.Args)
	n.mu.Lock()
	l := n.legs[ch.ID]
	if l != nil && l.inStasis {
		n.mu.Unlock()
		return // already adopted by reconciliation
	}
	if l != nil {
		// One of ours (originated or snoop) entering Stasis: it answered.
		l.inStasis = true
		if role == "spy" {
			n.mu.Unlock()
			return
		}
		l.answered = true
		spy := l.pairedSpy
		tag := l.tag
		n.mu.Unlock()
		if spy != "" {
			// Supervisor answered: join it with its snoop channel, off
			// the worker (REST), then report the answer.
			go func() {
				if _, err := n.bridge(ctx, spy, ch.ID); err != nil {
					n.log.Error("snoop bridge failed", "err", err, "snoop", spy, "supervisor", ch.ID)
					n.hangupAsync(ch.ID)
					return
				}
			}()
		}
		n.a.emit(&adapters.LegAnswered{Base: n.baseAt(ch.ID, ev.Timestamp), Tag: tag})
		return
	}
	if ours {
		// Ours but unknown: switchboard restarted while it rang. Report
		// the answer with its tag; the controller hangs up a ring no
		// offer owns any more.
		n.legs[ch.ID] = &leg{id: ch.ID, role: role, tag: tag, inStasis: true, answered: true}
		n.mu.Unlock()
		if role != "spy" {
			n.a.emit(&adapters.LegAnswered{Base: n.baseAt(ch.ID, ev.Timestamp), Tag: tag})
		}
		return
	}
	base := localBase(ch.Name)
	if base != "" {
		if prim, ok := n.locals[base]; ok && prim != ch.ID {
			// The other half of a Local pair that is already a call.
			n.legs[ch.ID] = &leg{id: ch.ID, role: adapters.RoleUnknown, sibling: true, localBase: base, inStasis: true}
			n.mu.Unlock()
			n.log.Debug("second half of a Local pair entered Stasis; not a new call", "channel", ch.ID, "pair", base)
			return
		}
		n.locals[base] = ch.ID
	}
	dialed := dialedNumber(extenOf(&ch), ev.Args)
	num, name := callerOf(&ch)
	n.legs[ch.ID] = &leg{id: ch.ID, role: adapters.RoleCaller, inStasis: true, answered: ch.State == "Up",
		localBase: base, caller: num, dialed: dialed}
	n.mu.Unlock()
	n.a.emit(&adapters.CallArrived{
		Base: n.baseAt(ch.ID, ev.Timestamp), CallerNumber: num, CallerName: name,
		DialedNumber: dialed, Vars: callVars(ev.Args, ch.ChannelVars), Answered: ch.State == "Up",
	})
}

// callerOf and extenOf read optional parts of a channel (pointers in
// ari/v6's ChannelData) without trusting the PBX to send them.
func callerOf(cd *ari.ChannelData) (number, name string) {
	if cd.Caller == nil {
		return "", ""
	}
	return cd.Caller.Number, cd.Caller.Name
}

func extenOf(cd *ari.ChannelData) string {
	if cd.Dialplan == nil {
		return ""
	}
	return cd.Dialplan.Exten
}

// dialedNumber is the DID: the first Stasis() argument when the dialplan
// passes one (Stasis(switchboard,${EXTEN}) from a shared entry context
// whose own extension is "s"), else the channel's extension.
func dialedNumber(exten string, args []string) string {
	if len(args) > 0 && args[0] != "" {
		return args[0]
	}
	return exten
}

// callVars exposes to entry rules the Stasis() arguments, as ARG1, ARG2 …,
// and the channel variables Asterisk puts in the channel's JSON (those
// named by `channelvars` in ari.conf [general]), by their own names.
func callVars(args []string, chanVars map[string]string) map[string]string {
	if len(args) == 0 && len(chanVars) == 0 {
		return nil
	}
	m := make(map[string]string, len(args)+len(chanVars))
	for k, v := range chanVars {
		m[k] = v
	}
	for i, a := range args {
		m[fmt.Sprintf("ARG%d", i+1)] = a
	}
	return m
}

// stasisArgs reads the Stasis() arguments back from a channel's dialplan
// location (app_data "switchboard,800"), for channels found by listing
// rather than by their StasisStart.
func stasisArgs(dp *ari.DialplanCEP) []string {
	if dp == nil || dp.AppName != "Stasis" {
		return nil
	}
	parts := strings.Split(dp.AppData, ",")
	if len(parts) < 2 {
		return nil
	}
	return parts[1:]
}

// onEnd handles StasisEnd and ChannelDestroyed: the first one for a known
// leg reports it; an originated leg that never entered Stasis failed.
func (n *node) onEnd(ctx context.Context, id string, cause int, causeTxt string, at ari.DateTime, destroyed bool) {
	n.mu.Lock()
	emptied := ""
	if b, ok := n.memberOf[id]; ok && n.leaveBridgeLocked(b, id) {
		// Its ChannelLeftBridge was lost (link down) or never came.
		emptied = b
	}
	l := n.legs[id]
	if l != nil {
		n.dropLocked(l)
	}
	n.mu.Unlock()
	if emptied != "" {
		n.deleteBridgeAsync(emptied)
	}
	if l == nil {
		return
	}
	if l.sibling {
		return
	}
	if l.role == "spy" {
		if l.supervisor != "" {
			n.hangupAsync(l.supervisor) // target gone: end the supervisor too
		}
		return
	}
	if l.pairedSpy != "" {
		n.hangupAsync(l.pairedSpy)
	}
	if cause == 0 {
		cause = l.cause
	}
	if cause == 0 {
		cause = 16
	}
	if causeTxt == "" {
		causeTxt = causeText(cause)
	}
	b := n.baseAt(id, at)
	switch {
	case l.continued:
		n.a.emit(&adapters.LegHungUp{Base: b, Cause: 16, CauseText: "continued in dialplan", Local: true, Tag: l.tag})
	case l.role != adapters.RoleCaller && !l.answered && destroyed:
		n.a.emit(&adapters.OriginateFailed{Base: b, Tag: l.tag, Cause: cause, Reason: causeTxt})
	default:
		n.a.emit(&adapters.LegHungUp{Base: b, Cause: cause, CauseText: causeTxt, Local: l.localHang, Tag: l.tag})
	}
}

func (n *node) dropLocked(l *leg) {
	delete(n.legs, l.id)
	if l.localBase != "" && n.locals[l.localBase] == l.id {
		delete(n.locals, l.localBase)
		// The sibling half, if any, goes with its primary.
		for id, o := range n.legs {
			if o.sibling && o.localBase == l.localBase {
				delete(n.legs, id)
			}
		}
	}
}

func causeText(c int) string {
	switch c {
	case 16:
		return "Normal Clearing"
	case 17:
		return "User busy"
	case 18:
		return "No user responding"
	case 19:
		return "User alerting, no answer"
	case 21:
		return "Call Rejected"
	case 1:
		return "Unallocated (unassigned) number"
	case 0:
		return "Unknown"
	}
	return fmt.Sprintf("cause %d", c)
}

// --- reconciliation ------------------------------------------------------

// reconcile lists what Asterisk still holds for the app, adopts legs this
// node does not know, forgets the ones that vanished while the link was
// down (the controller closes their calls from the Reconciled list) and
// reports stored recordings.
func (n *node) reconcile(ctx context.Context) error {
	var app *ari.ApplicationData
	var chans []*ari.Key
	var bridges []*ari.Key
	var stored []*ari.Key
	appMissing := false
	err := n.rest(ctx, "get application "+n.cfg.App, func(c *native.Client) error {
		var err error
		app, err = c.Application().Data(key(ari.ApplicationKey, n.cfg.App))
		return err
	})
	if err != nil {
		if !errors.Is(err, adapters.ErrUnknownLeg) {
			return err
		}
		appMissing = true
		app = &ari.ApplicationData{}
	}
	_ = appMissing
	if err := n.rest(ctx, "list channels", func(c *native.Client) error {
		var err error
		chans, err = c.Channel().List(nil)
		return err
	}); err != nil {
		return err
	}
	if err := n.rest(ctx, "list bridges", func(c *native.Client) error {
		var err error
		bridges, err = c.Bridge().List(nil)
		return err
	}); err != nil {
		return err
	}
	if err := n.rest(ctx, "list stored recordings", func(c *native.Client) error {
		var err error
		stored, err = c.StoredRecording().List(nil)
		return err
	}); err != nil {
		return err
	}
	exists := map[string]bool{}
	for _, k := range chans {
		exists[k.ID] = true
	}
	inApp := map[string]bool{}
	for _, id := range app.ChannelIDs {
		inApp[id] = true
		exists[id] = true
	}
	// GET /bridges lists every bridge on the Asterisk; only switchboard's
	// own (created with an sb-br- id, or subscribed by the app) matter.
	appBridge := map[string]bool{}
	for _, id := range app.BridgeIDs {
		appBridge[id] = true
	}
	bridgeOf := map[string]string{}
	members := map[string]map[string]bool{}
	var empty []string
	for _, bk := range bridges {
		if !strings.HasPrefix(bk.ID, bridgePrefix) && !appBridge[bk.ID] {
			continue
		}
		var bd *ari.BridgeData
		if err := n.rest(ctx, "get bridge "+bk.ID, func(c *native.Client) error {
			var err error
			bd, err = c.Bridge().Data(bk)
			return err
		}); err != nil {
			if errors.Is(err, adapters.ErrUnknownLeg) {
				continue // gone meanwhile
			}
			return err
		}
		set := map[string]bool{}
		for _, cid := range bd.ChannelIDs {
			if exists[cid] {
				bridgeOf[cid] = bk.ID
				set[cid] = true
			}
		}
		if len(set) == 0 {
			// Its calls ended while the link was down (or before a
			// restart): Asterisk would keep it for ever.
			empty = append(empty, bk.ID)
			continue
		}
		members[bk.ID] = set
	}
	for _, id := range empty {
		n.deleteBridge(ctx, id)
	}

	// Unknown channels in the app: adopt. Their details need one GET each.
	var adopt []*ari.ChannelData
	n.mu.Lock()
	var unknown []string
	for _, id := range app.ChannelIDs {
		if n.legs[id] == nil {
			unknown = append(unknown, id)
		}
	}
	n.mu.Unlock()
	for _, id := range unknown {
		var cd *ari.ChannelData
		if err := n.rest(ctx, "get channel "+id, func(c *native.Client) error {
			var err error
			cd, err = c.Channel().Data(key(ari.ChannelKey, id))
			return err
		}); err != nil {
			if errors.Is(err, adapters.ErrUnknownLeg) {
				delete(inApp, id)
				continue
			}
			return err
		}
		adopt = append(adopt, cd)
	}

	var legs []adapters.LegInfo
	var vanished, emptied []string
	n.mu.Lock()
	for id, l := range n.legs {
		// A ringing originated leg is not in Stasis yet; it survives if
		// the channel still exists.
		if !exists[id] || (l.inStasis && !inApp[id]) {
			vanished = append(vanished, id)
			if b, ok := n.memberOf[id]; ok && n.leaveBridgeLocked(b, id) {
				emptied = append(emptied, b)
			}
			n.dropLocked(l)
		}
	}
	var arrived []*adapters.CallArrived
	for _, cd := range adopt {
		if n.legs[cd.ID] != nil {
			continue // its StasisStart was handled first
		}
		args := stasisArgs(cd.Dialplan)
		role, tag, ours := parseArgs(args)
		switch {
		case ours:
		case strings.HasPrefix(cd.ID, "sb-spy-"):
			role = "spy"
		case strings.HasPrefix(cd.ID, "sb-"):
			parts := strings.SplitN(cd.ID, "-", 3)
			role = adapters.LegRole(parts[1])
		default:
			role = adapters.RoleCaller
		}
		num, name := callerOf(cd)
		dialed := dialedNumber(extenOf(cd), args)
		l := &leg{id: cd.ID, role: role, tag: tag, inStasis: true, answered: cd.State == "Up", caller: num, dialed: dialed}
		if role == adapters.RoleCaller {
			base := localBase(cd.Name)
			if base != "" {
				if prim, ok := n.locals[base]; ok && prim != cd.ID {
					l.sibling, l.localBase = true, base
					n.legs[cd.ID] = l
					continue
				}
				n.locals[base] = cd.ID
				l.localBase = base
			}
			arrived = append(arrived, &adapters.CallArrived{
				Base: n.base(cd.ID), CallerNumber: num, CallerName: name,
				DialedNumber: dialed, Vars: callVars(args, cd.ChannelVars), Answered: cd.State == "Up", Adopted: true,
			})
		}
		n.legs[cd.ID] = l
	}
	// Listed bridges take their members from Asterisk; a tracked bridge
	// the listing lacks may have been created since, so it is kept.
	for b, set := range members {
		for id := range n.bridges[b] {
			if n.memberOf[id] == b {
				delete(n.memberOf, id)
			}
		}
		n.bridges[b] = set
		for id := range set {
			n.memberOf[id] = b
		}
	}
	for id, l := range n.legs {
		if b, ok := bridgeOf[id]; ok {
			l.bridge = b
		}
		if l.sibling || l.role == "spy" {
			continue
		}
		state := "Up"
		if !l.answered {
			state = "Ring"
		}
		legs = append(legs, adapters.LegInfo{
			Ref: adapters.LegRef{Node: n.cfg.Name, ID: id}, State: state, CallerNumber: l.caller,
			DialedNumber: l.dialed, Tag: l.tag, BridgeID: l.bridge,
		})
	}
	n.mu.Unlock()
	for _, id := range emptied {
		n.deleteBridge(ctx, id)
	}
	for _, e := range arrived {
		n.a.emit(e)
	}
	var recs []adapters.StoredRecording
	for _, k := range stored {
		recs = append(recs, adapters.StoredRecording{Name: k.ID})
	}
	if len(vanished) > 0 {
		n.log.Warn("legs vanished while the Asterisk link was down", "count", len(vanished), "legs", vanished)
	}
	n.a.emit(&adapters.Reconciled{Base: n.base(""), Node: n.cfg.Name, Legs: legs, Recordings: recs})
	return nil
}

// --- state helpers used by commands ----------------------------------------

func (n *node) markAnswered(id string) {
	n.mu.Lock()
	l := n.legs[id]
	emit := l != nil && !l.answered && !l.sibling
	if emit {
		l.answered = true
	}
	n.mu.Unlock()
	if emit {
		n.a.emit(&adapters.LegAnswered{Base: n.base(id), Tag: l.tag})
	}
}

func (n *node) markLocalHangup(id string, cause int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if l := n.legs[id]; l != nil {
		l.localHang = true
		if cause != 0 {
			l.cause = cause
		}
	}
}

func (n *node) markContinued(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if l := n.legs[id]; l != nil {
		l.continued = true
	}
}

func (n *node) forget(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if l := n.legs[id]; l != nil {
		n.dropLocked(l)
	}
}

func (n *node) trackPlayback(pb, legID string) {
	n.mu.Lock()
	n.playbacks[pb] = legID
	n.mu.Unlock()
}

func (n *node) untrackPlayback(pb string) {
	n.mu.Lock()
	delete(n.playbacks, pb)
	n.mu.Unlock()
}

func (n *node) trackRecording(name, format, legID string) {
	n.mu.Lock()
	n.recs[name] = rec{format: format, leg: legID}
	n.mu.Unlock()
}

func (n *node) untrackRecording(name string) {
	n.mu.Lock()
	delete(n.recs, name)
	n.mu.Unlock()
}

func (n *node) trackSnoop(snoopID, supID, target string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.legs[snoopID] = &leg{id: snoopID, role: "spy", snoopOf: target, supervisor: supID}
}

func (n *node) hangupAsync(id string) {
	go func() {
		_ = n.rest(context.Background(), "hangup "+id, func(c *native.Client) error {
			return c.Channel().Hangup(key(ari.ChannelKey, id), "normal")
		})
	}()
}

func (n *node) originate(ctx context.Context, id string, role adapters.LegRole, req adapters.OriginateRequest, spy string) error {
	ep := n.a.cfg.endpoint(req.Endpoint)
	if ep == "" || req.Endpoint == "" {
		return errors.New("ari: originate: endpoint is empty")
	}
	if strings.ContainsAny(req.Tag, "\x00") {
		return fmt.Errorf("ari: originate: tag %q has a NUL byte", req.Tag)
	}
	timeout := int(req.Timeout / time.Second)
	if req.Timeout > 0 && timeout == 0 {
		timeout = 1
	}
	callerID := req.CallerIDNumber
	if req.CallerIDName != "" {
		callerID = fmt.Sprintf("%q <%s>", req.CallerIDName, req.CallerIDNumber)
	}
	vars := map[string]string{"SWITCHBOARD_TAG": req.Tag, "SWITCHBOARD_ROLE": string(role)}
	for k, v := range req.Vars {
		vars[k] = v
	}
	n.mu.Lock()
	n.legs[id] = &leg{id: id, role: role, tag: req.Tag, pairedSpy: spy}
	if spy != "" {
		if s := n.legs[spy]; s != nil {
			s.supervisor = id
		}
	}
	n.mu.Unlock()
	err := n.do(ctx, "originate "+ep, func(c *native.Client) error {
		_, err := c.Channel().Originate(nil, ari.OriginateRequest{
			Endpoint:  ep,
			Timeout:   timeout,
			CallerID:  callerID,
			App:       n.cfg.App,
			AppArgs:   "sb," + string(role) + "," + url.QueryEscape(req.Tag),
			ChannelID: id,
			Variables: vars,
		})
		return err
	})
	if err != nil {
		n.forget(id)
		return err
	}
	return nil
}

// bridgePrefix starts the id of every bridge switchboard creates, so that
// reconciliation can tell its own from other applications' bridges.
const bridgePrefix = "sb-br-"

func (n *node) bridge(ctx context.Context, ids ...string) (string, error) {
	bid := n.a.id("br")
	if err := n.do(ctx, "create bridge", func(c *native.Client) error {
		_, err := c.Bridge().Create(key(ari.BridgeKey, bid), "mixing", bid)
		return err
	}); err != nil {
		return "", err
	}
	// Members are registered before they enter: a leg that hangs up right
	// after addChannel must find its bridge to delete it.
	n.mu.Lock()
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
		if old, ok := n.memberOf[id]; ok {
			n.leaveBridgeLocked(old, id)
		}
		n.memberOf[id] = bid
	}
	n.bridges[bid] = set
	n.mu.Unlock()
	// One addChannel with a comma list: one request, both legs enter together.
	if err := n.do(ctx, "add "+strings.Join(ids, ",")+" to bridge "+bid, func(c *native.Client) error {
		return c.Bridge().AddChannel(key(ari.BridgeKey, bid), strings.Join(ids, ","))
	}); err != nil {
		n.deleteBridge(context.Background(), bid)
		return "", err
	}
	return bid, nil
}

// leaveBridgeLocked takes a channel out of one of switchboard's bridges
// and reports whether that left the bridge empty (and forgotten).
func (n *node) leaveBridgeLocked(bid, id string) bool {
	set, ok := n.bridges[bid]
	if !ok || !set[id] {
		return false
	}
	delete(set, id)
	if n.memberOf[id] == bid {
		delete(n.memberOf, id)
	}
	if len(set) > 0 {
		return false
	}
	delete(n.bridges, bid)
	return true
}

// deleteBridge removes a bridge from Asterisk (which also ends a
// recording still running on it) and forgets it; a bridge already gone is
// fine.
func (n *node) deleteBridge(ctx context.Context, bid string) {
	n.mu.Lock()
	for id := range n.bridges[bid] {
		if n.memberOf[id] == bid {
			delete(n.memberOf, id)
		}
	}
	delete(n.bridges, bid)
	n.mu.Unlock()
	err := n.rest(ctx, "delete bridge "+bid, func(c *native.Client) error {
		return c.Bridge().Delete(key(ari.BridgeKey, bid))
	})
	if err != nil && !errors.Is(err, adapters.ErrUnknownLeg) {
		n.log.Warn("could not delete an empty bridge", "bridge", bid, "err", err)
	}
}

// deleteBridgeAsync deletes off the worker: it makes a REST request.
func (n *node) deleteBridgeAsync(bid string) {
	go n.deleteBridge(context.Background(), bid)
}

// sendHeartbeat posts a user event with no source, which Asterisk sends
// to the app's websocket only. ari/v6's UserEvent always names a channel
// source, so this one request is made directly, with its own timeout.
func (n *node) sendHeartbeat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.a.cfg.RequestTimeout)
	defer cancel()
	u := n.cfg.URL + "/ari/events/user/switchboard-heartbeat?application=" + url.QueryEscape(n.cfg.App)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return
	}
	req.SetBasicAuth(n.cfg.Username, n.cfg.Password)
	resp, err := n.hb.Do(req)
	if err != nil {
		n.log.Debug("heartbeat request failed", "err", err)
		return
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()              //nolint:errcheck
}
