package imap

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

const aliceInbox = `"Other Users/alice@example.test/INBOX"`

// TestID: ID (RFC 2971) answers with the server's fields.
func TestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.raw()
	un, st := r.cmd(`ID ("name" "test" "version" "1")`)
	if !strings.HasPrefix(st, "OK") || len(un) != 1 || !strings.HasPrefix(un[0], `* ID ("name" "mailgate"`) {
		t.Errorf("ID: %q %q", un, st)
	}
	if _, st := r.cmd("ID NIL"); !strings.HasPrefix(st, "OK") {
		t.Errorf("ID NIL: %q", st)
	}
}

// TestACL: MYRIGHTS, GETACL and LISTRIGHTS (RFC 4314) tell the truth from
// the grants; SETACL and DELETEACL are the administrator's; a folder
// without Full Access does not exist.
func TestACL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawLogin("bob")
	un, st := r.cmd("MYRIGHTS %s", aliceInbox)
	if want := `* MYRIGHTS ` + aliceInbox + ` "lrswipkxtecda"`; !strings.HasPrefix(st, "OK") || len(un) != 1 || un[0] != want {
		t.Errorf("MYRIGHTS: %q %q, want %q", un, st, want)
	}
	un, _ = r.cmd("GETACL %s", aliceInbox)
	// alice owns it; bob and erin (direct) and sales (group) have
	// effective Full Access; gina's grant is pending and is not listed.
	want := `* ACL ` + aliceInbox + ` "alice@example.test" "lrswipkxtecda" "bob@example.test" "lrswipkxtecda" "erin@example.test" "lrswipkxtecda" "sales@example.test" "lrswipkxtecda"`
	if len(un) != 1 || un[0] != want {
		t.Errorf("GETACL: %q, want %q", un, want)
	}
	un, _ = r.cmd("LISTRIGHTS %s dave@example.test", aliceInbox)
	if len(un) != 1 || un[0] != `* LISTRIGHTS `+aliceInbox+` "dave@example.test" "" "lrswipkxtecda"` {
		t.Errorf("LISTRIGHTS: %q", un)
	}
	for _, cmd := range []string{"SETACL %s dave@example.test lr", "DELETEACL %s bob@example.test"} {
		if _, st := r.cmd(cmd, aliceInbox); !strings.HasPrefix(st, "NO [NOPERM]") || !strings.Contains(st, "administrator") {
			t.Errorf("%s: %q, want NO [NOPERM] naming the administrator", cmd, st)
		}
	}
	d := e.rawLogin("dave")
	if _, st := d.cmd("MYRIGHTS %s", aliceInbox); !strings.HasPrefix(st, "NO [NONEXISTENT]") {
		t.Errorf("dave MYRIGHTS on alice's INBOX: %q, want NO [NONEXISTENT]", st)
	}
}

