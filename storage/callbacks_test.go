package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

var cbT0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func newCallback(id string, enq time.Time) *Callback {
	return &Callback{ID: id, Kind: "virtual_hold", Queue: "support", Number: "+3312345678", Priority: 1,
		EnqueuedAt: enq, NotBefore: enq, MaxAttempts: 3, IntervalSeconds: 600, Multiplier: 1, CreatedAt: enq}
}

func TestCallbackLifecycle(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		cb := newCallback("cb1", cbT0)
		if err := s.CreateCallback(ctx, cb); err != nil {
			t.Fatal(err)
		}
		// Not due yet: cannot be claimed.
		if err := s.ClaimCallback(ctx, "cb1", "a", cbT0.Add(-time.Second), time.Minute); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("claim before due: %v", err)
		}
		if err := s.ClaimCallback(ctx, "cb1", "a", cbT0, time.Minute); err != nil {
			t.Fatal(err)
		}
		// Another instance cannot take a live claim; the holder may renew.
		if err := s.ClaimCallback(ctx, "cb1", "b", cbT0.Add(30*time.Second), time.Minute); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("second claim: %v", err)
		}
		if err := s.RenewLease(ctx, "cb1", "a", cbT0.Add(30*time.Second), time.Minute); err != nil {
			t.Fatal(err)
		}
		att, err := s.BeginAttempt(ctx, "cb1", "a", "alice", "", cbT0.Add(31*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if att.Seq != 1 || att.Tag != "cb-cb1-1" {
			t.Fatalf("attempt %+v", att)
		}
		// A dialling callback cannot be cancelled, rescheduled or claimed again.
		if err := s.CancelCallback(ctx, "cb1", "x", cbT0); !errors.Is(err, ErrCallbackState) {
			t.Fatalf("cancel while dialling: %v", err)
		}
		if err := s.RescheduleCallback(ctx, "cb1", cbT0.Add(time.Hour), "", "", nil, cbT0); !errors.Is(err, ErrCallbackState) {
			t.Fatalf("reschedule while dialling: %v", err)
		}
		if err := s.ClaimCallback(ctx, "cb1", "a", cbT0.Add(32*time.Second), time.Minute); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("claim while dialling: %v", err)
		}
		if err := s.AttemptLeg(ctx, att.ID, "pbx1", "chan-1"); err != nil {
			t.Fatal(err)
		}
		next := cbT0.Add(11 * time.Minute)
		if err := s.FinishAttempt(ctx, "cb1", att.ID, "a", AttemptResult{Outcome: "no_answer", Cause: 19, State: CallbackPending, Attempts: 1, NotBefore: next}, cbT0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		// Finishing twice is refused.
		if err := s.FinishAttempt(ctx, "cb1", att.ID, "a", AttemptResult{Outcome: "no_answer", State: CallbackPending, Attempts: 1, NotBefore: next}, cbT0.Add(time.Minute)); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("second finish: %v", err)
		}
		got, err := s.GetCallback(ctx, "cb1")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != CallbackPending || got.Attempts != 1 || !got.NotBefore.Equal(next) || got.ClaimedBy != "" || !got.EnqueuedAt.Equal(cbT0) {
			t.Fatalf("after retry: %+v", got)
		}
		// Second attempt connects.
		if err := s.ClaimCallback(ctx, "cb1", "b", next, time.Minute); err != nil {
			t.Fatal(err)
		}
		att2, err := s.BeginAttempt(ctx, "cb1", "b", "bob", "", next)
		if err != nil || att2.Seq != 2 {
			t.Fatalf("attempt 2: %+v %v", att2, err)
		}
		if err := s.AttemptAnswered(ctx, att2.ID, next.Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		conn := next.Add(8 * time.Second)
		if err := s.FinishAttempt(ctx, "cb1", att2.ID, "b", AttemptResult{Outcome: "connected", State: CallbackCompleted, Attempts: 2, Connected: conn}, conn); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetCallback(ctx, "cb1")
		if got.State != CallbackCompleted || got.ConnectedAt == nil || !got.ConnectedAt.Equal(conn) || got.EndedAt == nil {
			t.Fatalf("completed: %+v", got)
		}
		atts, err := s.CallbackAttempts(ctx, "cb1")
		if err != nil || len(atts) != 2 || atts[0].Outcome != "no_answer" || atts[0].LegID != "chan-1" || atts[1].AnsweredAt == nil {
			t.Fatalf("attempts %+v %v", atts, err)
		}
		if err := s.CancelCallback(ctx, "cb1", "x", conn); !errors.Is(err, ErrCallbackState) {
			t.Fatalf("cancel completed: %v", err)
		}
		st, err := s.CallbackStats(ctx, cbT0.Add(-time.Hour), cbT0.Add(time.Hour))
		if err != nil || len(st) != 1 || st[0].Completed != 1 || st[0].AvgToConnectSeconds != conn.Sub(cbT0).Seconds() {
			t.Fatalf("stats %+v %v", st, err)
		}
		if _, err := s.GetCallback(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
	})
}

