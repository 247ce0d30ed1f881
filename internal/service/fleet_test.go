package service

import (
	"context"

	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/callscreen/callscreen/internal/pgtest"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// pg is the PostgreSQL cluster the fleet tests share; nil when PostgreSQL
// is not installed (they then run on SQLite only).
var pg *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

// backends returns a fresh database of each kind the tests can run on:
// a SQLite file (several stores on it are several processes on one PBX)
// and a PostgreSQL database (several servers of a fleet).
func backends(t *testing.T) map[string]string {
	dbs := map[string]string{"sqlite": filepath.Join(t.TempDir(), "callscreen.db")}
	if pg != nil {
		dbs["postgres"] = pg.NewDatabase(t)
	} else if pgtest.Required() {
		t.Fatal("PostgreSQL is required")
	}
	return dbs
}

// server is one callscreen server of a test fleet: its own store handle
// on the shared database, its live lists and its Service following the
// change feed.
type server struct {
	st  *store.Store
	svc *Service
}

func startServer(t *testing.T, db, tenant string) *server {
	t.Helper()
	st, err := store.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := st.SnapshotFor(t.Context(), time.Now(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	svc := New(st, screening.NewLists(snap), Options{Logger: quiet(), Tenant: tenant, ReloadEvery: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return &server{st: st, svc: svc}
}

// eventually waits for cond, up to 5 s, and returns how long it took.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func holds(s *server, k screening.ListKind, number string) bool {
	_, ok := s.svc.Lists().Lookup(k, number, time.Now())
	return ok
}

// TestFeedAcrossServers checks what servers sharing a database see of one
// another's list changes, through the change feed: fleet-wide entries
// everywhere, a tenant's entries only on that tenant's servers, and an
// entry of one scope removed while another scope still holds the number.
func TestFeedAcrossServers(t *testing.T) {
	for name, db := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			a := startServer(t, db, "shop-a")
			a2 := startServer(t, db, "shop-a") // the shop's second PBX
			b := startServer(t, db, "shop-b")
			now := time.Now()
			const robo, friend, both = "+815012340001", "+819011112222", "+815099990000"

			// A fleet-wide block from server A's dashboard reaches B.
			if err := a.svc.Put(ctx, screening.Entry{Kind: screening.Block, Number: robo, Source: screening.SourceOperator, Created: now}); err != nil {
				t.Fatal(err)
			}
			took := eventually(t, "fleet block on B", func() bool { return holds(b, screening.Block, robo) })
			t.Logf("%s: a fleet-wide block reached another server in %v", name, took.Round(time.Millisecond))

			// A caller remembered at shop A: on both of shop A's servers,
			// never at shop B.
			if err := a.svc.Remember(ctx, screening.Entry{Kind: screening.Allow, Number: friend, Source: screening.SourceChallenge, Created: now, Expires: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "shop A's allow on its second server", func() bool { return holds(a2, screening.Allow, friend) })
			// B has read the feed past that change once a later
			// fleet-wide change reaches it.
			if err := a.svc.Put(ctx, screening.Entry{Kind: screening.Block, Number: both, Source: screening.SourceOperator, Created: now}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "second fleet block on B", func() bool { return holds(b, screening.Block, both) })
			if holds(b, screening.Allow, friend) {
				t.Errorf("shop B holds shop A's allow entry for %s", friend)
			}

			// Shop B blocks the same number itself, then lifts its own
			// block: the fleet-wide one still stands on B.
			if err := b.svc.Put(ctx, screening.Entry{Kind: screening.Block, Number: both, Source: screening.SourceOperator, Reason: "shop B's", Created: now, Tenant: "shop-b"}); err != nil {
				t.Fatal(err)
			}
			if removed, err := b.svc.Delete(ctx, "shop-b", screening.Block, both); err != nil || !removed {
				t.Fatalf("Delete shop B's block: %v, %v", removed, err)
			}
			eventually(t, "fleet block back on B", func() bool { return holds(b, screening.Block, both) })
			time.Sleep(200 * time.Millisecond) // several rounds of the feed
			if !holds(b, screening.Block, both) {
				t.Errorf("B lost the fleet-wide block of %s when shop B lifted its own", both)
			}

			// The fleet-wide block lifted: gone everywhere.
			if removed, err := b.svc.Delete(ctx, "", screening.Block, both); err != nil || !removed {
				t.Fatalf("Delete fleet block: %v, %v", removed, err)
			}
			eventually(t, "fleet block gone from A", func() bool { return !holds(a, screening.Block, both) })
			eventually(t, "fleet block gone from A2", func() bool { return !holds(a2, screening.Block, both) })

			// A server that starts now loads the same lists once.
			c := startServer(t, db, "shop-a")
			got, want := listed(c), listed(a2)
			if len(got) != len(want) {
				t.Fatalf("a new server of shop A holds %v, its running peer %v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("a new server of shop A holds %v, its running peer %v", got, want)
					break
				}
			}
		})
	}
}

// listed returns what a server's live lists hold of the test's numbers.
func listed(s *server) []string {
	var out []string
	for _, k := range []screening.ListKind{screening.Allow, screening.Block} {
		for _, n := range []string{"+815012340001", "+819011112222", "+815099990000"} {
			if holds(s, k, n) {
				out = append(out, string(k)+" "+n)
			}
		}
	}
	sort.Strings(out)
	return out
}
