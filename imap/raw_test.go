package imap

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailgate/mailgate/delegation"
)

// raw is a line-level IMAP client for sending exactly the bytes a test
// wants (modified UTF-7, odd quoting) and reading exactly the answer.
type raw struct {
	t   testing.TB
	c   net.Conn
	r   *bufio.Reader
	tag int
}

func (e *env) raw() *raw {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := &raw{t: e.t, c: c, r: bufio.NewReader(c)}
	r.line() // greeting
	return r
}

func (r *raw) line() string {
	r.t.Helper()
	l, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends one command and returns the untagged lines and the tagged
// status line without its tag.
func (r *raw) cmd(format string, args ...any) (untagged []string, status string) {
	r.t.Helper()
	r.tag++
	tag := fmt.Sprintf("r%d", r.tag)
	fmt.Fprintf(r.c, "%s %s\r\n", tag, fmt.Sprintf(format, args...))
	for {
		l := r.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

// TestRawProbing sends names as bytes on the wire: modified UTF-7
// (RFC 3501 §5.1.3) spellings of INBOX and of the namespace, quoted and
// literal forms, and the Exchange login with an escaped backslash.
func TestRawProbing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "secret")
	r := e.raw()
	if _, st := r.cmd(`LOGIN "dave@example.test" "%s"`, pw); !strings.HasPrefix(st, "OK") {
		t.Fatalf("LOGIN: %s", st)
	}
	for _, form := range []string{
		`SELECT "Other Users/%s/INBOX"`,
		`SELECT "Other Users/%s/&AEkATgBCAE8AWA-"`,        // "INBOX" in modified UTF-7
		`SELECT "&AE8-ther Users/%s/INBOX"`,               // "Other" with an encoded O
		`EXAMINE {%d+}` + "\r\n" + `Other Users/%s/INBOX`, // literal
		`STATUS "Other Users/%s/INBOX" (MESSAGES UIDNEXT)`,
		`STATUS "Other Users/%s/&-INBOX" (MESSAGES)`,
		`CREATE "Other Users/%s/New"`,
		`DELETE "Other Users/%s/Trash"`,
		`RENAME "Other Users/%s/Trash" "Mine"`,
		`SUBSCRIBE "Other Users/%s/INBOX"`,
		`APPEND "Other Users/%s/INBOX" {5+}` + "\r\nhello",
		`LIST "" "Other Users/%s/*"`,
		`LIST "Other Users/%s/" "*"`,
		`LIST "" "*%s*"`,
		`LSUB "" "*"`,
	} {
		render := func(who string) string {
			s := strings.ReplaceAll(form, "%s", who)
			if strings.Contains(s, "{%d+}") {
				s = strings.Replace(s, "%d", fmt.Sprint(len("Other Users/"+who+"/INBOX")), 1)
			}
			return s
		}
		u1, s1 := r.cmd("%s", render("alice@example.test"))
		u2, s2 := r.cmd("%s", render("nobody@example.test"))
		if s1 != s2 || strings.Join(u1, "|") != strings.Join(u2, "|") {
			t.Errorf("%q\n  for alice (no right): %q %q\n  for nobody:           %q %q", form, u1, s1, u2, s2)
		}
		if strings.Contains(strings.Join(u1, "|"), "alice") {
			t.Errorf("%q reveals alice: %q", form, u1)
		}
	}
	// The Exchange form needs the backslash escaped inside quotes (RFC 3501
	// quoted-specials); as a literal it goes as is.
	r2 := e.raw()
	if _, st := r2.cmd(`LOGIN "bob@example.test\\alice@example.test" "%s"`, pw); !strings.HasPrefix(st, "OK") {
		t.Fatalf("LOGIN quoted delegate form: %s", st)
	}
	if u, st := r2.cmd(`SELECT INBOX`); !strings.HasPrefix(st, "OK") || !strings.Contains(strings.Join(u, "|"), "* 1 EXISTS") {
		t.Fatalf("SELECT INBOX as bob for alice: %q %s", u, st)
	}
	r3 := e.raw()
	login := `bob@example.test\alice@example.test`
	if _, st := r3.cmd("LOGIN {%d+}\r\n%s \"%s\"", len(login), login, pw); !strings.HasPrefix(st, "OK") {
		t.Fatalf("LOGIN literal delegate form: %s", st)
	}
	// A client cannot inject a line through a mailbox name or a flag.
	// (imapserver's UTF-7 decoder rejects the control characters first and
	// then drops the connection: a library limit, reported; what matters
	// here is that nothing is created and nothing is echoed.)
	if _, st := r3.cmd("CREATE {4+}\r\na\r\nb"); strings.HasPrefix(st, "OK") {
		t.Errorf("CREATE with CRLF inside a literal name: %s", st)
	}
	fs, _ := e.st.Folders(e.ids["alice"])
	for _, f := range fs {
		if strings.ContainsAny(f.Name, "\r\n") {
			t.Errorf("a folder name with CR/LF was stored: %q", f.Name)
		}
	}
}

// TestIdleAcrossSessions: the owner and a delegate see each other's
// changes live, and a delivery (the SMTP path) reaches both.
func TestIdleAcrossSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "first")
	type update struct {
		kind string
		n    uint32
	}
	watcher := func(user, mailbox string) (*imapclient.Client, chan update) {
		ch := make(chan update, 16)
		c := e.login(user, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Expunge: func(seq uint32) { ch <- update{"expunge", seq} },
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					ch <- update{"exists", *d.NumMessages}
				}
			},
			Fetch: func(m *imapclient.FetchMessageData) {
				buf, _ := m.Collect()
				n := uint32(0)
				for _, f := range buf.Flags {
					if f == goimap.FlagFlagged {
						n = 1
					}
				}
				ch <- update{"flags", n}
			},
		}})
		if _, err := c.Select(mailbox, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		return c, ch
	}
	wait := func(who string, ch chan update, want update) {
		t.Helper()
		select {
		case got := <-ch:
			if got != want {
				t.Fatalf("%s got %+v, want %+v", who, got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no %+v within 10s", who, want)
		}
	}
	owner, och := watcher("alice", "INBOX")
	deleg, dch := watcher("bob", "Other Users/alice@example.test/INBOX")
	oidle, err := owner.Idle()
	if err != nil {
		t.Fatal(err)
	}
	didle, err := deleg.Idle()
	if err != nil {
		t.Fatal(err)
	}
	// A delivery (what SMTP does) reaches both IDLEs.
	e.deliver("alice", "INBOX", "second")
	wait("alice", och, update{"exists", 2})
	wait("bob", dch, update{"exists", 2})

	// The delegate flags and expunges; the owner sees it live.
	if err := didle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := didle.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := deleg.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagFlagged}, Silent: true}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	wait("alice", och, update{"flags", 1})
	if _, err := deleg.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}, Silent: true}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	wait("alice", och, update{"flags", 1})
	if err := deleg.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	wait("alice", och, update{"expunge", 1})

	// The owner appends; the delegate, idling again, sees it.
	if err := oidle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := oidle.Wait(); err != nil {
		t.Fatal(err)
	}
	didle, err = deleg.Idle()
	if err != nil {
		t.Fatal(err)
	}
	msg := testMessage("third")
	ac := owner.Append("INBOX", int64(len(msg)), nil)
	ac.Write(msg)
	ac.Close()
	if _, err := ac.Wait(); err != nil {
		t.Fatal(err)
	}
	wait("bob", dch, update{"exists", 2})
	didle.Close()
	if err := didle.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestIdleRevoked: once bob's right on alice is revoked, his IDLE on her
