// Package config loads callscreen's configuration: one YAML file read with
// viper, every scalar key overridable by a CALLSCREEN_* environment
// variable, validated as a whole so that a bad file is refused with an
// error naming each bad key.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/callscreen/callscreen/dialplan"
	"github.com/callscreen/callscreen/internal/notify"
	"github.com/callscreen/callscreen/screening"
)

// Config is the whole configuration.
type Config struct {
	ARI      ARI                      `mapstructure:"ari"`
	AGI      AGI                      `mapstructure:"agi"`
	HTTP     HTTP                     `mapstructure:"http"`
	Database string                   `mapstructure:"database"`
	Fleet    Fleet                    `mapstructure:"fleet"`
	Log      Log                      `mapstructure:"log"`
	Calls    Calls                    `mapstructure:"calls"`
	Numbers  Numbers                  `mapstructure:"numbers"`
	Velocity screening.VelocityConfig `mapstructure:"velocity"`
	// ScannerAgents adds User-Agent fragments to the built-in scanner list.
	ScannerAgents []string `mapstructure:"scanner_agents"`
	// DefaultProfile is used when neither the dialplan nor the DID picks one.
	DefaultProfile string `mapstructure:"default_profile"`
	// DIDs maps called numbers to profiles.
	DIDs     map[string]string           `mapstructure:"dids"`
	Trunks   map[string]*screening.Trunk `mapstructure:"trunks"`
	Profiles map[string]*Profile         `mapstructure:"-"`

	// Notify sends webhooks and mail about rejected calls (see notify.go).
	Notify notify.Config `mapstructure:"notify"`

	// Callbacks and Throttle: expected callbacks and automatic throttles
	// (see callbacks.go).
	Callbacks Callbacks                `mapstructure:"callbacks"`
	Throttle  screening.ThrottleConfig `mapstructure:"throttle"`
}

// Profile is one profile: the engine's policy and the Asterisk side's
// targets and prompts, side by side under one key.
type Profile struct {
	Screening screening.Profile `mapstructure:",squash"`
	Dialplan  dialplan.Profile  `mapstructure:",squash"`
}

// ARI is the connection to Asterisk's REST interface.
type ARI struct {
	Enabled      bool   `mapstructure:"enabled"`
	URL          string `mapstructure:"url"`
	WebsocketURL string `mapstructure:"websocket_url"`
	Username     string `mapstructure:"username"`
	Password     string `mapstructure:"password"`
	// PasswordFile holds the password; it wins over Password.
	PasswordFile string `mapstructure:"password_file"`
	Application  string `mapstructure:"application"`
	// InsecurePassword allows an empty or sample password, for labs.
	InsecurePassword bool `mapstructure:"insecure_password"`
}

// AGI is the FastAGI listener.
type AGI struct {
	Enabled bool   `mapstructure:"enabled"`
	Listen  string `mapstructure:"listen"`
	// Key is the shared secret the dialplan passes in the AGI URL
	// (&key=${CALLSCREEN_AGI_KEY}); sessions without it are refused.
	// Required when Listen is not a loopback address. KeyFile holds it;
	// CALLSCREEN_AGI_KEY wins over KeyFile, KeyFile over Key.
	Key     string `mapstructure:"key"`
	KeyFile string `mapstructure:"key_file"`
	// MaxSessions caps the FastAGI sessions in progress; more are closed
	// at once and ring unscreened.
	MaxSessions int `mapstructure:"max_sessions"`
	// CallbackRate caps expected callbacks recorded a minute.
	CallbackRate int `mapstructure:"callback_rate"`
}

// HTTP is the listener for metrics and the admin API.
type HTTP struct {
	Listen string `mapstructure:"listen"`
	// MaxConnections caps the connections open at once; more wait.
	MaxConnections int `mapstructure:"max_connections"`
	// Dashboard serves the admin dashboard and JSON API (/, /api/) on
	// Listen, behind a login (see http.go).
	Dashboard        bool          `mapstructure:"dashboard"`
	Username         string        `mapstructure:"username"`
	Password         string        `mapstructure:"password"`
	PasswordFile     string        `mapstructure:"password_file"`
	InsecurePassword bool          `mapstructure:"insecure_password"`
	SessionTimeout   time.Duration `mapstructure:"session_timeout"`
	// IntegratorUsername and its password are a second login, for the
	// integrator who runs a fleet of servers: it sees the calls of every
	// server and tenant and changes entries of every scope. Empty: no
	// integrator login (see http.go).
	IntegratorUsername     string `mapstructure:"integrator_username"`
	IntegratorPassword     string `mapstructure:"integrator_password"`
	IntegratorPasswordFile string `mapstructure:"integrator_password_file"`
}

