// Package aritest is a fake Asterisk that speaks the subset of ARI that
// switchboard uses (REST under /ari and the /ari/events websocket) on a real
// loopback socket, with the JSON shapes of Asterisk 22's API documentation
// and the behaviours observed on a real Asterisk 22.10.1 (see
// testdata/README.md): both halves of a Local pair entering Stasis, events
// dropped while the app has no websocket, channels that stay in Stasis
// across a disconnect, no replay on reconnect, 401 on bad credentials,
// ApplicationReplaced for a second websocket, recordings with
// RecordingStarted/RecordingFinished, StasisEnd without ChannelDestroyed for
// channels that entered through the dialplan.
//
// Tests script it: inject an inbound call through Stasis as the dialplan
// would (InjectCall), make a far side hang up or press keys, decide how an
// originated endpoint behaves (answer after a delay, never, fail, hang up
// a while after answering or after being bridged), drop the
// websocket, replace the app, stall REST requests, and inspect channels,
// bridges and recordings.
package aritest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/websocket"
)

// ErrStasisFailed is returned by InjectCall when the app has no websocket:
// on a real Asterisk, Stasis() then sets STASISSTATUS=FAILED and the
// dialplan continues at the next priority.
var ErrStasisFailed = errors.New("aritest: Stasis() failed: application not connected")

// ErrNoChannel means the scripted channel does not exist.
var ErrNoChannel = errors.New("aritest: no such channel")

// ErrNoRecording means the scripted live recording does not exist.
var ErrNoRecording = errors.New("aritest: no such live recording")

// Options configure a fake Asterisk.
type Options struct {
	// Username and Password are the ARI credentials (default switchboard/switchboard).
	Username string
	Password string
	// AsteriskID is the entity id in events (default 02:fc:00:00:00:01).
	AsteriskID string
	// Version is reported by GET /ari/asterisk/info (default 22.10.1).
	Version string
	// PlaybackDuration is how long each media item of a playback plays
	// (default 0: PlaybackFinished follows at once, as for missing sounds).
	PlaybackDuration time.Duration
	// Addr is the listen address (default 127.0.0.1:0).
	Addr string
	// ChannelVars names the channel variables put in every channel's JSON
	// as "channelvars", as ari.conf's [general] channelvars does (unset
	// ones as ""). Empty: no "channelvars" key, as on a stock Asterisk.
	ChannelVars []string
}

// Behavior says what an originated endpoint does.
type Behavior struct {
	// AnswerAfter is the ring time before it answers.
	AnswerAfter time.Duration
	// NoAnswer rings until the originate timeout (cause 19).
	NoAnswer bool
	// Manual leaves the channel ringing until the test calls Answer or HangupFar.
	Manual bool
	// FailCause, when not zero, fails the dial at once with this cause
	// (1 unallocated, 17 busy …) and no StasisStart.
	FailCause int
	// HangupAfter, when not zero, makes the far side hang up (cause 16)
	// this long after it answered, as an agent ending the call does.
	HangupAfter time.Duration
	// HangupAfterBridge, when not zero, makes the far side hang up (cause
	// 16) this long after the channel first shares a mixing bridge with
	// another channel: talk time counted from the moment the agent is
	// connected to the caller. Unlike HangupAfter it can never end a leg
	// before its bridge, however late the bridge comes; a leg that is
	// never bridged stays up. It starts once per channel (leaving and
	// joining a bridge again does not restart it). With HangupAfter too,
	// whichever comes first ends the leg.
	HangupAfterBridge time.Duration
}

// Caller describes an inbound call injected through the dialplan.
type Caller struct {
	Number  string
	Name    string
	Exten   string // DID dialled (default 100)
	Context string // dialplan context (default from-pstn)
	// Answered makes the channel Up before Stasis (dialplan Answer()).
	Answered bool
	// Args are the Stasis() arguments after the app name.
	Args []string
	Vars map[string]string
}

// Server is a running fake Asterisk.
type Server struct {
	opts Options
	ln   net.Listener
	http *http.Server

	mu        sync.Mutex
	seq       int
	epoch     int64
	channels  map[string]*channel
	bridges   map[string]*bridge
	live      map[string]*recording
	stored    map[string]*recording
	playbacks map[string]*playback
	apps      map[string]*app
	behaviors map[string]Behavior
	stall     chan struct{} // non-nil: REST requests block until closed
	pending   map[*http.Request]*wsConn
	requests  int
	dials     map[string]int // endpoint → originates asked for, ever
	talks     map[string]int // endpoint → originated channels ever bridged with another
	conns     int            // TCP connections accepted
	closed    bool
	down      bool // SetDown: cut every request off
	timers    map[*time.Timer]struct{}
	// beforeAttach, when set (tests of this package only), runs in the
	// websocket handler after the handshake registered the app and before
	// the socket is attached: the window a drop can fall into.
	beforeAttach func()
}

