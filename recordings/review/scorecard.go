// Package review is the quality-review loop over recorded calls:
// scorecards with weighted criteria read from a file, and the scoring of
// one evaluation against a scorecard. It is pure (no I/O besides what the
// caller hands in), so the arithmetic is tested against hand-worked examples.
package review

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Scorecard is one named form supervisors score calls with.
type Scorecard struct {
	Name  string `json:"name"`
	Title string `json:"title,omitempty"`
	// PassMark is the percentage at or above which an evaluation passes.
	PassMark float64     `json:"pass_mark"`
	Criteria []Criterion `json:"criteria"`
	// Version is set by storage when the card is applied (0 = not stored).
	Version int `json:"version,omitempty"`
}

// Criterion is one line of a scorecard.
type Criterion struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	// Weight is the criterion's share of the total (relative, > 0).
	Weight float64 `json:"weight"`
	// Max is the top of the scale; a score is 0…Max (default 1: pass/fail).
	Max float64 `json:"max"`
	// AllowNA lets a reviewer mark the criterion not applicable; it then
	// drops out of both the numerator and the denominator.
	AllowNA bool `json:"allow_na,omitempty"`
	// Critical makes a zero score fail the whole evaluation (0 %), the
	// usual rule for compliance items such as identity verification.
	Critical bool `json:"critical,omitempty"`
}

// Checksum identifies the card's content (name, pass mark, criteria): the
// same content always gives the same checksum, so applying an unchanged
// file creates no new version.
func (s Scorecard) Checksum() string {
	c := s
	c.Version = 0
	b, _ := json.Marshal(c) // plain struct: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Criterion returns the criterion with that id.
func (s Scorecard) Criterion(id string) (Criterion, bool) {
	for _, c := range s.Criteria {
		if c.ID == id {
			return c, true
		}
	}
	return Criterion{}, false
}

// PosError is a scorecard file error with its position.
type PosError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *PosError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// ErrInvalid is wrapped by every file error, for callers that branch.
var ErrInvalid = errors.New("invalid scorecard file")

type fileErr struct{ pe *PosError }

func (f fileErr) Error() string { return f.pe.Error() }
func (f fileErr) Unwrap() []error {
	return []error{ErrInvalid, f.pe}
}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Parse reads a scorecard file:
//
//	scorecards:
//	  - name: support-standard
//	    title: Support call standard
//	    pass_mark: 80
//	    criteria:
//	      - {id: greeting, label: Greeting by script, weight: 10, max: 5, allow_na: false}
//	      - {id: verify, label: Verified identity, weight: 20, critical: true}
//
// Every error names file:line:col; unknown keys are errors; the file is
// accepted whole or not at all.
func Parse(filename string, data []byte) ([]Scorecard, error) {
	p := parser{file: filename}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, p.yamlErr(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, p.at(&doc, "empty file: expected a mapping with 'scorecards'")
	}
	root := doc.Content[0]
	var out []Scorecard
	err := p.mapping(root, "file", map[string]func(k, v *yaml.Node) error{
		"scorecards": func(k, v *yaml.Node) error {
			if v.Kind != yaml.SequenceNode {
				return p.at(v, "scorecards: expected a list")
			}
			seen := map[string]*yaml.Node{}
			for _, item := range v.Content {
				sc, err := p.scorecard(item)
				if err != nil {
					return err
				}
				if prev, dup := seen[sc.Name]; dup {
					return p.at(item, fmt.Sprintf("scorecard %q defined twice (first at line %d)", sc.Name, prev.Line))
				}
				seen[sc.Name] = item
				out = append(out, sc)
			}
			return nil
		},
	}, "scorecards")
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, p.at(root, "no scorecards defined")
	}
	return out, nil
}

type parser struct{ file string }

func (p parser) at(n *yaml.Node, msg string) error {
	return fileErr{&PosError{File: p.file, Line: n.Line, Col: n.Column, Msg: msg}}
}

var (
	yamlLineRE       = regexp.MustCompile(`line (\d+)`)
	yamlLinePrefixRE = regexp.MustCompile(`^line \d+: `)
)

func (p parser) yamlErr(err error) error {
	line := 1
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = yamlLinePrefixRE.ReplaceAllString(msg, "")
	if err.Error() == "EOF" {
		msg = "empty file: expected a mapping with 'scorecards'"
	}
	return fileErr{&PosError{File: p.file, Line: line, Col: 1, Msg: msg}}
}

