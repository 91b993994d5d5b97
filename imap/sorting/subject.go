package sorting

import (
	"strings"

	"github.com/mailgate/mailgate/imap/message"
)

// baseSubject extracts the base subject of a raw Subject value following
// RFC 5256 §2.1 and reports whether the message is a reply or forward,
// that is whether a subj-refwd, a "(fwd)" subj-trailer or a subj-fwd
// wrapper was removed. The result is upper-cased (i;ascii-casemap) so that
// plain byte comparison is the collation.
func baseSubject(raw string) (string, bool) {
	// (1) RFC 2047 to UTF-8; tabs and continuations to space; runs of
	// white space to one space.
	s := foldSpace(message.DecodeHeader(raw))
	reply := false
	for {
		// (2) trailing subj-trailer: "(fwd)" / WSP, repeated.
		for {
			if strings.HasSuffix(s, " ") {
				s = s[:len(s)-1]
			} else if n := len(s) - 5; n >= 0 && hasPrefixFold(s[n:], "(fwd)") {
				s = s[:n]
				reply = true
			} else {
				break
			}
		}
		// (3)–(5) leading subj-leader and subj-blob, repeated.
		for {
			n, refwd := leaderLen(s)
			if n > 0 {
				s = s[n:]
				reply = reply || refwd
				continue
			}
			if n := blobLen(s); n > 0 && n < len(s) {
				s = s[n:]
				continue
			}
			break
		}
		// (6) a "[fwd: ... ]" wrapper: remove it and start again at (2).
		if len(s) >= 6 && hasPrefixFold(s, "[fwd:") && s[len(s)-1] == ']' {
			s = s[5 : len(s)-1]
			reply = true
			continue
		}
		return message.UpperASCII(s), reply
	}
}

// foldSpace turns tabs, CR and LF into spaces and collapses runs of
// spaces into one.
func foldSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// blobLen is the length of a subj-blob at the start of s
// ("[" *BLOBCHAR "]" *WSP), or 0.
func blobLen(s string) int {
	if len(s) == 0 || s[0] != '[' {
		return 0
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '[', 0:
			return 0
		case ']':
			i++
			for i < len(s) && s[i] == ' ' {
				i++
			}
			return i
		}
	}
	return 0
}

// leaderLen is the length of a subj-leader at the start of s
// ((*subj-blob subj-refwd) / WSP), and whether it is a subj-refwd.
func leaderLen(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	if s[0] == ' ' {
		return 1, false
	}
	i := 0
	for {
		n := blobLen(s[i:])
		if n == 0 {
			break
		}
		i += n
	}
	// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
	rest := s[i:]
	var n int
	switch {
	case hasPrefixFold(rest, "re"):
		n = 2
	case hasPrefixFold(rest, "fwd"):
		n = 3
	case hasPrefixFold(rest, "fw"):
		n = 2
	default:
		return 0, false
	}
	for n < len(rest) && rest[n] == ' ' {
		n++
	}
	n += blobLen(rest[n:])
	if n < len(rest) && rest[n] == ':' {
		return i + n + 1, true
	}
	return 0, false
}

// hasPrefixFold reports whether s starts with the lower-case ASCII prefix,
// ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
