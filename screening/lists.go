package screening

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// ListKind names one of the lists.
type ListKind string

// The lists.
const (
	// Allow: callers that bypass screening (customers, the clinic, the
	// pharmacy), except for scanner signals from untrusted sources.
	Allow ListKind = "allow"
	// Block: callers that are rejected.
	Block ListKind = "block"
	// DoNotOriginate: numbers that never place calls (inbound-only lines,
	// the business's own published toll-free numbers).
	DoNotOriginate ListKind = "dno"
)

// ListKinds is every list kind.
var listKinds = [...]ListKind{Allow, Block, DoNotOriginate}

// ParseListKind returns the list kind named s.
func ParseListKind(s string) (ListKind, error) {
	for _, k := range listKinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown list %q (want allow, block or dno)", s)
}

// Entry sources: who or what created a list entry.
const (
	SourceOperator  = "operator"
	SourceImport    = "import"
	SourceChallenge = "challenge"
	SourceVelocity  = "velocity"
	SourceCallback  = "callback"
	// SourceFleetSweep marks a fleet-wide (Tenant "") block entry that
	// throttles a number which failed the challenge across the fleet as
	// often as the profile's sweep.failed (fleet mode).
	SourceFleetSweep = "fleet-sweep"
)

// Entry is one list entry. Number is an E.164 number ("+81312345678") or a
// prefix pattern: E.164 digits followed by '*' ("+4470*").
type Entry struct {
	Kind    ListKind  `json:"kind"`
	Number  string    `json:"number"`
	Expires time.Time `json:"expires,omitzero"`
	Source  string    `json:"source,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Created time.Time `json:"created,omitzero"`
	// Tenant scopes the entry to one tenant (the customer a server screens
	// for: a shop's allow list, its callbacks and passed challenges);
	// empty applies it to every tenant sharing the database (an
	// integrator's fleet-wide block list).
	Tenant string `json:"tenant,omitempty"`
}

// IsPrefix reports whether the entry is a prefix pattern.
func (e Entry) IsPrefix() bool { return strings.HasSuffix(e.Number, "*") }

// KeptWhole reports whether a snapshot keeps the whole entry (source,
// reason, expiry) rather than the number's digits alone: everything but
// exact, never-expiring numbers from bulk imports, which are the millions.
func (e Entry) KeptWhole() bool {
	return !e.Expires.IsZero() || e.IsPrefix() || e.Source != SourceImport
}

// Active reports whether the entry is in force at now.
func (e Entry) Active(now time.Time) bool { return e.Expires.IsZero() || now.Before(e.Expires) }

// MaxReasonLen is the longest reason a list entry may carry, in
// characters.
const MaxReasonLen = 200

// ValidateReason checks an entry's reason as every way onto a list (the
// dashboard, the CLI, an import) must: UTF-8 of at most MaxReasonLen
// characters, without control characters (a line feed, an escape
// sequence for a terminal) or format characters (the bidirectional
// overrides that make a reason read backwards, zero-width characters).
func ValidateReason(s string) error {
	switch {
	case !utf8.ValidString(s):
		return errors.New("reason: not UTF-8 text")
	case utf8.RuneCountInString(s) > MaxReasonLen:
		return fmt.Errorf("reason: longer than %d characters", MaxReasonLen)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		return errors.New("reason: holds control or bidirectional formatting characters")
	}
	return nil
}

// ValidateEntrySource checks that an entry of kind k may carry source,
// with the expiry expires, when it comes from outside (an import): the
// sources callscreen writes itself, on the lists it writes them to, and
// the automatic ones only with an expiry, as callscreen writes them. So a
// file cannot make a never-expiring "expected callback" or a throttle
// that never ends.
func ValidateEntrySource(k ListKind, source string, expires time.Time) error {
	var kinds []ListKind
	automatic := true
	switch source {
	case SourceOperator, SourceImport:
		kinds, automatic = listKinds[:], false
	case SourceChallenge, SourceCallback:
		kinds = []ListKind{Allow}
	case SourceVelocity, SourceChallengeFailures, SourceFleetSweep:
		kinds = []ListKind{Block}
	default:
		return fmt.Errorf("source: %q is not one of operator, import, challenge, callback, velocity, %s, %s", source, SourceChallengeFailures, SourceFleetSweep)
	}
	if !slices.Contains(kinds, k) {
		return fmt.Errorf("source: %q entries belong on the %s list, not %s", source, kinds[0], k)
	}
	if automatic && expires.IsZero() {
		return fmt.Errorf("source: %q entries expire; give an expiry", source)
	}
	return nil
}

// ValidateEntryNumber checks that s is an E.164 number or prefix pattern as
// stored in lists, and returns a clear error otherwise.
func ValidateEntryNumber(s string) error {
	digits, prefix := strings.CutSuffix(s, "*")
	if !strings.HasPrefix(digits, "+") {
		return fmt.Errorf("%q is not in E.164 form (+ followed by digits)", s)
	}
	digits = digits[1:]
	max := 15
	if prefix {
		max = 14
	}
	if len(digits) == 0 || len(digits) > max || digits[0] == '0' {
		return fmt.Errorf("%q is not a valid E.164 number or prefix", s)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return fmt.Errorf("%q holds a non-digit %q", s, digits[i])
		}
	}
	return nil
}

// e164Key packs the digits of an E.164 number into an integer. E.164
// numbers have at most 15 digits and no leading zero, so the packing is
// one-to-one. ok is false for anything that is not "+digits".
func e164Key(s string) (key uint64, ok bool) {
	if len(s) < 2 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return 0, false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		key = key*10 + uint64(c-'0')
	}
	return key, true
}

// ListSnapshot is an immutable, compact index of the lists: 8 bytes per
// exact number, plus a small side table for entries that expire and for
// prefix patterns.
type ListSnapshot struct {
	numbers  [len(listKinds)][]uint64
	expiring [len(listKinds)]map[uint64]Entry
	prefixes [len(listKinds)]map[string]Entry
	// version is the store's lists version the snapshot was read at
	// (0: unknown); see Lists.Replace.
	version int64
}

func kindIndex(k ListKind) int {
	switch k {
	case Allow:
		return 0
	case Block:
		return 1
	default:
		return 2
	}
}

// ListBuilder accumulates entries for a ListSnapshot. Add entries with
// Add, then call Build once.
type ListBuilder struct {
	s ListSnapshot
}

// Grow preallocates room for n exact numbers of kind k.
func (b *ListBuilder) Grow(k ListKind, n int) {
	i := kindIndex(k)
	b.s.numbers[i] = slices.Grow(b.s.numbers[i], n)
}

// Add adds e. It returns an error for a malformed number.
func (b *ListBuilder) Add(e Entry) error {
	i := kindIndex(e.Kind)
	if e.IsPrefix() {
		if err := ValidateEntryNumber(e.Number); err != nil {
			return err
		}
		if b.s.prefixes[i] == nil {
			b.s.prefixes[i] = make(map[string]Entry)
		}
		b.s.prefixes[i][strings.TrimSuffix(e.Number, "*")] = e
		return nil
	}
	key, ok := e164Key(e.Number)
	if !ok {
		return ValidateEntryNumber(e.Number)
	}
	b.s.numbers[i] = append(b.s.numbers[i], key)
	if e.KeptWhole() {
		if b.s.expiring[i] == nil {
			b.s.expiring[i] = make(map[uint64]Entry)
		}
		b.s.expiring[i][key] = e
	}
	return nil
}

// SetVersion records the store's lists version the entries were read at
// (store.Store.ListsVersion, read in the same transaction).
func (b *ListBuilder) SetVersion(v int64) { b.s.version = v }

// Build sorts and returns the snapshot. The builder must not be used after.
func (b *ListBuilder) Build() *ListSnapshot {
	for i := range b.s.numbers {
		slices.Sort(b.s.numbers[i])
		b.s.numbers[i] = slices.Clip(slices.Compact(b.s.numbers[i]))
	}
	s := b.s
	b.s = ListSnapshot{}
	return &s
}

// Version returns the store's lists version the snapshot was read at, 0
// when unknown.
func (s *ListSnapshot) Version() int64 { return s.version }

// Len returns the number of entries of kind k.
func (s *ListSnapshot) Len(k ListKind) int {
	i := kindIndex(k)
	return len(s.numbers[i]) + len(s.prefixes[i])
}

// Lookup finds the entry of kind k that matches the E.164 number at now:
// the exact number first, then the longest matching prefix pattern.
func (s *ListSnapshot) Lookup(k ListKind, e164 string, now time.Time) (Entry, bool) {
	i := kindIndex(k)
	if key, ok := e164Key(e164); ok {
		if _, found := slices.BinarySearch(s.numbers[i], key); found {
			if e, ok := s.expiring[i][key]; ok {
				if e.Active(now) {
					return e, true
				}
			} else {
				return Entry{Kind: k, Number: e164}, true
			}
		}
	}
	if p := s.prefixes[i]; len(p) > 0 {
		for n := len(e164) - 1; n >= 2; n-- {
			if e, ok := p[e164[:n]]; ok && e.Active(now) {
				return e, true
			}
		}
	}
	return Entry{}, false
}

// Lists is the live, concurrency-safe view of the lists the engine reads:
// a compact snapshot replaced wholesale when the lists are reloaded, plus a
// small overlay of entries added or removed since, so that a single change
// (a caller who passed a challenge, an expected callback) takes effect at
// once without rebuilding millions of entries.
//
// A reload reads its snapshot for seconds while changes keep being made.
// Each overlay change therefore carries the store version it was written
// at (or is pending while it is being written), and Replace keeps every
// change the new snapshot does not include: a change made while a reload
// was in flight is not undone by it.
type Lists struct {
	base atomic.Pointer[ListSnapshot]

	mu      sync.RWMutex
	overlay map[overlayKey]overlayEntry
	seq     uint64 // numbers the changes, for Persisted
}

// overlayKey keys the overlay: prefix patterns are stored without their
// trailing '*' so that a lookup builds no strings.
type overlayKey struct {
	kind   ListKind
	number string
	prefix bool
}

func keyOf(k ListKind, number string) overlayKey {
	digits, prefix := strings.CutSuffix(number, "*")
	return overlayKey{k, digits, prefix}
}

type overlayEntry struct {
	entry   Entry
	removed bool
	// version is the store's lists version that holds the change: a
	// snapshot read at that version or later includes it. 0: not stored
	// (any snapshot replaces it); pending: being stored.
	version int64
	seq     uint64
}

// pending marks an overlay change whose store write has not finished: no
// snapshot includes it yet.
const pending = math.MaxInt64

// Change names one change made to the live lists, for Persisted.
type Change struct {
	key overlayKey
	seq uint64
}

// NewLists returns Lists serving snap (which may be nil for empty lists).
func NewLists(snap *ListSnapshot) *Lists {
	l := &Lists{}
	l.Replace(snap)
	return l
}

// Replace swaps in a freshly built snapshot. Overlay changes the snapshot
// includes (stored at or before snap.Version()) are dropped; the others
// (stored later, or still being stored) are kept on top of it.
func (l *Lists) Replace(snap *ListSnapshot) {
	if snap == nil {
		snap = &ListSnapshot{}
	}
	l.mu.Lock()
	l.base.Store(snap)
	for k, o := range l.overlay {
		if o.version <= snap.version {
			delete(l.overlay, k)
		}
	}
	l.mu.Unlock()
}

// Put adds or replaces one entry until the next Replace.
func (l *Lists) Put(e Entry) { l.PutAt(e, 0) }

// Delete removes one entry until the next Replace.
func (l *Lists) Delete(k ListKind, number string) { l.DeleteAt(k, number, 0) }

// PutAt adds or replaces one entry that the store holds from lists version
// v on: it stays until a snapshot read at v or later replaces it.
func (l *Lists) PutAt(e Entry, v int64) {
	l.change(keyOf(e.Kind, e.Number), overlayEntry{entry: e, version: v})
}

// DeleteAt removes one entry that the store removed at lists version v (or
// that it did not hold at v).
func (l *Lists) DeleteAt(k ListKind, number string, v int64) {
	l.change(keyOf(k, number), overlayEntry{removed: true, version: v})
}

// ApplyAt applies a change another server (or this one) made to the
// store at lists version v, read from the store's change feed (or made by
// this server and just stored): e is put, or its kind and number removed. A change the lists already hold (their
// snapshot is at v or later) or that a newer change of the same entry
// made here overrides (stored later, or still pending) is skipped, so
// that applying the feed in order never undoes a newer change.
func (l *Lists) ApplyAt(e Entry, removed bool, v int64) {
	if v <= l.base.Load().version {
		return
	}
	key := keyOf(e.Kind, e.Number)
	o := overlayEntry{entry: e, removed: removed, version: v}
	if removed {
		o.entry = Entry{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// At the same version a put wins over a removal: the feed read the
	// store after the change, and knows, say, that another scope still
	// holds a number this server removed from its own, whichever of the
	// two lands first.
	if have, ok := l.overlay[key]; ok && (have.version > v || have.version == v && removed && !have.removed) {
		return
	}
	l.changeLocked(key, o)
}

// PutPending adds or replaces one entry at once, before the store has it:
// no Replace drops it until Persisted reports the store write.
func (l *Lists) PutPending(e Entry) Change {
	return l.change(keyOf(e.Kind, e.Number), overlayEntry{entry: e, version: pending})
}

// Persisted reports that the store wrote change c at lists version v, or
// could not write it (v = 0: the change then lasts until the next
// Replace). A later change of the same entry is not affected.
func (l *Lists) Persisted(c Change, v int64) {
	l.mu.Lock()
	if o, ok := l.overlay[c.key]; ok && o.seq == c.seq {
		o.version = v
		l.overlay[c.key] = o
	}
	l.mu.Unlock()
}

func (l *Lists) change(key overlayKey, o overlayEntry) Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changeLocked(key, o)
}

func (l *Lists) changeLocked(key overlayKey, o overlayEntry) Change {
	if l.overlay == nil {
		l.overlay = make(map[overlayKey]overlayEntry)
	}
	l.seq++
	o.seq = l.seq
	l.overlay[key] = o
	return Change{key: key, seq: o.seq}
}

// OverlayLen returns how many entries Put and Delete changed since the
// last Replace.
func (l *Lists) OverlayLen() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.overlay)
}

// Snapshot returns the current base snapshot.
func (l *Lists) Snapshot() *ListSnapshot { return l.base.Load() }

// Lookup finds the entry of kind k matching the E.164 number at now.
func (l *Lists) Lookup(k ListKind, e164 string, now time.Time) (Entry, bool) {
	if l == nil {
		return Entry{}, false
	}
	l.mu.RLock()
	if len(l.overlay) > 0 {
		if o, ok := l.overlay[overlayKey{k, e164, false}]; ok {
			l.mu.RUnlock()
			if o.removed || !o.entry.Active(now) {
				return Entry{}, false
			}
			return o.entry, true
		}
		for n := len(e164) - 1; n >= 2; n-- {
			if o, ok := l.overlay[overlayKey{k, e164[:n], true}]; ok && !o.removed && o.entry.Active(now) {
				l.mu.RUnlock()
				return o.entry, true
			}
		}
	}
	l.mu.RUnlock()
	return l.base.Load().Lookup(k, e164, now)
}
