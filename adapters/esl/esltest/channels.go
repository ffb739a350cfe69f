package esltest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// channel is one FreeSWITCH channel in the fake.
type channel struct {
	uuid, name, direction string
	cidNum, cidName       string
	dest, context         string
	state, callState      string
	answered, hungup      bool
	vars                  map[string]string
	bridged               string // uuid of the other leg of a uuid_bridge
	bridgeA               bool   // this leg was the A leg (it carries BRIDGE/UNBRIDGE)
	otherLeg              string // last bridged peer; FreeSWITCH keeps it on later events
	app, appData          string
	created               time.Time
	recordings            map[string]*recording
	eavesdropOn           string
	plays                 map[string]*play
	done                  chan struct{} // closed on hangup
	answerNow             chan struct{} // manual answer for Behavior.Manual
	behavior              Behavior
	originated            bool
	talkTimer             bool // Behavior.HangupAfterBridge is running
	connected             bool // ever bridged with another channel (counted once for Bridged)
}

type recording struct {
	path    string
	started time.Time
	masked  bool
}

type play struct {
	app, arg, appUUID string
	timer             *time.Timer
}

// Behavior says how an originated dial string behaves.
type Behavior struct {
	// AnswerAfter rings this long, then answers (0 = at once).
	AnswerAfter time.Duration
	// Manual rings until the test calls Server.Answer (or the originate
	// timeout / a hangup ends it).
	Manual bool
	// NoAnswer rings until originate_timeout (or RingFor when set), then
	// fails with NO_ANSWER (cause 19) like a phone nobody picks up.
	NoAnswer bool
	// RingFor bounds the ringing of a NoAnswer leg regardless of
	// originate_timeout, so tests need not wait whole seconds.
	RingFor time.Duration
	// FailCause hangs the new leg up at once with this cause
	// (USER_BUSY, CALL_REJECTED, …) without answering.
	FailCause string
	// HangupAfter hangs the answered leg up by itself after this long.
	HangupAfter time.Duration
	// HangupAfterBridge hangs the leg up by itself this long after it is
	// first bridged (an agent who talks for that long once connected).
	// Unlike HangupAfter it cannot end a leg before the bridge, however
	// slowly the bridge comes.
	HangupAfterBridge time.Duration
}

type endpointRule struct {
	pattern string
	b       Behavior
}

// Endpoint sets how originates to a dial string behave. A pattern ending
// in '*' matches by prefix; the last matching rule wins. Dial strings with
// no rule answer at once when their technology is user/, sofia/ or
// loopback/, and fail with CHAN_NOT_IMPLEMENTED otherwise.
func (s *Server) Endpoint(pattern string, b Behavior) {
	s.mu.Lock()
	s.endpoints = append(s.endpoints, endpointRule{pattern, b})
	s.mu.Unlock()
}

func (s *Server) behaviorLocked(dial string) (Behavior, bool) {
	for i := len(s.endpoints) - 1; i >= 0; i-- {
		r := s.endpoints[i]
		if p, ok := strings.CutSuffix(r.pattern, "*"); ok {
			if strings.HasPrefix(dial, p) {
				return r.b, true
			}
		} else if r.pattern == dial {
			return r.b, true
		}
	}
	for _, tech := range []string{"user/", "sofia/", "loopback/"} {
		if strings.HasPrefix(dial, tech) {
			return Behavior{}, true
		}
	}
	return Behavior{}, false
}

// Call describes an inbound call the dialplan hands to switchboard by
// parking it (the sample dialplan in dialplans/freeswitch).
type Call struct {
	UUID         string // chosen by the fake when empty
	CallerNumber string
	CallerName   string
	Dialed       string
	Context      string            // default "public"
	Vars         map[string]string // channel variables the dialplan set
	// NoPark leaves the call ringing in the dialplan without parking it.
	NoPark bool
}

