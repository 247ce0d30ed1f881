package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// Fleet sweep detection (internal/fleet): the servers of a fleet add their
// sightings (calls per number, tenant and minute) to fleet_sightings and
// read back the fleet's aggregates, distinct tenants and failed
// challenges over a window, per number and per prefix. A Store is the
// fleet's Exchange; on PostgreSQL it is also the Broadcaster, with NOTIFY.

// sweepsChannel is the notification channel aggregates are broadcast on,
// as JSON arrays of screening.SweepAggregate.
const sweepsChannel = "callscreen_sweeps"

// maxNotifyPayload is the most a NOTIFY payload may hold in bytes
// (PostgreSQL's limit is 8000).
const maxNotifyPayload = 7900

// pruneSightingsEvery is how often a Store prunes old sightings.
const pruneSightingsEvery = 5 * time.Minute

// sightingsChunk is how many rows one statement writes or reads.
const sightingsChunk = 400

// sweepLockClass is the first key of the advisory locks that serialize
// publishes per number on PostgreSQL ("sw").
const sweepLockClass = 0x7377

// PublishSightings adds sightings to the fleet's and returns the
// aggregates over the window (ending now) of every number and prefix they
// touched. Publishes touching one number are serialized (SQLite has one
// writer; PostgreSQL takes an advisory lock per number), so that each
// step of a number's failed count is seen by exactly one publisher.
func (s *Store) PublishSightings(ctx context.Context, sightings []screening.Sighting, window time.Duration) ([]screening.SweepAggregate, error) {
	if len(sightings) == 0 {
		return nil, nil
	}
	rows := mergeSightings(sightings)
	if s.pg != nil {
		return s.publishPostgres(ctx, rows, window)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: publish sightings: %w", err)
	}
	defer tx.Rollback()
	numbers, prefixes := sightingKeys(rows)
	for chunk := range slices.Chunk(rows, sightingsChunk) {
		var b strings.Builder
		b.WriteString("INSERT INTO fleet_sightings (number, prefix, tenant, server, minute, calls, failed) VALUES ")
		args := make([]any, 0, 7*len(chunk))
		for i, r := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, ?, ?, CAST(? AS BIGINT), CAST(? AS INTEGER), CAST(? AS INTEGER))")
			args = append(args, r.Number, screening.SweepPrefix(r.Number), r.Tenant, r.Server, r.Minute.UnixNano(), r.Calls, r.Failed)
		}
		b.WriteString(` ON CONFLICT (number, tenant, server, minute) DO UPDATE
			SET calls = fleet_sightings.calls + excluded.calls, failed = fleet_sightings.failed + excluded.failed`)
		if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
			return nil, fmt.Errorf("store: publish sightings: %w", err)
		}
	}
	cut := sweepCut(time.Now(), window)
	aggs, err := s.sweepAggregates(ctx, tx, "number", numbers, cut)
	if err != nil {
		return nil, err
	}
	pa, err := s.sweepAggregates(ctx, tx, "prefix", prefixes, cut)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: publish sightings: %w", err)
	}
	return append(aggs, pa...), nil
}

