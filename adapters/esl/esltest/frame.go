// Package esltest is a fake FreeSWITCH that speaks the event-socket (ESL)
// text protocol on a real TCP socket, for testing switchboard's FreeSWITCH
// adapter with the real eslgo client.
//
// Frames, header order, URL encoding, reply texts and error strings follow
// the captures of a real FreeSWITCH 1.10.12 kept in testdata/ (see
// testdata/README.md); the tests in this package replay those captures
// byte for byte where the conversation is deterministic.
//
// Besides the protocol it keeps a small channel model (create, park,
// answer, bridge, record, playback, DTMF, hangup) that emits the same
// CHANNEL_* events FreeSWITCH emits, each with a global Event-Sequence, and
// a scripting API for tests: inject an inbound call, decide how an
// originated dial string behaves, hang up from the far side, send DTMF, and
// inject the faults that break naive clients (out-of-order delivery, slow
// replies, unknown content types, dropped and refused connections).
package esltest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// Header is one "Name: value" line of a frame, in wire order. Value is as
// found on the wire (URL-encoded for event bodies).
type Header struct {
	Name  string
	Value string
}

// Frame is one ESL message: an outer header block and an optional body
// whose length the Content-Length header gives.
type Frame struct {
	Headers []Header
	Body    []byte
}

// Get returns the first value of the named header (case-insensitive) and
// whether it was present.
func (f Frame) Get(name string) (string, bool) {
	for _, h := range f.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// ContentType returns the Content-Type header.
func (f Frame) ContentType() string {
	v, _ := f.Get("Content-Type")
	return v
}

// ErrFrame is wrapped by every frame parsing error.
var ErrFrame = errors.New("bad esl frame")

// maxFrameBody bounds Content-Length so a corrupt header cannot make the
// reader allocate gigabytes.
const maxFrameBody = 16 << 20

// ReadFrame reads one frame: header lines up to a blank line (LF or CRLF),
// then Content-Length bytes of body when that header is present.
func ReadFrame(r *bufio.Reader) (Frame, error) {
	var f Frame
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" && len(f.Headers) == 0 {
				return f, io.EOF
			}
			return f, fmt.Errorf("%w: reading header line: %w", ErrFrame, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(f.Headers) == 0 {
				continue // stray blank lines between frames are tolerated, as FreeSWITCH does
			}
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return f, fmt.Errorf("%w: header line %q has no colon", ErrFrame, line)
		}
		f.Headers = append(f.Headers, Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	if cl, ok := f.Get("Content-Length"); ok {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > maxFrameBody {
			return f, fmt.Errorf("%w: Content-Length %q", ErrFrame, cl)
		}
		f.Body = make([]byte, n)
		if _, err := io.ReadFull(r, f.Body); err != nil {
			return f, fmt.Errorf("%w: reading %d body bytes: %w", ErrFrame, n, err)
		}
	}
	return f, nil
}

// ParseEventBody decodes the body of a text/event-plain frame: URL-encoded
// header lines, a blank line, and an inner body when an inner Content-Length
// is present (BACKGROUND_JOB). Header values are returned decoded; duplicate
// names are kept (CHANNEL_HANGUP_COMPLETE carries Hangup-Cause twice).
func ParseEventBody(body []byte) ([]Header, []byte, error) {
	var hs []Header
	rest := string(body)
	for {
		line, after, found := strings.Cut(rest, "\n")
		if !found {
			if strings.TrimSpace(line) != "" {
				return nil, nil, fmt.Errorf("%w: event header %q not terminated", ErrFrame, line)
			}
			return hs, nil, nil
		}
		rest = after
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, nil, fmt.Errorf("%w: event header line %q has no colon", ErrFrame, line)
		}
		dec, err := url.PathUnescape(value)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: event header %s: %w", ErrFrame, name, err)
		}
		hs = append(hs, Header{Name: name, Value: dec})
	}
	for _, h := range hs {
		if h.Name == "Content-Length" {
			n, err := strconv.Atoi(h.Value)
			if err != nil || n < 0 || n > len(rest) {
				return nil, nil, fmt.Errorf("%w: inner Content-Length %q with %d bytes left", ErrFrame, h.Value, len(rest))
			}
			return hs, []byte(rest[:n]), nil
		}
	}
	return hs, nil, nil
}

// urlUnsafe is FreeSWITCH's switch_url_encode list: these bytes, controls
// and non-ASCII are written as %XX; everything else stays as is.
const urlUnsafe = "\r\n \"#%&+:;<=>?@[\\]^`{|}"

// encodeValue URL-encodes an event header value the way FreeSWITCH does.
func encodeValue(v string) string {
	clean := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 32 || c > 126 || strings.IndexByte(urlUnsafe, c) >= 0 {
			clean = false
			break
		}
	}
	if clean {
		return v
	}
	var b strings.Builder
	b.Grow(len(v) + 16)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 32 || c > 126 || strings.IndexByte(urlUnsafe, c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// eventBody renders URL-encoded event headers (and an optional inner body)
// as the body of a text/event-plain frame.
func eventBody(hs []Header, inner []byte) []byte {
	n := len(inner) + 32
	for _, h := range hs {
		n += len(h.Name) + len(h.Value) + 8
	}
	b := bytes.NewBuffer(make([]byte, 0, n))
	for _, h := range hs {
		b.WriteString(h.Name)
		b.WriteString(": ")
		b.WriteString(encodeValue(h.Value))
		b.WriteByte('\n')
	}
	if inner != nil {
		fmt.Fprintf(b, "Content-Length: %d\n\n", len(inner))
		b.Write(inner)
	} else {
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// render writes a frame in wire form.
func render(hs []Header, body []byte) []byte {
	n := len(body) + 1
	for _, h := range hs {
		n += len(h.Name) + len(h.Value) + 3
	}
	b := bytes.NewBuffer(make([]byte, 0, n))
	for _, h := range hs {
		b.WriteString(h.Name)
		b.WriteString(": ")
		b.WriteString(h.Value)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(body)
	return b.Bytes()
}

func replyFrame(text string) []byte {
	return render([]Header{{"Content-Type", "command/reply"}, {"Reply-Text", text}}, nil)
}

func apiFrame(body string) []byte {
	return render([]Header{{"Content-Type", "api/response"}, {"Content-Length", strconv.Itoa(len(body))}}, []byte(body))
}

// disconnectBody is what FreeSWITCH 1.10 sends in text/disconnect-notice.
const disconnectBody = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"

func disconnectFrame() []byte {
	return render([]Header{{"Content-Type", "text/disconnect-notice"}, {"Content-Length", strconv.Itoa(len(disconnectBody))}}, []byte(disconnectBody))
}
