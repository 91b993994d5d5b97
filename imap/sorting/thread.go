package sorting

import (
	"cmp"
	"slices"
	"strconv"
)

// node is a container of the REFERENCES algorithm: a message, or a dummy
// (msg < 0) standing for a referenced message that is not there.
type node struct {
	msg      int // index into msgs, -1 for a dummy
	parent   *node
	children []*node

	// date and seq order siblings: the message's sent date and sequence
	// number, or for a dummy those of its first child.
	date int64
	seq  uint32

	subject string // base subject, messages only
	reply   bool   // subject marks a reply or forward

	merged    bool  // became a child during subject gathering
	replaceBy *node // dummy that took this root's place
}

func (n *node) dummy() bool { return n.msg < 0 }

// isAncestor reports whether a is p or one of p's ancestors.
func isAncestor(a, p *node) bool {
	if a == p {
		return true
	}
	if len(a.children) == 0 {
		return false // a leaf is nobody's ancestor
	}
	for x := p.parent; x != nil; x = x.parent {
		if x == a {
			return true
		}
	}
	return false
}

func link(parent, child *node) {
	child.parent = parent
	parent.children = append(parent.children, child)
}

func unlink(child *node) {
	p := child.parent
	if p == nil {
		return
	}
	if i := slices.Index(p.children, child); i >= 0 {
		p.children = slices.Delete(p.children, i, i+1)
	}
	child.parent = nil
}

