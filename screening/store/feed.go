package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// The change feed: every write to the lists leaves a row in list_changes
// at the lists version it produced, so that a running server applies
// another's change (a block clicked on a dashboard elsewhere in the fleet,
// a number the CLI added) to its live lists entry by entry, instead of
// reloading millions of entries. A gap in the versions (a hand edit of the
// table, changes pruned while a server was away) or a bulk change (an
// import) calls for a whole snapshot instead.

// Change operations.
const (
	opPut    = "put"
	opDelete = "delete"
	opBulk   = "bulk"  // an import: followers reload
	opPurge  = "purge" // expired entries removed: nothing in force changed
)

// changesKept is how long list_changes keeps a change: a server away for
// longer reloads its lists when it comes back.
const changesKept = 24 * time.Hour

// maxFeedChanges is the most changes Changes returns; a server further
// behind reloads.
const maxFeedChanges = 10_000

// change is one write to the lists, as recorded in the feed.
type change struct {
	op    string
	entry screening.Entry // kind and number (and tenant) for a delete
}

// recordChange writes c to the feed at version, taking steps versions,
// inside the write's transaction, and announces it on PostgreSQL.
func (s *Store) recordChange(ctx context.Context, tx *sql.Tx, c change, version, steps int64) error {
	e := c.entry
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO list_changes
		(version, steps, op, tenant, kind, number, expires, source, reason, created, made)
		VALUES (?, ?, ?, ?, ?, ?, CAST(? AS BIGINT), ?, ?, CAST(? AS BIGINT), ?)`),
		version, steps, c.op, e.Tenant, string(e.Kind), e.Number, nanos(e.Expires), e.Source, e.Reason, nanos(e.Created), time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	return s.notifyTx(ctx, tx, listsChannel, strconv.FormatInt(version, 10))
}

// A ListChange is one change to the lists a server applies: Entry is put
// on its list at Version, or, when Removed, its kind and number are taken
// off.
type ListChange struct {
	Version int64
	Entry   screening.Entry
	Removed bool
}

// ChangeSet is what changed in the lists after a version.
type ChangeSet struct {
	// Version is the lists version the set brings a server to.
	Version int64
	// Changes are the changes that concern the server's tenant, oldest
	// first.
	Changes []ListChange
	// Reload says the changes cannot all be told entry by entry (an
	// import, a hand edit, a server away for long): load a whole snapshot.
	// Changes then holds those that can, to apply meanwhile.
	Reload bool
}

// Changes returns what changed in the lists after version since, as seen
// by a server screening for tenant: changes to the entries of every
// tenant and to tenant's own. An entry removed from one scope that another
// scope the server sees still holds comes back as that entry.
func (s *Store) Changes(ctx context.Context, since int64, tenant string) (ChangeSet, error) {
	var cs ChangeSet
	// Nothing new, the common answer to a periodic look: one statement.
	v, err := s.ListsVersion(ctx)
	if err != nil {
		return cs, fmt.Errorf("store: changes: %w", err)
	}
	if v == since {
		cs.Version = v
		return cs, nil
	}
	tx, err := s.r.BeginTx(ctx, s.d.consistent)
	if err != nil {
		return cs, fmt.Errorf("store: changes: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, "SELECT version FROM lists_version WHERE id = 1").Scan(&cs.Version); err != nil {
		return cs, fmt.Errorf("store: changes: %w", err)
	}
	if cs.Version == since {
		return cs, nil
	}
	if cs.Version < since {
		cs.Reload = true // a different database, or one restored from a backup
		return cs, nil
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT version, steps, op, tenant, kind, number, expires, source, reason, created
		FROM list_changes WHERE version > ? AND version <= ? ORDER BY version LIMIT ?`), since, cs.Version, maxFeedChanges+1)
	if err != nil {
		return cs, fmt.Errorf("store: changes: %w", err)
	}
	var covered int64
	var n int
	for rows.Next() {
		var (
			c                ListChange
			steps            int64
			op, kind         string
			expires, created sql.NullInt64
		)
		if err := rows.Scan(&c.Version, &steps, &op, &c.Entry.Tenant, &kind, &c.Entry.Number, &expires, &c.Entry.Source, &c.Entry.Reason, &created); err != nil {
			rows.Close()
			return cs, fmt.Errorf("store: changes: %w", err)
		}
		n++
		covered += steps
		c.Entry.Kind = screening.ListKind(kind)
		c.Entry.Expires = fromNanos(expires)
		c.Entry.Created = fromNanos(created)
		switch op {
		case opPurge:
			continue
		case opPut, opDelete:
			c.Removed = op == opDelete
		default: // bulk, or an operation a newer version wrote
			cs.Reload = true
			continue
		}
		if c.Entry.Tenant != "" && c.Entry.Tenant != tenant {
			continue
		}
		cs.Changes = append(cs.Changes, c)
	}
	if err := rows.Err(); err != nil {
		return cs, fmt.Errorf("store: changes: %w", err)
	}
	rows.Close()
	if covered != cs.Version-since || n > maxFeedChanges {
		cs.Reload = true
	}
	// A removal from one scope: another scope the server sees may still
	// hold the number.
	for i, c := range cs.Changes {
		if !c.Removed {
			continue
		}
		var (
			e                screening.Entry
			expires, created sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, s.q(`SELECT expires, source, reason, created, tenant FROM list_entries
			WHERE kind = ? AND number = ? AND tenant IN ('', ?) ORDER BY tenant DESC LIMIT 1`),
			string(c.Entry.Kind), c.Entry.Number, tenant).Scan(&expires, &e.Source, &e.Reason, &created, &e.Tenant)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return cs, fmt.Errorf("store: changes: %w", err)
		}
		e.Kind, e.Number = c.Entry.Kind, c.Entry.Number
		e.Expires, e.Created = fromNanos(expires), fromNanos(created)
		cs.Changes[i] = ListChange{Version: c.Version, Entry: e}
	}
	return cs, nil
}

// MaxTenantLen is the longest tenant name.
const MaxTenantLen = 64

// validateTenant checks a tenant name: letters, digits, '.', '_' and '-'.
func validateTenant(t string) error {
	if len(t) > MaxTenantLen {
		return fmt.Errorf("tenant %q: longer than %d characters", t, MaxTenantLen)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("tenant %q: use letters, digits, '.', '_' and '-'", t)
		}
	}
	return nil
}

// ValidateTenant checks a tenant or server name as configured.
func ValidateTenant(t string) error { return validateTenant(t) }

// tenantsIn is the condition selecting the entries of the scopes ts.
func tenantsIn(ts []string) (string, []any) {
	if len(ts) == 0 {
		return "1 = 0", nil
	}
	args := make([]any, len(ts))
	for i, t := range ts {
		args[i] = t
	}
	return "tenant IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(ts)), ", ") + ")", args
}
