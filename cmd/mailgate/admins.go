package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/storage"
)

// newAdmins is `mailgate admin`: who may log in to the web admin center.
func newAdmins(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "admin", Short: "manage the web admin center's administrators (tenant or global)"}
	var tenant string
	var global bool
	scope := func(a storage.Admin) string {
		if a.Global {
			return "every tenant (global)"
		}
		return "tenant " + a.Tenant
	}
	add := &cobra.Command{
		Use:   "add ADDRESS --tenant DOMAIN | --global",
		Short: "make a user an administrator of one tenant or of all (they log in with their mail password)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var v storage.Admin
			if err := g.call(cmd.Context(), "admin.add", admin.AdminArgs{Address: a[0], Tenant: tenant, Global: global}, &v); err != nil {
				return err
			}
			return g.emit(cmd, v, func(w io.Writer) { fmt.Fprintf(w, "%s is an administrator of %s\n", v.Address, scope(v)) })
		},
	}
	add.Flags().StringVar(&tenant, "tenant", "", "the tenant (domain) they administer")
	add.Flags().BoolVar(&global, "global", false, "administer every tenant")
	add.MarkFlagsMutuallyExclusive("tenant", "global")
	add.MarkFlagsOneRequired("tenant", "global")
	remove := &cobra.Command{
		Use: "remove ADDRESS", Short: "take the administrator role away", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var v storage.Admin
			if err := g.call(cmd.Context(), "admin.remove", admin.AdminArgs{Address: a[0]}, &v); err != nil {
				return err
			}
			return g.emit(cmd, v, func(w io.Writer) { fmt.Fprintf(w, "%s is no longer an administrator (was: %s)\n", v.Address, scope(v)) })
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "list the administrators", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var as []storage.Admin
			if err := g.call(cmd.Context(), "admin.list", admin.ListArgs{}, &as); err != nil {
				return err
			}
			return g.emit(cmd, as, func(w io.Writer) {
				var rows [][]string
				for _, a := range as {
					rows = append(rows, []string{a.Address, scope(a), ts(a.CreatedAt)})
				}
				table(w, []string{"ADDRESS", "ADMINISTERS", "SINCE"}, rows)
			})
		},
	}
	c.AddCommand(add, remove, list)
	return c
}