// SweepAggregates returns every aggregate over the window (ending now)
// with at least minTenants distinct tenants or minFailed failed
// challenges, numbers and prefixes alike. Every few minutes it also
// prunes sightings older than two windows (an hour at least): every
// server refreshes now and then, so the table holds about one window of
// calls.
func (s *Store) SweepAggregates(ctx context.Context, window time.Duration, minTenants, minFailed int) ([]screening.SweepAggregate, error) {
	now := time.Now()
	if last := s.sightingsPruned.Load(); now.UnixNano()-last >= int64(pruneSightingsEvery) && s.sightingsPruned.CompareAndSwap(last, now.UnixNano()) {
		old := sweepCut(now, max(2*window, time.Hour))
		if _, err := s.w.ExecContext(ctx, s.q("DELETE FROM fleet_sightings WHERE minute < CAST(? AS BIGINT)"), old.UnixNano()); err != nil {
			return nil, fmt.Errorf("store: prune sightings: %w", err)
		}
	}
	tx, err := s.r.BeginTx(ctx, s.d.consistent)
	if err != nil {
		return nil, fmt.Errorf("store: sweep aggregates: %w", err)
	}
	defer tx.Rollback()
	cut := sweepCut(now, window)
	var out []screening.SweepAggregate
	for _, col := range []string{"number", "prefix"} {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+col+` FROM fleet_sightings
			WHERE minute >= CAST(? AS BIGINT) AND `+col+` <> ''
			GROUP BY `+col+`
			HAVING count(DISTINCT tenant) >= CAST(? AS INTEGER) OR sum(failed) >= CAST(? AS INTEGER)`),
			cut.UnixNano(), minTenants, minFailed)
		if err != nil {
			return nil, fmt.Errorf("store: sweep aggregates: %w", err)
		}
		var keys []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: sweep aggregates: %w", err)
			}
			keys = append(keys, k)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store: sweep aggregates: %w", err)
		}
		aggs, err := s.sweepAggregates(ctx, tx, col, keys, cut)
		if err != nil {
			return nil, err
		}
		out = append(out, aggs...)
	}
	return out, nil
}

// sweepAggregates sums the sightings from cut on of keys, numbers or
// prefixes (col), per tenant, and summarizes each key; prefixes' keys
// get their trailing '*'.
func (s *Store) sweepAggregates(ctx context.Context, tx *sql.Tx, col string, keys []string, cut time.Time) ([]screening.SweepAggregate, error) {
	suffix := ""
	if col == "prefix" {
		suffix = "*"
	}
	out := make([]screening.SweepAggregate, 0, len(keys))
	for chunk := range slices.Chunk(keys, sightingsChunk) {
		args := make([]any, 0, len(chunk)+1)
		args = append(args, cut.UnixNano())
		for _, k := range chunk {
			args = append(args, k)
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+col+`, tenant, sum(calls), sum(failed), max(minute)
			FROM fleet_sightings
			WHERE minute >= CAST(? AS BIGINT) AND `+col+` IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)
			GROUP BY `+col+`, tenant ORDER BY `+col), args...)
		if err != nil {
			return nil, fmt.Errorf("store: sweep aggregates: %w", err)
		}
		var (
			key     string
			tenants []screening.TenantCount
		)
		for rows.Next() {
			var (
				k    string
				tc   screening.TenantCount
				last int64
			)
			if err := rows.Scan(&k, &tc.Tenant, &tc.Calls, &tc.Failed, &last); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: sweep aggregates: %w", err)
			}
			tc.Last = time.Unix(0, last).UTC()
			if k != key && len(tenants) > 0 {
				out = append(out, screening.SummarizeSweep(key+suffix, tenants))
				tenants = tenants[:0]
			}
			key = k
			tenants = append(tenants, tc)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store: sweep aggregates: %w", err)
		}
		if len(tenants) > 0 {
			out = append(out, screening.SummarizeSweep(key+suffix, tenants))
		}
	}
	return out, nil
}

// BroadcastSweeps tells the other servers of the fleet about aggregates,
// with NOTIFY on PostgreSQL, split into payloads PostgreSQL takes. On
// SQLite (one server) it does nothing.
func (s *Store) BroadcastSweeps(ctx context.Context, aggs []screening.SweepAggregate) error {
	if s.pg == nil || len(aggs) == 0 {
		return nil
	}
	payloads, err := sweepPayloads(aggs, maxNotifyPayload)
	if err != nil {
		return err
	}
	for _, p := range payloads {
		if err := s.Notify(ctx, sweepsChannel, p); err != nil {
			return fmt.Errorf("store: broadcast sweeps: %w", err)
		}
	}
	return nil
}

