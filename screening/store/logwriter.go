package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// LogOptions configure a LogWriter. Zero values take the defaults.
type LogOptions struct {
	// Buffer is how many records may wait in memory to be written
	// (default 4096). When it is full, a writer with a Journal keeps
	// further records in the journal alone and writes them from there once
	// the database takes writes again (an outage of any length loses
	// nothing while the disk holds); without a journal Write drops the
	// record rather than block the call.
	Buffer int
	// BatchSize is the most records written in one transaction (default
	// 256).
	BatchSize int
	// Linger is how long a batch waits for more records after the first
	// (default 5ms). A database write costs about the same for one record
	// as for fifty, so a longer linger saves CPU; with a Journal it loses
	// nothing when the process dies.
	Linger time.Duration
	// Journal is the path of a file that keeps every accepted record until
	// it is in the database, so that records waiting for their batch
	// survive the process being killed. NewLogWriter replays what a
	// previous writer left there. Empty: no journal; what waits in memory
	// is lost with the process.
	Journal string
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

	ch      chan *logItem
	flushCh chan chan error
	quit    chan struct{}
	done    chan struct{}

	// mu is held by Write while it journals and queues a record, so that
	// the journal holds exactly the records queued, batched or written
	// since it was last emptied; run empties it under mu when nothing is
	// queued or batched.
	mu           sync.Mutex
	closed       bool
	closeCtx     context.Context // Close's: how long run retries at the end
	journal      *journal        // nil without LogOptions.Journal
	journalBurst failureBurst
	// overflow counts the records in the journal that the queue had no
	// room for; settle sets the journal aside for replayAside instead of
	// emptying it while there are any.
	overflow      int
	overflowBurst failureBurst
	// aside counts the overflow records in journals set aside and not yet
	// written (Pending), and asideDue says run has some to write.
	aside    atomic.Int64
	asideDue atomic.Bool

	written, dropped, failed, retried atomic.Uint64
	pending                           atomic.Int64
}

// logItem is a queued record and its JSON. The queue holds pointers: a
// queue of tens of thousands of records by value is megabytes the
// garbage collector scans on every cycle, empty or not.
type logItem struct {
	rec screening.Record
	js  []byte
}

// NewLogWriter starts a writer of st's call log. With a journal, it first
// writes the records a previous writer left in it.
func NewLogWriter(ctx context.Context, st *Store, opts LogOptions) (*LogWriter, error) {
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
		ch:      make(chan *logItem, opts.Buffer),
		flushCh: make(chan chan error),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if opts.Journal != "" {
		j, err := openJournal(opts.Journal)
		if err != nil {
			return nil, err
		}
		if err := w.replay(ctx, j); err != nil {
			j.close()
			return nil, err
		}
		w.journal = j
	}
	go w.run()
	return w, nil
}

// replay writes the records left in j by a writer that did not finish (the
// process was killed) and empties it. A database that cannot take them
// does not stop the writer: the journal is kept aside, and written by a
// later start (replayAside).
func (w *LogWriter) replay(ctx context.Context, j *journal) error {
	recs, bad, err := j.read()
	if err != nil {
		return err
	}
	if bad > 0 {
		w.log.Warn("call log journal: skipped unreadable lines (torn by a crash or a full disk)", "journal", j.path, "lines", bad)
	}
	if len(recs) > 0 {
		rows := journalRows(recs)
		if err := w.st.appendRows(ctx, rows); err != nil {
			aside := fmt.Sprintf("%s.%d.unwritten", j.path, time.Now().Unix())
			if rerr := os.Rename(j.path, aside); rerr != nil {
				return fmt.Errorf("call log journal %s: %d records could not be written (%w) nor kept aside (%w)", j.path, len(rows), err, rerr)
			}
			w.failed.Add(uint64(len(rows)))
			w.log.Error("call log journal could not be replayed; kept aside", "records", len(rows), "kept", aside, "err", err)
			j.close()
			nj, err := openJournal(j.path)
			if err != nil {
				return err
			}
			*j = *nj
			return nil
		}
		w.written.Add(uint64(len(rows)))
		w.log.Info("call log journal replayed: records of a previous run written", "journal", j.path, "records", len(rows))
	}
	if err := j.reset(); err != nil {
		return err
	}
	w.replayAside(ctx, j.path)
	return nil
}

