package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/routing"
)

// The rules endpoints: validate, dry-run and diff routing files, and
// apply, list, show and roll back stored versions. They import routing (a
// pure package) to parse files; storage and the live engine come in
// through the Rules funcs the server fills.
//
//	POST /api/v1/rules/validate            {filename, content} → {valid, errors[] with line/column}
//	POST /api/v1/rules/test                {content?, call, at?, live?} → where the call goes, which agent, why
//	POST /api/v1/rules/diff                {content, against?} → changes from the version in force (or version against)
//	GET  /api/v1/rules                     the version in force, with its content
//	GET  /api/v1/rules/versions?limit=N    history, newest first
//	GET  /api/v1/rules/versions/{version}  one version with its content
//	POST /api/v1/rules                     {filename, content, author, comment} → stored as a new version and put in force
//	POST /api/v1/rules/rollback            {version, author, comment} → version's content stored as a new version and put in force

// RuleVersion is one stored routing file.
type RuleVersion struct {
	Version    int64     `json:"version"`
	Filename   string    `json:"filename"`
	SHA256     string    `json:"sha256"`
	Author     string    `json:"author"`
	Comment    string    `json:"comment,omitempty"`
	RollbackOf int64     `json:"rollback_of,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	Content    string    `json:"content,omitempty"`
}

// Rules is what the rules endpoints need from the rest of switchboard.
type Rules struct {
	// Add stores v durably as the next version (filling Version, SHA256,
	// CreatedAt) together with its audit entry.
	Add func(ctx context.Context, v *RuleVersion) error
	// List returns up to limit versions, newest first, without content.
	List func(ctx context.Context, limit int) ([]RuleVersion, error)
	// Get returns one version with content; errors wrap ErrNotFound when
	// it does not exist.
	Get func(ctx context.Context, version int64) (RuleVersion, error)
	// Reload puts a parsed configuration in force without dropping calls.
	Reload func(ctx context.Context, cfg *routing.Config) error
	// Ready (optional) says whether Reload can run now. Asked before a
	// version is stored, so that a node still starting refuses the apply
	// (503, try again) instead of storing a version it cannot put in
	// force and having the client's retry store it twice.
	Ready func() error
	// Agents returns the live agents, for dry runs with live: true
	// (optional).
	Agents func() []routing.AgentView
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ValidateRules is the body of POST /api/v1/rules/validate and diff.
type ValidateRules struct {
	Filename string `json:"filename"`
	Content  string `json:"content"`
	// Against (diff only) is the version to compare with; 0 = in force.
	Against int64 `json:"against,omitempty"`
}

// Validate implements the decoder's check.
func (v *ValidateRules) Validate() error {
	if v.Content == "" {
		return BadRequest("content", "required: the routing file's text")
	}
	if v.Filename == "" {
		v.Filename = "routing.yaml"
	}
	if v.Against < 0 {
		return BadRequest("against", "a version number (1, 2 …)")
	}
	return nil
}

// RuleProblem is one positioned error in a routing file.
type RuleProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// ValidationResult answers POST /api/v1/rules/validate.
type ValidationResult struct {
	Valid      bool          `json:"valid"`
	Errors     []RuleProblem `json:"errors,omitempty"`
	Queues     int           `json:"queues"`
	EntryRules int           `json:"entry_rules"`
	Agents     int           `json:"agents"`
}

// TestRules is the body of POST /api/v1/rules/test.
type TestRules struct {
	// Content is a routing file to test; empty tests the version in force.
	Filename string       `json:"filename"`
	Content  string       `json:"content"`
	Call     routing.Call `json:"call"`
	// At evaluates calendars and time-of-day rules at this time (default now).
	At time.Time `json:"at"`
	// Live uses the running floor's agents in their current states;
	// otherwise the file's agents are all taken as available.
	Live bool `json:"live"`
}

// ApplyRules is the body of POST /api/v1/rules.
type ApplyRules struct {
	Filename string `json:"filename"`
	Content  string `json:"content"`
	Author   string `json:"author"`
	Comment  string `json:"comment"`
}

// Validate implements the decoder's check.
func (a *ApplyRules) Validate() error {
	if a.Content == "" {
		return BadRequest("content", "required: the routing file's text")
	}
	if a.Author == "" {
		return BadRequest("author", "required: who applies this version")
	}
	if a.Filename == "" {
		a.Filename = "routing.yaml"
	}
	return nil
}

// Rollback is the body of POST /api/v1/rules/rollback.
type Rollback struct {
	Version int64  `json:"version"`
	Author  string `json:"author"`
	Comment string `json:"comment"`
}

// Validate implements the decoder's check.
func (r *Rollback) Validate() error {
	if r.Version <= 0 {
		return BadRequest("version", "required: the version to go back to (see GET /api/v1/rules/versions)")
	}
	if r.Author == "" {
		return BadRequest("author", "required: who rolls back")
	}
	return nil
}

// RulesRoutes are the rules endpoints.
func RulesRoutes(rs Rules) []Route {
	if rs.Now == nil {
		rs.Now = time.Now
	}
	h := &rulesHandlers{rs: rs}
	return []Route{
		{Method: http.MethodPost, Path: "/api/v1/rules/validate", Handle: h.validate},
		{Method: http.MethodPost, Path: "/api/v1/rules/test", Handle: h.test},
		{Method: http.MethodPost, Path: "/api/v1/rules/diff", Handle: h.diff},
		{Method: http.MethodGet, Path: "/api/v1/rules", Handle: h.current},
		{Method: http.MethodGet, Path: "/api/v1/rules/versions", Handle: h.list},
		{Method: http.MethodGet, Path: "/api/v1/rules/versions/{version}", Handle: h.get},
		{Method: http.MethodPost, Path: "/api/v1/rules", Handle: h.apply},
		{Method: http.MethodPost, Path: "/api/v1/rules/rollback", Handle: h.rollback},
	}
}

type rulesHandlers struct {
	rs Rules
	// mu serializes apply and rollback: the version stored last must be
	// the one reloaded last, or history and the engine would disagree.
	mu sync.Mutex
}

// rulesError turns a routing file's errors into a 422 whose message lists
// every file:line:column problem.
func rulesError(err error) error {
	var re routing.RulesErrors
	if errors.As(err, &re) || errors.Is(err, routing.ErrInvalid) {
		return &Error{Status: http.StatusUnprocessableEntity, Field: "content", Message: "the routing file is not valid; nothing was changed:\n" + err.Error(), Err: err}
	}
	return err
}

func problems(err error) []RuleProblem {
	var re routing.RulesErrors
	if !errors.As(err, &re) {
		return []RuleProblem{{Message: err.Error()}}
	}
	out := make([]RuleProblem, len(re))
	for i, e := range re {
		out[i] = RuleProblem{File: e.Pos.File, Line: e.Pos.Line, Column: e.Pos.Column, Message: e.Msg}
	}
	return out
}

func (h *rulesHandlers) validate(w http.ResponseWriter, r *http.Request) error {
	var in ValidateRules
	if err := Decode(r, &in, false); err != nil {
		return err
	}
	cfg, err := routing.ParseRules(in.Filename, []byte(in.Content))
	if err != nil {
		return WriteJSON(w, http.StatusOK, ValidationResult{Valid: false, Errors: problems(err)})
	}
	return WriteJSON(w, http.StatusOK, ValidationResult{Valid: true, Queues: len(cfg.Queues), EntryRules: len(cfg.Entry), Agents: len(cfg.Agents)})
}

// inForce is the stored version in force, or ErrNotFound.
func (h *rulesHandlers) inForce(ctx context.Context) (RuleVersion, error) {
	if h.rs.List == nil || h.rs.Get == nil {
		return RuleVersion{}, &Error{Status: http.StatusNotImplemented, Message: "rule versions are not stored on this server"}
	}
	l, err := h.rs.List(ctx, 1)
	if err != nil {
		return RuleVersion{}, err
	}
	if len(l) == 0 {
		return RuleVersion{}, NotFound("no rules version has been applied: the server runs the routing file of its configuration", ErrNotFound)
	}
	return h.rs.Get(ctx, l[0].Version)
}

func (h *rulesHandlers) test(w http.ResponseWriter, r *http.Request) error {
	var in TestRules
	if err := Decode(r, &in, false); err != nil {
		return err
	}
	name, content := in.Filename, in.Content
	if name == "" {
		name = "routing.yaml"
	}
	if content == "" {
		v, err := h.inForce(r.Context())
		if err != nil {
			return err
		}
		name, content = v.Filename, v.Content
	}
	cfg, err := routing.ParseRules(name, []byte(content))
	if err != nil {
		return rulesError(err)
	}
	at := in.At
	if at.IsZero() {
		at = h.rs.Now()
	}
	var agents []routing.AgentView
	if in.Live {
		if h.rs.Agents == nil {
			return &Error{Status: http.StatusNotImplemented, Message: "live agents are not available on this server"}
		}
		agents = h.rs.Agents()
		if agents == nil {
			agents = []routing.AgentView{}
		}
	}
	res, err := routing.DryRun(cfg, agents, in.Call, at)
	if err != nil {
		return BadRequest("call", err.Error())
	}
	return WriteJSON(w, http.StatusOK, res)
}

func (h *rulesHandlers) diff(w http.ResponseWriter, r *http.Request) error {
	var in ValidateRules
	if err := Decode(r, &in, false); err != nil {
		return err
	}
	var old RuleVersion
	var err error
	if in.Against > 0 {
		if h.rs.Get == nil {
			return &Error{Status: http.StatusNotImplemented, Message: "rule versions are not stored on this server"}
		}
		old, err = h.rs.Get(r.Context(), in.Against)
	} else {
		old, err = h.inForce(r.Context())
	}
	if err != nil {
		return versionError(in.Against, err)
	}
	a, err := routing.ParseRules(old.Filename, []byte(old.Content))
	if err != nil {
		return fmt.Errorf("stored version %d no longer parses: %w", old.Version, err)
	}
	b, err := routing.ParseRules(in.Filename, []byte(in.Content))
	if err != nil {
		return rulesError(err)
	}
	changes := routing.Diff(a, b)
	if changes == nil {
		changes = []routing.Change{}
	}
	return WriteJSON(w, http.StatusOK, changes)
}

func versionError(v int64, err error) error {
	if errors.Is(err, ErrNotFound) {
		var ae *Error
		if errors.As(err, &ae) {
			return err
		}
		return NotFound(fmt.Sprintf("unknown rules version %d", v), err)
	}
	return err
}

func (h *rulesHandlers) current(w http.ResponseWriter, r *http.Request) error {
	v, err := h.inForce(r.Context())
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, v)
}

func (h *rulesHandlers) list(w http.ResponseWriter, r *http.Request) error {
	if h.rs.List == nil {
		return &Error{Status: http.StatusNotImplemented, Message: "rule versions are not stored on this server"}
	}
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 1000 {
			return BadRequest("limit", fmt.Sprintf("%q: a number from 1 to 1000", s))
		}
		limit = n
	}
	l, err := h.rs.List(r.Context(), limit)
	if err != nil {
		return err
	}
	if l == nil {
		l = []RuleVersion{}
	}
	return WriteJSON(w, http.StatusOK, l)
}

func (h *rulesHandlers) get(w http.ResponseWriter, r *http.Request) error {
	if h.rs.Get == nil {
		return &Error{Status: http.StatusNotImplemented, Message: "rule versions are not stored on this server"}
	}
	n, err := strconv.ParseInt(r.PathValue("version"), 10, 64)
	if err != nil || n <= 0 {
		return BadRequest("version", fmt.Sprintf("%q is not a version number", r.PathValue("version")))
	}
	v, err := h.rs.Get(r.Context(), n)
	if err != nil {
		return versionError(n, err)
	}
	return WriteJSON(w, http.StatusOK, v)
}

func (h *rulesHandlers) apply(w http.ResponseWriter, r *http.Request) error {
	var in ApplyRules
	if err := Decode(r, &in, false); err != nil {
		return err
	}
	v := RuleVersion{Filename: in.Filename, Content: in.Content, Author: in.Author, Comment: in.Comment}
	return h.store(w, r.Context(), v)
}

func (h *rulesHandlers) rollback(w http.ResponseWriter, r *http.Request) error {
	var in Rollback
	if err := Decode(r, &in, false); err != nil {
		return err
	}
	if h.rs.Get == nil {
		return &Error{Status: http.StatusNotImplemented, Message: "rule versions are not stored on this server"}
	}
	old, err := h.rs.Get(r.Context(), in.Version)
	if err != nil {
		return versionError(in.Version, err)
	}
	comment := in.Comment
	if comment == "" {
		comment = fmt.Sprintf("rollback to version %d", in.Version)
	}
	v := RuleVersion{Filename: old.Filename, Content: old.Content, Author: in.Author, Comment: comment, RollbackOf: in.Version}
	return h.store(w, r.Context(), v)
}

// store validates, stores (with its audit entry) and reloads. A file that
// does not parse changes nothing. The stored version is the truth: if the
// reload fails after the store, the answer says so and the version is put
// in force at the next start.
func (h *rulesHandlers) store(w http.ResponseWriter, ctx context.Context, v RuleVersion) error {
	if h.rs.Add == nil || h.rs.Reload == nil {
		return &Error{Status: http.StatusNotImplemented, Message: "applying rules is not available on this server"}
	}
	cfg, err := routing.ParseRules(v.Filename, []byte(v.Content))
	if err != nil {
		return rulesError(err)
	}
	if _, err := routing.NewEngineChecked(cfg); err != nil {
		return rulesError(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rs.Ready != nil {
		if err := h.rs.Ready(); err != nil {
			return fmt.Errorf("rules not applied, nothing stored: %w", err)
		}
	}
	if err := h.rs.Add(ctx, &v); err != nil {
		return fmt.Errorf("store rules version: %w", err)
	}
	cfg.Version = strconv.FormatInt(v.Version, 10)
	if err := h.rs.Reload(ctx, cfg); err != nil {
		return fmt.Errorf("rules version %d is stored but not in force yet (it will be at the next start): %w", v.Version, err)
	}
	v.Content = ""
	return WriteJSON(w, http.StatusCreated, v)
}
