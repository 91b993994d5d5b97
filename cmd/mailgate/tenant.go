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
	var prop time.Duration
	add := &cobra.Command{
		Use: "add DOMAIN", Short: "add a tenant", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a := admin.TenantArgs{Domain: args[0]}
			if cmd.Flags().Changed("propagation") {
				d := admin.Duration(prop)
				a.Propagation = &d
			}
			var t admin.TenantView
			if err := g.call(cmd.Context(), "tenant.add", a, &t); err != nil {
				return err
			}
			return g.emit(cmd, t, func(w io.Writer) {
				fmt.Fprintf(w, "added tenant %s (propagation delay %s)\n", t.Domain, time.Duration(t.Propagation))
			})
		},
	}
	add.Flags().DurationVar(&prop, "propagation", 60*time.Minute, "delay before a new grant takes effect (0s for at once)")
	set := &cobra.Command{
		Use: "set DOMAIN --propagation D", Short: "change a tenant's propagation delay", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a := admin.TenantArgs{Domain: args[0]}
			if cmd.Flags().Changed("propagation") {
				d := admin.Duration(prop)
				a.Propagation = &d
			}
			var t admin.TenantView
			if err := g.call(cmd.Context(), "tenant.set", a, &t); err != nil {
				return err
			}
			return g.emit(cmd, t, func(w io.Writer) {
				fmt.Fprintf(w, "tenant %s: propagation delay %s (existing grants keep their effective time)\n", t.Domain, time.Duration(t.Propagation))
			})
		},
	}
	set.Flags().DurationVar(&prop, "propagation", 60*time.Minute, "delay before a new grant takes effect")
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
