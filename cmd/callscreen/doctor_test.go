package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callscreen/callscreen/internal/config"
)

// fakeARI answers the ARI resources doctor reads. sounds maps a sound id
// to its languages.
func fakeARI(t *testing.T, user, pass, version string, apps []string, sounds map[string][]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			http.Error(w, `{"message":"Authentication required"}`, http.StatusUnauthorized)
			return
		}
		path := r.URL.EscapedPath()
		switch {
		case path == "/ari/asterisk/info":
			fmt.Fprintf(w, `{"system":{"version":%q},"config":{"default_language":"en"}}`, version)
		case strings.HasPrefix(path, "/ari/applications/"):
			for _, a := range apps {
				if "/ari/applications/"+a == path {
					fmt.Fprintf(w, `{"name":%q}`, a)
					return
				}
			}
			http.Error(w, `{"message":"Application not found"}`, http.StatusNotFound)
		case strings.HasPrefix(path, "/ari/sounds/"):
			// A slash inside the id must arrive escaped.
			id := strings.ReplaceAll(strings.TrimPrefix(path, "/ari/sounds/"), "%2F", "/")
			langs, ok := sounds[id]
			if !ok || strings.Contains(strings.TrimPrefix(path, "/ari/sounds/"), "/") {
				http.Error(w, `{"message":"Sound not found"}`, http.StatusNotFound)
				return
			}
			var f []string
			for _, l := range langs {
				f = append(f, fmt.Sprintf(`{"language":%q,"format":"gsm"}`, l))
			}
			fmt.Fprintf(w, `{"id":%q,"formats":[%s]}`, id, strings.Join(f, ","))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// allSounds are the shipped prompts in en and ja, and digits/0-9.
func allSounds() map[string][]string {
	m := map[string][]string{}
	for _, p := range []string{"number-request", "reject", "recording-notice", "press-digit", "wrong-digit", "say-name"} {
		m["callscreen/callscreen-"+p] = []string{"en", "ja"}
	}
	for d := range 10 {
		m[fmt.Sprintf("digits/%d", d)] = []string{"en", "ja"}
	}
	return m
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func doctorConfig(t *testing.T, ariURL, extra string) (string, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "callscreen.yaml")
	text := fmt.Sprintf(`ari:
  url: %s/ari
  websocket_url: ws://127.0.0.1:1/ari/events
  username: callscreen
  password: s3cret-pw
agi:
  listen: %s
http:
  listen: %s
database: %s
%s`, ariURL, freeAddr(t), freeAddr(t), filepath.Join(dir, "db", "callscreen.db"), extra)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

func TestDoctor(t *testing.T) {
	missing := allSounds()
	delete(missing, "callscreen/callscreen-number-request")
	enOnly := allSounds()
	enOnly["digits/7"] = []string{"en"}
	for _, tc := range []struct {
		name     string
		user     string // the fake ARI's user (callscreen unless set)
		version  string
		apps     []string
		sounds   map[string][]string
		extra    string
		wantFail int
		want     []string // lines (status and text) that must appear
	}{
		{
			name: "good setup, serve not running", sounds: allSounds(), wantFail: 0,
			want: []string{"OK    asterisk  Asterisk 22.10.1", "WARN  stasis    application \"callscreen\" is not registered: callscreen serve isn't running",
				"OK    prompts   profile default (en): all 11 sounds present", "WARN  fastagi", "WARN  http", "WARN  database"},
		},
		{
			name: "serve registered", sounds: allSounds(), apps: []string{"callscreen"}, wantFail: 0,
			want: []string{"OK    stasis    application \"callscreen\" registered"},
		},
		{
			name: "wrong password", user: "someone-else", sounds: allSounds(), wantFail: 1,
			want: []string{"FAIL  ari", "401 Unauthorized", "[callscreen] user in /etc/asterisk/ari.conf", "WARN  prompts   not checked"},
		},
		{
			name: "old asterisk", version: "18.20.0", sounds: allSounds(), wantFail: 0,
			want: []string{"WARN  asterisk  Asterisk 18.20.0"},
		},
		{
			name: "missing prompt", sounds: missing, wantFail: 1,
			want: []string{`FAIL  prompts   profiles.default.prompts.number_request: sound "callscreen/callscreen-number-request" is not on the Asterisk server (language en)`},
		},
		{
			name: "prompt pointing at a missing sound", sounds: allSounds(), wantFail: 1,
			extra: "profiles:\n  default:\n    prompts:\n      number_request: callscreen/no-such-sound\n",
			want:  []string{`FAIL  prompts   profiles.default.prompts.number_request: sound "callscreen/no-such-sound"`},
		},
		{
			name: "digit missing in the profile language", sounds: enOnly, wantFail: 1,
			extra: "profiles:\n  default:\n    prompts:\n      language: ja\n    challenge:\n      digits: \"7\"\n",
			want:  []string{`FAIL  prompts   profiles.default.challenge.digits: sound "digits/7" exists only in en, not in language ja`},
		},
		{
			name: "number request over SIP needs no prompt", sounds: missing, wantFail: 0,
			extra: "profiles:\n  default:\n    number_request_sip: true\n",
			want:  []string{"OK    prompts   profile default (en): all 10 sounds present"},
		},
		{
			name: "webhook without secret", sounds: allSounds(), wantFail: 0,
			extra: "notify:\n  webhook:\n    url: http://127.0.0.1:9/hook\n",
			want:  []string{"WARN  notify    notify.webhook.secret is empty"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := "callscreen"
			if tc.user != "" {
				user = tc.user
			}
			version := "22.10.1+dfsg+~cs6.17.60671434-1"
			if tc.version != "" {
				version = tc.version
			}
			srv := fakeARI(t, user, "s3cret-pw", version, tc.apps, tc.sounds)
			path, cfg := doctorConfig(t, srv.URL, tc.extra)
			var out bytes.Buffer
			d := newDoctorRun(&out)
			d.run(context.Background(), path, cfg, nil)
			if d.failed != tc.wantFail {
				t.Errorf("%d failed, want %d:\n%s", d.failed, tc.wantFail, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestDoctorListenersAndDatabase(t *testing.T) {
	srv := fakeARI(t, "callscreen", "s3cret-pw", "22.10.1", []string{"callscreen"}, allSounds())
	path, cfg := doctorConfig(t, srv.URL, "")
	// "serve" is running: the listeners answer, the database exists.
	agi, err := net.Listen("tcp", cfg.AGI.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer agi.Close()
	go func() {
		for {
			c, err := agi.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	hs.Listener.Close()
	if hs.Listener, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		t.Fatal(err)
	}
	hs.Start()
	defer hs.Close()
	rt, err := newScreener(context.Background(), cfg, screenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rt.Close()

	var out bytes.Buffer
	d := newDoctorRun(&out)
	d.run(context.Background(), path, cfg, nil)
	if d.failed != 0 || d.warned != 0 {
		t.Errorf("%d failed, %d warnings, want none:\n%s", d.failed, d.warned, out.String())
	}
	for _, w := range []string{"OK    fastagi", "OK    http", "OK    database", "writable, integrity ok"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}

	// A journal kept aside (the database refused it at a start) is named.
	aside := cfg.Database + "-pending.1795400000.unwritten"
	if err := os.WriteFile(aside, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	d = newDoctorRun(&out)
	d.checkDatabase(context.Background(), cfg)
	if d.warned != 1 || !strings.Contains(out.String(), aside) || !strings.Contains(out.String(), "writes them at its next start") {
		t.Errorf("journal kept aside (%d warnings):\n%s", d.warned, out.String())
	}
	os.Remove(aside)

	// A read-only database fails (root ignores file modes: skip then).
	if os.Geteuid() != 0 {
		dir := filepath.Dir(cfg.Database)
		os.Chmod(cfg.Database, 0o444)
		os.Chmod(dir, 0o555)
		defer os.Chmod(dir, 0o755)
		out.Reset()
		d := newDoctorRun(&out)
		d.checkDatabase(context.Background(), cfg)
		if d.failed != 1 || !strings.Contains(out.String(), "is not writable") {
			t.Errorf("read-only database:\n%s", out.String())
		}
	}

	// Something else on the HTTP port answering 404 to /healthz.
	hs.Config.Handler = http.NotFoundHandler()
	out.Reset()
	d = newDoctorRun(&out)
	d.checkHTTP(context.Background(), cfg)
	if d.failed != 1 || !strings.Contains(out.String(), "another program holds http.listen") {
		t.Errorf("foreign HTTP listener:\n%s", out.String())
	}
}

func TestDoctorBadConfig(t *testing.T) {
	var out bytes.Buffer
	d := newDoctorRun(&out)
	d.run(context.Background(), "x.yaml", nil, fmt.Errorf("configuration: profiles.default.thresholds.reject: unknown key"))
	if d.failed != 1 || !strings.Contains(out.String(), "FAIL  config    configuration: profiles.default") {
		t.Errorf("bad config:\n%s", out.String())
	}
}
