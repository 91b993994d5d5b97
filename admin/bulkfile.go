package admin

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
	"github.com/mailgate/mailgate/storage/calobj"
)

// The bulk file of `mailgate import` and `mailgate export`: one record
// per line, CSV with a header row or JSON lines, the same fields either
// way. BulkFormatHelp documents it for the CLI and the README.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
)

// bulkColumns are the fields, in the order an export writes them;
// password and immediate are read, never written (an export writes the
// hash, and the effective time).
var bulkColumns = []string{"kind", "domain", "propagation", "address", "name", "password", "password_hash",
	"alias", "group", "member", "mailbox", "trustee", "right", "immediate", "created_at", "effective_at", "until", "created_by",
	"calendar", "display_name", "color", "object", "data"}

var exportColumns = slices.DeleteFunc(slices.Clone(bulkColumns), func(c string) bool { return c == "password" || c == "immediate" })

// BulkFormatHelp describes the file format.
const BulkFormatHelp = `One record per line: CSV with a header row naming its columns (any
order, any subset), or JSON lines (one object per line, the same names).
"kind" says what a line adds; the other fields it uses:

  tenant  domain, propagation (e.g. 60m, 0s; empty: 60m)
  user    address, name, password or password_hash (bcrypt; neither: no login yet)
  shared  address, name
  group   address, name
  alias   address (the principal), alias
  member  group, member (a user or group)
  grant   mailbox, trustee, right (full-access, send-as, send-on-behalf),
          immediate (true) or effective_at (RFC 3339; empty: after the
          tenant's delay), until (RFC 3339: a time-boxed grant's end;
          empty: open-ended), created_at (RFC 3339; empty: now),
          created_by (empty: you)
  calendar         address (the owner: a user or shared mailbox), calendar
                   (its name in the URL: letters, digits, . - _ @), display_name,
                   color (e.g. #ff0000). A default calendar the owner has
                   already is fine (it is kept as it is)
  calendar_object  address, calendar, object (its name in the URL, e.g.
                   UID.ics), data (the iCalendar text: one VEVENT or VTODO
                   with a UID, at most 512 KiB; CSV quotes its line breaks,
                   JSON escapes them)

Lines may come in any order: a grant may name a user added further down.
The whole file is checked first, with the rules of the single commands; any
bad line is reported with its number and nothing is applied. An export
writes the same format (password hashes, effective times), sorted, and then
the calendars and their objects (unless --no-calendars).`

// bulkLine is one record of the file as read: field → text.
type bulkLine struct {
	line   int
	fields map[string]string
}

// bulkPassword is a user's initial password, hashed only when the batch
// is applied.
type bulkPassword struct {
	index int // into the batch's records
	pw    string
}

// parseBulk reads a bulk file. format "" sniffs it: a first non-blank
// character '{' is JSON lines, anything else CSV. Every line that cannot
// be read or converted is reported; the others are returned.
func parseBulk(content []byte, format string, progress func(lines int)) ([]storage.BatchRecord, []bulkPassword, []storage.LineError) {
	if format == "" {
		format = FormatCSV
		if t := bytes.TrimLeft(content, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
			format = FormatJSONL
		}
	}
	var lines []bulkLine
	var errs []storage.LineError
	switch format {
	case FormatCSV:
		lines, errs = readCSV(content)
	case FormatJSONL:
		lines, errs = readJSONL(content)
	default:
		return nil, nil, []storage.LineError{{Line: 1, Msg: fmt.Sprintf("unknown format %q: use csv or jsonl", format)}}
	}
	var recs []storage.BatchRecord
	var pws []bulkPassword
	for i, l := range lines {
		r, pw, err := l.record()
		if err != nil {
			errs = append(errs, storage.LineError{Line: l.line, Msg: err.Error()})
		} else {
			if pw != "" {
				pws = append(pws, bulkPassword{index: len(recs), pw: pw})
			}
			recs = append(recs, r)
		}
		if progress != nil && (i+1)%5000 == 0 {
			progress(i + 1)
		}
	}
	if progress != nil {
		progress(len(lines))
	}
	return recs, pws, errs
}

