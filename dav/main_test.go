package dav

import (
	"os"
	"testing"

	"github.com/mailgate/mailgate/internal/testenv"
)

// TestMain stops the PostgreSQL server the benchmarks start
// (testenv.Postgres).
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}
