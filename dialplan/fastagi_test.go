package dialplan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// parseAGIArgs splits an AGI command line the way Asterisk's res_agi
// parse_args does, so that the tests see what Asterisk would store.
func parseAGIArgs(s string) []string {
	var argv []string
	quoted, escaped, white := false, false, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		normal := false
		switch c {
		case '"':
			if escaped {
				normal = true
				break
			}
			quoted = !quoted
			if quoted && white {
				argv = append(argv, "")
				white = false
			}
			escaped = false
		case ' ', '\t':
			if !quoted && !escaped {
				white = true
			} else {
				normal = true
			}
		case '\\':
			if escaped {
				normal = true
			} else {
				escaped = true
			}
		default:
			normal = true
		}
		if normal {
			if white {
				argv = append(argv, "")
				white = false
			}
			argv[len(argv)-1] += string([]byte{c})
			escaped = false
		}
	}
	return argv
}

// Caller behaviours at a challenge.
const (
	keyNone  = ""
	keyRight = "right"
	keyWrong = "wrong"
)

// fakeAsterisk plays Asterisk's side of one FastAGI session, answering
// each command line as res_agi does. Commands are read by their own
// goroutine, as a socket buffer would hold them, so that a test over
// net.Pipe cannot deadlock where TCP would not.
type fakeAsterisk struct {
	env []string
	// vars is what GET FULL VARIABLE ${name} expands to; absent names
	// expand to "".
	vars map[string]string
	// pressDuring and pressAfter are the challenged caller's behaviour:
	// a key during the "digits/N" prompt, or in WAIT FOR DIGIT.
	pressDuring, pressAfter string
	// hangupAt makes the caller hang up during the first command whose
	// line starts with it ("STREAM FILE", "WAIT FOR DIGIT"), or at once
	// after the environment when it is "start".
	hangupAt string
	// missing sounds answer STREAM FILE with -1 on a live channel.
	missing map[string]bool
	// delay holds the answer to commands starting with a key.
	delay map[string]time.Duration
	// block holds every STREAM FILE answer until it is closed.
	block chan struct{}
	// noArray is an Asterisk without the ARRAY() function: a SET VARIABLE
	// of it answers success and sets nothing.
	noArray bool
	// stall holds Asterisk before it reads the first command (a busy
	// machine). stdio reads commands as res_agi does, through a stdio
	// buffer while waiting on the socket: a read takes every command that
	// has arrived, and those after the first wait in the buffer, unseen,
	// until the socket has something new.
	stall time.Duration
	stdio bool

	mu        sync.Mutex
	cmds      []string
	set       map[string]string
	dead      bool
	lastDigit int
}

func newFakeAsterisk(env ...string) *fakeAsterisk {
	return &fakeAsterisk{env: env, vars: map[string]string{}, set: map[string]string{}}
}

// agiEnv returns an Asterisk 22 FastAGI environment with overrides
// ("key", "value" pairs; an empty value drops the key).
func agiEnv(overrides ...string) []string {
	keys := []string{"agi_network", "agi_network_script", "agi_request", "agi_channel", "agi_language",
		"agi_type", "agi_uniqueid", "agi_version", "agi_callerid", "agi_calleridname", "agi_callingpres",
		"agi_callingani2", "agi_callington", "agi_callingtns", "agi_dnid", "agi_rdnis", "agi_context",
		"agi_extension", "agi_priority", "agi_enhanced", "agi_accountcode", "agi_threadid"}
	vals := map[string]string{
		"agi_network": "yes", "agi_network_script": "screen?profile=default",
		"agi_request": "agi://127.0.0.1:4573/screen?profile=default",
		"agi_channel": "PJSIP/provider-00000001", "agi_language": "en", "agi_type": "PJSIP",
		"agi_uniqueid": "1700000000.1", "agi_version": "22.0.0", "agi_callerid": "0312345678",
		"agi_calleridname": "Tanaka", "agi_callingpres": "0", "agi_callingani2": "0",
		"agi_callington": "0", "agi_callingtns": "0", "agi_dnid": "0501234567", "agi_rdnis": "unknown",
		"agi_context": "callscreen-agi", "agi_extension": "0501234567", "agi_priority": "8",
		"agi_enhanced": "0.0", "agi_accountcode": "", "agi_threadid": "140000000000000",
	}
	for i := 0; i+1 < len(overrides); i += 2 {
		if _, ok := vals[overrides[i]]; !ok {
			keys = append(keys, overrides[i])
		}
		vals[overrides[i]] = overrides[i+1]
	}
	var env []string
	for _, k := range keys {
		if v, ok := vals[k]; ok && (v != "" || k == "agi_accountcode") {
			env = append(env, k+": "+v)
		}
	}
	return env
}

