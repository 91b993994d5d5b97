package smtp

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDataMemory: n clients send a large message to the MX at once (the
// security review's load: unauthenticated MX connections holding big
// DATA). While all are inside DATA, the server holds far less than the
// bytes it has received: past SpoolThreshold they are in unlinked files in
// SpoolDir. The deliveries that follow share DeliverMemory, so the heap
// stays well under n× the message size throughout. Not parallel: it
// measures the process heap.
func TestDataMemory(t *testing.T) {
	const n, size = 8, 8 << 20
	spoolDir := t.TempDir()
	f := newFixture(t, Config{SpoolDir: spoolDir, DeliverMemory: size})
	m := "From: friend@elsewhere.test\r\nTo: alice@example.test\r\nSubject: big\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 998)+"\r\n", size/1000)
	total := int64(n * len(m))

	clients := make([]*rawClient, n)
	for i := range clients {
		clients[i] = ehlo(t, f.mx)
		clients[i].begin("friend@elsewhere.test", "alice@example.test")
	}
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)

	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.nc.SetWriteDeadline(time.Now().Add(2 * time.Minute))
			io.WriteString(c.nc, m) // no line begins with ".", so no stuffing
		}()
	}
	wg.Wait()
	// go-smtp's DATA reader fills io.Copy's 32 KiB buffer before it
	// returns, so the last bytes of each message wait for the end of data.
	waitFor(t, "the server to receive every byte", func() bool { return f.srv.spooled.Load() >= total-n*(32<<10) })

	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	held := int64(m1.HeapInuse) - int64(m0.HeapInuse)
	files := spoolFiles(t, spoolDir)
	t.Logf("inside DATA: %d MiB received by %d connections, heap in use %+d MiB, %d unlinked spool files open",
		total>>20, n, held>>20, files)
	if held > total/4 {
		t.Errorf("heap grew by %d MiB for %d MiB inside DATA, want under a quarter", held>>20, total>>20)
	}
	if files != n {
		t.Errorf("%d spool files open, want %d", files, n)
	}
	if ents, _ := os.ReadDir(spoolDir); len(ents) != 0 {
		t.Errorf("spool directory lists %d files, want none (unlinked)", len(ents))
	}

	// Deliveries: sample the heap while they run, with the collector
	// keeping close to the live heap (the default GOGC lets garbage grow
	// as large as what is live, which would measure the collector).
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	done := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var max int64
		var ms runtime.MemStats
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			max = maxInt(max, int64(ms.HeapInuse)-int64(m0.HeapInuse))
			select {
			case <-done:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, text := c.data(""); code != 250 {
				t.Errorf("end of DATA: %d %s", code, text)
			}
		}()
	}
	wg.Wait()
	close(done)
	p := <-peak
	t.Logf("deliveries: heap in use peaked at %+d MiB (DeliverMemory %d MiB)", p>>20, size>>20)
	if p > total/2 && !raceEnabled {
		t.Errorf("heap peaked %d MiB above the start while delivering %d MiB, want under half", p>>20, total>>20)
	}
	if got := inboxCount(t, f, "alice@example.test"); got != n {
		t.Errorf("alice has %d messages, want %d", got, n)
	}
	if got := spoolFiles(t, spoolDir); got != 0 {
		t.Errorf("%d spool files still open", got)
	}
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// spoolFiles counts this process's open files in dir (Linux /proc).
func spoolFiles(t *testing.T, dir string) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(l, dir+string(os.PathSeparator)) {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds (a server-side count has no channel).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
