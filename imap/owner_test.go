package imap

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func TestOwnerMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "first")
	e.deliver("alice", "INBOX", "second", `\Seen`)
	c := e.login("alice", nil)

	// LIST: the default folders with their SPECIAL-USE attributes (RFC 6154).
	l, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := fmtList(l)
	for _, want := range []string{"INBOX [\\HasNoChildren]", "Sent [\\HasNoChildren \\Sent]", "Trash [\\HasNoChildren \\Trash]", "Archive [\\HasNoChildren \\Archive]"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("LIST * lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Other Users") {
		t.Errorf("alice has no delegated mailbox, LIST shows:\n%s", got)
	}

	sd, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sd.NumMessages != 2 || sd.UIDNext != 3 || sd.UIDValidity == 0 {
		t.Fatalf("SELECT INBOX = %+v", sd)
	}
	msgs, err := c.Fetch(goimap.SeqSetNum(1, 2), &goimap.FetchOptions{UID: true, Flags: true, Envelope: true, RFC822Size: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Envelope.Subject != "first" || msgs[1].Envelope.Subject != "second" ||
		msgs[0].Envelope.From[0].Addr() != "sender@example.org" || !slices.Contains(msgs[1].Flags, goimap.FlagSeen) {
		t.Fatalf("FETCH 1:2 = %+v %+v", msgs[0], msgs[1])
	}
	if msgs[0].RFC822Size != int64(len(testMessage("first"))) {
		t.Errorf("RFC822.SIZE = %d, want %d", msgs[0].RFC822Size, len(testMessage("first")))
	}

	// BODY[] sets \Seen; BODY.PEEK[] does not (RFC 3501 §6.4.5).
	sec := &goimap.FetchItemBodySection{}
	msgs, err = c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{sec}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msgs[0].FindBodySection(sec), testMessage("first")) || !slices.Contains(msgs[0].Flags, goimap.FlagSeen) {
		t.Fatalf("FETCH BODY[] = %q flags %v", msgs[0].FindBodySection(sec), msgs[0].Flags)
	}
	hdr := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
	msgs, err = c.Fetch(goimap.SeqSetNum(2), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{hdr}, BodyStructure: &goimap.FetchItemBodyStructure{Extended: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(msgs[0].FindBodySection(hdr)); got != "Subject: second\r\n\r\n" {
		t.Errorf("BODY.PEEK[HEADER.FIELDS (Subject)] = %q", got)
	}
	if bs, ok := msgs[0].BodyStructure.(*goimap.BodyStructureSinglePart); !ok || !strings.EqualFold(bs.Type, "text") {
		t.Errorf("BODYSTRUCTURE = %#v", msgs[0].BodyStructure)
	}

	// SEARCH on flags and on the envelope.
	sr, err := c.UIDSearch(&goimap.SearchCriteria{NotFlag: []goimap.Flag{goimap.FlagFlagged}, Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "SEC"}}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := sr.AllUIDs(); !slices.Equal(got, []goimap.UID{2}) {
		t.Errorf("UID SEARCH UNFLAGGED SUBJECT SEC = %v, want [2]", got)
	}
	sr, err = c.Search(&goimap.SearchCriteria{Body: []string{"this is first"}}, nil).Wait()
	if err != nil || !slices.Equal(sr.AllSeqNums(), []uint32{1}) {
		t.Errorf("SEARCH BODY = %v, %v", sr, err)
	}

	// STORE, then EXPUNGE of \Deleted, durable and visible in storage.
	if _, err := c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted, "$Label1"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	f, err := e.st.Folder(e.ids["alice"], "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.st.Messages(f.ID, 0, 0)
	if err != nil || len(stored) != 1 || stored[0].UID != 2 {
		t.Fatalf("after EXPUNGE storage has %+v, %v", stored, err)
	}

	// APPEND (APPENDUID), COPY (COPYUID, shared body), MOVE.
	if err := c.Create("Projects/2026", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msg := testMessage("appended")
	ac := c.Append("Projects/2026", int64(len(msg)), &goimap.AppendOptions{Flags: []goimap.Flag{goimap.FlagFlagged}, Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
	ac.Write(msg)
	ac.Close()
	ad, err := ac.Wait()
	if err != nil || ad.UID != 1 {
		t.Fatalf("APPEND = %+v, %v", ad, err)
	}
	cd, err := c.Copy(goimap.SeqSetNum(1), "Projects/2026").Wait()
	if err != nil || cd.DestUIDs.String() != "2" || cd.SourceUIDs.String() != "2" {
		t.Fatalf("COPY = %+v, %v", cd, err)
	}
	if refs, _ := e.st.BlobRefs(stored[0].Blob); refs != 2 {
		t.Errorf("after COPY the body has %d references, want 2 (stored once)", refs)
	}
	md, err := c.Move(goimap.SeqSetNum(1), "Archive").Wait()
	if err != nil || md.DestUIDs.String() != "1" {
		t.Fatalf("MOVE = %+v, %v", md, err)
	}
	if _, err := c.Move(goimap.SeqSetNum(1), "Nope").Wait(); err == nil {
		t.Fatal("MOVE to a missing folder succeeded")
	}
	st, err := c.Status("Projects/2026", &goimap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, Size: true}).Wait()
	if err != nil || *st.NumMessages != 2 || *st.NumUnseen != 1 || st.UIDNext != 3 || *st.Size <= 0 {
		t.Fatalf("STATUS = %+v, %v", st, err)
	}
	if err := c.Rename("Projects", "Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if names := listNames(t, c, "", "Work*", nil); !slices.Equal(names, []string{"Work", "Work/2026"}) {
		t.Errorf("after RENAME LIST Work* = %v", names)
	}
	wantCode(t, "DELETE with children", c.Delete("Work").Wait(), goimap.ResponseCodeHasChildren)
	if err := c.Delete("Work/2026").Wait(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "DELETE INBOX", c.Delete("INBOX").Wait(), goimap.ResponseCodeCannot)
	wantCode(t, "SELECT deleted", func() error { _, err := c.Select("Work/2026", nil).Wait(); return err }(), goimap.ResponseCodeNonExistent)
	if len(e.auditActions("alice")) != 0 {
		t.Errorf("own-mailbox actions were audited: %v", e.auditActions("alice"))
	}
}

func TestExamineIsReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "one", `\Deleted`)
	c := e.login("alice", nil)
	if _, err := c.Select("INBOX", &goimap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	sec := &goimap.FetchItemBodySection{}
	msgs, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Flags: true, BodySection: []*goimap.FetchItemBodySection{sec}}).Collect()
	if err != nil || slices.Contains(msgs[0].Flags, goimap.FlagSeen) {
		t.Fatalf("FETCH BODY[] in EXAMINE: flags %v, %v", msgs[0].Flags, err)
	}
	_, err = c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagFlagged}}, nil).Collect()
	wantCode(t, "STORE in EXAMINE", err, goimap.ResponseCodeCannot)
	wantCode(t, "EXPUNGE in EXAMINE", c.Expunge().Close(), goimap.ResponseCodeCannot)
	_, err = c.Move(goimap.SeqSetNum(1), "Trash").Wait()
	wantCode(t, "MOVE in EXAMINE", err, goimap.ResponseCodeCannot)
	// CLOSE in EXAMINE expunges nothing and succeeds (RFC 3501 §6.4.2).
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatal(err)
	}
	f, _ := e.st.Folder(e.ids["alice"], "INBOX")
	if msgs, _ := e.st.Messages(f.ID, 0, 0); len(msgs) != 1 || len(msgs[0].Flags) != 1 {
		t.Fatalf("EXAMINE changed the folder: %+v", msgs)
	}
}

func TestAuthRequiresTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startServer(Config{Hostname: "mail.example.test"}) // no InsecureAuth, no TLS
	c := e.dial(nil)
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has(goimap.CapLoginDisabled) {
		t.Errorf("caps without TLS = %v, want LOGINDISABLED", c.Caps())
	}
	wantCode(t, "LOGIN without TLS", c.Login(addr("alice"), pw).Wait(), goimap.ResponseCodePrivacyRequired)
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.login("alice", nil)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	// Exactly these, after login: what issue 9 promised (everything the
	// go-imap based server offered, and the extensions clients use), no
	// less and nothing unexpected.
	want := []goimap.Cap{goimap.CapIMAP4rev1, goimap.CapIMAP4rev2, goimap.CapLiteralPlus, goimap.CapSASLIR,
		goimap.CapUIDPlus, goimap.CapMove, goimap.CapUnselect, goimap.CapNamespace, goimap.CapSpecialUse,
		goimap.CapChildren, goimap.CapListExtended, goimap.CapListStatus, goimap.CapESearch, goimap.CapSearchRes,
		goimap.CapEnable, goimap.CapBinary, goimap.CapStatusSize, "APPENDLIMIT=52428800", goimap.CapUTF8Accept,
		goimap.CapIdle, goimap.CapID, goimap.CapACL, goimap.Cap("RIGHTS=" + strings.ToUpper(extraRights)), goimap.CapCondStore, goimap.CapQResync,
		"SORT", "SORT=DISPLAY", "ESORT", "CONTEXT=SORT", "CONTEXT=SEARCH", "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT",
		"MULTIAPPEND", "CATENATE", "COMPRESS=DEFLATE", "QUOTA", "QUOTA=RES-STORAGE"}
	for _, w := range want {
		if !caps.Has(w) {
			t.Errorf("CAPABILITY lacks %s", w)
		}
	}
	for got := range caps {
		if !slices.Contains(want, got) {
			t.Errorf("CAPABILITY has %s, which this test does not expect", got)
		}
	}
	// Nothing is advertised that is not dispatched.
	for _, cp := range imapCaps {
		for _, cmd := range cp.commands {
			if commands[cmd] == nil {
				t.Errorf("capability %s names command %s, which is not in the dispatch table", cp.name, cmd)
			}
		}
	}
	ns, err := c.Namespace().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Personal) != 1 || ns.Personal[0].Prefix != "" || ns.Personal[0].Delim != '/' ||
		len(ns.Other) != 1 || ns.Other[0].Prefix != "Other Users/" || ns.Other[0].Delim != '/' || len(ns.Shared) != 0 {
		t.Errorf("NAMESPACE = %+v", ns)
	}
	_ = imapclient.Options{}
}
