package routing

import (
	"fmt"
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

// compileExpr compiles a routing expression against env once, at load
// time, after checking it against the limits above. calendars, when not
// nil, are the names open("…") may use.
func compileExpr(src string, env any, calendars map[string]*Calendar) (*vm.Program, error) {
	if len(src) > MaxExprLength {
		return nil, fmt.Errorf("expression is %d bytes long; at most %d", len(src), MaxExprLength)
	}
	// The syntax is checked first, without the environment: a parse error
	// is left for Compile to report in its usual words.
	if tree, err := exprparser.Parse(src); err == nil {
		c := &exprCheck{calendars: calendars}
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
	err       error
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
