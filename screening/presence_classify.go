package screening

import "strings"

// Built-in forms of a missing number, compared case-insensitively with the
// whole From user, CALLERID(num) or display name (trimmed). Carriers'
// other forms go in the trunk's presence map.
var (
	// payphoneForms name a public payphone (公衆電話).
	payphoneForms = []string{"payphone", "pay phone", "coin", "coin line", "coin line/payphone", "公衆電話"}
	// outOfAreaForms say the network could not deliver the number: out of
	// area or international (表示圏外), or a service interaction
	// (サービス競合, 通知不可能).
	outOfAreaForms = []string{"out of area", "out-of-area", "outofarea", "表示圏外", "interaction", "service interaction", "サービス競合", "通知不可能"}
	// withheldUsers are user parts and numbers of a caller who hid the
	// number (非通知).
	withheldUsers = []string{"anonymous", "restricted", "private", "withheld", "非通知"}
	// unavailableUsers are user parts and numbers of a number the network
	// did not have.
	unavailableUsers = []string{"unknown", "unavailable"}
)

// anonymousHost is RFC 3323's host for an anonymous From.
const anonymousHost = "anonymous.invalid"

// ClassifyPresence says whether the call presented a number and, if not,
// why. from is the parsed From header; trunk may be nil. The rules, first
// match wins:
//
//  1. the trunk's presence map, matched against the From user,
//     CALLERID(num), the From display name and CALLERID(name);
//  2. payphone forms ("payphone", "coin", "公衆電話") → Payphone, and
//     out-of-area forms ("out of area", "表示圏外", "interaction") →
//     Unavailable, in the user or number, or in the display name when no
//     number is shown;
//  3. a withheld signal → Withheld: Privacy id, header or user (even when
//     P-Asserted-Identity carries the number: the network means us not to
//     show it), From host anonymous.invalid, a user or number "anonymous",
//     "restricted", "private" or "withheld", CALLERID(pres) prohib*;
//  4. "unknown" or "unavailable" as user or number, or CALLERID(pres)
//     unavailable → Unavailable;
//  5. no number at all → Withheld;
//  6. a number (digits, a leading plus, separators) → Presented; anything
//     else (a name, an email address) → Garbage.
//
// Payphone and out-of-area forms win over withheld signals because such
// calls often also arrive with an anonymous From, and a payphone must
// never be asked for a number it cannot show.
func ClassifyPresence(f *Facts, from SIPAddress, trunk *Trunk) Presence {
	if f == nil {
		f = &Facts{}
	}
	number := strings.TrimSpace(f.Number)
	if number == "" {
		number = strings.TrimSpace(from.User)
	}
	if p, ok := trunkPresence(f, from, trunk); ok {
		return p
	}
	hasNumber := isPhoneNumberText(number)
	ids := []string{from.User, f.Number}
	if !hasNumber {
		ids = append(ids, from.Display, f.Name)
	}
	switch {
	case anyIn(ids, payphoneForms):
		return Payphone
	case anyIn(ids, outOfAreaForms):
		return Unavailable
	case isWithheld(f, from):
		return Withheld
	case anyIn([]string{from.User, f.Number}, unavailableUsers),
		strings.EqualFold(strings.TrimSpace(f.Presentation), "unavailable"):
		return Unavailable
	case number == "":
		return Withheld
	case hasNumber:
		return Presented
	}
	return Garbage
}

// trunkPresence applies the trunk's own presence map.
func trunkPresence(f *Facts, from SIPAddress, trunk *Trunk) (Presence, bool) {
	if trunk == nil || len(trunk.Presence) == 0 {
		return "", false
	}
	for _, v := range []string{from.User, f.Number, from.Display, f.Name} {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if p, ok := trunk.Presence[v]; ok {
			return p, true
		}
		if p, ok := trunk.Presence[strings.ToLower(v)]; ok {
			return p, true
		}
		for k, p := range trunk.Presence {
			if strings.EqualFold(k, v) {
				return p, true
			}
		}
	}
	return "", false
}

// isWithheld reports the withheld signals of rule 3.
func isWithheld(f *Facts, from SIPAddress) bool {
	for _, t := range ParsePrivacy(f.Privacy) {
		if t == "id" || t == "header" || t == "user" {
			return true
		}
	}
	if strings.EqualFold(strings.TrimSpace(from.Host), anonymousHost) {
		return true
	}
	pres := strings.ToLower(strings.TrimSpace(f.Presentation))
	if strings.HasPrefix(pres, "prohib") {
		return true
	}
	return anyIn([]string{from.User, f.Number}, withheldUsers)
}

// anyIn reports whether one of values, trimmed, equals one of forms,
// ignoring case.
func anyIn(values, forms []string) bool {
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		for _, f := range forms {
			if strings.EqualFold(v, f) {
				return true
			}
		}
	}
	return false
}

// isPhoneNumberText reports whether s is written as a telephone number:
// digits with an optional leading plus and visual separators.
func isPhoneNumberText(s string) bool {
	_, _, ok := numberDigits(s)
	return ok
}
