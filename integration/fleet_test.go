package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql on the fleet database
	_ "modernc.org/sqlite"             // the migrated store, read as it is on disk

	"github.com/callscreen/callscreen/integration/harness"
	"github.com/callscreen/callscreen/internal/pgtest"
)

// TestFleet is fleet mode end to end: two Asterisk 22
// instances (a on 127.0.0.1, b on 127.0.0.2), each with its own
// `callscreen serve` (server pbx-a screening tenant shop-a, server pbx-b
// screening tenant shop-b), and one PostgreSQL 15 database both share.
//
//   - "block on A reaches B": a number blocked fleet-wide on A's dashboard
//     is rejected on B by the call placed 1 s after the 201.
//   - "PostgreSQL killed under load": 20 calls/s through both instances
//     (ARI and FastAGI) while PostgreSQL is SIGKILLed and restarted: no
//     call stuck, every call routed as expected and logged exactly once,
//     a list change during the outage refused with 503 and nothing of it
//     left behind, one after the recovery reaching B.
//   - "sweep": a robodialer calling the DIDs of four tenants (two more
//     servers join, one on each instance) is challenged from the third
//     (fleet-sweep), fails twice and is then throttled fleet-wide, while a
//     number on one tenant's allow list doing the same still rings there.
//   - "migrate": the SQLite store of a serve that screened calls (list
//     entries of several kinds, call records) moved into the fleet
//     database with `callscreen db migrate --to`: every entry and record
//     identical there, field by field, and a second run adds nothing.
func TestFleet(t *testing.T) {
	if !enabled {
		t.Skip(skipReason)
	}
	if os.Geteuid() != 0 {
		if ci {
			t.Fatal("TestFleet needs root (CI=true: failing, not skipping)")
		}
		t.Skip("TestFleet needs root (Asterisk runs in a chroot, PostgreSQL as the postgres user)")
	}
	// Instance a is the default instance: its lock and ports are the
	// shared fixture's.
	releaseFixture(t)
	fl := startFleet(t)

	t.Run("block on A reaches B", func(t *testing.T) { fleetBlockReachesB(t, fl) })
	t.Run("PostgreSQL killed under load", func(t *testing.T) { fleetDatabaseKilled(t, fl) })
	t.Run("sweep", func(t *testing.T) { fleetSweep(t, fl) })
	t.Run("migrate", func(t *testing.T) { fleetMigrate(t, fl) })
}

// ---- the fleet -----------------------------------------------------------------

// fleetDID is the number both businesses are called on (each instance
// routes it to its own callscreen through Stasis); harness.DIDAGI goes
// through FastAGI instead.
const fleetDID = "0399992000"

// The integrator's dashboard login: the one that changes fleet-wide list
// entries (a shop's operator changes its tenant's only).
const (
	integratorUser     = "integrator"
	integratorPassword = "integrator-test-pass"
)

// fleetConfig is callscreen.yaml of one server of the fleet.
const fleetConfig = `# callscreen fleet test configuration (integration/fleet_test.go)
ari:
  enabled: true
  url: {{.ARIURL}}
  websocket_url: {{.ARIWS}}
  username: callscreen
  application: {{.App}}
agi:
  enabled: {{if .AGI}}true{{else}}false{{end}}
  listen: {{if .AGI}}{{.AGI}}{{else}}127.0.0.1:4573{{end}}
http:
  listen: {{.HTTP}}
  dashboard: true
  username: ` + dashboardUser + `
  # The integrator's login changes the fleet-wide lists; its password is
  # CALLSCREEN_HTTP_INTEGRATOR_PASSWORD.
  integrator_username: ` + integratorUser + `
database: {{.Database}}
fleet:
  server: {{.Server}}
  tenant: {{.Tenant}}
log:
  level: info
  format: json
  journal: {{.Journal}}
calls:
  deadline: 30s
  shutdown_grace: 5s
default_profile: default
trunks:
  provider:
    trusted: true
    addresses: [127.0.0.2]
profiles:
  default:
    country: JP
    own_numbers: ["{{.DID}}"]
    challenge:
      digits: "` + challengeDigit + `"
      timeout: 3s
      attempts: 1
    # A rejected call is refused at once, without a prompt.
    reject_prompt: false
    # A number failing the challenge at two businesses of the fleet is
    # throttled fleet-wide for 30 minutes.
    sweep:
      throttle: 30m
`

// fleet is what TestFleet's subtests share.
type fleet struct {
	pg      *pgtest.Cluster
	dbURL   string
	bin     string
	dir     string // the servers' directories
	keep    bool   // CALLSCREEN_KEEP: dir stays
	a, b    *fleetServer
	servers []*fleetServer
}

// fleetServer is one PBX of the fleet: an Asterisk instance, its desk
// phone and its callscreen serve.
type fleetServer struct {
	name, tenant string
	app          string // Stasis application
	did          string // the DID its default profile owns
	ast          *harness.Asterisk
	desk         *harness.DeskPhone
	httpAddr     string
	agiAddr      string
	dir          string
	cfgPath      string
	logPath      string
	journal      string
	bin          string

	mu    sync.Mutex
	serve *serveProc
}

// Servers that join the fleet beside pbx-a and pbx-b run on the same two
// Asterisk instances under Stasis applications of their own: each has a
// DID that the instance hands to its application (fleetApps).
type fleetApp struct {
	instance string // the Asterisk instance: "" (a) or "b"
	did, app string
}

var fleetApps = []fleetApp{
	{"", "0399994000", "callscreen-c"},  // shop-c, on instance a
	{"b", "0399996000", "callscreen-d"}, // shop-d, on instance b
	{"", "0399995000", "callscreen-s"},  // a server on SQLite, on instance a
}

// fleetDialplan routes an instance's fleetApps DIDs from the provider
// into their Stasis applications, as [callscreen-inbound] does for
// "callscreen".
func fleetDialplan(instance string) string {
	var b strings.Builder
	b.WriteString("\n[from-provider]\n")
	for _, a := range fleetApps {
		if a.instance == instance {
			fmt.Fprintf(&b, "exten => %s,1,Goto(fleet-%s,${EXTEN},1)\n", a.did, a.app)
		}
	}
	for _, a := range fleetApps {
		if a.instance == instance {
			fmt.Fprintf(&b, "\n[fleet-%s]\nexten => _[+0-9s]!,1,NoOp(%s: ${FILTER(0-9+*#,${CALLERID(num)})} -> ${EXTEN})\n", a.app, a.app)
			fmt.Fprintf(&b, " same => n,Stasis(%s,${CALLSCREEN_PROFILE})\n same => n,Goto(callscreen-ring,${EXTEN},1)\n", a.app)
		}
	}
	return b.String()
}

