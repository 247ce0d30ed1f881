package screening

import "fmt"

// Velocity limits: an indicator fires when the count in the window,
// this call included, exceeds its limit. A person redials a busy shop two
// or three times; a campaign dials one number more often, or spreads its
// calls over many numbers of one prefix.
const (
	// VelocityNumberLimit is how many calls from one number the window
	// tolerates.
	VelocityNumberLimit = 3
	// VelocityPrefixLimit is how many calls from one prefix the window
	// tolerates.
	VelocityPrefixLimit = 10
)

// checkVelocityNumber fires when one number called more than
// VelocityNumberLimit times in the window.
func checkVelocityNumber(c *Call) (string, bool) {
	v := c.Velocity
	if v.Number <= VelocityNumberLimit {
		return "", false
	}
	return fmt.Sprintf("%s called %d times %s (more than %d)", callerText(c.Caller), v.Number, windowText(v), VelocityNumberLimit), true
}

// checkVelocityPrefix fires when numbers of the caller's prefix called more
// than VelocityPrefixLimit times in the window.
func checkVelocityPrefix(c *Call) (string, bool) {
	v := c.Velocity
	if v.Prefix <= VelocityPrefixLimit {
		return "", false
	}
	return fmt.Sprintf("numbers sharing the prefix of %s called %d times %s (more than %d)", callerText(c.Caller), v.Prefix, windowText(v), VelocityPrefixLimit), true
}

func windowText(v VelocityCounts) string {
	if v.Window <= 0 {
		return "within the velocity window"
	}
	return "in the last " + v.Window.String()
}

// checkBlockList fires when the caller's number, or a prefix of it, is on
// the block list by an operator or an import; automatic throttles are
// checkThrottled's.
func checkBlockList(c *Call) (string, bool) {
	n := c.Caller
	if n.E164 == "" {
		return "", false
	}
	e, ok := c.Lists.Lookup(Block, n.E164, c.Now)
	if !ok || IsThrottle(e) {
		return "", false
	}
	return fmt.Sprintf("%s is on the block list%s", n.E164, entryText(e, n.E164)), true
}
