package screening

import (
	"hash/maphash"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// Numbering classifies presented numbers with the numbering plan of the
// trunk's country. It is safe for concurrent use and remembers recent
// answers in a bounded cache, because parsing and validating a number
// costs tens of microseconds while the same callers call again.
type Numbering struct {
	seed     maphash.Seed
	shards   []numberShard
	perShard int
}

// numberShard is one lock's worth of the cache.
type numberShard struct {
	mu sync.RWMutex
	m  map[numberKey]Number
}

type numberKey struct{ raw, country string }

// numberingShards is the number of cache shards for large caches.
const numberingShards = 16

// maxNumberLen bounds what Classify treats as a telephone number: a raw
// value longer than this (in bytes) or holding more than maxNumberDigits
// digits is not a number anyone can dial. It also keeps hostile values out
// of the cache.
const (
	maxNumberLen    = 64
	maxNumberDigits = 20
)

// NewNumbering returns a classifier whose cache holds about cacheSize
// numbers; cacheSize <= 0 disables the cache. When a shard is full an
// arbitrary entry of it is evicted.
func NewNumbering(cacheSize int) *Numbering {
	n := &Numbering{seed: maphash.MakeSeed()}
	if cacheSize <= 0 {
		return n
	}
	shards := numberingShards
	if cacheSize < 4*numberingShards {
		shards = 1
	}
	n.shards = make([]numberShard, shards)
	n.perShard = (cacheSize + shards - 1) / shards
	for i := range n.shards {
		n.shards[i].m = make(map[numberKey]Number)
	}
	return n
}

// Warm loads the numbering plan of each region (ISO codes such as "JP"),
// so that the first call from a region does not pay for it. Unknown regions
// are ignored.
func (n *Numbering) Warm(regions ...string) {
	for _, r := range regions {
		r = strings.ToUpper(r)
		ex := phonenumbers.GetExampleNumber(r)
		if ex == nil {
			continue
		}
		national := phonenumbers.Format(ex, phonenumbers.NATIONAL)
		if pn, err := phonenumbers.Parse(national, r); err == nil {
			phonenumbers.IsValidNumber(pn)
			phonenumbers.GetNumberType(pn)
		}
		if pn, err := phonenumbers.Parse("110", r); err == nil {
			phonenumbers.IsValidShortNumberForRegion(pn, r)
		}
	}
}

// Classify normalises raw, a number as presented on a trunk in country
// (an ISO region such as "JP"), and classifies it. It accepts the national
// form ("0312345678"), the international form ("+81312345678"), the
// country's international access prefix ("01081312345678" in JP, "011..."
// in NANP, "00..." elsewhere, and "00" as a fallback everywhere), and a
// country code without the plus ("81312345678", "18775550100") when the
// national reading is invalid and the international one is valid. Visual
// separators and full-width digits are allowed; callers strip "tel:" and
// "sip:" themselves.
//
// Two to five digits without a plus are a short number (TypeShort): Valid
// when the region lists it as a short code (110, 119, 911...), and Short
// (extension-like) otherwise. Anything that is not a number yields
// Number{Raw: raw, Type: TypeUnknown}.
func (n *Numbering) Classify(raw, country string) Number {
	country = strings.ToUpper(country)
	if len(n.shards) == 0 || len(raw) > maxNumberLen {
		return classifyNumber(raw, country)
	}
	key := numberKey{raw, country}
	sh := &n.shards[n.shardOf(raw)]
	sh.mu.RLock()
	num, ok := sh.m[key]
	sh.mu.RUnlock()
	if ok {
		return num
	}
	// Clone: raw may be a slice of a much larger header value.
	key = numberKey{strings.Clone(raw), strings.Clone(country)}
	num = classifyNumber(key.raw, country)
	sh.mu.Lock()
	if len(sh.m) >= n.perShard {
		for k := range sh.m {
			delete(sh.m, k)
			break
		}
	}
	sh.m[key] = num
	sh.mu.Unlock()
	return num
}

func (n *Numbering) shardOf(raw string) int {
	if len(n.shards) == 1 {
		return 0
	}
	return int(maphash.String(n.seed, raw) % uint64(len(n.shards)))
}

// classifyNumber does Classify's work without the cache.
func classifyNumber(raw, country string) Number {
	unknown := Number{Raw: raw, Type: TypeUnknown}
	if len(raw) > maxNumberLen {
		return unknown
	}
	digits, plus, ok := numberDigits(raw)
	if !ok || len(digits) > maxNumberDigits {
		return unknown
	}
	if !plus && len(digits) >= 2 && len(digits) <= 5 {
		return classifyShort(raw, digits, country)
	}
	if plus {
		pn, err := phonenumbers.Parse("+"+digits, country)
		if err != nil {
			return unknown
		}
		return numberOf(raw, pn)
	}
	var national Number
	if pn, err := phonenumbers.Parse(digits, country); err == nil {
		national = numberOf(raw, pn)
		if national.Valid {
			return national
		}
	} else {
		national = unknown
	}
	// A national reading failed: try the generic "00" access prefix, then
	// a country code sent without its plus.
	alt := digits
	if strings.HasPrefix(alt, "00") {
		alt = alt[2:]
	}
	if alt != "" && alt[0] != '0' {
		if pn, err := phonenumbers.Parse("+"+alt, ""); err == nil {
			if intl := numberOf(raw, pn); intl.Valid {
				return intl
			}
		}
	}
	return national
}

// classifyShort classifies a two- to five-digit number.
func classifyShort(raw, digits, country string) Number {
	num := Number{Raw: raw, Region: country, National: digits, Type: TypeShort, Short: true}
	pn, err := phonenumbers.Parse(digits, country)
	if err != nil {
		return num
	}
	num.CountryCode = int(pn.GetCountryCode())
	num.Valid = phonenumbers.IsValidShortNumberForRegion(pn, country)
	num.Possible = num.Valid || phonenumbers.IsPossibleShortNumberForRegion(pn, country)
	num.Short = !num.Valid
	return num
}

// numberOf fills a Number from a parsed number, applying rangeOverrides.
func numberOf(raw string, pn *phonenumbers.PhoneNumber) Number {
	num := Number{
		Raw:         raw,
		CountryCode: int(pn.GetCountryCode()),
		National:    phonenumbers.GetNationalSignificantNumber(pn),
		Type:        TypeUnknown,
	}
	num.E164 = phonenumbers.Format(pn, phonenumbers.E164)
	num.Region = phonenumbers.GetRegionCodeForNumber(pn)
	if num.Region != "" {
		num.Valid = phonenumbers.IsValidNumberForRegion(pn, num.Region)
	}
	if num.Region == "" || num.Region == "ZZ" || num.Region == "001" {
		num.Region = phonenumbers.GetRegionCodeForCountryCode(num.CountryCode)
		if num.Region == "ZZ" || num.Region == "001" {
			num.Region = ""
		}
	}
	num.Possible = num.Valid || phonenumbers.IsPossibleNumber(pn)
	if num.Valid {
		num.Type = numberTypeOf(phonenumbers.GetNumberType(pn))
		return num
	}
	if o, ok := matchOverride(num); ok {
		num.Region, num.Type, num.Valid, num.Possible = o.Region, o.Type, true, true
	}
	return num
}

// numberTypes maps phonenumbers' types to ours.
var numberTypes = map[phonenumbers.PhoneNumberType]NumberType{
	phonenumbers.FIXED_LINE:           TypeFixedLine,
	phonenumbers.MOBILE:               TypeMobile,
	phonenumbers.FIXED_LINE_OR_MOBILE: TypeFixedMobile,
	phonenumbers.TOLL_FREE:            TypeTollFree,
	phonenumbers.PREMIUM_RATE:         TypePremiumRate,
	phonenumbers.SHARED_COST:          TypeSharedCost,
	phonenumbers.VOIP:                 TypeVoIP,
	phonenumbers.PERSONAL_NUMBER:      TypePersonal,
	phonenumbers.PAGER:                TypePager,
	phonenumbers.UAN:                  TypeUAN,
	phonenumbers.VOICEMAIL:            TypeVoicemail,
}

func numberTypeOf(t phonenumbers.PhoneNumberType) NumberType {
	if nt, ok := numberTypes[t]; ok {
		return nt
	}
	return TypeUnknown
}

// rangeOverride declares a number range that the numbering metadata does
// not know yet. Prefix is written in the region's national form, with its
// trunk prefix ("060"), and Length counts the digits of that national form.
type rangeOverride struct {
	Region string
	Prefix string
	Length int
	Type   NumberType
}

// rangeOverrides are the ranges missing from phonenumbers v1.8.1. A number
// matching one is valid and of its type. Add a range with one line.
var rangeOverrides = []rangeOverride{
	// Japan: 060-XXXX-XXXX mobile numbers (11 digits), opened in 2024.
	{Region: "JP", Prefix: "060", Length: 11, Type: TypeMobile},
}

// matchOverride finds the override covering num, an invalid number.
func matchOverride(num Number) (rangeOverride, bool) {
	for _, o := range rangeOverrides {
		if phonenumbers.GetCountryCodeForRegion(o.Region) != num.CountryCode {
			continue
		}
		national := phonenumbers.GetNddPrefixForRegion(o.Region, true) + num.National
		if len(national) == o.Length && strings.HasPrefix(national, o.Prefix) {
			return o, true
		}
	}
	return rangeOverride{}, false
}

// numberDigits extracts the digits of a number written with an optional
// leading plus, ASCII or full-width digits, and the visual separators
// " -.()/" (and their full-width forms). ok is false when s holds anything
// else or no digit at all. digits shares s's memory when s is plain ASCII
// digits.
func numberDigits(s string) (digits string, plus, ok bool) {
	s = strings.TrimSpace(s)
	if isASCIIDigits(s) {
		return s, false, true
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteByte(byte(r))
		case r >= '０' && r <= '９':
			b.WriteByte(byte('0' + r - '０'))
		case r == '+' || r == '＋':
			if i != 0 {
				return "", false, false
			}
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/',
			r == '　' || r == '－' || r == '‐' || r == '（' || r == '）':
		default:
			return "", false, false
		}
	}
	if b.Len() == 0 {
		return "", false, false
	}
	return b.String(), plus, true
}

// isASCIIDigits reports whether s is non-empty and all ASCII digits.
func isASCIIDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NationalFormat writes an E.164 number the way people in country (an ISO
// region such as "JP") write it: the national form with the country's
// grouping ("+81355550000" in JP is "03-5555-0000") when the number is
// that country's, and e164 unchanged otherwise (a foreign number, a
// prefix, anything that does not parse).
func NationalFormat(e164, country string) string {
	if _, ok := e164Key(e164); !ok || country == "" {
		return e164
	}
	pn, err := phonenumbers.Parse(e164, "")
	if err != nil || !phonenumbers.IsValidNumberForRegion(pn, strings.ToUpper(country)) {
		if err == nil && int(pn.GetCountryCode()) == phonenumbers.GetCountryCodeForRegion(strings.ToUpper(country)) {
			// The home country's number that the metadata does not know
			// (060 mobiles): at least drop the country code.
			return phonenumbers.Format(pn, phonenumbers.NATIONAL)
		}
		return e164
	}
	return phonenumbers.Format(pn, phonenumbers.NATIONAL)
}
