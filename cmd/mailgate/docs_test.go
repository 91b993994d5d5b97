package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs: every package has a doc comment that says its job and,
// for the layered packages, what it must not import.
func TestPackageDocs(t *testing.T) {
	for _, dir := range []string{"cmd/mailgate", "smtp", "imap", "delegation", "storage", "admin"} {
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
