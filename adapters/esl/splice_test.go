package esl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

// frame renders an ESL frame with the given headers and body.
func rawFrame(ctype, body string) string {
	var b strings.Builder
	b.WriteString("Content-Type: " + ctype + "\n")
	if body != "" {
		b.WriteString("Content-Length: " + itoa(len(body)) + "\n")
	}
	b.WriteString("\n")
	b.WriteString(body)
	return b.String()
}

// The splice's frame reader: whole frames whatever the reads look like
// (one byte at a time, bodies many times the reader's buffer), stray blank
// lines skipped, and a clear error for a bad Content-Length, a frame cut
// short or a header block without end, with nothing returned.
func TestReadRawFrame(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 70<<10/16+3) // > 64 KiB, not a multiple of 4 KiB
	event := "Event-Name: CHANNEL_ANSWER\nEvent-Sequence: 2701\nUnique-ID: 1f0e\n\n"
	for _, tc := range []struct {
		name     string
		in       string
		size     int // bufio size (16 is bufio's minimum)
		oneByte  bool
		want     []string // frames, in order
		wantType []string
		err      error // after the frames
	}{
		{name: "reply", in: "Content-Type: command/reply\nReply-Text: +OK accepted\n\n",
			want: []string{"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"}, wantType: []string{"command/reply"}, err: io.EOF},
		{name: "event byte by byte", in: rawFrame("text/event-plain", event) + rawFrame("api/response", "+OK\n"), oneByte: true, size: 16,
			want: []string{rawFrame("text/event-plain", event), rawFrame("api/response", "+OK\n")}, wantType: []string{"text/event-plain", "api/response"}, err: io.EOF},
		{name: "large body, small buffer", in: rawFrame("api/response", big) + rawFrame("api/response", "-ERR no\n"), size: 16,
			want: []string{rawFrame("api/response", big), rawFrame("api/response", "-ERR no\n")}, wantType: []string{"api/response", "api/response"}, err: io.EOF},
		{name: "large body, byte by byte", in: rawFrame("api/response", big), oneByte: true,
			want: []string{rawFrame("api/response", big)}, wantType: []string{"api/response"}, err: io.EOF},
		{name: "stray blank lines", in: "\n\r\n" + rawFrame("auth/request", ""),
			want: []string{rawFrame("auth/request", "")}, wantType: []string{"auth/request"}, err: io.EOF},
		{name: "CRLF", in: "Content-Type: api/response\r\nContent-Length: 3\r\n\r\n+OK",
			want: []string{"Content-Type: api/response\r\nContent-Length: 3\r\n\r\n+OK"}, wantType: []string{"api/response"}, err: io.EOF},
		{name: "header line longer than the buffer", in: "Content-Type: text/event-plain\nX-Long: " + strings.Repeat("x", 100) + "\nContent-Length: 2\n\nok", size: 16,
			want: []string{"Content-Type: text/event-plain\nX-Long: " + strings.Repeat("x", 100) + "\nContent-Length: 2\n\nok"}, wantType: []string{"text/event-plain"}, err: io.EOF},
		{name: "Content-Length not a number", in: "Content-Type: api/response\nContent-Length: 12abc\n\n+OK", err: ErrBadFrame},
		{name: "Content-Length negative", in: "Content-Type: api/response\nContent-Length: -1\n\n", err: ErrBadFrame},
		{name: "Content-Length beyond 64 MiB", in: "Content-Type: api/response\nContent-Length: 99999999999\n\n", err: ErrBadFrame},
		{name: "body cut short", in: "Content-Type: api/response\nContent-Length: 10\n\n+OK", err: io.ErrUnexpectedEOF},
		{name: "large body cut short", in: "Content-Type: api/response\nContent-Length: " + itoa(len(big)+1) + "\n\n" + big, size: 16, err: io.ErrUnexpectedEOF},
		{name: "headers cut short", in: "Content-Type: api/response\nContent-Len", err: io.ErrUnexpectedEOF},
		{name: "endless header block", in: strings.Repeat("X-Pad: 0123456789\n", maxHeaderBytes/18+2), err: ErrBadFrame},
		{name: "endless header line", in: "X-Pad: " + strings.Repeat("y", maxHeaderBytes+10), size: 16, err: ErrBadFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var src io.Reader = strings.NewReader(tc.in)
			if tc.oneByte {
				src = iotest.OneByteReader(src)
			}
			size := tc.size
			if size == 0 {
				size = 4096
			}
			r := bufio.NewReaderSize(src, size)
			// The splice's way: one buffer, reused for every frame.
			var scratch []byte
			for i := 0; ; i++ {
				frame, ctype, err := readRawFrameInto(r, scratch[:0])
				if err != nil {
					if i != len(tc.want) {
						t.Fatalf("frame %d: %v (want %d frames)", i, err, len(tc.want))
					}
					if !errors.Is(err, tc.err) {
						t.Fatalf("after %d frames: %v, want %v", i, err, tc.err)
					}
					if frame != nil || ctype != "" {
						t.Fatalf("error %v came with %q %q", err, frame, ctype)
					}
					return
				}
				if i >= len(tc.want) {
					t.Fatalf("extra frame %q", frame)
				}
				if string(frame) != tc.want[i] || ctype != tc.wantType[i] {
					t.Fatalf("frame %d: %s %q…, want %s %q…", i, ctype, head(frame), tc.wantType[i], head([]byte(tc.want[i])))
				}
				scratch = frame
			}
		})
	}
}

