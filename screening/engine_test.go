package screening

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// testPolicy is a Japanese business with one DID, a trusted provider and
// an untrusted public endpoint.
func testPolicy() Policy {
	def := DefaultProfile("default")
	def.OwnNumbers = []string{"0399990000"}
	def.Brands = []string{"NTT", "Amazon"}
	mon := DefaultProfile("trial")
	mon.Monitor = true
	strict := DefaultProfile("strict")
	strict.Withheld = Reject
	strict.Unavailable = Voicemail
	return Policy{
		Profiles: map[string]*Profile{"default": &def, "trial": &mon, "strict": &strict},
		Default:  "default",
		DIDs:     map[string]string{"0399998888": "trial"},
		Trunks: map[string]*Trunk{
			"provider": {Trusted: true, Addresses: []string{"203.0.113.10", "127.0.0.2"}},
			"public":   {},
		},
	}
}

func testEngine(t testing.TB, entries ...Entry) *Engine {
	t.Helper()
	var b ListBuilder
	for _, e := range entries {
		if err := b.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	e, err := NewEngine(testPolicy(), NewLists(b.Build()), NewNumbering(1000), NewVelocity(DefaultVelocityConfig()))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func provider(number string) *Facts {
	return &Facts{
		ID:           "c1",
		Time:         time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		Number:       number,
		Presentation: "allowed_not_screened",
		Called:       "0399990000",
		Trunk:        "provider",
		Source:       "203.0.113.10:5060",
		From:         "<sip:" + number + "@203.0.113.10>",
	}
}

func TestEvaluate(t *testing.T) {
	eng := testEngine(t,
		Entry{Kind: Allow, Number: "+18775550123", Reason: "our bank"},
		Entry{Kind: Allow, Number: "+81312340000"},
		Entry{Kind: Block, Number: "+81356781234", Reason: "nuisance"},
	)
	withName := func(f *Facts, name string) *Facts { f.Name = name; return f }
	public := func(f *Facts, ua string) *Facts {
		f.Trunk, f.Source, f.UserAgent = "public", "198.51.100.7:5060", ua
		return f
	}
	tests := []struct {
		name     string
		facts    *Facts
		profile  string
		action   Action
		enforced Action
		presence Presence
		fired    []string // indicators that must be among the findings
		override bool
	}{
		{name: "ordinary Tokyo landline rings", facts: provider("0312345678"), action: Ring, presence: Presented},
		{name: "US mobile rings", facts: provider("+12025550123"), action: Ring, presence: Presented, fired: []string{"international"}},
		{name: "anonymous.invalid is asked to redial",
			facts: func() *Facts {
				f := provider("anonymous")
				f.From = `"Anonymous" <sip:anonymous@anonymous.invalid>`
				return f
			}(),
			action: NumberRequest, presence: Withheld},
		{name: "prohibited presentation is withheld", facts: func() *Facts { f := provider("0312345678"); f.Presentation = "prohib_not_screened"; return f }(),
			action: NumberRequest, presence: Withheld},
		{name: "strict profile rejects withheld", facts: provider(""), profile: "strict", action: Reject, presence: Withheld},
		{name: "payphone always rings", facts: withName(provider("payphone"), "公衆電話"), action: Ring, presence: Payphone},
		{name: "own number spoofed", facts: provider("0399990000"), action: Voicemail, presence: Presented, fired: []string{"own-number"}},
		{name: "international toll-free is rejected", facts: provider("+18775550100"), action: Voicemail, presence: Presented, fired: []string{"inbound-only", "international"}},
		{name: "block list rejects", facts: provider("0356781234"), action: Reject, presence: Presented, fired: []string{"block-list"}},
		{name: "allow list overrides a high score", facts: provider("+18775550123"), action: Ring, presence: Presented, fired: []string{"inbound-only"}, override: true},
		{name: "scanner from the internet is dropped", facts: public(provider("100"), "friendly-scanner"), action: Drop, presence: Presented, fired: []string{"scanner-agent"}},
		{name: "scanner signals beat the allow list", facts: public(provider("+81312340000"), "sipcli/v1.8"), action: Drop, presence: Presented, fired: []string{"scanner-agent"}},
		{name: "monitor mode rings but records the verdict", facts: func() *Facts { f := provider(""); f.Called = "0399998888"; return f }(),
			action: NumberRequest, enforced: Ring, presence: Withheld},
		{name: "brand from abroad", facts: withName(provider("+442071234567"), "Amazon Japan"), action: Voicemail, presence: Presented, fired: []string{"international", "brand-impersonation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := eng.Evaluate(tt.facts, tt.profile)
			if v.Action != tt.action || v.Presence != tt.presence {
				t.Errorf("action %s presence %s, want %s %s\nverdict %+v", v.Action, v.Presence, tt.action, tt.presence, v)
			}
			want := tt.enforced
			if want == "" {
				want = tt.action
			}
			if v.Enforced != want {
				t.Errorf("enforced %s, want %s", v.Enforced, want)
			}
			for _, name := range tt.fired {
				if !strings.Contains(","+v.Reasons()+",", ","+name+",") {
					t.Errorf("%s did not fire; reasons %q, findings %+v", name, v.Reasons(), v.Findings)
				}
			}
			if (v.Override != "") != tt.override {
				t.Errorf("override %q, want present=%v", v.Override, tt.override)
			}
			score := 0
			for _, f := range v.Findings {
				score += f.Weight
				if f.Evidence == "" {
					t.Errorf("%s has no evidence", f.Indicator)
				}
			}
			if score != v.Score {
				t.Errorf("score %d is not the sum of the findings' weights %d", v.Score, score)
			}
		})
	}
}

func TestEvaluateDeterministic(t *testing.T) {
	f := provider("+442071234567")
	f.Name = "NTT"
	a := testEngine(t).Evaluate(f, "")
	b := testEngine(t).Evaluate(f, "")
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same facts, different verdicts:\n%+v\n%+v", a, b)
	}
}

func TestEvaluateWeightOverride(t *testing.T) {
	p := testPolicy()
	p.Profiles["default"].Weights = map[string]int{"own-number": 0}
	eng, err := NewEngine(p, NewLists(nil), NewNumbering(100), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := eng.Evaluate(provider("0399990000"), ""); strings.Contains(v.Reasons(), "own-number") {
		t.Errorf("disabled indicator fired: %+v", v)
	}
}

func TestNewEngineRejectsBadPolicy(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Policy)
		want   string
	}{
		{"unknown default", func(p *Policy) { p.Default = "nope" }, "default_profile"},
		{"unknown DID profile", func(p *Policy) { p.DIDs["0311112222"] = "nope" }, "dids.0311112222"},
		{"unknown weight", func(p *Policy) { p.Profiles["default"].Weights = map[string]int{"no-such": 5} }, "profiles.default.weights.no-such"},
		{"bad own number", func(p *Policy) { p.Profiles["default"].OwnNumbers = []string{"abc"} }, "profiles.default.own_numbers"},
		{"payphone rejected", func(p *Policy) { p.Profiles["default"].Payphone = Reject }, "profiles.default.payphone"},
		{"payphone number request", func(p *Policy) { p.Profiles["default"].Payphone = NumberRequest }, "profiles.default.payphone"},
		{"unavailable number request", func(p *Policy) { p.Profiles["default"].Unavailable = NumberRequest }, "profiles.default.unavailable"},
		{"unavailable rejected", func(p *Policy) { p.Profiles["default"].Unavailable = Reject }, "profiles.default.unavailable"},
		{"unavailable dropped", func(p *Policy) { p.Profiles["default"].Unavailable = Drop }, "profiles.default.unavailable"},
		{"thresholds out of order", func(p *Policy) { p.Profiles["default"].Thresholds.Voicemail = 10 }, "profiles.default.thresholds.voicemail"},
		{"bad trunk address", func(p *Policy) { p.Trunks["provider"].Addresses = []string{"not-an-ip"} }, "trunks.provider.addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPolicy()
			tt.mutate(&p)
			_, err := NewEngine(p, NewLists(nil), NewNumbering(100), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestEvaluateKeepsWithheldNumberOutOfVerdict(t *testing.T) {
	f := provider("0312340077")
	f.Privacy = "id"
	f.PAI = "<sip:0312340077@203.0.113.10>"
	v := testEngine(t).Evaluate(f, "")
	if v.Presence != Withheld || v.Caller != "" {
		t.Errorf("presence %s caller %q, want withheld with no caller", v.Presence, v.Caller)
	}
}
