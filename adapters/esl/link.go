package esl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"

	"github.com/switchboard-cc/switchboard/adapters"
)

// link is one inbound ESL connection made safe. The adapter keeps two: one
// for events (subscription, health probe) and one for commands, so that a
// slow command never stalls the event stream (FreeSWITCH delivers no event
// on a connection while an api command runs there).
type link struct {
	name string
	log  *slog.Logger
	// timeout bounds one command.
	timeout time.Duration
	// onBroken is called (once per connection) when the link dropped its
	// connection; the adapter redials.
	onBroken func(name string, s *session, err error)

	// Defence "serialized commands": mu is held across the write of a
	// command AND the read of its reply. eslgo hands whichever reply comes
	// next to whichever SendCommand is waiting, so two commands in flight on
	// one connection can swap replies.
	mu  sync.Mutex
	cur *session
}

// errLinkDown is returned by send when the link has no connection.
func (l *link) errDown() error {
	return fmt.Errorf("freeswitch %s connection down: %w", l.name, adapters.ErrUnreachable)
}

// attach installs a fresh connection and watches for FreeSWITCH closing it.
func (l *link) attach(s *session) {
	l.mu.Lock()
	l.cur = s
	l.mu.Unlock()
	go func() {
		<-s.gone
		l.drop(s, s.goneErr)
	}()
}

// current returns the installed session (nil when down).
func (l *link) current() *session {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// connected reports whether the link holds a connection.
func (l *link) connected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur != nil
}

// send runs one command and returns its reply. It holds the link's lock
// across write and reply (serialized commands) and, when the command does
// not complete, drops the connection (timed-out command): the late reply
// would otherwise be read as the reply to the next command.
func (l *link) send(ctx context.Context, cmd command.Command) (*eslgo.RawResponse, error) {
	return l.sendChecked(ctx, cmd, nil)
}

// sendChecked is send with an extra check of the reply body (a reply
// text that names what the command named); a reply that fails it is
// treated as a crossed reply.
func (l *link) sendChecked(ctx context.Context, cmd command.Command, fits func(reply string) bool) (*eslgo.RawResponse, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return nil, l.errDown()
	}
	if err := ctx.Err(); err != nil {
		// Nothing written yet: no reply in flight, the connection stays.
		return nil, fmt.Errorf("freeswitch %s: %q not sent: %w", l.name, firstWord(cmd), err)
	}
	s := l.cur
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	// The wait ends with the session, not only with the timeout (see
	// session.life).
	defer context.AfterFunc(s.life, cancel)()
	resp, err := s.conn.SendCommand(cctx, cmd)
	if err != nil {
		if s.life.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("connection lost before the reply: %w", context.Cause(s.life))
		}
		// Defence "drop on timeout": a command that did not get its reply
		// leaves that reply in flight; never reuse this connection.
		l.dropLocked(fmt.Errorf("command %q: %w", firstWord(cmd), err))
		return nil, fmt.Errorf("freeswitch %s: %q: %w: %w", l.name, firstWord(cmd), err, adapters.ErrUnreachable)
	}
	err = replyFits(cmd, resp)
	if err == nil && fits != nil && !fits(resp.GetReply()) {
		err = fmt.Errorf("%w: %s got %q", ErrCrossedReply, firstWord(cmd), resp.GetReply())
	}
	if err != nil {
		// Defence "reply check": the reply cannot be this command's (a
		// stray or late frame). The connection's replies are out of step
		// with its commands, so it is dropped like a timed-out one.
		l.dropLocked(err)
		return nil, fmt.Errorf("freeswitch %s: %q: %w: %w", l.name, firstWord(cmd), err, adapters.ErrUnreachable)
	}
	return resp, nil
}

// ErrCrossedReply is wrapped when a reply cannot belong to the command it
// was handed to: an api command that got a command/reply (or the other
// way round), a bgapi reply naming another Job-UUID, a uuid_bridge reply
// naming another leg.
var ErrCrossedReply = errors.New("reply does not belong to the command")

