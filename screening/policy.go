package screening

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Thresholds map a score to an action: a score at or above a threshold
// takes its action, the most severe first. Zero disables a step.
type Thresholds struct {
	Challenge int `mapstructure:"challenge" json:"challenge"`
	Voicemail int `mapstructure:"voicemail" json:"voicemail"`
	Reject    int `mapstructure:"reject" json:"reject"`
}

// Profile is the policy for a group of DIDs.
type Profile struct {
	Name string `mapstructure:"-" json:"name"`
	// Country is the ISO region the business is in ("JP"); numbers are
	// normalised and judged from there.
	Country string `mapstructure:"country" json:"country"`
	// OwnNumbers are the business's own numbers (E.164 or national form).
	OwnNumbers []string `mapstructure:"own_numbers" json:"own_numbers"`
	// NeighbourDigits is how many leading national digits a caller must
	// share with a called or own number to count as neighbour spoofing;
	// 0 means the number's length less four.
	NeighbourDigits int `mapstructure:"neighbour_digits" json:"neighbour_digits"`
	// Domestic says the business expects callers from its own country;
	// international callers then score.
	Domestic bool `mapstructure:"domestic" json:"domestic"`
	// Brands are names of domestic companies and authorities that
	// fraudsters put in the display name ("NTT", "警察", "Amazon").
	Brands []string `mapstructure:"brands" json:"brands"`
	// Monitor evaluates and logs every call but rings it anyway.
	Monitor bool `mapstructure:"monitor" json:"monitor"`

	Thresholds Thresholds `mapstructure:"thresholds" json:"thresholds"`
	// Weights overrides indicator weights by name; 0 disables one.
	Weights map[string]int `mapstructure:"weights" json:"weights,omitempty"`

	// The actions for calls without a usable number, and for scanners.
	Withheld    Action `mapstructure:"withheld" json:"withheld"`
	Payphone    Action `mapstructure:"payphone" json:"payphone"`
	Unavailable Action `mapstructure:"unavailable" json:"unavailable"`
	Scanner     Action `mapstructure:"scanner" json:"scanner"`
	// Throttled is the action for a number under an automatic, expiring
	// throttle (repeated failed challenges, velocity) that a carrier
	// vouches for (STIR/SHAKEN attestation A): voicemail or reject. A
	// throttled number nobody vouches for is challenged instead: it may
	// be a customer's, presented by someone else.
	Throttled Action `mapstructure:"throttled" json:"throttled"`

	// Hours, when set, are the profile's opening hours; outside them calls
	// get Hours.ClosedProfile.
	Hours Hours `mapstructure:"hours" json:"hours,omitzero"`

	// Sweep judges numbers that sweep the fleet (fleet mode): the
	// fleet-sweep indicator's thresholds and the fleet throttle.
	Sweep SweepPolicy `mapstructure:"sweep" json:"sweep"`
}

// DefaultProfile returns the profile every configured profile starts from.
func DefaultProfile(name string) Profile {
	return Profile{
		Name:       name,
		Country:    "JP",
		Domestic:   true,
		Thresholds: Thresholds{Challenge: 30, Voicemail: 60, Reject: 90},
		Withheld:   NumberRequest,
		Payphone:   Ring,
		// Unavailable (表示圏外) callers cannot show a number, but in Japan
		// most phone fraud now comes from abroad, and an international
		// call often arrives this way: a person passes the challenge, a
		// recorded robocall does not. Never voicemail only.
		Unavailable: Challenge,
		Scanner:     Drop,
		Throttled:   Voicemail,
		Sweep:       DefaultSweepPolicy(),
	}
}

