package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/rewrite")

// fixedNow is the clock of the pure rewrite tests.
var fixedNow = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)

// pureDirectory is the shared fixture directory (testdir.Seed lists who
// holds which right) built without storage, as of grants made at fixedNow:
// bob Send As (and Full Access); carol Send on Behalf; henry both; erin
// Full Access only; gina Send As pending until 11:00; frank Send As on
// info@ (shared) through the group sales@; dave nothing; zed@other.test:
// other tenant; alice's alias a.owner@. bob and carol get display names
// that need quoting and RFC 2047 encoding when the rewrite writes them.
func pureDirectory(tb testing.TB) *delegation.Directory {
	tb.Helper()
	ts, ps, gs := testdir.Snapshot(fixedNow)
	for i := range ps {
		switch ps[i].ID {
		case "bob":
			ps[i].Name = "Bob Delegate"
		case "carol":
			ps[i].Name = "Carol Ñúñez"
		}
	}
	d, err := delegation.NewDirectory(ts, ps, gs)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func parseHeader(tb testing.TB, msg string) textproto.Header {
	tb.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(msg)))
	if err != nil {
		tb.Fatalf("ReadHeader: %v", err)
	}
	return h
}

func headerBytes(tb testing.TB, h textproto.Header) string {
	tb.Helper()
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		tb.Fatalf("WriteHeader: %v", err)
	}
	return b.String()
}

func rewriteAs(d *delegation.Directory, actor string, h textproto.Header) (*RewriteResult, error) {
	res, serr := Rewrite(RewriteInput{Header: h, Actor: delegation.ID(actor), Directory: d, Now: fixedNow,
		Hostname: "mail.example.test", MessageID: "generated@mail.example.test"})
	if serr != nil {
		return res, serr
	}
	return res, nil
}

