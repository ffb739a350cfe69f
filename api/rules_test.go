package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

const rulesV1 = `queues:
  - name: support
  - name: general
entry:
  - {name: support-line, dialed: ["1000"], queue: support}
agents:
  - {id: alice, skills: {support: 5}, queues: {support: 1, general: 1}}
`

const rulesV2 = `queues:
  - name: support
    steps: [{after: 30s, overflow_to: general}]
  - name: general
entry:
  - {name: support-line, dialed: ["1000"], queue: support, priority: 2}
agents:
  - {id: alice, skills: {support: 5}, queues: {support: 1, general: 1}}
`

// rulesEnv is the rules API over a real SQLite store and a real engine,
// the way the server wires them.
type rulesEnv struct {
	ts     *httptest.Server
	store  *storage.Store
	mu     sync.Mutex
	engine *routing.Engine
	now    time.Time
	failOn int // make Reload fail for this stored version (0: never)
	// notReady, when set, is what Ready answers (a node still starting).
	notReady error
}

func newRulesEnv(t *testing.T) *rulesEnv {
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "sb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	env := &rulesEnv{store: st, now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	boot, err := routing.ParseRules("boot.yaml", []byte(rulesV1))
	if err != nil {
		t.Fatal(err)
	}
	env.engine = routing.NewEngine(boot)
	toAPI := func(v storage.RuleVersion) RuleVersion {
		return RuleVersion{Version: v.Version, Filename: v.Filename, SHA256: v.SHA256, Author: v.Author, Comment: v.Comment, RollbackOf: v.RollbackOf, CreatedAt: v.CreatedAt, Content: v.Content}
	}
	rs := Rules{
		Add: func(ctx context.Context, v *RuleVersion) error {
			sv := storage.RuleVersion{Filename: v.Filename, Content: v.Content, Author: v.Author, Comment: v.Comment, RollbackOf: v.RollbackOf, CreatedAt: env.now}
			if err := st.AddRuleVersion(ctx, &sv); err != nil {
				return err
			}
			*v = toAPI(sv)
			return nil
		},
		List: func(ctx context.Context, limit int) ([]RuleVersion, error) {
			l, err := st.RuleVersions(ctx, limit)
			var out []RuleVersion
			for _, v := range l {
				out = append(out, toAPI(v))
			}
			return out, err
		},
		Get: func(ctx context.Context, n int64) (RuleVersion, error) {
			v, err := st.GetRuleVersion(ctx, n)
			if errors.Is(err, storage.ErrNotFound) {
				return RuleVersion{}, fmt.Errorf("%w: %v", ErrNotFound, err)
			}
			if err != nil {
				return RuleVersion{}, err
			}
			return toAPI(*v), nil
		},
		Reload: func(ctx context.Context, cfg *routing.Config) error {
			env.mu.Lock()
			defer env.mu.Unlock()
			if cfg.Version == fmt.Sprint(env.failOn) {
				return errors.New("controller stopped")
			}
			_, err := env.engine.Reload(cfg, env.now)
			return err
		},
		Ready: func() error {
			env.mu.Lock()
			defer env.mu.Unlock()
			return env.notReady
		},
		Agents: func() []routing.AgentView {
			env.mu.Lock()
			defer env.mu.Unlock()
			return env.engine.Agents()
		},
		Now: func() time.Time { return env.now },
	}
	s, err := New(Options{Token: "tok", Errors: []ErrorStatus{{Err: errStarting, Status: http.StatusServiceUnavailable}}}, RulesRoutes(rs))
	if err != nil {
		t.Fatal(err)
	}
	env.ts = httptest.NewServer(s)
	t.Cleanup(env.ts.Close)
	return env
}

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRulesValidate(t *testing.T) {
	env := newRulesEnv(t)
	code, _, raw := do(t, "POST", env.ts.URL+"/api/v1/rules/validate", "tok", jsonBody(t, ValidateRules{Filename: "r.yaml", Content: "queues:\n  - name: a\n    stratgy: x\nentry:\n  - {queue: nope}\n"}))
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, raw)
	}
	var res ValidationResult
	json.Unmarshal([]byte(raw), &res)
	if res.Valid || len(res.Errors) != 2 || res.Errors[0].Line != 3 || res.Errors[0].Column != 5 || res.Errors[1].Line != 5 || res.Errors[0].File != "r.yaml" {
		t.Fatalf("%+v", res)
	}
	code, _, raw = do(t, "POST", env.ts.URL+"/api/v1/rules/validate", "tok", jsonBody(t, ValidateRules{Content: rulesV1}))
	json.Unmarshal([]byte(raw), &res)
	if code != 200 || !res.Valid || res.Queues != 2 || res.Agents != 1 {
		t.Fatalf("%d %s", code, raw)
	}
	if code, eb, _ := do(t, "POST", env.ts.URL+"/api/v1/rules/validate", "tok", `{}`); code != 400 || eb.Error.Field != "content" {
		t.Fatalf("empty content: %d %+v", code, eb)
	}
}