func head(b []byte) []byte { return b[:min(len(b), 80)] }

// The splice copies FreeSWITCH's frames to eslgo byte for byte, however
// the bytes arrive, and keeps the disconnect notice from eslgo: it ends
// the session instead.
func TestSplicePump(t *testing.T) {
	var frames []string
	for _, b := range seeds(t, "frames") {
		frames = append(frames, string(b))
	}
	big := strings.Repeat("row,", 50<<10)
	frames = append(frames, rawFrame("api/response", big), rawFrame("text/event-plain", "Event-Name: HEARTBEAT\n\n"))
	var want strings.Builder
	for _, f := range frames {
		if !strings.Contains(f, "text/disconnect-notice") {
			want.WriteString(f)
		}
	}
	wire := strings.Join(frames, "") + rawFrame("text/disconnect-notice", "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")

	fsEnd, fsPeer := net.Pipe()   // FreeSWITCH's side of our socket
	eslEnd, eslPeer := net.Pipe() // eslgo's side
	defer fsEnd.Close()
	defer fsPeer.Close()
	defer eslEnd.Close()
	defer eslPeer.Close()
	s := &session{gone: make(chan struct{})}
	s.life, s.endLife = context.WithCancelCause(context.Background())
	go s.pump(eslEnd, fsEnd, true)

	var got bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = eslPeer.SetReadDeadline(time.Now().Add(waitLimit))
		buf := make([]byte, 4096)
		for got.Len() < want.Len() {
			n, err := eslPeer.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	for rest := wire; rest != ""; {
		n := min(len(rest), 1+rng.IntN(700))
		if _, err := fsPeer.Write([]byte(rest[:n])); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	wg.Wait()
	if got.String() != want.String() {
		t.Fatalf("eslgo got %d bytes, want %d (first difference at %d)", got.Len(), want.Len(), firstDiff(got.Bytes(), []byte(want.String())))
	}
	select {
	case <-s.gone:
	case <-time.After(waitLimit):
		t.Fatal("disconnect notice did not end the session")
	}
	if s.life.Err() == nil || !strings.Contains(s.goneErr.Error(), "disconnect notice") {
		t.Fatalf("session after the notice: life %v, gone %v", s.life.Err(), s.goneErr)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Both pumps may report the end of a session at the same moment; that
// must neither panic (a second close of gone) nor race on goneErr.
func TestSessionFailTwice(t *testing.T) {
	for range 2000 {
		s := &session{gone: make(chan struct{})}
		s.life, s.endLife = context.WithCancelCause(context.Background())
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				s.fail(errors.New("pump " + itoa(i)))
			}()
		}
		close(start)
		wg.Wait()
		<-s.gone
		if s.goneErr == nil || s.life.Err() == nil {
			t.Fatal("session not ended")
		}
	}
}
