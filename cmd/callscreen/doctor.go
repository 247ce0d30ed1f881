package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/callscreen/callscreen/internal/config"
	"github.com/callscreen/callscreen/screening/store"
)

func newDoctor(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the configuration, Asterisk, the prompts, the listeners and the database",
		Long: `doctor checks what callscreen needs and says what to change, and where,
for anything that is wrong: the configuration and its secrets; Asterisk's
ARI (reachable, credentials, version, the Stasis application registered);
that every prompt each profile plays exists on the Asterisk server in the
profile's language; the FastAGI and HTTP listeners; the database (writable,
intact). Each check prints OK, WARN or FAIL; the exit status is 1 when any
check fails. Warnings such as "serve isn't running" do not fail.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			d := newDoctorRun(cmd.OutOrStdout())
			d.json = asJSON
			d.run(cmd.Context(), g.configPath, cfg, err)
			if asJSON {
				if err := d.writeJSON(); err != nil {
					return err
				}
			}
			if d.failed > 0 {
				return fmt.Errorf("doctor: %d check(s) failed", d.failed)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON (checks with status, name, message, fix; failed, warnings)")
	return cmd
}

// doctorRun runs the checks and prints each result as it comes.
type doctorRun struct {
	out    io.Writer
	client *http.Client
	// timeout bounds each network check.
	timeout        time.Duration
	failed, warned int
	// json collects the results for writeJSON instead of printing them.
	json    bool
	results []doctorResult
}

func newDoctorRun(out io.Writer) *doctorRun {
	return &doctorRun{out: out, client: &http.Client{Timeout: 5 * time.Second}, timeout: 3 * time.Second}
}

// report prints one result: status, check name, what was found and, for
// WARN and FAIL, what to change.
func (d *doctorRun) report(status, name, msg, fix string) {
	switch status {
	case "FAIL":
		d.failed++
	case "WARN":
		d.warned++
	}
	if d.json {
		d.results = append(d.results, doctorResult{Status: strings.ToLower(status), Name: name, Message: msg, Fix: fix})
		return
	}
	fmt.Fprintf(d.out, "%-4s  %-9s %s\n", status, name, msg)
	if fix != "" && status != "OK" {
		fmt.Fprintf(d.out, "%-4s  %-9s -> %s\n", "", "", fix)
	}
}

func (d *doctorRun) ok(name, format string, a ...any) {
	d.report("OK", name, fmt.Sprintf(format, a...), "")
}
func (d *doctorRun) warn(name, msg, fix string) { d.report("WARN", name, msg, fix) }
func (d *doctorRun) fail(name, msg, fix string) { d.report("FAIL", name, msg, fix) }

func (d *doctorRun) run(ctx context.Context, path string, cfg *config.Config, loadErr error) {
	if loadErr != nil {
		d.fail("config", loadErr.Error(), "fix the keys named above in "+path+" (callscreen config check -c "+path+")")
		return
	}
	d.checkConfig(path, cfg)
	ari := d.checkARI(ctx, cfg)
	d.checkPrompts(ctx, cfg, ari)
	d.checkAGI(ctx, cfg)
	d.checkHTTP(ctx, cfg)
	d.checkDatabase(ctx, cfg)
	if !d.json {
		fmt.Fprintf(d.out, "\n%d failed, %d warnings\n", d.failed, d.warned)
	}
}

func (d *doctorRun) checkConfig(path string, cfg *config.Config) {
	d.ok("config", "%s: %d profiles, %d DIDs, %d trunks", path, len(cfg.Profiles), len(cfg.DIDs), len(cfg.Trunks))
	if err := cfg.CheckSecrets(); err != nil {
		d.fail("secrets", err.Error(), "")
	} else {
		d.ok("secrets", "present")
	}
	warns, fails := cfg.Notify.SecretProblems()
	for _, w := range warns {
		d.warn("notify", w, "")
	}
	for _, f := range fails {
		d.fail("notify", f, "")
	}
}

// ariInfo is what the prompt check needs from ARI.
type ariInfo struct {
	up       bool
	language string // Asterisk's default language
}

func (d *doctorRun) checkARI(ctx context.Context, cfg *config.Config) ariInfo {
	var info ariInfo
	if !cfg.ARI.Enabled {
		d.ok("ari", "disabled (ari.enabled: false)")
		return info
	}
	var ai struct {
		System struct {
			Version string `json:"version"`
		} `json:"system"`
		Config struct {
			DefaultLanguage string `json:"default_language"`
		} `json:"config"`
	}
	status, err := d.ariGet(ctx, cfg, "/asterisk/info", &ai)
	switch {
	case err != nil:
		d.fail("ari", fmt.Sprintf("%s unreachable: %v", cfg.ARI.URL, err),
			"start Asterisk, or set ari.url to where http.conf binds (enabled=yes, bindaddr, bindport) and ari.conf has enabled=yes")
		return info
	case status == http.StatusUnauthorized:
		d.fail("ari", fmt.Sprintf("%s refused user %q: 401 Unauthorized", cfg.ARI.URL, cfg.ARI.Username),
			"make ari.username and the password (CALLSCREEN_ARI_PASSWORD or ari.password_file) match the ["+cfg.ARI.Username+"] user in /etc/asterisk/ari.conf")
		return info
	case status != http.StatusOK:
		d.fail("ari", fmt.Sprintf("GET %s/asterisk/info answered %d", cfg.ARI.URL, status),
			"check that ari.url ends in /ari and that res_ari is loaded (module show like res_ari)")
		return info
	}
	info.up, info.language = true, ai.Config.DefaultLanguage
	if info.language == "" {
		info.language = "en"
	}
	version := ai.System.Version
	if major, _, _ := strings.Cut(version, "."); atoiOr(major, 0) < 20 {
		d.warn("asterisk", "Asterisk "+version+" at "+cfg.ARI.URL, "callscreen is tested with Asterisk 22; 20 and later are expected to work")
	} else {
		d.ok("asterisk", "Asterisk %s at %s, user %q", version, cfg.ARI.URL, cfg.ARI.Username)
	}

	app := cfg.ARI.Application
	status, err = d.ariGet(ctx, cfg, "/applications/"+url.PathEscape(app), nil)
	switch {
	case err == nil && status == http.StatusOK:
		d.ok("stasis", "application %q registered: callscreen serve is connected", app)
	case err == nil && status == http.StatusNotFound:
		d.warn("stasis", fmt.Sprintf("application %q is not registered: callscreen serve isn't running (calls fail open meanwhile)", app),
			"start callscreen serve; if it runs, make ari.application match Stasis("+app+",...) in extensions.conf")
	default:
		d.warn("stasis", fmt.Sprintf("cannot tell whether application %q is registered: %d %v", app, status, err), "")
	}
	return info
}

// ariGet GETs an ARI resource and decodes a 200 answer into v (if not nil).
func (d *doctorRun) ariGet(ctx context.Context, cfg *config.Config, path string, v any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.ARI.URL, "/")+path, nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(cfg.ARI.Username, cfg.ARI.Password)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
			return resp.StatusCode, fmt.Errorf("decoding %s: %w", path, err)
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// promptUse is one sound a profile plays and the key that names it.
type promptUse struct{ key, sound string }

// promptsOf returns the sounds profile p can play, with their keys.
func promptsOf(name string, p *config.Profile) []promptUse {
	dp := p.Dialplan
	key := func(k string) string { return "profiles." + name + "." + k }
	var out []promptUse
	add := func(cond bool, k, sound string) {
		if cond && sound != "" {
			out = append(out, promptUse{key(k), sound})
		}
	}
	add(!dp.NumberRequestSIP, "prompts.number_request", dp.Prompts.NumberRequest)
	add(dp.RejectPrompt, "prompts.reject", dp.Prompts.Reject)
	add(dp.Challenge.RecordingNotice, "prompts.recording_notice", dp.Prompts.RecordingNotice)
	add(true, "prompts.press_digit", dp.Prompts.PressDigit)
	add(dp.Challenge.Attempts > 1, "prompts.wrong_digit", dp.Prompts.WrongDigit)
	add(dp.Challenge.RecordName, "prompts.say_name", dp.Prompts.SayName)
	var digits []rune
	for _, r := range dp.Challenge.Digits {
		if !slices.Contains(digits, r) {
			digits = append(digits, r)
		}
	}
	for _, r := range digits {
		add(true, "challenge.digits", "digits/"+string(r))
	}
	return out
}

func (d *doctorRun) checkPrompts(ctx context.Context, cfg *config.Config, ari ariInfo) {
	if !ari.up {
		d.warn("prompts", "not checked: needs ARI", "fix the ari check above; prompts are looked up with GET /ari/sounds/{id}")
		return
	}
	names := make([]string, 0, len(cfg.Profiles))
	for n := range cfg.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	known := map[string][]string{} // sound -> languages; nil: not found
	for _, name := range names {
		p := cfg.Profiles[name]
		lang := p.Dialplan.Prompts.Language
		if lang == "" {
			lang = ari.language
		}
		uses := promptsOf(name, p)
		bad := 0
		for _, u := range uses {
			if strings.HasPrefix(u.sound, "/") {
				d.warn("prompts", fmt.Sprintf("%s: %q is an absolute path; ARI cannot say whether it exists", u.key, u.sound), "")
				continue
			}
			langs, seen := known[u.sound]
			if !seen {
				var err error
				if langs, err = d.soundLanguages(ctx, cfg, u.sound); err != nil {
					d.fail("prompts", fmt.Sprintf("%s: looking up %q: %v", u.key, u.sound, err), "")
					bad++
					continue
				}
				known[u.sound] = langs
			}
			switch {
			case langs == nil:
				bad++
				d.fail("prompts", fmt.Sprintf("%s: sound %q is not on the Asterisk server (language %s)", u.key, u.sound, lang),
					fmt.Sprintf("install %s.wav (or .gsm, .sln) under Asterisk's sounds/%s/ directory (see asterisk-conf/sounds), or change %s", u.sound, lang, u.key))
			case !slices.Contains(langs, lang):
				bad++
				d.fail("prompts", fmt.Sprintf("%s: sound %q exists only in %s, not in language %s (profiles.%s.prompts.language)", u.key, u.sound, strings.Join(langs, ", "), lang, name),
					fmt.Sprintf("install a %s recording under sounds/%s/%s, or change %s or the profile's prompts.language", lang, lang, u.sound, u.key))
			}
		}
		if bad == 0 {
			d.ok("prompts", "profile %s (%s): all %d sounds present", name, lang, len(uses))
		}
	}
}

// soundLanguages returns the languages Asterisk has sound id in, or nil
// when it has none.
func (d *doctorRun) soundLanguages(ctx context.Context, cfg *config.Config, id string) ([]string, error) {
	var s struct {
		Formats []struct {
			Language string `json:"language"`
		} `json:"formats"`
	}
	// The id's slashes must be escaped: /sounds/digits%2F7.
	status, err := d.ariGet(ctx, cfg, "/sounds/"+url.PathEscape(id), &s)
	if err != nil {
		return nil, err
	}
	switch status {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, nil
	default:
		return nil, fmt.Errorf("ARI answered %d", status)
	}
	langs := []string{}
	for _, f := range s.Formats {
		if !slices.Contains(langs, f.Language) {
			langs = append(langs, f.Language)
		}
	}
	slices.Sort(langs)
	return langs, nil
}

// dialable turns a listen address into one to connect to (0.0.0.0 and ::
// become loopback).
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// listenerFree reports whether addr could be listened on now.
func listenerFree(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func (d *doctorRun) checkAGI(ctx context.Context, cfg *config.Config) {
	if !cfg.AGI.Enabled {
		d.ok("fastagi", "disabled (agi.enabled: false)")
		return
	}
	dctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var dialer net.Dialer
	c, err := dialer.DialContext(dctx, "tcp", dialable(cfg.AGI.Listen))
	if err == nil {
		c.Close()
		d.ok("fastagi", "%s answers", cfg.AGI.Listen)
		return
	}
	if listenerFree(cfg.AGI.Listen) {
		d.warn("fastagi", cfg.AGI.Listen+" does not answer: callscreen serve isn't running", "start callscreen serve (AGI() calls fail open meanwhile)")
		return
	}
	d.fail("fastagi", fmt.Sprintf("%s does not answer and cannot be listened on: %v", cfg.AGI.Listen, err),
		"set agi.listen to a free local address (and the agi:// URL in extensions.conf to match)")
}

func (d *doctorRun) checkHTTP(ctx context.Context, cfg *config.Config) {
	hctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	u := "http://" + dialable(cfg.HTTP.Listen) + "/healthz"
	req, err := http.NewRequestWithContext(hctx, http.MethodGet, u, nil)
	if err != nil {
		d.fail("http", fmt.Sprintf("http.listen %q: %v", cfg.HTTP.Listen, err), "set http.listen to host:port")
		return
	}
	resp, err := d.client.Do(req)
	if err == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			d.ok("http", "%s answers (/metrics, /healthz)", cfg.HTTP.Listen)
			return
		}
		d.fail("http", fmt.Sprintf("%s answers %s to /healthz: another program holds http.listen", cfg.HTTP.Listen, resp.Status),
			"set http.listen to a free address, or stop the other program")
		return
	}
	if listenerFree(cfg.HTTP.Listen) {
		d.warn("http", cfg.HTTP.Listen+" does not answer: callscreen serve isn't running", "start callscreen serve")
		return
	}
	d.fail("http", fmt.Sprintf("%s does not answer and cannot be listened on: %v", cfg.HTTP.Listen, err),
		"set http.listen to a free local address")
}

func (d *doctorRun) checkDatabase(ctx context.Context, cfg *config.Config) {
	if store.IsPostgres(cfg.Database) {
		d.checkFleetDatabase(ctx, cfg)
		return
	}
	path := cfg.Database
	abs, err := filepath.Abs(path)
	if err != nil {
		d.fail("database", err.Error(), "set database to a file path")
		return
	}
	if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
		dir := filepath.Dir(abs)
		// serve creates missing directories: probe the nearest existing one.
		probe := dir
		for {
			if _, err := os.Stat(probe); err == nil || filepath.Dir(probe) == probe {
				break
			}
			probe = filepath.Dir(probe)
		}
		if err := probeDir(probe); err != nil {
			d.fail("database", fmt.Sprintf("%s does not exist and cannot be created: %v", abs, err),
				"create "+dir+" writable by callscreen's user, or change database (or --database)")
			return
		}
		d.warn("database", abs+" does not exist yet; callscreen serve creates it", "")
		return
	}
	// store.Open checks that the file and its directory take writes (SQLite
	// writes the -wal and -shm files beside it) and waits out a writer
	// (serve) up to its busy timeout.
	st, err := store.Open(ctx, abs)
	if err != nil {
		d.fail("database", fmt.Sprintf("%s is not writable: %v", abs, err),
			"make the file and its directory ("+filepath.Dir(abs)+") writable by callscreen's user: SQLite writes the -wal and -shm files beside it")
		return
	}
	defer st.Close()
	if err := st.IntegrityCheck(ctx); err != nil {
		d.fail("database", fmt.Sprintf("%s fails the integrity check: %v", abs, err),
			"stop callscreen, restore a backup (callscreen keeps none by itself) or move the file away to start afresh")
		return
	}
	if aside, _ := filepath.Glob(abs + "-pending.*.unwritten"); len(aside) > 0 {
		d.warn("database", fmt.Sprintf("%d call log journal(s) kept aside because the database could not take them at a start: %s",
			len(aside), strings.Join(aside, ", ")),
			"callscreen serve writes them at its next start once the database takes writes; until then they hold those calls' records (JSON lines)")
		return
	}
	d.ok("database", "%s writable, integrity ok", abs)
}

// probeDir reports whether a file can be created in dir.
func probeDir(dir string) error {
	f, err := os.CreateTemp(dir, ".callscreen-doctor-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

// checkFleetDatabase checks the shared PostgreSQL database: that it
// answers with a schema this program knows, how many call records wait
// here for it, and how far behind the running serve is (its /metrics).
func (d *doctorRun) checkFleetDatabase(ctx context.Context, cfg *config.Config) {
	name := store.RedactURL(cfg.Database)
	octx, cancel := context.WithTimeout(ctx, max(d.timeout, 5*time.Second))
	defer cancel()
	st, err := store.Open(octx, cfg.Database)
	if err != nil {
		d.fail("database", fmt.Sprintf("%s: %v", name, err),
			"check the URL, that PostgreSQL listens there, that pg_hba.conf admits this host for the role, and the role's password (docs/FLEET.md)")
	} else {
		defer st.Close()
		have, want, err := st.SchemaVersion(octx)
		switch {
		case err != nil:
			d.fail("database", fmt.Sprintf("%s: reading the schema version: %v", name, err), "")
		case have != want:
			d.fail("database", fmt.Sprintf("%s: schema version %d, this program's is %d", name, have, want),
				"upgrade every callscreen of the fleet to the same version")
		default:
			d.ok("database", "%s answers (schema %d), server %q, tenant %q", name, have, cfg.Fleet.Server, cfg.Fleet.Tenant)
		}
	}
	// Records this server holds for the database: in its journal (and
	// journals set aside), and as serve's /metrics report them.
	waiting := journalRecords(cfg.Log.Journal)
	aside, _ := filepath.Glob(cfg.Log.Journal + ".*.unwritten")
	for _, f := range aside {
		waiting += journalRecords(f)
	}
	m := d.serveMetrics(ctx, cfg, "callscreen_log_records_pending", "callscreen_lists_feed_age_seconds")
	pending, age := m["callscreen_log_records_pending"], m["callscreen_lists_feed_age_seconds"]
	switch {
	case m == nil && waiting > 0:
		d.warn("database lag", fmt.Sprintf("%d call record(s) wait in %s for the database", waiting, cfg.Log.Journal),
			"callscreen serve writes them when it starts and the database takes writes")
	case m == nil:
		d.ok("database lag", "nothing waits for the database (serve is not running)")
	case pending > 0 || age > 5:
		d.warn("database lag", fmt.Sprintf("serve: %.0f call record(s) wait for the database; lists last read from it %.1f s ago", pending, age),
			"the database is unreachable or slow: calls are screened from the lists in memory and the records wait in "+cfg.Log.Journal)
	default:
		d.ok("database lag", "serve: no call record waits; lists read from the database %.1f s ago", age)
	}
}

// journalRecords counts the lines of a call log journal (0 when there is
// none).
func journalRecords(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte{'\n'})
}

// serveMetrics reads the named gauges from the running serve's /metrics;
// nil when it does not answer.
func (d *doctorRun) serveMetrics(ctx context.Context, cfg *config.Config, names ...string) map[string]float64 {
	hctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(hctx, http.MethodGet, "http://"+dialable(cfg.HTTP.Listen)+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out
}
