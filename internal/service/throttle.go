package service

import (
	"context"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// throttle puts the automatic throttles a finished call calls for on the
// block list: the one the engine decided on (velocity, Verdict.Block) and
// the one the throttler derives from repeated challenge failures. The live
// lists change at once; the store is written in the background, so that
// Write never blocks.
//
// Throttles are persisted as expiring block entries, not kept in memory
// only: they survive a restart, every front end and server sharing the
// database sees them, "callscreen lists show block --source
// challenge-failures" lists them and "callscreen lists remove" lifts one.
func (s *Service) throttle(r screening.Record) {
	if r.Verdict.Block != nil {
		e := *r.Verdict.Block
		e.Tenant = s.o.Tenant
		s.block(e)
	}
	if e, ok := s.throttler.Observe(&r); ok {
		e.Tenant = s.o.Tenant
		s.block(e)
	}
}

// block applies a throttle to the live lists at once and stores it in
// the background: the one change that cannot wait for the store, as the
// call that caused it must not be held up. It is pending until stored, so
// that a list reload in flight keeps it.
func (s *Service) block(e screening.Entry) {
	c := s.lists.PutPending(e)
	s.log.Info("number throttled", "number", e.Number, "source", e.Source, "reason", e.Reason, "until", e.Expires)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, err := s.store.PutVersion(ctx, e)
		s.lists.Persisted(c, v) // 0 on error: until the next reload
		if err != nil {
			s.log.Warn("throttle not saved; it holds until callscreen restarts or the lists reload", "number", e.Number, "err", err)
		}
	}()
}
