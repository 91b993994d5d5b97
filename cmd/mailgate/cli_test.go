package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailgate-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mailgate")
	// Every server these tests start leaves the web admin center off
	// unless the test turns it on (a flag wins over the environment).
	os.Setenv("MAILGATE_ADMIN_HTTP_ADDR", "")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build mailgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	testenv.StopPostgres()
	os.Exit(code)
}

type result struct {
	out, err string
	code     int
}

func mailgate(t *testing.T, data, stdin string, args ...string) result {
	t.Helper()
	// No command of these tests takes minutes: one that hangs fails here
	// instead of holding the whole run until go test's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"--data", data}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "MAILGATE_DATA=")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{out: o.String(), err: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run mailgate %v: %v", args, err)
	}
	return r
}

// ok runs a command that must succeed.
func ok(t *testing.T, data string, args ...string) string {
	t.Helper()
	r := mailgate(t, data, "", args...)
	if r.code != 0 {
		t.Fatalf("mailgate %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.err)
	}
	return r.out
}

// fails runs a command that must fail with one clear line on stderr.
func fails(t *testing.T, data, want string, args ...string) {
	t.Helper()
	r := mailgate(t, data, "", args...)
	if r.code != 1 {
		t.Errorf("mailgate %s: exit %d, want 1 (stdout %q)", strings.Join(args, " "), r.code, r.out)
	}
	if !strings.HasPrefix(r.err, "mailgate: ") || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, want) {
		t.Errorf("mailgate %s: stderr %q, want one line containing %q", strings.Join(args, " "), r.err, want)
	}
}

