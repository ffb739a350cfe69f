package esltest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const statusText = "UP 0 years, 0 days, 0 hours, 10 minutes, 37 seconds, 340 milliseconds, 32 microseconds\n" +
	"FreeSWITCH (Version 1.10.12-release  64bit) is ready\n" +
	"83 session(s) since startup\n" +
	"%d session(s) - peak 8, last 5min 8 \n" +
	"4 session(s) per Sec out of max 30, peak 4, last 5min 4 \n" +
	"1000 session(s) max\n" +
	"min idle cpu 0.00/94.47\n" +
	"Current Stack Size/Max 240K/8192K\n"

// api runs one api command and returns the api/response body. Originate
// blocks until the leg answers or fails, as in FreeSWITCH.
func (s *Server) api(line string) string {
	name, args, _ := strings.Cut(line, " ")
	args = strings.TrimSpace(args)
	f := strings.Fields(args)
	switch name {
	case "status":
		s.mu.Lock()
		n := len(s.channels)
		s.mu.Unlock()
		return fmt.Sprintf(statusText, n)
	case "version":
		return "FreeSWITCH Version 1.10.12-release~64bit (-release 64bit)\n"
	case "originate":
		return s.originate(args)
	case "show":
		return s.show(args)
	case "global_setvar":
		k, v, _ := strings.Cut(args, "=")
		s.mu.Lock()
		s.globals[strings.TrimSpace(k)] = v
		s.mu.Unlock()
		return "+OK\n"
	case "global_getvar":
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.globals[args]
	case "uuid_exists":
		if len(f) < 1 {
			return "-USAGE: <uuid>\n"
		}
		s.mu.Lock()
		_, ok := s.channels[f[0]]
		s.mu.Unlock()
		return strconv.FormatBool(ok)
	}

	// Everything else names a channel first.
	noChan := map[string]string{
		"uuid_kill": "-ERR No such channel!\n", "uuid_getvar": "-ERR No such channel!\n",
		"uuid_setvar": "-ERR No such channel!\n", "uuid_setvar_multi": "-ERR No such channel!\n",
		"uuid_break": "-ERR No such channel!\n", "uuid_transfer": "-ERR No such channel!\n",
		"uuid_bridge": "-ERR Invalid uuid\n", "uuid_record": "-ERR Cannot locate session!\n",
		"uuid_send_dtmf": "-ERR Cannot locate session!\n", "uuid_broadcast": "-ERR invalid uuid\n",
		"uuid_answer": "-ERROR\n",
	}
	missing, known := noChan[name]
	if !known {
		return fmt.Sprintf("-ERR %s Command not found!\n", name)
	}
	if len(f) == 0 {
		return missing
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[f[0]]
	if !ok {
		return missing
	}
	switch name {
	case "uuid_kill":
		cause := "NORMAL_CLEARING"
		if len(f) > 1 {
			cause = f[1]
		}
		s.hangupLocked(ch, cause)
		return "+OK\n"
	case "uuid_answer":
		s.answerLocked(ch)
		return "+OK\n"
	case "uuid_getvar":
		if len(f) < 2 {
			return "-USAGE: <uuid> <var>\n"
		}
		if v, ok := ch.vars[f[1]]; ok {
			return v
		}
		switch f[1] {
		case "caller_id_number":
			return ch.cidNum
		case "destination_number":
			return ch.dest
		}
		return "_undef_"
	case "uuid_setvar":
		if len(f) < 2 {
			return "-USAGE: <uuid> <var> [value]\n"
		}
		_, value, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(args, f[0])), " ")
		value = strings.TrimSpace(value)
		if value == "" {
			delete(ch.vars, f[1])
		} else {
			ch.vars[f[1]] = value
		}
		return "+OK\n"
	case "uuid_setvar_multi":
		if len(f) < 2 {
			return "-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"
		}
		for _, kv := range strings.Split(f[1], ";") {
			k, v, _ := strings.Cut(kv, "=")
			ch.vars[k] = v
		}
		return "+OK\n"
	case "uuid_bridge":
		if len(f) < 2 {
			return "-USAGE: <uuid> <other_uuid>\n"
		}
		other, ok := s.channels[f[1]]
		if !ok || other == ch {
			return "-ERR Invalid uuid\n"
		}
		for _, c := range []*channel{ch, other} {
			if c.app != "" {
				s.emitLocked(c, "CHANNEL_EXECUTE_COMPLETE", "switch_core_session.c", appHeaders(c.app, c.appData, ""), nil)
			}
			if !c.answered {
				s.answerLocked(c)
			}
		}
		ch.otherLeg, other.otherLeg = other.uuid, ch.uuid
		ch.bridged, ch.bridgeA, ch.state, ch.app, ch.appData = other.uuid, true, "CS_SOFT_EXECUTE", "uuid_bridge", other.uuid
		other.bridged, other.bridgeA, other.state, other.app, other.appData = ch.uuid, false, "CS_EXCHANGE_MEDIA", "", ""
		s.emitLocked(ch, "CHANNEL_BRIDGE", "switch_ivr_bridge.c", bridgeHeaders(ch.uuid, other.uuid), nil)
		for _, c := range []*channel{ch, other} {
			if !c.connected {
				c.connected = true
				if c.originated {
					s.talks[c.name]++
				}
			}
			if d := c.behavior.HangupAfterBridge; d > 0 && !c.talkTimer {
				c.talkTimer = true
				uuid := c.uuid
				time.AfterFunc(d, func() { _ = s.Hangup(uuid, "NORMAL_CLEARING") })
			}
		}
		return "+OK " + other.uuid + "\n"
	case "uuid_record":
		if len(f) < 3 {
			return "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>]\n"
		}
		path := f[2]
		switch f[1] {
		case "start":
			ch.recordings[path] = &recording{path: path, started: time.Now()}
			s.emitLocked(ch, "RECORD_START", "switch_ivr_async.c", []Header{{"Record-File-Path", path}}, nil)
			return "+OK Success\n"
		case "stop":
			if path == "all" {
				if len(ch.recordings) == 0 {
					return "-ERR Cannot stop record session!\n"
				}
				for p := range ch.recordings {
					s.stopRecordLocked(ch, p, "success")
				}
				return "+OK Success\n"
			}
			if _, ok := ch.recordings[path]; !ok {
				return "-ERR Cannot stop record session!\n"
			}
			s.stopRecordLocked(ch, path, "success")
			return "+OK Success\n"
		case "mask", "unmask":
			r, ok := ch.recordings[path]
			if !ok {
				return "-ERR Cannot " + f[1] + " record session!\n"
			}
			r.masked = f[1] == "mask"
			return "+OK Success\n"
		}
		return "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>]\n"
	case "uuid_broadcast":
		if len(f) < 2 {
			return "-USAGE: <uuid> <path> [aleg|bleg|both]\n"
		}
		arg := f[1]
		app := "playback"
		if a, rest, ok := strings.Cut(arg, "::"); ok {
			app, arg = a, strings.ReplaceAll(rest, `\s`, " ")
		}
		s.playLocked(ch, app, arg, "")
		return "+OK Message sent\n"
	case "uuid_break":
		s.breakLocked(ch)
		return "+OK\n"
	case "uuid_send_dtmf":
		if len(f) < 2 {
			return "-USAGE: <uuid> <dtmf_data>\n"
		}
		return fmt.Sprintf("+OK %s sent DTMF %s.\n", ch.uuid, f[1])
	case "uuid_transfer":
		if len(f) < 2 {
			return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
		}
		if ch.app != "" {
			s.emitLocked(ch, "CHANNEL_EXECUTE_COMPLETE", "switch_core_session.c", appHeaders(ch.app, ch.appData, ""), nil)
		}
		ch.dest, ch.app, ch.appData, ch.state = f[1], "", "", "CS_ROUTING"
		if len(f) > 3 {
			ch.context = f[3]
		}
		ch.vars["transferred_to"] = f[1]
		return "+OK\n"
	}
	return missing
}

