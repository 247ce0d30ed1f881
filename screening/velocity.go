package screening

import "time"

// VelocityCounts are the calls seen in the sliding window, this one
// included.
type VelocityCounts struct {
	// Window is the length of the sliding window.
	Window time.Duration
	// Number counts calls from the caller's number, Prefix from its
	// prefix (the number less its last PrefixCut digits), both across all
	// of the PBX's DIDs.
	Number int
	Prefix int
}