type app struct {
	name     string
	active   *wsConn
	conns    []*wsConn
	channels map[string]bool // subscribed (in Stasis)
}

// New starts a fake Asterisk listening on a loopback port.
func New(opts Options) (*Server, error) {
	if opts.Username == "" {
		opts.Username = "switchboard"
	}
	if opts.Password == "" {
		opts.Password = "switchboard"
	}
	if opts.AsteriskID == "" {
		opts.AsteriskID = "02:fc:00:00:00:01"
	}
	if opts.Version == "" {
		opts.Version = "22.10.1"
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("aritest: listen on %s: %w", opts.Addr, err)
	}
	s := &Server{
		opts:      opts,
		ln:        ln,
		epoch:     time.Now().Unix(),
		channels:  map[string]*channel{},
		bridges:   map[string]*bridge{},
		live:      map[string]*recording{},
		stored:    map[string]*recording{},
		playbacks: map[string]*playback{},
		apps:      map[string]*app{},
		behaviors: map[string]Behavior{},
		timers:    map[*time.Timer]struct{}{},
		pending:   map[*http.Request]*wsConn{},
		dials:     map[string]int{},
		talks:     map[string]int{},
	}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}}
	go s.http.Serve(ln) //nolint:errcheck // returns on Close
	return s, nil
}

// URL is the HTTP base, e.g. http://127.0.0.1:34567 (ARI lives under /ari).
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server, drops every websocket and releases stalled requests.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if s.stall != nil {
		close(s.stall)
		s.stall = nil
	}
	for t := range s.timers {
		t.Stop()
	}
	var conns []*wsConn
	for _, a := range s.apps {
		conns = append(conns, a.conns...)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.drop()
	}
	s.http.Close() //nolint:errcheck
}

// after runs f under the server lock after d, unless the server closed.
func (s *Server) after(d time.Duration, f func()) {
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.timers, t)
		if s.closed {
			return
		}
		f()
	})
	s.timers[t] = struct{}{}
}

func (s *Server) nextID() string {
	s.seq++
	return fmt.Sprintf("%d.%d", s.epoch, s.seq)
}

func (s *Server) app(name string) *app {
	a := s.apps[name]
	if a == nil {
		a = &app{name: name, channels: map[string]bool{}}
		s.apps[name] = a
	}
	return a
}

// emit sends an event to the app's active websocket, or drops it when there
// is none (Asterisk does not queue events for a disconnected app).
func (s *Server) emit(appName, typ string, fields ...kv) {
	a := s.apps[appName]
	if a == nil || a.active == nil {
		return
	}
	o := obj{{"type", typ}, {"timestamp", ts(time.Now())}}
	o = append(o, fields...)
	o = append(o, kv{"asterisk_id", s.opts.AsteriskID}, kv{"application", appName})
	s.emitRaw(a, o)
}

// emitOrdered sends an event whose leading keys come before "type" (as
// ChannelVarset and ChannelHangupRequest do on a real Asterisk).
func (s *Server) emitOrdered(appName, typ string, lead []kv, fields ...kv) {
	a := s.apps[appName]
	if a == nil || a.active == nil {
		return
	}
	o := append(obj{}, lead...)
	o = append(o, kv{"type", typ}, kv{"timestamp", ts(time.Now())})
	o = append(o, fields...)
	o = append(o, kv{"asterisk_id", s.opts.AsteriskID}, kv{"application", appName})
	s.emitRaw(a, o)
}

func (s *Server) emitRaw(a *app, o obj) {
	b, err := marshalNoEscape(o)
	if err != nil {
		panic(fmt.Sprintf("aritest: marshal event: %v", err))
	}
	a.active.enqueue(b)
}

// --- scripting API -------------------------------------------------------

// Behave sets how originates to endpoint (e.g. "PJSIP/1001") behave. An
// endpoint ending in "*" is a prefix ("PJSIP/*" is every PJSIP endpoint);
// an exact endpoint wins over a prefix, a longer prefix over a shorter
// one. The default is to answer at once.
func (s *Server) Behave(endpoint string, b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviors[endpoint] = b
}