func startFleet(t *testing.T) *fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()

	// Commits must survive the SIGKILL: with synchronous_commit off the
	// last ones may not, and a record the server was told is written
	// would be lost by the database, not by callscreen.
	pg := pgtest.New(t, pgtest.Options{Settings: map[string]string{"synchronous_commit": "on"}})
	fl := &fleet{pg: pg, dbURL: pg.NewDatabase(t)}

	// CALLSCREEN_KEEP keeps the servers' configuration and logs (and a
	// copy of each Asterisk's full.log), as it keeps the fixture's.
	fl.dir = t.TempDir()
	fl.keep = os.Getenv("CALLSCREEN_KEEP") != ""
	if fl.keep {
		var err error
		if fl.dir, err = os.MkdirTemp("", "callscreen-fleet-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("keeping %s (CALLSCREEN_KEEP)", fl.dir)
	}
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	fl.bin = filepath.Join(fl.dir, "callscreen")
	build := exec.CommandContext(ctx, goTool(), "build", "-o", fl.bin, "./cmd/callscreen")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/callscreen: %v\n%s", err, out)
	}

	var install bytes.Buffer
	for _, s := range []serverSpec{
		{name: "pbx-a", tenant: "shop-a", http: "127.0.0.1:18191", agi: "127.0.0.1:4591"},
		{name: "pbx-b", tenant: "shop-b", instance: "b", http: "127.0.0.1:18192", agi: "127.0.0.1:4592"},
	} {
		// Instance a first: locks are taken in that order.
		ast, err := harness.StartAsterisk(ctx, harness.AsteriskOptions{
			Instance: s.instance, SkipInstall: s.instance != "", AGIAddr: s.agi, Log: &install,
			Append: map[string]string{"extensions.conf": fleetDialplan(s.instance)},
		})
		if err != nil {
			t.Fatalf("Asterisk %q: %v\n%s", s.instance, err, harness.TailLines(install.String(), 20))
		}
		t.Logf("%s: Asterisk up at %s (+%s)", s.name, ast.SIPAddr, time.Since(t0).Round(100*time.Millisecond))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s: Asterisk full.log (tail):\n%s", s.name, harness.TailLines(ast.FullLog(), 40))
			}
			if fl.keep {
				_ = os.WriteFile(filepath.Join(fl.dir, "asterisk-"+s.name+"-full.log"), []byte(ast.FullLog()), 0o644)
			}
			if err := ast.Stop(); err != nil {
				t.Errorf("%s: stopping Asterisk: %v", s.name, err)
			}
		})
		desk, err := harness.StartDeskPhone(ctx, harness.DeskPhoneOptions{Addr: ast.DeskPhoneAddr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { desk.Stop() })
		fl.servers = append(fl.servers, fl.addServer(ctx, t, s, ast, desk))
	}
	fl.a, fl.b = fl.servers[0], fl.servers[1]
	t.Logf("fleet up in %s: PostgreSQL at %s, %s (Asterisk %s, http %s), %s (Asterisk %s, http %s)",
		time.Since(t0).Round(100*time.Millisecond), fmt.Sprintf("%s:%d", pg.Host, pg.Port),
		fl.a.name, fl.a.ast.SIPAddr, fl.a.httpAddr, fl.b.name, fl.b.ast.SIPAddr, fl.b.httpAddr)
	return fl
}

// serverSpec describes one callscreen serve of the fleet.
type serverSpec struct {
	name, tenant string
	instance     string // the Asterisk instance it screens for: "" (a) or "b"
	app          string // its Stasis application; default "callscreen"
	http         string // http.listen
	agi          string // agi.listen; "" turns FastAGI off
	did          string // the DID its default profile owns; default fleetDID
	database     string // default the fleet database
}

