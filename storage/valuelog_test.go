package storage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// vlogBytes is the size of the value-log files in dir.
func vlogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Bodies live in the value log, which compaction does not shrink: once the
// mail is gone, gcValueLog rewrites the files that are mostly garbage and
// the disk space comes back.
func TestValueLogCollected(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{NoSync: true, valueLogFileSize: 1 << 20, memTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	val := bytes.Repeat([]byte("x"), 16<<10) // over the value threshold
	key := func(i int) []byte { return fmt.Appendf(nil, "test/%04d", i) }
	for i := range 320 { // 5 MiB: five or six value-log files
		if err := st.update(func(txn *badger.Txn) error { return txn.Set(key(i), val) }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 320 {
		if err := st.update(func(txn *badger.Txn) error { return txn.Delete(key(i)) }); err != nil {
			t.Fatal(err)
		}
	}
	// Small records (they stay in the LSM tree) until memtables have been
	// flushed often enough for a compaction, which drops the deleted
	// versions and records how much of each value-log file is garbage.
	filler := bytes.Repeat([]byte("f"), 1<<10)
	for i := range 8000 {
		if err := st.update(func(txn *badger.Txn) error { return txn.Set(fmt.Appendf(nil, "fill/%05d", i), filler) }); err != nil {
			t.Fatal(err)
		}
	}
	defer st.Close()
	before := vlogBytes(t, dir)
	n := 0
	for deadline := time.Now().Add(20 * time.Second); n == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		n = st.gcValueLog()
	}
	after := vlogBytes(t, dir)
	if n == 0 || after > before-(1<<20) {
		t.Errorf("value log collection rewrote %d files: %d KiB before, %d KiB after", n, before>>10, after>>10)
	}
}
