package screening

import (
	"strings"
	"testing"
	"time"
)

func TestHoursParse(t *testing.T) {
	tests := []struct {
		name  string
		hours Hours
		err   string // substring; "" for valid
	}{
		{"office", Hours{Timezone: "Asia/Tokyo", Open: []string{"mon-fri 09:00-18:00", "sat 10:00-13:00"}, ClosedProfile: "after-hours"}, ""},
		{"lists and daily", Hours{Timezone: "UTC", Open: []string{"sat,sun 10:00-12:00", "daily 22:00-06:00", "fri-mon 00:00-24:00"}, ClosedProfile: "x"}, ""},
		{"unknown day", Hours{Timezone: "Asia/Tokyo", Open: []string{"mon-fri 09:00-18:00", "mon-fry 09:00-18:00"}, ClosedProfile: "x"},
			`profiles.office.hours.open[1]: "mon-fry 09:00-18:00": unknown day "fry"`},
		{"bad time", Hours{Timezone: "Asia/Tokyo", Open: []string{"mon 9:00-18:00"}, ClosedProfile: "x"}, `open[0]: "mon 9:00-18:00": time "9:00"`},
		{"24:00 start", Hours{Timezone: "Asia/Tokyo", Open: []string{"mon 24:00-18:00"}, ClosedProfile: "x"}, `time "24:00"`},
		{"minutes", Hours{Timezone: "Asia/Tokyo", Open: []string{"mon 09:60-18:00"}, ClosedProfile: "x"}, `time "09:60"`},
		{"empty range", Hours{Timezone: "Asia/Tokyo", Open: []string{"mon 09:00-09:00"}, ClosedProfile: "x"}, "is empty"},
		{"no range", Hours{Timezone: "Asia/Tokyo", Open: []string{"mon"}, ClosedProfile: "x"}, "want days and a time range"},
		{"no dash", Hours{Timezone: "Asia/Tokyo", Open: []string{"mon 0900"}, ClosedProfile: "x"}, "want HH:MM-HH:MM"},
		{"zone", Hours{Timezone: "Asia/Tokio", Open: []string{"mon 09:00-18:00"}, ClosedProfile: "x"}, `hours.timezone: "Asia/Tokio" is not a known time zone`},
		{"no zone", Hours{Open: []string{"mon 09:00-18:00"}, ClosedProfile: "x"}, "hours.timezone: required"},
		{"no spans", Hours{Timezone: "Asia/Tokyo", ClosedProfile: "x"}, "hours.open: at least one span"},
		{"no closed profile", Hours{Timezone: "Asia/Tokyo", Open: []string{"mon 09:00-18:00"}}, "hours.closed_profile: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.hours.parse("profiles.office.hours")
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestHoursOpen(t *testing.T) {
	s, err := Hours{
		Timezone:      "Asia/Tokyo",
		Open:          []string{"mon-fri 09:00-18:00", "sat 10:00-13:00", "sun 22:00-02:00"},
		ClosedProfile: "after-hours",
	}.parse("hours")
	if err != nil {
		t.Fatal(err)
	}
	jst := time.FixedZone("JST", 9*3600)
	tests := []struct {
		at   time.Time
		open bool
	}{
		// 2026-11-23 is a Monday.
		{time.Date(2026, 11, 23, 9, 0, 0, 0, jst), true},    // opening minute
		{time.Date(2026, 11, 23, 8, 59, 59, 0, jst), false}, // a second before
		{time.Date(2026, 11, 23, 17, 59, 0, 0, jst), true},
		{time.Date(2026, 11, 23, 18, 0, 0, 0, jst), false}, // closing minute is closed
		{time.Date(2026, 11, 28, 12, 30, 0, 0, jst), true}, // Saturday
		{time.Date(2026, 11, 28, 14, 0, 0, 0, jst), false},
		{time.Date(2026, 11, 29, 12, 0, 0, 0, jst), false}, // Sunday noon
		{time.Date(2026, 11, 29, 23, 0, 0, 0, jst), true},  // Sunday night span
		{time.Date(2026, 11, 30, 1, 59, 0, 0, jst), true},  // ... past midnight into Monday
		{time.Date(2026, 11, 30, 2, 0, 0, 0, jst), false},
		{time.Date(2026, 11, 24, 1, 0, 0, 0, jst), false}, // Tuesday 01:00: Monday has no night span
		// The same instants in UTC: the schedule reads them in Tokyo time.
		{time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), true},    // Mon 09:00 JST
		{time.Date(2026, 11, 22, 23, 59, 0, 0, time.UTC), false}, // Sun 23:59 UTC = Mon 08:59 JST
		{time.Date(2026, 11, 27, 8, 30, 0, 0, time.UTC), true},   // Fri 17:30 JST
		{time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), false},   // Fri 18:00 JST
		// Los Angeles, in daylight saving time: Mon 16:30 PDT = Tue 08:30 JST.
		{time.Date(2026, 7, 6, 16, 30, 0, 0, mustZone(t, "America/Los_Angeles")), false},
		{time.Date(2026, 7, 6, 17, 30, 0, 0, mustZone(t, "America/Los_Angeles")), true}, // Tue 09:30 JST
	}
	for _, tt := range tests {
		if got := s.open(tt.at); got != tt.open {
			t.Errorf("open(%s) = %v, want %v", tt.at.Format("Mon 2006-01-02 15:04 MST"), got, tt.open)
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone data: %v", err)
	}
	return loc
}

func TestEngineHours(t *testing.T) {
	p := testPolicy()
	office := DefaultProfile("office")
	office.Hours = Hours{Timezone: "Asia/Tokyo", Open: []string{"mon-fri 09:00-18:00"}, ClosedProfile: "after-hours"}
	after := DefaultProfile("after-hours")
	after.Thresholds = Thresholds{Voicemail: 1}
	p.Profiles["office"], p.Profiles["after-hours"] = &office, &after
	p.DIDs["0399997777"] = "office"
	eng, err := NewEngine(p, NewLists(nil), NewNumbering(100), nil)
	if err != nil {
		t.Fatal(err)
	}
	jst := time.FixedZone("JST", 9*3600)
	call := func(at time.Time) *Facts {
		f := provider("+442071234567") // international: scores with a domestic profile
		f.Called, f.Time = "0399997777", at
		return f
	}
	open := eng.Evaluate(call(time.Date(2026, 11, 23, 10, 0, 0, 0, jst)), "")
	if open.Profile != "office" || open.Closed != "" {
		t.Errorf("Monday 10:00: profile %q closed %q, want office", open.Profile, open.Closed)
	}
	closed := eng.Evaluate(call(time.Date(2026, 11, 28, 10, 0, 0, 0, jst)), "")
	if closed.Profile != "after-hours" || closed.Action != Voicemail || !strings.Contains(closed.Closed, "outside the hours of office (Sat 10:00 JST)") {
		t.Errorf("Saturday: profile %q action %s closed %q, want after-hours, voicemail, explained", closed.Profile, closed.Action, closed.Closed)
	}
	// A profile the dialplan asks for by name follows its hours too.
	if v := eng.Evaluate(call(time.Date(2026, 11, 28, 10, 0, 0, 0, jst)), "office"); v.Profile != "after-hours" {
		t.Errorf("requested office on Saturday: profile %q, want after-hours", v.Profile)
	}
	if prof, why := eng.ProfileAt("", "0399997777", time.Date(2026, 11, 23, 19, 0, 0, 0, jst)); prof.Name != "after-hours" || why == "" {
		t.Errorf("ProfileAt Monday 19:00 = %s %q", prof.Name, why)
	}

	bad := testPolicy()
	broken := DefaultProfile("office")
	broken.Hours = Hours{Timezone: "Asia/Tokyo", Open: []string{"mon-fri 09:00-18:00"}, ClosedProfile: "nowhere"}
	bad.Profiles["office"] = &broken
	if _, err := NewEngine(bad, NewLists(nil), NewNumbering(100), nil); err == nil || !strings.Contains(err.Error(), `profiles.office.hours.closed_profile: "nowhere" is not a configured profile`) {
		t.Errorf("NewEngine with a missing closed profile: %v", err)
	}
}

func TestHoursClosedOnParse(t *testing.T) {
	base := Hours{Timezone: "Asia/Tokyo", Open: []string{"mon-fri 09:00-18:00"}, ClosedProfile: "x"}
	tests := []struct {
		closed []string
		err    string
	}{
		{[]string{"jp-holidays", "12-29..01-03", "08-13", "2026-08-13..2026-08-16", "2027-01-04"}, ""},
		{[]string{"JP-Holidays"}, ""},
		{[]string{"us-holidays"}, `closed_on[0]: "us-holidays": "us-holidays": want jp-holidays`},
		{[]string{"12-32"}, `closed_on[0]: "12-32"`},
		{[]string{"2026-08-16..2026-08-13"}, "ends before it starts"},
		{[]string{"12-29..2027-01-03"}, "both ends"},
		{[]string{"29-12"}, "want jp-holidays"},
	}
	for _, tt := range tests {
		h := base
		h.ClosedOn = tt.closed
		_, err := h.parse("hours")
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: unexpected error: %v", tt.closed, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: error %v, want one containing %q", tt.closed, err, tt.err)
		}
	}
}

