package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/storage"
)

// The Import / export page: the bulk file of `mailgate import` and
// `mailgate export` (admin.BulkFormatHelp), uploaded and downloaded.

const (
	// uploadSlack is what a multipart upload carries beside the file (the
	// token, the format, the dry-run box and the part headers).
	uploadSlack = 64 << 10
	// uploadMemory is how much of an upload is kept in memory while it
	// is read; the rest waits in a temporary file.
	uploadMemory = 8 << 20
)

func (s *Server) bulkRoutes() {
	s.get("GET /import", "import", s.importPage)
	s.mux.HandleFunc("POST /import", s.importFile)
	s.mux.HandleFunc("POST /import/export", s.exportFile)
}

// importData is the page: the forms, and after an upload its outcome.
type importData struct {
	Tenant  string // the tenant shown (the export's default)
	Global  bool
	Max     string // the upload limit
	Help    string
	File    string // the uploaded file's name
	DryRun  bool
	Done    bool // the import (or its dry run) went through
	Counts  []kindCount
	Elapsed string
	Error   string              // why it was refused
	Lines   []storage.LineError // its bad lines, if that was why
}

type kindCount struct {
	Kind string
	N    int
}

func (s *Server) newImportData(ss *session) *importData {
	return &importData{Tenant: ss.tenant, Global: ss.role.Global, Max: sizeText(s.cfg.MaxUpload), Help: admin.BulkFormatHelp}
}

func (s *Server) importPage(_ *http.Request, ss *session) (string, any, error) {
	return "Import / export", s.newImportData(ss), nil
}

// formSession is the start of a form handler that get and post do not
// fit (an upload, a download): the session, then its CSRF token, checked
// before anything else. parse reads the form. On false it has answered.
func (s *Server) formSession(w http.ResponseWriter, r *http.Request, parse func() error) (*session, bool) {
	ss := s.session(r)
	if ss == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, false
	}
	if err := parse(); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			s.fail(w, ss, s.tooLarge())
			return nil, false
		}
		s.fail(w, ss, errorf(http.StatusBadRequest, "bad form: %v", err))
		return nil, false
	}
	if !tokenEqual(r.PostFormValue("csrf"), ss.csrf) {
		s.fail(w, ss, errorf(http.StatusForbidden, "the form's security token is missing or wrong: reload the page and try again"))
		return nil, false
	}
	return ss, true
}

func (s *Server) tooLarge() error {
	return errorf(http.StatusRequestEntityTooLarge, "the file is larger than %s, the import limit: split it, or run `mailgate import` on the server", sizeText(s.cfg.MaxUpload))
}

// sizeText: "256 MiB", "64 KiB".
func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// importFile applies (or with "check only", checks) an uploaded bulk
// file as the logged-in administrator, whom its audit records name. A
// tenant administrator's import is confined to their tenant by the
// service itself (ImportArgs.Tenant): another tenant's lines are bad
// lines, and then nothing is applied.
func (s *Server) importFile(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload+uploadSlack)
	ss, ok := s.formSession(w, r, func() error { return r.ParseMultipartForm(uploadMemory) })
	if !ok {
		return
	}
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	d := s.newImportData(ss)
	d.DryRun = r.PostFormValue("dry_run") == "on"
	f, hdr, err := r.FormFile("file")
	if err != nil {
		s.showImport(w, ss, http.StatusBadRequest, d, errorf(http.StatusBadRequest, "choose a file to import"))
		return
	}
	defer f.Close()
	d.File = hdr.Filename
	content, err := io.ReadAll(io.LimitReader(f, s.cfg.MaxUpload+1))
	if err != nil {
		s.showImport(w, ss, http.StatusBadRequest, d, errorf(http.StatusBadRequest, "reading the file: %v", err))
		return
	}
	if int64(len(content)) > s.cfg.MaxUpload {
		s.showImport(w, ss, 0, d, s.tooLarge())
		return
	}
	format := r.PostFormValue("format") // "": by the name, else the content
	if format == "" {
		format = admin.FormatOf(hdr.Filename)
	}
	a := admin.ImportArgs{Content: string(content), Format: format, DryRun: d.DryRun, By: ss.actor().Address}
	if !ss.role.Global {
		a.Tenant = ss.role.Tenant
	}
	res, err := s.cfg.Service.Import(r.Context(), a)
	if err != nil {
		s.showImport(w, ss, 0, d, err)
		return
	}
	d.Done, d.Elapsed = true, fmt.Sprint(res.Elapsed)
	for _, k := range storage.BatchKinds {
		if n := res.Counts[k]; n > 0 {
			d.Counts = append(d.Counts, kindCount{k, n})
		}
	}
	s.showImport(w, ss, http.StatusOK, d, nil)
}

// showImport renders the page with an import's outcome; a refusal keeps
// its status (400 with the bad lines, 413, 404) unless status is given.
func (s *Server) showImport(w http.ResponseWriter, ss *session, status int, d *importData, err error) {
	if err != nil {
		var ae *admin.Error
		if !errors.As(err, &ae) {
			s.fail(w, ss, err)
			return
		}
		d.Error, d.Lines = ae.Msg, ae.Lines
		if status == 0 {
			status = ae.Status
		}
	}
	s.render(w, status, "import", &pageData{Title: "Import / export", Nav: s.nav(ss), CSRF: ss.csrf, Flash: s.takeFlash(ss), Data: d})
}

// exportFile downloads the directory as a bulk file: a tenant
// administrator's tenant, a global administrator's chosen one or all.
//
// It changes nothing, yet it is a POST with the CSRF token: the file
// holds password hashes, and a GET could be fetched by another site (an
// <img> or a link) with the session cookie; SameSite=Strict keeps the
// cookie off such requests too, the token does not rely on the browser.
// The answer is never cached (no-store) and is saved, not shown.
func (s *Server) exportFile(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ss, ok := s.formSession(w, r, r.ParseForm)
	if !ok {
		return
	}
	tenant := strings.ToLower(strings.TrimSpace(r.PostFormValue("tenant")))
	switch {
	case tenant == "all" && ss.role.Global:
		tenant = ""
	case tenant == "":
		tenant = ss.tenant
	case !ss.inScope(tenant):
		s.fail(w, ss, errorf(http.StatusNotFound, "no tenant %q among those you administer", tenant))
		return
	}
	if tenant == "" && !ss.role.Global { // never: a tenant administrator always has one
		s.fail(w, ss, errorf(http.StatusForbidden, "only a global administrator exports every tenant"))
		return
	}
	format := r.PostFormValue("format")
	if format == "" {
		format = admin.FormatCSV
	}
	res, err := s.cfg.Service.Export(r.Context(), admin.ExportArgs{Tenant: tenant, Format: format, NoCalendars: r.PostFormValue("no_calendars") == "on"})
	if err != nil {
		s.fail(w, ss, err)
		return
	}
	s.audited(ss, "export", tenant, fmt.Sprintf("%s: %s", format, res.Counts))
	name := "mailgate-" + tenant
	if tenant == "" {
		name = "mailgate-all"
	}
	name += "-" + s.cfg.Now().In(s.cfg.Location).Format("20060102-150405")
	ctype := "text/csv; charset=utf-8"
	if format == admin.FormatJSONL {
		name, ctype = name+".jsonl", "application/x-ndjson"
	} else {
		name += ".csv"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Cache-Control", "no-store")
	io.WriteString(w, res.Content)
}
