package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// TestImportWhileServing imports a list from the CLI while calls arrive
// at 20 calls/s and the operator blocks numbers on the dashboard
// throughout the import and the list reloads it causes. No call log
// record may be lost, and every number blocked on the dashboard is
// rejected on its next call. The sizes come from CALLSCREEN_IMPORT_LINES
// and CALLSCREEN_IMPORT_SECONDS (of calls; default 500,000 lines and 30 s
// here, about a minute in all; `make faults` runs 3,000,000 lines and
// 60 s, see TestFaults).
func TestImportWhileServing(t *testing.T) {
	f := getFixture(t)
	lg := &loadGen{f: f, rate: 20, k: int(time.Now().Unix()%5000) + 40000}
	importWhileCalls(t, f, lg, envInt(t, "CALLSCREEN_IMPORT_LINES", 500_000), envInt(t, "CALLSCREEN_IMPORT_SECONDS", 30))
}

// faultLargeImport is TestImportWhileServing at full size for `make
// faults`: 3,000,000 lines (CALLSCREEN_FAULTS_IMPORT_LINES) during 60 s of
// calls (CALLSCREEN_FAULTS_IMPORT_SECONDS).
func faultLargeImport(t *testing.T, f *fixture, lg *loadGen) {
	importWhileCalls(t, f, lg, envInt(t, "CALLSCREEN_FAULTS_IMPORT_LINES", 3_000_000), envInt(t, "CALLSCREEN_FAULTS_IMPORT_SECONDS", 60))
}

// envInt reads a positive integer from the environment, or returns def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// importNumber is the n-th number of the imported list: 12 digits after
// +8199, a shape no other test uses.
func importNumber(n int) string { return fmt.Sprintf("+8199%08d", (n*7919)%100_000_000) }

