package service

import (
	"context"
	"errors"
	"time"
)

// retentionEvery is how often RunRetention purges.
const retentionEvery = time.Hour

// PurgedRecords returns how many call log records have been purged.
func (s *Service) PurgedRecords() uint64 { return s.purgedRecords.Load() }

// PurgedEntries returns how many expired list entries have been purged.
func (s *Service) PurgedEntries() uint64 { return s.purgedEntries.Load() }

// purge deletes, as of now, the call log records older than
// Options.Retention and the list entries past their expiry (throttles,
// remembered callers, expected callbacks), which would otherwise stay in
// the database until someone ran "callscreen lists purge".
func (s *Service) purge(ctx context.Context, now time.Time) error {
	var errs []error
	if keep := s.o.Retention; keep > 0 {
		n, err := s.store.PurgeRecords(ctx, now.Add(-keep))
		s.purgedRecords.Add(uint64(n))
		if n > 0 {
			s.log.Info("call log records past their retention purged", "records", n, "retention", keep, "before", now.Add(-keep))
		}
		errs = append(errs, err)
	}
	n, err := s.store.PurgeExpired(ctx, now)
	s.purgedEntries.Add(uint64(n))
	if n > 0 {
		s.log.Info("expired list entries purged", "entries", n)
	}
	errs = append(errs, err)
	return errors.Join(errs...)
}

// RunRetention purges at once and then every hour until ctx ends. A
// failed purge is logged and tried again at the next tick.
func (s *Service) RunRetention(ctx context.Context) error {
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		if err := s.purge(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("purge failed; trying again later", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
