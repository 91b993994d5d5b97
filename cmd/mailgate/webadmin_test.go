package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/admin"
)

// TestAdminCommands: `mailgate admin add|remove|list`.
func TestAdminCommands(t *testing.T) {
	data := t.TempDir()
	ok(t, data, "tenant", "add", "example.test")
	ok(t, data, "user", "add", "root@example.test", "--password", "pw")
	ok(t, data, "shared", "add", "info@example.test")
	if out := ok(t, data, "admin", "add", "root@example.test", "--tenant", "example.test"); !strings.Contains(out, "root@example.test is an administrator of tenant example.test") {
		t.Errorf("admin add: %q", out)
	}
	fails(t, data, "only a user", "admin", "add", "info@example.test", "--global")
	fails(t, data, "no tenant nowhere.test", "admin", "add", "root@example.test", "--tenant", "nowhere.test")
	fails(t, data, "[tenant global]", "admin", "add", "root@example.test")
	if out := ok(t, data, "admin", "list"); !strings.Contains(out, "root@example.test  tenant example.test") {
		t.Errorf("admin list:\n%s", out)
	}
	ok(t, data, "admin", "add", "root@example.test", "--global")
	var as []struct {
		Address string `json:"address"`
		Global  bool   `json:"global"`
	}
	if err := json.Unmarshal([]byte(ok(t, data, "--json", "admin", "list")), &as); err != nil || len(as) != 1 || !as[0].Global {
		t.Errorf("admin list --json after --global: %+v, %v", as, err)
	}
	ok(t, data, "admin", "remove", "root@example.test")
	fails(t, data, "is not an administrator", "admin", "remove", "root@example.test")
}

