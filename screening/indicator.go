package screening

import "time"

// Call is one call as the indicators see it: the facts and everything the
// engine derived from them once, before any indicator runs.
type Call struct {
	Facts   *Facts
	Now     time.Time
	Profile *Profile
	// Trunk is the configured trunk the call arrived on, nil when unknown.
	Trunk *Trunk
	// Trusted: the call came from a trusted trunk at one of its addresses.
	Trusted  bool
	Presence Presence
	// Caller is the presented number, normalised with the profile's
	// numbering plan. Called is the DID.
	Caller Number
	Called Number
	// Own holds the profile's own numbers, normalised.
	Own []Number
	// From and PAI are the parsed headers; zero when absent or unparsable.
	From SIPAddress
	PAI  SIPAddress
	// Velocity holds the counts observed in the sliding windows, this call
	// included.
	Velocity VelocityCounts
	Lists    *Lists
	// Throttle is the policy's automatic throttle configuration.
	Throttle ThrottleConfig
	// Sweep holds the fleet-wide counts for the caller's number and
	// prefix (fleet mode; zero otherwise).
	Sweep SweepCounts
}

// derive fills in what the indicators read from c.Facts, c.Profile and
// c.Trunk: the parsed SIP addresses, the presentation, and the called and
// calling numbers read with the profile's numbering plan. It returns the
// signal that decided the presentation. Evaluate builds every call with
// it, and so do the indicator tests.
func (c *Call) derive(numbers *Numbering) (presenceWhy string) {
	f := c.Facts
	c.From, _ = ParseSIPAddress(f.From)
	c.PAI, _ = ParseSIPAddress(f.PAI)
	c.Presence, presenceWhy = PresenceOf(f, c.From, c.Trunk)
	c.Called = numbers.Classify(f.Called, c.Profile.Country)
	if c.Presence == Presented || c.Presence == Garbage {
		number := f.Number
		if number == "" {
			// CALLERID(num) was not set but the From header carries one.
			number = c.From.User
		}
		// A leaked 186 ("show my number") prefix is not part of it.
		c.Caller = numbers.Classify(StripShowPrefix(number), c.Profile.Country)
	} else {
		c.Caller = Number{Raw: f.Number, Type: TypeUnknown}
	}
	return presenceWhy
}

// Indicator is one spoofing or robocall signal: a small pure function of a
// call that reports whether it fired and, if so, evidence a person can read.
type Indicator struct {
	// Name is stable: it appears in SCREEN_REASONS, the log and profiles'
	// weight overrides.
	Name string
	// Weight is the default weight added to the score when it fires.
	Weight int
	// Scanner marks signals of SIP scanners, which an allow entry does
	// not override.
	Scanner bool
	// Doc says in one line what the indicator looks for.
	Doc   string
	Check func(c *Call) (evidence string, hit bool)
}