// behavior is the Behavior for an originated endpoint, under s.mu.
func (s *Server) behavior(endpoint string) Behavior {
	if b, ok := s.behaviors[endpoint]; ok {
		return b
	}
	best, found := -1, Behavior{}
	for pat, b := range s.behaviors {
		pre, ok := strings.CutSuffix(pat, "*")
		if ok && strings.HasPrefix(endpoint, pre) && len(pre) > best {
			best, found = len(pre), b
		}
	}
	return found
}

// InjectCall brings an inbound call into Stasis(appName) as the dialplan
// would, and returns its channel id. With no websocket for the app it fails
// with ErrStasisFailed, and no channel is left in the app.
func (s *Server) InjectCall(appName string, c Caller) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	if a == nil || a.active == nil {
		return "", ErrStasisFailed
	}
	if c.Exten == "" {
		c.Exten = "100"
	}
	if c.Context == "" {
		c.Context = "from-pstn"
	}
	id := s.nextID()
	state := "Ring"
	if c.Answered {
		state = "Up"
	}
	ch := s.newChannel(id, fmt.Sprintf("PJSIP/trunk-%08x", s.seq), state, c.Name, c.Number)
	ch.dialplan = dialplan{c.Context, c.Exten, 2, "Stasis", strings.Join(append([]string{appName}, c.Args...), ",")}
	for k, v := range c.Vars {
		ch.vars[k] = v
	}
	s.enterStasis(ch, appName, c.Args, true)
	return id, nil
}

// InjectLocalPair originates Local/exten@context with both halves running
// Stasis(appName), as a real Asterisk does for a Local channel whose
// dialplan enters the app: two StasisStart events for one call. It returns
// the ids of the ;1 and ;2 halves.
func (s *Server) InjectLocalPair(appName string, c Caller) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	if a == nil || a.active == nil {
		return "", "", ErrStasisFailed
	}
	if c.Exten == "" {
		c.Exten = "100"
	}
	if c.Context == "" {
		c.Context = "from-test"
	}
	base := fmt.Sprintf("Local/%s@%s-%08x", c.Exten, c.Context, s.seq+1)
	id1, id2 := s.nextID(), s.nextID()
	one := s.newChannel(id1, base+";1", "Up", c.Name, c.Number)
	two := s.newChannel(id2, base+";2", "Up", c.Name, c.Number)
	one.peer, two.peer = id2, id1
	for _, ch := range []*channel{one, two} {
		ch.dialplan = dialplan{c.Context, c.Exten, 2, "Stasis", appName}
		s.enterStasis(ch, appName, nil, true)
	}
	return id1, id2, nil
}

// HangupFar hangs a channel up from the far side with a Q.850 cause.
func (s *Server) HangupFar(id string, cause int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[id]
	if ch == nil {
		return fmt.Errorf("hangup %s: %w", id, ErrNoChannel)
	}
	s.hangup(ch, cause, false)
	return nil
}

// Answer answers a ringing originated channel (Behavior.Manual).
func (s *Server) Answer(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[id]
	if ch == nil {
		return fmt.Errorf("answer %s: %w", id, ErrNoChannel)
	}
	s.answerOriginated(ch)
	return nil
}

// PressDTMF makes the far side of a channel press a key.
func (s *Server) PressDTMF(id, digit string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[id]
	if ch == nil {
		return fmt.Errorf("dtmf %s: %w", id, ErrNoChannel)
	}
	if ch.app != "" {
		s.emit(ch.app, "ChannelDtmfReceived", kv{"digit", digit}, kv{"duration_ms", 100}, kv{"channel", ch.json()})
	}
	return nil
}

// AgeRecording makes a live recording d older, as if d of audio had
// already been written, so RecordingFinished reports the extra whole
// seconds without a test having to sleep. It fails with ErrNoRecording
// when no live recording has that name.
func (s *Server) AgeRecording(name string, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.live[name]
	if r == nil {
		return fmt.Errorf("age recording %s: %w", name, ErrNoRecording)
	}
	r.started = r.started.Add(-d)
	return nil
}

// DropWebsocket drops the app's websocket without a close frame (the
// client sees a read error). Channels stay in Stasis.
func (s *Server) DropWebsocket(appName string) {
	s.mu.Lock()
	a := s.apps[appName]
	var c *wsConn
	if a != nil {
		c = a.active
	}
	s.mu.Unlock()
	if c != nil {
		c.drop()
	}
}

// SetDown makes the fake unreachable (down true) or reachable again. While
// down, every HTTP request and websocket upgrade is cut off without an
// answer, as a network partition or an Asterisk whose HTTP server stopped
// looks to a client, and the app's websocket is dropped. Channels stay in
// Stasis and keep their state; events for them are dropped (nobody is
// connected), and InjectCall fails with ErrStasisFailed.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	var conns []*wsConn
	if down {
		for name, a := range s.apps {
			if a.active != nil && a.active.live {
				// Detach now, not when the handler notices the drop, so
				// that nothing is sent or injected meanwhile.
				conns = append(conns, a.active)
				a.active = nil
				if len(a.channels) == 0 {
					delete(s.apps, name)
				}
			}
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.drop()
	}
}

