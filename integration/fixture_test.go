package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// Addresses and numbers of the test configuration.
const (
	httpListen = "127.0.0.1:18090"
	// ownNumber is the default profile's own number (and a DID screened
	// with it).
	ownNumber = "0399991000"
	// didChallenge is screened with the "challenge" profile (dids:).
	didChallenge = "0399991001"
	// challengeDigit is the only digit the test profiles ask for.
	challengeDigit = "7"
	// mailbox is CALLSCREEN_MAILBOX of the sample dialplan.
	mailbox = "100"
)

// testConfig is callscreen.yaml for the tests; %s is the database path.
// The ARI password comes from CALLSCREEN_ARI_PASSWORD.
const testConfig = `# callscreen integration test configuration (integration/fixture_test.go)
ari:
  enabled: true
  url: http://127.0.0.1:8088/ari
  websocket_url: ws://127.0.0.1:8088/ari/events
  username: callscreen
  application: callscreen
agi:
  # The outbound route's callback hook (callbacks_test.go) needs FastAGI.
  enabled: true
  listen: 127.0.0.1:4573
http:
  listen: ` + httpListen + `
  # The admin dashboard (dashboard_test.go); the password comes from
  # CALLSCREEN_HTTP_PASSWORD.
  dashboard: true
  username: ` + dashboardUser + `
database: %s
log:
  level: info
  format: json
calls:
  deadline: 90s
  shutdown_grace: 10s
callbacks:
  # Short, so that japan_test.go can see the window close
  # (emergencyWindow).
  emergency_window: 30s
notify:
  # The receiver of notify_test.go.
  webhook:
    url: http://` + webhookListen + `/callscreen
    secret: ` + webhookSecret + `
  # The suite rejects far more calls in ten minutes than the default
  # rate limit lets through; TestNotifyWebhook needs its notification.
  rate_limit: 1000
default_profile: default
dids:
  "` + didChallenge + `": challenge
  "` + didMonitor + `": monitor
  "` + didNames + `": names
  "` + harness.DIDAGI + `": challenge
trunks:
  provider:
    trusted: true
    addresses: [127.0.0.2]
  public:
    trusted: false
profiles:
  default:
    country: JP
    own_numbers: ["` + ownNumber + `"]
    brands: ["NTT", "Amazon"]
    challenge:
      # The production default draws from 2-9; the tests must know it.
      digits: "` + challengeDigit + `"
      timeout: 3s
      attempts: 2
    reject_prompt: true
  challenge:
    # A DID where the business wants even mild signals challenged.
    country: JP
    own_numbers: ["` + didChallenge + `"]
    thresholds: {challenge: 15, voicemail: 60, reject: 90}
    challenge:
      digits: "` + challengeDigit + `"
      timeout: 3s
      attempts: 2
      fallback: voicemail
    reject_prompt: true
  names:
    # Challenged callers say their name for the person who answers
    # (names_test.go).
    country: JP
    own_numbers: ["` + didNames + `"]
    thresholds: {challenge: 15, voicemail: 60, reject: 90}
    challenge:
      digits: "` + challengeDigit + `"
      timeout: 3s
      attempts: 2
      record_name: true
      max_name: 3s
  monitor:
    # A DID being trialled in monitor mode (callbacks_test.go).
    country: JP
    own_numbers: ["` + didMonitor + `"]
    monitor: true
  public:
    # Calls through the internet-facing endpoint ([from-public]).
    country: JP
    own_numbers: ["` + ownNumber + `"]
    thresholds: {challenge: 20, voicemail: 60, reject: 90}
    scanner: drop
    challenge:
      digits: "` + challengeDigit + `"
      timeout: 3s
      attempts: 2
`

// fixture is what every test shares: Asterisk, the desk phone and a
// running "callscreen serve".
type fixture struct {
	dir     string
	bin     string
	cfgPath string
	ast     *harness.Asterisk
	desk    *harness.DeskPhone
	hooks   *hookReceiver // webhook receiver (notify_test.go)

	mu         sync.Mutex
	serve      *serveProc
	serveLog   string // callscreen serve's stderr, every run appended
	installLog string
}

