package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// Bursts: many calls arriving at once, each of them with a verdict to
// carry out. On a 2-core machine a burst of about 35 calls once cost a
// withheld caller the number request through FastAGI (the session broke
// on a late write and the call rang unscreened), and the same mixed burst
// with callscreen's periodic event-filter PUT crashed Asterisk. See
// docs/RELIABILITY.md, "Bursts and the soak".

// burstKind is what a call in a burst must get.
type burstKind int

const (
	burstRing      burstKind = iota // a clean caller: the desk rings
	burstWithheld                   // a withheld caller: the number request, never the desk
	burstVoicemail                  // an invalid foreign number (score 60): voicemail
	burstChallenge                  // a foreign caller who presses the digit: challenge passed, the desk rings
)

func (k burstKind) String() string {
	return [...]string{"ring", "withheld", "voicemail", "challenge"}[k]
}

// burstMode is the front end a burst goes through.
type burstMode struct {
	name string
	mode string // the records' mode
	// to is the DID of each kind of call.
	to func(burstKind) string
}

var (
	// didChallenge and harness.DIDAGI are screened with the challenge
	// profile (voicemail from a score of 60).
	burstARI = burstMode{name: "ARI", mode: "ari", to: func(k burstKind) string {
		if k == burstChallenge || k == burstVoicemail {
			return didChallenge
		}
		return ownNumber
	}}
	burstAGI = burstMode{name: "FastAGI", mode: "agi", to: func(burstKind) string { return harness.DIDAGI }}
)

// burstCall is one call of a burst and what happened to it.
type burstCall struct {
	kind   burstKind
	spec   harness.CallSpec
	number string // the caller's number as the call log has it (Facts.Number)
	res    harness.CallResult
	err    error
}

// burstSeq numbers the callers of this process's bursts: every caller is
// new, so that no allow entry, throttle or velocity from an earlier call
// changes a verdict.
var burstSeq atomic.Int64

func init() { burstSeq.Store(time.Now().Unix() % 100000 * 10) }

// burstMix returns n calls through m: of every ten, four clean callers,
// two withheld (one anonymous From, one Privacy: id behind a real
// number), two invalid foreign numbers (voicemail) and two challenged
// callers who press the digit.
func burstMix(m burstMode, n int) []*burstCall {
	pattern := []burstKind{burstRing, burstWithheld, burstChallenge, burstRing, burstVoicemail,
		burstRing, burstWithheld, burstChallenge, burstRing, burstVoicemail}
	calls := make([]*burstCall, n)
	for i := range calls {
		k := pattern[i%len(pattern)]
		seq := burstSeq.Add(1)
		c := &burstCall{kind: k}
		c.spec = harness.CallSpec{To: m.to(k), Timeout: 90 * time.Second}
		switch k {
		case burstRing:
			c.number = jpNumber("03", seq)
			c.spec.FromUser, c.spec.Hold = c.number, time.Second
		case burstWithheld:
			c.spec.Hold = 40 * time.Second // the announcement hangs up first
			if seq%2 == 0 {
				c.number = "anonymous"
				c.spec.FromUser, c.spec.FromName, c.spec.FromHost = "anonymous", fmt.Sprintf("Withheld %d", seq), "anonymous.invalid"
			} else {
				c.number = jpNumber("06", seq)
				c.spec.FromUser = c.number
				c.spec.Headers = []string{"P-Asserted-Identity: <sip:" + c.number + "@127.0.0.2;user=phone>", "Privacy: id"}
			}
		case burstVoicemail:
			c.number = usNumber(seq)
			c.number = c.number[:5] + "0" + c.number[6:] // no exchange starts with 0
			c.spec.FromUser, c.spec.Audio, c.spec.Hold = c.number, true, 3*time.Second
		case burstChallenge:
			c.number = usNumber(seq)
			// The digit twice, 3 s apart: the first one may come before
			// the prompt on a loaded machine; the second one then
			// answers it (a digit after the pass goes to the desk).
			c.spec.FromUser, c.spec.DTMF = c.number, challengeDigit+challengeDigit
			c.spec.DTMFDelay, c.spec.DTMFGap, c.spec.Hold = 2500*time.Millisecond, 3*time.Second, 9*time.Second
		}
		calls[i] = c
	}
	return calls
}

