package storage

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

// planCase is one query the product runs and the indexes it must use.
type planCase struct {
	name string
	sql  string
	args []any
	// use maps each table alias in the query to the indexes it may be read
	// by (any of them); a table read with none of them — or with no index
	// at all — fails.
	use map[string][]string
	// ordered: the list comes out of the index in order, with no sort.
	ordered bool
}

// Every query behind the API's call lists, the controller's restart
// (live calls, today's calls), and the daily and interval reports reads
// its rows by an index — checked with EXPLAIN on both dialects over a
// month of generated calls, and on SQLite both with and without ANALYZE
// statistics (a database nobody has analysed plans differently).
func TestQueriesUseIndexes(t *testing.T) {
	dialects(t, func(t *testing.T, dsn string) {
		s := openMigrated(t, dsn)
		// Enough for the planners to prefer a day's index range over a
		// scan; SQLite (in-process, slow under -race) needs fewer rows.
		n := 30000
		if s.Dialect() == DialectSQLite {
			n = 6000
		}
		if err := seedMonth(context.Background(), s, n, s.Dialect() == DialectMySQL); err != nil {
			t.Fatal(err)
		}
		check := func(t *testing.T) {
			for _, c := range productQueries(s) {
				t.Run(c.name, func(t *testing.T) {
					if s.Dialect() == DialectMySQL {
						checkMySQLPlan(t, s, c)
					} else {
						checkSQLitePlan(t, s, c)
					}
				})
			}
		}
		if s.Dialect() == DialectMySQL {
			check(t)
			return
		}
		t.Run("no statistics", check)
		if err := s.DB().Exec("ANALYZE").Error; err != nil {
			t.Fatal(err)
		}
		t.Run("analyzed", check)
	})
}

func productQueries(s *Store) []planCase {
	day := monthStart.AddDate(0, 0, 14)
	to := day.AddDate(0, 0, 1)
	pk := func(table string) string {
		if s.Dialect() == DialectMySQL {
			return "PRIMARY"
		}
		return "sqlite_autoindex_" + table + "_1"
	}
	list := func(name string, f CallFilter, idx string) planCase {
		q := s.db.ToSQL(func(tx *gorm.DB) *gorm.DB { return callsQuery(tx, f).Find(&[]Call{}) })
		return planCase{name: name, sql: q, use: map[string][]string{"calls": {idx}}, ordered: true}
	}
	cases := []planCase{
		list("calls newest first", CallFilter{}, "idx_calls_arrived"),
		list("calls of a day", CallFilter{From: day, To: to}, "idx_calls_arrived"),
		list("calls of a queue", CallFilter{Queue: "q3", From: day}, "idx_calls_queue_arrived"),
		list("calls of an agent", CallFilter{AgentID: "a17"}, "idx_calls_agent_arrived"),
		list("calls of a caller", CallFilter{Caller: "55517"}, "idx_calls_caller_arrived"),
		list("next page of a queue", CallFilter{Queue: "q3", BeforeAt: day, BeforeID: "m5"}, "idx_calls_queue_arrived"),
		list("today's calls at restart", CallFilter{From: day, Limit: 10000}, "idx_calls_arrived"),
		{name: "live calls at restart", sql: s.db.ToSQL(func(tx *gorm.DB) *gorm.DB { return liveCallsQuery(tx).Find(&[]Call{}) }),
			use: map[string][]string{"calls": {"idx_calls_outcome_arrived"}}, ordered: true},
	}
	o := ReportOptions{}
	_ = o.norm()
	waits := map[string][]string{"w": {"idx_waits_entered", "idx_waits_queue_entered"}, "c": {pk("calls")}, "q": {pk("queues")}}
	q, a := s.queueReportSQL(day, to, o, 0)
	cases = append(cases, planCase{name: "daily queues", sql: q, args: a, use: waits})
	q, a = s.queueReportSQL(day, to, o, 30*time.Minute)
	cases = append(cases, planCase{name: "interval queues", sql: q, args: a, use: waits})
	one := o
	one.Queue = "q3"
	q, a = s.queueReportSQL(day, to, one, 0)
	cases = append(cases, planCase{name: "daily one queue", sql: q, args: a,
		use: map[string][]string{"w": {"idx_waits_queue_entered"}, "c": {pk("calls")}, "q": {pk("queues")}}})
	q, a = agentCallsSQL(day, to, o)
	// SQLite with statistics may skip-scan (outcome, arrived_at) over its
	// few outcomes: the same day's range, read per outcome.
	cases = append(cases, planCase{name: "agents' calls", sql: q, args: a,
		use: map[string][]string{"calls": {"idx_calls_arrived", "idx_calls_outcome_arrived"}}})
	q, a = agentCallsSQL(day, to, one)
	cases = append(cases, planCase{name: "agents' calls in one queue", sql: q, args: a,
		use: map[string][]string{"calls": {"idx_calls_queue_arrived", "idx_calls_arrived"}}})
	q, a = agentSpansSQL(day, to)
	cases = append(cases, planCase{name: "agents' state spans", sql: q, args: a,
		use: map[string][]string{"s": {"idx_agent_states_at", "idx_agent_states_agent_at"}}})
	q, a = s.agentOpeningSQL(day, to)
	states := []string{"idx_agent_states_agent_at", "PRIMARY", "rowid"}
	cases = append(cases, planCase{name: "agents' opening states", sql: q, args: a,
		use: map[string][]string{"agent_state_changes": states, "s": states, "x": states, "y": states, "z": states}})
	return cases
}

