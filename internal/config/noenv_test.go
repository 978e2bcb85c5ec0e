package config

import (
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestNoEnvironmentReadsOutsideConfig fails when Go code outside this
// package reads the environment, so that every variable goes through a
// Load* function (and so through TestEveryVariableReadIsDocumented). In the
// module's non-test .go files (internal/config, testdata, vendor, hidden
// directories and `//go:build ignore` generators excepted) it forbids:
//
//   - a call of os or syscall Getenv, LookupEnv, Environ or ExpandEnv;
//     passing os.LookupEnv as a value (cmd/mana/main.go hands it to the
//     loaders) is not a call and is allowed;
//   - a call of a lookup function: a variable, parameter or field named
//     `look`, or declared as config.Lookup or func(string) (string, bool);
//   - a call that passes a lookup function together with a constant string
//     that looks like a variable name (^[A-Z][A-Z0-9_]{2,}$), such as
//     setting(look, "MANA_DATA_DIR", ...).
//
// Negative control (run on the tree before the assembly moved to
// internal/app): it reported every read in cmd/mana (BETTER_AUTH_SECRET in auth.go, the
// NOTIFY_*_RETRY_BASE and NOTIFY_JWKS_REFETCH_INTERVAL durations in
// notify.go, BASE_URL, JWT_ISSUER, MANA_AUTH_URL, SMTP_HOST and
// MANA_DATA_DIR in serve.go, PORT in probe.go, DATABASE_URL in migrate.go
// and backend.go).
func TestNoEnvironmentReadsOutsideConfig(t *testing.T) {
	root := moduleRoot(t)
	findings, err := envReads(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Errorf("%s: read the environment through internal/config instead", f)
	}
}

// The checker itself, on sources written for it: this runs whatever the
// constant says. Negative control: with the lookup-argument rule removed
// from envReads, the setting(look, ...) lines are not reported and this fails.
func TestEnvReadsChecker(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n")
	write("cmd/x/main.go", `package main

import (
	"os"
	env "os"

	"example.com/m/internal/config"
)

const portEnv = "PORT"

func main() {
	_ = run(os.LookupEnv) // a value, not a call: allowed
	_ = os.Getenv("HOME")
	_, _ = env.LookupEnv("SHELL")
	_ = os.Environ()
}

func run(look config.Lookup) error {
	_ = setting(look, "MANA_DATA_DIR", "d")
	_ = setting(look, portEnv, "3001")
	_, _ = config.LoadAuth(look) // handing look to a loader: allowed
	v, _ := look("DATABASE_URL")
	return nil
}

func setting(l func(string) (string, bool), name, def string) string {
	v, _ := l(name)
	_ = strings.ToUpper("ABC") // not a lookup: allowed
	return v
}
`)
	write("internal/config/config.go", "package config\n\nimport \"os\"\n\nvar _ = os.Getenv(\"ALLOWED_HERE\")\n")
	write("internal/y/y_test.go", "package y\n\nimport \"os\"\n\nvar _ = os.Getenv(\"TESTS_MAY\")\n")
	write("internal/y/gen.go", "//go:build ignore\n\npackage main\n\nimport \"os\"\n\nvar _ = os.Environ()\n")
	write("testdata/z.go", "package z\n\nimport \"os\"\n\nvar _ = os.Getenv(\"FIXTURE\")\n")

	got, err := envReads(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cmd/x/main.go:14: calls os.Getenv",
		"cmd/x/main.go:15: calls os.LookupEnv",
		"cmd/x/main.go:16: calls os.Environ",
		"cmd/x/main.go:20: reads MANA_DATA_DIR through setting(look, ...)",
		"cmd/x/main.go:21: reads PORT through setting(look, ...)",
		"cmd/x/main.go:23: reads DATABASE_URL through look",
		"cmd/x/main.go:28: reads a computed name through l",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("envReads =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// moduleRoot is the directory of go.mod above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above internal/config")
		}
		dir = parent
	}
}

// envFuncs are the functions of os and syscall that read the environment.
func envFuncs() map[string]map[string]bool {
	reads := map[string]bool{"Getenv": true, "LookupEnv": true, "Environ": true, "ExpandEnv": true}
	return map[string]map[string]bool{"os": reads, "syscall": reads}
}

// envReads lists, sorted, every environment read in root's non-test Go
// files outside internal/config, as "path:line: what".
func envReads(root string) ([]string, error) {
	files := map[string][]*ast.File{} // by directory: constants are per package
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				name == "testdata" || name == "vendor" || name == "node_modules" || rel == "internal/config") {
				return filepath.SkipDir
			}
			// A nested module is not ours to check.
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if ignored(f) {
			return nil
		}
		files[filepath.Dir(path)] = append(files[filepath.Dir(path)], f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, pkg := range files {
		consts := stringConsts(pkg)
		for _, f := range pkg {
			for _, finding := range fileEnvReads(f, consts) {
				pos := fset.Position(finding.pos)
				rel, _ := filepath.Rel(root, pos.Filename)
				out = append(out, fmt.Sprintf("%s:%d: %s", filepath.ToSlash(rel), pos.Line, finding.what))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessFinding(out[i], out[j]) })
	return out, nil
}

// lessFinding orders "path:line: ..." by path, then line as a number.
func lessFinding(a, b string) bool {
	pa, la := splitFinding(a)
	pb, lb := splitFinding(b)
	if pa != pb {
		return pa < pb
	}
	if la != lb {
		return la < lb
	}
	return a < b
}

func splitFinding(s string) (string, int) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 {
		return s, 0
	}
	n, _ := strconv.Atoi(parts[1])
	return parts[0], n
}

