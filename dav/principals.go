package dav

import (
	"encoding/xml"

	"github.com/mailgate/mailgate/delegation"
)

// Discovery for delegates. go-webdav answers PROPFIND of the login's own
// principal only; the principal of an owner the user reaches (effective
// Full Access) is answered here, so a client given the owner's URL finds
// the owner's calendar home set. And the login's own principal lists, in
// calendarserver.org's calendar-proxy-write-for and DAV:group-membership,
// the mailboxes it has Full Access to (filled into go-webdav's answer by
// props.go; proxy.go has the proxy principals and expand-property), so
// clients that read them (Apple Calendar's "Delegates", DAVx5) offer them.

const nsCalServer = "http://calendarserver.org/ns/"

type propfindRequest struct {
	XMLName xml.Name  `xml:"DAV: propfind"`
	AllProp *struct{} `xml:"DAV: allprop"`
	Prop    struct {
		Names []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"DAV: prop"`
}

func href(p string) string { return "<D:href>" + escape(hrefOf(p)) + "</D:href>" }

func displayName(p *delegation.Principal) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Address
}