// mapping walks a mapping node, calling the handler of each key; unknown
// keys, duplicate keys and missing required keys are errors.
func (p parser) mapping(n *yaml.Node, what string, handlers map[string]func(k, v *yaml.Node) error, required ...string) error {
	if n.Kind != yaml.MappingNode {
		return p.at(n, what+": expected a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		h, ok := handlers[k.Value]
		if !ok {
			keys := make([]string, 0, len(handlers))
			for key := range handlers {
				keys = append(keys, key)
			}
			sort.Strings(keys)
			return p.at(k, fmt.Sprintf("%s: unknown key %q (known: %s)", what, k.Value, strings.Join(keys, ", ")))
		}
		if seen[k.Value] {
			return p.at(k, fmt.Sprintf("%s: key %q given twice", what, k.Value))
		}
		seen[k.Value] = true
		if err := h(k, v); err != nil {
			return err
		}
	}
	for _, r := range required {
		if !seen[r] {
			return p.at(n, fmt.Sprintf("%s: missing %q", what, r))
		}
	}
	return nil
}

func (p parser) str(v *yaml.Node, what string, dst *string) error {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return p.at(v, what+": expected a string")
	}
	*dst = v.Value
	return nil
}

func (p parser) num(v *yaml.Node, what string, dst *float64) error {
	if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float") {
		return p.at(v, fmt.Sprintf("%s: expected a number, got %q", what, v.Value))
	}
	f, err := strconv.ParseFloat(v.Value, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return p.at(v, fmt.Sprintf("%s: %q is not a finite number", what, v.Value))
	}
	*dst = f
	return nil
}

func (p parser) boolean(v *yaml.Node, what string, dst *bool) error {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
		return p.at(v, fmt.Sprintf("%s: expected true or false, got %q", what, v.Value))
	}
	*dst = v.Value == "true"
	return nil
}

func (p parser) scorecard(n *yaml.Node) (Scorecard, error) {
	var sc Scorecard
	var critNode *yaml.Node
	pass := -1.0
	err := p.mapping(n, "scorecard", map[string]func(k, v *yaml.Node) error{
		"name": func(k, v *yaml.Node) error {
			if err := p.str(v, "name", &sc.Name); err != nil {
				return err
			}
			if !idRE.MatchString(sc.Name) {
				return p.at(v, fmt.Sprintf("name: %q must be lower-case letters, digits, '-' and '_' (at most 64)", sc.Name))
			}
			return nil
		},
		"title": func(k, v *yaml.Node) error { return p.str(v, "title", &sc.Title) },
		"pass_mark": func(k, v *yaml.Node) error {
			if err := p.num(v, "pass_mark", &pass); err != nil {
				return err
			}
			if pass < 0 || pass > 100 {
				return p.at(v, fmt.Sprintf("pass_mark: %v is not within 0–100", pass))
			}
			return nil
		},
		"criteria": func(k, v *yaml.Node) error { critNode = v; return nil },
	}, "name", "criteria")
	if err != nil {
		return Scorecard{}, err
	}
	sc.PassMark = pass
	if pass < 0 {
		sc.PassMark = 80
	}
	if critNode.Kind != yaml.SequenceNode || len(critNode.Content) == 0 {
		return Scorecard{}, p.at(critNode, fmt.Sprintf("scorecard %q: criteria: expected a non-empty list", sc.Name))
	}
	ids := map[string]int{}
	for _, cn := range critNode.Content {
		c := Criterion{Max: 1}
		what := "criterion"
		err := p.mapping(cn, what, map[string]func(k, v *yaml.Node) error{
			"id": func(k, v *yaml.Node) error {
				if err := p.str(v, "id", &c.ID); err != nil {
					return err
				}
				if !idRE.MatchString(c.ID) {
					return p.at(v, fmt.Sprintf("id: %q must be lower-case letters, digits, '-' and '_'", c.ID))
				}
				if line, dup := ids[c.ID]; dup {
					return p.at(v, fmt.Sprintf("id: %q used twice in scorecard %q (first at line %d)", c.ID, sc.Name, line))
				}
				ids[c.ID] = v.Line
				return nil
			},
			"label": func(k, v *yaml.Node) error { return p.str(v, "label", &c.Label) },
			"weight": func(k, v *yaml.Node) error {
				if err := p.num(v, "weight", &c.Weight); err != nil {
					return err
				}
				if c.Weight <= 0 {
					return p.at(v, fmt.Sprintf("weight: %v must be greater than 0", c.Weight))
				}
				return nil
			},
			"max": func(k, v *yaml.Node) error {
				if err := p.num(v, "max", &c.Max); err != nil {
					return err
				}
				if c.Max <= 0 || c.Max > 1000 {
					return p.at(v, fmt.Sprintf("max: %v must be within (0, 1000]", c.Max))
				}
				return nil
			},
			"allow_na": func(k, v *yaml.Node) error { return p.boolean(v, "allow_na", &c.AllowNA) },
			"critical": func(k, v *yaml.Node) error { return p.boolean(v, "critical", &c.Critical) },
		}, "id", "weight")
		if err != nil {
			return Scorecard{}, err
		}
		if c.Label == "" {
			c.Label = c.ID
		}
		sc.Criteria = append(sc.Criteria, c)
	}
	return sc, nil
}
