package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// MaxDays is the longest period DailyCounts counts, in days.
const MaxDays = 366

// DayCount is the number of calls on one calendar day, by the policy's
// decision (for monitor-mode calls, what would have happened).
type DayCount struct {
	// Day is local midnight of the day, in the location DailyCounts was
	// given.
	Day      time.Time
	Calls    int
	ByAction map[screening.Action]int
}

// DailyCounts counts the calls of each calendar day in loc (nil: UTC) from
// the day holding since to the day holding until (exclusive of until
// itself), one DayCount per day, days without calls included. Days are
// calendar days, so a day in a daylight-saving change lasts 23 or 25 hours.
// A period longer than MaxDays is an error.
func (s *Store) DailyCounts(ctx context.Context, since, until time.Time, loc *time.Location) ([]DayCount, error) {
	return s.DailyCountsFor(ctx, since, until, loc, "")
}

// DailyCountsFor is DailyCounts of the calls of one tenant; "" counts
// every call.
func (s *Store) DailyCountsFor(ctx context.Context, since, until time.Time, loc *time.Location, tenant string) ([]DayCount, error) {
	if loc == nil {
		loc = time.UTC
	}
	if since.IsZero() || until.IsZero() || !until.After(since) {
		return nil, fmt.Errorf("store: daily counts: want since before until, got %v and %v", since, until)
	}
	first := midnight(since, loc)
	var days []DayCount
	for d := first; d.Before(until); d = d.AddDate(0, 0, 1) {
		if len(days) == MaxDays {
			return nil, fmt.Errorf("store: daily counts: the period is longer than %d days", MaxDays)
		}
		days = append(days, DayCount{Day: d, ByAction: map[screening.Action]int{}})
	}

	// One query: a table of day boundaries joined to the call log, which
	// SQLite answers with one range scan of the time index per day.
	var (
		values []string
		args   []any
	)
	for i, d := range days {
		lo, hi := max(d.Day.UnixNano(), since.UnixNano()), min(d.Day.AddDate(0, 0, 1).UnixNano(), until.UnixNano())
		values = append(values, "(CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS BIGINT))")
		args = append(args, i, lo, hi)
	}
	q := "WITH days(i, lo, hi) AS (VALUES " + strings.Join(values, ", ") + `)
		SELECT days.i, call_log.action, count(*) FROM days
		JOIN call_log ON call_log.time >= days.lo AND call_log.time < days.hi`
	if tenant != "" {
		q += " AND call_log.tenant = ?"
		args = append(args, tenant)
	}
	q += " GROUP BY days.i, call_log.action"
	rows, err := s.r.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store: daily counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			i, n   int
			action string
		)
		if err := rows.Scan(&i, &action, &n); err != nil {
			return nil, fmt.Errorf("store: daily counts: %w", err)
		}
		if i < 0 || i >= len(days) {
			continue
		}
		days[i].ByAction[screening.Action(action)] += n
		days[i].Calls += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: daily counts: %w", err)
	}
	return days, nil
}

// midnight returns the start of t's calendar day in loc.
func midnight(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}
