package esl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
)

// This file is the parsing the adapter does itself on top of eslgo: event
// headers into fsEvent, `show channels as json`, api reply texts. All of
// it is fuzzed (fuzz_test.go) with real frames as seed corpus.

// ErrBadFrame is wrapped when FreeSWITCH sent something the adapter cannot
// interpret; the frame is logged and skipped.
var ErrBadFrame = errors.New("bad freeswitch frame")

// fsEvent is one FreeSWITCH event reduced to what the adapter uses.
type fsEvent struct {
	Name        string
	Seq         uint64
	UUID        string
	At          time.Time
	AnswerState string
	CallerNum   string
	CallerName  string
	Dest        string
	HangupCause string
	Q850        int
	Role        string
	Tag         string
	Arrival     string // value of the arrival variable (Config.ArrivalVar)
	Vars        map[string]string
	JobUUID     string
	Body        string
	App         string
	AppUUID     string
	AppResponse string
	Digit       string
	DigitDur    time.Duration
	RecordPath  string
	RecordSecs  time.Duration
	RecordCause string
}

// varPrefix marks channel variables that travel into CallArrived.Vars.
const varPrefix = "switchboard_"

// canonical holds the names decodeEvent reads in the form eslgo stores
// them (textproto's canonical form: Unique-Id, Variable_x): looked up
// directly, they are not canonicalised again (and, for most, allocated)
// on every read of every event.
var canonical = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"Event-Name", "Event-Sequence", "Event-Date-Timestamp", "Unique-ID", "Answer-State",
		"Caller-Caller-ID-Number", "Caller-Caller-ID-Name", "Caller-Destination-Number", "Hangup-Cause",
		"variable_hangup_cause_q850", "variable_" + varPrefix + "role", "variable_" + varPrefix + "tag",
		"Job-UUID", "Application", "Application-UUID", "Application-Response", "DTMF-Digit", "DTMF-Duration",
		"Record-File-Path", "Record-Completion-Cause", "variable_record_ms", "variable_record_seconds"} {
		m[n] = textproto.CanonicalMIMEHeaderKey(n)
	}
	return m
}()

// decodeEvent turns eslgo's parsed plain event into an fsEvent.
func decodeEvent(h textproto.MIMEHeader, body []byte, arrivalVar string) (fsEvent, error) {
	var ev fsEvent
	// eslgo keeps values URL-encoded and names canonical; a value that does
	// not decode is kept as sent.
	get := func(name string) string {
		key, ok := canonical[name]
		if !ok {
			key = textproto.CanonicalMIMEHeaderKey(name)
		}
		vs := h[key]
		if len(vs) == 0 || vs[0] == "" {
			return ""
		}
		v := vs[0]
		if strings.IndexByte(v, '%') < 0 {
			return v
		}
		d, err := url.PathUnescape(v)
		if err != nil {
			return v
		}
		return d
	}
	ev.Name = get("Event-Name")
	if ev.Name == "" {
		return ev, fmt.Errorf("%w: event without Event-Name", ErrBadFrame)
	}
	seq := get("Event-Sequence")
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return ev, fmt.Errorf("%w: %s with Event-Sequence %q", ErrBadFrame, ev.Name, seq)
	}
	ev.Seq = n
	if us, err := strconv.ParseInt(get("Event-Date-Timestamp"), 10, 64); err == nil && us > 0 {
		ev.At = time.UnixMicro(us)
	} else {
		ev.At = time.Now()
	}
	ev.UUID = get("Unique-ID")
	ev.AnswerState = get("Answer-State")
	ev.CallerNum = get("Caller-Caller-ID-Number")
	ev.CallerName = get("Caller-Caller-ID-Name")
	ev.Dest = get("Caller-Destination-Number")
	ev.HangupCause = get("Hangup-Cause")
	if q := get("variable_hangup_cause_q850"); q != "" {
		ev.Q850, _ = strconv.Atoi(q)
	}
	if ev.Q850 == 0 && ev.HangupCause != "" {
		ev.Q850 = causeCode(ev.HangupCause)
	}
	ev.Role = get("variable_" + varPrefix + "role")
	ev.Tag = get("variable_" + varPrefix + "tag")
	ev.Arrival = get("variable_" + arrivalVar)
	const vp = "variable_" + varPrefix
	for k := range h {
		// Compared without lower-casing every header name: an event has a
		// hundred, and only a few are ours.
		if len(k) <= len(vp) || !strings.EqualFold(k[:len(vp)], vp) {
			continue
		}
		if name := strings.ToLower(k[len(vp):]); name != "role" && name != "tag" {
			if ev.Vars == nil {
				ev.Vars = map[string]string{}
			}
			ev.Vars[varPrefix+name] = get(k) // k is one of h's own keys: canonical already
		}
	}
	ev.JobUUID = get("Job-UUID")
	ev.Body = string(body)
	ev.App = get("Application")
	ev.AppUUID = get("Application-UUID")
	ev.AppResponse = get("Application-Response")
	ev.Digit = get("DTMF-Digit")
	if d, err := strconv.Atoi(get("DTMF-Duration")); err == nil {
		ev.DigitDur = time.Duration(d) * time.Second / 8000 // samples at 8 kHz
	}
	ev.RecordPath = get("Record-File-Path")
	ev.RecordCause = get("Record-Completion-Cause")
	if ms, err := strconv.Atoi(get("variable_record_ms")); err == nil {
		ev.RecordSecs = time.Duration(ms) * time.Millisecond
	} else if s, err := strconv.Atoi(get("variable_record_seconds")); err == nil {
		ev.RecordSecs = time.Duration(s) * time.Second
	}
	return ev, nil
}

