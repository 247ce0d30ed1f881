// Package integration holds callscreen's end-to-end tests: the callscreen
// binary against a real Asterisk 22 (integration/harness), with real SIP
// calls placed by sipp and a sipp desk phone, asserting what a caller and
// the business observe: who rang, which prompt played, which dialplan
// context was entered, what was logged.
//
// The tests run when CALLSCREEN_INTEGRATION=1 or CI=true (as root: the
// harness uses chroot and mount); otherwise every test is skipped and
// TestMain says why. Under CI=true a missing prerequisite fails the run
// instead of skipping it. `make integration` runs them.
package integration

import (
	"fmt"
	"os"
	"testing"
)

// enabled says whether the end-to-end tests run; skipReason says why not.
var (
	enabled    bool
	ci         bool
	skipReason string
)

func TestMain(m *testing.M) {
	ci = os.Getenv("CI") == "true"
	enabled = ci || os.Getenv("CALLSCREEN_INTEGRATION") == "1"
	if !enabled {
		skipReason = "end-to-end tests against a real Asterisk are off: set CALLSCREEN_INTEGRATION=1 (as root) or CI=true, or run `make integration`"
		fmt.Println("integration:", skipReason)
	}
	code := m.Run()
	if err := stopFixture(); err != nil {
		fmt.Fprintln(os.Stderr, "integration: cleanup:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
