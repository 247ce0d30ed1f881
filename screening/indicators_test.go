package screening

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)

// testProfile is a Tokyo shop whose DID is 03-1234-5678 and which also
// publishes a toll-free number.
func testProfile() Profile {
	p := DefaultProfile("shop")
	p.OwnNumbers = []string{"0312345678", "0120111222"}
	p.Brands = []string{"Amazon", "三井住友"}
	return p
}

// newTestCall derives a Call from facts and a profile with the engine's
// own builder (Call.derive: parse From and PAI, classify presence,
// normalise the caller and the called number with the profile's country),
// and normalises the own numbers as NewEngine does.
func newTestCall(nb *Numbering, f Facts, p Profile, trusted bool) *Call {
	if f.Called == "" {
		f.Called = "0312345678"
	}
	c := &Call{
		Facts:   &f,
		Now:     testNow,
		Profile: &p,
		Trusted: trusted,
		Lists:   NewLists(nil),
	}
	c.derive(nb)
	for _, o := range p.OwnNumbers {
		c.Own = append(c.Own, nb.Classify(o, p.Country))
	}
	return c
}

// caller returns facts for a call presenting number in From.
func caller(number string) Facts {
	return Facts{Number: number, From: "<sip:" + number + "@ntt.example>"}
}

func indicatorByName(t *testing.T, name string) Indicator {
	t.Helper()
	for _, ind := range DefaultIndicators([]string{"evilscan"}) {
		if ind.Name == name {
			return ind
		}
	}
	t.Fatalf("no indicator %q", name)
	return Indicator{}
}

