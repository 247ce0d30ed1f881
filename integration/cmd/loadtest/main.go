// Command loadtest is callscreen's load benchmark: it starts the real
// Asterisk 22 of the integration harness, the sipp desk phone and
// "callscreen serve", then drives calls with sipp at rising call rates
// through these paths of the same Asterisk in the same run:
//
//	baseline   plain dialplan straight to the desk phone (callscreen-baseline)
//	ari        Stasis screening of an ordinary caller, then ring (callscreen-inbound)
//	agi        FastAGI screening of the same caller, then ring (callscreen-agi)
//	challenge  Stasis screening that answers with a "press 7" challenge,
//	           passed with an RFC 2833 digit, then ring
//	ari-pg     ari with callscreen serve on a PostgreSQL database
//	agi-pg     agi with callscreen serve on a PostgreSQL database
//
// The PostgreSQL paths run against a throwaway PostgreSQL 15 cluster
// (internal/pgtest) with durable commits (fsync and synchronous_commit on,
// as in production); serve is restarted on the other database when the
// next path needs it, and warmed up again. With a PostgreSQL path in the
// run, loadtest also measures the fleet (fleet.go): how long a block made
// on one serve's dashboard takes to reach another serve's live lists, and
// how many call records a serve's log writer puts into each database per
// second.
//
// For every path and rate it reports the post-dial delay (INVITE -> 180;
// INVITE -> 200 on the challenge path, where callscreen answers), both
// from sipp (4 ms clock) and from the packets' kernel timestamps on the
// loopback interface (wire.go, microseconds), failed
// calls, what callscreen logged, and the CPU seconds callscreen and
// Asterisk spent per 1,000 calls. With -doc it rewrites the generated part
// of docs/BENCHMARKS.md. Run as root (make loadtest); see docs/BENCHMARKS.md.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
	"github.com/callscreen/callscreen/internal/pgtest"
)

// The numbers of the test configuration.
const (
	// didARI is screened over ARI with the default profile (any DID the
	// harness overlay does not map goes to callscreen-inbound).
	didARI = "0399990100"
	// didChallenge is screened with the "loadchallenge" profile: its
	// callers share six digits with it (neighbour-number), which that
	// profile challenges.
	didChallenge = "0312349999"
	// challengeDigit is the only digit the load profiles ask for.
	challengeDigit = "7"
	httpListen     = "127.0.0.1:18091"
)

// configTemplate is callscreen.yaml for the run; the %s are the database
// (a SQLite path or a PostgreSQL URL) and the call log's journal. The ARI
// password comes from CALLSCREEN_ARI_PASSWORD.
const configTemplate = `# callscreen load benchmark configuration (integration/cmd/loadtest)
ari:
  enabled: true
  url: http://127.0.0.1:8088/ari
  websocket_url: ws://127.0.0.1:8088/ari/events
  username: callscreen
  application: callscreen
agi:
  enabled: true
  listen: 127.0.0.1:4573
http:
  listen: ` + httpListen + `
database: %s
fleet:
  server: loadtest
log:
  level: warn
  format: json
  journal: %s
calls:
  deadline: 30s
  shutdown_grace: 10s
default_profile: default
dids:
  "` + didChallenge + `": loadchallenge
trunks:
  provider:
    trusted: true
    addresses: [127.0.0.2]
profiles:
  default:
    country: JP
    own_numbers: ["0399991000"]
    challenge:
      digits: "` + challengeDigit + `"
  loadchallenge:
    country: JP
    own_numbers: ["` + didChallenge + `"]
    thresholds: {challenge: 20, voicemail: 90, reject: 95}
    challenge:
      digits: "` + challengeDigit + `"
      timeout: 3s
      attempts: 1
      remember: 0s
      fallback: voicemail
`

// path is one way through the PBX.
type path struct {
	Name      string
	DID       string
	Challenge bool
	Mode      string // callscreen's record mode ("" for the baseline)
	// PG runs serve on the PostgreSQL database instead of SQLite.
	PG bool
	// caller returns the k-th caller number of the path.
	caller func(k int) string
}

