package store

import (
	"bytes"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// snapshotBytesPerEntry imports n numbers with Import (what "callscreen
// lists import" and the dashboard's upload run), builds the snapshot serve
// builds with Snapshot, and returns the live heap the snapshot holds per
// entry, measured with runtime.MemStats after a collection.
func snapshotBytesPerEntry(tb testing.TB, n int) float64 {
	tb.Helper()
	ctx := tb.Context()
	st, err := Open(ctx, filepath.Join(tb.TempDir(), "mem.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	rep, err := st.Import(ctx, screening.Block, bytes.NewReader(benchList(n)), ImportOptions{})
	if err != nil || rep.Added != int64(n) {
		tb.Fatalf("import: added %d of %d, %v", rep.Added, n, err)
	}
	before := liveHeap()
	snap, err := st.Snapshot(ctx, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	after := liveHeap()
	if got := snap.Len(screening.Block); got != n {
		tb.Fatalf("snapshot holds %d entries, want %d", got, n)
	}
	runtime.KeepAlive(snap)
	return float64(int64(after)-int64(before)) / float64(n)
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC() // the second cycle frees what the first one's finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestSnapshotMemoryOfImportedEntries checks the memory an imported list
// costs in serve, through the path serve takes (Import, then Snapshot):
// an exact number imported without an expiry is kept as its digits, 8
// bytes, not as a whole Entry.
func TestSnapshotMemoryOfImportedEntries(t *testing.T) {
	const n = 200_000
	// 8 bytes per number, plus the slack of a slice sized from a count;
	// a whole Entry in a map costs more than 150.
	const limit = 16.0
	if got := snapshotBytesPerEntry(t, n); got > limit {
		t.Errorf("a snapshot of %d imported entries holds %.1f bytes per entry, want at most %.0f", n, got, limit)
	} else {
		t.Logf("%.2f bytes per entry", got)
	}
}