// serveProc is one run of "callscreen serve".
type serveProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// The shared fixture: started by the first test that needs it, stopped by
// TestMain or by releaseFixture (a test that needs the test Asterisk's
// lock and ports for an Asterisk of its own), and started again by the
// next test that needs it.
var (
	fxMu  sync.Mutex
	fx    *fixture
	fxErr error
)

// getFixture starts the fixture on first use and returns it. It skips the
// test when the integration tests are off, and registers a dump of
// callscreen's and Asterisk's logs for a failing test.
func getFixture(t *testing.T) *fixture {
	t.Helper()
	if !enabled {
		t.Skip(skipReason)
	}
	if os.Geteuid() != 0 {
		msg := "the end-to-end tests need root (Asterisk runs in a chroot with /proc and /dev mounted)"
		if ci {
			t.Fatal(msg + " (CI=true: failing, not skipping)")
		}
		t.Skip(msg)
	}
	fxMu.Lock()
	if fx == nil && fxErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		fx, fxErr = startFixture(ctx)
		cancel()
	}
	f, err := fx, fxErr
	fxMu.Unlock()
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("callscreen serve stderr (tail):\n%s", harness.TailLines(harness.ReadFile(f.serveLog), 40))
			t.Logf("Asterisk full.log (tail):\n%s", harness.TailLines(f.ast.FullLog(), 80))
		}
	})
	return f
}

