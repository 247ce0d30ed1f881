package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// TestFaults injects faults under a steady load of 20 calls per second
// (sipp, every call a distinct ordinary caller that callscreen rings):
//
//  1. callscreen killed with SIGKILL and restarted 5 s later;
//  2. Asterisk restarted;
//  3. the call log's file system filled up (a 32 MiB tmpfs), then freed;
//  4. a large list import from the CLI while the operator blocks numbers
//     on the dashboard (import_test.go);
//
// then bursts of 50 simultaneous calls through ARI and through FastAGI,
// and the soak: mixed bursts through both for CALLSCREEN_SOAK (default 10
// minutes) with Asterisk dumping core on a crash (burst_test.go).
//
// It takes about 20 minutes and runs only with CALLSCREEN_FAULTS=1
// (`make faults`). docs/RELIABILITY.md quotes its figures.
func TestFaults(t *testing.T) {
	if os.Getenv("CALLSCREEN_FAULTS") != "1" {
		t.Skip("fault injection under load runs with CALLSCREEN_FAULTS=1 (make faults)")
	}
	f := getFixture(t)
	lg := &loadGen{f: f, rate: 20, k: int(time.Now().Unix() % 5000)}
	t.Run("SIGKILL", func(t *testing.T) { faultKill(t, f, lg) })
	t.Run("AsteriskRestart", func(t *testing.T) { faultAsteriskRestart(t, f, lg) })
	t.Run("DatabaseFull", func(t *testing.T) { faultDatabaseFull(t, f, lg) })
	t.Run("LargeImport", func(t *testing.T) { faultLargeImport(t, f, lg) })
	t.Run("Bursts", func(t *testing.T) { burstScenarios(t, f, soakDuration(t, 10*time.Minute)) })
}

// TestFaultKill is TestFaults' first scenario on its own, in every run of
// the suite (make test): callscreen SIGKILLed under 20 calls/s and started
// again 5 s later. Every call in the gap rings the desk through the
// dialplan's fallback, no acknowledged decision is missing from the call
// log, and no channel is left in Stasis. make faults runs it with the rest.
func TestFaultKill(t *testing.T) {
	if os.Getenv("CALLSCREEN_FAULTS") == "1" {
		t.Skip("TestFaults runs it")
	}
	f := getFixture(t)
	faultKill(t, f, &loadGen{f: f, rate: 20, k: int(time.Now().Unix()%5000) + 80000})
}

// loadGen runs sipp load against ownNumber (default profile: rings).
type loadGen struct {
	f    *fixture
	rate int
	k    int // next caller
}

type loadResult struct {
	calls, ok, failed int
	callers           []string
	elapsed           time.Duration
	errors            string
}

// caller k is a distinct Tokyo-looking number, never repeated in a run.
func loadCaller(k int) string { return fmt.Sprintf("03%04d%04d", 1000+k%8000, 2000+(k/8000)%7000) }

