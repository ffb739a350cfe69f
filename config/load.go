package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrInvalid is wrapped by every error about bad configuration (unknown
// key, bad value, bad environment variable or flag). The CLI exits with
// status 2 on it.
var ErrInvalid = errors.New("invalid configuration")

// Error is a configuration mistake with its place: File and Line when it
// came from the file, Source ("SWITCHBOARD_LISTEN", "--listen") when it
// came from elsewhere.
type Error struct {
	File   string
	Line   int
	Column int
	Source string // set when the value did not come from the file
	Key    string // dotted key: server.listen
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Column)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	case e.Source != "":
		fmt.Fprintf(&b, "%s: ", e.Source)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

// File is a parsed configuration file: the values it sets on top of the
// defaults, and where each key sits so later errors can point at it.
type File struct {
	Name string
	root *yaml.Node
	// lines maps a dotted key to its key node.
	keys map[string]*yaml.Node
}

// LoadFile reads and parses path strictly on top of base.
func LoadFile(path string, base Config) (Config, *File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return base, nil, &Error{File: path, Msg: fmt.Sprintf("cannot read config file: %v", err)}
	}
	return Parse(path, data, base)
}

// Parse decodes data (named name in errors) on top of base. Unknown keys,
// values of the wrong type and values that fail validation are errors
// naming the file, line and key; on error base is returned unchanged.
func Parse(name string, data []byte, base Config) (Config, *File, error) {
	f := &File{Name: name, keys: map[string]*yaml.Node{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return base, f, nil // empty file: defaults
		}
		return base, nil, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return base, nil, yamlError(name, err)
		}
		return base, nil, &Error{File: name, Line: line, Column: 1, Msg: "more than one YAML document; a config file holds one"}
	}
	if len(doc.Content) == 0 {
		return base, f, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return base, f, nil
	}
	if root.Kind != yaml.MappingNode {
		return base, nil, &Error{File: name, Line: root.Line, Column: root.Column, Msg: "the config file must be a mapping of sections (server:, database:, pbx: …)"}
	}
	f.root = root
	if err := f.check(root, reflect.TypeOf(Config{}), ""); err != nil {
		return base, nil, err
	}
	out := base
	if err := root.Decode(&out); err != nil {
		// check() tried every leaf, so this is a backstop, not the usual path.
		return base, nil, yamlError(name, err)
	}
	if err := out.Validate(); err != nil {
		return base, nil, f.place(err)
	}
	return out, f, nil
}

// place turns a *FieldError into an *Error at the key's line when the file
// sets that key (or its nearest parent).
func (f *File) place(err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return &Error{File: f.Name, Msg: err.Error()}
	}
	if n := f.node(fe.Key); n != nil {
		return &Error{File: f.Name, Line: n.Line, Column: n.Column, Key: fe.Key, Msg: fe.Msg}
	}
	return &Error{Source: "default", Key: fe.Key, Msg: fe.Msg}
}

// Sets reports whether the file sets key (dotted) or one of its parents.
func (f *File) Sets(key string) bool { return f != nil && f.keys[key] != nil }

// node returns the key node for key, or for its nearest parent set in the file.
func (f *File) node(key string) *yaml.Node {
	if f == nil {
		return nil
	}
	for k := key; k != ""; {
		if n := f.keys[k]; n != nil {
			return n
		}
		i := strings.LastIndex(k, ".")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns a yaml.v3 error into an *Error with the line it names.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	msg := strings.TrimPrefix(msgs[0], "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Column: 1, Msg: m[2]}
	}
	return &Error{File: name, Msg: msg}
}

var (
	unmarshalerT = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	yamlNodeType = reflect.TypeOf(yaml.Node{})
)

// check walks node against t: every mapping key must be a field of the
// struct it lands in, and every leaf must decode into its field's type.
// It records key positions for later errors.
func (f *File) check(node *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	if t == yamlNodeType || reflect.PointerTo(t).Implements(unmarshalerT) {
		return f.leaf(node, t, path)
	}
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			if node.Tag == "!!null" {
				return nil
			}
			return &Error{File: f.Name, Line: node.Line, Column: node.Column, Key: path,
				Msg: fmt.Sprintf("want a mapping of keys, got %s", describe(node))}
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			key := join(path, k.Value)
			if k.Value == "<<" {
				return &Error{File: f.Name, Line: k.Line, Column: k.Column, Key: path, Msg: "YAML merge keys (<<) are not supported in the config file"}
			}
			if seen[k.Value] {
				return &Error{File: f.Name, Line: k.Line, Column: k.Column, Key: key, Msg: "key given twice"}
			}
			seen[k.Value] = true
			ft, ok := fields[k.Value]
			if !ok {
				return &Error{File: f.Name, Line: k.Line, Column: k.Column, Key: key,
					Msg: fmt.Sprintf("unknown key %q%s", k.Value, suggest(k.Value, fields, path))}
			}
			f.keys[key] = k
			if err := f.check(v, ft, key); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if node.Kind != yaml.MappingNode {
			return f.leaf(node, t, path)
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			key := join(path, k.Value)
			f.keys[key] = k
			if err := f.leaf(k, t.Key(), key); err != nil {
				return err
			}
			if err := f.check(v, t.Elem(), key); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice, reflect.Array:
		if node.Kind != yaml.SequenceNode {
			return f.leaf(node, t, path)
		}
		for i, item := range node.Content {
			if err := f.check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	default:
		return f.leaf(node, t, path)
	}
}

// leaf decodes node into a fresh value of type t to catch type errors with
// the key they belong to.
func (f *File) leaf(node *yaml.Node, t reflect.Type, path string) error {
	v := reflect.New(t)
	if err := node.Decode(v.Interface()); err != nil {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		if m := yamlLine.FindStringSubmatch(strings.TrimPrefix(msg, "yaml: ")); m != nil {
			msg = m[2]
		}
		return &Error{File: f.Name, Line: node.Line, Column: node.Column, Key: path, Msg: msg}
	}
	return nil
}

// yamlFields maps yaml key names to field types, following ,inline.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name) // yaml.v3's default
		}
		out[name] = sf.Type
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// suggest names the valid keys at this level, so a typo is a one-look fix.
func suggest(got string, fields map[string]reflect.Type, path string) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	where := "here"
	if path != "" {
		where = "in " + path
	}
	return fmt.Sprintf(" (valid keys %s: %s)", where, strings.Join(names, ", "))
}
