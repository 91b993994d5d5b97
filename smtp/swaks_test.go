package smtp

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/internal/testenv"
)

// TestSwaks runs the send-table scenarios through a real command-line
// client (swaks) against the in-process server.
func TestSwaks(t *testing.T) {
	t.Parallel()
	swaks := testenv.NeedProgram(t, "swaks", "swaks")
	srvTLS, _ := testTLS(t)
	f := newFixture(t, Config{InsecureAuth: true, TLS: srvTLS, MaxRecipients: 2})
	host, port, _ := net.SplitHostPort(f.sub)
	dir := t.TempDir()
	tests := []struct {
		name, user, auth, from, header string
		to                             []string
		extra                          []string
		password                       string
		wantOK                         bool
		want                           string // in swaks' transcript
		sender                         string // Sender delivered to dave, "" none
	}{
		{name: "own PLAIN", user: "dave@example.test", auth: "PLAIN", from: "dave@example.test", header: "From: Dave <dave@example.test>", wantOK: true, want: "250 2.0.0"},
		{name: "send as LOGIN", user: "bob@example.test", auth: "LOGIN", from: "bob@example.test", header: "From: Alice <alice@example.test>\nSender: bob@example.test", wantOK: true, want: "250 2.0.0"},
		{name: "send on behalf STARTTLS", user: "carol@example.test", auth: "PLAIN", from: "carol@example.test", header: "From: alice@example.test",
			extra: []string{"--tls"}, wantOK: true, want: "250 2.0.0", sender: `"Carol" <carol@example.test>`},
		{name: "delegate login form", user: `bob@example.test\alice@example.test`, auth: "PLAIN", from: "alice@example.test", header: "From: alice@example.test", wantOK: true, want: "250 2.0.0"},
		{name: "refused", user: "dave@example.test", auth: "PLAIN", from: "dave@example.test", header: "From: alice@example.test", want: "550 5.7.1 not allowed to send as alice@example.test"},
		{name: "pending", user: "gina@example.test", auth: "PLAIN", from: "gina@example.test", header: "From: alice@example.test", want: "not effective until"},
		{name: "envelope refused", user: "dave@example.test", auth: "PLAIN", from: "alice@example.test", header: "From: dave@example.test", want: "550 5.7.1 not allowed to use envelope sender"},
		{name: "two From", user: "bob@example.test", auth: "PLAIN", from: "bob@example.test", header: "From: bob@example.test\nFrom: alice@example.test", want: "550 5.6.0"},
		{name: "wrong password", user: "bob@example.test", auth: "PLAIN", from: "bob@example.test", header: "From: bob@example.test",
			password: "wrong", want: "535 5.7.8"},
		{name: "too many recipients", user: "bob@example.test", auth: "PLAIN", from: "bob@example.test", header: "From: bob@example.test",
			to: []string{"dave@example.test", "erin@example.test", "frank@example.test"}, wantOK: true, want: "452 4.5.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(inbox(t, f.st, "dave@example.test"))
			data := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".eml")
			m := strings.ReplaceAll(tt.header+"\nTo: dave@example.test\nSubject: swaks "+tt.name+"\n\nbody\n", "\n", "\r\n")
			if err := os.WriteFile(data, []byte(m), 0o600); err != nil {
				t.Fatal(err)
			}
			to := tt.to
			if to == nil {
				to = []string{"dave@example.test"}
			}
			pw := testPassword
			if tt.password != "" {
				pw = tt.password
			}
			args := []string{"--server", host, "--port", port, "--helo", "swaks.example.test", "--timeout", "20",
				"--auth", tt.auth, "--auth-user", tt.user, "--auth-password", pw,
				"--from", tt.from, "--to", strings.Join(to, ","), "--data", data}
			args = append(args, tt.extra...)
			cmd := exec.Command(swaks, args...)
			cmd.WaitDelay = 30 * time.Second
			out, err := cmd.CombinedOutput()
			if (err == nil) != tt.wantOK {
				t.Fatalf("swaks %v: err=%v, want ok=%v\n%s", args, err, tt.wantOK, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("swaks transcript lacks %q:\n%s", tt.want, out)
			}
			msgs := inbox(t, f.st, "dave@example.test")
			if !tt.wantOK {
				if len(msgs) != before {
					t.Fatalf("refused message delivered")
				}
				return
			}
			if len(msgs) != before+1 {
				t.Fatalf("dave has %d messages, want %d", len(msgs), before+1)
			}
			got := msgs[len(msgs)-1]
			if s := strings.Join(headerValues(t, got, "Sender"), "|"); s != tt.sender {
				t.Errorf("Sender = %q, want %q", s, tt.sender)
			}
		})
	}
}
