package esl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/percipia/eslgo"
)

// Defence "race-free close". eslgo v1.5.2 cannot be closed race-free:
// Conn.close deletes from its response-channel map while authLoop and
// disconnectLoop read that map without the lock (`go test -race` fails
// whenever a connection is closed, by us or by FreeSWITCH). The adapter
// therefore never lets eslgo close: each eslgo connection talks to
// FreeSWITCH through a splice, a private loopback socket whose FreeSWITCH
// side we own. To close, we cancel the connection's context (every eslgo
// loop returns), close the FreeSWITCH socket, and only later close the
// private socket, when no eslgo loop is left to call Conn.close. A
// FreeSWITCH-side close or disconnect notice is turned into the same
// sequence instead of being passed on to eslgo.

// session is one eslgo connection with its splice.
type session struct {
	conn   *eslgo.Conn
	cancel context.CancelFunc
	fs     net.Conn // our socket to FreeSWITCH
	local  net.Conn // our end of the private socket eslgo dialed
	once   sync.Once
	// gone is closed when FreeSWITCH closed or said goodbye; goneErr says
	// why (set once, before gone is closed).
	gone     chan struct{}
	goneErr  error
	goneOnce sync.Once
	// life ends when the session does: FreeSWITCH closed or said goodbye,
	// we closed it, or the adapter stopped. A command waiting for its reply
	// waits on it too, because eslgo never learns that the splice's
	// FreeSWITCH side went (no reply would ever come, and the link's lock
	// would be held, with every drop and redial behind it, until the
	// command timed out).
	life    context.Context
	endLife context.CancelCauseFunc
}

// errSessionClosed is the cause of a session's end when we closed it.
var errSessionClosed = errors.New("connection closed by switchboard")

// closeGrace is how long after cancelling eslgo's context the private
// socket is closed (eslgo's loops return at once on cancel).
const closeGrace = 500 * time.Millisecond

// close ends the session without eslgo ever running Conn.close.
func (s *session) close() {
	s.once.Do(func() {
		s.endLife(errSessionClosed)
		s.cancel()
		_ = s.fs.Close()
		if s.local != nil {
			local := s.local
			time.AfterFunc(closeGrace, func() { _ = local.Close() })
		}
	})
}

// dialESL connects to FreeSWITCH, puts a splice in between and lets
// eslgo authenticate through it.
func dialESL(ctx context.Context, addr, password string, timeout time.Duration, logger eslgo.Logger) (*session, error) {
	d := net.Dialer{Timeout: timeout}
	fs, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = fs.Close()
		return nil, fmt.Errorf("splice listener: %w", err)
	}
	defer ln.Close()
	cctx, cancel := context.WithCancel(ctx)
	s := &session{fs: fs, cancel: cancel, gone: make(chan struct{})}
	s.life, s.endLife = context.WithCancelCause(cctx)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()

	type result struct {
		c   *eslgo.Conn
		err error
	}
	done := make(chan result, 1)
	opts := eslgo.InboundOptions{
		Options:     eslgo.Options{Context: cctx, Logger: logger, ExitTimeout: time.Second},
		Network:     "tcp",
		Password:    password,
		AuthTimeout: timeout,
	}
	go func() {
		c, err := opts.Dial(ln.Addr().String())
		done <- result{c, err}
	}()
	select {
	case local, ok := <-accepted:
		if !ok {
			cancel()
			_ = fs.Close()
			return nil, errors.New("splice accept failed")
		}
		s.local = local
	case <-time.After(timeout):
		cancel()
		_ = fs.Close()
		return nil, fmt.Errorf("no answer within %s", timeout)
	}
	go s.pump(s.local, fs, true)
	go s.pump(fs, s.local, false)

	select {
	case r := <-done:
		if r.err != nil {
			s.close()
			return nil, r.err
		}
		s.conn = r.c
		return s, nil
	case <-time.After(timeout):
		s.close()
		return nil, fmt.Errorf("no answer within %s", timeout)
	}
}