func (s *Server) answerLocked(ch *channel) {
	if ch.answered || ch.hungup {
		return
	}
	ch.answered, ch.callState = true, "ACTIVE"
	s.emitLocked(ch, "CHANNEL_ANSWER", "mod_sofia.c", nil, nil)
}

// playLocked starts a prompt: CHANNEL_EXECUTE, PLAYBACK_START and, for a
// finite prompt, PLAYBACK_STOP and CHANNEL_EXECUTE_COMPLETE after
// PlaybackTime. local_stream:// (music on hold) plays until broken.
func (s *Server) playLocked(ch *channel, app, arg, appUUID string) {
	s.emitLocked(ch, "CHANNEL_EXECUTE", "switch_core_session.c", appHeaders(app, arg, appUUID), nil)
	id := NewUUID()
	p := &play{app: app, arg: arg, appUUID: appUUID}
	if app == "playback" {
		s.emitLocked(ch, "PLAYBACK_START", "switch_ivr_play_say.c", []Header{{"Playback-File-Path", arg}}, nil)
	}
	ch.plays[id] = p
	d := s.opts.PlaybackTime
	if strings.HasPrefix(arg, "local_stream://") {
		d = 24 * time.Hour
	}
	p.timer = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := ch.plays[id]; !ok || ch.hungup {
			return
		}
		delete(ch.plays, id)
		s.finishPlayLocked(ch, p, "FILE PLAYED")
	})
}

