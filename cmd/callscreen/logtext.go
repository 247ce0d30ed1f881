package main

import (
	"strings"

	"github.com/callscreen/callscreen/screening"
)

// verdictText is the VERDICT column of "callscreen log": the action, and
// in monitor mode what was done and what would have been:
// "ring (monitor; would have: number-request)".
func verdictText(v *screening.Verdict) string {
	if !v.Monitor {
		return string(v.Action)
	}
	enforced := v.Enforced
	if enforced == "" {
		enforced = screening.Ring
	}
	if v.Action == enforced {
		return string(enforced) + " (monitor)"
	}
	return string(enforced) + " (monitor; would have: " + string(v.Action) + ")"
}

// whyText is the REASONS column of "callscreen log": the indicators that
// fired, led by the allow entry that overrode them ("allowed: expected
// callback +81... (outbound call ...); fired: international") or the
// throttle that decided, and followed by the opening hours when they
// chose the profile.
func whyText(v *screening.Verdict) string {
	var names []string
	for _, f := range v.Findings {
		names = append(names, f.Indicator)
	}
	var s string
	switch {
	case v.Override == screening.OverrideEmergencyCallback:
		s = v.Reason
		if len(names) > 0 {
			s += "; fired: " + strings.Join(names, ", ")
		}
	case v.Override != "":
		s = "allowed: " + v.Override
		if len(names) > 0 {
			s += "; fired: " + strings.Join(names, ", ")
		}
	case strings.HasPrefix(v.Reason, screening.IndicatorThrottled+":"):
		s = v.Reason
	default:
		s = v.Reasons()
	}
	if v.Closed != "" {
		if s != "" {
			s += "; "
		}
		s += v.Closed
	}
	return s
}
