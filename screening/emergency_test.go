package screening

import (
	"strings"
	"testing"
	"time"
)

func emergencyEngine(t *testing.T, window time.Duration, entries ...Entry) *Engine {
	t.Helper()
	p := testPolicy()
	p.EmergencyWindow = window
	var b ListBuilder
	for _, e := range entries {
		if err := b.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	e, err := NewEngine(p, NewLists(b.Build()), NewNumbering(100), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// withheldAt is a withheld call to did at t.
func withheldAt(t time.Time, did string) *Facts {
	f := provider("anonymous")
	f.From = `"Anonymous" <sip:anonymous@anonymous.invalid>`
	f.Time, f.Called = t, did
	return f
}

func TestEmergencyCallbackNumbers(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		number, profile string
		ok              bool
		what            string
	}{
		{"110", "", true, "police"},
		{"119", "", true, "fire and ambulance"},
		{"118", "", true, "Coast Guard"},
		{"112", "", true, "GSM emergency"},
		{"911", "", true, "North American emergency"},
		{"1-1-0", "", true, "police"},
		{"177", "", false, ""}, // weather: a service, not an emergency
		{"0312345678", "", false, ""},
		{"+110", "", false, ""},
		{"abc", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			e := emergencyEngine(t, DefaultEmergencyWindow)
			c, ok := e.EmergencyCallback(tt.number, tt.profile, "out-1", now)
			if ok != tt.ok {
				t.Fatalf("EmergencyCallback(%q) ok = %v, want %v (%+v)", tt.number, ok, tt.ok, c)
			}
			if ok && (!strings.Contains(c.What, tt.what) || !c.Until.Equal(now.Add(24*time.Hour)) || c.CallID != "out-1") {
				t.Errorf("EmergencyCallback(%q) = %+v", tt.number, c)
			}
		})
	}
	if _, ok := emergencyEngine(t, 0).EmergencyCallback("110", "", "x", now); ok {
		t.Error("a window of 0 still opened one")
	}
}

// TestEmergencyCallbackWindow: after 110 is dialled every call of the
// profile rings, withheld, block-listed and impossible ones included, and
// the verdict names the outbound call; scanners are still dropped; after
// the window the ordinary actions return; a profile's window leaves other
// profiles screened.
func TestEmergencyCallbackWindow(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	withheld := func(d time.Duration, did string) *Facts { return withheldAt(at.Add(d), did) }
	blocked := func(d time.Duration) *Facts {
		f := provider("05011112222")
		f.Time = at.Add(d)
		return f
	}
	scanner := func(d time.Duration) *Facts {
		return &Facts{Time: at.Add(d), Number: "100", From: `<sip:100@198.51.100.66>`, UserAgent: "friendly-scanner", Trunk: "public", Source: "198.51.100.66:5060", Called: "0399990000"}
	}
	tests := []struct {
		name     string
		profile  string // the hook's profile
		facts    *Facts
		want     Action
		override bool
	}{
		{"withheld within the window", "", withheld(time.Hour, "0399990000"), Ring, true},
		{"block-listed within the window", "", blocked(time.Hour), Ring, true},
		{"110 caller within the window", "", func() *Facts { f := provider("110"); f.Time = at.Add(time.Minute); return f }(), Ring, true},
		{"scanner within the window", "", scanner(time.Hour), Drop, false},
		{"withheld after the window", "", withheld(25*time.Hour, "0399990000"), NumberRequest, false},
		{"before the call", "", withheld(-time.Minute, "0399990000"), NumberRequest, false},
		{"no profile opens every DID", "", withheld(time.Hour, "0399998888"), Ring, true},
		{"the hook's profile", "trial", withheld(time.Hour, "0399998888"), Ring, true},
		{"another profile stays screened", "trial", withheld(time.Hour, "0399990000"), NumberRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := emergencyEngine(t, DefaultEmergencyWindow, Entry{Kind: Block, Number: "+815011112222", Source: SourceOperator})
			if _, ok := e.EmergencyCallback("110", tt.profile, "1700000000.7", at); !ok {
				t.Fatal("110 did not open a window")
			}
			v := e.Evaluate(tt.facts, "")
			if v.Action != tt.want {
				t.Errorf("action %s (%s), want %s", v.Action, v.Reason, tt.want)
			}
			if got := v.Override == OverrideEmergencyCallback; got != tt.override {
				t.Errorf("override %q, want emergency-callback %v", v.Override, tt.override)
			}
			if tt.override {
				for _, s := range []string{"emergency-callback", "110 (the police emergency number)", "call 1700000000.7", "until 2026-11-24 09:00:00"} {
					if !strings.Contains(v.Reason, s) {
						t.Errorf("reason %q does not contain %q", v.Reason, s)
					}
				}
				if !strings.Contains(v.Reasons(), "emergency-callback") {
					t.Errorf("Reasons() = %q", v.Reasons())
				}
			}
		})
	}
}

// TestRestoreEmergency reopens a window recorded before a restart on a new
// engine: a withheld caller rings while it is open.
func TestRestoreEmergency(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	withheld := func(d time.Duration, did string) *Facts { return withheldAt(at.Add(d), did) }
	saved := func(profile string) EmergencyCall {
		c, ok := emergencyEngine(t, DefaultEmergencyWindow).EmergencyCallback("110", profile, "1700000000.7", at)
		if !ok {
			t.Fatal("110 did not open a window")
		}
		return c
	}
	gone := saved("trial")
	gone.Profile = "closed-branch" // a profile removed from the configuration since
	tests := []struct {
		name     string
		window   time.Duration // the new engine's callbacks.emergency_window
		call     EmergencyCall
		restored time.Duration // when serve starts again, after the 110 call
		facts    *Facts
		ok       bool
		want     Action
	}{
		{"within the window", DefaultEmergencyWindow, saved(""), time.Hour, withheld(2*time.Hour, "0399990000"), true, Ring},
		{"the window closes as it would have", DefaultEmergencyWindow, saved(""), time.Hour, withheld(25*time.Hour, "0399990000"), true, NumberRequest},
		{"restarted after the window", DefaultEmergencyWindow, saved(""), 25 * time.Hour, withheld(26*time.Hour, "0399990000"), false, NumberRequest},
		{"the profile's own window", DefaultEmergencyWindow, saved("trial"), time.Hour, withheld(2*time.Hour, "0399998888"), true, Ring},
		{"another profile stays screened", DefaultEmergencyWindow, saved("trial"), time.Hour, withheld(2*time.Hour, "0399990000"), true, NumberRequest},
		{"a profile gone opens every DID", DefaultEmergencyWindow, gone, time.Hour, withheld(2*time.Hour, "0399990000"), true, Ring},
		{"windows turned off since", 0, saved(""), time.Hour, withheld(2*time.Hour, "0399990000"), false, NumberRequest},
		{"a shorter window since keeps the promised one", time.Hour, saved(""), 30 * time.Minute, withheld(20*time.Hour, "0399990000"), true, Ring},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := emergencyEngine(t, tt.window)
			if ok := e.RestoreEmergency(tt.call, at.Add(tt.restored)); ok != tt.ok {
				t.Errorf("RestoreEmergency = %v, want %v", ok, tt.ok)
			}
			v := e.Evaluate(tt.facts, "")
			if v.Action != tt.want {
				t.Errorf("action %s (%s), want %s", v.Action, v.Reason, tt.want)
			}
			if tt.want == Ring && !strings.Contains(v.Reason, "110 (the police emergency number) dialled at 2026-11-23 09:00:00 by call 1700000000.7") {
				t.Errorf("reason %q does not name the 110 call", v.Reason)
			}
		})
	}
}
