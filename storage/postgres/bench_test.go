package postgres

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
)

// BenchmarkDeliver measures committed deliveries (one INBOX copy each)
// from 8 goroutines on two nodes, to 4 mailboxes: the folder locks, the
// change log and NOTIFY under contention, with synchronous_commit on.
func BenchmarkDeliver(b *testing.B) {
	dsn := testenv.Postgres(b)
	var nodes []*Store
	for range 2 {
		st, err := Open(b.Context(), dsn, noPoll)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		nodes = append(nodes, st)
	}
	var n atomic.Int64
	b.SetParallelism(4) // × GOMAXPROCS goroutines
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			st := nodes[i%2]
			owner := delegation.ID(fmt.Sprint("p", i%4))
			if _, err := st.Deliver(storage.Delivery{Message: msgOf(fmt.Sprint(i)), Targets: []storage.Target{{Owner: owner}}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "deliveries/s")
}
