package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrNotFound is returned (wrapped) when a requested row does not exist.
var ErrNotFound = errors.New("not found")

// busyTimeout is how long a connection waits for another connection (or
// another process, such as the CLI importing a list while the server runs)
// to release the write lock before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// Store is the SQLite-backed store of the lists and the call log. It is safe
// for concurrent use.
//
// Writes go through a single connection (SQLite admits one writer at a time;
// serialising them in the process avoids lock contention and retries), reads
// through a small pool of read-only connections that WAL mode lets run
// alongside the writer.
type Store struct {
	path string
	d    *dialect
	w    *sql.DB   // SQLite: exactly one connection, every transaction BEGIN IMMEDIATE
	r    *sql.DB   // SQLite: read-only connections; PostgreSQL: w
	pg   *postgres // PostgreSQL only: the URL, LISTEN and COPY
	log  *slog.Logger

	// duplicates counts records ignored for an ID already logged.
	duplicates atomic.Uint64

	// sightingsPruned is when SweepAggregates last pruned fleet_sightings
	// (Unix nanoseconds; sightings.go).
	sightingsPruned atomic.Int64
}

// Option configures Open.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger sends what the store reports on its own (a change feed
// reconnecting, a snapshot skipping invalid entries) to l instead of
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// Open opens the SQLite database at path, creating it when it does not exist,
// and brings its schema up to date. The directory must exist and be
// writable: SQLite keeps the write-ahead log beside the database file.
//
// A PostgreSQL URL (postgres://… or postgresql://…) opens the shared fleet
// database instead (postgres.go).
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, errors.New("store: open: empty database path")
	}
	if IsPostgres(path) {
		return openPostgres(ctx, path, o)
	}
	if path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store: open %s: want a file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := checkWritable(abs); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	w, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_busy_timeout": {strconv.FormatInt(busyTimeout.Milliseconds(), 10)},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"NORMAL"},
		"_foreign_keys": {"1"},
		"_txlock":       {"immediate"},
		"_error_rc":     {"1"},
		"_pragma": {
			"journal_size_limit(67108864)", // shrink the WAL back to 64 MiB after a large import
		},
	}))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := migrate(ctx, w, sqliteMigrations); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	r, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_busy_timeout": {strconv.FormatInt(busyTimeout.Milliseconds(), 10)},
		"_query_only":   {"1"},
		"_error_rc":     {"1"},
	}))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	n := min(max(runtime.GOMAXPROCS(0), 2), 8)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return &Store{path: abs, d: sqliteDialect, w: w, r: r, log: o.log}, nil
}

// dsn builds a SQLite URI for the file at abs. The URI form escapes any '?'
// or '#' in the path, which a plain file name passed to the driver would
// misread as the start of its parameters.
func dsn(abs string, params url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), OmitHost: true}
	return u.String() + "?" + params.Encode()
}

// checkWritable reports, in the operating system's words, why the database
// at abs could not be opened for writing. SQLite's own message for all of
// these cases is "unable to open database file".
func checkWritable(abs string) error {
	dir := filepath.Dir(abs)
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("directory %s does not exist", dir)
		}
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory, not a database file", abs)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("database file is not writable: %w", err)
	}
	f.Close()
	// The -wal and -shm files are created beside the database.
	probe, err := os.CreateTemp(dir, ".callscreen-probe-*")
	if err != nil {
		return fmt.Errorf("directory %s is not writable (SQLite needs it for the write-ahead log): %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// Path returns the absolute path of the database file, or the PostgreSQL
// URL without its password.
func (s *Store) Path() string { return s.path }

// Postgres reports whether the store is the shared PostgreSQL database.
func (s *Store) Postgres() bool { return s.pg != nil }

// Close closes the database. A LogWriter using the store must be closed
// first.
func (s *Store) Close() error {
	if s.pg != nil {
		return s.w.Close()
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// IntegrityCheck runs SQLite's integrity check over the whole database and
// returns an error describing the first problems it finds. On PostgreSQL,
// which checks its own pages, it checks that the database answers.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	if s.pg != nil {
		if err := s.r.PingContext(ctx); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		return nil
	}
	rows, err := s.r.QueryContext(ctx, "PRAGMA integrity_check(20)")
	if err != nil {
		return fmt.Errorf("store: integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("store: integrity check: %w", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("store: integrity check failed: %s", strings.Join(problems, "; "))
	}
	return nil
}

// migrations is the schema, one numbered file per step: NNNN_name.sql.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// A migration is one schema step. Version N is recorded in PRAGMA
// user_version once the step has been applied.
type migration struct {
	version int
	name    string
	sql     string
}

// sqliteMigrations and postgresMigrations hold the embedded schema steps
// of each database, in order; they are never modified. Each is numbered
// on its own.
var (
	sqliteMigrations   = mustLoadMigrations(migrationFiles, "migrations/sqlite")
	postgresMigrations = mustLoadMigrations(migrationFiles, "migrations/postgres")
)

func mustLoadMigrations(fsys fs.FS, dir string) []migration {
	ms, err := loadMigrations(fsys, dir)
	if err != nil {
		panic(err) // the embedded files are part of the program
	}
	return ms
}

// loadMigrations reads NNNN_name.sql files and checks that they are numbered
// 1, 2, 3, ... without gaps.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		if !ok {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", base)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(base, ".sql"), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// migrate applies the steps of ms that the database has not seen yet, each
// in its own transaction together with the new user_version, so that a
// step is applied exactly once even when two processes open the database
// at the same time.
func migrate(ctx context.Context, db *sql.DB, ms []migration) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this program knows (%d): upgrade callscreen", v, len(ms))
	}
	for _, m := range ms[v:] {
		if err := applyMigration(ctx, db, m); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if v >= m.version {
		return nil // another process got there first
	}
	if v != m.version-1 {
		return fmt.Errorf("migration %s: database is at version %d", m.name, v)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(m.version)); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	return nil
}

// nanos converts t to the stored form: Unix nanoseconds, or NULL for the
// zero time.
func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// fromNanos converts a stored time back; NULL becomes the zero time.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}
