package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CallSpec describes one call placed with sipp (PlaceCall).
type CallSpec struct {
	// Source is the loopback address the call comes from: ProviderAddr
	// (the trunk), StrangerAddr (the public endpoint), UnknownAddr (no
	// endpoint). Default ProviderAddr.
	Source string
	// Target is the Asterisk called, host:port: Asterisk.SIPAddr of the
	// instance. Default AsteriskSIP (the default instance).
	Target string
	// To is the called number (DID), the Request-URI and To user.
	To string
	// FromUser, FromName, FromHost make the From header
	// `"FromName" <sip:FromUser@FromHost>`. FromUser defaults to
	// "0312345678", FromHost to Source; an empty FromName is left out.
	// A withheld number: FromUser "anonymous", FromHost "anonymous.invalid".
	FromUser, FromName, FromHost string
	// Headers are extra raw header lines, "Name: value" (P-Asserted-Identity,
	// Privacy, User-Agent, Identity, ...). sipp treats [words] as keywords:
	// avoid square brackets.
	Headers []string
	// DTMF is sent after the answer as RFC 4733 events (digits 0-9, *, #),
	// replaying /usr/share/sip-tester/dtmf_2833_<d>.pcap, DTMFDelay after
	// the answer (default 1 s) and DTMFGap apart (default 500 ms).
	DTMF      string
	DTMFDelay time.Duration
	DTMFGap   time.Duration
	// Audio plays speech (g711a.pcap, 7 s of A-law, repeated back to back)
	// from AudioDelay after the answer (and after any DTMF) until Hold: for
	// voicemail and name recording.
	Audio      bool
	AudioDelay time.Duration
	// Hold is how long to stay after the answer before hanging up, unless
	// the far end hangs up first. Default 2 s. It counts from the answer and
	// is extended to cover DTMF and audio.
	Hold time.Duration
	// Timeout bounds the whole call including ringing; default Hold + 60 s.
	Timeout time.Duration
}

// CallResult is what the caller observed.
type CallResult struct {
	Responses    []int         // status codes of responses to the INVITE, in order (provisional and final)
	Final        int           // final status of the INVITE (200, 401, 403, ...); 0 if none came
	Answered     bool          // Final == 200
	RemoteHangup bool          // the far end sent BYE
	Duration     time.Duration // from start to the end of sipp
	CallID       string
	Log          string // sipp's message trace, then its errors
}

// failureCodes are the INVITE finals the UAC scenario ACKs and ends on.
var failureCodes = []int{400, 401, 403, 404, 405, 407, 408, 410, 415, 420, 433, 480, 481, 482, 483, 484, 485, 486, 487, 488, 491, 500, 501, 502, 503, 504, 505, 580, 600, 603, 604, 606}

// audioPcapLen is the length of PcapDir/g711a.pcap.
const audioPcapLen = 7100 * time.Millisecond

type step struct {
	Kind string // wait, dtmf, audio
	Ms   int64
	Pcap string
}

