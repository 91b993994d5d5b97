package autoconfig

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// testConfig is what serve advertises for a node behind the standard
// ports: implicit TLS first (RFC 8314), STARTTLS second.
func testConfig() Config {
	return Config{
		IMAP:        []Server{{"mail.example.test", 993, TLS}, {"mail.example.test", 143, STARTTLS}},
		Submission:  []Server{{"smtp.example.test", 465, TLS}, {"smtp.example.test", 587, STARTTLS}},
		DisplayName: "Example mail",
		Serves:      func(d string) bool { return d == "example.test" || d == "other.example" },
	}
}

// start serves h on 127.0.0.1:0.
func start(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler(cfg))
	t.Cleanup(srv.Close)
	return srv
}

// get sends a GET for path with the given Host header.
func get(t *testing.T, srv *httptest.Server, host, path string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func wantClientConfig(domain, name string) ClientConfig {
	return ClientConfig{Version: "1.1", EmailProvider: EmailProvider{
		ID: domain, Domain: []string{domain}, DisplayName: name, DisplayShortName: name,
		Incoming: []ConfigServer{
			{"imap", "mail.example.test", 993, "SSL", "password-cleartext", "%EMAILADDRESS%"},
			{"imap", "mail.example.test", 143, "STARTTLS", "password-cleartext", "%EMAILADDRESS%"},
		},
		Outgoing: []ConfigServer{
			{"smtp", "smtp.example.test", 465, "SSL", "password-cleartext", "%EMAILADDRESS%"},
			{"smtp", "smtp.example.test", 587, "STARTTLS", "password-cleartext", "%EMAILADDRESS%"},
		},
	}}
}

// parseClientConfig reads a body back as Thunderbird's format, strictly.
func parseClientConfig(t *testing.T, body []byte) ClientConfig {
	t.Helper()
	if !strings.HasPrefix(string(body), xml.Header) {
		t.Errorf("body does not start with the XML declaration: %.60q", body)
	}
	var cc ClientConfig
	if err := xml.Unmarshal(body, &cc); err != nil {
		t.Fatalf("response is not well-formed clientConfig XML: %v\n%s", err, body)
	}
	if cc.XMLName.Local != "clientConfig" || cc.XMLName.Space != "" {
		t.Errorf("root element %v, want clientConfig without namespace", cc.XMLName)
	}
	cc.XMLName = xml.Name{}
	return cc
}

// TestAutoconfigBothURLs: the two URLs Thunderbird tries, with and without
// emailaddress, answer the same document for the domain.
func TestAutoconfigBothURLs(t *testing.T) {
	srv := start(t, testConfig())
	for _, c := range []struct{ host, path, domain string }{
		{"autoconfig.example.test", PathAutoconfig + "?emailaddress=bob%40example.test", "example.test"},
		{"example.test", PathWellKnown + "?emailaddress=bob%40example.test", "example.test"},
		{"autoconfig.example.test", PathAutoconfig, "example.test"},                                  // no address: the Host names the domain
		{"example.test:8443", PathWellKnown, "example.test"},                                         // with a port
		{"AutoConfig.Example.TEST.", PathAutoconfig, "example.test"},                                 // any case, a root dot
		{"mail.example.test", PathAutoconfig + "?emailaddress=Bob%40Other.Example", "other.example"}, // the address wins over Host
	} {
		resp, body := get(t, srv, c.host, c.path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s (Host %s) = %d %s", c.path, c.host, resp.StatusCode, body)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
			t.Errorf("GET %s: Content-Type %q; Thunderbird needs an XML type", c.path, ct)
		}
		if got, want := parseClientConfig(t, body), wantClientConfig(c.domain, "Example mail"); !reflect.DeepEqual(got, want) {
			t.Errorf("GET %s (Host %s) =\n%+v\nwant\n%+v", c.path, c.host, got, want)
		}
	}

	// No display name configured: the domain is the name.
	cfg := testConfig()
	cfg.DisplayName = ""
	resp, body := get(t, start(t, cfg), "example.test", PathWellKnown)
	if resp.StatusCode != http.StatusOK || !reflect.DeepEqual(parseClientConfig(t, body), wantClientConfig("example.test", "example.test")) {
		t.Errorf("without DisplayName: %d %s", resp.StatusCode, body)
	}
}

// TestAutoconfigRefuses: a domain not served here, a bad address, another
// method or path get an HTTP error and no configuration.
func TestAutoconfigRefuses(t *testing.T) {
	srv := start(t, testConfig())
	for _, c := range []struct {
		host, path string
		status     int
	}{
		{"autoconfig.example.test", PathAutoconfig + "?emailaddress=bob%40elsewhere.test", http.StatusNotFound},
		{"autoconfig.elsewhere.test", PathAutoconfig, http.StatusNotFound},
		{"elsewhere.test", PathWellKnown, http.StatusNotFound},
		{"mail.example.test", PathWellKnown, http.StatusNotFound}, // a host name, not the domain
		{"autoconfig.example.test.evil.test", PathAutoconfig, http.StatusNotFound},
		{"127.0.0.1", PathAutoconfig, http.StatusNotFound},
		{"autoconfig.example.test", PathAutoconfig + "?emailaddress=bob", http.StatusBadRequest},
		{"autoconfig.example.test", PathAutoconfig + "?emailaddress=bob%40", http.StatusBadRequest},
		{"autoconfig.example.test", PathAutoconfig + "?emailaddress=bob%40example.test.", http.StatusBadRequest},
		{"autoconfig.example.test", "/mail/config-v1.1.xml/x", http.StatusNotFound},
		{"autoconfig.example.test", "/", http.StatusNotFound},
	} {
		resp, body := get(t, srv, c.host, c.path)
		if resp.StatusCode != c.status {
			t.Errorf("GET %s (Host %s) = %d, want %d", c.path, c.host, resp.StatusCode, c.status)
		}
		if strings.Contains(string(body), "clientConfig") || strings.Contains(string(body), "mail.example.test") {
			t.Errorf("GET %s (Host %s): refusal carries a configuration: %s", c.path, c.host, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+PathAutoconfig+"?emailaddress=bob%40example.test", nil)
	if resp, _ := do(t, req); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST %s = %d Allow %q, want 405 GET, HEAD", PathAutoconfig, resp.StatusCode, resp.Header.Get("Allow"))
	}

	// Nothing to advertise (no IMAP listener): no answer at all.
	cfg := testConfig()
	cfg.IMAP = nil
	if resp, _ := get(t, start(t, cfg), "example.test", PathWellKnown); resp.StatusCode != http.StatusNotFound {
		t.Errorf("no IMAP server: GET = %d, want 404", resp.StatusCode)
	}
	// A nil Serves serves nothing.
	cfg = testConfig()
	cfg.Serves = nil
	if resp, _ := get(t, start(t, cfg), "example.test", PathWellKnown); resp.StatusCode != http.StatusNotFound {
		t.Errorf("nil Serves: GET = %d, want 404", resp.StatusCode)
	}
}

// TestAutoconfigInjection: whatever a client sends, the document stays
// well-formed XML whose text is exactly what was meant, and no header
// carries client text.
func TestAutoconfigInjection(t *testing.T) {
	var asked []string
	cfg := testConfig()
	// Serves everything: the client's domain reaches the document, so
	// its escaping is what is tested.
	cfg.Serves = func(d string) bool { asked = append(asked, d); return true }
	srv := start(t, cfg)
	for _, domain := range []string{`x&amp'y`, `a&b`, `q#&z`, `x'y/z`} {
		resp, body := get(t, srv, "h", PathAutoconfig+"?emailaddress="+url.QueryEscape("bob@"+domain))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("domain %q: %d %s", domain, resp.StatusCode, body)
		}
		cc := parseClientConfig(t, body)
		if cc.EmailProvider.ID != domain || !reflect.DeepEqual(cc.EmailProvider.Domain, []string{domain}) {
			t.Errorf("domain %q came back as id %q, domain %q", domain, cc.EmailProvider.ID, cc.EmailProvider.Domain)
		}
		if len(cc.EmailProvider.Incoming) != 2 || cc.EmailProvider.Incoming[0].Hostname != "mail.example.test" {
			t.Errorf("domain %q changed the servers: %+v", domain, cc.EmailProvider.Incoming)
		}
	}
	// Markup, quotes and line breaks in the address are refused before
	// anything is looked up.
	asked = nil
	for _, addr := range []string{`bob@example.test"><incomingServer type="imap">`, "bob@example.test\r\nX-Evil: 1",
		`<bob@example.test>`, "bob@exa mple.test", "bob@example.test\x00"} {
		resp, body := get(t, srv, "autoconfig.example.test", PathAutoconfig+"?emailaddress="+url.QueryEscape(addr))
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("emailaddress %q = %d %s, want 400", addr, resp.StatusCode, body)
		}
		if resp.Header.Get("X-Evil") != "" || strings.Contains(string(body), "incomingServer") {
			t.Errorf("emailaddress %q reached the answer: %v %s", addr, resp.Header, body)
		}
	}
	if len(asked) != 0 {
		t.Errorf("refused addresses reached Serves: %q", asked)
	}
}

// TestHandlerCopiesConfig: the servers are fixed when Handler is built.
func TestHandlerCopiesConfig(t *testing.T) {
	cfg := testConfig()
	srv := start(t, cfg)
	cfg.IMAP[0].Host = "changed.test"
	_, body := get(t, srv, "example.test", PathWellKnown)
	if got := parseClientConfig(t, body).EmailProvider.Incoming[0].Hostname; got != "mail.example.test" {
		t.Errorf("after changing the caller's slice the answer names %q", got)
	}
}

func TestIsPath(t *testing.T) {
	for p, want := range map[string]bool{
		PathAutoconfig: true, PathWellKnown: true, PathAutodiscover: true, "/Autodiscover/Autodiscover.xml": true,
		"/": false, "/mail/": false, "/.well-known/autoconfig/": false, "/autodiscover/": false, "/MAIL/config-v1.1.xml": false,
	} {
		if got := IsPath(p); got != want {
			t.Errorf("IsPath(%q) = %v, want %v", p, got, want)
		}
	}
}
