// Command demo shows callscreen screening real calls on a real Asterisk:
// it installs Asterisk 22 and sipp (integration/asterisk/install.sh, via
// the harness), starts Asterisk with the sample configuration, the sipp
// desk phone and "callscreen serve" with the sample callscreen.yaml adapted
// for a lab, places a handful of representative calls, prints what
// happened to each, and keeps everything running (dashboard on
// http://127.0.0.1:8090/) until Ctrl-C. `make demo` runs it; it needs root.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// ariPassword is the sample ari.conf's placeholder, kept as is: the demo
// config sets ari.insecure_password, the lab flag.
const ariPassword = "change-me"

// demoCall is one call the demo places.
type demoCall struct {
	what string
	spec harness.CallSpec
	// logCaller finds the call's record (callscreen log --caller); ""
	// takes the newest record (the calls are placed one at a time).
	logCaller string
}

func main() {
	bin := flag.String("bin", "", "callscreen binary (default: build one into -dir)")
	dir := flag.String("dir", "/var/tmp/callscreen-demo", "demo directory (configuration, database, logs)")
	once := flag.Bool("once", false, "stop after the table instead of running until Ctrl-C")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{dir: *dir, bin: *bin}
	err := d.run(ctx, *once)
	if cerr := d.cleanup(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type demo struct {
	dir, bin, repo, cfgPath, serveLog string
	ast                               *harness.Asterisk
	desk                              *harness.DeskPhone
	serve                             *exec.Cmd
	serveDone                         chan error
}

func say(format string, a ...any) { fmt.Printf("==> "+format+"\n", a...) }

func (d *demo) run(ctx context.Context, once bool) error {
	if os.Geteuid() != 0 {
		return errors.New("the demo needs root: Asterisk runs in a chroot with /proc and /dev mounted")
	}
	var err error
	if d.repo, err = harness.RepoRoot(); err != nil {
		return err
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	// A fresh database each run, so the table shows this run's calls.
	for _, f := range []string{"callscreen.db", "callscreen.db-wal", "callscreen.db-shm"} {
		os.Remove(filepath.Join(d.dir, f))
	}
	if d.bin == "" {
		d.bin = filepath.Join(d.dir, "callscreen")
		say("building callscreen")
		if out, err := d.goCmd(ctx, "build", "-o", d.bin, "./cmd/callscreen").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/callscreen: %w\n%s", err, out)
		}
	}
	if d.bin, err = filepath.Abs(d.bin); err != nil {
		return err
	}

	say("installing and starting Asterisk 22 (integration/asterisk/install.sh; the first run builds a Debian sid chroot, a few minutes)")
	d.ast, err = harness.StartAsterisk(ctx, harness.AsteriskOptions{ARIPassword: ariPassword, Log: prefixWriter{os.Stdout, "    "}})
	if err != nil {
		return err
	}
	out, _ := d.ast.CLI(ctx, "core show version")
	say("%s (chroot %s)", strings.TrimSpace(out), d.ast.Root)
	say("starting the sipp desk phone (PJSIP/desk100 at %s)", harness.DeskPhoneAddr)
	if d.desk, err = harness.StartDeskPhone(ctx, harness.DeskPhoneOptions{}); err != nil {
		return err
	}

	if err := d.writeConfig(); err != nil {
		return err
	}
	say("configuration: %s (asterisk-conf/callscreen.yaml adapted for the lab)", d.cfgPath)
	if out, err := d.cli(ctx, "config", "check"); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	if out, err := d.cli(ctx, "lists", "add", "block", "0312348899", "--reason", "demo: called nine times at night"); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	say("starting callscreen serve (log: %s)", d.serveLog)
	if err := d.startServe(ctx); err != nil {
		return err
	}
	say("callscreen doctor:")
	out, _ = d.cli(ctx, "doctor")
	fmt.Print(indent(out, "    "))

	calls := []demoCall{
		{"withheld number (Anonymous)", harness.CallSpec{FromUser: "anonymous", FromName: "Anonymous", FromHost: "anonymous.invalid", Hold: 30 * time.Second}, ""},
		{"ordinary Tokyo landline", harness.CallSpec{FromUser: "0312345678", FromName: "Yamada Shoten", Hold: 2 * time.Second}, "+81312345678"},
		{"spoofed international toll-free", harness.CallSpec{FromUser: "+18775550100", Hold: 20 * time.Second}, "+18775550100"},
		{"SIP scanner from a stranger", harness.CallSpec{Source: harness.StrangerAddr, FromUser: "100", Headers: []string{"User-Agent: friendly-scanner"}}, "100"},
		{"challenged caller, presses 7", harness.CallSpec{FromUser: "+12025550123",
			Headers: []string{"P-Asserted-Identity: <sip:+12025550123@127.0.0.2;verstat=TN-Validation-Passed-C>"},
			DTMF:    "7", DTMFDelay: 2500 * time.Millisecond, Hold: 8 * time.Second}, "+12025550123"},
		{"block-listed number", harness.CallSpec{FromUser: "0312348899", Hold: 20 * time.Second}, "+81312348899"},
	}
	type row struct {
		call    demoCall
		res     harness.CallResult
		rec     *logRecord
		rang    bool
		callErr error
	}
	var rows []row
	for i, c := range calls {
		c.spec.To = "0399990100" // a DID screened with the default profile
		say("call %d/%d: %s, from %s", i+1, len(calls), c.what, c.spec.FromUser)
		before := d.desk.Invites()
		start := time.Now()
		res, err := harness.PlaceCall(ctx, c.spec)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r := row{call: c, res: res, callErr: err}
		r.rec = d.waitRecord(ctx, c.logCaller, start)
		r.rang = d.desk.Invites() > before
		rows = append(rows, r)
	}

	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tcall\tcaller\tverdict\tscore\treasons\ttaken\toutcome\tdesk rang\tSIP")
	for i, r := range rows {
		verdict, score, reasons, taken, outcome := "-", "-", "-", "-", "(no record)"
		if r.rec != nil {
			verdict, score, reasons = r.rec.Verdict.Action, fmt.Sprint(r.rec.Verdict.Score), orDash(r.rec.reasons())
			taken, outcome = r.rec.Taken, r.rec.Outcome
			if r.rec.Detail != "" && r.rec.Outcome != "rang" {
				outcome += " (" + r.rec.Detail + ")"
			}
		}
		sip := fmt.Sprint(r.res.Final)
		if r.callErr != nil {
			sip = "error: " + r.callErr.Error()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i+1, r.call.what, r.call.spec.FromUser, verdict, score, reasons, taken, outcome, yesNo(r.rang), sip)
	}
	tw.Flush()
	fmt.Println()

	user, pass := "demo", "demo"
	fmt.Printf("callscreen is screening calls on Asterisk.\n")
	fmt.Printf("  dashboard    http://127.0.0.1:8090/  (user %s, password %s)\n", user, pass)
	fmt.Printf("  metrics      http://127.0.0.1:8090/metrics\n")
	fmt.Printf("  call log     %s log -c %s\n", d.bin, d.cfgPath)
	fmt.Printf("  a verdict    %s check -c %s +18775550100\n", d.bin, d.cfgPath)
	fmt.Printf("  serve log    %s\n", d.serveLog)
	fmt.Printf("  Asterisk     chroot %s asterisk -r\n", d.ast.Root)
	fmt.Printf("  place a call from this machine with sipp: see integration/harness (provider %s, DIDs via [from-provider])\n", harness.ProviderAddr)
	if once {
		return nil
	}
	fmt.Printf("Press Ctrl-C to stop callscreen and Asterisk and clean up.\n")
	select {
	case <-ctx.Done():
		fmt.Println()
		say("stopping")
		return nil
	case err := <-d.serveDone:
		return fmt.Errorf("callscreen serve exited: %v (see %s)", err, d.serveLog)
	}
}

// writeConfig adapts asterisk-conf/callscreen.yaml for the lab: each
// substitution must match exactly once, so the demo and the sample cannot
// drift apart silently.
func (d *demo) writeConfig() error {
	b, err := os.ReadFile(filepath.Join(d.repo, "asterisk-conf", "callscreen.yaml"))
	if err != nil {
		return err
	}
	s := string(b)
	for _, r := range []struct {
		old, new string
		optional bool // the dashboard's keys, in samples that have them
	}{
		// The sample ari.conf's placeholder password, allowed by the lab flag.
		{"  password_file: /etc/callscreen/ari.secret   # sample\n", "  password: " + ariPassword + "   # demo\n", false},
		{"  key_file: /etc/callscreen/agi.key   # sample\n", "  key: " + harness.AGIKey + "   # demo: the test PBX's\n", false},
		{"  application: callscreen\n  insecure_password: false\n", "  application: callscreen\n  insecure_password: true   # demo: lab password\n", false},
		// The provider is sipp on 127.0.0.2.
		{"addresses: [203.0.113.10]", "addresses: [127.0.0.2]", false},
		{"database: /var/lib/callscreen/callscreen.db", "database: " + filepath.Join(d.dir, "callscreen.db"), false},
		// The digit the challenged caller presses must be known in advance.
		{"    challenge:\n      attempts: 2\n", "    challenge:\n      digits: \"7\"   # demo: the sample draws from 2-9\n      attempts: 2\n", false},
		// The dashboard, with the login demo/demo.
		{"  dashboard: false\n", "  dashboard: true   # demo\n", true},
		{"  username: admin\n", "  username: demo   # demo\n", true},
		{"  password_file: /etc/callscreen/dashboard.secret   # sample\n", "  password: demo   # demo\n", true},
	} {
		if n := strings.Count(s, r.old); n == 0 && r.optional {
			continue
		} else if n != 1 {
			return fmt.Errorf("asterisk-conf/callscreen.yaml: %q occurs %d times, want once (update integration/cmd/demo)", r.old, n)
		}
		s = strings.Replace(s, r.old, r.new, 1)
	}
	d.cfgPath = filepath.Join(d.dir, "callscreen.yaml")
	d.serveLog = filepath.Join(d.dir, "serve.log")
	return os.WriteFile(d.cfgPath, []byte("# Generated by integration/cmd/demo from asterisk-conf/callscreen.yaml.\n"+s), 0o600)
}

// env is the environment of every callscreen command: the dashboard's
// login, for samples without the dashboard's keys (ignored by a
// callscreen without a dashboard).
func (d *demo) env() []string {
	return append(os.Environ(),
		"CALLSCREEN_HTTP_DASHBOARD=true", "CALLSCREEN_HTTP_USERNAME=demo", "CALLSCREEN_HTTP_PASSWORD=demo",
		"CALLSCREEN_HTTP_INSECURE_PASSWORD=true", "CALLSCREEN_AGI_KEY="+harness.AGIKey)
}

func (d *demo) cli(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, append(args, "-c", d.cfgPath)...)
	cmd.Env = d.env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("callscreen %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}

func (d *demo) goCmd(ctx context.Context, args ...string) *exec.Cmd {
	goBin := "go"
	if _, err := exec.LookPath("go"); err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = d.repo
	return cmd
}

func (d *demo) startServe(ctx context.Context) error {
	logf, err := os.Create(d.serveLog)
	if err != nil {
		return err
	}
	cmd := exec.Command(d.bin, "serve", "-c", d.cfgPath)
	cmd.Env = d.env()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	d.serve, d.serveDone = cmd, make(chan error, 1)
	go func() { d.serveDone <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-d.serveDone:
			d.serve = nil
			return fmt.Errorf("callscreen serve exited during start-up (%v):\n%s", err, readTail(d.serveLog, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if harness.HTTPStatus(ctx, d.ast.ARIURL+"/applications/callscreen", d.ast.ARIUser, d.ast.ARIPassword) == 200 &&
			harness.HTTPStatus(ctx, "http://127.0.0.1:8090/healthz", "", "") == 200 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("callscreen serve not ready after 60 s:\n%s", readTail(d.serveLog, 20))
		}
	}
}

func (d *demo) cleanup() error {
	var errs []error
	if d.serve != nil {
		_ = d.serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.serveDone:
		case <-time.After(40 * time.Second):
			_ = syscall.Kill(-d.serve.Process.Pid, syscall.SIGKILL)
			<-d.serveDone
		}
	}
	if d.desk != nil {
		if err := d.desk.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.ast != nil {
		if err := d.ast.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.ast != nil || d.serve != nil {
		say("stopped; the configuration, database and logs stay in %s", d.dir)
	}
	return errors.Join(errs...)
}

// logRecord is the part of a call log record ("callscreen log --json")
// the table shows.
type logRecord struct {
	Time    time.Time `json:"time"`
	Verdict struct {
		Caller   string `json:"caller"`
		Score    int    `json:"score"`
		Action   string `json:"action"`
		Override string `json:"override"`
		Presence string `json:"presence"`
		Findings []struct {
			Indicator string `json:"indicator"`
		} `json:"findings"`
	} `json:"verdict"`
	Taken   string `json:"taken"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail"`
}

func (r *logRecord) reasons() string {
	var n []string
	if r.Verdict.Override != "" {
		n = append(n, "allow")
	}
	for _, f := range r.Verdict.Findings {
		n = append(n, f.Indicator)
	}
	if len(n) == 0 && r.Verdict.Presence != "presented" {
		n = append(n, r.Verdict.Presence)
	}
	return strings.Join(n, ",")
}

// waitRecord polls the call log for the newest record of caller since
// start (serve writes in batches).
func (d *demo) waitRecord(ctx context.Context, caller string, start time.Time) *logRecord {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		args := []string{"log", "--json", "-n", "5"}
		if caller != "" {
			args = append(args, "--caller", caller)
		}
		out, err := d.cli(ctx, args...)
		if err == nil {
			dec := json.NewDecoder(strings.NewReader(out))
			for {
				var r logRecord
				if err := dec.Decode(&r); err != nil {
					break
				}
				if !r.Time.Before(start.Add(-time.Second)) {
					return &r
				}
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	return nil
}

// prefixWriter indents install.sh's output under the demo's own lines.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	_, err := io.WriteString(p.w, indent(string(b), p.prefix))
	return len(b), err
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

func readTail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
