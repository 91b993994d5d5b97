package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/postgres"
)

// call runs one admin operation: through the running server's socket when
// one answers, otherwise on the database opened here. Either way the same
// admin.Service code runs.
//
// With --store naming a PostgreSQL database, the operation runs on that
// database directly: every node sees the change (the directory's change
// log), so no socket is needed.
func (g *globals) call(ctx context.Context, op string, args, out any) error {
	if g.store != "" {
		st, err := g.openPostgres(ctx, nil)
		if err != nil {
			return err
		}
		defer st.Close()
		return admin.New(st, nil).Call(ctx, op, args, out)
	}
	sock := filepath.Join(g.data, "admin.sock")
	if c, err := admin.Dial(sock); err == nil {
		return c.Call(ctx, op, args, out)
	}
	if err := os.MkdirAll(g.data, 0o700); err != nil {
		return err
	}
	st, err := storage.Open(filepath.Join(g.data, "db"), storage.Options{})
	if errors.Is(err, storage.ErrLocked) {
		return fmt.Errorf("the database in %s is in use by another process, and no server answers on %s", g.data, sock)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	return admin.New(st, nil).Call(ctx, op, args, out)
}

// openPostgres opens the PostgreSQL store --store names (log may be nil).
func (g *globals) openPostgres(ctx context.Context, log *slog.Logger) (*postgres.Store, error) {
	return openPostgres(ctx, "--store", g.store, log)
}

// openPostgres opens the PostgreSQL store at dsn, which flag gave (log may
// be nil); Open migrates it.
func openPostgres(ctx context.Context, flag, dsn string, log *slog.Logger) (*postgres.Store, error) {
	if !isPostgresURL(dsn) {
		return nil, &usageError{msg: fmt.Sprintf("%s %q: want postgres://user@host/db (or empty for the embedded database)", flag, redact(dsn))}
	}
	st, err := postgres.Open(ctx, dsn, postgres.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", redact(dsn), err)
	}
	return st, nil
}

// isPostgresURL reports whether s names a PostgreSQL database
// (postgres:// or postgresql://, as --store and copy-store --to take).
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// redact hides a password in a connection URL, for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
