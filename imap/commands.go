package imap

import (
	"fmt"
	"sort"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/imap/wire"
)

// command is one entry of the dispatch table.
type command struct {
	states    state                              // states the command is valid in
	fn        func(*session, *wire.Parser) error // reads its own arguments (from the SP after its name)
	metric    string                             // metrics label
	noExpunge bool                               // no EXPUNGE responses after it (RFC 9051 §7.5.1: FETCH, STORE, SEARCH)
	noUpdates bool                               // no pending updates after it (IDLE sends its own)
}

const (
	stAny      = stNotAuth | stAuth | stSelected
	stLoggedIn = stAuth | stSelected
)

// commands is the dispatch table, keyed by command name in upper case
// ("UID FETCH" for UID commands). CAPABILITY derives from it through caps.
var commands map[string]*command

func init() {
	commands = map[string]*command{
		// Any state (RFC 9051 §6.1).
		"CAPABILITY": {states: stAny, fn: (*session).cmdCapability},
		"NOOP":       {states: stAny, fn: (*session).cmdNoop},
		"LOGOUT":     {states: stAny, fn: (*session).cmdLogout, noUpdates: true},
		"ID":         {states: stAny, fn: (*session).cmdID},
		"COMPRESS":   {states: stLoggedIn, fn: (*session).cmdCompress, noUpdates: true},
		// Not authenticated (§6.2).
		"STARTTLS":     {states: stNotAuth, fn: (*session).cmdStartTLS},
		"LOGIN":        {states: stNotAuth, fn: (*session).cmdLogin},
		"AUTHENTICATE": {states: stNotAuth, fn: (*session).cmdAuthenticate},
		// Authenticated (§6.3).
		"ENABLE":       {states: stLoggedIn, fn: (*session).cmdEnable},
		"SELECT":       {states: stLoggedIn, fn: (*session).cmdSelect},
		"EXAMINE":      {states: stLoggedIn, fn: (*session).cmdSelect},
		"CREATE":       {states: stLoggedIn, fn: (*session).cmdCreate},
		"DELETE":       {states: stLoggedIn, fn: (*session).cmdDelete},
		"RENAME":       {states: stLoggedIn, fn: (*session).cmdRename},
		"SUBSCRIBE":    {states: stLoggedIn, fn: (*session).cmdSubscribe},
		"UNSUBSCRIBE":  {states: stLoggedIn, fn: (*session).cmdUnsubscribe},
		"LIST":         {states: stLoggedIn, fn: (*session).cmdList},
		"LSUB":         {states: stLoggedIn, fn: (*session).cmdLsub},
		"NAMESPACE":    {states: stLoggedIn, fn: (*session).cmdNamespace},
		"STATUS":       {states: stLoggedIn, fn: (*session).cmdStatus},
		"APPEND":       {states: stLoggedIn, fn: (*session).cmdAppend},
		"IDLE":         {states: stLoggedIn, fn: (*session).cmdIdle, noUpdates: true},
		"MYRIGHTS":     {states: stLoggedIn, fn: (*session).cmdMyRights},
		"GETQUOTAROOT": {states: stLoggedIn, fn: (*session).cmdGetQuotaRoot},
		"GETQUOTA":     {states: stLoggedIn, fn: (*session).cmdGetQuota},
		"SETQUOTA":     {states: stLoggedIn, fn: (*session).cmdSetQuota},
		"GETACL":       {states: stLoggedIn, fn: (*session).cmdGetACL},
		"LISTRIGHTS":   {states: stLoggedIn, fn: (*session).cmdListRights},
		"SETACL":       {states: stLoggedIn, fn: (*session).cmdSetACL},
		"DELETEACL":    {states: stLoggedIn, fn: (*session).cmdSetACL},
		// Selected (§6.4).
		"CHECK":        {states: stSelected, fn: (*session).cmdNoop},
		"CLOSE":        {states: stSelected, fn: (*session).cmdClose, noUpdates: true},
		"UNSELECT":     {states: stSelected, fn: (*session).cmdUnselect, noUpdates: true},
		"EXPUNGE":      {states: stSelected, fn: (*session).cmdExpunge},
		"SEARCH":       {states: stSelected, fn: (*session).cmdSearch, noExpunge: true},
		"FETCH":        {states: stSelected, fn: (*session).cmdFetch, noExpunge: true},
		"STORE":        {states: stSelected, fn: (*session).cmdStore, noExpunge: true},
		"COPY":         {states: stSelected, fn: (*session).cmdCopy},
		"MOVE":         {states: stSelected, fn: (*session).cmdMove},
		"SORT":         {states: stSelected, fn: (*session).cmdSort, noExpunge: true},
		"CANCELUPDATE": {states: stSelected, fn: (*session).cmdCancelUpdate},
		"THREAD":       {states: stSelected, fn: (*session).cmdThread, noExpunge: true},
		"UID FETCH":    {states: stSelected, fn: (*session).cmdFetch, noExpunge: true},
		"UID STORE":    {states: stSelected, fn: (*session).cmdStore, noExpunge: true},
		"UID SEARCH":   {states: stSelected, fn: (*session).cmdSearch, noExpunge: true},
		"UID COPY":     {states: stSelected, fn: (*session).cmdCopy},
		"UID MOVE":     {states: stSelected, fn: (*session).cmdMove},
		"UID EXPUNGE":  {states: stSelected, fn: (*session).cmdExpunge},
		"UID SORT":     {states: stSelected, fn: (*session).cmdSort, noExpunge: true},
		"UID THREAD":   {states: stSelected, fn: (*session).cmdThread, noExpunge: true},
	}
	for name, cmd := range commands {
		cmd.metric = strings.ToLower(strings.ReplaceAll(name, " ", "_"))
	}
}

