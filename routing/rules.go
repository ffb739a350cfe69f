package routing

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"
)

// The routing file is what call-center managers edit. Its shape (see
// configs/routing.yaml and docs/routing.md):
//
//	default_queue: general
//	skills: [billing, support]
//	reasons: [{code: break, max: 15m}, {code: lunch, max: 1h}]
//	calendars:
//	  office: {timezone: Europe/Paris, hours: {mon-fri: "08:00-20:00"}, holidays: ["2026-12-25"]}
//	queues:
//	  - name: billing
//	    strategy: longest-idle
//	    service_level: {threshold: 20s, goal: 0.95}
//	    steps:
//	      - {after: 0s,  require: {billing: 8}}
//	      - {after: 30s, require: {billing: 5}}
//	      - {after: 180s, overflow_to: general}
//	entry:
//	  - {name: vip, when: 'customer.vip == "true"', queue: billing, priority: 5}
//	  - {name: billing-line, when: 'dialed == "2000"', open: office, queue: billing}
//	agents:
//	  - {id: alice, endpoint: PJSIP/1001, skills: {billing: 9}, queues: {billing: 1}}

// RuleEnv is what an entry rule's `when` expression sees. Its fields are
// checked when the file is loaded: a misspelt name is a load error, not a
// call routed wrongly at 3 a.m.
type RuleEnv struct {
	Caller   string            `expr:"caller"`
	Dialed   string            `expr:"dialed"`
	Node     string            `expr:"node"`
	Vars     map[string]string `expr:"vars"`
	Customer map[string]string `expr:"customer"`
	// Hour, Minute, Weekday (mon…sun) and Date (2006-01-02) are in the
	// rule's calendar time zone, or UTC without one.
	Hour    int    `expr:"hour"`
	Minute  int    `expr:"minute"`
	Weekday string `expr:"weekday"`
	Date    string `expr:"date"`
	// Open reports whether a named calendar is open now.
	Open func(name string) bool `expr:"open"`
}

// Position is a place in a routing file.
type Position struct {
	File   string
	Line   int
	Column int
}

func (p Position) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column) }

// RuleError is one problem in a routing file, with where it is.
type RuleError struct {
	Pos Position
	Msg string
}

func (e RuleError) Error() string { return e.Pos.String() + ": " + e.Msg }

// RulesErrors is every problem found in a routing file; ParseRules returns
// it so a manager sees all mistakes at once.
type RulesErrors []RuleError

