package aritest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
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
func (o obj) MarshalJSON() ([]byte, error) { return appendJSON(nil, o) }

// marshalNoEscape encodes like Asterisk: '<', '>' and '&' are not escaped.
// The shapes the fake sends (obj, strings, numbers, lists) are written
// directly: the fake runs in the same process as the code under load, and
// encoding/json's reflection and re-validation of every nested
// MarshalJSON made it the larger part of a load run's CPU.
func marshalNoEscape(v any) ([]byte, error) { return appendJSON(nil, v) }

func appendJSON(b []byte, v any) ([]byte, error) {
	var err error
	switch t := v.(type) {
	case obj:
		b = append(b, '{')
		for i, p := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, p.k)
			b = append(b, ':')
			if b, err = appendJSON(b, p.v); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []obj:
		b = append(b, '[')
		for i, o := range t {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendJSON(b, o); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case string:
		return appendString(b, t), nil
	case []string:
		b = append(b, '[')
		for i, s := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), nil
	case int:
		return strconv.AppendInt(b, int64(t), 10), nil
	case bool:
		return strconv.AppendBool(b, t), nil
	case nil:
		return append(b, "null"...), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does with SetEscapeHTML(false):
// control characters, '"' and '\' escaped, invalid UTF-8 as U+FFFD, and
// U+2028/U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// tsLayout is Asterisk's timestamp form: milliseconds, +0000 with no colon.
const tsLayout = "2006-01-02T15:04:05.000-0700"

func ts(t time.Time) string { return t.UTC().Format(tsLayout) }
