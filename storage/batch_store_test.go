package storage

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// bigBatch is a tenant with n users, each granting Full Access to the
// next: more than one Badger transaction holds for n in the thousands.
func bigBatch(n int) Batch {
	b := Batch{By: "cli:test", Records: []BatchRecord{{Kind: BatchTenant, Domain: "big.test"}}}
	for i := range n {
		b.Records = append(b.Records,
			BatchRecord{Kind: BatchUser, Address: fmt.Sprintf("u%d@big.test", i), PasswordHash: "$2a$10$0123456789012345678901234567890123456789012345678901"},
			BatchRecord{Kind: BatchGrant, Mailbox: fmt.Sprintf("u%d@big.test", i), Trustee: fmt.Sprintf("u%d@big.test", (i+1)%n), Right: delegation.FullAccess})
	}
	return b
}

func staged(t *testing.T, st *Store) int {
	t.Helper()
	n := 0
	if err := st.view(func(txn *badger.Txn) error {
		return scan(txn, prefBatch, func(_, _ []byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// commits counts the commits of one ApplyBatch of b on a fresh store.
func commits(t *testing.T, b Batch) int {
	st := openAt(t, t.TempDir())
	defer st.Close()
	var n atomic.Int64
	st.FailCommits(func() error { n.Add(1); return nil })
	if _, err := st.ApplyBatch(b); err != nil {
		t.Fatal(err)
	}
	return int(n.Load())
}

// TestBatchStaged: a batch too big for one transaction is staged and
// flipped; a failure before the flip leaves nothing, one after it is
// finished by the next start, and IDs are never given twice.
func TestBatchStaged(t *testing.T) {
	const users = 4000
	b := bigBatch(users)
	total := commits(t, b)
	if total < 4 {
		t.Fatalf("ApplyBatch of %d users took %d commits: it was not staged (the test needs it to be)", users, total)
	}
	t.Logf("%d users, %d grants: %d commits", users, users, total)

	for _, tc := range []struct {
		name    string
		failAt  int // the commit refused
		applied bool
	}{
		{"BeforeFlip", 2, false},       // a staging commit
		{"AfterFlip", total - 1, true}, // a move: the flip is in
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openAt(t, dir)
			var n atomic.Int64
			refused := errors.New("disk on fire")
			st.FailCommits(func() error {
				if int(n.Add(1)) == tc.failAt {
					return refused
				}
				return nil
			})
			if _, err := st.ApplyBatch(b); !errors.Is(err, refused) {
				t.Fatalf("ApplyBatch with commit %d refused = %v", tc.failAt, err)
			}
			st.FailCommits(nil)
			if _, ok := st.Directory().Lookup("u0@big.test"); ok {
				t.Error("the snapshot has part of a failed batch")
			}
			st.Close() // the crash
			st = openAt(t, dir)
			defer st.Close()
			d := st.Directory()
			_, ok := d.Lookup(fmt.Sprintf("u%d@big.test", users-1))
			if ok != tc.applied || (len(d.Grants()) == users) != tc.applied {
				t.Errorf("after the restart: last user there %v, %d grants; want applied %v", ok, len(d.Grants()), tc.applied)
			}
			if n := staged(t, st); n != 0 {
				t.Errorf("%d staged records left after the restart", n)
			}
			if _, err := st.AddTenant("after.test", 0); err != nil {
				t.Fatal(err)
			}
			p, err := st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: "late@after.test"})
			if err != nil {
				t.Fatal(err)
			}
			want := "p1"
			if tc.applied {
				want = fmt.Sprintf("p%d", users+1)
			}
			if p.ID != delegation.ID(want) {
				t.Errorf("next principal ID %s, want %s", p.ID, want)
			}
		})
	}
}

// TestBatchSmallOneCommit: a batch that fits is one commit.
func TestBatchSmallOneCommit(t *testing.T) {
	if n := commits(t, bigBatch(10)); n != 1 {
		t.Errorf("ApplyBatch of 10 users: %d commits, want 1", n)
	}
}
