package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailgate/mailgate/admin"
)

// principalCmd runs an operation that returns one principal and prints
// a line about it.
func principalCmd(g *globals, use, short string, nargs int, op string, args func(cmd *cobra.Command, a []string) (any, error), say func(p admin.PrincipalView) string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(nargs),
		RunE: func(cmd *cobra.Command, a []string) error {
			in, err := args(cmd, a)
			if err != nil {
				return err
			}
			var p admin.PrincipalView
			if err := g.call(cmd.Context(), op, in, &p); err != nil {
				return err
			}
			return g.emit(cmd, p, func(w io.Writer) { fmt.Fprintln(w, say(p)) })
		},
	}
}

func newUser(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "user", Short: "manage users"}
	var name, pw string
	var pwStdin bool
	add := principalCmd(g, "add ADDRESS", "add a user", 1, "user.add",
		func(cmd *cobra.Command, a []string) (any, error) {
			p, err := password(cmd, pw, pwStdin)
			return admin.PrincipalArgs{Address: a[0], Name: name, Password: p}, err
		},
		func(p admin.PrincipalView) string { return fmt.Sprintf("added user %s (id %s)", p.Address, p.ID) })
	add.Flags().StringVar(&name, "name", "", "display name")
	add.Flags().StringVar(&pw, "password", "", "password (visible in the process list: prefer --password-stdin)")
	add.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	add.MarkFlagsMutuallyExclusive("password", "password-stdin")

	passwd := principalCmd(g, "passwd ADDRESS", "set a user's password", 1, "user.passwd",
		func(cmd *cobra.Command, a []string) (any, error) {
			p, err := password(cmd, pw, pwStdin)
			return admin.PrincipalArgs{Address: a[0], Password: p}, err
		},
		func(p admin.PrincipalView) string { return "password changed for " + p.Address })
	passwd.Flags().StringVar(&pw, "password", "", "new password")
	passwd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input")
	passwd.MarkFlagsMutuallyExclusive("password", "password-stdin")

	rename := principalCmd(g, "rename OLD NEW", "give a user a new address (OLD stays as an alias; every grant is kept)", 2, "user.rename",
		func(_ *cobra.Command, a []string) (any, error) { return admin.RenameArgs{Old: a[0], New: a[1]}, nil },
		func(p admin.PrincipalView) string {
			return fmt.Sprintf("renamed to %s (aliases: %s); grants kept", p.Address, strings.Join(p.Aliases, ", "))
		})
	remove := principalCmd(g, "remove ADDRESS", "remove a user, shared mailbox or group and its grants", 1, "user.remove",
		func(_ *cobra.Command, a []string) (any, error) { return admin.PrincipalArgs{Address: a[0]}, nil },
		func(p admin.PrincipalView) string {
			return fmt.Sprintf("removed %s (id %s, never reused) and its grants", p.Address, p.ID)
		})

	var tenant string
	list := &cobra.Command{
		Use: "list", Short: "list users, shared mailboxes and groups", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ps []admin.PrincipalView
			if err := g.call(cmd.Context(), "user.list", admin.ListArgs{Tenant: tenant}, &ps); err != nil {
				return err
			}
			return g.emit(cmd, ps, func(w io.Writer) {
				var rows [][]string
				for _, p := range ps {
					extra := strings.Join(p.Aliases, ",")
					if len(p.Members) > 0 {
						extra = "members: " + strings.Join(p.Members, ",")
					}
					rows = append(rows, []string{p.Address, string(p.Kind), p.Name, string(p.ID), extra})
				}
				table(w, []string{"ADDRESS", "KIND", "NAME", "ID", "ALIASES/MEMBERS"}, rows)
			})
		},
	}
	list.Flags().StringVar(&tenant, "tenant", "", "only this tenant's")
	c.AddCommand(add, list, passwd, rename, remove)
	return c
}

func newShared(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "shared", Short: "manage shared mailboxes (no password, used through grants)"}
	var name string
	add := principalCmd(g, "add ADDRESS", "add a shared mailbox", 1, "shared.add",
		func(_ *cobra.Command, a []string) (any, error) {
			return admin.PrincipalArgs{Address: a[0], Name: name}, nil
		},
		func(p admin.PrincipalView) string {
			return fmt.Sprintf("added shared mailbox %s (id %s)", p.Address, p.ID)
		})
	add.Flags().StringVar(&name, "name", "", "display name")
	c.AddCommand(add)
	return c
}

func newGroup(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "group", Short: "manage groups (a right granted to a group applies to its members)"}
	var name string
	add := principalCmd(g, "add ADDRESS", "add a group", 1, "group.add",
		func(_ *cobra.Command, a []string) (any, error) {
			return admin.PrincipalArgs{Address: a[0], Name: name}, nil
		},
		func(p admin.PrincipalView) string { return fmt.Sprintf("added group %s (id %s)", p.Address, p.ID) })
	add.Flags().StringVar(&name, "name", "", "display name")
	member := &cobra.Command{Use: "member", Short: "manage group members"}
	members := func(p admin.PrincipalView) string {
		return fmt.Sprintf("%s members: %s", p.Address, strings.Join(p.Members, ", "))
	}
	member.AddCommand(
		principalCmd(g, "add GROUP MEMBER", "add a user or group to a group", 2, "group.member.add",
			func(_ *cobra.Command, a []string) (any, error) {
				return admin.MemberArgs{Group: a[0], Member: a[1]}, nil
			}, members),
		principalCmd(g, "remove GROUP MEMBER", "remove a member from a group", 2, "group.member.remove",
			func(_ *cobra.Command, a []string) (any, error) {
				return admin.MemberArgs{Group: a[0], Member: a[1]}, nil
			}, members),
	)
	c.AddCommand(add, member)
	return c
}

func newAlias(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "alias", Short: "manage address aliases"}
	say := func(p admin.PrincipalView) string {
		return fmt.Sprintf("%s aliases: %s", p.Address, strings.Join(p.Aliases, ", "))
	}
	c.AddCommand(
		principalCmd(g, "add ADDRESS ALIAS", "give a principal another address", 2, "alias.add",
			func(_ *cobra.Command, a []string) (any, error) {
				return admin.AliasArgs{Address: a[0], Alias: a[1]}, nil
			}, say),
		principalCmd(g, "remove ALIAS", "remove an alias", 1, "alias.remove",
			func(_ *cobra.Command, a []string) (any, error) { return admin.AliasArgs{Alias: a[0]}, nil }, say),
	)
	return c
}
