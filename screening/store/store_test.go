package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// newStore opens a store in a fresh temporary directory and closes it when
// the test ends.
func newStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	st, err := Open(t.Context(), testDatabase(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st
}

func TestOpenAppliesMigrationsOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "db.sqlite")
	for i := range 3 {
		st, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		var v int
		if err := st.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != len(sqliteMigrations) {
			t.Errorf("open #%d: schema version %d, want %d", i+1, v, len(sqliteMigrations))
		}
		var mode string
		if err := st.r.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v; want wal", mode, err)
		}
		var sync, fk int
		if err := st.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
			t.Errorf("synchronous = %d, %v; want 1 (NORMAL)", sync, err)
		}
		if err := st.w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
			t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
		}
		if err := st.IntegrityCheck(ctx); err != nil {
			t.Error(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrate runs migrations that count their own applications.
func TestMigrate(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0001_counter.sql": {Data: []byte("CREATE TABLE applied (n INTEGER); INSERT INTO applied VALUES (1);")},
		"m/0002_more.sql":    {Data: []byte("INSERT INTO applied VALUES (2); CREATE TABLE second (x);")},
		"m/0003_broken.sql":  {Data: []byte("CREATE TABLE third (x); INSERT INTO no_such_table VALUES (1);")},
	}
	all, err := loadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// A database of its own, without the store's schema.
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), "m.db"), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	version := func() int {
		var v int
		if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	applied := func() string {
		rows, err := db.QueryContext(ctx, "SELECT n FROM applied ORDER BY rowid")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var s []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			s = append(s, n)
		}
		return strings.Join(s, ",")
	}

	for i := range 2 {
		if err := migrate(ctx, db, all[:2]); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if v, a := version(), applied(); v != 2 || a != "1,2" {
			t.Fatalf("run %d: version %d, applied %q; want 2, \"1,2\"", i, v, a)
		}
	}

	// A failing migration leaves nothing behind.
	if err := migrate(ctx, db, all); err == nil || !strings.Contains(err.Error(), "0003_broken") {
		t.Fatalf("broken migration: err = %v, want one naming it", err)
	}
	if v := version(); v != 2 {
		t.Errorf("after failed migration: version %d, want 2", v)
	}
	var n int
	db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name = 'third'").Scan(&n)
	if n != 0 {
		t.Error("failed migration left table third behind")
	}

	// A database newer than the program is refused.
	if err := migrate(ctx, db, all[:1]); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("older program: err = %v, want a schema-too-new error", err)
	}
}

func TestLoadMigrationsNumbering(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		ok    bool
	}{
		{"contiguous", []string{"0001_a.sql", "0002_b.sql"}, true},
		{"gap", []string{"0001_a.sql", "0003_c.sql"}, false},
		{"zero", []string{"0000_a.sql"}, false},
		{"no number", []string{"a.sql"}, false},
		{"duplicate", []string{"0001_a.sql", "0001_b.sql"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tt.files {
				fsys["m/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			_, err := loadMigrations(fsys, "m")
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestOpenUnwritable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, bytes.Repeat([]byte("not sqlite\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing directory", filepath.Join(dir, "nope", "db"), "does not exist"},
		{"parent is a file", filepath.Join(file, "db"), "not a directory"},
		{"path is a directory", dir, "is a directory"},
		{"empty", "", "empty database path"},
		{"not a database", file, "not a database"},
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o500)
		tests = append(tests, struct{ name, path, want string }{"read-only directory", filepath.Join(ro, "db"), "permission denied"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Open(t.Context(), tt.path)
			if err == nil {
				st.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "store: open") {
				t.Errorf("err = %q, want it to start with \"store: open\" and contain %q", err, tt.want)
			}
		})
	}
}

func TestContextCanceled(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := st.Entries(ctx, ListFilter{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Entries with canceled context: %v", err)
	}
}