// ordinary is a Tokyo number whose prefix (all but the last four digits)
// changes with every call, so no velocity indicator fires and every
// classification misses the cache, as with real, distinct callers.
func ordinary(k int) string { return fmt.Sprintf("03%04d%04d", 1000+k%8000, 1000+(k/8000)%9000) }

var paths = []path{
	{Name: "baseline", DID: harness.DIDBaseline, caller: ordinary},
	{Name: "ari", DID: didARI, Mode: "ari", caller: ordinary},
	{Name: "agi", DID: harness.DIDAGI, Mode: "agi", caller: ordinary},
	{Name: "challenge", DID: didChallenge, Mode: "ari", Challenge: true,
		caller: func(k int) string { return fmt.Sprintf("031234%04d", k%9000) }},
	{Name: "ari-pg", DID: didARI, Mode: "ari", PG: true, caller: ordinary},
	{Name: "agi-pg", DID: harness.DIDAGI, Mode: "agi", PG: true, caller: ordinary},
}

type options struct {
	rates     []int
	step      time.Duration
	calls     int
	paths     []string
	hold      time.Duration
	dtmfDelay time.Duration
	settle    time.Duration
	doc       string
	bench     bool
	pprofDir  string
	pprofRate int
	trace     time.Duration
	pgDir     string
	bin       string
	quick     bool
	keep      bool
	// The fleet measurements (fleet.go), with a PostgreSQL path.
	changes    int
	logRecords int
}