// replyFits checks what can be checked without knowing FreeSWITCH's reply
// texts: the reply's Content-Type matches the kind of command, a bgapi
// reply carries our Job-UUID, and nothing else carries one.
func replyFits(cmd command.Command, resp *eslgo.RawResponse) error {
	ct := resp.Headers.Get("Content-Type")
	job := resp.Headers.Get("Job-Uuid")
	switch c := cmd.(type) {
	case command.API:
		if ct != eslgo.TypeAPIResponse && !strings.HasPrefix(resp.GetReply(), "-") {
			return fmt.Errorf("%w: api %s got %s %q", ErrCrossedReply, c.Command, ct, resp.GetReply())
		}
	case bgapi:
		if ct != eslgo.TypeReply || (resp.IsOk() && job != c.job) {
			return fmt.Errorf("%w: bgapi %s (Job-UUID %s) got %s %q", ErrCrossedReply, c.cmd, c.job, ct, resp.GetReply())
		}
	default:
		if ct != eslgo.TypeReply || job != "" {
			return fmt.Errorf("%w: %s got %s %q", ErrCrossedReply, firstWord(cmd), ct, resp.GetReply())
		}
	}
	return nil
}

// drop closes the current connection (if it is still s; the current one
// when s is nil) and reports the link broken.
func (l *link) drop(s *session, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s != nil && l.cur != s {
		s.close() // already replaced; make sure it is closed
		return
	}
	l.dropLocked(err)
}

func (l *link) dropLocked(err error) {
	s := l.cur
	if s == nil {
		return
	}
	l.cur = nil
	l.log.Warn("freeswitch connection dropped", "link", l.name, "err", err)
	s.close()
	go l.onBroken(l.name, s, err)
}

func firstWord(cmd command.Command) string {
	m := cmd.BuildMessage()
	if i := strings.IndexAny(m, "\r\n"); i >= 0 {
		m = m[:i]
	}
	f := strings.Fields(m)
	switch {
	case len(f) >= 2 && (f[0] == "api" || f[0] == "bgapi"):
		return f[0] + " " + f[1]
	case len(f) >= 1:
		return f[0]
	}
	return m
}

// api runs `api <cmd> <args>` and returns the body; replies starting with
// '-' become errors (ErrUnknownLeg for missing channels).
func (l *link) api(ctx context.Context, cmd, args string) (string, error) {
	return l.apiChecked(ctx, cmd, args, nil)
}

// apiChecked is api with a check of the reply text (see sendChecked).
func (l *link) apiChecked(ctx context.Context, cmd, args string, fits func(reply string) bool) (string, error) {
	if err := safeLine(cmd, args); err != nil {
		return "", err
	}
	resp, err := l.sendChecked(ctx, command.API{Command: cmd, Arguments: args}, fits)
	if err != nil {
		return "", err
	}
	body := resp.GetReply()
	if err := replyError(cmd+" "+args, body); err != nil {
		return body, err
	}
	return body, nil
}

// bgapi is `bgapi <cmd> <args>` with a Job-UUID we choose, so the
// BACKGROUND_JOB result can be tied to the request without a race.
type bgapi struct {
	cmd, args, job string
}

// BuildMessage implements command.Command.
func (b bgapi) BuildMessage() string {
	return "bgapi " + b.cmd + " " + b.args + "\r\nJob-UUID: " + b.job
}

// sendmsg is `sendmsg <uuid>` executing an application with an Event-UUID,
// so its CHANNEL_EXECUTE_COMPLETE carries Application-UUID.
type sendmsg struct {
	uuid, app, arg, eventUUID string
}

// BuildMessage implements command.Command.
func (s sendmsg) BuildMessage() string {
	return "sendmsg " + s.uuid + "\r\ncall-command: execute\r\nexecute-app-name: " + s.app +
		"\r\nexecute-app-arg: " + s.arg + "\r\nEvent-UUID: " + s.eventUUID
}

// slogLogger bridges eslgo's printf-style Logger to log/slog, so the
// library's warnings (lost replies, unknown content types) reach the same
// structured log as everything else instead of the standard log package.
type slogLogger struct {
	log *slog.Logger
}

func (s slogLogger) emit(level slog.Level, format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	s.log.Log(context.Background(), level, msg, "component", "eslgo")
}

// Debug implements eslgo.Logger.
func (s slogLogger) Debug(format string, args ...any) { s.emit(slog.LevelDebug, format, args...) }

// Info implements eslgo.Logger.
func (s slogLogger) Info(format string, args ...any) { s.emit(slog.LevelInfo, format, args...) }

// Warn implements eslgo.Logger.
func (s slogLogger) Warn(format string, args ...any) { s.emit(slog.LevelWarn, format, args...) }

// Error implements eslgo.Logger.
func (s slogLogger) Error(format string, args ...any) { s.emit(slog.LevelError, format, args...) }
