package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/callscreen/callscreen/screening"
)

func TestListsVersionChangesWithEveryEdit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v.db")
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A second process's view of the same database.
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	version := func() int64 {
		t.Helper()
		v, err := other.ListsVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	steps := []struct {
		name string
		edit func() error
	}{
		{"put", func() error { return st.Put(ctx, screening.Entry{Kind: screening.Block, Number: "+81312345678"}) }},
		{"update", func() error {
			return st.Put(ctx, screening.Entry{Kind: screening.Block, Number: "+81312345678", Reason: "again"})
		}},
		{"delete", func() error { _, err := st.Delete(ctx, screening.Block, "+81312345678"); return err }},
	}
	last := version()
	for _, s := range steps {
		if err := s.edit(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		v := version()
		if v == last {
			t.Errorf("%s did not change the lists version (%d)", s.name, v)
		}
		last = v
	}
	if err := appendRecord(ctx, st, screening.Record{ID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != last {
		t.Errorf("a call log record changed the lists version %d -> %d", last, v)
	}
}