func TestRulesApplyHistoryRollback(t *testing.T) {
	env := newRulesEnv(t)
	ctx := context.Background()
	url := env.ts.URL + "/api/v1/rules"
	// Nothing applied yet.
	if code, _, _ := do(t, "GET", url, "", ""); code != 404 {
		t.Fatalf("current before any apply: %d", code)
	}
	// Writes need the token.
	if code, _, _ := do(t, "POST", url, "", jsonBody(t, ApplyRules{Content: rulesV1, Author: "alice"})); code != 401 {
		t.Fatalf("apply without token: %d", code)
	}
	code, _, raw := do(t, "POST", url, "tok", jsonBody(t, ApplyRules{Filename: "routing.yaml", Content: rulesV1, Author: "alice", Comment: "first"}))
	if code != 201 {
		t.Fatalf("apply v1: %d %s", code, raw)
	}
	// A call waits in support under v1 (alice is logged out).
	env.mu.Lock()
	env.engine.Arrive(routing.Call{ID: "c1", DialedNumber: "1000"}, env.now)
	env.mu.Unlock()
	env.now = env.now.Add(40 * time.Second)
	code, _, raw = do(t, "POST", url, "tok", jsonBody(t, ApplyRules{Filename: "routing.yaml", Content: rulesV2, Author: "bob", Comment: "overflow after 30 s"}))
	var v RuleVersion
	json.Unmarshal([]byte(raw), &v)
	if code != 201 || v.Version != 2 || v.Author != "bob" || v.Content != "" {
		t.Fatalf("apply v2: %d %s", code, raw)
	}
	// Live reload: the waiting call (40 s) moved to general at once, under v2.
	env.mu.Lock()
	q, _ := env.engine.CallQueue("c1")
	version := env.engine.Config().Version
	env.mu.Unlock()
	if q != "general" || version != "2" {
		t.Fatalf("after reload: c1 in %q, engine version %q", q, version)
	}
	// A broken file changes nothing: no version, engine untouched.
	code, eb, _ := do(t, "POST", url, "tok", jsonBody(t, ApplyRules{Content: "queues:\n  - name: a\n    wrap_up: soon\n", Author: "eve"}))
	if code != 422 || !strings.Contains(eb.Error.Message, "routing.yaml:3:14") || !strings.Contains(eb.Error.Message, "nothing was changed") {
		t.Fatalf("bad apply: %d %+v", code, eb)
	}
	if l, _ := env.store.RuleVersions(ctx, 10); len(l) != 2 {
		t.Fatalf("a rejected file was stored: %d versions", len(l))
	}
	if env.engine.Config().Version != "2" {
		t.Fatal("a rejected file reached the engine")
	}
	// History, one version, current.
	code, _, raw = do(t, "GET", url+"/versions", "", "")
	var hist []RuleVersion
	json.Unmarshal([]byte(raw), &hist)
	if code != 200 || len(hist) != 2 || hist[0].Version != 2 || hist[0].Content != "" || hist[1].Comment != "first" {
		t.Fatalf("history %d %s", code, raw)
	}
	code, _, raw = do(t, "GET", url+"/versions/1", "", "")
	json.Unmarshal([]byte(raw), &v)
	if code != 200 || v.Content != rulesV1 {
		t.Fatalf("version 1: %d %s", code, raw)
	}
	if code, _, _ := do(t, "GET", url+"/versions/9", "", ""); code != 404 {
		t.Fatalf("unknown version: %d", code)
	}
	if code, eb, _ := do(t, "GET", url+"/versions/x", "", ""); code != 400 || eb.Error.Field != "version" {
		t.Fatalf("bad version: %d", code)
	}
	// Diff against the version in force.
	code, _, raw = do(t, "POST", url+"/diff", "tok", jsonBody(t, ValidateRules{Content: rulesV1}))
	if code != 200 || !strings.Contains(raw, "steps") || !strings.Contains(raw, "support-line") {
		t.Fatalf("diff: %d %s", code, raw)
	}
	// Roll back to 1: version 3 with v1's content, audit says rollback.
	code, _, raw = do(t, "POST", url+"/rollback", "tok", jsonBody(t, Rollback{Version: 1, Author: "carol"}))
	json.Unmarshal([]byte(raw), &v)
	if code != 201 || v.Version != 3 || v.RollbackOf != 1 {
		t.Fatalf("rollback: %d %s", code, raw)
	}
	code, _, raw = do(t, "GET", url, "", "")
	json.Unmarshal([]byte(raw), &v)
	if code != 200 || v.Version != 3 || v.Content != rulesV1 || env.engine.Config().Version != "3" {
		t.Fatalf("current after rollback: %d %s", code, raw)
	}
	if code, _, _ := do(t, "POST", url+"/rollback", "tok", jsonBody(t, Rollback{Version: 42, Author: "carol"})); code != 404 {
		t.Fatalf("rollback to unknown: %d", code)
	}
	if code, eb, _ := do(t, "POST", url+"/rollback", "tok", jsonBody(t, Rollback{Version: 1})); code != 400 || eb.Error.Field != "author" {
		t.Fatalf("rollback without author: %d %+v", code, eb)
	}
	audit, _ := env.store.Audit(ctx, 10)
	if len(audit) != 3 || audit[0].Action != storage.AuditRulesRollback || audit[0].Actor != "carol" {
		t.Fatalf("audit %+v", audit)
	}
}

