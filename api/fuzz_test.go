package api

import (
	"errors"
	"net/http"
	"testing"
)

// FuzzDecode drives the strict decoder with arbitrary bodies for every
// request type: it must never panic, every rejection must be a 4xx *Error,
// and anything accepted must pass the type's own validation.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"reason":"lunch"}`, `{}`, `{"cause":16}`, `{"cause":-1}`, `{"reason":1}`,
		`{"reason":"a","x":1}`, `{"reason":"\u0000"}`, `[]`, `null`, `{"cause":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		targets := []func() (any, func() error){
			func() (any, func() error) { v := &StateChange{}; return v, v.Validate },
			func() (any, func() error) { v := &Hangup{}; return v, v.Validate },
		}
		for _, mk := range targets {
			for _, allowEmpty := range []bool{false, true} {
				v, validate := mk()
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
			}
		}
	})
}
