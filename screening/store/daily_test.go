package store

import (
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

func TestDailyCounts(t *testing.T) {
	st := newStore(t)
	loadCallLog(t, st)
	// 09:00 UTC is 23:45 here: c1 and c2 fall on 1 March, c3 to c9 on 2 March.
	late := time.FixedZone("UTC+14:45", (14*60+45)*60)
	day := func(loc *time.Location, m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, loc) }
	type want struct {
		day      time.Time
		calls    int
		byAction map[screening.Action]int
	}
	tests := []struct {
		name         string
		since, until time.Time
		loc          *time.Location
		want         []want
	}{
		{"UTC, whole days", day(time.UTC, 3, 1), day(time.UTC, 3, 3), time.UTC, []want{
			{day(time.UTC, 3, 1), 8, map[screening.Action]int{screening.Ring: 3, screening.Reject: 2, screening.NumberRequest: 1, screening.Voicemail: 1, screening.Challenge: 1}},
			{day(time.UTC, 3, 2), 0, map[screening.Action]int{}},
		}},
		{"local days split the morning", day(late, 3, 1), day(late, 3, 3), late, []want{
			{day(late, 3, 1), 2, map[screening.Action]int{screening.Ring: 1, screening.Reject: 1}},
			{day(late, 3, 2), 6, map[screening.Action]int{screening.Ring: 2, screening.Reject: 1, screening.NumberRequest: 1, screening.Voicemail: 1, screening.Challenge: 1}},
		}},
		{"since and until inside days bound the counts", t0.Add(15 * time.Minute), t0.Add(45 * time.Minute), time.UTC, []want{
			{day(time.UTC, 3, 1), 3, map[screening.Action]int{screening.Ring: 1, screening.NumberRequest: 1, screening.Reject: 1}},
		}},
		{"nil location is UTC", day(time.UTC, 3, 9), day(time.UTC, 3, 10), nil, []want{
			{day(time.UTC, 3, 9), 1, map[screening.Action]int{screening.Ring: 1}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.DailyCounts(t.Context(), tt.since, tt.until, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d days, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if !g.Day.Equal(w.day) || g.Calls != w.calls || !equalMaps(g.ByAction, w.byAction) {
					t.Errorf("day %d = %v %d %v, want %v %d %v", i, g.Day, g.Calls, g.ByAction, w.day, w.calls, w.byAction)
				}
			}
		})
	}
}

func TestDailyCountsDaylightSaving(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	st := newStore(t)
	loadCallLog(t, st)
	// Clocks went forward on 8 March 2026: that day has 23 hours.
	got, err := st.DailyCounts(t.Context(), time.Date(2026, 3, 7, 12, 0, 0, 0, ny), time.Date(2026, 3, 9, 12, 0, 0, 0, ny), ny)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].Day.Sub(got[1].Day) != 23*time.Hour || got[2].Calls != 1 {
		t.Errorf("DailyCounts over the change = %+v", got)
	}
}

func TestDailyCountsBadPeriod(t *testing.T) {
	st := newStore(t)
	for _, tt := range []struct {
		name         string
		since, until time.Time
	}{
		{"open since", time.Time{}, t0},
		{"open until", t0, time.Time{}},
		{"until before since", t0, t0.Add(-time.Hour)},
		{"too long", t0, t0.AddDate(0, 0, MaxDays+1)},
	} {
		if _, err := st.DailyCounts(t.Context(), tt.since, tt.until, time.UTC); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}
