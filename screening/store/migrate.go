package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/callscreen/callscreen/screening"
)

// Moving a store into another: `callscreen db migrate` copies a server's
// SQLite store (its lists and its call log) into the fleet's PostgreSQL
// database. The copy streams both tables in batches, each batch its own
// transaction in the destination, so that memory stays flat however large
// the store and an interrupted copy keeps what it wrote. A copy is safe to
// repeat: list entries are upserted to the values of the source (a batch
// that changes nothing is rolled back, so a rerun leaves the lists version
// alone), call records are inserted once and never overwritten. Then the
// copy reads the source again and looks every entry and record up in the
// destination, field by field.

// CopyOptions says how a store is copied into another.
type CopyOptions struct {
	// Tenant is the scope the source's entries for every tenant ('') take
	// in the destination: a shop's allow list and the callers it
	// remembered belong to its tenant. Empty keeps them fleet-wide.
	// Entries the source already holds for a named tenant keep it.
	Tenant string
	// Server and Tenant are stamped on the call records that have none.
	Server string
	// EntryBatch and RecordBatch are how many list entries and call
	// records one destination transaction writes (defaults: 4,000 entries
	// into SQLite, 10,000 into PostgreSQL, and 5,000 records).
	EntryBatch, RecordBatch int
	// Progress, when set, is called at the start of each phase and after
	// each batch, on the goroutine that called CopyTo.
	Progress func(CopyProgress)
}

// CopyProgress is how far a copy has come in one of its phases.
type CopyProgress struct {
	Phase       string // PhaseLists, PhaseRecords, PhaseVerifyLists, PhaseVerifyRecords
	Done, Total int64
}

// The phases of a copy.
const (
	PhaseLists         = "lists"
	PhaseRecords       = "call log"
	PhaseVerifyLists   = "verify lists"
	PhaseVerifyRecords = "verify call log"
)

