package screening

import (
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// serviceCode is a short code that reaches a service and never appears as
// a calling party.
type serviceCode struct {
	what      string
	emergency bool
}

// serviceCodes names the short codes of the regions callscreen knows best,
// by region and digits. Sources: Japan's Ministry of Internal Affairs and
// Communications, 電気通信番号計画 (1XY service numbers) and NTT East's
// list of 3-digit numbers; the FCC's N11 codes (US, Canada); EU Directive
// 2018/1972 art. 109 (112 everywhere in the EU).
var serviceCodes = map[string]map[string]serviceCode{
	"JP": {
		"110": {"the police emergency number", true},
		"118": {"the Japan Coast Guard emergency number", true},
		"119": {"the fire and ambulance emergency number", true},
		"104": {"NTT directory enquiries", false},
		"113": {"NTT fault reports", false},
		"115": {"NTT telegrams", false},
		"116": {"NTT's sales office number", false},
		"117": {"the speaking clock", false},
		"171": {"the disaster message dial (災害用伝言ダイヤル)", false},
		"177": {"the weather forecast", false},
		"188": {"the consumer hotline (消費者ホットライン)", false},
		"189": {"the child-abuse hotline (児童相談所虐待対応ダイヤル)", false},
	},
	"US": nanpCodes,
	"CA": nanpCodes,
}

// nanpCodes are North America's N11 codes.
var nanpCodes = map[string]serviceCode{
	"911": {"the emergency number", true},
	"211": {"the community services number", false},
	"311": {"the city services number", false},
	"411": {"directory enquiries", false},
	"511": {"the traffic information number", false},
	"611": {"the carrier's repair number", false},
	"711": {"the relay service for deaf callers", false},
	"811": {"the call-before-you-dig number", false},
	"988": {"the suicide and crisis lifeline", false},
}

// anywhereEmergency are emergency numbers that GSM and most phones route
// in every country.
var anywhereEmergency = map[string]string{
	"112": "the European and GSM emergency number",
	"911": "the North American emergency number",
}

// maxServiceDigits is the longest short code callscreen reads as one.
const maxServiceDigits = 6

// ServiceCode describes digits as a short code dialled in region: what it
// reaches and whether it is an emergency number. ok is false for anything
// that is not such a code.
func ServiceCode(digits, region string) (what string, emergency, ok bool) {
	region = strings.ToUpper(region)
	if sc, found := serviceCodes[region][digits]; found {
		return sc.what, sc.emergency, true
	}
	if w, found := anywhereEmergency[digits]; found {
		return w, true, true
	}
	if len(digits) > maxServiceDigits {
		return "", false, false
	}
	if phonenumbers.IsEmergencyNumber(digits, region) {
		return "an emergency number in " + region, true, true
	}
	return "", false, false
}

// IsEmergencyNumber reports whether number, dialled in region, reaches an
// emergency service (110, 118, 119 in Japan; 911; 112).
func IsEmergencyNumber(number, region string) bool {
	digits, plus, ok := numberDigits(number)
	if !ok || plus {
		return false
	}
	_, emergency, ok := ServiceCode(digits, region)
	return ok && emergency
}

// checkImpossibleCaller fires for a caller ID no calling party can have:
// an emergency or service short code (110, 119, 911, 112, 104...), or a
// number too short to be any subscriber's. It fires on every trunk,
// trusted or not: a carrier passes on what the caller's side sent, and
// fraudsters impersonating the police present exactly these numbers.
func checkImpossibleCaller(c *Call) (string, bool) {
	n := c.Caller
	if !presented(c) || (n.Type != TypeShort && len(n.National) > maxServiceDigits) {
		return "", false
	}
	digits, plus, ok := numberDigits(n.Raw)
	if !ok || plus || len(digits) > maxServiceDigits {
		return "", false
	}
	region := n.Region
	if c.Profile != nil && c.Profile.Country != "" {
		region = c.Profile.Country
	}
	if what, emergency, ok := ServiceCode(digits, region); ok {
		if emergency {
			return fmt.Sprintf("%s is %s; it never places calls", digits, what), true
		}
		return fmt.Sprintf("%s is %s, a service code; service codes never place calls", digits, what), true
	}
	if n.Type == TypeShort && n.Valid {
		return fmt.Sprintf("%s is a service short code in %s; service codes never place calls", digits, region), true
	}
	if n.Type == TypeShort {
		return fmt.Sprintf("%s has %d digits, shorter than any subscriber number in %s: no calling party has it", digits, len(digits), region), true
	}
	return "", false
}
