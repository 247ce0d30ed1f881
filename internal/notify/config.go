package notify

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The events a call can fire (notify.events).
const (
	// EventReject: the verdict was reject or drop, the call was rejected
	// (a failed challenge falling back to reject included).
	EventReject = "reject"
	// EventChallengeFailed: the caller pressed the wrong digit or nothing.
	EventChallengeFailed = "challenge-failed"
	// EventScore: the verdict's score reached notify.min_score.
	EventScore = "score"
	// EventDigest is the daily digest's event name.
	EventDigest = "digest"
	// EventSuppressed sums up the call notifications a destination did
	// not get because it reached notify.rate_limit.
	EventSuppressed = "suppressed"
)

// Config is the notify: section of callscreen.yaml. Notifications are off
// unless a webhook URL or an SMTP server is set.
type Config struct {
	Webhook WebhookConfig `mapstructure:"webhook"`
	Email   EmailConfig   `mapstructure:"email"`
	// Events are the call events that notify: reject, challenge-failed.
	Events []string `mapstructure:"events"`
	// MinScore notifies every call whose score reaches it; 0 disables.
	MinScore int `mapstructure:"min_score"`
	// Digest sends a daily summary.
	Digest DigestConfig `mapstructure:"digest"`
	// QueueSize bounds the notifications waiting per destination; more
	// are dropped (and counted) rather than delay a call.
	QueueSize int `mapstructure:"queue_size"`
	// RateLimit caps the call notifications each destination gets per
	// RateWindow; the rest are counted and sent as one "suppressed"
	// summary when the window ends. 0 disables the cap.
	RateLimit  int           `mapstructure:"rate_limit"`
	RateWindow time.Duration `mapstructure:"rate_window"`
}

// WebhookConfig is an HTTP endpoint receiving a JSON POST per notification.
type WebhookConfig struct {
	URL string `mapstructure:"url"`
	// Secret signs each body with HMAC-SHA256 (X-Callscreen-Signature).
	Secret string `mapstructure:"secret"`
	// Timeout bounds one attempt.
	Timeout time.Duration `mapstructure:"timeout"`
}

// EmailConfig is an SMTP server and the addresses of the notification
// mails.
type EmailConfig struct {
	// SMTP is the server as host:port (587 or 25: STARTTLS when offered;
	// 465: TLS from the start).
	SMTP     string   `mapstructure:"smtp"`
	From     string   `mapstructure:"from"`
	To       []string `mapstructure:"to"`
	Username string   `mapstructure:"username"`
	Password string   `mapstructure:"password"`
}

// DigestConfig schedules the daily digest.
type DigestConfig struct {
	// At is the local time of day, "18:00"; empty disables the digest.
	At string `mapstructure:"at"`
	// Timezone is an IANA zone name ("Asia/Tokyo") or "Local".
	Timezone string `mapstructure:"timezone"`
}

// Enabled reports whether any destination is configured.
func (c *Config) Enabled() bool { return c.Webhook.URL != "" || c.Email.SMTP != "" }

// Validate checks the section and names every bad key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("notify.%s: "+format, append([]any{key}, a...)...))
	}
	if u := c.Webhook.URL; u != "" {
		p, err := url.Parse(u)
		switch {
		case err != nil:
			bad("webhook.url", "%v", err)
		case p.Scheme != "http" && p.Scheme != "https" || p.Host == "":
			bad("webhook.url", "%q is not an http:// or https:// URL", u)
		}
	}
	if c.Webhook.Timeout < time.Second || c.Webhook.Timeout > 5*time.Minute {
		bad("webhook.timeout", "%s is outside 1s..5m", c.Webhook.Timeout)
	}
	if e := c.Email; e.SMTP != "" {
		if _, port, err := net.SplitHostPort(e.SMTP); err != nil {
			bad("email.smtp", "%q is not host:port", e.SMTP)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			bad("email.smtp", "port %q is not a number in 1..65535", port)
		}
		if _, err := mail.ParseAddress(e.From); err != nil {
			bad("email.from", "%q: %v", e.From, err)
		}
		if len(e.To) == 0 {
			bad("email.to", "required when email.smtp is set")
		}
		for _, to := range e.To {
			if _, err := mail.ParseAddress(to); err != nil {
				bad("email.to", "%q: %v", to, err)
			}
		}
		if e.Password != "" && e.Username == "" {
			bad("email.username", "required when email.password is set")
		}
	}
	for _, ev := range c.Events {
		if ev != EventReject && ev != EventChallengeFailed {
			bad("events", "%q is not reject or challenge-failed", ev)
		}
	}
	if c.MinScore < 0 {
		bad("min_score", "%d is negative", c.MinScore)
	}
	if c.RateLimit < 0 {
		bad("rate_limit", "%d is negative", c.RateLimit)
	}
	if c.RateLimit > 0 && (c.RateWindow < time.Minute || c.RateWindow > 24*time.Hour) {
		bad("rate_window", "%s is outside 1m..24h", c.RateWindow)
	}
	if c.QueueSize < 1 || c.QueueSize > 1_000_000 {
		bad("queue_size", "%d is outside 1..1000000", c.QueueSize)
	}
	if c.Digest.At != "" {
		if _, _, err := parseClock(c.Digest.At); err != nil {
			bad("digest.at", "%v", err)
		}
		if !c.Enabled() {
			bad("digest.at", "set, but neither notify.webhook.url nor notify.email.smtp is")
		}
	}
	if _, err := c.location(); err != nil {
		bad("digest.timezone", "%v", err)
	}
	return errors.Join(errs...)
}

// SecretProblems returns what is missing for the configured destinations
// to be trusted (for callscreen doctor): warnings and failures.
func (c *Config) SecretProblems() (warn, fail []string) {
	if c.Webhook.URL != "" && c.Webhook.Secret == "" {
		warn = append(warn, "notify.webhook.secret is empty: the receiver cannot tell callscreen's posts from forgeries (set CALLSCREEN_NOTIFY_WEBHOOK_SECRET)")
	}
	if c.Webhook.URL != "" && strings.HasPrefix(c.Webhook.URL, "http://") {
		if h := hostOf(c.Webhook.URL); h != "" && !isLoopback(h) {
			warn = append(warn, "notify.webhook.url is plain http to another host: callers' numbers cross the network unencrypted")
		}
	}
	if c.Email.SMTP != "" && c.Email.Username != "" && c.Email.Password == "" {
		fail = append(fail, "notify.email.password is empty while notify.email.username is set (set CALLSCREEN_NOTIFY_EMAIL_PASSWORD)")
	}
	return warn, fail
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Hostname()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) location() (*time.Location, error) {
	switch c.Digest.Timezone {
	case "", "Local":
		return time.Local, nil
	}
	return time.LoadLocation(c.Digest.Timezone)
}

// parseClock parses "HH:MM" (24-hour).
func parseClock(s string) (hour, minute int, err error) {
	h, m, ok := strings.Cut(s, ":")
	hour, err1 := strconv.Atoi(h)
	minute, err2 := strconv.Atoi(m)
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || err1 != nil || err2 != nil || hour < 0 || hour > 23 || minute < 0 || minute > 59 {
		return 0, 0, fmt.Errorf("%q is not a time of day such as 18:00", s)
	}
	return hour, minute, nil
}

func (c *Config) wants(ev string) bool { return slices.Contains(c.Events, ev) }