// checkSQLitePlan reads EXPLAIN QUERY PLAN: every SCAN or SEARCH of a
// table of the case names one of its indexes, and an ordered list has no
// sort step.
func checkSQLitePlan(t *testing.T, s *Store, c planCase) {
	t.Helper()
	var rows []struct{ Detail string }
	if err := s.DB().Raw("EXPLAIN QUERY PLAN "+c.sql, c.args...).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	var plan []string
	seen := map[string]bool{}
	for _, r := range rows {
		plan = append(plan, r.Detail)
	}
	for _, d := range plan {
		if c.ordered && strings.Contains(d, "TEMP B-TREE FOR ORDER BY") {
			t.Errorf("sorts instead of reading the index in order:\n%s", strings.Join(plan, "\n"))
		}
		f := strings.Fields(d)
		if len(f) < 2 || (f[0] != "SCAN" && f[0] != "SEARCH") {
			continue
		}
		allowed, ok := c.use[f[1]]
		if !ok {
			continue // a CTE or subquery result
		}
		seen[f[1]] = true
		good := false
		for _, idx := range allowed {
			if strings.Contains(d, "INDEX "+idx+" ") || strings.HasSuffix(d, "INDEX "+idx) ||
				(idx == "rowid" && strings.Contains(d, "INTEGER PRIMARY KEY")) {
				good = true
			}
		}
		if !good {
			t.Errorf("%s read without one of %v:\n%s", f[1], allowed, strings.Join(plan, "\n"))
		}
	}
	if len(seen) == 0 {
		t.Errorf("no table of %v in the plan:\n%s", c.use, strings.Join(plan, "\n"))
	}
}

// checkMySQLPlan reads EXPLAIN: every row of a table of the case has one of
// its indexes as key and is no full table scan, and an ordered list has no
// filesort.
func checkMySQLPlan(t *testing.T, s *Store, c planCase) {
	t.Helper()
	var rows []struct {
		Table string
		Type  string
		Key   *string
		Extra string
		Rows  *int64
	}
	if err := s.DB().Raw("EXPLAIN "+c.sql, c.args...).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	var plan []string
	for _, r := range rows {
		key := "-"
		if r.Key != nil {
			key = *r.Key
		}
		plan = append(plan, fmt.Sprintf("%s type=%s key=%s %s", r.Table, r.Type, key, r.Extra))
	}
	seen := 0
	for _, r := range rows {
		if c.ordered && strings.Contains(r.Extra, "filesort") {
			t.Errorf("sorts instead of reading the index in order:\n%s", strings.Join(plan, "\n"))
		}
		allowed, ok := c.use[r.Table]
		if !ok {
			continue
		}
		seen++
		good := false
		for _, idx := range allowed {
			if r.Key != nil && *r.Key == idx {
				good = true
			}
		}
		if !good || r.Type == "ALL" {
			t.Errorf("%s read without one of %v:\n%s", r.Table, allowed, strings.Join(plan, "\n"))
		}
	}
	if seen == 0 {
		t.Errorf("no table of %v in the plan:\n%s", c.use, strings.Join(plan, "\n"))
	}
}