func main() {
	var o options
	rates := flag.String("rates", "10,25,50,75,100", "call rates (calls per second), in order")
	flag.DurationVar(&o.step, "step", 20*time.Second, "duration of each step")
	flag.IntVar(&o.calls, "calls", 0, "calls per step (overrides -step)")
	ps := flag.String("paths", "baseline,ari,agi,challenge,ari-pg,agi-pg", "paths to drive, in order, at each rate")
	flag.DurationVar(&o.hold, "hold", time.Second, "how long each call stays up after the answer")
	flag.DurationVar(&o.dtmfDelay, "dtmf-delay", time.Second, "challenge path: press the digit this long after the answer")
	flag.DurationVar(&o.settle, "settle", 2*time.Second, "pause after each step before reading CPU counters")
	flag.StringVar(&o.doc, "doc", "", "rewrite the generated part of this Markdown file (docs/BENCHMARKS.md)")
	flag.BoolVar(&o.bench, "bench", false, "also run the engine benchmarks (go test -bench ./screening/) and report them")
	flag.StringVar(&o.pprofDir, "pprof", "", "run callscreen with --pprof and save a CPU profile of each screened path at -pprof-rate into this directory")
	flag.IntVar(&o.pprofRate, "pprof-rate", 50, "the rate whose steps -pprof profiles")
	flag.DurationVar(&o.trace, "trace", 0, "with -pprof: also save an execution trace of this length from the middle of each profiled step (it costs serve CPU: read that step's CPU figure with care)")
	flag.StringVar(&o.pgDir, "pg-dir", "", "make the PostgreSQL cluster's directory in this one (default $TMPDIR); /dev/shm keeps its disk flushes off the disk Asterisk and serve write to, as a database server of its own does")
	flag.StringVar(&o.bin, "bin", "", "callscreen binary (default: go build ./cmd/callscreen)")
	flag.BoolVar(&o.quick, "quick", false, "smoke run: rates 10,50 and 4 s per step (unless -rates/-step are given)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (sipp files, callscreen log)")
	flag.IntVar(&o.changes, "changes", 200, "with a PostgreSQL path: list changes timed from one serve's dashboard to another serve's live lists")
	flag.IntVar(&o.logRecords, "log-records", 100000, "with a PostgreSQL path: call records written per database to time the log writer")
	flag.Parse()

	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["rates"] {
			*rates = "10,50"
		}
		if !set["step"] {
			o.step = 4 * time.Second
		}
	}
	for _, r := range strings.Split(*rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 || n > 1000 {
			fatalf("-rates: %q is not a rate between 1 and 1000", r)
		}
		o.rates = append(o.rates, n)
	}
	for _, p := range strings.Split(*ps, ",") {
		p = strings.TrimSpace(p)
		if !slices.ContainsFunc(paths, func(q path) bool { return q.Name == p }) {
			fatalf("-paths: unknown path %q", p)
		}
		o.paths = append(o.paths, p)
	}
	if o.step < time.Second || o.step > 10*time.Minute {
		fatalf("-step: %s is out of range (1s to 10m)", o.step)
	}
	if os.Geteuid() != 0 {
		fatalf("needs root: Asterisk runs in a chroot with /proc and /dev mounted")
	}

	// Everything stops by itself: a hard bound on the whole run.
	budget := time.Duration(len(o.rates)*len(o.paths))*(o.step+o.hold+o.settle+30*time.Second) + 15*time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	res, env, err := run(ctx, o)
	if err != nil {
		fatalf("%v", err)
	}
	var bench string
	if o.bench {
		fmt.Fprintln(os.Stderr, "loadtest: engine benchmarks (go test -bench ./screening/)")
		if bench, err = engineBench(ctx); err != nil {
			fatalf("engine benchmarks: %v", err)
		}
	}
	env.duration = time.Since(start)
	report := render(o, env, res, bench)
	fmt.Println(report)
	if o.doc != "" {
		if err := writeDoc(o.doc, report); err != nil {
			fatalf("%v", err)
		}
		fmt.Fprintln(os.Stderr, "loadtest: wrote", o.doc)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadtest: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s loadtest: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// ---- the run -----------------------------------------------------------------

// stepResult is one path at one rate.
type stepResult struct {
	Path    string
	Rate    int
	Calls   int           // calls placed
	OK      int           // sipp's successful calls
	Failed  int           // sipp's failed calls
	Elapsed time.Duration // sipp's run time
	PDD     []float64     // ms, one per call that got that far (sipp's clock)
	// Wire is the PDD from the packets' kernel timestamps on the loopback
	// interface (ms, sorted; wire.go); WireUnpaired counts INVITEs
	// without the awaited response, WireDrops packets the capture lost.
	Wire         []float64
	WireUnpaired int
	WireDrops    uint32
	CSCPU        float64 // callscreen CPU seconds during the step
	AstCPU       float64 // Asterisk CPU seconds during the step
	Outcomes     map[string]int
	Errors       string // first lines of sipp's error log
	// Handling is callscreen's own time per call (ms, sorted), from its
	// call log: StasisStart or the AGI session to the continue (prompts
	// and the caller's key press included on the challenge path).
	Handling []float64
}

// env describes the machine and the run.
type env struct {
	nproc     int
	cpu       string
	memory    string
	asterisk  string
	sipp      string
	load      string // load averages before and after
	goVersion string
	duration  time.Duration
	command   string
	// ringVars counts [callscreen-ring] log lines with a SCREEN_ID and
	// SCREEN_ACTION=ring; screenedRang the screened calls callscreen rang.
	ringVars, screenedRang int
	// pg is the PostgreSQL cluster of the PostgreSQL paths (nil without
	// one); fleet what fleet.go measured on it.
	pg    *pgtest.Cluster
	fleet *fleetResult
}

var ringVarsRE = regexp.MustCompile(`callscreen-ring: [^\n]* id=[^ \n]+ action=ring score=\d`)

func run(ctx context.Context, o options) ([]stepResult, *env, error) {
	e := &env{nproc: runtime.NumCPU(), cpu: cpuModel(), memory: memTotal(), goVersion: runtime.Version(),
		command: "loadtest " + strings.Join(os.Args[1:], " ")}
	e.load = loadAvg()

	dir, err := os.MkdirTemp("", "callscreen-loadtest-")
	if err != nil {
		return nil, nil, err
	}
	if o.keep {
		logf("work directory %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	repo, err := harness.RepoRoot()
	if err != nil {
		return nil, nil, err
	}
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(dir, "callscreen")
		logf("building callscreen")
		build := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-o", bin, "./cmd/callscreen")
		build.Dir = repo
		if out, err := build.CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("go build ./cmd/callscreen: %w\n%s", err, out)
		}
	}

	logf("starting Asterisk (waits for other tests' Asterisk to finish)")
	inst, err := os.Create(filepath.Join(dir, "install.log"))
	if err != nil {
		return nil, nil, err
	}
	defer inst.Close()
	ast, err := harness.StartAsterisk(ctx, harness.AsteriskOptions{Log: inst})
	if err != nil {
		return nil, nil, err
	}
	defer ast.Stop()
	if out, err := ast.CLI(ctx, "core show version"); err == nil {
		e.asterisk = strings.TrimSpace(out)
	}
	if out, err := exec.Command("sipp", "-v").CombinedOutput(); err == nil || len(out) > 0 {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "SIPp v") {
				e.sipp = strings.TrimSpace(l)
			}
		}
	}
	astPID, err := asteriskPID(ast.Root)
	if err != nil {
		return nil, nil, err
	}

	desk, err := harness.StartDeskPhone(ctx, harness.DeskPhoneOptions{NoTrace: true})
	if err != nil {
		return nil, nil, err
	}
	defer desk.Stop()

	sv := &serves{bin: bin, dir: dir, ast: ast, pprof: o.pprofDir != ""}
	defer sv.stop()
	if slices.ContainsFunc(o.paths, func(n string) bool { return pathByName(n).PG }) {
		logf("starting PostgreSQL (durable commits) in %s", cmp.Or(o.pgDir, os.TempDir()))
		pg, err := startPostgres(ctx, 0, o.pgDir)
		if err != nil {
			return nil, nil, err
		}
		defer pg.Stop()
		sv.pgURL, err = newDatabase(ctx, pg, "loadtest")
		if err != nil {
			return nil, nil, err
		}
		e.pg = pg
	}

	tmpl, err := template.ParseFiles(filepath.Join(repo, "integration/sipp/load-uac.xml.tmpl"))
	if err != nil {
		return nil, nil, err
	}
	if o.pprofDir != "" {
		if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
			return nil, nil, err
		}
	}

	// A short warm-up through every path: first calls load prompts,
	// number metadata and connections.
	logf("warm-up")
	k := 0
	for _, name := range o.paths {
		p := pathByName(name)
		cs, _, err := sv.use(ctx, p.PG)
		if err != nil {
			return nil, nil, err
		}
		if _, err := step(ctx, o, tmpl, dir, p, 5, 10, &k, cs, astPID); err != nil {
			return nil, nil, fmt.Errorf("warm-up %s: %w", name, err)
		}
	}

	var out []stepResult
	for _, rate := range o.rates {
		for _, name := range o.paths {
			p := pathByName(name)
			cs, started, err := sv.use(ctx, p.PG)
			if err != nil {
				return out, e, err
			}
			if started && p.Mode != "" {
				// A serve just started: its first calls load prompts and
				// connections, as in the warm-up.
				if _, err := step(ctx, o, tmpl, dir, p, 5, 10, &k, cs, astPID); err != nil {
					return out, e, fmt.Errorf("warm-up %s: %w", name, err)
				}
			}
			n := o.calls
			if n <= 0 {
				n = int(math.Round(float64(rate) * o.step.Seconds()))
			}
			var prof chan error
			if o.pprofDir != "" && rate == o.pprofRate && p.Mode != "" {
				waits := 1 // the CPU profile, and the trace with -trace
				if o.trace > 0 {
					waits++
				}
				prof = make(chan error, waits)
				// The span the CPU figure covers: the calls, their hold
				// and the settle after them.
				secs := max(1, int(math.Ceil(float64(n)/float64(rate)+(o.hold+o.settle).Seconds())))
				file := filepath.Join(o.pprofDir, fmt.Sprintf("cpu-%s-%dcps.pprof", p.Name, rate))
				go func() {
					prof <- fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", httpListen, secs), file)
				}()
				if o.trace > 0 {
					tfile := filepath.Join(o.pprofDir, fmt.Sprintf("trace-%s-%dcps.out", p.Name, rate))
					span := time.Duration(float64(n) / float64(rate) * float64(time.Second)) // of the calls
					go func() {
						select {
						case <-ctx.Done():
						case <-time.After(max(0, (span-o.trace)/2)):
						}
						url := fmt.Sprintf("http://%s/debug/pprof/trace?seconds=%g", httpListen, o.trace.Seconds())
						prof <- fetch(ctx, url, tfile)
					}()
				}
			}
			r, err := step(ctx, o, tmpl, dir, p, rate, n, &k, cs, astPID)
			if prof != nil {
				for range cap(prof) {
					if err := <-prof; err != nil {
						logf("pprof: %v", err)
					}
				}
			}
			if err != nil {
				return out, e, err
			}
			logf("%-9s %3d cps: %d calls, %d failed, PDD median %.1f ms p99 %.1f ms, wire PDD median %.3f ms p99 %.3f ms (%d unpaired, %d dropped), in callscreen median %.1f ms p99 %.1f ms, CPU callscreen %.2fs asterisk %.2fs, outcomes %v",
				r.Path, r.Rate, r.Calls, r.Failed, percentile(r.PDD, 50), percentile(r.PDD, 99),
				percentile(r.Wire, 50), percentile(r.Wire, 99), r.WireUnpaired, r.WireDrops, percentile(r.Handling, 50), percentile(r.Handling, 99), r.CSCPU, r.AstCPU, r.Outcomes)
			if r.Errors != "" {
				logf("sipp errors (first lines):\n%s", r.Errors)
			}
			out = append(out, r)
		}
	}
	e.load += " -> " + loadAvg()
	sv.stop()
	if e.pg != nil {
		if e.fleet, err = measureFleet(ctx, o, bin, dir, e.pg); err != nil {
			return out, e, err
		}
	}
	// The verdict variables must reach the dialplan: [callscreen-ring]
	// logs SCREEN_ID and SCREEN_ACTION for every screened call it rings.
	e.ringVars = len(ringVarsRE.FindAllStringIndex(ast.FullLog(), -1))
	for _, r := range out {
		if r.Path != "baseline" {
			e.screenedRang += r.Outcomes["rang"] + r.Outcomes["challenge-passed"]
		}
	}
	logf("[callscreen-ring] saw SCREEN_ID and SCREEN_ACTION=ring on %d calls; callscreen rang %d screened calls in the steps (plus the warm-up)", e.ringVars, e.screenedRang)
	return out, e, nil
}

