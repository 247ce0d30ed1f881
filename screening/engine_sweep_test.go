package screening

import (
	"strings"
	"testing"
	"time"
)

// sweepCounts is a SweepSource answering from a map.
type sweepCounts map[string]SweepCounts

func (s sweepCounts) Lookup(e164 string, _ time.Time) SweepCounts { return s[e164] }

func TestEvaluateFleetSweep(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	const (
		robo     = "+81312345678" // swept the fleet and failed at 3
		wide     = "+81356781111" // called 4 businesses, failed nowhere
		customer = "+81398765432" // on this tenant's allow list, throttled fleet-wide
		quiet    = "+81344445555"
	)
	p := testPolicy()
	p.Fleet = sweepCounts{
		robo:     {Window: 10 * time.Minute, Tenants: 6, Failed: 3},
		wide:     {Window: 10 * time.Minute, Tenants: 3},
		customer: {Window: 10 * time.Minute, Tenants: 6, Failed: 3},
		quiet:    {Window: 10 * time.Minute, Tenants: 1},
	}
	lists := NewLists(nil)
	lists.Put(Entry{Kind: Allow, Number: customer, Source: SourceOperator, Reason: "regular", Tenant: "shop"})
	lists.Put(Entry{Kind: Block, Number: customer, Source: SourceFleetSweep, Reason: "failed the challenge 3 times across the fleet",
		Expires: now.Add(30 * time.Minute), Created: now})
	eng, err := NewEngine(p, lists, NewNumbering(100), nil)
	if err != nil {
		t.Fatal(err)
	}
	national := func(e164 string) *Facts {
		f := provider("0" + strings.TrimPrefix(e164, "+81"))
		f.Time = now
		return f
	}
	tests := []struct {
		name     string
		number   string
		action   Action
		evidence string // of the fleet-sweep finding, "" for none
		override bool
	}{
		{"robocaller", robo, Challenge, "+81312345678 called 7 businesses in the last 10m; failed the challenge 3 times", false},
		{"wide but clean", wide, Challenge, "+81356781111 called 4 businesses in the last 10m", false},
		{"allow-listed customer under a fleet throttle", customer, Ring, "", true},
		{"second business", quiet, Ring, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := eng.Evaluate(national(tt.number), "")
			if v.Action != tt.action {
				t.Errorf("action %s, want %s (%s)", v.Action, tt.action, v.Reason)
			}
			var got string
			for _, f := range v.Findings {
				if f.Indicator == IndicatorFleetSweep {
					got = f.Evidence
				}
			}
			if got != tt.evidence {
				t.Errorf("fleet-sweep evidence %q, want %q", got, tt.evidence)
			}
			if (v.Override != "") != tt.override {
				t.Errorf("override %q, want one: %v", v.Override, tt.override)
			}
		})
	}
}

func TestSweepPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		set  func(*SweepPolicy)
		err  string
	}{
		{"default", func(*SweepPolicy) {}, ""},
		{"all off", func(s *SweepPolicy) { *s = SweepPolicy{} }, ""},
		{"throttle", func(s *SweepPolicy) { s.Throttle = 30 * time.Minute }, ""},
		{"negative", func(s *SweepPolicy) { s.Failed = -1 }, "must not be negative"},
		{"one tenant", func(s *SweepPolicy) { s.Tenants = 1 }, "fires on every call"},
		{"short throttle", func(s *SweepPolicy) { s.Throttle = time.Second }, "shorter than a minute"},
		{"throttle without failures", func(s *SweepPolicy) { s.Throttle, s.Failed = time.Hour, 0 }, "set sweep.failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultProfile("shop")
			tt.set(&p.Sweep)
			err := p.Validate()
			if tt.err == "" && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), "profiles.shop.sweep") || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("Validate: %v, want an error naming profiles.shop.sweep and %q", err, tt.err)
			}
		})
	}
}

func TestSweepPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"+819012345678": "+819012345",
		"+81312345678":  "+81312345",
		"+1202555":      "+1202",
		"+120255":       "",
		"09012345678":   "",
		"":              "",
	} {
		if got := SweepPrefix(in); got != want {
			t.Errorf("SweepPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidateEntrySourceFleetSweep(t *testing.T) {
	exp := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	tests := []struct {
		kind    ListKind
		expires time.Time
		ok      bool
	}{
		{Block, exp, true},
		{Block, time.Time{}, false}, // a fleet throttle expires
		{Allow, exp, false},
		{DoNotOriginate, exp, false},
	}
	for _, tt := range tests {
		if err := ValidateEntrySource(tt.kind, SourceFleetSweep, tt.expires); (err == nil) != tt.ok {
			t.Errorf("ValidateEntrySource(%s, fleet-sweep, %v) = %v, want ok %v", tt.kind, tt.expires, err, tt.ok)
		}
	}
	if !IsThrottle(Entry{Kind: Block, Source: SourceFleetSweep}) {
		t.Error("a fleet-sweep block is not a throttle")
	}
}
