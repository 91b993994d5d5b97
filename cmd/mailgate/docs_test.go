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
		pkgs, err := parser.ParseDir(token.NewFileSet(), path, func(fi os.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		doc := ""
		for _, p := range pkgs {
			for _, f := range p.Files {
				if f.Doc != nil {
					doc += f.Doc.Text()
				}
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