func pathByName(name string) path {
	for _, p := range paths {
		if p.Name == name {
			return p
		}
	}
	panic(name)
}

// step places n calls at rate through p with one sipp run.
func step(ctx context.Context, o options, tmpl *template.Template, dir string, p path, rate, n int, k *int, cs *serveProc, astPID int) (stepResult, error) {
	r := stepResult{Path: p.Name, Rate: rate, Calls: n}
	sdir, err := os.MkdirTemp(dir, fmt.Sprintf("%s-%d-", p.Name, rate))
	if err != nil {
		return r, err
	}
	var scen bytes.Buffer
	if err := tmpl.Execute(&scen, struct {
		To                  string
		Challenge           bool
		DTMFPcap            string
		DTMFDelayMs, HoldMs int64
	}{p.DID, p.Challenge, filepath.Join(harness.PcapDir, "dtmf_2833_"+challengeDigit+".pcap"), o.dtmfDelay.Milliseconds(), o.hold.Milliseconds()}); err != nil {
		return r, err
	}
	scenFile := filepath.Join(sdir, "load-uac.xml")
	if err := os.WriteFile(scenFile, scen.Bytes(), 0o644); err != nil {
		return r, err
	}
	var inf strings.Builder
	inf.WriteString("SEQUENTIAL\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&inf, "%s;\n", p.caller(*k))
		*k++
	}
	infFile := filepath.Join(sdir, "callers.csv")
	if err := os.WriteFile(infFile, []byte(inf.String()), 0o644); err != nil {
		return r, err
	}
	mp, err := freeUDPPair(harness.ProviderAddr)
	if err != nil {
		return r, err
	}
	callLen := o.hold + 2*time.Second
	if p.Challenge {
		callLen += o.dtmfDelay + 2*time.Second
	}
	limit := max(50, int(float64(rate)*callLen.Seconds()*3))
	timeout := time.Duration(float64(n)/float64(rate)*float64(time.Second)) + callLen + 60*time.Second
	args := []string{
		harness.AsteriskSIP,
		"-sf", scenFile,
		"-inf", infFile,
		"-i", harness.ProviderAddr,
		"-mi", harness.ProviderAddr, "-mp", strconv.Itoa(mp),
		"-r", strconv.Itoa(rate), "-rp", "1000",
		"-m", strconv.Itoa(n), "-l", strconv.Itoa(limit),
		"-recv_timeout", "15000",
		"-trace_rtt", "-rtt_freq", "1",
		"-trace_stat", "-stf", filepath.Join(sdir, "stat.csv"), "-fd", "3600",
		"-trace_err", "-error_file", filepath.Join(sdir, "errors.log"),
		"-timeout", strconv.Itoa(int(timeout.Seconds())), "-timeout_error",
		"-aa", "-nostdin",
	}

	csBefore, err1 := cpuTicks(cs.cmd.Process.Pid)
	astBefore, err2 := cpuTicks(astPID)
	outBefore := cs.outcomes(ctx, p.Mode)
	if err := errors.Join(err1, err2); err != nil {
		return r, err
	}

	sipPort, err := netip.ParseAddrPort(harness.AsteriskSIP)
	if err != nil {
		return r, err
	}
	wire, err := startWireCapture(sipPort.Port())
	if err != nil {
		return r, err
	}
	sctx, cancel := context.WithTimeout(ctx, timeout+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(sctx, "sipp", args...)
	cmd.Dir = sdir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var so bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &so
	t0 := time.Now()
	err = cmd.Run()
	r.Elapsed = time.Since(t0)
	msgs, wst, werr := wire.Stop()
	if werr != nil {
		return r, werr
	}
	r.Wire, r.WireUnpaired = wirePDD(msgs, netip.MustParseAddr(harness.ProviderAddr), sipPort, p.Challenge)
	r.WireDrops = wst.Drops
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.ExitCode() > 1) {
		return r, fmt.Errorf("sipp (%s at %d cps): %v\n%s\n%s", p.Name, rate, err, harness.TailLines(so.String(), 15), harness.TailLines(harness.ReadFile(filepath.Join(sdir, "errors.log")), 15))
	}
	// Let the last calls' hang-ups, call log and CDR work finish.
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(o.settle):
	}
	csAfter, err1 := cpuTicks(cs.cmd.Process.Pid)
	astAfter, err2 := cpuTicks(astPID)
	if err := errors.Join(err1, err2); err != nil {
		return r, err
	}
	r.CSCPU = float64(csAfter-csBefore) / clkTck
	r.AstCPU = float64(astAfter-astBefore) / clkTck
	r.Outcomes = diff(cs.outcomes(ctx, p.Mode), outBefore)
	if p.Mode != "" {
		r.Handling = cs.handling(ctx, p.Mode, t0, n)
	}

	r.OK, r.Failed, err = sippStat(filepath.Join(sdir, "stat.csv"))
	if err != nil {
		return r, fmt.Errorf("%w\n%s", err, harness.TailLines(so.String(), 15))
	}
	rtts, _ := filepath.Glob(filepath.Join(sdir, "*_rtt.csv"))
	for _, f := range rtts {
		r.PDD = append(r.PDD, sippRTT(f)...)
	}
	slices.Sort(r.PDD)
	if r.Failed > 0 {
		r.Errors = headText(harness.ReadFile(filepath.Join(sdir, "errors.log")), 12)
	}
	return r, nil
}

