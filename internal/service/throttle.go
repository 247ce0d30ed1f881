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
	s.log.Info("number throttled", "number", e.Number, "source", e.Source, "reason", e.Reason, "until", e.Expires)
	s.putBehind(e)
}

// putBehind applies an automatic change (a throttle, a caller who passed
// the challenge) to the live lists at once and stores it in the
// background, retrying through a database outage until the store takes it
// or the entry expires: queued and applied, never dropped. It is pending
// until stored, so that a reload in flight keeps it.
func (s *Service) putBehind(e screening.Entry) {
	c := s.lists.PutPending(e)
	s.pendingWrites.Add(1)
	go func() {
		defer s.pendingWrites.Add(-1)
		pause := 100 * time.Millisecond
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			v, err := s.store.PutVersion(ctx, e)
			cancel()
			if err == nil {
				s.lists.Persisted(c, v)
				if attempt > 1 {
					s.log.Info("list change saved after the database came back", "number", e.Number, "source", e.Source, "attempts", attempt)
				}
				return
			}
			if !e.Expires.IsZero() && !time.Now().Add(pause).Before(e.Expires) {
				s.lists.Persisted(c, 0) // until the next reload; it expires anyway
				s.log.Warn("list change not saved before it expired", "number", e.Number, "source", e.Source, "err", err)
				return
			}
			if attempt == 1 {
				s.log.Warn("list change not saved yet; it holds in memory and is retried until the database takes it", "number", e.Number, "source", e.Source, "err", err)
			}
			time.Sleep(pause)
			pause = min(2*pause, 5*time.Second)
		}
	}()
}

// PendingWrites returns how many automatic list changes wait for the
// database.
func (s *Service) PendingWrites() int { return int(s.pendingWrites.Load()) }

// FleetThrottle puts a fleet-wide throttle (internal/fleet's sweep
// detection) on the block list, as block does: at once in the live lists,
// stored behind and retried through an outage. It never replaces a
// fleet-wide block that is not a throttle (an operator's, an import's): a
// permanent block must not become one that expires.
func (s *Service) FleetThrottle(_ context.Context, e screening.Entry) error {
	e.Tenant = ""
	if have, ok := s.lists.Lookup(screening.Block, e.Number, time.Now()); ok && have.Tenant == "" && !screening.IsThrottle(have) && !have.IsPrefix() {
		s.log.Info("fleet throttle not put: the number is blocked fleet-wide already", "number", e.Number, "source", have.Source)
		return nil
	}
	s.block(e)
	return nil
}