func TestCallbackCancelRescheduleAndOrder(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		for i, id := range []string{"late", "early", "vip"} {
			cb := newCallback(id, cbT0.Add(time.Duration(2-i)*time.Minute))
			if id == "vip" {
				cb.Priority = 5
				cb.EnqueuedAt = cbT0.Add(10 * time.Minute)
			}
			if err := s.CreateCallback(ctx, cb); err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.ListCallbacks(ctx, CallbackFilter{States: []string{CallbackPending}})
		if err != nil || len(list) != 3 || list[0].ID != "vip" || list[1].ID != "early" || list[2].ID != "late" {
			t.Fatalf("order %v %v", cbIDs(list), err)
		}
		at := cbT0.Add(24 * time.Hour)
		if err := s.RescheduleCallback(ctx, "late", at, "09:00-18:00", "Europe/Paris", nil, cbT0); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetCallback(ctx, "late")
		if !got.NotBefore.Equal(at) || got.Window != "09:00-18:00" || got.TZ != "Europe/Paris" || got.Kind != "scheduled" {
			t.Fatalf("rescheduled %+v", got)
		}
		if err := s.CancelCallback(ctx, "early", "customer called in", cbT0); err != nil {
			t.Fatal(err)
		}
		if err := s.ClaimCallback(ctx, "early", "a", cbT0.Add(time.Hour), time.Minute); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("claim cancelled: %v", err)
		}
		due, err := s.ClaimDue(ctx, "a", cbT0.Add(time.Hour), time.Minute, 10)
		if err != nil || len(due) != 1 || due[0].ID != "vip" {
			t.Fatalf("due %v %v", cbIDs(due), err)
		}
		if err := s.ReleaseCallback(ctx, "vip", "a", cbT0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseCallback(ctx, "vip", "a", cbT0.Add(time.Hour)); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("second release: %v", err)
		}
	})
}

func cbIDs(cbs []Callback) []string {
	out := make([]string, len(cbs))
	for i, c := range cbs {
		out[i] = c.ID
	}
	return out
}

// TestCallbackClaimRace runs two instances (two Stores on one database)
// with several workers each, all claiming and starting attempts on the same
// due callbacks: every callback gets exactly one started attempt.
func TestCallbackClaimRace(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		a := openMigrated(t, dsn)
		b, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		const n = 40
		for i := 0; i < n; i++ {
			if err := a.CreateCallback(ctx, newCallback(fmt.Sprintf("r%02d", i), cbT0.Add(time.Duration(i)*time.Second))); err != nil {
				t.Fatal(err)
			}
		}
		now := cbT0.Add(time.Hour)
		var mu sync.Mutex
		started := map[string][]string{}
		var wg sync.WaitGroup
		errc := make(chan error, 8)
		for w := 0; w < 8; w++ {
			s, inst := a, "A"
			if w%2 == 1 {
				s, inst = b, "B"
			}
			inst = fmt.Sprintf("%s%d", inst, w)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					won, err := s.ClaimDue(ctx, inst, now, time.Minute, 3)
					if err != nil {
						errc <- err
						return
					}
					if len(won) == 0 {
						return
					}
					for _, cb := range won {
						att, err := s.BeginAttempt(ctx, cb.ID, inst, "", "", now)
						if err != nil {
							errc <- fmt.Errorf("%s won %s but could not start: %w", inst, cb.ID, err)
							return
						}
						mu.Lock()
						started[cb.ID] = append(started[cb.ID], inst)
						mu.Unlock()
						if err := s.FinishAttempt(ctx, cb.ID, att.ID, inst, AttemptResult{Outcome: "connected", State: CallbackCompleted, Attempts: 1, Connected: now}, now); err != nil {
							errc <- err
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		if len(started) != n {
			t.Fatalf("%d callbacks dialled, want %d", len(started), n)
		}
		byInst := map[byte]int{}
		for id, who := range started {
			if len(who) != 1 {
				t.Fatalf("callback %s dialled by %v", id, who)
			}
			byInst[who[0][0]]++
			atts, _ := a.CallbackAttempts(ctx, id)
			if len(atts) != 1 {
				t.Fatalf("callback %s has %d attempts", id, len(atts))
			}
		}
		t.Logf("claims: %v", byInst)
	})
}

// TestCallbackCrashWhileDialling: instance A starts an attempt and stops
// (its lease lapses). The callback is not due for a plain claim — nothing
// may redial it blindly — and B takes it over only through
// TakeOverInterrupted, with the unfinished attempt to settle.
func TestCallbackCrashWhileDialling(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		if err := s.CreateCallback(ctx, newCallback("c1", cbT0)); err != nil {
			t.Fatal(err)
		}
		if err := s.ClaimCallback(ctx, "c1", "A", cbT0, time.Minute); err != nil {
			t.Fatal(err)
		}
		att, err := s.BeginAttempt(ctx, "c1", "A", "alice", "", cbT0)
		if err != nil {
			t.Fatal(err)
		}
		// A crashes here. Lease still live: B cannot take over.
		later := cbT0.Add(30 * time.Second)
		cbs, _, err := s.TakeOverInterrupted(ctx, "B", later, time.Minute)
		if err != nil || len(cbs) != 0 {
			t.Fatalf("take over under live lease: %v %v", cbIDs(cbs), err)
		}
		later = cbT0.Add(2 * time.Minute)
		if due, err := s.ClaimDue(ctx, "B", later, time.Minute, 10); err != nil || len(due) != 0 {
			t.Fatalf("dialling callback offered for a plain claim: %v %v", cbIDs(due), err)
		}
		if err := s.ClaimCallback(ctx, "c1", "B", later, time.Minute); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("plain claim of an interrupted dial: %v", err)
		}
		cbs, atts, err := s.TakeOverInterrupted(ctx, "B", later, time.Minute)
		if err != nil || len(cbs) != 1 || atts[0].ID != att.ID || atts[0].Outcome != "" {
			t.Fatalf("take over: %v %+v %v", cbIDs(cbs), atts, err)
		}
		// A second taker finds nothing.
		if cbs2, _, _ := s.TakeOverInterrupted(ctx, "C", later, time.Minute); len(cbs2) != 0 {
			t.Fatalf("taken over twice: %v", cbIDs(cbs2))
		}
		// A comes back late: its finish is refused.
		if err := s.FinishAttempt(ctx, "c1", att.ID, "A", AttemptResult{Outcome: "no_answer", State: CallbackPending, Attempts: 1, NotBefore: later}, later); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("stale owner finished: %v", err)
		}
		next := cbT0.Add(10 * time.Minute)
		if err := s.FinishAttempt(ctx, "c1", att.ID, "B", AttemptResult{Outcome: "interrupted", State: CallbackPending, Attempts: 1, NotBefore: next}, later); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetCallback(ctx, "c1")
		if got.State != CallbackPending || got.Attempts != 1 || !got.NotBefore.Equal(next) {
			t.Fatalf("after settle %+v", got)
		}
		if due, _ := s.ClaimDue(ctx, "B", next.Add(-time.Second), time.Minute, 10); len(due) != 0 {
			t.Fatal("redialled before the retry interval")
		}
	})
}

