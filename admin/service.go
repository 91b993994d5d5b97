// Package admin is mailgate's administration API: one Service whose
// operations the CLI calls either in-process (no server running) or through
// the running server's unix socket (HTTP+JSON), so the same code runs both
// ways.
//
// It imports storage and delegation; it must not import smtp, imap or cmd.
package admin

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// Store is what the admin operations need of a store: the directory
// contract, the store's clock (propagation delays are shown as exact
// times on it) and a consistent backup. Both backends provide it.
type Store interface {
	storage.DirectoryStore
	storage.AdminStore
	storage.Calendars
	Now() time.Time
	// Backup writes a consistent copy of the database to w; a backend
	// that is backed up by its own tools says so with ErrInvalid.
	Backup(w io.Writer) error
}

// Service implements every admin operation on a store.
type Service struct {
	st  Store
	log *slog.Logger
}

// New returns a Service over st.
func New(st Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, log: log}
}

// Error is the one error type of the API: a message fit for the user and
// an HTTP status.
type Error struct {
	Status int    `json:"-"`
	Msg    string `json:"error"`
	// Lines are an import's bad lines (Msg lists them too).
	Lines []storage.LineError `json:"lines,omitempty"`
}

func (e *Error) Error() string { return e.Msg }

// apiError maps storage errors to API errors; unexpected ones are logged
// and reported without internals.
func (s *Service) apiError(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var se *storage.Error
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, storage.ErrExists):
		status = http.StatusConflict
	case errors.Is(err, storage.ErrInvalid):
		status = http.StatusBadRequest
	}
	if status != http.StatusInternalServerError && errors.As(err, &se) {
		return &Error{Status: status, Msg: se.Msg}
	}
	if status != http.StatusInternalServerError {
		return &Error{Status: status, Msg: err.Error()}
	}
	s.log.Error("admin operation failed", "op", op, "err", err)
	return &Error{Status: status, Msg: op + ": internal error (see the server log)"}
}

func badRequest(format string, a ...any) error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, a...)}
}

// Duration is a time.Duration that reads and writes as "60m0s" in JSON.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: use e.g. 60m, 1h30m or 0s", b)
	}
	*d = Duration(v)
	return nil
}

// TenantView is a tenant as the API shows it.
type TenantView struct {
	Domain      string   `json:"domain"`
	Propagation Duration `json:"propagation"`
	Users       int      `json:"users"`
}

// PrincipalView is a user, shared mailbox or group as the API shows it.
type PrincipalView struct {
	ID       delegation.ID           `json:"id"`
	Kind     delegation.Kind         `json:"kind"`
	Address  string                  `json:"address"`
	Aliases  []string                `json:"aliases,omitempty"`
	Name     string                  `json:"name,omitempty"`
	Tenant   string                  `json:"tenant"`
	Members  []string                `json:"members,omitempty"`
	Settings storage.MailboxSettings `json:"settings"`
	Created  time.Time               `json:"created"`
}

func (s *Service) view(p storage.Principal) PrincipalView {
	d := s.st.Directory()
	v := PrincipalView{ID: p.ID, Kind: p.Kind, Address: p.Address, Aliases: p.Aliases, Name: p.Name,
		Tenant: p.Tenant, Settings: p.Settings, Created: p.CreatedAt}
	for _, m := range p.Members {
		if mp, ok := d.Principal(m); ok {
			v.Members = append(v.Members, mp.Address)
		}
	}
	return v
}

// GrantView is a grant with addresses and its state at the time of asking.
type GrantView struct {
	ID          string           `json:"id"`
	Mailbox     string           `json:"mailbox"`
	Trustee     string           `json:"trustee"`
	TrusteeKind delegation.Kind  `json:"trustee_kind"`
	Right       delegation.Right `json:"right"`
	Created     time.Time        `json:"created"`
	EffectiveAt time.Time        `json:"effective_at"`
	Until       time.Time        `json:"until,omitzero"` // a time-boxed grant's end (exclusive)
	State       string           `json:"state"`          // effective, pending or expired; revoked once removed
	CreatedBy   string           `json:"created_by,omitempty"`
}

func (s *Service) grantView(g delegation.Grant, now time.Time) GrantView {
	d := s.st.Directory()
	v := GrantView{ID: g.ID, Right: g.Right, Created: g.CreatedAt, EffectiveAt: g.EffectiveAt, Until: g.Until, CreatedBy: g.CreatedBy,
		State: string(g.State(now))}
	if p, ok := d.Principal(g.Mailbox); ok {
		v.Mailbox = p.Address
	}
	if p, ok := d.Principal(g.Trustee); ok {
		v.Trustee, v.TrusteeKind = p.Address, p.Kind
	}
	return v
}
