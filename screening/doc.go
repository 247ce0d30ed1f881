// Package screening is callscreen's domain: the facts an inbound call
// presents, how its number is classified, the spoofing and robocall
// indicators scored against it, the allow and block lists, call velocity,
// the per-profile policy that turns a score into an action, and the
// records of the call log.
//
// The package is pure: nothing on the per-call path does I/O. Evaluate is
// deterministic for the same facts, lists and velocity state.
package screening
