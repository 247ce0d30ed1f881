package service

import (
	"context"
	"time"

	"github.com/callscreen/callscreen/screening"
)

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
		start := time.Now()
		snap, err := s.store.Snapshot(ctx, time.Now())
		if err != nil {
			s.log.Error("reloading lists; keeping the previous ones", "err", err)
			continue
		}
		s.lists.Replace(snap)
		last = v
		s.log.Info("lists reloaded", "allow", snap.Len(screening.Allow), "block", snap.Len(screening.Block),
			"dno", snap.Len(screening.DoNotOriginate), "took", time.Since(start).Round(time.Millisecond))
	}
}
