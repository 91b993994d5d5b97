package main

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailgate/mailgate/internal/testenv"
)

// TestTwoNodesOnePostgres: two `mailgate serve` processes on one
// PostgreSQL database, each with its own --data (socket, spool,
// certificate). Bob on node A IDLEs in alice's INBOX under Other Users
// while mail for alice arrives through node B's MX, and A's IDLE shows
// it; a grant made through node B's admin socket works on node A's next
// command; a revocation made through node A's refuses bob's next command
// in that folder on B.
func TestTwoNodesOnePostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	dataA, dataB := t.TempDir(), t.TempDir()
	ok(t, dataA, "--store", dsn, "tenant", "add", "a.test")
	for _, u := range []string{"alice", "bob", "carol"} {
		ok(t, dataA, "--store", dsn, "user", "add", u+"@a.test", "--password", u+"-pw")
	}
	ok(t, dataA, "--store", dsn, "grant", "add", "alice@a.test", "bob@a.test", "--right", "full-access", "--now")
	imapA, imapB, mxB := freeAddr(t), freeAddr(t), freeAddr(t)
	a := startServer(t, dataA, "--store", dsn, "--imap-addr", imapA, "--insecure-auth")
	defer a.stop(t)
	b := startServer(t, dataB, "--store", dsn, "--imap-addr", imapB, "--mx-addr", mxB, "--insecure-auth")
	defer b.stop(t)

	// Bob on A, IDLE in alice's INBOX.
	exists := make(chan uint32, 16)
	bobA, err := imapclient.DialInsecure(imapA, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer bobA.Close()
	if err := bobA.Login("bob@a.test", "bob-pw").Wait(); err != nil {
		t.Fatal(err)
	}
	const inbox = "Other Users/alice@a.test/INBOX"
	if sd, err := bobA.Select(inbox, nil).Wait(); err != nil || sd.NumMessages != 0 {
		t.Fatalf("bob on A: SELECT %s = %+v, %v", inbox, sd, err)
	}
	idle, err := bobA.Idle()
	if err != nil {
		t.Fatal(err)
	}

	// Mail for alice through B's MX.
	mx := dialLines(t, mxB, func(l string) bool { return len(l) < 4 || l[3] != '-' })
	for _, step := range [][2]string{{"", "220"}, {"EHLO remote.test", "250"}, {"MAIL FROM:<sender@remote.test>", "250"},
		{"RCPT TO:<alice@a.test>", "250"}, {"DATA", "354"},
		{"From: sender@remote.test\r\nTo: alice@a.test\r\nSubject: via node B\r\nMessage-ID: <n1@remote.test>\r\n\r\nhello\r\n.", "250"}} {
		if l := mx(step[0]); !strings.HasPrefix(l, step[1]) {
			t.Fatalf("MX on B: %q answered %q", step[0], l)
		}
	}
	select {
	case n := <-exists:
		if n != 1 {
			t.Errorf("A's IDLE: EXISTS %d, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("A's IDLE was not told of the mail delivered through B")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := bobA.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "via node B" {
		t.Fatalf("bob on A fetches %+v, %v", msgs, err)
	}

	// Carol has no right; a grant through B's admin socket lets her in on
	// A at her next command.
	carolA := imapLogin(t, imapA, "carol@a.test", "carol-pw")
	if _, err := carolA.Select(inbox, nil).Wait(); err == nil {
		t.Fatal("carol opened alice's INBOX with no right")
	}
	ok(t, dataB, "grant", "add", "alice@a.test", "carol@a.test", "--right", "full-access", "--now") // B's socket
	deadline := time.Now().Add(5 * time.Second)
	for {
		sd, err := carolA.Select(inbox, nil).Wait()
		if err == nil && sd.NumMessages == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("carol on A after the grant through B: %+v, %v", sd, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Bob on B in alice's INBOX; a revocation through A's socket ends it.
	bobB := imapLogin(t, imapB, "bob@a.test", "bob-pw")
	if _, err := bobB.Select(inbox, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	ok(t, dataA, "grant", "remove", "alice@a.test", "bob@a.test", "--right", "full-access") // A's socket
	deadline = time.Now().Add(5 * time.Second)
	for {
		_, err := bobB.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
		if err != nil {
			if !strings.Contains(err.Error(), "revoked") {
				t.Errorf("bob's FETCH on B after the revocation: %v, want a refusal naming the revocation", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob's session on B goes on after the revocation through A")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := imapLogin(t, imapB, "bob@a.test", "bob-pw").Select(inbox, nil).Wait(); err == nil {
		t.Error("bob opens alice's INBOX on B after the revocation")
	}
}

func imapLogin(t *testing.T, addr, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("LOGIN %s on %s: %v", user, addr, err)
	}
	return c
}