// INBOX pushes nothing more, and DONE is answered NO [NOPERM].
func TestIdleRevoked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "first")
	bobSaw := make(chan uint32, 8)
	bob := e.login("bob", &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				bobSaw <- *d.NumMessages
			}
		},
	}})
	aliceSaw := make(chan uint32, 8)
	alice := e.login("alice", &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				aliceSaw <- *d.NumMessages
			}
		},
	}})
	if _, err := bob.Select("Other Users/alice@example.test/INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	bidle, err := bob.Idle()
	if err != nil {
		t.Fatal(err)
	}
	aidle, err := alice.Idle()
	if err != nil {
		t.Fatal(err)
	}
	e.deliver("alice", "INBOX", "while allowed")
	for _, ch := range []chan uint32{bobSaw, aliceSaw} {
		select {
		case n := <-ch:
			if n != 2 {
				t.Fatalf("EXISTS %d, want 2", n)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no EXISTS while allowed")
		}
	}
	if _, err := e.st.RemoveGrant(addr("alice"), addr("bob"), delegation.FullAccess); err != nil {
		t.Fatal(err)
	}
	e.deliver("alice", "INBOX", "after revocation")
	select {
	case n := <-aliceSaw: // the change has been pushed to the sessions
		if n != 3 {
			t.Fatalf("alice EXISTS %d, want 3", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice got no EXISTS")
	}
	// Told at once: the server ends bob's IDLE with BYE naming the revocation.
	bidle.Close()
	if err := bidle.Wait(); err == nil {
		t.Fatal("bob's IDLE went on after the revocation; want BYE")
	}
	select {
	case n := <-bobSaw:
		t.Fatalf("bob was told EXISTS %d after revocation", n)
	default:
	}
	aidle.Close()
	if err := aidle.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestIdleRevokedByeUnasked checks "told at once" on the wire: a delegate
// IDLEing in a folder whose right is revoked gets * BYE naming the
// revocation without sending anything (no DONE, no command), and the
// connection is closed.
func TestIdleRevokedByeUnasked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "first")
	r := e.rawLogin("bob")
	if _, st := r.cmd(`SELECT "Other Users/alice@example.test/INBOX"`); !strings.HasPrefix(st, "OK") {
		t.Fatalf("SELECT: %s", st)
	}
	r.send("i1 IDLE\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	if _, err := e.st.RemoveGrant(addr("alice"), addr("bob"), delegation.FullAccess); err != nil {
		t.Fatal(err)
	}
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l := r.line()
	if !strings.HasPrefix(l, "* BYE") || !strings.Contains(strings.ToLower(l), "revoked") {
		t.Fatalf("after the revocation, unasked: %q, want * BYE naming the revocation", l)
	}
	if extra, err := r.r.ReadString('\n'); err == nil {
		t.Errorf("after BYE the connection goes on: %q", extra)
	}
}
