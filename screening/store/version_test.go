package store

import (
	"context"
	"path/filepath"
	"strings"
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

// TestListsChanged: a server's own Put and Delete do not call for a
// reload; another process's do, and so does an import.
func TestListsChanged(t *testing.T) {
	ctx := context.Background()
	entry := func(n string) screening.Entry { return screening.Entry{Kind: screening.Allow, Number: n} }
	tests := []struct {
		name        string
		edit        func(serve, cli *Store) error
		wantChanged bool
	}{
		{"nothing", func(serve, cli *Store) error { return nil }, false},
		{"serve puts", func(serve, cli *Store) error { return serve.Put(ctx, entry("+81312345678")) }, false},
		{"serve puts twice and deletes", func(serve, cli *Store) error {
			if err := serve.Put(ctx, entry("+81312345678")); err != nil {
				return err
			}
			if err := serve.Put(ctx, entry("+81312345679")); err != nil {
				return err
			}
			_, err := serve.Delete(ctx, screening.Allow, "+81312345678")
			return err
		}, false},
		{"serve deletes nothing", func(serve, cli *Store) error {
			_, err := serve.Delete(ctx, screening.Allow, "+81399999999")
			return err
		}, false},
		{"the CLI puts", func(serve, cli *Store) error { return cli.Put(ctx, entry("+81312345678")) }, true},
		{"serve, then the CLI", func(serve, cli *Store) error {
			if err := serve.Put(ctx, entry("+81312345678")); err != nil {
				return err
			}
			return cli.Put(ctx, entry("+81312345670"))
		}, true},
		{"the CLI, then serve", func(serve, cli *Store) error {
			if err := cli.Put(ctx, entry("+81312345678")); err != nil {
				return err
			}
			return serve.Put(ctx, entry("+81312345670"))
		}, true},
		{"serve imports", func(serve, cli *Store) error {
			_, err := serve.Import(ctx, screening.Block, strings.NewReader("+81312345678\n+81312345679\n"), ImportOptions{})
			return err
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "v.db")
			serve, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer serve.Close()
			cli, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			// Some history first, as a running server has.
			if err := cli.Put(ctx, entry("+81300000000")); err != nil {
				t.Fatal(err)
			}
			since, _, err := serve.ListsChanged(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.edit(serve, cli); err != nil {
				t.Fatal(err)
			}
			v, changed, err := serve.ListsChanged(ctx, since)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v (version %d -> %d)", changed, tt.wantChanged, since, v)
			}
			// Asked again from the version it returned: nothing new.
			if _, again, _ := serve.ListsChanged(ctx, v); again {
				t.Error("changed again with no edit in between")
			}
		})
	}
}

// TestPurgeExpiredIsOwnChange checks that a server's purge of expired
// entries does not make it reload its lists: they were no longer in force.
func TestPurgeExpiredIsOwnChange(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	putAll(t, st,
		entry("block", "+81312345671", "2026-02-01T00:00:00Z"),
		entry("block", "+81312345672", "2026-02-01T00:00:00Z"),
		entry("block", "+81312345673", ""),
	)
	v, _, err := st.ListsChanged(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := st.PurgeExpired(ctx, t0); err != nil || n != 2 {
		t.Fatalf("PurgeExpired = %d, %v; want 2", n, err)
	}
	if _, changed, err := st.ListsChanged(ctx, v); err != nil || changed {
		t.Errorf("ListsChanged after an own purge = %v, %v; want no change", changed, err)
	}
}

// TestListsChangedAskedAgain checks that asking again from the same
// version gives the same answer: serve does while a change settles.
func TestListsChangedAskedAgain(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	putAll(t, st, entry("block", "+81312345671", ""))
	v, _, err := st.ListsChanged(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, st, entry("block", "+81312345672", ""), entry("block", "+81312345673", ""))
	for i := range 3 {
		if _, changed, err := st.ListsChanged(ctx, v); err != nil || changed {
			t.Errorf("asked %d times: ListsChanged after own writes = %v, %v; want no change", i+1, changed, err)
		}
	}
}
