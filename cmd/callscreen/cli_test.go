package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// runCLI runs callscreen with args and returns what it printed.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// cliEnv is the sample configuration with a fresh database.
func cliEnv(t *testing.T) (args []string, db string) {
	t.Helper()
	t.Setenv("CALLSCREEN_CONFIG", "")
	sample, err := filepath.Abs("../../asterisk-conf/callscreen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	db = filepath.Join(t.TempDir(), "callscreen.db")
	return []string{"-c", sample, "--database", db}, db
}

func TestConfigCheckMissingFile(t *testing.T) {
	t.Setenv("CALLSCREEN_CONFIG", "")
	if _, err := os.Stat(defaultConfigPath); err == nil {
		t.Skipf("%s exists on this machine", defaultConfigPath)
	}
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	for _, args := range [][]string{
		{"config", "check"},
		{"config", "check", "-c", missing},
	} {
		out, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "does not exist") || strings.Contains(out, "OK") {
			t.Errorf("%v: err %v, output %q; want a missing-file error", args, err, out)
		}
	}
	out, err := runCLI(t, "config", "check", "--json")
	var res configCheckResult
	if jerr := json.Unmarshal([]byte(out), &res); err == nil || jerr != nil || res.OK || !strings.Contains(res.Error, "does not exist") {
		t.Errorf("config check --json of a missing file: err %v, %q", err, out)
	}
}

func TestConfigCheckJSON(t *testing.T) {
	args, _ := cliEnv(t)
	out, err := runCLI(t, append(args, "config", "check", "--json")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"file", "ok", "warnings", "profiles", "dids", "trunks"} {
		if _, ok := m[k]; !ok {
			t.Errorf("config check --json lacks %q: %s", k, out)
		}
	}
	if m["ok"] != true || m["profiles"] != float64(2) {
		t.Errorf("config check --json = %s", out)
	}
}

func TestDoctorJSON(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	// Nothing listens on port 1: ARI fails, the listeners warn.
	os.WriteFile(cfg, []byte("ari:\n  url: http://127.0.0.1:1/ari\n  websocket_url: ws://127.0.0.1:1/ari/events\n  password: not-a-sample-5f1e\n"+
		"agi:\n  listen: 127.0.0.1:1\nhttp:\n  listen: 127.0.0.1:1\ndatabase: "+filepath.Join(dir, "db")+"\n"), 0o600)
	out, err := runCLI(t, "-c", cfg, "doctor", "--json")
	if err == nil {
		t.Errorf("doctor with ARI unreachable succeeded:\n%s", out)
	}
	var res struct {
		Checks []map[string]string `json:"checks"`
		Failed int                 `json:"failed"`
	}
	line, _, _ := strings.Cut(out, "\n")
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	if res.Failed == 0 || len(res.Checks) == 0 {
		t.Fatalf("doctor --json = %s", out)
	}
	for _, c := range res.Checks {
		if s := c["status"]; s != "ok" && s != "warn" && s != "fail" || c["name"] == "" || c["message"] == "" {
			t.Errorf("check %v: want status ok/warn/fail, name, message", c)
		}
	}
}

func TestListsShowSource(t *testing.T) {
	args, _ := cliEnv(t)
	_, err := runCLI(t, append(args, "lists", "show", "block", "--source", "nonsense")...)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "operator") {
		t.Errorf("--source nonsense: err %v, want a usage error naming the sources", err)
	}
	// Every source callscreen writes can be asked for.
	for _, src := range []string{screening.SourceOperator, screening.SourceImport, screening.SourceChallenge,
		screening.SourceCallback, screening.SourceVelocity, screening.SourceChallengeFailures, screening.SourceFleetSweep} {
		if out, err := runCLI(t, append(args, "lists", "show", "block", "--source", src)...); err != nil {
			t.Errorf("--source %s: %v %s", src, err, out)
		}
	}
}

func TestListsShowJSONEmpty(t *testing.T) {
	args, _ := cliEnv(t)
	out, err := runCLI(t, append(args, "lists", "show", "block", "--json")...)
	if err != nil || out != "[]\n" {
		t.Errorf("empty list --json = %q (%v), want []", out, err)
	}
}

