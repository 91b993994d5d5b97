package imap

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/imap/message"
	"github.com/mailgate/mailgate/imap/wire"
	"github.com/mailgate/mailgate/storage"
)

// cmdAppend answers APPEND (RFC 9051 §6.3.12), MULTIAPPEND (RFC 3502) and
// CATENATE (RFC 4469), with APPENDUID (RFC 4315). The reader hands over
// the command only once every literal has arrived, so the right is
// checked as of then, not as of the first line: a revocation while the
// literal was on its way refuses it. Every message is built and checked
// before the first is stored, and all are stored in one transaction,
// fsynced before OK.
func (c *session) cmdAppend(p *wire.Parser) error {
	if err := p.SP(); err != nil {
		return err
	}
	name, msgs, err := p.Append()
	if err != nil {
		return err
	}
	pl, _, ok := c.resolver().resolve(name)
	if !ok {
		return errTryCreate
	}
	if _, err := c.srv.st.Folder(pl.owner, pl.folder); errors.Is(err, storage.ErrNotFound) {
		return errTryCreate
	} else if err != nil {
		return err
	}
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		b := m.Data
		if m.Catenate != nil {
			if b, err = c.catenate(m.Catenate); err != nil {
				return err
			}
		}
		if len(b) == 0 {
			return errNo(goimap.ResponseCodeCannot, "empty message")
		}
		if m.Binary {
			b = binaryToBase64(b)
		}
		if int64(len(b)) > int64(c.srv.cfg.AppendLimit) {
			return errNo(goimap.ResponseCodeTooBig, fmt.Sprintf("message larger than APPENDLIMIT (%d bytes)", c.srv.cfg.AppendLimit))
		}
		if len(m.Flags) > storage.MaxFlags {
			return errNo(goimap.ResponseCodeLimit, fmt.Sprintf("at most %d flags per message", storage.MaxFlags))
		}
		bodies[i] = b
	}
	var total uint64
	for _, b := range bodies {
		total += uint64(len(b))
	}
	if err := c.checkQuota(pl.owner, total); err != nil {
		return err
	}
	var origin storage.Origin
	if c.sel != nil {
		origin = c.sel.v.origin
	}
	// All the messages in one transaction: a MULTIAPPEND that fails
	// stores none of them (RFC 3502 §6.3.11).
	ams := make([]storage.AppendMessage, len(msgs))
	for i, m := range msgs {
		date := m.Date
		if date.IsZero() {
			date = time.Now()
		}
		ams[i] = storage.AppendMessage{Message: bodies[i], Flags: fromFlags(m.Flags), Date: date}
	}
	audit := c.auditIn("append", pl, func(o storage.Outcome) string { return "uids " + uidList(o.UIDs) })
	placed, err := c.srv.st.AppendAll(pl.owner, pl.folder, ams, origin, audit)
	if errors.Is(err, storage.ErrNotFound) {
		return errTryCreate
	}
	if err != nil {
		return err
	}
	var uids goimap.UIDSet
	var uidValidity uint32
	for _, p := range placed {
		uids.AddNum(goimap.UID(p.UID))
		uidValidity = p.UIDValidity
	}
	c.done("append", pl)
	c.okCode = fmt.Sprintf("APPENDUID %d %s", uidValidity, uids.String())
	c.okText = "APPEND completed"
	return nil
}

// catenate builds a message from CATENATE parts (RFC 4469 §5): TEXT
// literals as they are and URLs to messages (or sections) the user may
// read. A URL that does not resolve fails the whole APPEND with
// [BADURL].
func (c *session) catenate(parts []wire.CatPart) ([]byte, error) {
	var out []byte
	for _, cp := range parts {
		if cp.URL == "" {
			out = append(out, cp.Text...)
		} else {
			b, err := c.fetchURL(cp.URL)
			if err != nil {
				return nil, errNo(goimap.ResponseCode("BADURL "+quoteCode(cp.URL)), "cannot resolve URL: "+err.Error())
			}
			out = append(out, b...)
		}
		if int64(len(out)) > int64(c.srv.cfg.AppendLimit) {
			return nil, errNo(goimap.ResponseCodeTooBig, "message larger than APPENDLIMIT")
		}
	}
	return out, nil
}

func quoteCode(s string) string {
	if strings.ContainsAny(s, " ()[]\"\\") {
		return strconv.Quote(oneLine(s))
	}
	return oneLine(s)
}

