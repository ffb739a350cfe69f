package aritest

import (
	"bytes"
	"encoding/json"
	"time"
)

// obj is a JSON object that keeps its key order, because Asterisk's key
// order differs by event type (ChannelVarset starts with "variable",
// ChannelHangupRequest with "cause") and the recorded payloads keep it.
type obj []kv

type kv struct {
	k string
	v any
}

// MarshalJSON writes the keys in order.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := marshalNoEscape(p.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalNoEscape encodes like Asterisk: '<', '>' and '&' are not escaped.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// tsLayout is Asterisk's timestamp form: milliseconds, +0000 with no colon.
const tsLayout = "2006-01-02T15:04:05.000-0700"

func ts(t time.Time) string { return t.UTC().Format(tsLayout) }
