package main

import (
	"encoding/json"
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
	var sentAs, sentOnBehalf, quota, seePrivate string
	set := &cobra.Command{
		Use:   "set ADDRESS [--copy-sent-as on|off] [--copy-sent-on-behalf on|off] [--quota SIZE|none] [--delegates-see-private on|off]",
		Short: "sent copies of what delegates send as / on behalf of a mailbox, its quota, private calendar items",
		Long: `Keep a copy in the owner's Sent folder of what delegates send as / on behalf of it,
and set the mailbox's quota (Exchange's "prohibit receive"): at or over it, mail for it is
refused (452 4.2.2 on submission, 552 5.2.2 at the MX) and IMAP APPEND/COPY/MOVE into it
answer NO [OVERQUOTA]. SIZE is bytes or a number with kB, MB, GB, TB (powers of 1000) or
K, M, G, T, KiB, MiB, GiB, TiB (powers of 1024); none (or 0) removes the quota.
--delegates-see-private on lets delegates (Full Access) see the owner's CLASS:PRIVATE
calendar items in full over CalDAV; off (the default) shows them busy time only.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			args := admin.MailboxSetArgs{Address: a[0]}
			var err error
			if cmd.Flags().Changed("quota") {
				var q uint64
				if !strings.EqualFold(strings.TrimSpace(quota), "none") {
					n, err := parseSize(quota)
					if err != nil {
						return fmt.Errorf("--quota: %v", err)
					}
					q = uint64(n)
				}
				args.Quota = &q
			}
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
			if cmd.Flags().Changed("delegates-see-private") {
				if args.DelegatesSeePrivate, err = onOff(seePrivate); err != nil {
					return fmt.Errorf("--delegates-see-private %v", err)
				}
			}
			var p admin.PrincipalView
			if err := g.call(cmd.Context(), "mailbox.set", args, &p); err != nil {
				return err
			}
			return g.emit(cmd, p, func(w io.Writer) {
				q := "none"
				if p.Settings.Quota > 0 {
					q = byteSize(p.Settings.Quota).String()
				}
				fmt.Fprintf(w, "%s: copy-sent-as %s, copy-sent-on-behalf %s, quota %s, delegates-see-private %s\n", p.Address,
					word(p.Settings.CopySentAs), word(p.Settings.CopySentOnBehalf), q, word(p.Settings.DelegatesSeePrivate))
			})
		},
	}
	set.Flags().StringVar(&sentAs, "copy-sent-as", "", "on or off")
	set.Flags().StringVar(&sentOnBehalf, "copy-sent-on-behalf", "", "on or off")
	set.Flags().StringVar(&quota, "quota", "", "quota (e.g. 2GiB, 500MB), or none")
	set.Flags().StringVar(&seePrivate, "delegates-see-private", "", "on or off: delegates see private calendar items in full")
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
	var mailbox, actor, action, result, since, until string
	var limit int
	var jsonl bool
	c := &cobra.Command{
		Use:   "audit [--mailbox A] [--actor B] [--action send] [--result refused] [--since 24h] [--until TIME]",
		Short: "list delegated sends, refusals, delegate logins and folder access",
		Long: `List the audit trail, oldest first: every decision about another person's mailbox.
--since and --until take a duration back from now (24h) or a time (2026-12-01T10:00:00Z).
--jsonl writes one JSON object per line, for export into other tools.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a := admin.AuditArgs{Mailbox: mailbox, Actor: actor, Action: action, Result: result, Limit: limit}
			var err error
			if a.Since, a.From, err = durationOrTime("since", since); err != nil {
				return err
			}
			var untilAgo *admin.Duration
			if untilAgo, a.Until, err = durationOrTime("until", until); err != nil {
				return err
			}
			if untilAgo != nil {
				t := time.Now().Add(-time.Duration(*untilAgo)).UTC()
				a.Until = &t
			}
			var recs []storage.AuditRecord
			if err := g.call(cmd.Context(), "audit", a, &recs); err != nil {
				return err
			}
			if jsonl {
				enc := json.NewEncoder(cmd.OutOrStdout())
				for _, r := range recs {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			}
			return g.emit(cmd, recs, func(w io.Writer) {
				var rows [][]string
				for _, r := range recs {
					what := r.MessageID
					if r.Folder != "" {
						what = r.Folder
					}
					rows = append(rows, []string{ts(r.Time), r.Proto, r.Action, r.Actor, r.Mailbox, r.Right, string(r.Decision), r.Reason, r.Remote, what})
				}
				table(w, []string{"TIME", "PROTO", "ACTION", "ACTOR", "MAILBOX", "RIGHT", "DECISION", "REASON", "REMOTE", "MESSAGE/FOLDER"}, rows)
			})
		},
	}
	c.Flags().StringVar(&mailbox, "mailbox", "", "only records about this mailbox")
	c.Flags().StringVar(&actor, "actor", "", "only records by this user")
	c.Flags().StringVar(&action, "action", "", "only this action (send, folder_bind, login, expunge, move, ...)")
	c.Flags().StringVar(&result, "result", "", "only allowed or only refused decisions")
	c.Flags().StringVar(&since, "since", "", "only records from this long ago (24h) or this time (RFC 3339) on")
	c.Flags().StringVar(&until, "until", "", "only records before this long ago or this time")
	c.Flags().IntVar(&limit, "limit", 0, "at most this many (newest)")
	c.Flags().BoolVar(&jsonl, "jsonl", false, "one JSON object per line (export)")
	return c
}

// durationOrTime reads a flag value that is either a duration back from
// now ("24h") or a time (RFC 3339, or a date "2026-12-01" at midnight UTC).
func durationOrTime(flag, v string) (*admin.Duration, *time.Time, error) {
	if v == "" {
		return nil, nil, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return nil, nil, fmt.Errorf("--%s %s: a duration back from now must not be negative", flag, v)
		}
		ad := admin.Duration(d)
		return &ad, nil, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return nil, &t, nil
		}
	}
	return nil, nil, fmt.Errorf("--%s %q: want a duration (24h) or a time (2026-12-01T10:00:00Z or 2026-12-01)", flag, v)
}
