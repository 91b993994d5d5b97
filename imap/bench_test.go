package imap

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof" // the load harness's profiler (test binary only)
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
	"github.com/mailgate/mailgate/storage"
)

// benchMessage is a plausible message of about size bytes.
func benchMessage(i, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: \"Sender %d\" <sender%d@example.org>\r\nTo: alice@example.test\r\nCc: bob@example.test, \"Carol\" <carol@example.test>\r\n", i%97, i%97)
	fmt.Fprintf(&b, "Subject: =?utf-8?q?Invoice_n=C2=B0_%d?= about project %d\r\nDate: Mon, 2 Mar 2026 10:%02d:00 +0100\r\n", i, i%13, i%60)
	fmt.Fprintf(&b, "Message-ID: <m%d@example.org>\r\nIn-Reply-To: <m%d@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", i, i-1)
	for b.Len() < size {
		b.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n")
	}
	return []byte(b.String())
}

// seed fills alice's INBOX with n messages (NoSync store: seeding speed is
// not what is measured).
func seedEnv(b testing.TB, n int, noSync bool) *env {
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	st, err := storage.Open(b.TempDir(), storage.Options{NoSync: noSync, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	e := &env{t: b, st: st, clk: clk, ids: map[string]delegation.ID{}}
	if _, err := st.AddTenant(domain, 0); err != nil {
		b.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		p, err := st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: addr(u), PasswordHash: testdir.PasswordHash()})
		if err != nil {
			b.Fatal(err)
		}
		e.ids[u] = p.ID
	}
	if _, err := st.AddGrant(storage.NewGrant{Mailbox: addr("alice"), Trustee: addr("bob"), Right: delegation.FullAccess, Immediate: true, CreatedBy: "bench"}); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	ch := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				r := rand.New(rand.NewPCG(uint64(i), 1))
				size := 1000 + r.IntN(8000)
				var flags []string
				if i%3 == 0 {
					flags = []string{`\Seen`}
				}
				if _, err := st.Deliver(storage.Delivery{Message: benchMessage(i, size), Targets: []storage.Target{{Owner: e.ids["alice"], Flags: flags}}}); err != nil {
					panic(err)
				}
			}
		}()
	}
	for i := range n {
		ch <- i
	}
	close(ch)
	wg.Wait()
	e.startServer(Config{InsecureAuth: true})
	return e
}

// BenchmarkSelectFetchHeaders10k: SELECT a 10,000-message INBOX and
// FETCH 1:* (FLAGS ENVELOPE UID RFC822.SIZE), a non-caching client's
// full sync, as imapload does it.
func BenchmarkSelectFetchHeaders10k(b *testing.B) {
	e := seedEnv(b, 10000, true)
	c := e.login("alice", nil)
	// The first sync parses the envelopes; later ones come from memory.
	b.ResetTimer()
	for b.Loop() {
		sd, err := c.Select("INBOX", nil).Wait()
		if err != nil || sd.NumMessages != 10000 {
			b.Fatalf("SELECT: %+v %v", sd, err)
		}
		msgs, err := c.Fetch(goimap.SeqSet{{Start: 1, Stop: 0}}, &goimap.FetchOptions{Flags: true, Envelope: true, UID: true, RFC822Size: true}).Collect()
		if err != nil || len(msgs) != 10000 {
			b.Fatalf("FETCH: %d %v", len(msgs), err)
		}
	}
}

// BenchmarkSelect10k: SELECT of a 10,000-message INBOX by its owner and by
// a delegate through Other Users (the delegated path: rights check, audit
// once per hour).
func BenchmarkSelect10k(b *testing.B) {
	e := seedEnv(b, 10000, true)
	for _, bc := range []struct{ user, mailbox string }{
		{"alice", "INBOX"}, {"bob", "Other Users/alice@example.test/INBOX"},
	} {
		b.Run(bc.user, func(b *testing.B) {
			c := e.login(bc.user, nil)
			for b.Loop() {
				if sd, err := c.Select(bc.mailbox, nil).Wait(); err != nil || sd.NumMessages != 10000 {
					b.Fatalf("SELECT: %+v %v", sd, err)
				}
			}
		})
	}
}