// TestCondstoreQresync: MODSEQ on FETCH, STORE UNCHANGEDSINCE with
// MODIFIED, and SELECT (QRESYNC ...) reporting what changed and what
// vanished since a known modseq (RFC 7162).
func TestCondstoreQresync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, s := range []string{"one", "two", "three"} {
		e.deliver("alice", "INBOX", s)
	}
	r := e.rawLogin("alice")
	if un, _ := r.cmd("ENABLE QRESYNC"); len(un) != 1 || un[0] != "* ENABLED QRESYNC" {
		t.Fatalf("ENABLE QRESYNC: %q", un)
	}
	un, _ := r.cmd("SELECT INBOX")
	hms := ""
	for _, l := range un {
		if strings.HasPrefix(l, "* OK [HIGHESTMODSEQ ") {
			hms = strings.Fields(strings.TrimPrefix(l, "* OK [HIGHESTMODSEQ "))[0]
			hms = strings.TrimSuffix(hms, "]")
		}
	}
	if hms == "" {
		t.Fatalf("SELECT after ENABLE QRESYNC: no HIGHESTMODSEQ in %q", un)
	}
	uv := ""
	for _, l := range un {
		if strings.HasPrefix(l, "* OK [UIDVALIDITY ") {
			uv = strings.TrimSuffix(strings.Fields(l)[3], "]")
		}
	}
	// A STORE conditional on a modseq older than message 1's fails for it.
	if _, st := r.cmd("STORE 2 +FLAGS (\\Seen)"); !strings.HasPrefix(st, "OK") {
		t.Fatal(st)
	}
	if _, st := r.cmd("STORE 1:2 (UNCHANGEDSINCE %s) +FLAGS (\\Flagged)", hms); !strings.HasPrefix(st, "OK [MODIFIED 2]") {
		t.Errorf("STORE UNCHANGEDSINCE: %q, want OK [MODIFIED 2]", st)
	}
	un, _ = r.cmd("FETCH 1 (FLAGS) (CHANGEDSINCE %s)", hms)
	if len(un) != 1 || !strings.Contains(un[0], `\Flagged`) || !strings.Contains(un[0], "MODSEQ (") {
		t.Errorf("FETCH CHANGEDSINCE: %q, want FLAGS with \\Flagged and MODSEQ", un)
	}
	if _, st := r.cmd("STORE 3 +FLAGS (\\Deleted)"); !strings.HasPrefix(st, "OK") {
		t.Fatal(st)
	}
	if un, _ := r.cmd("EXPUNGE"); !slices.Contains(un, "* VANISHED 3") {
		t.Errorf("EXPUNGE with QRESYNC: %q, want * VANISHED 3", un)
	}
	r.cmd("UNSELECT")
	// Resynchronise from the first modseq: UID 3 vanished, 1 and 2 changed.
	un, st := r.cmd("SELECT INBOX (QRESYNC (%s %s))", uv, hms)
	if !strings.HasPrefix(st, "OK") || !slices.Contains(un, "* VANISHED (EARLIER) 3") {
		t.Errorf("SELECT QRESYNC: %q %q, want * VANISHED (EARLIER) 3", un, st)
	}
	fetched := 0
	for _, l := range un {
		if strings.Contains(l, " FETCH (UID ") && strings.Contains(l, "MODSEQ (") {
			fetched++
		}
	}
	if fetched != 2 {
		t.Errorf("SELECT QRESYNC: %d FETCH responses, want 2 (UIDs 1 and 2 changed): %q", fetched, un)
	}
}

// TestAppendRevokedDuringLiteral: the right is checked once the literal
// has arrived, so a grant revoked while the client sends it refuses the
// APPEND and stores nothing; an allowed delegated APPEND is audited.
func TestAppendRevokedDuringLiteral(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawLogin("bob")
	msg := string(testMessage("by bob"))
	if _, st := r.cmd("APPEND %s {%d+}\r\n%s", aliceInbox, len(msg), msg); !strings.HasPrefix(st, "OK [APPENDUID") {
		t.Fatalf("delegated APPEND: %q", st)
	}
	if !slices.ContainsFunc(e.auditActions("bob"), func(a string) bool { return strings.HasPrefix(a, "append allowed alice@example.test INBOX") }) {
		t.Errorf("delegated APPEND not audited: %q", e.auditActions("bob"))
	}
	r.send("a1 APPEND " + aliceInbox + " {" + strconv.Itoa(len(msg)) + "}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND: %q, want a continuation", l)
	}
	if _, err := e.st.RemoveGrant(addr("alice"), addr("bob"), delegation.FullAccess); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.RemoveGrant(addr("alice"), addr("sales"), delegation.FullAccess); err != nil {
		t.Fatal(err)
	}
	r.send(msg + "\r\n")
	if l := r.until("a1 "); !strings.HasPrefix(l, "a1 NO [TRYCREATE]") {
		t.Errorf("APPEND after revocation: %q, want a1 NO [TRYCREATE]", l)
	}
	f, err := e.st.Folder(e.ids["alice"], "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if f.Count != 1 {
		t.Errorf("alice's INBOX holds %d messages, want 1 (the refused APPEND stored nothing)", f.Count)
	}
}