func testLists(t *testing.T, entries ...Entry) *Lists {
	t.Helper()
	var b ListBuilder
	for _, e := range entries {
		if err := b.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	return NewLists(b.Build())
}

// usProfile makes a profile a US business's.
func usProfile(p *Profile) { p.Country = "US" }

func TestIndicators(t *testing.T) {
	nb := NewNumbering(1000)
	blocked := []Entry{
		{Kind: Block, Number: "+815011112222", Source: SourceOperator, Reason: "solar panel sales"},
		{Kind: Block, Number: "+815011113333", Source: SourceOperator, Reason: "called 9 times", Expires: testNow.Add(time.Hour)},
		{Kind: Block, Number: "+4470*", Source: SourceImport},
		{Kind: DoNotOriginate, Number: "+81312340000"},
		{Kind: Block, Number: "+819044445555", Source: SourceChallengeFailures, Reason: "failed the challenge 3 times in 2m", Expires: testNow.Add(time.Hour)},
		{Kind: Block, Number: "+819044446666", Source: SourceFleetSweep, Reason: "failed the challenge 2 times across the fleet in the last 10m", Expires: testNow.Add(time.Hour)},
		{Kind: Allow, Number: "+819077778888", Source: SourceOperator, Reason: "a customer", Tenant: "shop"},
	}
	type row struct {
		name     string
		facts    Facts
		trusted  bool
		profile  func(*Profile)
		velocity VelocityCounts
		sweep    SweepCounts
		fire     bool
		evidence string // a substring of the evidence when fire
	}
	tests := map[string][]row{
		"invalid-number": {
			{name: "060 mobile is valid", facts: caller("06012345678")},
			{name: "050 IP phone is valid", facts: caller("05012345678")},
			{name: "Tokyo landline", facts: caller("0312345678")},
			{name: "11-digit 03", facts: caller("03123456789"), fire: true, evidence: "+813123456789 is not a valid number in JP"},
			{name: "short numbers are extension-like's", facts: caller("100")},
			{name: "impossible is impossible-length's", facts: caller("0312345")},
			{name: "withheld", facts: caller("anonymous")},
		},
		"impossible-length": {
			{name: "too short", facts: caller("0312345"), fire: true, evidence: `"0312345" has 7 national digits, a length no number in JP has`},
			{name: "US too short", facts: caller("+1202555012"), fire: true, evidence: "in US"},
			{name: "unknown country code", facts: caller("+999123456"), fire: true, evidence: "cannot be read as a telephone number"},
			{name: "invalid but possible", facts: caller("03123456789")},
			{name: "US mobile", facts: caller("+12025550123")},
			{name: "short", facts: caller("1000")},
		},
		"own-number": {
			{name: "the DID itself", facts: caller("0312345678"), fire: true, evidence: "+81312345678 is the number that was called"},
			{name: "the DID, international form", facts: caller("+81312345678"), fire: true},
			{name: "own toll-free", facts: caller("0120111222"), fire: true, evidence: "one of this business's own numbers"},
			{name: "another landline", facts: caller("0398765432")},
			{name: "called another DID", facts: Facts{Number: "0312345678", Called: "0311112222"}, fire: true, evidence: "own numbers"},
		},
		"neighbour-number": {
			{name: "same first 5 digits", facts: caller("0312345699"), fire: true, evidence: "shares its first 5 national digits (31234) with the called number +81312345678"},
			{name: "own number itself", facts: caller("0312345678")},
			{name: "other exchange", facts: caller("0398765432")},
			{name: "foreign number with same digits", facts: caller("+33312345699")},
			{name: "neighbour_digits 8", facts: caller("0312345699"), profile: func(p *Profile) { p.NeighbourDigits = 8 }},
			{name: "neighbour_digits 7", facts: caller("0312345699"), profile: func(p *Profile) { p.NeighbourDigits = 7 }, fire: true, evidence: "first 7"},
		},
		"inbound-only": {
			{name: "US toll-free calling a Japanese shop", facts: caller("+18775550100"), fire: true, evidence: "+18775550100 is a US toll-free number; toll-free numbers only receive calls"},
			{name: "JP 0120", facts: caller("0120123456"), fire: true, evidence: "JP toll-free"},
			{name: "JP 0800", facts: caller("08001234567"), fire: true},
			{name: "do-not-originate", facts: caller("0312340000"), fire: true, evidence: "do-not-originate list"},
			{name: "landline", facts: caller("0312340001")},
			{name: "US mobile", facts: caller("+12025550123")},
			{name: "JP 0120 from the trusted carrier", trusted: true, facts: caller("0120444444")},
			{name: "JP 0800 from the trusted carrier", trusted: true, facts: caller("08001234567")},
			{name: "US toll-free to a JP shop, trusted", trusted: true, facts: caller("+18775550100"), fire: true, evidence: "US toll-free"},
			{name: "+800 UIFN to a JP shop, trusted", trusted: true, facts: caller("+80012345678"), fire: true, evidence: "toll-free"},
			{name: "US toll-free to a US shop, trusted", trusted: true, facts: caller("+18775550100"), profile: usProfile},
			{name: "US toll-free to a US shop, untrusted", facts: caller("+18775550100"), profile: usProfile, fire: true},
			{name: "JP 0120 to a US shop, trusted", trusted: true, facts: caller("+81120444444"), profile: usProfile, fire: true},
			{name: "do-not-originate still fires when trusted", trusted: true, facts: caller("0312340000"), fire: true, evidence: "do-not-originate list"},
		},
		"premium-or-shared": {
			{name: "navi dial", facts: caller("0570123456"), fire: true, evidence: "+81570123456 is a JP UAN"},
			{name: "premium", facts: caller("0990123456"), fire: true, evidence: "premium-rate"},
			{name: "mobile", facts: caller("09012345678")},
			{name: "navi dial from the trusted carrier", trusted: true, facts: caller("0570123456")},
			{name: "premium from the trusted carrier", trusted: true, facts: caller("0990123456"), fire: true, evidence: "premium-rate"},
		},
		"domestic-service-number": {
			{name: "JP 0120 from the trusted carrier", trusted: true, facts: caller("0120444444"), fire: true, evidence: "+81120444444 is a JP toll-free number presented by the trusted carrier"},
			{name: "JP 0800", trusted: true, facts: caller("08001234567"), fire: true, evidence: "toll-free"},
			{name: "JP 0570", trusted: true, facts: caller("0570123456"), fire: true, evidence: "JP UAN"},
			{name: "JP 0120 untrusted", facts: caller("0120444444")},
			{name: "US toll-free to a JP shop", trusted: true, facts: caller("+18775550100")},
			{name: "US toll-free to a US shop", trusted: true, facts: caller("+18775550100"), profile: usProfile, fire: true, evidence: "US toll-free"},
			{name: "premium is not", trusted: true, facts: caller("0990123456")},
			{name: "landline is not", trusted: true, facts: caller("0312340001")},
		},
		"impossible-caller": {
			{name: "110 from the trusted carrier", trusted: true, facts: caller("110"), fire: true, evidence: "110 is the police emergency number; it never places calls"},
			{name: "110 untrusted", facts: caller("110"), fire: true, evidence: "police"},
			{name: "118", trusted: true, facts: caller("118"), fire: true, evidence: "118 is the Japan Coast Guard emergency number"},
			{name: "119", trusted: true, facts: caller("119"), fire: true, evidence: "119 is the fire and ambulance emergency number"},
			{name: "171", trusted: true, facts: caller("171"), fire: true, evidence: "disaster message dial"},
			{name: "177", trusted: true, facts: caller("177"), fire: true, evidence: "weather forecast"},
			{name: "188", trusted: true, facts: caller("188"), fire: true, evidence: "consumer hotline"},
			{name: "189", trusted: true, facts: caller("189"), fire: true, evidence: "child-abuse hotline"},
			{name: "104", trusted: true, facts: caller("104"), fire: true, evidence: "directory enquiries, a service code"},
			{name: "117", trusted: true, facts: caller("117"), fire: true, evidence: "speaking clock"},
			{name: "112 in JP", trusted: true, facts: caller("112"), fire: true, evidence: "112 is the European and GSM emergency number"},
			{name: "911 in JP", trusted: true, facts: caller("911"), fire: true, evidence: "911 is the North American emergency number"},
			{name: "911 in the US", trusted: true, facts: caller("911"), profile: usProfile, fire: true, evidence: "911 is the emergency number"},
			{name: "411 in the US", trusted: true, facts: caller("411"), profile: usProfile, fire: true, evidence: "directory enquiries"},
			{name: "112 in the US", trusted: true, facts: caller("112"), profile: usProfile, fire: true, evidence: "112"},
			{name: "4 digits from the trusted carrier", trusted: true, facts: caller("1234"), fire: true, evidence: "1234 has 4 digits, shorter than any subscriber number in JP"},
			{name: "3 digits", trusted: true, facts: caller("555"), fire: true, evidence: "3 digits"},
			{name: "5 digits", trusted: true, facts: caller("12345"), fire: true, evidence: "5 digits"},
			{name: "100 untrusted", facts: caller("100"), fire: true},
			{name: "Tokyo landline", trusted: true, facts: caller("0312345678")},
			{name: "police station landline", trusted: true, facts: caller("0335810110")},
			{name: "international", trusted: true, facts: caller("+12025550123")},
			{name: "+110 is not a short code", trusted: true, facts: caller("+110")},
			{name: "withheld", trusted: true, facts: Facts{Number: "anonymous", From: `<sip:anonymous@anonymous.invalid>`}},
		},
		"international": {
			{name: "US mobile", facts: caller("+12025550123"), fire: true, evidence: "+12025550123 is from US (+1); this business expects callers from JP"},
			{name: "+44", facts: caller("+442071234567"), fire: true},
			{name: "domestic", facts: caller("0312345678")},
			{name: "not domestic profile", facts: caller("+12025550123"), profile: func(p *Profile) { p.Domestic = false }},
			{name: "withheld", facts: Facts{Number: "anonymous", From: `<sip:anonymous@anonymous.invalid>`}},
		},
		"brand-impersonation": {
			{name: "+44 as police", facts: Facts{Number: "+442071234567", Name: "警視庁 捜査二課"}, fire: true, evidence: `display name "警視庁 捜査二課" names 警視庁, a domestic authority or brand, but the call comes from +442071234567 (GB)`},
			{name: "+86 as full-width NTT", facts: Facts{Number: "+8613812345678", From: `"ＮＴＴファイナンス" <sip:+8613812345678@gw>`}, fire: true, evidence: "names NTT"},
			{name: "+1 as profile brand", facts: Facts{Number: "+12025550123", Name: "AMAZON support"}, fire: true, evidence: "one of this profile's brands"},
			{name: "invalid domestic as bank", facts: Facts{Number: "03123456789", Name: "三井住友銀行"}, fire: true, evidence: "is not a valid number"},
			{name: "real domestic bank", facts: Facts{Number: "0312345000", Name: "三井住友銀行"}},
			{name: "international without brand", facts: Facts{Number: "+442071234567", Name: "John Smith"}},
			{name: "NTT inside a word", facts: Facts{Number: "+358401234567", Name: "ANTTI"}},
		},
		"uri-caller-id": {
			{name: "outlook.com email", facts: Facts{Number: "support@outlook.com", From: `<sip:support%40outlook.com@198.51.100.9>`}, fire: true, evidence: `caller ID "support@outlook.com" is an email address or URI`},
			{name: "domain as user", facts: Facts{Number: "outlook.com", From: `<sip:outlook.com@198.51.100.9>`}, fire: true, evidence: "is a domain name"},
			{name: "dotted number", facts: caller("03.1234.5678")},
			{name: "name", facts: Facts{Number: "asdf", From: `<sip:asdf@gw.example>`}},
			{name: "anonymous", facts: Facts{Number: "anonymous", From: `<sip:anonymous@anonymous.invalid>`}},
		},
		"identity-mismatch": {
			{name: "trusted mismatch", trusted: true, facts: Facts{Number: "0312345699", From: `<sip:0312345699@ntt>`, PAI: `<sip:+81398765432@ntt>`}, fire: true, evidence: "From shows 0312345699 but the provider asserts +81398765432"},
			{name: "untrusted mismatch", facts: Facts{Number: "0312345699", From: `<sip:0312345699@ntt>`, PAI: `<sip:+81398765432@ntt>`}},
			{name: "same number, other form", trusted: true, facts: Facts{Number: "0312345699", From: `<sip:0312345699@ntt>`, PAI: `<sip:+81312345699@ntt>, <tel:+81312345699>`}},
			{name: "access prefix form", trusted: true, facts: Facts{Number: "0442071234567", From: `<sip:01044207123456@ntt>`, PAI: `<tel:+4420712345 6>`}},
			{name: "tel only PAI differs", trusted: true, facts: Facts{Number: "0312345699", From: `<sip:0312345699@ntt>`, PAI: `<tel:+81398765432>`}, fire: true},
			{name: "no PAI", trusted: true, facts: caller("0312345699")},
			{name: "anonymous From with PAI", trusted: true, facts: Facts{Number: "anonymous", From: `<sip:anonymous@anonymous.invalid>`, PAI: `<sip:+81398765432@ntt>`, Privacy: "id"}},
		},
		"stir-failed": {
			{name: "Asterisk failure", facts: Facts{Number: "+12025550123", Identity: "eyJ...", Stir: []StirResult{{Attestation: "A", VerifyResult: "signature_validation"}}}, fire: true, evidence: "verification of identity 0 failed: signature_validation"},
			{name: "carrier failure in PAI", facts: Facts{Number: "+12025550123", PAI: `<sip:+12025550123@c;verstat=TN-Validation-Failed>`}, fire: true, evidence: "verstat=TN-Validation-Failed"},
			{name: "Asterisk success", facts: Facts{Number: "+12025550123", Stir: []StirResult{{Attestation: "A", VerifyResult: "success"}}}},
			{name: "passed", facts: Facts{Number: "+12025550123", Stir: []StirResult{{Attestation: "B", VerifyResult: "passed"}}}},
			{name: "no identity header", facts: Facts{Number: "+12025550123", Stir: []StirResult{{VerifyResult: "missing_identity_hdr"}}}},
			{name: "no validation", facts: Facts{Number: "+12025550123", PAI: `<tel:+12025550123;verstat=No-TN-Validation>`}},
		},
		"stir-attestation-c": {
			{name: "Asterisk C", facts: Facts{Number: "+12025550123", Stir: []StirResult{{Attestation: "C", VerifyResult: "success"}}}, fire: true, evidence: "attestation C"},
			{name: "verstat C in From", facts: Facts{Number: "+12025550123", From: `<sip:+12025550123@c>;verstat=TN-Validation-Passed-C`}, fire: true, evidence: "verstat=TN-Validation-Passed-C"},
			{name: "A", facts: Facts{Number: "+12025550123", Stir: []StirResult{{Attestation: "A", VerifyResult: "success"}}}},
			{name: "B verstat", facts: Facts{Number: "+12025550123", PAI: `<sip:+12025550123@c;verstat=TN-Validation-Passed-B>`}},
			{name: "C but failed is stir-failed's", facts: Facts{Number: "+12025550123", Stir: []StirResult{{Attestation: "C", VerifyResult: "cert_not_trusted"}}}},
		},
		"extension-like": {
			{name: "100 untrusted", facts: Facts{Number: "100", From: `"100" <sip:100@203.0.113.66>`, Source: "203.0.113.66:5060"}, fire: true, evidence: `caller ID "100" is an extension-like short number from 203.0.113.66:5060`},
			{name: "1000 untrusted", facts: caller("1000"), fire: true},
			{name: "100 trusted", trusted: true, facts: caller("100")},
			{name: "110 is a service code", facts: caller("110")},
			{name: "full number", facts: caller("0312345678")},
		},
		"scanner-agent": {
			{name: "friendly-scanner", facts: Facts{Number: "100", UserAgent: "friendly-scanner", Source: "203.0.113.66"}, fire: true, evidence: `User-Agent "friendly-scanner" is the SIP scanner "friendly-scanner", calling from 203.0.113.66`},
			{name: "sipcli with version", facts: Facts{UserAgent: "sipcli/v1.8"}, fire: true},
			{name: "VaxSIPUserAgent", facts: Facts{UserAgent: "VaxSIPUserAgent/3.1"}, fire: true},
			{name: "configured agent", facts: Facts{UserAgent: "EvilScan 2.0"}, fire: true},
			{name: "trusted", trusted: true, facts: Facts{UserAgent: "friendly-scanner"}},
			{name: "Asterisk PBX", facts: Facts{UserAgent: "Asterisk PBX 22.1.0"}},
			{name: "eyeBeam", facts: Facts{UserAgent: "eyeBeam release 1011d stamp 40820"}},
			{name: "smap inside a word", facts: Facts{UserAgent: "Bismapper 1.0"}},
		},
		"police-pattern": {
			{name: "0110 from abroad", facts: caller("+81312340110"), profile: func(p *Profile) { p.Country = "US" }, fire: true, evidence: "ends in 0110 like a police station's number, and the call also shows international"},
			{name: "0110 with failed STIR", facts: Facts{Number: "0312340110", PAI: `<sip:0312340110@c;verstat=TN-Validation-Failed>`}, fire: true, evidence: "stir-failed"},
			{name: "0110 with PAI mismatch", trusted: true, facts: Facts{Number: "0312340110", From: `<sip:0312340110@ntt>`, PAI: `<sip:+81398765432@ntt>`}, fire: true, evidence: "identity-mismatch"},
			{name: "0110 with police name from +81 invalid", facts: Facts{Number: "+813123450110", Name: "警察"}, fire: true, evidence: "invalid-number"},
			{name: "real police station", trusted: true, facts: caller("0335810110")},
			{name: "not 0110", facts: caller("+81312340111"), profile: func(p *Profile) { p.Country = "US" }},
		},
		"velocity-number": {
			{name: "4 calls", facts: caller("09012345678"), velocity: VelocityCounts{Window: 10 * time.Minute, Number: 4}, fire: true, evidence: "+819012345678 called 4 times in the last 10m0s (more than 3)"},
			{name: "3 calls", facts: caller("09012345678"), velocity: VelocityCounts{Window: 10 * time.Minute, Number: 3, Prefix: 3}},
		},
		"velocity-prefix": {
			{name: "11 calls", facts: caller("09012345678"), velocity: VelocityCounts{Window: time.Hour, Number: 1, Prefix: 11}, fire: true, evidence: "called 11 times in the last 1h0m0s (more than 10)"},
			{name: "10 calls", facts: caller("09012345678"), velocity: VelocityCounts{Window: time.Hour, Number: 1, Prefix: 10}},
		},
		"fleet-sweep": {
			{name: "seventh business, failed at three", facts: caller("09012345678"), sweep: SweepCounts{Window: 10 * time.Minute, Tenants: 6, Failed: 3}, fire: true,
				evidence: "+819012345678 called 7 businesses in the last 10m; failed the challenge 3 times"},
			{name: "third business", facts: caller("09012345678"), sweep: SweepCounts{Window: 10 * time.Minute, Tenants: 2}, fire: true, evidence: "+819012345678 called 3 businesses in the last 10m"},
			{name: "second business", facts: caller("09012345678"), sweep: SweepCounts{Window: 10 * time.Minute, Tenants: 1, Failed: 1}},
			{name: "failed twice, here only", facts: caller("09012345678"), sweep: SweepCounts{Window: 10 * time.Minute, Failed: 2}, fire: true, evidence: "+819012345678 failed the challenge 2 times in the last 10m"},
			{name: "failed twice at two businesses", facts: caller("09012345678"), sweep: SweepCounts{Window: 10 * time.Minute, Tenants: 1, Failed: 2}, fire: true, evidence: "failed the challenge 2 times in the last 10m, calling 2 businesses"},
			{name: "sixth business of the prefix", facts: caller("09012345678"), sweep: SweepCounts{Window: 10 * time.Minute, PrefixTenants: 5, PrefixFailed: 4}, fire: true,
				evidence: "numbers sharing the prefix of +819012345678 called 6 businesses in the last 10m; failed the challenge 4 times"},
			{name: "fifth business of the prefix", facts: caller("09012345678"), sweep: SweepCounts{Window: 10 * time.Minute, PrefixTenants: 4}},
			{name: "a customer on the allow list", facts: caller("09077778888"), sweep: SweepCounts{Window: 10 * time.Minute, Tenants: 9, Failed: 0, PrefixTenants: 9}},
			{name: "thresholds off", facts: caller("09012345678"), sweep: SweepCounts{Window: 10 * time.Minute, Tenants: 9, Failed: 9, PrefixTenants: 9},
				profile: func(p *Profile) { p.Sweep = SweepPolicy{} }},
			{name: "higher tenants threshold", facts: caller("09012345678"), sweep: SweepCounts{Window: 10 * time.Minute, Tenants: 3},
				profile: func(p *Profile) { p.Sweep.Tenants = 5 }},
			{name: "withheld", facts: caller("anonymous"), sweep: SweepCounts{Window: 10 * time.Minute, Tenants: 9, Failed: 9}},
		},
		"throttled": {
			{name: "fleet sweep", facts: caller("09044446666"), fire: true, evidence: "failed the challenge 2 times across the fleet in the last 10m; throttled until"},
			{name: "challenge failures", facts: caller("09044445555"), fire: true, evidence: "failed the challenge 3 times in 2m; throttled until"},
			{name: "an operator's block is not a throttle", facts: caller("05011112222")},
			{name: "not listed", facts: caller("09044445556")},
		},
		"block-list": {
			{name: "exact", facts: caller("05011112222"), fire: true, evidence: "+815011112222 is on the block list"},
			{name: "exact with reason", facts: caller("05011113333"), fire: true, evidence: `+815011113333 is on the block list (added by operator, "called 9 times")`},
			{name: "prefix", facts: caller("+447012345678"), fire: true, evidence: "(prefix +4470*, added by import)"},
			{name: "not listed", facts: caller("05011112223")},
			{name: "dno is not block", facts: caller("0312340000")},
			{name: "a fleet throttle is throttled's", facts: caller("09044446666")},
		},
	}
	// Adding an indicator means adding its rows here: one call on which
	// it fires and one on which it does not.
	for _, ind := range DefaultIndicators(nil) {
		var fires, quiet int
		for _, tt := range tests[ind.Name] {
			if tt.fire {
				fires++
			} else {
				quiet++
			}
		}
		if fires == 0 || quiet == 0 {
			t.Errorf("indicator %q has %d table cases that fire and %d that do not; want at least one of each", ind.Name, fires, quiet)
		}
	}
	for name, rows := range tests {
		ind := indicatorByName(t, name)
		for _, tt := range rows {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				p := testProfile()
				if tt.profile != nil {
					tt.profile(&p)
				}
				c := newTestCall(nb, tt.facts, p, tt.trusted)
				c.Lists = testLists(t, blocked...)
				c.Velocity = tt.velocity
				c.Sweep = tt.sweep
				evidence, hit := ind.Check(c)
				if hit != tt.fire {
					t.Fatalf("%s fired = %v (%q), want %v; caller %+v presence %s", name, hit, evidence, tt.fire, c.Caller, c.Presence)
				}
				if hit && !strings.Contains(evidence, tt.evidence) {
					t.Errorf("evidence %q does not contain %q", evidence, tt.evidence)
				}
				if !hit && evidence != "" {
					t.Errorf("evidence %q without a hit", evidence)
				}
			})
		}
	}
}

