package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestPackageDocs: every package has a doc comment that says its job and,
// for the layered packages, what it must not import.
func TestPackageDocs(t *testing.T) {
	for _, dir := range []string{"cmd/mailgate", "smtp", "imap", "delegation", "storage", "admin", "admin/autoconfig", "dav"} {
		path := filepath.Join("..", "..", dir)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("package %s: %v", dir, err)
			continue
		}
		files, err := filepath.Glob(filepath.Join(path, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		doc := ""
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ParseComments|parser.PackageClauseOnly)
			if err != nil {
				t.Fatal(err)
			}
			if f.Doc != nil {
				doc += f.Doc.Text()
			}
		}
		if len(doc) < 40 {
			t.Errorf("package %s has no real doc comment: %q", dir, doc)
		}
		if dir != "cmd/mailgate" && !strings.Contains(doc, "not import") && !strings.Contains(doc, "imports only") {
			t.Errorf("package %s: doc comment does not say what it must not import", dir)
		}
	}
}

// TestPackageImports checks the direction of the packages from their
// actual imports (direct and through other mailgate packages): delegation
// is pure (only the standard library, and none of its I/O); smtp and imap
// never reach each other; storage reaches no protocol; admin no protocol;
// the IMAP sub-packages know nothing of storage or rights.
func TestPackageImports(t *testing.T) {
	const mod = "github.com/mailgate/mailgate/"
	root := filepath.Join("..", "..")
	direct := map[string][]string{} // package (relative path) → imports
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg, _ := filepath.Rel(root, filepath.Dir(path))
		pkg = filepath.ToSlash(pkg)
		for _, im := range f.Imports {
			direct[pkg] = append(direct[pkg], strings.Trim(im.Path.Value, `"`))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"delegation", "storage", "storage/postgres", "smtp", "imap", "imap/wire", "admin", "dav", "cmd/mailgate", "internal/testenv", "internal/testenv/testdir"} {
		if _, ok := direct[p]; !ok {
			t.Fatalf("package %s not found (walked %d packages)", p, len(direct))
		}
	}
	// reach returns every import of pkg, through mailgate packages too.
	var reach func(pkg string, seen map[string]bool)
	reach = func(pkg string, seen map[string]bool) {
		for _, im := range direct[pkg] {
			if seen[im] {
				continue
			}
			seen[im] = true
			if rel, ok := strings.CutPrefix(im, mod); ok {
				reach(rel, seen)
			}
		}
	}
	type rule struct {
		pkg    string
		banned []string // import paths or prefixes (ending in "/")
	}
	rules := []rule{
		{"delegation", []string{mod, "os", "net", "net/", "io/fs", "os/", "database/", "github.com/"}},
		{"smtp", []string{mod + "imap", mod + "imap/", mod + "admin", mod + "cmd/", mod + "dav"}},
		{"imap", []string{mod + "smtp", mod + "admin", mod + "cmd/", mod + "dav"}},
		{"imap/wire", []string{mod + "storage", mod + "delegation", mod + "smtp"}},
		{"imap/message", []string{mod + "storage", mod + "delegation", mod + "smtp"}},
		{"imap/sorting", []string{mod + "storage", mod + "delegation", mod + "smtp"}},
		{"storage", []string{mod + "smtp", mod + "imap", mod + "imap/", mod + "admin", mod + "cmd/"}},
		{"storage/postgres", []string{mod + "smtp", mod + "imap", mod + "imap/", mod + "admin", mod + "cmd/"}},
		{"storage/auth", []string{mod + "smtp", mod + "imap", mod + "imap/", mod + "admin", mod + "cmd/", mod + "storage/postgres"}},
		{"admin", []string{mod + "smtp", mod + "imap", mod + "imap/", mod + "cmd/"}},
		{"admin/web", []string{mod + "smtp", mod + "imap", mod + "imap/", mod + "cmd/"}},
		{"admin/autoconfig", []string{mod + "storage", mod + "storage/", mod + "smtp", mod + "imap", mod + "imap/", mod + "admin", mod + "cmd/"}},
		{"dav", []string{mod + "smtp", mod + "imap", mod + "imap/", mod + "admin", mod + "cmd/"}},
		{"storage/calobj", []string{mod + "smtp", mod + "imap", mod + "imap/", mod + "admin", mod + "cmd/", mod + "dav", mod + "storage/postgres"}},
	}
	// Test helpers stay in tests: no program code reaches internal/testenv
	// or the packages under it, nor the storage conformance suite.
	// testenv reaches no mailgate package (the storage tests use it); the
	// fixture directory, testenv/testdir, reaches storage and delegation
	// but no protocol, admin or command.
	rules = append(rules,
		rule{"internal/testenv", []string{mod}},
		rule{"internal/testenv/testdir", []string{mod + "smtp", mod + "imap", mod + "imap/", mod + "admin", mod + "cmd/", mod + "internal/"}})
	for pkg := range direct {
		if pkg != "internal/testenv" && !strings.HasPrefix(pkg, "internal/testenv/") && pkg != "storage/storagetest" {
			rules = append(rules, rule{pkg, []string{mod + "internal/testenv", mod + "internal/testenv/", mod + "storage/storagetest"}})
		}
	}
	for _, r := range rules {
		seen := map[string]bool{}
		reach(r.pkg, seen)
		for im := range seen {
			for _, b := range r.banned {
				if im == b || strings.HasSuffix(b, "/") && strings.HasPrefix(im, b) {
					t.Errorf("%s reaches %s (banned: %s)", r.pkg, im, b)
				}
			}
		}
	}
}

// TestREADMEListsCommandsAndFlags: the README names every command (in
// "All commands") and every flag of every command, serve's in its flags
// table, like TestREADMEListsOperations does for the admin API.
func TestREADMEListsCommandsAndFlags(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	_, table, _ := strings.Cut(readme, "### `mailgate serve` flags")
	table, _, _ = strings.Cut(table, "\n### ")
	flagNamed := func(text, name string) bool {
		return regexp.MustCompile(`(^|[^-\w])--` + regexp.QuoteMeta(name) + `($|[^-\w])`).MatchString(text)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		path := strings.TrimPrefix(c.CommandPath(), "mailgate ")
		if c.HasParent() && c.Runnable() && !strings.Contains(readme, path) {
			t.Errorf("README.md does not name the command %q", c.CommandPath())
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			text := readme
			if c.Name() == "serve" {
				text = table
			}
			if !flagNamed(text, f.Name) {
				t.Errorf("README.md does not tell %s --%s", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot())
}
