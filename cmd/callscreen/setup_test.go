package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Debian-like files: ari.conf with ARI enabled, http.conf bound to
// loopback but not enabled, an extensions.conf with [globals] and no
// final newline.
var debianEtc = map[string]string{
	"ari.conf":        "[general]\nenabled = yes       ; When set to no, ARI support is disabled.\n;pretty = yes\n",
	"http.conf":       "; comment\n[general]\nservername=Asterisk\nbindaddr=127.0.0.1\n\n[post_mappings]\n;foo=bar\n",
	"extensions.conf": "[general]\nstatic=yes\n\n[globals]\nCONSOLE=Console/dsp\nCALLSCREEN_RING_SECS=20\n\n[from-trunk]\nexten => _X.,1,Goto(callscreen-inbound,${EXTEN},1)",
}

// A FreePBX tree: its _custom files, one of them missing.
var freepbxEtc = map[string]string{
	"ari.conf":               "[general]\nenabled=yes\n#include ari_additional_custom.conf\n",
	"extensions_custom.conf": "; custom\n[from-internal-custom]\n",
	"http_custom.conf":       "",
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	etc := filepath.Join(dir, "asterisk")
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return etc
}

func readTree(t *testing.T, etc string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(etc)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(etc, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

func runSetup(t *testing.T, o setupOptions) string {
	t.Helper()
	var out bytes.Buffer
	if err := runSetupAsterisk(context.Background(), &out, o); err != nil {
		t.Fatalf("setup %+v: %v\n%s", o, err, out.String())
	}
	return out.String()
}

// testAGIKey is the FastAGI key file's content in TestSetupAsterisk: the
// dialplan's CALLSCREEN_AGI_KEY must carry it.
const testAGIKey = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

func TestSetupAsterisk(t *testing.T) {
	repo, err := filepath.Abs("../../asterisk-conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		tree    map[string]string
		flavor  string
		changed []string // files written by --apply
		want    map[string][]string
	}{
		{
			name: "debian", tree: debianEtc, flavor: "asterisk",
			changed: []string{"ari.conf", "http.conf", "extensions.conf", contextsFile},
			want: map[string][]string{
				"ari.conf":        {"[callscreen]\n", "type=user\n", "read_only=no\n"},
				"http.conf":       {"[general]\n" + setupBegin + "\nenabled=yes\nbindport=8088\n" + setupEnd + "\n", "\nbindaddr=127.0.0.1\n"},
				"extensions.conf": {"Goto(callscreen-inbound,${EXTEN},1)\n" + setupBeginNL + "\n#include \"" + contextsFile + "\"\n"},
				contextsFile: {"[globals](+)\nCALLSCREEN_DESK=PJSIP/200\nCALLSCREEN_MAILBOX=", "[callscreen-inbound]\n", "[callscreen-agi]\n",
					"Stasis(callscreen,${CALLSCREEN_PROFILE})", "\nCALLSCREEN_AGI_KEY=" + testAGIKey + "\n"},
			},
		},
		{
			name: "freepbx", tree: freepbxEtc, flavor: "auto",
			changed: []string{"ari_additional_custom.conf", "http_custom.conf", "extensions_custom.conf"},
			want: map[string][]string{
				"ari_additional_custom.conf": {setupBeginNew + "\n[callscreen]\n"},
				"http_custom.conf":           {"enabled=yes\nbindaddr=127.0.0.1\nbindport=8088\n"},
				"extensions_custom.conf":     {"[from-internal-custom]\n" + setupBegin + "\n", "[from-pstn-callscreen]\n"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			etc := writeTree(t, tc.tree)
			secret := filepath.Join(filepath.Dir(etc), "ari.secret")
			agiKey := filepath.Join(filepath.Dir(etc), "agi.key")
			if err := os.WriteFile(agiKey, []byte(testAGIKey+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			o := setupOptions{etc: etc, flavor: tc.flavor, secretFile: secret, agiKeyFile: agiKey, ariUser: "callscreen",
				httpListen: "127.0.0.1:8088", samples: repo, desk: "PJSIP/200", noReload: true}

			// Dry run: a diff, nothing written.
			out := runSetup(t, o)
			if got := readTree(t, etc); !maps.Equal(got, tc.tree) {
				t.Fatalf("dry run wrote files:\n%s", out)
			}
			if _, err := os.Stat(secret); err == nil {
				t.Fatal("dry run wrote the secret")
			}
			for _, f := range tc.changed {
				if !strings.Contains(out, "+++ "+filepath.Join(etc, f)+"\n") {
					t.Errorf("dry run diff does not show %s:\n%s", f, out)
				}
			}

			o.apply = true
			runSetup(t, o)
			applied := readTree(t, etc)
			pw, err := os.ReadFile(secret)
			if err != nil {
				t.Fatalf("no secret written: %v", err)
			}
			userFile := "ari.conf"
			if tc.flavor != "asterisk" {
				userFile = "ari_additional_custom.conf"
			}
			if !strings.Contains(applied[userFile], "\npassword="+strings.TrimSpace(string(pw))+"\n") {
				t.Errorf("%s does not carry the secret file's password:\n%s", userFile, applied[userFile])
			}
			for f, subs := range tc.want {
				for _, sub := range subs {
					if !strings.Contains(applied[f], sub) {
						t.Errorf("%s lacks %q:\n%s", f, sub, applied[f])
					}
				}
			}
			if tc.flavor == "asterisk" && strings.Contains(applied[contextsFile], "CALLSCREEN_RING_SECS=") {
				t.Errorf("globals the integrator sets are repeated:\n%s", applied[contextsFile])
			}

			// Idempotent: a second run changes nothing.
			if out := runSetup(t, o); !strings.Contains(out, "nothing to change") {
				t.Errorf("second apply changed something:\n%s", out)
			}
			if got := readTree(t, etc); !maps.Equal(got, applied) {
				t.Error("second apply rewrote files")
			}

			// Undo: every file byte for byte as before, created ones gone.
			o.undo = true
			runSetup(t, o)
			if got := readTree(t, etc); !maps.Equal(got, tc.tree) {
				for f := range mergeKeys(got, tc.tree) {
					if got[f] != tc.tree[f] {
						t.Errorf("after undo %s = %q, want %q", f, got[f], tc.tree[f])
					}
				}
			}
			if out := runSetup(t, o); !strings.Contains(out, "nothing to change") {
				t.Errorf("second undo changed something:\n%s", out)
			}
		})
	}
}

// TestSetupAsteriskBindsLoopback: an HTTP server on every address is
// disabled (and restored by undo), not left to override the block.
func TestSetupAsteriskBindsLoopback(t *testing.T) {
	repo, _ := filepath.Abs("../../asterisk-conf")
	tree := map[string]string{
		"ari.conf":        "[general]\nenabled=no\n",
		"http.conf":       "[general]\nenabled=yes\nbindaddr=0.0.0.0\n",
		"extensions.conf": "[from-trunk]\n",
	}
	etc := writeTree(t, tree)
	o := setupOptions{etc: etc, flavor: "auto", secretFile: filepath.Join(t.TempDir(), "s"), ariUser: "callscreen",
		httpListen: "127.0.0.1:8088", samples: repo, noReload: true, apply: true}
	runSetup(t, o)
	got := readTree(t, etc)
	for f, want := range map[string]string{
		"http.conf": setupDisabled + "bindaddr=0.0.0.0\n",
		"ari.conf":  setupDisabled + "enabled=no\n",
	} {
		if !strings.Contains(got[f], want) {
			t.Errorf("%s lacks %q:\n%s", f, want, got[f])
		}
	}
	if !strings.Contains(got[contextsFile], "\n[globals]\n") {
		t.Errorf("without [globals] in extensions.conf the contexts file must open one:\n%s", got[contextsFile])
	}
	o.undo = true
	runSetup(t, o)
	if got := readTree(t, etc); !maps.Equal(got, tree) {
		t.Errorf("undo did not restore the files: %q", got)
	}
}

func TestSetupAsteriskRefusesForeignUser(t *testing.T) {
	repo, _ := filepath.Abs("../../asterisk-conf")
	tree := map[string]string{"ari.conf": "[general]\nenabled=yes\n[callscreen]\ntype=user\npassword=x\n", "http.conf": "", "extensions.conf": ""}
	etc := writeTree(t, tree)
	o := setupOptions{etc: etc, flavor: "asterisk", secretFile: filepath.Join(t.TempDir(), "s"), ariUser: "callscreen",
		httpListen: "127.0.0.1:8088", samples: repo, noReload: true, apply: true}
	var out bytes.Buffer
	err := runSetupAsterisk(context.Background(), &out, o)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("err = %v, want an existing-user error", err)
	}
	if got := readTree(t, etc); !maps.Equal(got, tree) {
		t.Error("files changed after a refusal")
	}
}

func mergeKeys(a, b map[string]string) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}