// Log configures callscreen's own logs, and how long the call log keeps
// its records.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
	// Retention is how long serve keeps call log records ("90d"); older
	// ones, and list entries past their expiry, are deleted every hour. 0
	// keeps everything.
	Retention time.Duration `mapstructure:"retention"`
	// Journal is the file that keeps every call record until the
	// database has it (see DefaultJournal).
	Journal string `mapstructure:"journal"`
}

// DefaultRetention is log.retention's default: 90 days (README.md says
// why).
const DefaultRetention = 90 * 24 * time.Hour

// Calls bounds per-call work.
type Calls struct {
	// Deadline is the longest a call may stay with callscreen before it is
	// sent to its ring target regardless.
	Deadline time.Duration `mapstructure:"deadline"`
	// ShutdownGrace is how long shutdown waits for calls in progress.
	ShutdownGrace time.Duration `mapstructure:"shutdown_grace"`
}

// Numbers sizes the number classifier's cache.
type Numbers struct {
	CacheSize int `mapstructure:"cache_size"`
}

// samplePasswords are passwords shipped in samples and documentation.
var samplePasswords = map[string]bool{"": true, "change-me": true, "changeme": true, "password": true, "asterisk": true, "callscreen": true}

// defaults returns every key's default, so that environment variables can
// override any of them and unknown keys can be told apart.
func defaults() map[string]any {
	v := screening.DefaultVelocityConfig()
	return map[string]any{
		"ari.enabled":           true,
		"ari.url":               "http://127.0.0.1:8088/ari",
		"ari.websocket_url":     "ws://127.0.0.1:8088/ari/events",
		"ari.username":          "callscreen",
		"ari.password":          "",
		"ari.password_file":     "",
		"ari.application":       "callscreen",
		"ari.insecure_password": false,
		"agi.enabled":           true,
		"agi.listen":            "127.0.0.1:4573",
		"agi.key":               "",
		"agi.key_file":          "",
		"agi.max_sessions":      1000,
		"agi.callback_rate":     60,
		"http.listen":           "127.0.0.1:8090",
		"database":              "/var/lib/callscreen/callscreen.db",
		"log.level":             "info",
		"log.format":            "text",
		"log.retention":         "90d",
		"calls.deadline":        "90s",
		"calls.shutdown_grace":  "30s",
		"numbers.cache_size":    100000,
		"velocity.window":       v.Window.String(),
		"velocity.buckets":      v.Buckets,
		"velocity.width":        v.Width,
		"velocity.depth":        v.Depth,
		"velocity.prefix_cut":   v.PrefixCut,
		"scanner_agents":        []string{},
		"default_profile":       "default",
	}
}

// Load reads the configuration file at path ("" for defaults and
// environment only), applies CALLSCREEN_* environment overrides and
// validates the result.
func Load(path string) (*Config, error) {
	v := viper.New()
	for k, d := range defaults() {
		v.SetDefault(k, d)
	}
	for k, d := range httpDefaults() {
		v.SetDefault(k, d)
	}
	for k, d := range notifyDefaults() {
		v.SetDefault(k, d)
	}
	for k, d := range callbackDefaults() {
		v.SetDefault(k, d)
	}
	for k, d := range fleetDefaults() {
		v.SetDefault(k, d)
	}
	v.SetEnvPrefix("CALLSCREEN")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	if path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
	}
	return decode(v)
}

