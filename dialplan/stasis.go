package dialplan

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/CyCoreSystems/ari/v6"
	"github.com/CyCoreSystems/ari/v6/client/native"

	"github.com/callscreen/callscreen/screening"
)

// StasisOptions configures Stasis's transport; what screening a call
// needs is the Handler's. Everything has a default.
type StasisOptions struct {
	// URL is the ARI REST root, WebsocketURL the events URL (ari/v6 does
	// not derive one from the other). [http://127.0.0.1:8088/ari,
	// ws://127.0.0.1:8088/ari/events]
	URL          string
	WebsocketURL string
	Username     string
	Password     string
	// Application is the Stasis application name. [callscreen]
	Application string

	// Logger is the logger; nil discards.
	Logger *slog.Logger
	// OnConnect, when set, is told each change of the ARI connection's
	// state (for metrics and the admin API).
	OnConnect func(connected bool)

	// ConnectTimeout bounds one connection attempt. [10s]
	ConnectTimeout time.Duration
	// MaxBackoff caps the wait between connection attempts, which starts
	// at one second and doubles. [30s]
	MaxBackoff time.Duration
	// RecordingDir is Asterisk's recording directory, where name
	// recordings land. [/var/spool/asterisk/recording]
	RecordingDir string
	// HealthInterval is how often the connection is checked. [1s]
	HealthInterval time.Duration
	// RebuildAfter is how long the websocket may stay down, or the
	// application stay unregistered, before the client is rebuilt. [15s]
	RebuildAfter time.Duration
}

// Stasis is the ARI front end: a Stasis application that screens every
// channel entering Stasis(<app>[,<profile>]).
type Stasis struct {
	h   *Handler
	o   StasisOptions
	log *slog.Logger
	// http sends callscreen's ARI requests (newARIClient).
	http *http.Client
	// dial connects a client; tests replace it.
	dial func(ctx context.Context) (ari.Client, error)
	// filterEvents sets the application's event filter when Asterisk
	// lacks it (ensureEventFilter) and reports whether it sent a PUT;
	// tests replace it.
	filterEvents func(ctx context.Context) (bool, error)
	// appMu keeps callscreen's own read of the application (probe) from
	// overlapping its event-filter PUT: Asterisk 22 can corrupt its heap
	// when the two meet (see ensureEventFilter).
	appMu  sync.Mutex
	arrays arrayWrites

	mu sync.Mutex
	// claims holds the channels a goroutine is handling (zero time) or
	// finished handling (when), so that a channel found by the orphan
	// sweep and by its StasisStart is screened once. See orphans.go.
	claims map[string]time.Time
	// sweeping is set while an orphan sweep runs.
	sweeping atomic.Bool
}

// NewStasis returns a Stasis application screening its calls with h, with
// opts' defaults filled in.
func NewStasis(h *Handler, opts StasisOptions) *Stasis {
	o := opts
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.URL, "http://127.0.0.1:8088/ari")
	def(&o.WebsocketURL, "ws://127.0.0.1:8088/ari/events")
	def(&o.Application, "callscreen")
	def(&o.RecordingDir, "/var/spool/asterisk/recording")
	defDur(&o.ConnectTimeout, 10*time.Second)
	defDur(&o.MaxBackoff, 30*time.Second)
	defDur(&o.HealthInterval, time.Second)
	defDur(&o.RebuildAfter, 15*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Stasis{h: h, o: o, http: newARIClient(), log: o.Logger.With("app", o.Application), claims: make(map[string]time.Time)}
	s.dial = s.connect
	s.filterEvents = s.ensureEventFilter
	return s
}

// Run serves the application until ctx is cancelled: it connects to ARI,
// reconnects with capped backoff when Asterisk goes away, and screens each
// call in its own goroutine. On cancellation it stops screening new calls
// (they are continued straight to their ring target), waits up to the
// Handler's DrainTimeout for calls in flight, fails the rest open, and
// returns nil. It returns an error only for unusable options.
func (s *Stasis) Run(ctx context.Context) error {
	if err := s.h.check(); err != nil {
		return err
	}
	calls, cancelCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCalls()
	backoff := time.Second
	for attempt := 1; ctx.Err() == nil; attempt++ {
		cl, err := s.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			s.log.WarnContext(ctx, "cannot connect to Asterisk ARI; retrying", "url", s.o.URL, "attempt", attempt, "retry_in", backoff, "err", err)
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(2*backoff, s.o.MaxBackoff)
			continue
		}
		s.log.InfoContext(ctx, "connected to Asterisk ARI", "url", s.o.URL, "attempt", attempt)
		s.setConnected(true)
		attempt, backoff = 0, time.Second
		err = s.serve(ctx, calls, cancelCalls, cl)
		s.setConnected(false)
		cl.Close()
		if err != nil {
			s.log.WarnContext(ctx, "rebuilding the ARI client", "err", err)
		}
	}
	return nil
}

// setConnected reports the connection state to OnConnect.
func (s *Stasis) setConnected(up bool) {
	if s.o.OnConnect != nil {
		s.o.OnConnect(up)
	}
}

