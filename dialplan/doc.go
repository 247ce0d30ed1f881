// Package dialplan is callscreen's Asterisk side: it gathers the facts a
// call presents from its channel, hands them to the screening engine, and
// carries the verdict out on the channel: continue into the integrator's
// ring or voicemail context, answer and play the Number Request
// announcement, challenge the caller to press a digit, or hang up.
//
// The seam is "verdict in, action on the channel": Act runs the flows
// against the small Channel interface, and Gather reads facts through the
// even smaller VarReader interface. The ARI front end (Stasis) implements
// both over github.com/CyCoreSystems/ari/v6; a FastAGI front end
// implements them over AGI. The flows are therefore written and tested
// once.
//
// A Handler owns one call's screening from end to end (gather, evaluate,
// act, remember, record), counts the calls in flight for a drain, and is
// the one path that continues a call unscreened. Stasis and FastAGI are
// transports around a Handler: NewStasis(h, StasisOptions{...}) and
// NewFastAGI(h, FastAGIOptions{...}) take only their own connection
// options, as http.Server takes an http.Handler.
//
// Every flow leaves channel variables for the dialplan (SCREEN_ACTION,
// SCREEN_SCORE, SCREEN_REASONS, ...) with values that cannot break
// dialplan syntax, and every failure of callscreen itself fails open: the
// call is continued to the profile's ring target.
package dialplan