// SilenceWebsocket keeps the app's websocket open but sends nothing more
// on it, like a half-dead TCP connection: only a client-side keepalive or
// heartbeat can notice.
func (s *Server) SilenceWebsocket(appName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[appName]; a != nil && a.active != nil {
		a.active.mu.Lock()
		a.active.silent = true
		a.active.mu.Unlock()
	}
}

// ReplaceApp makes another controller take the app over: the current
// websocket receives ApplicationReplaced and nothing after (it is not
// closed), and later events go to the new, silent connection.
func (s *Server) ReplaceApp(appName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.app(appName)
	if a.active != nil {
		s.emit(appName, "ApplicationReplaced")
		a.active.replaced = true
	}
	ghost := newWSConn(nil)
	a.conns = append(a.conns, ghost)
	a.active = ghost
}

// Stall makes every REST request block until Unstall or Close, to test
// request timeouts.
func (s *Server) Stall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stall == nil {
		s.stall = make(chan struct{})
	}
}

// Unstall releases stalled requests.
func (s *Server) Unstall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stall != nil {
		close(s.stall)
		s.stall = nil
	}
}

// Connected reports whether the app has a live (not replaced) websocket.
func (s *Server) Connected(appName string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	return a != nil && a.active != nil && a.active.live
}

// Connections counts the websocket connections ever opened for the app.
func (s *Server) Connections(appName string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	if a == nil {
		return 0
	}
	n := 0
	for _, c := range a.conns {
		if c.live {
			n++
		}
	}
	return n
}

// Requests counts the REST requests served.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Originated counts the originates (POST /ari/channels) ever asked for
// to endpoint, whatever became of them, so a test counts dials at the PBX
// rather than in the code under test. A pattern ending in "*" matches by
// prefix.
func (s *Server) Originated(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	pre, prefix := strings.CutSuffix(endpoint, "*")
	n := 0
	for ep, c := range s.dials {
		if ep == endpoint || prefix && strings.HasPrefix(ep, pre) {
			n += c
		}
	}
	return n
}

// Bridged counts the channels originated to endpoint that ever shared a
// mixing bridge with another channel (each channel once, however often it
// was bridged), so a test or a load run counts calls connected at the PBX
// rather than in the code under test. A pattern ending in "*" matches by
// prefix.
func (s *Server) Bridged(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	pre, prefix := strings.CutSuffix(endpoint, "*")
	n := 0
	for ep, c := range s.talks {
		if ep == endpoint || prefix && strings.HasPrefix(ep, pre) {
			n += c
		}
	}
	return n
}

// Conns counts the TCP connections accepted (REST and websocket), to see
// whether a client reuses keep-alive connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// ChannelInfo is a test's view of one channel.
type ChannelInfo struct {
	ID, Name, State string
	Endpoint        string // for originated channels
	App             string // Stasis app, "" when not in Stasis
	Args            []string
	Bridge          string
	MOH             string // MOH class playing, "" when none
	Vars            map[string]string
	CallerNumber    string
	// Continued is "context,exten,priority" after a continue.
	Continued string
	Snoop     bool
	Spy       string
	Whisper   string
}

// Channel returns one channel.
func (s *Server) Channel(id string) (ChannelInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[id]
	if ch == nil {
		return ChannelInfo{}, false
	}
	return ch.info(), true
}

// Channels lists live channels in creation order.
func (s *Server) Channels() []ChannelInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ChannelInfo, 0, len(s.channels))
	for _, ch := range s.sortedChannels() {
		out = append(out, ch.info())
	}
	return out
}

// ChannelsByEndpoint lists the live channels originated to endpoint.
func (s *Server) ChannelsByEndpoint(endpoint string) []ChannelInfo {
	var out []ChannelInfo
	for _, c := range s.Channels() {
		if c.Endpoint == endpoint {
			out = append(out, c)
		}
	}
	return out
}

// BridgeInfo is a test's view of one bridge.
type BridgeInfo struct {
	ID, Type string
	Channels []string
	MOH      bool
}