func TestRulesReloadFailureIsReported(t *testing.T) {
	env := newRulesEnv(t)
	env.failOn = 1
	code, eb, _ := do(t, "POST", env.ts.URL+"/api/v1/rules", "tok", jsonBody(t, ApplyRules{Content: rulesV1, Author: "alice"}))
	if code != 500 || !strings.Contains(eb.Error.Message, "stored but not in force") {
		t.Fatalf("%d %+v", code, eb)
	}
}

// errStarting stands for the controller's "not running yet".
var errStarting = errors.New("controller not running")

// A node that cannot put a version in force yet refuses the apply before
// storing it: the 503 means "try again", and the retry must not find a
// first copy already stored (it did once, in a server test).
func TestRulesApplyWhileStartingStoresNothing(t *testing.T) {
	env := newRulesEnv(t)
	env.notReady = errStarting
	code, eb, _ := do(t, "POST", env.ts.URL+"/api/v1/rules", "tok", jsonBody(t, ApplyRules{Content: rulesV1, Author: "alice"}))
	if code != 503 || !strings.Contains(eb.Error.Message, "nothing stored") {
		t.Fatalf("apply while starting: %d %+v", code, eb)
	}
	if l, err := env.store.RuleVersions(context.Background(), 10); err != nil || len(l) != 0 {
		t.Fatalf("versions after a refused apply: %v %v", l, err)
	}
	env.mu.Lock()
	env.notReady = nil
	env.mu.Unlock()
	code, _, raw := do(t, "POST", env.ts.URL+"/api/v1/rules", "tok", jsonBody(t, ApplyRules{Content: rulesV1, Author: "alice"}))
	if code != 201 || !strings.Contains(raw, `"version": 1`) {
		t.Fatalf("retry once started: %d %s", code, raw)
	}
}

func TestRulesDryRun(t *testing.T) {
	env := newRulesEnv(t)
	url := env.ts.URL + "/api/v1/rules/test"
	// Offline: the file's agents are available.
	code, _, raw := do(t, "POST", url, "tok", jsonBody(t, TestRules{Content: rulesV1, Call: routing.Call{DialedNumber: "1000"}}))
	var res routing.DryRunResult
	json.Unmarshal([]byte(raw), &res)
	if code != 200 || res.Queue != "support" || res.Agent != "alice" || res.Trace == nil {
		t.Fatalf("%d %s", code, raw)
	}
	// Live: alice is logged out on the floor, so nobody takes it.
	code, _, raw = do(t, "POST", url, "tok", jsonBody(t, TestRules{Content: rulesV1, Live: true, Call: routing.Call{DialedNumber: "1000"}}))
	res = routing.DryRunResult{}
	json.Unmarshal([]byte(raw), &res)
	if code != 200 || res.Agent != "" || res.Waiting == "" {
		t.Fatalf("live: %d %s", code, raw)
	}
	// Without content it tests the version in force (none yet: 404).
	if code, _, _ := do(t, "POST", url, "tok", `{"call":{"dialed_number":"1000"}}`); code != 404 {
		t.Fatalf("no version in force: %d", code)
	}
	if code, _, _ := do(t, "POST", url, "tok", `{"content":"queues: [","call":{}}`); code != 422 {
		t.Fatalf("bad file: %d", code)
	}
}
