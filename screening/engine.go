package screening

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Policy is the engine's whole configuration.
type Policy struct {
	// Profiles by name; Default names the one used when neither the
	// dialplan nor the DID picks one.
	Profiles map[string]*Profile
	Default  string
	// DIDs maps a called number (as Asterisk presents it) to a profile.
	DIDs map[string]string
	// Trunks by PJSIP endpoint name.
	Trunks map[string]*Trunk
	// ScannerAgents adds User-Agent fragments to the built-in scanner list.
	ScannerAgents []string
	// Throttle configures automatic throttles (see ThrottleConfig).
	Throttle ThrottleConfig
	// CallbackWindow is how long a number the business dialled may call
	// back unscreened (ExpectCallback); 0 disables expected callbacks.
	CallbackWindow time.Duration
	// EmergencyWindow is how long after an outbound call to an emergency
	// number every inbound call of its profile rings unscreened
	// (EmergencyCallback); 0 disables it.
	EmergencyWindow time.Duration
	// Fleet holds the fleet's sweep counts (fleet mode: internal/fleet's
	// Tracker); nil outside a fleet.
	Fleet SweepSource
}

// Engine evaluates calls. It is safe for concurrent use; the only state it
// changes is the velocity tracker's.
type Engine struct {
	policy     Policy
	numbers    *Numbering
	lists      *Lists
	velocity   *Velocity
	indicators []Indicator
	profiles   map[string]*profileState
	emergency  emergencyCalls
}

// profileState is a profile with what the engine derives from it once.
type profileState struct {
	*Profile
	own     []Number
	weights []int     // aligned with Engine.indicators
	hours   *schedule // nil: always open
}

