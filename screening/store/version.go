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

// listsWrite runs write in a transaction and returns the lists version
// that holds the write: a snapshot read at that version or later
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
	return after, nil
}