func (s *Server) finishPlayLocked(ch *channel, p *play, response string) {
	if p.app == "playback" {
		s.emitLocked(ch, "PLAYBACK_STOP", "switch_ivr_play_say.c", []Header{{"Playback-File-Path", p.arg}}, nil)
	} else {
		response = "_none_"
	}
	s.emitLocked(ch, "CHANNEL_EXECUTE_COMPLETE", "switch_core_session.c",
		append(appHeaders(p.app, p.arg, p.appUUID), Header{"Application-Response", response}), nil)
}

func (s *Server) breakLocked(ch *channel) {
	for id, p := range ch.plays {
		p.timer.Stop()
		delete(ch.plays, id)
		s.finishPlayLocked(ch, p, "FILE PLAYED")
	}
}

// sendmsg handles `sendmsg <uuid>` with call-command execute or hangup.
func (s *Server) sendmsg(uuid string, cmd command) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[strings.TrimSpace(uuid)]
	if !ok {
		return "-ERR invalid session id [" + uuid + "]"
	}
	switch cmd.header("call-command") {
	case "execute":
		app, arg := cmd.header("execute-app-name"), cmd.header("execute-app-arg")
		if arg == "" && len(cmd.body) > 0 {
			arg = string(cmd.body)
		}
		switch app {
		case "answer":
			s.answerLocked(ch)
		case "playback", "say", "speak":
			s.playLocked(ch, app, arg, cmd.header("Event-UUID"))
		case "set":
			k, v, _ := strings.Cut(arg, "=")
			ch.vars[k] = v
		case "park":
			ch.app, ch.appData = "park", ""
			s.emitLocked(ch, "CHANNEL_PARK", "switch_ivr.c", nil, nil)
		}
		return "+OK"
	case "hangup":
		cause := cmd.header("hangup-cause")
		if cause == "" {
			cause = "NORMAL_CLEARING"
		}
		s.hangupLocked(ch, cause)
		return "+OK"
	}
	return "-ERR invalid command"
}