// ignored reports a file never built: its //go:build line names `ignore`
// (generators run by go generate).
func ignored(f *ast.File) bool {
	for _, g := range f.Comments {
		if g.Pos() >= f.Package {
			break
		}
		for _, c := range g.List {
			if !constraint.IsGoBuild(c.Text) {
				continue
			}
			expr, err := constraint.Parse(c.Text)
			if err != nil {
				continue
			}
			named := false
			expr.Eval(func(tag string) bool {
				named = named || tag == "ignore"
				return false
			})
			if named {
				return true
			}
		}
	}
	return false
}

// stringConsts are the package's string constants, by name (local
// constants included; shadowing is ignored).
func stringConsts(pkg []*ast.File) map[string]string {
	consts := map[string]string{}
	for _, f := range pkg {
		ast.Inspect(f, func(n ast.Node) bool {
			gd, ok := n.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				return true
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							if v, err := strconv.Unquote(lit.Value); err == nil {
								consts[name.Name] = v
							}
						}
					}
				}
			}
			return true
		})
	}
	return consts
}

type envRead struct {
	pos  token.Pos
	what string
}

// fileEnvReads applies the three rules of TestNoEnvironmentReadsOutsideConfig to f.
func fileEnvReads(f *ast.File, consts map[string]string) []envRead {
	// Local names of the imports that matter.
	pkgs := map[string]string{} // local name -> "os", "syscall" or "config"
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		var std string
		switch {
		case path == "os" || path == "syscall":
			std = path
		case strings.HasSuffix(path, "/internal/config"):
			std = "config"
		default:
			continue
		}
		local := std
		if imp.Name != nil {
			local = imp.Name.Name
		}
		pkgs[local] = std
	}
	isLookupType := func(e ast.Expr) bool {
		switch t := e.(type) {
		case *ast.SelectorExpr:
			x, ok := t.X.(*ast.Ident)
			return ok && pkgs[x.Name] == "config" && t.Sel.Name == "Lookup"
		case *ast.FuncType:
			return isIdent(fieldTypes(t.Params), "string") && isIdent(fieldTypes(t.Results), "string", "bool")
		}
		return false
	}
	// Lookup functions by name: `look`, and anything declared with a lookup
	// type (parameters, results, struct fields, variables).
	lookups := map[string]bool{"look": true}
	ast.Inspect(f, func(n ast.Node) bool {
		switch d := n.(type) {
		case *ast.Field:
			if isLookupType(d.Type) {
				for _, name := range d.Names {
					lookups[name.Name] = true
				}
			}
		case *ast.ValueSpec:
			if d.Type != nil && isLookupType(d.Type) {
				for _, name := range d.Names {
					lookups[name.Name] = true
				}
			}
		}
		return true
	})
	// lookupName is the name of the lookup function e is, or "".
	lookupName := func(e ast.Expr) string {
		switch x := e.(type) {
		case *ast.Ident:
			if lookups[x.Name] {
				return x.Name
			}
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok && pkgs[id.Name] != "" {
				return "" // a package's function, not a field
			}
			if lookups[x.Sel.Name] {
				return x.Sel.Name
			}
		}
		return ""
	}
	// constName is the variable name e spells as a constant string, or "".
	constName := func(e ast.Expr) string {
		var v string
		switch x := e.(type) {
		case *ast.BasicLit:
			if x.Kind != token.STRING {
				return ""
			}
			v, _ = strconv.Unquote(x.Value)
		case *ast.Ident:
			v = consts[x.Name]
		}
		if varName.MatchString(v) {
			return v
		}
		return ""
	}

	var out []envRead
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		// Rule 1: os.Getenv and friends.
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok {
				if std := pkgs[x.Name]; envFuncs()[std][sel.Sel.Name] {
					out = append(out, envRead{call.Pos(), "calls " + std + "." + sel.Sel.Name})
					return true
				}
			}
		}
		// Rule 2: calling a lookup function.
		if name := lookupName(call.Fun); name != "" {
			what := "reads a computed name through " + name
			if len(call.Args) > 0 {
				if v := constName(call.Args[0]); v != "" {
					what = "reads " + v + " through " + name
				}
			}
			out = append(out, envRead{call.Pos(), what})
			return true
		}
		// Rule 3: handing a lookup function and a variable name to a helper.
		var look, v string
		for _, arg := range call.Args {
			if name := lookupName(arg); name != "" && look == "" {
				look = name
			} else if c := constName(arg); c != "" && v == "" {
				v = c
			}
		}
		if look != "" && v != "" {
			out = append(out, envRead{call.Pos(), fmt.Sprintf("reads %s through %s(%s, ...)", v, exprString(call.Fun), look)})
		}
		return true
	})
	return out
}

// fieldTypes flattens a field list into one type per value.
func fieldTypes(l *ast.FieldList) []ast.Expr {
	if l == nil {
		return nil
	}
	var out []ast.Expr
	for _, f := range l.List {
		n := len(f.Names)
		if n == 0 {
			n = 1
		}
		for range n {
			out = append(out, f.Type)
		}
	}
	return out
}

// isIdent reports whether types are exactly the named identifiers.
func isIdent(types []ast.Expr, names ...string) bool {
	if len(types) != len(names) {
		return false
	}
	for i, t := range types {
		id, ok := t.(*ast.Ident)
		if !ok || id.Name != names[i] {
			return false
		}
	}
	return true
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	}
	return "(func)"
}
