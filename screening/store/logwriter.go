package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// LogOptions configure a LogWriter. Zero values take the defaults.
type LogOptions struct {
	// Buffer is how many records may wait to be written (default 4096).
	// When it is full, Write drops the record rather than block the call.
	Buffer int
	// BatchSize is the most records written in one transaction (default
	// 256).
	BatchSize int
	// Linger is how long a batch waits for more records after the first
	// (default 5ms). Under load batches fill up long before.
	Linger time.Duration
	// Logger receives dropped records and write failures (default
	// slog.Default()).
	Logger *slog.Logger
}

// LogWriter writes call log records in the background, in batches, so that
// logging never delays a call. Create one with NewLogWriter and Close it
// before closing the Store.
type LogWriter struct {
	st   *Store
	opts LogOptions
	log  *slog.Logger

	ch      chan screening.Record
	flushCh chan chan error
	quit    chan struct{}
	done    chan struct{}

	mu     sync.RWMutex // write-locked by Close, read-locked by Write
	closed bool

	written, dropped, failed atomic.Uint64
}

// NewLogWriter starts a writer of st's call log.
func NewLogWriter(st *Store, opts LogOptions) *LogWriter {
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if opts.Linger <= 0 {
		opts.Linger = 5 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w := &LogWriter{
		st:      st,
		opts:    opts,
		log:     opts.Logger,
		ch:      make(chan screening.Record, opts.Buffer),
		flushCh: make(chan chan error),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go w.run()
	return w
}

// Write queues rec for the call log. It never blocks: when the queue is
// full, or the writer is closed, the record is dropped, counted and logged
// at error level with its essentials.
func (w *LogWriter) Write(rec screening.Record) {
	w.mu.RLock()
	closed := w.closed
	queued := false
	if !closed {
		select {
		case w.ch <- rec:
			queued = true
		default:
		}
	}
	w.mu.RUnlock()
	if queued {
		return
	}
	n := w.dropped.Add(1)
	why := "queue full"
	if closed {
		why = "writer closed"
	}
	w.log.Error("call log record dropped", "why", why, "dropped_total", n,
		"id", rec.ID, "time", rec.Time, "caller", rec.Verdict.Caller, "called", rec.Facts.Called,
		"profile", rec.Verdict.Profile, "action", rec.Verdict.Action, "taken", rec.Taken,
		"outcome", rec.Outcome, "reasons", rec.Verdict.Reasons())
}

// Flush waits until every record queued before the call has been written
// (or has failed). It returns the first write error since the previous Flush.
func (w *LogWriter) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case w.flushCh <- reply:
	case <-w.done:
		return nil // closed: everything was drained
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting records, writes those queued and stops the writer.
// If ctx ends first, Close returns its error and the writer finishes in the
// background. Close may be called more than once.
func (w *LogWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.quit)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Written returns how many records have been written.
func (w *LogWriter) Written() uint64 { return w.written.Load() }

// Dropped returns how many records were dropped because the queue was full
// or the writer closed.
func (w *LogWriter) Dropped() uint64 { return w.dropped.Load() }

// Failed returns how many records could not be written (the database
// failed, say a full disk, or the record was invalid).
func (w *LogWriter) Failed() uint64 { return w.failed.Load() }

// Queued returns how many records wait to be written.
func (w *LogWriter) Queued() int { return len(w.ch) }

func (w *LogWriter) run() {
	defer close(w.done)
	var (
		batch = make([]screening.Record, 0, w.opts.BatchSize)
		timer = time.NewTimer(time.Hour)
		burst failureBurst
		// failed is the first write error since the last Flush, which
		// reports it.
		failed error
	)
	timer.Stop()
	write := func() error {
		err := w.writeBatch(batch, &burst)
		clear(batch)
		batch = batch[:0]
		return err
	}
	// drain writes everything queued now.
	drain := func() error {
		var first error
		for {
			select {
			case rec := <-w.ch:
				batch = append(batch, rec)
				if len(batch) == cap(batch) {
					first = cmpOr(first, write())
				}
				continue
			default:
			}
			if len(batch) > 0 {
				first = cmpOr(first, write())
			}
			return first
		}
	}
	for {
		select {
		case rec := <-w.ch:
			batch = append(batch, rec)
			if len(batch) == 1 {
				timer.Reset(w.opts.Linger)
			}
			if len(batch) == cap(batch) {
				timer.Stop()
				failed = cmpOr(failed, write())
			}
		case <-timer.C:
			if len(batch) > 0 {
				failed = cmpOr(failed, write())
			}
		case reply := <-w.flushCh:
			timer.Stop()
			reply <- cmpOr(failed, drain())
			failed = nil
		case <-w.quit:
			timer.Stop()
			drain()
			burst.end(w.log, "call log writer closed after failed writes")
			return
		}
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// writeTimeout bounds one batch; SQLite's busy timeout is shorter.
const writeTimeout = 30 * time.Second

// writeBatch writes recs in one transaction and counts the outcome.
func (w *LogWriter) writeBatch(recs []screening.Record, burst *failureBurst) error {
	now := time.Now()
	rows := make([]recordRow, 0, len(recs))
	var bad error
	for _, rec := range recs {
		row, err := encodeRecord(rec, now)
		if err != nil {
			w.failed.Add(1)
			bad = cmpOr(bad, err)
			w.log.Error("call log record invalid", "id", rec.ID, "err", err)
			continue
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return bad
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	err := w.st.appendRows(ctx, rows)
	cancel()
	if err != nil {
		w.failed.Add(uint64(len(rows)))
		burst.fail(w.log, err, len(rows))
		return errors.Join(bad, err)
	}
	w.written.Add(uint64(len(rows)))
	burst.end(w.log, "call log writes recovered")
	return bad
}

// failureBurst logs a run of failed writes once when it starts and once
// when it ends, instead of once per batch.
type failureBurst struct {
	records int
	since   time.Time
}

func (b *failureBurst) fail(log *slog.Logger, err error, n int) {
	if b.records == 0 {
		b.since = time.Now()
		log.Error("call log write failed; records are being lost until the database recovers", "err", err, "records", n)
	}
	b.records += n
}

func (b *failureBurst) end(log *slog.Logger, msg string) {
	if b.records == 0 {
		return
	}
	log.Warn(msg, "lost_records", b.records, "duration", time.Since(b.since).Round(time.Millisecond))
	*b = failureBurst{}
}