// Burst callers' numbers differ before their last four digits: a burst
// from one prefix is what a scanner looks like (velocity-prefix), and
// would change the verdicts the burst checks.

// jpNumber is a Japanese number of area code area with a prefix of its
// own for each seq. The prefixes stop at 8999: 039999xxxx are the test
// profiles' own numbers, and their neighbours are challenged
// (neighbour-number).
func jpNumber(area string, seq int64) string {
	return fmt.Sprintf("%s%04d%04d", area, 1000+seq%8000, seq%10000)
}

// usNumber is a valid North American number with an exchange of its own
// for each seq (up to 7,000 in a row).
func usNumber(seq int64) string {
	npa := []string{"202", "212", "213", "312", "415", "617", "646", "718", "305", "404"}[seq%10]
	return fmt.Sprintf("+1%s%03d%04d", npa, 200+(seq/10)%700, seq%10000)
}

// burstResult sums up one burst.
type burstResult struct {
	calls, checked int
	failedCalls    int // calls with at least one failure
	byKind         [4]int
	spread         time.Duration // first to last sipp start
	elapsed        time.Duration
	failures       []string
}

// burst places calls all at once and checks that each verdict was
// carried out and logged. It returns the failures instead of failing t,
// so that a soak can count them.
func (f *fixture) burst(t *testing.T, m burstMode, calls []*burstCall) burstResult {
	t.Helper()
	res := burstResult{calls: len(calls)}
	since := time.Now()
	invitesBefore := map[string]int{}
	for _, inv := range f.desk.InviteLog() {
		invitesBefore[inv.FromUser]++
	}
	var wg sync.WaitGroup
	gate := make(chan struct{})
	starts := make([]time.Time, len(calls))
	for i, c := range calls {
		res.byKind[c.kind]++
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			starts[i] = time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			c.res, c.err = harness.PlaceCall(ctx, c.spec)
		}()
	}
	close(gate)
	wg.Wait()
	res.elapsed = time.Since(since)
	first, last := starts[0], starts[0]
	for _, s := range starts {
		if s.Before(first) {
			first = s
		}
		if s.After(last) {
			last = s
		}
	}
	res.spread = last.Sub(first)

	failed := map[*burstCall]bool{}
	fail := func(c *burstCall, format string, args ...any) {
		if !failed[c] {
			failed[c] = true
			res.failedCalls++
		}
		res.failures = append(res.failures, fmt.Sprintf("%s call from %s (%s): ", c.kind, c.number, c.spec.FromName)+fmt.Sprintf(format, args...))
	}
	// The records: serve batches its writes.
	var recs []record
	want := len(calls)
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs = f.recordsSince(t, since, m.mode)
		if len(recs) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	byNumber := map[string][]record{}
	for _, r := range recs {
		key := r.Facts.Number
		if key == "anonymous" {
			key += "/" + r.Facts.Name
		}
		byNumber[key] = append(byNumber[key], r)
	}
	if len(recs) != want {
		res.failures = append(res.failures, fmt.Sprintf("%d records in the call log for %d calls", len(recs), want))
	}
	invites := map[string]int{}
	for _, inv := range f.desk.InviteLog() {
		invites[inv.FromUser]++
	}
	rang := func(number string) bool {
		alt := number
		if strings.HasPrefix(number, "0") {
			alt = "+81" + number[1:]
		}
		return invites[number] > invitesBefore[number] || invites[alt] > invitesBefore[alt]
	}
	for _, c := range calls {
		if c.err != nil {
			fail(c, "the harness could not place it: %v", c.err)
			continue
		}
		res.checked++
		key := c.number
		if key == "anonymous" {
			key += "/" + c.spec.FromName
		}
		rs := byNumber[key]
		var r record
		if len(rs) > 0 {
			r = rs[0]
		}
		switch c.kind {
		case burstRing:
			if len(rs) != 1 || r.Verdict.Action != "ring" || r.Outcome != "rang" {
				fail(c, "want one record ring/rang, got %d: %s", len(rs), r)
			}
			if !c.res.Answered || !rang(c.number) {
				fail(c, "the desk did not ring (answered %v): %s", c.res.Answered, c.res)
			}
		case burstWithheld:
			if len(rs) != 1 || r.Verdict.Presence != "withheld" || r.Taken != "number-request" || r.Outcome != "announced" {
				fail(c, "want one record withheld, number-request, announced, got %d: %s", len(rs), r)
			}
			if !c.res.Answered || !c.res.RemoteHangup || c.res.Duration < 5*time.Second {
				fail(c, "want the announcement (answered, about 6.7 s, hung up by Asterisk): %s", c.res)
			}
			if rang(c.number) && c.number != "anonymous" {
				fail(c, "the desk rang")
			}
		case burstVoicemail:
			if len(rs) != 1 || r.Verdict.Action != "voicemail" || r.Taken != "voicemail" || r.Outcome != "voicemail" {
				fail(c, "want one record voicemail, got %d: %s", len(rs), r)
			}
			if !c.res.Answered || rang(c.number) {
				fail(c, "want answered by voicemail, the desk not rung: %s", c.res)
			}
		case burstChallenge:
			if len(rs) != 1 || r.Verdict.Action != "challenge" || r.Taken != "ring" || r.Outcome != "challenge-passed" {
				fail(c, "want one record challenge, taken ring, challenge-passed, got %d: %s", len(rs), r)
			}
			if !rang(c.number) {
				fail(c, "the desk did not ring after the challenge: %s", c.res)
			}
		}
	}
	return res
}

