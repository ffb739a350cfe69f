package esl

import (
	"bufio"
	"bytes"
	"net/textproto"
	"testing"
)

// BenchmarkDecodeEvent: the adapter's part of every event (eslgo has
// parsed the headers already). One op decodes every captured event once.
//
//	go test -run '^$' -bench DecodeEvent -benchmem ./adapters/esl/
func BenchmarkDecodeEvent(b *testing.B) {
	var hs []textproto.MIMEHeader
	for _, raw := range seeds(b, "events") {
		h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
		if err != nil && len(h) == 0 {
			b.Fatal(err)
		}
		hs = append(hs, h)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, h := range hs {
			if _, err := decodeEvent(h, nil, "switchboard"); err != nil {
				b.Fatal(err)
			}
		}
	}
}
