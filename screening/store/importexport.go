package store

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/callscreen/callscreen/screening"
)

// Import limits.
const (
	// MaxLineLength is the longest line Import accepts; a longer line is a
	// bad line.
	MaxLineLength = 64 << 10
	// MaxBadReported is how many bad lines an ImportReport keeps; the rest
	// are only counted.
	MaxBadReported = 1000
	// badInError is how many bad lines an ImportError lists.
	badInError = 20
)

// ImportOptions control Import.
type ImportOptions struct {
	// Normalize turns a number in national form ("0312345678", "03-1234-5678"
	// after separators are removed: "0312345678") into E.164, following the
	// trunk's numbering plan. It receives the digits without separators. If
	// nil, every number must already be in E.164 form.
	Normalize func(string) (string, error)
	// SkipBad imports the good lines when some are bad. Without it a single
	// bad line fails the import and nothing is imported.
	SkipBad bool
	// Source is recorded on imported entries; empty means
	// screening.SourceImport. A "source" column overrides it.
	Source string
	// Size is the input's length in bytes, for Progress; when zero Import
	// asks the reader (an *os.File, *bytes.Reader, ...) and otherwise
	// reports a total of -1.
	Size int64
	// Progress, if set, is called every 256 KiB read with the bytes read so
	// far and the total (-1 when unknown), and once more when the entries
	// are in place: after the input has been read, merging a large file
	// into the list takes a few more seconds.
	Progress func(done, total int64)
	// Tenant is the scope of the imported entries; empty applies them to
	// every tenant.
	Tenant string

	// mergeChunk overrides the entries merged per transaction (tests).
	mergeChunk int
}

// ImportReport says what Import did.
type ImportReport struct {
	// Lines is the number of lines read.
	Lines int64
	// Header reports that the first line was a header naming the columns.
	Header bool
	// Skipped counts blank lines, comments and the header.
	Skipped int64
	// Imported is the number of lines imported (a number given twice
	// counts twice: the later line wins); Added is how many entries the
	// list gained. Both are zero when the import failed.
	Imported, Added int64
	// BadLines counts the lines that could not be imported; Bad holds the
	// first MaxBadReported of them.
	BadLines int64
	Bad      []BadLine
}

// BadLine is one input line that could not be imported.
type BadLine struct {
	Line   int64  // 1-based line number
	Text   string // the offending field (or the start of the line)
	Reason string
}

func (b BadLine) String() string {
	return fmt.Sprintf("line %d: %q: %s", b.Line, b.Text, b.Reason)
}

// EncodingError is returned when the input is not UTF-8 text at all (a
// UTF-16 file). Nothing was imported.
type EncodingError struct{ Msg string }

func (e *EncodingError) Error() string { return e.Msg }

// ImportError is returned when an import without SkipBad met bad lines.
// Nothing was imported.
type ImportError struct {
	Total int64     // how many lines were bad
	Bad   []BadLine // the first of them (up to MaxBadReported)
}

func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "store: import: %d bad line(s), nothing imported:", e.Total)
	for i, l := range e.Bad {
		if i == badInError {
			break
		}
		b.WriteString("\n\t")
		b.WriteString(l.String())
	}
	if e.Total > badInError {
		fmt.Fprintf(&b, "\n\t... and %d more", e.Total-badInError)
	}
	return b.String()
}