func startFixture(ctx context.Context) (_ *fixture, err error) {
	f := &fixture{}
	defer func() {
		if err != nil {
			f.stop(true)
		}
	}()
	if f.dir, err = os.MkdirTemp("", "callscreen-integration-"); err != nil {
		return nil, err
	}
	f.serveLog = filepath.Join(f.dir, "serve.stderr")
	f.installLog = filepath.Join(f.dir, "install.log")

	repo, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	f.bin = filepath.Join(f.dir, "callscreen")
	build := exec.CommandContext(ctx, goTool(), "build", "-o", f.bin, "./cmd/callscreen")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/callscreen: %w\n%s", err, out)
	}

	inst, err := os.Create(f.installLog)
	if err != nil {
		return nil, err
	}
	defer inst.Close()
	outbound, err := outboundDialplan(repo)
	if err != nil {
		return nil, err
	}
	if f.ast, err = harness.StartAsterisk(ctx, harness.AsteriskOptions{Log: inst, Append: map[string]string{"extensions.conf": outbound}}); err != nil {
		return nil, fmt.Errorf("%w (install.sh output in %s)", err, f.installLog)
	}
	if f.desk, err = harness.StartDeskPhone(ctx, harness.DeskPhoneOptions{}); err != nil {
		return nil, err
	}

	if f.hooks, err = startHookReceiver(webhookListen); err != nil {
		return nil, err
	}
	f.cfgPath = filepath.Join(f.dir, "callscreen.yaml")
	cfg := fmt.Sprintf(testConfig, filepath.Join(f.dir, "callscreen.db"))
	if err := os.WriteFile(f.cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	if out, err := f.run(ctx, "config", "check"); err != nil {
		return nil, fmt.Errorf("callscreen config check: %w\n%s", err, out)
	}
	if err := f.startServe(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// stopFixture stops whatever the tests started and removes the temporary
// directory, unless CALLSCREEN_KEEP is set. (A fixture that fails to start
// keeps it too, so its logs can be read.)
func stopFixture() error {
	fxMu.Lock()
	defer fxMu.Unlock()
	if fx == nil {
		return nil
	}
	err := fx.stop(false)
	fx = nil
	return err
}

// releaseFixture stops the shared fixture, if it runs, so that the test
// can take the test Asterisk's lock and ports; the next test that needs
// the fixture starts it again.
func releaseFixture(t *testing.T) {
	t.Helper()
	if err := stopFixture(); err != nil {
		t.Fatalf("stopping the shared fixture: %v", err)
	}
}

func (f *fixture) stop(keep bool) error {
	var errs []error
	if err := f.stopServe(syscall.SIGTERM); err != nil {
		errs = append(errs, err)
	}
	if f.hooks != nil {
		f.hooks.Close()
	}
	if f.desk != nil {
		if err := f.desk.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if f.ast != nil {
		if err := f.ast.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if f.dir != "" {
		if keep || os.Getenv("CALLSCREEN_KEEP") != "" {
			fmt.Fprintln(os.Stderr, "integration: keeping", f.dir)
		} else {
			os.RemoveAll(f.dir)
		}
	}
	return errors.Join(errs...)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	for _, p := range []string{filepath.Join(os.Getenv("GOROOT"), "bin", "go"), "/usr/local/go/bin/go"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// ---- callscreen serve --------------------------------------------------------

// startServe starts "callscreen serve" and waits until Asterisk lists the
// Stasis application and /healthz answers.
func (f *fixture) startServe(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.serve != nil {
		return errors.New("callscreen serve is already running")
	}
	logf, err := os.OpenFile(f.serveLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "---- callscreen serve started %s ----\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(f.bin, "serve", "-c", f.cfgPath)
	cmd.Env = append(os.Environ(), "CALLSCREEN_ARI_PASSWORD="+f.ast.ARIPassword, "CALLSCREEN_HTTP_PASSWORD="+dashboardPassword, "CALLSCREEN_AGI_KEY="+harness.AGIKey)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting callscreen serve: %w", err)
	}
	p := &serveProc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logf.Close(); close(p.done) }()
	f.serve = p

	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	last := ""
	for {
		select {
		case <-p.done:
			f.serve = nil
			return fmt.Errorf("callscreen serve exited during start-up (%v):\n%s", p.err, harness.TailLines(harness.ReadFile(f.serveLog), 30))
		default:
		}
		app := f.ariStatus(wctx, "/applications/callscreen")
		health := harness.HTTPStatus(wctx, "http://"+httpListen+"/healthz", "", "")
		if app == http.StatusOK && health == http.StatusOK {
			return nil
		}
		last = fmt.Sprintf("ARI application: %d, /healthz: %d", app, health)
		select {
		case <-wctx.Done():
			return fmt.Errorf("callscreen serve not ready (%s): %w\n%s", last, wctx.Err(), harness.TailLines(harness.ReadFile(f.serveLog), 30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stopServe stops callscreen serve with sig, waits for it to exit (with
// SIGKILL after 30 s) and returns an error if it did not exit cleanly
// after SIGTERM.
func (f *fixture) stopServe(sig syscall.Signal) error {
	f.mu.Lock()
	p := f.serve
	f.serve = nil
	f.mu.Unlock()
	if p == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("callscreen serve ignored %v for 30 s; killed", sig)
	}
	if sig == syscall.SIGTERM && p.err != nil {
		return fmt.Errorf("callscreen serve after SIGTERM: %w", p.err)
	}
	return nil
}

// ariStatus answers the HTTP status of an ARI GET (0 when unreachable).
func (f *fixture) ariStatus(ctx context.Context, path string) int {
	return harness.HTTPStatus(ctx, f.ast.ARIURL+path, f.ast.ARIUser, f.ast.ARIPassword)
}

// ---- the CLI -------------------------------------------------------------------

// run runs the callscreen CLI with the test configuration.
func (f *fixture) run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.bin, append(args, "-c", f.cfgPath)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), fmt.Errorf("callscreen %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// cli runs the callscreen CLI and fails the test on an error.
func (f *fixture) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := f.run(context.Background(), args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// listsChange runs "callscreen lists <args>" while serve runs and waits
// until serve has reloaded the lists (it checks every 2 s).
func (f *fixture) listsChange(t *testing.T, args ...string) {
	t.Helper()
	before := f.reloads()
	t.Log(strings.TrimSpace(f.cli(t, append([]string{"lists"}, args...)...)))
	start := time.Now()
	poll(t, 20*time.Second, func() bool { return f.reloads() > before },
		func() string { return "callscreen serve did not take the change into its lists" })
	t.Logf("serve took the change into its lists %s after it", time.Since(start).Round(10*time.Millisecond))
}

// reloads counts the times serve's log says its live lists took changes
// from the database: a reload, or changes applied from the change feed.
func (f *fixture) reloads() int {
	l := harness.ReadFile(f.serveLog)
	return strings.Count(l, `"msg":"lists reloaded"`) + strings.Count(l, `"msg":"list changes applied"`)
}

// reconnects counts serve's log lines saying the ARI connection came back
// (the websocket redialled, or a new client connected).
func (f *fixture) reconnects() int {
	l := harness.ReadFile(f.serveLog)
	return strings.Count(l, `"msg":"ARI websocket reconnected`) + strings.Count(l, `"msg":"connected to Asterisk ARI"`)
}

// ---- the call log ----------------------------------------------------------------

// record is one call log record as "callscreen log --json" prints it (the
// fields the tests look at).
type record struct {
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Mode  string    `json:"mode"`
	Facts struct {
		Number       string `json:"number"`
		Name         string `json:"name"`
		Presentation string `json:"presentation"`
		Called       string `json:"called"`
		Trunk        string `json:"trunk"`
		Source       string `json:"source"`
		From         string `json:"from"`
		PAI          string `json:"pai"`
		Privacy      string `json:"privacy"`
		UserAgent    string `json:"user_agent"`
	} `json:"facts"`
	Verdict struct {
		CallID   string `json:"call_id"`
		Profile  string `json:"profile"`
		Presence string `json:"presence"`
		Caller   string `json:"caller"`
		Score    int    `json:"score"`
		Action   string `json:"action"`
		Enforced string `json:"enforced"`
		Override string `json:"override"`
		Findings []struct {
			Indicator string `json:"indicator"`
			Weight    int    `json:"weight"`
			Evidence  string `json:"evidence"`
		} `json:"findings"`
		Reason string `json:"reason"`
	} `json:"verdict"`
	Taken       string        `json:"taken"`
	Outcome     string        `json:"outcome"`
	Detail      string        `json:"detail"`
	Handling    time.Duration `json:"handling_ns"`
	AnswerDelay time.Duration `json:"answer_delay_ns"`
}

// indicators returns the names of the findings.
func (r record) indicators() []string {
	var out []string
	for _, f := range r.Verdict.Findings {
		out = append(out, f.Indicator)
	}
	return out
}

func (r record) String() string {
	return fmt.Sprintf("id=%s caller=%q presence=%s profile=%s score=%d action=%s taken=%s outcome=%s detail=%q override=%q indicators=%v answer_delay=%s handling=%s",
		r.ID, r.Verdict.Caller, r.Verdict.Presence, r.Verdict.Profile, r.Verdict.Score, r.Verdict.Action, r.Taken, r.Outcome, r.Detail,
		r.Verdict.Override, r.indicators(), r.AnswerDelay, r.Handling.Round(time.Millisecond))
}

// records returns the newest records, optionally only those whose caller
// contains caller.
func (f *fixture) records(t *testing.T, caller string) []record {
	t.Helper()
	args := []string{"log", "--json", "-n", "50"}
	if caller != "" {
		args = append(args, "--caller", caller)
	}
	out, err := f.run(context.Background(), args...)
	if err != nil {
		if strings.Contains(out, "no database yet") {
			return nil
		}
		t.Fatalf("%v\n%s", err, out)
	}
	return decodeRecords(t, out)
}

// decodeRecords reads the records `callscreen log --json` printed, one JSON
// object per line.
func decodeRecords(t *testing.T, out string) []record {
	t.Helper()
	var recs []record
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var r record
		if err := dec.Decode(&r); err == io.EOF {
			return recs
		} else if err != nil {
			t.Fatalf("callscreen log --json: %v\n%s", err, harness.TailLines(out, 5))
		}
		recs = append(recs, r)
	}
}

// findRecord returns the newest record of a call placed at or after since
// whose caller contains caller ("" for any) and that match accepts (nil
// for any).
func (f *fixture) findRecord(t *testing.T, caller string, since time.Time, match func(record) bool) (record, bool) {
	t.Helper()
	for _, r := range f.records(t, caller) {
		if r.Time.Before(since.Add(-time.Second)) {
			continue
		}
		if match == nil || match(r) {
			return r, true
		}
	}
	return record{}, false
}

// waitRecord polls the call log (serve batches its writes) for the record
// findRecord describes.
func (f *fixture) waitRecord(t *testing.T, caller string, since time.Time, match func(record) bool) record {
	t.Helper()
	var rec record
	poll(t, 15*time.Second, func() bool {
		var ok bool
		rec, ok = f.findRecord(t, caller, since, match)
		return ok
	}, func() string {
		return fmt.Sprintf("no call log record for caller %q since %s; newest: %v", caller, since.Format(time.TimeOnly), firstN(f.records(t, ""), 3))
	})
	return rec
}

// lastRecord is the newest record of a caller placed since the given time.
func (f *fixture) lastRecord(t *testing.T, caller string, since time.Time) record {
	t.Helper()
	return f.waitRecord(t, caller, since, nil)
}

// ---- what Asterisk logged -----------------------------------------------------------

// screenVar is one NoOp line of [callscreen-ring] or [callscreen-voicemail]
// in Asterisk's full log: the context entered and the SCREEN_* variables.
type screenVar struct {
	Context, ID, Action, Score, Reasons string
}

var screenVarRE = regexp.MustCompile(`NoOp\("[^"]*", "(callscreen-ring|callscreen-voicemail): .*? id=(\S*) action=(\S*) score=(\S*) reasons=([^"]*)"\)`)

// screenVars returns the NoOp lines of the call with SCREEN_ID id, in order.
func (f *fixture) screenVars(id string) []screenVar {
	var out []screenVar
	for _, m := range screenVarRE.FindAllStringSubmatch(f.ast.FullLog(), -1) {
		if m[2] == id {
			out = append(out, screenVar{Context: m[1], ID: m[2], Action: m[3], Score: m[4], Reasons: m[5]})
		}
	}
	return out
}

// waitScreenVars waits until the full log shows the call entering context.
func (f *fixture) waitScreenVars(t *testing.T, id, context string) screenVar {
	t.Helper()
	var got screenVar
	poll(t, 10*time.Second, func() bool {
		for _, v := range f.screenVars(id) {
			if v.Context == context {
				got = v
				return true
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("full.log shows no %s line for id=%s (it shows %+v)", context, id, f.screenVars(id))
	})
	return got
}

// countLog counts matches of re in Asterisk's full log.
func (f *fixture) countLog(re string) int {
	return len(regexp.MustCompile(re).FindAllStringIndex(f.ast.FullLog(), -1))
}

// ---- calls ---------------------------------------------------------------------------

// call places one call and fails the test if the harness could not.
func (f *fixture) call(t *testing.T, spec harness.CallSpec) harness.CallResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := harness.PlaceCall(ctx, spec)
	if err != nil {
		t.Fatalf("call from %s to %s: %v\n%s", spec.FromUser, spec.To, err, r.Log)
	}
	t.Logf("call from %s (%s) to %s: %s", spec.FromUser, orDefault(spec.Source, harness.ProviderAddr), spec.To, r)
	return r
}

// invitesFrom counts the calls from a caller that reached the desk phone.
func (f *fixture) invitesFrom(caller string) int {
	n := 0
	for _, inv := range f.desk.InviteLog() {
		if inv.FromUser == caller {
			n++
		}
	}
	return n
}

// waitRang waits until the desk phone has seen n calls from caller.
func (f *fixture) waitRang(t *testing.T, caller string, n int) {
	t.Helper()
	poll(t, 10*time.Second, func() bool { return f.invitesFrom(caller) >= n },
		func() string {
			return fmt.Sprintf("desk phone saw %d calls from %s, want %d (all: %d)", f.invitesFrom(caller), caller, n, f.desk.Invites())
		})
}

// waitVoicemail waits until the mailbox holds n messages.
func (f *fixture) waitVoicemail(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.ast.WaitVoicemail(ctx, mailbox, n); err != nil {
		t.Error(err)
	}
}

// ---- small helpers ---------------------------------------------------------------------

// poll checks cond every 100 ms until it holds or timeout passes, then
// fails the test with what().
func poll(t *testing.T, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func firstN(recs []record, n int) []string {
	var out []string
	for i, r := range recs {
		if i == n {
			break
		}
		out = append(out, r.String())
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
