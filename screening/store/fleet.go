package store

import (
	"context"
	"fmt"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// FleetServer is what the call log holds of one server screening for one
// tenant: how many calls it recorded since a time, and when the last.
type FleetServer struct {
	Server, Tenant string
	Calls          int
	Last           time.Time
}

// Fleet returns the servers and tenants that recorded calls at or after
// since, one FleetServer per (server, tenant) pair, ordered by server and
// tenant. A database of one server without tenants has one pair, both
// names empty.
func (s *Store) Fleet(ctx context.Context, since time.Time) ([]FleetServer, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT server, tenant, count(*), max(time) FROM call_log
		WHERE time >= ? GROUP BY server, tenant ORDER BY server, tenant`), since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("store: fleet: %w", err)
	}
	defer rows.Close()
	var out []FleetServer
	for rows.Next() {
		var (
			f    FleetServer
			last int64
		)
		if err := rows.Scan(&f.Server, &f.Tenant, &f.Calls, &last); err != nil {
			return nil, fmt.Errorf("store: fleet: %w", err)
		}
		f.Last = time.Unix(0, last)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: fleet: %w", err)
	}
	return out, nil
}

// CountIn returns how many entries the list of kind k holds in the given
// scopes ("" is the scope of every tenant; nil counts every scope, as
// Count does), including expired entries not yet purged.
func (s *Store) CountIn(ctx context.Context, k screening.ListKind, tenants []string) (int, error) {
	if tenants == nil {
		return s.Count(ctx, k)
	}
	c, args := tenantsIn(tenants)
	var n int
	if err := s.r.QueryRowContext(ctx, s.q("SELECT count(*) FROM list_entries WHERE kind = ? AND "+c), append([]any{string(k)}, args...)...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count %s: %w", k, err)
	}
	return n, nil
}
