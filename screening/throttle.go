package screening

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// SourceChallengeFailures marks a block entry that throttles a number
// which failed the challenge repeatedly, or redialled fast after failing
// it. SourceVelocity marks one that throttles a number for calling too
// often.
const SourceChallengeFailures = "challenge-failures"

// ThrottleConfig configures automatic throttles: expiring block entries
// that send a number's calls to its profile's throttled action (voicemail
// by default) without another challenge.
type ThrottleConfig struct {
	// Failures is how many failed challenges within Window throttle a
	// number; 0 disables.
	Failures int `mapstructure:"failures" json:"failures"`
	// Window is how long a failed challenge counts.
	Window time.Duration `mapstructure:"window" json:"window"`
	// Retries is how many calls within a minute, counted from a failed
	// challenge on, throttle a number (robodialers redial at once); 0
	// disables.
	Retries int `mapstructure:"retries" json:"retries"`
	// Cooldown is how long a throttle for failed challenges lasts.
	Cooldown time.Duration `mapstructure:"cooldown" json:"cooldown"`
	// Velocity is how many calls from one number within velocity.window
	// throttle it; 0 disables.
	Velocity int `mapstructure:"velocity" json:"velocity"`
	// VelocityCooldown is how long a throttle for velocity lasts.
	VelocityCooldown time.Duration `mapstructure:"velocity_cooldown" json:"velocity_cooldown"`
	// MaxTracked bounds the numbers whose failures are remembered.
	MaxTracked int `mapstructure:"max_tracked" json:"max_tracked"`
}

// DefaultThrottleConfig throttles for 10 minutes after 3 failed challenges
// in 10 minutes or 4 calls in a minute after a failure, and for an hour
// after 6 calls within the velocity window.
func DefaultThrottleConfig() ThrottleConfig {
	return ThrottleConfig{
		Failures: 3, Window: 10 * time.Minute, Retries: 4, Cooldown: 10 * time.Minute,
		Velocity: 6, VelocityCooldown: time.Hour, MaxTracked: 10000,
	}
}

// Validate checks the configuration.
func (c ThrottleConfig) Validate() error {
	switch {
	case c.Failures < 0 || c.Retries < 0 || c.Velocity < 0:
		return fmt.Errorf("throttle: failures, retries and velocity must not be negative")
	case (c.Failures > 0 || c.Retries > 0) && c.Window < time.Minute:
		return fmt.Errorf("throttle.window: %v is shorter than a minute", c.Window)
	case (c.Failures > 0 || c.Retries > 0) && c.Cooldown < time.Minute:
		return fmt.Errorf("throttle.cooldown: %v is shorter than a minute", c.Cooldown)
	case c.Velocity > 0 && c.VelocityCooldown < time.Minute:
		return fmt.Errorf("throttle.velocity_cooldown: %v is shorter than a minute", c.VelocityCooldown)
	case c.Retries == 1:
		return fmt.Errorf("throttle.retries: 1 would throttle on the failed call itself; use 2 or more, or 0 to disable")
	case c.MaxTracked < 1 || c.MaxTracked > 10_000_000:
		return fmt.Errorf("throttle.max_tracked: %d is outside 1..10000000", c.MaxTracked)
	}
	return nil
}

// IsThrottle reports whether e is an automatic throttle rather than an
// operator's block.
func IsThrottle(e Entry) bool {
	return e.Kind == Block && (e.Source == SourceChallengeFailures || e.Source == SourceVelocity || e.Source == SourceFleetSweep)
}

// throttleOf returns the throttle in force for the caller: an active
// throttle entry on the block list, or a fresh one when the caller has
// just reached the velocity limit (fresh is then set: the front end is to
// persist it).
func throttleOf(c *Call) (e Entry, fresh, ok bool) {
	n := c.Caller.E164
	if n == "" || c.Presence != Presented {
		return Entry{}, false, false
	}
	if e, ok := c.Lists.Lookup(Block, n, c.Now); ok && IsThrottle(e) {
		return e, false, true
	}
	t := c.Throttle
	if t.Velocity <= 0 || c.Velocity.Number < t.Velocity {
		return Entry{}, false, false
	}
	return Entry{
		Kind:    Block,
		Number:  n,
		Expires: c.Now.Add(t.VelocityCooldown),
		Source:  SourceVelocity,
		Reason:  fmt.Sprintf("called %d times %s (limit %d)", c.Velocity.Number, windowText(c.Velocity), t.Velocity),
		Created: c.Now,
	}, true, true
}

// checkThrottled fires when the caller is throttled: see throttleOf.
func checkThrottled(c *Call) (string, bool) {
	e, _, ok := throttleOf(c)
	if !ok {
		return "", false
	}
	return throttleText(e), true
}

// verstatPassedA is the carrier's verstat for a number verified with
// attestation A.
const verstatPassedA = "TN-Validation-Passed-A"

