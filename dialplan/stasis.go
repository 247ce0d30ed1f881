package dialplan

import (
	"context"
	"errors"
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

// Evaluator decides a call: the screening engine.
type Evaluator interface {
	Evaluate(f *screening.Facts, profile string) screening.Verdict
}

// Recorder writes the call log.
type Recorder interface {
	Write(screening.Record)
}

// Rememberer persists list entries: callers who passed a challenge.
type Rememberer interface {
	Remember(ctx context.Context, e screening.Entry) error
}

// StasisOptions configures Stasis. Evaluator is required; everything else
// has a default.
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

	Evaluator Evaluator
	// Profiles returns the Asterisk side of a profile by name; nil, or a
	// name it does not know, means DefaultProfile().
	Profiles func(name string) (Profile, bool)
	// Recorder receives one record per call; nil discards them.
	Recorder Recorder
	// Rememberer receives an allow entry for each caller who passes a
	// challenge; nil forgets them.
	Rememberer Rememberer
	// Logger is the logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnConnect, when set, is told each change of the ARI connection's
	// state (for metrics and the admin API).
	OnConnect func(connected bool)

	// ConnectTimeout bounds one connection attempt. [10s]
	ConnectTimeout time.Duration
	// MaxBackoff caps the wait between connection attempts, which starts
	// at one second and doubles. [30s]
	MaxBackoff time.Duration
	// CallTimeout is the hard deadline of one call in callscreen, prompts
	// included; after it the call is continued to its ring target. [60s]
	CallTimeout time.Duration
	// GatherTimeout bounds reading the facts. [500ms]
	GatherTimeout time.Duration
	// DrainTimeout is how long Run waits for calls in flight after its
	// context is cancelled before failing them open. [10s]
	DrainTimeout time.Duration
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
	o   StasisOptions
	log *slog.Logger
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

	mu       sync.Mutex
	inflight int
	// claims holds the channels a goroutine is handling (zero time) or
	// finished handling (when), so that a channel found by the orphan
	// sweep and by its StasisStart is screened once. See orphans.go.
	claims map[string]time.Time
	// sweeping is set while an orphan sweep runs.
	sweeping atomic.Bool
	idle     chan struct{} // closed when inflight drops to 0, while draining
	draining bool
}

// NewStasis returns a Stasis application with opts, defaults filled in.
func NewStasis(opts StasisOptions) *Stasis {
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
	defDur(&o.CallTimeout, 60*time.Second)
	defDur(&o.GatherTimeout, 500*time.Millisecond)
	defDur(&o.DrainTimeout, 10*time.Second)
	defDur(&o.HealthInterval, time.Second)
	defDur(&o.RebuildAfter, 15*time.Second)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Stasis{o: o, log: o.Logger.With("app", o.Application), claims: make(map[string]time.Time)}
	s.dial = s.connect
	s.filterEvents = s.ensureEventFilter
	tuneARITransport()
	return s
}

// Run serves the application until ctx is cancelled: it connects to ARI,
// reconnects with capped backoff when Asterisk goes away, and screens each
// call in its own goroutine. On cancellation it stops screening new calls
// (they are continued straight to their ring target), waits up to
// DrainTimeout for calls in flight, fails the rest open, and returns nil.
// It returns an error only for unusable options.
func (s *Stasis) Run(ctx context.Context) error {
	if s.o.Evaluator == nil {
		return errors.New("dialplan: StasisOptions.Evaluator is required")
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
		idle       <-chan struct{}
		drainTimer <-chan time.Time
		connected  = true
		since      = s.o.Now()
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
			now := s.o.Now()
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
			idle = s.drain()
			drainTimer = time.After(s.o.DrainTimeout)
			s.log.InfoContext(ctx, "shutting down; new calls ring unscreened", "in_flight", s.count())

		case <-idle:
			return nil

		case <-drainTimer:
			s.log.WarnContext(ctx, "calls still in flight after the drain timeout; failing them open", "in_flight", s.count())
			cancelCalls()
			select {
			case <-idle:
			case <-time.After(failOpenTimeout + time.Second):
			}
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
	if !s.claimLocked(st.Channel.ID) {
		s.mu.Unlock()
		return
	}
	draining := s.draining
	s.inflight++
	s.mu.Unlock()
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
	s.claims[id] = s.o.Now()
	s.inflight--
	if s.inflight == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
}

// drain marks the application as draining and returns a channel closed
// when no call is in flight.
func (s *Stasis) drain() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	ch := make(chan struct{})
	if s.inflight == 0 {
		close(ch)
	} else {
		s.idle = ch
	}
	return ch
}

