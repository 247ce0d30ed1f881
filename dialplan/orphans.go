package dialplan

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v6"
)

// claimMemory is how long a finished call stays claimed: longer than a
// continued channel takes to leave the application.
const claimMemory = time.Minute

// claimLocked claims channel id for handling; false if a goroutine has it
// or finished it within claimMemory. s.mu must be held.
func (s *Stasis) claimLocked(id string) bool {
	now := s.h.now()
	if at, ok := s.claims[id]; ok && (at.IsZero() || now.Sub(at) < claimMemory) {
		return false
	}
	if len(s.claims) > 1024 {
		for k, at := range s.claims {
			if !at.IsZero() && now.Sub(at) >= claimMemory {
				delete(s.claims, k)
			}
		}
	}
	s.claims[id] = time.Time{}
	return true
}

// sweepOrphans screens the channels waiting in the application that no
// goroutine is handling: their StasisStart was lost because it arrived
// while callscreen was connecting, during a websocket outage, or beyond
// the library's event buffer. Without it such a call would wait in Stasis
// until the caller gave up. One sweep runs at a time.
func (s *Stasis) sweepOrphans(ctx, calls context.Context, cl ari.Client) {
	if !s.sweeping.CompareAndSwap(false, true) {
		return
	}
	defer s.sweeping.Store(false)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	app, err := withDeadline(ctx, func() (*ari.ApplicationData, error) {
		return cl.Application().Data(ari.NewKey(ari.ApplicationKey, s.o.Application))
	})
	if err != nil {
		s.log.DebugContext(ctx, "orphan sweep: listing the application's channels", "err", err)
		return
	}
	for _, id := range app.ChannelIDs {
		s.mu.Lock()
		_, claimed := s.claims[id]
		s.mu.Unlock()
		if claimed {
			continue
		}
		data, err := withDeadline(ctx, func() (*ari.ChannelData, error) {
			return cl.Channel().Data(ari.NewKey(ari.ChannelKey, id))
		})
		if err != nil || data.Dialplan == nil || !strings.EqualFold(data.Dialplan.AppName, "Stasis") {
			continue
		}
		s.log.WarnContext(ctx, "screening a call whose StasisStart was lost", "call", id, "caller", callerOf(data))
		s.start(calls, cl, &ari.StasisStart{
			Channel: *data,
			Args:    stasisArgs(data.Dialplan.AppData),
		})
	}
}

// stasisArgs returns the application arguments of Stasis(app,arg1,...)
// from the dialplan application's data.
func stasisArgs(appData string) []string {
	_, args, ok := strings.Cut(appData, ",")
	if !ok {
		return nil
	}
	return strings.Split(args, ",")
}

func callerOf(d *ari.ChannelData) string {
	if d.Caller == nil {
		return ""
	}
	return d.Caller.Number
}

// withDeadline runs a library call that takes no context, giving up on it
// when ctx ends.
func withDeadline[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("no answer from ARI: %w", ctx.Err())
	}
}
