// Command callscreen screens inbound calls on an Asterisk PBX: it asks
// withheld callers to show their number, scores spoofing and robocall
// indicators, challenges or rejects suspicious callers and routes the rest
// into the integrator's dialplan. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		var ue usageError
		fmt.Fprintln(os.Stderr, "callscreen:", err)
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError marks errors in how a command was called.
type usageError struct{ error }
