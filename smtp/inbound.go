package smtp

import (
	"strings"

	"github.com/emersion/go-message/textproto"

	"github.com/mailgate/mailgate/delegation"
)

// markInbound prepares an inbound (MX) header: Authentication-Results
// fields that claim to come from us are removed (RFC 8601 §5), and when the
// From names a local domain, which no outside server may legitimately send
// for, a result saying so is added for clients and filters to act on.
func markInbound(h *textproto.Header, dir *delegation.Directory, hostname string) {
	for fs := h.FieldsByKey("Authentication-Results"); fs.Next(); {
		id, _, _ := strings.Cut(fs.Value(), ";")
		if strings.EqualFold(strings.TrimSpace(id), hostname) {
			fs.Del()
		}
	}
	list, err := addressParser.ParseList(h.Get("From"))
	if err != nil {
		return
	}
	for _, a := range list {
		norm, err := delegation.NormalizeAddress(a.Address)
		if err != nil || !dir.IsLocalDomain(delegation.Domain(norm)) {
			continue
		}
		addField(h, "Authentication-Results", hostname+"; x-local-from=fail"+
			" (local From address received from outside, not authenticated) header.from="+delegation.Domain(norm))
		return
	}
}
