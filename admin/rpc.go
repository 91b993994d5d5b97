package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// handler runs one operation from JSON arguments to a JSON-able result.
type handler func(s *Service, ctx context.Context, args []byte) (any, error)

func op[A, R any](f func(*Service, context.Context, A) (R, error)) handler {
	return func(s *Service, ctx context.Context, raw []byte) (any, error) {
		var a A
		if len(bytes.TrimSpace(raw)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&a); err != nil {
				return nil, badRequest("bad arguments: %v", err)
			}
		}
		return f(s, ctx, a)
	}
}

// ops is the whole API: the CLI command `mailgate tenant add` calls
// "tenant.add", in-process or over the socket.
var ops = map[string]handler{
	"tenant.add":          op((*Service).TenantAdd),
	"tenant.set":          op((*Service).TenantSet),
	"tenant.list":         op((*Service).TenantList),
	"user.add":            op((*Service).UserAdd),
	"user.list":           op((*Service).UserList),
	"user.passwd":         op((*Service).UserPasswd),
	"user.rename":         op((*Service).UserRename),
	"user.remove":         op((*Service).UserRemove),
	"shared.add":          op((*Service).SharedAdd),
	"group.add":           op((*Service).GroupAdd),
	"group.member.add":    op((*Service).GroupMemberAdd),
	"group.member.remove": op((*Service).GroupMemberRemove),
	"alias.add":           op((*Service).AliasAdd),
	"alias.remove":        op((*Service).AliasRemove),
	"grant.add":           op((*Service).GrantAdd),
	"grant.remove":        op((*Service).GrantRemove),
	"grant.list":          op((*Service).GrantList),
	"explain.send":        op((*Service).ExplainSend),
	"explain.open":        op((*Service).ExplainOpen),
	"mailbox.set":         op((*Service).MailboxSet),
	"audit":               op((*Service).Audit),
	"backup":              op((*Service).Backup),
	"admin.add":           op((*Service).AdminAdd),
	"admin.remove":        op((*Service).AdminRemove),
	"admin.list":          op((*Service).AdminList),
	"import":              op((*Service).Import),
	"export":              op((*Service).Export),
}

// maxBody is the largest request an operation takes.
func maxBody(op string) int64 {
	if op == "import" {
		return MaxImportBytes
	}
	return 1 << 20
}

// progressType is the Accept type of a call that wants its progress:
// the answer is then JSON lines, each a progressLine.
const progressType = "application/x-ndjson"

// progressLine is one line of a call's answer streamed with its
// progress: progress lines, then one with the result or the error.
type progressLine struct {
	Progress *Progress `json:"progress,omitempty"`
	Result   any       `json:"result,omitempty"`
	Error    *Error    `json:"error,omitempty"`
	Status   int       `json:"status,omitempty"`
}

// Caller runs an operation by name: Service in-process, Client over the
// socket. out receives the JSON result.
type Caller interface {
	Call(ctx context.Context, op string, args, out any) error
}

