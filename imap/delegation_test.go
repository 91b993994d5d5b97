package imap

import (
	"slices"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/mailgate/mailgate/delegation"
)

var aliceTree = []string{
	"Other Users", "Other Users/alice@example.test",
	"Other Users/alice@example.test/INBOX", "Other Users/alice@example.test/Archive", "Other Users/alice@example.test/Drafts",
	"Other Users/alice@example.test/Junk", "Other Users/alice@example.test/Sent", "Other Users/alice@example.test/Trash",
}

func otherUsersNames(names []string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "Other Users") {
			out = append(out, n)
		}
	}
	return out
}

func TestDelegatedListing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		user string
		want []string
	}{
		{"bob", append(slices.Clone(aliceTree), "Other Users/info@example.test", "Other Users/info@example.test/INBOX",
			"Other Users/info@example.test/Archive", "Other Users/info@example.test/Drafts", "Other Users/info@example.test/Junk",
			"Other Users/info@example.test/Sent", "Other Users/info@example.test/Trash")},
		{"erin", aliceTree},  // direct
		{"frank", aliceTree}, // through the group sales@
		{"carol", nil},       // Send on Behalf gives no access to the mailbox
		{"henry", nil},       // nor Send As
		{"dave", nil},
		{"gina", nil}, // pending
	} {
		c := e.login(tc.user, nil)
		got := otherUsersNames(listNames(t, c, "", "*", nil))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: LIST \"\" * under Other Users =\n%v\nwant\n%v", tc.user, got, tc.want)
		}
		// Automapping: reported as subscribed without any SUBSCRIBE.
		sub := otherUsersNames(listNames(t, c, "", "*", &goimap.ListOptions{SelectSubscribed: true}))
		var wantSub []string
		for _, n := range tc.want {
			if strings.Count(n, "/") >= 2 {
				wantSub = append(wantSub, n)
			}
		}
		if !slices.Equal(sub, wantSub) {
			t.Errorf("%s: LIST (SUBSCRIBED) = %v, want %v", tc.user, sub, wantSub)
		}
		l, err := c.List("", "Other Users/%", nil).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(tc.want) > 0 && (len(l) == 0 || !slices.Contains(l[0].Attrs, goimap.MailboxAttrNoSelect)) {
			t.Errorf("%s: LIST Other Users/%% = %s, want \\Noselect owner nodes", tc.user, fmtList(l))
		}
	}
	// LSUB too.
	c := e.login("frank", nil)
	l, err := c.List("", "Other Users/*", &goimap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil || len(l) != 6 {
		t.Fatalf("frank LSUB-style listing: %s %v", fmtList(l), err)
	}
}

func TestDelegatedFolderManagement(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "for alice 1")
	e.deliver("alice", "INBOX", "for alice 2")
	e.deliver("alice", "INBOX", "for alice 3")
	const inbox = "Other Users/alice@example.test/INBOX"
	for _, user := range []string{"bob", "frank"} { // frank: through the group sales@
		c := e.login(user, nil)
		sd, err := c.Select(inbox, nil).Wait()
		if err != nil {
			t.Fatalf("%s SELECT %s: %v", user, inbox, err)
		}
		if user == "frank" {
			if sd.NumMessages != 1 {
				t.Fatalf("frank sees %d messages, want 1 (bob expunged one and moved one)", sd.NumMessages)
			}
			break
		}
		msgs, err := c.Fetch(goimap.SeqSetNum(1, 2, 3), &goimap.FetchOptions{Envelope: true, UID: true}).Collect()
		if err != nil || len(msgs) != 3 || msgs[2].Envelope.Subject != "for alice 3" {
			t.Fatalf("bob FETCH in alice's INBOX: %v %v", msgs, err)
		}
		if _, err := c.Store(goimap.UIDSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}, Silent: true}, nil).Collect(); err != nil {
			t.Fatal(err)
		}
		if err := c.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Move(goimap.UIDSetNum(2), "Other Users/alice@example.test/Archive").Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Copy(goimap.UIDSetNum(3), "INBOX").Wait(); err != nil { // into bob's own INBOX
			t.Fatal(err)
		}
		if err := c.Create("Other Users/alice@example.test/Projects/Q4", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msg := testMessage("filed by bob")
		ac := c.Append("Other Users/alice@example.test/Projects/Q4", int64(len(msg)), nil)
		ac.Write(msg)
		ac.Close()
		if _, err := ac.Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Rename("Other Users/alice@example.test/Projects/Q4", "Other Users/alice@example.test/Projects/Done", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "RENAME across mailboxes", c.Rename("Other Users/alice@example.test/Projects", "Mine", nil).Wait(), goimap.ResponseCodeCannot)
	}
	// What alice's mailbox holds now.
	a := e.login("alice", nil)
	if got := listNames(t, a, "", "Projects/*", nil); !slices.Equal(got, []string{"Projects/Done"}) {
		t.Errorf("alice LIST Projects/* = %v", got)
	}
	for folder, want := range map[string]uint32{"INBOX": 1, "Archive": 1, "Projects/Done": 1} {
		st, err := a.Status(folder, &goimap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || *st.NumMessages != want {
			t.Errorf("alice STATUS %s = %v, %v; want %d messages", folder, st, err, want)
		}
	}
	b := e.login("bob", nil)
	if st, err := b.Status("INBOX", &goimap.StatusOptions{NumMessages: true}).Wait(); err != nil || *st.NumMessages != 1 {
		t.Errorf("bob's INBOX after COPY: %v %v", st, err)
	}
	// Audit: FolderBind for the SELECTs, the expunge, the move, the folder changes.
	got := strings.Join(e.auditActions("bob"), "\n")
	for _, want := range []string{
		"folder_bind allowed alice@example.test INBOX", "expunge allowed alice@example.test INBOX",
		"move allowed alice@example.test INBOX", "copy allowed alice@example.test INBOX",
		"create_folder allowed alice@example.test Projects/Q4", "rename_folder allowed alice@example.test Projects/Q4",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("bob's audit lacks %q:\n%s", want, got)
		}
	}
	recs, _ := e.st.AuditList(storageFilter(e, "frank"))
	if len(recs) != 1 || recs[0].Action != "folder_bind" || recs[0].GrantID == "" || recs[0].Right != "full-access" {
		t.Errorf("frank's audit = %+v, want one folder_bind with the group grant", recs)
	}
}