func (es RulesErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Is lets errors.Is(err, ErrInvalid) match.
func (es RulesErrors) Is(target error) bool { return target == ErrInvalid }

// ruleFile mirrors the YAML. Durations are strings parsed with positions.
type ruleFile struct {
	Version      string                  `yaml:"version"`
	DefaultQueue string                  `yaml:"default_queue"`
	Skills       []string                `yaml:"skills"`
	Reasons      []reasonFile            `yaml:"reasons"`
	Calendars    map[string]calendarFile `yaml:"calendars"`
	Queues       []queueFile             `yaml:"queues"`
	Entry        []entryFile             `yaml:"entry"`
	Boosts       []boostFile             `yaml:"boosts"`
	Agents       []agentFile             `yaml:"agents"`
}

type reasonFile struct {
	Code  string   `yaml:"code"`
	Max   string   `yaml:"max"`
	SetBy []string `yaml:"set_by"`
}

type boostFile struct {
	Name string `yaml:"name"`
	When string `yaml:"when"`
	Add  int    `yaml:"add"`
}

type noAgentsFile struct {
	When       string `yaml:"when"`
	Action     string `yaml:"action"`
	OverflowTo string `yaml:"overflow_to"`
	Media      string `yaml:"media"`
	Target     string `yaml:"target"`
}

type calendarFile struct {
	Timezone string            `yaml:"timezone"`
	Hours    map[string]string `yaml:"hours"`
	Holidays []string          `yaml:"holidays"`
}

type queueFile struct {
	Name         string `yaml:"name"`
	Strategy     string `yaml:"strategy"`
	ServiceLevel struct {
		Threshold string  `yaml:"threshold"`
		Goal      float64 `yaml:"goal"`
	} `yaml:"service_level"`
	OfferTimeout  string       `yaml:"offer_timeout"`
	WrapUp        string       `yaml:"wrap_up"`
	MaxMisses     *int         `yaml:"max_misses"`
	MissReason    string       `yaml:"miss_reason"`
	MaxWait       string       `yaml:"max_wait"`
	MaxLength     int          `yaml:"max_length"`
	AnnounceEvery string       `yaml:"announce_every"`
	OnExit        exitFile     `yaml:"on_exit"`
	NoAgents      noAgentsFile `yaml:"no_agents"`
	PriorityStep  string       `yaml:"priority_step"`
	Steps         []stepFile   `yaml:"steps"`
}

type exitFile struct {
	Action     string `yaml:"action"`
	OverflowTo string `yaml:"overflow_to"`
	Media      string `yaml:"media"`
	Target     string `yaml:"target"`
}

type stepFile struct {
	After         string         `yaml:"after"`
	Require       map[string]int `yaml:"require"`
	OverflowTo    string         `yaml:"overflow_to"`
	OfferCallback bool           `yaml:"offer_callback"`
	Agent         string         `yaml:"agent"`
}

type entryFile struct {
	Name     string         `yaml:"name"`
	Dialed   []string       `yaml:"dialed"`
	When     string         `yaml:"when"`
	Open     string         `yaml:"open"`
	Closed   string         `yaml:"closed"`
	Queue    string         `yaml:"queue"`
	Priority int            `yaml:"priority"`
	Require  map[string]int `yaml:"require"`
	Agent    string         `yaml:"agent"`
}

type agentFile struct {
	ID         string            `yaml:"id"`
	Name       string            `yaml:"name"`
	Endpoint   string            `yaml:"endpoint"`
	Skills     map[string]int    `yaml:"skills"`
	Attributes map[string]string `yaml:"attributes"`
	Queues     map[string]int    `yaml:"queues"`
	WrapUp     string            `yaml:"wrap_up"`
}

// Limits on a routing file. Each is far beyond a real floor, and together
// they keep validation — which the API runs on whatever file a caller with
// the token sends — well under a second for any input: a file over a
// limit is refused with an error saying which, not parsed for minutes.
const (
	// MaxRulesBytes is the largest routing file accepted.
	MaxRulesBytes = 2 << 20
	// MaxQueues, MaxStepsPerQueue, MaxEntryRules, MaxBoosts,
	// MaxCalendars, MaxReasons and MaxFileAgents bound each list.
	MaxQueues        = 10000
	MaxStepsPerQueue = 50
	MaxEntryRules    = 10000
	MaxBoosts        = 100
	MaxCalendars     = 1000
	MaxReasons       = 1000
	MaxFileAgents    = 100000
	// MaxPriority bounds a priority or a boost (either sign): with
	// priority_step at most MaxPriorityStep, priority ageing stays far
	// from overflowing a time.Duration.
	MaxPriority     = 1000
	MaxPriorityStep = 24 * time.Hour
	// MaxWaitSetting bounds max_wait, steps' after, wrap-up and reason
	// limits: nobody waits or wraps up for more than a day.
	MaxWaitSetting = 24 * time.Hour
	// maxErrors is how many errors one run reports; the rest are counted.
	maxErrors = 200
)

// ParseRules reads a routing file. Every error names file:line:column and
// why; a file with any error yields no Config (nothing half-applied).
func ParseRules(filename string, data []byte) (*Config, error) {
	p := &parser{file: filename}
	if len(data) > MaxRulesBytes {
		return nil, RulesErrors{{Pos: Position{filename, 1, 1}, Msg: fmt.Sprintf("routing file is %d bytes; at most %d", len(data), MaxRulesBytes)}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, RulesErrors{p.yamlErr(err)}
	}
	if len(root.Content) == 0 {
		return nil, RulesErrors{{Pos: Position{filename, 1, 1}, Msg: "routing file is empty: it needs at least one queue"}}
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, RulesErrors{{Pos: Position{filename, doc.Line, doc.Column}, Msg: "a routing file is a mapping with queues:, entry:, calendars: … at the top"}}
	}
	// Unknown keys are found on the node tree so that each is reported at
	// its own line and column (a misspelt key silently ignored would change
	// routing without anyone noticing).
	p.checkKeys(doc, reflect.TypeOf(ruleFile{}), "")
	var rf ruleFile
	if err := doc.Decode(&rf); err != nil {
		// Values of the wrong type leave holes in rf: building on it
		// would report consequences, not causes.
		p.typeErrs(doc, err)
		return nil, p.result()
	}
	// Unknown keys were ignored by the decoder: go on, so that one run
	// reports every mistake in the file.
	cfg := p.build(doc, &rf)
	if len(p.errs) > 0 {
		return nil, p.result()
	}
	return cfg, nil
}

// result is the errors found, in file order, with a last line counting
// those beyond maxErrors.
func (p *parser) result() RulesErrors {
	sort.SliceStable(p.errs, func(i, j int) bool {
		if p.errs[i].Pos.Line != p.errs[j].Pos.Line {
			return p.errs[i].Pos.Line < p.errs[j].Pos.Line
		}
		return p.errs[i].Pos.Column < p.errs[j].Pos.Column
	})
	if p.dropped > 0 {
		last := p.errs[len(p.errs)-1].Pos
		p.errs = append(p.errs, RuleError{Pos: last, Msg: fmt.Sprintf("… and %d more errors (only the first %d are listed)", p.dropped, maxErrors)})
	}
	return p.errs
}

// checkKeys reports every mapping key under n that the Go type t does not
// declare, at the key's own position, and recurses into known ones.
func (p *parser) checkKeys(n *yaml.Node, t reflect.Type, path string) {
	if n == nil {
		return
	}
	p.visits++
	if n.Kind == yaml.AliasNode {
		// Each anchored node is checked once: following every alias would
		// let a small file of nested aliases ("billion laughs") make the
		// walk exponential.
		if p.aliased == nil {
			p.aliased = map[*yaml.Node]bool{}
		}
		if p.aliased[n.Alias] {
			return
		}
		p.aliased[n.Alias] = true
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = f.Type
			names = append(names, tag)
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			switch {
			case !ok:
				p.errAt(k, "unknown key %q%s (known keys: %s)", k.Value, where(path), strings.Join(names, ", "))
				continue
			case seen[k.Value]:
				p.errAt(k, "key %q given twice%s", k.Value, where(path))
			}
			seen[k.Value] = true
			p.checkKeys(n.Content[i+1], ft, strings.TrimPrefix(path+"."+k.Value, "."))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			p.checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p.checkKeys(n.Content[i+1], t.Elem(), path+"."+n.Content[i].Value)
		}
	}
}

func where(path string) string {
	if path == "" {
		return " at the top level"
	}
	return " in " + path
}

// typeErrs turns the decoder's "line N: cannot unmarshal …" messages into
// positioned errors; the column is that of the value on that line.
func (p *parser) typeErrs(doc *yaml.Node, err error) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		p.errs = append(p.errs, p.yamlErr(err))
		return
	}
	var lines map[int]*yaml.Node // built once: a file of many bad values stays linear
	for _, m := range te.Errors {
		line := 0
		if n, _ := fmt.Sscanf(m, "line %d:", &line); n == 1 {
			if i := strings.Index(m, ":"); i >= 0 {
				m = strings.TrimSpace(m[i+1:])
			}
		}
		if lines == nil {
			lines = valuesByLine(doc)
		}
		col := 1
		if v := lines[line]; v != nil {
			col = v.Column
		}
		if line == 0 {
			line = 1
		}
		p.add(RuleError{Pos: Position{File: p.file, Line: line, Column: col}, Msg: m})
	}
}

