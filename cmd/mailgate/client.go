package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/storage"
)

// call runs one admin operation: through the running server's socket when
// one answers, otherwise on the database opened here. Either way the same
// admin.Service code runs.
func (g *globals) call(ctx context.Context, op string, args, out any) error {
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
