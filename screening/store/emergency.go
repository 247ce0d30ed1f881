package store

import (
	"context"
	"fmt"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// upsertEmergency keeps, per tenant and profile, the emergency call whose
// window closes last.
const upsertEmergency = `INSERT INTO emergency_calls (tenant, profile, number, what, call_id, dialled, closes)
VALUES (?1, ?2, ?3, ?4, ?5, CAST(?6 AS BIGINT), CAST(?7 AS BIGINT))
ON CONFLICT (tenant, profile) DO UPDATE SET
	number  = excluded.number,
	what    = excluded.what,
	call_id = excluded.call_id,
	dialled = excluded.dialled,
	closes  = excluded.closes
WHERE excluded.closes >= emergency_calls.closes`

// SaveEmergencyCall keeps c, an emergency call of tenant's business whose
// callback window is open (screening.Engine.EmergencyCallback), so that a
// restart of serve within the window does not close it. Windows closed by
// now are deleted.
func (s *Store) SaveEmergencyCall(ctx context.Context, tenant string, c screening.EmergencyCall, now time.Time) error {
	if err := validateTenant(tenant); err != nil {
		return fmt.Errorf("store: save emergency call: %w", err)
	}
	if c.Number == "" || !c.Until.After(c.At) {
		return fmt.Errorf("store: save emergency call %q: no window (%s to %s)", c.Number, c.At, c.Until)
	}
	if _, err := s.w.ExecContext(ctx, s.q(upsertEmergency),
		tenant, c.Profile, c.Number, c.What, c.CallID, c.At.UnixNano(), c.Until.UnixNano()); err != nil {
		return fmt.Errorf("store: save emergency call %s: %w", c.Number, err)
	}
	if _, err := s.w.ExecContext(ctx, s.q("DELETE FROM emergency_calls WHERE closes <= CAST(?1 AS BIGINT)"), now.UnixNano()); err != nil {
		return fmt.Errorf("store: prune emergency calls: %w", err)
	}
	return nil
}

// EmergencyCalls returns tenant's emergency calls whose windows are open at
// now, for serve to reopen them when it starts.
func (s *Store) EmergencyCalls(ctx context.Context, tenant string, now time.Time) ([]screening.EmergencyCall, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT profile, number, what, call_id, dialled, closes FROM emergency_calls
WHERE tenant = ?1 AND closes > CAST(?2 AS BIGINT) ORDER BY profile`), tenant, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("store: emergency calls: %w", err)
	}
	defer rows.Close()
	var out []screening.EmergencyCall
	for rows.Next() {
		var (
			c               screening.EmergencyCall
			dialled, closes int64
		)
		if err := rows.Scan(&c.Profile, &c.Number, &c.What, &c.CallID, &dialled, &closes); err != nil {
			return nil, fmt.Errorf("store: emergency calls: %w", err)
		}
		c.At, c.Until = time.Unix(0, dialled).UTC(), time.Unix(0, closes).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: emergency calls: %w", err)
	}
	return out, nil
}
