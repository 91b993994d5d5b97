package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/dav"
)

func newGrant(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "grant", Short: "manage rights: full-access, send-as, send-on-behalf"}
	var right, until string
	var now bool
	add := &cobra.Command{
		Use:   "add MAILBOX TRUSTEE --right full-access|send-as|send-on-behalf [--now] [--until RFC3339|DURATION]",
		Short: "grant TRUSTEE a right on MAILBOX (effective after the tenant's propagation delay)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, a []string) error {
			args := admin.GrantArgs{Mailbox: a[0], Trustee: a[1], Right: right, Now: now, By: actorName()}
			var err error
			if args.Until, args.For, err = grantEnd(until); err != nil {
				return err
			}
			var v admin.GrantView
			if err := g.call(cmd.Context(), "grant.add", args, &v); err != nil {
				return err
			}
			return g.emit(cmd, v, func(w io.Writer) {
				when := "effective now"
				if v.State == "pending" {
					when = fmt.Sprintf("effective at %s (in %s)", ts(v.EffectiveAt), v.EffectiveAt.Sub(v.Created).Round(time.Second))
				}
				if !v.Until.IsZero() {
					when += fmt.Sprintf(", until %s (for %s)", ts(v.Until), v.Until.Sub(v.EffectiveAt).Round(time.Second))
				}
				fmt.Fprintf(w, "granted %s on %s to %s (grant %s), %s\n", v.Right, v.Mailbox, v.Trustee, v.ID, when)
			})
		},
	}
	add.Flags().StringVar(&right, "right", "", "full-access, send-as or send-on-behalf")
	add.Flags().BoolVar(&now, "now", false, "effective at once instead of after the propagation delay")
	add.Flags().StringVar(&until, "until", "", "time-boxed: the grant stops counting at this time (RFC 3339) or this long from now (720h, 30m)")
	add.MarkFlagRequired("right")

	remove := &cobra.Command{
		Use: "remove MAILBOX TRUSTEE --right R", Short: "revoke a right (immediate)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, a []string) error {
			var v admin.GrantView
			if err := g.call(cmd.Context(), "grant.remove", admin.GrantArgs{Mailbox: a[0], Trustee: a[1], Right: right, By: actorName()}, &v); err != nil {
				return err
			}
			return g.emit(cmd, v, func(w io.Writer) {
				fmt.Fprintf(w, "revoked %s on %s from %s (grant %s), effective now\n", v.Right, v.Mailbox, v.Trustee, v.ID)
			})
		},
	}
	remove.Flags().StringVar(&right, "right", "", "full-access, send-as or send-on-behalf")
	remove.MarkFlagRequired("right")

	var trustee string
	list := &cobra.Command{
		Use: "list [MAILBOX] [--trustee T]", Short: "list grants with their effective time, end and state (effective, pending, expired)", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			args := admin.GrantListArgs{Trustee: trustee}
			if len(a) == 1 {
				args.Mailbox = a[0]
			}
			var gs []admin.GrantView
			if err := g.call(cmd.Context(), "grant.list", args, &gs); err != nil {
				return err
			}
			return g.emit(cmd, gs, func(w io.Writer) {
				var rows [][]string
				for _, v := range gs {
					rows = append(rows, []string{v.Mailbox, v.Right.Flags(), v.Trustee, ts(v.Created), ts(v.EffectiveAt), ts(v.Until), v.State, v.ID})
				}
				table(w, []string{"MAILBOX", "RIGHT", "TRUSTEE", "CREATED", "EFFECTIVE AT", "UNTIL", "STATE", "GRANT"}, rows)
			})
		},
	}
	list.Flags().StringVar(&trustee, "trustee", "", "only grants to this trustee")
	c.AddCommand(add, remove, list)
	return c
}

// grantEnd reads --until: a time (RFC 3339) or a duration from now
// ("720h", "30m"); "" is an open-ended grant. The server checks the end
// against its clock and the grant's effective time.
func grantEnd(v string) (*time.Time, *admin.Duration, error) {
	if v == "" {
		return nil, nil, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return nil, nil, fmt.Errorf("--until %s: a duration from now must be positive (e.g. 720h)", v)
		}
		ad := admin.Duration(d)
		return nil, &ad, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, nil, fmt.Errorf("--until %q: want a time (RFC 3339, e.g. 2026-12-24T17:00:00Z) or a duration from now (720h, 30m)", v)
	}
	return &t, nil, nil
}

func newExplain(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "explain", Short: "explain what the server would decide, and why"}
	mk := func(use, short, op, target string) *cobra.Command {
		var as, addr, at string
		cmd := &cobra.Command{
			Use: use, Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				a := admin.ExplainArgs{Actor: as, Address: addr}
				if at != "" {
					t, err := time.Parse(time.RFC3339, at)
					if err != nil {
						return fmt.Errorf("--at %q: want RFC 3339, e.g. 2026-11-25T10:00:00Z", at)
					}
					a.At = &t
				}
				var e admin.Explanation
				if err := g.call(cmd.Context(), op, a, &e); err != nil {
					return err
				}
				return g.emit(cmd, e, func(w io.Writer) {
					verdict := "refused"
					if e.Decision.Allowed {
						verdict = "allowed"
					}
					fmt.Fprintf(w, "%s: %s (%s) at %s\n", verdict, e.Text, e.Decision.Reason, ts(e.At))
					if op == "explain.open" && e.Decision.Allowed {
						fmt.Fprintf(w, "calendar: %s on the CalDAV listener (--dav-addr)\n", dav.DefaultCalendarPath(e.Address))
					}
				})
			},
		}
		cmd.Flags().StringVar(&as, "as", "", "the acting user")
		cmd.Flags().StringVar(&addr, target, "", "the address")
		cmd.Flags().StringVar(&at, "at", "", "decide at this time (RFC 3339) instead of now")
		cmd.MarkFlagRequired("as")
		cmd.MarkFlagRequired(target)
		return cmd
	}
	c.AddCommand(
		mk("send --as ACTOR --from ADDRESS [--at RFC3339]", "may ACTOR send a message From ADDRESS?", "explain.send", "from"),
		mk("open --as ACTOR --mailbox ADDRESS [--at RFC3339]", "may ACTOR open the mailbox ADDRESS?", "explain.open", "mailbox"),
	)
	return c
}