// TestRewriteTable runs every row of the send table (DESIGN.md) through the
// pure function and checks the decision and the From/Sender it leaves.
func TestRewriteTable(t *testing.T) {
	d := pureDirectory(t)
	tests := []struct {
		name, actor, header string
		kind                string // "" means refused
		code                string // enhanced code of a refusal
		sender              string // Sender value after rewrite, "" for none
		wantText            []string
	}{
		{"own", "alice", "From: Alice <alice@example.test>\r\n", KindOwn, "", "", nil},
		{"own alias mixed case", "alice", "From: A.Owner@EXAMPLE.test\r\n", KindOwn, "", "", nil},
		{"own drops foreign sender", "alice", "From: alice@example.test\r\nSender: bob@example.test\r\n", KindOwn, "", "", nil},
		{"own keeps own sender", "alice", "From: alice@example.test\r\nSender: a.owner@example.test\r\n", KindOwn, "", "a.owner@example.test", nil},
		{"send as", "bob", "From: Alice <alice@example.test>\r\nSender: bob@example.test\r\n", KindSendAs, "", "", nil},
		{"send as via alias", "bob", "From: a.owner@example.test\r\n", KindSendAs, "", "", nil},
		{"send as through group", "frank", "From: Info <info@example.test>\r\n", KindSendAs, "", "", nil},
		{"send on behalf replaces client sender", "carol", "From: alice@example.test\r\nSender: evil@elsewhere.test\r\n", KindSendOnBehalf, "",
			"=?utf-8?q?Carol_=C3=91=C3=BA=C3=B1ez?= <carol@example.test>", nil},
		{"both: send as wins", "henry", "From: alice@example.test\r\n", KindSendAs, "", "", nil},
		{"full access only", "erin", "From: alice@example.test\r\n", "", "5.7.1", "",
			[]string{"alice@example.test", "Send As or Send on Behalf", "Full Access does not allow sending"}},
		{"pending", "gina", "From: alice@example.test\r\n", "", "5.7.1", "", []string{"alice@example.test", "2026-01-02T11:00:00Z"}},
		{"no grant", "dave", "From: alice@example.test\r\n", "", "5.7.1", "", []string{"not allowed to send as alice@example.test", "missing Send As or Send on Behalf"}},
		{"other tenant", "zed", "From: alice@example.test\r\n", "", "5.7.1", "", []string{"another tenant"}},
		{"external", "bob", "From: someone@elsewhere.test\r\n", "", "5.7.1", "", []string{"someone@elsewhere.test", "not a local address"}},
		{"unknown local", "bob", "From: nobody@example.test\r\n", "", "5.7.1", "", []string{"nobody@example.test"}},
		{"display name trick", "dave", "From: \"alice@example.test\" <dave@example.test>\r\n", KindOwn, "", "", nil},
		{"display name trick refused", "dave", "From: \"dave@example.test\" <alice@example.test>\r\n", "", "5.7.1", "", []string{"alice@example.test"}},
		{"encoded word windows-1252", "bob", "From: =?windows-1252?q?Alice_=80?= <alice@example.test>\r\n", KindSendAs, "", "", nil},
		{"comment", "bob", "From: alice@example.test (Alice)\r\n", KindSendAs, "", "", nil},
		{"group syntax", "bob", "From: Team: alice@example.test;\r\n", KindSendAs, "", "", nil},
		{"two mailboxes need sender", "bob", "From: alice@example.test, bob@example.test\r\n", KindSendAs, "",
			`"Bob Delegate" <bob@example.test>`, nil},
		{"two mailboxes one refused", "bob", "From: bob@example.test, info@example.test\r\n", "", "5.7.1", "", []string{"info@example.test"}},
		{"no From", "bob", "Subject: x\r\n", "", "5.6.0", "", []string{"no From"}},
		{"two From", "bob", "From: bob@example.test\r\nFrom: alice@example.test\r\n", "", "5.6.0", "", []string{"2 From"}},
		{"unparsable From", "bob", "From: broken@@example.test\r\n", "", "5.6.0", "", []string{"unparsable From"}},
		{"empty group", "bob", "From: undisclosed-recipients:;\r\n", "", "5.6.0", "", []string{"names no mailbox"}},
		{"bare CR", "bob", "From: bob@example.test\rX: y\r\n", "", "5.6.0", "", []string{"bare CR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := rewriteAs(d, tt.actor, parseHeader(t, tt.header+"\r\n"))
			if tt.kind == "" {
				if err == nil {
					t.Fatalf("Rewrite(%s, %q) accepted (%s), want refusal %s", tt.actor, tt.header, res.Kind, tt.code)
				}
				if got := replyText(err); !strings.Contains(got, " "+tt.code+" ") {
					t.Errorf("Rewrite(%s, %q) = %q, want code %s", tt.actor, tt.header, got, tt.code)
				}
				for _, w := range tt.wantText {
					if !strings.Contains(replyText(err), w) {
						t.Errorf("Rewrite(%s, %q) = %q, want it to name %q", tt.actor, tt.header, replyText(err), w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Rewrite(%s, %q) = %v, want %s", tt.actor, tt.header, err, tt.kind)
			}
			if res.Kind != tt.kind {
				t.Errorf("Rewrite(%s, %q).Kind = %s, want %s", tt.actor, tt.header, res.Kind, tt.kind)
			}
			if got := res.Header.FieldsByKey("Sender").Len(); got > 1 {
				t.Errorf("%d Sender fields", got)
			}
			if got := res.Header.Get("Sender"); got != tt.sender {
				t.Errorf("Sender = %q, want %q", got, tt.sender)
			}
			if res.Header.Get("Message-Id") != "<generated@mail.example.test>" || res.Header.Get("Date") == "" {
				t.Errorf("Message-ID/Date not added: %q", headerBytes(t, res.Header))
			}
		})
	}
}

// TestRewriteResent: Resent-From and Resent-Sender (RFC 5322 §3.6.6) get
// the decision of From and Sender.
func TestRewriteResent(t *testing.T) {
	d := pureDirectory(t)
	tests := []struct {
		name, actor, header string
		kind                string // "" means refused
		code                string // enhanced code of a refusal
		resentSender        string // Resent-Sender after rewrite, "" for none
		wantText            []string
	}{
		{"send as", "bob", "Resent-From: Alice <alice@example.test>\r\nResent-Sender: bob@example.test\r\n", KindSendAs, "", "", nil},
		{"send on behalf replaces client value", "carol", "Resent-From: alice@example.test\r\nResent-Sender: evil@elsewhere.test\r\n", KindSendOnBehalf, "",
			"=?utf-8?q?Carol_=C3=91=C3=BA=C3=B1ez?= <carol@example.test>", nil},
		{"own keeps own", "dave", "Resent-From: dave@example.test\r\nResent-Sender: Dave@Example.test\r\n", KindOwn, "", "Dave@Example.test", nil},
		{"own drops foreign", "dave", "Resent-From: dave@example.test\r\nResent-Sender: alice@example.test\r\n", KindOwn, "", "", nil},
		{"stray Resent-Sender dropped", "dave", "Resent-Sender: alice@example.test\r\n", KindOwn, "", "", nil},
		{"two mailboxes need Resent-Sender", "bob", "Resent-From: alice@example.test, bob@example.test\r\n", KindSendAs, "",
			`"Bob Delegate" <bob@example.test>`, nil},
		{"no grant", "dave", "Resent-From: alice@example.test\r\n", "", "5.7.1", "",
			[]string{"not allowed to resend as alice@example.test", "missing Send As or Send on Behalf"}},
		{"full access only", "erin", "Resent-From: alice@example.test\r\n", "", "5.7.1", "", []string{"alice@example.test", "Full Access does not allow sending"}},
		{"pending", "gina", "Resent-From: alice@example.test\r\n", "", "5.7.1", "", []string{"2026-01-02T11:00:00Z"}},
		{"external", "bob", "Resent-From: ceo@elsewhere.test\r\n", "", "5.7.1", "", []string{"ceo@elsewhere.test", "not a local address"}},
		{"older block refused too", "bob", "Resent-From: alice@example.test\r\nResent-From: dave@example.test\r\n", "", "5.7.1", "", []string{"dave@example.test"}},
		{"unparsable", "bob", "Resent-From: alice@@example.test\r\n", "", "5.6.0", "", []string{"unparsable Resent-From"}},
		{"empty group", "bob", "Resent-From: x:;\r\n", "", "5.6.0", "", []string{"names no mailbox"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := "From: " + tt.actor + "@example.test\r\n"
			res, err := rewriteAs(d, tt.actor, parseHeader(t, from+tt.header+"\r\n"))
			if tt.kind == "" {
				if err == nil {
					t.Fatalf("Rewrite(%s, %q) accepted (%s), want refusal %s", tt.actor, tt.header, res.Kind, tt.code)
				}
				if got := replyText(err); !strings.HasPrefix(got, "550 "+tt.code+" ") {
					t.Errorf("Rewrite(%s, %q) = %q, want 550 %s", tt.actor, tt.header, got, tt.code)
				}
				for _, w := range tt.wantText {
					if !strings.Contains(replyText(err), w) {
						t.Errorf("Rewrite(%s, %q) = %q, want it to name %q", tt.actor, tt.header, replyText(err), w)
					}
				}
				if tt.code == "5.7.1" {
					if n := len(res.Decisions); n == 0 || res.Decisions[n-1].Allowed {
						t.Errorf("Rewrite(%s, %q): refused decision not last: %+v", tt.actor, tt.header, res.Decisions)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Rewrite(%s, %q) = %v, want %s", tt.actor, tt.header, err, tt.kind)
			}
			if res.Kind != tt.kind {
				t.Errorf("Rewrite(%s, %q).Kind = %s, want %s", tt.actor, tt.header, res.Kind, tt.kind)
			}
			if got := res.Header.FieldsByKey("Resent-Sender").Len(); got > 1 {
				t.Errorf("%d Resent-Sender fields", got)
			}
			if got := res.Header.Get("Resent-Sender"); got != tt.resentSender {
				t.Errorf("Resent-Sender = %q, want %q", got, tt.resentSender)
			}
			if got := res.Header.Get("Sender"); got != "" {
				t.Errorf("Sender = %q, want none (From is own)", got)
			}
		})
	}
}

// TestRewriteDecisionsOnce: a From and a Resent-From naming one mailbox give
// one decision (one audit record, one Sent copy).
func TestRewriteDecisionsOnce(t *testing.T) {
	res, err := rewriteAs(pureDirectory(t), "bob", parseHeader(t, "From: alice@example.test\r\nResent-From: A.Owner@example.test, bob@example.test\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, dc := range res.Decisions {
		got = append(got, dc.Address+"/"+string(dc.Reason))
	}
	if strings.Join(got, ",") != "alice@example.test/send_as,bob@example.test/own_address" {
		t.Errorf("Decisions = %v", got)
	}
}

// TestRewriteRemoves: Bcc, Resent-Bcc, Return-Path and every
// Authentication-Results claiming our authserv-id leave the header; the
// others stay.
func TestRewriteRemoves(t *testing.T) {
	in := "From: bob@example.test\r\nTo: dave@example.test\r\nBcc: frank@example.test,\r\n secret@elsewhere.test\r\n" +
		"BCC: x@elsewhere.test\r\nbcc :\r\nResent-From: bob@example.test\r\nResent-Bcc: y@elsewhere.test\r\n" +
		"Return-Path: <ceo@elsewhere.test>\r\nReturn-path: <>\r\n"
	var keep []string
	for _, f := range authResultsForms {
		in += "Authentication-Results: " + f.v + "\r\n"
		if !f.own {
			keep = append(keep, f.v)
		}
	}
	res, err := rewriteAs(pureDirectory(t), "bob", parseHeader(t, in+"Subject: x\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	out := headerBytes(t, res.Header)
	for _, k := range []string{"Bcc", "Resent-Bcc", "Return-Path"} {
		if res.Header.Has(k) {
			t.Errorf("%s kept:\n%s", k, out)
		}
	}
	if got := res.Header.Values("Authentication-Results"); strings.Join(got, "|") != strings.Join(keep, "|") {
		t.Errorf("Authentication-Results = %q\nwant %q", got, keep)
	}
	for _, k := range []string{"To", "Subject", "Resent-From"} {
		if !res.Header.Has(k) {
			t.Errorf("%s removed:\n%s", k, out)
		}
	}
}

// TestRewriteResentSenderClean: the Resent-Sender the server writes comes
// from the directory; a name with line breaks in it still gives one line.
func TestRewriteResentSenderClean(t *testing.T) {
	ps := []delegation.Principal{
		{ID: "alice", Kind: delegation.KindUser, Tenant: "example.test", Address: "alice@example.test"},
		{ID: "mal", Kind: delegation.KindUser, Tenant: "example.test", Address: "mal@example.test", Name: "Mal\r\nBcc: victim@elsewhere.test\nX-Injected: 1"},
	}
	gs := []delegation.Grant{{ID: "g1", Mailbox: "alice", Trustee: "mal", Right: delegation.SendOnBehalf, CreatedAt: fixedNow.Add(-time.Hour), EffectiveAt: fixedNow.Add(-time.Hour)}}
	d, err := delegation.NewDirectory([]delegation.Tenant{{Domain: "example.test"}}, ps, gs)
	if err != nil {
		t.Fatal(err)
	}
	res, rerr := rewriteAs(d, "mal", parseHeader(t, "From: alice@example.test\r\nResent-From: alice@example.test\r\n\r\n"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	out := headerBytes(t, res.Header)
	h2 := parseHeader(t, out+"\r\n")
	if badBytes([]byte(out)) || h2.Has("Bcc") || h2.Has("X-Injected") || h2.FieldsByKey("Resent-Sender").Len() != 1 || h2.FieldsByKey("Sender").Len() != 1 {
		t.Errorf("rewritten header:\n%s", out)
	}
}

// TestRewriteGolden rewrites testdata/rewrite/<case>.eml as the actor named
// in its X-Test-Actor field and compares with <case>.golden (-update
// regenerates them; review the diff like code).
func TestRewriteGolden(t *testing.T) {
	d := pureDirectory(t)
	files, err := filepath.Glob("testdata/rewrite/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".eml")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := goldenOutput(t, d, in)
			gf := strings.TrimSuffix(f, ".eml") + ".golden"
			if *update {
				if err := os.WriteFile(gf, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gf)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("rewrite of %s differs from %s:\n--- got\n%s\n--- want\n%s", f, gf, got, want)
			}
		})
	}
}

func goldenOutput(t *testing.T, d *delegation.Directory, in []byte) string {
	br := bufio.NewReader(bytes.NewReader(in))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return fmt.Sprintf("read error: %v\n", err)
	}
	actor := h.Get("X-Test-Actor")
	h.Del("X-Test-Actor")
	res, rerr := rewriteAs(d, actor, h)
	var b strings.Builder
	fmt.Fprintf(&b, "actor: %s\n", actor)
	for _, dc := range res.Decisions {
		fmt.Fprintf(&b, "decision: %s allowed=%v reason=%s right=%s grant=%s\n", dc.Address, dc.Allowed, dc.Reason, dc.Right.Flags(), dc.GrantID)
	}
	if rerr != nil {
		fmt.Fprintf(&b, "reply: %s\n", replyText(rerr))
		return b.String()
	}
	fmt.Fprintf(&b, "kind: %s\nsender: %s\nmessage-id: %s\n--- header\n", res.Kind, res.Sender, res.MessageID)
	b.WriteString(strings.ReplaceAll(headerBytes(t, res.Header), "\r\n", "\n"))
	return b.String()
}

// replyText renders an *SMTPError as the reply line go-smtp would send.
func replyText(err error) string {
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		return "not an SMTPError: " + err.Error()
	}
	c := se.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s", se.Code, c[0], c[1], c[2], se.Message)
}

// checkRewriteInvariants is the fuzz oracle: for a header the function
// accepted, the output parses again, has exactly one From and at most one
// Sender and Resent-Sender, has no bare CR or LF, no Bcc, Resent-Bcc,
// Return-Path or Authentication-Results of ours, every From and Resent-From
// mailbox is allowed by the engine, and rewriting it again changes nothing.
func checkRewriteInvariants(t *testing.T, d *delegation.Directory, actor string, res *RewriteResult) {
	out := headerBytes(t, res.Header)
	if badBytes([]byte(out)) {
		t.Fatalf("output has a bare CR/LF or NUL: %q", out)
	}
	h2, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(out)))
	if err != nil {
		t.Fatalf("output does not parse: %v\n%q", err, out)
	}
	if n := h2.FieldsByKey("From").Len(); n != 1 {
		t.Fatalf("output has %d From fields: %q", n, out)
	}
	if n := h2.FieldsByKey("Sender").Len(); n > 1 {
		t.Fatalf("output has %d Sender fields: %q", n, out)
	}
	list, err := addressParser.ParseList(h2.Get("From"))
	if err != nil || len(list) == 0 {
		t.Fatalf("output From does not parse: %v %q", err, out)
	}
	for _, a := range list {
		if dc := d.Send(delegation.ID(actor), a.Address, fixedNow); !dc.Allowed {
			t.Fatalf("accepted From %s that the engine refuses: %+v", a.Address, dc)
		}
	}
	if n := h2.FieldsByKey("Resent-Sender").Len(); n > 1 {
		t.Fatalf("output has %d Resent-Sender fields: %q", n, out)
	}
	for fs := h2.FieldsByKey("Resent-From"); fs.Next(); {
		l, err := addressParser.ParseList(fs.Value())
		if err != nil {
			t.Fatalf("output Resent-From does not parse: %v %q", err, out)
		}
		for _, a := range l {
			if dc := d.Send(delegation.ID(actor), a.Address, fixedNow); !dc.Allowed {
				t.Fatalf("accepted Resent-From %s that the engine refuses: %+v", a.Address, dc)
			}
		}
	}
	for _, k := range []string{"Bcc", "Resent-Bcc", "Return-Path"} {
		if h2.Has(k) {
			t.Fatalf("output has %s: %q", k, out)
		}
	}
	for fs := h2.FieldsByKey("Authentication-Results"); fs.Next(); {
		if id, ok := authservID(fs.Value()); !ok || sameHost(id, "mail.example.test") {
			t.Fatalf("output has Authentication-Results %q claiming our authserv-id", fs.Value())
		}
	}
	res2, err := rewriteAs(d, actor, h2)
	if err != nil {
		t.Fatalf("rewrite of own output refused: %v\n%q", err, out)
	}
	if out2 := headerBytes(t, res2.Header); out2 != out || res2.Kind != res.Kind {
		t.Fatalf("not idempotent:\n%q\n%q", out, out2)
	}
}

var fuzzActors = []string{"alice", "bob", "carol", "dave", "erin", "frank", "gina", "henry", "zed", "info", "nobody"}

func FuzzRewrite(f *testing.F) {
	files, _ := filepath.Glob("testdata/rewrite/*.eml")
	for i, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, uint8(i))
		}
	}
	for i, s := range []string{
		"From: alice@example.test\r\nSender: x@y\r\nSender: z@w\r\n\r\nbody",
		"From: =?utf-8?b?QWxpY2U=?= <alice@example.test>, bob@example.test\r\n\r\n",
		"From: \"a\\\"b\" <Alice@Example.Test>\r\nMessage-ID: <a@b>\r\nMessage-ID: <c@d>\r\n\r\n",
		"From: alice@example.test\r\nSender: Carol\r\n =?utf-8?q?=0D=0A?= <carol@example.test>\r\n\r\n",
		"From: Team: alice@example.test, (c) bob@example.test;\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(i))
	}
	d := pureDirectory(f)
	f.Fuzz(func(t *testing.T, msg []byte, who uint8) {
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
		if err != nil {
			return
		}
		actor := fuzzActors[int(who)%len(fuzzActors)]
		res, rerr := Rewrite(RewriteInput{Header: h, Actor: delegation.ID(actor), Directory: d, Now: fixedNow,
			Hostname: "mail.example.test", MessageID: "generated@mail.example.test"})
		if rerr != nil {
			if strings.ContainsAny(rerr.Message, "\r\n") {
				t.Fatalf("reply text has a line break: %q", rerr.Message)
			}
		} else {
			checkRewriteInvariants(t, d, actor, res)
		}
		// The same header arriving at the MX (a fresh parse: Rewrite has
		// taken the first one over).
		h, _ = textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
		checkInboundInvariants(t, d, h)
	})
}

// checkInboundInvariants is the oracle of markInbound: no Authentication-
// Results claiming our authserv-id is left but the one it adds, on top, in
// one line; it adds it exactly when a From field does not parse or names a
// local domain; header.from names a local domain; and marking the output
// again changes nothing.
func checkInboundInvariants(t *testing.T, d *delegation.Directory, h textproto.Header) {
	want := false
	for fs := h.FieldsByKey("From"); fs.Next(); {
		l, err := addressParser.ParseList(fs.Value())
		if err != nil {
			want = true
		}
		for _, a := range l {
			dom := strings.ToLower(a.Address[strings.LastIndexByte(a.Address, '@')+1:])
			if d.IsLocalDomain(strings.TrimRight(dom, ".")) {
				want = true
			}
		}
	}
	markInbound(&h, d, "mail.example.test")
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		t.Fatalf("marked header does not write: %v", err)
	}
	out := b.String()
	var own []string
	first := true
	for fs := h.Fields(); fs.Next(); first = false {
		if fs.Key() != "Authentication-Results" {
			continue
		}
		if id, ok := authservID(fs.Value()); !ok || sameHost(id, "mail.example.test") {
			if !first {
				t.Fatalf("Authentication-Results %q claiming our authserv-id kept:\n%q", fs.Value(), out)
			}
			raw, _ := fs.Raw()
			if strings.Count(string(raw), "\n") != 1 || strings.Count(string(raw), "\r") != 1 || !strings.HasPrefix(fs.Value(), "mail.example.test; x-local-from=fail (") {
				t.Fatalf("added field %q", raw)
			}
			own = append(own, fs.Value())
		}
	}
	if got := len(own) == 1; got != want {
		t.Fatalf("marked = %v, want %v:\n%q", got, want, out)
	}
	if len(own) == 1 {
		if _, dom, ok := strings.Cut(own[0], " header.from="); ok && !d.IsLocalDomain(dom) {
			t.Fatalf("header.from=%q is not a local domain", dom)
		}
	}
	h2, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(out)))
	if err != nil {
		t.Fatalf("marked header does not parse: %v\n%q", err, out)
	}
	markInbound(&h2, d, "mail.example.test")
	b.Reset()
	textproto.WriteHeader(&b, h2)
	if b.String() != out {
		t.Fatalf("marking twice differs:\n%q\n%q", out, b.String())
	}
}
