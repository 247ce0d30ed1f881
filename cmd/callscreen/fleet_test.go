package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callscreen/callscreen/internal/pgtest"
)

// pg is the PostgreSQL cluster of the fleet tests; nil when PostgreSQL is
// not installed (they skip).
var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	code := pgtest.Run(m, &pg)
	// The binary buildBinary built (42 MB) goes with the run.
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestDoctorFleetDatabase checks what doctor says of a PostgreSQL
// database and of how far behind it a server is.
func TestDoctorFleetDatabase(t *testing.T) {
	pgtest.Need(t, pg)
	srv := fakeARI(t, "callscreen", "s3cret-pw", "22.10.1", []string{"callscreen"}, allSounds())
	up := pg.NewDatabase(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := fmt.Sprintf("postgres://postgres@%s/nowhere?sslmode=disable&connect_timeout=2", ln.Addr())
	ln.Close() // nothing listens there now
	for _, tc := range []struct {
		name     string
		database string
		metrics  string // serve's /metrics; "" when serve is not running
		journal  int    // records in the journal
		want     []string
		failed   int
		warned   int
	}{
		{"up, serve in step", up, "callscreen_log_records_pending 0\ncallscreen_lists_feed_age_seconds 0.4\n", 0,
			[]string{"OK    database", `tenant "`, "OK    database lag", "no call record waits"}, 0, 0},
		{"up, serve behind", up, "callscreen_log_records_pending 12\ncallscreen_lists_feed_age_seconds 31\n", 0,
			[]string{"WARN  database lag", "12 call record(s) wait", "31.0 s ago"}, 0, 1},
		{"up, serve stopped with records waiting", up, "", 3,
			[]string{"WARN  database lag", "3 call record(s) wait in"}, 0, 1},
		{"down", down, "", 0,
			[]string{"FAIL  database", "pg_hba.conf"}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, cfg := doctorConfig(t, srv.URL, "fleet:\n  server: pbx-a\n")
			cfg.SetDatabase(tc.database)
			cfg.Log.Journal = filepath.Join(t.TempDir(), "pending")
			if tc.journal > 0 {
				os.WriteFile(cfg.Log.Journal, bytes.Repeat([]byte("{}\n"), tc.journal), 0o600)
			}
			if tc.metrics != "" {
				hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, tc.metrics) }))
				hs.Listener.Close()
				if hs.Listener, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
					t.Fatal(err)
				}
				hs.Start()
				defer hs.Close()
			}
			var out bytes.Buffer
			d := newDoctorRun(&out)
			d.checkDatabase(context.Background(), cfg)
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if d.failed != tc.failed || d.warned != tc.warned {
				t.Errorf("%d failed, %d warnings; want %d, %d:\n%s", d.failed, d.warned, tc.failed, tc.warned, out.String())
			}
			if strings.Contains(out.String(), "s3cret") {
				t.Errorf("output shows a password:\n%s", out.String())
			}
		})
	}
}

// TestListsTenant checks the list commands' --tenant: entries of one
// tenant and of every tenant side by side, shown and removed by scope.
func TestListsTenant(t *testing.T) {
	args, _ := cliEnv(t)
	run := func(extra ...string) string {
		t.Helper()
		out, err := runCLI(t, append(append([]string{}, args...), extra...)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", extra, err, out)
		}
		return out
	}
	run("lists", "add", "allow", "+819011112222", "--tenant", "shop-a", "--reason", "supplier")
	run("lists", "add", "allow", "+819011112222", "--tenant", "shop-b", "--reason", "landlord")
	run("lists", "add", "block", "+815012340001", "--reason", "robocaller")
	for _, tc := range []struct {
		args       []string
		want, lack []string
	}{
		{[]string{"lists", "show"}, []string{"TENANT", "shop-a", "shop-b", "(all)", "supplier", "landlord"}, nil},
		{[]string{"lists", "show", "--tenant", "shop-a"}, []string{"supplier"}, []string{"landlord", "robocaller"}},
		{[]string{"lists", "show", "--tenant", ""}, []string{"robocaller"}, []string{"supplier", "TENANT"}},
	} {
		out := run(tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: lacks %q:\n%s", tc.args, w, out)
			}
		}
		for _, l := range tc.lack {
			if strings.Contains(out, l) {
				t.Errorf("%v: shows %q:\n%s", tc.args, l, out)
			}
		}
	}
	// Export writes one scope.
	if out := run("lists", "export", "allow", "--tenant", "shop-a"); !strings.Contains(out, "supplier") || strings.Contains(out, "landlord") {
		t.Errorf("export --tenant shop-a:\n%s", out)
	}
	// Removing without --tenant removes only an entry of every tenant.
	if out, err := runCLI(t, append(append([]string{}, args...), "lists", "remove", "allow", "+819011112222")...); err == nil {
		t.Errorf("remove without --tenant removed a tenant's entry:\n%s", out)
	}
	run("lists", "remove", "allow", "+819011112222", "--tenant", "shop-b")
	if out := run("lists", "show", "allow"); strings.Contains(out, "landlord") || !strings.Contains(out, "supplier") {
		t.Errorf("after removing shop-b's entry:\n%s", out)
	}
}
