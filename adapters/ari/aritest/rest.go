package aritest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// params merges the query string and a JSON body, as Asterisk accepts
// parameters in either (the ari/v6 client sends JSON bodies).
type params struct {
	v    map[string]string
	vars map[string]string
}

func readParams(r *http.Request) (params, error) {
	p := params{v: map[string]string{}, vars: map[string]string{}}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 {
			p.v[k] = vs[0]
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return p, err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return p, nil
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return p, fmt.Errorf("body: %w", err)
	}
	for k, v := range m {
		switch t := v.(type) {
		case string:
			p.v[k] = t
		case float64:
			p.v[k] = strconv.FormatFloat(t, 'f', -1, 64)
		case bool:
			p.v[k] = strconv.FormatBool(t)
		case []any:
			var parts []string
			for _, x := range t {
				parts = append(parts, fmt.Sprint(x))
			}
			p.v[k] = strings.Join(parts, ",")
		case map[string]any:
			if k == "variables" {
				for vk, vv := range t {
					p.vars[vk] = fmt.Sprint(vv)
				}
			}
		}
	}
	return p, nil
}

func (p params) get(k string) string { return p.v[k] }

type reply struct {
	status int
	body   any
}

func jsonReply(status int, body any) reply { return reply{status, body} }
func noContent() reply                     { return reply{http.StatusNoContent, nil} }
func errReply(status int, msg string) reply {
	return reply{status, obj{{"message", msg}}}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		// No answer at all: the client sees the connection end.
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close() //nolint:errcheck // cutting off on purpose
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Asterisk REST Interface"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"message":"Authentication required"}`)
		return
	}
	if r.URL.Path == "/ari/events" {
		s.serveEvents(w, r)
		return
	}
	s.mu.Lock()
	s.requests++
	stall := s.stall
	s.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-r.Context().Done():
			return
		}
	}
	p, err := readParams(r)
	var rep reply
	if err != nil {
		rep = errReply(http.StatusBadRequest, "Error parsing request")
	} else {
		s.mu.Lock()
		rep = s.route(r.Method, strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/ari"), "/"), "/"), p)
		s.mu.Unlock()
	}
	if rep.status == http.StatusNoContent {
		w.WriteHeader(rep.status)
		return
	}
	b, err := marshalNoEscape(rep.body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	w.Write(b) //nolint:errcheck
}

func (s *Server) authorized(r *http.Request) bool {
	if u, pw, ok := r.BasicAuth(); ok {
		return u == s.opts.Username && pw == s.opts.Password
	}
	if k := r.URL.Query().Get("api_key"); k != "" {
		return k == s.opts.Username+":"+s.opts.Password
	}
	return false
}

// route serves one REST request under s.mu.
func (s *Server) route(method string, seg []string, p params) reply {
	n := len(seg)
	at := func(i int) string {
		if i < n {
			return seg[i]
		}
		return ""
	}
	switch at(0) {
	case "asterisk":
		switch {
		case method == "GET" && at(1) == "info" && n == 2:
			return jsonReply(200, s.info())
		case method == "GET" && at(1) == "ping" && n == 2:
			return jsonReply(200, obj{{"ping", "pong"}, {"timestamp", ts(time.Now())}, {"asterisk_id", s.opts.AsteriskID}})
		}
	case "applications":
		if method == "GET" && n == 1 {
			out := []obj{}
			for _, name := range sortedKeys(s.apps) {
				out = append(out, s.appJSON(s.apps[name]))
			}
			return jsonReply(200, out)
		}
		if method == "GET" && n == 2 {
			a := s.apps[at(1)]
			if a == nil {
				return errReply(404, "Application not found")
			}
			return jsonReply(200, s.appJSON(a))
		}
	case "events":
		if method == "POST" && at(1) == "user" && n == 3 {
			appName := p.get("application")
			if appName == "" {
				return errReply(400, "Missing parameter application")
			}
			if s.apps[appName] == nil {
				return errReply(404, "Application not found")
			}
			s.emit(appName, "ChannelUserevent", kv{"eventname", at(2)}, kv{"userevent", obj{}})
			return noContent()
		}
	case "channels":
		return s.routeChannels(method, seg, p)
	case "bridges":
		return s.routeBridges(method, seg, p)
	case "recordings":
		return s.routeRecordings(method, seg)
	case "playbacks":
		if n == 2 {
			pb := s.playbacks[at(1)]
			if pb == nil {
				return errReply(404, "Playback not found")
			}
			switch method {
			case "GET":
				return jsonReply(200, pb.json())
			case "DELETE":
				s.finishPlayback(pb, "done")
				return noContent()
			}
		}
	}
	return errReply(404, "Resource not found")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (s *Server) info() obj {
	now := ts(time.Now())
	return obj{
		{"build", obj{{"os", "Linux"}, {"kernel", "6.1.0"}, {"machine", "x86_64"}, {"options", "OPTIONAL_API"}, {"date", "2026-11-22 10:58:43 UTC"}, {"user", "root"}}},
		{"system", obj{{"version", s.opts.Version}, {"entity_id", s.opts.AsteriskID}}},
		{"config", obj{{"name", ""}, {"default_language", "en"}, {"setid", obj{{"user", ""}, {"group", ""}}}, {"max_open_files", 8192}}},
		{"status", obj{{"startup_time", now}, {"last_reload_time", now}}},
	}
}

func (s *Server) appJSON(a *app) obj {
	chans := []string{}
	for _, ch := range s.sortedChannels() {
		if a.channels[ch.id] {
			chans = append(chans, ch.id)
		}
	}
	bridges := []string{}
	for _, id := range sortedKeys(s.bridges) {
		if s.bridges[id].app == a.name {
			bridges = append(bridges, id)
		}
	}
	return obj{{"name", a.name}, {"channel_ids", chans}, {"bridge_ids", bridges}, {"endpoint_ids", []string{}},
		{"device_names", []string{}}, {"events_allowed", []string{}}, {"events_disallowed", []string{}}}
}

func (s *Server) routeChannels(method string, seg []string, p params) reply {
	n := len(seg)
	if n == 1 {
		switch method {
		case "GET":
			out := []obj{}
			for _, ch := range s.sortedChannels() {
				out = append(out, ch.json())
			}
			return jsonReply(200, out)
		case "POST":
			return s.originate(p)
		default:
			return errReply(405, "Invalid method")
		}
	}
	id := seg[1]
	ch := s.channels[id]
	if ch == nil {
		if n >= 2 {
			return errReply(404, "Channel not found")
		}
	}
	if n == 2 {
		switch method {
		case "GET":
			return jsonReply(200, ch.json())
		case "DELETE":
			if p.get("reason") != "" {
				if _, ok := reasonCause(p.get("reason")); !ok {
					return errReply(400, "Invalid reason for hangup provided")
				}
			}
			s.hangup(ch, 16, true)
			return noContent()
		}
		return errReply(405, "Invalid method")
	}
	op := seg[2]
	// Operations other than snoop need the channel in Stasis.
	if ch.app == "" && op != "snoop" && !(op == "variable" && method == "GET") {
		return errReply(409, "Channel not in Stasis application")
	}
	switch {
	case op == "answer" && method == "POST":
		if ch.state != "Up" {
			ch.state = "Up"
			s.emit(ch.app, "ChannelStateChange", kv{"channel", ch.json()})
		}
		return noContent()
	case op == "moh" && method == "POST":
		ch.moh = p.get("mohClass")
		if ch.moh == "" {
			ch.moh = "default"
		}
		return noContent()
	case op == "moh" && method == "DELETE":
		ch.moh = ""
		return noContent()
	case (op == "ring" || op == "hold" || op == "silence" || op == "mute") && (method == "POST" || method == "DELETE"):
		return noContent()
	case op == "play" && method == "POST":
		pbID := ""
		if n == 4 {
			pbID = seg[3]
		}
		return s.play(ch, pbID, p)
	case op == "variable" && method == "POST":
		name := p.get("variable")
		if name == "" {
			return errReply(400, "Variable name is required")
		}
		ch.vars[name] = p.get("value")
		s.emitOrdered(ch.app, "ChannelVarset", []kv{{"variable", name}, {"value", p.get("value")}}, kv{"channel", ch.json()})
		return noContent()
	case op == "variable" && method == "GET":
		v, ok := ch.vars[p.get("variable")]
		if !ok {
			return errReply(404, "Provided variable was not found")
		}
		return jsonReply(200, obj{{"value", v}})
	case op == "dtmf" && method == "POST":
		if p.get("dtmf") == "" {
			return errReply(400, "DTMF is required")
		}
		return noContent()
	case op == "continue" && method == "POST":
		prio := atoiDefault(p.get("priority"), 1)
		ctx, ext := p.get("context"), p.get("extension")
		if ctx == "" {
			ctx = ch.dialplan.context
		}
		if ext == "" {
			ext = ch.dialplan.exten
		}
		ch.continued = fmt.Sprintf("%s,%s,%d", ctx, ext, prio)
		if b := s.bridges[ch.bridge]; b != nil {
			b.remove(ch.id)
			s.emit(ch.app, "ChannelLeftBridge", kv{"bridge", b.json()}, kv{"channel", ch.json()})
			ch.bridge = ""
		}
		appName := ch.app
		s.emit(appName, "StasisEnd", kv{"channel", ch.json()})
		delete(s.app(appName).channels, ch.id)
		ch.app = ""
		ch.moh = ""
		ch.dialplan = dialplan{ctx, ext, prio, "", ""}
		return noContent()
	case op == "record" && method == "POST":
		if b := s.bridges[ch.bridge]; b != nil && b.typ == "holding" {
			// asterisk/asterisk#2044: a channel in a holding bridge cannot be recorded.
			return errReply(409, "Channel is in a holding bridge and cannot be recorded")
		}
		return s.record(ch.app, "channel:"+ch.id, p)
	case op == "snoop" && method == "POST":
		snoopID := ""
		if n == 4 {
			snoopID = seg[3]
		}
		return s.snoopOn(ch, snoopID, p)
	}
	return errReply(404, "Resource not found")
}

func (s *Server) originate(p params) reply {
	ep := p.get("endpoint")
	if ep == "" {
		return errReply(400, "Endpoint must be specified")
	}
	appName := p.get("app")
	if appName == "" && p.get("extension") == "" {
		return errReply(400, "Application or extension must be specified")
	}
	s.dials[ep]++
	tech, res, ok := strings.Cut(ep, "/")
	if !ok || res == "" {
		return errReply(400, "Invalid endpoint specified")
	}
	switch tech {
	case "PJSIP", "SIP", "Local", "IAX2", "DAHDI":
	default:
		return jsonReply(500, obj{{"error", "Allocation failed"}})
	}
	id := p.get("channelId")
	if id == "" {
		id = s.nextID()
	} else {
		s.seq++
	}
	if s.channels[id] != nil {
		return errReply(409, "Channel with given unique ID already exists")
	}
	name, number := parseCallerID(p.get("callerId"))
	chName := fmt.Sprintf("%s-%08x", ep, s.seq)
	if tech == "Local" {
		chName += ";1"
	}
	ch := s.newChannel(id, chName, "Down", name, number)
	ch.originated = true
	ch.endpoint = ep
	ctx := "default"
	if tech == "Local" {
		if _, c, ok := strings.Cut(res, "@"); ok {
			ctx = c
		}
	}
	ch.dialplan = dialplan{ctx, dialString(ep), 1, "AppDial2", "(Outgoing Line)"}
	for k, v := range p.vars {
		ch.vars[k] = v
	}
	if appName == "" {
		// Dialplan originate: only Local pairs into Stasis are modelled
		// (InjectLocalPair); anything else just rings and is answered.
		ch.state = "Up"
		return jsonReply(200, ch.json())
	}
	if aa := p.get("appArgs"); aa != "" {
		ch.args = strings.Split(aa, ",")
	} else {
		ch.args = []string{}
	}
	ch.vars["__origin_app"] = appName
	resp := ch.json()
	a := s.apps[appName]
	if a == nil || a.active == nil || !a.active.live {
		// Originate returns 200 but the channel hangs up at once.
		s.after(0, func() { s.hangup(ch, 16, false) })
		return jsonReply(200, resp)
	}
	s.emit(appName, "Dial", kv{"dialstatus", ""}, kv{"forward", ""}, kv{"dialstring", dialString(ep)}, kv{"peer", ch.json()})
	b := s.behavior(ep)
	timeout := time.Duration(atoiDefault(p.get("timeout"), 30)) * time.Second
	switch {
	case b.FailCause != 0:
		s.after(0, func() {
			s.emit(appName, "Dial", kv{"dialstatus", "CHANUNAVAIL"}, kv{"forward", ""}, kv{"dialstring", dialString(ep)}, kv{"peer", ch.json()})
			s.hangup(ch, b.FailCause, false)
		})
	case b.NoAnswer || b.Manual:
		if b.NoAnswer || timeout > 0 {
			s.after(timeout, func() {
				if s.channels[ch.id] == ch && ch.state != "Up" {
					s.hangup(ch, 19, false)
				}
			})
		}
	default:
		s.after(b.AnswerAfter, func() {
			if s.channels[ch.id] == ch {
				s.answerOriginated(ch)
			}
		})
	}
	return jsonReply(200, resp)
}

func parseCallerID(s string) (name, number string) {
	if i := strings.IndexByte(s, '<'); i >= 0 {
		name = strings.Trim(strings.TrimSpace(s[:i]), `"`)
		number = strings.TrimSuffix(s[i+1:], ">")
		return name, number
	}
	return "", strings.TrimSpace(s)
}

func (s *Server) snoopOn(target *channel, snoopID string, p params) reply {
	appName := p.get("app")
	if appName == "" {
		return errReply(400, "Missing parameter app")
	}
	spy, whisper := p.get("spy"), p.get("whisper")
	for _, d := range []string{spy, whisper} {
		switch d {
		case "", "none", "both", "in", "out":
		default:
			return errReply(400, "Invalid direction specified for spy")
		}
	}
	if snoopID == "" {
		snoopID = p.get("snoopId")
	}
	if snoopID == "" {
		snoopID = s.nextID()
	} else {
		s.seq++
	}
	ch := s.newChannel(snoopID, fmt.Sprintf("Snoop/%s-%08x", target.id, s.seq), "Up", "", "")
	ch.snoop, ch.spy, ch.whisper = true, spy, whisper
	ch.vars["__snoop_target"] = target.id
	var args []string
	if aa := p.get("appArgs"); aa != "" {
		args = strings.Split(aa, ",")
	}
	ch.dialplan = dialplan{"default", "s", 1, "Stasis", strings.Join(append([]string{appName}, args...), ",")}
	s.enterStasis(ch, appName, args, true)
	return jsonReply(200, ch.json())
}

func (s *Server) play(ch *channel, pbID string, p params) reply {
	media := p.get("media")
	if media == "" {
		return errReply(500, "Failed to queue media for playback")
	}
	if pbID == "" {
		pbID = p.get("playbackId")
	}
	if pbID == "" {
		pbID = fmt.Sprintf("pb-%d", s.seq+1)
		s.seq++
	}
	pb := &playback{id: pbID, target: "channel:" + ch.id, media: strings.Split(media, ","), app: ch.app, channel: ch.id, state: "queued"}
	s.playbacks[pbID] = pb
	resp := pb.json()
	s.after(0, func() { s.advancePlayback(pb) })
	return jsonReply(201, resp)
}

func (s *Server) advancePlayback(pb *playback) {
	if s.playbacks[pb.id] != pb || pb.state == "done" {
		return
	}
	if s.channels[pb.channel] == nil {
		delete(s.playbacks, pb.id)
		return
	}
	pb.state = "playing"
	s.emit(pb.app, "PlaybackStarted", kv{"playback", pb.json()})
	s.after(s.opts.PlaybackDuration, func() {
		if s.playbacks[pb.id] != pb {
			return
		}
		if pb.pos+1 < len(pb.media) {
			pb.state = "continuing"
			s.emit(pb.app, "PlaybackContinuing", kv{"playback", pb.json()})
			pb.pos++
			s.advancePlayback(pb)
			return
		}
		s.finishPlayback(pb, "done")
	})
}

func (s *Server) finishPlayback(pb *playback, state string) {
	pb.state = state
	delete(s.playbacks, pb.id)
	s.emit(pb.app, "PlaybackFinished", kv{"playback", pb.json()})
}

func (s *Server) routeBridges(method string, seg []string, p params) reply {
	n := len(seg)
	if n == 1 && method == "GET" {
		out := []obj{}
		for _, id := range sortedKeys(s.bridges) {
			out = append(out, s.bridges[id].json())
		}
		return jsonReply(200, out)
	}
	if (n == 1 || n == 2) && method == "POST" {
		id := p.get("bridgeId")
		if n == 2 {
			id = seg[1]
			if b := s.bridges[id]; b != nil {
				return errReply(409, fmt.Sprintf("Bridge with id '%s' already exists", id))
			}
		}
		typ := p.get("type")
		if typ == "" {
			typ = "mixing"
		}
		for _, t := range strings.Split(typ, ",") {
			switch t {
			case "mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single":
			default:
				return errReply(500, "Unable to create bridge. Possible duplicate bridge id '(null)'")
			}
		}
		if strings.Contains(typ, "holding") {
			typ = "holding"
		} else {
			typ = "mixing"
		}
		if id == "" {
			s.seq++
			id = fmt.Sprintf("%08x-0000-4000-8000-%012x", s.epoch&0xffffffff, s.seq)
		}
		b := &bridge{id: id, typ: typ, name: p.get("name"), created: time.Now()}
		s.bridges[id] = b
		return jsonReply(200, b.json())
	}
	if n < 2 {
		return errReply(405, "Invalid method")
	}
	b := s.bridges[seg[1]]
	if b == nil {
		return errReply(404, "Bridge not found")
	}
	if n == 2 {
		switch method {
		case "GET":
			return jsonReply(200, b.json())
		case "DELETE":
			for _, id := range append([]string(nil), b.channels...) {
				if ch := s.channels[id]; ch != nil {
					b.remove(id)
					ch.bridge = ""
					s.emit(ch.app, "ChannelLeftBridge", kv{"bridge", b.json()}, kv{"channel", ch.json()})
				}
			}
			for _, r := range s.live {
				if r.target == "bridge:"+b.id {
					s.finishRecording(r)
				}
			}
			delete(s.bridges, b.id)
			if b.app != "" {
				s.emit(b.app, "BridgeDestroyed", kv{"bridge", b.json()})
			}
			return noContent()
		}
		return errReply(405, "Invalid method")
	}
	switch op := seg[2]; {
	case op == "addChannel" && method == "POST":
		ids := strings.Split(p.get("channel"), ",")
		var chans []*channel
		for _, id := range ids {
			ch := s.channels[id]
			if ch == nil {
				return errReply(400, "Channel not found")
			}
			if ch.app == "" {
				return errReply(422, "Channel not in Stasis application")
			}
			chans = append(chans, ch)
		}
		for _, ch := range chans {
			if old := s.bridges[ch.bridge]; old != nil {
				old.remove(ch.id)
				s.emit(ch.app, "ChannelLeftBridge", kv{"bridge", old.json()}, kv{"channel", ch.json()})
			}
			ch.bridge = b.id
			b.channels = append(b.channels, ch.id)
			b.app = ch.app
			if b.typ == "mixing" {
				ch.moh = "" // joining a mixing bridge stops channel MOH
			}
			s.emit(ch.app, "ChannelEnteredBridge", kv{"bridge", b.json()}, kv{"channel", ch.json()})
		}
		s.connect(b)
		return noContent()
	case op == "removeChannel" && method == "POST":
		ch := s.channels[p.get("channel")]
		if ch == nil {
			return errReply(400, "Channel not found")
		}
		if ch.bridge != b.id {
			return errReply(422, "Channel not in this bridge")
		}
		b.remove(ch.id)
		ch.bridge = ""
		s.emit(ch.app, "ChannelLeftBridge", kv{"bridge", b.json()}, kv{"channel", ch.json()})
		return noContent()
	case op == "moh" && method == "POST":
		b.moh = true
		return noContent()
	case op == "moh" && method == "DELETE":
		b.moh = false
		return noContent()
	case op == "record" && method == "POST":
		appName := b.app
		if appName == "" {
			appName = p.get("app")
		}
		return s.record(appName, "bridge:"+b.id, p)
	}
	return errReply(404, "Resource not found")
}

func (s *Server) record(appName, target string, p params) reply {
	name := p.get("name")
	if name == "" || strings.Contains(name, "..") {
		return errReply(500, "Error parsing request")
	}
	format := p.get("format")
	switch format {
	case "wav", "gsm", "ulaw", "alaw", "sln", "g722", "wav49", "ogg":
	default:
		return errReply(422, "specified format is unknown on this system")
	}
	if s.live[name] != nil || (s.stored[name] != nil && p.get("ifExists") != "overwrite") {
		return errReply(409, fmt.Sprintf("Recording '%s' already exists and can not be overwritten", name))
	}
	r := &recording{name: name, format: format, state: "queued", target: target, app: appName, started: time.Now()}
	s.live[name] = r
	resp := r.json()
	s.after(0, func() {
		if s.live[name] != r || r.state != "queued" {
			return
		}
		r.state = "recording"
		s.emit(appName, "RecordingStarted", kv{"recording", r.json()})
	})
	return jsonReply(201, resp)
}

func (s *Server) routeRecordings(method string, seg []string) reply {
	n := len(seg)
	switch {
	case n == 2 && seg[1] == "stored" && method == "GET":
		out := []obj{}
		for _, name := range sortedKeys(s.stored) {
			r := s.stored[name]
			out = append(out, obj{{"name", r.name}, {"format", r.format}})
		}
		return jsonReply(200, out)
	case n == 3 && seg[1] == "stored":
		r := s.stored[seg[2]]
		if r == nil {
			return errReply(404, "Recording not found")
		}
		switch method {
		case "GET":
			return jsonReply(200, obj{{"name", r.name}, {"format", r.format}})
		case "DELETE":
			delete(s.stored, r.name)
			return noContent()
		}
	case n >= 3 && seg[1] == "live":
		r := s.live[seg[2]]
		if r == nil {
			return errReply(404, "Recording not found")
		}
		if n == 3 && method == "GET" {
			return jsonReply(200, r.json())
		}
		if n == 4 {
			switch {
			case seg[3] == "stop" && method == "POST":
				s.finishRecording(r)
				return noContent()
			case seg[3] == "pause" && method == "POST":
				if !r.paused {
					r.paused, r.pausedAt, r.state = true, time.Now(), "paused"
				}
				return noContent()
			case seg[3] == "pause" && method == "DELETE":
				if r.paused {
					r.paused = false
					r.pausedFor += time.Since(r.pausedAt)
					r.state = "recording"
				}
				return noContent()
			case seg[3] == "mute" && method == "POST":
				r.muted = true
				return noContent()
			case seg[3] == "mute" && method == "DELETE":
				r.muted = false
				return noContent()
			}
		}
	}
	return errReply(404, "Resource not found")
}