// scenario runs the whole admin flow against data; it is used offline and
// with a server running.
func scenario(t *testing.T, data string) {
	ok(t, data, "tenant", "add", "a.test")
	ok(t, data, "tenant", "add", "b.test", "--propagation", "0s")
	ok(t, data, "user", "add", "alice@a.test", "--name", "Alice", "--password", "pw-alice")
	if r := mailgate(t, data, "pw-bob\n", "user", "add", "bob@a.test", "--password-stdin"); r.code != 0 {
		t.Fatalf("user add --password-stdin: %q", r.err)
	}
	ok(t, data, "user", "add", "zed@b.test", "--password", "pw-zed")
	ok(t, data, "shared", "add", "info@a.test", "--name", "Info")
	ok(t, data, "group", "add", "sales@a.test")
	ok(t, data, "group", "add", "team@a.test")
	ok(t, data, "group", "member", "add", "sales@a.test", "team@a.test")
	ok(t, data, "group", "member", "add", "team@a.test", "bob@a.test")
	ok(t, data, "alias", "add", "alice@a.test", "al@a.test")

	// Errors: one line, exit 1.
	fails(t, data, "no user, shared mailbox or group has the address nobody@a.test", "grant", "add", "nobody@a.test", "bob@a.test", "--right", "send-as")
	fails(t, data, "address alice@a.test is already used", "user", "add", "ALICE@a.test", "--password", "x")
	fails(t, data, "address al@a.test is already used", "alias", "add", "bob@a.test", "al@a.test")
	fails(t, data, "alice@a.test and zed@b.test are in different tenants: rights can only be granted inside one tenant",
		"grant", "add", "alice@a.test", "zed@b.test", "--right", "send-as")
	fails(t, data, "would make a group cycle", "group", "member", "add", "team@a.test", "sales@a.test")
	fails(t, data, `unknown right "send-ass"`, "grant", "add", "alice@a.test", "bob@a.test", "--right", "send-ass")
	fails(t, data, "no tenant for x@c.test", "user", "add", "x@c.test", "--password", "x")
	fails(t, data, "required flag", "grant", "add", "alice@a.test", "bob@a.test")
	// Look-alikes: a trailing (root) dot is refused with the spelling to
	// use, so "a.test." never becomes a second tenant nor
	// "bob@a.test." a second principal.
	fails(t, data, `invalid domain "a.test.": it ends with a dot (write a.test)`, "tenant", "add", "a.test.")
	fails(t, data, `invalid domain "C.test.": it ends with a dot (write c.test)`, "tenant", "add", "C.test.")
	fails(t, data, "the domain ends with a dot (write bob@a.test)", "user", "add", "bob@a.test.", "--password", "x")
	fails(t, data, "the domain ends with a dot (write new@a.test)", "user", "add", "new@a.test.", "--password", "x")
	fails(t, data, "the domain ends with a dot (write info2@a.test)", "shared", "add", "info2@a.test.")
	fails(t, data, "the domain ends with a dot (write al2@a.test)", "alias", "add", "alice@a.test", "al2@a.test.")
	fails(t, data, "the domain ends with a dot (write alice@a.test)", "grant", "add", "alice@a.test.", "bob@a.test", "--right", "send-as")
	if out := ok(t, data, "tenant", "list"); strings.Contains(out, "a.test.") || strings.Contains(out, "c.test") {
		t.Errorf("tenant list after refused look-alikes: %q", out)
	}

	// A grant is pending for exactly the propagation delay.
	var g struct {
		ID          string    `json:"id"`
		Created     time.Time `json:"created"`
		EffectiveAt time.Time `json:"effective_at"`
		State       string    `json:"state"`
	}
	if err := json.Unmarshal([]byte(ok(t, data, "--json", "grant", "add", "alice@a.test", "bob@a.test", "--right", "send-as")), &g); err != nil {
		t.Fatal(err)
	}
	if g.EffectiveAt.Sub(g.Created) != time.Hour || g.State != "pending" {
		t.Errorf("grant add: created %v effective %v state %s, want +60m pending", g.Created, g.EffectiveAt, g.State)
	}
	out := ok(t, data, "explain", "send", "--as", "bob@a.test", "--from", "al@a.test")
	if !strings.HasPrefix(out, "refused: ") || !strings.Contains(out, "not effective until "+g.EffectiveAt.UTC().Format(time.RFC3339)) {
		t.Errorf("explain send while pending: %q", out)
	}
	at := g.EffectiveAt.UTC().Format(time.RFC3339)
	out = ok(t, data, "explain", "send", "--as", "bob@a.test", "--from", "alice@a.test", "--at", at)
	if !strings.HasPrefix(out, "allowed: ") || !strings.Contains(out, "(send_as)") {
		t.Errorf("explain send at the effective time: %q", out)
	}
	fails(t, data, "--at", "explain", "send", "--as", "bob@a.test", "--from", "alice@a.test", "--at", "tomorrow")

	// Group-granted Full Access on the shared mailbox, answered in JSON.
	ok(t, data, "grant", "add", "info@a.test", "sales@a.test", "--right", "full-access", "--now")
	var e struct {
		Decision struct {
			Allowed bool   `json:"allowed"`
			Reason  string `json:"reason"`
		} `json:"decision"`
		Via string `json:"via"`
	}
	if err := json.Unmarshal([]byte(ok(t, data, "--json", "explain", "open", "--as", "bob@a.test", "--mailbox", "info@a.test")), &e); err != nil {
		t.Fatal(err)
	}
	if !e.Decision.Allowed || e.Via != "sales@a.test" {
		t.Errorf("explain open through nested group: %+v", e)
	}

	// Rename keeps grants both ways; the old address stays an alias.
	ok(t, data, "user", "rename", "bob@a.test", "robert@a.test")
	ok(t, data, "user", "rename", "alice@a.test", "alice.smith@a.test")
	out = ok(t, data, "grant", "list", "alice.smith@a.test")
	if !strings.Contains(out, "robert@a.test") || !strings.Contains(out, "pending") {
		t.Errorf("grant list after renames:\n%s", out)
	}
	var grants []map[string]any
	json.Unmarshal([]byte(ok(t, data, "--json", "grant", "list", "--trustee", "bob@a.test")), &grants)
	if len(grants) != 1 || grants[0]["mailbox"] != "alice.smith@a.test" || grants[0]["trustee"] != "robert@a.test" {
		t.Errorf("grant list --trustee old address: %v", grants)
	}

	// Revocation is immediate.
	ok(t, data, "grant", "remove", "alice.smith@a.test", "robert@a.test", "--right", "send-as")
	out = ok(t, data, "explain", "send", "--as", "robert@a.test", "--from", "alice@a.test", "--at", at)
	if !strings.Contains(out, "(no_grant)") {
		t.Errorf("explain after revocation: %q", out)
	}
	fails(t, data, "has no Send As grant", "grant", "remove", "alice.smith@a.test", "robert@a.test", "--right", "send-as")

	// Lists.
	var users []map[string]any
	json.Unmarshal([]byte(ok(t, data, "--json", "user", "list", "--tenant", "a.test")), &users)
	if len(users) != 5 {
		t.Errorf("user list --tenant a.test: %d principals, want 5: %v", len(users), users)
	}
	fails(t, data, "no tenant c.test", "user", "list", "--tenant", "c.test")
	if out := ok(t, data, "tenant", "list"); !strings.Contains(out, "a.test") || !strings.Contains(out, "1h0m0s") {
		t.Errorf("tenant list:\n%s", out)
	}
	ok(t, data, "tenant", "set", "a.test", "--propagation", "5m")
	ok(t, data, "mailbox", "set", "info@a.test", "--copy-sent-as", "on")
	fails(t, data, "want on or off", "mailbox", "set", "info@a.test", "--copy-sent-as", "maybe")
	ok(t, data, "user", "passwd", "robert@a.test", "--password", "new")
	fails(t, data, "only users have passwords", "user", "passwd", "info@a.test", "--password", "x")
	ok(t, data, "user", "remove", "robert@a.test")
	if out := ok(t, data, "grant", "list"); strings.Contains(out, "robert") {
		t.Errorf("grants of a removed user remain:\n%s", out)
	}
	// The grant changes are on record, with who made them.
	var recs []struct{ Proto, Action, Actor, Mailbox, Right string }
	if err := json.Unmarshal([]byte(ok(t, data, "--json", "audit")), &recs); err != nil {
		t.Fatal(err)
	}
	var got []string
	actions := map[string]bool{}
	for _, r := range recs {
		actions[r.Action] = true
		if r.Proto != "admin" {
			t.Errorf("audit record %+v: want only admin changes here", r)
		}
		if !strings.HasPrefix(r.Action, "grant_") {
			continue
		}
		got = append(got, r.Proto+" "+r.Action+" "+r.Mailbox+" "+r.Right)
		if !strings.HasPrefix(r.Actor, "cli") {
			t.Errorf("audit record %+v: actor %q, want the CLI's user", r, r.Actor)
		}
	}
	if want := "admin grant_add alice@a.test send-as,admin grant_add info@a.test full-access,admin grant_remove alice.smith@a.test send-as"; strings.Join(got, ",") != want {
		t.Errorf("audit: %q, want %q", strings.Join(got, ","), want)
	}
	for _, a := range []string{"tenant_add", "user_add", "shared_mailbox_add", "group_add", "member_add", "alias_add", "rename", "password_set", "mailbox_set", "remove"} {
		if !actions[a] {
			t.Errorf("no %s record among the admin changes %v", a, actions)
		}
	}
}

