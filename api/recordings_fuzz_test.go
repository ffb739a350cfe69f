package api

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// FuzzRecordingQuery drives the recordings search parameters and the purge
// age with arbitrary query strings: never a panic; every rejection a 400
// naming a parameter of the query, or a filter error; everything accepted
// a valid filter (the one the store runs).
func FuzzRecordingQuery(f *testing.F) {
	for _, s := range []string{
		"", "agent=a1&queue=billing", "from=2026-11-22&to=2026-11-23", "from=2026-11-23&to=2026-11-22",
		"min_score=80&max_score=90", "min_score=NaN", "min_duration=90&max_duration=5m", "min_duration=-1s",
		"status=finished&tag=vip&held=true&exemplary=1", "limit=10000", "limit=0", "cursor=MTcwMDAwMDAwMDAwMDAwMDAwMHxyZWMtMQ",
		"cursor=%00", "older=90d", "older=2w", "older=0d", "older=1h30m", "older=99999999999d",
	} {
		f.Add(s)
	}
	params := map[string]bool{"from": true, "to": true, "min_score": true, "max_score": true, "min_duration": true, "max_duration": true,
		"exemplary": true, "held": true, "limit": true, "status": true, "cursor": true, "": true}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if d, err := ParseAge(q.Get("older")); err == nil && d < 0 {
			t.Fatalf("ParseAge(%q) = %v, negative", q.Get("older"), d)
		}
		flt, err := RecordingFilterFromQuery(q)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest || !params[e.Field] {
				t.Fatalf("rejection of %q is not a 400 naming a parameter: %#v", raw, err)
			}
			return
		}
		if err := flt.Validate(); err != nil {
			t.Fatalf("accepted %q but the filter is invalid: %v", raw, err)
		}
	})
}
