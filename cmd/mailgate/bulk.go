package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailgate/mailgate/admin"
)

func newImport(g *globals) *cobra.Command {
	var format string
	var dryRun, quiet bool
	c := &cobra.Command{
		Use:   "import FILE [--dry-run] [--format csv|jsonl]",
		Short: "add users, shared mailboxes, groups, members, aliases, grants and calendars from a file, all at once",
		Long: "Apply a whole file in one transaction with one directory rebuild: all of it, or nothing.\n" +
			"FILE - reads standard input. The format is chosen by --format, else by the extension\n" +
			"(.csv; .jsonl, .ndjson, .json), else by the first character ({ is JSON lines).\n\n" + admin.BulkFormatHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var content []byte
			var err error
			if a[0] == "-" {
				content, err = io.ReadAll(cmd.InOrStdin())
			} else {
				content, err = os.ReadFile(a[0])
			}
			if err != nil {
				return err
			}
			if format == "" {
				format = admin.FormatOf(a[0])
			}
			ctx := cmd.Context()
			if !quiet {
				ctx = admin.WithProgress(ctx, progressPrinter(cmd.ErrOrStderr()))
			}
			var res admin.ImportResult
			if err := g.call(ctx, "import", admin.ImportArgs{Content: string(content), Format: format, DryRun: dryRun, By: actorName()}, &res); err != nil {
				return err
			}
			return g.emit(cmd, res, func(w io.Writer) {
				verb := "imported"
				if res.DryRun {
					verb = "dry run, nothing changed; would import"
				}
				fmt.Fprintf(w, "%s %s in %s\n", verb, res.Counts, time.Duration(res.Elapsed).Round(time.Millisecond))
			})
		},
	}
	c.Flags().StringVar(&format, "format", "", "csv or jsonl (default: by extension or content)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "check the whole file and say what would be added; change nothing")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on standard error")
	return c
}

func newExport(g *globals) *cobra.Command {
	var tenant, format, out string
	var noCalendars bool
	c := &cobra.Command{
		Use:   "export [--tenant DOMAIN] [--format csv|jsonl] [-o FILE]",
		Short: "write the directory and the calendars as a file that `mailgate import` reads back",
		Long: "Write tenants, users (with password hashes), shared mailboxes, groups, aliases, members\n" +
			"and grants (with their times), sorted, then the calendars and their events and tasks (by\n" +
			"owner, calendar and object name; --no-calendars leaves them out), in the format of\n" +
			"`mailgate import`. Mailbox settings, quotas and mail are not exported.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format == "" {
				format = admin.FormatOf(out)
			}
			var res admin.ExportResult
			if err := g.call(cmd.Context(), "export", admin.ExportArgs{Tenant: tenant, Format: format, NoCalendars: noCalendars}, &res); err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err := io.WriteString(cmd.OutOrStdout(), res.Content)
				return err
			}
			if err := writeFileAtomic(out, []byte(res.Content)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exported %s to %s\n", res.Counts, out)
			return nil
		},
	}
	c.Flags().StringVar(&tenant, "tenant", "", "only this tenant")
	c.Flags().BoolVar(&noCalendars, "no-calendars", false, "the directory only: no calendars or calendar objects")
	c.Flags().StringVar(&format, "format", "", "csv or jsonl (default: by the -o extension, else csv)")
	c.Flags().StringVarP(&out, "output", "o", "", "write to FILE (mode 0600: it holds password hashes) instead of standard output")
	return c
}

// progressPrinter writes an import's progress to w, one line a stage
// step.
func progressPrinter(w io.Writer) func(admin.Progress) {
	return func(p admin.Progress) {
		switch {
		case p.Stage == "parse":
			fmt.Fprintf(w, "parsed %d lines\n", p.Done)
		case p.Total > 0 && p.Done == 0:
			fmt.Fprintf(w, "%s: %d records...\n", p.Stage, p.Total)
		case p.Total > 0:
			fmt.Fprintf(w, "%s: %d/%d\n", p.Stage, p.Done, p.Total)
		}
	}
}

// writeFileAtomic writes a new file (0600) under a temporary name, then
// renames it into place.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mailgate-export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