// valuesByLine maps each line to the last scalar or collection that
// starts on it: in "key: value" that is the value. Aliases are not
// followed (an anchored node is in the tree once).
func valuesByLine(n *yaml.Node) map[int]*yaml.Node {
	out := map[int]*yaml.Node{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil {
			return
		}
		if best := out[n.Line]; best == nil || n.Column >= best.Column {
			out[n.Line] = n
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return out
}

type parser struct {
	file    string
	errs    RulesErrors
	dropped int                 // errors beyond maxErrors, counted only
	aliased map[*yaml.Node]bool // anchors already key-checked
	visits  int                 // nodes walked by checkKeys (bounded; tested)
	exprs   exprSet             // the file's compiled expressions
}

func (p *parser) add(e RuleError) {
	if len(p.errs) >= maxErrors {
		p.dropped++
		return
	}
	p.errs = append(p.errs, e)
}

func (p *parser) errAt(n *yaml.Node, format string, args ...any) {
	pos := Position{File: p.file, Line: 1, Column: 1}
	if n != nil {
		pos.Line, pos.Column = n.Line, n.Column
	}
	if len(p.errs) >= maxErrors {
		p.dropped++ // not even formatted: a file of 100,000 mistakes stays fast
		return
	}
	p.errs = append(p.errs, RuleError{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) yamlErr(err error) RuleError {
	msg := err.Error()
	line := 1
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	// yaml.v3 messages read "yaml: line N: …" or "line N: …".
	msg = strings.TrimPrefix(msg, "yaml: ")
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		if i := strings.Index(msg, ":"); i >= 0 {
			msg = strings.TrimSpace(msg[i+1:])
		}
	}
	return RuleError{Pos: Position{File: p.file, Line: line, Column: 1}, Msg: msg}
}

// node finds the value node of key under a mapping node (nil if absent).
func node(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func item(seq *yaml.Node, i int) *yaml.Node {
	if seq == nil || seq.Kind != yaml.SequenceNode || i >= len(seq.Content) {
		return seq
	}
	return seq.Content[i]
}

func or(n, fallback *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return fallback
}

func (p *parser) duration(n *yaml.Node, s, what string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errAt(n, "%s %q is not a duration (use e.g. 30s, 5m, 1h)", what, s)
		return 0
	}
	if d < 0 {
		p.errAt(n, "%s %q is negative", what, s)
	}
	if d > MaxWaitSetting {
		p.errAt(n, "%s %q is longer than %s", what, s, MaxWaitSetting)
	}
	return d
}

// within reports an error unless lo <= d <= hi (d == 0, unset, is fine).
func (p *parser) within(n *yaml.Node, d time.Duration, what string, lo, hi time.Duration) {
	if d != 0 && (d < lo || d > hi) {
		p.errAt(n, "%s %s is outside %s..%s", what, d, lo, hi)
	}
}

// tooMany reports a list longer than max at its node; the list is then
// not looked at further (its length alone could make validation slow).
func (p *parser) tooMany(n *yaml.Node, count, max int, what string) bool {
	if count <= max {
		return false
	}
	p.errAt(n, "%d %s; at most %d", count, what, max)
	return true
}

var validStrategies = map[string]Strategy{
	"": StrategyLongestIdle, "longest-idle": StrategyLongestIdle, "fewest-calls": StrategyFewestCalls,
	"least-talk-time": StrategyLeastTalk, "round-robin": StrategyRoundRobin, "top-down": StrategyTopDown,
	"random": StrategyRandom, "ring-all": StrategyRingAll, "best-skill-first": StrategyBestSkill,
}

var validExits = map[string]ExitAction{
	"": "", "hangup": ExitHangup, "voicemail": ExitVoicemail, "announce": ExitAnnounce,
	"callback": ExitCallback, "dialplan": ExitDialplan,
}

func (p *parser) build(doc *yaml.Node, rf *ruleFile) *Config {
	cfg := &Config{Version: rf.Version, DefaultQueue: rf.DefaultQueue}
	over := p.tooMany(node(doc, "queues"), len(rf.Queues), MaxQueues, "queues")
	over = p.tooMany(node(doc, "entry"), len(rf.Entry), MaxEntryRules, "entry rules") || over
	over = p.tooMany(node(doc, "boosts"), len(rf.Boosts), MaxBoosts, "boosts") || over
	over = p.tooMany(node(doc, "calendars"), len(rf.Calendars), MaxCalendars, "calendars") || over
	over = p.tooMany(node(doc, "reasons"), len(rf.Reasons), MaxReasons, "reasons") || over
	over = p.tooMany(node(doc, "agents"), len(rf.Agents), MaxFileAgents, "agents") || over
	for i, q := range rf.Queues {
		if i < MaxQueues {
			over = p.tooMany(node(item(node(doc, "queues"), i), "steps"), len(q.Steps), MaxStepsPerQueue, fmt.Sprintf("steps in queue %q", q.Name)) || over
		}
	}
	if over {
		return cfg
	}
	skills := map[string]bool{}
	for _, s := range rf.Skills {
		skills[s] = true
	}
	checkSkill := func(n *yaml.Node, s string) {
		if len(skills) > 0 && !skills[s] {
			p.errAt(n, "unknown skill %q (declared skills: %s)", s, strings.Join(rf.Skills, ", "))
		}
	}

	// Reasons.
	rn := node(doc, "reasons")
	reasonSeen := map[string]bool{}
	for i, r := range rf.Reasons {
		n := item(rn, i)
		if r.Code == "" {
			p.errAt(n, "reason needs a code")
		}
		if r.Code != "" && reasonSeen[r.Code] {
			p.errAt(or(node(n, "code"), n), "reason %q declared twice", r.Code)
		}
		reasonSeen[r.Code] = true
		rc := ReasonCode{Code: r.Code, MaxDuration: p.duration(or(node(n, "max"), n), r.Max, "max")}
		for k, a := range r.SetBy {
			switch Actor(a) {
			case ActorAgent, ActorSupervisor, ActorSystem:
				rc.SetBy = append(rc.SetBy, Actor(a))
			default:
				p.errAt(item(node(n, "set_by"), k), "reason %q: set_by %q is not agent, supervisor or system", r.Code, a)
			}
		}
		cfg.NotReadyReasons = append(cfg.NotReadyReasons, rc)
	}
	reasonCodes := map[string]bool{}
	for _, r := range rf.Reasons {
		reasonCodes[r.Code] = true
	}

	// Calendars.
	cals := map[string]*Calendar{}
	locs := map[string]*time.Location{} // one zone file read per zone, not per calendar
	cn := node(doc, "calendars")
	for _, name := range sortedKeys(rf.Calendars) {
		n := or(node(cn, name), cn)
		cal, err := newCalendar(name, rf.Calendars[name].Timezone, rf.Calendars[name].Hours, rf.Calendars[name].Holidays, locs)
		if err != nil {
			p.errAt(n, "calendar %q: %v", name, err)
			continue
		}
		cals[name] = cal
	}

	// Queues.
	qn := node(doc, "queues")
	if len(rf.Queues) == 0 {
		p.errAt(or(qn, doc), "no queues: declare at least one under `queues:`")
	}
	names := map[string]*yaml.Node{}
	for i, q := range rf.Queues {
		n := item(qn, i)
		if q.Name == "" {
			p.errAt(n, "queue %d has no name", i+1)
			continue
		}
		if _, dup := names[q.Name]; dup {
			p.errAt(or(node(n, "name"), n), "queue %q declared twice", q.Name)
		}
		names[q.Name] = n
	}
	for i, q := range rf.Queues {
		n := item(qn, i)
		st, ok := validStrategies[q.Strategy]
		if !ok {
			p.errAt(or(node(n, "strategy"), n), "queue %q: unknown strategy %q (one of longest-idle, fewest-calls, least-talk-time, round-robin, top-down, random, ring-all, best-skill-first)", q.Name, q.Strategy)
		}
		qc := QueueConfig{
			Name: q.Name, Strategy: st,
			ServiceLevelThreshold: p.duration(or(node(node(n, "service_level"), "threshold"), n), q.ServiceLevel.Threshold, "service_level.threshold"),
			ServiceLevelGoal:      q.ServiceLevel.Goal,
			OfferTimeout:          p.duration(or(node(n, "offer_timeout"), n), q.OfferTimeout, "offer_timeout"),
			WrapUp:                p.duration(or(node(n, "wrap_up"), n), q.WrapUp, "wrap_up"),
			MissReason:            q.MissReason,
			MaxWait:               p.duration(or(node(n, "max_wait"), n), q.MaxWait, "max_wait"),
			MaxLength:             q.MaxLength,
			AnnounceEvery:         p.duration(or(node(n, "announce_every"), n), q.AnnounceEvery, "announce_every"),
		}
		if q.WrapUp == "" {
			qc.WrapUp = DefaultWrapUp
		}
		qc.PriorityStep = p.duration(or(node(n, "priority_step"), n), q.PriorityStep, "priority_step")
		if q.PriorityStep != "" && qc.PriorityStep == 0 {
			p.errAt(or(node(n, "priority_step"), n), "queue %q: priority_step must be positive", q.Name)
		}
		// An offer shorter than a ring, or announcements every few
		// milliseconds, are mistakes, not settings.
		p.within(or(node(n, "offer_timeout"), n), qc.OfferTimeout, "offer_timeout", time.Second, time.Hour)
		p.within(or(node(n, "announce_every"), n), qc.AnnounceEvery, "announce_every", 5*time.Second, time.Hour)
		p.within(or(node(n, "priority_step"), n), qc.PriorityStep, "priority_step", time.Second, MaxPriorityStep)
		if q.MaxLength < 0 {
			p.errAt(or(node(n, "max_length"), n), "queue %q: max_length %d is negative", q.Name, q.MaxLength)
		}
		if q.MaxMisses != nil && (*q.MaxMisses < 0 || *q.MaxMisses > 1000) {
			p.errAt(or(node(n, "max_misses"), n), "queue %q: max_misses %d is outside 0..1000 (0 never pauses)", q.Name, *q.MaxMisses)
		}
		if len(reasonCodes) > 0 && q.MissReason != "" && !reasonCodes[q.MissReason] {
			p.errAt(or(node(n, "miss_reason"), n), "queue %q: miss_reason %q is not one of the reasons", q.Name, q.MissReason)
		}
		if len(reasonCodes) > 0 && q.MissReason == "" && !reasonCodes[DefaultMissReason] && (q.MaxMisses == nil || *q.MaxMisses > 0) {
			p.errAt(n, "queue %q: agents who miss offers go not ready with reason %q, which is not in reasons: add it or set miss_reason", q.Name, DefaultMissReason)
		}
		nn := node(n, "no_agents")
		switch NoAgentsWhen(q.NoAgents.When) {
		case "":
			if q.NoAgents != (noAgentsFile{}) {
				p.errAt(nn, "queue %q: no_agents needs when: logged_out or unavailable", q.Name)
			}
		case NoAgentsLoggedOut, NoAgentsUnavailable:
			na, ok := validExits[q.NoAgents.Action]
			if !ok {
				p.errAt(or(node(nn, "action"), nn), "queue %q: unknown no_agents action %q (hangup, voicemail, announce, callback, dialplan)", q.Name, q.NoAgents.Action)
			}
			if to := q.NoAgents.OverflowTo; to != "" {
				if _, ok := names[to]; !ok || to == q.Name {
					p.errAt(or(node(nn, "overflow_to"), nn), "queue %q: no_agents overflows to unknown queue %q", q.Name, to)
				}
			}
			qc.NoAgents = NoAgentsPolicy{When: NoAgentsWhen(q.NoAgents.When), Exit: ExitPolicy{Action: na, OverflowTo: q.NoAgents.OverflowTo, Media: q.NoAgents.Media, Target: q.NoAgents.Target}}
		default:
			p.errAt(or(node(nn, "when"), nn), "queue %q: no_agents.when %q (use logged_out or unavailable)", q.Name, q.NoAgents.When)
		}
		qc.MaxMisses = DefaultMaxMisses
		if q.MaxMisses != nil {
			qc.MaxMisses = *q.MaxMisses
		}
		if g := q.ServiceLevel.Goal; g < 0 || g > 1 {
			p.errAt(or(node(node(n, "service_level"), "goal"), n), "queue %q: service_level.goal %v must be a fraction between 0 and 1 (e.g. 0.95)", q.Name, g)
		}
		en := node(n, "on_exit")
		act, ok := validExits[q.OnExit.Action]
		if !ok {
			p.errAt(or(node(en, "action"), n), "queue %q: unknown on_exit action %q (hangup, voicemail, announce, callback, dialplan)", q.Name, q.OnExit.Action)
		}
		qc.Exit = ExitPolicy{Action: act, OverflowTo: q.OnExit.OverflowTo, Media: q.OnExit.Media, Target: q.OnExit.Target}
		if q.OnExit.OverflowTo != "" {
			if _, ok := names[q.OnExit.OverflowTo]; !ok {
				p.errAt(or(node(en, "overflow_to"), n), "queue %q overflows to unknown queue %q", q.Name, q.OnExit.OverflowTo)
			}
			if q.OnExit.OverflowTo == q.Name {
				p.errAt(or(node(en, "overflow_to"), n), "queue %q: on_exit overflows to itself", q.Name)
			}
			if q.OnExit.Action != "" {
				p.errAt(or(node(en, "action"), n), "queue %q: on_exit has both overflow_to and action %q: use one", q.Name, q.OnExit.Action)
			}
		}
		if (q.OnExit.Action != "" || q.OnExit.OverflowTo != "") && qc.MaxWait == 0 && qc.MaxLength == 0 {
			p.errAt(or(en, n), "queue %q: on_exit can never happen: set max_wait or max_length", q.Name)
		}
		sn := node(n, "steps")
		var prev time.Duration = -1
		leaves := -1 // the step that overflows the call, if any
		for j, s := range q.Steps {
			m := item(sn, j)
			after := p.duration(or(node(m, "after"), m), s.After, "after")
			if after <= prev {
				p.errAt(or(node(m, "after"), m), "queue %q: step %d (after %s) can never be reached: it does not come after the step before it (%s)", q.Name, j+1, after, prev)
			}
			if leaves >= 0 {
				p.errAt(or(node(m, "after"), m), "queue %q: step %d (after %s) can never be reached: step %d overflows the call to %q first", q.Name, j+1, after, leaves+1, q.Steps[leaves].OverflowTo)
			}
			if s.OverflowTo != "" && leaves < 0 {
				leaves = j
			}
			if qc.MaxWait > 0 && after >= qc.MaxWait {
				p.errAt(or(node(m, "after"), m), "queue %q: step %d (after %s) can never be reached: max_wait is %s", q.Name, j+1, after, qc.MaxWait)
			}
			prev = after
			for _, sk := range sortedKeys(s.Require) { // map order must not order the errors
				lvl := s.Require[sk]
				checkSkill(or(node(m, "require"), m), sk)
				if lvl < 1 || lvl > 10 {
					p.errAt(or(node(m, "require"), m), "queue %q: step %d requires %s level %d, outside 1..10", q.Name, j+1, sk, lvl)
				}
			}
			if s.OverflowTo != "" {
				if _, ok := names[s.OverflowTo]; !ok {
					p.errAt(or(node(m, "overflow_to"), m), "queue %q: step %d overflows to unknown queue %q", q.Name, j+1, s.OverflowTo)
				}
				if s.OverflowTo == q.Name {
					p.errAt(or(node(m, "overflow_to"), m), "queue %q: step %d overflows to itself", q.Name, j+1)
				}
			}
			st := Step{After: after, Require: s.Require, OverflowTo: s.OverflowTo, OfferCallback: s.OfferCallback, AgentExpr: s.Agent}
			if s.Agent != "" {
				st.Agent = p.agentFilter(node(m, "agent"), s.Agent, fmt.Sprintf("queue %q step %d", q.Name, j+1))
			}
			qc.Steps = append(qc.Steps, st)
		}
		cfg.Queues = append(cfg.Queues, qc)
	}
	p.checkOverflowCycles(cfg, names)

	if cfg.DefaultQueue != "" {
		if _, ok := names[cfg.DefaultQueue]; !ok {
			p.errAt(node(doc, "default_queue"), "default_queue %q is not a declared queue", cfg.DefaultQueue)
		}
	}

	// Entry rules.
	en := node(doc, "entry")
	firstStep := map[string]*Step{}
	for i := range cfg.Queues {
		if q := &cfg.Queues[i]; len(q.Steps) > 0 {
			firstStep[q.Name] = &q.Steps[0]
		}
	}
	entryNames := map[string]bool{}
	for i, r := range rf.Entry {
		n := item(en, i)
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("entry %d", i+1)
		}
		if entryNames[name] {
			p.errAt(or(node(n, "name"), n), "entry rule %q declared twice (traces and diffs name rules)", name)
		}
		entryNames[name] = true
		if _, ok := names[r.Queue]; !ok {
			p.errAt(or(node(n, "queue"), n), "entry rule %q sends calls to unknown queue %q", name, r.Queue)
		}
		for _, sk := range sortedKeys(r.Require) {
			checkSkill(or(node(n, "require"), n), sk)
			if lvl := r.Require[sk]; lvl < 1 || lvl > 10 {
				p.errAt(or(node(n, "require"), n), "entry rule %q requires %s level %d, outside 1..10", name, sk, lvl)
			}
		}
		if r.Priority < -MaxPriority || r.Priority > MaxPriority {
			p.errAt(or(node(n, "priority"), n), "entry rule %q: priority %d is outside -%d..%d", name, r.Priority, MaxPriority, MaxPriority)
		}
		// A queue's steps replace the entry rule's requirement from their
		// `after` on (docs/routing.md, Escalation): with a first step at
		// 0s the rule's own require/agent would never be used.
		if st := firstStep[r.Queue]; st != nil && st.After == 0 && (len(r.Require) > 0 || r.Agent != "") {
			p.errAt(or(node(n, "require"), node(n, "agent")), "entry rule %q: its require/agent can never apply: queue %q's first step applies from 0s and replaces it (put the condition in that step, or start the steps later)", name, r.Queue)
		}
		var calName string
		var wantOpen bool
		switch {
		case r.Open != "" && r.Closed != "":
			p.errAt(n, "entry rule %q: use either open or closed, not both", name)
		case r.Open != "":
			calName, wantOpen = r.Open, true
		case r.Closed != "":
			calName = r.Closed
		}
		var cal *Calendar
		if calName != "" {
			cal = cals[calName]
			if cal == nil {
				p.errAt(or(node(n, "open"), node(n, "closed")), "entry rule %q: unknown calendar %q", name, calName)
			}
		}
		var prog *vm.Program
		if r.When != "" {
			wn := node(n, "when")
			pr, err := p.exprs.compile(r.When, RuleEnv{}, cals)
			if err != nil {
				p.errAt(wn, "entry rule %q: %v", name, err)
			}
			prog = pr
		}
		er := EntryRule{Name: name, Dialed: r.Dialed, Queue: r.Queue, Priority: r.Priority, Require: r.Require,
			Match: matcher(prog, cal, wantOpen, cals), AgentExpr: r.Agent}
		if r.Agent != "" {
			er.Agent = p.agentFilter(node(n, "agent"), r.Agent, fmt.Sprintf("entry rule %q", name))
		}
		cfg.Entry = append(cfg.Entry, er)
	}

	// Boosts.
	bn := node(doc, "boosts")
	boostNames := map[string]bool{}
	for i, b := range rf.Boosts {
		n := item(bn, i)
		name := b.Name
		if name == "" {
			name = fmt.Sprintf("boost %d", i+1)
		}
		if b.Add == 0 {
			p.errAt(or(node(n, "add"), n), "boost %q: add is missing or 0: it would change nothing", name)
		}
		if b.Add < -MaxPriority || b.Add > MaxPriority {
			p.errAt(or(node(n, "add"), n), "boost %q: add %d is outside -%d..%d", name, b.Add, MaxPriority, MaxPriority)
		}
		if boostNames[name] {
			p.errAt(or(node(n, "name"), n), "boost %q declared twice", name)
		}
		boostNames[name] = true
		var prog *vm.Program
		if b.When != "" {
			pr, err := p.exprs.compile(b.When, RuleEnv{}, cals)
			if err != nil {
				p.errAt(node(n, "when"), "boost %q: %v", name, err)
			}
			prog = pr
		}
		cfg.Boosts = append(cfg.Boosts, Boost{Name: name, Add: b.Add, Match: matcher(prog, nil, false, cals)})
	}

	// Agents.
	an := node(doc, "agents")
	seenAgent := map[string]bool{}
	for i, a := range rf.Agents {
		n := item(an, i)
		if a.ID == "" {
			p.errAt(n, "agent %d has no id", i+1)
			continue
		}
		if seenAgent[a.ID] {
			p.errAt(or(node(n, "id"), n), "agent %q declared twice", a.ID)
		}
		seenAgent[a.ID] = true
		for _, sk := range sortedKeys(a.Skills) {
			lvl := a.Skills[sk]
			checkSkill(or(node(n, "skills"), n), sk)
			if lvl < 1 || lvl > 10 {
				p.errAt(or(node(n, "skills"), n), "agent %q: skill %s level %d is outside 1..10", a.ID, sk, lvl)
			}
		}
		for _, q := range sortedKeys(a.Queues) {
			if _, ok := names[q]; !ok {
				p.errAt(or(node(n, "queues"), n), "agent %q is a member of unknown queue %q", a.ID, q)
			}
		}
		cfg.Agents = append(cfg.Agents, Agent{ID: a.ID, Name: a.Name, Endpoint: a.Endpoint, Skills: a.Skills, Attributes: a.Attributes,
			Queues: a.Queues, WrapUp: p.duration(or(node(n, "wrap_up"), n), a.WrapUp, "wrap_up")})
	}
	if len(cfg.Agents) > 0 {
		p.checkServable(cfg, names)
	}
	if len(p.errs) == 0 {
		if err := cfg.Normalize(); err != nil {
			p.errAt(doc, "%v", err)
		}
	}
	return cfg
}

// checkOverflowCycles reports queues whose overflow chain (steps, on_exit
// and no_agents) comes back to them: a call would bounce for ever. One
// depth-first walk visits each queue and each overflow once, so a file of
// ten thousand chained queues is checked as fast as one of three; each
// cycle is reported once, at the queue it comes back to.
func (p *parser) checkOverflowCycles(cfg *Config, names map[string]*yaml.Node) {
	next := map[string][]string{}
	add := func(from, to string) {
		// A queue overflowing to itself is reported where it is written;
		// an unknown target too.
		if _, ok := names[to]; ok && to != from {
			next[from] = append(next[from], to)
		}
	}
	for _, q := range cfg.Queues {
		for _, s := range q.Steps {
			add(q.Name, s.OverflowTo)
		}
		add(q.Name, q.Exit.OverflowTo)
		add(q.Name, q.NoAgents.Exit.OverflowTo)
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	at := map[string]int{} // position on the current path
	var path []string
	var visit func(string)
	visit = func(q string) {
		state[q], at[q] = onPath, len(path)
		path = append(path, q)
		for _, to := range next[q] {
			switch state[to] {
			case onPath:
				cyc := append(slices.Clone(path[at[to]:]), to)
				if len(cyc) > 12 {
					cyc = append(append(cyc[:6:6], "…"), cyc[len(cyc)-5:]...)
				}
				p.errAt(names[to], "overflow cycle: %s", strings.Join(cyc, " → "))
			case unseen:
				visit(to)
			}
		}
		path = path[:len(path)-1]
		state[q] = done
	}
	for _, q := range cfg.Queues {
		if state[q.Name] == unseen {
			visit(q.Name)
		}
	}
}

// checkServable reports queues that no declared agent could ever take a
// call from: no member at all, or no member meeting the last (widest)
// escalation step's requirement. It looks at each membership once.
func (p *parser) checkServable(cfg *Config, names map[string]*yaml.Node) {
	members, able := map[string]int{}, map[string]int{}
	widest := map[string]map[string]int{}
	for _, q := range cfg.Queues {
		if len(q.Steps) > 0 {
			widest[q.Name] = q.Steps[len(q.Steps)-1].Require
		}
	}
	for _, a := range cfg.Agents {
		for qn := range a.Queues {
			members[qn]++
			ok := true
			for s, lvl := range widest[qn] {
				if a.Skills[s] < lvl {
					ok = false
				}
			}
			if ok {
				able[qn]++
			}
		}
	}
	for _, q := range cfg.Queues {
		if q.NoAgents.When != "" {
			continue // calls nobody can take leave by the no_agents policy
		}
		hasOverflow := q.Exit.OverflowTo != ""
		for _, s := range q.Steps {
			hasOverflow = hasOverflow || s.OverflowTo != ""
		}
		switch {
		case members[q.Name] == 0 && !hasOverflow:
			p.errAt(names[q.Name], "queue %q can never be served: no declared agent is a member", q.Name)
		case members[q.Name] > 0 && able[q.Name] == 0 && !hasOverflow:
			p.errAt(names[q.Name], "queue %q can never be served: no member meets its widest requirement %v", q.Name, widest[q.Name])
		}
	}
}

// AgentEnv is what an `agent:` expression (on an entry rule or an
// escalation step) sees: the candidate agent and the call. It is
// type-checked at load time like entry expressions.
type AgentEnv struct {
	Agent AgentFacts `expr:"agent"`
	Call  CallFacts  `expr:"call"`
}

// AgentFacts is an agent as agent expressions see it.
type AgentFacts struct {
	ID         string            `expr:"id"`
	Name       string            `expr:"name"`
	Skills     map[string]int    `expr:"skills"`
	Attributes map[string]string `expr:"attributes"`
	Queues     map[string]int    `expr:"queues"`
}

// CallFacts is a call as agent expressions see it.
type CallFacts struct {
	Caller   string            `expr:"caller"`
	Dialed   string            `expr:"dialed"`
	Node     string            `expr:"node"`
	Vars     map[string]string `expr:"vars"`
	Customer map[string]string `expr:"customer"`
}

func (p *parser) agentFilter(n *yaml.Node, src, what string) AgentFilter {
	prog, err := p.exprs.compile(src, AgentEnv{}, nil)
	if err != nil {
		p.errAt(n, "%s: agent: %v", what, err)
		return nil
	}
	return func(a *Agent, c *Call) bool {
		env := AgentEnv{
			Agent: AgentFacts{ID: a.ID, Name: a.Name, Skills: orEmptyInt(a.Skills), Attributes: orEmpty(a.Attributes), Queues: orEmptyInt(a.Queues)},
			Call:  CallFacts{Caller: c.CallerNumber, Dialed: c.DialedNumber, Node: c.Node, Vars: orEmpty(c.Vars), Customer: orEmpty(c.Customer)},
		}
		out, err := expr.Run(prog, env)
		if err != nil {
			return false // a failing condition admits nobody rather than everybody
		}
		b, _ := out.(bool)
		return b
	}
}

func orEmptyInt(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

func matcher(prog *vm.Program, cal *Calendar, wantOpen bool, cals map[string]*Calendar) func(Call, time.Time) bool {
	return func(c Call, now time.Time) bool {
		if cal != nil && cal.Open(now) != wantOpen {
			return false
		}
		if prog == nil {
			return true
		}
		loc := time.UTC
		if cal != nil {
			loc = cal.loc
		}
		t := now.In(loc)
		env := RuleEnv{Caller: c.CallerNumber, Dialed: c.DialedNumber, Node: c.Node, Vars: orEmpty(c.Vars), Customer: orEmpty(c.Customer),
			Hour: t.Hour(), Minute: t.Minute(), Weekday: strings.ToLower(t.Weekday().String()[:3]), Date: t.Format("2006-01-02"),
			Open: func(name string) bool { cl := cals[name]; return cl != nil && cl.Open(now) }}
		out, err := expr.Run(prog, env)
		if err != nil {
			return false
		}
		b, _ := out.(bool)
		return b
	}
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
