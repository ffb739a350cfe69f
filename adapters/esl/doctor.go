package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
)

// Check is one result of Doctor.
type Check struct {
	Node   string `json:"node"`
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// MinVersion is the oldest FreeSWITCH release supported (major, minor).
var MinVersion = [2]int{1, 10}

var versionPattern = regexp.MustCompile(`FreeSWITCH Version (\d+)\.(\d+)\.(\d+)\S*`)

// Doctor checks the configured FreeSWITCH: the event socket is reachable,
// the password is accepted, the version is supported and events can be
// subscribed in plain format. It opens one short inbound connection and
// changes nothing on the switch. Checks after a failed one are reported as
// skipped (failed) with the reason.
func Doctor(ctx context.Context, cfg Config) []Check {
	if err := cfg.Validate(); err != nil {
		return []Check{{Node: cfg.Node, Name: "config", OK: false, Detail: err.Error(), Fix: "fix pbx.freeswitch in the config file"}}
	}
	cfg = cfg.withDefaults()
	checks := []Check{}
	add := func(name string, ok bool, detail, fix string) {
		checks = append(checks, Check{Node: cfg.Node, Name: name, OK: ok, Detail: detail, Fix: fix})
	}
	skip := func(names ...string) {
		for _, n := range names {
			add(n, false, "skipped: an earlier check failed", "")
		}
	}

	d := net.Dialer{Timeout: cfg.ConnectTimeout}
	c, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		add("esl reachable", false, fmt.Sprintf("%s: %v", cfg.Addr, err),
			"start FreeSWITCH and check listen-ip/listen-port in autoload_configs/event_socket.conf.xml (see dialplans/freeswitch); set pbx.freeswitch.addr or SWITCHBOARD_ESL_ADDR")
		skip("esl password", "freeswitch version", "event subscription")
		return checks
	}
	_ = c.Close()
	add("esl reachable", true, cfg.Addr, "")

	sess, err := dialESL(ctx, cfg.Addr, cfg.Password, cfg.ConnectTimeout, eslgo.NilLogger{})
	if err != nil {
		fix := "check that " + cfg.Addr + " is FreeSWITCH's event socket and that its apply-inbound-acl allows this host"
		detail := err.Error()
		if strings.Contains(detail, "failed to auth") {
			fix = "set pbx.freeswitch.password (or SWITCHBOARD_ESL_PASSWORD) to the password in event_socket.conf.xml"
			// eslgo's error prints the reply's header map over several
			// lines; the operator needs FreeSWITCH's answer only.
			detail = "FreeSWITCH refused the password"
			if i := strings.Index(err.Error(), "-ERR"); i >= 0 {
				detail += " (" + strings.TrimRight(strings.SplitN(err.Error()[i:], "\"", 2)[0], "\n") + ")"
			}
		}
		add("esl password", false, detail, fix)
		skip("freeswitch version", "event subscription")
		return checks
	}
	defer sess.close()
	add("esl password", true, "accepted", "")

	send := func(cmd command.Command) (*eslgo.RawResponse, error) {
		cctx, cancel := context.WithTimeout(ctx, cfg.CommandTimeout)
		defer cancel()
		return sess.conn.SendCommand(cctx, cmd)
	}
	resp, err := send(command.API{Command: "version"})
	switch {
	case err != nil:
		add("freeswitch version", false, err.Error(), "FreeSWITCH did not answer `api version`; check fs_cli -x version")
	default:
		v := strings.TrimSpace(resp.GetReply())
		major, minor, perr := parseVersion(v)
		switch {
		case perr != nil:
			add("freeswitch version", false, perr.Error(), "run FreeSWITCH 1.10 or later")
		case major < MinVersion[0] || (major == MinVersion[0] && minor < MinVersion[1]):
			add("freeswitch version", false, v, fmt.Sprintf("upgrade FreeSWITCH to %d.%d or later", MinVersion[0], MinVersion[1]))
		default:
			add("freeswitch version", true, v, "")
		}
	}

	resp, err = send(command.Event{Format: subscribeFormat, Listen: subscribedEvents})
	switch {
	case err != nil:
		add("event subscription", false, err.Error(), "check that mod_event_socket is loaded")
	case !resp.IsOk():
		add("event subscription", false, resp.GetReply(), "check that mod_event_socket is loaded and the events are known")
	default:
		add("event subscription", true, "event "+subscribeFormat+" "+strings.Join(subscribedEvents, " "), "")
	}
	return checks
}

// ErrVersion is wrapped when `api version` cannot be read.
var ErrVersion = errors.New("unrecognised freeswitch version")

func parseVersion(s string) (major, minor int, err error) {
	m := versionPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, fmt.Errorf("%w: %q", ErrVersion, s)
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	return major, minor, nil
}