// TestProbing checks that every path to a mailbox the user may not open
// answers exactly as a path to a mailbox that does not exist.
func TestProbing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "secret")
	e.deliver("dave", "INBOX", "dave's")
	msg := testMessage("probe")

	// answer runs one command and renders its outcome as the client sees it.
	answer := func(c *imapclient.Client, cmd string, name string) string {
		var err error
		switch cmd {
		case "SELECT":
			_, err = c.Select(name, nil).Wait()
		case "EXAMINE":
			_, err = c.Select(name, &goimap.SelectOptions{ReadOnly: true}).Wait()
		case "STATUS":
			_, err = c.Status(name, &goimap.StatusOptions{NumMessages: true}).Wait()
		case "APPEND":
			ac := c.Append(name, int64(len(msg)), nil)
			ac.Write(msg)
			ac.Close()
			_, err = ac.Wait()
		case "CREATE":
			err = c.Create(name, nil).Wait()
		case "DELETE":
			err = c.Delete(name).Wait()
		case "RENAME-FROM":
			err = c.Rename(name, "Stolen", nil).Wait()
		case "RENAME-TO":
			err = c.Rename("Mine", name, nil).Wait()
		case "SUBSCRIBE":
			err = c.Subscribe(name).Wait()
		case "UNSUBSCRIBE":
			err = c.Unsubscribe(name).Wait()
		case "COPY":
			_, err = c.Copy(goimap.SeqSetNum(1), name).Wait()
		case "MOVE":
			_, err = c.Move(goimap.SeqSetNum(1), name).Wait()
		case "LIST":
			l, lerr := c.List("", name, nil).Collect()
			if lerr != nil {
				return "error " + lerr.Error()
			}
			return "list " + strings.Join(otherUsersNames(namesOf(l)), ",")
		}
		if err == nil {
			return "OK"
		}
		ie := imapErr(t, err)
		return string(ie.Type) + " [" + string(ie.Code) + "] " + ie.Text
	}
	for _, user := range []string{"carol", "dave", "gina", "bob"} { // gina: pending
		c := e.login(user, nil)
		if err := c.Create("Mine", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		ac := c.Append("INBOX", int64(len(msg)), nil)
		ac.Write(msg)
		ac.Close()
		ac.Wait()
		c.Noop().Wait()
		// The mailbox that exists but is forbidden: alice's for users without
		// Full Access, dave's for everyone (nobody has rights on dave).
		forbidden := "alice@example.test"
		if user == "bob" {
			forbidden = "dave@example.test"
		}
		for _, cmd := range []string{"SELECT", "EXAMINE", "STATUS", "APPEND", "CREATE", "DELETE", "RENAME-FROM", "RENAME-TO", "SUBSCRIBE", "UNSUBSCRIBE", "COPY", "MOVE", "LIST"} {
			for _, form := range []string{
				"Other Users/%s/INBOX", "Other Users/%s/inbox", "other users/%s/INBOX", "OTHER USERS/%s/Sent",
				"Other Users/%s", "Other Users/%s/", "Other Users/%s/*", "Other Users/%s/%%",
				"Other Users/%s/../%s/INBOX", "Other Users/./%s/INBOX", "Other Users/%s/INBOX/../INBOX",
				"Other Users//%s/INBOX", "Other Users/%s//INBOX", "Other Users/%s/Nonexistent",
				"Other Users/%s/Ärchiv", "Other Users/%s/&AEkATgBCAE8AWA-", "OTHER USERS/%s/&AEkATgBCAE8AWA-",
			} {
				name := func(who string) string {
					n := strings.ReplaceAll(form, "%s", who)
					return strings.ReplaceAll(n, "%%", "%")
				}
				if strings.Contains(form, "%%") || strings.Contains(form, "*") {
					if cmd != "LIST" {
						continue
					}
				}
				got := answer(c, cmd, name(forbidden))
				want := answer(c, cmd, name("nobody@example.test"))
				if got != want {
					t.Errorf("%s %s %q answers %q, but for a nonexistent owner %q", user, cmd, name(forbidden), got, want)
				}
				if strings.HasPrefix(got, "list ") && strings.Contains(got, forbidden) {
					t.Errorf("%s LIST %q reveals %s", user, name(forbidden), got)
				}
			}
		}
		// LIST patterns that must reveal nothing of the forbidden mailbox.
		for _, pat := range []string{"*", "%", "%/%", "%/%/%", "Other Users/*", "Other Users/%", "*/*", "../*", "*" + forbidden + "*", "other users/*", "*INBOX*"} {
			for _, n := range listNames(t, c, "", pat, nil) {
				if strings.Contains(n, forbidden) {
					t.Errorf("%s LIST %q shows %q", user, pat, n)
				}
			}
			for _, n := range listNames(t, c, "Other Users/", pat, nil) {
				if strings.Contains(n, forbidden) {
					t.Errorf("%s LIST \"Other Users/\" %q shows %q", user, pat, n)
				}
			}
		}
	}
	// Nothing in the forbidden mailboxes changed.
	for _, who := range []string{"alice", "dave"} {
		fs, err := e.st.Folders(e.ids[who])
		if err != nil {
			t.Fatal(err)
		}
		wantInbox := uint32(1)
		if who == "dave" {
			wantInbox = 2 // dave probed too, and appended to his own INBOX
		}
		for _, f := range fs {
			if f.Name == "INBOX" && f.Count != wantInbox || f.Name != "INBOX" && f.Count != 0 || f.Name == "Stolen" || f.Name == "Mine" && who != "dave" {
				t.Errorf("%s's folder %s changed: %+v", who, f.Name, f)
			}
		}
	}
}

