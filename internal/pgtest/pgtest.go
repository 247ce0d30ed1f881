// Package pgtest runs throwaway PostgreSQL 15 clusters for tests, from the
// binaries of Debian's postgresql package (/usr/lib/postgresql/15/bin).
//
// A cluster lives in a temporary directory: initdb writes the data
// directory there, the server listens on 127.0.0.1 on a free port and on a
// unix socket in the same directory, with trust authentication for the
// superuser "postgres" and durability turned off for speed (fsync,
// synchronous_commit and full_page_writes off). Stop removes everything.
//
// Run as root, initdb and the server run as the "postgres" system user
// (which the Debian package creates): PostgreSQL refuses to run as root.
// Run as anyone else, they run as that user.
//
// A package's tests share one cluster through [Main] (or [Run]) in
// TestMain, and each test takes a database of its own with
// [Cluster.NewDatabase]. A test that stops or kills the server ([Cluster.Kill],
// [Cluster.Restart], [Cluster.Freeze]) starts a cluster of its own with [New],
// so that it disturbs no other test.
//
// When the binaries are missing, tests that need PostgreSQL skip ([Need],
// [New]), unless $CALLSCREEN_REQUIRE_POSTGRES is 1: then the test binary
// fails and says how to install them (integration/postgres/install.sh).
package pgtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultBinDir holds Debian's PostgreSQL 15 server binaries.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// RequireEnv, set to 1, turns missing PostgreSQL binaries from a skip into
// a failure. `make unit` and `make integration` set it.
const RequireEnv = "CALLSCREEN_REQUIRE_POSTGRES"

// BinDirEnv overrides DefaultBinDir.
const BinDirEnv = "CALLSCREEN_POSTGRES_BINDIR"

// Superuser is the database superuser of every cluster; URL connects as it.
const Superuser = "postgres"

// InstallHint says how to get the binaries.
const InstallHint = "install PostgreSQL 15 with integration/postgres/install.sh " +
	"(as root: apt-get install -y --no-install-recommends postgresql)"

// ErrNotInstalled is wrapped by Available, Start and New when the server
// binaries are missing.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL server binaries not found")

// Options configures Start. The zero value is usable.
type Options struct {
	// BinDir holds initdb and postgres; default $CALLSCREEN_POSTGRES_BINDIR
	// or DefaultBinDir.
	BinDir string
	// OSUser runs initdb and the server when the caller is root; default
	// "postgres". Ignored when the caller is not root.
	OSUser string
	// Port to listen on at 127.0.0.1; default a free port.
	Port int
	// Settings are extra server settings (postgresql.conf names), applied
	// after the defaults: fsync=off, synchronous_commit=off,
	// full_page_writes=off, max_connections=200,
	// dynamic_shared_memory_type=mmap.
	Settings map[string]string
	// StartTimeout bounds initdb plus the wait for the server to accept
	// connections; default 60 s.
	StartTimeout time.Duration
	// Parent is the directory the cluster's directory is made in; default
	// os.TempDir(). On a tmpfs (/dev/shm) the server's disk flushes stay
	// off the machine's disk, as a database server's do.
	Parent string
}

// Cluster is a running (or killed, or frozen) throwaway PostgreSQL cluster.
type Cluster struct {
	Host      string // 127.0.0.1
	Port      int
	Dir       string // temporary directory: data/, the socket, server.log
	DataDir   string
	SocketDir string
	LogPath   string // the server's stderr, appended across restarts

	binDir   string
	cred     *syscall.Credential
	settings []string // -c name=value arguments
	timeout  time.Duration
	dbSeq    atomic.Int64
	lock     *os.File // flock held while the cluster's directory is in use

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	stopped bool
}

// Available reports whether the server binaries exist (ErrNotInstalled
// otherwise).
func Available(opts Options) error {
	bin := binDir(opts)
	for _, b := range []string{"initdb", "postgres"} {
		p := filepath.Join(bin, b)
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return fmt.Errorf("%w: no %s (%s)", ErrNotInstalled, p, InstallHint)
		}
	}
	return nil
}

func binDir(opts Options) string {
	if opts.BinDir != "" {
		return opts.BinDir
	}
	if d := os.Getenv(BinDirEnv); d != "" {
		return d
	}
	return DefaultBinDir
}