// vouched reports whether the caller's number is vouched for: a STIR/SHAKEN
// identity with attestation A (the signing carrier knows the caller and
// that they may use the number) that Asterisk verified, or that a trusted
// trunk reports as verified (verstat TN-Validation-Passed-A). Only then
// is a throttle keyed on the number sure to hit whoever earned it.
func vouched(c *Call) bool {
	if _, failed := stirFailure(c); failed {
		return false
	}
	if c.Facts != nil {
		for _, r := range c.Facts.Stir {
			v := strings.ToLower(strings.TrimSpace(r.VerifyResult))
			if strings.EqualFold(strings.TrimSpace(r.Attestation), "A") && v != "" && containsString(stirPassed, v) {
				return true
			}
		}
	}
	return c.Trusted && strings.EqualFold(VerstatOf(c.PAI, c.From), verstatPassedA)
}

// throttleText is the evidence of a throttle: "failed the challenge 3
// times in 2m; throttled until 15:04".
func throttleText(e Entry) string {
	s := e.Reason
	if s == "" {
		s = "throttled by " + e.Source
	}
	if !e.Expires.IsZero() {
		s += "; throttled until " + e.Expires.Format("15:04")
	}
	return s
}

// Throttler watches finished calls for numbers that fail the challenge
// repeatedly, or redial fast after failing it, and returns the throttle
// entry to put on the block list. Its memory is bounded by MaxTracked
// numbers, and only numbers that failed a challenge within the window are
// tracked. It is safe for concurrent use.
type Throttler struct {
	cfg ThrottleConfig

	mu sync.Mutex
	m  map[string]*offender
}

// offender is what a Throttler remembers of one number.
type offender struct {
	failures []time.Time // failed challenges within the window
	calls    []time.Time // calls within the last minute since the first failure
	last     time.Time
}

// retryWindow is the window Retries counts calls in.
const retryWindow = time.Minute

// NewThrottler returns a Throttler for cfg, which must be valid.
func NewThrottler(cfg ThrottleConfig) *Throttler {
	return &Throttler{cfg: cfg, m: make(map[string]*offender)}
}

// Observe takes one finished call. When it makes the caller a throttled
// number it returns the block entry to persist (Source
// SourceChallengeFailures, expiring after Cooldown) and forgets the
// number.
func (t *Throttler) Observe(r *Record) (Entry, bool) {
	if t == nil || (t.cfg.Failures <= 0 && t.cfg.Retries <= 0) || !throttleable(r) {
		return Entry{}, false
	}
	num := r.Verdict.Caller
	at := r.Time
	failed := r.Outcome == OutcomeChallengeFailed

	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.m[num]
	if o == nil {
		if !failed {
			return Entry{}, false
		}
		if len(t.m) >= t.cfg.MaxTracked {
			t.sweep(at)
			if len(t.m) >= t.cfg.MaxTracked {
				return Entry{}, false
			}
		}
		o = &offender{}
		t.m[num] = o
	}
	o.failures = since(o.failures, at.Add(-t.cfg.Window))
	o.calls = since(o.calls, at.Add(-retryWindow))
	if failed {
		o.failures = append(o.failures, at)
	}
	if len(o.failures) == 0 {
		delete(t.m, num)
		return Entry{}, false
	}
	o.calls = append(o.calls, at)
	o.last = at

	var reason string
	switch {
	case t.cfg.Failures > 0 && len(o.failures) >= t.cfg.Failures:
		reason = fmt.Sprintf("failed the challenge %d times in %s", len(o.failures), shortDuration(at.Sub(o.failures[0])))
	case t.cfg.Retries > 0 && len(o.calls) >= t.cfg.Retries:
		reason = fmt.Sprintf("called %d times in %s after failing the challenge", len(o.calls), shortDuration(at.Sub(o.calls[0])))
	default:
		return Entry{}, false
	}
	delete(t.m, num)
	end := at.Add(r.Handling)
	return Entry{
		Kind:    Block,
		Number:  num,
		Expires: end.Add(t.cfg.Cooldown),
		Source:  SourceChallengeFailures,
		Reason:  reason,
		Created: end,
	}, true
}

// Len returns the number of numbers tracked.
func (t *Throttler) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// throttleable reports whether a finished call counts towards a throttle:
// a screened (not checked) call from a presented E.164 number that no
// allow entry or throttle already covers.
func throttleable(r *Record) bool {
	v := &r.Verdict
	if r.Mode == ModeCheck || v.Monitor || v.Presence != Presented || v.Override != "" {
		return false
	}
	if ValidateEntryNumber(v.Caller) != nil {
		return false
	}
	for _, f := range v.Findings {
		if f.Indicator == IndicatorThrottled {
			return false
		}
	}
	return true
}

// sweep forgets numbers without a failure in the window.
func (t *Throttler) sweep(now time.Time) {
	for k, o := range t.m {
		if now.Sub(o.last) > t.cfg.Window {
			delete(t.m, k)
		}
	}
}

// since drops the times before cut; times are in order.
func since(ts []time.Time, cut time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(cut) {
		i++
	}
	return append(ts[:0], ts[i:]...)
}

// shortDuration prints d for people: "45s", "2m", "1h30m".
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute)/time.Minute))
	}
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if m == 0 {
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}
