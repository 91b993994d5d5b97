package admin

import (
	"context"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// AdminArgs names an administrator and its scope: one tenant, or Global.
type AdminArgs struct {
	Address string `json:"address"`
	Tenant  string `json:"tenant,omitempty"`
	Global  bool   `json:"global,omitempty"`
}

// AdminAdd makes a user an administrator of the web admin center (a
// tenant's, or a global one); a user has one role, the last one given.
func (s *Service) AdminAdd(_ context.Context, a AdminArgs) (storage.Admin, error) {
	if a.Global == (a.Tenant != "") {
		return storage.Admin{}, badRequest("give either --tenant DOMAIN or --global")
	}
	ad, err := s.st.SetAdmin(a.Address, a.Tenant)
	return ad, s.apiError("admin add", err)
}

// AdminRemove takes the administrator role away.
func (s *Service) AdminRemove(_ context.Context, a AdminArgs) (storage.Admin, error) {
	ad, err := s.st.RemoveAdmin(a.Address)
	return ad, s.apiError("admin remove", err)
}

// AdminList lists the administrators.
func (s *Service) AdminList(_ context.Context, _ ListArgs) ([]storage.Admin, error) {
	as, err := s.st.Admins()
	return as, s.apiError("admin list", err)
}

// AdminRole is the administrator role of the principal id, if it has one.
func (s *Service) AdminRole(id delegation.ID) (storage.Admin, bool, error) {
	as, err := s.st.Admins()
	if err != nil {
		return storage.Admin{}, false, s.apiError("admin role", err)
	}
	for _, a := range as {
		if a.ID == id {
			return a, true, nil
		}
	}
	return storage.Admin{}, false, nil
}

// Directory is the directory snapshot the operations decide on.
func (s *Service) Directory() *delegation.Directory { return s.st.Directory() }

// Now is the store's clock (grants' effective times are on it).
func (s *Service) Now() time.Time { return s.now() }

// AuditBy records that actor (an administrator of the web admin center)
// made a change to the directory: the store's own record of the change
// names the "admin" channel, as for the CLI; this one names the person.
// Grant changes name them in the store's record already (GrantArgs.By).
func (s *Service) AuditBy(actor storage.Party, action, mailbox, detail string) error {
	m := storage.Party{Address: mailbox}
	if p, ok := s.st.Directory().Lookup(mailbox); ok {
		m = storage.PartyOf(p)
	}
	rec := storage.NewAuditRecord(nil, "web", action, actor, m, delegation.Decision{Allowed: true})
	rec.Detail = detail
	return s.apiError("audit", s.st.Audit(rec))
}
