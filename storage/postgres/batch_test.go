package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
)

// TestApplyBatchLarge: 10,000 users and 20,000 grants in one batch, and
// the other node hears of it once and has it all (the timing is logged,
// not asserted).
func TestApplyBatchLarge(t *testing.T) {
	dsn := testenv.Postgres(t)
	st, other := open(t, dsn, Options{}), open(t, dsn, Options{})
	heard := make(chan struct{}, 10)
	other.OnDirectoryChange(func(storage.DirChange) { heard <- struct{}{} })
	const users = 10000
	b := storage.Batch{By: "test", Records: []storage.BatchRecord{{Kind: storage.BatchTenant, Domain: "big.test"}}}
	for i := range users {
		b.Records = append(b.Records, storage.BatchRecord{Kind: storage.BatchUser, Address: fmt.Sprintf("u%05d@big.test", i), PasswordHash: testenv.BulkHash})
		for j := 1; j <= 2; j++ {
			b.Records = append(b.Records, storage.BatchRecord{Kind: storage.BatchGrant, Mailbox: fmt.Sprintf("u%05d@big.test", i),
				Trustee: fmt.Sprintf("u%05d@big.test", (i+j)%users), Right: delegation.SendAs})
		}
	}
	start := time.Now()
	if _, err := st.ApplyBatch(b); err != nil {
		t.Fatal(err)
	}
	t.Logf("ApplyBatch of %d users and %d grants on PostgreSQL: %v", users, 2*users, time.Since(start))
	select {
	case <-heard:
	case <-time.After(time.Minute):
		t.Fatal("the other node heard nothing")
	}
	if n := len(other.Directory().Grants()); n != 2*users {
		t.Errorf("the other node has %d grants, want %d", n, 2*users)
	}
	select {
	case <-heard:
		t.Error("the other node heard of the batch twice")
	case <-time.After(200 * time.Millisecond):
	}
}
