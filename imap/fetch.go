package imap

import (
	"bufio"
	"bytes"
	"errors"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	_ "github.com/emersion/go-message/charset" // RFC 2047 words in any charset, for ENVELOPE and SEARCH
	"github.com/emersion/go-message/textproto"

	"github.com/mailgate/mailgate/storage"
)

// Fetch answers FETCH and UID FETCH (RFC 3501 §6.4.5). FLAGS, UID,
// INTERNALDATE and RFC822.SIZE come from the in-memory index, ENVELOPE
// from envelopes parsed once from the stored header block, BODY[HEADER...]
// from the header block alone; only BODYSTRUCTURE and body sections read
// the message body.
func (s *session) Fetch(w *imapserver.FetchWriter, set goimap.NumSet, opts *goimap.FetchOptions) (err error) {
	defer s.srv.metrics.observe("fetch", time.Now(), &err)
	sel, err := s.checkSelected()
	if err != nil {
		return err
	}
	items := sel.resolveSet(set)
	if opts.Envelope {
		if err := s.ensureEnvelopes(sel.mb, items); err != nil {
			return s.reply(err)
		}
	}
	changed := map[goimap.UID]bool{}
	if !sel.readOnly && marksSeen(opts) {
		// RFC 3501 §6.4.5: BODY[...] (not PEEK) sets \Seen, and the FETCH
		// response then carries the new FLAGS.
		var need []uint32
		for _, it := range items {
			if !hasFlag(it.flags, goimap.FlagSeen) {
				need = append(need, uint32(it.e.uid))
			}
		}
		if len(need) > 0 {
			msgs, err := s.srv.st.StoreFlags(sel.mb.id, need, storage.FlagsAdd, []string{string(goimap.FlagSeen)}, sel.t)
			if err != nil {
				return s.reply(err)
			}
			byUID := map[goimap.UID][]goimap.Flag{}
			for _, m := range msgs {
				byUID[goimap.UID(m.UID)] = toFlags(m.Flags)
			}
			for i := range items {
				if f, ok := byUID[items[i].e.uid]; ok {
					items[i].flags = f
					changed[items[i].e.uid] = true
				}
			}
		}
	}
	needBody := opts.BodyStructure != nil || len(opts.BinarySection) > 0 || len(opts.BinarySectionSize) > 0
	needHeader := false
	for _, bs := range opts.BodySection {
		if headerOnly(bs) {
			needHeader = true
		} else {
			needBody = true
		}
	}
	for _, it := range items {
		var body, header []byte
		if needBody {
			body, err = s.srv.st.Body(it.e.blob)
		} else if needHeader {
			header, err = s.srv.st.Header(it.e.blob)
		}
		if errors.Is(err, storage.ErrNotFound) {
			continue // expunged meanwhile by another session
		}
		if err != nil {
			return s.reply(err)
		}
		if header == nil {
			header = body
		}
		if err := writeMessage(w, it, opts, changed[it.e.uid], body, header); err != nil {
			return err
		}
	}
	return nil
}

func writeMessage(w *imapserver.FetchWriter, it item, opts *goimap.FetchOptions, flagsChanged bool, body, header []byte) error {
	rw := w.CreateMessage(it.seq)
	if opts.UID {
		rw.WriteUID(it.e.uid)
	}
	if opts.Flags || flagsChanged {
		rw.WriteFlags(it.flags)
	}
	if opts.InternalDate {
		rw.WriteInternalDate(it.e.date)
	}
	if opts.RFC822Size {
		rw.WriteRFC822Size(it.e.size)
	}
	if opts.Envelope {
		rw.WriteEnvelope(it.e.env.Load())
	}
	if opts.BodyStructure != nil {
		rw.WriteBodyStructure(imapserver.ExtractBodyStructure(bytes.NewReader(body)))
	}
	for _, bs := range opts.BodySection {
		src := body
		if headerOnly(bs) {
			src = header
		}
		var buf []byte
		if len(bs.Part) == 0 && bs.Specifier == goimap.PartSpecifierNone && bs.Partial == nil {
			buf = src // BODY[]: the stored bytes as they are
		} else {
			buf = imapserver.ExtractBodySection(bytes.NewReader(src), bs)
		}
		if err := writeLiteral(rw.WriteBodySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bs := range opts.BinarySection {
		buf := imapserver.ExtractBinarySection(bytes.NewReader(body), bs)
		if err := writeLiteral(rw.WriteBinarySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bss := range opts.BinarySectionSize {
		rw.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(body), bss))
	}
	return rw.Close()
}

func writeLiteral(wc interface {
	Write([]byte) (int, error)
	Close() error
}, b []byte) error {
	_, werr := wc.Write(b)
	cerr := wc.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

// headerOnly reports whether a section needs only the top-level header
// block (BODY[HEADER], BODY[HEADER.FIELDS (...)], BODY[HEADER.FIELDS.NOT
// (...)]), which is stored apart from the body.
func headerOnly(bs *goimap.FetchItemBodySection) bool {
	if len(bs.Part) != 0 {
		return false
	}
	switch bs.Specifier {
	case goimap.PartSpecifierHeader:
		return true
	}
	return false
}

func marksSeen(opts *goimap.FetchOptions) bool {
	for _, bs := range opts.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range opts.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

func hasFlag(flags []goimap.Flag, f goimap.Flag) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// ensureEnvelopes parses the envelopes the items lack, reading their header
// blocks in one transaction. One session at a time per mailbox does the
// parsing, so ten clients syncing a fresh folder parse it once.
func (s *session) ensureEnvelopes(mb *mailbox, items []item) error {
	missing := func() []*msgEntry {
		var out []*msgEntry
		for _, it := range items {
			if it.e.env.Load() == nil {
				out = append(out, it.e)
			}
		}
		return out
	}
	if len(missing()) == 0 {
		return nil
	}
	mb.envMu.Lock()
	defer mb.envMu.Unlock()
	todo := missing()
	blobs := make([]uint64, len(todo))
	for i, e := range todo {
		blobs[i] = e.blob
	}
	return s.srv.st.Headers(blobs, func(i int, hdr []byte) {
		todo[i].env.Store(parseEnvelope(hdr))
	})
}

// parseEnvelope builds an ENVELOPE (RFC 3501 §7.4.2) from a header block.
// A header that does not parse gives an empty envelope, never an error.
func parseEnvelope(hdr []byte) *goimap.Envelope {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(hdr)))
	if err != nil && h.Len() == 0 {
		return &goimap.Envelope{}
	}
	env := imapserver.ExtractEnvelope(h)
	if env == nil {
		return &goimap.Envelope{}
	}
	return env
}