// TestWebAdminBrowser walks the Microsoft 365 flow in a real browser
// (Debian's chromium, headless) against the real `serve`: log in as a
// tenant administrator, Active users → alice → Mail → Manage mailbox
// permissions → Send as → Add permissions → bob → Add, and the same for
// Read and manage; then bob sends as alice over SMTP (refused while the
// grant is pending, accepted once it is effective) and the message is in
// alice's INBOX without a Sender header, which bob opens over IMAP with
// his Full Access. MAILGATE_SCREENSHOTS=dir keeps a PNG of each step
// there (make screenshots-admin writes docs/).
func TestWebAdminBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (apt-get install chromium)")
		}
		t.Skip("chromium is not installed: skipping the browser test (apt-get install chromium)")
	}
	shots := os.Getenv("MAILGATE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	data := t.TempDir()
	// A short propagation delay: the page shows the grant pending with its
	// countdown, and the test need not wait an hour for it.
	const propagation = 12 * time.Second
	ok(t, data, "tenant", "add", "example.test", "--propagation", propagation.String())
	pws := map[string]string{}
	for _, u := range []string{"alice", "bob", "carol", "root"} {
		pws[u] = u + "-secret-pw"
		ok(t, data, "user", "add", u+"@example.test", "--password", pws[u], "--name", strings.ToUpper(u[:1])+u[1:]+" Example")
	}
	ok(t, data, "group", "add", "sales@example.test", "--name", "Sales")
	ok(t, data, "admin", "add", "root@example.test", "--tenant", "example.test")
	webAddr, subAddr, imapAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	srv := startServer(t, data, "--admin-http-addr", webAddr, "--submission-addr", subAddr, "--imap-addr", imapAddr, "--insecure-auth")
	defer srv.stop(t)
	if !strings.Contains(srv.banner, "https://"+webAddr+"/") {
		t.Fatalf("banner lacks the admin center:\n%s", srv.banner)
	}
	// HTTPS with the mail listeners' certificate.
	pemBytes, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemBytes)
	tc, err := tls.Dial("tcp", webAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to the admin center: %v", err)
	}
	if peer := tc.ConnectionState().PeerCertificates; blk == nil || len(peer) == 0 || !bytes.Equal(peer[0].Raw, blk.Bytes) {
		t.Error("the admin center's certificate is not the mail listeners' (data/tls/cert.pem)")
	}
	tc.Close()

	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
			chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 860))...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(bctx); err != nil { // start the browser outside the timeout
		t.Fatalf("start chromium: %v", err)
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, "admin-"+name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	step("1-login", chromedp.Navigate("https://"+webAddr+"/login"), chromedp.WaitVisible(css("#signin")),
		chromedp.SendKeys(css("#address"), "root@example.test"), chromedp.SendKeys(css("#password"), pws["root"]))
	step("2-active-users", chromedp.Click(css("#signin")), chromedp.WaitVisible(css(`a[href="/user?a=alice%40example.test"]`)))
	step("3-user", chromedp.Click(css(`a[href="/user?a=alice%40example.test"]`)), chromedp.WaitVisible(css("#tab-mail")))
	step("4-mail-tab", chromedp.Click(css("#tab-mail")), chromedp.WaitVisible(css("#manage-permissions")))
	step("5-permissions", chromedp.Click(css("#manage-permissions")), chromedp.WaitVisible(css("#add-send-as")))
	step("6-picker-send-as", chromedp.Click(css("#add-send-as")), chromedp.WaitVisible(css(`input[name="trustee"][value="bob@example.test"]`)),
		chromedp.Click(css(`input[name="trustee"][value="bob@example.test"]`)))
	step("7-send-as-added", chromedp.Click(css("#add")), chromedp.WaitVisible(css("#add-full-access")))
	added := time.Now()
	if s := text("#send-as"); !strings.Contains(s, "bob@example.test") || !strings.Contains(s, "pending until") {
		t.Errorf("Send as section after Add: %q", s)
	}
	if s := text("p.flash"); !strings.Contains(s, "Added Send As for bob@example.test") {
		t.Errorf("flash after Add: %q", s)
	}
	// Read and manage for bob, at once.
	step("8-picker-full-access", chromedp.Click(css("#add-full-access")), chromedp.WaitVisible(css(`input[name="trustee"][value="bob@example.test"]`)),
		chromedp.Click(css(`input[name="trustee"][value="bob@example.test"]`)), chromedp.Click(css("#now")))
	step("9-permissions", chromedp.Click(css("#add")), chromedp.WaitVisible(css("#add-full-access")))
	if s := text("#full-access"); !strings.Contains(s, "bob@example.test") || !strings.Contains(s, "effective") {
		t.Errorf("Read and manage section after Add: %q", s)
	}
	// The countdown is animated by admin.js (served from the binary).
	if s := text("#send-as [data-countdown]"); !strings.HasPrefix(s, "in ") && !strings.HasPrefix(s, "now") {
		t.Errorf("countdown text %q", s)
	}
	// A time-boxed Send on behalf for carol, at once, that ends during the
	// test (holiday cover, in seconds).
	const carolFor = 20 * time.Second
	step("10-picker-send-on-behalf", chromedp.Click(css("#add-send-on-behalf")), chromedp.WaitVisible(css(`input[name="trustee"][value="carol@example.test"]`)),
		chromedp.Click(css(`input[name="trustee"][value="carol@example.test"]`)), chromedp.Click(css("#now")), chromedp.SendKeys(css("#for"), carolFor.String()))
	step("11-time-boxed", chromedp.Click(css("#add")), chromedp.WaitVisible(css("#add-send-on-behalf")))
	if s := text("#send-on-behalf"); !strings.Contains(s, "carol@example.test") || !strings.Contains(s, "effective") || !strings.Contains(s, "until") {
		t.Errorf("Send on behalf section after the time-boxed Add: %q", s)
	}

	var gs []admin.GrantView
	if err := json.Unmarshal([]byte(ok(t, data, "--json", "grant", "list", "alice@example.test")), &gs); err != nil || len(gs) != 3 {
		t.Fatalf("grant list after the browser: %+v, %v", gs, err)
	}
	var sendAs, onBehalf admin.GrantView
	for _, g := range gs {
		if g.CreatedBy != "web:root@example.test" {
			t.Errorf("grant %+v", g)
		}
		switch {
		case g.Trustee == "bob@example.test" && g.Right.Flags() == "send-as":
			sendAs = g
		case g.Trustee == "carol@example.test" && g.Right.Flags() == "send-on-behalf":
			onBehalf = g
		case g.Trustee != "bob@example.test":
			t.Errorf("grant %+v", g)
		}
	}
	if sendAs.ID == "" || onBehalf.ID == "" {
		t.Fatalf("no Send As for bob or Send on behalf for carol: %+v", gs)
	}
	if want := onBehalf.EffectiveAt.Add(carolFor); !onBehalf.Until.Equal(want) || onBehalf.State != "effective" {
		t.Errorf("carol's grant %+v, want effective until %s", onBehalf, want)
	}

	sendFrom := func(user, subject string) error {
		c, err := gosmtp.Dial(subAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", user+"@example.test", pws[user])); err != nil {
			t.Fatal(err)
		}
		msg := "From: Alice Example <alice@example.test>\r\nTo: alice@example.test\r\nSubject: " + subject + "\r\n\r\nsent by " + user + " for alice\r\n"
		return c.SendMail("alice@example.test", []string{"alice@example.test"}, strings.NewReader(msg))
	}
	send := func(subject string) error { return sendFrom("bob", subject) }
	var se *gosmtp.SMTPError
	if time.Until(onBehalf.Until) < 2*time.Second {
		t.Fatalf("the browser steps took too long: carol's grant ends at %s, too soon to send with it", onBehalf.Until)
	}
	if err := sendFrom("carol", "on behalf while it lasts"); err != nil {
		t.Errorf("carol sends on behalf of alice before her grant ends: %v", err)
	}
	if time.Until(sendAs.EffectiveAt) < 2*time.Second {
		t.Logf("the browser steps took %s: too late to see the pending grant refuse", time.Since(added))
	} else if err := send("too early"); !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode[0] != 5 || se.EnhancedCode[1] != 7 || !strings.Contains(se.Message, "not effective until") {
		t.Errorf("send as alice while the grant is pending: %v, want 550 5.7.x naming the pending grant", err)
	}
	time.Sleep(time.Until(sendAs.EffectiveAt.Add(500 * time.Millisecond)))
	if err := send("sent as alice"); err != nil {
		t.Fatalf("send as alice once effective: %v", err)
	}

	// bob opens alice's INBOX with Read and manage, and finds the message
	// there without Sender.
	ic, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("bob@example.test", pws["bob"]).Wait(); err != nil {
		t.Fatal(err)
	}
	var hdr string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		mb, err := ic.Select("Other Users/alice@example.test/INBOX", nil).Wait()
		if err != nil {
			t.Fatalf("bob selects alice's INBOX: %v", err)
		}
		if mb.NumMessages == 0 {
			continue
		}
		sec := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierHeader, Peek: true}
		msgs, err := ic.Fetch(goimap.SeqSetNum(mb.NumMessages), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{sec}}).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("fetch: %v, %d messages", err, len(msgs))
		}
		hdr = string(msgs[0].FindBodySection(sec))
		break
	}
	if !strings.Contains(hdr, "Subject: sent as alice") || !strings.Contains(hdr, "From: Alice Example <alice@example.test>") {
		t.Fatalf("alice's INBOX lacks the message sent as her:\n%s", hdr)
	}
	if strings.Contains(strings.ToLower(hdr), "\nsender:") {
		t.Errorf("a message sent as alice has a Sender header:\n%s", hdr)
	}
	if strings.Contains(hdr, "too early") {
		t.Error("the refused message arrived")
	}
	// carol's message carries Sender: carol (Send on Behalf).
	sec := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierHeader, Peek: true}
	all, err := ic.Fetch(goimap.SeqSetNum(1, 2), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{sec}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var carolHdr string
	for _, m := range all {
		if h := string(m.FindBodySection(sec)); strings.Contains(h, "Subject: on behalf while it lasts") {
			carolHdr = h
		}
	}
	if !strings.Contains(carolHdr, "Sender: \"Carol Example\" <carol@example.test>") {
		t.Errorf("carol's message on behalf of alice lacks Sender: carol:\n%s", carolHdr)
	}

	// At its end carol's grant stops counting: SMTP refuses her, and the
	// page shows it expired.
	time.Sleep(time.Until(onBehalf.Until.Add(500 * time.Millisecond)))
	if err := sendFrom("carol", "after the end"); !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 1}) || !strings.Contains(se.Message, "expired") {
		t.Errorf("carol sends on behalf of alice after her grant ended: %v, want 550 5.7.1 naming the expired grant", err)
	}
	step("12-expired", chromedp.Reload(), chromedp.WaitVisible(css("#add-send-on-behalf")))
	if s := text("#send-on-behalf"); !strings.Contains(s, "carol@example.test") || !strings.Contains(s, "expired at") {
		t.Errorf("Send on behalf section after carol's grant ended: %q", s)
	}
}
