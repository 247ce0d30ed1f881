package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscreen/callscreen/internal/config"
)

// The security defaults, checked through the built binary: serve refuses
// an empty or sample ARI password unless ari.insecure_password is set, the
// password comes from the environment or a file and never appears in the
// logs, and every listener is on loopback unless configured otherwise.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// buildBinary builds callscreen once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "callscreen-sectest-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "callscreen")
		gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gotool); err != nil {
			gotool = "go"
		}
		cmd := exec.Command(gotool, "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// secConfig writes a serve configuration whose ARI points at a closed
// loopback port; extra is appended under ari:.
func secConfig(t *testing.T, ariExtra string) (path, httpAddr string) {
	t.Helper()
	dir := t.TempDir()
	dead := freePort(t) // nothing listens here
	httpAddr = freePort(t)
	cfg := fmt.Sprintf(`ari:
  url: http://%[1]s/ari
  websocket_url: ws://%[1]s/ari/events
%[4]s
agi:
  enabled: false
http:
  listen: %[2]s
database: %[3]s
log:
  level: debug
  format: json
`, dead, httpAddr, filepath.Join(dir, "callscreen.db"), ariExtra)
	path = filepath.Join(dir, "callscreen.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, httpAddr
}

// runServe runs "callscreen serve" for at most d and returns its exit
// error (nil if it was still running and was stopped) and output.
func runServe(t *testing.T, cfg string, env []string, d time.Duration) (exited bool, err error, out string) {
	t.Helper()
	bin := buildBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "-c", cfg)
	cmd.Env = append(filteredEnv(), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return true, err, buf.String()
	case <-time.After(d):
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cancel()
		<-done
	}
	return false, nil, buf.String()
}

// filteredEnv is the environment without CALLSCREEN_* variables.
func filteredEnv() []string {
	var out []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "CALLSCREEN_") {
			out = append(out, e)
		}
	}
	return out
}

func TestServeRefusesSamplePasswords(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		env   []string
	}{
		{"no password", "", nil},
		{"sample password in the file", "  password: change-me", nil},
		{"sample password from the environment", "", []string{"CALLSCREEN_ARI_PASSWORD=change-me"}},
		{"empty password file", "  password_file: /dev/null", nil},
		{"insecure flag false", "  password: asterisk\n  insecure_password: false", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, httpAddr := secConfig(t, tc.extra)
			exited, err, out := runServe(t, cfg, tc.env, 10*time.Second)
			if !exited || err == nil {
				t.Fatalf("serve did not refuse to start (exited=%v err=%v):\n%s", exited, err, out)
			}
			if !strings.Contains(out, "ari.password") {
				t.Errorf("the refusal does not name ari.password:\n%s", out)
			}
			if c, err := net.DialTimeout("tcp", httpAddr, time.Second); err == nil {
				c.Close()
				t.Errorf("something listens on %s after the refusal", httpAddr)
			}
		})
	}
}

func TestServeSecretsNeverLogged(t *testing.T) {
	const secret = "s3cr3t-ari-Pa55word-Xq9"
	pwFile := filepath.Join(t.TempDir(), "ari.secret")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		extra string
		env   []string
	}{
		{"environment", "", []string{"CALLSCREEN_ARI_PASSWORD=" + secret}},
		{"file", "  password_file: " + pwFile, nil},
		{"insecure lab flag", "  password: change-me\n  insecure_password: true", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, httpAddr := secConfig(t, tc.extra)
			// ARI is unreachable: serve keeps retrying and logs the
			// failures at debug level, URL and user included.
			exited, err, out := runServe(t, cfg, tc.env, 4*time.Second)
			if exited {
				t.Fatalf("serve exited (%v):\n%s", err, out)
			}
			if strings.Contains(out, secret) || strings.Contains(out, "change-me") {
				t.Errorf("the ARI password appears in serve's output:\n%s", out)
			}
			if !strings.Contains(out, httpAddr) {
				t.Errorf("serve's start-up line does not name the HTTP listener %s:\n%s", httpAddr, out)
			}
			// The credentials must not leak in URL form either.
			if strings.Contains(out, "callscreen:"+secret) || strings.Contains(out, url.QueryEscape(secret)) {
				t.Errorf("the password appears URL-encoded:\n%s", out)
			}
		})
	}
}

// TestDefaultListenersLoopback: without configuration, ARI, FastAGI and
// HTTP (metrics, dashboard) are all on loopback.
func TestDefaultListenersLoopback(t *testing.T) {
	for _, k := range []string{"CALLSCREEN_HTTP_LISTEN", "CALLSCREEN_AGI_LISTEN", "CALLSCREEN_ARI_URL", "CALLSCREEN_ARI_WEBSOCKET_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	loop := func(what, hostport string) {
		host, _, err := net.SplitHostPort(hostport)
		if err != nil {
			t.Errorf("%s %q: %v", what, hostport, err)
			return
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			t.Errorf("%s defaults to %q, not loopback", what, hostport)
		}
	}
	loop("http.listen", cfg.HTTP.Listen)
	loop("agi.listen", cfg.AGI.Listen)
	for what, u := range map[string]string{"ari.url": cfg.ARI.URL, "ari.websocket_url": cfg.ARI.WebsocketURL} {
		p, err := url.Parse(u)
		if err != nil {
			t.Errorf("%s %q: %v", what, u, err)
			continue
		}
		loop(what, p.Host)
	}
	if cfg.HTTP.Dashboard && cfg.HTTP.Password == "" && !cfg.HTTP.InsecurePassword {
		// A dashboard on by default must have a login.
		if err := cfg.CheckSecrets(); err == nil {
			t.Error("dashboard on by default without a password")
		}
	}
}
