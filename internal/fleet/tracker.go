package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// Exchange is the fleet's shared count of sightings: the database all
// servers write to (screening/store), or Memory within one process.
type Exchange interface {
	// PublishSightings adds this server's new sightings to the fleet's and returns
	// the fleet-wide aggregates over the window for every number and
	// prefix (screening.SweepPrefix, keyed with a trailing '*') the
	// sightings touched. Publishes that touch one number are serialized:
	// each step of its failed count is seen by exactly one publisher.
	PublishSightings(ctx context.Context, s []screening.Sighting, window time.Duration) ([]screening.SweepAggregate, error)
	// SweepAggregates returns every aggregate in the window with at least
	// minTenants tenants or minFailed failed challenges: on start-up,
	// after a reconnect, and periodically.
	SweepAggregates(ctx context.Context, window time.Duration, minTenants, minFailed int) ([]screening.SweepAggregate, error)
}

// Broadcaster tells the other servers of the fleet about aggregates that
// changed; each of them hands what it receives to its Tracker's Receive.
type Broadcaster interface {
	BroadcastSweeps(ctx context.Context, a []screening.SweepAggregate) error
}

// Watcher delivers the aggregates other servers broadcast, and calls
// resync each time it (re)connects (screening/store's Store on
// PostgreSQL; on SQLite it returns at once).
type Watcher interface {
	WatchSweeps(ctx context.Context, fn func([]screening.SweepAggregate), resync func())
}

// Config configures a Tracker.
type Config struct {
	// Server and Tenant name this server and the tenant it screens for.
	Server string
	Tenant string
	// Window is how far back counts reach (default 10 minutes).
	Window time.Duration
	// Throttle, when set, makes the server that sees a number's failed
	// challenges reach ThrottleFailed across the fleet block it for every
	// tenant for this long (see Options.Throttle).
	Throttle       time.Duration
	ThrottleFailed int
	// FlushEvery is how long a sighting of a number already seen in the
	// window may wait to be published, batched with others (default 1s).
	// A number seen for the first time in the window, and a failed
	// challenge, are published within Linger, or MinGap after the
	// previous publish if that is later.
	FlushEvery time.Duration
	// Linger is how long an urgent publish waits for more sightings to
	// go with it (default 20ms), a delay far shorter than the gap between
	// two calls of a sweep.
	Linger time.Duration
	// MinGap is the least time between two publishes (default 1s): a
	// server that sees new numbers more often than that publishes them
	// in batches, so that the exchange costs it (and the database) one
	// round trip a second at most, however busy it is. A sweep calls
	// each business once, and a business's server rarely sees a new
	// number every second: its sightings of a sweep go out within
	// Linger.
	MinGap time.Duration
	// RefreshEvery is how often the whole set of interesting aggregates
	// is read again, to catch what a missed broadcast carried (default
	// 30s).
	RefreshEvery time.Duration
	// MaxNumbers bounds the numbers and prefixes tracked (default 1e6).
	MaxNumbers int
}

// DefaultLinger is Config.Linger's default.
const DefaultLinger = 20 * time.Millisecond

// Interest is what makes an aggregate worth broadcasting and refreshing:
// calls to at least MinTenants tenants, or MinFailed failed challenges.
const (
	MinTenants = 2
	MinFailed  = 1
)

func (c *Config) defaults() {
	if c.Window <= 0 {
		c.Window = 10 * time.Minute
	}
	if c.FlushEvery <= 0 {
		c.FlushEvery = time.Second
	}
	if c.Linger <= 0 {
		c.Linger = DefaultLinger
	}
	if c.MinGap <= 0 {
		c.MinGap = time.Second
	}
	if c.RefreshEvery <= 0 {
		c.RefreshEvery = 30 * time.Second
	}
	if c.MaxNumbers <= 0 {
		c.MaxNumbers = 1_000_000
	}
}

