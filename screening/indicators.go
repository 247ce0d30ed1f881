package screening

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// IndicatorThrottled is the name of the indicator of an automatic
// throttle; when it fires the call gets the profile's throttled action.
const IndicatorThrottled = "throttled"

// DefaultIndicators returns the built-in indicators in evaluation order.
// scannerAgents adds User-Agent fragments to the built-in scanner list;
// fragments that would match a legitimate phone or PBX (see
// ValidateScannerAgents) are ignored. Each call returns a fresh slice.
// INDICATORS.md documents every indicator.
func DefaultIndicators(scannerAgents []string) []Indicator {
	return []Indicator{
		{Name: "invalid-number", Weight: 40, Doc: "the number's length is possible but no range of its region matches it", Check: checkInvalidNumber},
		{Name: "impossible-length", Weight: 60, Doc: "the number cannot exist: its length is impossible for its region", Check: checkImpossibleLength},
		{Name: "own-number", Weight: 70, Doc: "the caller presents the called number or one of the business's own numbers", Check: checkOwnNumber},
		{Name: "neighbour-number", Weight: 25, Doc: "the caller shares the leading digits of the called or an own number (neighbour spoofing)", Check: checkNeighbourNumber},
		{Name: "inbound-only", Weight: 60, Doc: "toll-free numbers and numbers on the do-not-originate list only receive calls", Check: checkInboundOnly},
		{Name: "domestic-service-number", Weight: 5, Doc: "the business's own country's toll-free, shared-cost or UAN number, presented by its trusted carrier (only the holder can present one)", Check: checkDomesticServiceNumber},
		{Name: "impossible-caller", Weight: 60, Doc: "an emergency or service short code (110, 119, 911, 112) or a number too short for any subscriber: no calling party has it", Check: checkImpossibleCaller},
		{Name: "premium-or-shared", Weight: 40, Doc: "premium-rate, shared-cost and UAN numbers (0570) do not place ordinary calls", Check: checkPremiumOrShared},
		{Name: "international", Weight: 20, Doc: "a domestic business gets a call from another country", Check: checkInternational},
		{Name: "brand-impersonation", Weight: 50, Doc: "an international or invalid number shows a domestic brand or authority as its name", Check: checkBrandImpersonation},
		{Name: "uri-caller-id", Weight: 40, Doc: "the caller ID is an email address or a domain, not a number", Check: checkURICallerID},
		{Name: "identity-mismatch", Weight: 30, Doc: "the provider asserts a different number (P-Asserted-Identity) than the From header shows", Check: checkIdentityMismatch},
		{Name: "stir-failed", Weight: 50, Doc: "STIR/SHAKEN verification failed, by Asterisk or by the carrier (verstat)", Check: checkStirFailed},
		{Name: "stir-attestation-c", Weight: 15, Doc: "the call is signed with attestation C: the carrier vouches for nothing", Check: checkStirAttestationC},
		{Name: "extension-like", Weight: 40, Scanner: true, Doc: "a short, extension-like number from a source that is not the provider", Check: checkExtensionLike},
		{Name: "scanner-agent", Weight: 100, Scanner: true, Doc: "a SIP scanner's User-Agent from a source that is not the provider", Check: scannerAgentCheck(scannerAgents)},
		{Name: "police-pattern", Weight: 20, Doc: "a Japanese number ending in 0110 (police stations) with other signs of spoofing", Check: checkPolicePattern},
		{Name: "velocity-number", Weight: 30, Doc: "the same number called more than 3 times within the velocity window", Check: checkVelocityNumber},
		{Name: "velocity-prefix", Weight: 25, Doc: "numbers of one prefix called more than 10 times within the velocity window", Check: checkVelocityPrefix},
		{Name: IndicatorFleetSweep, Weight: 40, Doc: "the number, or its prefix, called many of the fleet's businesses or failed the challenge at several within minutes", Check: checkFleetSweep},
		{Name: IndicatorThrottled, Weight: 50, Doc: "the number is throttled: it failed the challenge repeatedly, redialled fast after failing it, or called too often", Check: checkThrottled},
		{Name: "block-list", Weight: 100, Doc: "the number or its prefix is on the block list", Check: checkBlockList},
	}
}

// callerText names the caller's number for evidence: E.164 when known,
// else the raw value, quoted.
func callerText(n Number) string {
	if n.E164 != "" {
		return n.E164
	}
	return fmt.Sprintf("%q", n.Raw)
}

// regionText names a number's region for evidence.
func regionText(n Number) string {
	if n.Region != "" {
		return n.Region
	}
	if n.CountryCode != 0 {
		return fmt.Sprintf("country code +%d", n.CountryCode)
	}
	return "its region"
}

// presented reports whether the call shows a number indicators can judge.
func presented(c *Call) bool {
	return c.Presence == Presented && c.Caller.Raw != ""
}

// foldWidth lower-cases s and folds full-width ASCII (ＮＴＴ) and the
// ideographic space to their ASCII forms, so that brand and agent matching
// ignores width and case.
func foldWidth(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= '！' && r <= '～':
			r = r - '！' + '!'
		case r == '　':
			r = ' '
		}
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}

// containsWord reports whether folded text contains word (already
// folded). A word made of ASCII letters and digits must stand alone: not
// preceded or followed by another ASCII letter or digit, so that "ntt"
// does not match "antti". Other words (警察) match anywhere.
func containsWord(text, word string) bool {
	if word == "" {
		return false
	}
	ascii := isASCIIAlnum(word)
	for i := 0; i+len(word) <= len(text); {
		j := strings.Index(text[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		if !ascii || (!alnumBefore(text, start) && !alnumAt(text, end)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(text[start:])
		i = start + size
	}
	return false
}

func isASCIIAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnumByte(s[i]) {
			return false
		}
	}
	return true
}

func isAlnumByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func alnumBefore(s string, i int) bool { return i > 0 && isAlnumByte(s[i-1]) }

func alnumAt(s string, i int) bool { return i < len(s) && isAlnumByte(s[i]) }
