package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/internal/pgtest"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// migrateFixture is a server's SQLite store with list entries made with
// the CLI and a call log, and the configuration naming it.
func migrateFixture(t *testing.T, fleet string) (args []string, records int) {
	t.Helper()
	t.Setenv("CALLSCREEN_CONFIG", "")
	sample, err := os.ReadFile("../../asterisk-conf/callscreen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "callscreen.yaml")
	// The sample's own fleet block gives way to the test's.
	text := regexp.MustCompile(`(?m)^fleet:\n(?:[ #].*\n|\n)*`).ReplaceAllString(string(sample), "")
	if text == string(sample) {
		t.Fatal("the sample configuration has no fleet block")
	}
	if err := os.WriteFile(conf, []byte(text+"\n"+fleet), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "callscreen.db")
	args = []string{"-c", conf, "--database", db}
	for _, a := range [][]string{
		{"lists", "add", "allow", "+81355550000", "--reason", "pharmacy"},
		{"lists", "add", "block", "+4470*", "--reason", "UK personal numbers"},
		{"lists", "add", "block", "+81501234567", "--expires", "7d"},
		{"lists", "add", "dno", "+81120444444"},
	} {
		if out, err := runCLI(t, append(args, a...)...); err != nil {
			t.Fatalf("%v: %v\n%s", a, err, out)
		}
	}
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, err := store.NewLogWriter(ctx, st, store.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	records = 1234
	for i := range records {
		rec := screening.Record{ID: fmt.Sprintf("1732512345.%d", i), Time: time.Now().Add(-time.Duration(i) * time.Minute), Mode: "ari", Taken: screening.Ring, Outcome: "rang"}
		rec.Verdict.Action = screening.Ring
		rec.Verdict.Caller = "+81355550000"
		w.Write(rec)
	}
	if err := w.Close(ctx); err != nil || w.Written() != uint64(records) {
		t.Fatalf("records not written: %v", err)
	}
	return args, records
}

func TestDBMigrate(t *testing.T) {
	type target struct {
		name string
		to   func(t *testing.T) string
	}
	targets := []target{{"into SQLite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "fleet.db") }}}
	targets = append(targets, target{"into PostgreSQL", func(t *testing.T) string {
		pgtest.Need(t, pg)
		return pg.NewDatabase(t)
	}})
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			for _, tc := range []struct {
				name       string
				fleet      string   // configuration
				flags      []string // of db migrate
				wantTenant string
				wantServer string
			}{
				{"tenant from the configuration", "fleet:\n  server: pbx-a\n  tenant: acme\n", nil, "acme", "pbx-a"},
				{"tenant defaults to the server name", "fleet:\n  server: pbx-b\n", nil, "pbx-b", "pbx-b"},
				{"flags win", "fleet:\n  server: pbx-a\n  tenant: acme\n", []string{"--tenant", "dental", "--server", "pbx-9"}, "dental", "pbx-9"},
				{"fleet-wide", "fleet:\n  server: pbx-a\n", []string{"--tenant", ""}, "", "pbx-a"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					args, records := migrateFixture(t, tc.fleet)
					to := tg.to(t)
					migrate := append(append(append([]string{}, args...), "db", "migrate", "--to", to), tc.flags...)
					out, err := runCLI(t, migrate...)
					if err != nil {
						t.Fatalf("%v\n%s", err, out)
					}
					for _, want := range []string{
						"lists: 4 of 4 (100%)", fmt.Sprintf("call log: %d of %d (100%%)", records, records),
						"verify call log:", "OK: the destination holds every entry",
						fmt.Sprintf("call log %d", records), "allow " + scopeLabel(tc.wantTenant),
					} {
						if !strings.Contains(squeeze(out), want) {
							t.Errorf("output lacks %q:\n%s", want, out)
						}
					}

					// The fleet database holds the entries in the tenant's
					// scope, and the records stamped.
					dst, err := store.Open(t.Context(), to)
					if err != nil {
						t.Fatal(err)
					}
					entries, err := dst.Entries(t.Context(), store.ListFilter{Tenants: []string{tc.wantTenant}})
					if err != nil || len(entries) != 4 {
						t.Errorf("entries in scope %q: %d, %v", tc.wantTenant, len(entries), err)
					}
					for _, e := range entries {
						if e.Number == "+81355550000" && (e.Reason != "pharmacy" || e.Source != screening.SourceOperator) {
							t.Errorf("entry %+v", e)
						}
					}
					recs, err := dst.Records(t.Context(), store.RecordFilter{Server: tc.wantServer, Limit: -1})
					if err != nil || len(recs) != records || recs[0].Tenant != tc.wantTenant || recs[0].Server != tc.wantServer {
						t.Errorf("records of %q: %d, %v", tc.wantServer, len(recs), err)
					}
					dst.Close()

					// Again, as JSON: nothing new, still verified.
					out, err = runCLI(t, append(migrate, "--json")...)
					if err != nil {
						t.Fatalf("rerun: %v\n%s", err, out)
					}
					var rep struct {
						OK    bool   `json:"ok"`
						Dest  string `json:"destination"`
						Lists []struct {
							Written, Verified int
						} `json:"lists"`
						Log struct {
							Written, Verified int
						} `json:"call_log"`
					}
					line := out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]
					if err := json.Unmarshal([]byte(line), &rep); err != nil {
						t.Fatalf("not JSON: %v\n%s", err, out)
					}
					if !rep.OK || rep.Log.Written != 0 || rep.Log.Verified != records || len(rep.Lists) != 3 || strings.Contains(rep.Dest, "secret") {
						t.Errorf("rerun: %+v", rep)
					}
					for _, l := range rep.Lists {
						if l.Written != 0 || l.Verified == 0 {
							t.Errorf("rerun: list %+v", l)
						}
					}
				})
			}
		})
	}
}

