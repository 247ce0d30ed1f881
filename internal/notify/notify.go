// Package notify tells people about calls worth knowing about: a rejected
// caller, a failed challenge, a score over a threshold, and once a day a
// digest of the call log. It posts JSON to a webhook (signed with
// HMAC-SHA256) and sends mail over SMTP, both in the background: a call
// never waits for a notification. Each destination has a bounded queue
// and one worker that retries failed deliveries with exponential backoff
// and jitter; when a queue is full, notifications are dropped and counted.
//
// The payload, headers and retry policy are documented in
// docs/NOTIFICATIONS.md.
package notify

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // digest.timezone must work on hosts without tzdata

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// CallLog is what the digest reads; *store.Store satisfies it.
type CallLog interface {
	Summary(ctx context.Context, since, until time.Time) (store.Summary, error)
	Records(ctx context.Context, f store.RecordFilter) ([]screening.Record, error)
}

// Options are the parts of a Notifier that are not configuration. Zero
// values take the defaults.
type Options struct {
	// Logger receives delivery failures and drops (default slog.Default()).
	Logger *slog.Logger
	// CallLog feeds the digest; nil disables the digest.
	CallLog CallLog
	// Attempts is how many times a delivery is tried (default 5).
	Attempts int
	// MinBackoff and MaxBackoff bound the wait between attempts, which
	// doubles from MinBackoff (defaults 1s and 60s) and is jittered.
	MinBackoff, MaxBackoff time.Duration
	// HTTPClient posts the webhooks (default: one that does not follow
	// redirects; the per-request timeout is notify.webhook.timeout).
	HTTPClient *http.Client
	// UserAgent is sent with each webhook (default "callscreen").
	UserAgent string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Notifier sends notifications. It is safe for concurrent use. Create one
// with New and Close it when the calls have finished.
type Notifier struct {
	cfg   Config
	opts  Options
	log   *slog.Logger
	loc   *time.Location
	dests []*destination

	mu     sync.RWMutex // write-locked by Close, read-locked by enqueue
	closed bool
	quit   chan struct{} // closed by Close: stop the digest
	abort  context.CancelFunc
	wg     sync.WaitGroup

	sent, failed, dropped atomic.Uint64
}

// destination is one way out (the webhook, email) with its own queue and
// worker, so that a slow SMTP server does not hold up the webhook.
type destination struct {
	name string
	send func(ctx context.Context, m *message) error
	ch   chan *message

	// The rate limit's window (Config.RateLimit): call notifications
	// sent in it, and those suppressed, by caller and event.
	rmu        sync.Mutex
	windowFrom time.Time
	inWindow   int
	suppressed *Suppressed
	byCaller   map[string]int
	timer      *time.Timer
	// What happened to this destination's notifications (DestinationStats).
	sent, failed, dropped atomic.Uint64
}

// message is one notification, encoded once and retried as it is.
type message struct {
	payload Payload
	body    []byte // JSON of payload
}

// New returns a Notifier for cfg and starts its workers and, when
// configured, the digest. With no destination configured it does nothing.
func New(cfg Config, opts Options) (*Notifier, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 60 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "callscreen"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1000
	}
	loc, err := cfg.location()
	if err != nil {
		return nil, fmt.Errorf("notify.digest.timezone: %w", err)
	}
	ctx, abort := context.WithCancel(context.Background())
	n := &Notifier{cfg: cfg, opts: opts, log: opts.Logger, loc: loc, quit: make(chan struct{}), abort: abort}
	if cfg.Webhook.URL != "" {
		w := &webhook{cfg: cfg.Webhook, client: opts.HTTPClient, userAgent: opts.UserAgent}
		n.dests = append(n.dests, &destination{name: "webhook", send: w.send})
	}
	if cfg.Email.SMTP != "" {
		e := &email{cfg: cfg.Email, loc: loc, now: opts.Now}
		n.dests = append(n.dests, &destination{name: "email", send: e.send})
	}
	for _, d := range n.dests {
		d.ch = make(chan *message, cfg.QueueSize)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			for m := range d.ch {
				n.deliver(ctx, d, m)
			}
		}()
	}
	if cfg.Digest.At != "" && opts.CallLog != nil && len(n.dests) > 0 {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.digestLoop(ctx)
		}()
	}
	return n, nil
}

