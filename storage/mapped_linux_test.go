package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// mappedResident sums the resident pages of this process's mappings of
// files under dir (/proc/self/smaps).
func mappedResident(t *testing.T, dir string) int64 {
	t.Helper()
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	var sum int64
	ours := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if v, ok := bytes.CutPrefix(line, []byte("Rss:")); ok {
			if ours {
				kb, _ := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
				sum += kb << 10
			}
			continue
		}
		if fields := bytes.Fields(line); len(fields) >= 5 && bytes.Contains(fields[0], []byte("-")) && !bytes.HasSuffix(fields[0], []byte(":")) {
			ours = len(fields) >= 6 && bytes.HasPrefix(fields[5], []byte(dir+"/"))
		}
	}
	return sum
}

// Reading a database bigger than the cache leaves no more of its mapped
// files resident than the budget (plus what one second of reads adds): the
// trimmer hands the pages back to the kernel.
func TestMappedFilesStayWithinBudget(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{CacheSize: MinCacheSize, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.trimmer == nil {
		t.Skip("no trimmer on this system")
	}
	// 48 MiB in values above the value threshold: the value log.
	val := bytes.Repeat([]byte("0123456789abcdef"), 256<<10/16)
	for i := range 192 {
		if err := st.update(func(txn *badger.Txn) error { return txn.Set(fmt.Appendf(nil, "test/%04d", i), val) }); err != nil {
			t.Fatal(err)
		}
	}
	read := func() {
		for i := range 192 {
			if err := st.view(func(txn *badger.Txn) error {
				item, err := txn.Get(fmt.Appendf(nil, "test/%04d", i))
				if err != nil {
					return err
				}
				return item.Value(func(v []byte) error {
					if len(v) != len(val) {
						return fmt.Errorf("value %d: %d bytes", i, len(v))
					}
					return nil
				})
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	read()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := mappedResident(t, dir)
		if n <= MinCacheSize {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mapped database files: %d MiB resident 10s after reading 48 MiB, budget %d MiB", n>>20, MinCacheSize>>20)
		}
		time.Sleep(100 * time.Millisecond)
	}
	read() // the pages come back from the file
}
