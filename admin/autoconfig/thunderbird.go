package autoconfig

import (
	"encoding/xml"
	"net/http"
)

// ClientConfig is Thunderbird's clientConfig file, version 1.1
// (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat):
// the part of it that mailgate writes.
type ClientConfig struct {
	XMLName       xml.Name      `xml:"clientConfig"`
	Version       string        `xml:"version,attr"`
	EmailProvider EmailProvider `xml:"emailProvider"`
}

// EmailProvider is one provider: the domain it serves and its servers,
// the preferred one first.
type EmailProvider struct {
	ID               string         `xml:"id,attr"`
	Domain           []string       `xml:"domain"`
	DisplayName      string         `xml:"displayName"`
	DisplayShortName string         `xml:"displayShortName"`
	Incoming         []ConfigServer `xml:"incomingServer"`
	Outgoing         []ConfigServer `xml:"outgoingServer"`
}

// ConfigServer is an incomingServer or outgoingServer element.
type ConfigServer struct {
	Type           string `xml:"type,attr"` // imap, smtp
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`     // SSL, STARTTLS
	Authentication string `xml:"authentication"` // password-cleartext
	Username       string `xml:"username"`       // %EMAILADDRESS%
}

// usernameAddress is Thunderbird's placeholder for the address the user
// typed: mailgate logins are the full address.
const usernameAddress = "%EMAILADDRESS%"

// configServers turns servers into clientConfig elements of type typ.
func configServers(typ string, servers []Server) []ConfigServer {
	out := make([]ConfigServer, 0, len(servers))
	for _, s := range servers {
		st := "SSL" // the format's name for implicit TLS
		if s.Security == STARTTLS {
			st = "STARTTLS"
		}
		// password-cleartext: the password is sent as is (AUTH PLAIN,
		// LOGIN) inside TLS; mailgate has no challenge-response mechanism.
		out = append(out, ConfigServer{Type: typ, Hostname: s.Host, Port: s.Port, SocketType: st,
			Authentication: "password-cleartext", Username: usernameAddress})
	}
	return out
}

// autoconfig answers GET /mail/config-v1.1.xml?emailaddress=ADDR (asked at
// autoconfig.<domain>) and /.well-known/autoconfig/mail/config-v1.1.xml
// (asked at <domain>). The domain comes from emailaddress when given
// (Thunderbird sends it unless told not to), else from the Host header.
func (h *handler) autoconfig(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: use GET", http.StatusMethodNotAllowed)
		return
	}
	id := requestID()
	var domain string
	var ok bool
	if addr := r.URL.Query().Get("emailaddress"); addr != "" {
		_, d, err := address(addr)
		if err != nil {
			h.log.Debug("autoconfig", "proto", "http", "session", id, "status", http.StatusBadRequest, "err", err)
			http.Error(w, "bad emailaddress: want local@domain", http.StatusBadRequest)
			return
		}
		domain, ok = h.served(d)
	} else {
		domain, ok = h.hostDomain(r.Host)
	}
	if !ok || len(h.cfg.IMAP) == 0 {
		h.log.Debug("autoconfig", "proto", "http", "session", id, "domain", domain, "status", http.StatusNotFound)
		http.Error(w, "no configuration for this domain here", http.StatusNotFound)
		return
	}
	name := h.cfg.DisplayName
	if name == "" {
		name = domain
	}
	cc := ClientConfig{Version: "1.1", EmailProvider: EmailProvider{
		ID: domain, Domain: []string{domain}, DisplayName: name, DisplayShortName: name,
		Incoming: configServers("imap", h.cfg.IMAP),
		Outgoing: configServers("smtp", h.cfg.Submission),
	}}
	h.log.Debug("autoconfig", "proto", "http", "session", id, "domain", domain, "status", http.StatusOK)
	h.writeXML(w, http.StatusOK, cc)
}
