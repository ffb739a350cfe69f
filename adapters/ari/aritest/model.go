package aritest

import (
	"strconv"
	"strings"
	"time"
)

type dialplan struct {
	context, exten string
	priority       int
	appName        string
	appData        string
}

type channel struct {
	n          int // creation order
	id, name   string
	state      string
	callerName string
	callerNum  string
	dialplan   dialplan
	created    time.Time

	app         string // Stasis app; "" when not in Stasis
	args        []string
	viaDialplan bool // entered through dialplan Stasis(): no ChannelDestroyed
	originated  bool
	endpoint    string
	vars        map[string]string
	bridge      string
	moh         string
	peer        string // other half of a Local pair
	continued   string
	snoop       bool
	spy         string
	whisper     string
	dead        bool
	talked      bool     // has shared a mixing bridge with another channel
	report      []string // Options.ChannelVars: variables shown in the JSON
}

func (s *Server) newChannel(id, name, state, callerName, callerNum string) *channel {
	ch := &channel{
		n: s.seq, id: id, name: name, state: state,
		callerName: callerName, callerNum: callerNum,
		created: time.Now(), vars: map[string]string{}, report: s.opts.ChannelVars,
	}
	s.channels[id] = ch
	return ch
}

// json renders the Channel model with the key order of a real Asterisk.
func (ch *channel) json() obj {
	o := obj{
		{"id", ch.id},
		{"name", ch.name},
		{"state", ch.state},
		{"protocol_id", ""},
		{"caller", obj{{"name", ch.callerName}, {"number", ch.callerNum}}},
		{"connected", obj{{"name", ch.callerName}, {"number", ch.callerNum}}},
		{"accountcode", ""},
		{"dialplan", obj{
			{"context", ch.dialplan.context},
			{"exten", ch.dialplan.exten},
			{"priority", ch.dialplan.priority},
			{"app_name", ch.dialplan.appName},
			{"app_data", ch.dialplan.appData},
		}},
		{"creationtime", ts(ch.created)},
		{"language", "en"},
	}
	if len(ch.report) > 0 {
		vars := make(obj, 0, len(ch.report))
		for _, name := range ch.report {
			vars = append(vars, kv{name, ch.vars[name]})
		}
		o = append(o, kv{"channelvars", vars})
	}
	return o
}

func (ch *channel) info() ChannelInfo {
	vars := make(map[string]string, len(ch.vars))
	for k, v := range ch.vars {
		vars[k] = v
	}
	return ChannelInfo{
		ID: ch.id, Name: ch.name, State: ch.state, Endpoint: ch.endpoint,
		App: ch.app, Args: append([]string(nil), ch.args...), Bridge: ch.bridge,
		MOH: ch.moh, Vars: vars, CallerNumber: ch.callerNum, Continued: ch.continued,
		Snoop: ch.snoop, Spy: ch.spy, Whisper: ch.whisper,
	}
}

func (s *Server) enterStasis(ch *channel, appName string, args []string, viaDialplan bool) {
	if args == nil {
		args = []string{}
	}
	ch.app = appName
	ch.args = args
	ch.viaDialplan = viaDialplan
	s.app(appName).channels[ch.id] = true
	s.emit(appName, "StasisStart", kv{"args", args}, kv{"channel", ch.json()})
}

// hangup ends a channel. local is true for an ARI DELETE (cause 32 soft).
func (s *Server) hangup(ch *channel, cause int, local bool) {
	if ch.dead {
		return
	}
	ch.dead = true
	appName := ch.app
	if appName != "" {
		if local {
			s.emitOrdered(appName, "ChannelHangupRequest", []kv{{"cause", 32}, {"soft", true}}, kv{"channel", ch.json()})
		} else {
			s.emitOrdered(appName, "ChannelHangupRequest", []kv{{"cause", cause}}, kv{"channel", ch.json()})
		}
	}
	if ch.bridge != "" {
		if b := s.bridges[ch.bridge]; b != nil {
			b.remove(ch.id)
			if appName != "" {
				s.emitOrdered(appName, "ChannelVarset", []kv{{"variable", "BRIDGEPEER"}, {"value", ""}}, kv{"channel", ch.json()})
				s.emit(appName, "ChannelLeftBridge", kv{"bridge", b.json()}, kv{"channel", ch.json()})
			}
		}
		ch.bridge = ""
	}
	if appName != "" {
		s.emit(appName, "StasisEnd", kv{"channel", ch.json()})
		delete(s.app(appName).channels, ch.id)
	}
	if ch.originated {
		// Only ARI-originated channels get ChannelDestroyed; the app is
		// subscribed to them even before they enter Stasis.
		to := ch.app
		if to == "" {
			to = ch.vars["__origin_app"]
		}
		if to != "" {
			c := cause
			if local {
				c = 16
			}
			s.emit(to, "ChannelDestroyed", kv{"cause", c}, kv{"cause_txt", causeText(c)}, kv{"channel", ch.json()})
		}
	}
	delete(s.channels, ch.id)
	// The other half of a Local pair goes too, with normal clearing.
	if ch.peer != "" {
		if p := s.channels[ch.peer]; p != nil {
			s.hangup(p, 16, false)
		}
	}
	// A snoop dies with its target.
	for _, o := range s.sortedChannels() {
		if o.snoop && o.vars["__snoop_target"] == ch.id {
			s.hangup(o, 16, false)
		}
	}
}