// WatchSweeps delivers the aggregates other servers broadcast to fn, and
// calls resync each time it (re)connects, since broadcasts made while it
// was away were missed; it returns when ctx ends. On SQLite it returns at
// once.
func (s *Store) WatchSweeps(ctx context.Context, fn func([]screening.SweepAggregate), resync func()) {
	s.Listen(ctx, sweepsChannel, func(payload string) {
		if payload == "" {
			resync()
			return
		}
		var aggs []screening.SweepAggregate
		if err := json.Unmarshal([]byte(payload), &aggs); err != nil {
			s.log.Warn("store: a sweep broadcast that is not aggregates", "err", err)
			return
		}
		fn(aggs)
	})
}

// sweepPayloads encodes aggs as JSON arrays of at most limit bytes each.
func sweepPayloads(aggs []screening.SweepAggregate, limit int) ([]string, error) {
	var (
		out []string
		b   strings.Builder
	)
	for _, a := range aggs {
		j, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("store: broadcast sweeps: %w", err)
		}
		if len(j)+2 > limit {
			return nil, fmt.Errorf("store: broadcast sweeps: an aggregate of %d bytes exceeds %d", len(j), limit)
		}
		if b.Len() > 0 && b.Len()+1+len(j)+1 > limit {
			b.WriteByte(']')
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() == 0 {
			b.WriteByte('[')
		} else {
			b.WriteByte(',')
		}
		b.Write(j)
	}
	if b.Len() > 0 {
		b.WriteByte(']')
		out = append(out, b.String())
	}
	return out, nil
}

// mergeSightings sums sightings of one number, tenant, server and minute,
// in key order.
func mergeSightings(in []screening.Sighting) []screening.Sighting {
	out := slices.Clone(in)
	for i := range out {
		out[i].Minute = out[i].Minute.UTC().Truncate(time.Minute)
	}
	key := func(a, b screening.Sighting) int {
		return cmp.Or(strings.Compare(a.Number, b.Number), strings.Compare(a.Tenant, b.Tenant),
			strings.Compare(a.Server, b.Server), a.Minute.Compare(b.Minute))
	}
	slices.SortFunc(out, key)
	j := 0
	for i := range out {
		if j > 0 && key(out[j-1], out[i]) == 0 {
			out[j-1].Calls += out[i].Calls
			out[j-1].Failed += out[i].Failed
			continue
		}
		out[j] = out[i]
		j++
	}
	return out[:j]
}

// sightingKeys returns the distinct numbers and prefixes of sorted rows,
// sorted.
func sightingKeys(rows []screening.Sighting) (numbers, prefixes []string) {
	for _, r := range rows {
		if len(numbers) == 0 || numbers[len(numbers)-1] != r.Number {
			numbers = append(numbers, r.Number)
		}
		if p := screening.SweepPrefix(r.Number); p != "" {
			prefixes = append(prefixes, p)
		}
	}
	slices.Sort(prefixes)
	return numbers, slices.Compact(prefixes)
}

// sweepCut is the first minute a window ending at now counts.
func sweepCut(now time.Time, window time.Duration) time.Time {
	return now.Add(-window).UTC().Truncate(time.Minute)
}

