package store

import (
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

func TestEmergencyCalls(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	call := func(number, profile, id string, dialled, window time.Duration) screening.EmergencyCall {
		return screening.EmergencyCall{Number: number, What: "the police emergency number", CallID: id, Profile: profile,
			At: at.Add(dialled), Until: at.Add(dialled + window)}
	}
	type save struct {
		tenant string
		call   screening.EmergencyCall
	}
	tests := []struct {
		name   string
		saves  []save
		tenant string
		now    time.Duration // after at
		want   []screening.EmergencyCall
	}{
		{name: "none", tenant: "", now: 0},
		{name: "one open", saves: []save{{"", call("110", "", "1.1", 0, 24*time.Hour)}}, now: time.Hour,
			want: []screening.EmergencyCall{call("110", "", "1.1", 0, 24*time.Hour)}},
		{name: "closed", saves: []save{{"", call("110", "", "1.1", 0, 24*time.Hour)}}, now: 24 * time.Hour},
		{name: "the later window wins", saves: []save{
			{"", call("110", "", "1.1", 0, 24*time.Hour)},
			{"", call("119", "", "1.2", time.Hour, 24*time.Hour)},
			{"", call("118", "", "1.3", 30*time.Minute, time.Hour)}, // closes earlier: kept out
		}, now: 2 * time.Hour, want: []screening.EmergencyCall{call("119", "", "1.2", time.Hour, 24*time.Hour)}},
		{name: "per profile", saves: []save{
			{"", call("110", "trial", "1.1", 0, 24*time.Hour)},
			{"", call("119", "", "1.2", 0, 24*time.Hour)},
		}, now: time.Hour, want: []screening.EmergencyCall{call("119", "", "1.2", 0, 24*time.Hour), call("110", "trial", "1.1", 0, 24*time.Hour)}},
		{name: "per tenant", saves: []save{
			{"bakery", call("110", "", "1.1", 0, 24*time.Hour)},
			{"dentist", call("119", "", "1.2", 0, 24*time.Hour)},
		}, tenant: "dentist", now: time.Hour, want: []screening.EmergencyCall{call("119", "", "1.2", 0, 24*time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			st := newStore(t)
			for _, s := range tt.saves {
				if err := st.SaveEmergencyCall(ctx, s.tenant, s.call, s.call.At); err != nil {
					t.Fatal(err)
				}
			}
			got, err := st.EmergencyCalls(ctx, tt.tenant, at.Add(tt.now))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("EmergencyCalls = %+v; want %+v", got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Number != w.Number || g.What != w.What || g.CallID != w.CallID || g.Profile != w.Profile || !g.At.Equal(w.At) || !g.Until.Equal(w.Until) {
					t.Errorf("EmergencyCalls[%d] = %+v; want %+v", i, g, w)
				}
			}
		})
	}
}

func TestSaveEmergencyCallRefuses(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	st := newStore(t)
	tests := []struct {
		name   string
		tenant string
		call   screening.EmergencyCall
	}{
		{"no number", "", screening.EmergencyCall{At: at, Until: at.Add(time.Hour)}},
		{"no window", "", screening.EmergencyCall{Number: "110", At: at, Until: at}},
		{"a bad tenant", "no spaces please", screening.EmergencyCall{Number: "110", At: at, Until: at.Add(time.Hour)}},
	}
	for _, tt := range tests {
		if err := st.SaveEmergencyCall(t.Context(), tt.tenant, tt.call, at); err == nil {
			t.Errorf("%s: saved", tt.name)
		}
	}
	// Saving prunes the windows closed by then.
	if err := st.SaveEmergencyCall(t.Context(), "", screening.EmergencyCall{Number: "110", Profile: "a", At: at, Until: at.Add(time.Hour)}, at); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveEmergencyCall(t.Context(), "", screening.EmergencyCall{Number: "119", Profile: "b", At: at.Add(2 * time.Hour), Until: at.Add(3 * time.Hour)}, at.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := st.r.QueryRowContext(t.Context(), "SELECT count(*) FROM emergency_calls").Scan(&n); err != nil || n != 1 {
		t.Errorf("%d rows (%v) after a save past the first window, want 1", n, err)
	}
}
