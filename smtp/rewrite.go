package smtp

import (
	"bytes"
	"fmt"
	"mime"
	netmail "net/mail"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // encoded words in any charset (windows-1252, koi8-r, ...)
	"github.com/emersion/go-message/textproto"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/delegation"
)

// Send kinds, the label of the submissions metric and of the log line.
const (
	KindOwn          = "own"
	KindSendAs       = "send_as"
	KindSendOnBehalf = "send_on_behalf"
	KindRefused      = "refused"
)

// RewriteInput is everything the From decision and the header rewrite look
// at. It holds no connection and no store, so the decision is a pure
// function of its input (and testable and fuzzable as such).
type RewriteInput struct {
	// Header is the message header as received. Rewrite takes it over: use
	// RewriteResult.Header afterwards, never the value passed in (a
	// textproto.Header shares its storage between copies).
	Header    textproto.Header
	Actor     delegation.ID         // the authenticated user
	Directory *delegation.Directory // the current snapshot
	Now       time.Time
	Hostname  string // right-hand side of a generated Message-ID
	// MessageID is used (without angle brackets) when the message has none;
	// "" means a random one.
	MessageID string
}

// RewriteResult is the rewritten header and how it was decided.
type RewriteResult struct {
	Header textproto.Header
	// Decisions has one entry per distinct From mailbox, then per further
	// Resent-From mailbox, in header order. On a refusal it ends with the
	// refused one.
	Decisions []delegation.Decision
	Kind      string   // KindOwn, KindSendAs, KindSendOnBehalf, or KindRefused
	From      []string // the From addresses, normalised
	Sender    string   // the Sender address set by the server, if any
	MessageID string   // without angle brackets
}

// addressParser decodes RFC 2047 encoded words in any charset that
// go-message/charset knows, so a display name never makes a From unreadable.
var addressParser = netmail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: message.CharsetReader}}

func headerError(format string, a ...any) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: clean(fmt.Sprintf(format, a...))}
}