// TestPasswordChangeEndsSessions: a new password or the user's removal
// ends their open sessions with BYE, also one waiting in IDLE.
func TestPasswordChangeEndsSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	idle := e.rawLogin("alice")
	idle.cmd("SELECT INBOX")
	idle.send("i1 IDLE\r\n")
	if l := idle.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	busy := e.rawLogin("alice")
	h, err := auth.HashPassword("a new one")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.SetPassword(addr("alice"), h); err != nil {
		t.Fatal(err)
	}
	if l := idle.until("* BYE"); !strings.Contains(l, "password") {
		t.Errorf("idling session: %q, want BYE naming the password change", l)
	}
	busy.send("b1 NOOP\r\n")
	if l := busy.line(); !strings.HasPrefix(l, "* BYE") {
		t.Errorf("next command of another session: %q, want * BYE", l)
	}
	other := e.rawLogin("carol")
	if _, err := e.st.RemovePrincipal(addr("carol")); err != nil {
		t.Fatal(err)
	}
	other.send("c1 NOOP\r\n")
	if l := other.line(); !strings.HasPrefix(l, "* BYE") || !strings.Contains(l, "removed") {
		t.Errorf("session of a removed user: %q, want * BYE naming the removal", l)
	}
}

// TestBinaryUnknownCTE: BINARY of a part whose transfer encoding cannot be
// undone is NO [UNKNOWN-CTE] (RFC 3516 §4.3), with no half-written FETCH.
func TestBinaryUnknownCTE(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	msg := "From: a@example.org\r\nContent-Transfer-Encoding: x-unknown\r\n\r\nbody\r\n"
	if _, err := e.st.Deliver(storage.Delivery{Message: []byte(msg), Targets: []storage.Target{{Owner: e.ids["alice"]}}}); err != nil {
		t.Fatal(err)
	}
	r := e.rawLogin("alice")
	r.cmd("SELECT INBOX")
	un, st := r.cmd("FETCH 1 (UID BINARY.PEEK[1])")
	if !strings.HasPrefix(st, "NO [UNKNOWN-CTE]") || len(un) != 0 {
		t.Errorf("BINARY of x-unknown: %q %q, want NO [UNKNOWN-CTE] and no FETCH line", un, st)
	}
	if _, st := r.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
		t.Errorf("NOOP after the refusal: %q", st)
	}
}

// TestSASLInitialResponse: AUTHENTICATE PLAIN with the initial response on
// the command line (RFC 4959), and "=" for an empty one, which then gets a
// continuation.
func TestSASLInitialResponse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + addr("alice") + "\x00" + pw))
	if _, st := e.raw().cmd("AUTHENTICATE PLAIN %s", ir); !strings.HasPrefix(st, "OK") {
		t.Errorf("AUTHENTICATE PLAIN with initial response: %q", st)
	}
	r := e.raw()
	r.send("a1 AUTHENTICATE PLAIN =\r\n")
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l := r.line(); !strings.HasPrefix(l, "a1 NO [AUTHENTICATIONFAILED]") {
		t.Errorf(`AUTHENTICATE PLAIN "=" (empty response): %q, want the wrong-password answer`, l)
	}
}