// Import reads numbers for the list of kind k from r and adds them,
// replacing entries already on the list.
//
// The input is plain text or CSV in UTF-8, one entry per line: a number,
// then optionally a reason and an expiry (RFC 3339, or YYYY-MM-DD meaning
// midnight UTC). The first line may be a header naming the columns (number,
// reason, expires, source, created, in any order; other columns are
// ignored); a header is recognised by holding no digit. Blank lines and
// lines starting with '#' are skipped; a UTF-8 byte order mark and CRLF
// line endings are accepted. A number may be E.164 ("+81312345678"), a
// prefix pattern ("+8150*"), or national ("03-1234-5678") when
// opts.Normalize is set; spaces, hyphens, dots and parentheses, full-width
// forms included, are ignored. Quoted CSV fields must not span lines.
//
// Import reads the whole input before it changes the list. If any line is
// bad and opts.SkipBad is not set, it imports nothing and returns the
// report with an *ImportError listing the bad lines; with SkipBad it
// imports the good lines and reports the bad ones.
//
// Import works on a connection of its own and holds no lock on the
// database while it reads the input (a slow upload, a large file), so
// that the call log and list changes of a running server go on. It then
// merges the entries into the list in chunks of mergeChunk, each its own
// short transaction with a pause between them, rather than in one
// transaction that would hold the database's write lock for tens of
// seconds. An import interrupted during the merge (the process killed,
// ctx canceled) leaves the chunks already merged; importing the same
// input again completes it.
func (s *Store) Import(ctx context.Context, k screening.ListKind, r io.Reader, opts ImportOptions) (ImportReport, error) {
	var rep ImportReport
	if err := checkKind(k); err != nil {
		return rep, fmt.Errorf("store: import: %w", err)
	}
	if opts.Source == "" {
		opts.Source = screening.SourceImport
	}
	if opts.mergeChunk <= 0 {
		opts.mergeChunk = mergeChunk
	}
	if err := validateTenant(opts.Tenant); err != nil {
		return rep, fmt.Errorf("store: import: %w", err)
	}
	cr := &countingReader{r: r, total: opts.Size, progress: opts.Progress}
	if cr.total <= 0 {
		cr.total = sizeOf(r)
	}

	db, conn, err := s.importConn(ctx)
	if err != nil {
		return rep, fmt.Errorf("store: import: %w", err)
	}
	if db != nil {
		defer db.Close()
	}
	defer s.closeImportConn(conn) // drops the temporary tables, rolls back what is open

	// Lines go to a temporary table in the order read, then into the list
	// sorted by number: inserting millions of numbers in random order into
	// the list's B-tree would thrash the page cache. The temporary
	// database is the connection's own: writing it in a deferred
	// transaction locks nothing other connections use.
	if _, err := conn.ExecContext(ctx, s.importSQL().createStaging); err != nil {
		return rep, fmt.Errorf("store: import: %w", err)
	}
	if _, err := conn.ExecContext(ctx, s.importSQL().begin); err != nil {
		return rep, fmt.Errorf("store: import: %w", err)
	}
	stmt, err := conn.PrepareContext(ctx, s.q("INSERT INTO temp.import_staging (number, expires, source, reason, created) VALUES (?, CAST(? AS BIGINT), ?, ?, CAST(? AS BIGINT))"))
	if err != nil {
		return rep, fmt.Errorf("store: import: %w", err)
	}
	defer stmt.Close()
	// The statement's context must not be cancellable: the driver starts a
	// goroutine per execution to watch one. Cancellation is checked every
	// few thousand lines instead.
	execCtx := context.WithoutCancel(ctx)
	now := time.Now().UnixNano()

	p := importParser{normalize: opts.Normalize, source: opts.Source, kind: k}
	lr := newLineReader(cr)
	var writes int64
	for {
		line, tooLong, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rep, fmt.Errorf("store: import: read line %d: %w", lr.n+1, err)
		}
		rep.Lines = lr.n
		if lr.n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return rep, fmt.Errorf("store: import: %w", err)
			}
		}
		e, skip, bad := p.parse(lr.n, line, tooLong)
		if bad != nil {
			rep.BadLines++
			if len(rep.Bad) < MaxBadReported {
				rep.Bad = append(rep.Bad, *bad)
			}
			continue
		}
		if skip {
			rep.Skipped++
			continue
		}
		if rep.BadLines > 0 && !opts.SkipBad {
			continue // nothing will be imported: only look for more bad lines
		}
		if _, err = stmt.ExecContext(execCtx, e.Number, nanos(e.Expires), e.Source, e.Reason, nanos(e.Created)); err != nil {
			return rep, fmt.Errorf("store: import: line %d: %w", lr.n, err)
		}
		writes++
	}
	rep.Lines = lr.n
	rep.Header = p.header
	if rep.BadLines > 0 && !opts.SkipBad {
		cr.report()
		return rep, &ImportError{Total: rep.BadLines, Bad: rep.Bad}
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("store: import: %w", err)
	}
	// Sorted into a table of its own, whose rowids are then the merge
	// order, so that each chunk is a range of them.
	if _, err := conn.ExecContext(ctx, s.importSQL().sortStaging); err != nil {
		return rep, fmt.Errorf("store: import: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return rep, fmt.Errorf("store: import: %w", err)
	}

	before, err := s.countTx(ctx, conn, k, opts.Tenant)
	if err != nil {
		return rep, fmt.Errorf("store: import: %w", err)
	}
	for lo := int64(0); lo < writes; lo += int64(opts.mergeChunk) {
		if lo > 0 {
			// Let a connection waiting for the write lock (the call log
			// writer, a change on the dashboard) take it: SQLite's busy
			// handler polls at most every 100 ms and is not fair.
			select {
			case <-ctx.Done():
			case <-time.After(mergePause):
			}
		}
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("store: import: interrupted after merging %d of %d entries (import the same input again to complete it): %w", lo, writes, err)
		}
		if err := s.mergeChunkTx(ctx, conn, k, opts.Tenant, now, lo, lo+int64(opts.mergeChunk)); err != nil {
			return rep, fmt.Errorf("store: import: merging entries %d to %d of %d (those before are merged): %w", lo+1, min(lo+int64(opts.mergeChunk), writes), writes, err)
		}
	}
	cr.report()
	after, err := s.countTx(ctx, conn, k, opts.Tenant)
	if err != nil {
		return rep, fmt.Errorf("store: import: %w", err)
	}
	rep.Imported = writes
	rep.Added = int64(after - before)
	return rep, nil
}

