package stats

import (
	"testing"
	"time"
)

func TestServiceLevelHandWorked(t *testing.T) {
	b := New(time.UTC, 0)
	b.SetQueue("q", 20*time.Second, 0.95)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	// 10 offered: 6 answered (4 within 20 s), 3 abandoned (1 short), 1 overflowed.
	for i := 0; i < 10; i++ {
		b.Offered("q", at)
	}
	for _, w := range []int{5, 10, 20, 15, 21, 60} {
		b.Answered("q", time.Duration(w)*time.Second, at)
	}
	for _, w := range []int{2, 30, 90} {
		b.Abandoned("q", time.Duration(w)*time.Second, at)
	}
	b.Overflowed("q", at)
	q := b.Queues(at)[0]
	sl, ok := q.ServiceLevel()
	// within = 4 (5,10,20,15); denominator = 6 + 3 - 1 = 8.
	if !ok || sl != 0.5 {
		t.Fatalf("service level %v %v, want 0.5", sl, ok)
	}
	if ar := q.AbandonRate(); ar != 3.0/9.0 {
		t.Fatalf("abandon rate %v", ar)
	}
	if asa := q.ASA(); asa != (131*time.Second)/6 {
		t.Fatalf("ASA %v", asa)
	}
	if q.Offered != 10 || q.Overflowed != 1 {
		t.Fatalf("%+v", q)
	}
}

func TestDayRollover(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	b := New(paris, 0)
	b.Answered("q", time.Second, time.Date(2026, 11, 23, 22, 30, 0, 0, time.UTC)) // 23:30 Paris
	if q := b.Queues(time.Date(2026, 11, 23, 22, 59, 0, 0, time.UTC))[0]; q.Answered != 1 {
		t.Fatal("counted on the wrong day")
	}
	// 00:00 Paris is 23:00 UTC: a new day, counters start again.
	if q := b.Queues(time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC))[0]; q.Answered != 0 {
		t.Fatalf("no rollover at local midnight: %+v", q)
	}
	if sl, ok := b.Queues(time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC))[0].ServiceLevel(); sl != 1 || ok {
		t.Fatal("empty day must read 1 and not measured")
	}
}

func TestFormulas(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		f    string
		want float64
	}{
		{"", 2.0 / 4.0},         // 2 within ÷ (3 answered + 2 abandoned − 1 short)
		{"answered", 2.0 / 3.0}, // 2 within ÷ 3 answered
		{"offered", 2.0 / 6.0},  // 2 within ÷ 6 offered (one still waiting)
	} {
		f, err := ParseFormula(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		b := New(time.UTC, 0)
		b.SetFormula(f)
		for i := 0; i < 6; i++ {
			b.Offered("q", at)
		}
		for _, w := range []int{3, 10, 40} {
			b.Answered("q", time.Duration(w)*time.Second, at)
		}
		b.Abandoned("q", time.Second, at)
		b.Abandoned("q", time.Minute, at)
		if sl, ok := b.Queues(at)[0].ServiceLevel(); !ok || sl != tc.want {
			t.Errorf("formula %q: %v, want %v", tc.f, sl, tc.want)
		}
	}
	if _, err := ParseFormula("median"); err == nil {
		t.Fatal("unknown formula accepted")
	}
}

func TestShortAbandonThresholdConfigurable(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	b := New(time.UTC, 10*time.Second)
	b.Answered("q", time.Second, at)
	b.Abandoned("q", 9*time.Second, at)
	if sl, _ := b.Queues(at)[0].ServiceLevel(); sl != 1 {
		t.Fatalf("a 9 s abandon under a 10 s threshold counted: %v", sl)
	}
	b = New(time.UTC, -1) // every abandon counts
	b.Answered("q", time.Second, at)
	b.Abandoned("q", time.Second, at)
	if sl, _ := b.Queues(at)[0].ServiceLevel(); sl != 0.5 {
		t.Fatalf("with no short-abandon rule: %v", sl)
	}
}