// importWhileCalls runs the scenario: a CLI import of lines numbers while
// lg places calls, dashboard blocks made until serve holds the import,
// then each blocked number's next call.
func importWhileCalls(t *testing.T, f *fixture, lg *loadGen, lines, seconds int) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "import.txt")
	{
		fh, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(fh)
		for i := range lines {
			fmt.Fprintln(w, importNumber(i))
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
	removeImported(t, f) // a run that did not clean up
	t.Cleanup(func() { removeImported(t, f) })
	poll(t, time.Minute, func() bool { n := blockLen(t); time.Sleep(time.Second); return n == blockLen(t) },
		func() string { return "serve's lists did not settle" })
	before := blockLen(t)

	// The calls: for seconds, which should outlast the import and the
	// reloads it causes.
	logStart := len(f.ast.FullLog())
	serveLogStart := len(harness.ReadFile(f.serveLog))
	since := time.Now()

	var (
		mu                     sync.Mutex
		importDone, listsReady time.Time
		importTook             time.Duration
		importErr              error
		importOut              string
		blocked                []string // callers, national form
		blockFailed            []string
	)
	// Numbers blocked on the dashboard are the callers the load generator
	// uses after this run: their next call is the check.
	nextK := lg.k + seconds*lg.rate
	go func() {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
		defer cancel()
		start := time.Now()
		out, err := exec.CommandContext(cctx, f.bin, "lists", "import", "block", file, "-c", f.cfgPath).CombinedOutput()
		mu.Lock()
		importDone, importTook, importErr, importOut = time.Now(), time.Since(start), err, string(out)
		mu.Unlock()
	}()
	lastBlock := time.Time{}
	res := lg.run(t, seconds*lg.rate, func(el time.Duration) {
		mu.Lock()
		done, ready := importDone, listsReady
		mu.Unlock()
		if !ready.IsZero() && time.Since(ready) > 2*time.Second {
			return // the import is in the live lists: the check is the next calls
		}
		if !done.IsZero() && ready.IsZero() && blockLen(t) >= before+lines {
			mu.Lock()
			listsReady = time.Now()
			mu.Unlock()
		}
		if time.Since(lastBlock) < 300*time.Millisecond {
			return
		}
		lastBlock = time.Now()
		caller := loadCaller(nextK + len(blocked) + len(blockFailed))
		code, body := dashboardAPI(t, "POST", "/api/lists/block", `{"number":"`+caller+`","reason":"blocked during an import"}`)
		if code == http.StatusCreated {
			blocked = append(blocked, caller)
		} else {
			blockFailed = append(blockFailed, fmt.Sprintf("%s: %d %s", caller, code, strings.TrimSpace(body)))
		}
	})
	var done, ready time.Time
	poll(t, 10*time.Minute, func() bool {
		mu.Lock()
		defer mu.Unlock()
		done, ready = importDone, listsReady
		return !done.IsZero()
	}, func() string { return "the import did not finish" })
	mu.Lock()
	ierr, iout, took := importErr, importOut, importTook
	mu.Unlock()
	if ierr != nil {
		t.Fatalf("callscreen lists import: %v\n%s", ierr, harness.TailLines(iout, 10))
	}
	t.Logf("CLI import of %d lines took %s (calls ran %s): %s", lines, took.Round(100*time.Millisecond), res.elapsed.Round(time.Second),
		strings.TrimSpace(harness.TailLines(strings.ReplaceAll(iout, "\r", "\n"), 1)))
	if ready.IsZero() {
		poll(t, 2*time.Minute, func() bool { return blockLen(t) >= before+lines }, func() string { return "serve never loaded the import" })
	}

	// 1. No acknowledged decision is missing from the call log.
	f.assertNoStuckChannels(t)
	v := viewOf(f.ast.FullLog()[logStart:])
	missing := f.lost(t, v.screened, since)
	slog := harness.ReadFile(f.serveLog)[serveLogStart:]
	reloads := strings.Count(slog, `"msg":"lists reloaded"`)
	retries := metricValue(t, "callscreen_log_write_retries_total")

	// 2. Every number blocked on the dashboard is rejected on its next
	// call (the load generator's next callers).
	if lg.k > nextK {
		t.Fatalf("load generator at caller %d, past the blocked ones at %d", lg.k, nextK)
	}
	lg.k = nextK
	check := lg.run(t, len(blocked), nil)
	var rang []string
	for _, c := range blocked {
		if f.invitesFrom(c)+f.invitesFrom("+81"+c[1:]) > 0 {
			rang = append(rang, c)
		}
	}
	// Each check call's record (serve batches its writes for a second).
	recs := map[string]string{}
	poll(t, time.Minute, func() bool {
		for _, c := range blocked {
			if _, ok := recs[c]; ok {
				continue
			}
			r, ok := f.findRecord(t, "+81"+c[1:], since, nil)
			if !ok {
				return false
			}
			recs[c] = r.Verdict.Action
		}
		return true
	}, func() string {
		return fmt.Sprintf("%d of the %d check calls have no call log record (sipp: %d calls, ok %d, failed %d)\n%s",
			len(blocked)-len(recs), len(blocked), check.calls, check.ok, check.failed, check.errors)
	})
	notRejected := 0
	for _, c := range blocked {
		if recs[c] != "reject" {
			notRejected++
		}
	}
	t.Logf("import of %d lines while serving at %d calls/s: %d calls in %s, sipp ok %d, failed %d; %d entered the dialplan, %d screened, %d fell back; "+
		"%d acknowledged decisions missing from the call log; %d list reloads; %v call log batch retries; "+
		"%d dashboard blocks (%d refused) from the import's start until 2 s after serve held it; on their next call %d of %d were rejected, %d rang the desk (check calls: sipp ok %d, failed %d)",
		lines, lg.rate, res.calls, res.elapsed.Round(time.Second), res.ok, res.failed, v.entered, len(v.screened), len(v.fallback),
		len(missing), reloads, retries, len(blocked), len(blockFailed), len(blocked)-notRejected, len(blocked), len(rang), check.ok, check.failed)
	if len(missing) > 0 {
		t.Errorf("LOST: %d acknowledged decisions are not in the call log: %v", len(missing), firstStrings(missing, 10))
	}
	if len(blockFailed) > 0 {
		t.Errorf("dashboard blocks refused during the import: %v", firstStrings(blockFailed, 5))
	}
	if len(blocked) == 0 {
		t.Error("no dashboard block was made during the import")
	}
	if notRejected > 0 || len(rang) > 0 {
		t.Errorf("%d numbers blocked on the dashboard during the import were not rejected on their next call; %d rang the desk: %v", notRejected, len(rang), firstStrings(rang, 10))
	}
	if len(v.fallback) > 0 {
		t.Errorf("%d calls fell back to the dialplan during the import", len(v.fallback))
	}
}

// blockLen returns how many block entries serve's live lists hold
// (/api/state, from the last reload's snapshot).
func blockLen(t *testing.T) int {
	t.Helper()
	var st struct {
		Lists map[string]int `json:"lists"`
	}
	code, body := dashboardAPI(t, "GET", "/api/state", "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/state = %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /api/state: %v", err)
	}
	return st.Lists["block"]
}

// removeImported deletes the imported numbers and the dashboard blocks,
// so that later tests reload small lists.
func removeImported(t *testing.T, f *fixture) {
	out, err := exec.Command("sqlite3", f.dbPath(),
		".timeout 60000",
		`DELETE FROM list_entries WHERE kind = 'block' AND (number LIKE '+8199%' OR reason = 'blocked during an import');`).CombinedOutput()
	if err != nil {
		t.Errorf("removing the imported entries: %v %s", err, out)
	}
}
