package harness

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestParseTrace checks the sipp trace parser on a fixed sample; it needs
// no Asterisk.
func TestParseTrace(t *testing.T) {
	trace := `----------------------------------------------- 2025-11-23 02:10:00.000000
UDP message received [420] bytes :

INVITE sip:desk@127.0.0.10:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bKPj1
From: "Ann" <sip:0312345678@127.0.0.1>;tag=abc
To: <sip:desk@127.0.0.10>
Call-ID: c1
CSeq: 100 INVITE
Content-Length: 0


----------------------------------------------- 2025-11-23 02:10:00.000100
UDP message sent (300 bytes):

SIP/2.0 180 Ringing
CSeq: 100 INVITE

`
	msgs := parseTrace(trace)
	if len(msgs) != 2 {
		t.Fatalf("parsed %d messages, want 2: %+v", len(msgs), msgs)
	}
	if m := msgs[0]; !m.Received || m.method() != "INVITE" || uriUser(m.header("From", "f")) != "0312345678" || m.header("Call-ID") != "c1" {
		t.Errorf("first message parsed wrongly: %+v", m)
	}
	if m := msgs[1]; !m.Sent || m.status() != 180 || m.cseqMethod() != "INVITE" {
		t.Errorf("second message parsed wrongly: %+v", m)
	}
	for in, want := range map[string]string{
		`"A" <sip:100@h>;tag=x`:                   "100",
		`<sip:anonymous@anonymous.invalid>;tag=1`: "anonymous",
		`sip:+81312345678@h;user=phone`:           "+81312345678",
		`<tel:+81312345678>`:                      "+81312345678",
	} {
		if got := uriUser(in); got != want {
			t.Errorf("uriUser(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAsteriskEndToEnd starts the real Asterisk and the desk phone and
// places real SIP calls. Run with CALLSCREEN_INTEGRATION=1 (or CI=true) as root.
func TestAsteriskEndToEnd(t *testing.T) {
	if os.Getenv("CALLSCREEN_INTEGRATION") != "1" && os.Getenv("CI") != "true" {
		t.Skip("set CALLSCREEN_INTEGRATION=1 (as root) to run against a real Asterisk")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	t0 := time.Now()
	ast, err := StartAsterisk(ctx, AsteriskOptions{
		Log: testWriter{t},
		// An extra DID that reads two digits, to prove DTMF gets through.
		Append: map[string]string{"extensions.conf": `
[from-provider]
exten => 0399990099,1,Answer()
 same => n,Read(DIGITS,,2,,,6)
 same => n,Log(NOTICE,harness-dtmf [${DIGITS}] from ${CALLERID(num)})
 same => n,Hangup()
exten => 0399990098,1,Answer()
 same => n,Set(CHANNEL(language)=ja)
 same => n,Playback(callscreen/callscreen-recording-notice)
 same => n,SayDigits(7)
 same => n,Set(CHANNEL(language)=en)
 same => n,Playback(callscreen/callscreen-recording-notice)
 same => n,Hangup()
`},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Asterisk up in %s", time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("full.log (tail):\n%s", TailLines(ast.FullLog(), 60))
		}
		if err := ast.Stop(); err != nil {
			t.Error(err)
		}
	})
	desk, err := StartDeskPhone(ctx, DeskPhoneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := desk.Stop(); err != nil {
			t.Error(err)
		}
	})

	t.Run("dialplan patterns cover DIDs, E.164 and s", func(t *testing.T) {
		for _, q := range []string{"0312345678@callscreen-inbound", "+81312345678@from-provider", "s@from-provider", "s@callscreen-ring", "+81312345678@callscreen-voicemail"} {
			out, err := ast.CLI(ctx, "dialplan show "+q)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "_[+0-9s]!") {
				t.Errorf("dialplan show %s:\n%s", q, out)
			}
		}
		out, err := ast.CLI(ctx, "dialplan show h@from-provider")
		if err == nil && strings.Contains(out, "_[+0-9s]!") {
			t.Errorf("the catch-all pattern also matches h:\n%s", out)
		}
	})

	t.Run("baseline rings the desk", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDBaseline, FromUser: "0311110001", FromName: "Baseline", Hold: time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if !r.Answered {
			t.Errorf("not answered: %s\n%s", r, r.Log)
		}
		if !desk.Rang("0311110001") {
			t.Errorf("desk phone did not ring; it saw %+v", desk.InviteLog())
		}
	})

	t.Run("unknown source is refused by PJSIP", func(t *testing.T) {
		before := desk.Invites()
		r, err := PlaceCall(ctx, CallSpec{Source: UnknownAddr, To: DIDBaseline, FromUser: "0311110002"})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if r.Final != 401 && r.Final != 403 && r.Final != 404 {
			t.Errorf("final %d, want 401/403/404: %s", r.Final, r)
		}
		if r.Answered || desk.Invites() != before || desk.Rang("0311110002") {
			t.Errorf("a call from an unknown source reached the desk phone")
		}
	})

	t.Run("no Stasis app: callscreen-inbound fails open", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: "0312340000", FromUser: "0311110003", Hold: time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if !r.Answered || !desk.Rang("0311110003") {
			t.Errorf("fail-open did not ring the desk: %s; desk saw %+v", r, desk.InviteLog())
		}
		if log := ast.FullLog(); !strings.Contains(log, "callscreen is not running") {
			t.Errorf("no fail-open warning in full.log")
		}
	})

	t.Run("stranger via public endpoint fails open too", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: StrangerAddr, To: "0312340000", FromUser: "100", Headers: []string{"User-Agent: friendly-scanner"}, Hold: time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if !r.Answered || !desk.Rang("100") {
			t.Errorf("public call did not ring the desk: %s", r)
		}
	})

	t.Run("no FastAGI server: callscreen-agi fails open", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDAGI, FromUser: "0311110007", Hold: time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if !r.Answered || !desk.Rang("0311110007") {
			t.Errorf("FastAGI fail-open did not ring the desk: %s", r)
		}
	})

	t.Run("FastAGI verdicts route the call", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			vars   map[string]string
			final  int
			rings  bool
			caller string
		}{
			{"ring", map[string]string{"SCREEN_ACTION": "ring"}, 200, true, "0311110021"},
			{"reject", map[string]string{"SCREEN_ACTION": "reject"}, 403, false, "0311110022"},
			{"number-request", map[string]string{"SCREEN_ACTION": "number-request"}, 0, false, "0311110023"},
			{"custom context", map[string]string{"SCREEN_ACTION": "ring", "SCREEN_CONTEXT": "callscreen-reject"}, 403, false, "0311110024"},
			{"missing custom context fails open", map[string]string{"SCREEN_CONTEXT": "no-such-context"}, 200, true, "0311110025"},
			{"unknown action fails open", map[string]string{"SCREEN_ACTION": "bogus"}, 200, true, "0311110026"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stop := fakeAGI(t, tc.vars)
				defer stop()
				r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDAGI, FromUser: tc.caller, Hold: time.Second})
				if err != nil {
					t.Fatalf("%v\n%s", err, r.Log)
				}
				t.Log(r)
				// number-request: the AGI server would play the prompt after
				// answering; this fake does not answer, so the hang-up
				// arrives as a final error response.
				if (tc.final != 0 && r.Final != tc.final) || (tc.final == 0 && r.Answered) || desk.Rang(tc.caller) != tc.rings {
					t.Errorf("%s: want final %d, rings %v", r, tc.final, tc.rings)
				}
			})
		}
	})

	t.Run("withheld number arrives as anonymous", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDRing, FromUser: "anonymous", FromName: "Anonymous", FromHost: "anonymous.invalid",
			Headers: []string{"P-Asserted-Identity: <sip:0311110008@127.0.0.2>", "Privacy: id"}, Hold: time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		// trust_id_inbound=no: Asterisk passes the From user on, not the PAI.
		if !r.Answered || !desk.Rang("anonymous") || desk.Rang("0311110008") {
			t.Errorf("%s; desk saw %+v", r, desk.InviteLog())
		}
	})

	t.Run("reject context refuses", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDReject, FromUser: "0311110005"})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if r.Final != 403 || desk.Rang("0311110005") {
			t.Errorf("reject: %s, want 403 and no ring", r)
		}
	})

	t.Run("DTMF reaches the dialplan", func(t *testing.T) {
		for _, digits := range []string{"47", "55"} {
			r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: "0399990099", FromUser: "0311110006", DTMF: digits, Hold: 10 * time.Second})
			if err != nil {
				t.Fatalf("%v\n%s", err, r.Log)
			}
			t.Log(r)
			want := "harness-dtmf [" + digits + "] from 0311110006"
			if !r.Answered || !r.RemoteHangup || !strings.Contains(ast.FullLog(), want) {
				t.Errorf("%s: want %q in full.log", r, want)
			}
		}
	})

	t.Run("callscreen prompts play in en and ja", func(t *testing.T) {
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: "0399990098", FromUser: "0311110010", Hold: 15 * time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		// Asterisk logs the format, not the extension: 'x.slin' for a wav.
		log := ast.FullLog()
		for _, want := range []string{
			`Playing 'callscreen/callscreen-recording-notice\.\w+' \(language 'ja'\)`,
			`Playing 'digits/7\.\w+' \(language 'ja'\)`,
			`Playing 'callscreen/callscreen-recording-notice\.\w+' \(language 'en'\)`,
		} {
			if !regexp.MustCompile(want).MatchString(log) {
				t.Errorf("full.log lacks %q", want)
			}
		}
		if !r.RemoteHangup {
			t.Errorf("prompt DID did not hang up: %s", r)
		}
	})

	t.Run("voicemail keeps a message", func(t *testing.T) {
		before := ast.VoicemailCount("100")
		// The unavailable greeting and instructions take about 13 s before
		// the beep; speech plays throughout, so about 7 s are recorded.
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDVoicemail, FromUser: "0311110004", Audio: true, Hold: 20 * time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if !r.Answered {
			t.Fatalf("voicemail did not answer: %s", r)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := ast.WaitVoicemail(wctx, "100", before+1); err != nil {
			t.Error(err)
		}
		if desk.Rang("0311110004") {
			t.Errorf("voicemail DID rang the desk")
		}
	})

	t.Run("restart", func(t *testing.T) {
		n := ast.VoicemailCount("100")
		if err := ast.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if got := ast.VoicemailCount("100"); got != n {
			t.Errorf("Restart changed the voicemail count from %d to %d", n, got)
		}
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDBaseline, FromUser: "0311110031", Hold: 500 * time.Millisecond})
		if err != nil || !r.Answered || !desk.Rang("0311110031") {
			t.Errorf("call after restart: %v %s", err, r)
		}
	})

	t.Run("desk phone that hangs up", func(t *testing.T) {
		if err := desk.Stop(); err != nil {
			t.Fatal(err)
		}
		d2, err := StartDeskPhone(ctx, DeskPhoneOptions{RingFor: 300 * time.Millisecond, HangupAfter: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer d2.Stop()
		r, err := PlaceCall(ctx, CallSpec{Source: ProviderAddr, To: DIDBaseline, FromUser: "0311110009", Hold: 20 * time.Second})
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Log)
		}
		t.Log(r)
		if !r.Answered || !r.RemoteHangup || r.Duration > 15*time.Second || !d2.Rang("0311110009") {
			t.Errorf("want answered, remote hang-up within 15 s: %s\n%s", r, d2.Trace())
		}
		// The never-answering variant's scenario must load too.
		d3, err := StartDeskPhone(ctx, DeskPhoneOptions{Addr: "127.0.0.11", NoAnswer: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := d3.Stop(); err != nil {
			t.Error(err)
		}
	})
}

// fakeAGI serves FastAGI on 127.0.0.1:4573: it reads the AGI environment,
// sets the given channel variables and ends the session.
func fakeAGI(t *testing.T, vars map[string]string) (stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:4573")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			for {
				l, err := br.ReadString('\n')
				if err != nil || strings.TrimSpace(l) == "" {
					break
				}
			}
			for k, v := range vars {
				fmt.Fprintf(c, "SET VARIABLE %s \"%s\"\n", k, v)
				if _, err := br.ReadString('\n'); err != nil {
					break
				}
			}
			c.Close()
		}
	}()
	return func() { ln.Close(); wg.Wait() }
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestTwoAsterisks runs the default instance and a second one ("b") at
// once from the same chroot: a call into each reaches that instance's own
// dialplan and desk phone, each keeps its own logs and directories, and
// stopping the second leaves the first working.
func TestTwoAsterisks(t *testing.T) {
	if os.Getenv("CALLSCREEN_INTEGRATION") != "1" && os.Getenv("CI") != "true" {
		t.Skip("set CALLSCREEN_INTEGRATION=1 (as root) to run against a real Asterisk")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// The same DID in both, answered by one and refused busy by the other,
	// so that the caller sees which dialplan took the call.
	const didWhich = "0399990097"
	dialplan := func(name, end string) map[string]string {
		return map[string]string{"extensions.conf": `
[from-provider]
exten => ` + didWhich + `,1,Log(NOTICE,harness-instance-` + name + ` from ${CALLERID(num)})
` + end}
	}
	start := func(opts AsteriskOptions) *Asterisk {
		t.Helper()
		t0 := time.Now()
		opts.Log = testWriter{t}
		ast, err := StartAsterisk(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Asterisk %q up in %s at %s", opts.Instance, time.Since(t0).Round(time.Millisecond), ast.SIPAddr)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("instance %q full.log (tail):\n%s", ast.Instance, TailLines(ast.FullLog(), 40))
			}
			if err := ast.Stop(); err != nil {
				t.Errorf("stopping instance %q: %v", ast.Instance, err)
			}
		})
		return ast
	}
	a := start(AsteriskOptions{Append: dialplan("a", " same => n,Answer()\n same => n,Wait(1)\n same => n,Hangup()\n")})
	b := start(AsteriskOptions{Instance: "b", SkipInstall: true, Append: dialplan("b", " same => n,Hangup(17)\n")})

	want := map[string][2]string{
		"Addr":          {a.Addr, AsteriskAddr},
		"SIPAddr":       {a.SIPAddr, AsteriskSIP},
		"ARIURL":        {a.ARIURL, ARIBaseURL},
		"ARIWSURL":      {a.ARIWSURL, ARIWebsocket},
		"DeskPhoneAddr": {a.DeskPhoneAddr, DeskPhoneAddr},
		"b.Addr":        {b.Addr, SecondAsteriskAddr},
		"b.SIPAddr":     {b.SIPAddr, "127.0.0.2:5060"},
		"b.ARIURL":      {b.ARIURL, "http://127.0.0.2:8088/ari"},
		"b.ARIWSURL":    {b.ARIWSURL, "ws://127.0.0.2:8088/ari/events"},
		"b.DeskPhone":   {b.DeskPhoneAddr, SecondDeskPhoneAddr},
		"b.EtcDir":      {b.EtcDir, filepath.Join(b.Root, "etc/asterisk-b")},
		"b.LogDir":      {b.LogDir, filepath.Join(b.Root, "var/log/asterisk-b")},
		"b.SpoolDir":    {b.SpoolDir, filepath.Join(b.Root, "var/spool/asterisk-b")},
	}
	for name, v := range want {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", name, v[0], v[1])
		}
	}
	for _, ast := range []*Asterisk{a, b} {
		if code := HTTPStatus(ctx, ast.ARIURL+"/asterisk/info", ast.ARIUser, ast.ARIPassword); code != 200 {
			t.Errorf("ARI of instance %q at %s answers %d", ast.Instance, ast.ARIURL, code)
		}
		host, _, _ := net.SplitHostPort(ast.SIPAddr)
		if !udpBound(host, SIPPort) {
			t.Errorf("nothing bound to %s", ast.SIPAddr)
		}
	}
	// Each instance says where its state lives.
	for _, tc := range []struct {
		ast  *Asterisk
		want []string
	}{
		{a, []string{"/etc/asterisk\n", "/var/spool/asterisk\n", "/var/log/asterisk\n", "/var/run/asterisk\n"}},
		{b, []string{"/etc/asterisk-b\n", "/var/spool/asterisk-b\n", "/var/log/asterisk-b\n", "/var/run/asterisk-b\n"}},
	} {
		out, err := tc.ast.CLI(ctx, "core show settings")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("instance %q: core show settings lacks %q:\n%s", tc.ast.Instance, strings.TrimSpace(w), out)
			}
		}
	}

	desks := map[*Asterisk]*DeskPhone{}
	for _, ast := range []*Asterisk{a, b} {
		d, err := StartDeskPhone(ctx, DeskPhoneOptions{Addr: ast.DeskPhoneAddr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Stop() })
		desks[ast] = d
	}

	// One call into each instance at the same time, per DID.
	type call struct {
		ast    *Asterisk
		to     string
		caller string
	}
	place := func(calls ...call) []CallResult {
		t.Helper()
		res := make([]CallResult, len(calls))
		errs := make([]error, len(calls))
		var wg sync.WaitGroup
		for i, c := range calls {
			wg.Go(func() {
				res[i], errs[i] = PlaceCall(ctx, CallSpec{Target: c.ast.SIPAddr, To: c.to, FromUser: c.caller, Hold: time.Second})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("call %d into %s: %v\n%s", i, calls[i].ast.SIPAddr, err, res[i].Log)
			}
			t.Logf("into %s: %s", calls[i].ast.SIPAddr, res[i])
		}
		return res
	}

	t.Run("each call reaches its own dialplan", func(t *testing.T) {
		r := place(call{a, didWhich, "0311120001"}, call{b, didWhich, "0311120002"})
		if r[0].Final != 200 {
			t.Errorf("instance a: final %d, want 200 (its dialplan answers)", r[0].Final)
		}
		if r[1].Final != 486 {
			t.Errorf("instance b: final %d, want 486 (its dialplan hangs up busy)", r[1].Final)
		}
		for _, tc := range []struct {
			ast        *Asterisk
			own, other string
		}{
			{a, "harness-instance-a from 0311120001", "harness-instance-b"},
			{b, "harness-instance-b from 0311120002", "harness-instance-a"},
		} {
			log := tc.ast.FullLog()
			if !strings.Contains(log, tc.own) {
				t.Errorf("instance %q full.log lacks %q", tc.ast.Instance, tc.own)
			}
			if strings.Contains(log, tc.other) {
				t.Errorf("instance %q full.log shows the other instance's call (%q)", tc.ast.Instance, tc.other)
			}
		}
	})

	t.Run("each rings its own desk phone", func(t *testing.T) {
		r := place(call{a, DIDRing, "0311120011"}, call{b, DIDRing, "0311120012"})
		for i, want := range []struct {
			ast          *Asterisk
			rang, silent string
		}{{a, "0311120011", "0311120012"}, {b, "0311120012", "0311120011"}} {
			d := desks[want.ast]
			if !r[i].Answered || !d.Rang(want.rang) {
				t.Errorf("instance %q: %s; its desk phone (%s) saw %+v", want.ast.Instance, r[i], d.Addr, d.InviteLog())
			}
			if d.Rang(want.silent) {
				t.Errorf("instance %q's desk phone rang for the other instance's caller %s", want.ast.Instance, want.silent)
			}
		}
	})

	t.Run("the first instance outlives the second", func(t *testing.T) {
		if err := b.Stop(); err != nil {
			t.Fatal(err)
		}
		if !isMounted(filepath.Join(a.Root, "proc")) || !isMounted(filepath.Join(a.Root, "dev")) {
			t.Fatal("stopping instance b unmounted /proc or /dev under instance a")
		}
		r := place(call{a, DIDRing, "0311120021"})
		if !r[0].Answered || !desks[a].Rang("0311120021") {
			t.Errorf("instance a after b stopped: %s", r[0])
		}
		if ok, err := a.Exited(); ok {
			t.Errorf("instance a exited: %v", err)
		}
	})
}

