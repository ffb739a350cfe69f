package callbacks

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
)

// BenchmarkWindowNext: the next eligible time of a weekday window crossing
// midnight in a DST zone, the hot part of dispatching due callbacks.
func BenchmarkWindowNext(b *testing.B) {
	w, err := ParseWindow("mon-fri 22:00-06:00", "Europe/Paris")
	if err != nil {
		b.Fatal(err)
	}
	t := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w.Next(t.Add(time.Duration(i%10080) * time.Minute))
	}
}

// BenchmarkClaimBeginFinish: one callback's durable path on SQLite —
// claim, attempt row, outcome — per iteration.
func BenchmarkClaimBeginFinish(b *testing.B) {
	ctx := context.Background()
	st, err := storage.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("b%09d", i)
		if err := st.CreateCallback(ctx, &storage.Callback{ID: id, Queue: "q", Number: "1", EnqueuedAt: t0, NotBefore: t0, MaxAttempts: 3, IntervalSeconds: 600, Multiplier: 1, CreatedAt: t0}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("b%09d", i)
		if err := st.ClaimCallback(ctx, id, "bench", t0, time.Minute); err != nil {
			b.Fatal(err)
		}
		att, err := st.BeginAttempt(ctx, id, "bench", "", "", t0)
		if err != nil {
			b.Fatal(err)
		}
		if err := st.FinishAttempt(ctx, id, att.ID, "bench", storage.AttemptResult{Outcome: "connected", State: storage.CallbackCompleted, Attempts: 1, Connected: t0}, t0); err != nil {
			b.Fatal(err)
		}
	}
}
