package routing

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestRulesLimits: a file past one of the limits is refused with an
// error saying which, at its line — the API validates whatever file a
// caller sends, and the controller's loop evaluates every expression.
func TestRulesLimits(t *testing.T) {
	queues := func(n int) string {
		var b strings.Builder
		b.WriteString("queues:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "  - {name: q%d}\n", i)
		}
		return b.String()
	}
	steps := func(n int) string {
		var b strings.Builder
		b.WriteString("queues:\n  - name: a\n    steps:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "      - {after: %ds}\n", i)
		}
		return b.String()
	}
	entries := func(n int) string {
		var b strings.Builder
		b.WriteString("queues: [{name: a}]\nentry:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "  - {name: r%d, dialed: [\"%d\"], queue: a}\n", i, i)
		}
		return b.String()
	}
	for _, tc := range []struct{ name, src, want string }{
		{"file size", "queues: [{name: a}]\n#" + strings.Repeat("x", MaxRulesBytes), "r.yaml:1:1: routing file is"},
		{"queues", queues(MaxQueues + 1), fmt.Sprintf("r.yaml:2:3: %d queues; at most %d", MaxQueues+1, MaxQueues)},
		{"steps", steps(MaxStepsPerQueue + 1), fmt.Sprintf(`r.yaml:4:7: %d steps in queue "a"; at most %d`, MaxStepsPerQueue+1, MaxStepsPerQueue)},
		{"entry rules", entries(MaxEntryRules + 1), fmt.Sprintf("%d entry rules; at most %d", MaxEntryRules+1, MaxEntryRules)},
		{"ranges a day", "calendars:\n  c: {hours: {mon: \"" + strings.Repeat("08:00-09:00,", maxRangesPerDay) + "10:00-11:00\"}}\nqueues: [{name: a}]\n", "ranges; at most 48 a day"},
		{"ranges a day, several specs", "calendars:\n  c: {hours: {mon: \"" + strings.Repeat("08:00-09:00,", maxRangesPerDay-1) + "10:00-11:00\", daily: \"12:00-13:00\"}}\nqueues: [{name: a}]\n", "more than 48 ranges on mon"},
		{"priority", "queues: [{name: a}]\nentry:\n  - {queue: a, priority: 5000}\n", `entry rule "entry 1": priority 5000 is outside -1000..1000`},
		{"boost", "queues: [{name: a}]\nboosts:\n  - {name: b, add: -2000}\n", `boost "b": add -2000 is outside`},
		{"priority_step", "queues:\n  - {name: a, priority_step: 48h}\n", "longer than 24h0m0s"},
		{"max_wait", "queues:\n  - {name: a, max_wait: 25h, on_exit: {action: hangup}}\n", `max_wait "25h" is longer than 24h0m0s`},
		{"offer_timeout", "queues:\n  - {name: a, offer_timeout: 10ms}\n", "offer_timeout 10ms is outside 1s..1h0m0s"},
		{"announce_every", "queues:\n  - {name: a, announce_every: 1ns}\n", "announce_every 1ns is outside 5s..1h0m0s"},
		{"max_misses", "queues:\n  - {name: a, max_misses: -1}\n", `max_misses -1 is outside 0..1000`},
		{"max_length", "queues:\n  - {name: a, max_length: -3}\n", "max_length -3 is negative"},
		{"expression length", "queues: [{name: a}]\nentry:\n  - {queue: a, when: '" + strings.Repeat("!", MaxExprLength) + "true'}\n", "expression is 2004 bytes long; at most 2000"},
		{"expression nodes", "queues: [{name: a}]\nentry:\n  - {queue: a, when: 'true" + strings.Repeat("||true", 300) + "'}\n", "maximum allowed nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseRules("r.yaml", []byte(tc.src))
			if err == nil || cfg != nil {
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %.300q does not contain %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatal("not ErrInvalid")
			}
		})
	}
}

