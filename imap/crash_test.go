package imap

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
	"github.com/mailgate/mailgate/storage"
)

const crashEnv = "MAILGATE_IMAP_CRASH_DIR"

// TestCrashChild is the child half of TestCrash: an IMAP server on the
// data directory named by the environment (fsync on, as in production),
// which prints its address and runs until killed. It does nothing in a
// normal test run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child process of TestCrash only")
	}
	st, err := storage.Open(dir, storage.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Hostname: "mail.example.test", InsecureAuth: true, MaxConnsPerIP: -1}, st, testLogger(t))
	go srv.Serve(ln)
	fmt.Printf("ADDR %s\n", ln.Addr())
	select {} // until SIGKILL
}

// startChild re-executes the test binary as a server process on dir.
func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	return testenv.StartChild(t, "TestCrashChild", crashEnv+"="+dir)
}

// crashMessage is a small message whose Message-ID names it.
func crashMessage(id string) []byte {
	return []byte("From: sender@example.org\r\nTo: alice@example.test\r\nSubject: " + id +
		"\r\nMessage-ID: <" + id + ">\r\n\r\nbody of " + id + "\r\n")
}

// headerMessageID finds the Message-ID in a header block.
func headerMessageID(hdr []byte) string {
	_, rest, ok := bytes.Cut(hdr, []byte("\r\nMessage-ID: <"))
	if !ok {
		return ""
	}
	id, _, _ := bytes.Cut(rest, []byte(">"))
	return string(id)
}

// recoveries records the operations Open rolls forward.
type recoveries struct {
	mu  sync.Mutex
	ops []string
}

func (r *recoveries) Enabled(context.Context, slog.Level) bool { return true }
func (r *recoveries) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message == "finishing an interrupted operation" {
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "op" {
				r.mu.Lock()
				r.ops = append(r.ops, a.Value.String())
				r.mu.Unlock()
			}
			return true
		})
	}
	return nil
}
func (r *recoveries) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recoveries) WithGroup(string) slog.Handler      { return r }

// crashStore is the parent's view of the data directory between runs.
type crashStore struct {
	t     *testing.T
	st    *storage.Store
	alice delegation.ID
}

