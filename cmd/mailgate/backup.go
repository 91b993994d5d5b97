package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/storage"
)

func newBackup(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "backup FILE", Short: "write a full backup of the database (online: the server keeps running)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			path, err := filepath.Abs(a[0])
			if err != nil {
				return err
			}
			var res admin.BackupResult
			if err := g.call(cmd.Context(), "backup", admin.BackupArgs{Path: path}, &res); err != nil {
				return err
			}
			return g.emit(cmd, res, func(w io.Writer) { fmt.Fprintf(w, "backup written to %s (%d bytes)\n", res.Path, res.Bytes) })
		},
	}
}

func newRestore(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "restore FILE", Short: "restore a backup into an empty data directory (server stopped)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if g.store != "" {
				return &usageError{msg: "restore is for the embedded database: a PostgreSQL store is restored with pg_restore"}
			}
			f, err := os.Open(a[0])
			if err != nil {
				return err
			}
			defer f.Close()
			if c, err := admin.Dial(filepath.Join(g.data, "admin.sock")); err == nil && c != nil {
				return fmt.Errorf("a server is running on %s: stop it, then restore into an empty data directory", g.data)
			}
			if err := os.MkdirAll(g.data, 0o700); err != nil {
				return err
			}
			st, err := storage.Open(filepath.Join(g.data, "db"), storage.Options{})
			if errors.Is(err, storage.ErrLocked) {
				return fmt.Errorf("the database in %s is in use by another process", g.data)
			}
			if err != nil {
				return err
			}
			defer st.Close()
			if empty, err := st.Empty(); err != nil || !empty {
				return fmt.Errorf("the database in %s is not empty: restore into a new data directory", g.data)
			}
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			pr := &progressReader{r: f, total: fi.Size(), w: cmd.ErrOrStderr(), what: "restore"}
			if err := st.Restore(pr); err != nil {
				return fmt.Errorf("restore %s: %w", a[0], err)
			}
			d := st.Directory()
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s: %d tenants, %d principals, %d grants\n", a[0], len(d.Tenants()), len(d.Principals()), len(d.Grants()))
			return nil
		},
	}
}

// progressReader reports how far a long read has got, on stderr, every 10%.
type progressReader struct {
	r           io.Reader
	total, done int64
	next        int64 // percent at which to report next
	w           io.Writer
	what        string
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.total > 0 {
		if pct := p.done * 100 / p.total; pct >= p.next && p.next <= 100 {
			fmt.Fprintf(p.w, "%s: %d%% (%d of %d bytes)\n", p.what, pct, p.done, p.total)
			p.next = pct/10*10 + 10
		}
	}
	return n, err
}
