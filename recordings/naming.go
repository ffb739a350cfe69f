package recordings

import (
	"fmt"
	"strings"
	"time"
)

// DefaultTemplate names a recording when a node sets none.
const DefaultTemplate = "{date}_{time}_{queue}_{agent}_{call_id}"

// templateFields are the placeholders a file name template may use.
var templateFields = map[string]bool{
	"call_id": true, "recording_id": true, "queue": true, "agent": true, "caller": true,
	"dialed": true, "node": true, "date": true, "time": true, "year": true, "month": true, "day": true,
}

// NameFields are the values a template is filled with.
type NameFields struct {
	CallID, RecordingID, Queue, Agent, Caller, Dialed, Node string
	At                                                      time.Time
}

// Template is a parsed file naming template such as
// "{date}_{queue}_{agent}_{call_id}". Every placeholder is known and every
// rendered value is reduced to letters, digits, '.', '_' and '-', so a
// caller number or queue name can never make a path (both PBX adapters
// refuse names with separators, and a name is never a path traversal).
type Template struct {
	src   string
	parts []tplPart
}

type tplPart struct {
	lit   string
	field string
}

// ParseTemplate checks a template. An empty template is DefaultTemplate.
func ParseTemplate(s string) (Template, error) {
	if s == "" {
		s = DefaultTemplate
	}
	t := Template{src: s}
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			t.parts = append(t.parts, tplPart{lit: rest})
			break
		}
		if rest[i] == '}' {
			return Template{}, fmt.Errorf("template %q: '}' without '{' at byte %d", s, len(s)-len(rest)+i)
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return Template{}, fmt.Errorf("template %q: '{' not closed", s)
		}
		name := rest[i+1 : i+j]
		if !templateFields[name] {
			return Template{}, fmt.Errorf("template %q: unknown placeholder {%s} (known: call_id, recording_id, queue, agent, caller, dialed, node, date, time, year, month, day)", s, name)
		}
		t.parts = append(t.parts, tplPart{field: name})
		rest = rest[i+j+1:]
	}
	for _, p := range t.parts {
		if p.lit != "" && sanitizeChars(p.lit) != p.lit {
			return Template{}, fmt.Errorf("template %q: literal %q may hold only letters, digits, '.', '_' and '-'", s, p.lit)
		}
	}
	hasUnique := false
	for _, p := range t.parts {
		if p.field == "call_id" || p.field == "recording_id" {
			hasUnique = true
		}
	}
	if !hasUnique {
		return Template{}, fmt.Errorf("template %q: needs {call_id} or {recording_id} so that names do not collide", s)
	}
	return t, nil
}

// String is the template source.
func (t Template) String() string { return t.src }

// Render fills the template. Times are rendered in UTC.
func (t Template) Render(f NameFields) string {
	at := f.At.UTC()
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.lit)
			continue
		}
		var v string
		switch p.field {
		case "call_id":
			v = f.CallID
		case "recording_id":
			v = f.RecordingID
		case "queue":
			v = f.Queue
		case "agent":
			v = f.Agent
		case "caller":
			v = f.Caller
		case "dialed":
			v = f.Dialed
		case "node":
			v = f.Node
		case "date":
			v = at.Format("20060102")
		case "time":
			v = at.Format("150405")
		case "year":
			v = at.Format("2006")
		case "month":
			v = at.Format("01")
		case "day":
			v = at.Format("02")
		}
		if v == "" {
			v = "none"
		}
		b.WriteString(sanitizeChars(v))
	}
	name := b.String()
	if len(name) > 200 {
		name = name[:200]
	}
	// No hidden files and never "..", whatever the values were.
	for strings.HasPrefix(name, ".") {
		name = "_" + name[1:]
	}
	for strings.Contains(name, "..") {
		name = strings.ReplaceAll(name, "..", "_.")
	}
	return name
}

// sanitizeChars keeps letters, digits, '.', '_' and '-' and replaces
// anything else with '_'.
func sanitizeChars(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}