// run serves conn until the server closes it.
func (f *fakeAsterisk) run(conn net.Conn) {
	defer conn.Close()
	w := bufio.NewWriter(conn)
	for _, l := range f.env {
		w.WriteString(l + "\n")
	}
	w.WriteString("\n")
	if f.hangupAt == "start" {
		f.dead = true
		w.WriteString("HANGUP\n")
	}
	if w.Flush() != nil {
		return
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		br := bufio.NewReader(conn)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			lines <- strings.TrimSuffix(l, "\n")
		}
	}()
	var buffered []string // stdio: read from the socket, not yet handled
	for l := range lines {
		if f.stall > 0 {
			time.Sleep(f.stall)
			f.stall = 0
		}
		if f.stdio {
			buffered = append(buffered, l)
			for len(lines) > 0 {
				buffered = append(buffered, <-lines)
			}
			l, buffered = buffered[0], buffered[1:]
		}
		f.mu.Lock()
		f.cmds = append(f.cmds, l)
		f.mu.Unlock()
		for prefix, d := range f.delay {
			if strings.HasPrefix(l, prefix) {
				time.Sleep(d)
			}
		}
		if f.block != nil && strings.HasPrefix(l, "STREAM FILE") {
			<-f.block
		}
		for _, out := range f.answer(l) {
			w.WriteString(out + "\n")
		}
		if w.Flush() != nil {
			return
		}
	}
}

// answer returns Asterisk's answer lines to one command.
func (f *fakeAsterisk) answer(line string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	argv := parseAGIArgs(line)
	cmd := strings.ToUpper(strings.Join(argv[:min(len(argv), 3)], " "))
	hangsUp := !f.dead && f.hangupAt != "" && strings.HasPrefix(line, f.hangupAt)
	deadOK := strings.HasPrefix(cmd, "SET VARIABLE") || strings.HasPrefix(cmd, "GET FULL VARIABLE") || strings.HasPrefix(cmd, "NOOP")
	if f.dead && !deadOK {
		return []string{"511 Command Not Permitted on a dead channel or intercept routine"}
	}
	key := func(how string) int {
		switch how {
		case keyRight:
			return '0' + f.lastDigit
		case keyWrong:
			return '0' + (f.lastDigit%9 + 1)
		}
		return 0
	}
	switch {
	case cmd == "ANSWER":
		return []string{"200 result=0"}
	case cmd == "CHANNEL STATUS":
		return []string{"200 result=6"}
	case strings.HasPrefix(cmd, "STREAM FILE") && len(argv) == 4:
		sound, escape := argv[2], argv[3]
		if hangsUp {
			f.dead = true
			return []string{"200 result=-1 endpos=1200", "HANGUP"}
		}
		if f.missing[sound] {
			return []string{"200 result=-1 endpos=0"}
		}
		if d, ok := strings.CutPrefix(sound, "digits/"); ok {
			f.lastDigit, _ = strconv.Atoi(d)
			if k := key(f.pressDuring); k != 0 && strings.ContainsRune(escape, rune(k)) {
				return []string{fmt.Sprintf("200 result=%d endpos=800", k)}
			}
		}
		return []string{"200 result=0 endpos=16000"}
	case strings.HasPrefix(cmd, "WAIT FOR DIGIT") && len(argv) == 4:
		if hangsUp {
			f.dead = true
			return []string{"200 result=-1", "HANGUP"}
		}
		return []string{fmt.Sprintf("200 result=%d", key(f.pressAfter))}
	case strings.HasPrefix(cmd, "SET VARIABLE") && len(argv) == 4:
		if list, ok := strings.CutPrefix(argv[2], "ARRAY("); ok {
			if !f.noArray {
				vals := strings.Split(argv[3], ",")
				for i, name := range strings.Split(strings.TrimSuffix(list, ")"), ",") {
					f.set[name] = ""
					if i < len(vals) {
						f.set[name] = vals[i]
					}
				}
			}
			return []string{"200 result=1"}
		}
		f.set[argv[2]] = argv[3]
		return []string{"200 result=1"}
	case strings.HasPrefix(cmd, "GET FULL VARIABLE") && len(argv) == 4:
		name := strings.TrimSuffix(strings.TrimPrefix(argv[3], "${"), "}")
		v, ok := f.set[name]
		if !ok {
			v = f.vars[name]
		}
		return []string{"200 result=1 (" + v + ")"}
	case strings.HasPrefix(cmd, "RECORD FILE") && len(argv) >= 6:
		return []string{"200 result=0 (timeout) endpos=24000"}
	}
	return []string{"510 Invalid or unknown command"}
}

func (f *fakeAsterisk) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cmds)
}

func (f *fakeAsterisk) variables() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]string, len(f.set))
	for k, v := range f.set {
		m[k] = v
	}
	return m
}

// agiTestOptions are a FastAGI's and its Handler's options.
type agiTestOptions struct {
	HandlerOptions
	FastAGIOptions
}

func newTestFastAGI(o agiTestOptions) *FastAGI {
	return NewFastAGI(NewHandler(o.HandlerOptions), o.FastAGIOptions)
}

// session runs one FastAGI session between a and f over net.Pipe and
// returns the call's record, if one was written.
func session(t *testing.T, f *fakeAsterisk, eng Evaluator, mod func(*agiTestOptions)) (screening.Record, bool, remembered) {
	t.Helper()
	recs := &records{c: make(chan screening.Record, 10)}
	rem := remembered{c: make(chan screening.Entry, 10)}
	o := agiTestOptions{HandlerOptions: HandlerOptions{Evaluator: eng, Recorder: recs, Rememberer: rem}}
	if mod != nil {
		mod(&o)
	}
	a := newTestFastAGI(o)
	srv, cli := net.Pipe()
	done := make(chan struct{})
	go func() { f.run(cli); close(done) }()
	finished := make(chan struct{})
	go func() { a.serveConn(context.Background(), srv, false); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the FastAGI session did not end")
	}
	<-done
	select {
	case r := <-recs.c:
		return r, true, rem
	default:
		return screening.Record{}, false, rem
	}
}

