package pgtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// Main runs a package's tests with one shared cluster and exits:
//
//	var pg *pgtest.Cluster
//
//	func TestMain(m *testing.M) { pgtest.Main(m, &pg) }
//
//	func TestSomething(t *testing.T) {
//		pgtest.Need(t, pg)
//		url := pg.NewDatabase(t)
//		...
//	}
func Main(m *testing.M, c **Cluster) { os.Exit(Run(m, c)) }

// Run is Main without the exit, for a TestMain that does more: it starts
// a cluster into *c, runs the tests, stops the cluster and returns the exit
// code. When the binaries are missing it leaves *c nil and runs the tests
// (those calling Need skip), or, with $CALLSCREEN_REQUIRE_POSTGRES=1,
// fails without running them. A cluster that is installed but does not
// start always fails the run.
func Run(m *testing.M, c **Cluster) int {
	*c = nil
	if err := Available(Options{}); err != nil {
		if Required() {
			fmt.Fprintf(os.Stderr, "%v\n%s=1: these tests need PostgreSQL 15: %s\n", err, RequireEnv, InstallHint)
			return 1
		}
		fmt.Fprintf(os.Stderr, "%v: tests that need PostgreSQL skip\n", err)
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cl, err := Start(ctx, Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*c = cl
	code := m.Run()
	if err := cl.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Need skips the test when c is nil: Run found no PostgreSQL binaries
// (and $CALLSCREEN_REQUIRE_POSTGRES is not 1).
func Need(t testing.TB, c *Cluster) {
	t.Helper()
	if c == nil {
		t.Skipf("PostgreSQL 15 is not installed: %s; %s=1 makes this a failure", InstallHint, RequireEnv)
	}
}

// New starts a cluster for one test and stops it at the test's cleanup
// (printing the tail of the server's log if the test failed): for a test
// that kills, freezes or restarts the server. It skips the test when the
// binaries are missing, or fails it with $CALLSCREEN_REQUIRE_POSTGRES=1.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if err := Available(opts); err != nil {
		if Required() {
			t.Fatalf("%v; %s=1", err, RequireEnv)
		}
		t.Skipf("%v; %s=1 makes this a failure", err, RequireEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: server log (tail):\n%s", tail(c.ServerLog(), 40))
		}
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}
