package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func logRec(i int) screening.Record {
	return rec(fmt.Sprintf("call-%06d", i), i, "+81312345678", screening.Ring, screening.OutcomeRang, false)
}

func count(t *testing.T, st *Store) int {
	t.Helper()
	var n int
	if err := st.r.QueryRowContext(t.Context(), "SELECT count(*) FROM call_log").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLogWriterConcurrent(t *testing.T) {
	tests := []struct {
		name    string
		opts    LogOptions
		writers int
		each    int
	}{
		{"defaults", LogOptions{}, 8, 500},
		{"small batches", LogOptions{BatchSize: 3, Linger: time.Microsecond}, 4, 300},
		{"one writer", LogOptions{}, 1, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t)
			log, _ := testLogger()
			tt.opts.Logger = log
			w := newLogWriter(t, st, tt.opts)
			var wg sync.WaitGroup
			for g := range tt.writers {
				wg.Go(func() {
					for i := range tt.each {
						w.Write(logRec(g*tt.each + i))
					}
				})
			}
			wg.Wait()
			if err := w.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			total := tt.writers * tt.each
			if got := count(t, st); got != total || w.Written() != uint64(total) || w.Dropped() != 0 || w.Failed() != 0 {
				t.Errorf("rows %d, written %d, dropped %d, failed %d; want %d written and nothing lost",
					got, w.Written(), w.Dropped(), w.Failed(), total)
			}
		})
	}
}

func TestLogWriterFlush(t *testing.T) {
	st := newStore(t)
	w := newLogWriter(t, st, LogOptions{Linger: time.Hour}) // only Flush writes a partial batch
	defer w.Close(t.Context())
	for i := range 10 {
		w.Write(logRec(i))
	}
	if err := w.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := count(t, st); got != 10 {
		t.Errorf("after Flush: %d rows, want 10", got)
	}
	recs, err := st.Records(t.Context(), RecordFilter{Limit: 1})
	if err != nil || len(recs) != 1 || recs[0].ID != "call-000009" {
		t.Errorf("newest record = %v, %v", ids(recs), err)
	}
}

func TestLogWriterCloseDrains(t *testing.T) {
	st := newStore(t)
	log, buf := testLogger()
	w := newLogWriter(t, st, LogOptions{Linger: time.Hour, Buffer: 10000, Logger: log})
	for i := range 5000 {
		w.Write(logRec(i))
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := count(t, st); got != 5000 {
		t.Errorf("after Close: %d rows, want 5000", got)
	}
	// Writes after Close are dropped, counted and logged, not a panic.
	w.Write(logRec(5000))
	if w.Dropped() != 1 || !strings.Contains(buf.String(), "writer closed") || !strings.Contains(buf.String(), "call-005000") {
		t.Errorf("write after close: dropped %d, log %q", w.Dropped(), buf.String())
	}
	if err := w.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Flush(t.Context()); err != nil {
		t.Errorf("Flush after Close: %v", err)
	}
}

// TestLogWriterDropsWhenFull holds the database's write connection so that
// the writer stalls, and checks that Write neither blocks nor loses count.
func TestLogWriterDropsWhenFull(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	log, buf := testLogger()
	w := newLogWriter(t, st, LogOptions{Buffer: 8, BatchSize: 2, Logger: log})

	hold, err := st.w.BeginTx(ctx, nil) // the store's only write connection
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	start := time.Now()
	for i := range n {
		w.Write(logRec(i))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("%d writes took %v: Write blocked", n, d)
	}
	if w.Dropped() == 0 {
		t.Error("nothing dropped with a stalled writer")
	}
	if !strings.Contains(buf.String(), "queue full") {
		t.Errorf("drop not logged: %q", buf.String())
	}
	hold.Rollback()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.Written() + w.Dropped() + w.Failed(); got != n || w.Failed() != 0 {
		t.Errorf("written %d + dropped %d + failed %d, want %d with no failures", w.Written(), w.Dropped(), w.Failed(), n)
	}
	if rows := count(t, st); uint64(rows) != w.Written() {
		t.Errorf("%d rows, written %d", rows, w.Written())
	}
}

// TestLogWriterReadOnly makes the database refuse writes and checks that
// the writer never blocks, logs once per burst, keeps the records and
// writes every one of them, in order, when writes work again.
func TestLogWriterReadOnly(t *testing.T) {
	sqliteOnly(t)
	ctx := t.Context()
	st := newStore(t)
	log, buf := testLogger()
	w := newLogWriter(t, st, LogOptions{BatchSize: 10, Linger: time.Millisecond, Logger: log})
	defer w.Close(ctx)

	if _, err := st.w.ExecContext(ctx, "PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 100 {
		w.Write(logRec(i))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("writes took %v", d)
	}
	if err := w.Flush(ctx); err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Errorf("Flush on a read-only database = %v, want a read-only error", err)
	}
	if w.Failed() != 0 || w.Written() != 0 || w.Retried() == 0 || count(t, st) != 0 {
		t.Errorf("failed %d, written %d, retried %d; want 0, 0 and some retries", w.Failed(), w.Written(), w.Retried())
	}
	if n := strings.Count(buf.String(), "call log write failed"); n != 1 {
		t.Errorf("failure logged %d times, want once per burst:\n%s", n, buf.String())
	}

	if _, err := st.w.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
		t.Fatal(err)
	}
	w.Write(logRec(100))
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if w.Written() != 101 || count(t, st) != 101 || w.Failed() != 0 {
		t.Errorf("after recovery: written %d, %d rows, failed %d; want all 101", w.Written(), count(t, st), w.Failed())
	}
	if !strings.Contains(buf.String(), "call log writes recovered") {
		t.Errorf("recovery not logged:\n%s", buf.String())
	}
}