func TestListsAddKeepsReason(t *testing.T) {
	args, _ := cliEnv(t)
	reason := func() string {
		out, err := runCLI(t, append(args, "lists", "show", "allow", "--json")...)
		if err != nil {
			t.Fatal(err)
		}
		var es []screening.Entry
		if err := json.Unmarshal([]byte(out), &es); err != nil || len(es) != 1 {
			t.Fatalf("%v %s", err, out)
		}
		return es[0].Reason
	}
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"0355550000", "--reason", "pharmacy"}, "pharmacy"},
		{[]string{"0355550000", "--expires", "7d"}, "pharmacy"}, // kept
		{[]string{"0355550000", "--reason", "the pharmacy"}, "the pharmacy"},
		{[]string{"0355550000", "--reason", ""}, ""}, // cleared on purpose
	} {
		if out, err := runCLI(t, append(append(args, "lists", "add", "allow"), step.args...)...); err != nil {
			t.Fatalf("%v: %v %s", step.args, err, out)
		}
		if got := reason(); got != step.want {
			t.Errorf("after add %v the reason is %q, want %q", step.args, got, step.want)
		}
	}
}

func TestLogIDAndSummaryJSON(t *testing.T) {
	args, db := cliEnv(t)
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	rec := screening.Record{ID: "1732512345.42", Time: time.Now().Add(-time.Minute), Mode: "ari", Taken: screening.Ring, Outcome: "rang"}
	rec.Verdict.Action = screening.Ring
	rec.Verdict.Caller = "+81355550000"
	w, err := store.NewLogWriter(ctx, st, store.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(rec)
	if err := w.Close(ctx); err != nil || w.Written() != 1 {
		t.Fatalf("record not written: %v", err)
	}
	st.Close()

	out, err := runCLI(t, append(args, "log", "--id", rec.ID, "--json")...)
	var got screening.Record
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.ID != rec.ID || got.Verdict.Caller != rec.Verdict.Caller {
		t.Errorf("log --id --json: %v %q", err, out)
	}
	if out, err := runCLI(t, append(args, "log", "--id", rec.ID)...); err != nil || !strings.Contains(out, `"id": "1732512345.42"`) {
		t.Errorf("log --id: %v %q", err, out)
	}
	if _, err := runCLI(t, append(args, "log", "--id", "nope")...); err == nil || !strings.Contains(err.Error(), "no call with id") {
		t.Errorf("log --id of an unknown id: %v", err)
	}

	out, err = runCLI(t, append(args, "log", "--summary", "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	for _, k := range []string{"since", "until", "calls", "by_action", "by_outcome", "indicators", "monitor", "would_have"} {
		if _, ok := m[k]; !ok {
			t.Errorf("log --summary --json lacks %q: %s", k, out)
		}
	}
	if regexp.MustCompile(`"[A-Z]`).MatchString(out) {
		t.Errorf("log --summary --json has Go field names: %s", out)
	}
}

// TestDocumentedCommands: every `callscreen ...` command line in the
// README and docs/ names a command that exists and flags it accepts.
func TestDocumentedCommands(t *testing.T) {
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md", "../../asterisk-conf/README.md", "../../packaging/README.md")
	cmdRE := regexp.MustCompile("(?:^|`|\\$ )(callscreen (?:[a-z-]+)(?: [^`|]*)?)")
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			for _, m := range cmdRE.FindAllStringSubmatch(strings.TrimSpace(sc.Text()), -1) {
				line := m[1]
				if i := strings.Index(line, " #"); i >= 0 {
					line = line[:i]
				}
				words := shellWords(line)[1:]
				root := newRoot()
				c, rest, err := root.Find(words)
				if err != nil || c == root {
					// Prose such as "callscreen sits in front of": not a
					// command line.
					continue
				}
				n++
				if err := c.ParseFlags(rest); err != nil {
					t.Errorf("%s: %q: %v", filepath.Base(f), line, err)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("found only %d documented command lines", n)
	}
}

// shellWords splits a command line like a shell, for quoting only.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	in := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}
