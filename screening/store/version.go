package store

import (
	"context"
	"database/sql"
	"fmt"
)

// ListsVersion returns a number that changes whenever any list entry is
// added, changed or removed, by this process or another.
func (s *Store) ListsVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.r.QueryRowContext(ctx, "SELECT version FROM lists_version WHERE id = 1").Scan(&v); err != nil {
		return 0, fmt.Errorf("read lists version: %w", err)
	}
	return v, nil
}

// maxOwnVersions bounds the versions a Store remembers having made; past
// it, ListsChanged reports a change and the caller reloads.
const maxOwnVersions = 4096

// ListsChanged reports whether the lists changed after version since other
// than by this Store's Put and Delete, and returns the current version.
// A server that applies its own writes to its live lists as it makes them
// (a caller who passed a challenge, a throttle, a click on the dashboard)
// need not reload a snapshot of millions of entries for each of them:
// only another process's change (the CLI, an import) calls for that.
func (s *Store) ListsChanged(ctx context.Context, since int64) (v int64, changed bool, err error) {
	if v, err = s.ListsVersion(ctx); err != nil {
		return 0, false, err
	}
	s.ownMu.Lock()
	defer s.ownMu.Unlock()
	if v-since > int64(len(s.own)) {
		changed = true // more steps than this Store made
	} else {
		for n := since + 1; n <= v; n++ {
			if _, ok := s.own[n]; !ok {
				changed = true
				break
			}
		}
	}
	// Versions up to since are behind the caller; later ones stay, so that
	// asking again from the same since gives the same answer.
	for n := range s.own {
		if n <= since {
			delete(s.own, n)
		}
	}
	return v, changed || v < since, nil
}

// listsWrite runs write in a transaction, remembers the list versions it
// made (in a write transaction no other writer can move the version, so
// every step is this write's; a write of more than maxOwnVersions rows is
// left for ListsChanged to report), and returns the lists
// version that holds the write: a snapshot read at that version or later
// includes it.
//
// The write is recorded as change c in list_changes, the feed the other
// servers follow (feed.go), and announced to them on PostgreSQL.
func (s *Store) listsWrite(ctx context.Context, c change, write func(tx *sql.Tx) error) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var before, after int64
	if err := tx.QueryRowContext(ctx, s.d.lockVersion).Scan(&before); err != nil {
		return 0, err
	}
	if err := write(tx); err != nil {
		return 0, err
	}
	if err := tx.QueryRowContext(ctx, "SELECT version FROM lists_version WHERE id = 1").Scan(&after); err != nil {
		return 0, err
	}
	if after > before {
		if err := s.recordChange(ctx, tx, c, after, after-before); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	if after > before && after-before <= maxOwnVersions {
		s.ownMu.Lock()
		if len(s.own)+int(after-before) > maxOwnVersions {
			clear(s.own) // nobody is asking: the next ListsChanged reloads
		}
		for v := before + 1; v <= after; v++ {
			s.own[v] = struct{}{}
		}
		s.ownMu.Unlock()
	}
	return after, nil
}
