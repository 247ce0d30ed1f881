package screening

import (
	"fmt"
	"slices"
	"time"
)

// IndicatorFleetSweep is the name of the indicator of a number sweeping
// the fleet: calling many of the businesses that share a database, or
// failing the challenge at several, within minutes.
const IndicatorFleetSweep = "fleet-sweep"

// SweepPrefixCut is how many trailing digits are dropped from a number to
// form the prefix a sweep is also counted for: robodialers rotate the
// last digits of the numbers they present.
const SweepPrefixCut = 3

// SweepPrefix returns the prefix the sweep counts of e164 are kept for:
// the number less its last SweepPrefixCut digits, or "" when the number
// is too short to have one. It does not allocate.
func SweepPrefix(e164 string) string {
	if len(e164) < SweepPrefixCut+5 || e164[0] != '+' {
		return ""
	}
	return e164[:len(e164)-SweepPrefixCut]
}

// SweepCounts are the fleet-wide counts for a caller's number and its
// prefix (SweepPrefix) within the window, as the servers of a fleet
// exchange them. Tenants counts the other tenants called: the one the
// current call is for is not among them.
type SweepCounts struct {
	// Window is how far back the counts reach.
	Window time.Duration `json:"window"`
	// Tenants is how many distinct other tenants the number called and
	// Failed how many challenges it failed across the fleet (at this
	// tenant too).
	Tenants int `json:"tenants"`
	Failed  int `json:"failed"`
	// PrefixTenants and PrefixFailed count the same for every number of
	// the caller's prefix.
	PrefixTenants int `json:"prefix_tenants"`
	PrefixFailed  int `json:"prefix_failed"`
}

// SweepSource reads the fleet's sweep counts for a number. The engine
// calls Lookup on every call from a presented number, so it must answer
// from memory, at once (internal/fleet's Tracker does).
type SweepSource interface {
	Lookup(e164 string, now time.Time) SweepCounts
}

// SweepPolicy is a profile's judgement of fleet sweeps (fleet mode): when
// the fleet-sweep indicator fires. Zero disables a threshold.
type SweepPolicy struct {
	// Tenants: the number has now called this many distinct tenants,
	// this one included.
	Tenants int `mapstructure:"tenants" json:"tenants"`
	// Failed: the number failed the challenge this many times across the
	// fleet.
	Failed int `mapstructure:"failed" json:"failed"`
	// PrefixTenants: numbers of the caller's prefix have now called this
	// many distinct tenants, this one included.
	PrefixTenants int `mapstructure:"prefix_tenants" json:"prefix_tenants"`
	// Throttle, when set, blocks a number fleet-wide for this long once
	// it has failed the challenge Failed times across the fleet (a block
	// entry for every tenant, source fleet-sweep, that expires); 0 leaves
	// it to the indicator.
	Throttle time.Duration `mapstructure:"throttle" json:"throttle"`
}

// DefaultSweepPolicy fires at the third business within the window, at
// the second failed challenge, or at the sixth business called from one
// prefix, and throttles nothing.
func DefaultSweepPolicy() SweepPolicy {
	return SweepPolicy{Tenants: 3, Failed: 2, PrefixTenants: 6}
}

// Validate checks the sweep policy of profile name.
func (s SweepPolicy) validate(key func(string) string) error {
	switch {
	case s.Tenants < 0 || s.Failed < 0 || s.PrefixTenants < 0:
		return fmt.Errorf("%s: tenants, failed and prefix_tenants must not be negative", key("sweep"))
	case s.Tenants == 1 || s.PrefixTenants == 1:
		return fmt.Errorf("%s: a tenants threshold of 1 fires on every call; use 2 or more, or 0 to disable", key("sweep"))
	case s.Throttle < 0:
		return fmt.Errorf("%s.throttle: %v is negative", key("sweep"), s.Throttle)
	case s.Throttle > 0 && s.Throttle < time.Minute:
		return fmt.Errorf("%s.throttle: %v is shorter than a minute", key("sweep"), s.Throttle)
	case s.Throttle > 0 && s.Failed == 0:
		return fmt.Errorf("%s.throttle: throttles follow failed challenges; set sweep.failed too", key("sweep"))
	}
	return nil
}

