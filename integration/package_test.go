package integration

import (
	"bufio"
	"context"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// debTestRoot is the pristine Debian sid root (minbase, asterisk,
// asterisk-core-sounds-en-gsm, nothing of callscreen) the package test
// starts from. It is never modified: each run works on an overlay.
const debTestRoot = "/var/cache/callscreen/deb-test-root"

// pkgPJSIP and pkgDialplan stand for the integrator's own PBX: a trunk
// from the provider address, a desk phone, and the hand-off of inbound
// calls to callscreen, the one line the integrator writes.
const pkgPJSIP = `[transport-udp]
type=transport
protocol=udp
bind=127.0.0.1:5060

[provider]
type=endpoint
context=from-provider
disallow=all
allow=ulaw,alaw
[provider]
type=identify
endpoint=provider
match=` + harness.ProviderAddr + `

[desk100]
type=endpoint
context=from-internal
disallow=all
allow=ulaw,alaw
aors=desk100
[desk100]
type=aor
contact=sip:desk@` + harness.DeskPhoneAddr + `:5060
`

const pkgDialplan = `
[from-provider]
exten => _[+0-9s]!,1,Goto(callscreen-inbound,${EXTEN},1)
`

// TestDebianPackage installs the .deb into a clean Debian root as the
// README's install section says, configures Asterisk with `callscreen
// setup asterisk --apply`, runs the service as its unit does, passes
// doctor, screens a withheld and an ordinary call, upgrades with an edited
// configuration, and purges.
func TestDebianPackage(t *testing.T) {
	if !enabled {
		t.Skip(skipReason)
	}
	if os.Geteuid() != 0 {
		t.Fatal("the package test needs root (chroot, mount)")
	}
	// Its Asterisk needs the shared test Asterisk's lock and ports.
	releaseFixture(t)
	ctx := context.Background()
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	lap := func(what string) { t.Logf("%6.1fs  %s", time.Since(began).Seconds(), what) }

	// The packages: this tree's, and a rebuild with a later version.
	debs := t.TempDir()
	v1 := strings.TrimSpace(mustRun(t, exec.Command(filepath.Join(repo, "packaging/version.sh"))))
	v2 := v1 + "+rebuild1"
	deb1 := buildDeb(t, repo, v1, debs)
	deb2 := buildDeb(t, repo, v2, debs)
	if fi, err := os.Stat(deb1); err == nil {
		t.Logf("%s: %d bytes", filepath.Base(deb1), fi.Size())
	}
	lap("built " + filepath.Base(deb1) + " and " + filepath.Base(deb2))

	// A clean Debian sid root with Asterisk, on an overlay.
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repo, "integration/asterisk/install.sh"))
	cmd.Env = append(os.Environ(), "CALLSCREEN_ASTERISK_ROOT="+debTestRoot, "CALLSCREEN_NO_PROMPTS=1")
	mustRun(t, cmd)
	work := t.TempDir()
	root := filepath.Join(work, "root")
	upper := filepath.Join(work, "upper")
	for _, d := range []string{root, upper, filepath.Join(work, "work")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mount("overlay", root, "overlay", 0,
		"lowerdir="+debTestRoot+",upperdir="+upper+",workdir="+filepath.Join(work, "work")); err != nil {
		t.Fatalf("overlay on %s: %v", debTestRoot, err)
	}
	t.Cleanup(func() { unmountAll(t, root) })
	mountProcDev(t, root)
	in := func(args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, "chroot", append([]string{root}, args...)...)
		c.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LANG=C.UTF-8"}
		return c
	}
	lap("clean root ready")

	// A second sounds directory, as FreePBX and source builds have
	// (/var/lib/asterisk/sounds/en): postinst links the prompts there too.
	freepbxEn := filepath.Join(root, "var/lib/asterisk/sounds/en")
	if err := os.MkdirAll(freepbxEn, 0o755); err != nil {
		t.Fatal(err)
	}

	// Install, as the README says.
	for _, d := range []string{deb1, deb2} {
		copyFile(t, d, filepath.Join(root, "tmp", filepath.Base(d)))
	}
	out := mustRun(t, in("apt-get", "install", "-y", "-q", "/tmp/"+filepath.Base(deb1)))
	lap("apt-get install")
	if v := mustRun(t, in("callscreen", "--version")); !strings.Contains(v, v1) {
		t.Errorf("callscreen --version = %q, want %s", v, v1)
	}
	gid := lookupGroup(t, root, "callscreen")
	for _, f := range []string{"etc/callscreen/callscreen.yaml", "etc/callscreen/ari.secret", "etc/callscreen/dashboard.secret", "etc/callscreen/agi.key"} {
		checkMode(t, filepath.Join(root, f), 0, gid, 0o640)
	}
	checkMode(t, filepath.Join(root, "etc/callscreen"), 0, gid, 0o750)
	secret := strings.TrimSpace(harness.ReadFile(filepath.Join(root, "etc/callscreen/ari.secret")))
	if len(secret) < 32 {
		t.Fatalf("ari.secret %q: want a generated password", secret)
	}
	for _, p := range []string{"/usr/share/asterisk/sounds/en/callscreen/callscreen-number-request.wav", "/usr/share/asterisk/sounds/ja/digits/1.wav",
		"/var/lib/asterisk/sounds/en/callscreen/callscreen-number-request.wav"} {
		if _, err := in("test", "-r", p).CombinedOutput(); err != nil {
			t.Errorf("prompt %s is not where Asterisk looks (postinst output:\n%s)", p, harness.TailLines(out, 10))
		}
	}
	// The installed unit's exposure, on the host's systemd-analyze (there
	// is no systemd in the root): at most 2.0 (--threshold is in tenths).
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		b, err := exec.Command(sa, "security", "--offline=yes", "--threshold=20",
			filepath.Join(root, "usr/lib/systemd/system/callscreen.service")).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze security: %v\n%s", err, harness.TailLines(string(b), 5))
		}
		t.Log(lastLine(string(b)))
	} else {
		t.Log("systemd-analyze not installed: unit exposure not checked")
	}
	if _, err := os.Stat(filepath.Join(root, "usr/share/man/man1/callscreen.1.gz")); err != nil {
		t.Errorf("no manual page: %v", err)
	}

	// The integrator's PBX, then callscreen's side of it.
	writeFile(t, filepath.Join(root, "etc/asterisk/pjsip.conf"), pkgPJSIP)
	appendFile(t, filepath.Join(root, "etc/asterisk/extensions.conf"), pkgDialplan)
	before := snapshotDir(t, filepath.Join(root, "etc/asterisk"))
	dry := mustRun(t, in("callscreen", "setup", "asterisk"))
	if !strings.Contains(dry, "+++ /etc/asterisk/ari.conf") || !strings.Contains(dry, "dry run") {
		t.Errorf("setup asterisk (dry run) shows no diff:\n%s", dry)
	}
	if got := snapshotDir(t, filepath.Join(root, "etc/asterisk")); !maps.Equal(got, before) {
		t.Error("the dry run changed /etc/asterisk")
	}
	out = mustRun(t, in("callscreen", "setup", "asterisk", "--apply", "--desk", "PJSIP/desk100"))
	t.Logf("setup asterisk --apply (Asterisk not running yet):\n%s", harness.TailLines(out, 6))
	if !strings.Contains(harness.ReadFile(filepath.Join(root, "etc/asterisk/ari.conf")), "password="+secret+"\n") {
		t.Error("ari.conf does not carry callscreen's ari.secret")
	}
	agiKey := strings.TrimSpace(harness.ReadFile(filepath.Join(root, "etc/callscreen/agi.key")))
	if len(agiKey) < 32 || !strings.Contains(harness.ReadFile(filepath.Join(root, "etc/asterisk/callscreen_extensions.conf")), "\nCALLSCREEN_AGI_KEY="+agiKey+"\n") {
		t.Errorf("the dialplan's CALLSCREEN_AGI_KEY is not callscreen's generated agi.key %q", agiKey)
	}

	// Asterisk, holding the shared test Asterisk's lock: same ports.
	ast, err := harness.StartAsterisk(ctx, harness.AsteriskOptions{
		Root: root, LockRoot: harness.DefaultRoot, KeepConfig: true, SkipInstall: true,
		ARIPassword: secret, StartTimeout: 90 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ast.Stop()
	lap("Asterisk up")
	if out := mustRun(t, in("callscreen", "setup", "asterisk", "--apply", "--desk", "PJSIP/desk100")); !strings.Contains(out, "nothing to change") {
		t.Errorf("setup asterisk again changed something:\n%s", out)
	}

	svc := startAsUnit(t, root)
	doctor := func() {
		var out string
		deadline := time.Now().Add(60 * time.Second)
		for {
			b, err := in("callscreen", "doctor").CombinedOutput()
			out = string(b)
			// Passing, with serve registered as the Stasis application.
			if err == nil && !strings.Contains(out, "WARN  stasis") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("callscreen doctor fails: %v\n%s\nservice log:\n%s", err, out, harness.TailLines(harness.ReadFile(svc.log), 20))
			}
			time.Sleep(time.Second)
		}
		if !strings.Contains(out, "\n0 failed") {
			t.Errorf("doctor:\n%s", out)
		}
		t.Logf("doctor:\n%s", out)
	}
	doctor()
	lap("service up, doctor passes")

	// A withheld and an ordinary call.
	desk, err := harness.StartDeskPhone(ctx, harness.DeskPhoneOptions{RingFor: 500 * time.Millisecond, HangupAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer desk.Stop()
	records := func() []record {
		out, err := in("callscreen", "log", "--json", "-n", "20").CombinedOutput()
		if err != nil {
			return nil
		}
		return decodeRecords(t, string(out))
	}
	waitRec := func(match func(record) bool) record {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, r := range records() {
				if match(r) {
					return r
				}
			}
			time.Sleep(300 * time.Millisecond)
		}
		t.Fatalf("no such call log record; newest: %v\nservice log:\n%s", firstN(records(), 3), harness.TailLines(harness.ReadFile(svc.log), 20))
		return record{}
	}
	r, err := harness.PlaceCall(ctx, harness.CallSpec{To: "0399990000", FromUser: "anonymous", FromName: "Anonymous",
		FromHost: "anonymous.invalid", Hold: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Answered || !r.RemoteHangup || desk.Invites() != 0 {
		t.Errorf("withheld call: want answered, announced and hung up by Asterisk without ringing the desk: %s (desk %d calls)", r, desk.Invites())
	}
	rec := waitRec(func(r record) bool { return r.Facts.Number == "anonymous" })
	if rec.Verdict.Presence != "withheld" || rec.Taken != "number-request" || rec.Outcome != "announced" {
		t.Errorf("withheld call logged as %s", rec)
	}
	r, err = harness.PlaceCall(ctx, harness.CallSpec{To: "0399990000", FromUser: "0312345678", Hold: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := desk.WaitRang(ctx, "0312345678"); err != nil || !r.Answered {
		t.Errorf("ordinary call: want the desk to ring and answer: %v; %s\n%s", err, r, harness.TailLines(ast.FullLog(), 20))
	}
	rec = waitRec(func(r record) bool { return r.Facts.Number == "0312345678" })
	if rec.Verdict.Presence != "presented" || rec.Taken != "ring" {
		t.Errorf("ordinary call logged as %s", rec)
	}
	lap("withheld and ordinary calls screened")

	// Upgrade with an edited configuration.
	conf := filepath.Join(root, "etc/callscreen/callscreen.yaml")
	edited := strings.Replace(harness.ReadFile(conf), "  level: info", "  level: debug   # edited on site", 1)
	if edited == harness.ReadFile(conf) {
		t.Fatal("the sample configuration has no `  level: info` to edit")
	}
	writeFile(t, conf, edited)
	svc.stop(t)
	out = mustRun(t, in("apt-get", "install", "-y", "-q", "/tmp/"+filepath.Base(deb2)))
	lap("upgraded")
	if got := harness.ReadFile(conf); got != edited {
		t.Errorf("the upgrade replaced the edited configuration:\n%s", harness.TailLines(out, 10))
	}
	checkMode(t, conf, 0, gid, 0o640)
	if got := strings.TrimSpace(harness.ReadFile(filepath.Join(root, "etc/callscreen/ari.secret"))); got != secret {
		t.Error("the upgrade replaced the ARI secret")
	}
	if v := mustRun(t, in("callscreen", "--version")); !strings.Contains(v, v2) {
		t.Errorf("after the upgrade callscreen --version = %q, want %s", v, v2)
	}
	svc = startAsUnit(t, root)
	doctor()
	if recs := records(); len(recs) < 2 {
		t.Errorf("the call log lost records in the upgrade: %d left", len(recs))
	}
	svc.stop(t)

	// Undo Asterisk's side, then purge.
	mustRun(t, in("callscreen", "setup", "asterisk", "--undo", "--apply", "--no-reload"))
	if got := snapshotDir(t, filepath.Join(root, "etc/asterisk")); !maps.Equal(got, before) {
		for f := range before {
			if got[f] != before[f] {
				t.Errorf("setup --undo left /etc/asterisk/%s changed", f)
			}
		}
		for f := range got {
			if _, ok := before[f]; !ok {
				t.Errorf("setup --undo left /etc/asterisk/%s", f)
			}
		}
	}
	desk.Stop()
	if err := ast.Stop(); err != nil {
		t.Error(err)
	}
	// Stop unmounted /proc and /dev with Asterisk; apt wants them.
	mountProcDev(t, root)
	out = mustRun(t, in("apt-get", "purge", "-y", "-q", "callscreen"))
	lap("purged")
	for _, d := range []string{deb1, deb2} {
		os.Remove(filepath.Join(root, "tmp", filepath.Base(d)))
	}
	// What is left of callscreen anywhere in the root: only the user and
	// group, as Debian policy keeps them.
	filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(upper, p)
		if strings.Contains(rel, "callscreen") {
			t.Errorf("left after purge: /%s", rel)
		}
		return nil
	})
	if strings.Contains(harness.ReadFile(filepath.Join(root, "var/lib/dpkg/statoverride")), "callscreen") {
		t.Error("dpkg-statoverride entries left after purge")
	}
	for _, d := range []string{"usr/share/asterisk/sounds/ja", "var/lib/asterisk/sounds/ja"} {
		if _, err := os.Lstat(filepath.Join(root, d)); err == nil {
			t.Errorf("left after purge: /%s (made for the prompts)", d)
		}
	}
	if out, err := in("getent", "passwd", "callscreen").CombinedOutput(); err != nil {
		t.Errorf("the callscreen user is gone after purge (policy keeps it): %v %s", err, out)
	}
	lap("done")
}

// buildDeb builds the package for this machine's architecture.
func buildDeb(t *testing.T, repo, version, dir string) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	c := exec.Command(filepath.Join(repo, "packaging/build-deb.sh"), runtime.GOARCH, version, dir)
	c.Env = append(os.Environ(), "GO="+goCmd)
	return strings.TrimSpace(lastLine(mustRun(t, c)))
}

// unitService is callscreen serve started the way its systemd unit starts
// it (systemd cannot run in the test root): the unit's ExecStart=, User=,
// Group=, UMask=, StateDirectory= and a minimal environment.
type unitService struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startAsUnit(t *testing.T, root string) *unitService {
	t.Helper()
	unit := harness.ReadFile(filepath.Join(root, "usr/lib/systemd/system/callscreen.service"))
	keys := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(unit))
	inService := false
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "[") {
			inService = l == "[Service]"
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok && inService && !strings.HasPrefix(l, "#") {
			keys[k] = v
		}
	}
	for _, k := range []string{"ExecStart", "User", "Group", "UMask", "StateDirectory", "StateDirectoryMode"} {
		if keys[k] == "" {
			t.Fatalf("the unit has no %s=", k)
		}
	}
	uid := lookupUser(t, root, keys["User"])
	gid := lookupGroup(t, root, keys["Group"])
	state := filepath.Join(root, "var/lib", keys["StateDirectory"])
	mode, _ := strconv.ParseUint(keys["StateDirectoryMode"], 8, 32)
	if err := os.MkdirAll(state, os.FileMode(mode)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, uid, gid); err != nil {
		t.Fatal(err)
	}
	os.Chmod(state, os.FileMode(mode))
	logPath := filepath.Join(t.TempDir(), "journal.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-c", `umask "$0" && exec "$@"`, keys["UMask"], "chroot", "--userspec=" + keys["User"] + ":" + keys["Group"], root},
		strings.Fields(keys["ExecStart"])...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", "LANG=C.UTF-8",
		"USER=" + keys["User"], "LOGNAME=" + keys["User"], "HOME=/var/lib/" + keys["StateDirectory"], "SHELL=/usr/sbin/nologin"}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &unitService{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(s.done) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop is systemctl stop: SIGTERM, then SIGKILL after TimeoutStopSec.
func (s *unitService) stop(t *testing.T) {
	select {
	case <-s.done:
		return
	default:
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(45 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		t.Error("callscreen serve ignored SIGTERM for 45 s")
	}
}

func mustRun(t *testing.T, c *exec.Cmd) string {
	t.Helper()
	b, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(c.Args, " "), err, harness.TailLines(string(b), 40))
	}
	return string(b)
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(b))
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(p); err == nil {
		mode = fi.Mode().Perm()
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	writeFile(t, p, harness.ReadFile(p)+s)
}