// run places n calls at lg.rate per second and calls during(elapsed)
// every 100 ms until sipp ends.
func (lg *loadGen) run(t *testing.T, n int, during func(time.Duration)) loadResult {
	t.Helper()
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.ParseFiles(filepath.Join(repo, "integration/sipp/load-uac.xml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var scen bytes.Buffer
	if err := tmpl.Execute(&scen, struct {
		To                  string
		Challenge           bool
		DTMFPcap            string
		DTMFDelayMs, HoldMs int64
	}{ownNumber, false, "", 0, 2000}); err != nil {
		t.Fatal(err)
	}
	scenFile := filepath.Join(dir, "load-uac.xml")
	os.WriteFile(scenFile, scen.Bytes(), 0o644)
	res := loadResult{calls: n}
	var inf strings.Builder
	inf.WriteString("SEQUENTIAL\n")
	for range n {
		c := loadCaller(lg.k)
		lg.k++
		res.callers = append(res.callers, c)
		fmt.Fprintf(&inf, "%s;\n", c)
	}
	infFile := filepath.Join(dir, "callers.csv")
	os.WriteFile(infFile, []byte(inf.String()), 0o644)
	timeout := time.Duration(n/lg.rate)*time.Second + 60*time.Second
	args := []string{
		harness.AsteriskSIP, "-sf", scenFile, "-inf", infFile,
		"-i", harness.ProviderAddr, "-mi", harness.ProviderAddr, "-mp", strconv.Itoa(40000 + os.Getpid()%500*20),
		"-r", strconv.Itoa(lg.rate), "-rp", "1000", "-m", strconv.Itoa(n), "-l", strconv.Itoa(lg.rate * 12),
		"-recv_timeout", "15000",
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"), "-fd", "3600",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		"-timeout", strconv.Itoa(int(timeout.Seconds())), "-timeout_error", "-aa", "-nostdin",
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp", args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var so bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &so
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
loop:
	for {
		select {
		case werr = <-done:
			break loop
		case <-time.After(100 * time.Millisecond):
			if during != nil {
				during(time.Since(start))
			}
		}
	}
	res.elapsed = time.Since(start)
	var ee *exec.ExitError
	if werr != nil && (!errors.As(werr, &ee) || ee.ExitCode() > 1) {
		t.Fatalf("sipp: %v\n%s", werr, harness.TailLines(so.String(), 15))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "stat.csv"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) >= 2 {
		head, last := strings.Split(lines[0], ";"), strings.Split(lines[len(lines)-1], ";")
		col := func(name string) int {
			i := slices.Index(head, name)
			if i < 0 || i >= len(last) {
				return -1
			}
			v, _ := strconv.Atoi(strings.TrimSpace(last[i]))
			return v
		}
		res.ok, res.failed = col("SuccessfulCall(C)"), col("FailedCall(C)")
	}
	res.errors = harness.TailLines(harness.ReadFile(filepath.Join(dir, "errors.log")), 40)
	return res
}

// dialplanView is what Asterisk's full log says about a set of calls.
type dialplanView struct {
	entered   int             // calls that entered [callscreen-inbound]
	fallback  []string        // callers rung by the dialplan because callscreen was not running
	screened  map[string]bool // SCREEN_IDs in [callscreen-ring]/[callscreen-voicemail]: decisions callscreen acknowledged by continuing the call
	unscreend int             // ring lines without a SCREEN_ID
}

var (
	fallbackRE = regexp.MustCompile(`callscreen is not running: (\S*) -> ` + ownNumber)
	ringLineRE = regexp.MustCompile(`NoOp\("[^"]*", "(?:callscreen-ring|callscreen-voicemail): .*? -> ` + ownNumber + ` id=(\S*) action=`)
)

func viewOf(log string) dialplanView {
	v := dialplanView{screened: map[string]bool{}}
	v.entered = strings.Count(log, "Executing ["+ownNumber+"@callscreen-inbound:1]")
	seen := map[string]bool{}
	for _, m := range fallbackRE.FindAllStringSubmatch(log, -1) {
		if !seen[m[1]] { // the Executing line and the warning itself
			seen[m[1]] = true
			v.fallback = append(v.fallback, m[1])
		}
	}
	for _, m := range ringLineRE.FindAllStringSubmatch(log, -1) {
		if m[1] == "" {
			v.unscreend++
		} else {
			v.screened[m[1]] = true
		}
	}
	return v
}

// loggedIDs returns the ids of the call log's records since since.
func (f *fixture) loggedIDs(t *testing.T, since time.Time) map[string]bool {
	t.Helper()
	out, err := f.run(context.Background(), "log", "--json", "-n", "100000", "--since", since.Add(-time.Second).Format(time.RFC3339))
	if err != nil {
		t.Fatalf("%v\n%s", err, harness.TailLines(out, 5))
	}
	ids := map[string]bool{}
	for _, r := range decodeRecords(t, out) {
		ids[r.ID] = true
	}
	return ids
}

// lost waits up to 20 s for the acknowledged decisions to be in the call
// log and returns those that never arrived.
func (f *fixture) lost(t *testing.T, acked map[string]bool, since time.Time) []string {
	t.Helper()
	var missing []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		ids := f.loggedIDs(t, since)
		missing = missing[:0]
		for id := range acked {
			if !ids[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(time.Second)
	}
}

// integrity runs PRAGMA integrity_check on the call log database.
func integrity(t *testing.T, db string) string {
	t.Helper()
	out, err := exec.Command("sqlite3", "-readonly", db, "PRAGMA integrity_check;").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("sqlite3: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func (f *fixture) dbPath() string {
	m := regexp.MustCompile(`(?m)^database: (\S+)$`).FindStringSubmatch(harness.ReadFile(f.cfgPath))
	if m == nil {
		return ""
	}
	return m[1]
}

func (f *fixture) rangCallers(callers []string) int {
	inv := map[string]bool{}
	for _, i := range f.desk.InviteLog() {
		inv[i.FromUser] = true
	}
	n := 0
	for _, c := range callers {
		if inv[c] || inv["+81"+c[1:]] {
			n++
		}
	}
	return n
}

func faultKill(t *testing.T, f *fixture, lg *loadGen) {
	logStart := len(f.ast.FullLog())
	serveLogStart := len(harness.ReadFile(f.serveLog))
	since := time.Now()
	var killedAt, backAt time.Time
	res := lg.run(t, 40*lg.rate, func(el time.Duration) {
		if killedAt.IsZero() && el > 10*time.Second {
			killedAt = time.Now()
			if err := f.stopServe(syscall.SIGKILL); err != nil {
				t.Errorf("SIGKILL: %v", err)
			}
		}
		if !killedAt.IsZero() && backAt.IsZero() && time.Since(killedAt) > 5*time.Second {
			if err := f.startServe(context.Background()); err != nil {
				t.Fatalf("restart after SIGKILL: %v", err)
			}
			backAt = time.Now()
		}
	})
	f.assertNoStuckChannels(t)
	v := viewOf(f.ast.FullLog()[logStart:])
	missing := f.lost(t, v.screened, since)
	rang := f.rangCallers(res.callers)
	fallbackRang := f.rangCallers(v.fallback)
	t.Logf("SIGKILL: %d calls at %d/s in %s: sipp ok %d, failed %d; %d entered the dialplan; callscreen down %s (killed at +%s); "+
		"%d calls fell back to the dialplan while it was down, %d of them rang the desk; %d decisions acknowledged (continued with a SCREEN_ID), %d missing from the call log; "+
		"%d ring lines without a SCREEN_ID; desk rang for %d of the %d callers",
		res.calls, lg.rate, res.elapsed.Round(time.Second), res.ok, res.failed, v.entered, backAt.Sub(killedAt).Round(10*time.Millisecond),
		killedAt.Sub(since).Round(time.Second), len(v.fallback), fallbackRang, len(v.screened), len(missing), v.unscreend, rang, res.calls)
	if len(v.fallback) == 0 {
		t.Error("no call arrived while callscreen was down: the gap was not exercised")
	}
	if fallbackRang != len(v.fallback) {
		t.Errorf("%d of %d calls during the gap did not ring the desk", len(v.fallback)-fallbackRang, len(v.fallback))
	}
	if len(missing) > 0 {
		t.Errorf("LOST: %d acknowledged decisions are not in the call log: %v", len(missing), firstStrings(missing, 10))
	}
	if res.failed > 0 {
		t.Logf("sipp failures: %d\n%s", res.failed, res.errors)
	}
	if got := integrity(t, f.dbPath()); got != "ok" {
		t.Errorf("PRAGMA integrity_check after SIGKILL: %s", got)
	}
	// Records waiting for their batch when the process died come back
	// from the journal (<database>-pending) at the restart.
	if m := regexp.MustCompile(`"msg":"call log journal replayed[^"]*"[^\n]*"records":(\d+)`).FindStringSubmatch(harness.ReadFile(f.serveLog)[serveLogStart:]); m != nil {
		t.Logf("SIGKILL: the restarted serve wrote %s records the killed one had journaled but not yet written", m[1])
	} else {
		t.Logf("SIGKILL: nothing to replay from the journal (the kill came right after a batch)")
	}
	f.assertServeHealthyAfterKill(t)
}

func faultAsteriskRestart(t *testing.T, f *fixture, lg *loadGen) {
	var restartAt, bootedAt, appAt time.Time
	restarted := false
	res := lg.run(t, 30*lg.rate, func(el time.Duration) {
		if restarted || el < 10*time.Second {
			return
		}
		restarted = true
		restartAt = time.Now()
		if err := f.ast.Restart(context.Background()); err != nil {
			t.Fatalf("Asterisk restart: %v", err)
		}
		bootedAt = time.Now()
		for time.Since(bootedAt) < 60*time.Second {
			if f.ariStatus(context.Background(), "/applications/callscreen") == 200 {
				appAt = time.Now()
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	if appAt.IsZero() {
		t.Fatal("callscreen did not re-register its Stasis application within 60 s of Asterisk booting")
	}
	f.assertNoStuckChannels(t)
	v := viewOf(f.ast.FullLog()) // the log starts at the restart
	t.Logf("Asterisk restart under %d calls/s: Asterisk down and booting %s; callscreen re-registered %s after Asterisk was booted (%s after the restart began); "+
		"after the restart %d calls entered the dialplan, %d were screened by callscreen, %d fell back to ringing; sipp ok %d, failed %d of %d",
		lg.rate, bootedAt.Sub(restartAt).Round(10*time.Millisecond), appAt.Sub(bootedAt).Round(10*time.Millisecond), appAt.Sub(restartAt).Round(10*time.Millisecond),
		v.entered, len(v.screened), len(v.fallback), res.ok, res.failed, res.calls)
	if len(v.screened) == 0 {
		t.Error("no call was screened after the Asterisk restart")
	}
	missing := f.lost(t, v.screened, restartAt)
	if len(missing) > 0 {
		t.Errorf("LOST: %d acknowledged decisions are not in the call log", len(missing))
	}
	if res.failed > 0 {
		t.Logf("sipp failures (calls cut by the restart): %d\n%s", res.failed, res.errors)
	}
}

func faultDatabaseFull(t *testing.T, f *fixture, lg *loadGen) {
	ctx := context.Background()
	// Move the call log onto a small tmpfs of its own.
	mnt := filepath.Join(f.dir, "dbfull")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.stopServe(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	origCfg := harness.ReadFile(f.cfgPath)
	origDB := f.dbPath()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=32m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer func() {
		f.stopServe(syscall.SIGTERM)
		os.WriteFile(f.cfgPath, []byte(origCfg), 0o600)
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
		if err := f.startServe(ctx); err != nil {
			t.Errorf("restarting serve on the original database: %v", err)
		}
	}()
	db := filepath.Join(mnt, "callscreen.db")
	if out, err := exec.Command("sqlite3", origDB, ".backup "+db).CombinedOutput(); err != nil {
		t.Fatalf("copy database: %v %s", err, out)
	}
	if err := os.WriteFile(f.cfgPath, []byte(strings.Replace(origCfg, "database: "+origDB, "database: "+db, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.startServe(ctx); err != nil {
		t.Fatal(err)
	}
	logStart := len(f.ast.FullLog())
	serveLogStart := len(harness.ReadFile(f.serveLog))
	since := time.Now()
	filler := filepath.Join(mnt, "filler")
	var filledAt, freedAt time.Time
	var fillErr error
	res := lg.run(t, 30*lg.rate, func(el time.Duration) {
		if filledAt.IsZero() && el > 5*time.Second {
			filledAt = time.Now()
			fillErr = fill(filler)
		}
		if freedAt.IsZero() && el > 20*time.Second {
			freedAt = time.Now()
			os.Remove(filler)
		}
	})
	if fillErr == nil || !errors.Is(fillErr, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v", fillErr)
	}
	f.assertNoStuckChannels(t)
	v := viewOf(f.ast.FullLog()[logStart:])
	metrics := metricValue(t, "callscreen_log_write_retries_total")
	slog := harness.ReadFile(f.serveLog)[serveLogStart:]
	errLines := strings.Count(slog, `"level":"ERROR","msg":"call log write failed`)
	recovered := strings.Contains(slog, `"msg":"call log writes recovered"`)
	for _, m := range regexp.MustCompile(`"time":"([^"]+)","level":"(?:ERROR|WARN)","msg":"(call log write failed[^"]*|call log writes recovered)"[^\n]*`).FindAllStringSubmatch(slog, -1) {
		at, _ := time.Parse(time.RFC3339Nano, m[1])
		t.Logf("serve: %q at +%s (disk filled at +%s, freed at +%s): %s", m[2], at.Sub(since).Round(10*time.Millisecond),
			filledAt.Sub(since).Round(10*time.Millisecond), freedAt.Sub(since).Round(10*time.Millisecond), m[0])
	}
	rang := f.rangCallers(res.callers)
	// The batches the full disk refused are kept and retried: once it is
	// freed, every decision is in the call log.
	missing := f.lost(t, v.screened, since)
	t.Logf("database full from +5 s to +20 s under %d calls/s: %d calls, sipp ok %d, failed %d; %d screened and continued by callscreen (%d fell back), desk rang for %d; "+
		"callscreen_log_write_retries_total %v; %d slog error lines 'call log write failed'; recovered after freeing: %v; %d of the %d decisions are in the call log",
		lg.rate, res.calls, res.ok, res.failed, len(v.screened), len(v.fallback), rang, metrics, errLines, recovered, len(v.screened)-len(missing), len(v.screened))
	if metrics <= 0 {
		t.Error("callscreen_log_write_retries_total did not rise while the database was full")
	}
	if len(missing) > 0 {
		t.Errorf("LOST: %d acknowledged decisions are not in the call log after the disk was freed: %v", len(missing), firstStrings(missing, 10))
	}
	if errLines == 0 {
		t.Error("no slog error about the failed call log writes")
	}
	if len(v.screened) < res.calls*9/10 {
		t.Errorf("screening did not go on: %d of %d calls screened", len(v.screened), res.calls)
	}
	if rang < res.calls*9/10 {
		t.Errorf("only %d of %d calls rang the desk while the database was full", rang, res.calls)
	}
	if got := integrity(t, db); got != "ok" {
		t.Errorf("PRAGMA integrity_check after the disk-full episode: %s", got)
	}
}

// fill writes zeros to path until the file system is full (bounded).
func fill(path string) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	buf := make([]byte, 64<<10)
	for range 1 << 12 { // at most 256 MiB
		if _, err := fh.Write(buf); err != nil {
			return err
		}
	}
	return errors.New("file system did not fill up")
}

// metricValue reads one unlabelled metric from /metrics.
func metricValue(t *testing.T, name string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body, err := harness.HTTPGet(ctx, "http://"+httpListen+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// assertServeHealthyAfterKill is assertServeHealthy for a serve that was
// killed on purpose: its earlier runs' output is not checked for a clean
// exit, only for panics.
func (f *fixture) assertServeHealthyAfterKill(t *testing.T) {
	t.Helper()
	f.assertServeHealthy(t)
}

func firstStrings(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
