package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// insertRecord writes one call log row. A record whose ID is already in
// the log is ignored (Store.DuplicateRecords counts it): a record is
// written once and never overwritten, whoever sends another with the same
// ID (a FastAGI client chooses its agi_uniqueid).
const insertRecord = `INSERT INTO call_log
	(id, time, mode, caller, called, profile, action, taken, outcome, score, presence, reasons, monitor, decision_ns, handling_ns, record, server, tenant)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT(id) DO NOTHING`

// recordRow is a record encoded for insertRecord.
type recordRow []any

// encodeRecord validates rec and encodes it as insertRecord's arguments. A
// record without a time is stamped with now.
func encodeRecord(rec screening.Record, now time.Time) (recordRow, error) {
	rec, js, err := marshalRecord(rec, now)
	if err != nil {
		return nil, err
	}
	return rowOf(rec, js), nil
}

// marshalRecord validates rec, stamps it with now when it has no time, and
// returns it with its JSON.
func marshalRecord(rec screening.Record, now time.Time) (screening.Record, []byte, error) {
	if rec.ID == "" {
		return rec, nil, errors.New("record has no ID")
	}
	if rec.Time.IsZero() {
		rec.Time = now
	}
	js, err := json.Marshal(rec)
	if err != nil {
		return rec, nil, fmt.Errorf("record %s: %w", rec.ID, err)
	}
	return rec, js, nil
}

// rowOf is insertRecord's arguments for rec, whose JSON is js.
func rowOf(rec screening.Record, js []byte) recordRow {
	v := &rec.Verdict
	monitor := 0
	if v.Monitor {
		monitor = 1
	}
	return recordRow{
		rec.ID, rec.Time.UnixNano(), string(rec.Mode), v.Caller, rec.Facts.Called, v.Profile,
		string(v.Action), string(rec.Taken), string(rec.Outcome), v.Score, string(v.Presence), v.Reasons(),
		monitor, int64(rec.Decision), int64(rec.Handling), string(js), rec.Server, rec.Tenant,
	}
}

// countDuplicate counts an insertRecord that wrote nothing.
func (s *Store) countDuplicate(res sql.Result) {
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		s.duplicates.Add(1)
	}
}

// DuplicateRecords returns how many records were ignored because the log
// already held a record with their ID.
func (s *Store) DuplicateRecords() uint64 { return s.duplicates.Load() }

// appendRows writes encoded records in one transaction (on PostgreSQL,
// with COPY).
func (s *Store) appendRows(ctx context.Context, rows []recordRow) error {
	if s.pg != nil {
		return s.copyRows(ctx, rows)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, insertRecord)
	if err != nil {
		return err
	}
	defer stmt.Close()
	execCtx := context.WithoutCancel(ctx) // see Import
	for _, row := range rows {
		res, err := stmt.ExecContext(execCtx, row...)
		if err != nil {
			return err
		}
		s.countDuplicate(res)
		// SQLite here is Go code that runs until it blocks: let a call
		// waiting for the processor (serve runs on one) go first rather
		// than behind a whole batch.
		runtime.Gosched()
	}
	return tx.Commit()
}