// selected10k is alice's client with her 10,000-message INBOX selected.
func selected10k(b *testing.B) *imapclient.Client {
	c := seedEnv(b, 10000, true).login("alice", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkSearch10k: UID SEARCH over a 10,000-message INBOX, on flags
// (memory), on a header (the per-message search fields, cached after the
// first search) and on the body (every message read).
func BenchmarkSearch10k(b *testing.B) {
	c := selected10k(b)
	for _, bc := range []struct {
		name string
		crit goimap.SearchCriteria
		want int
	}{
		{"unseen", goimap.SearchCriteria{NotFlag: []goimap.Flag{goimap.FlagSeen}}, 6666},
		{"from", goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "From", Value: "sender5@"}}}, 104},
		{"subject", goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "project 12"}}}, 769},
		{"body", goimap.SearchCriteria{Body: []string{"consectetur"}}, 10000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				d, err := c.UIDSearch(&bc.crit, nil).Wait()
				if err != nil || len(d.AllUIDs()) != bc.want {
					b.Fatalf("SEARCH: %d results, %v; want %d", len(d.AllUIDs()), err, bc.want)
				}
			}
		})
	}
}

// BenchmarkSort10k: UID SORT (SUBJECT DATE) and (FROM) of a 10,000-message
// INBOX.
func BenchmarkSort10k(b *testing.B) {
	c := selected10k(b)
	for _, bc := range []struct {
		name string
		keys []imapclient.SortCriterion
	}{
		{"subject-date", []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyDate}}},
		{"from", []imapclient.SortCriterion{{Key: imapclient.SortKeyFrom}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				uids, err := c.UIDSort(&imapclient.SortOptions{SearchCriteria: &goimap.SearchCriteria{}, SortCriteria: bc.keys}).Wait()
				if err != nil || len(uids) != 10000 {
					b.Fatalf("SORT: %d results, %v", len(uids), err)
				}
			}
		})
	}
}