func causeText(c int) string {
	switch c {
	case 16:
		return "Normal Clearing"
	case 17:
		return "User busy"
	case 19:
		return "User alerting, no answer"
	case 21:
		return "Call Rejected"
	case 1:
		return "Unallocated (unassigned) number"
	case 34:
		return "No route/channel available"
	default:
		return "Unknown"
	}
}

// reasonCause maps ARI's DELETE ?reason= to a cause.
func reasonCause(reason string) (int, bool) {
	switch reason {
	case "", "normal":
		return 16, true
	case "busy":
		return 17, true
	case "congestion":
		return 34, true
	case "no_answer":
		return 19, true
	case "timeout":
		return 18, true
	case "rejected":
		return 21, true
	case "unallocated":
		return 1, true
	case "normal_unspecified":
		return 31, true
	case "number_incomplete":
		return 28, true
	case "codec_mismatch":
		return 58, true
	case "interworking":
		return 127, true
	case "failure":
		return 38, true
	case "answered_elsewhere":
		return 26, true
	}
	return 0, false
}

func (s *Server) answerOriginated(ch *channel) {
	if ch.dead || ch.state == "Up" {
		return
	}
	ch.state = "Up"
	appName := ch.vars["__origin_app"]
	s.emit(appName, "ChannelStateChange", kv{"channel", ch.json()})
	s.emit(appName, "Dial", kv{"dialstatus", "ANSWER"}, kv{"forward", ""}, kv{"dialstring", dialString(ch.endpoint)}, kv{"peer", ch.json()})
	ch.dialplan = dialplan{"default", "s", 1, "Stasis", strings.Join(append([]string{appName}, ch.args...), ",")}
	s.enterStasis(ch, appName, ch.args, false)
	if d := s.behavior(ch.endpoint).HangupAfter; d > 0 {
		s.after(d, func() {
			if s.channels[ch.id] == ch {
				s.hangup(ch, 16, false)
			}
		})
	}
}

// connect runs when channels join a bridge: once a mixing bridge holds
// two channels or more, each of them that had never shared one is
// connected — counted for Bridged if originated, and hung up by its
// Behavior.HangupAfterBridge from now.
func (s *Server) connect(b *bridge) {
	if b.typ != "mixing" || len(b.channels) < 2 {
		return
	}
	for _, id := range b.channels {
		ch := s.channels[id]
		if ch == nil || ch.talked {
			continue
		}
		ch.talked = true
		if !ch.originated {
			continue
		}
		s.talks[ch.endpoint]++
		if d := s.behavior(ch.endpoint).HangupAfterBridge; d > 0 {
			s.after(d, func() {
				if s.channels[ch.id] == ch {
					s.hangup(ch, 16, false)
				}
			})
		}
	}
}

func dialString(endpoint string) string {
	if i := strings.IndexByte(endpoint, '/'); i >= 0 {
		return endpoint[i+1:]
	}
	return endpoint
}

type bridge struct {
	id, typ, name string
	channels      []string
	created       time.Time
	moh           bool
	app           string
}

func (b *bridge) json() obj {
	tech := "simple_bridge"
	if b.typ == "holding" {
		tech = "holding_bridge"
	}
	chans := b.channels
	if chans == nil {
		chans = []string{}
	}
	return obj{
		{"id", b.id}, {"technology", tech}, {"bridge_type", b.typ},
		{"bridge_class", "stasis"}, {"creator", "Stasis"}, {"name", b.name},
		{"channels", chans}, {"creationtime", ts(b.created)}, {"video_mode", "talker"},
	}
}

func (b *bridge) remove(id string) {
	for i, c := range b.channels {
		if c == id {
			b.channels = append(b.channels[:i], b.channels[i+1:]...)
			return
		}
	}
}

type recording struct {
	name, format, state, target string
	app                         string
	started                     time.Time
	pausedAt                    time.Time
	pausedFor                   time.Duration
	paused, muted               bool
}

func (r *recording) json() obj {
	return obj{{"name", r.name}, {"format", r.format}, {"state", r.state}, {"target_uri", r.target}}
}

func (s *Server) finishRecording(r *recording) {
	if r.paused {
		r.pausedFor += time.Since(r.pausedAt)
	}
	d := time.Since(r.started) - r.pausedFor
	r.state = "done"
	delete(s.live, r.name)
	s.stored[r.name] = r
	o := r.json()
	o = append(o, kv{"duration", int(d / time.Second)})
	s.emit(r.app, "RecordingFinished", kv{"recording", o})
}

type playback struct {
	id, target string
	media      []string
	app        string
	channel    string
	state      string
	pos        int
}

func (p *playback) json() obj {
	o := obj{{"id", p.id}, {"media_uri", p.media[p.pos]}}
	if p.pos+1 < len(p.media) {
		o = append(o, kv{"next_media_uri", p.media[p.pos+1]})
	}
	return append(o, kv{"target_uri", p.target}, kv{"language", "en"}, kv{"state", p.state})
}

func atoiDefault(s string, d int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return d
}
