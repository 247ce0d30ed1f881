package dialplan

import (
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/callscreen/callscreen/screening"
)

// The channel variables callscreen sets for the dialplan.
const (
	// VarAction is the action carried out: ring, voicemail, reject, drop,
	// number-request (a passed challenge is ring, a failed one its
	// fallback).
	VarAction = "SCREEN_ACTION"
	// VarDecision is the engine's decision; it differs from SCREEN_ACTION
	// in monitor mode and after a challenge.
	VarDecision = "SCREEN_DECISION"
	// VarScore is the spoofing/robocall score.
	VarScore = "SCREEN_SCORE"
	// VarReasons lists the findings, separated by "+" (never ",", which
	// would split dialplan application arguments).
	VarReasons = "SCREEN_REASONS"
	// VarReason is the verdict's one-line summary.
	VarReason = "SCREEN_REASON"
	// VarID is the call's id in callscreen's log.
	VarID = "SCREEN_ID"
	// VarPresence is the number's presence class: presented, withheld,
	// payphone, unavailable, garbage.
	VarPresence = "SCREEN_PRESENCE"
	// VarProfile is the profile that screened the call.
	VarProfile = "SCREEN_PROFILE"
	// VarChallenge is "passed" or "failed" after a challenge.
	VarChallenge = "SCREEN_CHALLENGE"
	// VarNameFile is the caller's recorded name (path without extension).
	VarNameFile = "SCREEN_NAME_FILE"
	// VarLanguage sets the channel's language before prompts play.
	VarLanguage = "CHANNEL(language)"
)

// The variables the FastAGI front end sets in place of ARI's continue and
// hangup requests: an AGI session cannot move the call itself, so the
// dialplan after AGI() acts on them (see [callscreen-agi] in
// asterisk-conf/extensions.conf). Each session sets exactly one of
// VarContext and VarHangupCause and clears the other.
const (
	// VarContext, VarExten and VarPriority are where the dialplan must
	// Goto: ring, voicemail, or the hangup context for SIP 433. All three
	// are set together; VarContext last.
	VarContext  = "SCREEN_CONTEXT"
	VarExten    = "SCREEN_EXTEN"
	VarPriority = "SCREEN_PRIORITY"
	// VarHangupCause is the Q.850 cause the dialplan must hang up with:
	// 16 after an announcement, 21 to reject (SIP 403 before answer), 1 to
	// drop (SIP 404).
	VarHangupCause = "SCREEN_HANGUP_CAUSE"
)

// maxValue bounds a variable's value in bytes.
const maxValue = 256

// ReasonSeparator separates the findings in SCREEN_REASONS.
const ReasonSeparator = "+"

// Sanitize makes s safe to store in a channel variable that the dialplan
// will expand anywhere, including inside application arguments and $[]
// expressions: control characters (CR, LF, NUL, ...) and invalid UTF-8 are
// dropped, characters with a meaning in dialplan syntax
// (, ; | " ' ` \ $ [ ] { } ( ) and the like) become "_", and the result is
// cut to 256 bytes on a character boundary.
func Sanitize(s string) string {
	var b strings.Builder
	b.Grow(min(len(s), maxValue))
	for i, w := 0, 0; i < len(s); i += w {
		r, size := utf8.DecodeRuneInString(s[i:])
		w = size
		switch {
		case r == utf8.RuneError && size <= 1:
			continue
		case r < 0x20, r == 0x7f, unicode.IsControl(r), !unicode.IsPrint(r) && r != ' ':
			continue
		case strings.ContainsRune(",;|\"'`\\$[]{}()<>&=!^~", r):
			r = '_'
		}
		if b.Len()+utf8.RuneLen(r) > maxValue {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// verdictVars returns the variables every flow sets before the call leaves
// callscreen. Values are sanitised.
func verdictVars(v *screening.Verdict, taken screening.Action) map[string]string {
	reasons := strings.Split(v.Reasons(), ",")
	for i := range reasons {
		reasons[i] = Sanitize(reasons[i])
	}
	return map[string]string{
		VarAction:   Sanitize(string(taken)),
		VarDecision: Sanitize(string(v.Action)),
		VarScore:    strconv.Itoa(v.Score),
		VarReasons:  Sanitize(strings.Join(reasons, ReasonSeparator)),
		VarReason:   Sanitize(v.Reason),
		VarID:       Sanitize(v.CallID),
		VarPresence: Sanitize(string(v.Presence)),
		VarProfile:  Sanitize(v.Profile),
	}
}

// arrayWrites tracks whether Asterisk takes ARRAY() writes, which set
// several variables in one request or AGI command. One per front end,
// shared by its calls.
type arrayWrites struct {
	// off is set once Asterisk refused or ignored an ARRAY() write: from
	// then on every variable is set on its own.
	off atomic.Bool
	// verified is set once an ARRAY() write was read back (FastAGI, where
	// SET VARIABLE answers 200 even when the write failed).
	verified atomic.Bool
}

// arraySafe reports whether name=value can be part of an ARRAY() write:
// a plain variable name, and a value that ARRAY's argument parsing takes
// literally (no separators, quotes, escapes or brackets). An empty value
// is fine: with two names or more the joined value holds a comma.
func arraySafe(name, value string) bool {
	if name == "" || strings.ContainsAny(name, "(),\\\" '") {
		return false
	}
	return !strings.ContainsAny(value, ",\"'\\()[]{}$")
}
