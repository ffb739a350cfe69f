package review

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrScore is wrapped by every error about an evaluation's scores.
var ErrScore = errors.New("invalid evaluation")

// Mark is a reviewer's mark for one criterion: a score, or not applicable.
type Mark struct {
	Criterion string  `json:"criterion"`
	Score     float64 `json:"score"`
	NA        bool    `json:"na,omitempty"`
}

// Line is one criterion's part of a result.
type Line struct {
	Criterion string  `json:"criterion"`
	Score     float64 `json:"score"`
	Max       float64 `json:"max"`
	Weight    float64 `json:"weight"`
	NA        bool    `json:"na,omitempty"`
	// Earned is weight × score/max (0 for N/A).
	Earned float64 `json:"earned"`
}

// Result is one scored evaluation.
type Result struct {
	// Percent is Σ weight·score/max ÷ Σ weight over the criteria that
	// apply, × 100; 0 when a critical criterion scored 0.
	Percent float64 `json:"percent"`
	// Raw is the percentage before the critical rule.
	Raw            float64 `json:"raw"`
	CriticalFailed bool    `json:"critical_failed,omitempty"`
	Passed         bool    `json:"passed"`
	Lines          []Line  `json:"lines"`
}

// Score checks the marks against the card and computes the result. Every
// criterion must be marked exactly once; N/A only where the card allows
// it; a score lies in 0…max; at least one criterion must apply.
func Score(card Scorecard, marks []Mark) (Result, error) {
	byID := make(map[string]Mark, len(marks))
	for _, m := range marks {
		c, ok := card.Criterion(m.Criterion)
		if !ok {
			return Result{}, fmt.Errorf("%w: criterion %q is not on scorecard %q", ErrScore, m.Criterion, card.Name)
		}
		if _, dup := byID[m.Criterion]; dup {
			return Result{}, fmt.Errorf("%w: criterion %q marked twice", ErrScore, m.Criterion)
		}
		if m.NA {
			if !c.AllowNA {
				return Result{}, fmt.Errorf("%w: criterion %q may not be marked N/A", ErrScore, m.Criterion)
			}
		} else if math.IsNaN(m.Score) || m.Score < 0 || m.Score > c.Max {
			return Result{}, fmt.Errorf("%w: criterion %q: score %v is not within 0–%v", ErrScore, m.Criterion, m.Score, c.Max)
		}
		byID[m.Criterion] = m
	}
	var missing []string
	for _, c := range card.Criteria {
		if _, ok := byID[c.ID]; !ok {
			missing = append(missing, c.ID)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Result{}, fmt.Errorf("%w: criteria not marked: %v", ErrScore, missing)
	}
	var r Result
	var earned, possible float64
	for _, c := range card.Criteria {
		m := byID[c.ID]
		l := Line{Criterion: c.ID, Max: c.Max, Weight: c.Weight, NA: m.NA}
		if !m.NA {
			l.Score = m.Score
			l.Earned = c.Weight * m.Score / c.Max
			earned += l.Earned
			possible += c.Weight
			if c.Critical && m.Score == 0 {
				r.CriticalFailed = true
			}
		}
		r.Lines = append(r.Lines, l)
	}
	if possible == 0 {
		return Result{}, fmt.Errorf("%w: every criterion marked N/A: nothing to score", ErrScore)
	}
	r.Raw = round2(earned / possible * 100)
	r.Percent = r.Raw
	if r.CriticalFailed {
		r.Percent = 0
	}
	r.Passed = r.Percent >= card.PassMark
	return r, nil
}

// round2 rounds to two decimals, the precision stored and shown.
func round2(f float64) float64 { return math.Round(f*100) / 100 }

// Average is the mean of evaluation percentages (each evaluation counts
// once, whatever its scorecard), rounded to two decimals; ok is false for
// no evaluations.
func Average(percents []float64) (avg float64, ok bool) {
	if len(percents) == 0 {
		return 0, false
	}
	var s float64
	for _, p := range percents {
		s += p
	}
	return round2(s / float64(len(percents))), true
}