func decode(v *viper.Viper) (*Config, error) {
	var cfg Config
	hook := mapstructure.ComposeDecodeHookFunc(
		daysHook,
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)
	all := v.AllSettings()
	profiles, _ := all["profiles"].(map[string]any)
	delete(all, "profiles")
	if err := decodeInto(all, &cfg, hook); err != nil {
		return nil, err
	}
	if len(profiles) == 0 {
		profiles = map[string]any{"default": map[string]any{}}
	}
	cfg.Profiles = make(map[string]*Profile, len(profiles))
	var errs []error
	for name, raw := range profiles {
		p := &Profile{Screening: screening.DefaultProfile(name), Dialplan: dialplan.DefaultProfile()}
		m, ok := raw.(map[string]any)
		if raw != nil && !ok {
			errs = append(errs, fmt.Errorf("profiles.%s: want a mapping of settings, got %v", name, raw))
			continue
		}
		if err := decodeInto(m, p, hook); err != nil {
			errs = append(errs, fmt.Errorf("profiles.%s: %w", name, err))
			continue
		}
		p.Screening.Name = name
		if !hasKey(m, "prompts", "number_request_hint") {
			p.Dialplan.Prompts.NumberRequestHint = dialplan.DefaultNumberRequestHint(p.Screening.Country, p.Dialplan.Prompts.Language)
		}
		cfg.Profiles[name] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// hasKey reports whether the nested mapping m sets the key path (an
// explicit empty value included).
func hasKey(m map[string]any, path ...string) bool {
	for i, k := range path {
		v, ok := m[k]
		if !ok {
			return false
		}
		if i == len(path)-1 {
			return true
		}
		if m, ok = v.(map[string]any); !ok {
			return false
		}
	}
	return false
}

// daysHook reads a duration given in whole days ("90d"), which Go's
// duration syntax lacks, for any time.Duration setting.
func daysHook(_, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	if n, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok {
		if d, err := strconv.Atoi(n); err == nil && d >= 0 {
			return time.Duration(d) * 24 * time.Hour, nil
		}
	}
	return data, nil
}

func decodeInto(in map[string]any, out any, hook mapstructure.DecodeHookFunc) error {
	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       hook,
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		Metadata:         &md,
		Result:           out,
	})
	if err != nil {
		return err
	}
	if err := dec.Decode(in); err != nil {
		return cleanDecodeError(err)
	}
	return nil
}

// cleanDecodeError turns mapstructure's messages into ones naming the key.
func cleanDecodeError(err error) error {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "decoding failed due to the following error(s):\n\n", "")
	msg = strings.ReplaceAll(msg, "has invalid keys:", "unknown key(s):")
	return errors.New(strings.TrimSpace(msg))
}

// resolveSecrets reads the password file, if one is configured.
func (c *Config) resolveSecrets() error {
	if c.ARI.PasswordFile == "" {
		return nil
	}
	p, err := readSecret("ari.password_file", c.ARI.PasswordFile)
	if err != nil {
		return err
	}
	c.ARI.Password = p
	return nil
}

// readSecret reads a secret file (one line, surrounding space ignored).
// It refuses a file that other users may read or anyone but its owner
// may change: a group may read it (a callscreen group), no more.
func readSecret(key, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if perm := fi.Mode().Perm(); perm&0o027 != 0 {
		return "", fmt.Errorf("%s: %s has mode %#o, readable or writable by others; chmod 600 (or 640 for a group) it", key, path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Validate checks the whole configuration and names every bad key.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, c.finishFleet()...)
	if c.ARI.Enabled {
		if c.ARI.URL == "" || c.ARI.WebsocketURL == "" {
			errs = append(errs, errors.New("ari.url and ari.websocket_url are required when ari.enabled is true"))
		}
		if c.ARI.Application == "" {
			errs = append(errs, errors.New("ari.application: required"))
		}
	}
	errs = append(errs, c.HTTP.validate()...)
	errs = append(errs, c.validateCallbacks()...)
	if err := c.Notify.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.AGI.Enabled && c.AGI.Listen == "" {
		errs = append(errs, errors.New("agi.listen: required when agi.enabled is true"))
	}
	if c.AGI.MaxSessions < 1 || c.AGI.MaxSessions > 100000 {
		errs = append(errs, fmt.Errorf("agi.max_sessions: %d is outside 1..100000", c.AGI.MaxSessions))
	}
	if c.AGI.CallbackRate < 1 {
		errs = append(errs, fmt.Errorf("agi.callback_rate: %d: want at least 1 a minute", c.AGI.CallbackRate))
	}
	if c.Calls.Deadline < 5*time.Second {
		errs = append(errs, fmt.Errorf("calls.deadline: %v is too short for any prompt; use at least 5s", c.Calls.Deadline))
	}
	if c.Numbers.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("numbers.cache_size: %d is negative", c.Numbers.CacheSize))
	}
	if err := screening.ValidateScannerAgents(c.ScannerAgents); err != nil {
		errs = append(errs, fmt.Errorf("scanner_agents: %w", err))
	}
	if err := c.Velocity.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, ok := c.Profiles[c.DefaultProfile]; !ok {
		errs = append(errs, fmt.Errorf("default_profile: %q is not among the profiles", c.DefaultProfile))
	}
	for did, p := range c.DIDs {
		if _, ok := c.Profiles[p]; !ok {
			errs = append(errs, fmt.Errorf("dids.%s: profile %q is not configured", did, p))
		}
	}
	for name, t := range c.Trunks {
		if t == nil {
			errs = append(errs, fmt.Errorf("trunks.%s: empty", name))
			continue
		}
		t.Name = name
		if err := t.Prepare(); err != nil {
			errs = append(errs, err)
		}
	}
	for name, p := range c.Profiles {
		if err := p.Screening.Validate(); err != nil {
			errs = append(errs, err)
		}
		if err := p.Dialplan.Validate(name); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", c.Log.Format))
	}
	if c.Log.Retention != 0 && c.Log.Retention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("log.retention: %v is shorter than a day; give days (\"90d\"), or 0 to keep every record", c.Log.Retention))
	}
	return errors.Join(errs...)
}

