package dialplan

import (
	"context"
	"crypto/rand"
	"errors"
	"time"
)

// ErrHangup is returned (wrapped) by Channel and VarReader methods when
// the caller has hung up.
var ErrHangup = errors.New("caller hung up")

// Cause is why callscreen hangs up a call. The values are the reasons
// Asterisk 22's ARI accepts in DELETE /channels/{id}?reason=.
type Cause string

// The causes the flows use.
const (
	// CauseNormal: Q.850 16, normal clearing (after an announcement).
	CauseNormal Cause = "normal"
	// CauseRejected: Q.850 21, call rejected; PJSIP answers 403 before
	// answer.
	CauseRejected Cause = "rejected"
	// CauseBusy: Q.850 17, user busy; PJSIP answers 486.
	CauseBusy Cause = "busy"
	// CauseUnallocated: Q.850 1, unallocated number; PJSIP answers 404.
	// Scanners take it as "no such extension" and move on.
	CauseUnallocated Cause = "unallocated"
)

// Q850 returns the cause's Q.850 code, as dialplan Hangup() takes it.
func (c Cause) Q850() int {
	switch c {
	case CauseRejected:
		return 21
	case CauseBusy:
		return 17
	case CauseUnallocated:
		return 1
	default:
		return 16
	}
}

// Channel is a live call as the flows see it. Implementations must return
// an error wrapping ErrHangup as soon as the caller has hung up, and must
// return when ctx is done.
type Channel interface {
	// Answer answers the call.
	Answer(ctx context.Context) error
	// Play plays the sounds in order and returns when they have finished.
	Play(ctx context.Context, sounds ...string) error
	// PlayAndRead plays the sounds and returns the first DTMF digit the
	// caller presses, interrupting the prompt, or "" when no key was
	// pressed within timeout after the prompt ended.
	PlayAndRead(ctx context.Context, sounds []string, timeout time.Duration) (digit string, err error)
	// SetVars sets channel variables (and writable functions such as
	// CHANNEL(language)).
	SetVars(ctx context.Context, vars map[string]string) error
	// Continue leaves callscreen and continues the call in the dialplan.
	// An empty t.Extension means the extension the call arrived on; a
	// zero priority means 1.
	Continue(ctx context.Context, t Target) error
	// Hangup hangs the call up with cause.
	Hangup(ctx context.Context, cause Cause) error
	// RecordName records up to max of the caller's voice as name and
	// returns the recording's path without extension, as dialplan
	// applications (Playback, Dial's A()) take it.
	RecordName(ctx context.Context, name string, max time.Duration) (file string, err error)
}

// VarReader reads channel variables and dialplan functions. ok is false
// when the variable is unset or the function has nothing to return (a SIP
// header the INVITE did not carry); err is reserved for real failures.
type VarReader interface {
	Get(ctx context.Context, name string) (value string, ok bool, err error)
}

// newID returns prefix followed by 16 random base32 characters: the name
// of a playback, or the id of a call Asterisk gave none.
func newID(prefix string) string {
	return prefix + rand.Text()[:16]
}
