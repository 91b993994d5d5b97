package smtp

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
)

// TestDiskFull452: with the data directory on a 64 MiB file system filled
// to within 10 MiB (under the 16 MiB reserve), submission and MX answer
// DATA with 452 4.3.1, store nothing, and accept the same message once
// space returns, on the same connection.
func TestDiskFull452(t *testing.T) {
	dir := testenv.SmallFS(t, 64<<20)
	st := openStore(t, dir)
	testdir.Seed(t, st)
	st.SetMinFreeSpace(16 << 20)
	f := startServer(t, st, Config{InsecureAuth: true})
	sub := login(t, f.sub, "bob@example.test")
	mx := dial(t, f.mx)
	release := testenv.Fill(t, dir, 10<<20)

	m := msg("bob@example.test", "", "disk full")
	wantReply(t, "submission DATA on a full disk", send(sub, "bob@example.test", []string{"dave@example.test"}, m),
		452, gosmtp.EnhancedCode{4, 3, 1}, "insufficient system storage")
	wantReply(t, "MX DATA on a full disk", send(mx, "someone@elsewhere.test", []string{"dave@example.test"}, m),
		452, gosmtp.EnhancedCode{4, 3, 1}, "insufficient system storage")
	if got := inbox(t, st, "dave@example.test"); len(got) != 0 {
		t.Fatalf("refused mail stored: %d messages", len(got))
	}

	release()
	if err := send(sub, "bob@example.test", []string{"dave@example.test"}, m); err != nil {
		t.Fatalf("submission once space is back: %v", err)
	}
	if err := send(mx, "someone@elsewhere.test", []string{"dave@example.test"}, m); err != nil {
		t.Fatalf("MX once space is back: %v", err)
	}
	if got := inbox(t, st, "dave@example.test"); len(got) != 2 {
		t.Fatalf("after recovery: %d messages, want 2", len(got))
	}
}

// TestWriteRefused4xx: a commit the database refuses is a temporary
// failure: 452 4.3.1 when the cause is a full disk, 451 4.3.0 otherwise,
// never the internal-error reply; nothing is stored.
func TestWriteRefused4xx(t *testing.T) {
	f := newFixture(t, Config{InsecureAuth: true})
	c := login(t, f.sub, "bob@example.test")
	m := msg("bob@example.test", "", "refused")
	f.st.FailWrites(fmt.Errorf("while writing value log err: %v", syscall.ENOSPC))
	wantReply(t, "DATA, commit refused for ENOSPC", send(c, "bob@example.test", []string{"dave@example.test"}, m),
		452, gosmtp.EnhancedCode{4, 3, 1}, "insufficient system storage")
	f.st.FailWrites(errors.New("Writes are blocked, possibly due to DropAll or Close"))
	wantReply(t, "DATA, commit refused", send(c, "bob@example.test", []string{"dave@example.test"}, m),
		451, gosmtp.EnhancedCode{4, 3, 0}, "temporarily unavailable")
	f.st.FailWrites(nil)
	if got := inbox(t, f.st, "dave@example.test"); len(got) != 0 {
		t.Fatalf("refused mail stored: %d messages", len(got))
	}
	if err := send(c, "bob@example.test", []string{"dave@example.test"}, m); err != nil {
		t.Fatal(err)
	}
}
