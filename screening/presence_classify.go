package screening

import (
	"fmt"
	"strings"
)

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

// noCLIName is a display name that gives the reason a number is missing.
type noCLIName struct {
	prefix string
	class  Presence
}

// noCLINames are the reasons for a missing number that networks put in the
// display name of an anonymous From, matched case-insensitively as a
// prefix of the display name ("Unavailable (out of area)" matches
// "unavailable"); an ASCII prefix must end at a word boundary, so that
// "Coinbase" is not a coin line. The first match wins: payphone and
// out-of-area reasons come first because such calls also carry every
// withheld signal. Sources: 3GPP TS 24.008 "cause of no CLI" as the IMS
// and Japan's NGN (TTC's interconnection profile) present it (Anonymous, Coin
// line/payphone, Interaction with other service, Unavailable), the
// Japanese display texts of NTT's Number Display (非通知, 公衆電話,
// 表示圏外, and the katakana of caller-ID adapters), and carriers'
// English variants (Out of area, Private, Restricted, Withheld).
var noCLINames = []noCLIName{
	{"coin line", Payphone},
	{"coin", Payphone},
	{"payphone", Payphone},
	{"pay phone", Payphone},
	{"公衆電話", Payphone},
	{"コウシュウデンワ", Payphone},
	{"ｺｳｼｭｳﾃﾞﾝﾜ", Payphone},
	{"interaction with other service", Unavailable},
	{"interaction", Unavailable},
	{"service interaction", Unavailable},
	{"unavailable", Unavailable},
	{"out of area", Unavailable},
	{"out-of-area", Unavailable},
	{"outofarea", Unavailable},
	{"表示圏外", Unavailable},
	{"ヒョウジケンガイ", Unavailable},
	{"ﾋｮｳｼﾞｹﾝｶﾞｲ", Unavailable},
	{"通知不可能", Unavailable},
	{"サービス競合", Unavailable},
	{"anonymous", Withheld},
	{"非通知", Withheld},
	{"ヒツウチ", Withheld},
	{"ﾋﾂｳﾁ", Withheld},
	{"private", Withheld},
	{"restricted", Withheld},
	{"withheld", Withheld},
}

// displayReason returns the presence class a display name gives as the
// reason for a missing number.
func displayReason(names ...string) (p Presence, name string, ok bool) {
	for _, r := range noCLINames {
		for _, n := range names {
			if n = strings.TrimSpace(n); hasWordPrefix(n, r.prefix) {
				return r.class, n, true
			}
		}
	}
	return "", "", false
}

// hasWordPrefix reports whether s begins with prefix, ignoring case; an
// ASCII prefix must be followed by the end of s or by a character that is
// not an ASCII letter or digit.
func hasWordPrefix(s, prefix string) bool {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return false
	}
	return !isASCIIAlnum(prefix) || !alnumAt(s, len(prefix))
}

// leakedPrefix reports a Japanese call-by-call presentation prefix that a
// network left in front of the number: 184 (withhold this call) or 186
// (show it), followed by a national number ("1840312345678"). A NANP
// number cannot be mistaken for one: its area code never starts with 0.
// rest is the number without the prefix.
func leakedPrefix(number string) (prefix, rest string, ok bool) {
	if len(number) < 13 || number[0] != '1' {
		return "", "", false // the common case, without allocating
	}
	digits, plus, isNum := numberDigits(number)
	if !isNum || plus || len(digits) < 13 || len(digits) > 14 {
		return "", "", false
	}
	p := digits[:3]
	if (p != "184" && p != "186") || digits[3] != '0' || digits[4] == '0' {
		return "", "", false
	}
	return p, digits[3:], true
}

// StripShowPrefix returns number without a leaked 186 prefix (the caller
// asked for the number to be shown; the network should have removed it),
// and number itself otherwise.
func StripShowPrefix(number string) string {
	if p, rest, ok := leakedPrefix(number); ok && p == "186" {
		return rest
	}
	return number
}

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
//     Unavailable, in the user or number; when no number is shown, the
//     reason in the display name (noCLINames: "Coin line/payphone",
//     "Interaction with other service", "Unavailable", "Anonymous",
//     非通知, ... as case-insensitive prefixes);
//  3. a withheld signal → Withheld: Privacy id, header or user (even when
//     P-Asserted-Identity carries the number: the network means us not to
//     show it), Remote-Party-ID privacy=full or uri, From host
//     anonymous.invalid, a user or number "anonymous", "restricted",
//     "private" or "withheld", a leaked 184 prefix (1840312345678),
//     CALLERID(pres) prohib*;
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
	p, _ := PresenceOf(f, from, trunk)
	return p
}