// pump copies one direction. From FreeSWITCH it copies frame by frame and
// keeps text/disconnect-notice and end-of-stream from eslgo: they end the
// session instead (see the defence above).
func (s *session) pump(dst, src net.Conn, fromFS bool) {
	if !fromFS {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					s.fail(werr)
					return
				}
			}
			if err != nil {
				s.fail(fmt.Errorf("eslgo side: %w", err))
				return
			}
		}
	}
	r := bufio.NewReaderSize(src, 64<<10)
	w := bufio.NewWriterSize(dst, 64<<10)
	var scratch []byte // reused: each frame is written out before the next is read
	for {
		frame, ctype, err := readRawFrameInto(r, scratch[:0])
		if cap(frame) <= maxKeptFrame {
			scratch = frame
		} else {
			scratch = nil // one huge `show channels` must not stay pinned
		}
		if err != nil {
			_ = w.Flush()
			s.fail(fmt.Errorf("freeswitch closed the event socket: %w", err))
			return
		}
		if ctype == "text/disconnect-notice" {
			_ = w.Flush()
			s.fail(errors.New("freeswitch sent a disconnect notice"))
			return
		}
		_, err = w.Write(frame)
		if err == nil && r.Buffered() == 0 {
			err = w.Flush()
		}
		if err != nil {
			s.fail(fmt.Errorf("eslgo side: %w", err))
			return
		}
	}
}

// maxKeptFrame bounds the frame buffer a splice keeps between frames.
const maxKeptFrame = 1 << 20

// fail records that the session is over. Both pumps may call it at once
// (a write to FreeSWITCH failing while the read from it fails too).
func (s *session) fail(err error) {
	s.goneOnce.Do(func() {
		s.goneErr = err
		// life ends before gone closes: whoever wakes on gone must
		// already see the session's context cancelled.
		s.endLife(err)
		close(s.gone)
	})
}

// readRawFrame reads one ESL frame and returns its bytes and Content-Type.
func readRawFrame(r *bufio.Reader) ([]byte, string, error) {
	return readRawFrameInto(r, nil)
}

// Content-Types the splice needs to tell apart; matched on the header
// bytes so that no string is made per line.
var (
	prefixType   = []byte("Content-Type: ")
	prefixLength = []byte("Content-Length: ")
)

// maxHeaderBytes bounds a frame's header block (FreeSWITCH's are a few
// short lines; the event headers are in the body).
const maxHeaderBytes = 64 << 10

// readRawFrameInto is readRawFrame appending to b (which it may reuse).
func readRawFrameInto(r *bufio.Reader, b []byte) ([]byte, string, error) {
	ctype := ""
	length := 0
	start := len(b)
	for {
		lineStart := len(b)
		line, err := r.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			// A header line longer than the reader's buffer: keep reading
			// it, within reason.
			b = append(b, line...)
			if len(b)-start > maxHeaderBytes {
				return nil, "", fmt.Errorf("%w: headers longer than %d bytes", ErrBadFrame, maxHeaderBytes)
			}
			line, err = r.ReadSlice('\n')
		}
		if err != nil {
			if err == io.EOF && (len(b) > start || len(line) > 0) {
				err = io.ErrUnexpectedEOF // cut inside a frame
			}
			return nil, "", err
		}
		b = append(b, line...)
		if len(b)-start > maxHeaderBytes {
			return nil, "", fmt.Errorf("%w: headers longer than %d bytes", ErrBadFrame, maxHeaderBytes)
		}
		t := bytes.TrimRight(b[lineStart:], "\r\n")
		if len(t) == 0 {
			if ctype == "" && length == 0 && len(b)-start <= 2 {
				b = b[:start]
				continue // stray blank line
			}
			break
		}
		if v, ok := bytes.CutPrefix(t, prefixType); ok {
			ctype = string(v)
		} else if v, ok := bytes.CutPrefix(t, prefixLength); ok {
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 0 || n > 64<<20 {
				return nil, "", fmt.Errorf("%w: Content-Length %q", ErrBadFrame, v)
			}
			length = n
		}
	}
	// Grow with the data actually read, not with what the header claims:
	// at most one bufio buffer's worth at a time.
	for length > 0 {
		chunk := min(length, r.Size())
		start := len(b)
		b = append(b, make([]byte, chunk)...)
		if _, err := io.ReadFull(r, b[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, "", err
		}
		length -= chunk
	}
	return b, ctype, nil
}