// Notify queues a notification for rec if it fires one of the configured
// events. It never blocks.
func (n *Notifier) Notify(rec screening.Record) {
	if n == nil || len(n.dests) == 0 {
		return
	}
	trig := n.cfg.triggers(&rec)
	if len(trig) == 0 {
		return
	}
	n.enqueue(Payload{Event: trig[0], Triggers: trig, Call: newCall(&rec)})
}

// enqueue stamps p and offers it to every destination without waiting.
// A call notification goes only to destinations within their rate limit.
func (n *Notifier) enqueue(p Payload) {
	m, ok := n.newMessage(p)
	if !ok {
		return
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, d := range n.dests {
		if p.Call != nil && !n.admit(d, p) {
			continue
		}
		n.offerLocked(d, m)
	}
}

// newMessage stamps and encodes p.
func (n *Notifier) newMessage(p Payload) (*message, bool) {
	p.Delivery = newDeliveryID()
	p.SentAt = n.opts.Now().UTC()
	body, err := json.Marshal(p)
	if err != nil { // cannot happen for these types
		n.log.Error("encoding notification", "err", err)
		return nil, false
	}
	return &message{payload: p, body: body}, true
}

// offerLocked queues m for d without waiting; n.mu is held.
func (n *Notifier) offerLocked(d *destination, m *message) {
	if n.closed {
		n.drop(d, m, "notifier closed")
		return
	}
	select {
	case d.ch <- m:
	default:
		n.drop(d, m, "queue full")
	}
}

// maxSuppressedCallers caps the callers a "suppressed" summary lists.
const maxSuppressedCallers = 10

// admit reports whether d may get the call notification p under the rate
// limit, and counts it as suppressed if not. n.mu is read-locked.
func (n *Notifier) admit(d *destination, p Payload) bool {
	limit, window := n.cfg.RateLimit, n.cfg.RateWindow
	if limit <= 0 {
		return true
	}
	now := n.opts.Now()
	d.rmu.Lock()
	defer d.rmu.Unlock()
	if d.windowFrom.IsZero() || now.Sub(d.windowFrom) >= window {
		n.flushLocked(d, now)
		d.windowFrom, d.inWindow = now, 0
	}
	if d.inWindow < limit {
		d.inWindow++
		return true
	}
	if d.suppressed == nil {
		d.suppressed = &Suppressed{Since: now, Events: map[string]int{}}
		d.byCaller = map[string]int{}
		end := d.windowFrom.Add(window)
		d.timer = time.AfterFunc(max(end.Sub(now), 0), func() { n.flushDue(d) })
	}
	d.suppressed.Count++
	d.suppressed.Events[p.Event]++
	if c := p.Call.Caller; c != "" && (len(d.byCaller) < 1000 || d.byCaller[c] > 0) {
		d.byCaller[c]++
	}
	return false
}

// flushDue sends d's summary when its window has ended (the window's
// timer).
func (n *Notifier) flushDue(d *destination) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	now := n.opts.Now()
	d.rmu.Lock()
	defer d.rmu.Unlock()
	if d.suppressed != nil && now.Sub(d.windowFrom) >= n.cfg.RateWindow {
		n.flushLocked(d, now)
	}
}