// recordsSince returns the call log's records of calls through mode
// placed since since.
func (f *fixture) recordsSince(t *testing.T, since time.Time, mode string) []record {
	t.Helper()
	out, err := f.run(context.Background(), "log", "--json", "-n", "100000", "--since", since.Add(-time.Second).Format(time.RFC3339))
	if err != nil {
		t.Fatalf("%v\n%s", err, harness.TailLines(out, 5))
	}
	var recs []record
	for _, r := range decodeRecords(t, out) {
		if r.Mode == mode && !r.Time.Before(since.Add(-time.Second)) {
			recs = append(recs, r)
		}
	}
	return recs
}

func (r burstResult) String() string {
	return fmt.Sprintf("%d calls (%d ring, %d withheld, %d voicemail, %d challenge) started within %s, done in %s: %d checked, %d failures (%d calls)",
		r.calls, r.byKind[burstRing], r.byKind[burstWithheld], r.byKind[burstVoicemail], r.byKind[burstChallenge],
		r.spread.Round(time.Millisecond), r.elapsed.Round(time.Second), r.checked, len(r.failures), r.failedCalls)
}

// burstSize is the size of a burst: CALLSCREEN_BURST, default 50.
func burstSize(t *testing.T) int {
	t.Helper()
	v := os.Getenv("CALLSCREEN_BURST")
	if v == "" {
		return 50
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 200 {
		t.Fatalf("CALLSCREEN_BURST=%q: want a number of calls from 1 to 200", v)
	}
	return n
}

// soakDuration is how long the soak runs: CALLSCREEN_SOAK (a Go
// duration), else def.
func soakDuration(t *testing.T, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv("CALLSCREEN_SOAK")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > 2*time.Hour {
		t.Fatalf("CALLSCREEN_SOAK=%q: want a duration up to 2h (10m, 90s)", v)
	}
	return d
}

// TestBurst places a burst of simultaneous calls through ARI and through
// FastAGI, then soaks: mixed bursts through both for CALLSCREEN_SOAK
// (default 1 minute here; `make faults` runs 10 minutes).
func TestBurst(t *testing.T) {
	f := getFixture(t)
	burstScenarios(t, f, soakDuration(t, time.Minute))
}

// burstScenarios runs the burst per mode, then the soak.
func burstScenarios(t *testing.T, f *fixture, soak time.Duration) {
	n := burstSize(t)
	for _, m := range []burstMode{burstARI, burstAGI} {
		t.Run("Burst"+m.name, func(t *testing.T) {
			r := f.burst(t, m, burstMix(m, n))
			t.Logf("burst through %s: %s", m.name, r)
			for _, s := range firstStrings(r.failures, 20) {
				t.Error(s)
			}
			f.assertNoStuckChannels(t)
		})
	}
	t.Run("Soak", func(t *testing.T) { soakBursts(t, f, soak, n) })
}

// soakBursts repeats mixed bursts of n calls, alternately through ARI
// and FastAGI, for d, while three clients read the Stasis application
// back (GET /applications/callscreen) in a loop, as `callscreen doctor`
// and dashboards do: the reads that, racing callscreen's old periodic
// event-filter PUT, corrupted Asterisk's heap. Asterisk runs with core
// dumps on; it must neither exit nor dump core.
func soakBursts(t *testing.T, f *fixture, d time.Duration, n int) {
	uptime0 := asteriskUptime(t, f)
	cores0 := len(f.ast.Cores())
	start := time.Now()
	ctx, stop := context.WithCancel(context.Background())
	var reads, readErrs atomic.Int64
	var readers sync.WaitGroup
	for range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for ctx.Err() == nil {
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if f.ariStatus(rctx, "/applications/callscreen") == http.StatusOK {
					reads.Add(1)
				} else if ctx.Err() == nil {
					readErrs.Add(1)
				}
				cancel()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	var rounds, calls, checked, failures, failedCalls int
	var byMode = map[string]int{}
	for i := 0; time.Since(start) < d; i++ {
		m := []burstMode{burstARI, burstAGI}[i%2]
		r := f.burst(t, m, burstMix(m, n))
		rounds++
		calls += r.calls
		checked += r.checked
		failures += len(r.failures)
		failedCalls += r.failedCalls
		byMode[m.name] += r.calls
		t.Logf("soak round %d (%s, +%s): %s", rounds, m.name, time.Since(start).Round(time.Second), r)
		for _, s := range firstStrings(r.failures, 10) {
			t.Error(s)
		}
		if exited, err := f.ast.Exited(); exited {
			stop()
			readers.Wait()
			t.Fatalf("CRASH: Asterisk exited during soak round %d: %v; console:\n%s", rounds, err, harness.TailLines(harness.ReadFile(f.ast.ConsoleLog), 30))
		}
	}
	stop()
	readers.Wait()
	f.assertNoStuckChannels(t)
	uptime1 := asteriskUptime(t, f)
	cores := f.ast.Cores()[cores0:]
	crashes := 0
	if uptime1 < uptime0+time.Since(start)-5*time.Second {
		crashes++
	}
	t.Logf("soak: %s of mixed bursts of %d calls: %d rounds, %d calls (ARI %d, FastAGI %d), %d calls checked, %d verdict failures in %d calls; "+
		"%d GET /applications/callscreen alongside (%d failed); Asterisk uptime %s -> %s, core dumps %d, crashes %d",
		time.Since(start).Round(time.Second), n, rounds, calls, byMode["ARI"], byMode["FastAGI"], checked, failures, failedCalls,
		reads.Load(), readErrs.Load(), uptime0, uptime1, len(cores), crashes)
	if crashes > 0 || len(cores) > 0 {
		t.Errorf("CRASH: Asterisk restarted or dumped core during the soak: %v", cores)
	}
	if readErrs.Load() > 0 {
		t.Errorf("%d reads of the Stasis application failed during the soak", readErrs.Load())
	}
	f.assertServeHealthy(t)
}

var uptimeRE = regexp.MustCompile(`System uptime: (\d+)`)

// asteriskUptime is Asterisk's uptime (core show uptime seconds).
func asteriskUptime(t *testing.T, f *fixture) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := f.ast.CLI(ctx, "core show uptime seconds")
	m := uptimeRE.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("core show uptime seconds: %v: %s", err, out)
	}
	s, _ := strconv.Atoi(m[1])
	return time.Duration(s) * time.Second
}