// Merge chunks: how many entries one transaction merges (about a quarter
// of a second), and the pause between two.
const (
	mergeChunk = 100_000
	mergePause = 150 * time.Millisecond
)

// mergeChunkTx merges the sorted entries with rowids in (lo, hi] into the
// list of kind k in one write transaction, recorded in the change feed as
// a bulk change (followers reload).
func (s *Store) mergeChunkTx(ctx context.Context, conn *sql.Conn, k screening.ListKind, tenant string, now, lo, hi int64) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var before, after int64
	if err := tx.QueryRowContext(ctx, s.d.lockVersion).Scan(&before); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(mergeStaging), string(k), now, lo, hi, tenant); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, "SELECT version FROM lists_version WHERE id = 1").Scan(&after); err != nil {
		return err
	}
	if after > before {
		if err := s.recordChange(ctx, tx, change{op: opBulk, entry: screening.Entry{Kind: k, Tenant: tenant}}, after, after-before); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// closeImportConn ends an import's session: SQLite's connection is closed,
// PostgreSQL's goes back to the pool without its temporary tables.
func (s *Store) closeImportConn(conn *sql.Conn) {
	if s.pg != nil {
		conn.ExecContext(context.Background(), "DISCARD TEMP")
	}
	conn.Close()
}

// importConn opens a connection of the database for one import: on
// SQLite one of its own (db, to be closed after conn), on PostgreSQL a
// session from the pool (db nil).
func (s *Store) importConn(ctx context.Context) (*sql.DB, *sql.Conn, error) {
	if s.pg != nil {
		conn, err := s.w.Conn(ctx)
		return nil, conn, err
	}
	db, err := sql.Open("sqlite", dsn(s.path, url.Values{
		// A merge chunk waits for the server's short writes.
		"_busy_timeout": {strconv.FormatInt(time.Minute.Milliseconds(), 10)},
		"_txlock":       {"immediate"}, // mergeChunkTx writes
		"_synchronous":  {"NORMAL"},
		"_foreign_keys": {"1"},
		"_error_rc":     {"1"},
		"_pragma":       {"journal_size_limit(67108864)"},
	}))
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, conn, nil
}

// importStatements are the statements of an import that differ between
// the dialects.
type importStatements struct {
	createStaging, begin, sortStaging string
}

func (s *Store) importSQL() importStatements {
	if s.pg != nil {
		return importStatements{
			createStaging: `CREATE TEMP TABLE import_staging (
				seq     BIGSERIAL,
				number  TEXT NOT NULL,
				expires BIGINT,
				source  TEXT NOT NULL,
				reason  TEXT NOT NULL,
				created BIGINT
			)`,
			begin: "BEGIN",
			// One row per number, the last line's: PostgreSQL's upsert
			// cannot touch a row twice in one statement.
			sortStaging: `CREATE TEMP TABLE import_sorted AS
				SELECT row_number() OVER (ORDER BY number) AS rowid, number, expires, source, reason, created
				FROM (SELECT DISTINCT ON (number) number, expires, source, reason, created
					FROM pg_temp.import_staging ORDER BY number, seq DESC) AS last;
			CREATE INDEX ON pg_temp.import_sorted (rowid);
			DROP TABLE pg_temp.import_staging`,
		}
	}
	return importStatements{createStaging: createStaging, begin: "BEGIN DEFERRED", sortStaging: sortStaging}
}

// createStaging creates the table Import collects lines in. It lives in
// the connection's temporary database, which is never shared.
const createStaging = `CREATE TEMP TABLE import_staging (
	number  TEXT NOT NULL,
	expires INTEGER,
	source  TEXT NOT NULL,
	reason  TEXT NOT NULL,
	created INTEGER -- NULL: none given
)`

// sortStaging copies the collected lines sorted by number (a later line
// for the same number after an earlier one) into import_sorted, whose
// rowids 1, 2, ... are that order.
const sortStaging = `CREATE TEMP TABLE import_sorted AS
	SELECT number, expires, source, reason, created FROM temp.import_staging ORDER BY number, rowid;
DROP TABLE temp.import_staging`

// mergeStaging upserts the sorted lines with rowids in (?3, ?4] into the
// list of kind ?1, with the semantics of upsertEntry: a later line for the
// same number wins, and a replaced entry keeps its creation time unless
// the line gives one. ?2 is the import's time, which stands for "no
// creation time given"; a line cannot name that very nanosecond by chance.
const mergeStaging = `INSERT INTO list_entries (kind, number, expires, source, reason, created, tenant)
SELECT ?1, number, expires, source, reason, coalesce(created, CAST(?2 AS BIGINT)), ?5
FROM temp.import_sorted WHERE rowid > ?3 AND rowid <= ?4 ORDER BY rowid
ON CONFLICT (tenant, kind, number) DO UPDATE SET
	expires = excluded.expires,
	source  = excluded.source,
	reason  = excluded.reason,
	created = CASE WHEN excluded.created = CAST(?2 AS BIGINT) THEN list_entries.created ELSE excluded.created END`

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) countTx(ctx context.Context, q queryRower, k screening.ListKind, tenant string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, s.q("SELECT count(*) FROM list_entries WHERE tenant = ? AND kind = ?"), tenant, string(k)).Scan(&n)
	return n, err
}

