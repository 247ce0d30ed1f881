package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DeskPhoneOptions configures StartDeskPhone. The zero value answers every
// call at once and stays until the caller hangs up.
type DeskPhoneOptions struct {
	// Addr is the loopback address to listen on; default DeskPhoneAddr
	// (127.0.0.10), which the overlay makes desk100's contact.
	Addr string
	// Port is the SIP port; default 5060.
	Port int
	// RingFor is how long to ring (180) before answering.
	RingFor time.Duration
	// NoAnswer rings until the caller (Asterisk's Dial timeout) cancels.
	NoAnswer bool
	// HangupAfter hangs up this long after answering; 0 waits for BYE.
	HangupAfter time.Duration
	// NoTrace turns sipp's message trace off, for load runs (thousands of
	// calls): InviteLog, Rang and Trace then see nothing.
	NoTrace bool
}

// Invite is one call that reached the desk phone.
type Invite struct {
	CallID     string
	RequestURI string
	From       string // From header value
	FromUser   string // user part of From: the caller ID number Asterisk sent
	To         string
	Headers    []string // all header lines, "Name: value"
}

// DeskPhone is a sipp UAS answering as PJSIP/desk100.
type DeskPhone struct {
	Addr    string
	Port    int
	dir     string
	trace   string
	pidfile string
	cmd     *exec.Cmd
	done    chan struct{}
}

// StartDeskPhone starts the desk phone and waits until it listens. A desk
// phone left behind by an earlier run (pid file) is killed first.
func StartDeskPhone(ctx context.Context, opts DeskPhoneOptions) (*DeskPhone, error) {
	if opts.Addr == "" {
		opts.Addr = DeskPhoneAddr
	}
	if opts.Port == 0 {
		opts.Port = 5060
	}
	if err := checkLoopback(opts.Addr); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		return nil, fmt.Errorf("harness: sipp not found (apt-get install sip-tester): %w", err)
	}
	d := &DeskPhone{Addr: opts.Addr, Port: opts.Port}
	runDir := filepath.Join(filepath.Dir(filepath.Clean(rootFromEnv())), "run")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	d.pidfile = filepath.Join(runDir, fmt.Sprintf("deskphone-%s-%d.pid", opts.Addr, opts.Port))
	killStaleSipp(d.pidfile)
	if udpBound(opts.Addr, opts.Port) {
		return nil, fmt.Errorf("harness: %s:%d is already in use (another desk phone?)", opts.Addr, opts.Port)
	}

	dir, err := os.MkdirTemp("", "callscreen-deskphone-")
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	d.dir = dir
	d.trace = filepath.Join(dir, "messages.log")
	scen, err := renderScenario("uas", struct {
		RingMs, HangupAfterMs int64
		NoAnswer              bool
	}{opts.RingFor.Milliseconds(), opts.HangupAfter.Milliseconds(), opts.NoAnswer}, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	mp, err := mediaPort(opts.Addr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := []string{
		"-sf", scen,
		"-i", opts.Addr, "-p", strconv.Itoa(opts.Port),
		"-mi", opts.Addr, "-mp", strconv.Itoa(mp),
		"-trace_msg", "-message_file", d.trace,
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		"-aa", "-nostdin",
	}
	if opts.NoTrace {
		args = slices.DeleteFunc(args, func(a string) bool { return a == "-trace_msg" })
	}
	cmd := exec.Command("sipp", args...)
	cmd.Dir = dir
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("harness: %w", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("harness: starting sipp desk phone: %w", err)
	}
	d.cmd = cmd
	d.done = make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(d.done) }()
	_ = os.WriteFile(d.pidfile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = waitFor(wctx, 20*time.Millisecond, func() bool {
		select {
		case <-d.done:
			return true
		default:
		}
		return udpBound(opts.Addr, opts.Port)
	}, func() string { return fmt.Sprintf("desk phone not listening on %s:%d", opts.Addr, opts.Port) })
	select {
	case <-d.done:
		b, _ := os.ReadFile(filepath.Join(dir, "stdout.log"))
		d.Stop()
		return nil, fmt.Errorf("harness: desk phone sipp exited at start: %s", TailLines(string(b), 20))
	default:
	}
	if err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// Invites returns the number of distinct calls (Call-IDs) that reached the
// desk phone.
func (d *DeskPhone) Invites() int { return len(d.InviteLog()) }

// InviteLog returns the calls that reached the desk phone, in order.
func (d *DeskPhone) InviteLog() []Invite {
	b, _ := os.ReadFile(d.trace)
	seen := map[string]bool{}
	var out []Invite
	for _, m := range parseTrace(string(b)) {
		if !m.Received || m.method() != "INVITE" {
			continue
		}
		cid := m.header("Call-ID", "i")
		if seen[cid] || m.header("To", "t") != "" && strings.Contains(m.header("To", "t"), "tag=") {
			continue // retransmission or re-INVITE
		}
		seen[cid] = true
		f, _ := strings.CutPrefix(m.Start, "INVITE ")
		f, _, _ = strings.Cut(f, " ")
		out = append(out, Invite{
			CallID:     cid,
			RequestURI: f,
			From:       m.header("From", "f"),
			FromUser:   uriUser(m.header("From", "f")),
			To:         m.header("To", "t"),
			Headers:    m.Headers,
		})
	}
	return out
}

// Rang reports whether a call whose From user is callerNumber reached the
// desk phone.
func (d *DeskPhone) Rang(callerNumber string) bool {
	for _, inv := range d.InviteLog() {
		if inv.FromUser == callerNumber {
			return true
		}
	}
	return false
}

// WaitRang waits until Rang(callerNumber) is true.
func (d *DeskPhone) WaitRang(ctx context.Context, callerNumber string) error {
	return waitFor(ctx, 50*time.Millisecond, func() bool { return d.Rang(callerNumber) },
		func() string {
			return fmt.Sprintf("desk phone never rang for %q (%d calls arrived)", callerNumber, d.Invites())
		})
}

// Trace returns sipp's message trace (every SIP message in and out).
func (d *DeskPhone) Trace() string {
	b, _ := os.ReadFile(d.trace)
	return string(b)
}

// Stop stops sipp and removes its files.
func (d *DeskPhone) Stop() error {
	err := stopProcessGroup(d.cmd, d.done)
	if d.pidfile != "" {
		os.Remove(d.pidfile)
	}
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
	return err
}

// killStaleSipp kills the sipp recorded in pidfile by an earlier run, if it
// is still a sipp.
func killStaleSipp(pidfile string) {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return
	}
	os.Remove(pidfile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.HasPrefix(string(cmdline), "sipp\x00") {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = waitFor(ctx, 20*time.Millisecond, func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		return err != nil
	}, func() string { return "stale sipp still alive" })
}

func rootFromEnv() string {
	if r := os.Getenv("CALLSCREEN_ASTERISK_ROOT"); r != "" {
		return r
	}
	return DefaultRoot
}
