package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/mailgate/mailgate/admin/autoconfig"
	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
)

// autoconfigServe builds what serve would from its listener flags and the
// autoconfig flags given as args (with MAILGATE_* from the environment),
// on a real store, served on 127.0.0.1:0.
func autoconfigServe(t *testing.T, st storage.DirectoryStore, c serveConfig, args ...string) (*httptest.Server, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.autoconfig.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := flagsFromEnv(fs); err != nil {
		t.Fatal(err)
	}
	h, err := autoconfigHandler(&c, st, testenv.Logger(t))
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, nil
}

// askThunderbird fetches the autoconfig file for addr and returns its
// incoming and outgoing servers as "host:port/socketType".
func askThunderbird(t *testing.T, srv *httptest.Server, addr string) (status int, imap, smtp []string) {
	t.Helper()
	resp, err := http.Get(srv.URL + autoconfig.PathAutoconfig + "?emailaddress=" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, nil
	}
	var cc autoconfig.ClientConfig
	if err := xml.Unmarshal(body, &cc); err != nil {
		t.Fatalf("autoconfig for %s: %v\n%s", addr, err, body)
	}
	list := func(ss []autoconfig.ConfigServer) (out []string) {
		for _, s := range ss {
			out = append(out, s.Hostname+":"+strconv.Itoa(s.Port)+"/"+s.SocketType)
		}
		return out
	}
	return resp.StatusCode, list(cc.EmailProvider.Incoming), list(cc.EmailProvider.Outgoing)
}

// TestAutoconfigFromServeFlags: serve advertises its --hostname and the
// ports of its listeners, or the --public-* values (flags or MAILGATE_*),
// for the tenants' domains as they are now.
func TestAutoconfigFromServeFlags(t *testing.T) {
	st, err := storage.Open("", storage.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.AddTenant("example.test", 0); err != nil {
		t.Fatal(err)
	}
	listeners := serveConfig{hostname: "Mail.Example.TEST", imapAddr: "127.0.0.1:1143", imapsAddr: "127.0.0.1:1993",
		submissionAddr: "127.0.0.1:1587", submissionsAddr: "[::1]:1465"}

	srv, err := autoconfigServe(t, st, listeners)
	if err != nil {
		t.Fatal(err)
	}
	code, imap, smtp := askThunderbird(t, srv, "bob@example.test")
	wantIMAP := []string{"mail.example.test:1993/SSL", "mail.example.test:1143/STARTTLS"}
	wantSMTP := []string{"mail.example.test:1465/SSL", "mail.example.test:1587/STARTTLS"}
	if code != http.StatusOK || !reflect.DeepEqual(imap, wantIMAP) || !reflect.DeepEqual(smtp, wantSMTP) {
		t.Errorf("defaults: %d IMAP %q SMTP %q, want %q %q", code, imap, smtp, wantIMAP, wantSMTP)
	}
	if code, _, _ := askThunderbird(t, srv, "bob@new.test"); code != http.StatusNotFound {
		t.Errorf("domain of no tenant: %d, want 404", code)
	}
	// A tenant added while serving is answered at once.
	if _, err := st.AddTenant("new.test", 0); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := askThunderbird(t, srv, "bob@new.test"); code != http.StatusOK {
		t.Errorf("tenant added while serving: %d, want 200", code)
	}

	// Behind a load balancer: public name and ports, one from the
	// environment; the STARTTLS IMAP listener is off.
	t.Run("public", func(t *testing.T) {
		t.Setenv("MAILGATE_PUBLIC_SUBMISSIONS_PORT", "465")
		off := listeners
		off.imapAddr = ""
		srv, err := autoconfigServe(t, st, off, "--public-host", "imap.example.test.", "--public-imaps-port", "993",
			"--public-submission-port", "587", "--public-name", "Example")
		if err != nil {
			t.Fatal(err)
		}
		code, imap, smtp := askThunderbird(t, srv, "bob@example.test")
		wantIMAP := []string{"imap.example.test:993/SSL"}
		wantSMTP := []string{"imap.example.test:465/SSL", "imap.example.test:587/STARTTLS"}
		if code != http.StatusOK || !reflect.DeepEqual(imap, wantIMAP) || !reflect.DeepEqual(smtp, wantSMTP) {
			t.Errorf("public flags: %d IMAP %q SMTP %q, want %q %q", code, imap, smtp, wantIMAP, wantSMTP)
		}
	})
	// A listener on port 0 (tests) is advertised only with a public port.
	zero := listeners
	zero.imapAddr, zero.submissionAddr = "127.0.0.1:0", ""
	srv, err = autoconfigServe(t, st, zero)
	if err != nil {
		t.Fatal(err)
	}
	if _, imap, smtp := askThunderbird(t, srv, "bob@example.test"); len(imap) != 1 || len(smtp) != 1 {
		t.Errorf("listeners on port 0 and off: IMAP %q SMTP %q, want only IMAPS and submissions", imap, smtp)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--public-host", "mail example"}, `--public-host "mail example": not a host name`},
		{[]string{"--public-host", "-x.test"}, `--public-host "-x.test": not a host name`},
		{[]string{"--public-imaps-port", "70000"}, "--public-imaps-port 70000: want 1-65535"},
		{[]string{"--public-submission-port", "-1"}, "--public-submission-port -1: want 1-65535"},
	} {
		if _, err := autoconfigServe(t, st, listeners, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.args, err, c.want)
		}
	}
	bad := listeners
	bad.hostname = "mail_gate"
	if _, err := autoconfigServe(t, st, bad); err == nil || !strings.Contains(err.Error(), `--hostname "mail_gate"`) {
		t.Errorf("hostname mail_gate without --public-host: error %v", err)
	}
	if newServe(&globals{}).Flags().Lookup("public-imaps-port") == nil {
		t.Error("serve has no --public-imaps-port flag")
	}
}