// Rewrite makes the send decision for a submitted message and rewrites its
// header to match:
//
//   - exactly one From field is required (RFC 5322 §3.6: "from" occurs
//     exactly once), and it must parse: else 550 5.6.0;
//   - each From mailbox is decided on its addr-spec alone (display names,
//     encoded words, comments, group syntax and case do not matter), and each
//     must be allowed (own address, Send As or Send on Behalf): else 550 5.7.1
//     naming the address, the missing right and a pending grant's time;
//   - Send As only: every Sender field is removed, recipients see the owner;
//   - Send on Behalf, or several From mailboxes (RFC 5322 §3.6.2: Sender is
//     then required): Sender is set by the server to the actor's primary
//     address, replacing what the client wrote;
//   - own address: a Sender naming someone else is removed;
//   - Date and Message-ID are added when missing (RFC 5322 §3.6.1, §3.6.4;
//     RFC 6409 §8.2, §8.3), extra Message-ID fields are dropped;
//   - Resent-From and Resent-Sender (RFC 5322 §3.6.6) are decided like From
//     and Sender: every Resent-From mailbox of every resent block must be
//     allowed (else 550 5.7.1 naming it), and Resent-Sender is removed, set
//     to the actor or kept by the same rules;
//   - Bcc and Resent-Bcc are removed (RFC 5322 §3.6.3, the first of its
//     three ways): the envelope carries the blind recipients, and the one
//     stored copy goes to every recipient, to the relay and into DSNs;
//   - Return-Path is removed: only the final delivery writes it (RFC 5321
//     §4.4), from the envelope, never from the client;
//   - Authentication-Results claiming our authserv-id are removed, as on the
//     MX (RFC 8601 §5).
//
// It is idempotent: rewriting its own output changes nothing. Header fields
// carrying a bare CR, a bare LF or a NUL are refused, and the fields it
// writes never carry input line breaks.
func Rewrite(in RewriteInput) (*RewriteResult, *gosmtp.SMTPError) {
	h := in.Header
	res := &RewriteResult{Header: h, Kind: KindRefused}
	for fs := h.Fields(); fs.Next(); {
		raw, err := fs.Raw()
		if err != nil {
			return res, headerError("malformed header field %s", fieldName(fs.Key()))
		}
		if badBytes(raw) {
			return res, headerError("header field %s contains a bare CR, bare LF or NUL (RFC 5322 §2.2)", fieldName(fs.Key()))
		}
	}
	switch n := h.FieldsByKey("From").Len(); {
	case n == 0:
		return res, headerError("message has no From header field (RFC 5322 §3.6)")
	case n > 1:
		return res, headerError("message has %d From header fields, exactly one is allowed (RFC 5322 §3.6)", n)
	}
	list, err := addressParser.ParseList(h.Get("From"))
	if err != nil {
		return res, headerError("unparsable From header field: %v", err)
	}
	if len(list) == 0 {
		return res, headerError("From header field names no mailbox (RFC 5322 §3.6.2)")
	}
	dir := in.Directory
	actor, ok := dir.Principal(in.Actor)
	if !ok {
		return res, &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "unknown sender, try again later"}
	}
	from, serr := decide(res, dir, in, list, "send as", &res.From)
	if serr != nil {
		return res, serr
	}
	var resent []*netmail.Address
	for fs := h.FieldsByKey("Resent-From"); fs.Next(); {
		l, err := addressParser.ParseList(fs.Value())
		if err != nil {
			return res, headerError("unparsable Resent-From header field: %v", err)
		}
		if len(l) == 0 {
			return res, headerError("Resent-From header field names no mailbox (RFC 5322 §3.6.6)")
		}
		resent = append(resent, l...)
	}
	re, serr := decide(res, dir, in, resent, "resend as", nil)
	if serr != nil {
		return res, serr
	}

	if !h.Has("Date") {
		addField(&h, "Date", in.Now.Format(time.RFC1123Z))
	}
	res.MessageID = firstMessageID(&h)
	if res.MessageID == "" {
		id := in.MessageID
		if id == "" {
			id = NewMessageID(in.Hostname)
		}
		h.Del("Message-Id")
		addField(&h, "Message-ID", "<"+clean(id)+">")
		res.MessageID = clean(id)
	}

	for _, k := range []string{"Bcc", "Resent-Bcc", "Return-Path"} {
		h.Del(k)
	}
	stripOwnAuthResults(&h, in.Hostname)

	res.Kind = setSender(&h, "Sender", from, dir, in.Actor, actor)
	if from.onBehalf || len(list) > 1 {
		res.Sender = actor.Address
	}
	if k := setSender(&h, "Resent-Sender", re, dir, in.Actor, actor); len(resent) > 0 && kindRank(k) > kindRank(res.Kind) {
		res.Kind = k
	}
	res.Header = h
	return res, nil
}

// rights is what the mailboxes of one originator field (From, or every
// Resent-From) were allowed by.
type rights struct {
	n                int // mailboxes
	sendAs, onBehalf bool
}

// decide asks the engine about each mailbox and appends the decisions to
// res, once per mailbox (a From and a Resent-From naming the same one give
// one audit record and one Sent copy), and the addresses to addrs unless it
// is nil. It stops at the first refusal.
func decide(res *RewriteResult, dir *delegation.Directory, in RewriteInput, list []*netmail.Address, what string, addrs *[]string) (rights, *gosmtp.SMTPError) {
	r := rights{n: len(list)}
	for _, a := range list {
		dc := dir.Send(in.Actor, a.Address, in.Now)
		if !dc.Allowed {
			res.Decisions = append(res.Decisions, dc)
			return r, refusal(what, dc)
		}
		if !slices.ContainsFunc(res.Decisions, func(o delegation.Decision) bool { return o.Mailbox == dc.Mailbox }) {
			res.Decisions = append(res.Decisions, dc)
		}
		if addrs != nil {
			*addrs = append(*addrs, dc.Address)
		}
		switch dc.Right {
		case delegation.SendAs:
			r.sendAs = true
		case delegation.SendOnBehalf:
			r.onBehalf = true
		}
	}
	return r, nil
}

