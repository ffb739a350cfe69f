package config

import (
	"errors"
	"fmt"
	"reflect"
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
	{"SWITCHBOARD_PBX", "pbx.kind", "sim, asterisk or freeswitch"},
	{"SWITCHBOARD_ROUTING", "routing.file", "routing file"},
	{"SWITCHBOARD_LOG_LEVEL", "log.level", "debug, info, warn, error"},
	{"SWITCHBOARD_LOG_FORMAT", "log.format", "text or json"},
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

// apply sets one dotted key from a string, decoding it as YAML would so
// durations, numbers and booleans read the same as in the file.
func apply(cfg *Config, o Override) error {
	parts := strings.Split(o.Key, ".")
	t := reflect.TypeOf(*cfg)
	for i, p := range parts {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return &Error{Source: o.Source, Key: o.Key, Msg: fmt.Sprintf("%q is not a section", strings.Join(parts[:i], "."))}
		}
		ft, ok := yamlFields(t)[p]
		if !ok {
			return &Error{Source: o.Source, Key: o.Key, Msg: "no such config key"}
		}
		t = ft
	}
	leaf := &yaml.Node{Kind: yaml.ScalarNode, Value: o.Value}
	if t.Kind() == reflect.String {
		leaf.Tag = "!!str" // "0123" or "yes" stay strings
	}
	f := &File{Name: o.Source, keys: map[string]*yaml.Node{}}
	if err := f.leaf(leaf, t, o.Key); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			return &Error{Source: o.Source, Key: o.Key, Msg: ce.Msg}
		}
		return err
	}
	node := leaf
	for i := len(parts) - 1; i >= 0; i-- {
		node = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: parts[i]}, node,
		}}
	}
	if err := node.Decode(cfg); err != nil {
		return &Error{Source: o.Source, Key: o.Key, Msg: err.Error()}
	}
	return nil
}
