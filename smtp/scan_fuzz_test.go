package smtp

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDataScan drives the DATA scanner (the SMTP DATA path's only parser
// before storage) with any message, written whole and again in pieces cut
// where the input says: the verdict must not depend on how the bytes
// arrive, a refusal is one line with a 5.6.0 or 5.3.4 code, and an accepted
// message carries no NUL and no bare CR or LF.
func FuzzDataScan(f *testing.F) {
	for _, s := range []string{
		"From: a@b.test\r\nSubject: hi\r\n\r\nbody\r\n",
		"Subject: no blank line",
		"From: a@b.test\r\n\r\nbare\nLF\r\n",
		"From: a\x00b@b.test\r\n\r\nx\r\n",
		"Subj\xe9ct: 8bit\r\n\r\nx\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n",
		"Content-Type: multipart/digest; boundary=\"q q\"\r\n\r\n--q q\r\n\r\nSubject: in digest\r\n\r\nx\r\n--q q--\r\n",
		" folded first line\r\n\r\n",
		"not a field line\r\n\r\n",
		strings.Repeat("Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n", 70),
	} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, msg []byte, cut uint8) {
		whole := newScanner(1 << 16)
		whole.Write(msg)
		pieces := newScanner(1 << 16)
		step := int(cut%31) + 1
		for i := 0; i < len(msg); i += step {
			pieces.Write(msg[i:min(len(msg), i+step)])
		}
		a, b := whole.err(), pieces.err()
		if (a == nil) != (b == nil) || a != nil && (a.Code != b.Code || a.Message != b.Message) {
			t.Fatalf("verdict depends on the pieces (%d bytes each): whole %v, pieces %v", step, a, b)
		}
		if a != nil {
			if strings.ContainsAny(a.Message, "\r\n") {
				t.Fatalf("refusal text spans lines: %q", a.Message)
			}
			if ec := a.EnhancedCode; !(ec[0] == 5 && (ec[1] == 6 && ec[2] == 0 || ec[1] == 3 && ec[2] == 4)) {
				t.Fatalf("refusal %d %v: want 5.6.0 or 5.3.4", a.Code, ec)
			}
			return
		}
		if bytes.IndexByte(msg, 0) >= 0 {
			t.Fatalf("accepted a message with NUL")
		}
		for i, c := range msg {
			if c == '\n' && (i == 0 || msg[i-1] != '\r') || c == '\r' && (i+1 >= len(msg) || msg[i+1] != '\n') {
				t.Fatalf("accepted a bare CR or LF at %d", i)
			}
		}
	})
}
