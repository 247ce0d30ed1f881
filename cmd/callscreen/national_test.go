package main

import (
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// TestNationalFormatOutput: "log" and "lists show" write the business's
// own country's numbers as its people do (03-5555-0000) and keep foreign
// numbers and prefixes in E.164.
func TestNationalFormatOutput(t *testing.T) {
	var b strings.Builder
	printEntries(&b, []screening.Entry{
		{Kind: screening.Allow, Number: "+81355550000", Source: screening.SourceOperator},
		{Kind: screening.Block, Number: "+12025550123", Source: screening.SourceOperator},
		{Kind: screening.Block, Number: "+8150*", Source: screening.SourceOperator},
	}, "JP")
	for _, want := range []string{"allow  03-5555-0000", "block  +12025550123", "block  +8150*"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lists show lacks %q:\n%s", want, b.String())
		}
	}

	def := screening.DefaultProfile("default")
	us := screening.DefaultProfile("us")
	us.Country = "US"
	eng, err := screening.NewEngine(screening.Policy{
		Profiles: map[string]*screening.Profile{"default": &def, "us": &us}, Default: "default",
	}, screening.NewLists(nil), screening.NewNumbering(10), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	b.Reset()
	printRecords(&b, []screening.Record{
		{Time: now, Verdict: screening.Verdict{Profile: "default", Caller: "+819012345678", Action: screening.Ring, Enforced: screening.Ring}},
		{Time: now, Verdict: screening.Verdict{Profile: "default", Caller: "+12025550123", Action: screening.Ring, Enforced: screening.Ring}},
		{Time: now, Verdict: screening.Verdict{Profile: "us", Caller: "+12025550123", Action: screening.Ring, Enforced: screening.Ring}},
		{Time: now, Verdict: screening.Verdict{Profile: "default", Presence: screening.Withheld, Action: screening.NumberRequest, Enforced: screening.NumberRequest}},
	}, eng)
	for _, want := range []string{"090-1234-5678", "+12025550123", "(202) 555-0123", "(withheld)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, b.String())
		}
	}
}
