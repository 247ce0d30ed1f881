package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

func newLog(g *globals) *cobra.Command {
	var (
		f       store.RecordFilter
		since   string
		action  string
		outcome string
		asJSON  bool
		summary bool
		id      string
	)
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Show recent screening decisions, newest first",
		Example: `  callscreen log
  callscreen log --action reject --since 7d
  callscreen log --caller +8190 --json
  callscreen log --summary --since 7d
  callscreen log --id 1732512345.42`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			if since != "" {
				t, err := parseSince(since, now)
				if err != nil {
					return usageError{err}
				}
				f.Since = t
			}
			if action != "" {
				a, err := screening.ParseAction(action)
				if err != nil {
					return usageError{err}
				}
				f.Action = a
			}
			f.Outcome = screening.Outcome(outcome)
			_, rt, err := g.open(cmd.Context(), screenerOptions{readOnly: true, noLists: true})
			if err != nil {
				return err
			}
			defer rt.Close()
			st, err := rt.requireStore()
			if err != nil {
				return err
			}
			if id != "" {
				return printOneRecord(cmd, st, id, asJSON)
			}
			if summary {
				from := f.Since
				if from.IsZero() {
					from = now.Add(-7 * 24 * time.Hour)
				}
				s, err := st.Summary(cmd.Context(), from, now)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(newSummaryJSON(s))
				}
				printSummary(cmd.OutOrStdout(), s, from, now)
				return nil
			}
			recs, err := st.Records(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				for _, r := range recs {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			}
			printRecords(cmd.OutOrStdout(), recs, rt.engine)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Caller, "caller", "", "only callers whose number contains this")
	fl.StringVar(&action, "action", "", "only this verdict action (ring, challenge, voicemail, number-request, reject, drop)")
	fl.StringVar(&outcome, "outcome", "", "only this outcome (rang, voicemail, announced, rejected, dropped, challenge-passed, challenge-failed, abandoned, error)")
	fl.StringVar(&f.Profile, "profile", "", "only this profile")
	fl.StringVar(&since, "since", "", "only calls since a duration ago (90m, 24h, 7d) or a date (2026-11-01)")
	fl.BoolVar(&f.MonitorOnly, "monitor", false, "only calls screened in monitor mode")
	fl.IntVarP(&f.Limit, "limit", "n", 50, "show at most this many")
	fl.BoolVar(&asJSON, "json", false, "print one JSON record per line")
	fl.StringVar(&id, "id", "", "show the whole record of one call: its id (SCREEN_ID, a notification's call_id)")
	fl.BoolVar(&summary, "summary", false, "print counts by action and outcome, top indicators, and what monitor mode would have changed (default: the last 7 days)")
	return cmd
}

// parseSince accepts a duration back from now or a date.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, ok := parseSpan(s); ok && d > 0 {
		return now.Add(-d), nil
	}
	if t, ok := parseDate(s); ok {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration (90m, 24h, 7d) or a date (2026-11-01)", s)
}

// printRecords prints the call log as a table. Callers of a profile's own
// country are written in its national format (03-5555-0000); --json keeps
// E.164.
func printRecords(w io.Writer, recs []screening.Record, eng *screening.Engine) {
	if len(recs) == 0 {
		fmt.Fprintln(w, "no calls")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCALLER\tNAME\tCALLED\tPROFILE\tVERDICT\tSCORE\tOUTCOME\tREASONS")
	for _, r := range recs {
		verdict := verdictText(&r.Verdict)
		outcome := string(r.Outcome)
		if r.Detail != "" {
			outcome += ": " + r.Detail
		}
		caller := r.Verdict.Caller
		if caller == "" {
			caller = "(" + string(r.Verdict.Presence) + ")"
		} else if eng != nil {
			caller = screening.NationalFormat(caller, eng.ProfileFor(r.Verdict.Profile, "").Country)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
			r.Time.Local().Format("01-02 15:04:05"), safe(cut(caller, 24)), safe(cut(r.Facts.Name, 20)),
			safe(cut(r.Facts.Called, 16)), r.Verdict.Profile, verdict, r.Verdict.Score, safe(outcome), safe(whyText(&r.Verdict)))
	}
	tw.Flush()
}

func printSummary(w io.Writer, s store.Summary, from, to time.Time) {
	fmt.Fprintf(w, "Calls from %s to %s: %d\n\n", from.Local().Format("2006-01-02 15:04"), to.Local().Format("2006-01-02 15:04"), s.Calls)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERDICT\tCALLS")
	for _, kv := range sortedCounts(s.ByAction) {
		fmt.Fprintf(tw, "%s\t%d\n", kv.key, kv.n)
	}
	fmt.Fprintln(tw, "\t")
	fmt.Fprintln(tw, "OUTCOME\tCALLS")
	for _, kv := range sortedCounts(s.ByOutcome) {
		fmt.Fprintf(tw, "%s\t%d\n", kv.key, kv.n)
	}
	tw.Flush()
	if len(s.Indicators) > 0 {
		fmt.Fprintln(w, "\nTop indicators:")
		for i, ic := range s.Indicators {
			if i == 10 {
				break
			}
			fmt.Fprintf(w, "  %-22s %d\n", ic.Name, ic.Calls)
		}
	}
	if s.Monitor > 0 {
		fmt.Fprintf(w, "\nMonitor mode: %d calls rang unscreened; enforcing would have changed:\n", s.Monitor)
		for _, kv := range sortedCounts(s.WouldHave) {
			fmt.Fprintf(w, "  %d calls would have been %s\n", kv.n, wouldHaveVerb(kv.key))
		}
	}
}

func wouldHaveVerb(action string) string {
	switch screening.Action(action) {
	case screening.Reject:
		return "rejected"
	case screening.Voicemail:
		return "sent to voicemail"
	case screening.NumberRequest:
		return "asked to call again with the number shown"
	case screening.Challenge:
		return "challenged"
	case screening.Drop:
		return "dropped as scanners"
	}
	return action
}

type keyCount struct {
	key string
	n   int
}

func sortedCounts[K ~string](m map[K]int) []keyCount {
	out := make([]keyCount, 0, len(m))
	for k, n := range m {
		out = append(out, keyCount{string(k), n})
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && (out[j].n > out[j-1].n || (out[j].n == out[j-1].n && out[j].key < out[j-1].key)); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