func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		m[rel] = harness.ReadFile(p)
		return nil
	})
	return m
}

func checkMode(t *testing.T, p string, uid, gid int, perm os.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Error(err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != uid || int(st.Gid) != gid || fi.Mode().Perm() != perm {
		t.Errorf("%s: %d:%d %o, want %d:%d %o", p, st.Uid, st.Gid, fi.Mode().Perm(), uid, gid, perm)
	}
}

func lookupUser(t *testing.T, root, name string) int {
	t.Helper()
	return lookupID(t, filepath.Join(root, "etc/passwd"), name)
}

func lookupGroup(t *testing.T, root, name string) int {
	t.Helper()
	return lookupID(t, filepath.Join(root, "etc/group"), name)
}

func lookupID(t *testing.T, file, name string) int {
	t.Helper()
	for _, l := range strings.Split(harness.ReadFile(file), "\n") {
		f := strings.Split(l, ":")
		if len(f) > 2 && f[0] == name {
			id, err := strconv.Atoi(f[2])
			if err == nil {
				return id
			}
		}
	}
	t.Fatalf("%s: no %s", file, name)
	return -1
}

// unmountAll unmounts everything under root, deepest first, then root.
func unmountAll(t *testing.T, root string) {
	b, _ := os.ReadFile("/proc/mounts")
	var mounts []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && (f[1] == root || strings.HasPrefix(f[1], root+"/")) {
			mounts = append(mounts, f[1])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], 0); err != nil {
			if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", mounts[i], err)
			}
		}
	}
}

// mountProcDev mounts /proc and binds /dev in root (apt and Asterisk need
// them); unmountAll removes them.
func mountProcDev(t *testing.T, root string) {
	t.Helper()
	for _, m := range []struct{ target, src, fstype string }{{"proc", "proc", "proc"}, {"dev", "/dev", ""}} {
		flags := uintptr(0)
		if m.fstype == "" {
			flags = syscall.MS_BIND
		}
		if err := syscall.Mount(m.src, filepath.Join(root, m.target), m.fstype, flags, ""); err != nil {
			t.Fatalf("mount %s: %v", m.target, err)
		}
	}
}