// PlaceCall places one call with sipp as a UAC and returns what happened.
// An error means the harness could not run the call (bad spec, sipp
// failed, timeout); a refused call is a result (Final 401, 403, ...).
func PlaceCall(ctx context.Context, spec CallSpec) (CallResult, error) {
	var res CallResult
	if spec.Source == "" {
		spec.Source = ProviderAddr
	}
	if err := checkLoopback(spec.Source); err != nil {
		return res, err
	}
	if spec.Target == "" {
		spec.Target = AsteriskSIP
	}
	if host, _, err := net.SplitHostPort(spec.Target); err != nil {
		return res, fmt.Errorf("harness: CallSpec.Target %q: %w", spec.Target, err)
	} else if err := checkLoopback(host); err != nil {
		return res, err
	}
	if spec.To == "" {
		return res, errors.New("harness: CallSpec.To is empty")
	}
	if spec.FromUser == "" {
		spec.FromUser = "0312345678"
	}
	if spec.FromHost == "" {
		spec.FromHost = spec.Source
	}
	if spec.DTMFDelay == 0 {
		spec.DTMFDelay = time.Second
	}
	if spec.DTMFGap == 0 {
		spec.DTMFGap = 500 * time.Millisecond
	}
	if spec.Hold == 0 {
		spec.Hold = 2 * time.Second
	}
	for _, s := range append([]string{spec.To, spec.FromUser, spec.FromName, spec.FromHost}, spec.Headers...) {
		if strings.ContainsAny(s, "\r\n") || strings.Contains(s, "]]>") {
			return res, fmt.Errorf("harness: CallSpec value %q contains a line break or ]]>", s)
		}
	}
	if strings.ContainsAny(spec.FromName, `"`) {
		return res, fmt.Errorf("harness: FromName %q contains a double quote", spec.FromName)
	}

	dir, err := os.MkdirTemp("", "callscreen-call-")
	if err != nil {
		return res, fmt.Errorf("harness: %w", err)
	}
	defer os.RemoveAll(dir)

	// Steps after the answer.
	var steps []step
	elapsed := time.Duration(0)
	wait := func(d time.Duration) {
		if d > 0 {
			steps = append(steps, step{Kind: "wait", Ms: d.Milliseconds()})
			elapsed += d
		}
	}
	for i, c := range spec.DTMF {
		name := string(c)
		switch c {
		case '*':
			name = "star"
		case '#':
			name = "pound"
		default:
			if c < '0' || c > '9' {
				return res, fmt.Errorf("harness: DTMF %q: only 0-9, * and #", spec.DTMF)
			}
		}
		if i == 0 {
			wait(spec.DTMFDelay)
		} else {
			wait(spec.DTMFGap)
		}
		// Each digit gets its own copy, shifted in RTP sequence and time,
		// so that a repeated digit is not taken for a retransmission.
		pcap := filepath.Join(dir, fmt.Sprintf("dtmf-%d-%s.pcap", i, name))
		if err := shiftRTP(filepath.Join(PcapDir, "dtmf_2833_"+name+".pcap"), pcap, uint16(100*(i+1)), uint32(16000*(i+1))); err != nil {
			return res, err
		}
		steps = append(steps, step{Kind: "dtmf", Pcap: pcap})
	}
	if spec.Audio {
		// Replay the 7 s capture back to back until Hold, each copy
		// shifted in RTP sequence and time like the DTMF above.
		wait(spec.AudioDelay)
		if spec.Hold < elapsed+audioPcapLen {
			spec.Hold = elapsed + audioPcapLen
		}
		for k := 0; elapsed < spec.Hold; k++ {
			pcap := filepath.Join(dir, fmt.Sprintf("audio-%d.pcap", k))
			if err := shiftRTP(filepath.Join(PcapDir, "g711a.pcap"), pcap, uint16(1000*(k+1)), uint32(80000*(k+1))); err != nil {
				return res, err
			}
			steps = append(steps, step{Kind: "audio", Pcap: pcap})
			wait(min(audioPcapLen, spec.Hold-elapsed))
		}
	}
	if rest := spec.Hold - elapsed; rest > 0 {
		wait(rest)
	} else {
		wait(500 * time.Millisecond) // let the last DTMF out before BYE
	}
	if spec.Timeout == 0 {
		spec.Timeout = elapsed + 60*time.Second
	}

	scen, err := renderScenario("uac", struct {
		To, FromUser, FromName, FromHost, ContactUser string
		Headers                                       []string
		Steps                                         []step
		FailureCodes                                  []int
	}{spec.To, spec.FromUser, spec.FromName, spec.FromHost, "caller", spec.Headers, steps, failureCodes}, dir)
	if err != nil {
		return res, err
	}
	mp, err := mediaPort(spec.Source)
	if err != nil {
		return res, err
	}
	trace := filepath.Join(dir, "messages.log")
	errlog := filepath.Join(dir, "errors.log")
	args := []string{
		spec.Target,
		"-sf", scen,
		"-i", spec.Source,
		"-mi", spec.Source, "-mp", strconv.Itoa(mp),
		"-m", "1", "-l", "1",
		"-trace_msg", "-message_file", trace,
		"-trace_err", "-error_file", errlog,
		"-aa", "-nostdin",
		"-timeout", strconv.Itoa(int(spec.Timeout.Seconds()) + 1), "-timeout_error",
	}
	cctx, cancel := context.WithTimeout(ctx, spec.Timeout+5*time.Second)
	defer cancel()
	cmd := exec.Command("sipp", args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		return res, fmt.Errorf("harness: %w", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("harness: starting sipp: %w", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	var runErr error
	select {
	case <-done:
	case <-cctx.Done():
		_ = stopProcessGroup(cmd, done)
		runErr = fmt.Errorf("harness: call to %s did not finish: %w", spec.To, cctx.Err())
	}
	res.Duration = time.Since(start)

	tr := ReadFile(trace)
	res.Log = tr + ReadFile(errlog)
	for _, m := range parseTrace(tr) {
		if !m.Received {
			continue
		}
		if code := m.status(); code != 0 && m.cseqMethod() == "INVITE" {
			if res.CallID == "" {
				res.CallID = m.header("Call-ID", "i")
			}
			if n := len(res.Responses); n > 0 && res.Responses[n-1] == code {
				continue // retransmission
			}
			res.Responses = append(res.Responses, code)
			if code >= 200 && res.Final == 0 {
				res.Final = code
			}
		}
		if m.method() == "BYE" {
			res.RemoteHangup = true
		}
	}
	res.Answered = res.Final == 200
	if runErr != nil {
		return res, runErr
	}
	// sipp exits 0 (call succeeded), 1 (call failed: our scenario's paths
	// cover the expected failures, the trace says what happened); anything
	// else is sipp itself failing.
	var ee *exec.ExitError
	if waitErr != nil && (!errors.As(waitErr, &ee) || ee.ExitCode() > 1) {
		return res, fmt.Errorf("harness: sipp: %w: %s%s", waitErr, TailLines(ReadFile(filepath.Join(dir, "stdout.log")), 15), TailLines(ReadFile(errlog), 15))
	}
	if res.Final == 0 {
		return res, fmt.Errorf("harness: call to %s got no final response; sipp errors: %s", spec.To, TailLines(ReadFile(errlog), 15))
	}
	return res, nil
}

// String summarises a result for test logs.
func (r CallResult) String() string {
	return fmt.Sprintf("final=%d responses=%v answered=%v remoteHangup=%v duration=%s", r.Final, r.Responses, r.Answered, r.RemoteHangup, r.Duration.Round(time.Millisecond))
}
