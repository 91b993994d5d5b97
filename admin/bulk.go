package admin

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

// ImportArgs: apply a bulk file (BulkFormatHelp) as one batch.
type ImportArgs struct {
	Content string `json:"content"`
	Format  string `json:"format,omitempty"` // csv or jsonl; "": sniffed
	DryRun  bool   `json:"dry_run,omitempty"`
	By      string `json:"by,omitempty"` // the administrator, for the audit trail
	// Tenant, when set, confines the import to that tenant: a line that
	// names another (a tenant line, or any address of a user, alias,
	// member or grant) is a bad line, so nothing is applied. A tenant
	// administrator's import (the web admin center's) sets it.
	Tenant string `json:"tenant,omitempty"`
}

// ImportResult counts the records per kind, applied or (dry run) to be.
type ImportResult struct {
	Counts  storage.BatchResult `json:"counts"`
	DryRun  bool                `json:"dry_run,omitempty"`
	Elapsed Duration            `json:"elapsed"`
}

// ExportArgs: write the directory (or one tenant's part) as a bulk file.
type ExportArgs struct {
	Tenant string `json:"tenant,omitempty"`
	Format string `json:"format,omitempty"` // csv (default) or jsonl
	// NoCalendars leaves the calendars and their objects out.
	NoCalendars bool `json:"no_calendars,omitempty"`
}

// ExportResult is the file and what it holds.
type ExportResult struct {
	Content string              `json:"content"`
	Counts  storage.BatchResult `json:"counts"`
}

// Progress is how far a long operation is: Done of Total in one stage
// (parse, check, hash, apply).
type Progress struct {
	Stage string `json:"stage"`
	Done  int    `json:"done"`
	Total int    `json:"total,omitempty"`
}

type progressKey struct{}

// WithProgress gives ctx a function that long operations (import) tell
// their progress to, in-process or, through Client, from the server.
func WithProgress(ctx context.Context, fn func(Progress)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

func progressOf(ctx context.Context) func(Progress) {
	if fn, ok := ctx.Value(progressKey{}).(func(Progress)); ok && fn != nil {
		return fn
	}
	return func(Progress) {}
}

// MaxImportBytes bounds an import's file, and so its request body on the
// socket and its upload on the web (a file of 10,000 users and 20,000
// grants is about 5 MB).
const MaxImportBytes = 256 << 20

// FormatOf picks a bulk format by a file name's extension ("" when it
// says none: the content decides).
func FormatOf(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return FormatCSV
	case ".jsonl", ".ndjson", ".json":
		return FormatJSONL
	}
	return ""
}

// Import checks a whole bulk file against the directory and, unless
// DryRun, applies it in one commit (storage ApplyBatch): every bad line
// is reported with its number (Error.Lines) and then nothing is applied.
func (s *Service) Import(ctx context.Context, a ImportArgs) (ImportResult, error) {
	if a.Format != "" && a.Format != FormatCSV && a.Format != FormatJSONL {
		return ImportResult{}, badRequest("unknown format %q: use csv or jsonl", a.Format)
	}
	if len(a.Content) > MaxImportBytes {
		return ImportResult{}, &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("import: the file has %d bytes, more than the limit of %d MiB", len(a.Content), MaxImportBytes>>20)}
	}
	d := s.st.Directory()
	tenant := strings.ToLower(strings.TrimSpace(a.Tenant))
	if _, ok := d.Tenant(tenant); tenant != "" && !ok {
		return ImportResult{}, &Error{Status: http.StatusNotFound, Msg: "no tenant " + a.Tenant}
	}
	start := time.Now()
	progress := progressOf(ctx)
	recs, pws, errs := parseBulk([]byte(a.Content), a.Format, func(n int) { progress(Progress{Stage: "parse", Done: n}) })
	b := storage.Batch{Records: recs, By: cmp.Or(a.By, "admin")}
	progress(Progress{Stage: "check", Done: 0, Total: len(recs)})
	check := b
	if tenant != "" {
		// Another tenant's lines are left out of the check, so that its
		// messages ("already used by ...") say nothing about that tenant.
		var foreign []storage.LineError
		check.Records, foreign = inTenant(d, recs, tenant)
		errs = append(errs, foreign...)
	}
	check.Calendars = s.st
	_, err := storage.PlanBatch(d, check, s.now(), nil)
	var be *storage.BatchError
	if errors.As(err, &be) {
		errs = append(errs, be.Lines...)
	} else if err != nil {
		return ImportResult{}, s.apiError("import", err)
	}
	if len(recs) == 0 && len(errs) == 0 {
		return ImportResult{}, badRequest("import: the file has no records")
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(x, y storage.LineError) int { return cmp.Compare(x.Line, y.Line) })
		return ImportResult{}, s.batchError(&storage.BatchError{Lines: errs})
	}
	progress(Progress{Stage: "check", Done: len(recs), Total: len(recs)})
	counts := storage.BatchResult{}
	for _, r := range recs {
		counts[r.Kind]++
	}
	if a.DryRun {
		return ImportResult{Counts: counts, DryRun: true, Elapsed: Duration(time.Since(start))}, nil
	}
	if err := hashPasswords(b.Records, pws, progress); err != nil {
		return ImportResult{}, s.apiError("import", err)
	}
	progress(Progress{Stage: "apply", Done: 0, Total: len(recs)})
	res, err := s.st.ApplyBatch(b)
	if errors.As(err, &be) { // the directory changed since the check
		return ImportResult{}, s.batchError(be)
	}
	if err != nil {
		return ImportResult{}, s.apiError("import", err)
	}
	progress(Progress{Stage: "apply", Done: len(recs), Total: len(recs)})
	s.log.Info("import applied", "actor", b.By, "records", len(recs), "counts", res.String(), "elapsed", time.Since(start))
	return ImportResult{Counts: res, Elapsed: Duration(time.Since(start))}, nil
}