// addServer writes a serve's configuration and starts it for ast and
// desk; the serve stops at t's cleanup.
func (fl *fleet) addServer(ctx context.Context, t *testing.T, spec serverSpec, ast *harness.Asterisk, desk *harness.DeskPhone) *fleetServer {
	t.Helper()
	if spec.app == "" {
		spec.app = "callscreen"
	}
	if spec.did == "" {
		spec.did = fleetDID
	}
	if spec.database == "" {
		spec.database = fl.dbURL
	}
	fs := &fleetServer{name: spec.name, tenant: spec.tenant, app: spec.app, httpAddr: spec.http, agiAddr: spec.agi, bin: fl.bin,
		did: spec.did, ast: ast, desk: desk, dir: filepath.Join(fl.dir, spec.name)}
	if err := os.MkdirAll(fs.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fs.cfgPath = filepath.Join(fs.dir, "callscreen.yaml")
	fs.logPath = filepath.Join(fs.dir, "serve.stderr")
	fs.journal = filepath.Join(fs.dir, "calllog-pending")
	if spec.database != fl.dbURL {
		fs.journal = spec.database + "-pending"
	}
	var cfg bytes.Buffer
	if err := template.Must(template.New("cfg").Parse(fleetConfig)).Execute(&cfg, map[string]string{
		"ARIURL": ast.ARIURL, "ARIWS": ast.ARIWSURL, "App": spec.app, "AGI": spec.agi, "HTTP": spec.http,
		"Database": spec.database, "Server": spec.name, "Tenant": spec.tenant, "Journal": fs.journal,
		"DID": spec.did,
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fs.cfgPath, cfg.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := fs.run(ctx, "config", "check"); err != nil {
		t.Fatalf("%s: callscreen config check: %v\n%s", spec.name, err, out)
	}
	if err := fs.start(ctx); err != nil {
		t.Fatalf("%s: %v", spec.name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s: callscreen serve stderr (tail):\n%s", fs.name, harness.TailLines(harness.ReadFile(fs.logPath), 40))
		}
		if err := fs.stop(syscall.SIGTERM); err != nil {
			t.Errorf("%s: %v", fs.name, err)
		}
	})
	return fs
}

// start starts callscreen serve and waits until its Asterisk lists the
// Stasis application and /healthz answers.
func (s *fleetServer) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serve != nil {
		return errors.New("callscreen serve is already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "serve", "-c", s.cfgPath)
	cmd.Env = s.env()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting callscreen serve: %w", err)
	}
	p := &serveProc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logf.Close(); close(p.done) }()
	s.serve = p

	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		select {
		case <-p.done:
			s.serve = nil
			return fmt.Errorf("callscreen serve exited during start-up (%v):\n%s", p.err, harness.TailLines(harness.ReadFile(s.logPath), 30))
		default:
		}
		app := harness.HTTPStatus(wctx, s.ast.ARIURL+"/applications/"+s.app, s.ast.ARIUser, s.ast.ARIPassword)
		health := harness.HTTPStatus(wctx, "http://"+s.httpAddr+"/healthz", "", "")
		if app == http.StatusOK && health == http.StatusOK {
			return nil
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("callscreen serve not ready (ARI application %d, /healthz %d): %w\n%s", app, health, wctx.Err(),
				harness.TailLines(harness.ReadFile(s.logPath), 30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop stops callscreen serve with sig and waits for it to exit.
func (s *fleetServer) stop(sig syscall.Signal) error {
	s.mu.Lock()
	p := s.serve
	s.serve = nil
	s.mu.Unlock()
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

// env is the environment of serve and the CLI: the secrets.
func (s *fleetServer) env() []string {
	return append(os.Environ(), "CALLSCREEN_ARI_PASSWORD="+s.ast.ARIPassword, "CALLSCREEN_HTTP_PASSWORD="+dashboardPassword,
		"CALLSCREEN_HTTP_INTEGRATOR_PASSWORD="+integratorPassword, "CALLSCREEN_AGI_KEY="+harness.AGIKey)
}

// run runs the callscreen CLI with this server's configuration.
func (s *fleetServer) run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append(args, "-c", s.cfgPath)...)
	cmd.Env = s.env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String() + errb.String(), fmt.Errorf("callscreen %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// api calls the server's dashboard API as the shop's operator (HTTP
// Basic, as the shared fixture's tests do).
func (s *fleetServer) api(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	return adminAPI(t, "http://"+s.httpAddr, method, path, body)
}

// integratorAPI calls the server's dashboard API as the integrator.
func (s *fleetServer) integratorAPI(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	code, reply, err := apiRequest("http://"+s.httpAddr, integratorUser, integratorPassword, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, reply
}

// apiRequest calls an admin API with HTTP Basic and returns the error
// instead of failing a test (for a goroutine other than the test's).
func apiRequest(base, user, pass, method, path, body string) (int, string, error) {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metric reads one sample of the server's /metrics; ok is false when
// serve does not answer or has no such sample.
func (s *fleetServer) metric(name string) (float64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	body, err := harness.HTTPGet(ctx, "http://"+s.httpAddr+"/metrics")
	if err != nil {
		return 0, false
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// feedRead returns when the server last read the lists' change feed, as
// its /metrics says (callscreen_lists_feed_age_seconds back from now).
func (s *fleetServer) feedRead() (time.Time, bool) {
	before := time.Now()
	age, ok := s.metric("callscreen_lists_feed_age_seconds")
	if !ok || age == 0 {
		return time.Time{}, false
	}
	return before.Add(-time.Duration(age * float64(time.Second))), true
}

// call places one call into this server's Asterisk from the provider.
func (s *fleetServer) call(t *testing.T, spec harness.CallSpec) harness.CallResult {
	t.Helper()
	spec.Target = s.ast.SIPAddr
	if spec.To == "" {
		spec.To = s.did
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := harness.PlaceCall(ctx, spec)
	if err != nil {
		t.Fatalf("call from %s into %s: %v\n%s", spec.FromUser, s.name, err, r.Log)
	}
	t.Logf("call from %s into %s: %s", spec.FromUser, s.name, r)
	return r
}

// rang reports whether the server's desk phone saw a call from the
// national number caller (as sent, or in E.164).
func (s *fleetServer) rang(caller string) bool {
	return s.rangSet()[caller]
}

// rangSet holds the national numbers of the callers the server's desk
// phone saw, for many look-ups in one reading of its trace.
func (s *fleetServer) rangSet() map[string]bool {
	set := map[string]bool{}
	for _, inv := range s.desk.InviteLog() {
		n := inv.FromUser
		if rest, ok := strings.CutPrefix(n, "+81"); ok {
			n = "0" + rest
		}
		set[n] = true
	}
	return set
}

// e164JP is a Japanese national number (0...) in E.164.
func e164JP(national string) string { return "+81" + strings.TrimPrefix(national, "0") }

// ---- the shared call log ------------------------------------------------------------

// fleetRecord is a call log record as the fleet database holds it.
type fleetRecord struct {
	record
	Server string `json:"server"`
	Tenant string `json:"tenant"`
}

// pgRecords returns the records of the fleet database whose caller is
// one of callers (E.164), oldest first.
func (fl *fleet) pgRecords(t *testing.T, callers []string) []fleetRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fl.dbURL)
	if err != nil {
		t.Fatalf("connecting to the fleet database: %v", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT record FROM call_log WHERE caller = ANY($1) ORDER BY time", callers)
	if err != nil {
		t.Fatalf("reading the call log: %v", err)
	}
	var out []fleetRecord
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var r fleetRecord
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			t.Fatalf("call log record: %v\n%s", err, raw)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("reading the call log: %v", err)
	}
	return out
}

// pgCount runs a SELECT count(*) ... on the fleet database.
func (fl *fleet) pgCount(t *testing.T, query string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fl.dbURL)
	if err != nil {
		t.Fatalf("connecting to the fleet database: %v", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitRecord waits for the record of a call from caller (E.164) that
// server screened.
func (fl *fleet) waitRecord(t *testing.T, s *fleetServer, caller string) fleetRecord {
	t.Helper()
	var got fleetRecord
	poll(t, 15*time.Second, func() bool {
		for _, r := range fl.pgRecords(t, []string{caller}) {
			if r.Server == s.name {
				got = r
				return true
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("no record of a call from %s screened by %s in the fleet database", caller, s.name)
	})
	return got
}

// hasFinding reports whether the record has a finding of indicator whose
// evidence contains text.
func (r fleetRecord) hasFinding(indicator, text string) bool {
	for _, f := range r.Verdict.Findings {
		if f.Indicator == indicator && strings.Contains(f.Evidence, text) {
			return true
		}
	}
	return false
}

// ---- 1. a block made on A rejects the next call on B ---------------------------------

// fleetBlock blocks number fleet-wide on s's dashboard, logged in as the
// integrator, and returns when the 201 arrived and how long the request
// took.
func fleetBlock(t *testing.T, s *fleetServer, number, reason string) (time.Time, time.Duration) {
	t.Helper()
	body := fmt.Sprintf(`{"number":%q,"reason":%q,"scope":"fleet"}`, number, reason)
	sent := time.Now()
	code, reply := s.integratorAPI(t, "POST", "/api/lists/block", body)
	got := time.Now()
	if code != http.StatusCreated {
		t.Fatalf("POST /api/lists/block on %s = %d %s", s.name, code, reply)
	}
	return got, got.Sub(sent)
}

// feedLatency makes a change on another server (change returns when its
// 201 arrived) and returns when b's live lists took it: when b next read
// the lists' change feed, as b's /metrics tell (polled every 5 ms). b
// reads the feed when PostgreSQL notifies it of a change, and every 2 s
// anyway; the first read that began after the change was sent and ended
// after its commit holds it. It fails the test if b has not read the feed
// within 1.5 s.
func feedLatency(t *testing.T, b *fleetServer, change func() time.Time) (sent, created, applied time.Time) {
	t.Helper()
	before, _ := b.feedRead()
	var (
		reads []time.Time
		stop  = make(chan struct{})
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		last := before
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			// Each scrape places the same read a little differently
			// (the scrape's own latency): 10 ms apart is another read.
			if r, ok := b.feedRead(); ok && r.Sub(last) > 10*time.Millisecond {
				reads = append(reads, r)
				last = r
			}
		}
	}()
	sent = time.Now()
	created = change()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	<-done
	for _, r := range reads {
		if r.After(sent) {
			return sent, created, r
		}
	}
	t.Fatalf("%s did not read the change feed within 1.5 s of the change (reads: %v)", b.name, reads)
	return
}

func fleetBlockReachesB(t *testing.T, fl *fleet) {
	a, b := fl.a, fl.b
	// Three numbers, each blocked on A and called into B one second
	// after A's 201.
	var lat []time.Duration
	for i, national := range []string{"0387710001", "0387710002", "0387710003"} {
		e164 := e164JP(national)
		reason := fmt.Sprintf("fleet test %d: robocaller reported at shop-a", i+1)
		sent, created, applied := feedLatency(t, b, func() time.Time {
			created, _ := fleetBlock(t, a, national, reason)
			return created
		})
		l := applied.Sub(created)
		lat = append(lat, l)
		t.Logf("%s blocked on %s: the 201 came %s after the POST; %s's live lists took it %s after the POST, %s after the 201",
			e164, a.name, created.Sub(sent).Round(100*time.Microsecond), b.name,
			applied.Sub(sent).Round(100*time.Microsecond), l.Round(100*time.Microsecond))
		if l > time.Second {
			t.Errorf("%s's live lists took the change %s after the 201: want within 1 s", b.name, l)
		}

		// The call 1 s after the 201 (the feed wait above took 1.5 s).
		if wait := time.Until(created.Add(time.Second)); wait > 0 {
			time.Sleep(wait)
		}
		placed := time.Now()
		r := b.call(t, harness.CallSpec{FromUser: national, Hold: 2 * time.Second})
		t.Logf("the call into %s was placed %s after the 201", b.name, placed.Sub(created).Round(time.Millisecond))
		if r.Answered || b.rang(national) {
			t.Errorf("%s: a number blocked on %s reached the desk phone of %s: %s", e164, a.name, b.name, r)
		}
		if r.Final < 400 {
			t.Errorf("%s: the caller got final %d, want a refusal (4xx-6xx)", e164, r.Final)
		}
		rec := fl.waitRecord(t, b, e164)
		t.Logf("record on %s: server=%s tenant=%s %s", b.name, rec.Server, rec.Tenant, rec)
		if rec.Tenant != b.tenant || rec.Verdict.Action != "reject" || rec.Taken != "reject" {
			t.Errorf("%s: record of %s: tenant %q action %s taken %s; want tenant %s, reject", e164, b.name, rec.Tenant, rec.Verdict.Action, rec.Taken, b.tenant)
		}
		if !rec.hasFinding("block-list", reason) {
			t.Errorf("%s: record of %s names no block-list finding with the reason %q: %+v", e164, b.name, reason, rec.Verdict.Findings)
		}
	}
	slices.Sort(lat)
	t.Logf("block on %s -> %s's live lists, from the 201: %v (max %s)", a.name, b.name, lat, lat[len(lat)-1])
}

// ---- 2. PostgreSQL killed under load -------------------------------------------------

// fleetLoad is one server's share of the load: calls from distinct
// callers, each to fleetDID (Stasis) or harness.DIDAGI (FastAGI).
type fleetLoad struct {
	s       *fleetServer
	callers []string // national numbers
	dids    []string
	res     loadResult
}

// fleetCaller is caller k of the load: a distinct Tokyo number whose
// prefix (velocity counts prefixes) is its own too.
func fleetCaller(k int) string { return fmt.Sprintf("03%04d%04d", 3000+k, 6001) }

// run places the calls at rate per second with sipp, as the provider,
// until they all ended.
func (l *fleetLoad) run(t *testing.T, rate int, mediaPort, sipPort int) {
	t.Helper()
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Error(err)
		return
	}
	tmpl, err := template.ParseFiles(filepath.Join(repo, "integration/sipp/load-uac.xml.tmpl"))
	if err != nil {
		t.Error(err)
		return
	}
	dir := t.TempDir()
	var scen bytes.Buffer
	// The DID is field 1 of the injection file.
	if err := tmpl.Execute(&scen, struct {
		To                  string
		Challenge           bool
		DTMFPcap            string
		DTMFDelayMs, HoldMs int64
	}{"[field1]", false, "", 0, 2000}); err != nil {
		t.Error(err)
		return
	}
	scenFile := filepath.Join(dir, "load-uac.xml")
	infFile := filepath.Join(dir, "callers.csv")
	var inf strings.Builder
	inf.WriteString("SEQUENTIAL\n")
	for i, c := range l.callers {
		fmt.Fprintf(&inf, "%s;%s;\n", c, l.dids[i])
	}
	if err := errors.Join(os.WriteFile(scenFile, scen.Bytes(), 0o644), os.WriteFile(infFile, []byte(inf.String()), 0o644)); err != nil {
		t.Error(err)
		return
	}
	n := len(l.callers)
	timeout := time.Duration(n/rate)*time.Second + 60*time.Second
	args := []string{
		l.s.ast.SIPAddr, "-sf", scenFile, "-inf", infFile,
		"-i", harness.ProviderAddr, "-p", strconv.Itoa(sipPort), "-mi", harness.ProviderAddr, "-mp", strconv.Itoa(mediaPort),
		"-r", strconv.Itoa(rate), "-rp", "1000", "-m", strconv.Itoa(n), "-l", strconv.Itoa(rate * 12),
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
	werr := cmd.Run()
	l.res = loadResult{calls: n, callers: l.callers, elapsed: time.Since(start)}
	var ee *exec.ExitError
	if werr != nil && (!errors.As(werr, &ee) || ee.ExitCode() > 1) {
		t.Errorf("sipp into %s: %v\n%s", l.s.name, werr, harness.TailLines(so.String(), 15))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "stat.csv"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	l.res.ok, l.res.failed = -1, -1
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
		l.res.ok, l.res.failed = col("SuccessfulCall(C)"), col("FailedCall(C)")
	}
	l.res.errors = harness.TailLines(harness.ReadFile(filepath.Join(dir, "errors.log")), 40)
}

// noStuckChannels waits until the server's Asterisk has no channel up.
func (s *fleetServer) noStuckChannels(t *testing.T) {
	t.Helper()
	var cli string
	poll(t, 60*time.Second, func() bool {
		cli, _ = s.ast.CLI(context.Background(), "core show channels concise")
		return strings.TrimSpace(cli) == ""
	}, func() string { return fmt.Sprintf("%s: channels still up:\n%s", s.name, cli) })
}

func fleetDatabaseKilled(t *testing.T, fl *fleet) {
	const (
		rate     = 20 // calls/s over both servers
		duration = 60 * time.Second
		killAt   = 15 * time.Second
		downFor  = 10 * time.Second
	)
	// Half the calls into each instance; every fourth through FastAGI.
	perServer := rate * int(duration/time.Second) / 2
	var loads []*fleetLoad
	for i, s := range fl.servers {
		l := &fleetLoad{s: s}
		for k := range perServer {
			l.callers = append(l.callers, fleetCaller(i*perServer+k))
			did := fleetDID
			if k%4 == 3 {
				did = harness.DIDAGI
			}
			l.dids = append(l.dids, did)
		}
		loads = append(loads, l)
	}
	outageNumber := "0387720001"

	var (
		wg                 sync.WaitGroup
		killedAt, backAt   time.Time
		back               atomic.Int64 // backAt, written beside the sampler
		outageCode         int
		outageBody         string
		outageTook         time.Duration
		outageErr, backErr error
	)
	start := time.Now()
	for i, l := range loads {
		wg.Go(func() { l.run(t, rate/2, 41000+os.Getpid()%400*40+i*10, 5071+i) })
	}
	// The fault schedule, beside the load.
	wg.Go(func() {
		time.Sleep(killAt)
		killedAt = time.Now()
		if err := fl.pg.Kill(); err != nil {
			outageErr = fmt.Errorf("killing PostgreSQL: %w", err)
			return
		}
		// A list change on A's dashboard during the outage.
		time.Sleep(3 * time.Second)
		t0 := time.Now()
		outageCode, outageBody, outageErr = apiRequest("http://"+fl.a.httpAddr, integratorUser, integratorPassword, "POST", "/api/lists/block",
			fmt.Sprintf(`{"number":%q,"reason":"made during the outage","scope":"fleet"}`, outageNumber))
		outageTook = time.Since(t0)
		if outageErr != nil {
			return
		}
		time.Sleep(time.Until(killedAt.Add(downFor)))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := fl.pg.Restart(ctx); err != nil {
			backErr = fmt.Errorf("restarting PostgreSQL: %w", err)
		}
		back.Store(time.Now().UnixNano())
	})
	// The records waiting for the database, sampled from the kill on:
	// how many piled up, and how soon after the restart they were written
	// (a batch lingers up to a second at 10 calls/s: 20 is drained).
	var (
		peak      [2]float64
		drainedAt time.Time
		sampled   = make(chan struct{})
	)
	go func() {
		defer close(sampled)
		time.Sleep(killAt)
		for time.Since(start) < duration {
			var cur [2]float64
			for i, s := range fl.servers {
				cur[i], _ = s.metric("callscreen_log_records_pending")
				peak[i] = max(peak[i], cur[i])
			}
			if back.Load() != 0 && drainedAt.IsZero() && cur[0] <= 20 && cur[1] <= 20 {
				drainedAt = time.Now()
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	wg.Wait()
	<-sampled
	backAt = time.Unix(0, back.Load())
	if outageErr != nil || backErr != nil {
		t.Fatal(errors.Join(outageErr, backErr))
	}
	t.Logf("records waiting for the database: at most %v on %s and %v on %s; written %s after PostgreSQL was back",
		peak[0], fl.a.name, peak[1], fl.b.name, drainedAt.Sub(backAt).Round(100*time.Millisecond))
	if peak[0] < 50 || peak[1] < 50 {
		t.Errorf("at most %v and %v records waited through the outage: it was not exercised", peak[0], peak[1])
	}
	t.Logf("load: %d calls at %d/s over %s and %s in %s; PostgreSQL SIGKILLed at +%s, back at +%s (down %s)",
		2*perServer, rate, fl.a.name, fl.b.name, time.Since(start).Round(time.Second),
		killedAt.Sub(start).Round(100*time.Millisecond), backAt.Sub(start).Round(100*time.Millisecond), backAt.Sub(killedAt).Round(100*time.Millisecond))

	// 0 calls stuck: sipp saw every call through (ring, answer, BYE), and
	// no channel is left in either Asterisk.
	for _, l := range loads {
		t.Logf("%s: sipp: %d calls, %d successful, %d failed in %s", l.s.name, l.res.calls, l.res.ok, l.res.failed, l.res.elapsed.Round(time.Second))
		if l.res.ok != l.res.calls || l.res.failed != 0 {
			t.Errorf("%s: %d of %d calls did not complete (ring, answer, hang up)\n%s", l.s.name, l.res.calls-max(l.res.ok, 0), l.res.calls, l.res.errors)
		}
		l.s.noStuckChannels(t)
	}

	// The change refused during the outage, with a message saying so.
	t.Logf("list change on %s during the outage: %d %s (in %s)", fl.a.name, outageCode, strings.TrimSpace(outageBody), outageTook.Round(time.Millisecond))
	if outageCode != http.StatusServiceUnavailable || !strings.Contains(outageBody, "nothing changed") {
		t.Errorf("a list change during the outage answered %d %s; want 503 saying nothing changed", outageCode, outageBody)
	}

	// 0 decisions lost: every record reaches the database once it is
	// back, and nothing waits any more.
	var pending [2]float64
	poll(t, 60*time.Second, func() bool {
		for i, s := range fl.servers {
			v, ok := s.metric("callscreen_log_records_pending")
			if !ok {
				v = -1
			}
			pending[i] = v
		}
		return pending[0] == 0 && pending[1] == 0
	}, func() string {
		return fmt.Sprintf("call records still pending: %s %v, %s %v", fl.a.name, pending[0], fl.b.name, pending[1])
	})
	t.Logf("records pending after the load: %s %v, %s %v", fl.a.name, pending[0], fl.b.name, pending[1])

	// A record the database ignores as a duplicate of another's id is a
	// decision lost too.
	for _, s := range fl.servers {
		if v, ok := s.metric("callscreen_log_records_duplicate_total"); !ok || v != 0 {
			t.Errorf("%s: callscreen_log_records_duplicate_total = %v (ok %v): records were ignored as duplicates of another record's id", s.name, v, ok)
		}
	}
	for _, l := range loads {
		var callers []string
		for _, c := range l.callers {
			callers = append(callers, e164JP(c))
		}
		recs := fl.pgRecords(t, callers)
		per := map[string][]fleetRecord{}
		for _, r := range recs {
			per[r.Verdict.Caller] = append(per[r.Verdict.Caller], r)
		}
		var lost, dup, wrong, slow, notRung []string
		agi := 0
		rang := l.s.rangSet()
		for i, c := range callers {
			rs := per[c]
			switch {
			case len(rs) == 0:
				lost = append(lost, c)
				continue
			case len(rs) > 1:
				dup = append(dup, c)
			}
			r := rs[0]
			wantMode := "ari"
			if l.dids[i] == harness.DIDAGI {
				wantMode = "agi"
				agi++
			}
			if r.Server != l.s.name || r.Tenant != l.s.tenant || r.Mode != wantMode || r.Verdict.Action != "ring" || r.Outcome != "rang" {
				wrong = append(wrong, r.String()+" server="+r.Server+" tenant="+r.Tenant)
			}
			if r.Handling > 5*time.Second {
				slow = append(slow, fmt.Sprintf("%s handled in %s", c, r.Handling))
			}
			if !rang[l.callers[i]] {
				notRung = append(notRung, l.callers[i])
			}
		}
		t.Logf("%s: %d calls (%d through FastAGI), %d records; lost %d, duplicated %d, misrouted %d, over 5 s in callscreen %d, desk not rung %d",
			l.s.name, len(callers), agi, len(recs), len(lost), len(dup), len(wrong), len(slow), len(notRung))
		if len(lost) > 0 {
			t.Errorf("%s: LOST: %d calls have no record in the fleet database: %v", l.s.name, len(lost), firstStrings(lost, 10))
		}
		if len(dup) > 0 {
			t.Errorf("%s: %d calls have more than one record: %v", l.s.name, len(dup), firstStrings(dup, 10))
		}
		if len(wrong) > 0 {
			t.Errorf("%s: %d records are not a ring decision of %s/%s in the expected mode: %v", l.s.name, len(wrong), l.s.name, l.s.tenant, firstStrings(wrong, 5))
		}
		if len(slow) > 0 {
			t.Errorf("%s: %d calls waited in callscreen: %v", l.s.name, len(slow), firstStrings(slow, 5))
		}
		if len(notRung) > 0 {
			t.Errorf("%s: the desk phone never rang for %d clean callers: %v", l.s.name, len(notRung), firstStrings(notRung, 10))
		}
	}

	// Nothing half-made: the refused change is in no table, and A's live
	// lists do not hold it (its caller still rings A's desk).
	outageE164 := e164JP(outageNumber)
	if n := fl.pgCount(t, "SELECT count(*) FROM list_entries WHERE number = $1", outageE164); n != 0 {
		t.Errorf("the change refused during the outage left %d list entries for %s", n, outageE164)
	}
	if n := fl.pgCount(t, "SELECT count(*) FROM list_changes WHERE number = $1", outageE164); n != 0 {
		t.Errorf("the change refused during the outage left %d rows in the change feed for %s", n, outageE164)
	}
	if r := fl.a.call(t, harness.CallSpec{FromUser: outageNumber, Hold: time.Second}); !r.Answered || !fl.a.rang(outageNumber) {
		t.Errorf("%s: the number whose block was refused does not ring %s's desk: %s", outageE164, fl.a.name, r)
	}

	// Both servers follow the feed again, and a change made after the
	// recovery reaches B.
	for _, s := range fl.servers {
		var age float64
		poll(t, 15*time.Second, func() bool {
			var ok bool
			age, ok = s.metric("callscreen_lists_feed_age_seconds")
			return ok && age < 3
		}, func() string { return fmt.Sprintf("%s: lists last read from the database %.1f s ago", s.name, age) })
	}
	after := "0387720002"
	created, _ := fleetBlock(t, fl.a, after, "blocked after the recovery")
	time.Sleep(time.Until(created.Add(time.Second)))
	r := fl.b.call(t, harness.CallSpec{FromUser: after, Hold: 2 * time.Second})
	rec := fl.waitRecord(t, fl.b, e164JP(after))
	if r.Answered || fl.b.rang(after) || rec.Verdict.Action != "reject" || !rec.hasFinding("block-list", "blocked after the recovery") {
		t.Errorf("a block made on %s after the recovery did not reject the call into %s 1 s later: %s; record %s", fl.a.name, fl.b.name, r, rec)
	}

	for _, s := range fl.servers {
		l := harness.ReadFile(s.logPath)
		for _, bad := range []string{"panic:", "fatal error:"} {
			if strings.Contains(l, bad) {
				t.Errorf("%s: serve's log shows %q", s.name, bad)
			}
		}
	}
}

// ---- 3. a sweep across the fleet -------------------------------------------------------

// waitRecordSince waits for the newest record of a call from caller
// (E.164) that s screened, placed at or after since.
func (fl *fleet) waitRecordSince(t *testing.T, s *fleetServer, caller string, since time.Time) fleetRecord {
	t.Helper()
	var got fleetRecord
	poll(t, 20*time.Second, func() bool {
		found := false
		for _, r := range fl.pgRecords(t, []string{caller}) {
			if r.Server == s.name && !r.Time.Before(since.Add(-time.Second)) {
				got, found = r, true
			}
		}
		return found
	}, func() string {
		return fmt.Sprintf("no record of a call from %s screened by %s since %s", caller, s.name, since.Format(time.TimeOnly))
	})
	return got
}

// deskInvites counts the calls from the national number caller that
// reached s's desk phone.
func (s *fleetServer) deskInvites(caller string) int {
	n := 0
	for _, inv := range s.desk.InviteLog() {
		if inv.FromUser == caller || inv.FromUser == e164JP(caller) {
			n++
		}
	}
	return n
}

// sweepCall is one call of a sweep and what it must get.
type sweepCall struct {
	s *fleetServer
	// want: "ring" (the desk rings), "sweep" (challenged for the
	// fleet-sweep finding, fails it, the desk stays silent), "throttled"
	// (challenged for the fleet throttle, fails it), "allowed" (rings on
	// the tenant's allow list).
	want string
}

// sweep places the calls from caller one after the other, as a
// robodialer that answers nothing, and checks each call's record and
// desk phone.
func (fl *fleet) sweep(t *testing.T, caller string, calls []sweepCall) {
	t.Helper()
	e164 := e164JP(caller)
	for i, c := range calls {
		before := c.s.deskInvites(caller)
		since := time.Now()
		hold := 2 * time.Second
		if c.want == "sweep" || c.want == "throttled" {
			hold = 12 * time.Second // through the challenge and its fallback
		}
		r := c.s.call(t, harness.CallSpec{FromUser: caller, Hold: hold})
		rec := fl.waitRecordSince(t, c.s, e164, since)
		rang := c.s.deskInvites(caller) > before
		t.Logf("%s call %d into %s (%s): %s; desk rang %v", caller, i+1, c.s.name, c.s.tenant, rec, rang)
		sweepFinding := ""
		throttled := ""
		for _, f := range rec.Verdict.Findings {
			switch f.Indicator {
			case "fleet-sweep":
				sweepFinding = f.Evidence
			case "throttled":
				throttled = f.Evidence
			}
		}
		switch c.want {
		case "ring":
			if !r.Answered || !rang || rec.Verdict.Action != "ring" || sweepFinding != "" {
				t.Errorf("%s call %d into %s: want it to ring unchallenged; rang %v, %s", caller, i+1, c.s.name, rang, rec)
			}
		case "allowed":
			if !rang || rec.Verdict.Action != "ring" || !strings.HasPrefix(rec.Verdict.Override, "allow") || sweepFinding != "" {
				t.Errorf("%s call %d into %s: want it to ring on %s's allow list; rang %v, %s (reason %q)", caller, i+1, c.s.name, c.s.tenant, rang, rec, rec.Verdict.Reason)
			}
		case "sweep":
			want := fmt.Sprintf("called %d businesses", countTenants(calls[:i+1]))
			if rang || rec.Verdict.Action != "challenge" || rec.Outcome != "challenge-failed" || !strings.Contains(sweepFinding, want) {
				t.Errorf("%s call %d into %s: want a fleet-sweep challenge (%q) failed; rang %v, %s, evidence %q", caller, i+1, c.s.name, want, rang, rec, sweepFinding)
			}
		case "throttled":
			if rang || rec.Verdict.Action != "challenge" || rec.Outcome != "challenge-failed" || !strings.Contains(throttled, "businesses of the fleet") {
				t.Errorf("%s call %d into %s: want the fleet throttle's challenge, failed; rang %v, %s, evidence %q", caller, i+1, c.s.name, rang, rec, throttled)
			}
		}
		// Let the sighting reach the other servers (milliseconds).
		time.Sleep(500 * time.Millisecond)
	}
}

// countTenants counts the distinct tenants of calls.
func countTenants(calls []sweepCall) int {
	seen := map[string]bool{}
	for _, c := range calls {
		seen[c.s.tenant] = true
	}
	return len(seen)
}

// fleetThrottle returns the fleet-wide throttle of number (E.164) in the
// fleet database, waiting up to 5 s for it.
func (fl *fleet) fleetThrottle(t *testing.T, number string) (reason string, expires time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fl.dbURL)
	if err != nil {
		t.Fatalf("connecting to the fleet database: %v", err)
	}
	defer conn.Close(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for {
		var exp *int64
		err := conn.QueryRow(ctx, "SELECT reason, expires FROM list_entries WHERE tenant = '' AND kind = 'block' AND number = $1 AND source = 'fleet-sweep'", number).Scan(&reason, &exp)
		if err == nil {
			if exp != nil {
				expires = time.Until(time.Unix(0, *exp))
			}
			return reason, expires
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("reading the fleet throttle of %s: %v", number, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fleet-wide throttle (source fleet-sweep) for %s in the fleet database", number)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fleetSweep(t *testing.T, fl *fleet) {
	ctx := context.Background()
	// Two more businesses join the fleet, one on each Asterisk.
	c := fl.addServer(ctx, t, serverSpec{name: "pbx-c", tenant: "shop-c", app: "callscreen-c", http: "127.0.0.1:18193", did: "0399994000"}, fl.a.ast, fl.a.desk)
	d := fl.addServer(ctx, t, serverSpec{name: "pbx-d", tenant: "shop-d", instance: "b", app: "callscreen-d", http: "127.0.0.1:18194", did: "0399996000"}, fl.b.ast, fl.b.desk)
	a, b := fl.a, fl.b

	// A pharmacy that is a customer of shop-c calls shop-c from its
	// number; it is on shop-c's allow list (shop-c's dashboard, its
	// tenant's scope).
	const (
		robo     = "09011110001"
		pharmacy = "08022220001"
	)
	if code, body := c.api(t, "POST", "/api/lists/allow", `{"number":"`+pharmacy+`","reason":"pharmacy, a customer"}`); code != http.StatusCreated {
		t.Fatalf("POST /api/lists/allow on %s = %d %s", c.name, code, body)
	}
	if n := fl.pgCount(t, "SELECT count(*) FROM list_entries WHERE kind = 'allow' AND number = $1 AND tenant = $2", e164JP(pharmacy), c.tenant); n != 1 {
		t.Fatalf("the allow entry of %s is not in %s's scope (%d entries)", pharmacy, c.tenant, n)
	}

	t.Run("robodialer", func(t *testing.T) {
		t.Parallel()
		// Two businesses ring; the third and fourth challenge it for
		// the sweep, and it fails both: throttled fleet-wide.
		fl.sweep(t, robo, []sweepCall{{a, "ring"}, {b, "ring"}, {c, "sweep"}, {d, "sweep"}})
		reason, exp := fl.fleetThrottle(t, e164JP(robo))
		t.Logf("fleet throttle of %s: %q, expires in %s", robo, reason, exp.Round(time.Minute))
		if exp < 25*time.Minute || exp > 31*time.Minute {
			t.Errorf("the fleet throttle expires in %s, want about 30m (sweep.throttle)", exp)
		}
		// Now every server challenges it for the throttle, the first two
		// businesses included.
		for _, s := range []*fleetServer{a, b} {
			t.Run("throttled at "+s.name, func(t *testing.T) {
				t.Parallel()
				fl.sweep(t, robo, []sweepCall{{s, "throttled"}})
			})
		}
	})
	t.Run("allow-listed", func(t *testing.T) {
		t.Parallel()
		// The same pattern from the pharmacy: the sweep challenges it at
		// the other businesses, it fails there and is throttled
		// fleet-wide, and still rings at shop-c, whose customer it is.
		fl.sweep(t, pharmacy, []sweepCall{{a, "ring"}, {b, "ring"}, {c, "allowed"}, {d, "sweep"}, {a, "sweep"}})
		reason, _ := fl.fleetThrottle(t, e164JP(pharmacy))
		t.Logf("fleet throttle of %s: %q", pharmacy, reason)
		fl.sweep(t, pharmacy, []sweepCall{{c, "allowed"}})
	})
}

// ---- 4. a SQLite store moved into the fleet ----------------------------------------------

// The columns compared, in the order both databases are read.
const (
	entryColumns  = "tenant, kind, number, expires, source, reason, created"
	recordColumns = "id, time, mode, caller, called, profile, action, taken, outcome, score, presence, reasons, monitor, decision_ns, handling_ns, record, server, tenant"
)

// queryRows runs query on db and returns each row as its columns' values
// printed (NULL as "NULL"), so that SQLite's and PostgreSQL's types
// compare alike.
func queryRows(ctx context.Context, t *testing.T, what string, query func() (*sql.Rows, error)) [][]string {
	t.Helper()
	rows, err := query()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				row[i] = "NULL"
			case []byte:
				row[i] = string(v)
			default:
				row[i] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return out
}

// pgRows is queryRows on the fleet database.
func (fl *fleet) pgRows(t *testing.T, query string, args ...any) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", fl.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return queryRows(ctx, t, query, func() (*sql.Rows, error) { return db.QueryContext(ctx, query, args...) })
}

func fleetMigrate(t *testing.T, fl *fleet) {
	ctx := context.Background()
	if out, err := exec.Command(fl.bin, "db", "migrate", "--help").CombinedOutput(); err != nil {
		t.Skipf("callscreen has no `db migrate` command (branch dbmigrate not merged into this one): %v\n%s", err, harness.TailLines(string(out), 3))
	}
	// A server that ran alone on SQLite: it screens shop-s's DID on
	// Asterisk a, and its operator keeps lists on its dashboard.
	dbPath := filepath.Join(fl.dir, "pbx-s", "callscreen.db")
	s := fl.addServer(ctx, t, serverSpec{name: "pbx-s", tenant: "shop-s", app: "callscreen-s", http: "127.0.0.1:18195",
		did: "0399995000", database: dbPath}, fl.a.ast, fl.a.desk)
	for _, e := range []struct {
		kind, body string
		integrator bool
	}{
		{"block", `{"number":"0312340001","reason":"nuisance caller"}`, false},
		{"allow", `{"number":"0312340002","reason":"customer","expires":"7d"}`, false},
		{"dno", `{"number":"0120444444","reason":"inbound only"}`, false},
		// Made for every tenant on SQLite: the migration puts it in the
		// server's tenant's scope (db migrate --tenant's default).
		{"block", `{"number":"0312340004","reason":"the integrator's block","scope":"fleet"}`, true},
	} {
		api := s.api
		if e.integrator {
			api = s.integratorAPI
		}
		if code, body := api(t, "POST", "/api/lists/"+e.kind, e.body); code != http.StatusCreated {
			t.Fatalf("POST /api/lists/%s on %s = %d %s", e.kind, s.name, code, body)
		}
	}
	calls := []struct {
		caller string
		ring   bool
	}{{"0312340003", true}, {"0312340001", false}, {"0312340002", true}, {"0312340004", false}}
	for _, c := range calls {
		r := s.call(t, harness.CallSpec{FromUser: c.caller, Hold: time.Second})
		if r.Answered != c.ring {
			t.Errorf("call from %s into %s: %s; want answered %v", c.caller, s.name, r, c.ring)
		}
	}
	// Stopped, as an integrator moving the server would: every record
	// is in the SQLite file.
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	sqlite, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer sqlite.Close()
	srcEntries := queryRows(ctx, t, "SQLite list entries", func() (*sql.Rows, error) {
		return sqlite.QueryContext(ctx, "SELECT "+entryColumns+" FROM list_entries ORDER BY kind, number")
	})
	srcRecords := queryRows(ctx, t, "SQLite call log", func() (*sql.Rows, error) {
		return sqlite.QueryContext(ctx, "SELECT "+recordColumns+" FROM call_log ORDER BY id")
	})
	if len(srcEntries) != 4 || len(srcRecords) != len(calls) {
		t.Fatalf("the SQLite store holds %d entries and %d records, want 4 and %d:\n%v\n%v", len(srcEntries), len(srcRecords), len(calls), srcEntries, srcRecords)
	}
	// In the fleet database an entry for every tenant belongs to shop-s.
	want := make([][]string, len(srcEntries))
	for i, e := range srcEntries {
		want[i] = slices.Clone(e)
		if want[i][0] == "" {
			want[i][0] = s.tenant
		}
	}

	migrate := func() string {
		t.Helper()
		t0 := time.Now()
		out, err := s.run(ctx, "db", "migrate", "--to", fl.dbURL, "--json")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var rep struct {
			OK bool `json:"ok"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.OK {
			t.Fatalf("callscreen db migrate --json: ok=%v (%v)\n%s", rep.OK, err, out)
		}
		t.Logf("db migrate took %s", time.Since(t0).Round(time.Millisecond))
		return out
	}
	migrate()

	gotEntries := fl.pgRows(t, "SELECT "+entryColumns+" FROM list_entries WHERE tenant = $1 ORDER BY kind, number", s.tenant)
	gotRecords := fl.pgRows(t, "SELECT "+recordColumns+" FROM call_log WHERE server = $1 ORDER BY id", s.name)
	compareRows(t, "list entry", entryColumns, want, gotEntries)
	compareRows(t, "call record", recordColumns, srcRecords, gotRecords)

	// A second run finds everything there and adds nothing.
	count := func() []string {
		return fl.pgRows(t, "SELECT (SELECT count(*) FROM list_entries), (SELECT count(*) FROM call_log), (SELECT coalesce(max(version), 0) FROM list_changes), (SELECT version FROM lists_version)")[0]
	}
	before := count()
	out := migrate()
	if after := count(); !slices.Equal(before, after) {
		t.Errorf("the second db migrate changed the fleet database: entries, records, change feed, lists version %v -> %v\n%s", before, after, out)
	}
	compareRows(t, "list entry after the second run", entryColumns, want,
		fl.pgRows(t, "SELECT "+entryColumns+" FROM list_entries WHERE tenant = $1 ORDER BY kind, number", s.tenant))
	t.Logf("migrated %d list entries and %d call records from %s; identical in the fleet database, and the second run added nothing (%v)",
		len(want), len(srcRecords), s.name, before)
}

// compareRows reports every row of want that got lacks or holds with
// another value, naming the column.
func compareRows(t *testing.T, what, columns string, want, got [][]string) {
	t.Helper()
	names := strings.Split(columns, ", ")
	if len(got) != len(want) {
		t.Errorf("%s: the fleet database holds %d, the source %d:\n got %v\nwant %v", what, len(got), len(want), got, want)
		return
	}
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Errorf("%s %v: %s = %q in the fleet database, %q in the source", what, want[i][:3], names[j], got[i][j], want[i][j])
			}
		}
	}
}
