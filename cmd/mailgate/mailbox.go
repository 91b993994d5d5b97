package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
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
	var sentAs, sentOnBehalf, quota string
	set := &cobra.Command{
		Use:   "set ADDRESS [--copy-sent-as on|off] [--copy-sent-on-behalf on|off] [--quota SIZE|none]",
		Short: "sent copies of what delegates send as / on behalf of a mailbox, and its quota",
		Long: `Keep a copy in the owner's Sent folder of what delegates send as / on behalf of it,
and set the mailbox's quota (Exchange's "prohibit receive"): at or over it, mail for it is
refused (452 4.2.2 on submission, 552 5.2.2 at the MX) and IMAP APPEND/COPY/MOVE into it
answer NO [OVERQUOTA]. SIZE is bytes or a number with KB, MB, GB, TB (powers of 1000) or
KiB, MiB, GiB, TiB (powers of 1024); none (or 0) removes the quota.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			args := admin.MailboxSetArgs{Address: a[0]}
			var err error
			if cmd.Flags().Changed("quota") {
				q, err := parseSize(quota)
				if err != nil {
					return fmt.Errorf("--quota %v", err)
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
			var p admin.PrincipalView
			if err := g.call(cmd.Context(), "mailbox.set", args, &p); err != nil {
				return err
			}
			return g.emit(cmd, p, func(w io.Writer) {
				q := "none"
				if p.Settings.Quota > 0 {
					q = formatSize(p.Settings.Quota)
				}
				fmt.Fprintf(w, "%s: copy-sent-as %s, copy-sent-on-behalf %s, quota %s\n", p.Address, word(p.Settings.CopySentAs), word(p.Settings.CopySentOnBehalf), q)
			})
		},
	}
	set.Flags().StringVar(&sentAs, "copy-sent-as", "", "on or off")
	set.Flags().StringVar(&sentOnBehalf, "copy-sent-on-behalf", "", "on or off")
	set.Flags().StringVar(&quota, "quota", "", "quota (e.g. 2GiB, 500MB), or none")
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

// sizeUnits are the suffixes parseSize knows, longest first.
var sizeUnits = []struct {
	suffix string
	mult   uint64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// parseSize reads "2GiB", "500MB", "1048576" or "none" (0).
func parseSize(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "none") {
		return 0, nil
	}
	mult := uint64(1)
	for _, u := range sizeUnits {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 || n*float64(mult) >= 1<<63 {
		return 0, fmt.Errorf("%q: want a size such as 2GiB, 500MB or 1048576, or none", s)
	}
	return uint64(n * float64(mult)), nil
}

// formatSize writes a size the way parseSize reads it, in the largest
// binary unit it is a whole multiple of (or bytes).
func formatSize(n uint64) string {
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatUint(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10) + "B"
}
