package storage

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/mailgate/mailgate/delegation"
)

// Copying a whole installation to another backend (`mailgate copy-store`):
// the source exports a logical, backend-neutral stream of records (Item),
// in RecordKind order and from one consistent read; the target imports it
// into an empty database keeping every ID (principals, grants, folders and
// so UIDVALIDITY, UIDs, mod-sequences, queue entries), committing only
// once the whole stream is in; then both sides count what they hold
// (Census) and the counts must agree.

// RecordKind is a kind of exported record; an export yields them in this
// order (a kind's records may refer to those of earlier kinds only).
type RecordKind int

const (
	RecordCounters          RecordKind = iota // the ID counters (never reused IDs)
	RecordTenant                              // delegation.Tenant
	RecordPrincipal                           // Record: principal, aliases, members, password hash, settings
	RecordGrant                               // delegation.Grant
	RecordFolder                              // Folder
	RecordSubscription                        // Subscription
	RecordBlob                                // Blob: a message body
	RecordMessage                             // FolderMessage
	RecordTombstone                           // Tombstone: an expunged UID
	RecordQueue                               // QueueEntry
	RecordAudit                               // AuditRecord
	RecordCalendar                            // Calendar: a collection, with its sequence
	RecordCalendarObject                      // CalendarObject, with its ETag and sequence
	RecordCalendarTombstone                   // CalendarTombstone: a deleted object (sync-collection)
	recordKinds
)

var recordKindNames = [recordKinds]string{"counters", "tenants", "principals", "grants", "folders", "subscriptions",
	"bodies", "messages", "tombstones", "queue entries", "audit records", "calendars", "calendar objects",
	"calendar tombstones"}

func (k RecordKind) String() string {
	if k < 0 || k >= recordKinds {
		return fmt.Sprintf("record kind %d", int(k))
	}
	return recordKindNames[k]
}

// Item is one exported record: Kind says which field holds it.
type Item struct {
	Kind         RecordKind
	Counters     Counters
	Tenant       delegation.Tenant
	Principal    Record
	Grant        delegation.Grant
	Folder       Folder
	Subscription Subscription
	Blob         Blob
	Message      FolderMessage
	Tombstone    Tombstone
	Queue        QueueEntry
	Audit        AuditRecord
	// Calendars (storage.Calendars).
	Calendar          Calendar
	CalendarObject    CalendarObject
	CalendarTombstone CalendarTombstone
}

// CalendarTombstone says that the object Name left the calendar at
// sequence Seq (sync-collection reports it).
type CalendarTombstone struct {
	Calendar uint64
	Name     string
	Seq      uint64
}

// Counters are the last IDs a store handed out, which may be above every
// ID in use (a removed principal's, a deleted folder's): the target must
// never hand them out again (a deleted folder's ID is an UIDVALIDITY a
// client may remember).
type Counters struct {
	Principal uint64 // IDs p1, p2, ...
	Grant     uint64 // IDs g1, g2, ...
	Folder    uint64
	Calendar  uint64 // a deleted calendar's ID is in a client's sync token
}

// Subscription is one subscribed folder name (RFC 9051 §6.3.7: it need not
// exist).
type Subscription struct {
	Owner delegation.ID
	Name  string
}

// Blob is a stored message body and its reference count (messages and
// queue entries). Body is valid only until the export yields its next
// record.
type Blob struct {
	ID   uint64
	Body []byte
	Refs uint64
}

// FolderMessage is a message's metadata and its folder's ID.
type FolderMessage struct {
	Folder uint64
	Message
}

// Tombstone says that UID left the folder at ModSeq (QRESYNC VANISHED).
type Tombstone struct {
	Folder uint64
	UID    uint32
	ModSeq uint64
}

// Exporter is a store that can be copied away.
type Exporter interface {
	// Export yields every record, in RecordKind order, from one
	// consistent read; it stops at the first error (yielded last) or when
	// the consumer stops.
	Export(ctx context.Context) iter.Seq2[Item, error]
	Census(ctx context.Context) (Census, error)
}

// Importer is a store that can be filled by an export.
type Importer interface {
	// Import loads an export into an empty store, keeping every ID, and
	// commits only once the whole stream is in: on any error the store is
	// left as it was. A store that is not empty is refused (ErrExists).
	Import(ctx context.Context, items iter.Seq2[Item, error]) error
	Census(ctx context.Context) (Census, error)
}

// Census counts what a store holds, for comparing two stores after a
// copy.
type Census struct {
	Tenants       int `json:"tenants"`
	Principals    int `json:"principals"`
	Addresses     int `json:"addresses"` // primary and aliases
	Members       int `json:"members"`   // group memberships
	Grants        int `json:"grants"`
	Folders       int `json:"folders"`
	Subscriptions int `json:"subscriptions"`
	Messages      int `json:"messages"`
	// MessageBytes is the sum of the messages' bodies (a body shared by
	// several copies counts for each).
	MessageBytes int64 `json:"message_bytes"`
	Tombstones   int   `json:"tombstones"`
	Queued       int   `json:"queued"`
	Audit        int   `json:"audit"`
	// Calendars, their objects and the deleted objects' tombstones.
	Calendars          int                     `json:"calendars"`
	CalendarObjects    int                     `json:"calendar_objects"`
	CalendarTombstones int                     `json:"calendar_tombstones"`
	PerFolder          map[uint64]FolderCensus `json:"-"`
}

