package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var pg *Cluster

func TestMain(m *testing.M) { Main(m, &pg) }

func connect(t *testing.T, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestDatabaseName(t *testing.T) {
	c := &Cluster{}
	for _, tc := range []struct{ test, want string }{
		{"TestStore", "t_teststore_1"},
		{"TestStore/lists_add#01", "t_teststore_lists_add_01_2"},
		{"Test/Ünïcode name", "t_test_n_code_name_3"},
		{"///", "t_db_4"},
		{strings.Repeat("x", 100), "t_" + strings.Repeat("x", 59) + "_5"},
	} {
		got := c.databaseName(tc.test)
		if got != tc.want {
			t.Errorf("databaseName(%q) = %q, want %q", tc.test, got, tc.want)
		}
		if len(got) > 63 {
			t.Errorf("databaseName(%q) = %q: %d bytes, PostgreSQL keeps 63", tc.test, got, len(got))
		}
	}
}

func TestURL(t *testing.T) {
	c := &Cluster{Host: "127.0.0.1", Port: 54321}
	want := "postgres://postgres@127.0.0.1:54321/t_x_1?sslmode=disable"
	if got := c.URL("t_x_1"); got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	cfg, err := pgx.ParseConfig(c.URL("t_x_1"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "127.0.0.1" || cfg.Port != 54321 || cfg.User != "postgres" || cfg.Database != "t_x_1" {
		t.Errorf("pgx reads %s as host=%s port=%d user=%s db=%s", c.URL("t_x_1"), cfg.Host, cfg.Port, cfg.User, cfg.Database)
	}
}

func TestAvailable(t *testing.T) {
	err := Available(Options{BinDir: t.TempDir()})
	if !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Available(empty dir) = %v, want ErrNotInstalled", err)
	}
}

// TestSharedCluster checks the cluster Main started: the server settings,
// and that two databases are separate and dropped at cleanup.
func TestSharedCluster(t *testing.T) {
	Need(t, pg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var urls []string
	t.Run("two databases", func(t *testing.T) {
		a, b := pg.NewDatabase(t), pg.NewDatabase(t)
		urls = []string{a, b}
		if a == b {
			t.Fatalf("NewDatabase returned %s twice", a)
		}
		ca, cb := connect(t, ctx, a), connect(t, ctx, b)
		if _, err := ca.Exec(ctx, `CREATE TABLE lists (number text PRIMARY KEY); INSERT INTO lists VALUES ('0312345678')`); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := ca.QueryRow(ctx, `SELECT count(*) FROM lists`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("rows in a = %d, %v; want 1", n, err)
		}
		var exists bool
		if err := cb.QueryRow(ctx, `SELECT to_regclass('lists') IS NOT NULL`).Scan(&exists); err != nil || exists {
			t.Errorf("table of database a visible in b: %v, %v", exists, err)
		}
		for name, want := range map[string]string{"fsync": "off", "synchronous_commit": "off", "max_connections": "200", "full_page_writes": "off"} {
			var got string
			if err := ca.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil || got != want {
				t.Errorf("%s = %q (%v), want %q", name, got, err, want)
			}
		}
		var version string
		if err := ca.QueryRow(ctx, `SHOW server_version_num`).Scan(&version); err != nil || !strings.HasPrefix(version, "15") {
			t.Errorf("server_version_num = %q (%v), want 15xxxx", version, err)
		}
		// A connection left open does not stop the drop at cleanup.
	})

	admin := connect(t, ctx, pg.URL("postgres"))
	for _, u := range urls {
		cfg, err := pgx.ParseConfig(u)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, cfg.Database).Scan(&n); err != nil || n != 0 {
			t.Errorf("database %s still exists after the subtest's cleanup (%d, %v)", cfg.Database, n, err)
		}
	}
}

// TestKillRestart kills a cluster of its own while a pool uses it,
// restarts it and checks that the same URL works again with the data
// committed before the kill.
func TestKillRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	// synchronous_commit=on: a commit is written before it returns, so it
	// survives SIGKILL (fsync stays off: the kernel keeps the data).
	c := New(t, Options{Settings: map[string]string{"synchronous_commit": "on"}})
	t.Logf("cluster started in %s (port %d)", time.Since(t0).Round(time.Millisecond), c.Port)
	url := c.NewDatabase(t)

	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE calls (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := pool.Exec(ctx, `INSERT INTO calls VALUES ($1)`, i); err != nil {
			t.Fatal(err)
		}
	}
	held, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var backend int
	if err := held.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}

	// Its dynamic shared memory is in the data directory, so that a
	// killed server leaves nothing behind in /dev/shm.
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(maps), "/dev/shm/PostgreSQL.") || !strings.Contains(string(maps), filepath.Join(c.DataDir, "pg_dynshmem")) {
		t.Errorf("the server's dynamic shared memory is not in %s/pg_dynshmem: %s", c.DataDir, grepLines(string(maps), "PostgreSQL.", "pg_dynshmem"))
	}

	t1 := time.Now()
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed in %s", time.Since(t1).Round(time.Millisecond))
	if c.Running() {
		t.Error("Running() after Kill")
	}
	if alive(backend) {
		t.Errorf("backend %d of the held connection survives Kill", backend)
	}
	if _, err := held.Exec(ctx, `SELECT 1`); err == nil {
		t.Error("a connection held across Kill still works")
	}
	held.Release()
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), time.Second); err == nil {
		conn.Close()
		t.Error("the port still accepts connections after Kill")
	}
	qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
	if _, err := pool.Exec(qctx, `SELECT 1`); err == nil {
		t.Error("the pool reaches a killed server")
	}
	qcancel()

	t2 := time.Now()
	if err := c.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v\n%s", err, tail(c.ServerLog(), 30))
	}
	t.Logf("restarted (crash recovery) in %s", time.Since(t2).Round(time.Millisecond))
	if !c.Running() {
		t.Error("not Running() after Restart")
	}
	// The pool that was open across the outage reconnects on the same URL.
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM calls`).Scan(&n); err != nil || n != 100 {
		t.Errorf("after restart: %d rows (%v), want 100", n, err)
	}

	// A graceful restart of a running server keeps the port too.
	t3 := time.Now()
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("graceful restart in %s", time.Since(t3).Round(time.Millisecond))
	conn := connect(t, ctx, url)
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM calls`).Scan(&n); err != nil || n != 100 {
		t.Errorf("after graceful restart: %d rows (%v), want 100", n, err)
	}
}

