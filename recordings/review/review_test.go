package review

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func loadExample(t *testing.T) []Scorecard {
	t.Helper()
	data, err := os.ReadFile("testdata/scorecards.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cards, err := Parse("scorecards.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return cards
}

func TestParseExample(t *testing.T) {
	cards := loadExample(t)
	if len(cards) != 2 || cards[0].Name != "support-standard" || cards[1].PassMark != 90 {
		t.Fatalf("%+v", cards)
	}
	v, ok := cards[0].Criterion("verify")
	if !ok || !v.Critical || v.Max != 1 || v.Weight != 30 {
		t.Fatalf("verify: %+v", v)
	}
	u, _ := cards[0].Criterion("upsell")
	if !u.AllowNA || u.Max != 5 {
		t.Fatalf("upsell: %+v", u)
	}
	if cards[0].Checksum() == cards[1].Checksum() {
		t.Fatal("checksums collide")
	}
	again := loadExample(t)
	if again[0].Checksum() != cards[0].Checksum() {
		t.Fatal("checksum not stable")
	}
}

func TestParseErrorsArePositioned(t *testing.T) {
	cases := []struct{ src, want string }{
		{"", "f.yaml:1:1: empty file"},
		{"scorecards: {}\n", "f.yaml:1:13: scorecards: expected a list"},
		{"score: 1\n", `f.yaml:1:1: file: unknown key "score"`},
		{"scorecards:\n  - name: a\n    criteria:\n      - id: x\n        weight: 0\n", "f.yaml:5:17: weight: 0 must be greater than 0"},
		{"scorecards:\n  - name: a\n    criteria:\n      - id: x\n        weight: ten\n", `f.yaml:5:17: weight: expected a number, got "ten"`},
		{"scorecards:\n  - name: a\n    criteria:\n      - id: x\n        weight: 1\n        wieght: 2\n", `f.yaml:6:9: criterion: unknown key "wieght"`},
		{"scorecards:\n  - name: a\n    criteria:\n      - {id: x, weight: 1}\n      - {id: x, weight: 1}\n", `f.yaml:5:14: id: "x" used twice`},
		{"scorecards:\n  - name: a\n    criteria: []\n", "f.yaml:3:15: scorecard \"a\": criteria: expected a non-empty list"},
		{"scorecards:\n  - name: A B\n    criteria: [{id: x, weight: 1}]\n", "f.yaml:2:11: name:"},
		{"scorecards:\n  - name: a\n    pass_mark: 120\n    criteria: [{id: x, weight: 1}]\n", "f.yaml:3:16: pass_mark: 120"},
		{"scorecards:\n  - name: a\n    criteria: [{id: x, weight: 1}]\n  - name: a\n    criteria: [{id: x, weight: 1}]\n", `f.yaml:4:5: scorecard "a" defined twice (first at line 2)`},
		{"scorecards:\n  - name: a\n    criteria: [{id: x, weight: 1, critical: yes}]\n", "critical: expected true or false"},
		{"scorecards:\n  - name: a\n    criteria: [{id: x, weight: .nan}]\n", "not a finite number"},
		{"scorecards:\n  - name: a\n", `f.yaml:2:5: scorecard: missing "criteria"`},
		{"scorecards:\n  - name: a\n\tcriteria: x\n", "f.yaml:2:1: found a tab character"},
	}
	for _, c := range cases {
		_, err := Parse("f.yaml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got  %v\n want %q", c.src, err, c.want)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: error does not wrap ErrInvalid", c.src)
		}
		var pe *PosError
		if !errors.As(err, &pe) || pe.Line < 1 {
			t.Errorf("%q: no position in %v", c.src, err)
		}
	}
}