// InboundCall creates a ringing inbound channel that the dialplan parks:
// CHANNEL_CREATE, CHANNEL_EXECUTE(park), CHANNEL_PARK. It returns the uuid.
func (s *Server) InboundCall(c Call) string {
	if c.UUID == "" {
		c.UUID = NewUUID()
	}
	if c.Context == "" {
		c.Context = "public"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := &channel{
		uuid: c.UUID, name: "sofia/external/" + c.CallerNumber + "@192.0.2.10", direction: "inbound",
		cidNum: c.CallerNumber, cidName: c.CallerName, dest: c.Dialed, context: c.Context,
		state: "CS_INIT", callState: "RINGING", vars: map[string]string{}, created: time.Now(),
		recordings: map[string]*recording{}, plays: map[string]*play{}, done: make(chan struct{}),
	}
	for k, v := range c.Vars {
		ch.vars[k] = v
	}
	s.channels[ch.uuid] = ch
	s.emitLocked(ch, "CHANNEL_CREATE", "switch_core_state_machine.c", nil, nil)
	if !c.NoPark {
		ch.state = "CS_EXECUTE"
		ch.app, ch.appData = "park", ""
		s.emitLocked(ch, "CHANNEL_EXECUTE", "switch_core_session.c", appHeaders("park", "", ""), nil)
		s.emitLocked(ch, "CHANNEL_PARK", "switch_ivr.c", nil, nil)
	}
	return ch.uuid
}

// Answer answers a ringing originated leg whose behaviour is Manual.
func (s *Server) Answer(uuid string) error {
	s.mu.Lock()
	ch, ok := s.channels[uuid]
	s.mu.Unlock()
	if !ok || ch.answerNow == nil {
		return fmt.Errorf("esltest: no manual ringing leg %s", uuid)
	}
	select {
	case ch.answerNow <- struct{}{}:
		return nil
	case <-ch.done:
		return fmt.Errorf("esltest: leg %s hung up", uuid)
	}
}

// Hangup hangs a channel up from the far side with a cause name
// (NORMAL_CLEARING when empty).
func (s *Server) Hangup(uuid, cause string) error {
	if cause == "" {
		cause = "NORMAL_CLEARING"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[uuid]
	if !ok {
		return fmt.Errorf("esltest: no channel %s", uuid)
	}
	s.hangupLocked(ch, cause)
	return nil
}

// DTMF makes the far side of a channel press digits: one DTMF event each.
func (s *Server) DTMF(uuid, digits string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[uuid]
	if !ok {
		return fmt.Errorf("esltest: no channel %s", uuid)
	}
	for _, d := range digits {
		s.emitLocked(ch, "DTMF", "switch_channel.c", []Header{{"DTMF-Digit", string(d)}, {"DTMF-Duration", "2000"}, {"DTMF-Source", "RTP"}}, nil)
	}
	return nil
}

// ChannelInfo is a snapshot of one channel for assertions.
type ChannelInfo struct {
	UUID, Name, Direction string
	CallerNumber, Dialed  string
	Context               string
	State, CallState      string
	Answered              bool
	Bridged               string
	App, AppData          string
	Vars                  map[string]string
	Recordings            []string
	Masked                []string
	EavesdropOn           string
	Playing               []string
}

func (ch *channel) info() ChannelInfo {
	ci := ChannelInfo{UUID: ch.uuid, Name: ch.name, Direction: ch.direction, CallerNumber: ch.cidNum, Dialed: ch.dest,
		Context: ch.context, State: ch.state, CallState: ch.callState, Answered: ch.answered, Bridged: ch.bridged,
		App: ch.app, AppData: ch.appData, Vars: map[string]string{}, EavesdropOn: ch.eavesdropOn}
	for k, v := range ch.vars {
		ci.Vars[k] = v
	}
	for p, r := range ch.recordings {
		ci.Recordings = append(ci.Recordings, p)
		if r.masked {
			ci.Masked = append(ci.Masked, p)
		}
	}
	for _, p := range ch.plays {
		ci.Playing = append(ci.Playing, p.arg)
	}
	sort.Strings(ci.Recordings)
	sort.Strings(ci.Playing)
	return ci
}

// Channels returns all live channels, oldest first.
func (s *Server) Channels() []ChannelInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ChannelInfo, 0, len(s.channels))
	for _, ch := range s.sortedLocked() {
		out = append(out, ch.info())
	}
	return out
}

// Channel returns one live channel.
func (s *Server) Channel(uuid string) (ChannelInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[uuid]
	if !ok {
		return ChannelInfo{}, false
	}
	return ch.info(), true
}