func TestCLIOffline(t *testing.T) {
	scenario(t, t.TempDir())
}

func TestCLIThroughServer(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data)
	scenario(t, data)
	// The server holds the database: had the CLI not used the socket, it
	// could not have opened it.
	fi, err := os.Stat(filepath.Join(data, "admin.sock"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.sock: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	backup := filepath.Join(t.TempDir(), "backup.bak")
	ok(t, data, "backup", backup)
	srv.stop(t)
	if _, err := os.Stat(filepath.Join(data, "admin.sock")); !os.IsNotExist(err) {
		t.Errorf("admin.sock left after shutdown: %v", err)
	}
	// After shutdown the CLI opens the database itself and sees the same.
	if out := ok(t, data, "grant", "list", "info@a.test"); !strings.Contains(out, "sales@a.test") {
		t.Errorf("grant list offline after server stop:\n%s", out)
	}
	restored := t.TempDir()
	if r := mailgate(t, restored, "", "restore", backup); r.code != 0 || !strings.Contains(r.err, "restore: 100% (") {
		t.Fatalf("restore: exit %d, stderr %q (want progress up to 100%%)", r.code, r.err)
	}
	if out := ok(t, restored, "grant", "list", "info@a.test"); !strings.Contains(out, "sales@a.test") {
		t.Errorf("grant list on the restored copy:\n%s", out)
	}
	fails(t, restored, "not empty", "restore", backup)
}

type server struct {
	cmd    *exec.Cmd
	done   chan error
	banner string       // what serve printed up to its last banner line
	stderr bytes.Buffer // the log; read it only after stop
}

// startServer runs `mailgate serve` with every network listener disabled
// except what the test enables, and waits for its banner.
func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	args := []string{"--data", data, "serve", "--submission-addr", "", "--submissions-addr", "", "--mx-addr", "",
		"--imap-addr", "", "--imaps-addr", "", "--metrics-addr", "", "--dav-addr", ""}
	return runServer(t, exec.Command(binary, append(args, extra...)...))
}

