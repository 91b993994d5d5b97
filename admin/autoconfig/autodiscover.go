package autoconfig

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The namespaces of [MS-OXDSCLI]'s request and response.
const (
	NSRequest         = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	NSResponse        = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	NSOutlookResponse = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

// AutodiscoverRequest is the POX request body ([MS-OXDSCLI]):
// <Autodiscover><Request><EMailAddress/><AcceptableResponseSchema/></Request></Autodiscover>.
// Element names are matched in any namespace: clients differ.
type AutodiscoverRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

// AutodiscoverResponse is the POX response ([MS-OXDSCLI]): the
// Autodiscover element in NSResponse holding a Response that is either
// the account's settings (in NSOutlookResponse) or an Error (in NSResponse).
type AutodiscoverResponse struct {
	XMLName  xml.Name             `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response autodiscoverResponse `xml:"Response"`
}

type autodiscoverResponse struct {
	XMLName xml.Name
	Account *Account           `xml:"Account,omitempty"`
	Error   *AutodiscoverError `xml:"Error,omitempty"`
}

// Account is a settings answer: AccountType email, Action settings and
// one Protocol per server.
type Account struct {
	AccountType string     `xml:"AccountType"`
	Action      string     `xml:"Action"`
	Protocol    []Protocol `xml:"Protocol"`
}

// Protocol is one server: [MS-OXDSCLI]'s Protocol element for IMAP or SMTP.
type Protocol struct {
	Type           string `xml:"Type"` // IMAP, SMTP
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	LoginName      string `xml:"LoginName"`
	DomainRequired string `xml:"DomainRequired"` // off: the login is the whole address
	SPA            string `xml:"SPA"`            // off: no NTLM, a plain password inside TLS
	SSL            string `xml:"SSL"`            // on: encryption required
	Encryption     string `xml:"Encryption"`     // SSL (implicit TLS) or TLS (STARTTLS)
	AuthRequired   string `xml:"AuthRequired"`   // on: submission needs AUTH
}

// AutodiscoverError is an error answer ([MS-OXDSCLI]'s Error element). Id is
// the request's ID in the server log.
type AutodiscoverError struct {
	Time      string `xml:"Time,attr"`
	ID        string `xml:"Id,attr"`
	ErrorCode int    `xml:"ErrorCode"`
	Message   string `xml:"Message"`
	DebugData string `xml:"DebugData"`
}

// The [MS-OXDSCLI] error codes (ErrorCode element) this server gives.
const (
	ErrCodeNotFound       = 500 // the address cannot be found (a domain not served here)
	ErrCodeInvalidRequest = 600 // the XML request was improperly formatted
	ErrCodeNoProvider     = 601 // no configuration of the requested type (schema)
)

// protocols turns servers into Protocol entries. [MS-OXDSCLI] has SSL
// (on/off) and Encryption (None, SSL, TLS, Auto; it overrides SSL when
// present): Encryption SSL is implicit TLS, TLS is STARTTLS, as Outlook's
// own account settings name them. Thunderbird reads only "SSL off" or
// "Encryption None" (plain) and otherwise guesses STARTTLS from the
// standard ports 143 and 587 and implicit TLS from any other, so a
// STARTTLS server on a non-standard port is misread there; Outlook, the
// client this format is for, reads Encryption.
func protocols(typ, login string, servers []Server) []Protocol {
	out := make([]Protocol, 0, len(servers))
	for _, s := range servers {
		enc := "SSL"
		if s.Security == STARTTLS {
			enc = "TLS"
		}
		out = append(out, Protocol{Type: typ, Server: s.Host, Port: s.Port, LoginName: login,
			DomainRequired: "off", SPA: "off", SSL: "on", Encryption: enc, AuthRequired: "on"})
	}
	return out
}

// autodiscover answers POST /autodiscover/autodiscover.xml with a POX
// request body, and GET with ?emailaddress=ADDR (for a quick check with
// a browser or curl).
func (h *handler) autodiscover(w http.ResponseWriter, r *http.Request) {
	id := requestID()
	fail := func(status, code int, msg string, err error) {
		h.log.Debug("autodiscover", "proto", "http", "session", id, "status", status, "err", err)
		h.writeXML(w, status, AutodiscoverResponse{Response: autodiscoverResponse{
			XMLName: xml.Name{Space: NSResponse, Local: "Response"},
			Error: &AutodiscoverError{Time: time.Now().UTC().Format("15:04:05.0000000"), ID: id,
				ErrorCode: code, Message: msg},
		}})
	}
	var req AutodiscoverRequest
	switch r.Method {
	case http.MethodPost:
		dec := xml.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
		if err := dec.Decode(&req); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				fail(http.StatusRequestEntityTooLarge, ErrCodeInvalidRequest, "Invalid Request", err)
				return
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("empty body")
			}
			fail(http.StatusBadRequest, ErrCodeInvalidRequest, "Invalid Request", fmt.Errorf("parse request: %w", err))
			return
		}
	case http.MethodGet:
		req.Request.EMailAddress = r.URL.Query().Get("emailaddress")
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed: use POST", http.StatusMethodNotAllowed)
		return
	}
	// Outlook asks for the outlook schema; ActiveSync devices ask for
	// the mobilesync one, which mailgate does not offer.
	if s := req.Request.AcceptableResponseSchema; s != "" && s != NSOutlookResponse {
		fail(http.StatusBadRequest, ErrCodeNoProvider, "Provider is not available for the requested schema", fmt.Errorf("schema %q", s))
		return
	}
	if req.Request.EMailAddress == "" {
		fail(http.StatusBadRequest, ErrCodeInvalidRequest, "Invalid Request", errors.New("no EMailAddress"))
		return
	}
	login, d, err := address(req.Request.EMailAddress)
	if err != nil {
		fail(http.StatusBadRequest, ErrCodeInvalidRequest, "Invalid Request", err)
		return
	}
	domain, ok := h.served(d)
	if !ok || len(h.cfg.IMAP) == 0 {
		fail(http.StatusNotFound, ErrCodeNotFound, "The e-mail address cannot be found.", fmt.Errorf("domain %q not served", domain))
		return
	}
	// The login is the normalised address, never the raw request text.
	acct := &Account{AccountType: "email", Action: "settings",
		Protocol: append(protocols("IMAP", login, h.cfg.IMAP), protocols("SMTP", login, h.cfg.Submission)...)}
	h.log.Debug("autodiscover", "proto", "http", "session", id, "domain", domain, "status", http.StatusOK)
	h.writeXML(w, http.StatusOK, AutodiscoverResponse{Response: autodiscoverResponse{
		XMLName: xml.Name{Space: NSOutlookResponse, Local: "Response"}, Account: acct}})
}
