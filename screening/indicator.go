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