// TestAutoconfigServe: `mailgate serve`'s web listener answers client
// autoconfiguration with the ports of its listeners (and a --public-*
// port), over HTTPS with the mail certificate, with no login; the admin
// center keeps every other path; a bad --public-* flag stops serve.
func TestAutoconfigServe(t *testing.T) {
	data := t.TempDir()
	web, imaps, subs := freeAddr(t), freeAddr(t), freeAddr(t)
	srv := startServer(t, data, "--demo", "--hostname", "mail.example.test", "--admin-http-addr", web,
		"--imaps-addr", imaps, "--submissions-addr", subs, "--public-submission-port", "587")
	defer srv.stop(t)
	pem, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "mail.example.test"}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, host, path, body string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, "https://"+web+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

	resp, body := send("GET", "autoconfig.example.test", autoconfig.PathAutoconfig+"?emailaddress=bob%40example.test", "")
	var cc autoconfig.ClientConfig
	if resp.StatusCode != http.StatusOK || xml.Unmarshal([]byte(body), &cc) != nil {
		t.Fatalf("autoconfig: %d %s", resp.StatusCode, body)
	}
	var got []string
	for _, s := range append(cc.EmailProvider.Incoming, cc.EmailProvider.Outgoing...) {
		got = append(got, s.Type+" "+s.Hostname+":"+strconv.Itoa(s.Port)+" "+s.SocketType)
	}
	want := []string{"imap mail.example.test:" + port(imaps) + " SSL", "smtp mail.example.test:" + port(subs) + " SSL",
		"smtp mail.example.test:587 STARTTLS"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("autoconfig servers %q, want %q", got, want)
	}
	resp, body = send("POST", "autodiscover.example.test", "/Autodiscover/Autodiscover.xml",
		`<Autodiscover xmlns="`+autoconfig.NSRequest+`"><Request><EMailAddress>bob@example.test</EMailAddress>`+
			`<AcceptableResponseSchema>`+autoconfig.NSOutlookResponse+`</AcceptableResponseSchema></Request></Autodiscover>`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "<Server>mail.example.test</Server>") ||
		!strings.Contains(body, "<Port>"+port(imaps)+"</Port>") {
		t.Errorf("autodiscover: %d %s", resp.StatusCode, body)
	}
	if resp, _ := send("GET", "autoconfig.elsewhere.test", autoconfig.PathAutoconfig, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("autoconfig for a domain of no tenant: %d, want 404", resp.StatusCode)
	}
	// The rest of the listener is still the admin center (HTML, its login).
	if resp, body := send("GET", "mail.example.test", "/", ""); strings.Contains(body, "clientConfig") ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") && resp.StatusCode/100 != 3 {
		t.Errorf("GET / = %d %q: not the admin center", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	r := mailgate(t, t.TempDir(), "", "serve", "--submission-addr", "", "--submissions-addr", "", "--mx-addr", "",
		"--imap-addr", "", "--imaps-addr", "", "--metrics-addr", "", "--admin-http-addr", freeAddr(t), "--public-imaps-port", "70000")
	if want := "\nmailgate: --public-imaps-port 70000: want 1-65535"; r.code != 1 || !strings.Contains("\n"+r.err, want) {
		t.Errorf("serve --public-imaps-port 70000: exit %d, stderr %q, want a line %q", r.code, r.err, want[1:])
	}
}