func TestDBMigrateRefuses(t *testing.T) {
	args, _ := migrateFixture(t, "fleet:\n  server: pbx-a\n")
	missing := filepath.Join(t.TempDir(), "none.db")
	for _, tc := range []struct {
		name  string
		args  []string
		want  string
		usage bool
	}{
		{"no --to", append(args, "db", "migrate"), "--to", true},
		{"bad tenant", append(args, "db", "migrate", "--to", filepath.Join(t.TempDir(), "x.db"), "--tenant", "a b"), "--tenant", true},
		{"into itself", append(args, "db", "migrate", "--to", args[3]), "already uses", true},
		{"no source", []string{"-c", args[1], "--database", missing, "db", "migrate", "--to", filepath.Join(t.TempDir(), "x.db")}, "nothing to migrate", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCLI(t, tc.args...)
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &ue) != tc.usage {
				t.Errorf("err %v, want %q (usage error %v)", err, tc.want, tc.usage)
			}
		})
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a missing source was created")
	}
}

// TestDBMigrateMismatch checks that a copy the verification finds
// incomplete fails: the fleet database holds a record of another server
// under an ID of the store's, which the copy does not overwrite.
func TestDBMigrateMismatch(t *testing.T) {
	args, records := migrateFixture(t, "fleet:\n  server: pbx-a\n")
	to := filepath.Join(t.TempDir(), "fleet.db")
	dst, err := store.Open(t.Context(), to)
	if err != nil {
		t.Fatal(err)
	}
	w, err := store.NewLogWriter(t.Context(), dst, store.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(screening.Record{ID: "1732512345.7", Time: time.Now(), Server: "pbx-z", Mode: "agi", Taken: screening.Reject, Outcome: "rejected"})
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	out, err := runCLI(t, append(args, "db", "migrate", "--to", to)...)
	if err == nil || !strings.Contains(err.Error(), "verification failed: 1 ") {
		t.Errorf("err %v, want a failed verification", err)
	}
	if !strings.Contains(out, "MISMATCH") || !strings.Contains(squeeze(out), fmt.Sprintf("call log %d %d %d 0 1", records, records-1, records-1)) {
		t.Errorf("output:\n%s", out)
	}
}

// squeeze turns every run of spaces into one, for matching table rows.
func squeeze(s string) string {
	return regexp.MustCompile(` +`).ReplaceAllString(s, " ")
}
