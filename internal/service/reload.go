package service

import (
	"context"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// maxReloadDefer bounds how long Run waits for a change in progress to
// settle before it reloads anyway.
const maxReloadDefer = 30 * time.Second

// maxOverlay is how many own changes the live lists hold on top of their
// snapshot before Run folds them into a new one.
const maxOverlay = 4096

// Run reloads the lists snapshot when another process (the CLI) changed
// them, or an import did, until ctx ends. The Service's own writes (a
// remembered caller, a throttle, a click on the dashboard) go to the live
// lists as they are made and need no reload: with millions of entries a
// reload takes seconds of CPU.
func (s *Service) Run(ctx context.Context) error {
	last, err := s.store.ListsVersion(ctx)
	if err != nil {
		return err
	}
	t := time.NewTicker(s.o.ReloadEvery)
	defer t.Stop()
	var (
		moving      int64     // the version a change in progress had at the last tick
		movingSince time.Time // zero: no change in progress
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		v, changed, err := s.store.ListsChanged(ctx, last)
		if err != nil {
			s.log.Warn("checking lists for changes", "err", err)
			continue
		}
		if !changed && s.lists.OverlayLen() < maxOverlay {
			// Nothing, or only the Service's own writes, which the live
			// lists already hold.
			last = v
			continue
		}
		// A change still in progress (an import merges its entries in
		// chunks for up to a minute) is loaded once it settles: when the
		// version stood still for a tick, or after maxReloadDefer. A
		// reload of millions of entries takes seconds of CPU; one per
		// chunk would be wasted.
		if changed && (movingSince.IsZero() || time.Since(movingSince) < maxReloadDefer) {
			// Still moving: changed by others since the last tick (the
			// Service's own writes, a click on the dashboard, do not
			// count).
			moved := movingSince.IsZero()
			if !moved {
				_, moved, err = s.store.ListsChanged(ctx, moving)
				moved = moved || err != nil
			}
			if moved {
				if movingSince.IsZero() {
					movingSince = time.Now()
				}
				moving = v
				continue
			}
		}
		moving, movingSince = 0, time.Time{}
		start := time.Now()
		snap, err := s.store.Snapshot(ctx, time.Now())
		if err != nil {
			s.log.Error("reloading lists; keeping the previous ones", "err", err)
			continue
		}
		// Replace keeps what the Service changed meanwhile (a click on
		// the dashboard, a throttle) that the snapshot does not hold.
		s.lists.Replace(snap)
		last = max(v, snap.Version())
		s.log.Info("lists reloaded", "allow", snap.Len(screening.Allow), "block", snap.Len(screening.Block),
			"dno", snap.Len(screening.DoNotOriginate), "took", time.Since(start).Round(time.Millisecond))
	}
}