// capability is one CAPABILITY atom, with the commands that implement it
// (each must be in the dispatch table; a test checks) and when it is
// offered (nil: always).
type capability struct {
	name     string
	commands []string
	when     func(*session) bool
}

var imapCaps = []capability{
	{name: "IMAP4rev1"},
	{name: "IMAP4rev2"},
	{name: "STARTTLS", commands: []string{"STARTTLS"}, when: func(c *session) bool { return c.actor == "" && !c.isTLS && c.srv.cfg.TLS != nil }},
	{name: "LOGINDISABLED", when: func(c *session) bool { return c.actor == "" && !c.canAuth() }},
	{name: "AUTH=PLAIN", commands: []string{"AUTHENTICATE"}, when: func(c *session) bool { return c.actor == "" && c.canAuth() }},
	{name: "AUTH=LOGIN", commands: []string{"AUTHENTICATE"}, when: func(c *session) bool { return c.actor == "" && c.canAuth() }},
	{name: "SASL-IR", commands: []string{"AUTHENTICATE"}},
	{name: "LITERAL+"},                     // RFC 7888
	{name: "ID", commands: []string{"ID"}}, // RFC 2971
	{name: "ENABLE", commands: []string{"ENABLE"}},
	{name: "IDLE", commands: []string{"IDLE"}},
	{name: "NAMESPACE", commands: []string{"NAMESPACE"}},
	{name: "UNSELECT", commands: []string{"UNSELECT"}},
	{name: "UIDPLUS", commands: []string{"UID EXPUNGE"}},
	{name: "MOVE", commands: []string{"MOVE", "UID MOVE"}},
	{name: "SPECIAL-USE", commands: []string{"LIST"}},
	{name: "CHILDREN", commands: []string{"LIST"}},
	{name: "LIST-EXTENDED", commands: []string{"LIST"}},
	{name: "LIST-STATUS", commands: []string{"LIST"}},
	{name: "ESEARCH", commands: []string{"SEARCH", "UID SEARCH"}},
	{name: "SEARCHRES", commands: []string{"SEARCH", "UID SEARCH"}},
	{name: "CONTEXT=SEARCH", commands: []string{"SEARCH", "UID SEARCH", "CANCELUPDATE"}},
	{name: "BINARY", commands: []string{"FETCH", "APPEND"}},
	{name: "STATUS=SIZE", commands: []string{"STATUS"}},
	{name: "APPENDLIMIT"}, // value appended in capabilities()
	{name: "MULTIAPPEND", commands: []string{"APPEND"}},
	{name: "CATENATE", commands: []string{"APPEND"}},
	{name: "UTF8=ACCEPT", commands: []string{"ENABLE"}},
	{name: "ACL", commands: []string{"MYRIGHTS", "GETACL", "LISTRIGHTS", "SETACL", "DELETEACL"}},
	{name: "RIGHTS=" + extraRights, commands: []string{"MYRIGHTS"}},
	{name: "QUOTA", commands: []string{"GETQUOTAROOT", "GETQUOTA", "SETQUOTA"}},
	{name: "QUOTA=RES-STORAGE", commands: []string{"GETQUOTA"}},
	{name: "CONDSTORE", commands: []string{"FETCH", "STORE", "SELECT"}},
	{name: "QRESYNC", commands: []string{"SELECT", "ENABLE", "UID FETCH"}},
	{name: "SORT", commands: []string{"SORT", "UID SORT"}},
	{name: "SORT=DISPLAY", commands: []string{"SORT"}},
	{name: "ESORT", commands: []string{"SORT"}},
	{name: "CONTEXT=SORT", commands: []string{"SORT"}},
	{name: "THREAD=ORDEREDSUBJECT", commands: []string{"THREAD", "UID THREAD"}},
	{name: "THREAD=REFERENCES", commands: []string{"THREAD", "UID THREAD"}},
	{name: "COMPRESS=DEFLATE", commands: []string{"COMPRESS"}, when: func(c *session) bool { return c.fw == nil }},
}

