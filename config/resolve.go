package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Override is one value set from outside the file: a flag or an
// environment variable. Key is the dotted config key it sets.
type Override struct {
	Key    string
	Value  string
	Source string // "--listen", "SWITCHBOARD_LISTEN"
}

// EnvVar ties an environment variable to the config key it sets.
type EnvVar struct {
	Name string
	Key  string
	Doc  string
}

// EnvVars lists every environment variable serve reads, in the order
// docs/config.md presents them.
var EnvVars = []EnvVar{
	{"SWITCHBOARD_LISTEN", "server.listen", "HTTP listen address"},
	{"SWITCHBOARD_TOKEN", "server.token", "bearer token for write operations"},
	{"SWITCHBOARD_DATABASE", "database.dsn", "database DSN"},
	{"SWITCHBOARD_JOURNAL_DIR", "database.journal_dir", "write-behind journal directory"},
	{"SWITCHBOARD_PBX", "pbx.kind", "sim, asterisk, freeswitch or mixed"},
	{"SWITCHBOARD_ROUTING", "routing.file", "routing file"},
	{"SWITCHBOARD_LOG_LEVEL", "log.level", "debug, info, warn, error"},
	{"SWITCHBOARD_LOG_FORMAT", "log.format", "text or json"},
	{"SWITCHBOARD_ARI_URL", "pbx.asterisk.nodes[0].url", "Asterisk HTTP server (first node)"},
	{"SWITCHBOARD_ARI_USERNAME", "pbx.asterisk.nodes[0].username", "ARI user (first node)"},
	{"SWITCHBOARD_ARI_PASSWORD", "pbx.asterisk.nodes[0].password", "ARI password (first node)"},
	{"SWITCHBOARD_ARI_APP", "pbx.asterisk.nodes[0].app", "Stasis application (first node)"},
	{"SWITCHBOARD_ESL_ADDR", "pbx.freeswitch.addr", "FreeSWITCH event socket host:port"},
	{"SWITCHBOARD_ESL_PASSWORD", "pbx.freeswitch.password", "FreeSWITCH event socket password"},
}

// Sources are everything Resolve merges, lowest precedence first after the
// defaults: the file, the environment, then the flags.
type Sources struct {
	// File is the config file path; empty means none (defaults only).
	File string
	// Getenv looks up environment variables; nil means no environment.
	Getenv func(string) (string, bool)
	// Flags are the command-line values that were set.
	Flags []Override
}

// Resolve builds the effective configuration: defaults, then the file,
// then the environment, then flags. Any mistake is an *Error (wrapping
// ErrInvalid) naming where the bad value came from.
func Resolve(s Sources) (Config, error) {
	cfg := Defaults()
	var file *File
	if s.File != "" {
		c, f, err := LoadFile(s.File, cfg)
		if err != nil {
			return Defaults(), err
		}
		cfg, file = c, f
	}
	var all []Override
	if s.Getenv != nil {
		for _, ev := range EnvVars {
			if v, ok := s.Getenv(ev.Name); ok && v != "" {
				all = append(all, Override{Key: ev.Key, Value: v, Source: "environment " + ev.Name})
			}
		}
	}
	all = append(all, s.Flags...)
	set := map[string]string{} // key -> source of the value in effect
	for _, o := range all {
		if err := apply(&cfg, o); err != nil {
			return Defaults(), err
		}
		set[o.Key] = o.Source
	}
	if err := cfg.Validate(); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			if src, ok := set[fe.Key]; ok {
				return Defaults(), &Error{Source: src, Key: fe.Key, Msg: fe.Msg}
			}
			if file != nil {
				return Defaults(), file.place(err)
			}
			return Defaults(), &Error{Source: "default", Key: fe.Key, Msg: fe.Msg}
		}
		return Defaults(), &Error{Msg: err.Error()}
	}
	return cfg, nil
}

// apply sets one key from a string, decoding it as YAML would so
// durations, numbers and booleans read the same as in the file. Keys are
// dotted field names; "name[N]" indexes a list, growing it when needed
// (SWITCHBOARD_ARI_URL sets pbx.asterisk.nodes[0].url).
func apply(cfg *Config, o Override) error {
	v := reflect.ValueOf(cfg).Elem()
	parts := strings.Split(o.Key, ".")
	for i, p := range parts {
		name, idx, hasIdx, err := splitIndex(p)
		if err != nil {
			return &Error{Source: o.Source, Key: o.Key, Msg: err.Error()}
		}
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return &Error{Source: o.Source, Key: o.Key, Msg: fmt.Sprintf("%q is not a section", strings.Join(parts[:i], "."))}
		}
		f, ok := fieldByYAML(v, name)
		if !ok {
			return &Error{Source: o.Source, Key: o.Key, Msg: "no such config key"}
		}
		v = f
		if hasIdx {
			if v.Kind() != reflect.Slice {
				return &Error{Source: o.Source, Key: o.Key, Msg: fmt.Sprintf("%q is not a list", name)}
			}
			if v.Len() <= idx {
				grown := reflect.MakeSlice(v.Type(), idx+1, idx+1)
				reflect.Copy(grown, v)
				v.Set(grown)
			}
			v = v.Index(idx)
		}
	}
	leaf := &yaml.Node{Kind: yaml.ScalarNode, Value: o.Value}
	if v.Kind() == reflect.String {
		leaf.Tag = "!!str" // "0123" or "yes" stay strings
	}
	nv := reflect.New(v.Type())
	if err := leaf.Decode(nv.Interface()); err != nil {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		if m := yamlLine.FindStringSubmatch(strings.TrimPrefix(msg, "yaml: ")); m != nil {
			msg = m[2]
		}
		return &Error{Source: o.Source, Key: o.Key, Msg: msg}
	}
	v.Set(nv.Elem())
	return nil
}

// splitIndex splits "nodes[0]" into ("nodes", 0, true).
func splitIndex(p string) (string, int, bool, error) {
	open := strings.IndexByte(p, '[')
	if open < 0 {
		return p, 0, false, nil
	}
	if !strings.HasSuffix(p, "]") {
		return "", 0, false, fmt.Errorf("bad key part %q", p)
	}
	n, err := strconv.Atoi(p[open+1 : len(p)-1])
	if err != nil || n < 0 || n > 64 {
		return "", 0, false, fmt.Errorf("bad index in %q", p)
	}
	return p[:open], n, true, nil
}

// fieldByYAML finds the struct field (following ,inline) with yaml name.
func fieldByYAML(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if tag == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct {
				if f, ok := fieldByYAML(fv, name); ok {
					return f, true
				}
			}
			continue
		}
		if tag == "" {
			tag = strings.ToLower(sf.Name)
		}
		if tag == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}