// replayAside writes the journals an earlier start kept aside because the
// database could not take them, now that it took this one, and removes
// each one written.
func (w *LogWriter) replayAside(ctx context.Context, path string) {
	aside, _ := filepath.Glob(path + ".*.unwritten")
	for _, f := range aside {
		recs, _, err := readJournalFile(f)
		if err != nil {
			w.log.Warn("call log journal kept aside: unreadable", "file", f, "err", err)
			continue
		}
		rows := journalRows(recs)
		if len(rows) > 0 {
			if err := w.st.appendRows(ctx, rows); err != nil {
				w.log.Warn("call log journal kept aside: still cannot be written", "file", f, "records", len(rows), "err", err)
				continue
			}
		}
		if err := os.Remove(f); err != nil {
			w.log.Warn("call log journal kept aside: written but not removed", "file", f, "err", err)
			continue
		}
		w.written.Add(uint64(len(rows)))
		w.log.Info("call log journal kept aside earlier: records written", "file", f, "records", len(rows))
	}
}

// journalRows encodes records read from a journal (read keeps only those
// with an ID, which is all marshalRecord checks).
func journalRows(recs []screening.Record) []recordRow {
	rows := make([]recordRow, 0, len(recs))
	for _, rec := range recs {
		if rec, js, err := marshalRecord(rec, time.Now()); err == nil {
			rows = append(rows, rowOf(rec, js))
		}
	}
	return rows
}

// Write queues rec for the call log. It never blocks on the database:
// when the queue is full, or the writer is closed, the record is dropped,
// counted and logged at error level with its essentials. With a journal,
// rec is in it when Write returns.
func (w *LogWriter) Write(rec screening.Record) {
	rec, js, err := marshalRecord(rec, time.Now())
	if err != nil {
		w.failed.Add(1)
		w.log.Error("call log record invalid", "id", rec.ID, "err", err)
		return
	}
	why := ""
	w.mu.Lock()
	switch {
	case w.closed:
		why = "writer closed"
	case len(w.ch) == cap(w.ch) && w.journal != nil:
		// The database has been behind for a while: the record waits in
		// the journal alone, and is written from there (settle).
		if err := w.journal.append(js); err != nil {
			why = "queue full and journal write failed"
			w.journalBurst.fail(w.log, "call log journal write failed; records waiting for the database are not crash-safe", err, 1)
			break
		}
		w.overflow++
		w.pending.Add(1)
		w.overflowBurst.fail(w.log, "call log queue full: records wait in the journal until the database takes them", errors.New("queue full"), 1)
	case len(w.ch) == cap(w.ch):
		why = "queue full"
	default:
		if w.journal != nil {
			if err := w.journal.append(js); err != nil {
				w.journalBurst.fail(w.log, "call log journal write failed; records waiting for the database are not crash-safe", err, 1)
			} else {
				w.journalBurst.end(w.log, "call log journal writes recovered")
			}
		}
		w.pending.Add(1)
		w.ch <- &logItem{rec: rec, js: js} // only Write sends, under mu: there is room
	}
	w.mu.Unlock()
	if why == "" {
		return
	}
	n := w.dropped.Add(1)
	w.log.Error("call log record dropped", "why", why, "dropped_total", n,
		"id", rec.ID, "time", rec.Time, "caller", rec.Verdict.Caller, "called", rec.Facts.Called,
		"profile", rec.Verdict.Profile, "action", rec.Verdict.Action, "taken", rec.Taken,
		"outcome", rec.Outcome, "reasons", rec.Verdict.Reasons())
}

