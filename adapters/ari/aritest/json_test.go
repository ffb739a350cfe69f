package aritest

import (
	"bytes"
	"encoding/json"
	"testing"
)

func stdJSON(t testing.TB, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimRight(buf.Bytes(), "\n"))
}

// The fake's own encoder writes what encoding/json would.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		got  any
		want any // the same value in types encoding/json orders the same way
	}{
		{obj{{"b", 1}, {"a", "x"}}, json.RawMessage(`{"b":1,"a":"x"}`)},
		{obj{{"caller", obj{{"name", `Alice "A" <5551001>`}, {"number", "5551001"}}}, {"soft", true}, {"args", []string{}}},
			json.RawMessage(`{"caller":{"name":"Alice \"A\" <5551001>","number":"5551001"},"soft":true,"args":[]}`)},
		{[]obj{{{"id", "a&b"}}, {}}, json.RawMessage(`[{"id":"a&b"},{}]`)},
		{"tab\tnl\nctl\x01 \\ é \u2028 \xff", "tab\tnl\nctl\x01 \\ é \u2028 \xff"},
		{nil, nil},
		{[]string{"x", "y"}, []string{"x", "y"}},
		{map[string]int{"k": 1}, map[string]int{"k": 1}},
	} {
		got, err := marshalNoEscape(tc.got)
		if err != nil {
			t.Fatal(err)
		}
		if want := stdJSON(t, tc.want); string(got) != want {
			t.Errorf("%#v: %s, want %s", tc.got, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "ctl \x00\x1f\x7f", "é中\u2028\u2029", "\xff\xfe bad", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendString(nil, s)), stdJSON(t, s); got != want {
			t.Fatalf("%q: %s, want %s", s, got, want)
		}
	})
}