// importParser turns lines into entries.
type importParser struct {
	normalize func(string) (string, error)
	source    string
	kind      screening.ListKind

	started bool // a data line (or the header) has been seen
	header  bool
	// column indexes; -1 when absent
	cNumber, cReason, cExpires, cSource, cCreated int
}

// parse parses line n. It returns the entry, or skip for a line without
// one (blank, comment, header), or the reason the line is bad.
func (p *importParser) parse(n int64, line []byte, tooLong bool) (e screening.Entry, skip bool, bad *BadLine) {
	if tooLong {
		return e, false, &BadLine{Line: n, Text: clip(line), Reason: fmt.Sprintf("line longer than %d bytes", MaxLineLength)}
	}
	if !utf8.Valid(line) {
		return e, false, &BadLine{Line: n, Text: clip(line), Reason: "not UTF-8 text (save the file as UTF-8 CSV)"}
	}
	text := strings.TrimSpace(string(line))
	if text == "" || text[0] == '#' {
		return e, true, nil
	}
	fields, err := splitFields(text)
	if err != nil {
		return e, false, &BadLine{Line: n, Text: clip(line), Reason: err.Error()}
	}
	if !p.started {
		p.started = true
		p.cNumber, p.cReason, p.cExpires, p.cSource, p.cCreated = 0, 1, 2, -1, -1
		if p.isHeader(fields) {
			p.header = true
			return e, true, nil
		}
	}
	field := func(i int) string {
		if i < 0 || i >= len(fields) {
			return ""
		}
		return fields[i]
	}

	raw := field(p.cNumber)
	number, reason := p.number(raw)
	if reason != "" {
		return e, false, &BadLine{Line: n, Text: raw, Reason: reason}
	}
	e = screening.Entry{Number: number, Reason: field(p.cReason), Source: p.source}
	if v := field(p.cExpires); v != "" {
		if e.Expires, err = parseTime(v); err != nil {
			return e, false, &BadLine{Line: n, Text: v, Reason: "expires: " + err.Error()}
		}
	}
	if v := field(p.cSource); v != "" {
		e.Source = v
	}
	if v := field(p.cCreated); v != "" {
		if e.Created, err = parseTime(v); err != nil {
			return e, false, &BadLine{Line: n, Text: v, Reason: "created: " + err.Error()}
		}
	}
	// The checks of every other way onto a list (the dashboard's API).
	e.Reason = unquoteFormula(strings.TrimSpace(e.Reason))
	e.Source = unquoteFormula(e.Source)
	if err := screening.ValidateReason(e.Reason); err != nil {
		return e, false, &BadLine{Line: n, Text: clipString(e.Reason), Reason: err.Error()}
	}
	if err := screening.ValidateEntrySource(p.kind, e.Source, e.Expires); err != nil {
		return e, false, &BadLine{Line: n, Text: clipString(e.Source), Reason: err.Error()}
	}
	return e, false, nil
}

