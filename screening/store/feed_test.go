package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/callscreen/callscreen/screening"
)

// TestChanges: what a server screening for tenant "shop" takes from the
// feed after each kind of write, made by another process on the same
// database (the CLI, another server of the fleet): entry by entry for puts,
// deletes and purges, a reload for an import or a gap in the feed.
func TestChanges(t *testing.T) {
	const tenant = "shop"
	fleetBlock := screening.Entry{Kind: screening.Block, Number: "+81312345671", Reason: "fleet"}
	shopAllow := screening.Entry{Kind: screening.Allow, Number: "+81312345672", Tenant: tenant}
	otherAllow := screening.Entry{Kind: screening.Allow, Number: "+81312345673", Tenant: "bakery"}
	shopBlock := screening.Entry{Kind: screening.Block, Number: fleetBlock.Number, Tenant: tenant, Reason: "shop"}
	tests := []struct {
		name       string
		edit       func(t *testing.T, st *Store)
		want       []string // "put|del tenant kind number reason"
		wantReload bool
		wantSteps  int64 // how far the version moves
		// bulk: at least wantSteps, SQLite moving the version for each
		// row, PostgreSQL for each statement
		bulk bool
	}{
		{"nothing", func(*testing.T, *Store) {}, nil, false, 0, false},
		{"a fleet-wide block", func(t *testing.T, st *Store) { putAll(t, st, fleetBlock) },
			[]string{"put  block +81312345671 fleet"}, false, 1, false},
		{"the tenant's allow entry", func(t *testing.T, st *Store) { putAll(t, st, shopAllow) },
			[]string{"put shop allow +81312345672 "}, false, 1, false},
		{"another tenant's entry is not the server's", func(t *testing.T, st *Store) { putAll(t, st, otherAllow) },
			nil, false, 1, false},
		{"put, then delete", func(t *testing.T, st *Store) {
			putAll(t, st, shopAllow)
			if removed, _, err := st.DeleteVersion(t.Context(), tenant, screening.Allow, shopAllow.Number); err != nil || !removed {
				t.Fatalf("DeleteVersion = %v, %v", removed, err)
			}
		}, []string{"put shop allow +81312345672 ", "del shop allow +81312345672 "}, false, 2, false},
		{"a delete of nothing moves nothing", func(t *testing.T, st *Store) {
			if removed, _, err := st.DeleteVersion(t.Context(), tenant, screening.Allow, "+81399999999"); err != nil || removed {
				t.Fatalf("DeleteVersion = %v, %v", removed, err)
			}
		}, nil, false, 0, false},
		{"the tenant's block removed under a fleet-wide one: the fleet's holds", func(t *testing.T, st *Store) {
			putAll(t, st, fleetBlock, shopBlock)
			if removed, _, err := st.DeleteVersion(t.Context(), tenant, screening.Block, shopBlock.Number); err != nil || !removed {
				t.Fatalf("DeleteVersion = %v, %v", removed, err)
			}
		}, []string{"put  block +81312345671 fleet", "put shop block +81312345671 shop", "put  block +81312345671 fleet"}, false, 3, false},
		{"expired entries purged: nothing in force changed", func(t *testing.T, st *Store) {
			putAll(t, st, entry("block", "+81312345674", "2026-02-01T00:00:00Z"), entry("block", "+81312345675", "2026-02-01T00:00:00Z"))
			if n, err := st.PurgeExpired(t.Context(), t0); err != nil || n != 2 {
				t.Fatalf("PurgeExpired = %d, %v; want 2", n, err)
			}
		}, []string{"put  block +81312345674 test +81312345674", "put  block +81312345675 test +81312345675"}, false, 3, true},
		{"an import reloads", func(t *testing.T, st *Store) {
			if _, err := st.Import(t.Context(), screening.Block, strings.NewReader("+81312345676\n+81312345677\n"), ImportOptions{}); err != nil {
				t.Fatal(err)
			}
		}, nil, true, 1, true},
		{"a gap in the feed reloads", func(t *testing.T, st *Store) {
			putAll(t, st, fleetBlock, shopAllow)
			if _, err := st.w.ExecContext(t.Context(), "DELETE FROM list_changes WHERE number = "+fmt.Sprintf("'%s'", fleetBlock.Number)); err != nil {
				t.Fatal(err)
			}
		}, []string{"put shop allow +81312345672 "}, true, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := testDatabase(t)
			serve, err := Open(t.Context(), db)
			if err != nil {
				t.Fatal(err)
			}
			defer serve.Close()
			other, err := Open(t.Context(), db)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			// Some history first, as a running server has.
			putAll(t, other, screening.Entry{Kind: screening.Allow, Number: "+81300000000"})
			since, err := serve.ListsVersion(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(t, other)
			cs, err := serve.Changes(t.Context(), since, tenant)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cs.Changes {
				op := "put"
				if c.Removed {
					op = "del"
				}
				got = append(got, fmt.Sprintf("%s %s %s %s %s", op, c.Entry.Tenant, c.Entry.Kind, c.Entry.Number, c.Entry.Reason))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if cs.Reload != tt.wantReload {
				t.Errorf("reload = %v, want %v", cs.Reload, tt.wantReload)
			}
			if cs.Version != since+tt.wantSteps && !(tt.bulk && cs.Version > since+tt.wantSteps) {
				t.Errorf("version %d -> %d, want %d steps", since, cs.Version, tt.wantSteps)
			}
			// Asked again from the version it brought: nothing new.
			if again, err := serve.Changes(t.Context(), cs.Version, tenant); err != nil || len(again.Changes) > 0 || again.Reload || again.Version != cs.Version {
				t.Errorf("asked again from %d: %+v, %v; want nothing", cs.Version, again, err)
			}
		})
	}
}
