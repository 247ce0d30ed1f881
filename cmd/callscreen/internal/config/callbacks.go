package config

import (
	"fmt"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// Callbacks configures expected callbacks: a number the business dials
// (the outbound route's callback hook) may call back unscreened.
type Callbacks struct {
	// Window is how long after the outbound call; 0 disables.
	Window time.Duration `mapstructure:"window"`
}

// callbackDefaults returns the defaults of callbacks.* and throttle.*.
func callbackDefaults() map[string]any {
	t := screening.DefaultThrottleConfig()
	return map[string]any{
		"callbacks.window":           "72h",
		"throttle.failures":          t.Failures,
		"throttle.window":            t.Window.String(),
		"throttle.retries":           t.Retries,
		"throttle.cooldown":          t.Cooldown.String(),
		"throttle.velocity":          t.Velocity,
		"throttle.velocity_cooldown": t.VelocityCooldown.String(),
		"throttle.max_tracked":       t.MaxTracked,
	}
}

// validateCallbacks checks callbacks.* and throttle.*.
func (c *Config) validateCallbacks() []error {
	var errs []error
	if w := c.Callbacks.Window; w < 0 || (w > 0 && w < time.Minute) {
		errs = append(errs, fmt.Errorf("callbacks.window: %v: want 0 (off) or at least 1m, such as 72h", w))
	}
	if err := c.Throttle.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errs
}
