package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/postgres"
)

// migrateResult is what `mailgate migrate` reports.
type migrateResult struct {
	Store   string `json:"store"` // "embedded" or "postgres"
	Version int    `json:"version"`
	Applied []int  `json:"applied"` // the versions this run applied
}

func newMigrate(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "bring the database's schema up to this version of mailgate (idempotent; serve does it too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res := migrateResult{Store: "embedded", Version: storage.SchemaVersion, Applied: []int{}}
			if g.store != "" {
				st, err := g.openPostgres(cmd.Context(), nil) // Open migrates
				if err != nil {
					return err
				}
				defer st.Close()
				res = migrateResult{Store: "postgres", Version: postgres.SchemaVersion(), Applied: append(res.Applied, st.Migrated()...)}
			} else {
				if err := os.MkdirAll(g.data, 0o700); err != nil {
					return err
				}
				st, err := storage.Open(filepath.Join(g.data, "db"), storage.Options{}) // Open migrates
				if errors.Is(err, storage.ErrLocked) {
					return fmt.Errorf("the database in %s is in use by a running server, which has migrated it already", g.data)
				}
				if err != nil {
					return err
				}
				st.Close()
			}
			return g.emit(cmd, res, func(w io.Writer) {
				if len(res.Applied) == 0 {
					fmt.Fprintf(w, "%s database at schema version %d: nothing to do\n", res.Store, res.Version)
					return
				}
				fmt.Fprintf(w, "%s database migrated to schema version %d (applied %v)\n", res.Store, res.Version, res.Applied)
			})
		},
	}
}