func readCSV(content []byte) ([]bulkLine, []storage.LineError) {
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(content, []byte("\ufeff"))))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, []storage.LineError{{Line: 1, Msg: "no header row: " + err.Error()}}
	}
	for i, h := range header {
		header[i] = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(bulkColumns, header[i]) {
			return nil, []storage.LineError{{Line: 1, Msg: fmt.Sprintf("unknown column %q: use %s", h, strings.Join(bulkColumns, ", "))}}
		}
		if slices.Contains(header[:i], header[i]) {
			return nil, []storage.LineError{{Line: 1, Msg: fmt.Sprintf("column %q twice", h)}}
		}
	}
	if !slices.Contains(header, "kind") {
		return nil, []storage.LineError{{Line: 1, Msg: "the header row has no kind column"}}
	}
	var out []bulkLine
	var errs []storage.LineError
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			errs = append(errs, storage.LineError{Line: pe.StartLine, Msg: pe.Err.Error()})
			continue
		}
		if err != nil {
			errs = append(errs, storage.LineError{Line: line, Msg: err.Error()})
			break
		}
		if len(row) == 1 && strings.TrimSpace(row[0]) == "" {
			continue // a blank line
		}
		if len(row) != len(header) {
			errs = append(errs, storage.LineError{Line: line, Msg: fmt.Sprintf("%d fields, the header has %d", len(row), len(header))})
			continue
		}
		l := bulkLine{line: line, fields: make(map[string]string, len(row))}
		for i, v := range row {
			if header[i] == "data" {
				v = crlf(v)
			}
			if v != "" {
				l.fields[header[i]] = v
			}
		}
		out = append(out, l)
	}
	return out, errs
}

// crlf gives a CSV field its line breaks back as CRLF, the iCalendar
// line ending (RFC 5545 §3.1): encoding/csv reads a quoted CRLF as LF.
func crlf(v string) string {
	return strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", "\n"), "\n", "\r\n")
}

func readJSONL(content []byte) ([]bulkLine, []storage.LineError) {
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(nil, 4<<20) // an object of MaxCalendarObject, escaped
	var out []bulkLine
	var errs []storage.LineError
	n := 0
	for sc.Scan() {
		n++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil || dec.More() {
			errs = append(errs, storage.LineError{Line: n, Msg: "not a JSON object"})
			continue
		}
		l := bulkLine{line: n, fields: map[string]string{}}
		bad := ""
		for k, v := range obj {
			if !slices.Contains(bulkColumns, k) {
				bad = fmt.Sprintf("unknown field %q: use %s", k, strings.Join(bulkColumns, ", "))
				break
			}
			switch v := v.(type) {
			case string:
				if v != "" {
					l.fields[k] = v
				}
			case bool:
				l.fields[k] = strconv.FormatBool(v)
			case nil:
			default:
				bad = fmt.Sprintf("field %q is not a string", k)
			}
		}
		if bad != "" {
			errs = append(errs, storage.LineError{Line: n, Msg: bad})
			continue
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, storage.LineError{Line: n + 1, Msg: err.Error()})
	}
	return out, errs
}

// bulkFields says which fields each kind takes (kind aside).
var bulkFields = map[string][]string{
	storage.BatchTenant:         {"domain", "propagation"},
	storage.BatchUser:           {"address", "name", "password", "password_hash"},
	storage.BatchShared:         {"address", "name"},
	storage.BatchGroup:          {"address", "name"},
	storage.BatchAlias:          {"address", "alias"},
	storage.BatchMember:         {"group", "member"},
	storage.BatchGrant:          {"mailbox", "trustee", "right", "immediate", "created_at", "effective_at", "until", "created_by"},
	storage.BatchCalendar:       {"address", "calendar", "display_name", "color"},
	storage.BatchCalendarObject: {"address", "calendar", "object", "data"},
}

// bulkRequired are the fields a kind cannot do without.
var bulkRequired = map[string][]string{
	storage.BatchTenant:         {"domain"},
	storage.BatchUser:           {"address"},
	storage.BatchShared:         {"address"},
	storage.BatchGroup:          {"address"},
	storage.BatchAlias:          {"address", "alias"},
	storage.BatchMember:         {"group", "member"},
	storage.BatchGrant:          {"mailbox", "trustee", "right"},
	storage.BatchCalendar:       {"address", "calendar"},
	storage.BatchCalendarObject: {"address", "calendar", "object", "data"},
}