// Call runs an operation in-process, through the same JSON path as the
// socket, so both give identical results.
func (s *Service) Call(ctx context.Context, name string, args, out any) error {
	h, ok := ops[name]
	if !ok {
		return &Error{Status: http.StatusNotFound, Msg: "unknown operation " + name}
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	res, err := h(s, ctx, raw)
	if err != nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// Handler serves POST /v1/<op> with JSON arguments; errors are
// {"error": "..."} with an HTTP status.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		name, ok := strings.CutPrefix(r.URL.Path, "/v1/")
		h := ops[name]
		switch {
		case !ok || h == nil:
			writeJSON(w, http.StatusNotFound, &Error{Msg: "unknown operation " + r.URL.Path})
			return
		case r.Method != http.MethodPost:
			writeJSON(w, http.StatusMethodNotAllowed, &Error{Msg: "use POST"})
			return
		}
		limit := maxBody(name)
		raw, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, &Error{Msg: "read request: " + err.Error()})
			return
		}
		if int64(len(raw)) > limit {
			writeJSON(w, http.StatusRequestEntityTooLarge, &Error{Msg: fmt.Sprintf("request over %d bytes", limit)})
			return
		}
		if r.Header.Get("Accept") == progressType {
			s.serveProgress(w, r, name, h, raw)
			return
		}
		res, err := h(s, r.Context(), raw)
		if err != nil {
			ae := s.apiError(name, err).(*Error) // an *Error already is kept as it is
			writeJSON(w, ae.Status, ae)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// serveProgress runs an operation whose caller wants its progress: JSON
// lines, flushed as they come, then the result or the error.
func (s *Service) serveProgress(w http.ResponseWriter, r *http.Request, name string, h handler, raw []byte) {
	w.Header().Set("Content-Type", progressType)
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	send := func(l progressLine) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(l)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	ctx := WithProgress(r.Context(), func(p Progress) { send(progressLine{Progress: &p}) })
	res, err := h(s, ctx, raw)
	if err != nil {
		ae := s.apiError(name, err).(*Error)
		send(progressLine{Error: ae, Status: ae.Status})
		return
	}
	send(progressLine{Result: res})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Listen opens the admin socket at path, replacing a stale socket file
// left by a crashed server. The socket never exists at path with a mode
// other than 0600: it is bound inside a fresh 0700 directory next to path,
// where no one else can reach it, chmod-ed there, and then renamed into
// place (rename is atomic and keeps the mode). Binding at path and
// chmod-ing afterwards left a moment in which anyone allowed into the
// directory could connect; a umask around bind would do too, but the umask
// is process-wide. Closing the listener removes path.
func Listen(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("admin socket %s: another server is answering on it", path)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".admin-") // mode 0700
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // it is renamed away; socketListener removes path
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return &socketListener{UnixListener: ln, path: path}, nil
}

// socketListener removes the socket file at path when closed.
type socketListener struct {
	*net.UnixListener
	path string
	once sync.Once
}

func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() { os.Remove(l.path) })
	return err
}

// Client calls a running server's admin socket.
type Client struct {
	hc *http.Client
}

// Dial returns a client for the socket at path if a server answers there.
func Dial(path string) (*Client, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, err
	}
	c.Close()
	return &Client{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}, nil
}

// Call runs an operation on the server.
func (c *Client) Call(ctx context.Context, name string, args, out any) error {
	body, err := json.Marshal(args)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://mailgate/v1/"+name, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	progress, streamed := ctx.Value(progressKey{}).(func(Progress))
	streamed = streamed && progress != nil
	if streamed {
		req.Header.Set("Accept", progressType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	defer resp.Body.Close()
	if streamed && resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") == progressType {
		return readProgress(resp.Body, progress, out)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		ae := &Error{Status: resp.StatusCode}
		if json.Unmarshal(raw, ae) != nil || ae.Msg == "" {
			ae.Msg = fmt.Sprintf("admin socket: HTTP %d", resp.StatusCode)
		}
		return ae
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// readProgress reads a streamed answer (serveProgress): progress to fn,
// then the result into out or the error.
func readProgress(r io.Reader, fn func(Progress), out any) error {
	dec := json.NewDecoder(r)
	for {
		var l struct {
			Progress *Progress       `json:"progress"`
			Result   json.RawMessage `json:"result"`
			Error    *Error          `json:"error"`
			Status   int             `json:"status"`
		}
		if err := dec.Decode(&l); err != nil {
			return fmt.Errorf("admin socket: %w", err)
		}
		switch {
		case l.Progress != nil:
			fn(*l.Progress)
		case l.Error != nil:
			l.Error.Status = l.Status
			return l.Error
		default:
			if out == nil || l.Result == nil {
				return nil
			}
			return json.Unmarshal(l.Result, out)
		}
	}
}
