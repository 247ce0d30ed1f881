package screening

// NumberType is the class of a telephone number.
type NumberType string

// The number types.
const (
	TypeUnknown     NumberType = "unknown"
	TypeFixedLine   NumberType = "fixed-line"
	TypeMobile      NumberType = "mobile"
	TypeFixedMobile NumberType = "fixed-line-or-mobile"
	TypeTollFree    NumberType = "toll-free"
	TypePremiumRate NumberType = "premium-rate"
	TypeSharedCost  NumberType = "shared-cost"
	TypeVoIP        NumberType = "voip"
	TypePersonal    NumberType = "personal"
	TypePager       NumberType = "pager"
	TypeUAN         NumberType = "uan"
	TypeVoicemail   NumberType = "voicemail"
	TypeShort       NumberType = "short"
)

// Number is a presented number as classified by the numbering plan.
type Number struct {
	// Raw is the number as presented.
	Raw string `json:"raw"`
	// E164 is the normalised number ("+81312345678"), empty when Raw
	// could not be parsed as a telephone number.
	E164 string `json:"e164,omitempty"`
	// Region is the ISO region the number belongs to ("JP", "US").
	Region      string `json:"region,omitempty"`
	CountryCode int    `json:"country_code,omitempty"`
	// National is the national significant number ("312345678").
	National string     `json:"national,omitempty"`
	Type     NumberType `json:"type"`
	// Valid: the number matches a range assigned in its region (a pattern
	// check, not proof the number is in service). Possible: its length
	// is possible for its region.
	Valid    bool `json:"valid"`
	Possible bool `json:"possible"`
	// Short: an extension-like number of two to five digits.
	Short bool `json:"short,omitempty"`
}
