package recordings

import (
	"strings"
	"testing"
	"time"
)

func TestTemplateRender(t *testing.T) {
	at := time.Date(2026, 11, 22, 14, 5, 9, 0, time.FixedZone("CET", 3600))
	f := NameFields{CallID: "asterisk-1-1732.7", RecordingID: "r1", Queue: "billing", Agent: "1001",
		Caller: "+49 30 1234", Node: "asterisk-1", At: at}
	cases := []struct{ tpl, want string }{
		{"", "20261122_130509_billing_1001_asterisk-1-1732.7"},
		{"{node}-{year}{month}{day}-{recording_id}", "asterisk-1-20261122-r1"},
		{"{caller}_{call_id}", "_49_30_1234_asterisk-1-1732.7"},
		{"{dialed}_{call_id}", "none_asterisk-1-1732.7"},
	}
	for _, c := range cases {
		tp, err := ParseTemplate(c.tpl)
		if err != nil {
			t.Fatalf("%q: %v", c.tpl, err)
		}
		if got := tp.Render(f); got != c.want {
			t.Errorf("%q: got %q want %q", c.tpl, got, c.want)
		}
	}
}

// TestTemplateNoPathEscape: values from the call (queue names, caller
// numbers, call ids) can never turn a name into a path.
func TestTemplateNoPathEscape(t *testing.T) {
	tp, err := ParseTemplate("{queue}{call_id}")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"../../etc/passwd", "..", "/abs", ".hidden", "a/../b", "...", "x\x00y"} {
		got := tp.Render(NameFields{Queue: v, CallID: v})
		if strings.ContainsAny(got, "/\\\x00") || strings.Contains(got, "..") || strings.HasPrefix(got, ".") {
			t.Errorf("value %q rendered %q", v, got)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	for tpl, want := range map[string]string{
		"{queue}":            "needs {call_id}",
		"{call_id}{nope}":    "unknown placeholder {nope}",
		"{call_id":           "not closed",
		"x}{call_id}":        "'}' without '{'",
		"dir/{call_id}":      "literal",
		"{call_id} copy":     "literal",
		"{date}_{call_id}.x": "",
	} {
		_, err := ParseTemplate(tpl)
		if want == "" {
			if err != nil {
				t.Errorf("%q: %v", tpl, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", tpl, err, want)
		}
	}
}
