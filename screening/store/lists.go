package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// upsertEntry inserts or replaces one list entry. ?6 is the entry's own
// creation time (NULL when it has none): a replaced entry keeps its
// original creation time unless a new one is given.
const upsertEntry = `INSERT INTO list_entries (kind, number, expires, source, reason, created, tenant)
VALUES (?1, ?2, CAST(?3 AS BIGINT), ?4, ?5, coalesce(CAST(?6 AS BIGINT), CAST(?7 AS BIGINT)), ?8)
ON CONFLICT (tenant, kind, number) DO UPDATE SET
	expires = excluded.expires,
	source  = excluded.source,
	reason  = excluded.reason,
	created = coalesce(CAST(?6 AS BIGINT), list_entries.created)`

func checkKind(k screening.ListKind) error {
	_, err := screening.ParseListKind(string(k))
	return err
}

// Put adds e to its list, or replaces the entry of the same kind and number.
// A replaced entry keeps its creation time unless e.Created is set; a new
// one without Created is stamped with the current time.
func (s *Store) Put(ctx context.Context, e screening.Entry) error {
	_, err := s.PutVersion(ctx, e)
	return err
}

// PutVersion is Put, and also returns the lists version that holds the
// entry, for screening.Lists.PutAt and Persisted: a snapshot read at that
// version or later includes it.
func (s *Store) PutVersion(ctx context.Context, e screening.Entry) (int64, error) {
	if err := checkKind(e.Kind); err != nil {
		return 0, fmt.Errorf("store: put: %w", err)
	}
	if err := screening.ValidateEntryNumber(e.Number); err != nil {
		return 0, fmt.Errorf("store: put: %w", err)
	}
	if err := validateTenant(e.Tenant); err != nil {
		return 0, fmt.Errorf("store: put: %w", err)
	}
	v, err := s.listsWrite(ctx, change{op: opPut, entry: e}, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(upsertEntry),
			string(e.Kind), e.Number, nanos(e.Expires), e.Source, e.Reason, nanos(e.Created), time.Now().UnixNano(), e.Tenant)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: put %s %s: %w", e.Kind, e.Number, err)
	}
	return v, nil
}

// Delete removes the entry of kind k for number (a number or a prefix
// pattern, exactly as stored) that applies to every tenant, and reports
// whether there was one.
func (s *Store) Delete(ctx context.Context, k screening.ListKind, number string) (bool, error) {
	removed, _, err := s.DeleteVersion(ctx, "", k, number)
	return removed, err
}

// DeleteVersion removes the entry of kind k for number in the scope of
// tenant ("" for every tenant), reports whether there was one and returns
// the lists version from which the store no longer holds it, for
// screening.Lists.DeleteAt.
func (s *Store) DeleteVersion(ctx context.Context, tenant string, k screening.ListKind, number string) (removed bool, version int64, err error) {
	var n int64
	c := change{op: opDelete, entry: screening.Entry{Kind: k, Number: number, Tenant: tenant}}
	v, err := s.listsWrite(ctx, c, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q("DELETE FROM list_entries WHERE tenant = ? AND kind = ? AND number = ?"), tenant, string(k), number)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, 0, fmt.Errorf("store: delete %s %s: %w", k, number, err)
	}
	return n > 0, v, nil
}

// ListFilter selects list entries. The zero value selects every active
// entry of every list.
type ListFilter struct {
	// Kind selects one list; empty selects all.
	Kind screening.ListKind
	// Prefix selects numbers (and patterns) that start with it, "+8190".
	Prefix string
	// Source selects entries created by one source (screening.SourceImport, ...).
	Source string
	// IncludeExpired also returns entries whose expiry has passed but that
	// have not been purged.
	IncludeExpired bool
	// Tenants selects the entries of these scopes ("" is the scope of
	// every tenant); nil selects all.
	Tenants []string
	// Now is the time expiry is judged at; zero means time.Now().
	Now time.Time
	// Limit caps the number of entries returned (0: no limit); Offset skips
	// that many first. Entries are ordered by kind, then number.
	Limit, Offset int
}