// clipString is clip for a field.
func clipString(s string) string { return clip([]byte(s)) }

// formulaStart reports whether a spreadsheet would read a cell starting
// with c as a formula (=, +, -, @, and tab or CR, which some take as
// one), or c is the quote Export puts before such a cell.
func formulaStart(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return true
	}
	return false
}

// quoteFormula makes a text cell safe to open in a spreadsheet: a value
// that would start a formula gets a leading apostrophe, which
// spreadsheets show as text and unquoteFormula removes on import. The
// number column needs none: it holds only "+digits" (or "+digits*"),
// which a spreadsheet reads as that number at worst, never as a formula
// with a function or a reference, and it stays as it is so that E.164
// numbers keep their "+" in the file.
func quoteFormula(s string) string {
	if s != "" && formulaStart(s[0]) {
		return "'" + s
	}
	return s
}

// unquoteFormula undoes quoteFormula.
func unquoteFormula(s string) string {
	if len(s) >= 2 && s[0] == '\'' && formulaStart(s[1]) {
		return s[1:]
	}
	return s
}

// escapeControl writes control and format characters, which the import
// refuses and a terminal or spreadsheet may act on, as visible \uXXXX
// text. Entries made before reasons were checked may hold them.
func escapeControl(s string) string {
	if strings.IndexFunc(s, isControlOrFormat) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControlOrFormat(r) {
			fmt.Fprintf(&b, "\\u%04X", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControlOrFormat(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }

// isHeader reports whether fields are a header, and if so maps the columns.
func (p *importParser) isHeader(fields []string) bool {
	known := false
	for _, f := range fields {
		if strings.ContainsAny(f, "0123456789") {
			return false
		}
		if headerColumn(f) != "" {
			known = true
		}
	}
	if !known {
		return false
	}
	p.cNumber, p.cReason, p.cExpires = -1, -1, -1
	for i, f := range fields {
		var idx *int
		switch headerColumn(f) {
		case "number":
			idx = &p.cNumber
		case "reason":
			idx = &p.cReason
		case "expires":
			idx = &p.cExpires
		case "source":
			idx = &p.cSource
		case "created":
			idx = &p.cCreated
		default:
			continue
		}
		if *idx < 0 {
			*idx = i
		}
	}
	if p.cNumber < 0 {
		p.cNumber = 0 // a header without a number column: assume the first
	}
	return true
}

// headerColumn returns the column a header field names, or "".
func headerColumn(name string) string {
	switch strings.ToLower(name) {
	case "number", "phone", "tel", "telephone", "e164", "msisdn":
		return "number"
	case "reason", "note", "comment", "description":
		return "reason"
	case "expires", "expiry", "expires_at":
		return "expires"
	case "source":
		return "source"
	case "created":
		return "created"
	}
	return ""
}

// number cleans and normalises one number field. It returns the E.164
// number or pattern, or the reason it is not one.
func (p *importParser) number(raw string) (string, string) {
	if raw == "" {
		return "", "no number"
	}
	clean, ok := cleanNumber(raw)
	if !ok {
		return "", "not a number"
	}
	digits, prefix := strings.CutSuffix(clean, "*")
	if !strings.HasPrefix(digits, "+") {
		if p.normalize == nil {
			return "", "not in E.164 form (+ and country code) and no numbering plan was given to normalise it"
		}
		norm, err := p.normalize(digits)
		if err != nil {
			return "", "cannot normalise: " + err.Error()
		}
		digits = norm
	}
	if prefix {
		digits += "*"
	}
	if err := screening.ValidateEntryNumber(digits); err != nil {
		if digits != raw {
			return "", fmt.Sprintf("%s (from %q)", err, clean)
		}
		return "", err.Error()
	}
	return digits, ""
}

// cleanNumber removes visual separators and maps full-width characters,
// keeping an optional leading '+', digits and an optional trailing '*'. ok
// is false when anything else is left or there is no digit.
func cleanNumber(s string) (clean string, ok bool) {
	b := make([]byte, 0, len(s))
	digits, star := 0, false
	for _, r := range s {
		if star { // only separators may follow the '*'
			if isSeparator(r) {
				continue
			}
			return "", false
		}
		switch {
		case r >= '0' && r <= '9':
			b = append(b, byte(r))
			digits++
		case r >= '０' && r <= '９':
			b = append(b, byte('0'+r-'０'))
			digits++
		case r == '+' || r == '＋':
			if len(b) > 0 {
				return "", false
			}
			b = append(b, '+')
		case r == '*' || r == '＊':
			star = true
		case isSeparator(r):
		default:
			return "", false
		}
	}
	if digits == 0 {
		return "", false
	}
	if star {
		b = append(b, '*')
	}
	return string(b), true
}

// isSeparator reports whether r is punctuation people put in phone numbers:
// spaces, hyphens, dots, slashes and parentheses, in ASCII and full width,
// and the katakana long vowel mark often typed for a hyphen in Japan.
func isSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '-', '.', '/', '(', ')',
		'\u3000', '－', '（', '）', '．', '／',
		'‐', '‑', '‒', '–', '—', '―', '−', 'ー':
		return true
	}
	return false
}

// splitFields splits one CSV line. Lines without quotes, the common case,
// are split without the csv package.
func splitFields(line string) ([]string, error) {
	var fields []string
	if !strings.Contains(line, `"`) {
		fields = strings.Split(line, ",")
	} else {
		cr := csv.NewReader(strings.NewReader(line))
		cr.FieldsPerRecord = -1
		var err error
		if fields, err = cr.Read(); err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("bad CSV: %w", err)
		}
	}
	for i, f := range fields {
		fields[i] = strings.TrimSpace(f)
	}
	return fields, nil
}