// TestIndicatorScenarios runs every indicator on real-world call shapes
// and checks exactly which fire.
func TestIndicatorScenarios(t *testing.T) {
	nb := NewNumbering(1000)
	tests := []struct {
		name    string
		facts   Facts
		trusted bool
		want    []string
	}{
		{"Tokyo landline via the provider", Facts{Number: "0398765432", Name: "ヤマダ", From: `"ヤマダ" <sip:0398765432@ntt.example>`, UserAgent: "NTT-NGN"}, true, nil},
		{"US mobile", Facts{Number: "+12025550123", From: `<sip:+12025550123@ntt.example>`}, true, []string{"international"}},
		{"US toll-free to a Japanese shop", Facts{Number: "+18775550100", From: `<sip:+18775550100@ntt.example>`}, true, []string{"inbound-only", "international"}},
		{"SIPVicious on the public address", Facts{Number: "100", From: `"100" <sip:100@203.0.113.66>`, UserAgent: "friendly-scanner", Source: "203.0.113.66:5060"}, false, []string{"impossible-caller", "extension-like", "scanner-agent"}},
		{"1000 from an unknown PBX", Facts{Number: "1000", From: `<sip:1000@203.0.113.67>`, UserAgent: "Asterisk PBX 18.2.0"}, false, []string{"impossible-caller", "extension-like"}},
		{"110 from the provider", Facts{Number: "110", Name: "警察", From: `"警察" <sip:110@ntt.example>`}, true, []string{"impossible-caller"}},
		{"4-digit caller from the provider", Facts{Number: "1234", From: `<sip:1234@ntt.example>`}, true, []string{"impossible-caller"}},
		{"bank's 0120 from the provider", Facts{Number: "0120444444", Name: "ミツビシ", From: `<sip:0120444444@ntt.example>`}, true, []string{"domestic-service-number"}},
		{"0120 from elsewhere", Facts{Number: "0120444444", From: `<sip:0120444444@x>`}, false, []string{"inbound-only"}},
		{"the business's own number", Facts{Number: "0312345678", From: `<sip:0312345678@ntt.example>`}, true, []string{"own-number"}},
		{"060 mobile", Facts{Number: "06012345678", From: `<sip:06012345678@ntt.example>`}, true, nil},
		{"050 IP phone", Facts{Number: "05012345678", From: `<sip:05012345678@ntt.example>`}, true, nil},
		{"+44 posing as the police", Facts{Number: "+442071234567", Name: "警察署"}, true, []string{"international", "brand-impersonation"}},
		{"+86 posing as Amazon", Facts{Number: "+8613812345678", Name: "Ａｍａｚｏｎ"}, true, []string{"international", "brand-impersonation"}},
		{"outlook.com address", Facts{Number: "billing@outlook.com", From: `"Billing" <sip:billing%40outlook.com@198.51.100.9>`}, false, []string{"uri-caller-id"}},
		{"payphone", Facts{Number: "payphone", Name: "公衆電話", From: `"公衆電話" <sip:payphone@ntt.example>`}, true, nil},
		{"withheld", Facts{Number: "anonymous", From: `"Anonymous" <sip:anonymous@anonymous.invalid>`, Privacy: "id"}, true, nil},
		{"PAI mismatch from the provider", Facts{Number: "0398765432", From: `<sip:0398765432@ntt.example>`, PAI: `<sip:+81311112222@ntt.example>`}, true, []string{"identity-mismatch"}},
		{"PAI mismatch from elsewhere", Facts{Number: "0398765432", From: `<sip:0398765432@x>`, PAI: `<sip:+81311112222@x>`}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCall(nb, tt.facts, testProfile(), tt.trusted)
			var got []string
			for _, ind := range DefaultIndicators(nil) {
				if _, hit := ind.Check(c); hit {
					got = append(got, ind.Name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("fired %q, want %q (caller %+v, presence %s)", got, tt.want, c.Caller, c.Presence)
			}
		})
	}
}

func TestDefaultIndicatorsShape(t *testing.T) {
	seen := map[string]bool{}
	for _, ind := range DefaultIndicators(nil) {
		if seen[ind.Name] {
			t.Errorf("duplicate indicator %q", ind.Name)
		}
		seen[ind.Name] = true
		if ind.Weight <= 0 || ind.Doc == "" || ind.Check == nil {
			t.Errorf("indicator %q is incomplete: %+v", ind.Name, ind)
		}
		if ind.Name != strings.ToLower(ind.Name) || strings.ContainsAny(ind.Name, " _") {
			t.Errorf("indicator name %q is not kebab-case", ind.Name)
		}
		// Every indicator must cope with an empty call.
		if _, hit := ind.Check(&Call{}); hit {
			t.Errorf("%s fired on an empty call", ind.Name)
		}
	}
	// Every indicator is documented in INDICATORS.md under its name.
	doc, err := os.ReadFile("INDICATORS.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range seen {
		if !strings.Contains(string(doc), "\n## "+name+"\n") {
			t.Errorf("INDICATORS.md has no section \"## %s\"", name)
		}
	}
}

func TestValidateScannerAgents(t *testing.T) {
	tests := []struct {
		agents []string
		ok     bool
	}{
		{[]string{"evilscan", "sipxdial-bot"}, true},
		{nil, true},
		{[]string{"Asterisk"}, false},
		{[]string{"eyebeam"}, false},
		{[]string{"sip"}, false},
		{[]string{"  "}, false},
	}
	for _, tt := range tests {
		if err := ValidateScannerAgents(tt.agents); (err == nil) != tt.ok {
			t.Errorf("ValidateScannerAgents(%q) = %v, want ok %v", tt.agents, err, tt.ok)
		}
	}
	// Refused agents are ignored by DefaultIndicators.
	for _, ind := range DefaultIndicators([]string{"Asterisk"}) {
		if ind.Name != "scanner-agent" {
			continue
		}
		c := &Call{Facts: &Facts{UserAgent: "Asterisk PBX 22.1.0"}}
		if _, hit := ind.Check(c); hit {
			t.Error("a configured broad agent name fired on Asterisk PBX")
		}
	}
}