func openCrashStore(t *testing.T, dir string, log *slog.Logger) *crashStore {
	t.Helper()
	st, err := storage.Open(dir, storage.Options{NoSync: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cs := &crashStore{t: t, st: st}
	if p, ok := st.Directory().Lookup(addr("alice")); ok {
		cs.alice = p.ID
	}
	return cs
}

func (cs *crashStore) seed(folder, prefix string, n int, flags ...string) {
	cs.t.Helper()
	for i := range n {
		if _, err := cs.st.Deliver(storage.Delivery{Message: crashMessage(fmt.Sprintf("%s-%d@seed.test", prefix, i)),
			Targets: []storage.Target{{Owner: cs.alice, Folder: folder, Flags: flags}}}); err != nil {
			cs.t.Fatal(err)
		}
	}
}

// ids counts the Message-IDs in a folder.
func (cs *crashStore) ids(folder string) map[string]int {
	cs.t.Helper()
	f, err := cs.st.Folder(cs.alice, folder)
	if err != nil {
		cs.t.Fatal(err)
	}
	ms, err := cs.st.Messages(f.ID, 0, 0)
	if err != nil {
		cs.t.Fatal(err)
	}
	if int(f.Count) != len(ms) {
		cs.t.Errorf("%s: count %d, %d messages", folder, f.Count, len(ms))
	}
	blobs := make([]uint64, len(ms))
	for i, m := range ms {
		blobs[i] = m.Blob
	}
	out := map[string]int{}
	if err := cs.st.Headers(blobs, func(_ int, hdr []byte) { out[headerMessageID(hdr)]++ }); err != nil {
		cs.t.Fatal(err)
	}
	if out[""] > 0 {
		cs.t.Errorf("%s: %d messages without a body or Message-ID", folder, out[""])
	}
	return out
}

func countPrefix(ids map[string]int, prefix string) int {
	n := 0
	for id, k := range ids {
		if strings.HasPrefix(id, prefix) {
			n += k
		}
	}
	return n
}

// TestCrash: a server process is killed with SIGKILL at a random moment
// while one client MOVEs 5,000 messages, another EXPUNGEs 5,000 and three
// more APPEND as fast as they can; then the parent opens the directory
// (which finishes interrupted operations) and checks: each of the moved
// messages is in exactly one of the two folders and all of them in the
// same one (in the target when MOVE got OK); the expunged set is all there
// or all gone (gone when EXPUNGE got OK); every APPEND that got OK is
// stored exactly once, nothing is stored twice or without having been
// sent. Round 0 runs to the end and measures the time the kills are drawn
// from. Everything goes through the real IMAP server.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const n, rounds, appenders = 5000, 10, 3
	dir := t.TempDir()
	cs := openCrashStore(t, dir, nil)
	if _, err := cs.st.AddTenant(domain, 0); err != nil {
		t.Fatal(err)
	}
	p, err := cs.st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: addr("alice"), PasswordHash: testdir.PasswordHash()})
	if err != nil {
		t.Fatal(err)
	}
	cs.alice = p.ID
	cs.seed("INBOX", "move", n)
	cs.seed("Archive", "none", 0)
	cs.seed("Drafts", "none", 0)
	cs.st.Close()

	from, to := "INBOX", "Archive"
	expungeSet := 0 // round of the \Deleted set in Junk; seeded below
	var window time.Duration
	acked, tried := map[string]bool{}, map[string]bool{}
	var mu sync.Mutex
	midway := map[string]int{} // operation → kills that interrupted it
	for round := range rounds {
		if round == 0 || expungeSet < 0 {
			cs = openCrashStore(t, dir, nil)
			expungeSet = round
			cs.seed("Junk", fmt.Sprintf("x%d", round), n, `\Deleted`)
			cs.st.Close()
		}
		cmd, addr := startChild(t, dir)
		login := func() (*imapclient.Client, error) {
			c, err := imapclient.DialInsecure(addr, nil)
			if err != nil {
				return nil, err
			}
			if err := c.Login("alice@example.test", pw).Wait(); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		}
		mover, err := login()
		if err != nil {
			t.Fatal(err)
		}
		expunger, err := login()
		if err != nil {
			t.Fatal(err)
		}
		for c, mb := range map[*imapclient.Client]string{mover: from, expunger: "Junk"} {
			if _, err := c.Select(mb, nil).Wait(); err != nil {
				t.Fatalf("SELECT %s: %v", mb, err)
			}
		}
		var wg sync.WaitGroup
		var moveOK, expungeOK atomic.Bool
		start := time.Now()
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := mover.Move(goimap.SeqSet{{Start: 1, Stop: 0}}, to).Wait(); err == nil {
				moveOK.Store(true)
			}
		}()
		go func() {
			defer wg.Done()
			if expunger.Expunge().Close() == nil {
				expungeOK.Store(true)
			}
		}()
		stop := make(chan struct{})
		var awg sync.WaitGroup
		for a := range appenders {
			awg.Add(1)
			go func() {
				defer awg.Done()
				c, err := login()
				if err != nil {
					return // the kill came before this appender logged in: nothing was acknowledged
				}
				defer c.Close()
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("a%d-%d-%d@append.test", round, a, k)
					mu.Lock()
					tried[id] = true
					mu.Unlock()
					if appendMsg(c, "Drafts", crashMessage(id)) != nil {
						return
					}
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}()
		}
		if round == 0 {
			wg.Wait()
			window = time.Since(start)
			if !moveOK.Load() || !expungeOK.Load() {
				t.Fatalf("round 0: MOVE ok %v, EXPUNGE ok %v", moveOK.Load(), expungeOK.Load())
			}
			close(stop)
			awg.Wait()
		} else {
			time.Sleep(rand.N(window + window/5))
		}
		killedAt := time.Since(start)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		cmd.Wait()
		if round > 0 {
			close(stop)
		}
		wg.Wait()
		awg.Wait()
		mover.Close()
		expunger.Close()

		var rec recoveries
		cs = openCrashStore(t, dir, slog.New(&rec))
		idsFrom, idsTo := cs.ids(from), cs.ids(to)
		inFrom, inTo := countPrefix(idsFrom, "move-"), countPrefix(idsTo, "move-")
		junk := countPrefix(cs.ids("Junk"), fmt.Sprintf("x%d-", expungeSet))
		drafts := cs.ids("Drafts")
		for _, op := range rec.ops {
			midway[op]++
		}
		t.Logf("round %d: killed after %v; MOVE ok %v: %d in %s, %d in %s; EXPUNGE ok %v: %d left; rolled forward: %v",
			round, killedAt.Round(time.Millisecond), moveOK.Load(), inFrom, from, inTo, to, expungeOK.Load(), junk, rec.ops)
		switch {
		case inFrom+inTo != n:
			t.Errorf("round %d: %d moved messages in %s and %d in %s, want %d in all", round, inFrom, from, inTo, to, n)
		case inFrom != 0 && inTo != 0:
			t.Errorf("round %d: MOVE half done: %d in %s, %d in %s", round, inFrom, from, inTo, to)
		case moveOK.Load() && inTo != n:
			t.Errorf("round %d: MOVE got OK but %d of %d are in %s", round, inTo, n, to)
		}
		for id := range idsFrom {
			if idsTo[id] > 0 {
				t.Errorf("round %d: %s in both folders", round, id)
				break
			}
		}
		if junk != 0 && junk != n || expungeOK.Load() && junk != 0 {
			t.Errorf("round %d: EXPUNGE (ok %v) left %d of %d", round, expungeOK.Load(), junk, n)
		}
		mu.Lock()
		for id := range acked {
			if drafts[id] != 1 {
				t.Errorf("round %d: APPEND of %s got OK, stored %d times", round, id, drafts[id])
			}
		}
		for id, k := range drafts {
			if k > 1 || !tried[id] {
				t.Errorf("round %d: %s stored %d times (sent: %v)", round, id, k, tried[id])
			}
		}
		mu.Unlock()
		cs.st.Close()
		if inTo == n {
			from, to = to, from
		}
		if junk == 0 {
			expungeSet = -1 // seed a new set for the next round
		}
		if t.Failed() {
			break
		}
	}
	t.Logf("kill window %v; of %d kills, %d interrupted a MOVE and %d an EXPUNGE that the next Open finished; %d APPENDs acknowledged",
		window.Round(time.Millisecond), rounds-1, midway["move"], midway["expunge"], len(acked))
}