// TestSubscriptionsOutliveFolders: a deleted folder stays subscribed and is
// listed \NonExistent by LIST (SUBSCRIBED) and by LSUB, never by a plain
// LIST, until UNSUBSCRIBE; RECURSIVEMATCH gives CHILDINFO only for a
// subscribed descendant no pattern matches (RFC 5258 §3.5); RENAME moves
// the subscriptions with the folders.
func TestSubscriptionsOutliveFolders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawLogin("alice")
	for _, cmd := range []string{"CREATE p/a", "CREATE p/b", "CREATE gone", "SUBSCRIBE p/a", "SUBSCRIBE gone", "DELETE gone"} {
		if _, st := r.cmd("%s", cmd); !strings.HasPrefix(st, "OK") {
			t.Fatalf("%s: %q", cmd, st)
		}
	}
	un, _ := r.cmd(`LIST (SUBSCRIBED) "" "*"`)
	if !slices.Contains(un, `* LIST (\NonExistent \HasNoChildren \Subscribed) "/" "gone"`) || !slices.Contains(un, `* LIST (\HasNoChildren \Subscribed) "/" "p/a"`) {
		t.Errorf("LIST (SUBSCRIBED): %q", un)
	}
	if slices.ContainsFunc(un, func(l string) bool { return strings.HasSuffix(l, ` "p/b"`) || strings.HasSuffix(l, ` "p"`) }) {
		t.Errorf("LIST (SUBSCRIBED) lists an unsubscribed folder: %q", un)
	}
	if un, _ := r.cmd(`LIST "" "*"`); slices.ContainsFunc(un, func(l string) bool { return strings.HasSuffix(l, ` "gone"`) }) {
		t.Errorf("plain LIST shows the deleted folder: %q", un)
	}
	if un, _ := r.cmd(`LSUB "" "*"`); !slices.Contains(un, `* LSUB () "/" "gone"`) {
		t.Errorf("LSUB: %q", un)
	}
	un, _ = r.cmd(`LIST (SUBSCRIBED RECURSIVEMATCH) "" "%%"`)
	if !slices.Contains(un, `* LIST (\HasChildren) "/" "p" ("CHILDINFO" ("SUBSCRIBED"))`) {
		t.Errorf("RECURSIVEMATCH %%: %q, want p with CHILDINFO", un)
	}
	un, _ = r.cmd(`LIST (SUBSCRIBED RECURSIVEMATCH) "" (p p/a)`)
	if slices.ContainsFunc(un, func(l string) bool { return strings.Contains(l, "CHILDINFO") }) || !slices.Contains(un, `* LIST (\HasNoChildren \Subscribed) "/" "p/a"`) {
		t.Errorf("RECURSIVEMATCH (p p/a): %q, want p/a and no CHILDINFO (the pattern names it)", un)
	}
	if _, st := r.cmd("UNSUBSCRIBE gone"); !strings.HasPrefix(st, "OK") {
		t.Errorf("UNSUBSCRIBE of a deleted folder: %q", st)
	}
	if _, st := r.cmd("UNSUBSCRIBE never"); !strings.HasPrefix(st, "NO [NONEXISTENT]") {
		t.Errorf("UNSUBSCRIBE of a name neither subscribed nor a folder: %q", st)
	}
	if _, st := r.cmd("RENAME p q"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("RENAME: %q", st)
	}
	un, _ = r.cmd(`LSUB "" "*"`)
	if !slices.Contains(un, `* LSUB () "/" "q/a"`) || slices.ContainsFunc(un, func(l string) bool { return strings.HasSuffix(l, ` "gone"`) || strings.HasSuffix(l, ` "p/a"`) }) {
		t.Errorf("LSUB after UNSUBSCRIBE and RENAME: %q", un)
	}
}

// TestFolderBindOncePerWindow: a delegate's SELECTs and EXAMINEs of one
// folder make one FolderBind record per hour, written before the first
// one's OK; another folder, and the next hour, make their own.
func TestFolderBindOncePerWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	binds := func() int {
		n := 0
		for _, a := range e.auditActions("bob") {
			if strings.HasPrefix(a, "folder_bind ") {
				n++
			}
		}
		return n
	}
	r := e.rawLogin("bob")
	for _, cmd := range []string{"SELECT", "SELECT", "EXAMINE", "SELECT"} {
		if _, st := r.cmd("%s %s", cmd, aliceInbox); !strings.HasPrefix(st, "OK") {
			t.Fatalf("%s: %q", cmd, st)
		}
		if n := binds(); n != 1 {
			t.Fatalf("after %s: %d folder_bind records, want 1", cmd, n)
		}
	}
	r.cmd(`SELECT "Other Users/alice@example.test/Sent"`)
	if n := binds(); n != 2 {
		t.Errorf("after SELECT of Sent: %d folder_bind records, want 2", n)
	}
	e.clk.Advance(time.Hour)
	r.cmd("SELECT %s", aliceInbox)
	if n := binds(); n != 3 {
		t.Errorf("an hour later: %d folder_bind records, want 3", n)
	}
	if _, st := r.cmd("SELECT INBOX"); !strings.HasPrefix(st, "OK") || binds() != 3 {
		t.Errorf("SELECT of bob's own INBOX: %q, %d records (own folders are not audited)", st, binds())
	}
}