// backgroundJob runs a bgapi command and emits BACKGROUND_JOB with its result.
func (s *Server) backgroundJob(job, line string) {
	body := s.api(line)
	name, arg, _ := strings.Cut(line, " ")
	hs := []Header{{"Job-UUID", job}, {"Job-Command", name}}
	if arg != "" {
		hs = append(hs, Header{"Job-Command-Arg", arg})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.emitLocked(nil, "BACKGROUND_JOB", "mod_event_socket.c", hs, []byte(body))
}

// parseOriginate splits `{a=b,c=d}endpoint &app(args)` into variables,
// dial string, application and its argument.
func parseOriginate(args string) (vars map[string]string, dial, app, appArg string, err error) {
	vars = map[string]string{}
	args = strings.TrimSpace(args)
	for len(args) > 0 && (args[0] == '{' || args[0] == '[' || args[0] == '<') {
		closer := map[byte]byte{'{': '}', '[': ']', '<': '>'}[args[0]]
		end := -1
		quoted := false
		for i := 1; i < len(args); i++ {
			switch {
			case args[i] == '\'':
				quoted = !quoted
			case args[i] == '\\':
				i++
			case args[i] == closer && !quoted:
				end = i
			}
			if end >= 0 {
				break
			}
		}
		if end < 0 {
			return nil, "", "", "", fmt.Errorf("unterminated variable block")
		}
		for _, kv := range splitVars(args[1:end]) {
			k, v, _ := strings.Cut(kv, "=")
			vars[strings.TrimSpace(k)] = strings.Trim(v, "'")
		}
		args = args[end+1:]
	}
	dial, rest, _ := strings.Cut(args, " ")
	rest = strings.TrimSpace(rest)
	if dial == "" || rest == "" {
		return nil, "", "", "", fmt.Errorf("usage")
	}
	if !strings.HasPrefix(rest, "&") {
		return vars, dial, "transfer", strings.Fields(rest)[0], nil
	}
	app, appArg, _ = strings.Cut(rest[1:], "(")
	appArg = strings.TrimSuffix(strings.TrimSpace(appArg), ")")
	return vars, dial, app, appArg, nil
}

// splitVars splits a variable block on commas that are neither escaped
// (\,) nor inside single quotes, and unescapes \, .
func splitVars(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '\'':
			quoted = !quoted
			cur.WriteByte(c)
		case c == ',' && !quoted:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

const originateUsage = "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n"

// originate creates the leg, rings it per its Behavior and returns
// "+OK <uuid>\n" once it answered, "-ERR <CAUSE>\n" otherwise.
func (s *Server) originate(args string) string {
	vars, dial, app, appArg, err := parseOriginate(args)
	if err != nil {
		return originateUsage
	}
	s.mu.Lock()
	b, ok := s.behaviorLocked(dial)
	if !ok {
		s.mu.Unlock()
		return "-ERR CHAN_NOT_IMPLEMENTED\n"
	}
	uuid := vars["origination_uuid"]
	if uuid == "" {
		uuid = NewUUID()
	}
	if _, dup := s.channels[uuid]; dup {
		s.mu.Unlock()
		return "-ERR DESTINATION_OUT_OF_ORDER\n"
	}
	dest := dial
	if i := strings.LastIndex(dial, "/"); i >= 0 {
		dest = dial[i+1:]
	}
	dest, _, _ = strings.Cut(dest, "@")
	ch := &channel{
		uuid: uuid, name: dial, direction: "outbound", cidNum: vars["origination_caller_id_number"],
		cidName: vars["origination_caller_id_name"], dest: dest, context: "default", state: "CS_INIT",
		callState: "DOWN", vars: map[string]string{}, created: time.Now(), recordings: map[string]*recording{},
		plays: map[string]*play{}, done: make(chan struct{}), behavior: b, originated: true,
	}
	for k, v := range vars {
		ch.vars[k] = v
	}
	if b.Manual {
		ch.answerNow = make(chan struct{})
	}
	s.channels[uuid] = ch
	s.emitLocked(ch, "CHANNEL_CREATE", "switch_core_state_machine.c", nil, nil)
	if b.FailCause != "" {
		s.hangupLocked(ch, b.FailCause)
		s.mu.Unlock()
		return "-ERR " + b.FailCause + "\n"
	}
	ch.callState = "RINGING"
	s.emitLocked(ch, "CHANNEL_PROGRESS", "mod_sofia.c", nil, nil)
	s.mu.Unlock()

	limit := 60 * time.Second
	if t, err := strconv.Atoi(vars["originate_timeout"]); err == nil && t > 0 {
		limit = time.Duration(t) * time.Second
	}
	if b.NoAnswer && b.RingFor > 0 {
		limit = b.RingFor
	}
	var answer <-chan time.Time
	if !b.NoAnswer && !b.Manual {
		answer = time.After(b.AnswerAfter)
	}
	select {
	case <-answer:
	case <-ch.answerNow:
	case <-time.After(limit):
		s.mu.Lock()
		s.hangupLocked(ch, "NO_ANSWER")
		s.mu.Unlock()
		return "-ERR NO_ANSWER\n"
	case <-ch.done:
		s.mu.Lock()
		cause := ch.vars["hangup_cause"]
		s.mu.Unlock()
		if cause == "" || cause == "NORMAL_CLEARING" {
			cause = "ORIGINATOR_CANCEL"
		}
		return "-ERR " + cause + "\n"
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if ch.hungup {
		return "-ERR ORIGINATOR_CANCEL\n"
	}
	s.answerLocked(ch)
	ch.state = "CS_EXECUTE"
	switch app {
	case "park":
		ch.app = "park"
		s.emitLocked(ch, "CHANNEL_EXECUTE", "switch_core_session.c", appHeaders("park", "", ""), nil)
		s.emitLocked(ch, "CHANNEL_PARK", "switch_ivr.c", nil, nil)
	case "eavesdrop":
		ch.app, ch.appData = "eavesdrop", appArg
		s.emitLocked(ch, "CHANNEL_EXECUTE", "switch_core_session.c", appHeaders("eavesdrop", appArg, ""), nil)
		if target, ok := s.channels[appArg]; ok && !target.hungup {
			ch.eavesdropOn = appArg
		} else {
			// FreeSWITCH: eavesdrop on a missing uuid completes at once and
			// the supervisor leg hangs up NORMAL_CLEARING.
			go func() { _ = s.Hangup(uuid, "NORMAL_CLEARING") }()
		}
	default:
		ch.app, ch.appData = app, appArg
		s.emitLocked(ch, "CHANNEL_EXECUTE", "switch_core_session.c", appHeaders(app, appArg, ""), nil)
	}
	if b.HangupAfter > 0 {
		time.AfterFunc(b.HangupAfter, func() { _ = s.Hangup(uuid, "NORMAL_CLEARING") })
	}
	return "+OK " + uuid + "\n"
}

// show answers `show channels as json` (and `show channels count`) in
// FreeSWITCH's exact shape: compact JSON with no trailing newline, and
// `{"row_count": 0}\n` when there are none.
func (s *Server) show(args string) string {
	switch strings.TrimSpace(args) {
	case "channels as json", "calls as json":
	case "channels count", "calls count":
		s.mu.Lock()
		n := len(s.channels)
		s.mu.Unlock()
		return fmt.Sprintf("\n%d total.\n", n)
	default:
		return "-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count|like <match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.channels) == 0 {
		return "{\"row_count\": 0}\n"
	}
	var b strings.Builder
	chs := s.sortedLocked()
	fmt.Fprintf(&b, `{"row_count":%d,"rows":[`, len(chs))
	for i, ch := range chs {
		if i > 0 {
			b.WriteByte(',')
		}
		fields := [][2]string{
			{"uuid", ch.uuid}, {"direction", ch.direction}, {"created", ch.created.Format("2006-01-02 15:04:05")},
			{"created_epoch", strconv.FormatInt(ch.created.Unix(), 10)}, {"name", ch.name}, {"state", ch.state},
			{"cid_name", ch.cidName}, {"cid_num", ch.cidNum}, {"ip_addr", ""}, {"dest", ch.dest},
			{"application", ch.app}, {"application_data", ch.appData}, {"dialplan", "xml"}, {"context", ch.context},
			{"read_codec", "PCMU"}, {"read_rate", "8000"}, {"read_bit_rate", "64000"}, {"write_codec", "PCMU"},
			{"write_rate", "8000"}, {"write_bit_rate", "64000"}, {"secure", ""}, {"hostname", s.opts.Hostname},
			{"presence_id", ""}, {"presence_data", ""}, {"accountcode", ""}, {"callstate", ch.callState},
			{"callee_name", ""}, {"callee_num", ""}, {"callee_direction", ""}, {"call_uuid", ch.uuid},
			{"sent_callee_name", ""}, {"sent_callee_num", ""}, {"initial_cid_name", ch.cidName},
			{"initial_cid_num", ch.cidNum}, {"initial_ip_addr", ""}, {"initial_dest", ch.dest},
			{"initial_dialplan", "xml"}, {"initial_context", ch.context},
		}
		b.WriteByte('{')
		for j, kv := range fields {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%q", kv[0], kv[1])
		}
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return b.String()
}
