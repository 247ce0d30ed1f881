package integration

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// TestDoctor runs "callscreen doctor" against the real Asterisk with the
// fixture's serve running: all OK; then with a profile whose prompt names
// a sound Asterisk does not have: a FAIL naming the key.
func TestDoctor(t *testing.T) {
	f := getFixture(t)
	t.Run("good setup", func(t *testing.T) {
		out, code := f.doctor(t, f.cfgPath)
		t.Logf("callscreen doctor:\n%s", out)
		if code != 0 {
			t.Errorf("exit status %d, want 0", code)
		}
		for _, want := range []string{
			"OK    config", "OK    secrets", "OK    asterisk  Asterisk 22.",
			`OK    stasis    application "callscreen" registered`,
			"OK    prompts   profile default (en): all", "OK    prompts   profile challenge (en)", "OK    prompts   profile public (en)",
			"OK    http      " + httpListen, "OK    database", "0 failed, 0 warnings",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
	})
	t.Run("missing sound", func(t *testing.T) {
		cfg := harness.ReadFile(f.cfgPath)
		bad := strings.Replace(cfg, "\nprofiles:\n", "\nprofiles:\n  missing:\n    prompts:\n      number_request: callscreen/no-such-prompt\n", 1)
		if bad == cfg {
			t.Fatal("no profiles: key in the fixture's configuration")
		}
		path := filepath.Join(t.TempDir(), "callscreen.yaml")
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		out, code := f.doctor(t, path)
		t.Logf("callscreen doctor:\n%s", out)
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		want := `FAIL  prompts   profiles.missing.prompts.number_request: sound "callscreen/no-such-prompt" is not on the Asterisk server (language en)`
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
		if !strings.Contains(out, "or change profiles.missing.prompts.number_request") || !strings.Contains(out, "1 failed") {
			t.Errorf("output does not say what to change, or counts more failures")
		}
	})
}

// doctor runs "callscreen doctor -c path" with serve's secrets and returns
// its output and exit status.
func (f *fixture) doctor(t *testing.T, path string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.bin, "doctor", "-c", path)
	// The secrets serve gets (startServe).
	cmd.Env = append(os.Environ(), "CALLSCREEN_ARI_PASSWORD="+f.ast.ARIPassword, "CALLSCREEN_HTTP_PASSWORD="+dashboardPassword, "CALLSCREEN_AGI_KEY="+harness.AGIKey)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("callscreen doctor: %v\n%s", err, out.String())
	return "", 0
}