// Required reports whether $CALLSCREEN_REQUIRE_POSTGRES asks for missing
// binaries to fail the tests rather than skip them.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Start creates a cluster in a new temporary directory and starts its
// server. Call Stop when done.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := Available(opts); err != nil {
		return nil, err
	}
	c := &Cluster{Host: "127.0.0.1", binDir: binDir(opts), timeout: opts.StartTimeout}
	if c.timeout == 0 {
		c.timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		name := opts.OSUser
		if name == "" {
			name = "postgres"
		}
		u, err := user.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("pgtest: the server cannot run as root and there is no user %q to run it (%s): %w", name, InstallHint, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}

	sweep(c.binDir, opts.Parent)
	dir, err := os.MkdirTemp(opts.Parent, dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c.Dir, c.SocketDir = dir, dir
	if c.lock, err = lockDir(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.DataDir = filepath.Join(dir, "data")
	c.LogPath = filepath.Join(dir, "server.log")
	ok := false
	defer func() {
		if !ok {
			_ = c.Stop()
		}
	}()
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}

	initdb := c.command(ctx, "initdb", "-D", c.DataDir, "-U", Superuser,
		"--auth=trust", "--no-sync", "--no-instructions", "--no-locale", "-E", "UTF8")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, tail(string(out), 20))
	}

	// A free port now may be taken by the time the server binds it: try a
	// few, unless the caller chose one.
	for attempt := 0; ; attempt++ {
		c.Port = opts.Port
		if c.Port == 0 {
			if c.Port, err = freePort(); err != nil {
				return nil, err
			}
		}
		c.settings = c.settings[:0]
		for _, kv := range [][2]string{
			{"listen_addresses", c.Host},
			{"port", strconv.Itoa(c.Port)},
			{"unix_socket_directories", c.SocketDir},
			{"fsync", "off"},
			{"synchronous_commit", "off"},
			{"full_page_writes", "off"},
			{"max_connections", "200"},
			{"logging_collector", "off"},
			// Dynamic shared memory in the data directory, not in
			// /dev/shm: a killed server's segments go with the
			// cluster's directory instead of piling up there.
			{"dynamic_shared_memory_type", "mmap"},
		} {
			c.settings = append(c.settings, "-c", kv[0]+"="+kv[1])
		}
		for k, v := range opts.Settings {
			c.settings = append(c.settings, "-c", k+"="+v)
		}
		err = c.start(ctx)
		if err == nil {
			break
		}
		if opts.Port != 0 || attempt == 2 || !strings.Contains(err.Error(), "could not bind") {
			return nil, err
		}
	}
	ok = true
	return c, nil
}

// URL returns the connection URL of database db as the superuser over
// TCP: postgres://postgres@127.0.0.1:PORT/DB?sslmode=disable. It stays
// valid across Kill and Restart.
func (c *Cluster) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     net.JoinHostPort(c.Host, strconv.Itoa(c.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// NewDatabase creates an empty database with a unique name for the test
// and returns its URL. The database is dropped (its connections closed) at
// the test's cleanup, unless the server is down then.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	name := c.databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := c.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		if err != nil && c.Running() {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return c.URL(name)
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// databaseName makes a unique database name from a test name: lower case,
// [a-z0-9_] only, within PostgreSQL's 63 bytes.
func (c *Cluster) databaseName(test string) string {
	suffix := fmt.Sprintf("_%d", c.dbSeq.Add(1))
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(test), "_"), "_")
	if base == "" {
		base = "db"
	}
	base = "t_" + base
	if max := 63 - len(suffix); len(base) > max {
		base = base[:max]
	}
	return base + suffix
}

// Exec runs one SQL statement (without arguments) in database db as the
// superuser, on a connection of its own.
func (c *Cluster) Exec(ctx context.Context, db, sql string) error {
	conn, err := pgx.Connect(ctx, c.URL(db))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// Running reports whether the server process is alive (it may be frozen).
func (c *Cluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aliveLocked()
}

func (c *Cluster) aliveLocked() bool {
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// Kill SIGKILLs the server: the postmaster and every backend, as a crash
// of the database host would. Clients see their connections drop at once
// and new connections refused. Restart brings the server back on the same
// port and data directory (after crash recovery).
//
// With the default synchronous_commit=off, commits of the last few hundred
// milliseconds may be lost by a Kill; a test that checks what survives one
// sets Options.Settings["synchronous_commit"] = "on" (still cheap: fsync
// stays off).
func (c *Cluster) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.killLocked()
}

// Freeze stops the server with SIGSTOP (postmaster and backends): clients'
// connections stay open but nothing answers, as a hung database host.
// Thaw resumes it; Kill, Restart and Stop work on a frozen server.
func (c *Cluster) Freeze() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.aliveLocked() {
		return errors.New("pgtest: the server is not running")
	}
	pm := c.cmd.Process.Pid
	// The postmaster first, so that it forks no backend meanwhile.
	if err := syscall.Kill(pm, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pgtest: freezing the server: %w", err)
	}
	for _, pid := range children(pm) {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
	return nil
}

// Thaw resumes a server stopped by Freeze.
func (c *Cluster) Thaw() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.aliveLocked() {
		return errors.New("pgtest: the server is not running")
	}
	c.thawLocked()
	return nil
}

func (c *Cluster) thawLocked() {
	pm := c.cmd.Process.Pid
	for _, pid := range children(pm) {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	_ = syscall.Kill(pm, syscall.SIGCONT)
}

// Restart stops the server if it runs (a fast shutdown; a killed server
// needs none) and starts it again on the same port and data directory, so
// clients reconnect to the same URL. It returns once the server accepts
// connections.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return errors.New("pgtest: Restart after Stop")
	}
	err := c.shutdownLocked()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.start(ctx)
}

// Stop shuts the server down and removes the cluster's directory. It is
// safe to call more than once.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	err := c.shutdownLocked()
	if c.Dir != "" && err == nil {
		if rerr := os.RemoveAll(c.Dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("pgtest: %w", rerr))
		}
	}
	if c.lock != nil {
		c.lock.Close()
	}
	return err
}

