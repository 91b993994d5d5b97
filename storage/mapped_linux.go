//go:build linux

package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Badger v4 reads its tables and value log through shared memory maps (it
// has no file-I/O mode), and writes its value log and memtable logs through
// them too. Every page a read or write touches then stays in the process's
// resident set (RssFile) until the kernel is short of memory, so after a
// pass over a large mailbox the server's RSS is the size of its database.
// The mapTrimmer bounds that: when the mapped pages grow past the budget it
// asks the kernel to reclaim the pages of the database's mappings
// (madvise MADV_PAGEOUT, Linux 5.4). A later read faults them in again.
//
// MADV_PAGEOUT, not MADV_DONTNEED: the ranges come from /proc/self/maps,
// and Badger may unmap a table (after a compaction) between that read and
// the madvise, and the address be reused by another mapping. PAGEOUT is
// non-destructive on any memory (dirty file pages are written back,
// anonymous ones are at most swapped); DONTNEED would zero anonymous memory.
const madvPageout = 21

// trimEvery is how often the trimmer looks at RssFile.
const trimEvery = time.Second

type mapTrimmer struct {
	dir    string // the database directory as /proc/self/maps names it
	budget int64  // mapped pages allowed over the baseline
	base   int64  // RssFile when the trimmer started (the binary's own pages)
	log    *slog.Logger

	stopOnce sync.Once
	stopc    chan struct{}
	done     chan struct{}
}

// startTrimmer watches the mappings of the files in dir. It returns nil when
// the kernel cannot tell (no /proc).
func startTrimmer(dir string, budget int64, log *slog.Logger) *mapTrimmer {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		log.Warn("mapped memory is not bounded", "err", err)
		return nil
	}
	base, err := residentFile()
	if err != nil {
		log.Warn("mapped memory is not bounded", "err", err)
		return nil
	}
	t := &mapTrimmer{dir: abs, budget: budget, base: base, log: log, stopc: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t
}

func (t *mapTrimmer) stop() {
	if t == nil {
		return
	}
	t.stopOnce.Do(func() { close(t.stopc) })
	<-t.done
}

func (t *mapTrimmer) run() {
	defer close(t.done)
	tick := time.NewTicker(trimEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.stopc:
			return
		case <-tick.C:
		}
		rss, err := residentFile()
		if err != nil || rss-t.base <= t.budget {
			continue
		}
		if _, err := t.trim(); err != nil {
			t.log.Warn("mapped memory is no longer bounded", "err", err)
			return
		}
	}
}

// trim asks the kernel to reclaim the resident pages of every mapping of a
// file in the database directory and returns how many bytes of mappings it
// covered.
func (t *mapTrimmer) trim() (int64, error) {
	rs, err := mappedRanges(t.dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range rs {
		_, _, e := syscall.Syscall(syscall.SYS_MADVISE, r.start, r.end-r.start, madvPageout)
		switch {
		case e == 0:
			n += int64(r.end - r.start)
		case e == syscall.ENOMEM || e == syscall.EAGAIN:
			// unmapped since /proc/self/maps was read, or busy pages: skip
		default:
			return n, fmt.Errorf("madvise(MADV_PAGEOUT): %w", e)
		}
	}
	return n, nil
}

type mapRange struct{ start, end uintptr }

// mappedRanges lists the mappings of files under dir from /proc/self/maps
// ("start-end perms offset dev inode path").
func mappedRanges(dir string) ([]mapRange, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	prefix := []byte(dir + "/")
	var out []mapRange
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.IndexByte(line, '/')
		if i < 0 || !bytes.HasPrefix(line[i:], prefix) {
			continue
		}
		addr, _, _ := bytes.Cut(line, []byte(" "))
		lo, hi, ok := bytes.Cut(addr, []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, mapRange{uintptr(start), uintptr(end)})
	}
	return out, sc.Err()
}

// residentFile is the process's resident file-backed memory (RssFile in
// /proc/self/status), in bytes.
func residentFile() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("RssFile:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("RssFile %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no RssFile in /proc/self/status")
}
