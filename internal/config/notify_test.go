package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNotifyKeys(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := Load("")
		if err != nil {
			t.Fatal(err)
		}
		n := cfg.Notify
		if n.Enabled() || n.Webhook.Timeout != 10*time.Second || !slices.Equal(n.Events, []string{"reject", "challenge-failed"}) ||
			n.MinScore != 0 || n.Digest.At != "" || n.Digest.Timezone != "Local" || n.QueueSize != 1000 {
			t.Errorf("notify defaults = %+v", n)
		}
	})
	t.Run("file and environment", func(t *testing.T) {
		t.Setenv("CALLSCREEN_NOTIFY_WEBHOOK_SECRET", "from-env")
		t.Setenv("CALLSCREEN_NOTIFY_EVENTS", "reject")
		path := writeConfig(t, `
notify:
  webhook:
    url: https://hooks.example.com/callscreen
    timeout: 5s
  email:
    smtp: smtp.example.com:587
    from: "callscreen <pbx@example.com>"
    to: [owner@example.com]
    username: pbx
  min_score: 60
  digest:
    at: "18:00"
    timezone: Asia/Tokyo
`)
		cfg, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		n := cfg.Notify
		if n.Webhook.URL != "https://hooks.example.com/callscreen" || n.Webhook.Secret != "from-env" || n.Webhook.Timeout != 5*time.Second ||
			n.Email.SMTP != "smtp.example.com:587" || !slices.Equal(n.Email.To, []string{"owner@example.com"}) ||
			!slices.Equal(n.Events, []string{"reject"}) || n.MinScore != 60 || n.Digest.At != "18:00" || n.Digest.Timezone != "Asia/Tokyo" {
			t.Errorf("notify = %+v", n)
		}
		if _, fail := n.SecretProblems(); len(fail) != 1 || !strings.Contains(fail[0], "notify.email.password") {
			t.Errorf("SecretProblems fail = %q, want the missing email password", fail)
		}
	})
	for _, tc := range []struct{ name, yaml, want string }{
		{"typo", "notify:\n  webhok:\n    url: http://x\n", "webhok"},
		{"bad event", "notify:\n  events: [ring]\n", "notify.events"},
		{"digest without destination", "notify:\n  digest:\n    at: \"18:00\"\n", "notify.digest.at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
