package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailgate/mailgate/admin"
)

func newTenant(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "tenant", Short: "manage tenants (one domain each)"}
	// tenantCmd is `tenant add` and `tenant set`: both send a domain and,
	// when given, a propagation delay.
	tenantCmd := func(use, short, op string, say func(t admin.TenantView) string) *cobra.Command {
		var prop time.Duration
		cmd := &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				a := admin.TenantArgs{Domain: args[0]}
				if cmd.Flags().Changed("propagation") {
					d := admin.Duration(prop)
					a.Propagation = &d
				}
				var t admin.TenantView
				if err := g.call(cmd.Context(), op, a, &t); err != nil {
					return err
				}
				return g.emit(cmd, t, func(w io.Writer) { fmt.Fprintln(w, say(t)) })
			},
		}
		cmd.Flags().DurationVar(&prop, "propagation", 60*time.Minute, "delay before a new grant takes effect (0s for at once)")
		return cmd
	}
	add := tenantCmd("add DOMAIN [--propagation 60m]", "add a tenant", "tenant.add", func(t admin.TenantView) string {
		return fmt.Sprintf("added tenant %s (propagation delay %s)", t.Domain, time.Duration(t.Propagation))
	})
	set := tenantCmd("set DOMAIN --propagation D", "change a tenant's propagation delay", "tenant.set", func(t admin.TenantView) string {
		return fmt.Sprintf("tenant %s: propagation delay %s (existing grants keep their effective time)", t.Domain, time.Duration(t.Propagation))
	})
	list := &cobra.Command{
		Use: "list", Short: "list tenants", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ts []admin.TenantView
			if err := g.call(cmd.Context(), "tenant.list", admin.ListArgs{}, &ts); err != nil {
				return err
			}
			return g.emit(cmd, ts, func(w io.Writer) {
				var rows [][]string
				for _, t := range ts {
					rows = append(rows, []string{t.Domain, time.Duration(t.Propagation).String(), fmt.Sprint(t.Users)})
				}
				table(w, []string{"DOMAIN", "PROPAGATION", "USERS"}, rows)
			})
		},
	}
	c.AddCommand(add, set, list)
	return c
}