// runServer starts a prepared `mailgate serve` command and waits until its
// banner is complete.
func runServer(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	cmd.Stderr = &s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		var banner strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			banner.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "stop with") { // the banner's last line
				ready <- banner.String()
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case s.banner = <-ready:
	case err := <-s.done:
		t.Fatalf("server exited before it was ready: %v\n%s", err, s.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("server not ready after 30s")
	}
	return s
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("server exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop within 20s of SIGTERM")
	}
}

// --demo seeds once; a second start reuses the tenant and prints the same
// logins, and the demo grants are effective at once.
func TestDemoIdempotent(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, "--demo")
	srv.stop(t)
	first, err := os.ReadFile(filepath.Join(data, "demo-logins.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(data, "demo-logins.txt")); fi.Mode().Perm() != 0o600 {
		t.Errorf("demo-logins.txt mode %v", fi.Mode().Perm())
	}
	srv = startServer(t, data, "--demo")
	srv.stop(t)
	second, _ := os.ReadFile(filepath.Join(data, "demo-logins.txt"))
	if string(first) != string(second) || strings.Count(string(first), "@example.test") != 4 {
		t.Errorf("demo logins changed or wrong:\n%s\n---\n%s", first, second)
	}
	out := ok(t, data, "grant", "list")
	for _, want := range []string{"alice@example.test  full-access     bob@example.test", "send-on-behalf  carol@example.test", "info@example.test   send-as         sales@example.test"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("demo grants lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pending") {
		t.Errorf("demo grants pending:\n%s", out)
	}
	if n := strings.Count(ok(t, data, "user", "list"), "\n") - 1; n != 6 {
		t.Errorf("demo principals: %d, want 6", n)
	}
}

func TestInsecureAuthOnlyOnLoopback(t *testing.T) {
	data := t.TempDir()
	r := mailgate(t, data, "", "serve", "--insecure-auth", "--imap-addr", "0.0.0.0:0", "--submission-addr", "",
		"--submissions-addr", "", "--mx-addr", "", "--imaps-addr", "", "--metrics-addr", "", "--dav-addr", "")
	if r.code != 1 || !strings.Contains(r.err, "every listener must be on a loopback address (0.0.0.0:0 is not)") {
		t.Errorf("serve --insecure-auth on 0.0.0.0: exit %d, stderr %q", r.code, r.err)
	}
}

// Flags fall back to MAILGATE_* variables (an empty one disables a
// listener), a flag on the command line wins, and MAILGATE_LOG_FORMAT=json
// gives one JSON object per log line.
func TestServeEnvironment(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(binary, "serve", "--mx-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "MAILGATE_DATA="+data, "MAILGATE_SUBMISSION_ADDR=127.0.0.1:0",
		"MAILGATE_SUBMISSIONS_ADDR=", "MAILGATE_MX_ADDR=", "MAILGATE_IMAP_ADDR=", "MAILGATE_IMAPS_ADDR=",
		"MAILGATE_METRICS_ADDR=", "MAILGATE_DAV_ADDR=", "MAILGATE_LOG_FORMAT=json", "MAILGATE_DEMO=true")
	srv := runServer(t, cmd)
	srv.stop(t)
	for _, want := range []string{"data dir " + data, "SMTP submission (STARTTLS)  127.0.0.1:", "SMTP inbound (MX)           127.0.0.1:", "demo logins"} {
		if !strings.Contains(srv.banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, srv.banner)
		}
	}
	for _, unwanted := range []string{"IMAP (STARTTLS)", "IMAPS (TLS)", "metrics ", "SMTP submission (TLS)", "CalDAV"} {
		if strings.Contains(srv.banner, unwanted) {
			t.Errorf("banner shows %q, disabled by an empty MAILGATE_ variable:\n%s", unwanted, srv.banner)
		}
	}
	lines := strings.Split(strings.TrimSpace(srv.stderr.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("log has %d lines", len(lines))
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["msg"] == nil {
			t.Errorf("log line is not a JSON record: %q", l)
		}
	}
	if r := mailgate(t, data, "", "serve", "--log-format", "xml"); r.code != 1 || !strings.Contains(r.err, "want text or json") {
		t.Errorf("serve --log-format xml: exit %d, %q", r.code, r.err)
	}
}

// TestAuditFilters: `mailgate audit` filters by actor, mailbox, action,
// result and time (a duration back or a time), and exports JSON lines.
func TestAuditFilters(t *testing.T) {
	data := t.TempDir()
	ok(t, data, "tenant", "add", "a.test")
	for _, u := range []string{"alice", "bob", "carol"} {
		ok(t, data, "user", "add", u+"@a.test", "--password", "a long password for "+u)
	}
	st, err := storage.Open(filepath.Join(data, "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := st.Directory()
	id := func(u string) string {
		p, found := dir.Lookup(u + "@a.test")
		if !found {
			t.Fatalf("no principal %s@a.test in %s (%d principals)", u, data, len(dir.Principals()))
		}
		return string(p.ID)
	}
	for _, r := range []storage.AuditRecord{
		{Action: "send", Actor: "bob@a.test", ActorID: id("bob"), Mailbox: "alice@a.test", MailboxID: id("alice"), Decision: "allowed", Right: "send-as"},
		{Action: "send", Actor: "carol@a.test", ActorID: id("carol"), Mailbox: "alice@a.test", MailboxID: id("alice"), Decision: "refused", Reason: "no_grant"},
		{Action: "folder_bind", Actor: "bob@a.test", ActorID: id("bob"), Mailbox: "alice@a.test", MailboxID: id("alice"), Decision: "allowed", Folder: "INBOX"},
	} {
		if err := st.Audit(r); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	count := func(args ...string) int {
		t.Helper()
		out := ok(t, data, append([]string{"audit", "--jsonl"}, args...)...)
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var r storage.AuditRecord
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("audit --jsonl line %q: %v", line, err)
			}
			n++
		}
		return n
	}
	tomorrow := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 7}, // and tenant add, three user adds
		{[]string{"--action", "user_add"}, 3},
		{[]string{"--actor", "bob@a.test"}, 2},
		{[]string{"--mailbox", "alice@a.test", "--action", "send"}, 2},
		{[]string{"--result", "refused"}, 1},
		{[]string{"--action", "folder_bind", "--result", "allowed"}, 1},
		{[]string{"--since", "1h"}, 7},
		{[]string{"--until", "1h"}, 0},
		{[]string{"--since", tomorrow}, 0},
		{[]string{"--until", tomorrow}, 7},
	} {
		if got := count(tc.args...); got != tc.want {
			t.Errorf("audit %v: %d records, want %d", tc.args, got, tc.want)
		}
	}
	fails(t, data, "allowed or refused", "audit", "--result", "maybe")
	fails(t, data, "want a duration", "audit", "--since", "yesterday")
}