// checkFleetSweep fires when the caller's number, or its prefix, swept the
// fleet within the window (see SweepPolicy). It never fires on a number on
// the allow list the call is screened with: the tenant's customers stay
// its customers whatever else they call.
func checkFleetSweep(c *Call) (string, bool) {
	n := c.Caller.E164
	if n == "" || c.Presence != Presented || c.Profile == nil {
		return "", false
	}
	p, s := c.Profile.Sweep, c.Sweep
	within := sweepWindowText(s.Window)
	tenants, prefixTenants := s.Tenants+1, s.PrefixTenants+1
	manyTenants := p.Tenants > 0 && tenants >= p.Tenants
	failed := p.Failed > 0 && s.Failed >= p.Failed
	prefix := p.PrefixTenants > 0 && prefixTenants >= p.PrefixTenants
	if !manyTenants && !failed && !prefix {
		return "", false
	}
	if _, allowed := c.Lists.Lookup(Allow, n, c.Now); allowed {
		return "", false
	}
	switch {
	case manyTenants && failed:
		return fmt.Sprintf("%s called %d businesses %s; failed the challenge %s", n, tenants, within, times(s.Failed)), true
	case manyTenants:
		return fmt.Sprintf("%s called %d businesses %s", n, tenants, within), true
	case failed && s.Tenants > 0:
		return fmt.Sprintf("%s failed the challenge %s %s, calling %d businesses", n, times(s.Failed), within, tenants), true
	case failed:
		return fmt.Sprintf("%s failed the challenge %s %s", n, times(s.Failed), within), true
	}
	e := fmt.Sprintf("numbers sharing the prefix of %s called %d businesses %s", n, prefixTenants, within)
	if s.PrefixFailed > 0 {
		e += "; failed the challenge " + times(s.PrefixFailed)
	}
	return e, true
}

// times says how often: "once", "3 times".
func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

func sweepWindowText(w time.Duration) string {
	if w <= 0 {
		return "across the fleet"
	}
	return "in the last " + shortDuration(w)
}

// Sighting is one server's count of the calls from one number to one
// tenant within one minute (fleet mode): what a server tells the fleet.
type Sighting struct {
	Number string `json:"number"`
	Tenant string `json:"tenant"`
	Server string `json:"server"`
	// Minute is the minute the calls began in, in UTC, truncated.
	Minute time.Time `json:"minute"`
	Calls  int       `json:"calls"`
	Failed int       `json:"failed"`
}

// SweepAggregate is the fleet's count for one number or one prefix over a
// window: what the fleet tells a server. Servers exchange these, not
// single calls.
type SweepAggregate struct {
	// Key is an E.164 number, or a prefix (SweepPrefix) followed by '*'.
	Key string `json:"k"`
	// Tenants is how many distinct tenants it called; Names are they,
	// sorted, when there are at most MaxSweepNames (so that a server can
	// leave its own out of the count), else nil.
	Tenants int      `json:"t"`
	Names   []string `json:"n,omitempty"`
	Calls   int      `json:"c"`
	Failed  int      `json:"f"`
	// Last is the newest minute counted: the counts hold until a window
	// after it.
	Last time.Time `json:"l"`
}

// MaxSweepNames is how many tenants a SweepAggregate names. Above it the
// counts are far past any threshold and a server's own tenant is assumed
// to be among them.
const MaxSweepNames = 16

// IsPrefix reports whether the aggregate counts a prefix.
func (a SweepAggregate) IsPrefix() bool { return len(a.Key) > 0 && a.Key[len(a.Key)-1] == '*' }

// TenantCount is one tenant's share of a number's or a prefix's calls in
// a window, as a store sums its sightings.
type TenantCount struct {
	Tenant string
	Calls  int
	Failed int
	Last   time.Time
}

// SummarizeSweep makes the aggregate of key from its tenants' counts.
func SummarizeSweep(key string, rows []TenantCount) SweepAggregate {
	a := SweepAggregate{Key: key}
	names := make([]string, 0, min(len(rows), MaxSweepNames))
	for _, r := range rows {
		a.Calls += r.Calls
		a.Failed += r.Failed
		if r.Last.After(a.Last) {
			a.Last = r.Last
		}
		if !slices.Contains(names, r.Tenant) {
			a.Tenants++
			if len(names) < MaxSweepNames+1 {
				names = append(names, r.Tenant)
			}
		}
	}
	if a.Tenants <= MaxSweepNames {
		slices.Sort(names)
		a.Names = names
	}
	return a
}

// Merge folds b, a later or concurrent count of the same key, into a:
// counts within a window only grow until they expire, so the larger of
// two counts is the newer, and the named tenants are the union.
func (a SweepAggregate) Merge(b SweepAggregate) SweepAggregate {
	out := SweepAggregate{
		Key:     a.Key,
		Tenants: max(a.Tenants, b.Tenants),
		Calls:   max(a.Calls, b.Calls),
		Failed:  max(a.Failed, b.Failed),
		Last:    a.Last,
	}
	if b.Last.After(out.Last) {
		out.Last = b.Last
	}
	if a.Names != nil && b.Names != nil {
		names := append(slices.Clone(a.Names), b.Names...)
		slices.Sort(names)
		names = slices.Compact(names)
		out.Tenants = max(out.Tenants, len(names))
		if len(names) <= MaxSweepNames {
			out.Names = names
		}
	}
	return out
}

// OthersThan returns how many of the aggregate's tenants are not tenant.
func (a SweepAggregate) OthersThan(tenant string) int {
	if a.Names == nil {
		return max(a.Tenants-1, 0)
	}
	n := a.Tenants
	if slices.Contains(a.Names, tenant) {
		n--
	}
	return n
}