// fetchURL resolves an IMAP URL (RFC 5092) naming a message on this
// server: "/<mailbox>[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]",
// or the same without the mailbox part, relative to the selected mailbox.
func (c *session) fetchURL(raw string) ([]byte, error) {
	u := raw
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			return nil, errors.New("no mailbox")
		}
		u = rest[j:]
	}
	var mbox string
	var uidValidity uint64
	segs := strings.Split(strings.TrimPrefix(u, "/"), "/;")
	if strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "/;") {
		head := segs[0]
		segs = segs[1:]
		if i := strings.Index(strings.ToUpper(head), ";UIDVALIDITY="); i >= 0 {
			v, err := strconv.ParseUint(head[i+len(";UIDVALIDITY="):], 10, 32)
			if err != nil {
				return nil, errors.New("bad UIDVALIDITY")
			}
			uidValidity, head = v, head[:i]
		}
		m, err := url.PathUnescape(head)
		if err != nil {
			return nil, errors.New("bad mailbox")
		}
		mbox = m
	} else {
		if c.sel == nil {
			return nil, errors.New("no mailbox selected")
		}
		mbox = c.sel.pl.name
		segs[0] = strings.TrimPrefix(segs[0], ";")
	}
	var uid uint64
	var section string
	var part *wire.Partial
	for _, s := range segs {
		k, v, _ := strings.Cut(s, "=")
		switch strings.ToUpper(strings.TrimPrefix(k, ";")) {
		case "UID":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n == 0 {
				return nil, errors.New("bad UID")
			}
			uid = n
		case "SECTION":
			sv, err := url.PathUnescape(v)
			if err != nil {
				return nil, errors.New("bad section")
			}
			section = strings.ToUpper(sv)
		case "PARTIAL":
			o, l, hasLen := strings.Cut(v, ".")
			off, err := strconv.ParseUint(o, 10, 32)
			if err != nil {
				return nil, errors.New("bad partial")
			}
			cnt := uint64(^uint32(0))
			if hasLen {
				if cnt, err = strconv.ParseUint(l, 10, 32); err != nil {
					return nil, errors.New("bad partial")
				}
			}
			part = &wire.Partial{Offset: uint32(off), Count: uint32(cnt)}
		default:
			return nil, errors.New("unknown URL part")
		}
	}
	if uid == 0 {
		return nil, errors.New("no UID")
	}
	_, f, err := c.openFolder(mbox, errNoMailbox)
	if err != nil {
		return nil, errors.New("no such mailbox")
	}
	if uidValidity != 0 && uint32(uidValidity) != f.UIDValidity {
		return nil, errors.New("UIDVALIDITY mismatch")
	}
	ms, err := c.srv.st.Messages(f.ID, uint32(uid), uint32(uid))
	if err != nil || len(ms) == 0 {
		return nil, errors.New("no such message")
	}
	body, err := c.srv.st.Body(ms[0].Blob)
	if err != nil {
		return nil, errors.New("no such message")
	}
	if section != "" {
		path, spec := parseSectionSpec(section)
		b, ok := message.Section(body, message.Parse(body, mimeLimits), path, spec, nil)
		if !ok {
			return nil, errors.New("no such section")
		}
		body = b
	}
	return partial(body, part), nil
}

// parseSectionSpec splits "1.2.HEADER" into its part path and specifier.
func parseSectionSpec(s string) ([]int, string) {
	var path []int
	for s != "" {
		num, rest, _ := strings.Cut(s, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 {
			break
		}
		path = append(path, n)
		s = rest
	}
	return path, s
}

// binaryToBase64 re-encodes a single-part message appended as literal8
// with Content-Transfer-Encoding binary (RFC 3516 §4.2): BODY[] must be
// 7-bit-safe text, so the body becomes base64 and BINARY[] decodes it.
func binaryToBase64(msg []byte) []byte {
	root := message.Parse(msg, mimeLimits)
	if len(root.Children) > 0 || !strings.EqualFold(root.Encoding, "binary") {
		return msg
	}
	hdr := msg[:root.BodyStart]
	var out []byte
	for _, line := range strings.SplitAfter(string(hdr), "\n") {
		if len(line) > 26 && strings.EqualFold(line[:26], "Content-Transfer-Encoding:") {
			line = "Content-Transfer-Encoding: base64\r\n"
		}
		out = append(out, line...)
	}
	enc := base64.StdEncoding.EncodeToString(msg[root.BodyStart:])
	for len(enc) > 76 {
		out = append(append(out, enc[:76]...), '\r', '\n')
		enc = enc[76:]
	}
	return append(append(out, enc...), '\r', '\n')
}
