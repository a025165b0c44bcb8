package metricsdoc

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// srcMetric is a metric found in the source: a call of prometheus.NewX
// with literal options, or of a helper closure that makes one.
type srcMetric struct {
	Name   string
	Type   string
	Labels []string
	Pos    string
}

const promPath = "github.com/prometheus/client_golang/prometheus"

// skipDirs are not leaselb's daemons: generated clients, build tools, the
// lab.
var skipDirs = []string{".git", "bin", "hack", "e2e", "testdata", "internal/client", "internal/metricsdoc"}

// scanSource finds every metric constructed in the non-test Go files under
// root. It understands option literals written out in the call, names and
// labels given as string literals, local []string variables, and a local
// helper closure (`counter := func(name, help string, l ...string) ...`)
// whose parameters are bound at each call. Anything else is an error, so
// a new style of registration makes the test fail loudly instead of
// silently skipping a metric.
func scanSource(root string) ([]srcMetric, error) {
	var out []srcMetric
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if slices.Contains(skipDirs, filepath.ToSlash(rel)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		ms, err := scanFile(path, rel)
		out = append(out, ms...)
		return err
	})
	return out, err
}

func scanFile(path, rel string) ([]srcMetric, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		return nil, err
	}
	prom := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == promPath {
			prom = "prometheus"
			if imp.Name != nil {
				prom = imp.Name.Name
			}
		}
	}
	if prom == "" {
		return nil, nil
	}
	var out []srcMetric
	var firstErr error
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		var stack []ast.Node
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			stack = append(stack, n)
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			typ, vec, ok := constructor(call, prom)
			if !ok {
				return true
			}
			pos := fmt.Sprintf("%s:%d", rel, fset.Position(call.Pos()).Line)
			ms, err := resolve(fd, stack, call, typ, vec, pos)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out = append(out, ms...)
			return true
		})
	}
	return out, firstErr
}

// constructor reports whether call is prometheus.NewCounter, NewGaugeVec,
// ... and which type it makes.
func constructor(call *ast.CallExpr, prom string) (typ string, vec bool, ok bool) {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return "", false, false
	}
	if x, ok := sel.X.(*ast.Ident); !ok || x.Name != prom {
		return "", false, false
	}
	name := sel.Sel.Name
	for _, t := range []string{"Counter", "Gauge", "Histogram", "Summary"} {
		switch name {
		case "New" + t:
			return strings.ToLower(t), false, true
		case "New" + t + "Vec":
			return strings.ToLower(t), true, true
		}
	}
	return "", false, false
}

// binding maps a helper closure's parameters to the arguments of one call.
type binding map[string][]ast.Expr

func resolve(fd *ast.FuncDecl, stack []ast.Node, call *ast.CallExpr, typ string, vec bool, pos string) ([]srcMetric, error) {
	one := func(b binding) (srcMetric, error) {
		opts, ok := call.Args[0].(*ast.CompositeLit)
		if !ok {
			return srcMetric{}, fmt.Errorf("%s: metric options are not a literal", pos)
		}
		parts := map[string]string{}
		for _, el := range opts.Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			key := kv.Key.(*ast.Ident).Name
			if key != "Namespace" && key != "Subsystem" && key != "Name" {
				continue
			}
			v, err := evalString(fd, kv.Value, b)
			if err != nil {
				return srcMetric{}, fmt.Errorf("%s: %s: %w", pos, key, err)
			}
			parts[key] = v
		}
		var name []string
		for _, k := range []string{"Namespace", "Subsystem", "Name"} {
			if parts[k] != "" {
				name = append(name, parts[k])
			}
		}
		m := srcMetric{Name: strings.Join(name, "_"), Type: typ, Pos: pos}
		if vec {
			ls, err := evalStrings(fd, call.Args[1], b)
			if err != nil {
				return srcMetric{}, fmt.Errorf("%s: labels: %w", pos, err)
			}
			slices.Sort(ls)
			m.Labels = ls
		}
		return m, nil
	}
	if m, err := one(nil); err == nil {
		return []srcMetric{m}, nil
	}
	// Inside a helper closure: bind its parameters at every call of it.
	for i := len(stack) - 1; i >= 0; i-- {
		lit, ok := stack[i].(*ast.FuncLit)
		if !ok {
			continue
		}
		helper := ""
		for j := i - 1; j >= 0; j-- {
			if as, ok := stack[j].(*ast.AssignStmt); ok && len(as.Lhs) == 1 && len(as.Rhs) == 1 && as.Rhs[0] == lit {
				helper = as.Lhs[0].(*ast.Ident).Name
			}
		}
		if helper == "" {
			break
		}
		var params []string
		variadic := false
		for _, f := range lit.Type.Params.List {
			_, variadic = f.Type.(*ast.Ellipsis)
			for _, n := range f.Names {
				params = append(params, n.Name)
			}
		}
		var out []srcMetric
		var firstErr error
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if id, ok := c.Fun.(*ast.Ident); !ok || id.Name != helper {
				return true
			}
			b := binding{}
			for k, p := range params {
				switch {
				case variadic && k == len(params)-1 && k <= len(c.Args):
					b[p] = c.Args[k:]
				case k < len(c.Args):
					b[p] = c.Args[k : k+1]
				}
			}
			m, err := one(b)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if err == nil {
				out = append(out, m)
			}
			return true
		})
		return out, firstErr
	}
	_, err := one(nil)
	return nil, err
}

func evalString(fd *ast.FuncDecl, e ast.Expr, b binding) (string, error) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			return strconv.Unquote(e.Value)
		}
	case *ast.Ident:
		if args, ok := b[e.Name]; ok && len(args) == 1 {
			return evalString(fd, args[0], nil)
		}
	}
	return "", fmt.Errorf("cannot resolve %T to a string literal", e)
}

func evalStrings(fd *ast.FuncDecl, e ast.Expr, b binding) ([]string, error) {
	switch e := e.(type) {
	case *ast.CompositeLit:
		var out []string
		for _, el := range e.Elts {
			s, err := evalString(fd, el, b)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	case *ast.Ident:
		if args, ok := b[e.Name]; ok {
			var out []string
			for _, a := range args {
				if id, ok := a.(*ast.Ident); ok {
					// `labels...` passed through to a variadic parameter.
					ls, err := evalStrings(fd, id, nil)
					if err != nil {
						return nil, err
					}
					out = append(out, ls...)
					continue
				}
				s, err := evalString(fd, a, nil)
				if err != nil {
					return nil, err
				}
				out = append(out, s)
			}
			return out, nil
		}
		// A local variable: labels := []string{...}.
		var found ast.Expr
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
				for i, l := range as.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name == e.Name {
						found = as.Rhs[i]
					}
				}
			}
			return found == nil
		})
		if found != nil {
			return evalStrings(fd, found, nil)
		}
	}
	return nil, fmt.Errorf("cannot resolve %T to a []string literal", e)
}
