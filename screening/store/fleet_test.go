package store

import (
	"testing"
	"time"

	"github.com/callscreen/callscreen/screening"
)

func TestFleet(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	at := func(id string, minutes int, server, tenant string) screening.Record {
		r := rec(id, minutes, "+81312345678", screening.Ring, screening.OutcomeRang, false)
		r.Server, r.Tenant = server, tenant
		return r
	}
	for _, r := range []screening.Record{
		at("old", -25*60, "pbx-a", "shop"), // before the window
		at("a1", -120, "pbx-a", "shop"),
		at("a2", -60, "pbx-a", "shop"),
		at("a3", -30, "pbx-a", "clinic"), // one server, two tenants
		at("b1", -10, "pbx-b", "shop"),
		at("n1", -5, "", ""), // a server without a name or tenant
	} {
		if err := appendRecord(ctx, st, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Fleet(ctx, t0.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []FleetServer{
		{"", "", 1, t0.Add(-5 * time.Minute)},
		{"pbx-a", "clinic", 1, t0.Add(-30 * time.Minute)},
		{"pbx-a", "shop", 2, t0.Add(-60 * time.Minute)},
		{"pbx-b", "shop", 1, t0.Add(-10 * time.Minute)},
	}
	if len(got) != len(want) {
		t.Fatalf("Fleet = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Server != want[i].Server || got[i].Tenant != want[i].Tenant || got[i].Calls != want[i].Calls || !got[i].Last.Equal(want[i].Last) {
			t.Errorf("Fleet[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, err := st.Fleet(ctx, t0); err != nil || len(got) != 0 {
		t.Errorf("Fleet after the last call = %+v, %v; want none", got, err)
	}
}

func TestCountIn(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	for _, e := range []screening.Entry{
		{Kind: screening.Block, Number: "+81312345678"},
		{Kind: screening.Block, Number: "+81312345679", Tenant: "shop"},
		{Kind: screening.Block, Number: "+81312345678", Tenant: "shop"}, // the same number in another scope
		{Kind: screening.Block, Number: "+81312345670", Tenant: "clinic"},
		{Kind: screening.Allow, Number: "+81312345671", Tenant: "shop"},
		{Kind: screening.Block, Number: "+81312345672", Tenant: "shop", Expires: t0.Add(-time.Hour)}, // expired, not purged
	} {
		if err := st.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name    string
		tenants []string
		want    int
	}{
		{"every scope", nil, 5},
		{"fleet-wide", []string{""}, 1},
		{"one tenant", []string{"shop"}, 3},
		{"a tenant and the fleet", []string{"", "shop"}, 4},
		{"no scope", []string{}, 0},
		{"unknown tenant", []string{"nobody"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, err := st.CountIn(ctx, screening.Block, tt.tenants)
			if err != nil || n != tt.want {
				t.Errorf("CountIn(block, %q) = %d, %v; want %d", tt.tenants, n, err, tt.want)
			}
		})
	}
}
