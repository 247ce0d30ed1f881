package config

import (
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

func TestCallbackAndThrottleDefaults(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Callbacks.Window != 72*time.Hour {
		t.Errorf("callbacks.window = %v, want 72h", cfg.Callbacks.Window)
	}
	if cfg.Throttle != screening.DefaultThrottleConfig() {
		t.Errorf("throttle = %+v, want %+v", cfg.Throttle, screening.DefaultThrottleConfig())
	}
	if a := cfg.Profiles["default"].Screening.Throttled; a != screening.Voicemail {
		t.Errorf("profiles.default.throttled = %q, want voicemail", a)
	}
	p := cfg.Policy()
	if p.EmergencyWindow != 24*time.Hour {
		t.Errorf("policy: emergency window %v, want 24h", p.EmergencyWindow)
	}
	if p.CallbackWindow != 72*time.Hour || p.Throttle.Failures != 3 {
		t.Errorf("policy: window %v throttle %+v", p.CallbackWindow, p.Throttle)
	}
}

func TestLoadHoursAndThrottle(t *testing.T) {
	cfg, err := Load(writeConfig(t, `
callbacks:
  window: 24h
throttle:
  failures: 2
  cooldown: 30m
  velocity: 0
dids:
  "0399991000": office
profiles:
  office:
    throttled: reject
    hours:
      timezone: Asia/Tokyo
      open: ["mon-fri 09:00-18:00", "sat 10:00-13:00"]
      closed_profile: after-hours
  after-hours:
    thresholds: {challenge: 0, voicemail: 1, reject: 90}
  default: {country: JP}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Callbacks.Window != 24*time.Hour || cfg.Throttle.Failures != 2 || cfg.Throttle.Cooldown != 30*time.Minute || cfg.Throttle.Velocity != 0 {
		t.Errorf("callbacks %+v throttle %+v", cfg.Callbacks, cfg.Throttle)
	}
	h := cfg.Profiles["office"].Screening.Hours
	if h.Timezone != "Asia/Tokyo" || len(h.Open) != 2 || h.ClosedProfile != "after-hours" {
		t.Errorf("hours %+v", h)
	}
	if cfg.Profiles["office"].Screening.Throttled != screening.Reject {
		t.Errorf("throttled %q", cfg.Profiles["office"].Screening.Throttled)
	}
	if _, err := screening.NewEngine(cfg.Policy(), screening.NewLists(nil), screening.NewNumbering(10), nil); err != nil {
		t.Errorf("engine: %v", err)
	}
}

func TestLoadRejectsCallbacksAndHours(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown day", "profiles:\n  office:\n    hours:\n      timezone: Asia/Tokyo\n      open: [\"mon-fri 09:00-18:00\", \"mon-fry 09:00-18:00\"]\n      closed_profile: default\n",
			`profiles.office.hours.open[1]: "mon-fry 09:00-18:00": unknown day "fry"`},
		{"unknown zone", "profiles:\n  office:\n    hours: {timezone: Tokyo, open: [\"mon 09:00-18:00\"], closed_profile: default}\n",
			`profiles.office.hours.timezone: "Tokyo" is not a known time zone`},
		{"unknown hours key", "profiles:\n  office:\n    hours: {tz: Asia/Tokyo}\n", "tz"},
		{"throttled challenge", "profiles:\n  default:\n    throttled: challenge\n", "profiles.default.throttled"},
		{"negative window", "callbacks:\n  window: -1h\n", "callbacks.window"},
		{"negative emergency window", "callbacks:\n  emergency_window: -1h\n", "callbacks.emergency_window"},
		{"emergency window over a week", "callbacks:\n  emergency_window: 200h\n", "callbacks.emergency_window"},
		{"short cooldown", "throttle:\n  cooldown: 5s\n", "throttle.cooldown"},
		{"retries 1", "throttle:\n  retries: 1\n", "throttle.retries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
}