// failingNumbers returns, sorted, the numbers of rows with failed
// challenges.
func failingNumbers(rows []screening.Sighting) []string {
	var out []string
	for _, r := range rows {
		if r.Failed > 0 {
			out = append(out, r.Number)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// publishPostgres is PublishSightings on PostgreSQL, in as few round
// trips as the work allows, with statements whose text does not depend on
// the batch (so the driver prepares each once): every call a server
// finishes from a number new in the window comes here within Linger.
// Plain calls take two statements; a batch with failed challenges takes
// a transaction holding the numbers' advisory locks, so that the
// publishes of a number's failures are serialized and exactly one
// publisher sees its count cross the throttle's threshold.
// publishPostgresSQL upserts a batch of sightings ($1-$7, arrays) and
// returns the aggregates since $8 of the numbers $9 and prefixes $10,
// rows ordered by kind (numbers first) and key.
const publishPostgresSQL = `WITH up AS (
	INSERT INTO fleet_sightings (number, prefix, tenant, server, minute, calls, failed)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::integer[], $7::integer[])
	ON CONFLICT (number, tenant, server, minute) DO UPDATE
	SET calls = fleet_sightings.calls + excluded.calls, failed = fleet_sightings.failed + excluded.failed
	RETURNING number, prefix, tenant, server, minute, calls, failed
), seen AS (
	SELECT number, prefix, tenant, calls, failed, minute FROM fleet_sightings f
	WHERE f.minute >= $8 AND (f.number = ANY($9::text[]) OR f.prefix = ANY($10::text[]))
	AND NOT EXISTS (SELECT 1 FROM up WHERE up.number = f.number AND up.tenant = f.tenant AND up.server = f.server AND up.minute = f.minute)
	UNION ALL
	SELECT number, prefix, tenant, calls, failed, minute FROM up WHERE minute >= $8
)
SELECT false, number, tenant, sum(calls), sum(failed), max(minute) FROM seen WHERE number = ANY($9::text[]) GROUP BY number, tenant
UNION ALL
SELECT true, prefix, tenant, sum(calls), sum(failed), max(minute) FROM seen WHERE prefix = ANY($10::text[]) GROUP BY prefix, tenant
ORDER BY 1, 2`

func (s *Store) publishPostgres(ctx context.Context, rows []screening.Sighting, window time.Duration) ([]screening.SweepAggregate, error) {
	var (
		numbers, prefixes, tenants, servers []string
		minutes                             []int64
		calls, failed                       []int32
	)
	for _, r := range rows {
		numbers = append(numbers, r.Number)
		prefixes = append(prefixes, screening.SweepPrefix(r.Number))
		tenants = append(tenants, r.Tenant)
		servers = append(servers, r.Server)
		minutes = append(minutes, r.Minute.UnixNano())
		calls = append(calls, int32(r.Calls))
		failed = append(failed, int32(r.Failed))
	}
	keys, keyPrefixes := sightingKeys(rows)
	type querier interface {
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	}
	var db querier = s.w
	var tx *sql.Tx
	if locked := failingNumbers(rows); len(locked) > 0 {
		var err error
		if tx, err = s.w.BeginTx(ctx, nil); err != nil {
			return nil, fmt.Errorf("store: publish sightings: %w", err)
		}
		defer tx.Rollback()
		// Sorted: no deadlock between publishers.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(n)) FROM unnest($2::text[]) AS n ORDER BY n", sweepLockClass, locked); err != nil {
			return nil, fmt.Errorf("store: publish sightings: %w", err)
		}
		db = tx
	}
	// One statement, so one round trip: the upsert's RETURNING gives the
	// rows as they now stand, and the aggregates read the window's other
	// rows from the statement's snapshot (which cannot see the upsert's
	// own writes) and add those.
	cut := sweepCut(time.Now(), window).UnixNano()
	res, err := db.QueryContext(ctx, publishPostgresSQL,
		numbers, prefixes, tenants, servers, minutes, calls, failed, cut, keys, keyPrefixes)
	if err != nil {
		return nil, fmt.Errorf("store: publish sightings: %w", err)
	}
	var (
		out     []screening.SweepAggregate
		key     string
		tenantC []screening.TenantCount
	)
	flush := func() {
		if len(tenantC) > 0 {
			out = append(out, screening.SummarizeSweep(key, tenantC))
			tenantC = nil
		}
	}
	for res.Next() {
		var (
			isPrefix bool
			k        string
			tc       screening.TenantCount
			last     int64
		)
		if err := res.Scan(&isPrefix, &k, &tc.Tenant, &tc.Calls, &tc.Failed, &last); err != nil {
			res.Close()
			return nil, fmt.Errorf("store: publish sightings: %w", err)
		}
		if isPrefix {
			k += "*"
		}
		if k != key {
			flush()
			key = k
		}
		tc.Last = time.Unix(0, last).UTC()
		tenantC = append(tenantC, tc)
	}
	if err := res.Close(); err != nil {
		return nil, fmt.Errorf("store: publish sightings: %w", err)
	}
	flush()
	if tx != nil {
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("store: publish sightings: %w", err)
		}
	}
	return out, nil
}