// BenchmarkAppend: APPEND of a 5 KB message, fsynced before OK (the real
// durability setting), one client.
func BenchmarkAppend(b *testing.B) {
	e := seedEnv(b, 0, false)
	c := e.login("alice", nil)
	msg := benchMessage(1, 5000)
	for b.Loop() {
		ac := c.Append("INBOX", int64(len(msg)), nil)
		ac.Write(msg)
		ac.Close()
		if _, err := ac.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendParallel: the same with 8 clients, which share fsyncs.
func BenchmarkAppendParallel(b *testing.B) {
	e := seedEnv(b, 0, false)
	msg := benchMessage(1, 5000)
	b.SetParallelism(4) // × GOMAXPROCS clients
	b.RunParallel(func(pb *testing.PB) {
		c := e.login("alice", nil)
		for pb.Next() {
			ac := c.Append("INBOX", int64(len(msg)), nil)
			ac.Write(msg)
			ac.Close()
			if _, err := ac.Wait(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestServeForLoad runs a seeded server for the shared bench tools
// (bench/imapload) when MAILGATE_IMAP_LOAD_ADDR is set, e.g.
//
//	MAILGATE_IMAP_LOAD_ADDR=127.0.0.1:11143 MAILGATE_IMAP_LOAD_FOR=10m go test -run TestServeForLoad -timeout 0 ./imap/
//
// Users alice@ and bob@example.test (Full Access on alice), password
// "correct horse"; alice's INBOX is empty: seed it with imapseed.
func TestServeForLoad(t *testing.T) {
	a := os.Getenv("MAILGATE_IMAP_LOAD_ADDR")
	if a == "" {
		t.Skip("MAILGATE_IMAP_LOAD_ADDR not set")
	}
	d, err := time.ParseDuration(os.Getenv("MAILGATE_IMAP_LOAD_FOR"))
	if err != nil {
		d = 10 * time.Minute
	}
	e := seedEnv(t, 0, false)
	ln, err := net.Listen("tcp", a)
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(ln)
	if p := os.Getenv("MAILGATE_IMAP_LOAD_PPROF"); p != "" {
		go http.ListenAndServe(p, nil) // e.g. 127.0.0.1:6060
	}
	t.Logf("serving on %s for %v", a, d)
	time.Sleep(d) // a manual harness, not a test: it serves until the time is up
}

// BenchmarkSessionMix10k: imapload's session on a 10,000-message INBOX, by
// its owner and by a delegate through Other Users: LOGIN, SELECT,
// FETCH 1:* (FLAGS ENVELOPE UID RFC822.SIZE), 10 × UID FETCH BODY.PEEK[],
// 4 × UID STORE ±\Flagged, 2 × UID SEARCH, LOGOUT; 2 × GOMAXPROCS clients
// at once. One op is one session.
func BenchmarkSessionMix10k(b *testing.B) {
	e := seedEnv(b, 10000, true)
	searches := []string{"UID SEARCH FLAGGED", "UID SEARCH UNSEEN", "UID SEARCH SINCE 1-Mar-2026",
		"UID SEARCH FROM sender5@", `UID SEARCH SUBJECT "project 12"`, "UID SEARCH LARGER 5000"}
	mixes := []struct{ user, mailbox string }{{"alice", "INBOX"}, {"bob", "Other Users/alice@example.test/INBOX"}}
	for _, bc := range mixes { // the envelope and search caches, the login cache
		for i := range searches {
			if err := mixSession(e, bc.user, bc.mailbox, rand.New(rand.NewPCG(uint64(i), 1)), searches[i:i+1]); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, bc := range mixes {
		b.Run(bc.user, func(b *testing.B) {
			b.SetParallelism(2)
			var seed atomic.Uint64
			cpu0 := processCPU()
			defer func() { b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op") }()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(seed.Add(1), 2))
				for pb.Next() {
					if err := mixSession(e, bc.user, bc.mailbox, r, searches); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// processCPU is the process's user and system CPU time so far (client and
// server together): on a shared machine it moves less than the wall clock.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mixSession is one imapload session over a line-level client that
// reads literals whole and parses nothing else (imapclient's parsing of
// 10,000 envelopes would cost more than the server's work).
func mixSession(e *env, user, mailbox string, r *rand.Rand, searches []string) error {
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 64<<10)
	var uids []string
	tag := 0
	cmd := func(format string, args ...any) error {
		tag++
		t := fmt.Sprintf("m%d ", tag)
		if _, err := fmt.Fprintf(conn, t+format+"\r\n", args...); err != nil {
			return err
		}
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				return err
			}
			if n := literalLen(l); n >= 0 {
				if _, err := br.Discard(n); err != nil {
					return err
				}
				continue // the line goes on after the literal
			}
			if bytes.HasPrefix(l, []byte(t)) {
				if !bytes.HasPrefix(l[len(t):], []byte("OK")) {
					return fmt.Errorf("%s: %s", fmt.Sprintf(format, args...), l)
				}
				return nil
			}
			if tag == 3 && bytes.HasPrefix(l, []byte("* ")) {
				if _, after, ok := bytes.Cut(l, []byte("(UID ")); ok {
					uids = append(uids, string(after[:bytes.IndexByte(after, ' ')]))
				}
			}
		}
	}
	if _, err := br.ReadSlice('\n'); err != nil { // greeting
		return err
	}
	if err := cmd(`LOGIN %s "%s"`, addr(user), pw); err != nil {
		return err
	}
	if err := cmd(`SELECT "%s"`, mailbox); err != nil {
		return err
	}
	if err := cmd("FETCH 1:* (FLAGS ENVELOPE UID RFC822.SIZE)"); err != nil || len(uids) == 0 {
		return fmt.Errorf("FETCH 1:*: %d UIDs, %v", len(uids), err)
	}
	for range 10 {
		if err := cmd("UID FETCH %s (UID BODY.PEEK[])", uids[r.IntN(len(uids))]); err != nil {
			return err
		}
	}
	for range 2 {
		u := uids[r.IntN(len(uids))]
		for _, op := range []string{"+", "-"} {
			if err := cmd(`UID STORE %s %sFLAGS (\Flagged)`, u, op); err != nil {
				return err
			}
		}
	}
	for range 2 {
		if err := cmd("%s", searches[r.IntN(len(searches))]); err != nil {
			return err
		}
	}
	return cmd("LOGOUT")
}

// literalLen is n for a line that ends in a literal's "{n}\r\n", else -1.
func literalLen(l []byte) int {
	l = bytes.TrimSuffix(l, []byte("\r\n"))
	if len(l) == 0 || l[len(l)-1] != '}' {
		return -1
	}
	i := bytes.LastIndexByte(l, '{')
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(string(l[i+1 : len(l)-1]))
	if err != nil {
		return -1
	}
	return n
}
