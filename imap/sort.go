package imap

import (
	"errors"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/imap/sorting"
	"github.com/mailgate/mailgate/imap/wire"
	"github.com/mailgate/mailgate/storage"
)

// sortInput is what SORT and THREAD order: the messages matching crit
// (after the charset check), with their header blocks read in one
// transaction.
func (c *session) sortInput(charset string, crit *goimap.SearchCriteria, uid bool) ([]item, []sorting.Msg, error) {
	if err := checkCharset(charset); err != nil {
		return nil, nil, err
	}
	items, err := c.searchItems(crit)
	if err != nil {
		return nil, nil, err
	}
	msgs := make([]sorting.Msg, len(items))
	blobs := make([]uint64, len(items))
	for i, it := range items {
		msgs[i] = sorting.Msg{ID: it.num(uid), Seq: it.seq, Arrival: it.e.date, Size: it.e.size}
		blobs[i] = it.e.blob
	}
	err = c.srv.st.Headers(blobs, func(i int, hdr []byte) { msgs[i].Header = append([]byte(nil), hdr...) })
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, nil, err
	}
	return items, msgs, nil
}

// cmdSort answers SORT and UID SORT (RFC 5256 §3, RFC 5957 DISPLAYFROM and
// DISPLAYTO, RFC 5267 ESORT and PARTIAL).
func (c *session) cmdSort(p *wire.Parser) error {
	uid := c.cmdName == "UID SORT"
	if err := p.SP(); err != nil {
		return err
	}
	req, err := p.Sort(uid)
	if err != nil {
		return err
	}
	items, msgs, err := c.sortInput(req.Charset, &req.Criteria, uid)
	if err != nil {
		return err
	}
	keys := make([]sorting.Key, len(req.Keys))
	for i, k := range req.Keys {
		keys[i] = sorting.Key{Name: strings.ToUpper(k.Key), Reverse: k.Reverse}
	}
	order := sorting.Sort(msgs, keys)
	byID := make(map[uint32]item, len(items))
	for _, it := range items {
		byID[it.num(uid)] = it
	}
	if req.Return == nil {
		c.enc.RawString("* SORT")
		for _, id := range order {
			c.enc.SP().Number(id)
		}
		c.enc.CRLF()
		return nil
	}
	sorted := make([]item, 0, len(order))
	for _, id := range order {
		sorted = append(sorted, byID[id])
	}
	c.writeESearch(c.tag, uid, sorted, req.Return)
	c.enc.CRLF()
	return nil
}

// cmdThread answers THREAD and UID THREAD (RFC 5256 §4) with REFERENCES or
// ORDEREDSUBJECT.
func (c *session) cmdThread(p *wire.Parser) error {
	uid := c.cmdName == "UID THREAD"
	if err := p.SP(); err != nil {
		return err
	}
	req, err := p.Thread(uid)
	if err != nil {
		return err
	}
	alg := strings.ToUpper(req.Algorithm)
	if alg != "REFERENCES" && alg != "ORDEREDSUBJECT" {
		return errNo(goimap.ResponseCodeCannot, "unsupported threading algorithm "+oneLine(req.Algorithm))
	}
	_, msgs, err := c.sortInput(req.Charset, &req.Criteria, uid)
	if err != nil {
		return err
	}
	var ts []*sorting.Thread
	if alg == "REFERENCES" {
		ts = sorting.ThreadReferences(msgs)
	} else {
		ts = sorting.ThreadOrderedSubject(msgs)
	}
	c.enc.RawString("* THREAD ").Raw(sorting.AppendThreads(nil, ts)).CRLF()
	return nil
}