// TestCallbackLapsedClaim: a claim (no attempt yet) whose holder vanished
// is free again after the lease; the old holder can then not start an
// attempt on it.
func TestCallbackLapsedClaim(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		if err := s.CreateCallback(ctx, newCallback("l1", cbT0)); err != nil {
			t.Fatal(err)
		}
		if err := s.ClaimCallback(ctx, "l1", "A", cbT0, time.Minute); err != nil {
			t.Fatal(err)
		}
		later := cbT0.Add(2 * time.Minute)
		due, err := s.ClaimDue(ctx, "B", later, time.Minute, 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("lapsed claim not reclaimed: %v %v", cbIDs(due), err)
		}
		if _, err := s.BeginAttempt(ctx, "l1", "A", "", "", later); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("old holder started an attempt: %v", err)
		}
		if err := s.RenewLease(ctx, "l1", "A", later, time.Minute); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("old holder renewed: %v", err)
		}
		// The new holder's lease lapses too before it begins: refused.
		if _, err := s.BeginAttempt(ctx, "l1", "B", "", "", later.Add(2*time.Minute)); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("begin under a lapsed lease: %v", err)
		}
	})
}

// TestCallbackOfferStats: offers and acceptances are counted per queue
// from the database, within the period, and an acceptance marks the
// latest open offer to that call only.
func TestCallbackOfferStats(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		for i, o := range []struct {
			queue, call string
			at          time.Duration
		}{
			{"billing", "c1", 0}, {"billing", "c2", time.Minute}, {"billing", "c2", 2 * time.Minute},
			{"support", "c3", 3 * time.Minute}, {"support", "old", -2 * time.Hour},
		} {
			if err := s.RecordCallbackOffer(ctx, o.queue, o.call, cbT0.Add(o.at)); err != nil {
				t.Fatalf("offer %d: %v", i, err)
			}
		}
		if err := s.CallbackOfferAccepted(ctx, "c2", "cb-9", cbT0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.CallbackOfferAccepted(ctx, "never-offered", "cb-10", cbT0); err != nil {
			t.Fatalf("accept without an offer: %v", err)
		}
		if err := s.CreateCallback(ctx, &Callback{ID: "cb-9", Queue: "billing", EnqueuedAt: cbT0, NotBefore: cbT0, CreatedAt: cbT0.Add(2 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		st, err := s.CallbackStats(ctx, cbT0.Add(-time.Hour), cbT0.Add(time.Hour))
		if err != nil || len(st) != 2 {
			t.Fatalf("stats %+v %v", st, err)
		}
		if b := st[0]; b.Queue != "billing" || b.Offered != 3 || b.Accepted != 1 || b.Requested != 1 || b.Waiting != 1 {
			t.Fatalf("billing %+v", b)
		}
		if sp := st[1]; sp.Queue != "support" || sp.Offered != 1 || sp.Accepted != 0 || sp.Requested != 0 {
			t.Fatalf("support %+v (the offer two hours before is outside the period)", sp)
		}
	})
}
