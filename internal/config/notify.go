package config

import "github.com/callscreen/callscreen/internal/notify"

// notifyDefaults are the defaults of the notify: keys. Notifications are
// off until notify.webhook.url or notify.email.smtp is set. The secrets are
// best given in the environment: CALLSCREEN_NOTIFY_WEBHOOK_SECRET,
// CALLSCREEN_NOTIFY_EMAIL_PASSWORD.
func notifyDefaults() map[string]any {
	return map[string]any{
		"notify.webhook.url":     "",
		"notify.webhook.secret":  "",
		"notify.webhook.timeout": "10s",
		"notify.email.smtp":      "",
		"notify.email.from":      "",
		"notify.email.to":        []string{},
		"notify.email.username":  "",
		"notify.email.password":  "",
		"notify.events":          []string{notify.EventReject, notify.EventChallengeFailed},
		"notify.min_score":       0,
		"notify.digest.at":       "",
		"notify.digest.timezone": "Local",
		"notify.queue_size":      1000,
		"notify.rate_limit":      10,
		"notify.rate_window":     "10m",
	}
}
