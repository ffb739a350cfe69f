package esl

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// seeds returns the real FreeSWITCH 1.10.12 payloads kept in testdata/.
func seeds(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seeds in testdata/%s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// TestRealEventsDecode decodes every captured event kind.
func TestRealEventsDecode(t *testing.T) {
	for name, body := range seeds(t, "events") {
		ev, err := parsePlainEvent(body, "switchboard")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ev.Name+".txt" != name || ev.Seq == 0 {
			t.Errorf("%s: name %q seq %d", name, ev.Name, ev.Seq)
		}
		switch ev.Name {
		case "CHANNEL_HANGUP_COMPLETE":
			if ev.HangupCause != "NORMAL_CLEARING" || ev.Q850 != 16 {
				t.Errorf("%s: %+v", name, ev)
			}
		case "BACKGROUND_JOB":
			if ok, _ := jobResult(ev.Body); !ok || ev.JobUUID == "" {
				t.Errorf("%s: job %q body %q", name, ev.JobUUID, ev.Body)
			}
		case "RECORD_STOP":
			if ev.RecordPath != "/rec/cap-1795349259.wav" || ev.RecordSecs.Seconds() != 5 {
				t.Errorf("%s: %q %s", name, ev.RecordPath, ev.RecordSecs)
			}
		case "DTMF":
			if ev.Digit == "" || ev.DigitDur == 0 {
				t.Errorf("%s: %+v", name, ev)
			}
		}
	}
}

// TestRealShowChannels parses the captured `show channels as json` replies,
// including the empty form with its space and newline.
func TestRealShowChannels(t *testing.T) {
	counts := map[int]int{}
	for name, body := range seeds(t, "channels") {
		rows, err := parseChannels(body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		counts[len(rows)]++
		for _, r := range rows {
			if r.UUID == "" || r.CallState == "" {
				t.Errorf("%s: %+v", name, r)
			}
		}
	}
	if counts[0] == 0 || counts[4] == 0 {
		t.Fatalf("row counts %v", counts)
	}
	for _, bad := range []string{``, `{}`, `{"row_count":2,"rows":[{"uuid":"a"}]}`, `{"row_count":1,"rows":[{}]}`, `-ERR x`} {
		if _, err := parseChannels([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParsePlainEvent: arbitrary event bodies never panic; what decodes
// has a name and a sequence number.
func FuzzParsePlainEvent(f *testing.F) {
	for _, b := range seeds(f, "events") {
		f.Add(b)
	}
	f.Add([]byte("Event-Name: X\nEvent-Sequence: 1\nContent-Length: 3\n\nabc"))
	f.Add([]byte("Event-Name: X\nEvent-Sequence: %zz\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := parsePlainEvent(body, "switchboard")
		if err != nil {
			return
		}
		if ev.Name == "" {
			t.Fatalf("decoded without a name: %+v", ev)
		}
		// A decoded event must survive the state machine.
		a, _ := New(Config{}, nil)
		a.legs[ev.UUID] = &leg{originated: true}
		a.jobs[ev.JobUUID] = ev.UUID
		a.recs[ev.RecordPath] = ev.UUID
		_ = a.apply(ev)
	})
}

// FuzzParseChannels: arbitrary `show channels` replies never panic and
// what parses has a uuid on every row.
func FuzzParseChannels(f *testing.F) {
	for _, b := range seeds(f, "channels") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rows, err := parseChannels(body)
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.UUID == "" {
				t.Fatal("row without uuid")
			}
		}
	})
}

// FuzzReadRawFrame: the splice's frame reader never panics and returns
// whole frames whose body length matches Content-Length.
func FuzzReadRawFrame(f *testing.F) {
	for _, b := range seeds(f, "events") {
		f.Add([]byte("Content-Length: " + itoa(len(b)) + "\nContent-Type: text/event-plain\n\n" + string(b)))
	}
	for _, b := range seeds(f, "frames") {
		f.Add(b)
	}
	f.Add([]byte("Content-Type: auth/request\n\n"))
	f.Add([]byte("Content-Type: api/response\nContent-Length: 5\n\nfalse"))
	f.Add([]byte("Content-Length: -1\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for range 8 {
			frame, _, err := readRawFrame(r)
			if err != nil {
				return
			}
			if !bytes.Contains(data, frame) {
				t.Fatalf("frame %q not from input", frame)
			}
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
