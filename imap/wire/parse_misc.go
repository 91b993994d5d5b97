package wire

import (
	"strings"

	goimap "github.com/emersion/go-imap/v2"
)

// STORE, LIST, STATUS, SELECT/EXAMINE and APPEND arguments.

// Store reads sequence-set SP ["(" UNCHANGEDSINCE SP mod-sequence-valzer
// ")" SP] ["+" / "-"] "FLAGS" [".SILENT"] SP (flag-list / flag *(SP
// flag)) (RFC 9051 §6.4.6, RFC 7162 §3.1.3).
func (p *Parser) Store(uid bool) (goimap.NumSet, *StoreRequest, error) {
	set, err := p.NumSet(uid)
	if err != nil {
		return nil, nil, err
	}
	if err := p.SP(); err != nil {
		return nil, nil, err
	}
	req := &StoreRequest{}
	if p.Peek() == '(' {
		err := p.parenList(false, func() error {
			start := p.pos
			kw, err := p.keyword()
			if err != nil {
				return err
			}
			if kw != "UNCHANGEDSINCE" {
				return p.errAt(start, "unknown store modifier")
			}
			if err := p.SP(); err != nil {
				return err
			}
			if req.UnchangedSince, err = p.Number64(); err != nil {
				return err
			}
			req.HasUnchanged = true
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		if err := p.SP(); err != nil {
			return nil, nil, err
		}
	}
	switch {
	case p.Accept('+'):
		req.Op = goimap.StoreFlagsAdd
	case p.Accept('-'):
		req.Op = goimap.StoreFlagsDel
	default:
		req.Op = goimap.StoreFlagsSet
	}
	start := p.pos
	switch strings.ToUpper(p.span(isFetchNameChar)) {
	case "FLAGS":
	case "FLAGS.SILENT":
		req.Silent = true
	default:
		return nil, nil, p.errAt(start, "expected FLAGS or FLAGS.SILENT")
	}
	if err := p.SP(); err != nil {
		return nil, nil, err
	}
	if p.Peek() == '(' {
		if req.Flags, err = p.FlagList(); err != nil {
			return nil, nil, err
		}
	} else {
		for {
			f, err := p.Flag()
			if err != nil {
				return nil, nil, err
			}
			req.Flags = append(req.Flags, f)
			if !p.Accept(' ') {
				break
			}
		}
	}
	if err := p.End(); err != nil {
		return nil, nil, err
	}
	return set, req, nil
}

// List reads ["(" list-select-opts ")" SP] mailbox SP (list-mailbox /
// "(" list-mailbox *(SP list-mailbox) ")") [SP RETURN SP "("
// return-opts ")"] (RFC 9051 §6.3.9, RFC 5258 §3, RFC 5819, RFC 6154).
func (p *Parser) List() (*ListRequest, error) {
	req := &ListRequest{}
	if p.Peek() == '(' {
		req.Extended = true
		if err := p.listSelect(&req.Options); err != nil {
			return nil, err
		}
		if err := p.SP(); err != nil {
			return nil, err
		}
	}
	ref, err := p.Mailbox()
	if err != nil {
		return nil, err
	}
	req.Ref = ref
	if err := p.SP(); err != nil {
		return nil, err
	}
	if p.Peek() == '(' {
		req.Extended = true
		err := p.parenList(false, func() error {
			pat, err := p.listMailbox()
			req.Patterns = append(req.Patterns, pat)
			return err
		})
		if err != nil {
			return nil, err
		}
	} else {
		pat, err := p.listMailbox()
		if err != nil {
			return nil, err
		}
		req.Patterns = []string{pat}
	}
	if p.Accept(' ') {
		if !p.acceptWord("RETURN") {
			return nil, p.errf("expected RETURN")
		}
		req.Extended = true
		if err := p.listReturn(&req.Options); err != nil {
			return nil, err
		}
	}
	if err := p.End(); err != nil {
		return nil, err
	}
	return req, nil
}

// listSelect reads "(" [list-select-opt *(SP list-select-opt)] ")". RFC
// 5258 §3.1: RECURSIVEMATCH needs another selection option (a base one),
// and unknown options are refused.
func (p *Parser) listSelect(o *goimap.ListOptions) error {
	start := p.pos
	err := p.parenList(true, func() error {
		kstart := p.pos
		kw, err := p.listOptionName()
		if err != nil {
			return err
		}
		switch kw {
		case "SUBSCRIBED":
			o.SelectSubscribed = true
		case "REMOTE":
			o.SelectRemote = true
		case "RECURSIVEMATCH":
			o.SelectRecursiveMatch = true
		case "SPECIAL-USE":
			o.SelectSpecialUse = true
		default:
			return p.errAt(kstart, "unknown list selection option")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if o.SelectRecursiveMatch && !o.SelectSubscribed && !o.SelectSpecialUse {
		return p.errAt(start, "RECURSIVEMATCH needs another selection option")
	}
	return nil
}

// listOptionName reads an option name (an atom, upper-cased).
func (p *Parser) listOptionName() (string, error) { return p.keyword() }

// listReturn reads "(" [return-option *(SP return-option)] ")" after
// "RETURN SP": SUBSCRIBED, CHILDREN, SPECIAL-USE (RFC 6154) and STATUS
// (RFC 5819).
func (p *Parser) listReturn(o *goimap.ListOptions) error {
	return p.parenList(true, func() error {
		start := p.pos
		kw, err := p.listOptionName()
		if err != nil {
			return err
		}
		switch kw {
		case "SUBSCRIBED":
			o.ReturnSubscribed = true
		case "CHILDREN":
			o.ReturnChildren = true
		case "SPECIAL-USE":
			o.ReturnSpecialUse = true
		case "STATUS":
			if err := p.SP(); err != nil {
				return err
			}
			st, err := p.statusAtts()
			if err != nil {
				return err
			}
			o.ReturnStatus = st
		default:
			return p.errAt(start, "unknown list return option")
		}
		return nil
	})
}

// listMailbox reads list-mailbox = 1*list-char / string, decoding
// modified UTF-7 unless UTF8. "" stays "" (the delimiter query).
func (p *Parser) listMailbox() (string, error) {
	start := p.pos
	var s string
	switch p.Peek() {
	case '"', '{':
		var err error
		if s, err = p.String(); err != nil {
			return "", err
		}
	default:
		if s = p.span(isListChar); s == "" {
			return "", p.errf("expected mailbox pattern")
		}
	}
	if p.UTF8 {
		return s, nil
	}
	d, err := DecodeMUTF7(s)
	if err != nil {
		return "", p.errAt(start, "invalid modified UTF-7 mailbox name")
	}
	return d, nil
}

// Status reads mailbox SP "(" status-att *(SP status-att) ")" (RFC 9051
// §6.3.11).
func (p *Parser) Status() (mailbox string, opts *goimap.StatusOptions, err error) {
	if mailbox, err = p.Mailbox(); err != nil {
		return "", nil, err
	}
	if err = p.SP(); err != nil {
		return "", nil, err
	}
	if opts, err = p.statusAtts(); err != nil {
		return "", nil, err
	}
	if err = p.End(); err != nil {
		return "", nil, err
	}
	return mailbox, opts, nil
}

// statusAtts reads "(" status-att *(SP status-att) ")".
func (p *Parser) statusAtts() (*goimap.StatusOptions, error) {
	o := &goimap.StatusOptions{}
	err := p.parenList(false, func() error {
		start := p.pos
		kw, err := p.keyword()
		if err != nil {
			return err
		}
		switch kw {
		case "MESSAGES":
			o.NumMessages = true
		case "RECENT":
			o.NumRecent = true
		case "UIDNEXT":
			o.UIDNext = true
		case "UIDVALIDITY":
			o.UIDValidity = true
		case "UNSEEN":
			o.NumUnseen = true
		case "DELETED":
			o.NumDeleted = true
		case "SIZE":
			o.Size = true
		case "HIGHESTMODSEQ":
			o.HighestModSeq = true
		case "APPENDLIMIT":
			o.AppendLimit = true
		default:
			return p.errAt(start, "unknown status item")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// Select reads mailbox [SP "(" select-param *(SP select-param) ")"]:
// CONDSTORE (RFC 7162 §3.1.8) and QRESYNC (§3.2.5).
func (p *Parser) Select() (mailbox string, params *SelectParams, err error) {
	if mailbox, err = p.Mailbox(); err != nil {
		return "", nil, err
	}
	params = &SelectParams{}
	if p.Accept(' ') {
		if err := p.Expect('('); err != nil {
			return "", nil, err
		}
		for !p.Accept(')') {
			start := p.pos
			kw, err := p.keyword()
			if err != nil {
				return "", nil, err
			}
			switch kw {
			case "CONDSTORE":
				params.CondStore = true
			case "QRESYNC":
				if err := p.SP(); err != nil {
					return "", nil, err
				}
				if params.QResync, err = p.qresync(); err != nil {
					return "", nil, err
				}
			default:
				return "", nil, p.errAt(start, "unknown select parameter")
			}
			if p.Peek() != ')' {
				if err := p.SP(); err != nil {
					return "", nil, err
				}
				if p.Peek() == ')' {
					return "", nil, p.errf("expected select parameter")
				}
			}
		}
	}
	if err := p.End(); err != nil {
		return "", nil, err
	}
	return mailbox, params, nil
}

// qresync reads "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP
// seq-match-data] ")" (RFC 7162 §3.2.5); "*" and "$" are not allowed in
// its sets.
func (p *Parser) qresync() (*QResync, error) {
	if err := p.Expect('('); err != nil {
		return nil, err
	}
	q := &QResync{}
	var err error
	if q.UIDValidity, err = p.nzNumber(); err != nil {
		return nil, err
	}
	if err := p.SP(); err != nil {
		return nil, err
	}
	start := p.pos
	if q.ModSeq, err = p.Number64(); err != nil {
		return nil, err
	}
	if q.ModSeq == 0 {
		return nil, p.errAt(start, "QRESYNC needs a positive mod-sequence")
	}
	if p.Accept(' ') && p.Peek() != '(' {
		if q.KnownUIDs, err = p.staticUIDSet(); err != nil {
			return nil, err
		}
		if !p.Accept(' ') {
			return q, p.Expect(')')
		}
	}
	if p.Accept('(') {
		start := p.pos
		seqs, err := p.NumSet(false)
		if err != nil {
			return nil, err
		}
		if seqs.Dynamic() || goimap.IsSearchRes(seqs) {
			return nil, p.errAt(start, "invalid known sequence set")
		}
		if err := p.SP(); err != nil {
			return nil, err
		}
		uids, err := p.staticUIDSet()
		if err != nil {
			return nil, err
		}
		if err := p.Expect(')'); err != nil {
			return nil, err
		}
		q.SeqMatch = &SeqMatch{Seqs: seqs.(goimap.SeqSet), UIDs: uids}
	}
	return q, p.Expect(')')
}

// staticUIDSet reads a UID set without "*" or "$".
func (p *Parser) staticUIDSet() (goimap.UIDSet, error) {
	start := p.pos
	set, err := p.NumSet(true)
	if err != nil {
		return nil, err
	}
	if set.Dynamic() {
		return nil, p.errAt(start, "invalid known UID set")
	}
	return set.(goimap.UIDSet), nil
}

// Append reads mailbox 1*(SP message) where message is [flag-list SP]
// [date-time SP] (literal / literal8 / CATENATE SP "(" cat-part *(SP
// cat-part) ")" / UTF8 SP "(" literal8 ")") (RFC 9051 §6.3.12, RFC 3502
// MULTIAPPEND, RFC 4469 CATENATE, RFC 6855 §4). The message data shares
// memory with the command.
func (p *Parser) Append() (mailbox string, msgs []AppendMessage, err error) {
	if mailbox, err = p.Mailbox(); err != nil {
		return "", nil, err
	}
	for {
		if err := p.SP(); err != nil {
			return "", nil, err
		}
		m, err := p.appendMessage()
		if err != nil {
			return "", nil, err
		}
		msgs = append(msgs, m)
		if p.AtEnd() {
			return mailbox, msgs, nil
		}
	}
}

func (p *Parser) appendMessage() (AppendMessage, error) {
	var m AppendMessage
	var err error
	if p.Peek() == '(' {
		if m.Flags, err = p.FlagList(); err != nil {
			return m, err
		}
		if err := p.SP(); err != nil {
			return m, err
		}
	}
	if p.Peek() == '"' {
		if m.Date, err = p.DateTime(); err != nil {
			return m, err
		}
		if err := p.SP(); err != nil {
			return m, err
		}
	}
	switch {
	case p.Peek() == '{' || p.Peek() == '~':
		m.Data, m.Binary, err = p.Literal()
		return m, err
	case p.acceptWord("CATENATE"):
		m.Catenate, err = p.catenate()
		if err == nil && len(m.Catenate) == 0 {
			err = p.errf("empty CATENATE")
		}
		return m, err
	case p.acceptWord("UTF8"):
		// RFC 6855 §4: UTF8 (literal8), a message with UTF-8 headers.
		if err := p.Expect('('); err != nil {
			return m, err
		}
		start := p.pos
		var bin bool
		if m.Data, bin, err = p.Literal(); err != nil {
			return m, err
		}
		if !bin {
			return m, p.errAt(start, "UTF8 needs a literal8")
		}
		m.Binary = true
		return m, p.Expect(')')
	}
	return m, p.errf("expected message literal")
}

// catenate reads "(" cat-part *(SP cat-part) ")": URL SP astring or TEXT
// SP literal (RFC 4469 §5).
func (p *Parser) catenate() ([]CatPart, error) {
	var parts []CatPart
	err := p.parenList(false, func() error {
		start := p.pos
		kw, err := p.keyword()
		if err != nil {
			return err
		}
		if err := p.SP(); err != nil {
			return err
		}
		switch kw {
		case "URL":
			u, err := p.AString()
			if err != nil {
				return err
			}
			parts = append(parts, CatPart{URL: u})
		case "TEXT":
			data, _, err := p.Literal()
			if err != nil {
				return err
			}
			if data == nil {
				data = []byte{}
			}
			parts = append(parts, CatPart{Text: data})
		default:
			return p.errAt(start, "expected URL or TEXT")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return parts, nil
}