// Options are a Tracker's collaborators.
type Options struct {
	Exchange Exchange
	// Broadcaster, when set, receives the interesting aggregates each
	// publish returns.
	Broadcaster Broadcaster
	// Throttle puts a fleet throttle on the block list (the service's
	// Put); nil with Config.Throttle set leaves throttles off.
	Throttle func(ctx context.Context, e screening.Entry) error
	Log      *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Tracker is one server's view of the fleet's sweep counts. It is safe
// for concurrent use; Lookup takes a read lock and two map reads.
type Tracker struct {
	cfg Config
	o   Options

	wake   chan struct{}
	resync chan struct{}

	published, failures atomic.Uint64 // Flush's publishes that worked, and that failed
	lastPublish         atomic.Int64  // Unix nanoseconds of the last publish that worked

	mu       sync.RWMutex
	numbers  map[string]*view
	prefixes map[string]*view // keyed by screening.SweepPrefix, no '*'
	pending  map[sightingKey]*counts
}

// view is what a Tracker knows of one number or prefix: the fleet's
// aggregate, and this server's failed challenges not yet in it.
type view struct {
	agg       screening.SweepAggregate
	unsent    int   // failed challenges pending or being published
	seen      int64 // the newest minute (unix) this server saw a call in
	hasRemote bool  // agg came from the exchange
}

type sightingKey struct {
	number, tenant string
	minute         int64
}

type counts struct{ calls, failed int }

// New returns a Tracker; run its Run to exchange counts with the fleet.
func New(cfg Config, o Options) *Tracker {
	cfg.defaults()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Tracker{
		cfg:      cfg,
		o:        o,
		wake:     make(chan struct{}, 1),
		resync:   make(chan struct{}, 1),
		numbers:  make(map[string]*view),
		prefixes: make(map[string]*view),
		pending:  make(map[sightingKey]*counts),
	}
}

// Window returns the tracker's window.
func (t *Tracker) Window() time.Duration { return t.cfg.Window }

// Lookup returns the fleet's counts for the E.164 number and its prefix
// at now, leaving this server's tenant out of the tenants. It satisfies
// screening.SweepSource; it takes a read lock and does not allocate.
func (t *Tracker) Lookup(number string, now time.Time) screening.SweepCounts {
	c := screening.SweepCounts{Window: t.cfg.Window}
	cut := now.Add(-t.cfg.Window - time.Minute)
	prefix := screening.SweepPrefix(number)
	t.mu.RLock()
	if v := t.numbers[number]; v != nil {
		if v.agg.Last.After(cut) {
			c.Tenants = v.agg.OthersThan(t.cfg.Tenant)
			c.Failed = v.agg.Failed
		}
		c.Failed += v.unsent
	}
	if prefix != "" {
		if v := t.prefixes[prefix]; v != nil && v.agg.Last.After(cut) {
			c.PrefixTenants = v.agg.OthersThan(t.cfg.Tenant)
			c.PrefixFailed = v.agg.Failed
		}
	}
	t.mu.RUnlock()
	return c
}

// Observe counts one finished call: its number, its tenant and whether
// it failed the challenge. Calls without a presented E.164 number, and
// checks (callscreen check), are not counted. It never waits for the
// network: it wakes Run when the fleet should hear at once.
func (t *Tracker) Observe(r screening.Record) {
	v := &r.Verdict
	if r.Mode == screening.ModeCheck || v.Presence != screening.Presented || screening.ValidateEntryNumber(v.Caller) != nil {
		return
	}
	failed := 0
	if r.Outcome == screening.OutcomeChallengeFailed {
		failed = 1
	}
	at := r.Time
	if at.IsZero() {
		at = t.o.Now()
	}
	minute := at.UTC().Truncate(time.Minute).Unix()
	cut := at.Add(-t.cfg.Window).Unix()

	t.mu.Lock()
	nv := t.numbers[v.Caller]
	// The first call from the number this server finishes in the window
	// is news for the fleet.
	first := nv == nil || nv.seen <= cut
	if nv == nil {
		if len(t.numbers) >= t.cfg.MaxNumbers {
			t.expireLocked(at)
		}
		if len(t.numbers) < t.cfg.MaxNumbers {
			nv = &view{agg: screening.SweepAggregate{Key: v.Caller}}
			t.numbers[v.Caller] = nv
		}
	}
	if nv != nil {
		// Full: the sighting is still published, but this server's
		// own failures count only once the fleet answers.
		nv.seen = max(nv.seen, minute)
		nv.unsent += failed
	}
	k := sightingKey{number: v.Caller, tenant: r.Tenant, minute: minute}
	p := t.pending[k]
	if p == nil {
		p = &counts{}
		t.pending[k] = p
	}
	p.calls++
	p.failed += failed
	t.mu.Unlock()

	if first || failed > 0 {
		t.Wake()
	}
}

// Wake asks Run to publish now.
func (t *Tracker) Wake() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Resync asks Run to read every interesting aggregate again: after a
// broadcast channel (re)connects, since what was broadcast meanwhile was
// missed.
func (t *Tracker) Resync() {
	select {
	case t.resync <- struct{}{}:
	default:
	}
}

// Follow merges the aggregates w delivers until ctx ends, and reads them
// all again whenever w reconnects.
func (t *Tracker) Follow(ctx context.Context, w Watcher) { w.WatchSweeps(ctx, t.Receive, t.Resync) }

// Receive merges aggregates another server broadcast.
func (t *Tracker) Receive(aggs []screening.SweepAggregate) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range aggs {
		t.mergeLocked(a)
	}
}

