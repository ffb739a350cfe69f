package storage

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// explain returns the plan of the statement a search runs, one line per
// table access: SQLite's EXPLAIN QUERY PLAN details, or MariaDB's EXPLAIN
// rows as "table type key extra".
func explain(t testing.TB, s *Store, f RecordingFilter, rangeRows int) []string {
	t.Helper()
	sql := s.DB().ToSQL(func(tx *gorm.DB) *gorm.DB {
		var out []Recording
		plan, err := s.searchPlan(context.Background(), f, rangeRows)
		if err != nil {
			t.Fatal(err)
		}
		return searchQuery(tx, f, 101, plan).Find(&out)
	})
	var lines []string
	if s.Dialect() == DialectMySQL {
		rows, err := s.DB().Raw("EXPLAIN " + sql).Rows()
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", sql, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			m := map[string]string{}
			for i, c := range cols {
				if b, ok := vals[i].([]byte); ok {
					m[c] = string(b)
				} else if vals[i] != nil {
					m[c] = fmt.Sprint(vals[i])
				}
			}
			lines = append(lines, fmt.Sprintf("%s type=%s key=%s rows=%s extra=%s", m["table"], m["type"], m["key"], m["rows"], m["Extra"]))
		}
		return lines
	}
	rows, err := s.DB().Raw("EXPLAIN QUERY PLAN " + sql).Rows()
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN %s: %v", sql, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	return lines
}

// planSpec is what a search shape's plan must look like: the table is
// read through one of these indexes, and sorts only where allowed (a rare
// range read through its own index, one call's recordings).
type planSpec struct {
	index []string
	sorts bool
}

var searchPlans = map[string]planSpec{
	"latest":            {[]string{"idx_rec_started"}, false},
	"day":               {[]string{"idx_rec_started"}, false},
	"agent":             {[]string{"idx_rec_agent_started"}, false},
	"queue":             {[]string{"idx_rec_queue_started"}, false},
	"caller":            {[]string{"idx_rec_caller_started"}, false},
	"call":              {[]string{"idx_rec_call"}, true},
	"node":              {[]string{"idx_rec_node_started"}, false},
	"tag-common":        {[]string{"idx_rec_tags_tag_started"}, false},
	"tag-rare":          {[]string{"idx_rec_tags_tag_started"}, false},
	"min-score":         {[]string{"idx_rec_score"}, true},
	"score-range":       {[]string{"idx_rec_score"}, true},
	"long":              {[]string{"idx_rec_duration"}, true},
	"duration-range":    {[]string{"idx_rec_started"}, false}, // a quarter of the table: time order, never a sort
	"failed":            {[]string{"idx_rec_status_started"}, false},
	"exemplary":         {[]string{"idx_rec_exemplary_started"}, false},
	"held":              {[]string{"idx_rec_hold_started"}, false},
	"agent+week":        {[]string{"idx_rec_agent_started"}, false},
	"queue+failed+week": {[]string{"idx_rec_status_started", "idx_rec_queue_started"}, false},
	"queue+long":        {[]string{"idx_rec_duration"}, true},
	"queue+min-score":   {[]string{"idx_rec_score"}, true},
	"tag+week":          {[]string{"idx_rec_tags_tag_started"}, false},
	"agent+tag":         {[]string{"idx_rec_tags_tag_started", "idx_rec_agent_started"}, true}, // an agent's calls: a few thousand at most
	"caller+week":       {[]string{"idx_rec_caller_started"}, false},
}

