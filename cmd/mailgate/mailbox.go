package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/storage"
)

func onOff(s string) (*bool, error) {
	switch strings.ToLower(s) {
	case "on", "true", "yes":
		v := true
		return &v, nil
	case "off", "false", "no":
		v := false
		return &v, nil
	}
	return nil, fmt.Errorf("%q: want on or off", s)
}

func newMailbox(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "mailbox", Short: "mailbox settings"}
	var sentAs, sentOnBehalf string
	set := &cobra.Command{
		Use:   "set ADDRESS [--copy-sent-as on|off] [--copy-sent-on-behalf on|off]",
		Short: "keep a copy in the owner's Sent folder of what delegates send as / on behalf of it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			args := admin.MailboxSetArgs{Address: a[0]}
			var err error
			if cmd.Flags().Changed("copy-sent-as") {
				if args.CopySentAs, err = onOff(sentAs); err != nil {
					return fmt.Errorf("--copy-sent-as %v", err)
				}
			}
			if cmd.Flags().Changed("copy-sent-on-behalf") {
				if args.CopySentOnBehalf, err = onOff(sentOnBehalf); err != nil {
					return fmt.Errorf("--copy-sent-on-behalf %v", err)
				}
			}
			var p admin.PrincipalView
			if err := g.call(cmd.Context(), "mailbox.set", args, &p); err != nil {
				return err
			}
			return g.emit(cmd, p, func(w io.Writer) {
				fmt.Fprintf(w, "%s: copy-sent-as %s, copy-sent-on-behalf %s\n", p.Address, word(p.Settings.CopySentAs), word(p.Settings.CopySentOnBehalf))
			})
		},
	}
	set.Flags().StringVar(&sentAs, "copy-sent-as", "", "on or off")
	set.Flags().StringVar(&sentOnBehalf, "copy-sent-on-behalf", "", "on or off")
	c.AddCommand(set)
	return c
}

func word(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func newAudit(g *globals) *cobra.Command {
	var mailbox, actor string
	var since time.Duration
	var limit int
	c := &cobra.Command{
		Use: "audit [--mailbox A] [--actor B] [--since 24h]", Short: "list delegated sends, refusals and folder access", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a := admin.AuditArgs{Mailbox: mailbox, Actor: actor, Limit: limit}
			if since > 0 {
				d := admin.Duration(since)
				a.Since = &d
			}
			var recs []storage.AuditRecord
			if err := g.call(cmd.Context(), "audit", a, &recs); err != nil {
				return err
			}
			return g.emit(cmd, recs, func(w io.Writer) {
				var rows [][]string
				for _, r := range recs {
					what := r.MessageID
					if r.Folder != "" {
						what = r.Folder
					}
					rows = append(rows, []string{ts(r.Time), r.Proto, r.Action, r.Actor, r.Mailbox, r.Right, r.Decision, r.Reason, r.Remote, what})
				}
				table(w, []string{"TIME", "PROTO", "ACTION", "ACTOR", "MAILBOX", "RIGHT", "DECISION", "REASON", "REMOTE", "MESSAGE/FOLDER"}, rows)
			})
		},
	}
	c.Flags().StringVar(&mailbox, "mailbox", "", "only records about this mailbox")
	c.Flags().StringVar(&actor, "actor", "", "only records by this user")
	c.Flags().DurationVar(&since, "since", 0, "only records newer than this (e.g. 24h)")
	c.Flags().IntVar(&limit, "limit", 0, "at most this many (newest)")
	return c
}