// inTenant splits recs into those that touch only tenant and a bad line
// for each of the others. An address belongs to the tenant of the
// principal that has it, or (a new one) to its domain's: the store
// keeps every address of a principal in its tenant's domain, so either
// way the domain decides; both are checked all the same.
func inTenant(d *delegation.Directory, recs []storage.BatchRecord, tenant string) ([]storage.BatchRecord, []storage.LineError) {
	out := make([]storage.BatchRecord, 0, len(recs))
	var errs []storage.LineError
	for _, r := range recs {
		if msg := outside(d, r, tenant); msg != "" {
			errs = append(errs, storage.LineError{Line: r.Line, Msg: msg})
			continue
		}
		out = append(out, r)
	}
	return out, errs
}

// outside says why r touches a tenant other than tenant ("" if it does not).
func outside(d *delegation.Directory, r storage.BatchRecord, tenant string) string {
	if r.Kind == storage.BatchTenant {
		if t, err := storage.TenantOf(r.Domain, 0); err == nil && t.Domain != tenant {
			return fmt.Sprintf("tenant %s: this import may change only tenant %s", t.Domain, tenant)
		}
		return ""
	}
	for _, addr := range []string{r.Address, r.Alias, r.Group, r.Member, r.Mailbox, r.Trustee} {
		a, err := delegation.NormalizeAddress(addr)
		if err != nil {
			continue // empty, or the check names it
		}
		in := delegation.Domain(a) == tenant
		if p, ok := d.Lookup(a); ok && p.Tenant != tenant {
			in = false
		}
		if !in {
			return fmt.Sprintf("%s is not in tenant %s, the only one this import may change", a, tenant)
		}
	}
	return ""
}

func (s *Service) batchError(be *storage.BatchError) error {
	return &Error{Status: http.StatusBadRequest, Msg: be.Error(), Lines: be.Lines}
}

