package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// printProfilesNow lists the profile each DID gets at now, opening hours
// applied, and the profile every other DID gets, then each profile's next
// closed day.
func printProfilesNow(w io.Writer, eng *screening.Engine, dids map[string]string, now time.Time) {
	fmt.Fprintf(w, "\nProfiles at %s:\n", now.Format("Mon 2006-01-02 15:04 MST"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  DID\tPROFILE\tWHY")
	row := func(label, did string) {
		p, closed := eng.ProfileAt("", did, now)
		why := "open"
		if closed != "" {
			why = closed
		} else if p.Hours.IsZero() {
			why = "no hours set"
		}
		if p.Monitor {
			why += "; monitor mode"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", label, p.Name, why)
	}
	keys := make([]string, 0, len(dids))
	for d := range dids {
		keys = append(keys, d)
	}
	slices.Sort(keys)
	for _, d := range keys {
		row(safe(d), d)
	}
	row("(other DIDs)", "")
	tw.Flush()
	if days := eng.NextClosedDays(now); len(days) > 0 {
		fmt.Fprintln(w, "\nNext closed day (hours.closed_on):")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, d := range days {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", d.Profile, d.Day.Format("Mon 2006-01-02"), d.Why)
		}
		tw.Flush()
	}
}
