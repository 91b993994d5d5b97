package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailgate/mailgate/storage"
)

// copyResult is what `mailgate copy-store` reports.
type copyResult struct {
	From    string         `json:"from"`
	To      string         `json:"to"` // without its password
	Seconds float64        `json:"seconds"`
	Census  storage.Census `json:"verified"`
	Applied []int          `json:"migrated,omitempty"` // schema versions applied to the target first
}

func newCopyStore(g *globals) *cobra.Command {
	var from, to string
	c := &cobra.Command{
		Use:   "copy-store --from DIR --to postgres://…",
		Short: "move an embedded installation (stopped) into an empty PostgreSQL database, verified",
		Long: `copy-store copies everything an embedded installation keeps (the database in
DIR/db: tenants, principals with their passwords, grants, folders, messages, the
relay queue and the audit trail) into an empty PostgreSQL database, keeping every
ID: IMAP clients see the same UIDVALIDITY and UIDs afterwards and download
nothing again. The target is migrated first; the copy is one transaction, so an
interrupted or failed copy leaves it empty. Then both sides are counted and must
agree ("verified: ..."); any difference is an error.

The server must be stopped (the copy needs the database to itself). Afterwards,
start the nodes with --store postgres://… (the embedded database is left as it
was). Only this direction exists: a PostgreSQL store is not copied back into an
embedded one (back it up with pg_dump).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				to = g.store
			}
			if !isPostgresURL(to) {
				return &usageError{msg: fmt.Sprintf("--to %q: want the PostgreSQL database to fill, postgres://user@host/db", redact(to))}
			}
			if from == "" {
				from = g.data
			}
			res, err := copyStore(cmd.Context(), from, to, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			c := res.Census
			return g.emit(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "copied %s to %s in %.1fs\n", res.From, res.To, res.Seconds)
				fmt.Fprintf(w, "verified: %d tenants, %d principals, %d grants, %d folders, %d messages (%s), %d queued, %d audit records, %d calendars (%d objects)\n",
					c.Tenants, c.Principals, c.Grants, c.Folders, c.Messages, mib(c.MessageBytes), c.Queued, c.Audit, c.Calendars, c.CalendarObjects)
			})
		},
	}
	c.Flags().StringVar(&from, "from", "", "the embedded installation's data directory (default: --data)")
	c.Flags().StringVar(&to, "to", "", "the empty PostgreSQL database to fill, postgres://… (default: --store)")
	return c
}

// copyStore runs the copy, with progress on w.
func copyStore(ctx context.Context, from, to string, w io.Writer) (copyResult, error) {
	res := copyResult{From: from, To: redact(to)}
	db, err := embeddedDB(from)
	if err != nil {
		return res, err
	}
	src, err := storage.Open(db, storage.Options{})
	if errors.Is(err, storage.ErrLocked) {
		return res, fmt.Errorf("the database in %s is in use by a running server: stop it, then copy", from)
	}
	if err != nil {
		return res, err
	}
	defer src.Close()
	dst, err := openPostgres(ctx, "--to", to, nil)
	if err != nil {
		return res, err
	}
	defer dst.Close()
	if res.Applied = dst.Migrated(); len(res.Applied) > 0 {
		fmt.Fprintf(w, "copy-store: %s migrated to schema version %d\n", res.To, res.Applied[len(res.Applied)-1])
	}
	start := time.Now()
	last := start
	census, err := storage.Copy(ctx, src, dst, func(p storage.Progress) {
		if p.Stage != "" {
			fmt.Fprintf(w, "copy-store: %s\n", map[string]string{storage.StageCommitting: "every record sent, committing",
				storage.StageCounting: "committed, counting both sides"}[p.Stage])
			return
		}
		if p.Kind == storage.RecordCounters {
			return
		}
		now := time.Now()
		if !p.Done && p.N%1000 != 0 && now.Sub(last) < time.Second {
			return
		}
		last = now
		line := fmt.Sprintf("copy-store: %s: %d", p.Kind, p.N)
		if p.Kind == storage.RecordBlob || p.Kind == storage.RecordMessage {
			line += " (" + mib(p.Bytes) + ")"
		}
		if p.Done {
			line += ", done"
		}
		fmt.Fprintln(w, line)
	})
	var mismatch *storage.MismatchError
	switch {
	case errors.As(err, &mismatch):
		return res, fmt.Errorf("copied, but the target does not hold what the source does, do not use it: %s", strings.Join(mismatch.Diffs, "; "))
	case ctx.Err() != nil:
		return res, fmt.Errorf("interrupted: nothing was copied, %s is left as it was", res.To)
	case err != nil:
		return res, err
	}
	res.Census, res.Seconds = census, time.Since(start).Seconds()
	return res, nil
}

// embeddedDB is the Badger database of the installation in dir: dir/db,
// or dir itself when given the database directory.
func embeddedDB(dir string) (string, error) {
	for _, db := range []string{filepath.Join(dir, "db"), dir} {
		if _, err := os.Stat(filepath.Join(db, "MANIFEST")); err == nil {
			return db, nil
		}
	}
	return "", fmt.Errorf("no embedded database in %s (no %s): give the data directory of the installation to copy",
		dir, filepath.Join(dir, "db", "MANIFEST"))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