// sippStat reads the successful and failed call counts from the last line
// of sipp's -trace_stat file.
func sippStat(file string) (ok, failed int, err error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, 0, fmt.Errorf("sipp statistics: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return 0, 0, fmt.Errorf("sipp statistics %s: no data", file)
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	col := func(name string) (int, error) {
		i := slices.Index(head, name)
		if i < 0 || i >= len(last) {
			return 0, fmt.Errorf("sipp statistics %s: no column %s", file, name)
		}
		return strconv.Atoi(strings.TrimSpace(last[i]))
	}
	ok, err1 := col("SuccessfulCall(C)")
	failed, err2 := col("FailedCall(C)")
	return ok, failed, errors.Join(err1, err2)
}

// sippRTT reads the response times (ms) of RTD 1 from sipp's -trace_rtt
// file: "date_ms;response_time_ms;rtd_no" lines.
func sippRTT(file string) []float64 {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ";")
		if len(fs) < 3 || strings.TrimSpace(fs[2]) != "1" {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(fs[1]), 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// percentile of sorted values (nearest rank); NaN when empty.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func freeUDPPair(ip string) (int, error) {
	for p := 41000 + os.Getpid()%1000*8; p < 60000; p += 4 {
		a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip), Port: p})
		if err != nil {
			continue
		}
		b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip), Port: p + 2})
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p, nil
	}
	return 0, fmt.Errorf("no free media port on %s", ip)
}