// record converts a line; a user's password comes back apart, to be
// hashed once the whole file is known to be good.
func (l bulkLine) record() (storage.BatchRecord, string, error) {
	f := l.fields
	kind := strings.ToLower(strings.TrimSpace(f["kind"]))
	r := storage.BatchRecord{Line: l.line, Kind: kind}
	allowed, ok := bulkFields[kind]
	if !ok {
		return r, "", fmt.Errorf("unknown kind %q: use %s", f["kind"], strings.Join(storage.BatchKinds, ", "))
	}
	for _, c := range bulkColumns {
		if _, set := f[c]; set && c != "kind" && !slices.Contains(allowed, c) {
			return r, "", fmt.Errorf("a %s line has no %s (it takes %s)", kind, c, strings.Join(allowed, ", "))
		}
	}
	for _, c := range bulkRequired[kind] {
		if strings.TrimSpace(f[c]) == "" {
			return r, "", fmt.Errorf("a %s line needs %s", kind, c)
		}
	}
	r.Domain, r.Address, r.Name, r.Alias = f["domain"], f["address"], f["name"], f["alias"]
	r.Group, r.Member, r.Mailbox, r.Trustee, r.CreatedBy = f["group"], f["member"], f["mailbox"], f["trustee"], f["created_by"]
	r.Calendar, r.DisplayName, r.Color = f["calendar"], f["display_name"], f["color"]
	if kind == storage.BatchCalendarObject {
		// The check a CalDAV PUT makes (package calobj), so that a bad
		// object is named here with its line.
		_, o, err := calobj.Parse([]byte(f["data"]))
		if err != nil {
			return r, "", fmt.Errorf("object %s: %w", f["object"], err)
		}
		o.Name = f["object"]
		r.Object = o
	}
	if v, ok := f["propagation"]; ok {
		p, err := time.ParseDuration(v)
		if err != nil {
			return r, "", fmt.Errorf("propagation %q: use e.g. 60m, 1h30m or 0s", v)
		}
		r.Propagation = &p
	}
	pw, hash := f["password"], f["password_hash"]
	switch {
	case pw != "" && hash != "":
		return r, "", errors.New("give password or password_hash, not both")
	case len(pw) > 72:
		return r, "", errors.New("password longer than 72 bytes")
	case hash != "":
		if err := auth.CheckHash(hash); err != nil {
			return r, "", err
		}
		r.PasswordHash = hash
	}
	if v, ok := f["right"]; ok {
		right, err := delegation.ParseRight(v)
		if err != nil {
			return r, "", err
		}
		r.Right = right
	}
	if v, ok := f["immediate"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return r, "", fmt.Errorf("immediate %q: use true or false", v)
		}
		r.Immediate = b
	}
	for _, t := range []struct {
		name string
		to   *time.Time
	}{{"created_at", &r.CreatedAt}, {"effective_at", &r.EffectiveAt}, {"until", &r.Until}} {
		if v, ok := f[t.name]; ok {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return r, "", fmt.Errorf("%s %q: want an RFC 3339 time (2026-12-01T09:00:00Z)", t.name, v)
			}
			*t.to = at
		}
	}
	return r, pw, nil
}

// calendarColumns are the fields only calendar lines use: an export
// without calendars leaves them out of its header.
var calendarColumns = []string{"calendar", "display_name", "color", "object", "data"}

// writeBulk writes rows (field → value, in exportColumns) in a format;
// the CSV header has the calendar columns only when withCalendars.
func writeBulk(w io.Writer, format string, rows []map[string]string, withCalendars bool) error {
	exportColumns := exportColumns
	if !withCalendars {
		exportColumns = slices.DeleteFunc(slices.Clone(exportColumns), func(c string) bool { return slices.Contains(calendarColumns, c) })
	}
	switch format {
	case "", FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(exportColumns); err != nil {
			return err
		}
		row := make([]string, len(exportColumns))
		for _, r := range rows {
			for i, c := range exportColumns {
				row[i] = r[c]
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case FormatJSONL:
		for _, r := range rows {
			// Fields in exportColumns order, empty ones left out.
			var b bytes.Buffer
			b.WriteByte('{')
			for _, c := range exportColumns {
				if r[c] == "" {
					continue
				}
				if b.Len() > 1 {
					b.WriteByte(',')
				}
				k, _ := json.Marshal(c)
				v, _ := json.Marshal(r[c])
				b.Write(k)
				b.WriteByte(':')
				b.Write(v)
			}
			b.WriteString("}\n")
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
		}
		return nil
	}
	return badRequest("unknown format %q: use csv or jsonl", format)
}