func (s *Stasis) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight
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

// profile returns the Asterisk side of the named profile.
func (s *Stasis) profile(name string) Profile {
	return lookupProfile(s.o.Profiles, name)
}

// lookupProfile returns the profile profiles knows by name, or
// DefaultProfile().
func lookupProfile(profiles func(string) (Profile, bool), name string) Profile {
	if profiles != nil && name != "" {
		if p, ok := profiles(name); ok {
			return p
		}
	}
	return DefaultProfile()
}

// passThrough continues a call to its ring target without screening it.
func (s *Stasis) passThrough(ctx context.Context, cl ari.Client, st *ari.StasisStart, why string) {
	c := callOf(st)
	start := s.o.Now()
	p := s.profile(c.profile)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failOpenTimeout)
	defer cancel()
	ch := newARIChannel(cl.Channel(), cl.Bus(), c.key, c.did, nil, s.o.RecordingDir, &s.arrays)
	rec := screening.Record{
		ID: c.id, Time: start, Mode: screening.ModeARI,
		Facts:   screening.Facts{ID: c.id, Time: start, Number: c.caller, Name: c.name, Called: c.did},
		Verdict: screening.Verdict{CallID: c.id, Profile: c.profile, Action: screening.Ring, Enforced: screening.Ring, Reason: why},
		Taken:   screening.Ring, Outcome: screening.OutcomeRang, Detail: why,
	}
	if err := ch.Continue(ctx, p.Targets.Ring); err != nil {
		rec.Outcome, rec.Detail = screening.OutcomeError, why+"; continue: "+err.Error()
		s.log.ErrorContext(ctx, "cannot continue call", "call", c.id, "caller", c.caller, "profile", c.profile, "err", err)
	}
	rec.Handling = s.o.Now().Sub(start)
	s.screener().write(rec)
}

// handle screens one call: gather, evaluate, act, remember, record.
func (s *Stasis) handle(calls context.Context, cl ari.Client, st *ari.StasisStart) {
	c := callOf(st)
	start := s.o.Now()
	log := s.log.With("call", c.id, "caller", c.caller, "profile", c.profile)

	ctx, cancel := context.WithTimeout(calls, s.o.CallTimeout)
	defer cancel()
	gone := make(chan struct{})
	stop := s.watchHangup(ctx, cl, c.key, gone, cancel)
	defer stop()
	ch := newARIChannel(cl.Channel(), cl.Bus(), c.key, c.did, gone, s.o.RecordingDir, &s.arrays)
	s.screener().screen(ctx, log, ch, screening.ModeARI, screening.Facts{
		ID: c.id, Time: start, Number: c.caller, Name: c.name, Called: c.did,
	}, c.profile)
}

// screener returns what screening a call needs from the options.
func (s *Stasis) screener() screener {
	return screener{
		evaluator: s.o.Evaluator, profiles: s.o.Profiles, recorder: s.o.Recorder,
		rememberer: s.o.Rememberer, now: s.o.Now, gatherTimeout: s.o.GatherTimeout,
	}
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

// rememberCaller puts the caller who passed a challenge on r's allow list
// for the profile's challenge.remember.
func rememberCaller(ctx context.Context, r Rememberer, log *slog.Logger, now time.Time, v screening.Verdict, p Profile) {
	if r == nil || p.Challenge.Remember <= 0 {
		return
	}
	if err := screening.ValidateEntryNumber(v.Caller); err != nil {
		log.DebugContext(ctx, "challenge passed by a caller without an E.164 number; not remembered", "err", err)
		return
	}
	e := screening.Entry{
		Kind:    screening.Allow,
		Number:  v.Caller,
		Expires: now.Add(p.Challenge.Remember),
		Source:  screening.SourceChallenge,
		Reason:  "passed the challenge on call " + v.CallID,
		Created: now,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := r.Remember(ctx, e); err != nil {
		log.WarnContext(ctx, "cannot remember the caller who passed the challenge", "number", v.Caller, "err", err)
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
