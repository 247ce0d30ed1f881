package screening

import (
	"fmt"
	"strings"
)

// Action is what callscreen does with a call.
type Action string

// The actions a verdict can carry.
const (
	// Ring continues the call to the profile's ring target.
	Ring Action = "ring"
	// Challenge answers and asks the caller to press a random digit.
	Challenge Action = "challenge"
	// Voicemail continues the call to the profile's voicemail target.
	Voicemail Action = "voicemail"
	// Reject plays an optional announcement and hangs up.
	Reject Action = "reject"
	// NumberRequest asks a withheld caller to call again with the number
	// shown, then hangs up (or rejects with SIP 433 where configured).
	NumberRequest Action = "number-request"
	// Drop hangs up silently without answering (scanners).
	Drop Action = "drop"
)

// Actions lists every action, in order of increasing severity.
var actions = [...]Action{Ring, Challenge, Voicemail, NumberRequest, Reject, Drop}

// ParseAction returns the action named s.
func ParseAction(s string) (Action, error) {
	for _, a := range actions {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown action %q (want one of ring, challenge, voicemail, number-request, reject, drop)", s)
}

// OverrideEmergencyCallback is the Override of a call that rang because
// the business dialled an emergency number within the emergency window
// (Engine.EmergencyCallback); the Reason names that call.
const OverrideEmergencyCallback = "emergency-callback"

// Finding is one indicator that fired, with its weight and the evidence a
// person can read.
type Finding struct {
	Indicator string `json:"indicator"`
	Weight    int    `json:"weight"`
	Evidence  string `json:"evidence"`
}

// Verdict is the engine's decision for one call and everything that
// explains it.
type Verdict struct {
	CallID   string   `json:"call_id"`
	Profile  string   `json:"profile"`
	Presence Presence `json:"presence"`
	// Caller is the caller's number in E.164 when it could be normalised,
	// otherwise the raw number.
	Caller string `json:"caller"`
	// CallerType is the number's class (fixed-line, mobile, toll-free, ...).
	CallerType string `json:"caller_type,omitempty"`
	Score      int    `json:"score"`
	// Action is what the policy decided. In monitor mode it is what would
	// have happened; Enforced is then Ring.
	Action   Action `json:"action"`
	Enforced Action `json:"enforced"`
	Monitor  bool   `json:"monitor,omitempty"`
	// Override names the allow entry or expected callback that made the
	// call ring despite its findings, or is OverrideEmergencyCallback.
	Override string    `json:"override,omitempty"`
	Findings []Finding `json:"findings,omitempty"`
	// Reason is a one-line summary for logs and channel variables.
	Reason string `json:"reason"`
	// Closed says the call came outside the opening hours of the profile
	// it was addressed to, and so got that profile's closed_profile.
	Closed string `json:"closed,omitempty"`
	// Block asks the front end to put this entry on the block list: an
	// automatic, expiring throttle the engine decided on (velocity). The
	// engine itself changes no list.
	Block *Entry `json:"block,omitempty"`
}

// Reasons returns the names of the findings, comma separated, for logs and
// the call log. (SCREEN_REASONS joins them with dialplan.ReasonSeparator,
// because commas split dialplan application arguments.)
func (v *Verdict) Reasons() string {
	names := make([]string, 0, len(v.Findings)+1)
	switch v.Override {
	case "":
	case OverrideEmergencyCallback:
		names = append(names, OverrideEmergencyCallback)
	default:
		names = append(names, "allow")
	}
	for _, f := range v.Findings {
		names = append(names, f.Indicator)
	}
	if len(names) == 0 && v.Presence != Presented {
		names = append(names, string(v.Presence))
	}
	return strings.Join(names, ",")
}
