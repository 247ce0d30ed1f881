package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/callscreen/callscreen/screening"
)

// FuzzImport feeds arbitrary bytes to Import with a national numbering
// plan. Import must never panic and never import half a file: when it
// fails, the list is exactly what it was; when it succeeds without
// SkipBad, no line was bad and the list gained what the report says.
func FuzzImport(f *testing.F) {
	for _, s := range []string{
		"+81312345678\n",
		"number,reason,expires\n03-1234-5678,spam,2099-01-01\n+8150*,prefix,\n",
		"\ufeff# comment\r\n\r\n０３−１２３４−５６７８\r\n",
		"+81312345678,\"quoted, reason\",2099-01-01T00:00:00Z\n",
		"+81312345678,\"unterminated\n",
		"garbage\x00\xff\n+1\n",
		"expires,number\n2001-01-01,+81312345678\n",
		"+" + strings.Repeat("9", 70) + "\n",
		"0312345678,x,not-a-date\n",
		"\xff\xfe0\x003\x00\n\x00",
		"number\n\n\n",
		"*\n+*\n+81*\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	st, err := Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	ctx := context.Background()
	// One entry that must survive every failed import untouched.
	keep := screening.Entry{Kind: screening.Block, Number: "+81399999999", Reason: "keep", Source: screening.SourceImport}
	if err := st.Put(ctx, keep); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, skipBad bool) {
		before := entries(t, st)
		rep, err := st.Import(ctx, screening.Block, bytes.NewReader(data), ImportOptions{Normalize: normalizeJP, SkipBad: skipBad})
		after := entries(t, st)
		if err != nil {
			if !slices.Equal(before, after) {
				t.Fatalf("failed import (%v) changed the list:\nbefore %v\nafter  %v", err, before, after)
			}
			var ie *ImportError
			if errors.As(err, &ie) && (ie.Total != rep.BadLines || ie.Total == 0) {
				t.Errorf("ImportError total %d, report %d bad", ie.Total, rep.BadLines)
			}
			if rep.Imported != 0 || rep.Added != 0 {
				t.Errorf("failed import reports Imported=%d Added=%d", rep.Imported, rep.Added)
			}
			return
		}
		if !skipBad && rep.BadLines != 0 {
			t.Errorf("import without SkipBad succeeded with %d bad lines", rep.BadLines)
		}
		if got := int64(len(after) - len(before)); got != rep.Added {
			t.Errorf("list grew by %d, report says Added=%d", got, rep.Added)
		}
		if rep.Imported+rep.BadLines+rep.Skipped != rep.Lines {
			t.Errorf("Imported %d + bad %d + skipped %d != lines %d", rep.Imported, rep.BadLines, rep.Skipped, rep.Lines)
		}
		for _, e := range after {
			if !strings.HasPrefix(e, "+") {
				t.Errorf("imported number %q is not E.164", e)
			}
		}
		// Reset to the one kept entry for the next input.
		for _, e := range after {
			if n, _, _ := strings.Cut(e, "|"); n != keep.Number {
				if _, err := st.Delete(ctx, screening.Block, n); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := st.Put(ctx, keep); err != nil {
			t.Fatal(err)
		}
	})
}

// entries returns the block list as comparable strings.
func entries(t *testing.T, st *Store) []string {
	t.Helper()
	es, err := st.Entries(context.Background(), ListFilter{Kind: screening.Block, IncludeExpired: true})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s|%s|%s|%d|%d", e.Number, e.Reason, e.Source, e.Expires.UnixNano(), e.Created.UnixNano()))
	}
	slices.Sort(out)
	return out
}