// CopyReport is what a copy wrote and what its verification found.
type CopyReport struct {
	// Lists has one row per list and scope, in the destination's terms.
	Lists []ListCopy `json:"lists"`
	// Shadowed counts the source's entries for every tenant that were not
	// copied because the source also holds an entry of the same kind and
	// number for Tenant, which is copied instead.
	Shadowed int64      `json:"shadowed"`
	Records  RecordCopy `json:"call_log"`
	// The checksums (SHA-256) of the entries and records as the source
	// holds them (mapped to the destination's scope and stamped), and as
	// the destination holds them: equal when every one arrived intact.
	ListsSum    Checksums     `json:"lists_checksum"`
	RecordsSum  Checksums     `json:"call_log_checksum"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	Tenant      string        `json:"tenant"`
	Server      string        `json:"server"`
	SourceLists int64         `json:"source_lists_version"`
	VerifiedAt  time.Time     `json:"verified_at"`
}

// Checksums compare the source's rows with the destination's.
type Checksums struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// ListCopy counts one list of one scope.
type ListCopy struct {
	Kind   screening.ListKind `json:"kind"`
	Tenant string             `json:"tenant"`
	// Source is how many entries the source holds for it; Written how
	// many the copy inserted or changed in the destination (0 on a
	// rerun); Verified how many the destination holds with every field
	// equal.
	Source   int64 `json:"source"`
	Written  int64 `json:"written"`
	Verified int64 `json:"verified"`
	// Missing entries are not in the destination; Different ones are
	// there with another expiry, source, reason or creation time (changed
	// in the fleet since they were copied). Expired counts missing entries
	// whose expiry had passed: purged, not lost.
	Missing   int64 `json:"missing"`
	Different int64 `json:"different"`
	Expired   int64 `json:"expired"`
	// Destination is how many entries the destination holds for the list
	// and scope, those it held before the copy included.
	Destination int64 `json:"destination"`
}

// RecordCopy counts the call log.
type RecordCopy struct {
	Source   int64 `json:"source"`
	Written  int64 `json:"written"`
	Verified int64 `json:"verified"`
	// Missing records are not in the destination; Different ones are
	// there under the same ID with other content (a record of another
	// server, which the copy never overwrites).
	Missing     int64 `json:"missing"`
	Different   int64 `json:"different"`
	Destination int64 `json:"destination"`
	// Unstamped records hold no JSON object the copy could add a server
	// and tenant to: they were copied as they are. FirstUnstamped says
	// why for the first of them.
	Unstamped      int64  `json:"unstamped,omitempty"`
	FirstUnstamped string `json:"first_unstamped,omitempty"`
}

// Mismatches is how many entries and records the verification found
// missing or different: 0 when the destination holds the whole source.
func (r CopyReport) Mismatches() int64 {
	n := r.Records.Missing + r.Records.Different
	for _, l := range r.Lists {
		n += l.Missing + l.Different
	}
	return n
}

// Defaults: a batch of entries binds 7 values each, within SQLite's limit
// of 32,766 bound values per statement; PostgreSQL's COPY has no limit.
const (
	defaultEntryBatch     = 4000
	defaultEntryBatchCopy = 10_000
	defaultRecordBatch    = 5000
	maxEntryBatch         = 32766 / 7
)

// CopyTo copies every list entry and every call record of s into dst,
// then verifies the destination against the source. The source is read
// in one read transaction, so the copy and its verification see one
// state of it; changes made to the source meanwhile are copied by the
// next run. A canceled ctx leaves the batches already written: running
// the copy again completes it.
//
// The error is nil when the copy ran to its end, whatever the
// verification found: see CopyReport.Mismatches.
func (s *Store) CopyTo(ctx context.Context, dst *Store, opts CopyOptions) (CopyReport, error) {
	start := time.Now()
	rep := CopyReport{Tenant: opts.Tenant, Server: opts.Server}
	if s.path == dst.path {
		return rep, fmt.Errorf("store: copy: %s: source and destination are the same database", s.path)
	}
	if err := validateTenant(opts.Tenant); err != nil {
		return rep, fmt.Errorf("store: copy: %w", err)
	}
	if err := validateTenant(opts.Server); err != nil {
		return rep, fmt.Errorf("store: copy: server name: %w", err)
	}
	if opts.EntryBatch <= 0 {
		opts.EntryBatch = defaultEntryBatch
		if dst.pg != nil {
			opts.EntryBatch = defaultEntryBatchCopy
		}
	}
	if dst.pg == nil {
		opts.EntryBatch = min(opts.EntryBatch, maxEntryBatch)
	}
	if opts.RecordBatch <= 0 {
		opts.RecordBatch = defaultRecordBatch
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(CopyProgress) {}
	}

	// The read transaction is not tied to ctx, which would close its rows
	// under a batch being written; ctx is checked between batches.
	tx, err := s.r.BeginTx(context.WithoutCancel(ctx), s.d.consistent)
	if err != nil {
		return rep, fmt.Errorf("store: copy: %w", err)
	}
	defer tx.Rollback()
	// The first read fixes the state the whole copy sees.
	if err := tx.QueryRowContext(ctx, "SELECT version FROM lists_version WHERE id = 1").Scan(&rep.SourceLists); err != nil {
		return rep, fmt.Errorf("store: copy: %w", err)
	}
	c := &copier{src: s, dst: dst, tx: tx, opts: opts, rep: &rep, progress: progress}
	if err := c.countLists(ctx); err != nil {
		return rep, fmt.Errorf("store: copy lists: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM call_log").Scan(&rep.Records.Source); err != nil {
		return rep, fmt.Errorf("store: copy call log: %w", err)
	}
	if err := c.copyLists(ctx); err != nil {
		return rep, fmt.Errorf("store: copy lists: %w", err)
	}
	if err := c.copyRecords(ctx); err != nil {
		return rep, fmt.Errorf("store: copy call log: %w", err)
	}
	if dst.pg != nil {
		// Fresh statistics after a bulk load: planned with those of the
		// empty tables, a lookup by thousands of numbers scans the table
		// for each.
		if _, err := dst.w.ExecContext(ctx, "ANALYZE list_entries, call_log"); err != nil {
			return rep, fmt.Errorf("store: copy: %w", err)
		}
	}
	rep.VerifiedAt = time.Now()
	if err := c.verifyLists(ctx); err != nil {
		return rep, fmt.Errorf("store: verify lists: %w", err)
	}
	if err := c.verifyRecords(ctx); err != nil {
		return rep, fmt.Errorf("store: verify call log: %w", err)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// copier is one run of CopyTo.
type copier struct {
	src, dst *Store
	tx       *sql.Tx // the source's read transaction
	opts     CopyOptions
	rep      *CopyReport
	progress func(CopyProgress)
}

// scopeOf maps a source entry's tenant to the destination's.
func (c *copier) scopeOf(tenant string) string {
	if tenant == "" {
		return c.opts.Tenant
	}
	return tenant
}

// copyEntries selects the source's entries to copy, in primary key order
// (tenant, kind, number): a run of one tenant and kind is one list of one
// scope in the destination. An entry for every tenant that the source
// also holds for the target tenant is left out (shadowed): both would
// land on one row.
const copyEntries = `SELECT tenant, kind, number, expires, source, reason, created FROM list_entries e
WHERE NOT (e.tenant = '' AND ?1 <> '' AND EXISTS
	(SELECT 1 FROM list_entries o WHERE o.tenant = ?1 AND o.kind = e.kind AND o.number = e.number))
ORDER BY tenant, kind, number`

const countShadowed = `SELECT count(*) FROM list_entries e
WHERE e.tenant = '' AND ?1 <> '' AND EXISTS
	(SELECT 1 FROM list_entries o WHERE o.tenant = ?1 AND o.kind = e.kind AND o.number = e.number)`

// countLists fills in the report's lists with the source's counts.
func (c *copier) countLists(ctx context.Context) error {
	rows, err := c.tx.QueryContext(ctx, c.src.q("SELECT tenant, kind, count(*) FROM list_entries GROUP BY tenant, kind ORDER BY tenant, kind"))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			l      ListCopy
			tenant string
			kind   string
		)
		if err := rows.Scan(&tenant, &kind, &l.Source); err != nil {
			return err
		}
		l.Tenant, l.Kind = c.scopeOf(tenant), screening.ListKind(kind)
		if i := c.listIndex(l.Tenant, l.Kind); i >= 0 {
			c.rep.Lists[i].Source += l.Source // '' and Tenant meet
		} else {
			c.rep.Lists = append(c.rep.Lists, l)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := c.tx.QueryRowContext(ctx, c.src.q(countShadowed), c.opts.Tenant).Scan(&c.rep.Shadowed); err != nil {
		return err
	}
	if c.rep.Shadowed > 0 {
		for i, l := range c.rep.Lists {
			if l.Tenant != c.opts.Tenant {
				continue
			}
			var n int64
			if err := c.tx.QueryRowContext(ctx, c.src.q(countShadowed+" AND e.kind = ?"), c.opts.Tenant, string(l.Kind)).Scan(&n); err != nil {
				return err
			}
			c.rep.Lists[i].Source -= n
		}
	}
	slices.SortFunc(c.rep.Lists, func(a, b ListCopy) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Kind, b.Kind))
	})
	return nil
}

func (c *copier) listIndex(tenant string, k screening.ListKind) int {
	return slices.IndexFunc(c.rep.Lists, func(l ListCopy) bool { return l.Tenant == tenant && l.Kind == k })
}

func (c *copier) entriesTotal() int64 {
	var n int64
	for _, l := range c.rep.Lists {
		n += l.Source
	}
	return n
}

// entryRow is a list entry as stored.
type entryRow struct {
	tenant, kind, number string
	expires              sql.NullInt64
	source, reason       string
	created              int64
}

// eachEntryBatch streams the entries to copy in runs of one destination
// list and scope, at most n at a time.
func (c *copier) eachEntryBatch(ctx context.Context, n int, fn func(tenant string, kind screening.ListKind, batch []entryRow) error) error {
	return pipe(ctx, func(emit func([]entryRow) bool) error {
		// Rows are read with a context that cannot be canceled, which
		// spares the driver a watcher per row; pipe checks ctx between
		// batches.
		rows, err := c.tx.QueryContext(context.WithoutCancel(ctx), c.src.q(copyEntries), c.opts.Tenant)
		if err != nil {
			return err
		}
		defer rows.Close()
		batch := make([]entryRow, 0, n)
		for rows.Next() {
			var e entryRow
			if err := rows.Scan(&e.tenant, &e.kind, &e.number, &e.expires, &e.source, &e.reason, &e.created); err != nil {
				return err
			}
			if len(batch) == n || len(batch) > 0 && (batch[0].tenant != e.tenant || batch[0].kind != e.kind) {
				if !emit(batch) {
					return nil
				}
				batch = make([]entryRow, 0, n)
			}
			batch = append(batch, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			emit(batch)
		}
		return nil
	}, func(batch []entryRow) error {
		return fn(c.scopeOf(batch[0].tenant), screening.ListKind(batch[0].kind), batch)
	})
}

// pipe runs produce in a goroutine of its own, handing the batches it
// emits to consume one by one as they come: reading the source overlaps
// with writing the destination. ctx is checked before each batch. When
// consume fails, emit returns false and produce should return.
func pipe[B any](ctx context.Context, produce func(emit func(B) bool) error, consume func(B) error) error {
	var (
		ch   = make(chan B, 1)
		stop = make(chan struct{})
		done = make(chan error, 1)
	)
	go func() {
		defer close(ch)
		done <- produce(func(b B) bool {
			select {
			case <-stop:
				return false
			default:
			}
			select {
			case ch <- b:
				return true
			case <-stop:
				return false
			}
		})
	}()
	var err error
	for b := range ch {
		if err != nil {
			continue // drain what was read ahead
		}
		if err = ctx.Err(); err == nil {
			err = consume(b)
		}
		if err != nil {
			close(stop)
		}
	}
	return cmp.Or(err, <-done)
}

func (c *copier) copyLists(ctx context.Context) error {
	total := c.entriesTotal()
	var done int64
	c.progress(CopyProgress{Phase: PhaseLists, Total: total})
	w, err := c.dst.newEntryWriter(ctx)
	if err != nil {
		return err
	}
	defer w.close()
	return c.eachEntryBatch(ctx, c.opts.EntryBatch, func(tenant string, k screening.ListKind, batch []entryRow) error {
		n, err := w.write(ctx, tenant, k, batch)
		if err != nil {
			return fmt.Errorf("%s list of %s, after %d of %d entries: %w", k, scopeName(tenant), done, total, err)
		}
		if i := c.listIndex(tenant, k); i >= 0 {
			c.rep.Lists[i].Written += n
		}
		done += int64(len(batch))
		c.progress(CopyProgress{Phase: PhaseLists, Done: done, Total: total})
		return nil
	})
}

// scopeName names a tenant scope in messages.
func scopeName(tenant string) string {
	if tenant == "" {
		return "the whole fleet"
	}
	return "tenant " + strconv.Quote(tenant)
}

// entryWriter writes batches of list entries into a store: on SQLite
// with a multi-row upsert, on PostgreSQL with COPY into a temporary table
// of its connection and an upsert from there.
type entryWriter struct {
	s    *Store
	conn *sql.Conn // PostgreSQL only: the session holding the temporary table
}

func (s *Store) newEntryWriter(ctx context.Context) (*entryWriter, error) {
	w := &entryWriter{s: s}
	if s.pg == nil {
		return w, nil
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE IF NOT EXISTS list_entries_in (LIKE list_entries)"); err != nil {
		conn.Close()
		return nil, err
	}
	w.conn = conn
	return w, nil
}

// close gives the connection back to the pool without its temporary
// table.
func (w *entryWriter) close() {
	if w.conn != nil {
		w.s.closeImportConn(w.conn)
	}
}

// entryColumns are the columns of list_entries in table order.
var entryColumns = []string{"tenant", "kind", "number", "expires", "source", "reason", "created"}

// upsertChanged is the conflict clause of a copy: every field takes the
// source's value, and a row that holds them already is not touched (no
// version step, no trigger).
const upsertChanged = ` ON CONFLICT (tenant, kind, number) DO UPDATE SET
	expires = excluded.expires, source = excluded.source, reason = excluded.reason, created = excluded.created
	WHERE list_entries.expires IS DISTINCT FROM excluded.expires OR list_entries.source <> excluded.source
		OR list_entries.reason <> excluded.reason OR list_entries.created <> excluded.created`

// write writes entries of kind k to the scope of tenant, each with
// exactly its source's expiry, source, reason and creation time, in one
// transaction recorded in the change feed as a bulk change. A batch that
// changes nothing is rolled back: a rerun leaves the lists version, and
// the servers following it, alone. It returns how many rows it inserted
// or changed.
func (w *entryWriter) write(ctx context.Context, tenant string, k screening.ListKind, batch []entryRow) (int64, error) {
	s := w.s
	var (
		insert string
		args   []any
	)
	if w.conn != nil {
		if err := w.stage(ctx, tenant, k, batch); err != nil {
			return 0, err
		}
		insert = "INSERT INTO list_entries SELECT * FROM pg_temp.list_entries_in" + upsertChanged
	} else {
		var q strings.Builder
		q.WriteString("INSERT INTO list_entries (tenant, kind, number, expires, source, reason, created) VALUES ")
		args = make([]any, 0, 7*len(batch))
		for i, e := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?)")
			args = append(args, tenant, string(k), e.number, e.expires, e.source, e.reason, e.created)
		}
		q.WriteString(upsertChanged)
		insert = q.String()
	}

	begin := s.w.BeginTx
	if w.conn != nil {
		begin = w.conn.BeginTx
	}
	tx, err := begin(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var before, after int64
	if err := tx.QueryRowContext(ctx, s.d.lockVersion).Scan(&before); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, insert, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, tx.Rollback()
	}
	if err := tx.QueryRowContext(ctx, "SELECT version FROM lists_version WHERE id = 1").Scan(&after); err != nil {
		return 0, err
	}
	if after > before {
		if err := s.recordChange(ctx, tx, change{op: opBulk, entry: screening.Entry{Kind: k, Tenant: tenant}}, after, after-before); err != nil {
			return 0, err
		}
	}
	return n, tx.Commit()
}

// stage replaces the temporary table's rows with batch, with COPY.
func (w *entryWriter) stage(ctx context.Context, tenant string, k screening.ListKind, batch []entryRow) error {
	if _, err := w.conn.ExecContext(ctx, "TRUNCATE pg_temp.list_entries_in"); err != nil {
		return err
	}
	return w.conn.Raw(func(dc any) error {
		c := dc.(*stdlib.Conn).Conn()
		rows := make([][]any, len(batch))
		for i, e := range batch {
			var expires any
			if e.expires.Valid {
				expires = e.expires.Int64
			}
			rows[i] = []any{tenant, string(k), e.number, expires, e.source, e.reason, e.created}
		}
		_, err := c.CopyFrom(ctx, pgx.Identifier{"list_entries_in"}, entryColumns, pgx.CopyFromRows(rows))
		return err
	})
}

func (c *copier) verifyLists(ctx context.Context) error {
	total := c.entriesTotal()
	var done int64
	now := c.rep.VerifiedAt.UnixNano()
	srcSum, dstSum := sha256.New(), sha256.New()
	c.progress(CopyProgress{Phase: PhaseVerifyLists, Total: total})
	// Batches of numbers looked up with IN (...): a bound value each.
	err := c.eachEntryBatch(ctx, c.opts.RecordBatch, func(tenant string, k screening.ListKind, batch []entryRow) error {
		have, err := c.dst.entriesIn(ctx, tenant, k, batch)
		if err != nil {
			return err
		}
		i := c.listIndex(tenant, k)
		if i < 0 {
			return fmt.Errorf("%s list of %s: entries the count did not see", k, scopeName(tenant))
		}
		l := &c.rep.Lists[i]
		for _, e := range batch {
			e.tenant = tenant
			d, ok := have[e.number]
			if !ok && e.expires.Valid && e.expires.Int64 <= now {
				l.Expired++ // purged in the destination: in neither checksum
				continue
			}
			writeEntry(srcSum, e)
			if !ok {
				l.Missing++
				dstSum.Write([]byte{0})
				continue
			}
			writeEntry(dstSum, d)
			if d == e {
				l.Verified++
			} else {
				l.Different++
			}
		}
		done += int64(len(batch))
		c.progress(CopyProgress{Phase: PhaseVerifyLists, Done: done, Total: total})
		return nil
	})
	if err != nil {
		return err
	}
	c.rep.ListsSum = Checksums{Source: hex.EncodeToString(srcSum.Sum(nil)), Destination: hex.EncodeToString(dstSum.Sum(nil))}
	for i, l := range c.rep.Lists {
		if err := c.dst.r.QueryRowContext(ctx, c.dst.q("SELECT count(*) FROM list_entries WHERE tenant = ? AND kind = ?"), l.Tenant, string(l.Kind)).Scan(&c.rep.Lists[i].Destination); err != nil {
			return err
		}
	}
	return nil
}

// entriesIn returns the entries of kind k in the scope of tenant whose
// numbers are those of batch, by number.
func (s *Store) entriesIn(ctx context.Context, tenant string, k screening.ListKind, batch []entryRow) (map[string]entryRow, error) {
	numbers := make([]string, len(batch))
	for i, e := range batch {
		numbers[i] = e.number
	}
	in, inArgs := s.in("number", numbers)
	q := "SELECT tenant, kind, number, expires, source, reason, created FROM list_entries WHERE tenant = ? AND kind = ? AND " + in
	rows, err := s.r.QueryContext(ctx, s.q(q), append([]any{tenant, string(k)}, inArgs...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := make(map[string]entryRow, len(batch))
	for rows.Next() {
		var e entryRow
		if err := rows.Scan(&e.tenant, &e.kind, &e.number, &e.expires, &e.source, &e.reason, &e.created); err != nil {
			return nil, err
		}
		have[e.number] = e
	}
	return have, rows.Err()
}

// in is the condition that column is one of vals, and its arguments: on
// SQLite a list of bound values, on PostgreSQL one array (a list of
// thousands costs PostgreSQL more to plan than to run).
func (s *Store) in(column string, vals []string) (string, []any) {
	if s.pg != nil {
		return column + " = ANY(?)", []any{vals}
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return column + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ") + ")", args
}

// writeEntry feeds e to a checksum, each field length-prefixed.
func writeEntry(h hash.Hash, e entryRow) {
	h.Write([]byte{1})
	for _, f := range []string{e.tenant, e.kind, e.number, e.source, e.reason} {
		writeField(h, f)
	}
	writeNullInt(h, e.expires)
	writeInt(h, e.created)
}

func writeField(h hash.Hash, s string) {
	writeInt(h, int64(len(s)))
	h.Write([]byte(s))
}

func writeInt(h hash.Hash, n int64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
}

func writeNullInt(h hash.Hash, n sql.NullInt64) {
	if !n.Valid {
		h.Write([]byte{0})
		return
	}
	h.Write([]byte{1})
	writeInt(h, n.Int64)
}

// recordSelect reads call log rows in the order of recordColumns.
const recordSelect = `SELECT id, time, mode, caller, called, profile, action, taken, outcome, score, presence, reasons,
	monitor, decision_ns, handling_ns, record, server, tenant FROM call_log`

// logRow is a call log row as stored, in the order of recordColumns.
type logRow struct {
	id                                                string
	time                                              int64
	mode, caller, called, profile, action, taken, out string
	score                                             int
	presence, reasons                                 string
	monitor                                           int
	decision, handling                                int64
	record, server, tenant                            string
}

func (r *logRow) scan(rows *sql.Rows) error {
	return rows.Scan(&r.id, &r.time, &r.mode, &r.caller, &r.called, &r.profile, &r.action, &r.taken, &r.out,
		&r.score, &r.presence, &r.reasons, &r.monitor, &r.decision, &r.handling, &r.record, &r.server, &r.tenant)
}

// row is r as appendRows writes it, in the types rowOf gives.
func (r *logRow) row() recordRow {
	return recordRow{r.id, r.time, r.mode, r.caller, r.called, r.profile, r.action, r.taken, r.out,
		r.score, r.presence, r.reasons, r.monitor, r.decision, r.handling, r.record, r.server, r.tenant}
}

func (r *logRow) sum(h hash.Hash) {
	h.Write([]byte{1})
	for _, f := range []string{r.id, r.mode, r.caller, r.called, r.profile, r.action, r.taken, r.out, r.presence, r.reasons, r.record, r.server, r.tenant} {
		writeField(h, f)
	}
	for _, n := range []int64{r.time, int64(r.score), int64(r.monitor), r.decision, r.handling} {
		writeInt(h, n)
	}
}

// stamp gives a record without a server or tenant the copy's, in its
// columns and in its JSON (which is what the log is read back from). The
// JSON keeps every other field as it was, unknown ones included.
func (c *copier) stamp(r *logRow) error {
	server := r.server == "" && c.opts.Server != ""
	tenant := r.tenant == "" && c.opts.Tenant != ""
	if !server && !tenant {
		return nil
	}
	if server {
		r.server = c.opts.Server
	}
	if tenant {
		r.tenant = c.opts.Tenant
	}
	// The record's JSON omits an empty server and tenant: then the two
	// go in front of its fields, which are left as they are.
	var have struct{ Server, Tenant *string }
	if err := json.Unmarshal([]byte(r.record), &have); err != nil {
		return fmt.Errorf("record %s: %w", r.id, err)
	}
	if body, ok := strings.CutPrefix(r.record, "{"); ok && (!server || have.Server == nil) && (!tenant || have.Tenant == nil) {
		var add []string
		if server {
			add = append(add, `"server":`+jsonString(r.server))
		}
		if tenant {
			add = append(add, `"tenant":`+jsonString(r.tenant))
		}
		sep := ","
		if strings.HasPrefix(strings.TrimSpace(body), "}") {
			sep = "" // an empty object
		}
		r.record = "{" + strings.Join(add, ",") + sep + body
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.record), &obj); err != nil {
		return fmt.Errorf("record %s: %w", r.id, err)
	}
	set := func(key, val string) { obj[key] = json.RawMessage(jsonString(val)) }
	if server {
		set("server", r.server)
	}
	if tenant {
		set("tenant", r.tenant)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return fmt.Errorf("record %s: %w", r.id, err)
	}
	r.record = strings.TrimSuffix(b.String(), "\n")
	return nil
}

// jsonString is s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}

// eachRecordBatch streams the source's call log, stamped, n records at a
// time.
func (c *copier) eachRecordBatch(ctx context.Context, n int, fn func(batch []logRow) error) error {
	var (
		unstamped int64
		firstBad  error
	)
	defer func() {
		// pipe has returned: the producer is done with these.
		c.rep.Records.Unstamped = unstamped
		if firstBad != nil {
			c.rep.Records.FirstUnstamped = firstBad.Error()
		}
	}()
	return pipe(ctx, func(emit func([]logRow) bool) error {
		rows, err := c.tx.QueryContext(context.WithoutCancel(ctx), recordSelect)
		if err != nil {
			return err
		}
		defer rows.Close()
		batch := make([]logRow, 0, n)
		for rows.Next() {
			var r logRow
			if err := r.scan(rows); err != nil {
				return err
			}
			orig := r
			if err := c.stamp(&r); err != nil {
				r = orig
				// Not JSON: copied as it is, unstamped, rather than lost.
				unstamped++
				if firstBad == nil {
					firstBad = err
				}
			}
			batch = append(batch, r)
			if len(batch) == n {
				if !emit(batch) {
					return nil
				}
				batch = make([]logRow, 0, n)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			emit(batch)
		}
		return nil
	}, fn)
}

func (c *copier) copyRecords(ctx context.Context) error {
	total := c.rep.Records.Source
	var done int64
	c.progress(CopyProgress{Phase: PhaseRecords, Total: total})
	rows := make([]recordRow, 0, c.opts.RecordBatch)
	return c.eachRecordBatch(ctx, c.opts.RecordBatch, func(batch []logRow) error {
		rows = rows[:0]
		for i := range batch {
			rows = append(rows, batch[i].row())
		}
		dup := c.dst.DuplicateRecords()
		if err := c.dst.appendRows(ctx, rows); err != nil {
			return fmt.Errorf("after %d of %d records: %w", done, total, err)
		}
		c.rep.Records.Written += int64(len(rows)) - int64(c.dst.DuplicateRecords()-dup)
		done += int64(len(batch))
		c.progress(CopyProgress{Phase: PhaseRecords, Done: done, Total: total})
		return nil
	})
}

func (c *copier) verifyRecords(ctx context.Context) error {
	total := c.rep.Records.Source
	var done int64
	srcSum, dstSum := sha256.New(), sha256.New()
	c.progress(CopyProgress{Phase: PhaseVerifyRecords, Total: total})
	err := c.eachRecordBatch(ctx, c.opts.RecordBatch, func(batch []logRow) error {
		ids := make([]string, len(batch))
		for i, r := range batch {
			ids[i] = r.id
		}
		in, args := c.dst.in("id", ids)
		rows, err := c.dst.r.QueryContext(ctx, c.dst.q(recordSelect+" WHERE "+in), args...)
		if err != nil {
			return err
		}
		have := make(map[string]logRow, len(batch))
		for rows.Next() {
			var r logRow
			if err := r.scan(rows); err != nil {
				rows.Close()
				return err
			}
			have[r.id] = r
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, r := range batch {
			r.sum(srcSum)
			d, ok := have[r.id]
			if !ok {
				c.rep.Records.Missing++
				dstSum.Write([]byte{0})
				continue
			}
			d.sum(dstSum)
			if d == r {
				c.rep.Records.Verified++
			} else {
				c.rep.Records.Different++
			}
		}
		done += int64(len(batch))
		c.progress(CopyProgress{Phase: PhaseVerifyRecords, Done: done, Total: total})
		return nil
	})
	if err != nil {
		return err
	}
	c.rep.RecordsSum = Checksums{Source: hex.EncodeToString(srcSum.Sum(nil)), Destination: hex.EncodeToString(dstSum.Sum(nil))}
	return c.dst.r.QueryRowContext(ctx, "SELECT count(*) FROM call_log").Scan(&c.rep.Records.Destination)
}