// TestHoursClosedOn: Japan's holidays, substitute holidays and the
// in-between holiday, a year-end closure across the new year, and dates.
func TestHoursClosedOn(t *testing.T) {
	s, err := Hours{
		Timezone:      "Asia/Tokyo",
		Open:          []string{"daily 09:00-18:00"},
		ClosedOn:      []string{"jp-holidays", "12-29..01-03", "2026-08-13..2026-08-14"},
		ClosedProfile: "after-hours",
	}.parse("hours")
	if err != nil {
		t.Fatal(err)
	}
	jst, _ := time.LoadLocation("Asia/Tokyo")
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 0, 0, 0, jst) }
	tests := []struct {
		at   time.Time
		open bool
		why  string
	}{
		{at(2026, 11, 23), false, "Labor Thanksgiving Day"},
		{at(2026, 11, 24), true, ""},
		{at(2026, 5, 3), false, "Constitution Memorial Day"}, // a Sunday
		{at(2026, 5, 6), false, "substitute holiday"},        // 振替休日 for 5-3
		{at(2026, 5, 7), true, ""},
		{at(2026, 9, 22), false, "between Respect for the Aged Day"}, // 国民の休日
		{at(2026, 12, 28), true, ""},
		{at(2026, 12, 29), false, "closed_on 12-29..01-03"},
		{at(2027, 1, 3), false, "12-29..01-03"},
		{at(2027, 1, 4), true, ""},
		{at(2026, 8, 13), false, "2026-08-13..2026-08-14"},
		{at(2027, 8, 13), true, ""},
		// Midnight in Tokyo is the previous day in UTC: the local day counts.
		{time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC), false, "Labor Thanksgiving Day"},
		{time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC), true, ""},
	}
	for _, tt := range tests {
		why, closed := s.closedDay(tt.at.In(jst))
		if got := s.open(tt.at); got != tt.open {
			t.Errorf("open(%s) = %v, want %v (%s)", tt.at, got, tt.open, why)
		}
		if !tt.open && (!closed || !strings.Contains(why, tt.why)) {
			t.Errorf("closedDay(%s) = %q, %v; want %q", tt.at, why, closed, tt.why)
		}
	}
	day, why, ok := s.nextClosed(time.Date(2026, 11, 24, 12, 0, 0, 0, jst))
	if !ok || day.Format(time.DateOnly) != "2026-12-29" || !strings.Contains(why, "12-29..01-03") {
		t.Errorf("nextClosed after 2026-11-24 = %s %q %v, want 2026-12-29", day, why, ok)
	}
	if got := s.closedText("office", at(2026, 5, 6)); got != "office is closed on Wed 2026-05-06 (Constitution Memorial Day, substitute holiday)" {
		t.Errorf("closedText = %q", got)
	}
}
