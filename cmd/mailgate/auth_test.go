package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// dialLines connects and returns a function that sends a line (when not
// empty) and reads the reply's last line.
func dialLines(t *testing.T, addr string, last func(line string) bool) func(send string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	return func(send string) string {
		t.Helper()
		if send != "" {
			fmt.Fprintf(c, "%s\r\n", send)
		}
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", send, err)
			}
			if l = strings.TrimRight(l, "\r\n"); last(l) {
				return l
			}
		}
	}
}

// TestThrottleAcrossProtocols: serve gives SMTP and IMAP one
// authenticator, so failed IMAP logins throttle the same IP and account
// over SMTP submission: the right password is then refused there with
// 454 4.7.0, not accepted.
func TestThrottleAcrossProtocols(t *testing.T) {
	data := t.TempDir()
	ok(t, data, "tenant", "add", "a.test")
	ok(t, data, "user", "add", "alice@a.test", "--password", "right-pw")
	imapAddr, subAddr := freeAddr(t), freeAddr(t)
	s := startServer(t, data, "--imap-addr", imapAddr, "--submission-addr", subAddr, "--insecure-auth")
	defer s.stop(t)

	imap := dialLines(t, imapAddr, func(l string) bool { return !strings.HasPrefix(l, "* ") || strings.HasPrefix(l, "* OK") })
	imap("") // greeting
	for i := range 10 {
		if l := imap(fmt.Sprintf("a%d LOGIN alice@a.test wrong-%d", i, i)); !strings.HasPrefix(l, fmt.Sprintf("a%d NO", i)) {
			t.Fatalf("IMAP LOGIN with a wrong password: %q", l)
		}
	}
	smtp := dialLines(t, subAddr, func(l string) bool { return len(l) < 4 || l[3] != '-' })
	smtp("") // greeting
	smtp("EHLO test.example")
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice@a.test\x00right-pw"))
	if l := smtp("AUTH PLAIN " + plain); !strings.HasPrefix(l, "454 4.7.0") {
		t.Errorf("SMTP AUTH with the right password after 10 IMAP failures: %q, want 454 4.7.0", l)
	}
}