// Entries returns the list entries that f selects, ordered by kind and
// number.
func (s *Store) Entries(ctx context.Context, f ListFilter) ([]screening.Entry, error) {
	var (
		where []string
		args  []any
	)
	if f.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, string(f.Kind))
	}
	if f.Prefix != "" {
		lo, hi := prefixRange(f.Prefix)
		where = append(where, "number >= ? AND number < ?")
		args = append(args, lo, hi)
	}
	if f.Source != "" {
		where = append(where, "source = ?")
		args = append(args, f.Source)
	}
	if f.Tenants != nil {
		c, a := tenantsIn(f.Tenants)
		where = append(where, c)
		args = append(args, a...)
	}
	if !f.IncludeExpired {
		now := f.Now
		if now.IsZero() {
			now = time.Now()
		}
		where = append(where, "(expires IS NULL OR expires > ?)")
		args = append(args, now.UnixNano())
	}
	q := "SELECT kind, number, expires, source, reason, created, tenant FROM list_entries"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY kind, number, tenant"
	q += limitClause(f.Limit, f.Offset, &args)

	rows, err := s.r.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store: entries: %w", err)
	}
	defer rows.Close()
	var out []screening.Entry
	for rows.Next() {
		var (
			e                screening.Entry
			kind             string
			expires, created sql.NullInt64
		)
		if err := rows.Scan(&kind, &e.Number, &expires, &e.Source, &e.Reason, &created, &e.Tenant); err != nil {
			return nil, fmt.Errorf("store: entries: %w", err)
		}
		e.Kind = screening.ListKind(kind)
		e.Expires = fromNanos(expires)
		e.Created = fromNanos(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: entries: %w", err)
	}
	return out, nil
}

// limitClause returns a LIMIT/OFFSET clause and appends its arguments.
func limitClause(limit, offset int, args *[]any) string {
	if limit <= 0 && offset <= 0 {
		return ""
	}
	if limit <= 0 {
		limit = math.MaxInt64 // no limit, in both dialects
	}
	*args = append(*args, limit, max(offset, 0))
	return " LIMIT ? OFFSET ?"
}

// prefixRange returns the half-open range [lo, hi) of strings starting with
// p, which lets SQLite use an index where LIKE 'p%' could not.
func prefixRange(p string) (lo, hi string) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return p, string(b[:i+1])
		}
	}
	return p, "\xff\xff\xff\xff"
}

// Count returns how many entries the list of kind k holds, including
// expired entries not yet purged.
func (s *Store) Count(ctx context.Context, k screening.ListKind) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, s.q("SELECT count(*) FROM list_entries WHERE kind = ?"), string(k)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count %s: %w", k, err)
	}
	return n, nil
}

// PurgeExpired deletes the entries whose expiry is at or before now and
// returns how many it deleted. The feed tells the servers of the fleet
// nothing to apply (Changes): the entries were no longer in force.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	var n int64
	_, err := s.listsWrite(ctx, change{op: opPurge}, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM list_changes WHERE made < ?"), now.Add(-changesKept).UnixNano()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q("DELETE FROM list_entries INDEXED BY list_entries_kept WHERE ("+snapshotKept+") AND expires <= ?"), now.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: purge expired entries: %w", err)
	}
	return int(n), nil
}

// snapshotKept selects the entries Snapshot reads whole: prefix patterns,
// entries that expire, and every entry not from a bulk import (it mirrors
// screening.Entry.KeptWhole). Every
// other entry is an exact number kept as its digits alone, so Snapshot
// reads only its number.
//
// It is also the condition of the partial index list_entries_kept
// (migration 4), which SQLite uses only when a query repeats it exactly;
// the queries name the index, so a mismatch fails loudly instead of
// scanning the table.
const snapshotKept = "expires IS NOT NULL OR number LIKE '%*' OR source <> '" + screening.SourceImport + "'"

// Snapshot builds a compact, immutable index of every entry active at now,
// for screening.Lists.Replace. It reads the lists in one read transaction
// (a consistent view that does not block writers) and streams the rows
// into the builder, so memory is the snapshot itself (8 bytes per exact
// number) plus a constant.
//
// Rows that are not valid entries (edited into the database by hand) are
// skipped with a warning rather than failing the reload.
func (s *Store) Snapshot(ctx context.Context, now time.Time) (*screening.ListSnapshot, error) {
	return s.SnapshotFor(ctx, now, "")
}

