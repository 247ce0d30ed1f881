package service

import (
	"context"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// maxReloadDefer bounds how long Run waits for a change in progress to
// settle before it reloads anyway.
const maxReloadDefer = 30 * time.Second

// maxOverlay is how many changes the live lists hold on top of their
// snapshot before Run folds them into a new one.
const maxOverlay = 4096

// watcher is a store that announces changes to the lists as they are
// made (PostgreSQL's LISTEN): it calls wake for each, and once on every
// (re)connection.
type watcher interface {
	WatchLists(ctx context.Context, wake func())
}

// Wake asks Run to read the change feed now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Synced returns when Run last read the lists' change feed; zero before
// the first time.
func (s *Service) Synced() time.Time {
	n := s.synced.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Run keeps the live lists in step with the store until ctx ends. It
// follows the store's change feed: a change made elsewhere (another
// server of the fleet, the CLI, a dashboard) is applied entry by entry,
// within a notification's round trip on PostgreSQL and within
// ReloadEvery otherwise. A change that cannot be told entry by entry (an
// import, a gap in the feed) reloads a whole snapshot once it settles.
// The Service's own writes are in the live lists already; the feed brings
// them back and they are skipped.
func (s *Service) Run(ctx context.Context) error {
	last := s.lists.Snapshot().Version()
	if w, ok := s.store.(watcher); ok {
		go w.WatchLists(ctx, s.Wake)
	}
	t := time.NewTicker(s.o.ReloadEvery)
	defer t.Stop()
	var (
		moving      int64     // the version a change in progress had at the last look
		movingSince time.Time // zero: no change in progress
		// failingSince is when reading the feed started failing; zero
		// while it works.
		failingSince time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
		cs, err := s.store.Changes(ctx, last, s.o.Tenant)
		if err != nil {
			if failingSince.IsZero() {
				failingSince = time.Now()
				s.log.Warn("cannot read list changes from the database; screening goes on with the lists in memory", "err", err)
			}
			continue
		}
		if !failingSince.IsZero() {
			s.log.Info("reading list changes from the database again", "after", time.Since(failingSince).Round(time.Millisecond))
			failingSince = time.Time{}
		}
		s.synced.Store(time.Now().UnixNano())
		// The changes that can be told entry by entry apply at once,
		// even while an import calls for a reload: a block clicked on
		// another server's dashboard does not wait for it.
		for _, c := range cs.Changes {
			s.lists.ApplyAt(c.Entry, c.Removed, c.Version)
		}
		if len(cs.Changes) > 0 {
			s.log.Info("list changes applied", "changes", len(cs.Changes), "version", cs.Version)
		}
		if !cs.Reload {
			last = cs.Version
			if s.lists.OverlayLen() < maxOverlay {
				continue
			}
		} else if movingSince.IsZero() || time.Since(movingSince) < maxReloadDefer {
			// A change still in progress (an import merges its
			// entries in chunks for up to a minute) is loaded once it
			// settles: when the version stood still between two looks,
			// or after maxReloadDefer. A reload of millions of entries
			// takes seconds of CPU; one per chunk would be wasted.
			if movingSince.IsZero() || cs.Version != moving {
				if movingSince.IsZero() {
					movingSince = time.Now()
				}
				moving = cs.Version
				continue
			}
		}
		moving, movingSince = 0, time.Time{}
		start := time.Now()
		snap, err := s.store.SnapshotFor(ctx, time.Now(), s.o.Tenant)
		if err != nil {
			s.log.Error("reloading lists; keeping the previous ones", "err", err)
			continue
		}
		// Replace keeps what the Service changed meanwhile (a click on
		// the dashboard, a throttle) that the snapshot does not hold.
		s.lists.Replace(snap)
		last = snap.Version()
		s.log.Info("lists reloaded", "allow", snap.Len(screening.Allow), "block", snap.Len(screening.Block),
			"dno", snap.Len(screening.DoNotOriginate), "took", time.Since(start).Round(time.Millisecond))
	}
}