func TestFastAGISession(t *testing.T) {
	headers := map[string]string{
		"CALLERID(num)":                 "0312345678",
		"CALLERID(pres)":                "allowed_not_screened",
		"PJSIP_HEADER(read,User-Agent)": "friendly-scanner",
		"CHANNEL(endpoint)":             "provider",
	}
	withheld := map[string]string{
		"CALLERID(num)":              "anonymous",
		"CALLERID(name)":             "Anonymous",
		"PJSIP_HEADER(read,From)":    `"Anonymous" <sip:anonymous@anonymous.invalid>`,
		"PJSIP_HEADER(read,Privacy)": "id",
	}
	tests := []struct {
		name   string
		action screening.Action
		env    []string
		vars   map[string]string
		setup  func(*fakeAsterisk)
		// want
		outcome  screening.Outcome
		taken    screening.Action
		detail   string // substring of the record's detail
		set      map[string]string
		unset    []string // variables that must not have been set
		sent     []string // commands that must have been sent, in order
		notSent  []string // command prefixes that must not have been sent
		number   string
		ua       string // the User-Agent gathered
		remember bool
	}{
		{
			name: "clean ring", action: screening.Ring, vars: headers,
			outcome: screening.OutcomeRang, taken: screening.Ring, number: "0312345678", ua: "friendly-scanner",
			set: map[string]string{VarAction: "ring", VarContext: "callscreen-ring", VarExten: "0501234567",
				VarPriority: "1", VarHangupCause: "", VarID: "1700000000.1", VarProfile: "default"},
			notSent: []string{"ANSWER", "STREAM FILE", "HANGUP"},
		},
		{
			name: "withheld gets the number request", action: screening.NumberRequest,
			env: agiEnv("agi_callerid", "unknown", "agi_calleridname", "unknown"), vars: withheld,
			outcome: screening.OutcomeAnnounced, taken: screening.NumberRequest, number: "anonymous",
			set:     map[string]string{VarAction: "number-request", VarHangupCause: "16", VarContext: "", VarLanguage: "en"},
			sent:    []string{"ANSWER", `STREAM FILE "callscreen/callscreen-number-request" ""`},
			notSent: []string{"HANGUP"},
		},
		{
			name: "challenge: right key during the prompt", action: screening.Challenge, vars: headers,
			setup:   func(f *fakeAsterisk) { f.pressDuring = keyRight },
			outcome: screening.OutcomeChallengePassed, taken: screening.Ring, detail: "pressed",
			set:      map[string]string{VarAction: "ring", VarChallenge: "passed", VarContext: "callscreen-ring"},
			sent:     []string{"ANSWER", `STREAM FILE "callscreen/callscreen-press-digit" "0123456789*#"`},
			notSent:  []string{"WAIT FOR DIGIT"},
			remember: true,
		},
		{
			name: "challenge: right key after the prompt", action: screening.Challenge, vars: headers,
			setup:   func(f *fakeAsterisk) { f.pressAfter = keyRight },
			outcome: screening.OutcomeChallengePassed, taken: screening.Ring,
			set:      map[string]string{VarChallenge: "passed", VarContext: "callscreen-ring"},
			sent:     []string{"WAIT FOR DIGIT 5000"},
			remember: true,
		},
		{
			name: "challenge: wrong key twice", action: screening.Challenge, vars: headers,
			setup:   func(f *fakeAsterisk) { f.pressDuring = keyWrong },
			outcome: screening.OutcomeChallengeFailed, taken: screening.Voicemail, detail: "wrong digit",
			set:  map[string]string{VarAction: "voicemail", VarChallenge: "failed", VarContext: "callscreen-voicemail", VarHangupCause: ""},
			sent: []string{`STREAM FILE "callscreen/callscreen-wrong-digit" ""`},
		},
		{
			name: "challenge: no key", action: screening.Challenge, vars: headers,
			outcome: screening.OutcomeChallengeFailed, taken: screening.Voicemail, detail: "no answer (attempt 2 of 2)",
			set:  map[string]string{VarChallenge: "failed", VarContext: "callscreen-voicemail"},
			sent: []string{"WAIT FOR DIGIT 5000", "WAIT FOR DIGIT 5000"},
		},
		{
			name: "caller hangs up during the announcement", action: screening.NumberRequest, vars: withheld,
			setup:   func(f *fakeAsterisk) { f.hangupAt = "STREAM FILE" },
			outcome: screening.OutcomeAbandoned, taken: screening.NumberRequest, detail: "hangup during prompt",
			set:     map[string]string{VarAction: "number-request"},
			unset:   []string{VarContext, VarHangupCause},
			notSent: []string{"HANGUP"},
		},
		{
			name: "caller hangs up waiting for the key", action: screening.Challenge, vars: headers,
			setup:   func(f *fakeAsterisk) { f.hangupAt = "WAIT FOR DIGIT" },
			outcome: screening.OutcomeAbandoned, detail: "hangup during challenge prompt",
			unset: []string{VarContext, VarHangupCause},
		},
		{
			name: "caller hung up before the verdict", action: screening.Ring, vars: headers,
			setup:   func(f *fakeAsterisk) { f.hangupAt = "start" },
			outcome: screening.OutcomeAbandoned, taken: screening.Ring, ua: "friendly-scanner",
			set: map[string]string{VarAction: "ring"},
		},
		{
			name: "missing prompt fails open", action: screening.NumberRequest, vars: withheld,
			setup: func(f *fakeAsterisk) {
				f.missing = map[string]bool{"callscreen/callscreen-number-request": true}
			},
			outcome: screening.OutcomeError, taken: screening.Ring, detail: "stream file callscreen/callscreen-number-request failed",
			set:  map[string]string{VarAction: "ring", VarContext: "callscreen-ring", VarHangupCause: ""},
			sent: []string{"CHANNEL STATUS"},
		},
		{
			name: "profile as the first AGI argument", action: screening.Ring, vars: headers,
			env:     agiEnv("agi_network_script", "screen", "agi_arg_1", "public"),
			outcome: screening.OutcomeRang, taken: screening.Ring,
			set: map[string]string{VarProfile: "public", VarContext: "callscreen-ring"},
		},
		{
			name: "garbage in the environment still screens", action: screening.Ring,
			env: agiEnv("agi_network_script", "screen?profile=%zz&x", "agi_uniqueid", "",
				"agi_calleridname", `"Evil" \"; Hangup() ${X}`+"\x00\xff", "agi_extension", "+81 (50) 1234"),
			outcome: screening.OutcomeRang, taken: screening.Ring,
			set: map[string]string{VarAction: "ring", VarExten: "+81 (50) 1234", VarPriority: "1"},
		},
		{
			name: "unknown script rings unscreened", action: screening.Reject, vars: headers,
			env: agiEnv("agi_network_script", "admin?profile=default"),
			set: map[string]string{VarAction: "ring"}, unset: []string{VarContext, VarHangupCause, VarScore},
			notSent: []string{"GET FULL VARIABLE", "ANSWER"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env
			if env == nil {
				env = agiEnv()
			}
			f := newFakeAsterisk(env...)
			for k, v := range tc.vars {
				f.vars[k] = v
			}
			if tc.setup != nil {
				tc.setup(f)
			}
			eng := &fixedEngine{action: tc.action}
			rec, recorded, rem := session(t, f, eng, nil)
			cmds := f.commands()
			vars := f.variables()

			if tc.outcome == "" {
				if recorded {
					t.Errorf("recorded %+v, want no record", rec)
				}
			} else {
				if !recorded {
					t.Fatalf("no record; commands %q", cmds)
				}
				if rec.Mode != screening.ModeAGI || rec.Outcome != tc.outcome || (tc.taken != "" && rec.Taken != tc.taken) {
					t.Errorf("record mode/outcome/taken = %s/%s/%s (%s), want agi/%s/%s", rec.Mode, rec.Outcome, rec.Taken, rec.Detail, tc.outcome, tc.taken)
				}
				if !strings.Contains(rec.Detail, tc.detail) {
					t.Errorf("detail = %q, want it to contain %q", rec.Detail, tc.detail)
				}
				if rec.ID == "" || rec.Facts.ID != rec.ID || rec.Verdict.CallID != rec.ID {
					t.Errorf("record ids %q/%q/%q", rec.ID, rec.Facts.ID, rec.Verdict.CallID)
				}
				if tc.ua != "" && (rec.Facts.UserAgent != tc.ua || rec.Facts.Presentation != "allowed_not_screened") {
					t.Errorf("facts user agent/presentation = %q/%q, want %q", rec.Facts.UserAgent, rec.Facts.Presentation, tc.ua)
				}
				if tc.number != "" && rec.Facts.Number != tc.number {
					t.Errorf("facts number = %q, want %q", rec.Facts.Number, tc.number)
				}
			}
			for k, want := range tc.set {
				if got, ok := vars[k]; !ok || got != want {
					t.Errorf("%s = %q (set %v), want %q", k, got, ok, want)
				}
			}
			for _, k := range tc.unset {
				if v, ok := vars[k]; ok && v != "" {
					t.Errorf("%s = %q, want it unset", k, v)
				}
			}
			if _, ok := vars[VarAction]; !ok {
				t.Errorf("the session ended without %s", VarAction)
			}
			i := 0
			for _, c := range cmds {
				if i < len(tc.sent) && c == tc.sent[i] {
					i++
				}
			}
			if i < len(tc.sent) {
				t.Errorf("commands %q: want %q in order", cmds, tc.sent)
			}
			for _, c := range cmds {
				for _, p := range tc.notSent {
					if strings.HasPrefix(c, p) {
						t.Errorf("sent %q; want no %s", c, p)
					}
				}
			}
			select {
			case e := <-rem.c:
				if !tc.remember {
					t.Errorf("remembered %+v", e)
				}
			default:
				if tc.remember {
					t.Error("the caller who passed was not remembered")
				}
			}
		})
	}
}

