package main

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/internal/testenv"
)

// TestNodeCrashLosesNothing: submissions spread over two nodes on one
// PostgreSQL while node A is SIGKILLed and restarted several times: every
// message answered 250 is in alice's INBOX exactly once, and no message
// is there twice.
func TestNodeCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a server several times")
	}
	dsn := testenv.Postgres(t)
	dataA, dataB := t.TempDir(), t.TempDir()
	ok(t, dataA, "--store", dsn, "tenant", "add", "a.test")
	for _, u := range []string{"alice", "bob"} {
		ok(t, dataA, "--store", dsn, "user", "add", u+"@a.test", "--password", u+"-pw")
	}
	subA, subB, imapB := freeAddr(t), freeAddr(t), freeAddr(t)
	nodeArgs := func(data, sub string, extra ...string) []string {
		return append([]string{"--data", data, "--store", dsn, "serve", "--submission-addr", sub, "--submissions-addr", "", "--mx-addr", "",
			"--imap-addr", "", "--imaps-addr", "", "--metrics-addr", "", "--dav-addr", "", "--insecure-auth"}, extra...)
	}
	b := runServer(t, exec.Command(binary, nodeArgs(dataB, subB, "--imap-addr", imapB)...))
	defer b.stop(t)
	var mu sync.Mutex
	a := runServer(t, exec.Command(binary, nodeArgs(dataA, subA)...))

	var (
		acked   sync.Map // Message-ID → true, for each 250
		sent    atomic.Int64
		refused atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	send := func(addr, id string) error {
		c, err := gosmtp.Dial(addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Hello("client.test"); err != nil {
			return err
		}
		if err := c.Auth(sasl.NewPlainClient("", "bob@a.test", "bob-pw")); err != nil {
			return err
		}
		msg := fmt.Sprintf("From: bob@a.test\r\nTo: alice@a.test\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nbody %s\r\n", id, id, id)
		if err := c.SendMail("bob@a.test", []string{"alice@a.test"}, strings.NewReader(msg)); err != nil {
			return err
		}
		return nil // SendMail returned after 250 to DATA
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				addr := subA
				if (w+i)%2 == 1 {
					addr = subB
				}
				id := fmt.Sprintf("m%d-%d@client.test", w, i)
				sent.Add(1)
				if err := send(addr, id); err != nil {
					refused.Add(1)
					time.Sleep(20 * time.Millisecond) // the node is down: try the next one
					continue
				}
				acked.Store(id, true)
			}
		}()
	}
	kills := 0
	for range 3 {
		time.Sleep(time.Duration(700+rand.IntN(800)) * time.Millisecond)
		mu.Lock()
		a.cmd.Process.Kill()
		<-a.done
		kills++
		time.Sleep(200 * time.Millisecond)
		a = runServer(t, exec.Command(binary, nodeArgs(dataA, subA)...))
		mu.Unlock()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	a.stop(t)

	c := imapLogin(t, imapB, "alice@a.test", "alice-pw")
	sd, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	if sd.NumMessages > 0 {
		var all imap.SeqSet
		all.AddRange(1, 0) // 1:*
		msgs, err := c.Fetch(all, &imap.FetchOptions{Envelope: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			seen[m.Envelope.MessageID]++
		}
	}
	nAcked := 0
	acked.Range(func(k, _ any) bool {
		nAcked++
		if n := seen[k.(string)]; n != 1 {
			t.Errorf("%s was answered 250 and is in the INBOX %d times", k, n)
		}
		return true
	})
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s is in the INBOX %d times", id, n)
		}
	}
	if nAcked < 20 {
		t.Errorf("only %d messages accepted: the load did not run", nAcked)
	}
	t.Logf("%d kills of node A; %d submissions tried, %d answered 250, %d failed; INBOX holds %d", kills, sent.Load(), nAcked, refused.Load(), len(seen))
}