// parseTime parses an expiry or creation time: RFC 3339, or a date meaning
// its midnight UTC.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("not a time (want RFC 3339 such as 2026-01-02T15:04:05Z, or 2026-01-02)")
}

// clip shortens a line for a message.
func clip(b []byte) string {
	const n = 40
	if len(b) <= n {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(b[:n]), "\uFFFD") + "..."
}

// lineReader reads lines of bounded length.
type lineReader struct {
	br *bufio.Reader
	n  int64 // lines read
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, MaxLineLength)}
}

// next returns the next line without its line ending, valid until the next
// call. A line longer than MaxLineLength is returned truncated with tooLong
// set. At the end of the input it returns io.EOF.
func (lr *lineReader) next() (line []byte, tooLong bool, err error) {
	line, err = lr.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		tooLong = true
		line = bytes.Clone(line[:64])
		for err == bufio.ErrBufferFull {
			_, err = lr.br.ReadSlice('\n')
		}
	}
	if err == io.EOF {
		if len(line) == 0 {
			return nil, false, io.EOF
		}
		err = nil
	}
	if err != nil {
		return nil, false, err
	}
	lr.n++
	if lr.n == 1 {
		if bytes.HasPrefix(line, []byte{0xff, 0xfe}) || bytes.HasPrefix(line, []byte{0xfe, 0xff}) {
			return nil, false, &EncodingError{"the file is UTF-16 text: save it as UTF-8 (CSV UTF-8)"}
		}
		line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, tooLong, nil
}