// TestFastAGIFactsMatchARI checks that the AGI environment and Gather
// give the engine the facts ARI would: the same headers, and CALLERID()
// read through GET FULL VARIABLE where the environment says "unknown".
func TestFastAGIFactsMatchARI(t *testing.T) {
	f := newFakeAsterisk(agiEnv("agi_callerid", "unknown", "agi_calleridname", "unknown")...)
	f.vars = map[string]string{
		"CALLERID(num)":                          "",
		"CALLERID(name)":                         "",
		"CALLERID(pres)":                         "prohib_not_screened",
		"PJSIP_HEADER(read,From)":                `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=x`,
		"PJSIP_HEADER(read,P-Asserted-Identity)": "<sip:+81312345678@10.0.0.1;user=phone>",
		"PJSIP_HEADER(read,Privacy)":             "id",
		"CHANNEL(pjsip,remote_addr)":             "127.0.0.2:5060",
		"CHANNEL(endpoint)":                      "provider",
		"STIR_SHAKEN(count)":                     "1",
		"STIR_SHAKEN(0,attestation)":             "A",
		"STIR_SHAKEN(0,verify_result)":           "Verification successful",
	}
	eng := &fixedEngine{action: screening.Ring}
	rec, ok, _ := session(t, f, eng, nil)
	if !ok {
		t.Fatal("no record")
	}
	want := screening.Facts{
		ID: "1700000000.1", Time: rec.Facts.Time, Called: "0501234567", Presentation: "prohib_not_screened",
		From: `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=x`, PAI: "<sip:+81312345678@10.0.0.1;user=phone>",
		Privacy: "id", Source: "127.0.0.2:5060", Trunk: "provider",
		Stir: []screening.StirResult{{Attestation: "A", VerifyResult: "Verification successful"}},
	}
	if fmt.Sprintf("%+v", rec.Facts) != fmt.Sprintf("%+v", want) {
		t.Errorf("facts\n got %+v\nwant %+v", rec.Facts, want)
	}
	if len(eng.facts) != 1 || eng.facts[0].PAI != want.PAI {
		t.Errorf("engine saw %+v", eng.facts)
	}
}