// FolderCensus is one folder's part of a Census.
type FolderCensus struct {
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      int
	Bytes         int64
	UIDSum        uint64 // a cheap check that the UIDs are the same
}

// Diff lists how got differs from c (nil when it does not), one line per
// difference, c's value first.
func (c Census) Diff(got Census) []string {
	var out []string
	for _, f := range []struct {
		name      string
		want, got int64
	}{
		{"tenants", int64(c.Tenants), int64(got.Tenants)}, {"principals", int64(c.Principals), int64(got.Principals)},
		{"addresses", int64(c.Addresses), int64(got.Addresses)}, {"group members", int64(c.Members), int64(got.Members)},
		{"grants", int64(c.Grants), int64(got.Grants)}, {"folders", int64(c.Folders), int64(got.Folders)},
		{"subscriptions", int64(c.Subscriptions), int64(got.Subscriptions)}, {"messages", int64(c.Messages), int64(got.Messages)},
		{"message bytes", c.MessageBytes, got.MessageBytes}, {"tombstones", int64(c.Tombstones), int64(got.Tombstones)},
		{"queue entries", int64(c.Queued), int64(got.Queued)}, {"audit records", int64(c.Audit), int64(got.Audit)},
		{"calendars", int64(c.Calendars), int64(got.Calendars)}, {"calendar objects", int64(c.CalendarObjects), int64(got.CalendarObjects)},
		{"calendar tombstones", int64(c.CalendarTombstones), int64(got.CalendarTombstones)},
	} {
		if f.want != f.got {
			out = append(out, fmt.Sprintf("%s: %d in the source, %d in the target", f.name, f.want, f.got))
		}
	}
	var ids []uint64
	for id := range c.PerFolder {
		ids = append(ids, id)
	}
	for id := range got.PerFolder {
		if _, ok := c.PerFolder[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		w, inSrc := c.PerFolder[id]
		g, inDst := got.PerFolder[id]
		switch {
		case !inDst:
			out = append(out, fmt.Sprintf("folder %d: missing in the target", id))
		case !inSrc:
			out = append(out, fmt.Sprintf("folder %d: only in the target", id))
		case w != g:
			out = append(out, fmt.Sprintf("folder %d: %+v in the source, %+v in the target", id, w, g))
		}
	}
	return out
}

// MismatchError is a copy whose target does not hold what its source
// does.
type MismatchError struct{ Diffs []string }

func (e *MismatchError) Error() string {
	return "the copy differs from the source: " + strings.Join(e.Diffs, "; ")
}

// Progress is how far a copy has got with one kind of record, or which
// stage it has reached once every record is sent.
type Progress struct {
	Kind  RecordKind
	N     int   // records of Kind so far
	Bytes int64 // bodies (RecordBlob) or message sizes (RecordMessage) so far
	Done  bool  // Kind is complete
	// Stage is "" while records are sent, then StageCommitting (the
	// target finishes and commits) and StageCounting (both sides are
	// counted).
	Stage string
}

// The stages of a copy after its records (Progress.Stage).
const (
	StageCommitting = "committing"
	StageCounting   = "counting"
)

// Copy streams from's export into to, calling progress (may be nil) after
// each record, once more for each completed kind and at each Stage, and
// then compares
// both sides' censuses: a difference is a *MismatchError. It returns the
// target's census.
func Copy(ctx context.Context, from Exporter, to Importer, progress func(Progress)) (Census, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	counted := func(yield func(Item, error) bool) {
		var p Progress
		started := false
		for it, err := range from.Export(ctx) {
			if err == nil && (!started || it.Kind != p.Kind) {
				if started {
					p.Done = true
					progress(p)
				}
				p, started = Progress{Kind: it.Kind}, true
			}
			if err == nil {
				p.N++
				switch it.Kind {
				case RecordBlob:
					p.Bytes += int64(len(it.Blob.Body))
				case RecordMessage:
					p.Bytes += it.Message.Size
				}
				progress(p)
			}
			if !yield(it, err) {
				return
			}
		}
		if started {
			p.Done = true
			progress(p)
		}
		progress(Progress{Stage: StageCommitting})
	}
	if err := to.Import(ctx, counted); err != nil {
		return Census{}, err
	}
	progress(Progress{Stage: StageCounting})
	want, err := from.Census(ctx)
	if err != nil {
		return Census{}, fmt.Errorf("count the source: %w", err)
	}
	got, err := to.Census(ctx)
	if err != nil {
		return Census{}, fmt.Errorf("count the target: %w", err)
	}
	if d := want.Diff(got); d != nil {
		return got, &MismatchError{Diffs: d}
	}
	return got, nil
}

// errExportStopped ends an export whose consumer stopped.
var errExportStopped = errors.New("export stopped")

// exportTo adapts yield for an exporter's loops: an error once the
// consumer stopped or ctx ended.
func exportTo(ctx context.Context, yield func(Item, error) bool) func(Item) error {
	return func(it Item) error {
		if !yield(it, nil) {
			return errExportStopped
		}
		return ctx.Err()
	}
}