// flushLocked queues d's "suppressed" summary, if any; n.mu and d.rmu are
// held.
func (n *Notifier) flushLocked(d *destination, now time.Time) {
	s := d.suppressed
	if s == nil {
		return
	}
	d.suppressed = nil
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	s.Until = now
	s.Callers = []Count{}
	for c, k := range d.byCaller {
		s.Callers = append(s.Callers, Count{Name: c, Calls: k})
	}
	d.byCaller = nil
	slices.SortFunc(s.Callers, func(a, b Count) int {
		if a.Calls != b.Calls {
			return b.Calls - a.Calls
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(s.Callers) > maxSuppressedCallers {
		s.Callers = s.Callers[:maxSuppressedCallers]
	}
	n.log.Warn("notifications suppressed by notify.rate_limit", "destination", d.name, "count", s.Count, "since", s.Since)
	if m, ok := n.newMessage(Payload{Event: EventSuppressed, Suppressed: s}); ok {
		n.offerLocked(d, m)
	}
}

func (n *Notifier) drop(d *destination, m *message, why string) {
	n.dropped.Add(1)
	d.dropped.Add(1)
	args := []any{"destination", d.name, "event", m.payload.Event, "delivery", m.payload.Delivery, "why", why}
	if c := m.payload.Call; c != nil {
		args = append(args, "call", c.CallID, "caller", c.Caller)
	}
	n.log.Warn("notification dropped", args...)
}

// deliver tries m until it is delivered, fails permanently, runs out of
// attempts or ctx is cancelled.
func (n *Notifier) deliver(ctx context.Context, d *destination, m *message) {
	log := n.log.With("destination", d.name, "event", m.payload.Event, "delivery", m.payload.Delivery)
	if c := m.payload.Call; c != nil {
		log = log.With("call", c.CallID, "caller", c.Caller)
	}
	for attempt := 1; ; attempt++ {
		err := d.send(ctx, m)
		if err == nil {
			n.sent.Add(1)
			d.sent.Add(1)
			log.Debug("notification delivered", "attempt", attempt)
			return
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= n.opts.Attempts || ctx.Err() != nil {
			n.failed.Add(1)
			d.failed.Add(1)
			log.Error("notification not delivered; giving up", "attempt", attempt, "permanent", perm != nil, "err", err)
			return
		}
		wait := n.backoff(attempt)
		var ra *retryAfterError
		if errors.As(err, &ra) && ra.after > wait {
			wait = min(ra.after, n.opts.MaxBackoff)
		}
		log.Warn("notification failed; will retry", "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			n.failed.Add(1)
			d.failed.Add(1)
			log.Error("notification not delivered; shutting down", "attempt", attempt, "err", err)
			return
		}
	}
}

// backoff is the wait after the given failed attempt: MinBackoff doubled
// per attempt, capped at MaxBackoff, then jittered to 50-100% of that.
func (n *Notifier) backoff(attempt int) time.Duration {
	d := n.opts.MinBackoff
	for i := 1; i < attempt && d < n.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, n.opts.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// Close stops accepting notifications and waits until the queued ones are
// delivered or ctx ends; then the rest are abandoned (and counted as
// failed).
func (n *Notifier) Close(ctx context.Context) error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	// The counts of a window still open are sent before the queues close.
	for _, d := range n.dests {
		d.rmu.Lock()
		n.flushLocked(d, n.opts.Now())
		d.rmu.Unlock()
	}
	n.closed = true
	close(n.quit)
	for _, d := range n.dests {
		close(d.ch)
	}
	n.mu.Unlock()
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
		n.abort()
		return nil
	case <-ctx.Done():
		n.abort()
		<-done
		return fmt.Errorf("notify: undelivered notifications abandoned: %w", ctx.Err())
	}
}

// Sent, Failed and Dropped count deliveries (per destination): delivered,
// given up after retries, and dropped because a queue was full.
func (n *Notifier) Sent() uint64    { return n.sent.Load() }
func (n *Notifier) Failed() uint64  { return n.failed.Load() }
func (n *Notifier) Dropped() uint64 { return n.dropped.Load() }

// DestinationStats are one destination's delivery counters.
type DestinationStats struct {
	Name                  string // webhook, email
	Sent, Failed, Dropped uint64
}

// Destinations returns the counters of each configured destination.
func (n *Notifier) Destinations() []DestinationStats {
	out := make([]DestinationStats, 0, len(n.dests))
	for _, d := range n.dests {
		out = append(out, DestinationStats{Name: d.name, Sent: d.sent.Load(), Failed: d.failed.Load(), Dropped: d.dropped.Load()})
	}
	return out
}

// ---- digest -------------------------------------------------------------------

func (n *Notifier) digestLoop(ctx context.Context) {
	hour, minute, _ := parseClock(n.cfg.Digest.At) // validated
	for {
		now := n.opts.Now()
		next := nextAt(now, hour, minute, n.loc)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-n.quit:
			t.Stop()
			return
		case <-t.C:
		}
		since := time.Date(next.Year(), next.Month(), next.Day()-1, hour, minute, 0, 0, n.loc)
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		d, err := n.buildDigest(dctx, since, next)
		cancel()
		if err != nil {
			n.log.Error("daily digest not sent", "err", err)
			continue
		}
		n.enqueue(Payload{Event: EventDigest, Digest: d})
	}
}

// nextAt is the first hour:minute in loc strictly after now.
func nextAt(now time.Time, hour, minute int, loc *time.Location) time.Time {
	l := now.In(loc)
	t := time.Date(l.Year(), l.Month(), l.Day(), hour, minute, 0, 0, loc)
	if !t.After(now) {
		t = time.Date(l.Year(), l.Month(), l.Day()+1, hour, minute, 0, 0, loc)
	}
	return t
}

// maxRejected caps the callers listed in a digest.
const maxRejected = 50

func (n *Notifier) buildDigest(ctx context.Context, since, until time.Time) (*Digest, error) {
	sum, err := n.opts.CallLog.Summary(ctx, since, until)
	if err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	d := &Digest{
		Since: since, Until: until, Timezone: n.loc.String(), Calls: sum.Calls,
		Actions: map[string]int{}, Outcomes: map[string]int{},
		TopIndicators: []Count{}, Rejected: []Count{},
	}
	for a, c := range sum.ByAction {
		d.Actions[string(a)] = c
	}
	for o, c := range sum.ByOutcome {
		d.Outcomes[string(o)] = c
	}
	for i, ic := range sum.Indicators {
		if i == 10 {
			break
		}
		d.TopIndicators = append(d.TopIndicators, Count{Name: ic.Name, Calls: ic.Calls})
	}
	seen := map[string]bool{}
	byCaller := map[string]int{}
	for _, f := range []store.RecordFilter{
		{Action: screening.Reject, Since: since, Until: until, Limit: 1000},
		{Action: screening.Drop, Since: since, Until: until, Limit: 1000},
		{Outcome: screening.OutcomeRejected, Since: since, Until: until, Limit: 1000},
	} {
		recs, err := n.opts.CallLog.Records(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("digest: %w", err)
		}
		for _, r := range recs {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			c := r.Verdict.Caller
			if c == "" {
				c = r.Facts.Number
			}
			byCaller[c]++
		}
	}
	for c, k := range byCaller {
		d.Rejected = append(d.Rejected, Count{Name: c, Calls: k})
	}
	slices.SortFunc(d.Rejected, func(a, b Count) int {
		if a.Calls != b.Calls {
			return b.Calls - a.Calls
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(d.Rejected) > maxRejected {
		d.Rejected = d.Rejected[:maxRejected]
	}
	return d, nil
}

// ---- errors -------------------------------------------------------------------

// permanentError is a failure that retrying cannot fix (a 4xx answer, a
// refused address).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// retryAfterError carries the receiver's Retry-After.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

func newDeliveryID() string {
	var b [12]byte
	_, _ = cryptorand.Read(b[:])
	return hex.EncodeToString(b[:])
}