func (s *Server) sortedLocked() []*channel {
	out := make([]*channel, 0, len(s.channels))
	for _, ch := range s.channels {
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.Before(out[j].created)
		}
		return out[i].uuid < out[j].uuid
	})
	return out
}

// causeCodes maps FreeSWITCH hangup cause names to Q.850 codes.
var causeCodes = map[string]int{
	"UNALLOCATED_NUMBER": 1, "NO_ROUTE_DESTINATION": 3, "NORMAL_CLEARING": 16, "USER_BUSY": 17,
	"NO_USER_RESPONSE": 18, "NO_ANSWER": 19, "SUBSCRIBER_ABSENT": 20, "CALL_REJECTED": 21,
	"DESTINATION_OUT_OF_ORDER": 27, "INVALID_NUMBER_FORMAT": 28, "NORMAL_UNSPECIFIED": 31,
	"NORMAL_TEMPORARY_FAILURE": 41, "CHAN_NOT_IMPLEMENTED": 66, "RECOVERY_ON_TIMER_EXPIRE": 102,
	"ORIGINATOR_CANCEL": 487, "LOSE_RACE": 502, "MANAGER_REQUEST": 503, "ALLOTTED_TIMEOUT": 602,
}

// hangupLocked ends a channel the way FreeSWITCH reports it: RECORD_STOP
// for open recordings, UNBRIDGE on the A leg, HANGUP, HANGUP_COMPLETE
// (Hangup-Cause twice), DESTROY; the bridged peer follows (or is parked
// again when it has park_after_bridge=true); eavesdroppers follow.
func (s *Server) hangupLocked(ch *channel, cause string) {
	if ch.hungup {
		return
	}
	ch.hungup = true
	close(ch.done)
	for _, p := range ch.plays {
		p.timer.Stop()
	}
	ch.plays = map[string]*play{}
	paths := make([]string, 0, len(ch.recordings))
	for p := range ch.recordings {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		s.stopRecordLocked(ch, p, "success")
	}
	var peer *channel
	if ch.bridged != "" {
		peer = s.channels[ch.bridged]
		a := ch
		if !ch.bridgeA && peer != nil {
			a = peer
		}
		if peer != nil {
			s.emitLocked(a, "CHANNEL_UNBRIDGE", "switch_ivr_bridge.c", bridgeHeaders(a.uuid, a.bridged), nil)
			peer.bridged, peer.bridgeA = "", false
		}
		ch.bridged = ""
	}
	if ch.app != "" {
		s.emitLocked(ch, "CHANNEL_EXECUTE_COMPLETE", "switch_core_session.c", appHeaders(ch.app, ch.appData, ""), nil)
	}
	ch.state, ch.callState = "CS_HANGUP", "HANGUP"
	ch.vars["hangup_cause"] = cause
	ch.vars["hangup_cause_q850"] = strconv.Itoa(causeCodes[cause])
	// The channel block carries Hangup-Cause once (ch.hungup); only
	// HANGUP_COMPLETE repeats it after Event-Sequence.
	s.emitLocked(ch, "CHANNEL_HANGUP", "switch_channel.c", nil, nil)
	ch.state = "CS_REPORTING"
	s.emitLocked(ch, "CHANNEL_HANGUP_COMPLETE", "switch_core_state_machine.c", []Header{{"Hangup-Cause", cause}}, nil)
	ch.state = "CS_DESTROY"
	s.emitLocked(ch, "CHANNEL_DESTROY", "switch_core_session.c", nil, nil)
	delete(s.channels, ch.uuid)

	if peer != nil && !peer.hungup {
		if peer.vars["park_after_bridge"] == "true" {
			peer.app, peer.appData, peer.state = "park", "", "CS_EXECUTE"
			s.emitLocked(peer, "CHANNEL_PARK", "switch_ivr.c", nil, nil)
		} else {
			s.hangupLocked(peer, cause)
		}
	}
	var spies []*channel
	for _, other := range s.channels {
		if other.eavesdropOn == ch.uuid {
			spies = append(spies, other)
		}
	}
	// In the order sortedLocked gives (creation, then uuid), without
	// sorting every channel on every hangup.
	sort.Slice(spies, func(i, j int) bool {
		if !spies[i].created.Equal(spies[j].created) {
			return spies[i].created.Before(spies[j].created)
		}
		return spies[i].uuid < spies[j].uuid
	})
	for _, other := range spies {
		other.eavesdropOn = ""
		s.emitLocked(other, "CHANNEL_EXECUTE_COMPLETE", "switch_core_session.c", appHeaders("eavesdrop", ch.uuid, ""), nil)
		other.app = ""
		s.hangupLocked(other, "NORMAL_CLEARING")
	}
}

