package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "callscreen.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AGI.Listen != "127.0.0.1:4573" || cfg.HTTP.Listen != "127.0.0.1:8090" {
		t.Errorf("listeners not on loopback by default: %+v %+v", cfg.AGI, cfg.HTTP)
	}
	p, ok := cfg.Profiles["default"]
	if !ok {
		t.Fatal("no default profile")
	}
	if p.Screening.Withheld != "number-request" || p.Screening.Country != "JP" {
		t.Errorf("default profile = %+v", p.Screening)
	}
	if cfg.Calls.Deadline != 90*time.Second {
		t.Errorf("deadline %v", cfg.Calls.Deadline)
	}
	if cfg.Log.Retention != DefaultRetention || DefaultRetention != 90*24*time.Hour {
		t.Errorf("log.retention %v, want 90 days", cfg.Log.Retention)
	}
}

func TestLoadRetention(t *testing.T) {
	tests := []struct {
		yaml string
		want time.Duration
	}{
		{"log:\n  retention: 365d\n", 365 * 24 * time.Hour},
		{"log:\n  retention: 720h\n", 30 * 24 * time.Hour},
		{"log:\n  retention: 0\n", 0},
	}
	for _, tt := range tests {
		cfg, err := Load(writeConfig(t, tt.yaml))
		if err != nil {
			t.Errorf("%q: %v", tt.yaml, err)
			continue
		}
		if cfg.Log.Retention != tt.want {
			t.Errorf("%q: retention %v, want %v", tt.yaml, cfg.Log.Retention, tt.want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	path := writeConfig(t, `
database: /tmp/x.db
dids:
  "0399990000": office
trunks:
  provider:
    trusted: true
    addresses: [203.0.113.10, 198.51.100.0/24]
    presence:
      coin: payphone
profiles:
  office:
    own_numbers: ["0399990000"]
    thresholds: {challenge: 20, voicemail: 50, reject: 80}
    weights: {international: 5}
    monitor: true
default_profile: office
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Profiles["office"]
	if p.Screening.Thresholds.Challenge != 20 || !p.Screening.Monitor || p.Screening.Weights["international"] != 5 {
		t.Errorf("office profile = %+v", p.Screening)
	}
	// Keys the file does not set keep their defaults.
	if p.Screening.Withheld != "number-request" || p.Screening.Country != "JP" {
		t.Errorf("defaults lost: %+v", p.Screening)
	}
	if cfg.Trunks["provider"].Presence["coin"] != "payphone" {
		t.Errorf("trunk = %+v", cfg.Trunks["provider"])
	}
	pol := cfg.Policy()
	if pol.Default != "office" || pol.Profiles["office"].Name != "office" {
		t.Errorf("policy = %+v", pol)
	}
}

func TestLoadEnvironmentOverrides(t *testing.T) {
	t.Setenv("CALLSCREEN_ARI_PASSWORD", "s3cret-from-env")
	t.Setenv("CALLSCREEN_AGI_LISTEN", "127.0.0.1:14573")
	t.Setenv("CALLSCREEN_VELOCITY_WINDOW", "2m")
	cfg, err := Load(writeConfig(t, "ari:\n  password: from-file\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ARI.Password != "s3cret-from-env" || cfg.AGI.Listen != "127.0.0.1:14573" || cfg.Velocity.Window != 2*time.Minute {
		t.Errorf("environment not applied: ari %+v agi %+v velocity %+v", cfg.ARI, cfg.AGI, cfg.Velocity)
	}
	if err := cfg.CheckSecrets(); err != nil {
		t.Errorf("real password refused: %v", err)
	}
}

func TestLoadPasswordFile(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "ari.secret")
	if err := os.WriteFile(secret, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(writeConfig(t, "ari:\n  password_file: "+secret+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.CheckSecrets(); err != nil {
		t.Fatal(err)
	}
	if cfg.ARI.Password != "from-a-file" {
		t.Errorf("password %q", cfg.ARI.Password)
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", "databse: /tmp/x.db\n", "databse"},
		{"unknown profile key", "profiles:\n  default:\n    tresholds: {reject: 80}\n", "profiles.default"},
		{"bad threshold order", "profiles:\n  default:\n    thresholds: {challenge: 50, voicemail: 40, reject: 90}\n", "profiles.default.thresholds.voicemail"},
		{"bad action", "profiles:\n  default:\n    withheld: hangup\n", "profiles.default.withheld"},
		{"payphone rejected", "profiles:\n  default:\n    payphone: reject\n", "profiles.default.payphone"},
		{"unavailable asked for a number", "profiles:\n  default:\n    unavailable: number-request\n", "profiles.default.unavailable"},
		{"unavailable rejected", "profiles:\n  default:\n    unavailable: reject\n", "profiles.default.unavailable"},
		{"DID to unknown profile", "dids:\n  \"0311112222\": sales\n", "dids.0311112222"},
		{"default profile missing", "default_profile: sales\n", "default_profile"},
		{"bad trunk address", "trunks:\n  provider:\n    addresses: [example.com]\n", "trunks.provider.addresses"},
		{"bad presence class", "trunks:\n  provider:\n    presence: {coin: phonebox}\n", "trunks.provider.presence.coin"},
		{"bad duration", "calls:\n  deadline: soon\n", "deadline"},
		{"short deadline", "calls:\n  deadline: 1s\n", "calls.deadline"},
		{"bad log level", "log:\n  level: loud\n", "log.level"},
		{"retention under a day", "log:\n  retention: 1h\n", "log.retention"},
		{"bad retention", "log:\n  retention: forever\n", "retention"},
		{"bad velocity", "velocity:\n  width: 1000\n", "velocity.width"},
		{"not yaml", "profiles: [\n", "reading"},
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

func TestCheckSecretsMissingFile(t *testing.T) {
	cfg, err := Load(writeConfig(t, "ari:\n  password_file: /nonexistent/ari.secret\n"))
	if err != nil {
		t.Fatalf("a missing password file must not stop offline commands: %v", err)
	}
	if err := cfg.CheckSecrets(); err == nil || !strings.Contains(err.Error(), "ari.password_file") {
		t.Errorf("CheckSecrets = %v, want an error naming ari.password_file", err)
	}
}

func TestCheckSecrets(t *testing.T) {
	for _, tt := range []struct {
		password string
		lab, ok  bool
	}{
		{"", false, false},
		{"change-me", false, false},
		{"change-me", true, true},
		{"Xk9-long-random", false, true},
	} {
		cfg := &Config{ARI: ARI{Enabled: true, Password: tt.password, InsecurePassword: tt.lab}}
		if err := cfg.CheckSecrets(); (err == nil) != tt.ok {
			t.Errorf("password %q lab %v: err %v, want ok=%v", tt.password, tt.lab, err, tt.ok)
		}
	}
}

func TestAGIKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("agi.key", "0123456789abcdef0123\n", 0o600)
	group := write("group.key", "0123456789abcdef0123\n", 0o640)
	world := write("world.key", "0123456789abcdef0123\n", 0o604)
	const base = "ari:\n  enabled: false\nagi:\n"
	tests := []struct {
		name, yaml string
		env        string // CALLSCREEN_AGI_KEY
		err        string // CheckSecrets fails naming this
		key        string
	}{
		{name: "loopback without a key", yaml: base + "  listen: 127.0.0.1:4573\n"},
		{name: "IPv6 loopback without a key", yaml: base + "  listen: \"[::1]:4573\"\n"},
		{name: "all addresses without a key", yaml: base + "  listen: \":4573\"\n", err: "agi.listen"},
		{name: "LAN address without a key", yaml: base + "  listen: 192.0.2.10:4573\n", err: "agi.listen"},
		{name: "LAN address with a key file", yaml: base + "  listen: 192.0.2.10:4573\n  key_file: " + good + "\n", key: "0123456789abcdef0123"},
		{name: "group-readable key file", yaml: base + "  key_file: " + group + "\n", key: "0123456789abcdef0123"},
		{name: "world-readable key file", yaml: base + "  key_file: " + world + "\n", err: "mode 0604"},
		{name: "environment wins", yaml: base + "  key_file: " + good + "\n", env: "from-the-environment-1", key: "from-the-environment-1"},
		{name: "short key", yaml: base + "  key: short\n", err: "at least 16"},
		{name: "key with URL syntax", yaml: base + "  key: \"0123456789abcdef&x=1\"\n", err: "agi.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("CALLSCREEN_AGI_KEY", tt.env)
			}
			cfg, err := Load(writeConfig(t, tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.CheckSecrets()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("CheckSecrets = %v, want an error naming %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.AGI.Key != tt.key {
				t.Errorf("key %q, want %q", cfg.AGI.Key, tt.key)
			}
		})
	}
}

// TestNumberRequestHint: the hint after the Number Request follows the
// profile's country and prompt language unless set, and "" turns it off.
func TestNumberRequestHint(t *testing.T) {
	cfg, err := Load(writeConfig(t, `
profiles:
  default: {country: JP}
  us: {country: US}
  ja:
    country: JP
    prompts: {language: ja}
  fr: {country: FR}
  off:
    country: JP
    prompts: {number_request_hint: ""}
  own:
    country: JP
    prompts: {number_request_hint: callscreen/callscreen-hint-star82}
`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"default": "callscreen/callscreen-hint-186",
		"us":      "callscreen/callscreen-hint-star82",
		"ja":      "",
		"fr":      "",
		"off":     "",
		"own":     "callscreen/callscreen-hint-star82",
	} {
		if got := cfg.Profiles[name].Dialplan.Prompts.NumberRequestHint; got != want {
			t.Errorf("profiles.%s: number_request_hint %q, want %q", name, got, want)
		}
	}
}

func TestLoadSweep(t *testing.T) {
	cfg, err := Load(writeConfig(t, `
profiles:
  shop:
    sweep: {tenants: 4, throttle: 30m}
    weights: {fleet-sweep: 60}
  other: {monitor: true}
default_profile: shop
`))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Profiles["shop"].Screening.Sweep
	want := screening.SweepPolicy{Tenants: 4, Failed: 2, PrefixTenants: 6, Throttle: 30 * time.Minute}
	if got != want {
		t.Errorf("shop sweep = %+v, want %+v", got, want)
	}
	if got := cfg.Profiles["other"].Screening.Sweep; got != screening.DefaultSweepPolicy() {
		t.Errorf("other sweep = %+v, want the defaults", got)
	}
	if _, err := Load(writeConfig(t, "profiles:\n  shop:\n    sweep: {tenants: 1}\n")); err == nil || !strings.Contains(err.Error(), "profiles.shop.sweep") {
		t.Errorf("sweep.tenants 1: err %v, want one naming profiles.shop.sweep", err)
	}
}
