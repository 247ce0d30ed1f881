package main

import (
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

func TestPrintProfilesNow(t *testing.T) {
	office := screening.DefaultProfile("office")
	office.Hours = screening.Hours{Timezone: "Asia/Tokyo", Open: []string{"mon-fri 09:00-18:00"}, ClosedOn: []string{"jp-holidays", "12-29..01-03"}, ClosedProfile: "after-hours"}
	after := screening.DefaultProfile("after-hours")
	def := screening.DefaultProfile("default")
	def.Monitor = true
	dids := map[string]string{"0399991000": "office"}
	eng, err := screening.NewEngine(screening.Policy{
		Profiles: map[string]*screening.Profile{"office": &office, "after-hours": &after, "default": &def},
		Default:  "default", DIDs: dids,
	}, screening.NewLists(nil), screening.NewNumbering(10), nil)
	if err != nil {
		t.Fatal(err)
	}
	jst := time.FixedZone("JST", 9*3600)
	var b strings.Builder
	printProfilesNow(&b, eng, dids, time.Date(2026, 11, 28, 20, 15, 0, 0, jst))
	out := b.String()
	for _, want := range []string{
		"Profiles at Sat 2026-11-28 20:15 JST",
		"0399991000    after-hours  outside the hours of office (Sat 20:15 JST)",
		"(other DIDs)  default      no hours set; monitor mode",
		"Next closed day (hours.closed_on):\n  office  Tue 2026-12-29  closed_on 12-29..01-03",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	printProfilesNow(&b, eng, dids, time.Date(2026, 11, 27, 10, 0, 0, 0, jst))
	if !strings.Contains(b.String(), "0399991000    office   open") {
		t.Errorf("Friday 10:00:\n%s", b.String())
	}
	// Labor Thanksgiving Day, a Monday.
	b.Reset()
	printProfilesNow(&b, eng, dids, time.Date(2026, 11, 23, 10, 0, 0, 0, jst))
	for _, want := range []string{
		"0399991000    after-hours  office is closed on Mon 2026-11-23 (Labor Thanksgiving Day)",
		"office  Mon 2026-11-23  Labor Thanksgiving Day",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("2026-11-23 output lacks %q:\n%s", want, b.String())
		}
	}
}
