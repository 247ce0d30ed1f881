package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/callscreen/callscreen/screening/store"
)

// retentionEvery is how often serve purges.
const retentionEvery = time.Hour

// retention deletes, in serve, the call log records older than
// log.retention and the list entries past their expiry (throttles,
// remembered callers, expected callbacks), which would otherwise stay in
// the database until someone ran "callscreen lists purge".
type retention struct {
	store *store.Store
	keep  time.Duration // 0: keep every call log record
	log   *slog.Logger

	records, entries atomic.Uint64
}

// PurgedRecords returns how many call log records have been purged.
func (r *retention) PurgedRecords() uint64 { return r.records.Load() }

// PurgedEntries returns how many expired list entries have been purged.
func (r *retention) PurgedEntries() uint64 { return r.entries.Load() }

// purge runs one purge as of now.
func (r *retention) purge(ctx context.Context, now time.Time) error {
	var errs []error
	if r.keep > 0 {
		n, err := r.store.PurgeRecords(ctx, now.Add(-r.keep))
		r.records.Add(uint64(n))
		if n > 0 {
			r.log.Info("call log records past their retention purged", "records", n, "retention", r.keep, "before", now.Add(-r.keep))
		}
		errs = append(errs, err)
	}
	n, err := r.store.PurgeExpired(ctx, now)
	r.entries.Add(uint64(n))
	if n > 0 {
		r.log.Info("expired list entries purged", "entries", n)
	}
	errs = append(errs, err)
	return errors.Join(errs...)
}

// run purges at once and then every retentionEvery until ctx ends. A
// failed purge is logged and tried again at the next tick.
func (r *retention) run(ctx context.Context) error {
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		if err := r.purge(ctx, time.Now()); err != nil && ctx.Err() == nil {
			r.log.Warn("purge failed; trying again later", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