func namesOf(l []*goimap.ListData) []string {
	var out []string
	for _, d := range l {
		out = append(out, d.Mailbox)
	}
	return out
}

func TestDelegateLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "alice only")
	e.deliver("info", "INBOX", "to info")
	authFailed := func(what string, err error) {
		t.Helper()
		wantCode(t, what, err, goimap.ResponseCodeAuthenticationFailed)
		if ie := imapErr(t, err); ie.Text != "Authentication failed" {
			t.Errorf("%s: text %q differs from a wrong password's", what, ie.Text)
		}
	}
	// LOGIN delegate\owner (Exchange form), and AUTHENTICATE PLAIN with authzid.
	for _, how := range []string{"login", "plain"} {
		c := e.dial(nil)
		var err error
		if how == "login" {
			err = c.Login(`bob@example.test\alice@example.test`, pw).Wait()
		} else {
			err = c.Authenticate(sasl.NewPlainClient("alice@example.test", "bob@example.test", pw))
		}
		if err != nil {
			t.Fatalf("%s as bob for alice: %v", how, err)
		}
		sd, err := c.Select("INBOX", nil).Wait()
		if err != nil || sd.NumMessages != 1 {
			t.Fatalf("%s: SELECT INBOX = %+v, %v; want alice's one message", how, sd, err)
		}
		msgs, _ := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Envelope: true}).Collect()
		if len(msgs) != 1 || msgs[0].Envelope.Subject != "alice only" {
			t.Fatalf("%s: INBOX is not alice's: %+v", how, msgs)
		}
		if got := otherUsersNames(listNames(t, c, "", "*", nil)); len(got) != 0 {
			t.Errorf("%s: a delegate login lists Other Users: %v", how, got)
		}
		ns, err := c.Namespace().Wait()
		if err != nil || len(ns.Other) != 0 {
			t.Errorf("%s: NAMESPACE = %+v, %v", how, ns, err)
		}
	}
	// A shared mailbox: only this way (or Other Users), never by itself.
	c := e.dial(nil)
	if err := c.Login(`bob@example.test\info@example.test`, pw).Wait(); err != nil {
		t.Fatal(err)
	}
	if sd, err := c.Select("INBOX", nil).Wait(); err != nil || sd.NumMessages != 1 {
		t.Fatalf("bob\\info SELECT INBOX = %+v, %v", sd, err)
	}
	authFailed("LOGIN info@ (shared)", e.dial(nil).Login(addr("info"), pw).Wait())

	// Refusals: all the same NO [AUTHENTICATIONFAILED] as a bad password.
	authFailed("wrong password", e.dial(nil).Login(addr("bob"), "nope").Wait())
	authFailed("unknown user", e.dial(nil).Login(addr("nobody"), pw).Wait())
	authFailed("carol\\alice (Send on Behalf only)", e.dial(nil).Login(`carol@example.test\alice@example.test`, pw).Wait())
	authFailed("dave\\alice (no right)", e.dial(nil).Login(`dave@example.test\alice@example.test`, pw).Wait())
	authFailed("gina\\alice (pending)", e.dial(nil).Login(`gina@example.test\alice@example.test`, pw).Wait())
	authFailed("bob\\nobody", e.dial(nil).Login(`bob@example.test\nobody@example.test`, pw).Wait())
	authFailed("bob\\alice wrong password", e.dial(nil).Login(`bob@example.test\alice@example.test`, "nope").Wait())
	authFailed("PLAIN dave for alice", e.dial(nil).Authenticate(sasl.NewPlainClient("alice@example.test", "dave@example.test", pw)))

	refused := e.auditActions("dave")
	if len(refused) != 2 || refused[0] != "login refused alice@example.test " {
		t.Errorf("dave's refused delegate logins audited as %q", refused)
	}
	if got := e.auditActions("bob"); !slices.Contains(got, "login allowed alice@example.test ") || !slices.Contains(got, "login allowed info@example.test ") {
		t.Errorf("bob's delegate logins audited as %q", got)
	}
}

