package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzDecode drives the strict decoder with arbitrary bodies for every
// request type: it must never panic, every rejection must be a 4xx *Error,
// and anything accepted must pass the type's own validation.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"reason":"lunch"}`, `{}`, `{"cause":16}`, `{"cause":-1}`, `{"reason":1}`,
		`{"reason":"a","x":1}`, `{"reason":"\u0000"}`, `[]`, `null`, `{"cause":1e400}`,
		`{"mode":"listen","endpoint":"PJSIP/2001"}`, `{"mode":"barge","endpoint":"user/2001 &park()"}`,
		`{"mode":"whisper","endpoint":"{a=b}user/2001"}`, `{"mode":"listen","endpoint":"PJSIP/\u2028"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// Each type with the empty-body modes its handlers use (a snoop
		// needs a body: its zero value is not a request).
		targets := []struct {
			mk    func() (any, func() error)
			modes []bool
		}{
			{func() (any, func() error) { v := &StateChange{}; return v, v.Validate }, []bool{false, true}},
			{func() (any, func() error) { v := &Hangup{}; return v, v.Validate }, []bool{false, true}},
			{func() (any, func() error) { v := &SnoopRequest{}; return v, v.Validate }, []bool{false}},
		}
		for _, tg := range targets {
			for _, allowEmpty := range tg.modes {
				v, validate := tg.mk()
				err := DecodeBytes(body, v, allowEmpty)
				if err != nil {
					var e *Error
					if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 {
						t.Fatalf("rejection is not a 4xx *Error: %#v", err)
					}
					if e.Status == 0 {
						e.Status = http.StatusBadRequest
					}
					continue
				}
				if err := validate(); err != nil {
					t.Fatalf("accepted input fails validation: %v", err)
				}
				// What reaches the PBX command line: one dial string, no
				// white space to end the argument, no variable block.
				if sn, ok := v.(*SnoopRequest); ok {
					if len(sn.Endpoint) == 0 || len(sn.Endpoint) > 255 || strings.ContainsFunc(sn.Endpoint, func(r rune) bool {
						return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("{}<>[]", r) || r == utf8.RuneError
					}) {
						t.Fatalf("accepted snoop endpoint %q", sn.Endpoint)
					}
				}
			}
		}
	})
}