// PresenceOf is ClassifyPresence, and says which signal decided, for the
// verdict's reason ("display name \"Unavailable\"", "Privacy: id").
func PresenceOf(f *Facts, from SIPAddress, trunk *Trunk) (Presence, string) {
	if f == nil {
		f = &Facts{}
	}
	number := strings.TrimSpace(f.Number)
	if number == "" {
		number = strings.TrimSpace(from.User)
	}
	if p, v, ok := trunkPresence(f, from, trunk); ok {
		return p, fmt.Sprintf("trunk %s maps %q to %s", trunk.Name, v, p)
	}
	hasNumber := isPhoneNumberText(number)
	ids := []string{from.User, f.Number}
	if v, ok := firstIn(ids, payphoneForms); ok {
		return Payphone, fmt.Sprintf("caller ID %q", v)
	}
	if v, ok := firstIn(ids, outOfAreaForms); ok {
		return Unavailable, fmt.Sprintf("caller ID %q", v)
	}
	if !hasNumber {
		if p, name, ok := displayReason(from.Display, f.Name); ok {
			return p, fmt.Sprintf("display name %q, the network's reason for no number", name)
		}
	}
	if why := withheldSignal(f, from); why != "" {
		return Withheld, why
	}
	if v, ok := firstIn(ids, unavailableUsers); ok {
		return Unavailable, fmt.Sprintf("caller ID %q", v)
	}
	switch {
	case strings.EqualFold(strings.TrimSpace(f.Presentation), "unavailable"):
		return Unavailable, "CALLERID(pres) unavailable"
	case number == "":
		return Withheld, "no caller ID"
	case hasNumber:
		return Presented, ""
	}
	return Garbage, ""
}

// trunkPresence applies the trunk's own presence map.
func trunkPresence(f *Facts, from SIPAddress, trunk *Trunk) (Presence, string, bool) {
	if trunk == nil || len(trunk.Presence) == 0 {
		return "", "", false
	}
	for _, v := range []string{from.User, f.Number, from.Display, f.Name} {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if p, ok := trunk.Presence[v]; ok {
			return p, v, true
		}
		if p, ok := trunk.Presence[strings.ToLower(v)]; ok {
			return p, v, true
		}
		for k, p := range trunk.Presence {
			if strings.EqualFold(k, v) {
				return p, v, true
			}
		}
	}
	return "", "", false
}

// withheldSignal names the first withheld signal of rule 3, "" for none.
func withheldSignal(f *Facts, from SIPAddress) string {
	for _, t := range ParsePrivacy(f.Privacy) {
		if t == "id" || t == "header" || t == "user" {
			return "Privacy: " + t
		}
	}
	if strings.EqualFold(strings.TrimSpace(from.Host), anonymousHost) {
		return "From host " + anonymousHost
	}
	if rpidPrivate(f.RPID) {
		return "Remote-Party-ID privacy"
	}
	if p, _, ok := leakedPrefix(f.Number); ok && p == "184" {
		return "a leaked 184 (withhold) prefix"
	}
	if p, _, ok := leakedPrefix(from.User); ok && p == "184" && f.Number == "" {
		return "a leaked 184 (withhold) prefix"
	}
	pres := strings.ToLower(strings.TrimSpace(f.Presentation))
	if strings.HasPrefix(pres, "prohib") {
		return "CALLERID(pres) " + pres
	}
	if v, ok := firstIn([]string{from.User, f.Number}, withheldUsers); ok {
		return fmt.Sprintf("caller ID %q", v)
	}
	return ""
}

// rpidPrivate reports whether a Remote-Party-ID header (draft-ietf-sip-
// privacy-04, still sent by older carriers and PBXs) asks for the number
// to be hidden: privacy=full or privacy=uri. privacy=name hides the name
// only.
func rpidPrivate(rpid string) bool {
	_, params, _ := strings.Cut(rpid, ";")
	for params != "" {
		var part string
		part, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(part, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "privacy") {
			continue
		}
		v = strings.ToLower(strings.Trim(strings.TrimSpace(v), `"`))
		if v == "full" || v == "uri" {
			return true
		}
	}
	return false
}

// firstIn returns the first of values, trimmed, that equals one of forms,
// ignoring case.
func firstIn(values, forms []string) (string, bool) {
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		for _, f := range forms {
			if strings.EqualFold(v, f) {
				return v, true
			}
		}
	}
	return "", false
}

// isPhoneNumberText reports whether s is written as a telephone number:
// digits with an optional leading plus and visual separators.
func isPhoneNumberText(s string) bool {
	_, _, ok := numberDigits(s)
	return ok
}