func TestQuoteAGI(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"", ""},
		{"two words", "two words"},
		{`say "hi"`, `say "hi"`},
		{`back\slash\`, `back\slash\`},
		{`\"`, `\"`},
		{"line\nbreak\r\n", "linebreak"},
		{"nul\x00tab\tdel\x7f", "nultabdel"},
		{"日本語 ﾃｽﾄ", "日本語 ﾃｽﾄ"},
		{`a" SET VARIABLE SCREEN_ACTION "ring`, `a" SET VARIABLE SCREEN_ACTION "ring`},
	}
	for _, tc := range tests {
		line := "SET VARIABLE X " + quoteAGI(tc.in)
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("quoteAGI(%q) = %q: holds a line break", tc.in, quoteAGI(tc.in))
		}
		argv := parseAGIArgs(line)
		if len(argv) != 4 || argv[3] != tc.want {
			t.Errorf("quoteAGI(%q): Asterisk reads %q, want [SET VARIABLE X %q]", tc.in, argv, tc.want)
		}
	}
}

// TestAGISetVarsQuoted sets hostile values through the channel and checks
// what the fake Asterisk stored.
func TestAGISetVarsQuoted(t *testing.T) {
	values := map[string]string{
		"A": `quote " and backslash \ and $[1+1] ${EXTEN}`,
		"B": "newline\nSET VARIABLE SCREEN_ACTION ring",
		"C": "",
		"D": "  spaces  ",
	}
	f := newFakeAsterisk(agiEnv()...)
	srv, cli := net.Pipe()
	go f.run(cli)
	ch, _, err := openAGI(srv, time.Second, "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.SetVars(context.Background(), values); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	got := f.variables()
	want := map[string]string{
		"A": values["A"], "B": "newlineSET VARIABLE SCREEN_ACTION ring", "C": "", "D": "  spaces  ",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if _, ok := got[VarAction]; ok {
		t.Errorf("a value injected %s", VarAction)
	}
}

// TestAGIStaleAnswerSkipped: an answer that comes after its command timed
// out must not be taken for the answer to the next command.
func TestAGIStaleAnswerSkipped(t *testing.T) {
	f := newFakeAsterisk(agiEnv()...)
	f.vars["SLOW"], f.vars["FAST"] = "slow-value", "fast-value"
	f.delay = map[string]time.Duration{`GET FULL VARIABLE "${SLOW}"`: 200 * time.Millisecond}
	srv, cli := net.Pipe()
	go f.run(cli)
	defer srv.Close()
	ch, _, err := openAGI(srv, time.Second, "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, _, err = ch.Get(ctx, "SLOW")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow Get: %v, want the deadline", err)
	}
	v, ok, err := ch.Get(context.Background(), "FAST")
	if err != nil || !ok || v != "fast-value" {
		t.Errorf("next Get = %q, %v, %v; want fast-value", v, ok, err)
	}
}

// lateConn is a connection whose next write is held back, as a goroutine
// descheduled on a busy machine between deciding to send a command and
// sending it.
type lateConn struct {
	net.Conn
	hold atomic.Int64 // nanoseconds the next write waits
}

func (c *lateConn) Write(p []byte) (int, error) {
	if d := c.hold.Swap(0); d > 0 {
		time.Sleep(time.Duration(d))
	}
	return c.Conn.Write(p)
}

// TestAGILateWriteKeepsSession: a Gather read whose write went out after
// Gather's short deadline had passed must not break the session: the
// verdict written next, under the call's own deadline, must still reach
// Asterisk. On a burst of calls this lost a withheld caller's verdict
// and its fail-open alike ("SET VARIABLE: ... write: i/o timeout").
func TestAGILateWriteKeepsSession(t *testing.T) {
	f := newFakeAsterisk(agiEnv()...)
	f.vars["CALLERID(pres)"] = "prohib"
	srv, cli := net.Pipe()
	go f.run(cli)
	defer srv.Close()
	conn := &lateConn{Conn: srv}
	ch, _, err := openAGI(conn, time.Second, "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	conn.hold.Store(int64(200 * time.Millisecond))
	_, _, err = ch.Get(ctx, "CALLERID(pres)")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("late Get: %v, want the deadline", err)
	}
	if err := ch.SetVars(context.Background(), map[string]string{VarAction: "number_request"}); err != nil {
		t.Fatalf("SetVars after a late write: %v", err)
	}
	if got := f.variables()[VarAction]; got != "number_request" {
		t.Errorf("%s = %q, want number_request", VarAction, got)
	}
	v, ok, err := ch.Get(context.Background(), "CALLERID(pres)")
	if err != nil || !ok || v != "prohib" {
		t.Errorf("next Get = %q, %v, %v; want prohib (the late answer skipped)", v, ok, err)
	}
}

// TestAGIOneCommandAtATime: after a command timed out (Gather's short
// deadline while Asterisk was held up), the next command goes out only
// once Asterisk has answered the first. Sent at once, both reach
// Asterisk's stdio buffer in one read and the second waits there unseen:
// the verdict never arrived and the call hung until its deadline.
func TestAGIOneCommandAtATime(t *testing.T) {
	for _, stdio := range []bool{false, true} {
		t.Run(fmt.Sprintf("stdio=%v", stdio), func(t *testing.T) {
			f := newFakeAsterisk(agiEnv()...)
			f.vars["CALLERID(num)"] = "0312345678"
			f.stall, f.stdio = 200*time.Millisecond, stdio
			srv, cli := net.Pipe()
			go f.run(cli)
			defer srv.Close()
			ch, _, err := openAGI(srv, time.Second, "/tmp")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			_, _, err = ch.Get(ctx, "CALLERID(num)")
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Get while Asterisk is held up: %v, want the deadline", err)
			}
			ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			if err := ch.SetVars(ctx, map[string]string{VarAction: "ring"}); err != nil {
				t.Fatalf("SetVars after a timed-out command: %v (after %s)", err, time.Since(start).Round(time.Millisecond))
			}
			if got := f.variables()[VarAction]; got != "ring" {
				t.Errorf("%s = %q, want ring", VarAction, got)
			}
			// The session is in step: the next answer is the next command's.
			v, ok, err := ch.Get(ctx, "CALLERID(num)")
			if err != nil || !ok || v != "0312345678" {
				t.Errorf("next Get = %q, %v, %v; want 0312345678", v, ok, err)
			}
		})
	}
}