// dirPrefix starts the name of every cluster's directory in os.TempDir().
const dirPrefix = "pgtest-"

// lockName is the file in a cluster's directory that its owner holds an
// exclusive flock on: a directory whose lock can be taken belongs to a test
// binary that died without Stop.
const lockName = "pgtest.lock"

func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("pgtest: locking %s: %w", dir, err)
	}
	return f, nil
}

// sweep removes the clusters that test binaries which died without Stop
// left in parent (Options.Parent; "" is os.TempDir()), about 40 MB each,
// killing a server that outlived its test binary. Best effort: a directory
// it cannot lock or read stays.
func sweep(binDir, parent string) {
	dirs, _ := filepath.Glob(filepath.Join(cmp.Or(parent, os.TempDir()), dirPrefix+"*"))
	for _, dir := range dirs {
		f, err := os.Open(filepath.Join(dir, lockName))
		if err != nil {
			continue // not a cluster, or one being created
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			continue // its test binary is alive
		}
		if b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			first, _, _ := strings.Cut(string(b), "\n")
			if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && pid > 1 {
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				if strings.HasPrefix(string(cmdline), filepath.Join(binDir, "postgres")+"\x00") &&
					strings.Contains(string(cmdline), "\x00"+filepath.Join(dir, "data")+"\x00") {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		os.RemoveAll(dir)
		f.Close()
	}
}

// ServerLog returns the server's log so far (for a failure message).
func (c *Cluster) ServerLog() string {
	b, _ := os.ReadFile(c.LogPath)
	return string(b)
}

// ---- internals ----------------------------------------------------------

// command returns a command running a server binary as the cluster's user.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC", "HOME=" + c.Dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// start runs the postmaster and waits until it accepts connections.
func (c *Cluster) start(ctx context.Context) error {
	logf, err := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	startAt, _ := logf.Seek(0, io.SeekEnd)

	args := append([]string{"-D", c.DataDir}, c.settings...)
	cmd := exec.Command(filepath.Join(c.binDir, "postgres"), args...)
	cmd.Dir = c.Dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC", "HOME=" + c.Dir}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so Kill and Freeze reach the backends too;
	// killed with the test binary, so a crashed test leaves no server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	exited := make(chan struct{})
	c.mu.Lock()
	c.cmd, c.exited = cmd, exited
	c.mu.Unlock()
	go func() {
		// exitErr is read only after exited is closed.
		c.exitErr = cmd.Wait()
		close(exited)
	}()

	logSince := func() string {
		b, _ := os.ReadFile(c.LogPath)
		if int64(len(b)) >= startAt {
			b = b[startAt:]
		}
		return tail(string(b), 20)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-exited:
			return fmt.Errorf("pgtest: postgres exited during start-up (%v):\n%s", c.exitErr, logSince())
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(pctx, c.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			c.mu.Lock()
			_ = c.killLocked()
			c.mu.Unlock()
			return fmt.Errorf("pgtest: postgres not accepting connections (%v): %w\n%s", last, ctx.Err(), logSince())
		case <-exited:
		case <-tick.C:
		}
	}
}

// shutdownLocked stops a running server: SIGINT (fast shutdown: roll back
// open transactions, close connections), then SIGKILL after 10 s.
func (c *Cluster) shutdownLocked() error {
	if !c.aliveLocked() {
		return c.killLocked()
	}
	c.thawLocked() // a frozen server cannot shut down
	_ = syscall.Kill(c.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-c.exited:
		c.cmd = nil
		return nil
	case <-time.After(10 * time.Second):
	}
	return c.killLocked()
}

// killLocked SIGKILLs the postmaster and its children. Each backend is a
// process group of its own (PostgreSQL calls setsid), so they are found by
// parent; the kill waits until all are gone, since backends of a killed
// postmaster would block a restart (they hold its shared memory).
func (c *Cluster) killLocked() error {
	if c.cmd == nil {
		return nil
	}
	pm := c.cmd.Process.Pid
	if c.aliveLocked() {
		_ = syscall.Kill(pm, syscall.SIGSTOP) // forks no more backends
	}
	pids := append(children(pm), pm)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("pgtest: postgres (pid %d) survives SIGKILL", pm)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("pgtest: backend %d of postgres survives SIGKILL", pid)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
			time.Sleep(5 * time.Millisecond)
		}
	}
	c.cmd = nil
	return nil
}

// procStat returns the fields of /proc/PID/stat after the command name:
// state, ppid, pgrp, ...
func procStat(pid string) []string {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return nil
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// children lists the live processes whose parent is ppid.
func children(ppid int) []int {
	ents, _ := os.ReadDir("/proc")
	want := strconv.Itoa(ppid)
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(e.Name()); len(f) >= 2 && f[0] != "Z" && f[1] == want {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid is a live process (a zombie waiting for its
// reaper holds no shared memory and does not count).
func alive(pid int) bool {
	f := procStat(strconv.Itoa(pid))
	return len(f) > 0 && f[0] != "Z"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
