package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestRuleVersionsAppendRollbackAudit(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		if _, err := s.LatestRuleVersion(ctx); !errors.Is(err, ErrNotFound) {
			t.Fatalf("latest on empty: %v", err)
		}
		at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
		v1 := &RuleVersion{Filename: "routing.yaml", Content: "queues: [{name: a}]\n", Author: "alice", Comment: "first", CreatedAt: at}
		if err := s.AddRuleVersion(ctx, v1); err != nil {
			t.Fatal(err)
		}
		v2 := &RuleVersion{Filename: "routing.yaml", Content: "queues: [{name: a}, {name: b}]\n", Author: "bob", Comment: "add b", CreatedAt: at.Add(time.Minute)}
		if err := s.AddRuleVersion(ctx, v2); err != nil {
			t.Fatal(err)
		}
		if v1.Version != 1 || v2.Version != 2 || len(v1.SHA256) != 64 || v1.SHA256 == v2.SHA256 {
			t.Fatalf("versions %+v %+v", v1, v2)
		}
		// Roll back to 1: a new version 3 carrying 1's content.
		old, err := s.GetRuleVersion(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		v3 := &RuleVersion{Filename: old.Filename, Content: old.Content, Author: "carol", Comment: "b broke billing", RollbackOf: 1, CreatedAt: at.Add(2 * time.Minute)}
		if err := s.AddRuleVersion(ctx, v3); err != nil {
			t.Fatal(err)
		}
		latest, err := s.LatestRuleVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if latest.Version != 3 || latest.Content != v1.Content || latest.RollbackOf != 1 || latest.SHA256 != v1.SHA256 || !latest.CreatedAt.Equal(v3.CreatedAt) {
			t.Fatalf("latest %+v", latest)
		}
		list, err := s.RuleVersions(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 || list[0].Version != 3 || list[2].Version != 1 || list[0].Content != "" || list[1].Author != "bob" {
			t.Fatalf("history %+v", list)
		}
		if _, err := s.GetRuleVersion(ctx, 9); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown version: %v", err)
		}
		audit, err := s.Audit(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range audit {
			got = append(got, a.Action+" "+a.Subject+" "+a.Actor)
		}
		want := "[rules.rollback rules version 3 carol rules.apply rules version 2 bob rules.apply rules version 1 alice]"
		if fmt.Sprint(got) != want {
			t.Fatalf("audit %v", got)
		}
		if err := s.AddRuleVersion(ctx, &RuleVersion{Author: "x"}); err == nil {
			t.Fatal("empty content stored")
		}
		if list, _ := s.RuleVersions(ctx, 10); len(list) != 3 {
			t.Fatalf("a rejected version changed the history: %d", len(list))
		}
	})
}

// TestRuleVersionsConcurrentApply: instances applying at once get
// distinct consecutive numbers and one audit line each.
func TestRuleVersionsConcurrentApply(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openMigrated(t, dsn)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = s.AddRuleVersion(ctx, &RuleVersion{Filename: "r.yaml", Content: fmt.Sprintf("# %d\nqueues: [{name: a}]\n", i), Author: fmt.Sprint("op", i)})
			}(i)
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.RuleVersions(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var nums []int
		for _, v := range list {
			nums = append(nums, int(v.Version))
		}
		sort.Ints(nums)
		if fmt.Sprint(nums) != "[1 2 3 4 5 6 7 8]" {
			t.Fatalf("versions %v", nums)
		}
		audit, _ := s.Audit(ctx, 100)
		if len(audit) != n {
			t.Fatalf("%d audit entries for %d versions", len(audit), n)
		}
	})
}