// connect dials ARI with a deadline. native.ConnectWithContext binds the
// connection's lifetime to its context, so the deadline is applied by
// abandoning the attempt rather than through the context.
func (s *Stasis) connect(ctx context.Context) (ari.Client, error) {
	connCtx, cancel := context.WithCancel(ctx)
	type result struct {
		cl  ari.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		cl, err := native.ConnectWithContext(connCtx, &native.Options{
			Application:  s.o.Application,
			URL:          s.o.URL,
			WebsocketURL: s.o.WebsocketURL,
			Username:     s.o.Username,
			Password:     s.o.Password,
			Logger:       newLibLogger(s.log),
		})
		if err == nil {
			if err := useHTTPClient(cl, s.http); err != nil {
				s.log.WarnContext(ctx, "ARI requests use Go's default HTTP client", "err", err)
			}
		}
		ch <- result{cl, err}
	}()
	t := time.NewTimer(s.o.ConnectTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			cancel()
			if r.cl != nil {
				r.cl.Close()
			}
			return nil, fmt.Errorf("connect to %s: %w", s.o.URL, r.err)
		}
		return closer{Client: r.cl, cancel: cancel}, nil
	case <-t.C:
	case <-ctx.Done():
	}
	cancel()
	go func() { // the attempt ends soon after cancel; close what it built
		if r := <-ch; r.cl != nil {
			r.cl.Close()
		}
	}()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("connect to %s: no answer within %s", s.o.URL, s.o.ConnectTimeout)
}

// closer also cancels the connection's context on Close.
type closer struct {
	ari.Client
	cancel context.CancelFunc
}

func (c closer) Close() {
	c.Client.Close()
	c.cancel()
}

// serve dispatches StasisStart events from cl until ctx is cancelled and
// the calls have drained (nil), or the connection is judged dead (error).
func (s *Stasis) serve(ctx, calls context.Context, cancelCalls context.CancelFunc, base ari.Client) error {
	cl := withEventRouter(base)
	sub := cl.Bus().Subscribe(nil, ari.Events.StasisStart)
	defer sub.Cancel()
	defer s.flush(sub, cl)
	// Calls that entered Stasis while callscreen was connecting sent
	// their StasisStart to nobody.
	go s.sweepOrphans(ctx, calls, cl)
	go s.applyFilter(ctx)
	tick := time.NewTicker(s.o.HealthInterval)
	defer tick.Stop()

	var (
		done       = ctx.Done()
		drained    chan struct{}
		connected  = true
		since      = s.h.now()
		probeFails int
		ticks      int
	)
	for {
		select {
		case e, ok := <-sub.Events():
			if !ok {
				return errSubscriptionClosed
			}
			if st, _ := e.(*ari.StasisStart); st != nil {
				s.start(calls, cl, st)
			}

		case <-tick.C:
			ticks++
			now := s.h.now()
			if c := cl.Connected(); c != connected {
				connected, since = c, now
				s.setConnected(c)
				if c {
					s.log.InfoContext(ctx, "ARI websocket reconnected; events during the outage were lost")
					go s.sweepOrphans(ctx, calls, cl)
					go s.applyFilter(ctx)
				} else {
					s.log.WarnContext(ctx, "ARI websocket disconnected; the library redials every second")
				}
			}
			if !connected && now.Sub(since) > s.o.RebuildAfter {
				return fmt.Errorf("websocket down for %s", now.Sub(since).Round(time.Second))
			}
			// Every 10 ticks, check that Asterisk still knows the
			// application: a websocket can look connected and deliver
			// nothing.
			if connected && ticks%10 == 0 {
				if err := s.probe(ctx, cl); err != nil {
					probeFails++
					s.log.WarnContext(ctx, "ARI application check failed", "failures", probeFails, "err", err)
					if time.Duration(probeFails)*10*s.o.HealthInterval > s.o.RebuildAfter {
						return fmt.Errorf("application check: %w", err)
					}
				} else {
					probeFails = 0
					go s.sweepOrphans(ctx, calls, cl)
					// No filter here: an Asterisk restart drops the
					// websocket, and the filter is checked when it is
					// back (above). A PUT on a timer can crash
					// Asterisk (see applyFilter).
				}
			}

		case <-done:
			done = nil
			s.log.InfoContext(ctx, "shutting down; new calls ring unscreened", "in_flight", s.h.inFlight())
			drained = make(chan struct{})
			go func() { s.h.drain(ctx, s.log, cancelCalls); close(drained) }()

		case <-drained:
			return nil
		}
	}
}

// applyFilter sets the event filter if Asterisk does not have it: once
// per connection (at connect and when the websocket comes back), never
// periodically. Asterisk 22 can corrupt its heap when the filter is
// replaced while another thread serialises the application, so a PUT is
// sent only when the filter read back is not callscreen's (see
// docs/RELIABILITY.md). Without the filter callscreen works the same, at
// more CPU for both processes, so a failure is only logged.
func (s *Stasis) applyFilter(ctx context.Context) {
	put, err := s.filterEvents(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.WarnContext(ctx, "ARI event filter not set; Asterisk sends every channel event (more CPU, same screening)", "err", err)
	case put:
		s.log.InfoContext(ctx, "ARI event filter set")
	}
}

