package storage

// The mailstore's policies that every backend applies the same way, for
// backends outside this package (storage/postgres): STORE's flag
// arithmetic, the default folders' attributes and a folder name's
// ancestors.

// FlagUpdate is one STORE's operation, prepared once for all its
// messages (see StoreFlags).
type FlagUpdate struct{ u flagUpdate }

// NewFlagUpdate prepares op with flags (normalised here).
func NewFlagUpdate(op FlagOp, flags []string) FlagUpdate {
	return FlagUpdate{newFlagUpdate(op, flags)}
}

// Check refuses a FLAGS or +FLAGS request that alone has more than
// MaxFlags flags (ErrLimit), before any message is read.
func (u *FlagUpdate) Check() error {
	if u.u.op != FlagsRemove && len(u.u.flags) > MaxFlags {
		return errorf(ErrLimit, "too many flags: %d, at most %d", len(u.u.flags), MaxFlags)
	}
	return nil
}

// Apply returns m's flags after the update and whether they changed,
// refusing a change that would leave m with more than MaxFlags flags
// (ErrLimit). m's flags are normalised (every path that writes flags
// normalises them).
func (u *FlagUpdate) Apply(m Message) (flags []string, changed bool, err error) {
	return u.u.applyLimited(m)
}

// SpecialUseOf gives a default folder's SPECIAL-USE attribute ("" for
// INBOX); ok is false for any other name.
func SpecialUseOf(name string) (specialUse string, ok bool) { return specialUseOf(name) }

// Parents returns the ancestors of a "/" folder name, shortest first.
func Parents(name string) []string { return parents(name) }

// SortedUIDs returns uids sorted, without duplicates, in a new slice.
func SortedUIDs(uids []uint32) []uint32 { return sortedUIDs(uids) }
