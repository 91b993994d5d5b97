package imap

import (
	"fmt"
	"testing"
)

// An idle folder index is dropped, least recently used first, once the
// idle indexes hold more than maxIdleMsgs messages, and loaded again (with
// what arrived meanwhile) on the next SELECT; the one just left stays.
func TestIdleIndexesBoundedByMessages(t *testing.T) {
	e := newEnv(t)
	e.srv.boxes.maxIdleMsgs = 5
	for i := range 4 {
		e.deliver("alice", "INBOX", fmt.Sprintf("inbox %d", i))
	}
	if _, err := e.st.CreateFolder(e.ids["alice"], "B", "", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e.deliver("alice", "B", fmt.Sprintf("b %d", i))
	}
	inbox, err := e.st.Folder(e.ids["alice"], "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.st.Folder(e.ids["alice"], "B")
	if err != nil {
		t.Fatal(err)
	}
	loaded := func() (in, bb bool) {
		e.srv.boxes.mu.Lock()
		defer e.srv.boxes.mu.Unlock()
		return e.srv.boxes.m[inbox.ID] != nil, e.srv.boxes.m[b.ID] != nil
	}
	c := e.login("alice", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("B", nil).Wait(); err != nil { // INBOX idle: 4 messages, kept
		t.Fatal(err)
	}
	if in, bb := loaded(); !in || !bb {
		t.Fatalf("with B selected: INBOX loaded %v, B loaded %v; want both", in, bb)
	}
	if err := c.Unselect().Wait(); err != nil { // 7 idle messages: INBOX goes
		t.Fatal(err)
	}
	if in, bb := loaded(); in || !bb {
		t.Fatalf("after UNSELECT: INBOX loaded %v, B loaded %v; want only B", in, bb)
	}
	e.deliver("alice", "INBOX", "inbox 4")
	d, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if d.NumMessages != 5 {
		t.Errorf("INBOX reloaded with %d messages, want 5", d.NumMessages)
	}
	// Over the bound on its own, the folder just left stays (the next
	// session would load it again at once); the older one goes.
	e.srv.boxes.mu.Lock()
	e.srv.boxes.maxIdleMsgs = 2
	e.srv.boxes.mu.Unlock()
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	if in, bb := loaded(); !in || bb {
		t.Errorf("after the second UNSELECT: INBOX loaded %v, B loaded %v; want only INBOX", in, bb)
	}
}
