package storage

import (
	"errors"
	"testing"
	"time"
)

// openTest opens a real Badger store in a temp dir with a settable clock.
func openTest(t testing.TB, now *time.Time) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := Open(dir, Options{Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

func TestLocked(t *testing.T) {
	now := time.Now()
	_, dir := openTest(t, &now)
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
}
