package smtp

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
	"github.com/mailgate/mailgate/storage"
)

// BenchmarkSubmit measures authenticated submissions of 10 KiB messages
// over real sockets into a real Badger store with fsync on, with 1, 10 and
// 16 client connections in parallel. "spread": each connection sends to its
// own recipient; "one-rcpt": all to the same INBOX (serialised by that
// folder's lock). Reports msgs/s.
func BenchmarkSubmit(b *testing.B) {
	for _, mode := range []string{"spread", "one-rcpt"} {
		for _, clients := range []int{1, 10, 16} {
			b.Run(fmt.Sprintf("%s/clients=%d", mode, clients), func(b *testing.B) {
				benchSubmit(b, clients, mode == "one-rcpt")
			})
		}
	}
}

func benchSubmit(b *testing.B, clients int, oneRcpt bool) {
	st := openStore(b, b.TempDir())
	testdir.Seed(b, st)
	for i := range clients {
		if _, err := st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: fmt.Sprintf("rcpt%d@example.test", i), PasswordHash: testdir.PasswordHash()}); err != nil {
			b.Fatal(err)
		}
	}
	f := startServer(b, st, Config{InsecureAuth: true})
	body := msg("alice@example.test", "", "bench") + strings.Repeat(strings.Repeat("0123456789", 7)+"\r\n", 10240/72)
	conns := make([]*gosmtp.Client, clients)
	for i := range conns {
		c, err := gosmtp.Dial(f.sub)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", "bob@example.test", testPassword)); err != nil {
			b.Fatal(err)
		}
		conns[i] = c
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	for i, c := range conns {
		rcpt := fmt.Sprintf("rcpt%d@example.test", i)
		if oneRcpt {
			rcpt = "rcpt0@example.test"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if err := send(c, "bob@example.test", []string{rcpt}, body); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