// TestMailboxQuota: `mailbox set --quota` takes sizes in decimal and binary
// units or none, shows them back, and refuses what is not a size.
func TestMailboxQuota(t *testing.T) {
	data := t.TempDir()
	ok(t, data, "tenant", "add", "a.test")
	ok(t, data, "user", "add", "alice@a.test", "--password", "a long password for alice")
	if out := ok(t, data, "mailbox", "set", "alice@a.test", "--quota", "2GiB"); !strings.Contains(out, "quota 2GiB") {
		t.Errorf("--quota 2GiB: %q", out)
	}
	var p struct{ Settings struct{ Quota uint64 } }
	if err := json.Unmarshal([]byte(ok(t, data, "--json", "mailbox", "set", "alice@a.test", "--quota", "500MB")), &p); err != nil || p.Settings.Quota != 500e6 {
		t.Errorf("--quota 500MB: %+v %v", p, err)
	}
	if out := ok(t, data, "mailbox", "set", "alice@a.test", "--quota", "none"); !strings.Contains(out, "quota none") {
		t.Errorf("--quota none: %q", out)
	}
	fails(t, data, "64MiB or 1GiB", "mailbox", "set", "alice@a.test", "--quota", "lots")
	fails(t, data, "64MiB or 1GiB", "mailbox", "set", "alice@a.test", "--quota", "-1GB")
}