func nodeLess(a, b *node) int {
	if c := cmp.Compare(a.date, b.date); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// threadReferences is RFC 5256 REFERENCES, steps (1) to (6).
func threadReferences(msgs []Msg) []*Thread {
	byID := make(map[string]*node, len(msgs))
	all := make([]*node, 0, len(msgs))
	newNode := func(msg int) *node {
		n := &node{msg: msg}
		all = append(all, n)
		return n
	}
	lookup := func(id string) *node {
		n := byID[id]
		if n == nil {
			n = newNode(-1)
			byID[id] = n
		}
		return n
	}

	// (1) link messages by their references.
	var hr headerReader
	for i := range msgs {
		m := &msgs[i]
		f := hr.parseFields(m.Header)
		var cur *node
		if ids := msgIDs(f.messageID, 1); len(ids) == 1 {
			if n, ok := byID[ids[0]]; !ok {
				cur = newNode(i)
				byID[ids[0]] = cur
			} else if n.dummy() {
				cur = n
				cur.msg = i
			}
		}
		if cur == nil { // no Message-ID, or a duplicate: a unique one
			cur = newNode(i)
		}
		cur.date = sentDate(m, &f)
		cur.seq = m.Seq
		cur.subject, cur.reply = baseSubject(f.subject)

		refs := msgIDs(f.references, 0)
		if len(refs) == 0 {
			refs = msgIDs(f.reply, 1)
		}
		// (1.A) chain the references, keeping existing links, no loops.
		var prev *node
		for _, id := range refs {
			n := lookup(id)
			if prev != nil && n.parent == nil && !isAncestor(n, prev) {
				link(prev, n)
			}
			prev = n
		}
		// (1.B) the last reference is the parent; this message's own
		// headers override a link made from another message's.
		unlink(cur)
		if prev != nil && !isAncestor(cur, prev) {
			link(prev, cur)
		}
	}

	// (2) the root set.
	var roots []*node
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	// (3) prune dummies.
	roots = prune(roots, true)

	// (4) sort the top level by sent date; a dummy goes by its first child.
	for _, r := range roots {
		if r.dummy() {
			sortSiblings(r.children)
			r.date, r.seq = r.children[0].date, r.children[0].seq
		}
	}
	sortSiblings(roots)

	// (5) gather threads with the same base subject.
	roots = gatherSubjects(roots)

	// (6) sort every set of siblings, children before parents.
	sortTree(roots)
	return export(msgs, roots)
}

// prune removes dummies without children and splices the children of the
// others into their place, except at the top level where a dummy stays
// unless it has exactly one child.
func prune(list []*node, top bool) []*node {
	out := make([]*node, 0, len(list))
	for _, n := range list {
		n.children = prune(n.children, false)
		if !n.dummy() {
			out = append(out, n)
			continue
		}
		if len(n.children) == 0 {
			continue
		}
		if top && len(n.children) > 1 {
			out = append(out, n)
			continue
		}
		for _, c := range n.children {
			c.parent = n.parent
			out = append(out, c)
		}
		n.children = nil
	}
	return out
}

func threadSubject(n *node) string {
	if n.dummy() {
		return n.children[0].subject
	}
	return n.subject
}

func adopt(parent *node, children ...*node) {
	for _, c := range children {
		link(parent, c)
	}
}

// gatherSubjects is step (5): threads at the top level with the same
// (non-empty) base subject are merged.
func gatherSubjects(roots []*node) []*node {
	table := make(map[string]*node)
	for _, r := range roots {
		s := threadSubject(r)
		if s == "" {
			continue
		}
		old, ok := table[s]
		if !ok || (!old.dummy() && (r.dummy() || (old.reply && !r.reply))) {
			table[s] = r
		}
	}
	for _, r := range roots {
		if r.merged || r.replaceBy != nil {
			continue
		}
		s := threadSubject(r)
		if s == "" {
			continue
		}
		t := table[s]
		if t == r {
			continue
		}
		switch {
		case t.dummy() && r.dummy():
			for _, c := range r.children {
				link(t, c)
			}
			r.children = nil
		case t.dummy(), r.reply && !t.reply:
			link(t, r)
		default:
			d := &node{msg: -1}
			t.replaceBy = d
			adopt(d, t, r)
			t.merged = true
			table[s] = d
		}
		r.merged = true
	}
	out := roots[:0:0]
	for _, r := range roots {
		switch {
		case r.replaceBy != nil:
			out = append(out, r.replaceBy)
		case !r.merged:
			out = append(out, r)
		}
	}
	return out
}

func sortSiblings(list []*node) {
	slices.SortStableFunc(list, nodeLess)
}

// sortTree sorts each set of siblings by sent date, deepest first; a
// dummy takes the date of its first child.
func sortTree(list []*node) {
	for _, n := range list {
		sortTree(n.children)
		if n.dummy() && len(n.children) > 0 {
			n.date, n.seq = n.children[0].date, n.children[0].seq
		}
	}
	sortSiblings(list)
}

func export(msgs []Msg, list []*node) []*Thread {
	if len(list) == 0 {
		return nil
	}
	out := make([]*Thread, len(list))
	for i, n := range list {
		t := &Thread{Children: export(msgs, n.children)}
		if !n.dummy() {
			t.ID = msgs[n.msg].ID
		}
		out[i] = t
	}
	return out
}

// threadOrderedSubject is RFC 5256 ORDEREDSUBJECT: sort by base subject
// then sent date; each run of one base subject is a thread whose first
// message is the parent of all the others; threads go by the sent date of
// their first message.
func threadOrderedSubject(msgs []Msg) []*Thread {
	type item struct {
		subject string
		date    int64
		seq     uint32
		id      uint32
	}
	items := make([]item, len(msgs))
	var hr headerReader
	for i := range msgs {
		m := &msgs[i]
		f := hr.parseFields(m.Header)
		s, _ := baseSubject(f.subject)
		items[i] = item{s, sentDate(m, &f), m.Seq, m.ID}
	}
	slices.SortStableFunc(items, func(a, b item) int {
		if c := cmp.Compare(a.subject, b.subject); c != 0 {
			return c
		}
		if c := cmp.Compare(a.date, b.date); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	type head struct {
		t    *Thread
		date int64
		seq  uint32
	}
	var heads []head
	for i, it := range items {
		if i > 0 && it.subject == items[i-1].subject {
			h := heads[len(heads)-1].t
			h.Children = append(h.Children, &Thread{ID: it.id})
			continue
		}
		heads = append(heads, head{t: &Thread{ID: it.id}, date: it.date, seq: it.seq})
	}
	slices.SortStableFunc(heads, func(a, b head) int {
		if c := cmp.Compare(a.date, b.date); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out := make([]*Thread, len(heads))
	for i, h := range heads {
		out[i] = h.t
	}
	return out
}

// appendThreads renders a thread list (RFC 5256 §4). A node with one
// child continues in the same list; several children get one nested list
// each. Dummies are not shown: their children take their place.
func appendThreads(dst []byte, ts []*Thread) []byte {
	for _, t := range ts {
		if len(visible([]*Thread{t}, nil)) == 0 {
			continue // a dummy without messages has nothing to show
		}
		dst = append(dst, '(')
		dst = appendMembers(dst, t)
		dst = append(dst, ')')
	}
	return dst
}

// visible appends to dst the nodes that stand in ts's place once dummies
// are replaced by their children.
func visible(ts []*Thread, dst []*Thread) []*Thread {
	for _, t := range ts {
		if t == nil {
			continue
		}
		if t.ID != 0 {
			dst = append(dst, t)
		} else {
			dst = visible(t.Children, dst)
		}
	}
	return dst
}

func appendMembers(dst []byte, t *Thread) []byte {
	for {
		kids := visible(t.Children, nil)
		if t.ID != 0 {
			dst = strconv.AppendUint(dst, uint64(t.ID), 10)
			if len(kids) == 0 {
				return dst
			}
			dst = append(dst, ' ')
		}
		if len(kids) == 1 {
			t = kids[0]
			continue
		}
		for _, k := range kids {
			dst = append(dst, '(')
			dst = appendMembers(dst, k)
			dst = append(dst, ')')
		}
		return dst
	}
}