func (s *Server) stopRecordLocked(ch *channel, path, why string) {
	r, ok := ch.recordings[path]
	if !ok {
		return
	}
	delete(ch.recordings, path)
	secs := int(time.Since(r.started).Seconds())
	ch.vars["record_seconds"] = strconv.Itoa(secs)
	ch.vars["record_ms"] = strconv.Itoa(int(time.Since(r.started).Milliseconds()))
	ch.vars["record_completion_cause"] = why
	s.emitLocked(ch, "RECORD_STOP", "switch_ivr_async.c", []Header{{"Record-File-Path", path}, {"Record-Completion-Cause", why}}, nil)
}

func appHeaders(app, data, appUUID string) []Header {
	hs := []Header{{"Application", app}, {"Application-Data", data}}
	if appUUID != "" {
		hs = append(hs, Header{"Application-UUID", appUUID})
	}
	return hs
}

func bridgeHeaders(a, b string) []Header {
	return []Header{{"Bridge-A-Unique-ID", a}, {"Bridge-B-Unique-ID", b}}
}

// stateNumbers are FreeSWITCH's channel state numbers.
var stateNumbers = map[string]string{"CS_NEW": "0", "CS_INIT": "1", "CS_ROUTING": "2", "CS_SOFT_EXECUTE": "3", "CS_EXECUTE": "4",
	"CS_EXCHANGE_MEDIA": "5", "CS_PARK": "6", "CS_CONSUME_MEDIA": "7", "CS_HIBERNATE": "8", "CS_RESET": "9",
	"CS_HANGUP": "10", "CS_REPORTING": "11", "CS_DESTROY": "12"}

// emitLocked builds one event in FreeSWITCH's header order, stamps the next
// Event-Sequence and queues it on every subscribed connection. s.mu held.
// The sequence number is taken whether or not anyone listens (FreeSWITCH's
// counter is global), but an event nobody subscribed to is not rendered.
func (s *Server) emitLocked(ch *channel, name, file string, extra []Header, inner []byte) {
	s.seq++
	uuid := ""
	if ch != nil {
		uuid = ch.uuid
	}
	if !s.wantedLocked(name, uuid) {
		return
	}
	now := time.Now()
	hs := []Header{
		{"Event-Name", name},
		{"Core-UUID", s.coreUUID},
		{"FreeSWITCH-Hostname", s.opts.Hostname},
		{"FreeSWITCH-Switchname", s.opts.Hostname},
		{"FreeSWITCH-IPv4", "192.0.2.2"},
		{"FreeSWITCH-IPv6", "fd00::2"},
		{"Event-Date-Local", now.Format("2006-01-02 15:04:05")},
		{"Event-Date-GMT", now.UTC().Format(time.RFC1123)},
		{"Event-Date-Timestamp", strconv.FormatInt(now.UnixMicro(), 10)},
		{"Event-Calling-File", file},
		{"Event-Calling-Function", "esltest"},
		{"Event-Calling-Line-Number", "1"},
		{"Event-Sequence", strconv.FormatUint(s.seq, 10)},
	}
	var tail []Header
	if name == "CHANNEL_HANGUP_COMPLETE" || name == "CHANNEL_BRIDGE" || name == "CHANNEL_UNBRIDGE" {
		// Real FreeSWITCH puts Hangup-Cause right after Event-Sequence and
		// again in the channel block.
		hs = append(hs, extra...)
	} else {
		tail = extra
	}
	if ch != nil {
		hs = append(hs, ch.headers(name)...)
	}
	hs = append(hs, tail...)
	s.deliverLocked(name, uuid, hs, inner)
}

