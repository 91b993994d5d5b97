// Command mailgate is the mail server (`mailgate serve`) and its admin CLI.
// The CLI talks to a running server through <data>/admin.sock, or opens the
// database itself when no server runs. This package only wires things
// together: decisions live in delegation, operations in admin.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailgate: "+errorText(err))
		os.Exit(1)
	}
}

func errorText(err error) string {
	var ue *usageError
	if errors.As(err, &ue) {
		return ue.msg
	}
	return err.Error()
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// globals are the root's persistent flags.
type globals struct {
	data  string
	store string // "" (Badger in data/db) or a postgres:// URL
	json  bool
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "mailgate",
		Short: "mail server with Exchange-style mailbox delegation over IMAP and SMTP",
		Long: `mailgate is a mail server (SMTP submission, inbound SMTP, IMAP) that enforces
Exchange-style mailbox delegation: Full Access, Send As and Send on Behalf.

"mailgate serve" runs the server; every other command administers it, through the
running server's admin socket (<data>/admin.sock) or, when no server runs, directly
on the database.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	def := os.Getenv("MAILGATE_DATA")
	if def == "" {
		def = "./data"
	}
	root.PersistentFlags().StringVar(&g.data, "data", def, "data directory (env MAILGATE_DATA)")
	root.PersistentFlags().StringVar(&g.store, "store", os.Getenv("MAILGATE_STORE"),
		"the database: empty for the embedded one in --data, or postgres://… for PostgreSQL (env MAILGATE_STORE)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "machine-readable JSON output")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{msg: err.Error() + " (see `" + c.CommandPath() + " --help`)"}
	})
	root.CompletionOptions.HiddenDefaultCmd = true
	root.AddGroup(&cobra.Group{ID: "server", Title: "Server:"}, &cobra.Group{ID: "admin", Title: "Administration:"})
	for _, c := range []*cobra.Command{newServe(g), newBackup(g), newRestore(g), newMigrate(g), newCopyStore(g)} {
		c.GroupID = "server"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{
		newTenant(g), newUser(g), newShared(g), newGroup(g), newAlias(g),
		newGrant(g), newExplain(g), newMailbox(g), newAudit(g), newImport(g), newExport(g), newAdmins(g),
	} {
		c.GroupID = "admin"
		root.AddCommand(c)
	}
	return root
}