// TestRulesErrorsAreCapped: a file of many mistakes lists the first
// maxErrors and counts the rest (the type-error positions are found with
// one walk of the file, not one per error: 20,000 bad values used to take
// half a minute — BenchmarkParseRulesWorstCases/type-errors).
func TestRulesErrorsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("queues:\n")
	for i := 0; i < 5000; i++ {
		b.WriteString("  - {name: x, max_length: lots}\n")
	}
	_, err := ParseRules("r.yaml", []byte(b.String()))
	var re RulesErrors
	if !errors.As(err, &re) || len(re) != maxErrors+1 {
		t.Fatalf("%d errors, want %d and a count", len(re), maxErrors)
	}
	if re[0].Pos.String() != "r.yaml:2:27" || re[maxErrors-1].Pos.Line != maxErrors+1 {
		t.Fatalf("positions %v … %v", re[0].Pos, re[maxErrors-1].Pos)
	}
	if last := re[maxErrors].Msg; last != "… and 4800 more errors (only the first 200 are listed)" {
		t.Fatalf("last %q", last)
	}
}

// TestOverflowCycleInALongChain: the cycle check walks each queue once
// and still finds a cycle at the end of thousands of queues, reported
// once with a shortened path.
func TestOverflowCycleInALongChain(t *testing.T) {
	var b strings.Builder
	b.WriteString("queues:\n")
	const n = 3000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {name: q%d, steps: [{after: 1s, overflow_to: q%d}]}\n", i, (i+1)%n)
	}
	_, err := ParseRules("r.yaml", []byte(b.String()))
	var re RulesErrors
	if !errors.As(err, &re) || len(re) != 1 {
		t.Fatalf("want one error, got %v", err)
	}
	if want := "r.yaml:2:5: overflow cycle: q0 → q1 → q2 → q3 → q4 → q5 → … → q2996 → q2997 → q2998 → q2999 → q0"; re[0].Error() != want {
		t.Fatalf("%s\nwant %s", re[0], want)
	}
}

// TestExpressionRestrictions: what a routing expression may not do —
// read the wall clock, loop, declare variables, build large values — is
// refused at load; ordinary conditions pass.
func TestExpressionRestrictions(t *testing.T) {
	file := func(when string) string {
		return "calendars:\n  office: {hours: {daily: \"08:00-18:00\"}}\nqueues: [{name: a}]\nentry:\n  - {queue: a, when: '" + when + "'}\n"
	}
	for _, tc := range []struct{ when, want string }{
		{`now().Hour() > 8`, "function now is not allowed"},
		{`date("2026-01-01") != nil`, "function date is not allowed"},
		{`reduce(1..25, #acc + #acc, "ab") == caller`, "function reduce is not allowed"},
		{`all(1..1000, all(1..1000, true))`, "function all is not allowed"},
		{`len(repeat(caller, 1000)) > 1`, "function repeat is not allowed"},
		{`len(replace(caller, "1", caller)) > 1`, "function replace is not allowed"},
		{`len(toJSON(vars)) > 1`, "function toJSON is not allowed"},
		{`let a = caller + caller; len(a) > 1`, "let is not allowed"},
		{`hour in 0..100000`, "range 0..100000 spans 100000 values; at most 1000"},
		{`hour in 0..len(caller)`, "a range needs constant whole-number bounds"},
		{`open("ofice")`, `open("ofice"): no calendar of that name (calendars: office)`},
		{`dialed > 3`, "invalid operation"},
		{`caller matches vars.PATTERN`, "matches needs a constant pattern"},
		{`caller matches ("^" + dialed)`, "matches needs a constant pattern"},
		{`caller matches "[a-z]{1000}"`, `pattern "[a-z]{1000}" compiles to 1002 instructions; at most 1000`},
	} {
		t.Run(tc.when, func(t *testing.T) {
			_, err := ParseRules("r.yaml", []byte(file(tc.when)))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "r.yaml:5:22:") {
				t.Fatalf("error %v, want %q at r.yaml:5:22", err, tc.want)
			}
		})
	}
	for _, when := range []string{
		`hour in 9..17 && weekday in ["mon", "tue"]`,
		`-5..5 == -5..5 || true`,
		`caller startsWith "+33" || caller matches "^\\+1[0-9]{10}$"`,
		`"gold" in split(customer.tags, ",")`,
		`lower(trim(customer.tier)) == "platinum" && len(caller) > 5`,
		`open("office") && int(vars.CALLS ?? "0") < 3`,
		`max(hour, 3) == hour && hasPrefix(dialed, "08")`,
	} {
		if _, err := ParseRules("r.yaml", []byte(file(when))); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
	// Agent expressions have the same limits.
	src := "queues:\n  - name: a\n    steps: [{after: 0s, agent: 'any(keys(agent.skills), # == \"x\")'}]\n"
	if _, err := ParseRules("r.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), "function any is not allowed") {
		t.Fatalf("agent expression: %v", err)
	}
}