// hashPasswords hashes the users' initial passwords with bcrypt, on every
// core: about a twentieth of a second each.
func hashPasswords(recs []storage.BatchRecord, pws []bulkPassword, progress func(Progress)) error {
	if len(pws) == 0 {
		return nil
	}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, runtime.GOMAXPROCS(0))
	for w := range errs {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(pws) {
					return
				}
				h, err := auth.HashPassword(pws[i].pw)
				if err != nil {
					errs[w] = err
					return
				}
				recs[pws[i].index].PasswordHash = h
				if n := int(done.Add(1)); n%100 == 0 || n == len(pws) {
					progress(Progress{Stage: "hash", Done: n, Total: len(pws)})
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Export writes the directory, or one tenant's part of it, as a bulk
// file that Import reads back: tenants, users (with password hashes),
// shared mailboxes, groups, aliases, members, grants (with their times),
// each kind sorted, so the same directory always gives the same file;
// then (unless NoCalendars) the owners' calendars and their objects, by
// owner, calendar and object name. Mailbox settings and quotas are not in
// it, nor mail.
func (s *Service) Export(_ context.Context, a ExportArgs) (ExportResult, error) {
	if a.Format != "" && a.Format != FormatCSV && a.Format != FormatJSONL {
		return ExportResult{}, badRequest("unknown format %q: use csv or jsonl", a.Format)
	}
	d := s.st.Directory()
	tenant := strings.ToLower(a.Tenant)
	if _, ok := d.Tenant(tenant); tenant != "" && !ok {
		return ExportResult{}, &Error{Status: http.StatusNotFound, Msg: "no tenant " + a.Tenant}
	}
	counts := storage.BatchResult{}
	rows := map[string][]map[string]string{}
	add := func(kind string, r map[string]string) {
		r["kind"] = kind
		rows[kind] = append(rows[kind], r)
		counts[kind]++
	}
	for _, t := range d.Tenants() {
		if tenant == "" || t.Domain == tenant {
			add(storage.BatchTenant, map[string]string{"domain": t.Domain, "propagation": t.Propagation.String()})
		}
	}
	addr := func(id delegation.ID) string { p, _ := d.Principal(id); return p.Address }
	for _, p := range d.Principals() { // by address
		if tenant != "" && p.Tenant != tenant {
			continue
		}
		r := map[string]string{"address": p.Address, "name": p.Name}
		if p.Kind == delegation.KindUser {
			h, err := s.st.PasswordHash(p.ID)
			if err != nil {
				return ExportResult{}, s.apiError("export", err)
			}
			r["password_hash"] = h
		}
		add(string(p.Kind), r)
		for _, al := range slices.Sorted(slices.Values(p.Aliases)) {
			add(storage.BatchAlias, map[string]string{"address": p.Address, "alias": al})
		}
		members := make([]string, 0, len(p.Members))
		for _, m := range p.Members {
			members = append(members, addr(m))
		}
		slices.Sort(members)
		for _, m := range members {
			add(storage.BatchMember, map[string]string{"group": p.Address, "member": m})
		}
	}
	var grants []map[string]string
	for _, g := range d.Grants() {
		m, _ := d.Principal(g.Mailbox)
		if tenant != "" && m.Tenant != tenant {
			continue
		}
		row := map[string]string{"mailbox": m.Address, "trustee": addr(g.Trustee), "right": g.Right.Flags(),
			"created_at": g.CreatedAt.UTC().Format(time.RFC3339), "effective_at": g.EffectiveAt.UTC().Format(time.RFC3339), "created_by": g.CreatedBy}
		if !g.Until.IsZero() {
			row["until"] = g.Until.UTC().Format(time.RFC3339)
		}
		grants = append(grants, row)
	}
	slices.SortFunc(grants, func(x, y map[string]string) int {
		return cmp.Or(cmp.Compare(x["mailbox"], y["mailbox"]), cmp.Compare(x["trustee"], y["trustee"]), cmp.Compare(x["right"], y["right"]))
	})
	for _, g := range grants {
		add(storage.BatchGrant, g)
	}
	if !a.NoCalendars {
		for _, p := range d.Principals() { // by address
			if tenant != "" && p.Tenant != tenant {
				continue
			}
			if err := s.exportCalendars(p, add); err != nil {
				return ExportResult{}, s.apiError("export", err)
			}
		}
	}
	var all []map[string]string
	for _, k := range storage.BatchKinds {
		all = append(all, rows[k]...)
	}
	var buf bytes.Buffer
	if err := writeBulk(&buf, a.Format, all, counts[storage.BatchCalendar] > 0); err != nil {
		return ExportResult{}, s.apiError("export", err)
	}
	return ExportResult{Content: buf.String(), Counts: counts}, nil
}

// exportCalendars adds p's calendars and their objects, each by name.
func (s *Service) exportCalendars(p *delegation.Principal, add func(string, map[string]string)) error {
	cals, err := s.st.Calendars(p.ID)
	if err != nil {
		return err
	}
	slices.SortFunc(cals, func(x, y storage.Calendar) int { return strings.Compare(x.Name, y.Name) })
	for _, c := range cals {
		add(storage.BatchCalendar, map[string]string{"address": p.Address, "calendar": c.Name, "display_name": c.DisplayName, "color": c.Color})
		objs, err := s.st.CalendarObjects(c.ID)
		if err != nil {
			return err
		}
		slices.SortFunc(objs, func(x, y storage.CalendarObject) int { return strings.Compare(x.Name, y.Name) })
		for _, o := range objs {
			add(storage.BatchCalendarObject, map[string]string{"address": p.Address, "calendar": c.Name, "object": o.Name, "data": string(o.Data)})
		}
	}
	return nil
}