// TestFreeze checks that a frozen server hangs its clients until Thaw.
func TestFreeze(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := New(t, Options{})
	conn := connect(t, ctx, c.URL("postgres"))
	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	qctx, qcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	var one int
	err := conn.QueryRow(qctx, `SELECT 1`).Scan(&one)
	qcancel()
	if err == nil {
		t.Error("a frozen server answered")
	}
	if err := c.Thaw(); err != nil {
		t.Fatal(err)
	}
	// The timed-out connection is closed by pgx; a new one works.
	conn2 := connect(t, ctx, c.URL("postgres"))
	if err := conn2.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Errorf("after Thaw: %d, %v", one, err)
	}
}

// TestStop checks that Stop frees the port and removes the directory, and
// that a second Stop is harmless.
func TestStop(t *testing.T) {
	if err := Available(Options{}); err != nil {
		Need(t, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop (%v)", c.Dir, err)
	}
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), time.Second); err == nil {
		conn.Close()
		t.Error("the port still accepts connections after Stop")
	}
	if err := c.Restart(ctx); err == nil {
		t.Error("Restart after Stop succeeded")
	}
}

// TestSweep checks that Start's sweep removes only the directories of
// clusters whose test binary died.
func TestSweep(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	mk := func(name string, lockFile bool) string {
		dir := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if lockFile {
			if err := os.WriteFile(filepath.Join(dir, lockName), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	dead := mk(dirPrefix+"dead", true)
	live := mk(dirPrefix+"live", true)
	young := mk(dirPrefix+"young", false)
	other := mk("other-dead", true)
	held, err := lockDir(live)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	// A cluster made elsewhere (Options.Parent) is swept there.
	parent := t.TempDir()
	elsewhere := filepath.Join(parent, dirPrefix+"dead")
	if err := os.MkdirAll(filepath.Join(elsewhere, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(elsewhere, lockName), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	sweep(DefaultBinDir, "")
	sweep(DefaultBinDir, parent)
	for dir, wantGone := range map[string]bool{dead: true, live: false, young: false, other: false, elsewhere: true} {
		_, err := os.Stat(dir)
		if gone := os.IsNotExist(err); gone != wantGone {
			t.Errorf("%s: removed=%v, want %v", dir, gone, wantGone)
		}
	}
}

// grepLines returns the lines of s holding any of subs.
func grepLines(s string, subs ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
