package screening

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func TestListsLookup(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var b ListBuilder
	for _, e := range []Entry{
		{Kind: Block, Number: "+81312345678"},
		{Kind: Block, Number: "+4470*", Source: SourceOperator, Reason: "UK personal numbers"},
		{Kind: Block, Number: "+81300000001", Expires: now.Add(-time.Minute), Source: SourceVelocity},
		{Kind: Block, Number: "+81300000002", Expires: now.Add(time.Minute), Source: SourceVelocity},
		{Kind: Allow, Number: "+81355550000", Reason: "pharmacy"},
		{Kind: DoNotOriginate, Number: "+81120000000"},
	} {
		if err := b.Add(e); err != nil {
			t.Fatalf("Add(%v): %v", e, err)
		}
	}
	l := NewLists(b.Build())
	l.Put(Entry{Kind: Allow, Number: "+819012345678", Source: SourceChallenge, Expires: now.Add(time.Hour)})
	l.Put(Entry{Kind: Block, Number: "+1900*"})
	l.Delete(Block, "+81312345678")

	tests := []struct {
		kind   ListKind
		number string
		want   bool
		source string
	}{
		{Block, "+81312345678", false, ""}, // deleted in the overlay
		{Block, "+447012345678", true, SourceOperator},
		{Block, "+4471", false, ""},
		{Block, "+81300000001", false, ""}, // expired
		{Block, "+81300000002", true, SourceVelocity},
		{Block, "+19005551234", true, ""},
		{Allow, "+81355550000", true, ""},
		{Allow, "+819012345678", true, SourceChallenge},
		{Allow, "+81312345678", false, ""},
		{DoNotOriginate, "+81120000000", true, ""},
		{Block, "anonymous", false, ""},
		{Block, "", false, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.kind, tt.number), func(t *testing.T) {
			e, ok := l.Lookup(tt.kind, tt.number, now)
			if ok != tt.want {
				t.Fatalf("Lookup = %v, want %v (entry %+v)", ok, tt.want, e)
			}
			if ok && e.Source != tt.source {
				t.Errorf("source = %q, want %q", e.Source, tt.source)
			}
		})
	}

	// A new snapshot replaces the overlay.
	l.Replace(nil)
	if _, ok := l.Lookup(Allow, "+819012345678", now); ok {
		t.Error("overlay entry survived Replace")
	}
}

