package store

import (
	"bytes"
	"fmt"
	"log/slog"
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
// the writer counts the failures, logs once per burst, never blocks, and
// recovers when writes work again.
func TestLogWriterReadOnly(t *testing.T) {
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
	if w.Failed() != 100 || w.Written() != 0 || count(t, st) != 0 {
		t.Errorf("failed %d, written %d; want 100 and 0", w.Failed(), w.Written())
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
	if w.Written() != 1 || count(t, st) != 1 {
		t.Errorf("after recovery: written %d", w.Written())
	}
	if !strings.Contains(buf.String(), "call log writes recovered") || !strings.Contains(buf.String(), "lost_records=100") {
		t.Errorf("recovery not logged:\n%s", buf.String())
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