// SnapshotFor is Snapshot for a server screening for tenant: the entries
// of every tenant and those of tenant.
func (s *Store) SnapshotFor(ctx context.Context, now time.Time, tenant string) (*screening.ListSnapshot, error) {
	tx, err := s.r.BeginTx(ctx, s.d.consistent)
	if err != nil {
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	defer tx.Rollback()
	// Rows are read with a context that cannot be canceled, which spares the
	// driver a watcher per row; ctx is checked every so many rows instead.
	rowCtx := context.WithoutCancel(ctx)
	at := now.UnixNano()
	var (
		b        screening.ListBuilder
		skipped  int
		firstBad error
	)
	// The version first: the transaction reads the lists as they were
	// when it made its first read, so the version names exactly the
	// changes the snapshot holds.
	var version int64
	if err := tx.QueryRowContext(ctx, "SELECT version FROM lists_version WHERE id = 1").Scan(&version); err != nil {
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	b.SetVersion(version)
	add := func(e screening.Entry) {
		if err := b.Add(e); err != nil {
			skipped++
			if firstBad == nil {
				firstBad = err
			}
		}
	}

	// The bulk of the lists: exact numbers that never expire, read one
	// column at a time, list by list.
	for _, k := range []screening.ListKind{screening.Allow, screening.Block, screening.DoNotOriginate} {
		var n int
		// An upper bound: counting only what is read costs a second scan.
		if err := tx.QueryRowContext(ctx, s.q("SELECT count(*) FROM list_entries WHERE tenant IN ('', ?) AND kind = ?"), tenant, string(k)).Scan(&n); err != nil {
			return nil, fmt.Errorf("store: snapshot %s: %w", k, err)
		}
		b.Grow(k, n)
		rows, err := tx.QueryContext(rowCtx, s.q("SELECT number FROM list_entries WHERE tenant IN ('', ?) AND kind = ? AND NOT ("+snapshotKept+")"), tenant, string(k))
		if err != nil {
			return nil, fmt.Errorf("store: snapshot %s: %w", k, err)
		}
		var number sql.RawBytes
		for i := 1; rows.Next(); i++ {
			if err := rows.Scan(&number); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: snapshot %s: %w", k, err)
			}
			// These rows are exactly those KeptWhole leaves out (bulk
			// imports that never expire): say so, or the builder keeps
			// each one whole, 25 times the 8 bytes of its digits.
			add(screening.Entry{Kind: k, Number: string(number), Source: screening.SourceImport})
			if i%65536 == 0 && ctx.Err() != nil {
				rows.Close()
				return nil, fmt.Errorf("store: snapshot: %w", ctx.Err())
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("store: snapshot %s: %w", k, err)
		}
	}

	// The rest, whole: prefix patterns, entries that expire, kept sources.
	rows, err := tx.QueryContext(rowCtx, s.q(`SELECT kind, number, expires, source, reason, created, tenant
		FROM list_entries INDEXED BY list_entries_kept
		WHERE (`+snapshotKept+`) AND (expires IS NULL OR expires > ?) AND tenant IN ('', ?)`), at, tenant)
	if err != nil {
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind, number, source, reason, scope string
			expires                             sql.NullInt64
			created                             int64
		)
		if err := rows.Scan(&kind, &number, &expires, &source, &reason, &created, &scope); err != nil {
			return nil, fmt.Errorf("store: snapshot: %w", err)
		}
		k, err := screening.ParseListKind(kind)
		if err != nil {
			skipped++
			firstBad = cmpOr(firstBad, err)
			continue
		}
		add(screening.Entry{
			Kind:    k,
			Number:  number,
			Expires: fromNanos(expires),
			Source:  source,
			Reason:  reason,
			Created: time.Unix(0, created).UTC(),
			Tenant:  scope,
		})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	if skipped > 0 {
		s.log.Warn("store: snapshot skipped invalid list entries", "count", skipped, "first", firstBad)
	}
	return b.Build(), nil
}
