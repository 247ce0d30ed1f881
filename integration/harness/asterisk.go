package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultRoot is the chroot holding Asterisk when neither
// AsteriskOptions.Root nor $CALLSCREEN_ASTERISK_ROOT says otherwise.
const DefaultRoot = "/var/cache/callscreen/asterisk-sid"

// Addresses the overlay gives the test network. All are loopback.
const (
	AsteriskAddr   = "127.0.0.1"      // the default instance binds SIP and ARI/HTTP here
	AsteriskSIP    = "127.0.0.1:5060" // PJSIP transport
	ProviderAddr   = "127.0.0.2"      // matches endpoint "provider"
	StrangerAddr   = "127.0.0.3"      // matches the optional endpoint "public"
	UnknownAddr    = "127.0.0.4"      // matches no endpoint
	DeskPhoneAddr  = "127.0.0.10"     // desk100's static contact (port 5060)
	ARIBaseURL     = "http://127.0.0.1:8088/ari"
	ARIWebsocket   = "ws://127.0.0.1:8088/ari/events"
	ARIUser        = "callscreen"
	ARIApplication = "callscreen"

	// A second instance (AsteriskOptions.Instance) binds SIP and ARI/HTTP
	// to SecondAsteriskAddr by default, and its desk100 is a desk phone at
	// SecondDeskPhoneAddr. The provider and the stranger keep their
	// addresses: each instance identifies them by source address.
	SecondAsteriskAddr  = "127.0.0.2"
	SecondDeskPhoneAddr = "127.0.0.11"

	// SIPPort and HTTPPort are the ports of every instance.
	SIPPort  = 5060
	HTTPPort = 8088
	// AGIAddr is where the sample dialplan sends FastAGI calls.
	AGIAddr = "127.0.0.1:4573"
)

// Test DIDs routed by the overlay straight to one context (see package doc).
const (
	DIDBaseline  = "0399990000"
	DIDVoicemail = "0399990001"
	DIDAGI       = "0399990002"
	DIDRing      = "0399990003"
	DIDReject    = "0399990004"
)

// AsteriskOptions configures StartAsterisk. The zero value is usable.
type AsteriskOptions struct {
	// Root is the chroot; default $CALLSCREEN_ASTERISK_ROOT or DefaultRoot.
	Root string
	// ConfDir holds the sample configuration; default <repo>/asterisk-conf.
	ConfDir string
	// ARIPassword replaces the sample's placeholder; default "callscreen-test".
	ARIPassword string
	// Append maps a file name in /etc/asterisk to text appended to it after
	// the overlay (for example more dialplan for extensions.conf).
	Append map[string]string
	// Extra maps a file name in /etc/asterisk to its whole content; it is
	// written last and replaces any file of that name.
	Extra map[string]string
	// SkipInstall skips running install.sh (the chroot must already work).
	SkipInstall bool
	// StartTimeout bounds the wait for ARI and "fully booted"; default 60 s.
	StartTimeout time.Duration
	// KeepVoicemail keeps the voicemail spool of earlier runs; by default it
	// is emptied at start so counts start at zero.
	KeepVoicemail bool
	// Log receives install.sh's output; default discard.
	Log io.Writer
	// KeepConfig starts Asterisk with the root's /etc/asterisk as it is
	// (no sample, no overlay): for a root configured by other means, such
	// as the package test's `callscreen setup asterisk`.
	KeepConfig bool
	// LockRoot names the chroot whose lock is held while this Asterisk runs;
	// default Root. An Asterisk in another root uses the same loopback
	// ports as the shared one, so it must hold DefaultRoot's lock.
	LockRoot string

	// Instance names an Asterisk that runs beside the default one, from the
	// same chroot but with state of its own: configuration in
	// /etc/asterisk-<Instance> (read with asterisk -C), its own run, spool,
	// log, cache and database directories (/var/{run,spool,log,cache,lib}/
	// asterisk-<Instance>) and its own lock (<LockRoot>-<Instance>.lock).
	// "" is the default instance. A test that runs both starts the default
	// instance first (locks are taken in that order).
	Instance string
	// Addr is the loopback address that PJSIP (UDP SIPPort) and ARI/HTTP
	// (HTTPPort) bind to: default AsteriskAddr, or SecondAsteriskAddr for a
	// named Instance.
	Addr string
	// DeskPhoneAddr is desk100's contact (port 5060): default DeskPhoneAddr,
	// or SecondDeskPhoneAddr for a named Instance.
	DeskPhoneAddr string
	// AGIAddr is the host:port the dialplan's FastAGI calls go to: default
	// AGIAddr (127.0.0.1:4573, as in the sample).
	AGIAddr string
}

