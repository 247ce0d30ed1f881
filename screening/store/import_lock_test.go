package store

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// TestImportReadsWithoutLocking starts an import whose input stalls half
// way (a slow upload) and checks that the store's other writers (the call
// log, a list change) are not held up meanwhile: the input is read before
// anything is written to the database.
func TestImportReadsWithoutLocking(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := st.Import(ctx, screening.Block, pr, ImportOptions{})
		done <- err
	}()
	if _, err := pw.Write([]byte("+81312345678\n+81312345679\n")); err != nil {
		t.Fatal(err)
	}
	// The import has read the first lines and waits for more. Generous
	// deadlines: before, these writes waited for the whole upload.
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := appendRecord(wctx, st, logRec(1)); err != nil {
		t.Errorf("call log write during an import's read: %v", err)
	}
	if err := st.Put(wctx, screening.Entry{Kind: screening.Allow, Number: "+81355550000", Source: screening.SourceOperator}); err != nil {
		t.Errorf("list change during an import's read: %v", err)
	}
	pw.Write([]byte("+81312345670\n"))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, _ := st.Count(ctx, screening.Block); n != 3 {
		t.Errorf("%d entries imported, want 3", n)
	}
}

// TestImportMergesInChunks imports more entries than a merge chunk holds,
// with a number repeated across a chunk boundary: the later line wins.
func TestImportMergesInChunks(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	in := strings.Join([]string{
		"+81312345671,first",
		"+81312345672",
		"+81312345673",
		"+81312345671,second", // sorted next to the first: the chunk boundary falls between them
		"+81312345674",
		"+4470*,prefix",
		"+81312345675",
	}, "\n")
	rep, err := st.Import(ctx, screening.Block, strings.NewReader(in), ImportOptions{mergeChunk: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 7 || rep.Added != 6 {
		t.Errorf("imported %d, added %d; want 7 and 6", rep.Imported, rep.Added)
	}
	es, err := st.Entries(ctx, ListFilter{Kind: screening.Block})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 6 {
		t.Fatalf("%d entries: %v", len(es), es)
	}
	for _, e := range es {
		if e.Number == "+81312345671" && e.Reason != "second" {
			t.Errorf("+81312345671 has reason %q, want the later line's", e.Reason)
		}
	}
}
