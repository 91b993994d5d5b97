package autoconfig

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// thunderbirdBody is the request Thunderbird 153 sends
// (ExchangeAutoDiscover.sys.mjs), with the address spliced in as it does.
func thunderbirdBody(addr string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
    <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
      <Request>
        <EMailAddress>` + addr + `</EMailAddress>
        <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
      </Request>
    </Autodiscover>`
}

// parsedAutodiscover is the response read back with its namespaces.
type parsedAutodiscover struct {
	XMLName  xml.Name
	Response struct {
		XMLName xml.Name
		Account *struct {
			XMLName     xml.Name
			AccountType string
			Action      string
			Protocol    []Protocol
		}
		Error *AutodiscoverError
	} `xml:"Response"`
}

func post(t *testing.T, srv *httptest.Server, path, body string) (*http.Response, parsedAutodiscover) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	return parseAutodiscover(t, req)
}

func parseAutodiscover(t *testing.T, req *http.Request) (*http.Response, parsedAutodiscover) {
	t.Helper()
	resp, raw := do(t, req)
	var p parsedAutodiscover
	if err := xml.Unmarshal(raw, &p); err != nil {
		t.Fatalf("%s %s: response is not well-formed XML: %v\n%s", req.Method, req.URL.Path, err, raw)
	}
	if p.XMLName != (xml.Name{Space: NSResponse, Local: "Autodiscover"}) {
		t.Errorf("%s %s: root %v, want Autodiscover in %s", req.Method, req.URL.Path, p.XMLName, NSResponse)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
		t.Errorf("%s %s: Content-Type %q", req.Method, req.URL.Path, ct)
	}
	return resp, p
}

func wantProtocols(login string) []Protocol {
	p := func(typ, host string, port int, enc string) Protocol {
		return Protocol{Type: typ, Server: host, Port: port, LoginName: login, DomainRequired: "off",
			SPA: "off", SSL: "on", Encryption: enc, AuthRequired: "on"}
	}
	return []Protocol{
		p("IMAP", "mail.example.test", 993, "SSL"), p("IMAP", "mail.example.test", 143, "TLS"),
		p("SMTP", "smtp.example.test", 465, "SSL"), p("SMTP", "smtp.example.test", 587, "TLS"),
	}
}

// checkSettings: a settings answer in the outlook 2006a schema naming
// every server, LoginName the address.
func checkSettings(t *testing.T, what string, resp *http.Response, p parsedAutodiscover, login string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s = %d, error %+v", what, resp.StatusCode, p.Response.Error)
	}
	if p.Response.XMLName != (xml.Name{Space: NSOutlookResponse, Local: "Response"}) {
		t.Errorf("%s: Response element %v, want it in %s", what, p.Response.XMLName, NSOutlookResponse)
	}
	a := p.Response.Account
	if a == nil || p.Response.Error != nil {
		t.Fatalf("%s: no Account (error %+v)", what, p.Response.Error)
	}
	if a.XMLName.Space != NSOutlookResponse || a.AccountType != "email" || a.Action != "settings" {
		t.Errorf("%s: Account %v type %q action %q", what, a.XMLName, a.AccountType, a.Action)
	}
	if want := wantProtocols(login); !reflect.DeepEqual(a.Protocol, want) {
		t.Errorf("%s: Protocol =\n%+v\nwant\n%+v", what, a.Protocol, want)
	}
}

// checkError: an Error answer with the HTTP status and [MS-OXDSCLI] code.
func checkError(t *testing.T, what string, resp *http.Response, p parsedAutodiscover, status, code int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s = %d, want %d", what, resp.StatusCode, status)
	}
	e := p.Response.Error
	if e == nil || p.Response.Account != nil {
		t.Fatalf("%s: want an Error and no Account, got %+v", what, p.Response)
	}
	if p.Response.XMLName.Space != NSResponse || e.ErrorCode != code || e.Message == "" || len(e.ID) != 8 || len(e.Time) != len("15:04:05.0000000") {
		t.Errorf("%s: Error %+v in %q, want code %d with a message, Id and Time", what, e, p.Response.XMLName.Space, code)
	}
}

func TestAutodiscoverThunderbirdRequest(t *testing.T) {
	srv := start(t, testConfig())
	for _, path := range []string{PathAutodiscover, "/Autodiscover/Autodiscover.xml", "/AUTODISCOVER/autodiscover.XML"} {
		resp, p := post(t, srv, path, thunderbirdBody("bob@example.test"))
		checkSettings(t, "POST "+path, resp, p, "bob@example.test")
	}
	// Outlook's own request: the address in another case, no XML
	// declaration, the request namespace on the root only.
	resp, p := post(t, srv, PathAutodiscover, `<Autodiscover xmlns="`+NSRequest+`"><Request>`+
		`<EMailAddress> Bob@Example.TEST </EMailAddress><AcceptableResponseSchema>`+NSOutlookResponse+
		`</AcceptableResponseSchema></Request></Autodiscover>`)
	checkSettings(t, "POST (Outlook form)", resp, p, "bob@example.test")
	// No schema named: the outlook one.
	resp, p = post(t, srv, PathAutodiscover, `<Autodiscover><Request><EMailAddress>bob@other.example</EMailAddress></Request></Autodiscover>`)
	checkSettings(t, "POST (no schema)", resp, p, "bob@other.example")

	req, _ := http.NewRequest(http.MethodGet, srv.URL+PathAutodiscover+"?emailaddress=bob%40example.test", nil)
	resp, p = parseAutodiscover(t, req)
	checkSettings(t, "GET ?emailaddress", resp, p, "bob@example.test")
}

func TestAutodiscoverRefuses(t *testing.T) {
	srv := start(t, testConfig())
	for _, c := range []struct {
		name, body   string
		status, code int
	}{
		{"unknown domain", thunderbirdBody("bob@elsewhere.test"), http.StatusNotFound, ErrCodeNotFound},
		{"bad XML", `<Autodiscover><Request><EMailAddress>bob@example.test</Request>`, http.StatusBadRequest, ErrCodeInvalidRequest},
		{"not XML", `{"EMailAddress": "bob@example.test"}`, http.StatusBadRequest, ErrCodeInvalidRequest},
		{"empty body", ``, http.StatusBadRequest, ErrCodeInvalidRequest},
		{"another root", `<Discover><Request><EMailAddress>bob@example.test</EMailAddress></Request></Discover>`, http.StatusBadRequest, ErrCodeInvalidRequest},
		{"no address", `<Autodiscover><Request/></Autodiscover>`, http.StatusBadRequest, ErrCodeInvalidRequest},
		{"bad address", thunderbirdBody("bob"), http.StatusBadRequest, ErrCodeInvalidRequest},
		{"mobilesync schema", `<Autodiscover><Request><EMailAddress>bob@example.test</EMailAddress><AcceptableResponseSchema>` +
			`http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006</AcceptableResponseSchema></Request></Autodiscover>`,
			http.StatusBadRequest, ErrCodeNoProvider},
		{"entity", `<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><Autodiscover><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>`,
			http.StatusBadRequest, ErrCodeInvalidRequest},
		{"too large", `<Autodiscover><Request><EMailAddress>bob@example.test</EMailAddress>` + strings.Repeat("<x/>", 20000) +
			`</Request></Autodiscover>`, http.StatusRequestEntityTooLarge, ErrCodeInvalidRequest},
	} {
		resp, p := post(t, srv, PathAutodiscover, c.body)
		checkError(t, c.name, resp, p, c.status, c.code)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+PathAutodiscover, nil)
	resp, p := parseAutodiscover(t, req)
	checkError(t, "GET without address", resp, p, http.StatusBadRequest, ErrCodeInvalidRequest)

	req, _ = http.NewRequest(http.MethodPut, srv.URL+PathAutodiscover, strings.NewReader(thunderbirdBody("bob@example.test")))
	if resp, _ := do(t, req); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT = %d Allow %q, want 405 GET, POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestAutodiscoverInjection: markup in EMailAddress is refused; what an
// address may hold comes back as the same text, in well-formed XML.
func TestAutodiscoverInjection(t *testing.T) {
	srv := start(t, testConfig())
	for _, addr := range []string{
		`bob@example.test&lt;/LoginName&gt;&lt;SSL&gt;off&lt;/SSL&gt;`, // escaped markup in the text
		`<![CDATA[bob@example.test</LoginName><SSL>off</SSL>]]>`,
		`bob@example.test&#13;&#10;X-Evil: 1`,
		`"bob"@example.test`,
	} {
		resp, p := post(t, srv, PathAutodiscover, thunderbirdBody(addr))
		checkError(t, "EMailAddress "+addr, resp, p, http.StatusBadRequest, ErrCodeInvalidRequest)
		if resp.Header.Get("X-Evil") != "" {
			t.Errorf("EMailAddress %q set a header", addr)
		}
	}

	cfg := testConfig()
	cfg.Serves = func(string) bool { return true }
	srv = start(t, cfg)
	for _, c := range []struct{ sent, login string }{
		{`o'brien&amp;co@x&amp;y.test`, `o'brien&co@x&y.test`},
		{`{x}|y/z%@example.test`, `{x}|y/z%@example.test`},
	} {
		resp, p := post(t, srv, PathAutodiscover, thunderbirdBody(c.sent))
		checkSettings(t, "EMailAddress "+c.sent, resp, p, c.login)
	}
}
