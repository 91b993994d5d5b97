package imap

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// TestAuthenticatePlainMalformed: a PLAIN message with four NUL-separated
// fields (RFC 4616 §2 has three), as initial response or after the
// continuation, is a client error: NO [AUTHENTICATIONFAILED] like a wrong
// password, never [SERVERBUG]; it does not log in even when its first three
// fields are right, and the connection goes on. A look-alike login with a
// trailing dot fails too, with the right password.
func TestAuthenticatePlainMalformed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, msg := range []string{
		"\x00" + addr("alice") + "\x00" + pw + "\x00extra",
		addr("alice") + "\x00" + addr("alice") + "\x00" + pw + "\x00",
		"a\x00b\x00c\x00d",
	} {
		b64 := base64.StdEncoding.EncodeToString([]byte(msg))
		r := e.raw()
		if _, st := r.cmd("AUTHENTICATE PLAIN %s", b64); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
			t.Errorf("AUTHENTICATE PLAIN %q (initial response): %q, want NO [AUTHENTICATIONFAILED]", msg, st)
		}
		r.send("c1 AUTHENTICATE PLAIN\r\n")
		if l := r.line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("AUTHENTICATE PLAIN: %q, want a continuation", l)
		}
		r.send(b64 + "\r\n")
		if l := r.line(); !strings.HasPrefix(l, "c1 NO [AUTHENTICATIONFAILED]") {
			t.Errorf("AUTHENTICATE PLAIN %q (after the continuation): %q, want NO [AUTHENTICATIONFAILED]", msg, l)
		}
		if _, st := r.cmd("SELECT INBOX"); !strings.HasPrefix(st, "BAD") && !strings.HasPrefix(st, "NO") {
			t.Errorf("SELECT after a malformed PLAIN: %q, want it refused (not logged in)", st)
		}
	}
	for _, login := range []string{addr("alice") + ".", strings.ToUpper(addr("alice")) + "."} {
		if _, st := e.raw().cmd(`LOGIN %s "%s"`, login, pw); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
			t.Errorf("LOGIN %s with alice's password: %q, want NO [AUTHENTICATIONFAILED]", login, st)
		}
	}
	ir := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("\x00%s.\x00%s", addr("alice"), pw)))
	if _, st := e.raw().cmd("AUTHENTICATE PLAIN %s", ir); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Errorf("AUTHENTICATE PLAIN as alice@example.test.: %q, want NO [AUTHENTICATIONFAILED]", st)
	}
}