// parsePlainEvent parses the body of a text/event-plain frame the way
// eslgo does (textproto headers, optional inner body) and decodes it.
func parsePlainEvent(raw []byte, arrivalVar string) (fsEvent, error) {
	r := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.NewReader(r).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return fsEvent{}, fmt.Errorf("%w: event headers: %v", ErrBadFrame, err)
	}
	var body []byte
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > len(raw) {
			return fsEvent{}, fmt.Errorf("%w: inner Content-Length %q", ErrBadFrame, cl)
		}
		body = make([]byte, n)
		if _, err := r.Read(body); err != nil && n > 0 {
			return fsEvent{}, fmt.Errorf("%w: inner body: %v", ErrBadFrame, err)
		}
	}
	return decodeEvent(h, body, arrivalVar)
}

// channelRow is one row of `show channels as json`.
type channelRow struct {
	UUID        string `json:"uuid"`
	Direction   string `json:"direction"`
	Name        string `json:"name"`
	State       string `json:"state"`
	CallState   string `json:"callstate"`
	CIDName     string `json:"cid_name"`
	CIDNum      string `json:"cid_num"`
	Dest        string `json:"dest"`
	Application string `json:"application"`
	AppData     string `json:"application_data"`
}

// parseChannels parses `show channels as json`: {"row_count":N,"rows":[…]}
// (compact, no newline) or {"row_count": 0}\n with no rows key.
func parseChannels(body []byte) ([]channelRow, error) {
	var v struct {
		RowCount *int         `json:"row_count"`
		Rows     []channelRow `json:"rows"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &v); err != nil {
		return nil, fmt.Errorf("%w: show channels as json: %v (%.80q)", ErrBadFrame, err, body)
	}
	if v.RowCount == nil {
		return nil, fmt.Errorf("%w: show channels as json without row_count (%.80q)", ErrBadFrame, body)
	}
	if *v.RowCount != len(v.Rows) {
		return nil, fmt.Errorf("%w: show channels as json: row_count %d but %d rows", ErrBadFrame, *v.RowCount, len(v.Rows))
	}
	for i, r := range v.Rows {
		if r.UUID == "" {
			return nil, fmt.Errorf("%w: show channels as json: row %d without uuid", ErrBadFrame, i)
		}
	}
	return v.Rows, nil
}

// replyError turns a FreeSWITCH reply into an error: anything starting
// with '-' failed (-ERR …, -ERROR, -USAGE: …). Missing-channel texts wrap
// adapters.ErrUnknownLeg.
func replyError(what, reply string) error {
	reply = strings.TrimSpace(reply)
	if !strings.HasPrefix(reply, "-") {
		return nil
	}
	for _, s := range []string{"No such channel", "Invalid uuid", "invalid uuid", "Cannot locate session", "invalid session id"} {
		if strings.Contains(reply, s) {
			return fmt.Errorf("freeswitch %s: %s: %w", what, reply, adapters.ErrUnknownLeg)
		}
	}
	if reply == "-ERROR" && strings.HasPrefix(what, "uuid_answer") {
		return fmt.Errorf("freeswitch %s: %s: %w", what, reply, adapters.ErrUnknownLeg)
	}
	return fmt.Errorf("freeswitch %s: %s", what, reply)
}

// jobResult reads a BACKGROUND_JOB body: "+OK …" or "-ERR CAUSE".
func jobResult(body string) (ok bool, cause string) {
	body = strings.TrimSpace(body)
	if strings.HasPrefix(body, "+OK") {
		return true, ""
	}
	cause = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(body, "-ERR"), "-USAGE:"))
	if cause == "" {
		cause = body
	}
	return false, cause
}

// causes maps FreeSWITCH hangup cause names to Q.850 codes.
var causes = map[string]int{
	"UNALLOCATED_NUMBER": 1, "NO_ROUTE_DESTINATION": 3, "NORMAL_CLEARING": 16, "USER_BUSY": 17,
	"NO_USER_RESPONSE": 18, "NO_ANSWER": 19, "SUBSCRIBER_ABSENT": 20, "CALL_REJECTED": 21,
	"DESTINATION_OUT_OF_ORDER": 27, "INVALID_NUMBER_FORMAT": 28, "NORMAL_UNSPECIFIED": 31,
	"NORMAL_CIRCUIT_CONGESTION": 34, "NORMAL_TEMPORARY_FAILURE": 41, "CHAN_NOT_IMPLEMENTED": 66,
	"RECOVERY_ON_TIMER_EXPIRE": 102, "ORIGINATOR_CANCEL": 487, "LOSE_RACE": 502,
	"MANAGER_REQUEST": 503, "ALLOTTED_TIMEOUT": 602,
}

// causeCode returns the Q.850 code of a cause name (31 for unknown names,
// "normal, unspecified").
func causeCode(name string) int {
	if c, ok := causes[name]; ok {
		return c
	}
	return 31
}

// causeName returns the FreeSWITCH name for a Q.850 code (NORMAL_CLEARING
// for 0 and unknown codes).
func causeName(code int) string {
	best := ""
	for n, c := range causes {
		if c == code && (best == "" || n < best) {
			best = n
		}
	}
	if best == "" {
		return "NORMAL_CLEARING"
	}
	return best
}

// safeLine rejects values that would break an ESL command line.
func safeLine(field, v string) error {
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%s %q contains a line break", field, v)
	}
	return nil
}

// safeArg rejects values that would break a space-separated api argument.
func safeArg(field, v string) error {
	if v == "" {
		return fmt.Errorf("%s is empty", field)
	}
	if strings.ContainsAny(v, " \t\r\n") {
		return fmt.Errorf("%s %q contains white space", field, v)
	}
	return nil
}

// originateVar renders one variable of an originate {…} block: commas
// escaped, values with spaces quoted; quotes, braces and line breaks are
// refused.
func originateVar(k, v string) (string, error) {
	if !namePattern.MatchString(k) {
		return "", fmt.Errorf("channel variable name %q", k)
	}
	if strings.ContainsAny(v, "'{}[]<>\r\n") {
		return "", fmt.Errorf("channel variable %s value %q contains one of ' { } [ ] < > or a line break", k, v)
	}
	v = strings.ReplaceAll(v, ",", `\,`)
	if strings.ContainsAny(v, " \t") {
		v = "'" + v + "'"
	}
	return k + "=" + v, nil
}
