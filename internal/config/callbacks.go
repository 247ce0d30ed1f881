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
	// EmergencyWindow is how long after the business dials an emergency
	// number through the same hook (110, 119, 911, 112) every inbound call
	// of the hook's profile rings unscreened; 0 disables.
	EmergencyWindow time.Duration `mapstructure:"emergency_window"`
}

// maxEmergencyWindow bounds callbacks.emergency_window: longer than a week
// is not a callback any more, and every call rings unscreened meanwhile.
const maxEmergencyWindow = 7 * 24 * time.Hour

// callbackDefaults returns the defaults of callbacks.* and throttle.*.
func callbackDefaults() map[string]any {
	t := screening.DefaultThrottleConfig()
	return map[string]any{
		"callbacks.window":           "72h",
		"callbacks.emergency_window": screening.DefaultEmergencyWindow.String(),
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
	if w := c.Callbacks.EmergencyWindow; w < 0 || w > maxEmergencyWindow {
		errs = append(errs, fmt.Errorf("callbacks.emergency_window: %v: want 0 (off) up to %v, such as 24h", w, maxEmergencyWindow))
	}
	if err := c.Throttle.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errs
}