// capabilities is the CAPABILITY list for the connection's state.
func (c *session) capabilities() string {
	var b strings.Builder
	for _, cp := range imapCaps {
		if cp.when != nil && !cp.when(c) {
			continue
		}
		// Before login, offer only what a client needs to log in.
		if c.actor == "" && cp.name != "IMAP4rev1" && cp.name != "IMAP4rev2" && !preAuthCap(cp.name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(cp.name)
		if cp.name == "APPENDLIMIT" {
			fmt.Fprintf(&b, "=%d", c.srv.cfg.AppendLimit)
		}
	}
	return b.String()
}

func preAuthCap(name string) bool {
	switch name {
	case "STARTTLS", "LOGINDISABLED", "AUTH=PLAIN", "AUTH=LOGIN", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE":
		return true
	}
	return false
}

// cmdCapability answers CAPABILITY (RFC 9051 §6.1.1).
func (c *session) cmdCapability(p *wire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	c.enc.RawString("* CAPABILITY ").RawString(c.capabilities()).CRLF()
	return nil
}

// cmdNoop answers NOOP and CHECK (RFC 9051 §6.1.2, RFC 3501 §6.4.1): the
// pending updates follow from execute.
func (c *session) cmdNoop(p *wire.Parser) error { return p.End() }

// cmdLogout answers LOGOUT (RFC 9051 §6.1.3).
func (c *session) cmdLogout(p *wire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	c.enc.Status("*", "BYE", "", "logging out")
	c.logout = true
	return nil
}

// cmdID answers ID (RFC 2971): the client's fields are logged (bounded),
// ours name the server.
func (c *session) cmdID(p *wire.Parser) error {
	if err := p.SP(); err != nil {
		return err
	}
	var fields []string
	if p.Accept('(') {
		for n := 0; !p.Accept(')'); n++ {
			if n > 0 {
				if err := p.SP(); err != nil {
					return err
				}
			}
			k, err := p.String()
			if err != nil {
				return err
			}
			if err := p.SP(); err != nil {
				return err
			}
			v, isNil, err := p.NString()
			if err != nil {
				return err
			}
			if n >= 30 || len(k) > 30 || len(v) > 1024 {
				return errBad(goimap.ResponseCodeClientBug, "ID: too many or too long fields (RFC 2971 §3.3)")
			}
			if !isNil {
				fields = append(fields, oneLine(k)+"="+oneLine(v))
			}
		}
	} else {
		a, err := p.Atom()
		if err != nil {
			return err
		}
		if !strings.EqualFold(a, "NIL") {
			return errBad(goimap.ResponseCodeClientBug, "ID: expected a list or NIL")
		}
	}
	if err := p.End(); err != nil {
		return err
	}
	sort.Strings(fields)
	if len(fields) > 0 {
		c.log.Info("client id", "id", strings.Join(fields, " "))
	}
	c.enc.RawString(`* ID ("name" "mailgate" "vendor" "mailgate" "support-url" "https://github.com/mailgate/mailgate")`).CRLF()
	return nil
}

// cmdEnable answers ENABLE (RFC 5161) for UTF8=ACCEPT (RFC 6855),
// CONDSTORE and QRESYNC (RFC 7162); IMAP4rev2 is accepted and changes
// nothing here (the server speaks both revisions).
func (c *session) cmdEnable(p *wire.Parser) error {
	var enabled []string
	for !p.AtEnd() {
		if err := p.SP(); err != nil {
			return err
		}
		a, err := p.Atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(a) {
		case "UTF8=ACCEPT":
			if !c.utf8 {
				c.utf8 = true
				c.enc.UTF8 = true
				enabled = append(enabled, "UTF8=ACCEPT")
			}
		case "CONDSTORE":
			if !c.condstore {
				c.enableCondstore()
				enabled = append(enabled, "CONDSTORE")
			}
		case "QRESYNC":
			if !c.qresync {
				c.qresync = true
				c.enableCondstore()
				enabled = append(enabled, "QRESYNC")
			}
		case "IMAP4REV2":
			enabled = append(enabled, "IMAP4rev2")
		}
	}
	c.enc.RawString("* ENABLED")
	for _, e := range enabled {
		c.enc.SP().Atom(e)
	}
	c.enc.CRLF()
	return nil
}

// enableCondstore turns CONDSTORE on (RFC 7162 §3.1): from now on FETCH
// responses carry MODSEQ; the selected folder announces HIGHESTMODSEQ.
func (c *session) enableCondstore() {
	first := !c.condstore
	c.condstore = true
	if first && c.sel != nil {
		c.enc.Status("*", "OK", fmt.Sprintf("HIGHESTMODSEQ %d", c.sel.highestModSeq()), "CONDSTORE enabled")
	}
}

// cmdNamespace answers NAMESPACE (RFC 2342): personal "" and, except in a
// delegate login, other users "Other Users/", both with delimiter "/".
func (c *session) cmdNamespace(p *wire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	c.enc.RawString(`* NAMESPACE (("" "/")) `)
	if c.owner == c.actor {
		c.enc.Byte('(').Byte('(').String(otherUsers + string(delim)).SP().String(string(delim)).Byte(')').Byte(')')
	} else {
		c.enc.NIL()
	}
	c.enc.RawString(" NIL").CRLF()
	return nil
}