// Asterisk is a running Asterisk 22 in the cached chroot.
type Asterisk struct {
	Root          string // chroot directory on the host
	Instance      string // "" for the default instance (AsteriskOptions.Instance)
	Addr          string // loopback address of SIP and ARI/HTTP, 127.0.0.1
	SIPAddr       string // PJSIP transport, 127.0.0.1:5060: CallSpec.Target
	DeskPhoneAddr string // desk100's contact address: DeskPhoneOptions.Addr
	EtcDir        string // host path of its configuration, the chroot's /etc/asterisk
	ARIURL        string // REST base, http://127.0.0.1:8088/ari
	ARIWSURL      string // websocket, ws://127.0.0.1:8088/ari/events
	ARIUser       string
	ARIPassword   string
	ARIApp        string // Stasis application name in the sample dialplan
	LogDir        string // host path of the chroot's /var/log/asterisk
	ConsoleLog    string // Asterisk's stdout/stderr (host path)
	SpoolDir      string // host path of the chroot's /var/spool/asterisk
	FullLogPath   string // full.log: verbose(3) + dtmf, for debugging
	opts          AsteriskOptions
	lock          *os.File
	mu            sync.Mutex
	cmd           *exec.Cmd
	exited        chan struct{}
	exitErr       error
	mountedByUs   []string
	uid, gid      int
	stopOnceDone  bool
	dirs          instanceDirs
}

// instanceDirs are an instance's directories inside the chroot.
type instanceDirs struct {
	etc, run, spool, log, lib, cache string
	conf                             string // asterisk.conf for -C; "" for the default instance
}

func dirsFor(instance string) instanceDirs {
	if instance == "" {
		return instanceDirs{etc: "/etc/asterisk", run: "/var/run/asterisk", spool: "/var/spool/asterisk",
			log: "/var/log/asterisk", lib: CoreDir, cache: "/var/cache/asterisk"}
	}
	sfx := "-" + instance
	return instanceDirs{etc: "/etc/asterisk" + sfx, run: "/var/run/asterisk" + sfx, spool: "/var/spool/asterisk" + sfx,
		log: "/var/log/asterisk" + sfx, lib: "/var/lib/asterisk" + sfx, cache: "/var/cache/asterisk" + sfx,
		conf: "/etc/asterisk" + sfx + "/asterisk.conf"}
}

// asteriskArgs are the arguments that select the instance's configuration.
func (a *Asterisk) asteriskArgs() []string {
	if a.dirs.conf == "" {
		return nil
	}
	return []string{"-C", a.dirs.conf}
}

