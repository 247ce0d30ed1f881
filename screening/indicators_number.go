package screening

import (
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// checkInvalidNumber fires for a presented number of possible length that
// matches no range of its region. Short numbers are left to
// extension-like, impossible lengths to impossible-length.
func checkInvalidNumber(c *Call) (string, bool) {
	n := c.Caller
	if !presented(c) || n.Type == TypeShort || !n.Possible || n.Valid {
		return "", false
	}
	return fmt.Sprintf("%s is not a valid number in %s: no assigned range matches it", callerText(n), regionText(n)), true
}

// checkImpossibleLength fires for a presented number whose length no
// number of its region has, or that could not be read as a number at all.
func checkImpossibleLength(c *Call) (string, bool) {
	n := c.Caller
	if !presented(c) || n.Type == TypeShort || n.Possible {
		return "", false
	}
	if n.National == "" {
		return fmt.Sprintf("%q cannot be read as a telephone number", n.Raw), true
	}
	return fmt.Sprintf("%q has %d national digits, a length no number in %s has", n.Raw, len(n.National), regionText(n)), true
}

// checkOwnNumber fires when the caller presents the called number or one of
// the profile's own numbers.
func checkOwnNumber(c *Call) (string, bool) {
	e := c.Caller.E164
	if !presented(c) || e == "" {
		return "", false
	}
	if e == c.Called.E164 {
		return fmt.Sprintf("%s is the number that was called: calls do not come from the number they go to", e), true
	}
	for _, o := range c.Own {
		if e == o.E164 {
			return fmt.Sprintf("%s is one of this business's own numbers", e), true
		}
	}
	return "", false
}

// checkNeighbourNumber fires when the caller shares the leading national
// digits of the called or an own number without being it.
func checkNeighbourNumber(c *Call) (string, bool) {
	n := c.Caller
	if !presented(c) || n.E164 == "" || n.National == "" {
		return "", false
	}
	targets := append([]Number{c.Called}, c.Own...)
	for _, t := range targets {
		if t.E164 == n.E164 {
			return "", false // own-number's case
		}
	}
	for i, t := range targets {
		if t.E164 == "" || t.CountryCode != n.CountryCode {
			continue
		}
		digits := 0
		if c.Profile != nil {
			digits = c.Profile.NeighbourDigits
		}
		if digits <= 0 {
			digits = len(t.National) - 4
		}
		if digits < 2 || len(n.National) < digits || len(t.National) < digits {
			continue
		}
		if n.National[:digits] != t.National[:digits] {
			continue
		}
		what := "the called number"
		if i > 0 {
			what = "this business's own number"
		}
		return fmt.Sprintf("%s shares its first %d national digits (%s) with %s %s", n.E164, digits, n.National[:digits], what, t.E164), true
	}
	return "", false
}

// homeServiceNumber reports a toll-free, shared-cost or UAN number of the
// profile's own country presented on a trusted trunk (the business's own
// carrier). Carriers let only a number's holder present it (NTT's
// 特定番号通知 in Japan; RespOrg-controlled toll-free numbers in North
// America), and banks, card companies and clinics' call centres do, so
// such a caller is judged by the other indicators, not by its type.
func homeServiceNumber(c *Call) bool {
	home := profileCountryCode(c)
	if !presented(c) || !c.Trusted || home == 0 || c.Caller.CountryCode != home {
		return false
	}
	switch c.Caller.Type {
	case TypeTollFree, TypeSharedCost, TypeUAN:
		return true
	}
	return false
}

// checkDomesticServiceNumber explains, with a low weight, why a home
// country's toll-free, shared-cost or UAN caller did not score as one.
func checkDomesticServiceNumber(c *Call) (string, bool) {
	if !homeServiceNumber(c) {
		return "", false
	}
	return fmt.Sprintf("%s is a %s %s number presented by the trusted carrier; in %s only the number's holder can present it (banks and call centres do)", callerText(c.Caller), regionText(c.Caller), typeText(c.Caller.Type), c.Profile.Country), true
}

// typeText names a service number type for evidence.
func typeText(t NumberType) string {
	switch t {
	case TypeTollFree:
		return "toll-free"
	case TypeSharedCost:
		return "shared-cost"
	case TypeUAN:
		return "UAN"
	}
	return string(t)
}

// checkInboundOnly fires for toll-free callers and numbers on the
// do-not-originate list. The business's own country's toll-free numbers
// presented by its trusted carrier are domestic-service-number's.
func checkInboundOnly(c *Call) (string, bool) {
	n := c.Caller
	if !presented(c) {
		return "", false
	}
	if n.Type == TypeTollFree && !homeServiceNumber(c) {
		return fmt.Sprintf("%s is a %s toll-free number; toll-free numbers only receive calls", callerText(n), regionText(n)), true
	}
	if n.E164 == "" {
		return "", false
	}
	e, ok := c.Lists.Lookup(DoNotOriginate, n.E164, c.Now)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%s is on the do-not-originate list%s; such numbers only receive calls", n.E164, entryText(e, n.E164)), true
}

// checkPremiumOrShared fires for premium-rate, shared-cost and UAN callers;
// the business's own country's shared-cost and UAN numbers presented by its
// trusted carrier are domestic-service-number's.
func checkPremiumOrShared(c *Call) (string, bool) {
	n := c.Caller
	if !presented(c) || homeServiceNumber(c) {
		return "", false
	}
	var what string
	switch n.Type {
	case TypePremiumRate:
		what = "premium-rate"
	case TypeSharedCost:
		what = "shared-cost"
	case TypeUAN:
		what = "UAN (one number for a company's lines, such as 0570 Navi Dial)"
	default:
		return "", false
	}
	return fmt.Sprintf("%s is a %s %s number; such numbers are for receiving calls, not for placing them", callerText(n), regionText(n), what), true
}

// profileCountryCode returns the calling code of the profile's country, 0
// when unknown.
func profileCountryCode(c *Call) int {
	if c.Profile == nil || c.Profile.Country == "" {
		return 0
	}
	return phonenumbers.GetCountryCodeForRegion(c.Profile.Country)
}

// isInternational reports whether the caller's country code differs from
// the profile's.
func isInternational(c *Call) bool {
	home := profileCountryCode(c)
	return presented(c) && home != 0 && c.Caller.CountryCode != 0 && c.Caller.CountryCode != home
}

// checkInternational fires when a domestic business gets a call from
// another country.
func checkInternational(c *Call) (string, bool) {
	if c.Profile == nil || !c.Profile.Domestic || !isInternational(c) {
		return "", false
	}
	return fmt.Sprintf("%s is from %s (+%d); this business expects callers from %s", callerText(c.Caller), regionText(c.Caller), c.Caller.CountryCode, c.Profile.Country), true
}

// builtinBrands are authorities and companies Japanese phone fraud most
// often names in the display name: the police (警察, 警視庁), prosecutors
// (検察), the courts (裁判所), the tax offices (税務署, 国税庁), the pension
// service (年金機構), city and ward offices (市役所, 区役所), the internal
// affairs ministry (総務省), banks (銀行) and NTT. Profiles add their own
// brands; this list stays small on purpose.
var builtinBrands = []string{"警察", "警視庁", "検察", "裁判所", "税務署", "国税庁", "年金機構", "市役所", "区役所", "総務省", "銀行", "NTT"}

// checkBrandImpersonation fires when an international or invalid number
// shows a domestic brand or authority in its display name.
func checkBrandImpersonation(c *Call) (string, bool) {
	n := c.Caller
	if !presented(c) {
		return "", false
	}
	var origin string
	switch {
	case isInternational(c):
		origin = fmt.Sprintf("the call comes from %s (%s)", callerText(n), regionText(n))
	case n.Type != TypeShort && !n.Valid:
		origin = fmt.Sprintf("%s is not a valid number", callerText(n))
	default:
		return "", false
	}
	for _, name := range displayNames(c) {
		folded := foldWidth(name)
		if c.Profile != nil {
			for _, b := range c.Profile.Brands {
				if containsWord(folded, foldWidth(strings.TrimSpace(b))) {
					return fmt.Sprintf("display name %q names %s, one of this profile's brands, but %s", name, b, origin), true
				}
			}
		}
		for _, b := range builtinBrands {
			if containsWord(folded, foldWidth(b)) {
				return fmt.Sprintf("display name %q names %s, a domestic authority or brand, but %s", name, b, origin), true
			}
		}
	}
	return "", false
}

// displayNames returns the distinct non-empty display names the call
// presented: CALLERID(name), then From's and P-Asserted-Identity's.
func displayNames(c *Call) []string {
	var names []string
	cands := []string{c.From.Display, c.PAI.Display}
	if c.Facts != nil {
		cands = append([]string{c.Facts.Name}, cands...)
	}
	for _, s := range cands {
		s = strings.TrimSpace(s)
		if s != "" && !containsString(names, s) {
			names = append(names, s)
		}
	}
	return names
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// policeSuffix ends the numbers of Japanese police stations (03-3581-0110),
// which fraudsters spoof.
const policeSuffix = "0110"

// checkPolicePattern fires for a Japanese number ending in 0110 only when
// the call also shows another sign of spoofing: it comes from abroad for
// this profile, is not a valid number, carries a display name impersonating
// an authority, or (from the provider) an asserted identity that differs,
// or its STIR/SHAKEN verification failed or has attestation C. It checks
// those conditions itself, so it stays pure and does not depend on the
// order or weights of the other indicators.
func checkPolicePattern(c *Call) (string, bool) {
	n := c.Caller
	if !presented(c) || n.CountryCode != 81 || !strings.HasSuffix(n.National, policeSuffix) {
		return "", false
	}
	corroborating := []struct {
		name  string
		check func(*Call) (string, bool)
	}{
		{"international", func(c *Call) (string, bool) { return "", isInternational(c) }},
		{"invalid-number", checkInvalidNumber},
		{"impossible-length", checkImpossibleLength},
		{"brand-impersonation", checkBrandImpersonation},
		{"identity-mismatch", checkIdentityMismatch},
		{"stir-failed", checkStirFailed},
		{"stir-attestation-c", checkStirAttestationC},
	}
	for _, o := range corroborating {
		if _, hit := o.check(c); hit {
			return fmt.Sprintf("%s ends in %s like a police station's number, and the call also shows %s", callerText(n), policeSuffix, o.name), true
		}
	}
	return "", false
}

// entryText describes a list entry for evidence: the prefix that matched,
// its source and its reason, as far as known.
func entryText(e Entry, number string) string {
	var parts []string
	if e.IsPrefix() {
		parts = append(parts, "prefix "+e.Number)
	} else if e.Number != "" && e.Number != number {
		parts = append(parts, e.Number)
	}
	if e.Source != "" {
		parts = append(parts, "added by "+e.Source)
	}
	if e.Reason != "" {
		parts = append(parts, fmt.Sprintf("%q", e.Reason))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
