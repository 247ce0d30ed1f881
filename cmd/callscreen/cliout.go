package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// listSources are the values of an entry's source (screening.Source*).
var listSources = []string{screening.SourceOperator, screening.SourceImport, screening.SourceChallenge, screening.SourceVelocity, screening.SourceCallback, screening.SourceChallengeFailures, screening.SourceFleetSweep}

// checkSource accepts "" (any) or one of listSources.
func checkSource(s string) error {
	if s == "" || slices.Contains(listSources, s) {
		return nil
	}
	return fmt.Errorf("--source %q: want one of %s", s, strings.Join(listSources, ", "))
}

// keepReasons gives each entry that is already on its list, and has no
// reason of its own, the reason stored for it.
func keepReasons(ctx context.Context, st *store.Store, entries []screening.Entry) error {
	for i, e := range entries {
		if e.Reason != "" {
			continue
		}
		have, err := st.Entries(ctx, store.ListFilter{Kind: e.Kind, Prefix: e.Number, IncludeExpired: true})
		if err != nil {
			return err
		}
		for _, h := range have {
			if h.Number == e.Number {
				entries[i].Reason = h.Reason
				break
			}
		}
	}
	return nil
}

// summaryJSON is `callscreen log --summary --json`: the field names of
// GET /api/summary (docs/API.md).
type summaryJSON struct {
	Since      time.Time                 `json:"since"`
	Until      time.Time                 `json:"until"`
	Calls      int                       `json:"calls"`
	ByAction   map[screening.Action]int  `json:"by_action"`
	ByOutcome  map[screening.Outcome]int `json:"by_outcome"`
	Indicators []indicatorCountJSON      `json:"indicators"`
	Monitor    int                       `json:"monitor"`
	WouldHave  map[screening.Action]int  `json:"would_have"`
}

type indicatorCountJSON struct {
	Name  string `json:"name"`
	Calls int    `json:"calls"`
}

func newSummaryJSON(s store.Summary) summaryJSON {
	out := summaryJSON{
		Since: s.Since, Until: s.Until, Calls: s.Calls,
		ByAction: s.ByAction, ByOutcome: s.ByOutcome, Monitor: s.Monitor, WouldHave: s.WouldHave,
		Indicators: []indicatorCountJSON{},
	}
	if out.ByAction == nil {
		out.ByAction = map[screening.Action]int{}
	}
	if out.ByOutcome == nil {
		out.ByOutcome = map[screening.Outcome]int{}
	}
	if out.WouldHave == nil {
		out.WouldHave = map[screening.Action]int{}
	}
	for _, ic := range s.Indicators {
		out.Indicators = append(out.Indicators, indicatorCountJSON{ic.Name, ic.Calls})
	}
	return out
}

// printOneRecord is `callscreen log --id ID`: the whole record, indented
// (one line with --json).
func printOneRecord(cmd *cobra.Command, st *store.Store, id string, asJSON bool) error {
	rec, err := st.Record(cmd.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no call with id %q in the call log (ids are SCREEN_ID, the first column of callscreen log)", id)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(cmd.OutOrStdout())
	if !asJSON {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(rec)
}

// doctorResult is one check in `callscreen doctor --json`.
type doctorResult struct {
	Status  string `json:"status"` // ok, warn, fail
	Name    string `json:"name"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// writeJSON prints `callscreen doctor --json`.
func (d *doctorRun) writeJSON() error {
	results := d.results
	if results == nil {
		results = []doctorResult{}
	}
	return json.NewEncoder(d.out).Encode(struct {
		Checks   []doctorResult `json:"checks"`
		Failed   int            `json:"failed"`
		Warnings int            `json:"warnings"`
	}{results, d.failed, d.warned})
}