// progressStep is how many bytes pass between progress reports.
const progressStep = 256 << 10

// countingReader counts the bytes read through it and reports progress.
type countingReader struct {
	r        io.Reader
	done     int64
	total    int64
	reported int64
	progress func(done, total int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.done += int64(n)
	if c.done-c.reported >= progressStep {
		c.report()
	}
	return n, err
}

// report reports progress unless nothing was read since the last report.
func (c *countingReader) report() {
	if c.progress != nil && (c.done != c.reported || c.done == 0) {
		c.progress(c.done, c.total)
	}
	c.reported = c.done
}

// sizeOf returns the length of r's content when r can tell, else -1.
func sizeOf(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }: // *bytes.Reader, *strings.Reader, *bytes.Buffer
		return int64(r.Len())
	case interface{ Stat() (fs.FileInfo, error) }: // *os.File
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return -1
}

// Export writes the list of kind k as CSV with the header
// number,reason,expires,source,created (times in RFC 3339, empty for an
// entry that never expires), ordered by number. The output imports back
// unchanged.
func (s *Store) Export(ctx context.Context, k screening.ListKind, w io.Writer) error {
	return s.ExportFor(ctx, k, "", w)
}

// ExportFor is Export of the entries of one tenant's scope ("" for those
// of every tenant).
func (s *Store) ExportFor(ctx context.Context, k screening.ListKind, tenant string, w io.Writer) error {
	if err := checkKind(k); err != nil {
		return fmt.Errorf("store: export: %w", err)
	}
	rows, err := s.r.QueryContext(ctx,
		s.q("SELECT number, reason, expires, source, created FROM list_entries WHERE kind = ? AND tenant = ? ORDER BY number"), string(k), tenant)
	if err != nil {
		return fmt.Errorf("store: export %s: %w", k, err)
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"number", "reason", "expires", "source", "created"}); err != nil {
		return fmt.Errorf("store: export %s: %w", k, err)
	}
	rec := make([]string, 5)
	for rows.Next() {
		var expires, created sql.NullInt64
		if err := rows.Scan(&rec[0], &rec[1], &expires, &rec[3], &created); err != nil {
			return fmt.Errorf("store: export %s: %w", k, err)
		}
		rec[1] = quoteFormula(escapeControl(rec[1]))
		rec[3] = quoteFormula(escapeControl(rec[3]))
		rec[2] = formatTime(fromNanos(expires))
		rec[4] = formatTime(fromNanos(created))
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("store: export %s: %w", k, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: export %s: %w", k, err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("store: export %s: %w", k, err)
	}
	return nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
