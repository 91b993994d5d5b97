package imap

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailgate/mailgate/internal/testenv"
)

// needProgram finds an external client (see testenv.NeedProgram).
func needProgram(t *testing.T, name string) string {
	pkg := name
	if name == "mbsync" {
		pkg = "isync"
	}
	return testenv.NeedProgram(t, name, pkg)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (e *env) port() string {
	_, p, _ := net.SplitHostPort(e.addr)
	return p
}

// TestCurl: curl's imap:// URLs list and read the delegated mailbox, with
// the Exchange login form too.
func TestCurl(t *testing.T) {
	t.Parallel()
	curl := needProgram(t, "curl")
	e := newEnv(t)
	e.deliver("alice", "INBOX", "curl me")
	base := "imap://127.0.0.1:" + e.port()
	out := run(t, curl, "-sS", "--max-time", "30", "--user", addr("bob")+":"+pw, base+"/", "-X", `LIST "" "*"`)
	if !strings.Contains(out, `"Other Users/alice@example.test/INBOX"`) || strings.Contains(out, "dave@") {
		t.Fatalf("curl LIST as bob:\n%s", out)
	}
	// Read alice's message 1 through Other Users (the path is the mailbox).
	out = run(t, curl, "-sS", "--max-time", "30", "--user", addr("bob")+":"+pw, base+"/Other%20Users/alice%40example.test/INBOX/;UID=1")
	if !strings.Contains(out, "Subject: curl me") {
		t.Fatalf("curl FETCH alice's UID 1 as bob:\n%s", out)
	}
	// Exchange form: delegate\owner, INBOX is alice's.
	out = run(t, curl, "-sS", "--max-time", "30", "--user", `bob@example.test\alice@example.test:`+pw, base+"/INBOX/;UID=1;SECTION=HEADER.FIELDS%20(SUBJECT)")
	if !strings.Contains(out, "Subject: curl me") {
		t.Fatalf("curl as bob\\alice:\n%s", out)
	}
	// SASL PLAIN with authzid.
	out = run(t, curl, "-sS", "--max-time", "30", "--login-options", "AUTH=PLAIN", "--sasl-authzid", addr("alice"), "--user", addr("bob")+":"+pw, base+"/INBOX/;UID=1")
	if !strings.Contains(out, "Subject: curl me") {
		t.Fatalf("curl AUTH=PLAIN authzid alice:\n%s", out)
	}
	// No right: curl fails with a login denial (exit 67), whatever the form.
	cmd := exec.Command(curl, "-sS", "--max-time", "30", "--user", `dave@example.test\alice@example.test:`+pw, base+"/INBOX/;UID=1")
	if b, err := cmd.CombinedOutput(); err == nil || cmd.ProcessState.ExitCode() != 67 {
		t.Fatalf("curl as dave\\alice: %v (exit %d)\n%s", err, cmd.ProcessState.ExitCode(), b)
	}
	cmd = exec.Command(curl, "-sS", "--max-time", "30", "--user", addr("dave")+":"+pw, base+"/Other%20Users/alice%40example.test/INBOX/;UID=1")
	if b, err := cmd.CombinedOutput(); err == nil || strings.Contains(string(b), "curl me") {
		t.Fatalf("curl as dave read alice's message: %v\n%s", err, b)
	}
}

// TestPythonImaplib runs imap/testdata/imaplib_check.py as bob against
// alice's mailbox.
func TestPythonImaplib(t *testing.T) {
	t.Parallel()
	py := needProgram(t, "python3")
	e := newEnv(t)
	e.deliver("alice", "INBOX", "python me")
	out := run(t, py, "testdata/imaplib_check.py", "127.0.0.1", e.port(), addr("bob"), addr("alice"), addr("dave"), pw)
	if !strings.HasSuffix(strings.TrimSpace(out), "done") {
		t.Fatalf("imaplib_check.py:\n%s", out)
	}
	f, err := e.st.Folder(e.ids["alice"], "Archive")
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := e.st.Messages(f.ID, 0, 0)
	if len(msgs) != 1 || !strings.Contains(strings.Join(msgs[0].Flags, " "), `\Seen`) {
		t.Fatalf("alice's Archive after imaplib APPEND: %+v", msgs)
	}
	inbox, _ := e.st.Folder(e.ids["alice"], "INBOX")
	if msgs, _ := e.st.Messages(inbox.ID, 0, 0); len(msgs) != 1 || msgs[0].Flags[0] != `\Flagged` {
		t.Fatalf("alice's INBOX after imaplib STORE: %+v", msgs)
	}
}

// TestMbsync syncs Other Users/alice@example.test/INBOX to a Maildir with
// isync, twice: the second run picks up a new delivery.
func TestMbsync(t *testing.T) {
	t.Parallel()
	mbsync := needProgram(t, "mbsync")
	e := newEnv(t)
	e.deliver("alice", "INBOX", "sync one")
	e.deliver("alice", "INBOX", "sync two")
	dir := t.TempDir()
	maildir := filepath.Join(dir, "mail")
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "mbsyncrc")
	conf := fmt.Sprintf(`IMAPAccount bob
Host 127.0.0.1
Port %s
User %s
Pass "%s"
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bob

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel alice-inbox
Far :remote:"Other Users/alice@example.test/INBOX"
Near :local:alice-inbox
Create Near
Sync Pull
SyncState *
`, e.port(), addr("bob"), pw, maildir, maildir)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		for _, sub := range []string{"new", "cur"} {
			es, _ := os.ReadDir(filepath.Join(maildir, "alice-inbox", sub))
			n += len(es)
		}
		return n
	}
	run(t, mbsync, "-c", cfg, "-a")
	if n := count(); n != 2 {
		t.Fatalf("after the first sync the Maildir has %d messages, want 2", n)
	}
	e.deliver("alice", "INBOX", "sync three")
	run(t, mbsync, "-c", cfg, "-a")
	if n := count(); n != 3 {
		t.Fatalf("after the second sync the Maildir has %d messages, want 3", n)
	}
	// Both syncs SELECT the folder within the hour: one FolderBind record.
	if got := e.auditActions("bob"); len(got) != 1 || !strings.HasPrefix(got[0], "folder_bind allowed alice@example.test INBOX") {
		t.Errorf("mbsync's SELECTs audited as %v, want one folder_bind", got)
	}
}
