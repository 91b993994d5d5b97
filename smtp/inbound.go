package smtp

import (
	"strings"

	"github.com/emersion/go-message/textproto"

	"github.com/mailgate/mailgate/delegation"
)

// markInbound prepares an inbound (MX) header: Authentication-Results
// fields that claim to come from us are removed (RFC 8601 §5), and when a
// From field names a local address, which no outside server may
// legitimately send for, or cannot be parsed (so that nobody can tell what
// a client will show), a result saying so is added for clients and filters
// to act on.
//
// The From is read with the parser of submission (addressParser), so the
// two entry points agree on what a From names; a From it cannot read is
// marked, never let through.
func markInbound(h *textproto.Header, dir *delegation.Directory, hostname string) {
	stripOwnAuthResults(h, hostname)
	mark, domain, why := inboundFrom(*h, dir)
	if !mark {
		return
	}
	v := hostname + "; x-local-from=fail (" + why + ", not authenticated)"
	if domain != "" {
		v += " header.from=" + domain
	}
	addField(h, "Authentication-Results", v)
}

// inboundFrom decides whether an inbound message's From fields need the
// x-local-from=fail mark: when any mailbox of any From field is in a local
// domain, or any From field does not parse. domain is the local domain
// named, when one can be told; why is the comment of the result.
func inboundFrom(h textproto.Header, dir *delegation.Directory) (mark bool, domain, why string) {
	for fs := h.FieldsByKey("From"); fs.Next(); {
		list, err := addressParser.ParseList(fs.Value())
		if err != nil {
			mark, why = true, "unparsable From header field"
			if d := scanLocalDomain(fs.Value(), dir); d != "" {
				domain = d
			}
			continue
		}
		for _, a := range list {
			if d := addrDomain(a.Address); dir.IsLocalDomain(d) {
				return true, d, "local From address received from outside"
			}
		}
	}
	return mark, domain, why
}

// addrDomain is the domain of an address as parsed, lowercased and without
// the trailing dot of an absolute DNS name (RFC 1034 §3.1), which names the
// same domain. It does not ask NormalizeAddress: a local part that it
// rejects (a quoted one with spaces, say) still names the domain.
func addrDomain(addr string) string {
	d := addr[strings.LastIndexByte(addr, '@')+1:]
	return strings.TrimRight(strings.ToLower(d), ".")
}

// scanLocalDomain looks through a From value that does not parse for an
// "@domain" naming a local domain, for the header.from of the result. It
// returns only a domain of the directory, so nothing of the input is
// written back.
func scanLocalDomain(v string, dir *delegation.Directory) string {
	for {
		at := strings.IndexByte(v, '@')
		if at < 0 {
			return ""
		}
		v = v[at+1:]
		end := strings.IndexFunc(v, func(r rune) bool {
			return r <= ' ' || r == 0x7f || strings.ContainsRune(`<>()[],;:"\@`, r)
		})
		d := v
		if end >= 0 {
			d = v[:end]
		}
		if d = strings.TrimRight(strings.ToLower(d), "."); dir.IsLocalDomain(d) {
			return d
		}
	}
}

// stripOwnAuthResults removes every Authentication-Results field whose
// authserv-id is ours, on every entry point (RFC 8601 §5: a border MTA
// "MUST remove (or rename)" them, since only we may write them), and every
// one too malformed to tell whose it is, which a lenient reader might take
// for ours.
func stripOwnAuthResults(h *textproto.Header, hostname string) {
	for fs := h.FieldsByKey("Authentication-Results"); fs.Next(); {
		id, ok := authservID(fs.Value())
		if !ok || sameHost(id, hostname) {
			fs.Del()
		}
	}
}

// sameHost compares two host names as DNS does: in any case, with or
// without the trailing dot.
func sameHost(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// authservID returns the authserv-id of an Authentication-Results value
// (RFC 8601 §2.2):
//
//	authres-payload = [CFWS] authserv-id [ CFWS authres-version ]
//	                  ( no-result / 1*resinfo ) [CFWS] CRLF
//	authserv-id     = value    ; token / quoted-string (RFC 2045 §5.1)
//
// Comments may come before and (with the version number) after it; the
// header reader has already unfolded the value. ok is false when no
// authserv-id can be read: an unclosed comment or quote, or nothing at all.
func authservID(v string) (id string, ok bool) {
	i, ok := skipCFWS(v, 0)
	if !ok || i >= len(v) {
		return "", false
	}
	if v[i] == '"' {
		var b strings.Builder
		for i++; i < len(v); i++ {
			switch c := v[i]; c {
			case '"':
				return b.String(), b.Len() > 0
			case '\\':
				if i++; i >= len(v) {
					return "", false
				}
				b.WriteByte(v[i])
			default:
				b.WriteByte(c)
			}
		}
		return "", false
	}
	j := i
	for j < len(v) && !tspecialOrCTL(v[j]) {
		j++
	}
	return v[i:j], j > i
}

// skipCFWS skips white space and comments (RFC 5322 §3.2.2), which nest
// and may hold quoted pairs, from v[i:]. ok is false for an unclosed
// comment.
func skipCFWS(v string, i int) (int, bool) {
	depth := 0
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '\\' && depth > 0:
			i++
		case depth > 0, c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			return i, true
		}
	}
	return i, depth == 0
}

// tspecialOrCTL reports the bytes that end an RFC 2045 token: space,
// controls and tspecials.
func tspecialOrCTL(c byte) bool {
	return c <= ' ' || c == 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0
}
