package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestMailboxSetDelegatesSeePrivate: `mailbox set --delegates-see-private`
// on a running server changes what bob (Full Access on alice in the demo)
// reads of alice's CLASS:PRIVATE event over CalDAV, from his next request:
// busy time only by default, in full with true, busy only again with
// false; a bad value is a usage error.
func TestMailboxSetDelegatesSeePrivate(t *testing.T) {
	data := t.TempDir()
	davAddr := freeAddr(t)
	s := startServer(t, data, "--demo", "--dav-addr", davAddr)
	defer s.stop(t)
	alicePw, bobPw := demoPassword(t, data, "alice@example.test"), demoPassword(t, data, "bob@example.test")
	const event = "/dav/alice@example.test/calendars/default/doctor.ics"
	ics := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailgate//test//EN\r\nBEGIN:VEVENT\r\nUID:doctor\r\n" +
		"DTSTAMP:20261201T080000Z\r\nDTSTART:20261203T100000Z\r\nDTEND:20261203T110000Z\r\nCLASS:PRIVATE\r\n" +
		"SUMMARY:Doctor\r\nLOCATION:Clinic\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	if code, body, _ := davDo(t, data, davAddr, "alice@example.test", alicePw, http.MethodPut, event, ics); code != http.StatusCreated {
		t.Fatalf("alice: PUT = %d %s", code, body)
	}
	bobSees := func(how string, full bool) {
		t.Helper()
		code, body, _ := davDo(t, data, davAddr, "bob@example.test", bobPw, http.MethodGet, event, "")
		if code != http.StatusOK || strings.Contains(body, "Clinic") != full || !strings.Contains(body, "UID:doctor") {
			t.Errorf("%s: bob's GET = %d (want the details %t):\n%s", how, code, full, body)
		}
	}
	bobSees("by default", false)
	if out := ok(t, data, "mailbox", "set", "alice@example.test", "--delegates-see-private=true"); !strings.Contains(out, "delegates-see-private on") {
		t.Errorf("mailbox set --delegates-see-private=true: %q", out)
	}
	bobSees("set on", true)
	ok(t, data, "mailbox", "set", "alice@example.test", "--delegates-see-private", "false")
	bobSees("set off", false)
	fails(t, data, "want on or off", "mailbox", "set", "alice@example.test", "--delegates-see-private", "maybe")
}