// mergeLocked folds a into the view of its key. t.mu is held.
func (t *Tracker) mergeLocked(a screening.SweepAggregate) *view {
	m, key := t.numbers, a.Key
	if a.IsPrefix() {
		m, key = t.prefixes, key[:len(key)-1]
	}
	v := m[key]
	switch {
	case v == nil:
		if len(m) >= t.cfg.MaxNumbers {
			return nil
		}
		v = &view{agg: a, hasRemote: true}
		m[key] = v
	case !v.hasRemote:
		v.agg, v.hasRemote = a, true
	default:
		v.agg = v.agg.Merge(a)
	}
	return v
}

// Run publishes sightings and refreshes aggregates until ctx ends; then
// it publishes what is pending, within a second, and returns. Errors of
// the exchange are logged and retried: counts wait, calls do not.
func (t *Tracker) Run(ctx context.Context) error {
	if t.o.Exchange == nil {
		return errors.New("fleet: no exchange")
	}
	t.refresh(ctx)
	flush := time.NewTicker(t.cfg.FlushEvery)
	defer flush.Stop()
	refresh := time.NewTicker(t.cfg.RefreshEvery)
	defer refresh.Stop()
	var last time.Time // when the last publish (or attempt) started
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			t.Flush(final)
			cancel()
			return nil
		case <-t.wake:
			// Gather what else arrives meanwhile into the same publish,
			// and keep publishes MinGap apart.
			wait := max(t.cfg.Linger, time.Until(last.Add(t.cfg.MinGap)))
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		case <-flush.C:
		case <-refresh.C:
			t.refresh(ctx)
			t.expire(t.o.Now())
		case <-t.resync:
			t.refresh(ctx)
		}
		start := time.Now()
		tried, err := t.flush(ctx)
		if err != nil && ctx.Err() == nil {
			t.o.Log.Warn("fleet: publishing sightings failed; retrying", "err", err)
		}
		if tried {
			last = start
		}
	}
}

// Flush publishes the pending sightings now, merges the aggregates the
// exchange returns, broadcasts the interesting ones and puts the fleet
// throttles they call for. Run calls it; tests may too.
func (t *Tracker) Flush(ctx context.Context) error {
	_, err := t.flush(ctx)
	return err
}

// flush is Flush, and reports whether there was anything to publish.
func (t *Tracker) flush(ctx context.Context) (tried bool, err error) {
	t.mu.Lock()
	if len(t.pending) == 0 {
		t.mu.Unlock()
		return false, nil
	}
	batch := t.pending
	t.pending = make(map[sightingKey]*counts, len(batch))
	t.mu.Unlock()

	sightings := make([]screening.Sighting, 0, len(batch))
	failed := make(map[string]int)
	for k, c := range batch {
		sightings = append(sightings, screening.Sighting{
			Number: k.number, Tenant: k.tenant, Server: t.cfg.Server,
			Minute: time.Unix(k.minute, 0).UTC(), Calls: c.calls, Failed: c.failed,
		})
		if c.failed > 0 {
			failed[k.number] += c.failed
		}
	}
	aggs, err := t.o.Exchange.PublishSightings(ctx, sightings, t.cfg.Window)
	if err != nil {
		t.failures.Add(1)
		t.requeue(batch)
		return true, fmt.Errorf("fleet: publish %d sightings: %w", len(sightings), err)
	}
	t.published.Add(1)
	t.lastPublish.Store(time.Now().UnixNano())

	var throttles []screening.SweepAggregate
	interesting := aggs[:0:0]
	t.mu.Lock()
	for n, f := range failed {
		if v := t.numbers[n]; v != nil {
			v.unsent = max(v.unsent-f, 0)
		}
	}
	for _, a := range aggs {
		t.mergeLocked(a)
		if a.Tenants >= MinTenants || a.Failed >= MinFailed {
			interesting = append(interesting, a)
		}
		// Publishes of one number are serialized by the exchange: the
		// one whose failures carried the count across the threshold
		// throttles.
		if th := t.cfg.ThrottleFailed; t.cfg.Throttle > 0 && th > 0 && !a.IsPrefix() && a.Failed >= th && a.Failed-failed[a.Key] < th {
			throttles = append(throttles, a)
		}
	}
	t.mu.Unlock()

	if t.o.Broadcaster != nil && len(interesting) > 0 {
		if err := t.o.Broadcaster.BroadcastSweeps(ctx, interesting); err != nil {
			t.o.Log.Warn("fleet: broadcasting aggregates failed; the others read them at their next refresh", "err", err)
		}
	}
	for _, a := range throttles {
		t.throttle(ctx, a)
	}
	return true, nil
}