// NewEngine validates the policy and returns an engine reading lists and
// counting velocity in v. numbers classifies numbers; it is warmed for
// every profile's country.
func NewEngine(p Policy, lists *Lists, numbers *Numbering, v *Velocity) (*Engine, error) {
	if len(p.Profiles) == 0 {
		return nil, errors.New("profiles: at least one profile is required")
	}
	if _, ok := p.Profiles[p.Default]; !ok {
		return nil, fmt.Errorf("default_profile: %q is not a configured profile", p.Default)
	}
	e := &Engine{
		policy:     p,
		numbers:    numbers,
		lists:      lists,
		velocity:   v,
		indicators: DefaultIndicators(p.ScannerAgents),
		profiles:   make(map[string]*profileState, len(p.Profiles)),
	}
	known := make(map[string]bool, len(e.indicators))
	for _, ind := range e.indicators {
		known[ind.Name] = true
	}
	var errs []error
	for did, name := range p.DIDs {
		if _, ok := p.Profiles[name]; !ok {
			errs = append(errs, fmt.Errorf("dids.%s: %q is not a configured profile", did, name))
		}
	}
	for name, t := range p.Trunks {
		t.Name = name
		if err := t.Prepare(); err != nil {
			errs = append(errs, err)
		}
	}
	for name, prof := range p.Profiles {
		prof.Name = name
		if err := prof.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		numbers.Warm(prof.Country)
		st := &profileState{Profile: prof, weights: make([]int, len(e.indicators))}
		if !prof.Hours.IsZero() {
			st.hours, _ = prof.Hours.parse("profiles." + name + ".hours") // Validate checked it
			if _, ok := p.Profiles[prof.Hours.ClosedProfile]; !ok {
				errs = append(errs, fmt.Errorf("profiles.%s.hours.closed_profile: %q is not a configured profile", name, prof.Hours.ClosedProfile))
			}
		}
		for i, ind := range e.indicators {
			st.weights[i] = ind.Weight
			if w, ok := prof.Weights[ind.Name]; ok {
				st.weights[i] = w
			}
		}
		for k := range prof.Weights {
			if !known[k] {
				errs = append(errs, fmt.Errorf("profiles.%s.weights.%s: no such indicator", name, k))
			}
		}
		for _, n := range prof.OwnNumbers {
			num := numbers.Classify(n, prof.Country)
			if num.E164 == "" {
				errs = append(errs, fmt.Errorf("profiles.%s.own_numbers: %q is not a telephone number", name, n))
				continue
			}
			st.own = append(st.own, num)
		}
		e.profiles[name] = st
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return e, nil
}

// Indicators returns the engine's indicators, in evaluation order.
func (e *Engine) Indicators() []Indicator { return e.indicators }

// ProfileFor returns the profile a call to did gets when the dialplan asks
// for requested ("" for none): requested if configured, else the DID's,
// else the default.
func (e *Engine) ProfileFor(requested, did string) *Profile {
	return e.profileFor(requested, did).Profile
}

// ProfileAt returns the profile a call to did at t gets: ProfileFor's,
// or its hours' closed_profile when t is outside them. closed explains
// the latter ("" when open).
func (e *Engine) ProfileAt(requested, did string, t time.Time) (p *Profile, closed string) {
	st, closed := e.profileAt(requested, did, t)
	return st.Profile, closed
}

// profileAt applies the chosen profile's opening hours, once: a closed
// profile's own hours are not followed further.
func (e *Engine) profileAt(requested, did string, t time.Time) (*profileState, string) {
	p := e.profileFor(requested, did)
	if p.hours == nil || p.hours.open(t) {
		return p, ""
	}
	c, ok := e.profiles[p.Hours.ClosedProfile]
	if !ok {
		return p, ""
	}
	return c, p.hours.closedText(p.Name, t)
}

func (e *Engine) profileFor(requested, did string) *profileState {
	if p, ok := e.profiles[requested]; ok {
		return p
	}
	if name, ok := e.policy.DIDs[did]; ok {
		return e.profiles[name]
	}
	return e.profiles[e.policy.Default]
}

// Evaluate decides what to do with a call. profile is the profile the
// dialplan asked for, "" to choose by DID. The same facts, lists and
// velocity state give the same verdict.
func (e *Engine) Evaluate(f *Facts, profile string) Verdict {
	now := f.Time
	if now.IsZero() {
		now = time.Now()
	}
	base := e.profileFor(profile, f.Called)
	p, closed := e.profileAt(profile, f.Called, now)
	c := Call{
		Facts:    f,
		Now:      now,
		Profile:  p.Profile,
		Own:      p.own,
		Lists:    e.lists,
		Throttle: e.policy.Throttle,
	}
	if t, ok := e.policy.Trunks[f.Trunk]; ok {
		c.Trunk = t
		c.Trusted = t.Trusted && t.FromAddress(f.Source)
	}
	presenceWhy := c.derive(e.numbers)
	if c.Presence == Presented && c.Caller.E164 != "" && e.velocity != nil {
		c.Velocity = e.velocity.Observe(now, c.Caller.E164)
	}
	if c.Presence == Presented && c.Caller.E164 != "" && e.policy.Fleet != nil {
		c.Sweep = e.policy.Fleet.Lookup(c.Caller.E164, now)
	}

	v := Verdict{
		CallID:     f.ID,
		Profile:    p.Name,
		Presence:   c.Presence,
		Caller:     c.Caller.E164,
		CallerType: string(c.Caller.Type),
		Monitor:    p.Monitor,
		Closed:     closed,
	}
	// Without a number only scanner signals can be judged.
	numbered := c.Presence == Presented || c.Presence == Garbage
	if v.Caller == "" && numbered {
		// A withheld number stays out of the verdict (and so out of the
		// log's caller column and notifications): the network asked for it
		// not to be shown. The raw facts keep it for abuse reports.
		v.Caller = f.Number
	}

	scanner, throttled := false, false
	for i, ind := range e.indicators {
		w := p.weights[i]
		if w == 0 || (!numbered && !ind.Scanner) {
			continue
		}
		evidence, hit := ind.Check(&c)
		if !hit {
			continue
		}
		v.Findings = append(v.Findings, Finding{Indicator: ind.Name, Weight: w, Evidence: evidence})
		v.Score += w
		scanner = scanner || ind.Scanner
		throttled = throttled || ind.Name == IndicatorThrottled
	}

	emergency, emergencyOpen := e.emergency.active(base.Name, now)

	var allow Entry
	allowed := false
	if numbered && c.Caller.E164 != "" {
		allow, allowed = e.lists.Lookup(Allow, c.Caller.E164, now)
	}

	switch {
	case scanner:
		v.Action = p.Scanner
		v.Reason = "scanner signals from an untrusted source"
	case emergencyOpen:
		// The police or ambulance may call back from any number: ring,
		// whatever the call presents. Only SIP scanners, which are not
		// calls from the telephone network, are still turned away.
		v.Action = Ring
		v.Override = OverrideEmergencyCallback
		v.Reason = OverrideEmergencyCallback + ": " + emergency.String()
	case allowed:
		v.Action = Ring
		v.Override = allowSource(allow)
		v.Reason = "allowed: " + v.Override
	case throttled:
		v.Action = p.Throttled
		v.Reason = "throttled"
		if t, fresh, ok := throttleOf(&c); ok {
			v.Reason = "throttled: " + throttleText(t)
			if fresh && !p.Monitor {
				v.Block = &t
			}
		}
		if !vouched(&c) {
			// A throttle is keyed on the presented number, which anyone
			// can present: whoever earned it may have borrowed a
			// customer's number. Only a number a carrier vouches for gets
			// the throttled action; anyone else may prove themselves.
			v.Action = Challenge
			v.Reason += "; number not attested, so challenged rather than " + string(p.Throttled)
		}
	case c.Presence == Withheld:
		v.Action = p.Withheld
		v.Reason = "number withheld" + whyText(presenceWhy)
	case c.Presence == Payphone:
		v.Action = p.Payphone
		v.Reason = "payphone" + whyText(presenceWhy)
	case c.Presence == Unavailable:
		v.Action = p.Unavailable
		v.Reason = "number unavailable (out of area or international)" + whyText(presenceWhy)
	default:
		v.Action = p.Thresholds.action(v.Score)
		v.Reason = scoreReason(v.Score, v.Findings)
	}
	v.Enforced = v.Action
	if p.Monitor {
		v.Enforced = Ring
	}
	return v
}

// action maps a score to an action.
func (t Thresholds) action(score int) Action {
	switch {
	case t.Reject > 0 && score >= t.Reject:
		return Reject
	case t.Voicemail > 0 && score >= t.Voicemail:
		return Voicemail
	case t.Challenge > 0 && score >= t.Challenge:
		return Challenge
	}
	return Ring
}

// whyText appends the signal that decided a presence class to a reason.
func whyText(why string) string {
	if why == "" {
		return ""
	}
	return ": " + why
}

func allowSource(e Entry) string {
	s := "allow list"
	switch e.Source {
	case SourceCallback:
		s = "expected callback"
	case SourceChallenge:
		s = "passed a challenge"
	}
	if e.Number != "" {
		s += " " + e.Number
	}
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s
}

func scoreReason(score int, findings []Finding) string {
	if len(findings) == 0 {
		return "no indicators"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "score %d:", score)
	for i, f := range findings {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(f.Indicator)
	}
	return b.String()
}