// Bridges lists live bridges.
func (s *Server) Bridges() []BridgeInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []BridgeInfo
	for _, b := range s.bridges {
		out = append(out, BridgeInfo{ID: b.id, Type: b.typ, Channels: append([]string(nil), b.channels...), MOH: b.moh})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// RecordingInfo is a test's view of one recording.
type RecordingInfo struct {
	Name, Format, State, Target string
	Stored                      bool
	Paused, Muted               bool
}

// Recordings lists live and stored recordings.
func (s *Server) Recordings() []RecordingInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []RecordingInfo
	for _, r := range s.live {
		out = append(out, RecordingInfo{r.name, r.format, r.state, r.target, false, r.paused, r.muted})
	}
	for _, r := range s.stored {
		out = append(out, RecordingInfo{r.name, r.format, "done", r.target, true, false, false})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Server) sortedChannels() []*channel {
	out := make([]*channel, 0, len(s.channels))
	for _, ch := range s.channels {
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	return out
}

// --- websocket ------------------------------------------------------------

type wsConn struct {
	ws       *websocket.Conn
	mu       sync.Mutex
	q        [][]byte
	notify   chan struct{}
	done     chan struct{}
	once     sync.Once
	replaced bool // guarded by Server.mu
	silent   bool // guarded by mu
	dropped  bool // guarded by mu: drop ran, maybe before ws was attached
	live     bool // a real client (false: a replacing controller we only pretend exists)
}

func newWSConn(ws *websocket.Conn) *wsConn {
	return &wsConn{ws: ws, notify: make(chan struct{}, 1), done: make(chan struct{})}
}

// enqueue never blocks: a slow reader makes the queue grow, as Asterisk's
// own per-session queue does, and order is kept.
func (c *wsConn) enqueue(b []byte) {
	if !c.live {
		return // a replacing controller we only pretend exists
	}
	c.mu.Lock()
	if !c.silent {
		c.q = append(c.q, b)
	}
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *wsConn) drop() {
	c.once.Do(func() {
		close(c.done)
		c.mu.Lock()
		c.dropped = true
		ws := c.ws
		c.mu.Unlock()
		if ws != nil {
			ws.Close() //nolint:errcheck // dropping on purpose
		}
	})
}

func (c *wsConn) writeLoop() {
	for {
		select {
		case <-c.done:
			return
		case <-c.notify:
		}
		c.mu.Lock()
		q := c.q
		c.q = nil
		c.mu.Unlock()
		for _, b := range q {
			if err := websocket.Message.Send(c.ws, string(b)); err != nil {
				c.drop()
				return
			}
		}
	}
}

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	appName := r.URL.Query().Get("app")
	if appName == "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, "<html><head><title>400 Bad Request</title></head><body><h1>Bad Request</h1><p>HTTP request is missing param: [app]</p></body></html>")
		return
	}
	websocket.Server{Handler: func(ws *websocket.Conn) {
		if s.beforeAttach != nil {
			s.beforeAttach()
		}
		s.mu.Lock()
		c := s.pending[ws.Request()]
		delete(s.pending, ws.Request())
		if s.closed || c == nil {
			s.mu.Unlock()
			ws.Close() //nolint:errcheck
			return
		}
		a := s.app(appName)
		c.mu.Lock()
		c.ws = ws
		dropped := c.dropped
		c.mu.Unlock()
		s.mu.Unlock()
		if dropped {
			// Dropped between the handshake (which made the app connected)
			// and now: drop found no socket to close, so close it here, or
			// the client would stay connected to a socket the fake has
			// forgotten and never hear of the drop.
			ws.Close() //nolint:errcheck // dropping on purpose
		}
		go c.writeLoop()
		// Read until the client goes away; ARI clients send nothing.
		var discard []byte
		for websocket.Message.Receive(ws, &discard) == nil {
		}
		c.drop()
		s.mu.Lock()
		if a.active == c {
			a.active = nil
			// With no channels left the app is destroyed.
			if len(a.channels) == 0 {
				delete(s.apps, appName)
			}
		}
		s.mu.Unlock()
	}, Handshake: func(_ *websocket.Config, req *http.Request) error {
		// Register the app before the 101 goes out, as Asterisk does, so
		// a client that lists the app right after the handshake finds it;
		// events queue until the socket is attached.
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return errors.New("closed")
		}
		c := newWSConn(nil)
		c.live = true
		a := s.app(appName)
		if a.active != nil && a.active.live && !a.active.replaced {
			// A second websocket takes the app over; the old one hears
			// ApplicationReplaced and then nothing, and stays open.
			s.emit(appName, "ApplicationReplaced")
			a.active.replaced = true
		}
		a.active = c
		a.conns = append(a.conns, c)
		s.pending[req] = c
		return nil
	}}.ServeHTTP(w, r)
}
