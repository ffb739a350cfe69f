package esltest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// captureSeeds returns every frame FreeSWITCH sent in the captures in
// testdata/, as the seed corpus of the fuzz targets.
func captureSeeds(f *testing.F) [][]byte {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no captures: %v", err)
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var c captureLine
			if json.Unmarshal(l, &c) == nil && c.Dir == "s2c" && c.Data != "" {
				out = append(out, []byte(c.Data))
			}
		}
	}
	return out
}

// FuzzReadFrame: the fake's frame reader (also what its tests read the
// wire with) never panics, never returns a body longer than its
// Content-Length, and a frame it reads renders back to a frame it reads
// the same way.
func FuzzReadFrame(f *testing.F) {
	for _, s := range captureSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := ReadFrame(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		if cl, ok := fr.Get("Content-Length"); ok {
			if n, _ := strconv.Atoi(cl); n != len(fr.Body) {
				t.Fatalf("body %d bytes, Content-Length %s", len(fr.Body), cl)
			}
		}
		again, err := ReadFrame(bufio.NewReader(bytes.NewReader(render(fr.Headers, fr.Body))))
		if err != nil || len(again.Headers) != len(fr.Headers) || !bytes.Equal(again.Body, fr.Body) {
			t.Fatalf("re-read %+v (%v), first %+v", again, err, fr)
		}
	})
}

// FuzzParseEventBody: event bodies never panic the parser; what parses
// keeps an inner body within the event.
func FuzzParseEventBody(f *testing.F) {
	for _, s := range captureSeeds(f) {
		fr, err := ReadFrame(bufio.NewReader(bytes.NewReader(s)))
		if err == nil && fr.ContentType() == "text/event-plain" {
			f.Add(fr.Body)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, inner, err := ParseEventBody(body)
		if err == nil && len(inner) > len(body) {
			t.Fatalf("inner body of %d bytes from %d", len(inner), len(body))
		}
	})
}
