package smtp

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
)

const crashEnv = "MAILGATE_SMTP_CRASH_DIR"

// TestCrashChild is the child half of TestCrash: a server on the data
// directory named by the environment, which prints its address and runs
// until killed. It does nothing in a normal test run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child process of TestCrash only")
	}
	st := openStore(t, dir)
	f := startServer(t, st, Config{InsecureAuth: true, RelayHost: "127.0.0.1:1", RelayRetryMin: time.Hour})
	fmt.Printf("ADDR %s\n", f.sub)
	select {} // until SIGKILL
}

// startChild re-executes the test binary as a server process on dir.
func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	return testenv.StartChild(t, "TestCrashChild", crashEnv+"="+dir)
}

// TestCrash: a submission load against a server process that is killed
// with SIGKILL mid-run; after a restart on the same data directory every
// message that got 250 is in its recipient's INBOX and in the relay queue
// exactly once, and none is there twice.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	st := openStore(t, dir)
	testdir.Seed(t, st)
	st.Close()

	cmd, addr := startChild(t, dir)
	const clients, killAfter = 8, 120
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		tried = map[string]bool{}
		wg    sync.WaitGroup
	)
	killed := make(chan struct{})
	var once sync.Once
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := gosmtp.Dial(addr)
			if err != nil {
				return
			}
			defer c.Close()
			if c.Auth(sasl.NewPlainClient("", "bob@example.test", testPassword)) != nil {
				return
			}
			for n := 0; ; n++ {
				id := fmt.Sprintf("crash-%d-%d@client.test", i, n)
				mu.Lock()
				tried[id] = true
				mu.Unlock()
				m := msg("bob@example.test", "Message-ID: <"+id+">\r\n", id) + strings.Repeat("body line\r\n", 200)
				if err := send(c, "bob@example.test", []string{"dave@example.test", "x@elsewhere.test"}, m); err != nil {
					return
				}
				mu.Lock()
				acked[id] = true
				if len(acked) >= killAfter {
					once.Do(func() { close(killed) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-killed:
	case <-time.After(60 * time.Second):
		t.Fatal("load did not reach the kill point")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	wg.Wait()
	t.Logf("killed after %d acknowledged, %d tried", len(acked), len(tried))

	// Restart on the same directory; it must serve again.
	cmd2, addr2 := startChild(t, dir)
	c := dial(t, addr2)
	if err := c.Auth(sasl.NewPlainClient("", "bob@example.test", testPassword)); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "bob@example.test", []string{"dave@example.test"}, msg("bob@example.test", "Message-ID: <after@client.test>\r\n", "after")); err != nil {
		t.Fatalf("send after restart: %v", err)
	}
	cmd2.Process.Kill()
	cmd2.Wait()

	st = openStore(t, dir)
	seen := map[string]int{}
	for _, m := range inbox(t, st, "dave@example.test") {
		seen[messageID(parseHeader(t, m))]++
	}
	queued := map[string]int{}
	q, err := st.QueueList()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range q {
		queued[e.MessageID]++
	}
	for id := range acked {
		if seen[id] != 1 || queued[id] != 1 {
			t.Errorf("acknowledged %s: %d times in INBOX, %d in the queue; want 1 and 1", id, seen[id], queued[id])
		}
	}
	for id, n := range seen {
		if n > 1 || (!tried[id] && id != "after@client.test") {
			t.Errorf("%s stored %d times (tried: %v)", id, n, tried[id])
		}
	}
	if seen["after@client.test"] != 1 {
		t.Errorf("message sent after the restart is missing")
	}
}