func TestValidateEntryNumber(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"+81312345678", true},
		{"+4470*", true},
		{"+1*", true},
		{"0312345678", false},
		{"+0312345678", false},
		{"+", false},
		{"+*", false},
		{"+8131234567x", false},
		{"+1234567890123456", false},
		{"+81-3-1234", false},
	} {
		if err := ValidateEntryNumber(tt.in); (err == nil) != tt.ok {
			t.Errorf("ValidateEntryNumber(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

// buildSnapshot fills a block list with n distinct mobile-like numbers, as
// a bulk import does.
func buildSnapshot(tb testing.TB, n int) *ListSnapshot {
	tb.Helper()
	var b ListBuilder
	b.Grow(Block, n)
	for i := 0; i < n; i++ {
		// Spread the numbers the way a real list would be: Japanese
		// mobiles and US numbers.
		if err := b.Add(Entry{Kind: Block, Number: fmt.Sprintf("+8190%08d", i*7%100000000), Source: SourceImport}); err != nil {
			tb.Fatal(err)
		}
	}
	return b.Build()
}

func benchmarkListLookup(b *testing.B, n int) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	snap := buildSnapshot(b, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	l := NewLists(snap)
	now := time.Now()
	numbers := []string{"+819000000007", "+819012345678", "+81312345678", "+819099999999"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Lookup(Block, numbers[i%len(numbers)], now)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(snap.Len(Block)), "bytes/entry")
}

func BenchmarkListLookup1M(b *testing.B)  { benchmarkListLookup(b, 1_000_000) }
func BenchmarkListLookup10M(b *testing.B) { benchmarkListLookup(b, 10_000_000) }

func TestListsOverlayLen(t *testing.T) {
	l := NewLists(nil)
	l.Put(Entry{Kind: Allow, Number: "+81312345678"})
	l.Put(Entry{Kind: Allow, Number: "+81312345678"}) // the same entry again
	l.Put(Entry{Kind: Block, Number: "+4470*"})
	l.Delete(Block, "+81399999999")
	if got := l.OverlayLen(); got != 3 {
		t.Errorf("OverlayLen = %d, want 3", got)
	}
	l.Replace(nil)
	if got := l.OverlayLen(); got != 0 {
		t.Errorf("after Replace: OverlayLen = %d, want 0", got)
	}
}

// TestListsReplaceKeepsNewerChanges checks that Replace keeps the overlay
// changes a snapshot does not include: those stored after the version the
// snapshot was read at, and those still being stored.
func TestListsReplaceKeepsNewerChanges(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	const number = "+81312345678"
	snapAt := func(v int64, blocked bool) *ListSnapshot {
		var b ListBuilder
		if blocked {
			if err := b.Add(Entry{Kind: Block, Number: number, Source: SourceOperator}); err != nil {
				t.Fatal(err)
			}
		}
		b.SetVersion(v)
		return b.Build()
	}
	block := Entry{Kind: Block, Number: number, Source: SourceOperator}
	tests := []struct {
		name    string
		change  func(l *Lists)
		snap    *ListSnapshot // installed after the change
		blocked bool
		overlay int
	}{
		{"put stored after the snapshot", func(l *Lists) { l.PutAt(block, 11) }, snapAt(10, false), true, 1},
		{"put the snapshot holds", func(l *Lists) { l.PutAt(block, 10) }, snapAt(10, true), true, 0},
		{"put superseded by a later change the snapshot holds", func(l *Lists) { l.PutAt(block, 10) }, snapAt(12, false), false, 0},
		{"delete stored after the snapshot", func(l *Lists) { l.DeleteAt(Block, number, 11) }, snapAt(10, true), false, 1},
		{"delete the snapshot holds", func(l *Lists) { l.DeleteAt(Block, number, 10) }, snapAt(10, false), false, 0},
		{"pending put", func(l *Lists) { l.PutPending(block) }, snapAt(1000, false), true, 1},
		{"pending put, then stored", func(l *Lists) { l.Persisted(l.PutPending(block), 11) }, snapAt(10, false), true, 1},
		{"pending put, stored, in the snapshot", func(l *Lists) { l.Persisted(l.PutPending(block), 11) }, snapAt(11, true), true, 0},
		{"pending put that failed to store", func(l *Lists) { l.Persisted(l.PutPending(block), 0) }, snapAt(10, false), false, 0},
		{"untracked put", func(l *Lists) { l.Put(block) }, snapAt(0, false), false, 0},
		{
			"an older change's Persisted leaves a newer pending one alone",
			func(l *Lists) {
				c := l.PutPending(block)
				l.DeleteAt(Block, number, 0)
				l.PutPending(block)
				l.Persisted(c, 5)
			},
			snapAt(10, false), true, 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLists(snapAt(9, false))
			tt.change(l)
			l.Replace(tt.snap)
			if _, ok := l.Lookup(Block, number, now); ok != tt.blocked {
				t.Errorf("blocked = %v, want %v", ok, tt.blocked)
			}
			if n := l.OverlayLen(); n != tt.overlay {
				t.Errorf("OverlayLen = %d, want %d", n, tt.overlay)
			}
		})
	}
}

// TestListsApplyAt checks how a change read from the store's feed lands
// on the live lists: never over a newer change made here, nor over what
// the snapshot already holds; at the same version the feed wins.
func TestListsApplyAt(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	const number = "+81312345678"
	block := Entry{Kind: Block, Number: number, Source: SourceOperator}
	fleet := Entry{Kind: Block, Number: number, Source: SourceOperator, Reason: "fleet-wide"}
	tests := []struct {
		name    string
		local   func(l *Lists) // this server's change first
		feed    Entry
		removed bool
		at      int64
		blocked bool
	}{
		{"put from another server", nil, block, false, 11, true},
		{"removal from another server", func(l *Lists) { l.PutAt(block, 11) }, block, true, 12, false},
		{"older than the snapshot", nil, block, false, 10, false},
		{"older than a change made here", func(l *Lists) { l.DeleteAt(Block, number, 13) }, block, false, 12, false},
		{"while a change made here is being stored", func(l *Lists) { l.Delete(Block, number); l.PutPending(block) }, block, true, 12, true},
		{"this server's own change coming back", func(l *Lists) { l.PutAt(block, 11) }, block, false, 11, true},
		{"same version: another scope still holds it", func(l *Lists) { l.DeleteAt(Block, number, 11) }, fleet, false, 11, true},
		{"same version, the other way round: the feed's put came first", func(l *Lists) { l.ApplyAt(fleet, false, 11) }, block, true, 11, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b ListBuilder
			b.SetVersion(10)
			l := NewLists(b.Build())
			if tt.local != nil {
				tt.local(l)
			}
			l.ApplyAt(tt.feed, tt.removed, tt.at)
			if _, ok := l.Lookup(Block, number, now); ok != tt.blocked {
				t.Errorf("blocked = %v, want %v", ok, tt.blocked)
			}
		})
	}
}
