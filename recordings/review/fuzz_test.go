package review

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse: any input gives cards or a positioned error, never a panic,
// and accepted cards always score (every criterion at max gives 100 %).
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/scorecards.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("scorecards:\n  - name: a\n    criteria: [{id: x, weight: 1}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cards, err := Parse("fuzz.yaml", data)
		if err != nil {
			var pe *PosError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("unpositioned error %v", err)
			}
			return
		}
		for _, c := range cards {
			var marks []Mark
			for _, cr := range c.Criteria {
				marks = append(marks, Mark{Criterion: cr.ID, Score: cr.Max})
			}
			r, err := Score(c, marks)
			if err != nil || r.Percent != 100 {
				t.Fatalf("card %s at full marks: %+v %v", c.Name, r, err)
			}
		}
	})
}