// Flush waits until every record queued before the call has been written,
// or a write of them failed (they stay queued and are retried). It returns
// the first write error since the previous Flush.
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
// While the database fails, it retries until ctx ends; then it returns
// ctx's error and the records not written stay in the journal, for the
// next writer to replay. Close may be called more than once.
func (w *LogWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		w.closeCtx = ctx
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

// Pending returns how many accepted records are not yet in the database:
// queued, or in a batch being written or waiting for its retry.
func (w *LogWriter) Pending() int { return int(w.pending.Load() + w.aside.Load()) }

// Dropped returns how many records were dropped because the queue was full
// or the writer closed.
func (w *LogWriter) Dropped() uint64 { return w.dropped.Load() }

// Failed returns how many records were given up: invalid records, records
// a journal replay could not write (kept aside for a later start), and
// records still unwritten when Close gave up without a journal to keep
// them.
func (w *LogWriter) Failed() uint64 { return w.failed.Load() }

// Retried returns how many batch writes failed (the database busy, say
// during a large import, or a full disk) and were retried.
func (w *LogWriter) Retried() uint64 { return w.retried.Load() }

// Retry delays after a failed batch write: doubling from the first to the
// last. A batch that cannot be written is kept, in order, and retried; the
// records behind it wait in the queue (LogOptions.Buffer) and the journal.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 5 * time.Second
)

func (w *LogWriter) run() {
	defer close(w.done)
	var (
		batch = make([]*logItem, 0, w.opts.BatchSize)
		timer = time.NewTimer(time.Hour)
		retry = time.NewTimer(time.Hour)
		burst failureBurst
		// failed is the first write error since the last Flush, which
		// reports it.
		failed error
		// backoff is the delay before the next attempt at batch, which
		// failed; 0 when no write is failing.
		backoff time.Duration
	)
	timer.Stop()
	retry.Stop()
	// write writes batch. On failure batch is kept for the next attempt.
	write := func() error {
		err := w.writeBatch(batch, backoff > 0, &burst)
		if err != nil {
			backoff = min(max(2*backoff, retryFirst), retryMax)
			retry.Reset(backoff)
			return err
		}
		if backoff > 0 {
			backoff = 0
			retry.Stop()
		}
		clear(batch)
		batch = batch[:0]
		w.settle()
		w.writeAside()
		return nil
	}
	// drain writes everything queued now, in order, and stops at the
	// first failure.
	drain := func() error {
		for {
			if len(batch) == cap(batch) {
				if err := write(); err != nil {
					return err
				}
			}
			select {
			case it := <-w.ch:
				batch = append(batch, it)
				continue
			default:
			}
			if len(batch) > 0 {
				return write()
			}
			return nil
		}
	}
	for {
		// While a batch waits for its retry, it takes more records up to
		// its size; the rest wait in the queue.
		in := w.ch
		if len(batch) == cap(batch) {
			in = nil
		}
		select {
		case it := <-in:
			batch = append(batch, it)
			if backoff > 0 {
				continue // the retry timer writes it
			}
			if len(batch) == 1 {
				timer.Reset(w.opts.Linger)
			}
			if len(batch) == cap(batch) {
				timer.Stop()
				failed = cmpOr(failed, write())
			}
		case <-timer.C:
			if len(batch) > 0 && backoff == 0 {
				failed = cmpOr(failed, write())
			}
		case <-retry.C:
			failed = cmpOr(failed, drain())
		case reply := <-w.flushCh:
			timer.Stop()
			reply <- cmpOr(failed, drain())
			failed = nil
		case <-w.quit:
			timer.Stop()
			w.closing(drain, &backoff, func() int { return len(batch) })
			burst.end(w.log, "call log writer closed after failed writes")
			return
		}
	}
}

// closing writes what is queued, retrying until Close's context ends, and
// closes the journal. Records it could not write stay in the journal;
// without one they are lost, and counted as failed. unwritten returns how
// many records the batch that failed holds.
func (w *LogWriter) closing(drain func() error, backoff *time.Duration, unwritten func() int) {
	w.mu.Lock()
	ctx := w.closeCtx
	w.mu.Unlock()
	err := drain()
	for err != nil {
		select {
		case <-ctx.Done():
		case <-time.After(*backoff):
			err = drain()
			continue
		}
		break
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		n := unwritten() + len(w.ch)
		if w.journal == nil {
			w.failed.Add(uint64(n))
			w.log.Error("call log writer closed with records not written (no journal: they are lost)", "records", n, "err", err)
			return
		}
		w.log.Error("call log writer closed with records not written; they stay in the journal for the next start",
			"records", n, "journal", w.journal.path, "err", err)
	} else {
		w.settleLocked()
	}
	if w.journal != nil {
		if err := w.journal.close(); err != nil {
			w.log.Error("call log journal close", "err", err)
		}
		w.journal = nil
	}
}