// wantedLocked reports whether any connection takes this event (the same
// test as deliverLocked's, without rendering anything).
func (s *Server) wantedLocked(name, uuid string) bool {
	for c := range s.conns {
		mine := c.outboundUUID != "" && c.outboundUUID == uuid
		if c.authed && (c.all || c.events[name] || (c.myevents && mine)) {
			return true
		}
	}
	return false
}

func (ch *channel) headers(event string) []Header {
	answer := "ringing"
	switch {
	case ch.hungup:
		answer = "hangup"
	case ch.answered:
		answer = "answered"
	case ch.callState == "DOWN":
		answer = "early"
	}
	stateNum := stateNumbers[ch.state]
	hs := make([]Header, 0, 32+len(ch.vars))
	hs = append(hs, []Header{
		{"Channel-State", ch.state},
		{"Channel-Call-State", ch.callState},
		{"Channel-State-Number", stateNum},
		{"Channel-Name", ch.name},
		{"Unique-ID", ch.uuid},
		{"Call-Direction", ch.direction},
		{"Presence-Call-Direction", ch.direction},
		{"Channel-HIT-Dialplan", "true"},
		{"Channel-Call-UUID", ch.uuid},
		{"Answer-State", answer},
	}...)
	if ch.hungup {
		hs = append(hs, Header{"Hangup-Cause", ch.vars["hangup_cause"]})
	}
	hs = append(hs,
		Header{"Caller-Direction", ch.direction},
		Header{"Caller-Logical-Direction", ch.direction},
		Header{"Caller-Dialplan", "xml"},
		Header{"Caller-Caller-ID-Name", ch.cidName},
		Header{"Caller-Caller-ID-Number", ch.cidNum},
		Header{"Caller-Orig-Caller-ID-Number", ch.cidNum},
		Header{"Caller-ANI", ch.cidNum},
		Header{"Caller-Destination-Number", ch.dest},
		Header{"Caller-Unique-ID", ch.uuid},
		Header{"Caller-Source", "mod_sofia"},
		Header{"Caller-Context", ch.context},
		Header{"Caller-Channel-Name", ch.name},
		Header{"Caller-Profile-Index", "1"},
		Header{"Caller-Channel-Created-Time", strconv.FormatInt(ch.created.UnixMicro(), 10)},
	)
	hs = append(hs, Header{"variable_direction", ch.direction}, Header{"variable_uuid", ch.uuid}, Header{"variable_channel_name", ch.name})
	if ch.otherLeg != "" {
		hs = append(hs, Header{"Other-Leg-Unique-ID", ch.otherLeg})
	}
	keys := make([]string, 0, len(ch.vars))
	for k := range ch.vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		hs = append(hs, Header{"variable_" + k, ch.vars[k]})
	}
	return hs
}

func (s *Server) deliverLocked(name, uuid string, hs []Header, inner []byte) {
	var plain, js []byte
	for c := range s.conns {
		mine := c.outboundUUID != "" && c.outboundUUID == uuid
		if !c.authed || !(c.all || c.events[name] || (c.myevents && mine)) {
			continue
		}
		if c.myevents && c.outboundUUID != "" && !c.events[name] && (!mine || name == "CHANNEL_DESTROY") {
			continue // the captures show no CHANNEL_DESTROY after the linger notice
		}
		switch c.format {
		case "json", "xml":
			if js == nil {
				m := map[string]string{}
				for _, h := range hs {
					if _, dup := m[h.Name]; !dup {
						m[h.Name] = h.Value
					}
				}
				if inner != nil {
					m["_body"] = string(inner)
				}
				b, _ := json.Marshal(m)
				js = render([]Header{{"Content-Length", strconv.Itoa(len(b))}, {"Content-Type", "text/event-" + c.format}}, b)
			}
			c.enqueue(js)
		default:
			if plain == nil {
				body := eventBody(hs, inner)
				plain = render([]Header{{"Content-Length", strconv.Itoa(len(body))}, {"Content-Type", "text/event-plain"}}, body)
			}
			c.enqueue(plain)
		}
		if mine {
			c.outboundLifecycleLocked(name)
		}
	}
}