// CheckSecrets reads the ARI password file and refuses sample or empty
// passwords unless the lab flag is set. It is separate from Load so that
// offline commands (check, lists, log) work without ARI credentials.
func (c *Config) CheckSecrets() error {
	if err := c.HTTP.checkSecrets(); err != nil {
		return err
	}
	if err := c.AGI.checkSecrets(); err != nil {
		return err
	}
	if !c.ARI.Enabled {
		return nil
	}
	if err := c.resolveSecrets(); err != nil {
		return err
	}
	if c.ARI.Enabled && samplePasswords[c.ARI.Password] && !c.ARI.InsecurePassword {
		return errors.New("ari.password: empty or a sample password; set a real one (CALLSCREEN_ARI_PASSWORD or ari.password_file), or ari.insecure_password: true for a lab")
	}
	return nil
}

// Policy returns the engine's view of the configuration.
func (c *Config) Policy() screening.Policy {
	p := screening.Policy{
		Profiles:      make(map[string]*screening.Profile, len(c.Profiles)),
		Default:       c.DefaultProfile,
		DIDs:          c.DIDs,
		Trunks:        c.Trunks,
		ScannerAgents: c.ScannerAgents,
	}
	p.Throttle, p.CallbackWindow = c.Throttle, c.Callbacks.Window
	p.EmergencyWindow = c.Callbacks.EmergencyWindow
	for name, prof := range c.Profiles {
		sp := prof.Screening
		p.Profiles[name] = &sp
	}
	return p
}

// minAGIKey is the shortest agi.key accepted.
const minAGIKey = 16

// checkSecrets resolves agi.key (CALLSCREEN_AGI_KEY, else agi.key_file,
// else agi.key) and refuses a listener off loopback without one.
func (a *AGI) checkSecrets() error {
	if !a.Enabled {
		return nil
	}
	if env := os.Getenv("CALLSCREEN_AGI_KEY"); env != "" {
		a.Key = strings.TrimSpace(env)
	} else if a.KeyFile != "" {
		k, err := readSecret("agi.key_file", a.KeyFile)
		if err != nil {
			return err
		}
		a.Key = k
	}
	switch {
	case a.Key != "" && len(a.Key) < minAGIKey:
		return fmt.Errorf("agi.key: %d characters; use at least %d random ones (openssl rand -hex 16)", len(a.Key), minAGIKey)
	case a.Key != "" && strings.ContainsFunc(a.Key, func(r rune) bool { return r <= ' ' || r == '&' || r == '#' || r == '%' || r == '+' || r >= 0x7f }):
		return errors.New("agi.key: use letters, digits, '-', '_' and '.' only: it goes into the AGI URL as is")
	case a.Key == "" && !loopback(a.Listen):
		return fmt.Errorf("agi.listen: %s is not a loopback address; set agi.key (CALLSCREEN_AGI_KEY or agi.key_file) so that only your Asterisk can use the FastAGI server", a.Listen)
	}
	return nil
}

// loopback reports whether addr ("host:port") listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
