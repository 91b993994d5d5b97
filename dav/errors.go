package dav

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"

	"github.com/emersion/go-webdav"

	"github.com/mailgate/mailgate/storage"
)

// davError is an answer to the client: a status, a precondition element
// (RFC 4918 §16, RFC 4791 §1.3) when there is one, and a short text
// that never names storage or other people's mailboxes.
type davError struct {
	code    int
	precond xml.Name // zero for none
	msg     string
}

func (e *davError) Error() string { return e.msg }

const nsCalDAV = "urn:ietf:params:xml:ns:caldav"

// precondition is a 403 naming a CalDAV precondition.
func precondition(name, format string, a ...any) *davError {
	return &davError{code: http.StatusForbidden, precond: xml.Name{Space: nsCalDAV, Local: name}, msg: fmt.Sprintf(format, a...)}
}

// clientError gives an error its answer: storage's kinds their status,
// anything else a 500 logged with the request.
func (s *Server) clientError(rq *request, err error) *davError {
	var de *davError
	switch {
	case errors.As(err, &de):
		return de
	case errors.Is(err, storage.ErrNotFound):
		return errNotFound
	case errors.Is(err, storage.ErrPrecondition):
		return &davError{code: http.StatusPreconditionFailed, msg: "precondition failed: " + err.Error()}
	case errors.Is(err, storage.ErrLimit):
		return precondition("max-resource-size", "%v", err)
	case errors.Is(err, storage.ErrInvalid), errors.Is(err, storage.ErrExists):
		return &davError{code: http.StatusForbidden, msg: err.Error()}
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, storage.ErrNoSpace):
		rq.log.Error("storage", "err", err)
		return &davError{code: http.StatusServiceUnavailable, msg: "temporarily unavailable, try again later"}
	}
	rq.log.Error("internal error", "err", err)
	return &davError{code: http.StatusInternalServerError, msg: "internal error"}
}

// writeError answers a request with err.
func (s *Server) writeError(w http.ResponseWriter, rq *request, err error) {
	de := s.clientError(rq, err)
	if de.precond.Local == "" {
		http.Error(w, de.msg, de.code)
		return
	}
	w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
	w.WriteHeader(de.code)
	fmt.Fprintf(w, "%s<D:error xmlns:D=\"DAV:\" xmlns:C=%q><C:%s/><D:responsedescription>", xml.Header, de.precond.Space, de.precond.Local)
	xml.EscapeText(w, []byte(de.msg))
	fmt.Fprint(w, "</D:responsedescription></D:error>\n")
}

// webdavError is err for go-webdav, which answers with its status.
func (s *Server) webdavError(rq *request, err error) error {
	de := s.clientError(rq, err)
	return webdav.NewHTTPError(de.code, errors.New(de.msg))
}