// throttle puts the fleet throttle for a.
func (t *Tracker) throttle(ctx context.Context, a screening.SweepAggregate) {
	if t.o.Throttle == nil {
		return
	}
	now := t.o.Now()
	e := screening.Entry{
		Kind:    screening.Block,
		Number:  a.Key,
		Expires: now.Add(t.cfg.Throttle),
		Source:  screening.SourceFleetSweep,
		Reason:  fmt.Sprintf("failed the challenge %d times at %d businesses of the fleet in the last %s", a.Failed, a.Tenants, minutes(t.cfg.Window)),
		Created: now,
	}
	if err := t.o.Throttle(ctx, e); err != nil {
		t.o.Log.Warn("fleet: throttle not put", "number", a.Key, "err", err)
		return
	}
	t.o.Log.Info("fleet: number throttled fleet-wide", "number", a.Key, "failed", a.Failed, "tenants", a.Tenants, "until", e.Expires)
}

// requeue puts a batch that could not be published back in front of the
// sightings that arrived meanwhile.
func (t *Tracker) requeue(batch map[sightingKey]*counts) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, c := range batch {
		if p := t.pending[k]; p != nil {
			p.calls += c.calls
			p.failed += c.failed
		} else {
			t.pending[k] = c
		}
	}
}

// refresh reads every interesting aggregate.
func (t *Tracker) refresh(ctx context.Context) {
	aggs, err := t.o.Exchange.SweepAggregates(ctx, t.cfg.Window, MinTenants, MinFailed)
	if err != nil {
		if ctx.Err() == nil {
			t.o.Log.Warn("fleet: reading the fleet's aggregates failed", "err", err)
		}
		return
	}
	t.Receive(aggs)
}

// expire forgets what fell out of the window, and sightings that waited
// for the exchange longer than that.
func (t *Tracker) expire(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(now)
}

func (t *Tracker) expireLocked(now time.Time) {
	cut := now.Add(-t.cfg.Window - time.Minute)
	for _, m := range []map[string]*view{t.numbers, t.prefixes} {
		for k, v := range m {
			if !v.agg.Last.After(cut) && v.seen <= cut.Unix() && v.unsent == 0 {
				delete(m, k)
			}
		}
	}
	for k, c := range t.pending {
		if k.minute <= cut.Unix() {
			if v := t.numbers[k.number]; v != nil {
				v.unsent = max(v.unsent-c.failed, 0)
			}
			delete(t.pending, k)
		}
	}
}

// Stats is what a Tracker reports for /metrics and doctor.
type Stats struct {
	// Numbers and Prefixes are the keys tracked; Pending the sightings
	// waiting to be published (they pile up while the database is away).
	Numbers, Prefixes, Pending int
	// Published and Failed count publishes; LastPublish is when the last
	// one worked (zero: never).
	Published, Failed uint64
	LastPublish       time.Time
}

// Stats returns the tracker's counts.
func (t *Tracker) Stats() Stats {
	t.mu.RLock()
	st := Stats{Numbers: len(t.numbers), Prefixes: len(t.prefixes), Pending: len(t.pending)}
	t.mu.RUnlock()
	st.Published, st.Failed = t.published.Load(), t.failures.Load()
	if n := t.lastPublish.Load(); n != 0 {
		st.LastPublish = time.Unix(0, n)
	}
	return st
}

// Len returns how many numbers and prefixes the tracker holds.
func (t *Tracker) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.numbers) + len(t.prefixes)
}

// minutes prints a window for people: "10m", "1h", "1h30m".
func minutes(d time.Duration) string {
	s := d.Round(time.Minute).String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