// The hand-worked example (docs/recordings.md, "Scoring"):
//
//	support-standard: greeting w10 max5, verify w30 max1 critical,
//	resolution w40 max10, upsell w20 max5 N/A allowed; pass mark 80.
//
//	A: greeting 4, verify 1, resolution 7, upsell N/A
//	   = (10·4/5 + 30·1 + 40·7/10) / (10+30+40) = (8+30+28)/80 = 66/80 = 82.5 %  pass
//	B: greeting 5, verify 0, resolution 10, upsell 5
//	   raw (10+0+40+20)/100 = 70 %, verify is critical and 0 → 0 %       fail
//	C: greeting 3, verify 1, resolution 9, upsell 2
//	   = (6+30+36+8)/100 = 80 %                                            pass (at the mark)
//	average of A, B, C = (82.5+0+80)/3 = 54.1666… → 54.17
func TestScoreHandWorked(t *testing.T) {
	card := loadExample(t)[0]
	type want struct {
		pct, raw     float64
		passed, crit bool
		upsellEarned float64
		upsellNA     bool
	}
	cases := []struct {
		name  string
		marks []Mark
		w     want
	}{
		{"A", []Mark{{Criterion: "greeting", Score: 4}, {Criterion: "verify", Score: 1}, {Criterion: "resolution", Score: 7}, {Criterion: "upsell", NA: true}},
			want{82.5, 82.5, true, false, 0, true}},
		{"B", []Mark{{Criterion: "greeting", Score: 5}, {Criterion: "verify", Score: 0}, {Criterion: "resolution", Score: 10}, {Criterion: "upsell", Score: 5}},
			want{0, 70, false, true, 20, false}},
		{"C", []Mark{{Criterion: "upsell", Score: 2}, {Criterion: "greeting", Score: 3}, {Criterion: "verify", Score: 1}, {Criterion: "resolution", Score: 9}},
			want{80, 80, true, false, 8, false}},
	}
	var pcts []float64
	for _, c := range cases {
		r, err := Score(card, c.marks)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Percent != c.w.pct || r.Raw != c.w.raw || r.Passed != c.w.passed || r.CriticalFailed != c.w.crit {
			t.Errorf("%s: got %+v, want %+v", c.name, r, c.w)
		}
		if len(r.Lines) != 4 || r.Lines[3].Criterion != "upsell" || r.Lines[3].Earned != c.w.upsellEarned || r.Lines[3].NA != c.w.upsellNA {
			t.Errorf("%s: lines %+v", c.name, r.Lines)
		}
		pcts = append(pcts, r.Percent)
	}
	avg, ok := Average(pcts)
	if !ok || avg != 54.17 {
		t.Fatalf("average %v", avg)
	}
	if _, ok := Average(nil); ok {
		t.Fatal("average of nothing")
	}
}

func TestScoreRejects(t *testing.T) {
	card := loadExample(t)[0]
	full := func(over ...Mark) []Mark {
		m := map[string]Mark{"greeting": {Criterion: "greeting", Score: 1}, "verify": {Criterion: "verify", Score: 1},
			"resolution": {Criterion: "resolution", Score: 1}, "upsell": {Criterion: "upsell", Score: 1}}
		for _, o := range over {
			m[o.Criterion] = o
		}
		var out []Mark
		for _, k := range []string{"greeting", "verify", "resolution", "upsell", "extra"} {
			if v, ok := m[k]; ok {
				out = append(out, v)
			}
		}
		return out
	}
	cases := map[string][]Mark{
		"not marked: [upsell]":   full()[:3],
		"may not be marked N/A":  full(Mark{Criterion: "verify", NA: true}),
		"score 6 is not within":  full(Mark{Criterion: "greeting", Score: 6}),
		"score -1 is not within": full(Mark{Criterion: "greeting", Score: -1}),
		`"extra" is not on`:      full(Mark{Criterion: "extra", Score: 1}),
		"marked twice":           append(full(), Mark{Criterion: "upsell", Score: 2}),
	}
	for want, marks := range cases {
		_, err := Score(card, marks)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrScore) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
	naOnly := Scorecard{Name: "x", Criteria: []Criterion{{ID: "a", Weight: 1, Max: 1, AllowNA: true}}}
	if _, err := Score(naOnly, []Mark{{Criterion: "a", NA: true}}); err == nil || !strings.Contains(err.Error(), "nothing to score") {
		t.Fatalf("all N/A: %v", err)
	}
}