// setSender applies a decision to the Sender (or Resent-Sender) fields and
// returns its kind:
//
//   - Send on Behalf, or several mailboxes (RFC 5322 §3.6.2): the field is
//     set to the actor's primary address, replacing what the client wrote;
//   - Send As only: every such field is removed;
//   - own address (or no mailbox at all): one naming the actor is kept,
//     every other one removed.
func setSender(h *textproto.Header, key string, r rights, dir *delegation.Directory, id delegation.ID, actor *delegation.Principal) string {
	switch {
	case r.onBehalf || r.n > 1:
		h.Del(key)
		addField(h, key, formatAddress(actor.Name, actor.Address))
		if r.onBehalf {
			return KindSendOnBehalf
		}
		if r.sendAs {
			return KindSendAs
		}
		return KindOwn
	case r.sendAs:
		h.Del(key)
		return KindSendAs
	default:
		keepOwnSender(h, key, dir, id)
		return KindOwn
	}
}

// kindRank orders the kinds by how much delegation they use, so a message
// resent on behalf of someone counts as such even when its From is own.
func kindRank(k string) int {
	switch k {
	case KindSendOnBehalf:
		return 2
	case KindSendAs:
		return 1
	}
	return 0
}

// refusal is the 550 5.7.1 for a From or envelope sender the actor may not use.
func refusal(what string, dc delegation.Decision) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
		Message: clean(fmt.Sprintf("not allowed to %s %s: %s", what, dc.Address, dc.Text()))}
}

// keepOwnSender keeps the first Sender (or Resent-Sender) field that names
// the actor itself (primary address or alias) and removes every other one.
func keepOwnSender(h *textproto.Header, key string, dir *delegation.Directory, actor delegation.ID) {
	kept := false
	for fs := h.FieldsByKey(key); fs.Next(); {
		a, err := addressParser.Parse(fs.Value())
		own := false
		if err == nil {
			p, ok := dir.Lookup(a.Address)
			own = ok && p.ID == actor
		}
		if own && !kept {
			kept = true
			continue
		}
		fs.Del()
	}
}

// firstMessageID returns the first Message-ID's value (sanitised, without
// angle brackets) and drops any further Message-ID fields. A field that is
// empty after cleaning counts as missing.
func firstMessageID(h *textproto.Header) string {
	id := ""
	for fs := h.FieldsByKey("Message-Id"); fs.Next(); {
		v := strings.TrimSpace(clean(fs.Value()))
		v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
		if id == "" && v != "" {
			id = v
			continue
		}
		fs.Del()
	}
	return id
}

// addField prepends a field the server writes. The value is cleaned of
// every control character, so nothing from the input can add a line.
func addField(h *textproto.Header, k, v string) {
	h.AddRaw([]byte(k + ": " + clean(v) + "\r\n"))
}

// formatAddress writes "Name <addr>" with the name quoted or RFC 2047
// encoded as needed; net/mail never writes a raw CR or LF.
func formatAddress(name, addr string) string {
	name = clean(name)
	if r := []rune(name); len(r) > 100 {
		name = string(r[:100])
	}
	a := netmail.Address{Name: name, Address: addr}
	return a.String()
}

// badBytes reports a CR not followed by LF, an LF not preceded by CR, or a
// NUL in a raw header field.
func badBytes(b []byte) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return true
	}
	for i, c := range b {
		switch c {
		case '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return true
			}
		case '\n':
			if i == 0 || b[i-1] != '\r' {
				return true
			}
		}
	}
	return false
}

// fieldName is a header field name fit for a reply (names are printable
// ASCII by construction, but they are capped in length).
func fieldName(k string) string {
	if len(k) > 40 {
		k = k[:40] + "..."
	}
	return clean(k)
}