// TestLogWriterRetriesWhileLocked holds the database's write lock from
// another connection (as "callscreen lists import" in another process
// does) for longer than the busy timeout, and checks that records written
// meanwhile are retried until they are in the database.
func TestLogWriterRetriesWhileLocked(t *testing.T) {
	sqliteOnly(t)
	ctx := t.Context()
	st := newStore(t)
	log, _ := testLogger()
	w := newLogWriter(t, st, LogOptions{Linger: time.Millisecond, Logger: log})
	defer w.Close(ctx)

	other, err := sql.Open("sqlite", dsn(st.Path(), url.Values{"_txlock": {"immediate"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		w.Write(logRec(i))
	}
	// Past the busy timeout, the first attempt fails.
	deadline := time.Now().Add(time.Minute)
	for w.Retried() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if w.Retried() == 0 {
		t.Fatal("no write failed while another connection held the lock")
	}
	lock.Rollback()
	for count(t, st) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := count(t, st); got != n || w.Written() != n || w.Failed() != 0 {
		t.Errorf("%d rows, written %d, failed %d; want all %d written", got, w.Written(), w.Failed(), n)
	}
}

// failWrites makes the database refuse writes (on) or take them again.
func failWrites(t *testing.T, st *Store, on bool) {
	t.Helper()
	v := "0"
	if on {
		v = "1"
	}
	if _, err := st.w.ExecContext(t.Context(), "PRAGMA query_only = "+v); err != nil {
		t.Fatal(err)
	}
}

// TestLogWriterJournalKeepsUnwritten checks that records the database did
// not take stay in the journal, across a Close that gives up, until a
// later writer writes them.
func TestLogWriterJournalKeepsUnwritten(t *testing.T) {
	sqliteOnly(t) // PostgreSQL outages: TestPostgresOutage
	st := newStore(t)
	path := testJournal(t, st.Path())
	log, _ := testLogger()
	w := newLogWriter(t, st, LogOptions{Journal: path, Linger: time.Millisecond, Logger: log})
	w.Write(logRec(0)) // written
	if err := w.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	failWrites(t, st, true)
	for i := 1; i <= 5; i++ {
		w.Write(logRec(i))
	}
	if err := w.Flush(t.Context()); err == nil {
		t.Fatal("Flush on a read-only database succeeded")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); err == nil {
		<-w.done
	}
	<-w.done
	if w.Failed() != 0 {
		t.Errorf("failed %d: records kept in the journal are not lost", w.Failed())
	}
	recs, _, err := readJournalFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 5 {
		t.Fatalf("the journal holds %d records, want the 5 not written", len(recs))
	}

	failWrites(t, st, false)
	w2 := newLogWriter(t, st, LogOptions{Journal: path, Logger: log})
	defer w2.Close(t.Context())
	if got := count(t, st); got != 6 {
		t.Errorf("%d records after the next start, want 6", got)
	}
}

func TestLogWriterInvalidRecord(t *testing.T) {
	st := newStore(t)
	log, _ := testLogger()
	w := newLogWriter(t, st, LogOptions{Logger: log})
	w.Write(logRec(1))
	w.Write(screening.Record{}) // no ID
	w.Write(logRec(2))
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if w.Written() != 2 || w.Failed() != 1 || count(t, st) != 2 {
		t.Errorf("written %d, failed %d: one bad record must not sink its batch", w.Written(), w.Failed())
	}
}

func newLogWriter(tb testing.TB, st *Store, opts LogOptions) *LogWriter {
	tb.Helper()
	w, err := NewLogWriter(tb.Context(), st, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// TestLogWriterOverflowToJournal makes the database refuse writes for
// longer than the queue lasts: with a journal no record is lost (those
// the queue has no room for wait in the journal alone and are written
// from it once writes work again); without one they are dropped and
// counted.
func TestLogWriterOverflowToJournal(t *testing.T) {
	sqliteOnly(t) // PostgreSQL: TestPostgresOutage
	const n = 500
	for _, tt := range []struct {
		name     string
		journal  bool
		wantLost bool
	}{
		{"journal", true, false},
		{"no journal", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			st := newStore(t)
			log, buf := testLogger()
			opts := LogOptions{Buffer: 16, BatchSize: 8, Linger: time.Millisecond, Logger: log}
			if tt.journal {
				opts.Journal = filepath.Join(t.TempDir(), "pending")
			}
			w := newLogWriter(t, st, opts)
			defer w.Close(ctx)
			if _, err := st.w.ExecContext(ctx, "PRAGMA query_only = 1"); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				w.Write(logRec(i))
			}
			if tt.journal && w.Pending() != n {
				t.Errorf("pending during the outage: %d, want %d", w.Pending(), n)
			}
			if _, err := st.w.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
				t.Fatal(err)
			}
			w.Flush(ctx) // reports the outage
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got := count(t, st)
			if lost := n - got; (lost > 0) != tt.wantLost || int(w.Dropped()) != lost {
				t.Errorf("%d of %d records in the database, %d dropped; want lost: %v", got, n, w.Dropped(), tt.wantLost)
			}
			if tt.journal {
				if w.Pending() != 0 {
					t.Errorf("pending after recovery: %d", w.Pending())
				}
				if left, _ := filepath.Glob(opts.Journal + ".*"); len(left) != 0 {
					t.Errorf("journals left aside after recovery: %v", left)
				}
				if !strings.Contains(buf.String(), "records wait in the journal") {
					t.Errorf("overflow not logged:\n%s", buf.String())
				}
			}
		})
	}
}