// settle empties the journal when every record in it is in the database:
// nothing is queued and run has no batch (it calls settle right after
// writing one). A batch that failed is kept and retried, so settle is not
// called for it.
func (w *LogWriter) settle() {
	if w.journal == nil {
		return
	}
	if !w.mu.TryLock() {
		// A Write holds mu, so a record is being queued: settle after the
		// next batch.
		return
	}
	defer w.mu.Unlock()
	w.settleLocked()
}

// settleLocked is settle with w.mu held.
func (w *LogWriter) settleLocked() {
	if w.journal == nil || len(w.ch) > 0 {
		return
	}
	if w.overflow > 0 {
		// Records the queue had no room for are in the journal alone:
		// set it aside whole, for run to write (replayAside ignores the
		// records already written), and start an empty one.
		w.setAside()
		return
	}
	if err := w.journal.reset(); err != nil {
		w.journalBurst.fail(w.log, "call log journal write failed; records waiting for the database are not crash-safe", err, 0)
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

// writeBatch writes items in one transaction and counts the outcome. A
// failed write is counted as a retry; retrying says whether items failed
// before, so that each record is counted once in the burst.
func (w *LogWriter) writeBatch(items []*logItem, retrying bool, burst *failureBurst) error {
	rows := make([]recordRow, len(items))
	for i, it := range items {
		rows[i] = rowOf(it.rec, it.js)
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	err := w.st.appendRows(ctx, rows)
	cancel()
	if err != nil {
		w.retried.Add(1)
		n := len(rows)
		if retrying {
			n = 0
		}
		burst.fail(w.log, "call log write failed; retrying, the records wait in memory and in the journal", err, n)
		return err
	}
	w.written.Add(uint64(len(rows)))
	w.pending.Add(-int64(len(rows)))
	burst.end(w.log, "call log writes recovered")
	return nil
}

// failureBurst logs a run of failed writes once when it starts and once
// when it ends, instead of once per batch.
type failureBurst struct {
	failing bool
	records int
	since   time.Time
}

func (b *failureBurst) fail(log *slog.Logger, msg string, err error, n int) {
	if !b.failing {
		b.failing, b.since = true, time.Now()
		log.Error(msg, "err", err, "records", n)
	}
	b.records += n
}

func (b *failureBurst) end(log *slog.Logger, msg string) {
	if !b.failing {
		return
	}
	log.Warn(msg, "records", b.records, "duration", time.Since(b.since).Round(time.Millisecond))
	*b = failureBurst{}
}

// setAside renames the journal to a file replayAside writes, and opens a
// new one in its place (w.mu held). Should that fail, the journal stays
// as it is, overflow and all, and is retried at the next settle.
func (w *LogWriter) setAside() {
	j := w.journal
	aside := fmt.Sprintf("%s.%d.unwritten", j.path, time.Now().UnixNano())
	if err := os.Rename(j.path, aside); err != nil {
		w.journalBurst.fail(w.log, "call log journal could not be set aside for writing", err, 0)
		return
	}
	nj, err := openJournal(j.path)
	if err != nil {
		// Keep appending to the renamed file: nothing is lost, and it is
		// written with the next set aside.
		os.Rename(aside, j.path)
		w.journalBurst.fail(w.log, "call log journal could not be set aside for writing", err, 0)
		return
	}
	j.close()
	w.journal = nj
	w.aside.Add(int64(w.overflow))
	w.pending.Add(-int64(w.overflow))
	w.overflowBurst.end(w.log, "call log queue has room again; the records kept in the journal alone are being written")
	w.overflow = 0
	w.asideDue.Store(true)
}

// writeAside writes the journals set aside (run calls it between
// batches); the records they hold that the database has already are
// ignored.
func (w *LogWriter) writeAside() {
	if !w.asideDue.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	w.replayAside(ctx, w.opts.Journal)
	if left, _ := filepath.Glob(w.opts.Journal + ".*.unwritten"); len(left) == 0 {
		w.aside.Store(0)
		w.asideDue.Store(false)
	}
}