func TestPendingGrantBecomesEffective(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "hello")
	c := e.login("gina", nil)
	if got := otherUsersNames(listNames(t, c, "", "*", nil)); len(got) != 0 {
		t.Fatalf("pending grant listed: %v", got)
	}
	wantCode(t, "SELECT before effective", func() error {
		_, err := c.Select("Other Users/alice@example.test/INBOX", nil).Wait()
		return err
	}(), goimap.ResponseCodeNonExistent)
	e.clk.Advance(time.Hour) // the tenant's propagation delay
	if got := otherUsersNames(listNames(t, c, "", "*", nil)); !slices.Equal(got, aliceTree) {
		t.Fatalf("after the propagation delay, same session LIST = %v", got)
	}
	if sd, err := c.Select("Other Users/alice@example.test/INBOX", nil).Wait(); err != nil || sd.NumMessages != 1 {
		t.Fatalf("SELECT once effective = %+v, %v", sd, err)
	}
}

func TestRevocationMidSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "one")
	e.deliver("alice", "Sent", "two")
	c := e.login("bob", nil)
	if _, err := c.Select("Other Users/alice@example.test/INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	d := e.dial(nil)
	if err := d.Login(`bob@example.test\alice@example.test`, pw).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.RemoveGrant(addr("alice"), addr("bob"), delegation.FullAccess); err != nil {
		t.Fatal(err)
	}
	// Other Users: the selected folder answers NO [NOPERM] from the next command on.
	_, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Envelope: true}).Collect()
	wantCode(t, "FETCH after revocation", err, goimap.ResponseCodeNoPerm)
	if txt := imapErr(t, err).Text; txt != "access to this mailbox has been revoked: select another mailbox" {
		t.Errorf("FETCH after revocation: %q, want it to say the access was revoked (not expired)", txt)
	}
	_, err = c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Collect()
	wantCode(t, "STORE after revocation", err, goimap.ResponseCodeNoPerm)
	_, err = c.Status("Other Users/alice@example.test/Sent", &goimap.StatusOptions{NumMessages: true}).Wait()
	wantCode(t, "STATUS after revocation", err, goimap.ResponseCodeNonExistent)
	if got := otherUsersNames(listNames(t, c, "", "*", nil)); len(got) != 8 || slices.Contains(got, "Other Users/alice@example.test/INBOX") {
		t.Errorf("after revocation LIST = %v, want only info@'s tree", got)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil { // own folders still work
		t.Fatal(err)
	}
	// Delegate login: the session ends with BYE at the next command.
	if _, err := d.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Envelope: true}).Collect(); err == nil {
		t.Fatal("delegate-login FETCH after revocation succeeded")
	}
	select {
	case <-d.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("delegate-login session not closed after revocation")
	}
	f, _ := e.st.Folder(e.ids["alice"], "INBOX")
	if msgs, _ := e.st.Messages(f.ID, 0, 0); len(msgs) != 1 || len(msgs[0].Flags) != 0 {
		t.Errorf("alice's INBOX changed after revocation: %+v", msgs)
	}
}