// PurgeRecords deletes the call log rows older than before and returns how
// many it deleted. It deletes in chunks, each its own short transaction,
// so that the call log writer is not held up by a large purge.
func (s *Store) PurgeRecords(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM call_log WHERE id IN
			(SELECT id FROM call_log WHERE time < ? LIMIT ?)`), before.UnixNano(), purgeChunk)
		if err != nil {
			return total, fmt.Errorf("store: purge records: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("store: purge records: %w", err)
		}
		total += int(n)
		if n < purgeChunk {
			return total, nil
		}
	}
}

// purgeChunk is how many call log rows one purge transaction deletes.
const purgeChunk = 10_000

// DefaultRecordLimit is how many records Records returns when the filter
// sets no limit.
const DefaultRecordLimit = 50

// RecordFilter selects call log records. The zero value selects the latest
// DefaultRecordLimit records.
type RecordFilter struct {
	// Caller matches records whose caller contains it; with a trailing '*'
	// ("+8150*") it matches callers starting with the rest.
	Caller string
	// Action, Outcome and Profile select exact values; empty selects all.
	// Action is what the policy decided (in monitor mode, what would have
	// happened).
	Action  screening.Action
	Outcome screening.Outcome
	Profile string
	// Since and Until bound the call time: Since <= time < Until. Zero
	// leaves that end open.
	Since, Until time.Time
	// MonitorOnly selects calls screened in monitor mode.
	MonitorOnly bool
	// Server and Tenant select the calls one server screened, or those
	// of one tenant (fleet mode); empty selects all.
	Server, Tenant string
	// Limit caps the number of records (0: DefaultRecordLimit; negative: no
	// limit); Offset skips that many of the newest first.
	Limit, Offset int
}

// where returns the SQL condition for f and its arguments.
func (f RecordFilter) where() (string, []any) {
	var (
		conds []string
		args  []any
	)
	if c := f.Caller; c != "" {
		if p, ok := strings.CutSuffix(c, "*"); ok {
			lo, hi := prefixRange(p)
			conds = append(conds, "caller >= ? AND caller < ?")
			args = append(args, lo, hi)
		} else {
			conds = append(conds, "instr(caller, ?) > 0")
			args = append(args, c)
		}
	}
	if f.Action != "" {
		conds = append(conds, "action = ?")
		args = append(args, string(f.Action))
	}
	if f.Outcome != "" {
		conds = append(conds, "outcome = ?")
		args = append(args, string(f.Outcome))
	}
	if f.Profile != "" {
		conds = append(conds, "profile = ?")
		args = append(args, f.Profile)
	}
	if f.Server != "" {
		conds = append(conds, "server = ?")
		args = append(args, f.Server)
	}
	if f.Tenant != "" {
		conds = append(conds, "tenant = ?")
		args = append(args, f.Tenant)
	}
	c, a := timeRange(f.Since, f.Until)
	conds = append(conds, c...)
	args = append(args, a...)
	if f.MonitorOnly {
		conds = append(conds, "monitor = 1")
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func timeRange(since, until time.Time) ([]string, []any) {
	var (
		conds []string
		args  []any
	)
	if !since.IsZero() {
		conds = append(conds, "time >= ?")
		args = append(args, since.UnixNano())
	}
	if !until.IsZero() {
		conds = append(conds, "time < ?")
		args = append(args, until.UnixNano())
	}
	return conds, args
}

// Records returns the call log records that f selects, newest first.
func (s *Store) Records(ctx context.Context, f RecordFilter) ([]screening.Record, error) {
	where, args := f.where()
	limit := f.Limit
	if limit == 0 {
		limit = DefaultRecordLimit
	}
	q := "SELECT record FROM call_log" + where + " ORDER BY time DESC, id DESC" + limitClause(limit, f.Offset, &args)
	rows, err := s.r.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store: records: %w", err)
	}
	defer rows.Close()
	var (
		out []screening.Record
		js  sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&js); err != nil {
			return nil, fmt.Errorf("store: records: %w", err)
		}
		var rec screening.Record
		if err := json.Unmarshal(js, &rec); err != nil {
			return nil, fmt.Errorf("store: records: decode: %w", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: records: %w", err)
	}
	return out, nil
}

// Record returns the record with the given ID, or an error wrapping
// ErrNotFound.
func (s *Store) Record(ctx context.Context, id string) (screening.Record, error) {
	var (
		rec screening.Record
		js  []byte
	)
	err := s.r.QueryRowContext(ctx, s.q("SELECT record FROM call_log WHERE id = ?"), id).Scan(&js)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, fmt.Errorf("store: record %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return rec, fmt.Errorf("store: record %s: %w", id, err)
	}
	if err := json.Unmarshal(js, &rec); err != nil {
		return rec, fmt.Errorf("store: record %s: decode: %w", id, err)
	}
	return rec, nil
}

// Summary counts the call log over a period.
type Summary struct {
	Since, Until time.Time
	// Calls is the number of calls.
	Calls int
	// ByAction counts the policy's decisions (for monitor-mode calls, what
	// would have happened); ByOutcome counts how the calls ended.
	ByAction  map[screening.Action]int
	ByOutcome map[screening.Outcome]int
	// Indicators counts the names in the calls' reasons (indicator names,
	// "allow" for an override, the presence class of a call without
	// findings), most frequent first.
	Indicators []IndicatorCount
	// Monitor is the number of calls screened in monitor mode, and
	// WouldHave counts them by the action that would have been taken had
	// the profile enforced it (reject, voicemail, number-request,
	// challenge, drop). Calls that would have rung are not counted.
	Monitor   int
	WouldHave map[screening.Action]int
}

// IndicatorCount is how many calls one indicator (or reason) fired on.
type IndicatorCount struct {
	Name  string
	Calls int
}

// Summary counts the calls with Since <= time < Until (a zero bound leaves
// that end open).
func (s *Store) Summary(ctx context.Context, since, until time.Time) (Summary, error) {
	return s.SummaryFor(ctx, since, until, "")
}

// SummaryFor is Summary of the calls of one tenant; "" counts every
// call.
func (s *Store) SummaryFor(ctx context.Context, since, until time.Time, tenant string) (Summary, error) {
	sum := Summary{
		Since:     since,
		Until:     until,
		ByAction:  map[screening.Action]int{},
		ByOutcome: map[screening.Outcome]int{},
		WouldHave: map[screening.Action]int{},
	}
	conds, args := timeRange(since, until)
	if tenant != "" {
		conds = append(conds, "tenant = ?")
		args = append(args, tenant)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	// One read transaction, so that the counts agree with one another.
	tx, err := s.r.BeginTx(ctx, s.d.consistent)
	if err != nil {
		return sum, fmt.Errorf("store: summary: %w", err)
	}
	defer tx.Rollback()

	type group struct {
		col string
		add func(key string, monitor bool, n int)
	}
	groups := []group{
		{"action", func(k string, monitor bool, n int) {
			a := screening.Action(k)
			sum.ByAction[a] += n
			sum.Calls += n
			if monitor {
				sum.Monitor += n
				if a != screening.Ring {
					sum.WouldHave[a] += n
				}
			}
		}},
		{"outcome", func(k string, _ bool, n int) { sum.ByOutcome[screening.Outcome(k)] += n }},
		{"reasons", func(k string, _ bool, n int) {
			for name := range strings.SplitSeq(k, ",") {
				if name = strings.TrimSpace(name); name != "" {
					sum.addIndicator(name, n)
				}
			}
		}},
	}
	for _, g := range groups {
		q := "SELECT " + g.col + ", monitor, count(*) FROM call_log" + where + " GROUP BY " + g.col + ", monitor"
		if err := groupCounts(ctx, tx, s.q(q), args, g.add); err != nil {
			return sum, fmt.Errorf("store: summary by %s: %w", g.col, err)
		}
	}
	slices.SortFunc(sum.Indicators, func(a, b IndicatorCount) int {
		if a.Calls != b.Calls {
			return b.Calls - a.Calls
		}
		return strings.Compare(a.Name, b.Name)
	})
	return sum, nil
}

func (s *Summary) addIndicator(name string, n int) {
	for i := range s.Indicators {
		if s.Indicators[i].Name == name {
			s.Indicators[i].Calls += n
			return
		}
	}
	s.Indicators = append(s.Indicators, IndicatorCount{Name: name, Calls: n})
}

func groupCounts(ctx context.Context, tx *sql.Tx, q string, args []any, add func(string, bool, int)) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key     string
			monitor bool
			n       int
		)
		if err := rows.Scan(&key, &monitor, &n); err != nil {
			return err
		}
		add(key, monitor, n)
	}
	return rows.Err()
}