// StartAsterisk installs (if needed), configures and starts Asterisk, and
// waits until ARI answers and Asterisk is fully booted. Call Stop when done.
func StartAsterisk(ctx context.Context, opts AsteriskOptions) (*Asterisk, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("harness: Asterisk needs root (chroot, mount)")
	}
	repo, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	if opts.Root == "" {
		opts.Root = os.Getenv("CALLSCREEN_ASTERISK_ROOT")
	}
	if opts.Root == "" {
		opts.Root = DefaultRoot
	}
	if opts.ConfDir == "" {
		opts.ConfDir = filepath.Join(repo, "asterisk-conf")
	}
	if opts.ARIPassword == "" {
		opts.ARIPassword = "callscreen-test"
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Instance != "" {
		if !regexp.MustCompile(`^[a-z0-9]{1,16}$`).MatchString(opts.Instance) {
			return nil, fmt.Errorf("harness: instance name %q: want 1-16 of [a-z0-9]", opts.Instance)
		}
		if opts.KeepConfig {
			return nil, errors.New("harness: KeepConfig is for the default instance only")
		}
	}
	if opts.Addr == "" {
		opts.Addr = AsteriskAddr
		if opts.Instance != "" {
			opts.Addr = SecondAsteriskAddr
		}
	}
	if opts.DeskPhoneAddr == "" {
		opts.DeskPhoneAddr = DeskPhoneAddr
		if opts.Instance != "" {
			opts.DeskPhoneAddr = SecondDeskPhoneAddr
		}
	}
	if opts.AGIAddr == "" {
		opts.AGIAddr = AGIAddr
	}
	for _, ip := range []string{opts.Addr, opts.DeskPhoneAddr} {
		if err := checkLoopback(ip); err != nil {
			return nil, err
		}
	}

	if !opts.SkipInstall {
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(repo, "integration/asterisk/install.sh"))
		cmd.Env = append(os.Environ(), "CALLSCREEN_ASTERISK_ROOT="+opts.Root)
		var out bytes.Buffer
		cmd.Stdout = io.MultiWriter(&out, opts.Log)
		cmd.Stderr = io.MultiWriter(&out, opts.Log)
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("harness: install.sh: %w\n%s", err, TailLines(out.String(), 40))
		}
	}

	dirs := dirsFor(opts.Instance)
	httpAddr := net.JoinHostPort(opts.Addr, strconv.Itoa(HTTPPort))
	a := &Asterisk{
		Root:          opts.Root,
		Instance:      opts.Instance,
		Addr:          opts.Addr,
		SIPAddr:       net.JoinHostPort(opts.Addr, strconv.Itoa(SIPPort)),
		DeskPhoneAddr: opts.DeskPhoneAddr,
		EtcDir:        filepath.Join(opts.Root, dirs.etc),
		ARIURL:        "http://" + httpAddr + "/ari",
		ARIWSURL:      "ws://" + httpAddr + "/ari/events",
		ARIUser:       ARIUser,
		ARIPassword:   opts.ARIPassword,
		ARIApp:        ARIApplication,
		LogDir:        filepath.Join(opts.Root, dirs.log),
		SpoolDir:      filepath.Join(opts.Root, dirs.spool),
		opts:          opts,
		dirs:          dirs,
	}
	a.ConsoleLog = filepath.Join(a.LogDir, "harness-console.log")
	a.FullLogPath = filepath.Join(a.LogDir, "full.log")

	if err := a.acquireLock(ctx); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			a.stop()
		}
	}()
	if err := a.killStale(); err != nil {
		return nil, err
	}
	if err := a.prepare(!opts.KeepVoicemail); err != nil {
		return nil, err
	}
	if err := a.start(ctx); err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// Stop stops Asterisk (gracefully, then by force), unmounts what
// StartAsterisk mounted and releases the lock. It is safe to call twice.
func (a *Asterisk) Stop() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopOnceDone {
		return nil
	}
	a.stopOnceDone = true
	return a.stop()
}

// Restart stops and starts Asterisk again with the same configuration
// (re-applied from asterisk-conf/), keeping the lock and the voicemail
// spool.
func (a *Asterisk) Restart(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopOnceDone {
		return errors.New("harness: Restart after Stop")
	}
	if err := a.stopProcess(); err != nil {
		return err
	}
	if err := a.prepare(false); err != nil {
		return err
	}
	return a.start(ctx)
}

// CoreDir is where the default instance dumps core on a crash, inside the
// chroot; a named instance uses /var/lib/asterisk-<Instance>.
const CoreDir = "/var/lib/asterisk"