// ---- callscreen serve ----------------------------------------------------------

type serveProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
	bin  string
	cfg  string
	env  []string
}

// serves runs the one serve of the screened paths: on SQLite, or on the
// PostgreSQL database at pgURL. Both answer the same ARI application, the
// same FastAGI port and the same HTTP address, so one runs at a time.
type serves struct {
	bin, dir string
	ast      *harness.Asterisk
	pprof    bool
	pgURL    string

	cur   *serveProc
	curPG bool
}

// use returns a serve on the database the path needs, stopping the other
// one and starting it (started) when it was not running.
func (s *serves) use(ctx context.Context, pg bool) (cs *serveProc, started bool, err error) {
	if s.cur != nil && s.curPG == pg {
		return s.cur, false, nil
	}
	s.stop()
	db, name := filepath.Join(s.dir, "callscreen.db"), "sqlite"
	if pg {
		db, name = s.pgURL, "postgres"
	}
	logf("starting callscreen serve on %s", name)
	if s.cur, err = startServe(ctx, s.bin, s.dir, name, db, s.ast, s.pprof); err != nil {
		return nil, false, err
	}
	s.curPG = pg
	return s.cur, true, nil
}

func (s *serves) stop() {
	if s.cur != nil {
		s.cur.stop()
		s.cur = nil
	}
}

