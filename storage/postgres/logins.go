package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Login outcomes for failed-login throttling across nodes (storage/auth):
// each node's Authenticator publishes every outcome on loginChannel, and
// every other node adds it to its own counters. It is a notice, not a
// log: an outcome sent while a node's listening connection is down is not
// counted there (that node still counts its own).
const loginChannel = "mailgate_login"

type loginNotice struct {
	Node    string    `json:"node"`
	IP      string    `json:"ip"`
	Account string    `json:"account"`
	OK      bool      `json:"ok"`
	At      time.Time `json:"at"`
}

// PublishLogin tells the other nodes of one login's outcome. A failure to
// send is logged: the login's own answer does not change.
func (s *Store) PublishLogin(ip, account string, ok bool, at time.Time) {
	b, err := json.Marshal(loginNotice{Node: s.node, IP: ip, Account: account, OK: ok, At: at.UTC()})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", loginChannel, string(b)); err != nil {
		s.log.Warn("login outcome not shared with the other nodes", "err", err)
	}
}

// OnLogin registers fn for the login outcomes of the other nodes.
func (s *Store) OnLogin(fn func(ip, account string, ok bool, at time.Time)) {
	s.listenMu.Lock()
	s.loginListeners = append(s.loginListeners, fn)
	s.listenMu.Unlock()
}

// heardLogin passes another node's outcome to the listeners.
func (s *Store) heardLogin(n *pgconn.Notification) {
	var ln loginNotice
	if err := json.Unmarshal([]byte(n.Payload), &ln); err != nil || ln.Node == s.node {
		return // garbage, or this node's own
	}
	s.listenMu.Lock()
	ls := s.loginListeners
	s.listenMu.Unlock()
	for _, fn := range ls {
		fn(ln.IP, ln.Account, ln.OK, ln.At)
	}
}