// TestRefusedOpenAudited: opening a folder of a real mailbox without Full
// Access is recorded as a refused folder_bind (once per folder and hour,
// with the reason), and answered like a folder that does not exist; a name
// that names nobody is not recorded.
func TestRefusedOpenAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.rawLogin("dave")
	for range 3 {
		if _, st := d.cmd("SELECT %s", aliceInbox); !strings.HasPrefix(st, "NO [NONEXISTENT]") {
			t.Fatalf("dave SELECT alice's INBOX: %q", st)
		}
	}
	d.cmd(`STATUS "Other Users/alice@example.test/Sent" (MESSAGES)`)
	d.cmd(`SELECT "Other Users/nobody@example.test/INBOX"`)
	recs, err := e.st.AuditList(storage.AuditFilter{ActorID: string(e.ids["dave"])})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Action+" "+string(r.Decision)+" "+r.Mailbox+" "+r.Folder+" "+r.Right+" "+r.Reason)
	}
	want := []string{
		"folder_bind refused alice@example.test INBOX full-access no_grant",
		"folder_bind refused alice@example.test Sent full-access no_grant",
	}
	if !slices.Equal(got, want) {
		t.Errorf("dave's audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	f := e.rawLogin("gina") // a grant that is not effective yet
	f.cmd("SELECT %s", aliceInbox)
	if recs, _ := e.st.AuditList(storage.AuditFilter{ActorID: string(e.ids["gina"]), Decision: "refused"}); len(recs) != 1 || recs[0].GrantID == "" {
		t.Errorf("gina's refused open: %+v, want one record naming the pending grant", recs)
	}
}

// TestQuota: GETQUOTAROOT and GETQUOTA report the owner's root and usage
// (a delegate's view of Other Users/<owner>/ reports the owner's quota);
// APPEND, COPY and MOVE into a mailbox over its quota answer
// NO [OVERQUOTA] and store nothing; SETQUOTA is the administrator's.
func TestQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "first")
	e.deliver("bob", "INBOX", "bob's own")
	a := e.rawLogin("alice")
	un, st := a.cmd("GETQUOTAROOT INBOX")
	if !strings.HasPrefix(st, "OK") || len(un) != 2 || un[0] != `* QUOTAROOT INBOX "alice@example.test"` || un[1] != `* QUOTA "alice@example.test" ()` {
		t.Fatalf("GETQUOTAROOT without a quota: %q %q", un, st)
	}
	if _, err := e.st.SetQuota(addr("alice"), 10<<10); err != nil {
		t.Fatal(err)
	}
	used, _, _ := e.st.Usage(e.ids["alice"])
	wantQuota := fmt.Sprintf(`* QUOTA "alice@example.test" (STORAGE %d 10)`, (used+1023)/1024)
	if un, _ := a.cmd("GETQUOTA alice@example.test"); len(un) != 1 || un[0] != wantQuota {
		t.Errorf("GETQUOTA: %q, want %q", un, wantQuota)
	}
	b := e.rawLogin("bob")
	un, _ = b.cmd("GETQUOTAROOT %s", aliceInbox)
	if len(un) != 2 || un[0] != `* QUOTAROOT `+aliceInbox+` "alice@example.test"` || un[1] != wantQuota {
		t.Errorf("bob's GETQUOTAROOT on alice's INBOX: %q, want alice's root and quota", un)
	}
	if _, st := e.rawLogin("dave").cmd("GETQUOTA alice@example.test"); !strings.HasPrefix(st, "NO [NONEXISTENT]") {
		t.Errorf("dave GETQUOTA of alice's root: %q", st)
	}
	if _, st := a.cmd("SETQUOTA alice@example.test (STORAGE 99999)"); !strings.HasPrefix(st, "NO [NOPERM]") {
		t.Errorf("SETQUOTA: %q", st)
	}
	big := strings.Repeat("x", 12<<10)
	a.send("a1 APPEND INBOX {" + strconv.Itoa(len(big)) + "+}\r\n" + big + "\r\n")
	if l := a.line(); !strings.HasPrefix(l, "a1 NO [OVERQUOTA]") {
		t.Errorf("APPEND over the quota: %q", l)
	}
	b.cmd("SELECT INBOX")
	if _, st := b.cmd("COPY 1 %s", aliceInbox); !strings.HasPrefix(st, "OK") {
		t.Errorf("bob COPY of a small message into alice's INBOX, under her quota: %q", st)
	}
	if _, err := e.st.SetQuota(addr("alice"), 1); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"COPY", "MOVE"} {
		if _, st := b.cmd("%s 1 %s", cmd, aliceInbox); !strings.HasPrefix(st, "NO [OVERQUOTA]") {
			t.Errorf("bob %s into alice's INBOX over her quota: %q", cmd, st)
		}
	}
	if st, err := e.st.Folder(e.ids["alice"], "INBOX"); err != nil || st.Count != 2 {
		t.Errorf("alice's INBOX holds %d messages, want 2 (first, and bob's one COPY)", st.Count)
	}
}