// startServe starts serve (named name: its configuration, journal and log
// files) on database db and waits until Asterisk sees its ARI application.
func startServe(ctx context.Context, bin, dir, name, db string, ast *harness.Asterisk, pprof bool) (*serveProc, error) {
	cfg := filepath.Join(dir, "callscreen-"+name+".yaml")
	journal := filepath.Join(dir, name+"-calllog-pending")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(configTemplate, db, journal)), 0o600); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "CALLSCREEN_ARI_PASSWORD="+ast.ARIPassword, "CALLSCREEN_AGI_KEY="+harness.AGIKey)
	check := exec.CommandContext(ctx, bin, "config", "check", "-c", cfg)
	check.Env = env
	if out, err := check.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("callscreen config check: %w\n%s", err, out)
	}
	p := &serveProc{log: filepath.Join(dir, "serve-"+name+".log"), done: make(chan struct{}), bin: bin, cfg: cfg, env: env}
	logf, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "-c", cfg}
	if pprof {
		args = append(args, "--pprof")
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { p.cmd.Wait(); logf.Close(); close(p.done) }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("callscreen serve exited at start:\n%s", harness.TailLines(harness.ReadFile(p.log), 20))
		default:
		}
		if harness.HTTPStatus(ctx, ast.ARIURL+"/applications/"+ast.ARIApp, ast.ARIUser, ast.ARIPassword) == 200 &&
			harness.HTTPStatus(ctx, "http://"+httpListen+"/healthz", "", "") == 200 {
			return p, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("callscreen serve not ready after 60 s:\n%s", harness.TailLines(harness.ReadFile(p.log), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *serveProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// handling returns the handling times (ms, sorted) of the last n calls
// of a mode that callscreen logged since t.
func (p *serveProc) handling(ctx context.Context, mode string, since time.Time, n int) []float64 {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, "log", "--json", "-n", strconv.Itoa(n+50), "-c", p.cfg)
	cmd.Env = p.env
	out, err := cmd.Output()
	if err != nil {
		logf("callscreen log: %v", err)
		return nil
	}
	var hs []float64
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var r struct {
			Time     time.Time `json:"time"`
			Mode     string    `json:"mode"`
			Handling int64     `json:"handling_ns"`
		}
		if err := dec.Decode(&r); err != nil {
			break
		}
		if r.Mode == mode && !r.Time.Before(since) {
			hs = append(hs, float64(r.Handling)/1e6)
		}
	}
	slices.Sort(hs)
	return hs
}

var callsTotal = regexp.MustCompile(`^callscreen_calls_total\{([^}]*)\} (\S+)$`)

// outcomes returns callscreen_calls_total summed by outcome for a mode.
func (p *serveProc) outcomes(ctx context.Context, mode string) map[string]int {
	out := map[string]int{}
	if mode == "" {
		return out
	}
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, err := harness.HTTPGet(gctx, "http://"+httpListen+"/metrics")
	if err != nil {
		return out
	}
	for _, l := range strings.Split(body, "\n") {
		m := callsTotal.FindStringSubmatch(l)
		if m == nil || !strings.Contains(m[1], `mode="`+mode+`"`) {
			continue
		}
		oc := regexp.MustCompile(`outcome="([^"]*)"`).FindStringSubmatch(m[1])
		v, _ := strconv.ParseFloat(m[2], 64)
		if oc != nil {
			out[oc[1]] += int(v)
		}
	}
	return out
}

func diff(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// fetch saves url's body (a pprof profile) to file.
func fetch(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s (is serve running with --pprof?)", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ---- CPU and the machine ----------------------------------------------------------

// clkTck is sysconf(_SC_CLK_TCK): 100 on Linux (getconf CLK_TCK).
const clkTck = 100.0

// cpuTicks returns utime+stime of a process (its threads included), in
// clock ticks, from /proc/<pid>/stat.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + st, errors.Join(err1, err2)
}

// asteriskPID finds the running Asterisk (asterisk -f) whose root is the
// chroot. A child Asterisk has just forked (astcanary, a System() call)
// carries the same command line until it execs and is gone a moment
// later, so the process whose parent is not one of the matches is the
// one: /proc lists names in string order, which put such a child first
// in one run and failed it when the child exited.
func asteriskPID(root string) (int, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return 0, err
	}
	ents, _ := os.ReadDir("/proc")
	parents := map[int]int{} // matching pid -> its parent
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if r, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid)); err != nil || r != real {
			continue
		}
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(cl), "\x00")
		if len(args) > 1 && strings.HasSuffix(args[0], "asterisk") && slices.Contains(args, "-f") {
			parents[pid] = parentPID(pid)
		}
	}
	for pid, ppid := range parents {
		if _, child := parents[ppid]; !child {
			return pid, nil
		}
	}
	return 0, errors.New("cannot find the Asterisk process in " + real)
}

// parentPID returns the parent of pid from /proc/<pid>/stat, or 0.
func parentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

func cpuModel() string {
	for _, l := range strings.Split(harness.ReadFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	for _, l := range strings.Split(harness.ReadFile("/proc/meminfo"), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			f := strings.Fields(l)
			if kb, err := strconv.Atoi(f[1]); err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return "unknown"
}

func loadAvg() string {
	f := strings.Fields(harness.ReadFile("/proc/loadavg"))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// ---- engine benchmarks ----------------------------------------------------------

func engineBench(ctx context.Context) (string, error) {
	repo, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, goTool(), "test", "-run", "^$", "-bench", ".", "-benchmem", "./screening/")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w\n%s", err, out)
	}
	return string(out), nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		return "/usr/local/go/bin/go"
	}
	return "go"
}

// ---- helpers -----------------------------------------------------------------

func headText(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}
