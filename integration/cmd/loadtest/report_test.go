package main

import (
	"math"
	"testing"
	"time"
)

func TestFindPools(t *testing.T) {
	res := []stepResult{
		{Path: "ari", Rate: 50, Calls: 3, Wire: []float64{5, 6, 7}, CSCPU: 1, AstCPU: 10, Elapsed: time.Minute, Outcomes: map[string]int{"rang": 3}},
		{Path: "ari-pg", Rate: 50, Calls: 2, Wire: []float64{1, 2}, CSCPU: 5},
		{Path: "ari", Rate: 10, Calls: 1, Wire: []float64{100}},
		{Path: "ari", Rate: 50, Calls: 4, Wire: []float64{1, 2, 3, 8}, CSCPU: 2, AstCPU: 20, Elapsed: time.Minute, Outcomes: map[string]int{"rang": 3, "rejected": 1}},
	}
	tests := []struct {
		path       string
		rate       int
		ok         bool
		calls      int
		median     float64
		cpu, ast   float64
		rang, rejd int
	}{
		{path: "ari", rate: 50, ok: true, calls: 7, median: 5, cpu: 3, ast: 30, rang: 6, rejd: 1},
		{path: "ari", rate: 10, ok: true, calls: 1, median: 100},
		{path: "ari-pg", rate: 50, ok: true, calls: 2, median: 1, cpu: 5},
		{path: "agi", rate: 50},
	}
	for _, tc := range tests {
		r, ok := find(res, tc.path, tc.rate)
		if ok != tc.ok {
			t.Fatalf("find(%s, %d): ok = %v", tc.path, tc.rate, ok)
		}
		if !ok {
			continue
		}
		if r.Calls != tc.calls || percentile(r.Wire, 50) != tc.median || r.CSCPU != tc.cpu || r.AstCPU != tc.ast ||
			r.Outcomes["rang"] != tc.rang || r.Outcomes["rejected"] != tc.rejd {
			t.Errorf("find(%s, %d) = %d calls, median %v, CPU %v/%v, outcomes %v; want %d, %v, %v/%v, rang %d rejected %d",
				tc.path, tc.rate, r.Calls, percentile(r.Wire, 50), r.CSCPU, r.AstCPU, r.Outcomes, tc.calls, tc.median, tc.cpu, tc.ast, tc.rang, tc.rejd)
		}
	}
	// The steps themselves are left as they were.
	if len(res[0].Wire) != 3 || res[0].Outcomes["rang"] != 3 {
		t.Errorf("find changed the first step: %+v", res[0])
	}
}

func TestPairedMedians(t *testing.T) {
	step := func(path string, rate int, median float64) stepResult {
		return stepResult{Path: path, Rate: rate, Wire: []float64{median - 1, median, median + 1}}
	}
	res := []stepResult{
		step("baseline", 10, 4), step("ari", 10, 6), step("ari-pg", 10, 6.5),
		step("ari-pg", 10, 7.5), step("ari", 10, 7), step("baseline", 10, 5),
		step("ari", 10, 6), step("ari-pg", 10, 6.5), step("ari", 50, 100),
		step("ari", 10, 9), // a step without its twin is left out
	}
	tests := []struct {
		a, b     string
		rate     int
		n        int
		mean, se float64
	}{
		{a: "ari", b: "ari-pg", rate: 10, n: 3, mean: 0.5, se: 0},
		{a: "ari-pg", b: "ari", rate: 10, n: 3, mean: -0.5, se: 0},
		{a: "baseline", b: "ari", rate: 10, n: 2, mean: 2, se: 0},
		{a: "ari", b: "ari-pg", rate: 50, n: 0},
	}
	for _, tc := range tests {
		d := pairedMedians(res, tc.a, tc.b, tc.rate)
		if d.n != tc.n || math.Abs(d.mean-tc.mean) > 1e-9 || math.Abs(d.se-tc.se) > 1e-9 {
			t.Errorf("pairedMedians(%s, %s, %d) = %+v; want n %d, mean %v, se %v", tc.a, tc.b, tc.rate, d, tc.n, tc.mean, tc.se)
		}
	}
	// Differences of 0 and 1: mean 0.5, standard deviation 0.707, error 0.5.
	d := pairedMedians([]stepResult{step("a", 1, 1), step("b", 1, 1), step("a", 1, 1), step("b", 1, 2)}, "a", "b", 1)
	if d.n != 2 || d.mean != 0.5 || math.Abs(d.se-0.5) > 1e-9 {
		t.Errorf("pairedMedians = %+v; want n 2, mean 0.5, se 0.5", d)
	}
}
