package esltest

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// command is one client command: its first line, the header lines after it
// and an optional body (sendmsg, sendevent).
type command struct {
	line    string
	headers []Header
	body    []byte
}

func (c command) header(name string) string {
	for _, h := range c.headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// readCommand reads one command: lines up to a blank line (eslgo ends with
// CRLF CRLF, others with LF LF), then Content-Length bytes.
func readCommand(r *bufio.Reader) (command, error) {
	var c command
	first := true
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF && first {
				return c, io.EOF
			}
			return c, fmt.Errorf("%w: reading command: %w", ErrFrame, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if first {
				continue
			}
			break
		}
		if first {
			c.line = line
			first = false
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return c, fmt.Errorf("%w: command header %q has no colon", ErrFrame, line)
		}
		c.headers = append(c.headers, Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	if cl := c.header("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > maxFrameBody {
			return c, fmt.Errorf("%w: command Content-Length %q", ErrFrame, cl)
		}
		c.body = make([]byte, n)
		if _, err := io.ReadFull(r, c.body); err != nil {
			return c, fmt.Errorf("%w: command body: %w", ErrFrame, err)
		}
	}
	return c, nil
}

// serve reads and executes commands one at a time, as FreeSWITCH does per
// connection.
func (c *conn) serve(r *bufio.Reader) {
	for {
		cmd, err := readCommand(r)
		if err != nil {
			return
		}
		if !c.handle(cmd) {
			return
		}
	}
}

// delay applies the slow-reply and mute faults; it reports false when the
// command must get no reply at all.
func (c *conn) delay(line string) bool {
	c.s.mu.Lock()
	f := c.s.faults
	c.s.mu.Unlock()
	if f.Mute {
		return false
	}
	if f.ReplyDelay > 0 && (f.ReplyDelayMatch == "" || strings.Contains(line, f.ReplyDelayMatch)) {
		select {
		case <-time.After(f.ReplyDelay):
		case <-c.closeCh:
			return false
		}
	}
	return true
}

// handle runs one command; it returns false when the connection must end.
func (c *conn) handle(cmd command) bool {
	verb, args, _ := strings.Cut(cmd.line, " ")
	args = strings.TrimSpace(args)
	c.s.mu.Lock()
	logged := cmd.line
	if verb == "auth" {
		logged = "auth <password>"
	}
	c.s.commands = append(c.s.commands, logged)
	authed := c.authed
	c.s.mu.Unlock()

	if verb == "exit" {
		if !c.delay(cmd.line) {
			return true
		}
		c.write(replyFrame("+OK bye"))
		if c.outboundUUID != "" {
			c.write(outboundNotice(c.outboundUUID, "disconnect", "", "", true))
		} else {
			c.write(disconnectFrame())
		}
		return false
	}
	if !authed {
		if verb != "auth" {
			c.write(replyFrame("-ERR command not found"))
			return true
		}
		if args != c.s.opts.Password {
			c.write(replyFrame("-ERR invalid"))
			c.write(disconnectFrame())
			return false
		}
		c.s.mu.Lock()
		c.authed = true
		c.s.mu.Unlock()
		c.write(replyFrame("+OK accepted"))
		return true
	}

	// Every command runs with apiMu held until its reply is written, so the
	// events it causes follow the reply (as on FreeSWITCH).
	if verb != "api" && verb != "bgapi" {
		c.apiMu.Lock()
		defer c.apiMu.Unlock()
	}
	switch verb {
	case "api":
		if args == "" {
			c.reply(cmd.line, replyFrame("-ERR command not found"))
			return true
		}
		// Hold apiMu across the command and its reply: no event may be
		// written on this connection in between (FreeSWITCH behaviour).
		c.apiMu.Lock()
		body := c.s.api(args)
		if c.delay(cmd.line) {
			c.write(apiFrame(body))
		}
		c.apiMu.Unlock()
	case "bgapi":
		if args == "" {
			c.reply(cmd.line, replyFrame("-ERR command not found"))
			return true
		}
		job := cmd.header("Job-UUID")
		if job == "" {
			job = NewUUID()
		}
		if !c.delay(cmd.line) {
			return true
		}
		c.write(render([]Header{{"Content-Type", "command/reply"}, {"Reply-Text", "+OK Job-UUID: " + job}, {"Job-UUID", job}}, nil))
		go c.s.backgroundJob(job, args)
	case "event":
		format, names, _ := strings.Cut(args, " ")
		var subs []string
		for _, n := range strings.Fields(names) {
			if n == "ALL" || knownEvents[n] {
				subs = append(subs, n)
			}
		}
		if format != "plain" && format != "json" && format != "xml" {
			c.reply(cmd.line, replyFrame("-ERR invalid format"))
			return true
		}
		if len(subs) == 0 {
			c.reply(cmd.line, replyFrame("-ERR no keywords supplied"))
			return true
		}
		c.s.mu.Lock()
		c.format = format
		for _, n := range subs {
			if n == "ALL" {
				c.all = true
			}
			c.events[n] = true
		}
		c.s.mu.Unlock()
		c.reply(cmd.line, replyFrame("+OK event listener enabled "+format))
	case "nixevent":
		c.s.mu.Lock()
		for _, n := range strings.Fields(args) {
			delete(c.events, n)
		}
		c.s.mu.Unlock()
		c.reply(cmd.line, replyFrame("+OK events nixed"))
	case "noevents":
		c.s.mu.Lock()
		c.events = map[string]bool{}
		c.all = false
		c.s.mu.Unlock()
		c.reply(cmd.line, replyFrame("+OK no longer listening for events"))
	case "filter":
		if rest, ok := strings.CutPrefix(args, "delete "); ok {
			n, v, _ := strings.Cut(rest, " ")
			c.reply(cmd.line, replyFrame(fmt.Sprintf("+OK filter deleted. [%s][%s]", n, v)))
		} else {
			n, v, _ := strings.Cut(args, " ")
			c.reply(cmd.line, replyFrame(fmt.Sprintf("+OK filter added. [%s]=[%s]", n, v)))
		}
	case "log":
		c.reply(cmd.line, replyFrame("+OK log level "+args+" ["+args+"]"))
	case "nolog":
		c.reply(cmd.line, replyFrame("+OK no longer logging"))
	case "linger", "nolinger":
		if c.outboundUUID == "" {
			c.reply(cmd.line, replyFrame("-ERR not controlling a session"))
			return true
		}
		c.s.mu.Lock()
		c.linger = verb == "linger"
		c.lingerSecs, _ = strconv.Atoi(args)
		c.s.mu.Unlock()
		if verb == "nolinger" {
			c.reply(cmd.line, replyFrame("+OK will not linger"))
		} else if args != "" {
			c.reply(cmd.line, replyFrame("+OK will linger "+args+" seconds"))
		} else {
			c.reply(cmd.line, replyFrame("+OK will linger"))
		}
	case "myevents":
		if c.outboundUUID == "" {
			c.reply(cmd.line, replyFrame("-ERR command not found"))
			return true
		}
		c.s.mu.Lock()
		c.myevents = true
		c.format = "plain"
		c.s.mu.Unlock()
		c.reply(cmd.line, replyFrame("+OK Events Enabled"))
	case "sendmsg":
		if args == "" {
			args = c.outboundUUID
		}
		c.reply(cmd.line, replyFrame(c.s.sendmsg(args, cmd)))
	default:
		c.reply(cmd.line, replyFrame("-ERR command not found"))
	}
	return true
}

func (c *conn) reply(line string, frame []byte) {
	if c.delay(line) {
		c.write(frame)
	}
}

// knownEvents are the event names FreeSWITCH accepts in `event` (the ones
// this fake can emit plus common others).
var knownEvents = map[string]bool{
	"CHANNEL_CREATE": true, "CHANNEL_DESTROY": true, "CHANNEL_STATE": true, "CHANNEL_CALLSTATE": true,
	"CHANNEL_ANSWER": true, "CHANNEL_HANGUP": true, "CHANNEL_HANGUP_COMPLETE": true,
	"CHANNEL_EXECUTE": true, "CHANNEL_EXECUTE_COMPLETE": true, "CHANNEL_BRIDGE": true,
	"CHANNEL_UNBRIDGE": true, "CHANNEL_PROGRESS": true, "CHANNEL_PROGRESS_MEDIA": true,
	"CHANNEL_PARK": true, "CHANNEL_UNPARK": true, "CHANNEL_ORIGINATE": true, "CHANNEL_DATA": true,
	"DTMF": true, "RECORD_START": true, "RECORD_STOP": true, "PLAYBACK_START": true,
	"PLAYBACK_STOP": true, "BACKGROUND_JOB": true, "HEARTBEAT": true, "CUSTOM": true,
	"API": true, "RE_SCHEDULE": true, "SHUTDOWN": true,
}
