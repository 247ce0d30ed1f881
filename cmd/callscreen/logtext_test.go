package main

import (
	"testing"

	"github.com/callscreen/callscreen/screening"
)

func TestVerdictText(t *testing.T) {
	tests := []struct {
		v    screening.Verdict
		want string
	}{
		{screening.Verdict{Action: screening.Reject, Enforced: screening.Reject}, "reject"},
		{screening.Verdict{Action: screening.NumberRequest, Enforced: screening.Ring, Monitor: true}, "ring (monitor; would have: number-request)"},
		{screening.Verdict{Action: screening.Ring, Enforced: screening.Ring, Monitor: true}, "ring (monitor)"},
		{screening.Verdict{Action: screening.Challenge, Monitor: true}, "ring (monitor; would have: challenge)"},
	}
	for _, tt := range tests {
		if got := verdictText(&tt.v); got != tt.want {
			t.Errorf("verdictText(%s) = %q, want %q", tt.v.Action, got, tt.want)
		}
	}
}

func TestWhyText(t *testing.T) {
	fired := []screening.Finding{{Indicator: "international"}, {Indicator: "inbound-only"}}
	tests := []struct {
		name string
		v    screening.Verdict
		want string
	}{
		{"scored", screening.Verdict{Presence: screening.Presented, Findings: fired}, "international,inbound-only"},
		{"withheld", screening.Verdict{Presence: screening.Withheld}, "withheld"},
		{"expected callback",
			screening.Verdict{Override: "expected callback +442071234567 (outbound call 2026-11-23 09:00)", Findings: fired},
			"allowed: expected callback +442071234567 (outbound call 2026-11-23 09:00); fired: international, inbound-only"},
		{"allowed, nothing fired", screening.Verdict{Override: "passed a challenge +81312345678"}, "allowed: passed a challenge +81312345678"},
		{"throttled",
			screening.Verdict{Reason: "throttled: failed the challenge 3 times in 2m; throttled until 15:04", Findings: []screening.Finding{{Indicator: "throttled"}}},
			"throttled: failed the challenge 3 times in 2m; throttled until 15:04"},
		{"after hours",
			screening.Verdict{Presence: screening.Presented, Findings: fired[:1], Closed: "outside the hours of office (Sat 20:15 JST)"},
			"international; outside the hours of office (Sat 20:15 JST)"},
	}
	for _, tt := range tests {
		if got := whyText(&tt.v); got != tt.want {
			t.Errorf("%s: whyText = %q, want %q", tt.name, got, tt.want)
		}
	}
}