// Validate checks the profile and returns an error naming the bad key.
func (p *Profile) Validate() error {
	var errs []error
	key := func(k string) string { return "profiles." + p.Name + "." + k }
	if len(p.Country) != 2 || strings.ToUpper(p.Country) != p.Country {
		errs = append(errs, fmt.Errorf("%s: %q is not a two-letter upper-case region code such as JP or US", key("country"), p.Country))
	}
	t := p.Thresholds
	if t.Challenge < 0 || t.Voicemail < 0 || t.Reject < 0 {
		errs = append(errs, fmt.Errorf("%s: thresholds must not be negative", key("thresholds")))
	}
	order := []struct {
		name string
		v    int
	}{{"challenge", t.Challenge}, {"voicemail", t.Voicemail}, {"reject", t.Reject}}
	last := 0
	for _, o := range order {
		if o.v == 0 {
			continue
		}
		if o.v < last {
			errs = append(errs, fmt.Errorf("%s.%s: %d is below an earlier, milder threshold (%d); thresholds must rise challenge <= voicemail <= reject", key("thresholds"), o.name, o.v, last))
		}
		last = o.v
	}
	for _, a := range []struct {
		name string
		v    Action
	}{{"withheld", p.Withheld}, {"payphone", p.Payphone}, {"unavailable", p.Unavailable}, {"scanner", p.Scanner}} {
		if _, err := ParseAction(string(a.v)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key(a.name), err))
		}
	}
	if p.Payphone == Reject || p.Payphone == Drop || p.Payphone == NumberRequest {
		errs = append(errs, fmt.Errorf("%s: payphones cannot show a number and must not be turned away; use ring, challenge or voicemail", key("payphone")))
	}
	if p.Unavailable == Reject || p.Unavailable == Drop || p.Unavailable == NumberRequest {
		errs = append(errs, fmt.Errorf("%s: out-of-area and international callers (表示圏外) cannot show a number and must not be asked to or turned away; use ring, challenge or voicemail", key("unavailable")))
	}
	if p.Throttled != Voicemail && p.Throttled != Reject {
		errs = append(errs, fmt.Errorf("%s: %q is not voicemail or reject (an attested throttled number is not challenged again)", key("throttled"), p.Throttled))
	}
	if !p.Hours.IsZero() {
		if _, err := p.Hours.parse(key("hours")); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.Sweep.validate(key); err != nil {
		errs = append(errs, err)
	}
	for name, w := range p.Weights {
		if w < 0 {
			errs = append(errs, fmt.Errorf("%s.%s: weight %d is negative", key("weights"), name, w))
		}
	}
	return errors.Join(errs...)
}

// Trunk is what callscreen knows about one PJSIP endpoint calls arrive on.
type Trunk struct {
	Name string `mapstructure:"-" json:"name"`
	// Trusted trunks are the provider: their identity headers are believed
	// and their calls are not scanners.
	Trusted bool `mapstructure:"trusted" json:"trusted"`
	// Addresses are the provider's signalling addresses or prefixes
	// ("203.0.113.10", "198.51.100.0/24"); a trusted trunk's call from
	// elsewhere is treated as untrusted.
	Addresses []string `mapstructure:"addresses" json:"addresses,omitempty"`
	// Presence maps a carrier's own forms of a missing number (a From
	// user such as "coin" or a display name such as "公衆電話") to a
	// presence class. Keys are matched case-insensitively.
	Presence map[string]Presence `mapstructure:"presence" json:"presence,omitempty"`

	prefixes []netip.Prefix
}

// Prepare parses the trunk's addresses.
func (t *Trunk) Prepare() error {
	t.prefixes = t.prefixes[:0]
	for _, a := range t.Addresses {
		var p netip.Prefix
		var err error
		if strings.Contains(a, "/") {
			p, err = netip.ParsePrefix(a)
		} else {
			var ip netip.Addr
			ip, err = netip.ParseAddr(a)
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		if err != nil {
			return fmt.Errorf("trunks.%s.addresses: %q is not an IP address or prefix: %w", t.Name, a, err)
		}
		t.prefixes = append(t.prefixes, p.Masked())
	}
	for k, v := range t.Presence {
		switch v {
		case Presented, Withheld, Payphone, Unavailable, Garbage:
		default:
			return fmt.Errorf("trunks.%s.presence.%s: unknown class %q (want withheld, payphone, unavailable, garbage or presented)", t.Name, k, v)
		}
	}
	return nil
}

// FromAddress reports whether source ("ip" or "ip:port") is one of the
// trunk's addresses; a trunk without addresses matches any source.
func (t *Trunk) FromAddress(source string) bool {
	if len(t.prefixes) == 0 {
		return true
	}
	ip, err := netip.ParseAddr(source)
	if err != nil {
		ap, err := netip.ParseAddrPort(source)
		if err != nil {
			return false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
