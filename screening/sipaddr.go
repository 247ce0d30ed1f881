package screening

// SIPAddress is a parsed From, P-Asserted-Identity or Remote-Party-ID
// header value: `"Display" <sip:user@host;params>;params`.
type SIPAddress struct {
	Display string
	Scheme  string // sip, sips, tel
	User    string
	Host    string
	// Verstat is the carrier's STIR/SHAKEN verification status parameter
	// (TN-Validation-Passed, TN-Validation-Failed, ...), when present.
	Verstat string
}
