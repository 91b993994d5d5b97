package storagetest

import (
	"errors"
	"testing"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

func usage(t *testing.T, st storage.Backend, who delegation.ID) (used, quota uint64) {
	t.Helper()
	used, quota, err := st.Usage(who)
	if err != nil {
		t.Fatalf("Usage(%s): %v", who, err)
	}
	return used, quota
}

// quota: a mailbox's usage follows every delivery, copy, move (between
// mailboxes; inside one it stays), expunge and folder deletion, and
// CheckQuota refuses what would go over the quota, or, with size 0, a
// mailbox at or over it.
func quota(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	if u, q := usage(t, st, mb.alice); u != 0 || q != 0 {
		t.Errorf("new mailbox: usage %d, quota %d", u, q)
	}
	for _, n := range []int{100, 200, 300} {
		appendMsg(t, st, mb.alice, "INBOX", sized(n))
	}
	if u, _ := usage(t, st, mb.alice); u != 600 {
		t.Fatalf("after three appends: usage %d, want 600", u)
	}
	if _, err := st.Deliver(storage.Delivery{Message: sized(50), Targets: []storage.Target{{Owner: mb.alice, Folder: "Sent"}, {Owner: mb.bob}}}); err != nil {
		t.Fatal(err)
	}
	if a, b := usage(t, st, mb.alice); a != 650 || b != 0 {
		t.Errorf("after a delivery of 50 bytes to both: alice %d (quota %d), want 650", a, b)
	}
	if b, _ := usage(t, st, mb.bob); b != 50 {
		t.Errorf("after a delivery of 50 bytes to both: bob %d, want 50", b)
	}
	inbox := folder(t, st, mb.alice, "INBOX")
	archive := create(t, st, mb.alice, "Projects")
	if _, err := st.Move(inbox.ID, []uint32{1}, archive.ID, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if u, _ := usage(t, st, mb.alice); u != 650 {
		t.Errorf("after a MOVE inside the mailbox: usage %d, want 650", u)
	}
	if _, err := st.Copy(inbox.ID, []uint32{2}, archive.ID, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if u, _ := usage(t, st, mb.alice); u != 850 {
		t.Errorf("after a COPY of 200 bytes: usage %d, want 850", u)
	}
	bobInbox := folder(t, st, mb.bob, "INBOX")
	if _, err := st.Move(inbox.ID, []uint32{3}, bobInbox.ID, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	a, _ := usage(t, st, mb.alice)
	b, _ := usage(t, st, mb.bob)
	if a != 550 || b != 350 {
		t.Errorf("after a MOVE of 300 bytes to bob: usage %d and %d, want 550 and 350", a, b)
	}
	if _, err := st.StoreFlags(inbox.ID, []uint32{2}, storage.FlagsAdd, []string{`\Deleted`}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(inbox.ID, []uint32{2}, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if u, _ := usage(t, st, mb.alice); u != 350 {
		t.Errorf("after EXPUNGE of 200 bytes: usage %d, want 350", u)
	}
	if _, err := st.DeleteFolder(mb.alice, "Sent", nil); err != nil {
		t.Fatal(err)
	}
	if u, _ := usage(t, st, mb.alice); u != 300 {
		t.Errorf("after deleting Sent (50 bytes): usage %d, want 300", u)
	}

	if err := st.CheckQuota(mb.alice, 1<<30); err != nil {
		t.Errorf("CheckQuota without a quota: %v", err)
	}
	if _, err := st.SetQuota("alice@example.test", 400); err != nil {
		t.Fatal(err)
	}
	if u, q := usage(t, st, mb.alice); u != 300 || q != 400 {
		t.Errorf("Usage with a quota = %d, %d; want 300, 400", u, q)
	}
	if err := st.CheckQuota(mb.alice, 100); err != nil {
		t.Errorf("CheckQuota 300+100 of 400: %v", err)
	}
	if err := st.CheckQuota(mb.alice, 101); !errors.Is(err, storage.ErrOverQuota) {
		t.Errorf("CheckQuota 300+101 of 400: %v, want ErrOverQuota", err)
	}
	if err := st.CheckQuota(mb.alice, 0); err != nil {
		t.Errorf("CheckQuota at RCPT, 300 of 400: %v", err)
	}
	if err := st.CheckQuota(mb.bob, 1<<40); err != nil {
		t.Errorf("CheckQuota of bob, who has no quota: %v", err)
	}
	if _, err := st.SetQuota("alice@example.test", 300); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckQuota(mb.alice, 0); !errors.Is(err, storage.ErrOverQuota) {
		t.Errorf("CheckQuota at RCPT, 300 of 300: %v, want ErrOverQuota", err)
	}
	if err := st.CheckQuota(mb.alice, 1); !errors.Is(err, storage.ErrOverQuota) {
		t.Errorf("CheckQuota 300+1 of 300: %v, want ErrOverQuota", err)
	}
	if _, err := st.SetQuota("alice@example.test", 200); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckQuota(mb.alice, 0); !errors.Is(err, storage.ErrOverQuota) {
		t.Errorf("CheckQuota at RCPT, 300 of 200: %v, want ErrOverQuota", err)
	}
	if _, err := st.SetQuota("alice@example.test", 0); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckQuota(mb.alice, 1<<40); err != nil {
		t.Errorf("CheckQuota with the quota removed: %v", err)
	}
}

// delegateCopyQuota: what a delegate copies or moves into the owner's
// folders counts against the owner, not the delegate.
func delegateCopyQuota(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	if _, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.FullAccess, Immediate: true}); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, st, mb.bob, "INBOX", sized(120))
	appendMsg(t, st, mb.bob, "INBOX", sized(80))
	appendMsg(t, st, mb.alice, "INBOX", sized(100))
	if _, err := st.SetQuota("alice@example.test", 300); err != nil {
		t.Fatal(err)
	}
	bobInbox := folder(t, st, mb.bob, "INBOX")
	aliceArch := folder(t, st, mb.alice, "Archive")
	bobRec := func(o storage.Outcome) []storage.AuditRecord {
		return []storage.AuditRecord{{Proto: "imap", Action: "copy", Actor: "bob@example.test", ActorID: string(mb.bob),
			Mailbox: "alice@example.test", MailboxID: string(mb.alice), Right: "full-access", Decision: storage.AuditAllowed}}
	}
	if _, err := st.Copy(bobInbox.ID, []uint32{1}, aliceArch.ID, originOf("bob's session"), bobRec); err != nil {
		t.Fatal(err)
	}
	a, _ := usage(t, st, mb.alice)
	b, _ := usage(t, st, mb.bob)
	if a != 220 || b != 200 {
		t.Errorf("after bob's COPY of 120 bytes into alice's Archive: alice %d, bob %d; want 220 and 200", a, b)
	}
	if err := st.CheckQuota(mb.alice, 81); !errors.Is(err, storage.ErrOverQuota) {
		t.Errorf("CheckQuota 220+81 of 300: %v, want ErrOverQuota", err)
	}
	if _, err := st.Move(bobInbox.ID, []uint32{2}, aliceArch.ID, originOf("bob's session"), bobRec); err != nil {
		t.Fatal(err)
	}
	a, _ = usage(t, st, mb.alice)
	b, _ = usage(t, st, mb.bob)
	if a != 300 || b != 120 {
		t.Errorf("after bob's MOVE of 80 bytes into alice's Archive: alice %d, bob %d; want 300 and 120", a, b)
	}
	if err := st.CheckQuota(mb.alice, 0); !errors.Is(err, storage.ErrOverQuota) {
		t.Errorf("alice at 300 of 300: CheckQuota %v, want ErrOverQuota", err)
	}
	if err := st.CheckQuota(mb.bob, 1<<30); err != nil {
		t.Errorf("bob has no quota: %v", err)
	}
	if recs, _ := st.AuditList(storage.AuditFilter{ActorID: string(mb.bob), Action: "copy"}); len(recs) != 2 || recs[0].MailboxID != string(mb.alice) {
		t.Errorf("bob's copies audited as %+v", recs)
	}
}