// TestSearchPlansUseIndexes checks, with EXPLAIN on both dialects, that
// every search shape the API makes reads the table through the index meant
// for it, in time order (no sort) where the index gives the order, first
// page and deep page alike. SQLite runs without ANALYZE statistics, as
// switchboard's own database does; MariaDB with the statistics InnoDB keeps
// by itself (refreshed here after the bulk load, as its background
// recalculation would). On 6,000 rows, with the rare-range bound scaled
// down to 500 (the test runs in seconds, also under -race), the duration
// range is a common one (1,500 matches) and "calls over an hour" a rare
// one (6), as 250,000 and 1,000 are on a million rows.
func TestSearchPlansUseIndexes(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		s := openMigrated(t, dsn)
		mysql := s.Dialect() == DialectMySQL
		const n, rangeRows = 6000, 500
		if err := seedRecordings(context.Background(), s, n, mysql); err != nil {
			t.Fatal(err)
		}
		cursor := encodeCursor(Recording{StartedAt: recYearStart.AddDate(0, 0, 300), ID: "rec-5"})
		seen := map[string]bool{}
		for _, sh := range searchShapes(n) {
			spec, ok := searchPlans[sh.name]
			if !ok {
				t.Errorf("shape %s has no expected plan", sh.name)
				continue
			}
			seen[sh.name] = true
			for _, deep := range []bool{false, true} {
				f := sh.f
				if deep {
					f.Cursor = cursor
				}
				lines := explain(t, s, f, rangeRows)
				plan := strings.Join(lines, " | ")
				used, sorted, fullScan := "", false, false
				for _, l := range lines {
					if mysql {
						fields := map[string]string{}
						for _, kv := range strings.Fields(strings.SplitN(l, " extra=", 2)[0])[1:] {
							k, v, _ := strings.Cut(kv, "=")
							fields[k] = v
						}
						if fields["type"] == "ALL" {
							fullScan = true
						}
						for _, ix := range spec.index {
							if fields["key"] == ix {
								used = ix
							}
						}
						sorted = sorted || strings.Contains(l, "Using filesort")
						continue
					}
					if strings.HasPrefix(l, "SCAN ") && !strings.Contains(l, " USING ") {
						fullScan = true
					}
					for _, ix := range spec.index {
						if strings.Contains(l, " INDEX "+ix+" ") || strings.HasSuffix(l, " INDEX "+ix) {
							used = ix
						}
					}
					sorted = sorted || strings.Contains(l, "USE TEMP B-TREE FOR ORDER BY")
				}
				switch {
				case fullScan:
					t.Errorf("%s (deep=%v) scans the table: %s", sh.name, deep, plan)
				case used == "":
					t.Errorf("%s (deep=%v) does not use %v: %s", sh.name, deep, spec.index, plan)
				case sorted && !spec.sorts:
					t.Errorf("%s (deep=%v) sorts instead of reading %s in order: %s", sh.name, deep, used, plan)
				}
			}
		}
		for name := range searchPlans {
			if !seen[name] {
				t.Errorf("expected plan for unknown shape %s", name)
			}
		}
		searchMatchesBruteForce(t, s, n, rangeRows)
	})
}

// searchMatchesBruteForce pages through every shape (500 a page) and
// compares the whole result with the filter applied in Go to every row:
// the plan chosen (range index or time order, tag join) never changes
// what a search finds, nor the order, and the cursor neither skips nor
// repeats a row.
func searchMatchesBruteForce(t *testing.T, s *Store, n, rangeRows int) {
	ctx := context.Background()
	var all []Recording
	if err := s.DB().Order("started_at DESC, id DESC").Find(&all).Error; err != nil {
		t.Fatal(err)
	}
	var tags []RecordingTag
	if err := s.DB().Find(&tags).Error; err != nil {
		t.Fatal(err)
	}
	tagged := map[string]map[string]bool{}
	for _, tg := range tags {
		if tagged[tg.Tag] == nil {
			tagged[tg.Tag] = map[string]bool{}
		}
		tagged[tg.Tag][tg.RecordingID] = true
	}
	match := func(r Recording, f RecordingFilter) bool {
		st := r.StartedAt
		switch {
		case !f.From.IsZero() && st.Before(f.From), !f.To.IsZero() && !st.Before(f.To),
			f.AgentID != "" && r.AgentID != f.AgentID, f.Queue != "" && r.Queue != f.Queue,
			f.Caller != "" && r.CallerNumber != f.Caller, f.CallID != "" && r.CallID != f.CallID,
			f.Node != "" && r.Node != f.Node, f.Status != "" && r.Status != f.Status,
			f.Tag != "" && !tagged[f.Tag][r.ID],
			f.MinScore != nil && (r.Score == nil || *r.Score < *f.MinScore),
			f.MaxScore != nil && (r.Score == nil || *r.Score > *f.MaxScore),
			f.MinDuration > 0 && r.DurationMS < f.MinDuration.Milliseconds(),
			f.MaxDuration > 0 && r.DurationMS > f.MaxDuration.Milliseconds(),
			f.Exemplary && !r.Exemplary, f.LegalHold != nil && r.LegalHold != *f.LegalHold:
			return false
		}
		return true
	}
	for _, sh := range searchShapes(n) {
		var want []string
		for _, r := range all {
			if match(r, sh.f) {
				want = append(want, r.ID)
			}
		}
		var got []string
		f := sh.f
		f.Limit = 500
		for pages := 0; ; pages++ {
			out, next, err := s.searchRecordings(ctx, f, rangeRows)
			if err != nil {
				t.Fatalf("%s: %v", sh.name, err)
			}
			for _, r := range out {
				got = append(got, r.ID)
			}
			if next == "" || pages > len(all)/500+1 {
				break
			}
			f.Cursor = next
		}
		if len(want) == 0 {
			t.Errorf("%s: the seeded rows hold no match; the shape tests nothing", sh.name)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: found %d recordings, want %d (first difference at %d)", sh.name, len(got), len(want), firstDiff(got, want))
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
