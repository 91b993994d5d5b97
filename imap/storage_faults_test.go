package imap

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
)

func appendMsg(c *imapclient.Client, mailbox string, msg []byte) error {
	ac := c.Append(mailbox, int64(len(msg)), nil)
	if _, err := ac.Write(msg); err != nil {
		return err
	}
	if err := ac.Close(); err != nil {
		return err
	}
	_, err := ac.Wait()
	return err
}

// counts is what STATUS says of INBOX and Archive.
func counts(t *testing.T, c *imapclient.Client) [2]uint32 {
	t.Helper()
	var out [2]uint32
	for i, mb := range []string{"INBOX", "Archive"} {
		d, err := c.Status(mb, &goimap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Fatalf("STATUS %s: %v", mb, err)
		}
		out[i] = *d.NumMessages
	}
	return out
}

// storageRefusals: APPEND, COPY and MOVE answer NO [UNAVAILABLE] and leave
// nothing behind, while SELECT, FETCH and STATUS still work.
func storageRefusals(t *testing.T, c *imapclient.Client) {
	t.Helper()
	before := counts(t, c)
	wantCode(t, "APPEND", appendMsg(c, "INBOX", testMessage("refused")), goimap.ResponseCodeUnavailable)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	_, err := c.Copy(goimap.SeqSetNum(1, 2, 3), "Archive").Wait()
	wantCode(t, "COPY", err, goimap.ResponseCodeUnavailable)
	_, err = c.Move(goimap.SeqSetNum(1, 2, 3), "Archive").Wait()
	wantCode(t, "MOVE", err, goimap.ResponseCodeUnavailable)
	msgs, err := c.Fetch(goimap.SeqSetNum(1, 2, 3), &goimap.FetchOptions{UID: true, BodySection: []*goimap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(msgs) != 3 || len(msgs[0].BodySection) == 0 {
		t.Fatalf("FETCH while writes are refused: %d messages, %v", len(msgs), err)
	}
	if after := counts(t, c); after != before {
		t.Fatalf("refused commands left traces: %v, before %v", after, before)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestDiskFullUnavailable: with the store on a 64 MiB file system filled
// to within 10 MiB (under the 16 MiB reserve), writes are refused with NO
// [UNAVAILABLE], reads work, and once space returns APPEND and MOVE work
// again on the same connection.
func TestDiskFullUnavailable(t *testing.T) {
	dir := testenv.SmallFS(t, 64<<20)
	e := newEnvIn(t, dir)
	e.st.SetMinFreeSpace(16 << 20)
	for _, s := range []string{"one", "two", "three"} {
		e.deliver("alice", "INBOX", s)
	}
	c := e.login("alice", nil)
	counts(t, c) // creates Archive while there is room
	release := testenv.Fill(t, dir, 10<<20)
	storageRefusals(t, c)

	release()
	if err := appendMsg(c, "INBOX", testMessage("later")); err != nil {
		t.Fatalf("APPEND once space is back: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(goimap.SeqSetNum(1, 2, 3, 4), "Archive").Wait(); err != nil {
		t.Fatalf("MOVE once space is back: %v", err)
	}
	if got := counts(t, c); got != [2]uint32{0, 4} {
		t.Errorf("after recovery: INBOX, Archive = %v, want 0, 4", got)
	}
}

// TestWriteRefusedUnavailable: a commit the database refuses, for any
// reason, is NO [UNAVAILABLE], never [SERVERBUG].
func TestWriteRefusedUnavailable(t *testing.T) {
	e := newEnv(t)
	for _, s := range []string{"one", "two", "three"} {
		e.deliver("alice", "INBOX", s)
	}
	c := e.login("alice", nil)
	counts(t, c)
	e.st.FailWrites(errors.New("Writes are blocked, possibly due to DropAll or Close"))
	storageRefusals(t, c)
	e.st.FailWrites(nil)
	if err := appendMsg(c, "INBOX", testMessage("later")); err != nil {
		t.Fatalf("APPEND once writes work: %v", err)
	}
}

// TestDelegatedAuditCommitsWithAction: a delegate's APPEND, COPY, MOVE and
// EXPUNGE in another mailbox write their audit records in the commit that
// does them. Stopped after any number of its commits (as by a crash), an
// action is either done and on record or neither: never done unrecorded.
func TestDelegatedAuditCommitsWithAction(t *testing.T) {
	e := newEnv(t)
	for i := range 12 {
		e.deliver("alice", "INBOX", fmt.Sprintf("message %d", i))
	}
	const inbox, archive = "Other Users/alice@example.test/INBOX", "Other Users/alice@example.test/Archive"
	c := e.login("bob", nil)
	messages := func(name string) int {
		t.Helper()
		d, err := c.Status(name, &goimap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Fatalf("STATUS %s: %v", name, err)
		}
		return int(*d.NumMessages)
	}
	records := func(action string) int {
		t.Helper()
		recs, err := e.st.AuditList(storage.AuditFilter{ActorID: string(e.ids["bob"]), Action: action})
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	messages(archive) // alice's Archive exists from here on
	if _, err := c.Select(inbox, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// check runs cmd with every commit after the n-th refused, then
	// compares what changed in the mailbox with what was recorded.
	check := func(what string, n int, cmd func() error, changed func() int, action string) {
		t.Helper()
		before, recsBefore := changed(), records(action)
		var commits atomic.Int64
		e.st.FailCommits(func() error {
			if commits.Add(1) > int64(n) {
				return errors.New("crash")
			}
			return nil
		})
		err := cmd()
		e.st.FailCommits(nil)
		done, recorded := changed()-before, records(action)-recsBefore
		if (done != 0) != (recorded == 1) || recorded > 1 {
			t.Errorf("%s stopped after %d commits (%v): %d messages changed, %d %q records", what, n, err, done, recorded, action)
		}
	}
	for n := range 3 {
		check("APPEND", n, func() error { return appendMsg(c, inbox, testMessage("filed")) },
			func() int { return messages(inbox) }, "append")
		check("COPY", n, func() error { _, err := c.Copy(goimap.SeqSetNum(1), archive).Wait(); return err },
			func() int { return messages(archive) }, "copy_in")
		check("MOVE", n, func() error { _, err := c.Move(goimap.SeqSetNum(1), archive).Wait(); return err },
			func() int { return messages(archive) }, "move")
		if _, err := c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}, Silent: true}, nil).Collect(); err != nil {
			t.Fatal(err)
		}
		check("EXPUNGE", n, func() error { return c.Expunge().Close() },
			func() int { return -messages(inbox) }, "expunge")
	}
	// Each record names its outcome: the UIDs it acted on.
	recs, _ := e.st.AuditList(storage.AuditFilter{ActorID: string(e.ids["bob"]), Action: "append"})
	if len(recs) == 0 || !strings.HasPrefix(recs[0].Detail, "uids ") || recs[0].Folder != "INBOX" || recs[0].Right != "full-access" {
		t.Errorf("append records: %+v", recs)
	}
}