// flush passes through StasisStarts still buffered when serve returns:
// they must not be left in Stasis.
func (s *Stasis) flush(sub ari.Subscription, cl ari.Client) {
	for {
		select {
		case e, ok := <-sub.Events():
			if !ok {
				return
			}
			if st, _ := e.(*ari.StasisStart); st != nil {
				s.passThrough(context.Background(), cl, st, "callscreen stopping")
			}
		default:
			return
		}
	}
}

// probe checks that Asterisk has the application registered.
func (s *Stasis) probe(ctx context.Context, cl ari.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		s.appMu.Lock()
		defer s.appMu.Unlock()
		_, err := cl.Application().Data(ari.NewKey(ari.ApplicationKey, s.o.Application))
		done <- err
	}()
	select {
	case err := <-done:
		if httpCode(err) == http.StatusNotFound {
			return fmt.Errorf("application %q is not registered with Asterisk", s.o.Application)
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer: %w", ctx.Err())
	}
}

// start hands one call to its own goroutine at once: the library's
// subscription buffer holds only 100 events.
func (s *Stasis) start(calls context.Context, cl ari.Client, st *ari.StasisStart) {
	s.mu.Lock()
	claimed := s.claimLocked(st.Channel.ID)
	s.mu.Unlock()
	if !claimed {
		return
	}
	draining, _ := s.h.begin(0)
	go func() {
		growStack()
		defer s.done(st.Channel.ID)
		if draining {
			s.passThrough(calls, cl, st, "callscreen stopping")
			return
		}
		s.handle(calls, cl, st)
	}()
}

func (s *Stasis) done(id string) {
	s.mu.Lock()
	s.claims[id] = s.h.now()
	s.mu.Unlock()
	s.h.end()
}

// call is what handle knows about a call from its StasisStart.
type call struct {
	id, did, profile string
	caller, name     string
	key              *ari.Key
}

func callOf(st *ari.StasisStart) call {
	c := call{id: st.Channel.ID, key: st.Key(ari.ChannelKey, st.Channel.ID)}
	if len(st.Args) > 0 {
		c.profile = st.Args[0]
	}
	if st.Channel.Dialplan != nil {
		c.did = st.Channel.Dialplan.Exten
	}
	if st.Channel.Caller != nil {
		c.caller, c.name = st.Channel.Caller.Number, st.Channel.Caller.Name
	}
	return c
}

// facts returns what the StasisStart says about the call.
func (c call) facts(start time.Time) callCtx {
	return callCtx{mode: screening.ModeARI, profile: c.profile, facts: screening.Facts{
		ID: c.id, Time: start, Number: c.caller, Name: c.name, Called: c.did,
	}}
}

// passThrough continues a call to its ring target without screening it.
func (s *Stasis) passThrough(ctx context.Context, cl ari.Client, st *ari.StasisStart, why string) {
	c := callOf(st)
	ch := newARIChannel(cl.Channel(), cl.Bus(), c.key, c.did, nil, s.o.RecordingDir, &s.arrays)
	log := s.log.With("call", c.id, "caller", c.caller, "profile", c.profile)
	s.h.passThrough(ctx, log, ch, c.facts(s.h.now()), why)
}

// handle screens one call: the Handler gathers, evaluates, acts,
// remembers and records; the transport watches for the hangup.
func (s *Stasis) handle(calls context.Context, cl ari.Client, st *ari.StasisStart) {
	c := callOf(st)
	start := s.h.now()
	log := s.log.With("call", c.id, "caller", c.caller, "profile", c.profile)

	ctx, cancel := context.WithCancel(calls)
	defer cancel()
	gone := make(chan struct{})
	stop := s.watchHangup(ctx, cl, c.key, gone, cancel)
	defer stop()
	ch := newARIChannel(cl.Channel(), cl.Bus(), c.key, c.did, gone, s.o.RecordingDir, &s.arrays)
	s.h.screen(ctx, log, ch, c.facts(start))
}

// watchHangup closes gone and cancels the call's context when the channel
// leaves Stasis or its hangup is requested. The returned stop ends the
// watch.
func (s *Stasis) watchHangup(ctx context.Context, cl ari.Client, key *ari.Key, gone chan struct{}, cancel context.CancelFunc) (stop func()) {
	sub := cl.Bus().Subscribe(key, ari.Events.StasisEnd, ari.Events.ChannelHangupRequest, ari.Events.ChannelDestroyed)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case _, ok := <-sub.Events():
			if ok {
				close(gone)
				cancel()
			}
		case <-quit:
		case <-ctx.Done():
		}
	}()
	return func() {
		close(quit)
		wg.Wait()
		sub.Cancel()
	}
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
