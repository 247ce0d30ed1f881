package screening

import (
	"errors"
	"fmt"
	"time"
)

// ErrCallbacksOff is returned by ExpectCallback when the policy's
// CallbackWindow is 0.
var ErrCallbacksOff = errors.New("expected callbacks are off (callbacks.window is 0)")

// ExpectCallback returns the allow entry that lets number, which the
// business dialled at now, call back unscreened for the policy's
// CallbackWindow. The number is normalised to E.164 with the country of
// profile ("" for the default profile), so that "+81...", "0..." and
// "81..." all give the same entry. ok is false when an allow entry that
// lasts at least as long already covers the number: nothing is to be
// written. ExpectCallback changes nothing itself.
func (e *Engine) ExpectCallback(number, profile string, now time.Time) (entry Entry, ok bool, err error) {
	window := e.policy.CallbackWindow
	if window <= 0 {
		return Entry{}, false, ErrCallbacksOff
	}
	country := e.profileFor(profile, "").Country
	n := e.numbers.Classify(number, country)
	if n.E164 == "" || n.Short {
		return Entry{}, false, fmt.Errorf("dialled number %q is not a telephone number callscreen can expect a call from", number)
	}
	entry = Entry{
		Kind:    Allow,
		Number:  n.E164,
		Expires: now.Add(window),
		Source:  SourceCallback,
		Reason:  "outbound call " + now.Format("2006-01-02 15:04"),
		Created: now,
	}
	if cur, found := e.lists.Lookup(Allow, n.E164, now); found && cur.Source != SourceCallback &&
		(cur.Expires.IsZero() || !cur.Expires.Before(entry.Expires)) {
		// A customer on the allow list stays there as the operator put them.
		return Entry{}, false, nil
	}
	return entry, true, nil
}
