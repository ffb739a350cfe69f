package routing

import (
	"fmt"
	"reflect"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	exprparser "github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Limits on a routing expression. An entry rule or boost runs on every
// arriving call and an agent condition on every candidate agent, inside
// the controller's one event loop: an expression that takes a second
// stalls the whole floor, so what may be slow is refused when the file
// loads rather than discovered on a busy morning.
const (
	// MaxExprLength is the longest expression accepted, in bytes.
	MaxExprLength = 2000
	// maxExprNodes bounds the expression's syntax tree (expr's own default
	// is 10,000).
	maxExprNodes = 500
	// MaxRangeSpan is the widest constant range (hour in 9..17) accepted:
	// a range is built as an array on every evaluation.
	MaxRangeSpan = 1000
	// MaxExpressions bounds the distinct expressions of one file (the
	// same text in many places is compiled once): compiling is what
	// validation spends its time on, and a file of short distinct
	// conditions on every step took seconds.
	MaxExpressions = 10000
	// MaxPatternSize bounds one `matches` pattern, in compiled regexp
	// instructions ("[a-z]{1000}" is over 1,000), and MaxPatternsSize
	// all the file's patterns together: regexp compilation costs about
	// a microsecond per instruction, paid twice by expr.
	MaxPatternSize  = 1000
	MaxPatternsSize = 50000
)

// exprFunctions are the expr builtins a routing expression may call:
// comparisons, string tests and conversions whose cost is bounded by
// their input. Left out: now() and date() (the engine's clock is the one
// it is given: a rule reading the wall clock would route differently in
// `rules test --at`, in the simulator and live), the loops (all, any,
// map, filter, reduce …: nested, they multiply), and the builders whose
// output can outgrow their input (repeat, replace, join, toJSON …).
var exprFunctions = []string{
	"len", "abs", "int", "float", "string", "trim", "trimPrefix", "trimSuffix",
	"upper", "lower", "split", "indexOf", "lastIndexOf", "hasPrefix", "hasSuffix",
	"max", "min", "keys", "values", "first", "last",
}

// exprFuncs are the functions of the environments themselves.
var exprFuncs = map[string]bool{"open": true}

// exprSet compiles the expressions of one file within the file's
// budgets (MaxExpressions, MaxPatternsSize): each distinct text against
// each environment once, its program (immutable, safe to share) reused
// wherever the text appears again.
type exprSet struct {
	progs map[exprKey]exprResult
	// patterns is the compiled size of the `matches` patterns so far.
	patterns int
}

type exprKey struct {
	env reflect.Type
	src string
}

type exprResult struct {
	prog *vm.Program
	err  error
}

// compile is compileExpr for one file. calendars is the same map for
// every call with a given env (the file's, or nil).
func (s *exprSet) compile(src string, env any, calendars map[string]*Calendar) (*vm.Program, error) {
	k := exprKey{reflect.TypeOf(env), src}
	if r, ok := s.progs[k]; ok {
		return r.prog, r.err
	}
	if len(s.progs) >= MaxExpressions {
		return nil, fmt.Errorf("more than %d distinct expressions in the file", MaxExpressions)
	}
	if s.progs == nil {
		s.progs = map[exprKey]exprResult{}
	}
	prog, err := compileExpr(src, env, calendars, &s.patterns)
	s.progs[k] = exprResult{prog, err}
	return prog, err
}

// compileExpr compiles a routing expression against env once, at load
// time, after checking it against the limits above. calendars, when not
// nil, are the names open("…") may use. patterns, when not nil, is the
// compiled size of the patterns already looked at in the same file; the
// expression's own are added to it.
func compileExpr(src string, env any, calendars map[string]*Calendar, patterns *int) (*vm.Program, error) {
	if len(src) > MaxExprLength {
		return nil, fmt.Errorf("expression is %d bytes long; at most %d", len(src), MaxExprLength)
	}
	// The syntax is checked first, without the environment: a parse error
	// is left for Compile to report in its usual words.
	if patterns == nil {
		patterns = new(int)
	}
	c := &exprCheck{calendars: calendars, patterns: patterns}
	if tree, err := exprparser.Parse(src); err == nil {
		ast.Walk(&tree.Node, c)
		if c.err != nil {
			return nil, c.err
		}
	}
	prog, err := expr.Compile(src, expr.Env(env), expr.AsBool(), expr.MaxNodes(maxExprNodes))
	if err != nil {
		return nil, fmt.Errorf("%s", firstLine(err.Error()))
	}
	return prog, nil
}

// exprCheck finds what compileExpr refuses; the first problem wins.
type exprCheck struct {
	calendars map[string]*Calendar
	// patterns is the compiled size of the file's patterns so far,
	// refused ones included (compiling them was work all the same).
	patterns *int
	err      error
}

func (c *exprCheck) fail(n ast.Node, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%s (at character %d of the expression)", fmt.Sprintf(format, args...), n.Location().From+1)
	}
}

