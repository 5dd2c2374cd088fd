package deptest

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pkg is one package directory of the module: its import path and what its
// files import, production and test files apart.
type pkg struct {
	path        string
	imports     []string // non-test files
	testImports []string // _test.go files (internal and external tests)
}

// rule is one import rule. A package breaks it when it (or, with
// transitive, anything it depends on inside the module) imports a path
// matching forbidden, unless the package matches allowed.
type rule struct {
	name       string
	forbidden  string   // import path prefix
	allowed    []string // package path prefixes exempt from the rule
	applies    string   // only packages under this prefix ("" = all)
	transitive bool
	tests      bool // also check test files' imports
}

const module = "github.com/ood-agent/ood-agent"

// rules are the layers of the project (see "Layout" in the README):
// data flows source → preprocess → model → ood → event → publish, and
// lower layers never import higher ones.
var rules = []rule{
	{name: "paho only in agent/mqtt", forbidden: "github.com/eclipse/paho.mqtt.golang",
		allowed: []string{module + "/agent/mqtt"}, tests: true},
	{name: "viper only in config", forbidden: "github.com/spf13/viper",
		allowed: []string{module + "/config"}, tests: true},
	{name: "model/ does not depend on agent/", applies: module + "/model", forbidden: module + "/agent/", transitive: true, tests: true},
	{name: "model/ does not depend on hub/", applies: module + "/model", forbidden: module + "/hub/", transitive: true, tests: true},
	{name: "model/ does not depend on config", applies: module + "/model", forbidden: module + "/config", transitive: true},
	{name: "agent/ does not depend on hub/", applies: module + "/agent", forbidden: module + "/hub/", transitive: true, tests: true},
	{name: "nothing but cmd/ imports cmd/", forbidden: module + "/cmd/", allowed: []string{module + "/cmd/"}},
}

func TestImportRules(t *testing.T) {
	pkgs, err := loadModule(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 20 {
		t.Fatalf("found only %d packages: is the module root right?", len(pkgs))
	}
	for _, v := range check(pkgs, rules) {
		t.Error(v)
	}
}

// TestCheckFindsViolations shows that check reports what the rules forbid,
// directly and through another package of the module.
func TestCheckFindsViolations(t *testing.T) {
	pkgs := map[string]*pkg{
		module + "/model/ood":   {path: module + "/model/ood", imports: []string{module + "/model/util"}},
		module + "/model/util":  {path: module + "/model/util", imports: []string{module + "/agent/event"}},
		module + "/agent/event": {path: module + "/agent/event"},
		module + "/agent/mqtt":  {path: module + "/agent/mqtt", imports: []string{"github.com/eclipse/paho.mqtt.golang"}},
		module + "/agent/outbox": {path: module + "/agent/outbox", imports: []string{"github.com/eclipse/paho.mqtt.golang"},
			testImports: []string{"github.com/spf13/viper"}},
	}
	got := check(pkgs, rules)
	want := []string{
		"agent/outbox imports github.com/eclipse/paho.mqtt.golang: paho only in agent/mqtt",
		"agent/outbox imports github.com/spf13/viper (in tests): viper only in config",
		"model/ood imports github.com/ood-agent/ood-agent/agent/event (via model/util): model/ does not depend on agent/",
		"model/util imports github.com/ood-agent/ood-agent/agent/event: model/ does not depend on agent/",
	}
	if !slices.Equal(got, want) {
		t.Errorf("check found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// check returns one line per broken rule and package, sorted.
func check(pkgs map[string]*pkg, rules []rule) []string {
	var out []string
	for _, p := range pkgs {
		for _, r := range rules {
			if r.applies != "" && !under(p.path, r.applies) {
				continue
			}
			if slices.ContainsFunc(r.allowed, func(a string) bool { return under(p.path, a) }) {
				continue
			}
			if imp, ok := firstMatch(p.imports, r.forbidden); ok {
				out = append(out, fmt.Sprintf("%s imports %s: %s", short(p.path), imp, r.name))
			} else if imp, ok := firstMatch(p.testImports, r.forbidden); ok && r.tests {
				out = append(out, fmt.Sprintf("%s imports %s (in tests): %s", short(p.path), imp, r.name))
			} else if r.transitive {
				if via, imp, ok := reach(pkgs, p, r.forbidden); ok {
					out = append(out, fmt.Sprintf("%s imports %s (via %s): %s", short(p.path), imp, short(via), r.name))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// reach searches the module packages p depends on (through production
// imports) for one that imports forbidden, and returns it.
func reach(pkgs map[string]*pkg, p *pkg, forbidden string) (via, imp string, ok bool) {
	seen := map[string]bool{p.path: true}
	queue := slices.Clone(p.imports)
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		q, inModule := pkgs[next]
		if seen[next] || !inModule {
			continue
		}
		seen[next] = true
		if imp, ok := firstMatch(q.imports, forbidden); ok {
			return q.path, imp, true
		}
		queue = append(queue, q.imports...)
	}
	return "", "", false
}

func firstMatch(imports []string, prefix string) (string, bool) {
	for _, imp := range imports {
		if under(imp, strings.TrimSuffix(prefix, "/")) {
			return imp, true
		}
	}
	return "", false
}

// under reports whether path is prefix or inside it.
func under(path, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func short(path string) string { return strings.TrimPrefix(path, module+"/") }

// loadModule parses the imports of every Go file under root, without the
// go tool, so the test also runs where only the test binary is (qemu).
// Files of every build tag are read: a rule holds on all platforms.
func loadModule(root string) (map[string]*pkg, error) {
	if err := checkModule(root); err != nil {
		return nil, err
	}
	pkgs := map[string]*pkg{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		ip := module
		if rel != "." {
			ip += "/" + filepath.ToSlash(rel)
		}
		p := pkgs[ip]
		if p == nil {
			p = &pkg{path: ip}
			pkgs[ip] = p
		}
		for _, s := range f.Imports {
			imp, err := strconv.Unquote(s.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if strings.HasSuffix(name, "_test.go") {
				p.testImports = append(p.testImports, imp)
			} else {
				p.imports = append(p.imports, imp)
			}
		}
		return nil
	})
	return pkgs, err
}

// checkModule makes sure root is this module's root.
func checkModule(root string) error {
	f, err := os.Open(filepath.Join(root, "go.mod"))
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := strings.CutPrefix(sc.Text(), "module "); ok {
			if strings.TrimSpace(m) != module {
				return fmt.Errorf("module is %q, want %q", m, module)
			}
			return nil
		}
	}
	return fmt.Errorf("%s/go.mod has no module line", root)
}
