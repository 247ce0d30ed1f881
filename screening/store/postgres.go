package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// IsPostgres reports whether a database setting names a PostgreSQL
// database (a postgres:// or postgresql:// URL) rather than a SQLite file.
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// RedactURL returns a database setting fit for logs: a PostgreSQL URL
// without its password; anything else unchanged.
func RedactURL(database string) string {
	if !IsPostgres(database) {
		return database
	}
	u, err := url.Parse(database)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return u.Redacted()
}

// postgres is what a Store on PostgreSQL keeps besides its pool.
type postgres struct {
	cfg *pgx.ConnConfig
}

// The notification channel every change to the lists is announced on,
// with the new lists version as payload.
const listsChannel = "callscreen_lists"

// migrationLock is the advisory lock key under which a server brings the
// schema up to date, so that servers starting together migrate once.
const migrationLock = 0x63616c6c73637265 // "callscre"

func openPostgres(ctx context.Context, dsn string, o options) (*Store, error) {
	name := RedactURL(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	if err := migratePostgres(ctx, db, postgresMigrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	return &Store{path: name, d: postgresDialect, w: db, r: db, pg: &postgres{cfg: cfg}, log: o.log}, nil
}

// migratePostgres applies the steps of ms the database has not seen, all
// in one transaction (PostgreSQL's DDL is transactional) under an advisory
// lock, recording the version in callscreen_schema.
func migratePostgres(ctx context.Context, db *sql.DB, ms []migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS callscreen_schema (version INTEGER NOT NULL)"); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var v int
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM callscreen_schema").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this program knows (%d): upgrade callscreen", v, len(ms))
	}
	if v == len(ms) {
		return nil
	}
	for _, m := range ms[v:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM callscreen_schema"); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO callscreen_schema (version) VALUES ($1)", len(ms)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return tx.Commit()
}

// SchemaVersion returns the schema version the database is at and the one
// this program brings it to.
func (s *Store) SchemaVersion(ctx context.Context) (have, want int, err error) {
	if s.pg != nil {
		err = s.r.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM callscreen_schema").Scan(&have)
		return have, len(postgresMigrations), err
	}
	err = s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have)
	return have, len(sqliteMigrations), err
}

// WatchLists calls wake whenever another server (or this one) changes the
// lists, and once each time it (re)connects, since changes made while it
// was away were not announced; it returns when ctx ends. On SQLite it
// returns at once: a single server polls.
func (s *Store) WatchLists(ctx context.Context, wake func()) {
	if s.pg == nil {
		return
	}
	s.Listen(ctx, listsChannel, func(string) { wake() })
}

// Listen delivers the payloads of the notifications on channel to fn, and
// an empty payload each time it (re)connects, until ctx ends. It holds a
// connection of its own and reconnects with a growing pause (100 ms to
// 5 s) when it is lost. On SQLite it returns at once.
func (s *Store) Listen(ctx context.Context, channel string, fn func(payload string)) {
	if s.pg == nil {
		return
	}
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, channel, fn, func() { pause = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("store: listening for changes", "channel", channel, "err", err, "retry_in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(pause*2, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, channel string, fn func(string), connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pg.cfg.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	connected()
	fn("")
	for {
		// A bounded wait doubles as a keepalive: a connection that died
		// without a word is found within a minute.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) {
				if err := conn.Ping(ctx); err != nil {
					return err
				}
				continue
			}
			return err
		}
		fn(n.Payload)
	}
}

// Notify sends payload on channel when tx commits (PostgreSQL only).
func (s *Store) notifyTx(ctx context.Context, tx *sql.Tx, channel, payload string) error {
	if s.pg == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", channel, payload)
	return err
}

// Notify sends payload on channel at once (PostgreSQL only).
func (s *Store) Notify(ctx context.Context, channel, payload string) error {
	if s.pg == nil {
		return nil
	}
	_, err := s.w.ExecContext(ctx, "SELECT pg_notify($1, $2)", channel, payload)
	return err
}

// copyRows writes encoded call records with COPY, in one statement
// straight into the call log: two round trips for the rows however many
// there are. A batch holding an ID the log already has (a journal
// replayed after a crash) goes through a staging table instead, which
// skips those IDs.
func (s *Store) copyRows(ctx context.Context, rows []recordRow) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c := dc.(*stdlib.Conn).Conn()
		src := make([][]any, len(rows))
		for i, r := range rows {
			src[i] = r
		}
		_, err := c.CopyFrom(ctx, pgx.Identifier{"call_log"}, recordColumns, pgx.CopyFromRows(src))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != pgUniqueViolation {
			return err
		}
		return s.copyRowsSkipping(ctx, c, src)
	})
}

// pgUniqueViolation is PostgreSQL's error code for a duplicate key.
const pgUniqueViolation = "23505"

// copyRowsSkipping writes rows with COPY into a staging table and from
// there into the call log, ignoring IDs it already holds, in one
// transaction.
func (s *Store) copyRowsSkipping(ctx context.Context, c *pgx.Conn, src [][]any) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE IF NOT EXISTS call_log_in (LIKE call_log) ON COMMIT DELETE ROWS"); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"call_log_in"}, recordColumns, pgx.CopyFromRows(src)); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, "INSERT INTO call_log SELECT * FROM call_log_in ON CONFLICT (id) DO NOTHING")
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if d := int64(len(src)) - tag.RowsAffected(); d > 0 {
		s.duplicates.Add(uint64(d))
	}
	return nil
}

// recordColumns are the call log's columns in table order, the order of a
// recordRow.
var recordColumns = []string{"id", "time", "mode", "caller", "called", "profile", "action", "taken", "outcome",
	"score", "presence", "reasons", "monitor", "decision_ns", "handling_ns", "record", "server", "tenant"}