// Cores lists the core files in the instance's core directory (host paths).
func (a *Asterisk) Cores() []string {
	m, _ := filepath.Glob(filepath.Join(a.Root, a.dirs.lib, "core*"))
	return m
}

// Exited reports whether the Asterisk process the harness started has
// ended (crashed, or stopped by something else than Stop or Restart), and
// how.
func (a *Asterisk) Exited() (bool, error) {
	a.mu.Lock()
	exited := a.exited
	a.mu.Unlock()
	if exited == nil {
		return false, nil
	}
	select {
	case <-exited:
		return true, a.exitErr
	default:
		return false, nil
	}
}

// CLI runs one Asterisk CLI command (asterisk -rx) and returns its output.
func (a *Asterisk) CLI(ctx context.Context, command string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := append(append([]string{a.Root, "/usr/sbin/asterisk"}, a.asteriskArgs()...), "-rx", command)
	cmd := exec.CommandContext(ctx, "chroot", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("harness: asterisk -rx %q: %w: %s", command, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// VoicemailCount returns the number of messages in a mailbox's INBOX.
// box is "100" (context default) or "100@context".
func (a *Asterisk) VoicemailCount(box string) int {
	return len(a.voicemails(box))
}

// WaitVoicemail waits until the mailbox holds at least n messages.
func (a *Asterisk) WaitVoicemail(ctx context.Context, box string, n int) error {
	return waitFor(ctx, 100*time.Millisecond, func() bool { return a.VoicemailCount(box) >= n },
		func() string {
			return fmt.Sprintf("mailbox %s has %d messages, want %d", box, a.VoicemailCount(box), n)
		})
}

func (a *Asterisk) voicemails(box string) []string {
	mbox, vmctx, ok := strings.Cut(box, "@")
	if !ok {
		vmctx = "default"
	}
	m, _ := filepath.Glob(filepath.Join(a.SpoolDir, "voicemail", vmctx, mbox, "INBOX", "msg*.txt"))
	return m
}

// FullLog returns the current content of full.log (verbose(3) and DTMF),
// handy in a failure message.
func (a *Asterisk) FullLog() string {
	b, _ := os.ReadFile(a.FullLogPath)
	return string(b)
}

// ---- internals ----------------------------------------------------------------

func (a *Asterisk) acquireLock(ctx context.Context) error {
	lockRoot := a.opts.LockRoot
	if lockRoot == "" {
		lockRoot = a.Root
	}
	path := filepath.Clean(lockRoot) + ".lock"
	if a.Instance != "" {
		path = filepath.Clean(lockRoot) + "-" + a.Instance + ".lock"
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("harness: lock dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("harness: lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			a.lock = f
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("harness: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return fmt.Errorf("harness: waiting for %s (another test's Asterisk): %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// killStale kills any process of this instance whose root is our chroot:
// an Asterisk (or asterisk -r) left behind by a test binary that died
// without Stop. We hold the instance's lock, so no live test owns them.
// Processes of other instances (asterisk -C /etc/asterisk-<name>/...) are
// left alone: their own locks guard them.
func (a *Asterisk) killStale() error {
	root, err := filepath.EvalSymlinks(a.Root)
	if err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	mine := func() []int {
		var pids []int
		for _, pid := range chrootPIDs(root) {
			if processInstance(pid) == a.Instance {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	pids := mine()
	if len(pids) == 0 {
		return nil
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return waitFor(ctx, 50*time.Millisecond, func() bool { return len(mine()) == 0 },
		func() string { return fmt.Sprintf("stale processes in %s survive SIGKILL: %v", root, mine()) })
}

// processInstance names the instance a process in the chroot belongs to:
// the <name> of an "-C /etc/asterisk-<name>/asterisk.conf" argument, or ""
// (the default instance) for any other process.
func processInstance(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	args := strings.Split(string(b), "\x00")
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "-C" {
			continue
		}
		if name, ok := strings.CutPrefix(args[i+1], "/etc/asterisk-"); ok {
			name, _, _ = strings.Cut(name, "/")
			return name
		}
	}
	return ""
}

func chrootPIDs(root string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		r, err := os.Readlink(filepath.Join("/proc", e.Name(), "root"))
		if err == nil && r == root {
			pids = append(pids, pid)
		}
	}
	return pids
}

// prepare writes the configuration, mounts /proc and /dev, and creates the
// directories Asterisk writes to.
func (a *Asterisk) prepare(clearVoicemail bool) error {
	uid, gid, err := lookupUser(filepath.Join(a.Root, "etc/passwd"), "asterisk")
	if err != nil {
		return err
	}
	a.uid, a.gid = uid, gid
	if !a.opts.KeepConfig {
		if err := a.writeConfig(); err != nil {
			return err
		}
	}
	for _, m := range []struct{ target, src, fstype string }{
		{"proc", "proc", "proc"},
		{"dev", "/dev", ""},
	} {
		target := filepath.Join(a.Root, m.target)
		// Unmounted on Stop even when an earlier run left it mounted: we hold
		// the lock, nobody else uses it.
		if !slices.Contains(a.mountedByUs, target) {
			a.mountedByUs = append(a.mountedByUs, target)
		}
		if isMounted(target) {
			continue
		}
		flags := uintptr(0)
		if m.fstype == "" {
			flags = syscall.MS_BIND
		}
		if err := syscall.Mount(m.src, target, m.fstype, flags, ""); err != nil {
			return fmt.Errorf("harness: mount %s on %s: %w", m.src, target, err)
		}
	}
	// <spool>/recording is where ARI records (callscreen's name capture);
	// Debian's package does not create it and Asterisk does not either, as
	// asterisk-conf/README.md tells integrators.
	ds := a.dirs
	for _, d := range []string{ds.run, ds.log, ds.spool + "/recording", ds.spool, ds.lib, ds.cache} {
		p := filepath.Join(a.Root, d)
		if err := os.MkdirAll(p, 0o750); err != nil {
			return fmt.Errorf("harness: %w", err)
		}
		if err := chownR(p, uid, gid); err != nil {
			return err
		}
	}
	if clearVoicemail {
		if err := os.RemoveAll(filepath.Join(a.SpoolDir, "voicemail")); err != nil {
			return fmt.Errorf("harness: clearing voicemail: %w", err)
		}
	}
	// Fresh logs per start, so FullLog shows this run only.
	for _, f := range []string{a.FullLogPath, filepath.Join(a.LogDir, "messages.log"), a.ConsoleLog} {
		_ = os.Remove(f)
	}
	return nil
}

func (a *Asterisk) start(ctx context.Context) error {
	console, err := os.OpenFile(a.ConsoleLog, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	// -f: foreground (we are its parent); -n: no colour; -U/-G: drop root;
	// -g: dump core on a crash, into CoreDir (its working directory; the
	// kernel's core_pattern decides the name).
	args := append([]string{a.Root, "/usr/bin/env", "-C", a.dirs.lib, "/usr/sbin/asterisk"}, a.asteriskArgs()...)
	cmd := exec.Command("chroot", append(args, "-f", "-n", "-g", "-U", "asterisk", "-G", "asterisk")...)
	cmd.Stdout, cmd.Stderr = console, console
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		console.Close()
		return fmt.Errorf("harness: starting asterisk: %w", err)
	}
	a.cmd = cmd
	a.exited = make(chan struct{})
	go func() {
		a.exitErr = cmd.Wait()
		console.Close()
		close(a.exited)
	}()

	wctx, cancel := context.WithTimeout(ctx, a.opts.StartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	last := "no answer yet"
	err = waitFor(wctx, 100*time.Millisecond, func() bool {
		select {
		case <-a.exited:
			return true
		default:
		}
		req, _ := http.NewRequestWithContext(wctx, http.MethodGet, a.ARIURL+"/asterisk/info", nil)
		req.SetBasicAuth(a.ARIUser, a.ARIPassword)
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		last = resp.Status
		return resp.StatusCode == http.StatusOK
	}, func() string { return "ARI: " + last })
	select {
	case <-a.exited:
		return fmt.Errorf("harness: asterisk exited during start-up (%v); console:\n%s", a.exitErr, TailLines(ReadFile(a.ConsoleLog), 30))
	default:
	}
	if err != nil {
		return fmt.Errorf("%w; console:\n%s", err, TailLines(ReadFile(a.ConsoleLog), 30))
	}
	if out, err := a.CLI(wctx, "core waitfullybooted"); err != nil {
		return fmt.Errorf("harness: waiting for full boot: %w (%s)", err, out)
	}
	return nil
}

func (a *Asterisk) stop() error {
	var errs []error
	if err := a.stopProcess(); err != nil {
		errs = append(errs, err)
	}
	// /proc and /dev stay mounted while another instance runs in the
	// chroot; the last one to stop unmounts them.
	others := false
	if root, err := filepath.EvalSymlinks(a.Root); err == nil {
		others = len(chrootPIDs(root)) > 0
	}
	for i := len(a.mountedByUs) - 1; i >= 0 && !others; i-- {
		t := a.mountedByUs[i]
		if !isMounted(t) {
			continue
		}
		if err := syscall.Unmount(t, 0); err != nil {
			if err2 := syscall.Unmount(t, syscall.MNT_DETACH); err2 != nil {
				errs = append(errs, fmt.Errorf("harness: unmount %s: %w", t, err))
			}
		}
	}
	a.mountedByUs = nil
	if a.lock != nil {
		a.lock.Close() // releases the flock
		a.lock = nil
	}
	return errors.Join(errs...)
}

func (a *Asterisk) stopProcess() error {
	if a.cmd == nil {
		return nil
	}
	defer func() { a.cmd = nil }()
	select {
	case <-a.exited:
		return nil
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, _ = a.CLI(ctx, "core stop now")
	select {
	case <-a.exited:
		return nil
	case <-time.After(10 * time.Second):
	}
	pgid := a.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-a.exited:
		return nil
	case <-time.After(3 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-a.exited:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("harness: asterisk (pid %d) does not die", pgid)
	}
}

// ---- helpers ----------------------------------------------------------------

// RepoRoot returns the repository root: $CALLSCREEN_REPO, or two levels
// above this source file.
func RepoRoot() (string, error) {
	if r := os.Getenv("CALLSCREEN_REPO"); r != "" {
		return r, nil
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("harness: cannot locate the repository; set CALLSCREEN_REPO")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "asterisk-conf")); err != nil {
		return "", fmt.Errorf("harness: %s does not look like the repository (set CALLSCREEN_REPO): %w", root, err)
	}
	return root, nil
}

func lookupUser(passwd, name string) (uid, gid int, err error) {
	f, err := os.Open(passwd)
	if err != nil {
		return 0, 0, fmt.Errorf("harness: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		if len(fs) >= 4 && fs[0] == name {
			uid, err1 := strconv.Atoi(fs[2])
			gid, err2 := strconv.Atoi(fs[3])
			if err1 != nil || err2 != nil {
				break
			}
			return uid, gid, nil
		}
	}
	return 0, 0, fmt.Errorf("harness: no user %q in %s", name, passwd)
}

func chownR(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("harness: chown %s: %w", p, err)
		}
		return nil
	})
}

func isMounted(target string) bool {
	real, err := filepath.EvalSymlinks(target)
	if err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) > 1 && fs[1] == real {
			return true
		}
	}
	return false
}

// waitFor polls cond every interval until it is true or ctx ends; the error
// then says what was still wrong.
func waitFor(ctx context.Context, interval time.Duration, cond func() bool, what func() string) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: %s: %w", what(), ctx.Err())
		case <-t.C:
		}
	}
}

// ReadFile returns the file at p, or "" when it cannot be read (a log
// that does not exist yet).
func ReadFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// TailLines returns the last n lines of s.
func TailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
