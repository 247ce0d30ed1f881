package dialplan

import (
	"sync"

	"github.com/CyCoreSystems/ari/v6"
)

// routedEvents are the event types calls wait for: hang-ups, keys,
// playbacks and recordings.
func routedEvents() []string {
	return []string{
		ari.Events.StasisEnd, ari.Events.ChannelHangupRequest, ari.Events.ChannelDestroyed,
		ari.Events.ChannelDtmfReceived, ari.Events.PlaybackFinished,
		ari.Events.RecordingFinished, ari.Events.RecordingFailed,
	}
}

// routeBuffer is how many events a call's subscription holds; a call
// waits for one or two.
const routeBuffer = 8

// eventRouter hands each event to the subscriptions of the channel,
// playback or recording it is about, found by id. ari/v6's bus offers
// every event to every subscription in turn, rebuilding the event's keys
// for each: with three subscriptions per call in progress, that was
// quadratic in the calls in progress and a third of callscreen's CPU on
// the challenge path at 50 calls/s. The router takes the events from one
// bus subscription instead.
type eventRouter struct {
	src    ari.Subscription
	mu     sync.Mutex
	subs   map[routeKey][]*routeSub
	closed bool
}

// routeKey is an entity's kind and id.
type routeKey struct{ kind, id string }

// newEventRouter routes the events of bus until bus closes its
// subscription; then every routed subscription is closed too.
func newEventRouter(bus ari.Bus) *eventRouter {
	r := &eventRouter{subs: make(map[routeKey][]*routeSub), src: bus.Subscribe(nil, routedEvents()...)}
	go func() {
		for e := range r.src.Events() {
			r.dispatch(e)
		}
		r.close()
	}()
	return r
}

// routedClient is an ari.Client whose bus routes keyed subscriptions
// through an eventRouter.
type routedClient struct {
	ari.Client
	bus routedBus
}

// withEventRouter returns cl with its keyed subscriptions routed.
func withEventRouter(cl ari.Client) routedClient {
	return routedClient{Client: cl, bus: routedBus{Bus: cl.Bus(), r: newEventRouter(cl.Bus())}}
}

func (c routedClient) Bus() ari.Bus { return c.bus }

// Close closes the client and the router's subscriptions.
func (c routedClient) Close() {
	c.Client.Close()
	c.bus.r.src.Cancel()
	c.bus.r.close()
}

// routedBus sends keyed subscriptions to the router and the rest (the
// application's StasisStart) to the client's bus.
type routedBus struct {
	ari.Bus
	r *eventRouter
}

func (b routedBus) Subscribe(key *ari.Key, types ...string) ari.Subscription {
	if key == nil || key.ID == "" {
		return b.Bus.Subscribe(key, types...)
	}
	return b.r.Subscribe(key, types...)
}

// Subscribe returns a subscription to the events of types about the
// entity key names (its Kind and ID). Like the bus, it never blocks the
// router: events beyond its buffer are dropped.
func (r *eventRouter) Subscribe(key *ari.Key, types ...string) ari.Subscription {
	s := &routeSub{r: r, key: routeKey{key.Kind, key.ID}, types: types, c: make(chan ari.Event, routeBuffer)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		s.done = true
		close(s.c)
		return s
	}
	r.subs[s.key] = append(r.subs[s.key], s)
	return s
}

func (r *eventRouter) dispatch(e ari.Event) {
	typ := e.GetType()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range e.Keys() {
		for _, s := range r.subs[routeKey{k.Kind, k.ID}] {
			if !s.wants(typ) {
				continue
			}
			select {
			case s.c <- e:
			default:
			}
		}
	}
}

func (r *eventRouter) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	for k, subs := range r.subs {
		for _, s := range subs {
			s.done = true
			close(s.c)
		}
		delete(r.subs, k)
	}
}

// routeSub is one subscription of an eventRouter.
type routeSub struct {
	r     *eventRouter
	key   routeKey
	types []string
	c     chan ari.Event
	done  bool // guarded by r.mu
}

func (s *routeSub) wants(typ string) bool {
	for _, t := range s.types {
		if t == typ {
			return true
		}
	}
	return false
}

// Events implements ari.Subscription.
func (s *routeSub) Events() <-chan ari.Event { return s.c }

// Cancel implements ari.Subscription: it closes the events channel.
func (s *routeSub) Cancel() {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.done {
		return
	}
	s.done = true
	close(s.c)
	subs := s.r.subs[s.key]
	for i, o := range subs {
		if o == s {
			subs[i] = subs[len(subs)-1]
			subs[len(subs)-1] = nil
			subs = subs[:len(subs)-1]
			break
		}
	}
	if len(subs) == 0 {
		delete(s.r.subs, s.key)
	} else {
		s.r.subs[s.key] = subs
	}
}
