package storage

import (
	"errors"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// TestQuotaUsage: a mailbox's usage follows every delivery, copy, move
// (between mailboxes; inside one it stays) and expunge, and CheckQuota
// refuses what would go over the quota.
func TestQuotaUsage(t *testing.T) {
	st := openMailTest(t)
	if _, err := st.AddTenant("a.test", 0); err != nil {
		t.Fatal(err)
	}
	ids := map[string]delegation.ID{}
	for _, u := range []string{"alice", "bob"} {
		p, err := st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: u + "@a.test", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		ids[u] = p.ID
	}
	alice, bob := ids["alice"], ids["bob"]
	usage := func(who delegation.ID) uint64 {
		t.Helper()
		u, _, err := st.Usage(who)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	msg := func(n int) []byte { return append([]byte("Subject: q\r\n\r\n"), make([]byte, n-14)...) }
	for _, n := range []int{100, 200, 300} {
		if _, err := st.Append(alice, "INBOX", msg(n), nil, time.Now(), NoOrigin); err != nil {
			t.Fatal(err)
		}
	}
	if u := usage(alice); u != 600 {
		t.Fatalf("after three appends: usage %d, want 600", u)
	}
	inbox, _ := st.Folder(alice, "INBOX")
	archive, err := st.CreateFolder(alice, "Archive", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Move(inbox.ID, []uint32{1}, archive.ID, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if u := usage(alice); u != 600 {
		t.Errorf("after a MOVE inside the mailbox: usage %d, want 600", u)
	}
	if _, err := st.Copy(inbox.ID, []uint32{2}, archive.ID, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if u := usage(alice); u != 800 {
		t.Errorf("after a COPY of 200 bytes: usage %d, want 800", u)
	}
	bobInbox, err := st.Folder(bob, "INBOX")
	if err != nil {
		bobInbox, err = st.CreateFolder(bob, "INBOX", "", nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Move(inbox.ID, []uint32{3}, bobInbox.ID, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if a, b := usage(alice), usage(bob); a != 500 || b != 300 {
		t.Errorf("after a MOVE of 300 bytes to bob: usage %d and %d, want 500 and 300", a, b)
	}
	if _, err := st.StoreFlags(inbox.ID, []uint32{2}, FlagsAdd, []string{`\Deleted`}, NoOrigin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(inbox.ID, []uint32{2}, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if u := usage(alice); u != 300 {
		t.Errorf("after EXPUNGE of 200 bytes: usage %d, want 300", u)
	}
	if err := st.CheckQuota(alice, 1<<30); err != nil {
		t.Errorf("CheckQuota without a quota: %v", err)
	}
	if _, err := st.SetQuota("alice@a.test", 400); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckQuota(alice, 100); err != nil {
		t.Errorf("CheckQuota 300+100 of 400: %v", err)
	}
	if err := st.CheckQuota(alice, 101); !errors.Is(err, ErrOverQuota) {
		t.Errorf("CheckQuota 300+101 of 400: %v, want ErrOverQuota", err)
	}
	if err := st.CheckQuota(alice, 0); err != nil {
		t.Errorf("CheckQuota at RCPT, 300 of 400: %v", err)
	}
	if _, err := st.SetQuota("alice@a.test", 300); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckQuota(alice, 0); !errors.Is(err, ErrOverQuota) {
		t.Errorf("CheckQuota at RCPT, 300 of 300: %v, want ErrOverQuota", err)
	}
	if _, err := st.SetQuota("alice@a.test", 0); err != nil || st.CheckQuota(alice, 1<<40) != nil {
		t.Errorf("quota removed: %v", err)
	}
}

// TestSchema2Migration: a version 2 database's folders get their sizes.
func TestSchema2Migration(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const alice = delegation.ID("p1")
	for _, n := range []int{10, 20} {
		if _, err := st.Append(alice, "INBOX", append([]byte("Subject: q\r\n\r\n"), make([]byte, n)...), nil, time.Now(), NoOrigin); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := st.Folder(alice, "INBOX")
	f.Size = 0 // as version 2 wrote it
	if err := st.update(func(txn *badger.Txn) error {
		if err := putFolderTxn(txn, &f); err != nil {
			return err
		}
		return txn.Set(keySchema, []byte("2"))
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if f, _ := st.Folder(alice, "INBOX"); f.Size != 14*2+30 {
		t.Errorf("migrated INBOX size %d, want %d", f.Size, 14*2+30)
	}
}