// TestProcessInstance checks how killStale tells the instances' processes
// apart: by the -C argument of a named instance.
func TestProcessInstance(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", "sleep 5; :", "-C", "/etc/asterisk-b/asterisk.conf", "-f"}, "b"},
		{[]string{"-c", "sleep 5; :", "-C", "/etc/asterisk-fleet2/asterisk.conf", "-rx", "core show uptime"}, "fleet2"},
		{[]string{"-c", "sleep 5; :", "-f", "-n", "-g"}, ""},
		{[]string{"-c", "sleep 5; :", "-C", "/etc/asterisk/asterisk.conf"}, ""},
		{[]string{"-c", "sleep 5; :", "-C"}, ""},
	} {
		cmd := exec.Command("sh", tc.args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Until the child has exec'd, /proc shows the test binary's
		// command line.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid)); err == nil && strings.HasPrefix(string(b), "sh\x00") {
				break
			}
		}
		got := processInstance(cmd.Process.Pid)
		cmd.Process.Kill()
		cmd.Wait()
		if got != tc.want {
			t.Errorf("processInstance(sh %q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestInstanceConfig checks the rewrite of Debian's asterisk.conf and
// manager.conf for a named instance.
func TestInstanceConfig(t *testing.T) {
	const debian = `; In order for Asterisk to process the [directories](!) stanza below,
; remove the (!)
[directories](!)
astcachedir => /var/cache/asterisk
astetcdir => /etc/asterisk
astmoddir => /usr/lib/x86_64-linux-gnu/asterisk/modules
astvarlibdir => /var/lib/asterisk
astdbdir => /var/lib/asterisk
astkeydir => /var/lib/asterisk
astdatadir => /usr/share/asterisk
astspooldir => /var/spool/asterisk
astrundir => /var/run/asterisk
astlogdir => /var/log/asterisk
[options]
;verbose = 3
`
	const manager = "[general]\nenabled = yes\nport = 5038\nbindaddr = 127.0.0.1\n"
	a := &Asterisk{Instance: "b", Addr: "127.0.0.2", dirs: dirsFor("b")}
	files := map[string]string{"asterisk.conf": debian, "manager.conf": manager}
	if err := a.instanceConfig(files); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\n[directories]\n",
		"\nastcachedir => /var/cache/asterisk-b\n",
		"\nastetcdir => /etc/asterisk-b\n",
		"\nastmoddir => /usr/lib/x86_64-linux-gnu/asterisk/modules\n",
		"\nastvarlibdir => /var/lib/asterisk\n",
		"\nastdbdir => /var/lib/asterisk-b\n",
		"\nastdatadir => /usr/share/asterisk\n",
		"\nastspooldir => /var/spool/asterisk-b\n",
		"\nastrundir => /var/run/asterisk-b\n",
		"\nastlogdir => /var/log/asterisk-b\n",
	} {
		if !strings.Contains(files["asterisk.conf"], want) {
			t.Errorf("asterisk.conf lacks %q:\n%s", want, files["asterisk.conf"])
		}
	}
	if want := "\nbindaddr = 127.0.0.2\n"; !strings.Contains(files["manager.conf"], want) {
		t.Errorf("manager.conf lacks %q:\n%s", want, files["manager.conf"])
	}

	// A Debian file that changed shape is an error, not a silent no-op.
	for name, conf := range map[string]string{
		"no astrundir":   strings.Replace(debian, "astrundir => /var/run/asterisk\n", "", 1),
		"no directories": strings.Replace(debian, "[directories](!)\n", "", 1),
	} {
		if err := a.instanceConfig(map[string]string{"asterisk.conf": conf}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