func (c *exprCheck) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BuiltinNode:
		if !slices.Contains(exprFunctions, n.Name) {
			c.fail(n, "function %s is not allowed in routing expressions (allowed: %s, and open(\"calendar\"))", n.Name, strings.Join(exprFunctions, ", "))
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || !exprFuncs[id.Value] {
			return // the type checker reports unknown functions and methods
		}
		if id.Value == "open" && c.calendars != nil && len(n.Arguments) == 1 {
			if s, ok := n.Arguments[0].(*ast.StringNode); ok && c.calendars[s.Value] == nil {
				c.fail(n, "open(%q): no calendar of that name (calendars: %s)", s.Value, strings.Join(sortedKeys(c.calendars), ", "))
			}
		}
	case *ast.VariableDeclaratorNode:
		// let x = s + s; let y = x + x; … doubles a string per line.
		c.fail(n, "let is not allowed in routing expressions")
	case *ast.BinaryNode:
		if n.Operator == "matches" {
			c.pattern(n)
			return
		}
		if n.Operator != ".." {
			return
		}
		from, okf := constInt(n.Left)
		to, okt := constInt(n.Right)
		switch {
		case !okf || !okt:
			c.fail(n, "a range needs constant whole-number bounds (hour in 9..17)")
		case to-from > MaxRangeSpan:
			c.fail(n, "range %d..%d spans %d values; at most %d", from, to, to-from, MaxRangeSpan)
		}
	}
}

// pattern checks the right side of `matches`: a constant (expr compiles
// it once, at load; a pattern taken from the call would be compiled on
// every call, from whatever a caller put in a channel variable) of a
// bounded size.
func (c *exprCheck) pattern(n *ast.BinaryNode) {
	s, ok := n.Right.(*ast.StringNode)
	if !ok {
		c.fail(n, `matches needs a constant pattern ("^\\+33"), not one computed from the call`)
		return
	}
	// Past the file's budget nothing more is compiled, not even to
	// measure: a file of 10,000 oversized patterns would otherwise cost
	// 10,000 compilations to refuse.
	if *c.patterns > MaxPatternsSize {
		c.fail(n, "the file's patterns compile to more than %d instructions together", MaxPatternsSize)
		return
	}
	re, err := syntax.Parse(s.Value, syntax.Perl)
	if err != nil {
		return // Compile reports the bad pattern in its usual words
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return
	}
	size := len(prog.Inst)
	*c.patterns += size
	switch {
	case size > MaxPatternSize:
		c.fail(n, "pattern %.40q compiles to %d instructions; at most %d", s.Value, size, MaxPatternSize)
	case *c.patterns > MaxPatternsSize:
		c.fail(n, "the file's patterns compile to more than %d instructions together", MaxPatternsSize)
	}
}

func constInt(n ast.Node) (int, bool) {
	switch v := n.(type) {
	case *ast.IntegerNode:
		return v.Value, true
	case *ast.UnaryNode:
		if x, ok := constInt(v.Node); ok && v.Operator == "-" {
			return -x, true
		}
	}
	return 0, false
}