// TestValidateFindsWhatCanNeverHappen: the validator's reasoning errors,
// each at its line.
func TestValidateFindsWhatCanNeverHappen(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"step after an overflow step", "queues:\n  - name: a\n    steps:\n      - {after: 1m, overflow_to: b}\n      - {after: 2m, require: {x: 1}}\n  - name: b\n",
			`r.yaml:5:17: queue "a": step 2 (after 2m0s) can never be reached: step 1 overflows the call to "b" first`},
		{"entry requirement replaced at once", "queues:\n  - name: a\n    steps: [{after: 0s, require: {x: 5}}]\nentry:\n  - {name: fr, queue: a, require: {french: 5}}\n",
			`r.yaml:5:35: entry rule "fr": its require/agent can never apply: queue "a"'s first step applies from 0s`},
		{"entry agent replaced at once", "queues:\n  - name: a\n    steps: [{after: 0s}]\nentry:\n  - {name: fr, queue: a, agent: 'agent.id == \"x\"'}\n",
			`entry rule "fr": its require/agent can never apply`},
		{"no_agents cycle", "queues:\n  - name: a\n    no_agents: {when: logged_out, overflow_to: b}\n  - name: b\n    no_agents: {when: unavailable, overflow_to: a}\n",
			"r.yaml:2:5: overflow cycle: a → b → a"},
		{"cycle through on_exit and a step", "queues:\n  - name: a\n    max_wait: 1m\n    on_exit: {overflow_to: b}\n  - name: b\n    steps: [{after: 2m, overflow_to: c}]\n  - name: c\n    steps: [{after: 3m, overflow_to: a}]\n",
			"overflow cycle: a → b → c → a"},
		{"on_exit to itself", "queues:\n  - name: a\n    max_wait: 1m\n    on_exit: {overflow_to: a}\n", `queue "a": on_exit overflows to itself`},
		{"on_exit two outcomes", "queues:\n  - name: a\n    max_wait: 1m\n    on_exit: {overflow_to: b, action: voicemail}\n  - name: b\n", `on_exit has both overflow_to and action "voicemail"`},
		{"entry level", "queues: [{name: a}]\nentry:\n  - {name: r, queue: a, require: {x: 11}}\n", `entry rule "r" requires x level 11, outside 1..10`},
		{"entry names", "queues: [{name: a}]\nentry:\n  - {name: r, queue: a}\n  - {name: r, queue: a}\n", `r.yaml:4:12: entry rule "r" declared twice`},
		{"boost names", "queues: [{name: a}]\nboosts:\n  - {name: v, add: 1}\n  - {name: v, add: 2}\n", `boost "v" declared twice`},
		{"reason codes", "reasons: [{code: rona}, {code: rona}]\nqueues: [{name: a}]\n", `r.yaml:1:32: reason "rona" declared twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseRules("r.yaml", []byte(tc.src))
			if err == nil || cfg != nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant %q", err, tc.want)
			}
		})
	}
}

// TestExpressionBudgetsOfAFile: the file's expressions are bounded
// together — distinct texts (the same text anywhere is compiled once, so
// a condition repeated on every step costs one compilation) and the
// compiled size of all `matches` patterns — so a file of many cheap
// expressions cannot make validation take seconds
// (BenchmarkParseRulesWorstCases/step-conditions, /refused-patterns).
func TestExpressionBudgetsOfAFile(t *testing.T) {
	steps := func(queues int, cond func(i int) string) []byte {
		var b strings.Builder
		b.WriteString("queues:\n")
		for i := 0; i < queues; i++ {
			fmt.Fprintf(&b, "  - name: q%d\n    steps:\n", i)
			for j := 0; j < MaxStepsPerQueue; j++ {
				fmt.Fprintf(&b, "      - {after: %ds, agent: '%s'}\n", j, cond(i*MaxStepsPerQueue+j))
			}
		}
		return []byte(b.String())
	}
	// 15,000 steps with one condition: accepted, and the steps share
	// one compiled program.
	cfg, err := ParseRules("r.yaml", steps(300, func(int) string { return "agent.skills.x > 3" }))
	if err != nil {
		t.Fatalf("one condition repeated: %.300v", err)
	}
	if len(cfg.Queues) != 300 || cfg.Queues[299].Steps[49].Agent == nil {
		t.Fatal("steps lost their condition")
	}
	var set exprSet
	p1, _ := set.compile("agent.skills.x > 3", AgentEnv{}, nil)
	p2, _ := set.compile("agent.skills.x > 3", AgentEnv{}, nil)
	p3, _ := set.compile("agent.skills.x > 3", RuleEnv{}, nil) // another environment: its own program (an error here)
	if p1 == nil || p1 != p2 || p3 == p1 || len(set.progs) != 2 {
		t.Fatalf("a repeated text is compiled again: %p %p %p, %d programs", p1, p2, p3, len(set.progs))
	}
	// 15,000 distinct ones: refused past MaxExpressions, at the first
	// one over, once per expression over (capped like any error).
	_, err = ParseRules("r.yaml", steps(300, func(i int) string { return fmt.Sprintf("agent.skills.x > %d", i) }))
	var re RulesErrors
	if !errors.As(err, &re) {
		t.Fatalf("distinct conditions: %v", err)
	}
	want := fmt.Sprintf(`queue "q200" step 1: agent: more than %d distinct expressions in the file`, MaxExpressions)
	if !strings.Contains(re[0].Msg, want) || re[0].Pos.Line != 2+200*(MaxStepsPerQueue+2)+2 {
		t.Fatalf("first error %v, want %q at line %d", re[0], want, 2+200*(MaxStepsPerQueue+2)+2)
	}
	if last := re[len(re)-1].Msg; last != "… and 4800 more errors (only the first 200 are listed)" {
		t.Fatalf("last error %q", last)
	}
	// Patterns: each within MaxPatternSize, together within
	// MaxPatternsSize; past it every further pattern is refused.
	var b strings.Builder
	b.WriteString("queues: [{name: a}]\nentry:\n")
	n := MaxPatternsSize / 900
	for i := 0; i <= n; i++ {
		fmt.Fprintf(&b, "  - {queue: a, when: 'caller matches \"^[0-9]{900}%d$\"'}\n", i)
	}
	_, err = ParseRules("r.yaml", []byte(b.String()))
	if !errors.As(err, &re) || len(re) != 1 {
		t.Fatalf("patterns: %v", err)
	}
	if want := fmt.Sprintf("r.yaml:%d:22: entry rule \"entry %d\": the file's patterns compile to more than %d instructions together", 3+n, n+1, MaxPatternsSize); !strings.HasPrefix(re[0].Error(), want) {
		t.Fatalf("%v\nwant %s…", re[0], want)
	}
}