func TestParseAGIRequest(t *testing.T) {
	tests := []struct {
		name             string
		env              map[string]string
		ok               bool
		script, profile  string
		number, nameWant string
	}{
		{"query", map[string]string{"agi_request": "agi://h/screen?profile=shop", "agi_network_script": "screen?profile=shop", "agi_callerid": "0312345678"},
			true, "screen", "shop", "0312345678", ""},
		{"argument", map[string]string{"agi_channel": "PJSIP/x", "agi_network_script": "screen", "agi_arg_1": "public"},
			true, "screen", "public", "", ""},
		{"query wins over argument", map[string]string{"agi_channel": "PJSIP/x", "agi_network_script": "/screen/?profile=a", "agi_arg_1": "b"},
			true, "screen", "a", "", ""},
		{"unknown caller ID left to Gather", map[string]string{"agi_channel": "PJSIP/x", "agi_callerid": "unknown", "agi_calleridname": "unknown"},
			true, "", "", "", ""},
		{"not Asterisk", map[string]string{"Host": "example.com", "User-Agent": "curl"}, false, "", "", "", ""},
		{"long profile cut", map[string]string{"agi_channel": "x", "agi_network_script": "screen?profile=" + strings.Repeat("p", 500)},
			true, "screen", strings.Repeat("p", maxProfileName), "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := parseAGIRequest(tc.env)
			if ok != tc.ok || r.script != tc.script || r.profile != tc.profile || r.number != tc.number || r.name != tc.nameWant {
				t.Errorf("parseAGIRequest = %+v, %v", r, ok)
			}
		})
	}
}

// serveFastAGI runs Serve on a loopback listener until the test ends.
type served struct {
	addr   string
	recs   *records
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func serveFastAGI(t *testing.T, eng Evaluator, mod func(*agiTestOptions)) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &served{addr: ln.Addr().String(), recs: &records{c: make(chan screening.Record, 10)}, done: make(chan struct{})}
	o := agiTestOptions{HandlerOptions: HandlerOptions{Evaluator: eng, Recorder: s.recs}}
	if mod != nil {
		mod(&o)
	}
	a := newTestFastAGI(o)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.err = a.Serve(ctx, ln); close(s.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return s
}

// call runs a fake Asterisk session against the server.
func (s *served) call(t *testing.T, f *fakeAsterisk) <-chan struct{} {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { f.run(conn); close(done) }()
	return done
}

func TestFastAGIIdleClientDoesNotBlock(t *testing.T) {
	s := serveFastAGI(t, &fixedEngine{action: screening.Ring}, func(o *agiTestOptions) { o.ReadTimeout = time.Second })

	idle, err := net.Dial("tcp", s.addr) // a port scanner: connects, says nothing
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	start := time.Now()
	f := newFakeAsterisk(agiEnv()...)
	s.call(t, f)
	r := waitRecord(t, s.recs)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("the call took %s behind an idle client", took)
	}
	if r.Outcome != screening.OutcomeRang {
		t.Errorf("outcome = %s (%s)", r.Outcome, r.Detail)
	}

	// The idle client is dropped after ReadTimeout, having been sent
	// nothing.
	idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := idle.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("idle client read %d bytes, %v; want EOF", n, err)
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 2*time.Second {
		t.Errorf("idle client dropped after %s, want about ReadTimeout (1s)", took)
	}
}

