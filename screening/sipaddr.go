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
	// Tel is the number of a tel URI that came with the header: the
	// second value of a P-Asserted-Identity carrying both a sip and a tel
	// URI (`<sip:+81312345678@ims.example>, <tel:+81312345678>`), or the
	// address's own number when it is a tel URI.
	Tel string
}
