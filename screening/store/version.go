package store

import (
	"context"
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