func TestFastAGIRejectsGarbage(t *testing.T) {
	tests := []struct {
		name string
		send string
	}{
		{"HTTP request", "GET / HTTP/1.1\r\nHost: callscreen\r\n\r\n"},
		{"binary", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n"},
		{"endless environment", strings.Repeat("agi_x: "+strings.Repeat("y", 1000)+"\n", 100)},
		{"endless line", strings.Repeat("z", 200<<10)},
	}
	eng := &fixedEngine{action: screening.Ring}
	s := serveFastAGI(t, eng, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			go io.WriteString(conn, tc.send) // may fail once the server closes
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			got, err := io.ReadAll(conn)
			// A server that closes with input unread resets the connection.
			if len(got) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
				t.Errorf("server sent %q, %v; want it to close without a word", got, err)
			}
		})
	}
	// The server still screens.
	s.call(t, newFakeAsterisk(agiEnv()...))
	if r := waitRecord(t, s.recs); r.Outcome != screening.OutcomeRang {
		t.Errorf("outcome after garbage = %s", r.Outcome)
	}
	if n := len(eng.facts); n != 1 {
		t.Errorf("engine ran %d times, want once", n)
	}
}

func TestFastAGICallTimeoutFailsOpen(t *testing.T) {
	f := newFakeAsterisk(agiEnv("agi_callerid", "unknown")...)
	f.vars["CALLERID(num)"] = "anonymous"
	// The announcement plays for longer than the call may take.
	f.delay = map[string]time.Duration{"STREAM FILE": 400 * time.Millisecond}
	rec, ok, _ := session(t, f, &fixedEngine{action: screening.NumberRequest}, func(o *agiTestOptions) { o.CallTimeout = 150 * time.Millisecond })
	if !ok {
		t.Fatal("no record")
	}
	if rec.Outcome != screening.OutcomeError || rec.Taken != screening.Ring {
		t.Errorf("outcome/taken = %s/%s (%s), want error/ring", rec.Outcome, rec.Taken, rec.Detail)
	}
	vars := f.variables()
	if vars[VarAction] != "ring" || vars[VarContext] != "callscreen-ring" || vars[VarHangupCause] != "" {
		t.Errorf("variables %v, want the fail-open ring", vars)
	}
}

func TestFastAGIShutdownDrains(t *testing.T) {
	s := serveFastAGI(t, &fixedEngine{action: screening.NumberRequest}, func(o *agiTestOptions) { o.DrainTimeout = 5 * time.Second })

	inFlight := newFakeAsterisk(agiEnv("agi_uniqueid", "c1")...)
	inFlight.block = make(chan struct{}) // the announcement is playing
	done1 := s.call(t, inFlight)
	time.Sleep(100 * time.Millisecond)
	s.cancel()
	time.Sleep(50 * time.Millisecond)

	late := newFakeAsterisk(agiEnv("agi_uniqueid", "c2")...)
	<-s.call(t, late)
	r := waitRecord(t, s.recs)
	if r.ID != "c2" || r.Outcome != screening.OutcomeRang || r.Detail != "callscreen stopping" {
		t.Errorf("call during shutdown: %+v, want it rung unscreened", r)
	}
	if v := late.variables(); v[VarAction] != "ring" || v[VarContext] != "callscreen-ring" {
		t.Errorf("call during shutdown set %v", v)
	}
	select {
	case <-s.done:
		t.Fatal("Serve returned with a call in flight")
	case <-time.After(50 * time.Millisecond):
	}

	close(inFlight.block)
	<-done1
	if r := waitRecord(t, s.recs); r.ID != "c1" || r.Outcome != screening.OutcomeAnnounced {
		t.Errorf("call in flight: %+v, want it finished normally", r)
	}
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("Serve() = %v", s.err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return after the calls drained")
	}
	if c, err := net.Dial("tcp", s.addr); err == nil {
		c.Close()
		t.Error("the listener is still open after Serve returned")
	}
}

func TestFastAGIServeNeedsEvaluator(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := NewFastAGI(NewHandler(HandlerOptions{}), FastAGIOptions{}).Serve(context.Background(), ln); err == nil {
		t.Error("Serve without an evaluator succeeded")
	}
}

