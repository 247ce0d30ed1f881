package screening

import (
	"fmt"
	"strings"
)

// checkURICallerID fires when CALLERID(num) or the From user is an email
// address or a domain name ("info@outlook.com", "outlook.com") instead of
// a number.
func checkURICallerID(c *Call) (string, bool) {
	cands := []string{c.From.User}
	if c.Facts != nil {
		cands = append([]string{c.Facts.Number}, cands...)
	}
	for _, s := range cands {
		s = strings.TrimSpace(s)
		switch {
		case strings.Contains(s, "@"):
			return fmt.Sprintf("caller ID %q is an email address or URI, not a number", s), true
		case isDomainLike(s):
			return fmt.Sprintf("caller ID %q is a domain name, not a number", s), true
		}
	}
	return "", false
}

// isDomainLike reports whether s looks like a domain name: dot-separated
// labels of letters, digits and hyphens, at least two labels, ending in a
// label of letters ("outlook.com", "mail.example.co.jp").
func isDomainLike(s string) bool {
	labels := strings.Split(s, ".")
	if len(labels) < 2 || len(labels) > 16 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnumByte(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	for i := 0; i < len(last); i++ {
		if !(last[i] >= 'a' && last[i] <= 'z' || last[i] >= 'A' && last[i] <= 'Z') {
			return false
		}
	}
	return true
}

// checkIdentityMismatch fires, on trusted calls only, when the number the
// provider asserts in P-Asserted-Identity differs from the From number.
// Untrusted P-Asserted-Identity values are the caller's own words and are
// ignored.
func checkIdentityMismatch(c *Call) (string, bool) {
	if !c.Trusted {
		return "", false
	}
	pai := c.PAI.User
	if !isPhoneNumberText(pai) {
		pai = c.PAI.Tel
	}
	from := c.From.User
	if !isPhoneNumberText(pai) || !isPhoneNumberText(from) {
		return "", false
	}
	if sameNumber(from, pai) {
		return "", false
	}
	return fmt.Sprintf("From shows %s but the provider asserts %s in P-Asserted-Identity", from, pai), true
}

// sameNumber reports whether two written numbers are the same number in
// different forms: national ("0312345678"), international ("+81312345678",
// "81312345678") or with an access prefix ("01081312345678"). Leading
// zeros are dropped from both, then the shorter must be at least six digits
// and end the longer, which may be at most five digits longer (an access
// prefix and a country code). It is a pure, table-free approximation of
// normalising both, good enough to tell a different number from a
// differently written one.
func sameNumber(a, b string) bool {
	da, _, okA := numberDigits(a)
	db, _, okB := numberDigits(b)
	if !okA || !okB {
		return false
	}
	da, db = strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
	if da == db {
		return true
	}
	if len(da) > len(db) {
		da, db = db, da
	}
	return len(da) >= 6 && len(db)-len(da) <= 5 && strings.HasSuffix(db, da)
}

// Verification outcomes. Asterisk 22 reports verify_result as "success"
// or an error name; older versions and other tools say "passed" or
// "Verification successful".
var (
	// stirPassed are results of a verification that succeeded.
	stirPassed = []string{"", "pass", "passed", "success", "verification successful"}
	// stirNotAttempted are results that say nothing about the caller: no
	// Identity header was there to verify, verification is off, or
	// Asterisk itself failed.
	stirNotAttempted = []string{"disabled", "missing_identity_hdr", "verification not present", "not present", "internal_error", "invalid_arguments"}
)

// Carrier verstat values (ATIS-1000074 / 3GPP TS 24.229).
const (
	verstatFailed  = "TN-Validation-Failed"
	verstatPassedC = "TN-Validation-Passed-C"
)

// stirFailure returns a description of a failed verification, if any.
func stirFailure(c *Call) (string, bool) {
	if c.Facts != nil {
		for i, r := range c.Facts.Stir {
			v := strings.ToLower(strings.TrimSpace(r.VerifyResult))
			if containsString(stirPassed, v) || containsString(stirNotAttempted, v) {
				continue
			}
			return fmt.Sprintf("Asterisk's STIR/SHAKEN verification of identity %d failed: %s", i, r.VerifyResult), true
		}
	}
	if v := VerstatOf(c.PAI, c.From); strings.EqualFold(v, verstatFailed) {
		return fmt.Sprintf("the carrier's STIR/SHAKEN verification failed (verstat=%s)", v), true
	}
	return "", false
}

// checkStirFailed fires when Asterisk's or the carrier's STIR/SHAKEN
// verification failed.
func checkStirFailed(c *Call) (string, bool) { return stirFailure(c) }

// checkStirAttestationC fires for a verified signature with attestation C
// (the signing carrier does not know the caller), from Asterisk or from the
// carrier's verstat. A failed verification is stir-failed's, not this one's.
func checkStirAttestationC(c *Call) (string, bool) {
	if _, failed := stirFailure(c); failed {
		return "", false
	}
	if c.Facts != nil {
		for i, r := range c.Facts.Stir {
			if strings.EqualFold(strings.TrimSpace(r.Attestation), "C") {
				return fmt.Sprintf("STIR/SHAKEN identity %d has attestation C: the signing carrier does not vouch for the number", i), true
			}
		}
	}
	if v := VerstatOf(c.PAI, c.From); strings.EqualFold(v, verstatPassedC) {
		return fmt.Sprintf("the carrier reports attestation C (verstat=%s): nobody vouches for the number", v), true
	}
	return "", false
}

// checkExtensionLike fires for a short, extension-like caller ("100",
// "1000") on an untrusted call: SIP scanners dial the public address
// directly with such numbers.
func checkExtensionLike(c *Call) (string, bool) {
	if c.Trusted || !c.Caller.Short {
		return "", false
	}
	return fmt.Sprintf("caller ID %q is an extension-like short number%s, which is not the provider", c.Caller.Raw, sourceText(c)), true
}

// sourceText names the call's source for evidence.
func sourceText(c *Call) string {
	if c.Facts != nil && c.Facts.Source != "" {
		return " from " + c.Facts.Source
	}
	return " from a source"
}

// builtinScannerAgents are User-Agent fragments of SIP scanning tools.
// Broad names of real phones and PBXs ("Asterisk PBX", "eyeBeam") are not
// here and are never accepted from configuration either.
var builtinScannerAgents = []string{
	"friendly-scanner", "sipvicious", "sipcli", "VaxSIPUserAgent", "pplsip",
	"sipsak", "sundayaddr", "iWar", "smap", "sipptk",
}

// legitimateAgents are User-Agent names of real phones, softphones and
// PBXs. A configured scanner fragment that would match one of these, or
// that one of these contains, is refused.
var legitimateAgents = []string{
	"Asterisk PBX", "eyeBeam", "FreeSWITCH", "FPBX", "Linphone", "Zoiper",
	"MicroSIP", "X-Lite", "Bria", "Yealink SIP-T46U", "Grandstream GXP2170",
	"Polycom VVX", "Cisco SPA", "Panasonic KX-UT", "OpenSIPS", "kamailio",
	"Obihai", "Snom", "Fanvil", "3CX", "Acrobits", "Groundwire",
}

// ValidateScannerAgents returns an error naming the configured scanner
// User-Agent fragments that are empty, shorter than four characters or
// would also match a legitimate phone or PBX; DefaultIndicators ignores
// those.
func ValidateScannerAgents(agents []string) error {
	var bad []string
	for _, a := range agents {
		if !usableScannerAgent(a) {
			bad = append(bad, fmt.Sprintf("%q", a))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("scanner_agents: %s would match legitimate phones or is too short (at least 4 characters, and not part of names such as \"Asterisk PBX\" or \"eyeBeam\")", strings.Join(bad, ", "))
	}
	return nil
}

// usableScannerAgent reports whether a configured fragment is specific.
func usableScannerAgent(a string) bool {
	f := foldWidth(strings.TrimSpace(a))
	if len(f) < 4 {
		return false
	}
	for _, l := range legitimateAgents {
		lf := foldWidth(l)
		if strings.Contains(lf, f) || strings.Contains(f, lf) {
			return false
		}
	}
	return true
}

// scannerAgentCheck returns the scanner-agent check for the built-in
// fragments plus the usable configured ones.
func scannerAgentCheck(extra []string) func(*Call) (string, bool) {
	agents := make([]string, 0, len(builtinScannerAgents)+len(extra))
	for _, a := range builtinScannerAgents {
		agents = append(agents, foldWidth(a))
	}
	for _, a := range extra {
		if usableScannerAgent(a) {
			agents = append(agents, foldWidth(strings.TrimSpace(a)))
		}
	}
	return func(c *Call) (string, bool) {
		if c.Trusted || c.Facts == nil || c.Facts.UserAgent == "" {
			return "", false
		}
		ua := foldWidth(c.Facts.UserAgent)
		for _, a := range agents {
			if containsWord(ua, a) {
				return fmt.Sprintf("User-Agent %q is the SIP scanner %q, calling%s, which is not the provider", c.Facts.UserAgent, a, sourceText(c)), true
			}
		}
		return "", false
	}
}
