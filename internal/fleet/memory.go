package fleet

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// Memory is an Exchange and a Broadcaster kept in memory: the servers of
// one process share it (a simulation, tests). Its broadcasts reach every
// Tracker subscribed, at once.
type Memory struct {
	now func() time.Time

	mu       sync.Mutex
	numbers  map[string]map[memKey]*screening.Sighting
	prefixes map[string]map[string]bool // prefix -> numbers
	subs     []*Tracker
}

type memKey struct {
	tenant, server string
	minute         int64
}

// NewMemory returns an empty exchange reading the clock now (nil:
// time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, numbers: make(map[string]map[memKey]*screening.Sighting), prefixes: make(map[string]map[string]bool)}
}

// Subscribe makes t receive the broadcasts.
func (m *Memory) Subscribe(t *Tracker) {
	m.mu.Lock()
	m.subs = append(m.subs, t)
	m.mu.Unlock()
}

// PublishSightings implements Exchange.
func (m *Memory) PublishSightings(_ context.Context, s []screening.Sighting, window time.Duration) ([]screening.SweepAggregate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	touched := make(map[string]bool)
	for _, x := range s {
		byKey := m.numbers[x.Number]
		if byKey == nil {
			byKey = make(map[memKey]*screening.Sighting)
			m.numbers[x.Number] = byKey
		}
		k := memKey{x.Tenant, x.Server, x.Minute.Unix()}
		if have := byKey[k]; have != nil {
			have.Calls += x.Calls
			have.Failed += x.Failed
		} else {
			c := x
			byKey[k] = &c
		}
		touched[x.Number] = true
		if p := screening.SweepPrefix(x.Number); p != "" {
			if m.prefixes[p] == nil {
				m.prefixes[p] = make(map[string]bool)
			}
			m.prefixes[p][x.Number] = true
			touched[p+"*"] = true
		}
	}
	cut := m.now().Add(-window).Truncate(time.Minute)
	out := make([]screening.SweepAggregate, 0, len(touched))
	for key := range touched {
		out = append(out, m.aggregate(key, cut))
	}
	return out, nil
}

// SweepAggregates implements Exchange.
func (m *Memory) SweepAggregates(_ context.Context, window time.Duration, minTenants, minFailed int) ([]screening.SweepAggregate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cut := m.now().Add(-window).Truncate(time.Minute)
	var out []screening.SweepAggregate
	keys := make([]string, 0, len(m.numbers)+len(m.prefixes))
	for n := range m.numbers {
		keys = append(keys, n)
	}
	for p := range m.prefixes {
		keys = append(keys, p+"*")
	}
	for _, k := range keys {
		if a := m.aggregate(k, cut); a.Tenants > 0 && (a.Tenants >= minTenants || a.Failed >= minFailed) {
			out = append(out, a)
		}
	}
	return out, nil
}

// aggregate sums key's sightings from cut on; m.mu is held.
func (m *Memory) aggregate(key string, cut time.Time) screening.SweepAggregate {
	numbers := []string{key}
	if prefix, ok := strings.CutSuffix(key, "*"); ok {
		numbers = numbers[:0]
		for n := range m.prefixes[prefix] {
			numbers = append(numbers, n)
		}
	}
	byTenant := make(map[string]*screening.TenantCount)
	var order []string
	for _, n := range numbers {
		for k, x := range m.numbers[n] {
			if x.Minute.Before(cut) {
				continue
			}
			tc := byTenant[k.tenant]
			if tc == nil {
				tc = &screening.TenantCount{Tenant: k.tenant}
				byTenant[k.tenant] = tc
				order = append(order, k.tenant)
			}
			tc.Calls += x.Calls
			tc.Failed += x.Failed
			if x.Minute.After(tc.Last) {
				tc.Last = x.Minute
			}
		}
	}
	rows := make([]screening.TenantCount, 0, len(order))
	for _, t := range order {
		rows = append(rows, *byTenant[t])
	}
	return screening.SummarizeSweep(key, rows)
}

// BroadcastSweeps implements Broadcaster: every subscriber receives the
// aggregates, the sender too (merging its own aggregates again changes
// nothing).
func (m *Memory) BroadcastSweeps(_ context.Context, a []screening.SweepAggregate) error {
	m.mu.Lock()
	subs := m.subs
	m.mu.Unlock()
	for _, t := range subs {
		t.Receive(a)
	}
	return nil
}