// TestAGISetBatched: the verdict and the continue each take one ARRAY()
// write for their plain values, read back once per server; an Asterisk
// without ARRAY() gets every variable on its own, and still all of them.
func TestAGISetBatched(t *testing.T) {
	verdict := map[string]string{
		VarAction: "ring", VarDecision: "ring", VarScore: "0", VarID: "c1", VarPresence: "presented", VarProfile: "default",
		VarReasons: "a,b", VarReason: "international (US)",
	}
	target := Target{Context: "callscreen-ring", Extension: "0312345678", Priority: 1}
	const (
		verdictArray = `SET VARIABLE "ARRAY(SCREEN_ACTION,SCREEN_DECISION,SCREEN_ID,SCREEN_PRESENCE,SCREEN_PROFILE,SCREEN_SCORE)" "ring,ring,c1,presented,default,0"`
		readBack     = `GET FULL VARIABLE "${SCREEN_SCORE}"`
		targetArray  = `SET VARIABLE "ARRAY(SCREEN_HANGUP_CAUSE,SCREEN_EXTEN,SCREEN_PRIORITY,SCREEN_CONTEXT)" ",0312345678,1,callscreen-ring"`
	)
	// The values ARRAY() cannot take, one by one in either case.
	unsafe := []string{`SET VARIABLE "SCREEN_REASON" "international (US)"`, `SET VARIABLE "SCREEN_REASONS" "a,b"`}
	// Everything one by one, in order.
	singles := slices.Concat([]string{
		`SET VARIABLE "SCREEN_ACTION" "ring"`, `SET VARIABLE "SCREEN_DECISION" "ring"`, `SET VARIABLE "SCREEN_ID" "c1"`,
		`SET VARIABLE "SCREEN_PRESENCE" "presented"`, `SET VARIABLE "SCREEN_PROFILE" "default"`, `SET VARIABLE "SCREEN_SCORE" "0"`,
	}, unsafe, []string{
		`SET VARIABLE "SCREEN_HANGUP_CAUSE" ""`, `SET VARIABLE "SCREEN_EXTEN" "0312345678"`,
		`SET VARIABLE "SCREEN_PRIORITY" "1"`, `SET VARIABLE "SCREEN_CONTEXT" "callscreen-ring"`,
	})
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	tests := []struct {
		name    string
		noArray bool
		// wantCmds is the SET/GET commands of each of two calls on the
		// same server: the first reads its ARRAY() write back.
		wantCmds [2][]string
	}{
		{"ARRAY() works", false, [2][]string{
			cat([]string{verdictArray, readBack}, unsafe, []string{targetArray}),
			cat([]string{verdictArray}, unsafe, []string{targetArray}),
		}},
		{"no ARRAY()", true, [2][]string{
			cat([]string{verdictArray, readBack}, singles),
			singles,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var arrays arrayWrites // one server, two calls
			for call := range 2 {
				f := newFakeAsterisk(agiEnv()...)
				f.noArray = tt.noArray
				srv, cli := net.Pipe()
				go f.run(cli)
				ch, _, err := openAGI(srv, time.Second, "/tmp")
				if err != nil {
					t.Fatal(err)
				}
				ch.arrays = &arrays
				if err := ch.SetVars(t.Context(), verdict); err != nil {
					t.Fatal(err)
				}
				if err := ch.Continue(t.Context(), target); err != nil {
					t.Fatal(err)
				}
				srv.Close()
				if got := f.commands(); !slices.Equal(got, tt.wantCmds[call]) {
					t.Errorf("call %d commands:\n%s\nwant:\n%s", call+1, strings.Join(got, "\n"), strings.Join(tt.wantCmds[call], "\n"))
				}
				got := f.variables()
				for k, want := range verdict {
					if got[k] != want {
						t.Errorf("call %d: %s = %q, want %q", call+1, k, got[k], want)
					}
				}
				if got[VarContext] != target.Context || got[VarExten] != target.Extension || got[VarPriority] != "1" {
					t.Errorf("call %d: target %q,%q,%q", call+1, got[VarContext], got[VarExten], got[VarPriority])
				}
				if !ch.actionSet.Load() {
					t.Errorf("call %d: actionSet not recorded", call+1)
				}
			}
		})
	}
}

// TestHandlerIDPrefix: with HandlerOptions.IDPrefix (servers sharing a
// call log), a call's record and SCREEN_ID carry the prefixed uniqueid, so
// that two Asterisk servers' equal uniqueids are two records.
func TestHandlerIDPrefix(t *testing.T) {
	tests := []struct {
		name, prefix, uniqueid, want string
	}{
		{"no prefix", "", "1700000000.1", "1700000000.1"},
		{"prefixed", "pbx-a-", "1700000000.1", "pbx-a-1700000000.1"},
		{"Asterisk's systemname is the prefix already", "pbx-a-", "pbx-a-1700000000.1", "pbx-a-1700000000.1"},
		{"another systemname", "pbx-a-", "ast1-1700000000.1", "pbx-a-ast1-1700000000.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAsterisk(agiEnv("agi_uniqueid", tt.uniqueid)...)
			f.vars = map[string]string{"CALLERID(num)": "0312345678", "CHANNEL(endpoint)": "provider"}
			rec, ok, _ := session(t, f, &fixedEngine{action: screening.Ring}, func(o *agiTestOptions) { o.IDPrefix = tt.prefix })
			if !ok {
				t.Fatal("no record")
			}
			if rec.ID != tt.want || rec.Facts.ID != tt.want || rec.Verdict.CallID != tt.want {
				t.Errorf("record id %q, facts id %q, verdict call id %q; want %q", rec.ID, rec.Facts.ID, rec.Verdict.CallID, tt.want)
			}
			if got := f.variables()[VarID]; got != tt.want {
				t.Errorf("SCREEN_ID = %q, want %q", got, tt.want)
			}
		})
	}
}
