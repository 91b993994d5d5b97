package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

type demoLogin struct{ Address, Password, Role string }

const demoDomain = "example.test"

// seedDemo creates the demo tenant once (idempotent: a second start reuses
// it and the saved logins) and returns its logins.
func seedDemo(ctx context.Context, st storage.Backend, svc *admin.Service, data string) ([]demoLogin, error) {
	file := filepath.Join(data, "demo-logins.txt")
	if _, ok := st.Directory().Tenant(demoDomain); ok {
		return readLogins(file)
	}
	zero := admin.Duration(0)
	if _, err := svc.TenantAdd(ctx, admin.TenantArgs{Domain: demoDomain, Propagation: &zero}); err != nil {
		return nil, err
	}
	users := []demoLogin{
		{"alice@" + demoDomain, "", "owner of the delegated mailbox"},
		{"bob@" + demoDomain, "", "Full Access + Send As on alice; member of sales"},
		{"carol@" + demoDomain, "", "Send on Behalf on alice; member of sales"},
		{"dave@" + demoDomain, "", "no rights"},
	}
	names := []string{"Alice Example", "Bob Example", "Carol Example", "Dave Example"}
	for i := range users {
		users[i].Password = randomPassword()
		if _, err := svc.UserAdd(ctx, admin.PrincipalArgs{Address: users[i].Address, Name: names[i], Password: users[i].Password}); err != nil {
			return nil, err
		}
	}
	steps := []func() error{
		func() error {
			_, err := svc.SharedAdd(ctx, admin.PrincipalArgs{Address: "info@" + demoDomain, Name: "Example Info"})
			return err
		},
		func() error {
			_, err := svc.GroupAdd(ctx, admin.PrincipalArgs{Address: "sales@" + demoDomain, Name: "Sales"})
			return err
		},
	}
	for _, m := range []string{"bob", "carol"} {
		steps = append(steps, func() error {
			_, err := svc.GroupMemberAdd(ctx, admin.MemberArgs{Group: "sales@" + demoDomain, Member: m + "@" + demoDomain})
			return err
		})
	}
	for _, g := range []struct{ mailbox, trustee, right string }{
		{"alice", "bob", "full-access"}, {"alice", "bob", "send-as"}, {"alice", "carol", "send-on-behalf"},
		{"info", "sales", "full-access"}, {"info", "sales", "send-as"},
	} {
		steps = append(steps, func() error {
			_, err := svc.GrantAdd(ctx, admin.GrantArgs{Mailbox: g.mailbox + "@" + demoDomain, Trustee: g.trustee + "@" + demoDomain,
				Right: g.right, Now: true, By: "demo"})
			return err
		})
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	if err := welcome(st); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("# mailgate demo logins (address, password, role)\n")
	for _, u := range users {
		fmt.Fprintf(&b, "%s\t%s\t%s\n", u.Address, u.Password, u.Role)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	return users, nil
}

func readLogins(file string) ([]demoLogin, error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return nil, nil // seeded before, logins file removed: nothing to print
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []demoLogin
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "\t", 3)
		if len(parts) == 3 && !strings.HasPrefix(parts[0], "#") {
			out = append(out, demoLogin{parts[0], parts[1], parts[2]})
		}
	}
	return out, sc.Err()
}

func randomPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	b := make([]byte, 14)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:9]) + "-" + string(b[9:])
}

// welcome delivers a few messages so that a new user has something to open.
func welcome(st storage.Backend) error {
	d := st.Directory()
	now := st.Now().UTC()
	msgs := []struct{ to, from, subject, body string }{
		{"alice", "info", "Welcome to mailgate", "Hello Alice,\r\n\r\nBob has Full Access to your mailbox and may send as you;\r\nCarol may send on your behalf. Try it: log in as bob and open\r\nOther Users/alice@example.test/INBOX.\r\n"},
		{"alice", "dave", "Lunch on Friday?", "Are you free on Friday at noon?\r\n\r\nDave\r\n"},
		{"info", "alice", "Price list request", "Hi, could someone from sales send our customer the price list?\r\n"},
	}
	for i, m := range msgs {
		to, _ := d.Lookup(m.to + "@" + demoDomain)
		from, _ := d.Lookup(m.from + "@" + demoDomain)
		raw := fmt.Sprintf("From: %s <%s>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <demo-%d@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s",
			from.Name, from.Address, to.Address, m.subject, now.Format(time.RFC1123Z), i, demoDomain, m.body)
		if _, err := st.Deliver(storage.Delivery{Message: []byte(raw), Targets: []storage.Target{{Owner: to.ID}}}); err != nil {
			return err
		}
	}
	for _, p := range d.Principals() {
		if p.Kind != delegation.KindGroup {
			if err := st.EnsureDefaultFolders(p.ID); err != nil {
				return err
			}
		}
	}
	return nil
}
