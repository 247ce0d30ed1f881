package screening

import (
	"fmt"
	"sync"
	"time"
)

// DefaultEmergencyWindow is how long, after the business dials an
// emergency number, every inbound call rings unscreened. The police, fire
// brigade or ambulance may call back to confirm an address or follow up a
// report, from a withheld number or an unfamiliar one, within minutes or
// the next day; a day covers that (mobile networks likewise keep an
// emergency callback state after such a call) and costs at most a day of
// unscreened calls after an event that happens rarely.
const DefaultEmergencyWindow = 24 * time.Hour

// EmergencyCall is an outbound call to an emergency number, which opens
// the emergency-callback window of its profile.
type EmergencyCall struct {
	// Number is the emergency number dialled ("110").
	Number string `json:"number"`
	// What names it ("the police emergency number").
	What string `json:"what"`
	// CallID identifies the outbound call (its Asterisk unique id).
	CallID string `json:"call_id,omitempty"`
	// Profile is the tenant whose calls ring; "" for every profile.
	Profile string `json:"profile,omitempty"`
	// At is when it was dialled, Until when the window closes.
	At    time.Time `json:"at"`
	Until time.Time `json:"until"`
}

// String describes the call for the log: "110 (the police emergency
// number) dialled at 2025-06-02 10:00:00 by call 1700000000.1, until
// 2025-06-03 10:00:00".
func (c EmergencyCall) String() string {
	s := fmt.Sprintf("%s (%s) dialled at %s", c.Number, c.What, c.At.Format(time.DateTime))
	if c.CallID != "" {
		s += " by call " + c.CallID
	}
	return s + ", until " + c.Until.Format(time.DateTime)
}

// emergencyCalls remembers, per profile, the latest emergency call whose
// window is open. It is safe for concurrent use.
type emergencyCalls struct {
	mu    sync.Mutex
	calls map[string]EmergencyCall // by profile; "" is every profile
}

// add records c, keeping the later window per profile.
func (m *emergencyCalls) add(c EmergencyCall) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.calls == nil {
		m.calls = make(map[string]EmergencyCall)
	}
	if cur, ok := m.calls[c.Profile]; ok && cur.Until.After(c.Until) {
		return
	}
	m.calls[c.Profile] = c
}

// active returns the emergency call whose window covers a call to profile
// at now: the profile's own, else one for every profile.
func (m *emergencyCalls) active(profile string, now time.Time) (EmergencyCall, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range []string{profile, ""} {
		c, ok := m.calls[k]
		if !ok {
			continue
		}
		if !now.Before(c.Until) {
			delete(m.calls, k)
			continue
		}
		if !now.Before(c.At) {
			return c, true
		}
	}
	return EmergencyCall{}, false
}

// EmergencyCallback records that the business dialled number at now, when
// it is an emergency number of profile's country (110, 118, 119 in Japan;
// 911; 112): for the policy's EmergencyWindow every inbound call to that
// profile's DIDs (profile "" means every DID) rings unscreened, withheld
// ones included, and the log names this call. ok is false when number is
// not an emergency number or the window is 0; nothing is recorded then.
func (e *Engine) EmergencyCallback(number, profile, callID string, now time.Time) (EmergencyCall, bool) {
	window := e.policy.EmergencyWindow
	if window <= 0 {
		return EmergencyCall{}, false
	}
	country := e.profileFor(profile, "").Country
	digits, plus, ok := numberDigits(number)
	if !ok || plus {
		return EmergencyCall{}, false
	}
	what, emergency, ok := ServiceCode(digits, country)
	if !ok || !emergency {
		return EmergencyCall{}, false
	}
	if _, known := e.profiles[profile]; !known {
		profile = ""
	}
	c := EmergencyCall{Number: digits, What: what, CallID: callID, Profile: profile, At: now, Until: now.Add(window)}
	e.emergency.add(c)
	return c, true
}

// RestoreEmergency reopens the window of c, an emergency call recorded
// before a restart (EmergencyCallback returned it), when it is still open
// at now: a restart within the window must not close it. A profile that
// no longer exists widens it to every profile rather than dropping it.
// It reports whether the window was reopened; with the policy's
// EmergencyWindow at 0 (off) it never is.
func (e *Engine) RestoreEmergency(c EmergencyCall, now time.Time) bool {
	if e.policy.EmergencyWindow <= 0 || !now.Before(c.Until) || c.Number == "" {
		return false
	}
	if _, known := e.profiles[c.Profile]; !known {
		c.Profile = ""
	}
	e.emergency.add(c)
	return true
}
