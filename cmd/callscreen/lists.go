package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/callscreen/callscreen/internal/service"
	"github.com/callscreen/callscreen/internal/textenc"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

func newLists(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lists",
		Short: "Show and edit the allow, block and do-not-originate lists",
		Long: `Lists hold numbers in E.164 form (+81312345678) or prefix patterns
(+4470*). Numbers given in national form are normalised with the default
profile's country. Kinds:
  allow  callers that bypass screening (customers, the clinic, the bank)
  block  callers that are rejected
  dno    numbers that never place calls (inbound-only, do-not-originate)

A running "callscreen serve" picks up changes within seconds.`,
	}
	cmd.AddCommand(newListsAdd(g), newListsRemove(g), newListsShow(g), newListsImport(g), newListsExport(g), newListsPurge(g))
	return cmd
}

func parseKind(s string) (screening.ListKind, error) {
	k, err := screening.ParseListKind(s)
	if err != nil {
		return "", usageError{err}
	}
	return k, nil
}

// normalizer returns a function turning a number as an operator types it
// into the E.164 form lists hold, in the default profile's country.
func (rt *screener) normalizer() func(string) (string, error) {
	return service.Normalizer(rt.numbers, rt.engine.ProfileFor("", "").Country)
}

// parseExpiry accepts a duration from now ("24h", "7d") or a date
// ("2026-12-31" or RFC 3339).
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, ok := parseSpan(s); ok {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--expires %s: must be in the future", s)
		}
		return now.Add(d), nil
	}
	if t, ok := parseDate(s); ok {
		if !t.After(now) {
			return time.Time{}, fmt.Errorf("--expires %s: that is in the past", s)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--expires %q: want a duration (90m, 24h, 7d) or a date (2026-12-31)", s)
}

// tenantHelp describes the --tenant flag of the list commands.
const tenantHelp = "the tenant whose entries these are (fleet mode); empty: every tenant sharing the database"

func newListsAdd(g *globals) *cobra.Command {
	var reason, expires, tenant string
	cmd := &cobra.Command{
		Use:   "add KIND NUMBER...",
		Short: "Add numbers or prefix patterns to a list",
		Example: `  callscreen lists add allow 0355550000 --reason "pharmacy"
  callscreen lists add block +4470* --reason "UK personal numbers"
  callscreen lists add block 05012345678 --expires 7d`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := parseKind(args[0])
			if err != nil {
				return err
			}
			now := time.Now()
			exp, err := parseExpiry(expires, now)
			if err != nil {
				return usageError{err}
			}
			if err := screening.ValidateReason(reason); err != nil { // as the API and an import do
				return usageError{err}
			}
			rt, st, err := openForLists(cmd, g)
			if err != nil {
				return err
			}
			defer rt.Close()
			norm := rt.normalizer()
			// Check every number before writing any.
			entries := make([]screening.Entry, 0, len(args)-1)
			for _, a := range args[1:] {
				n, err := norm(a)
				if err != nil {
					return usageError{err}
				}
				entries = append(entries, screening.Entry{Kind: kind, Number: n, Expires: exp, Source: screening.SourceOperator, Reason: reason, Created: now, Tenant: tenant})
			}
			if !cmd.Flags().Changed("reason") {
				// No --reason: an entry already on the list keeps its own.
				if err := keepReasons(cmd.Context(), st, entries); err != nil {
					return err
				}
			}
			for _, e := range entries {
				if err := st.Put(cmd.Context(), e); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added %s to %s%s\n", e.Number, kind, expirySuffix(e.Expires))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the entry exists (shown in verdicts); without it, an entry already listed keeps its reason")
	cmd.Flags().StringVar(&expires, "expires", "", "expire after a duration (24h, 7d) or on a date (2026-12-31)")
	cmd.Flags().StringVar(&tenant, "tenant", "", tenantHelp)
	return cmd
}

func expirySuffix(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " until " + t.Local().Format("2006-01-02 15:04")
}

func openForLists(cmd *cobra.Command, g *globals) (*screener, *store.Store, error) {
	_, rt, err := g.open(cmd.Context(), screenerOptions{noLists: true})
	if err != nil {
		return nil, nil, err
	}
	return rt, rt.store, nil
}

func newListsRemove(g *globals) *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:     "remove KIND NUMBER...",
		Aliases: []string{"rm", "delete"},
		Short:   "Remove numbers or prefix patterns from a list",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := parseKind(args[0])
			if err != nil {
				return err
			}
			rt, st, err := openForLists(cmd, g)
			if err != nil {
				return err
			}
			defer rt.Close()
			norm := rt.normalizer()
			missing := 0
			for _, a := range args[1:] {
				n, err := norm(a)
				if err != nil {
					return usageError{err}
				}
				ok, _, err := st.DeleteVersion(cmd.Context(), tenant, kind, n)
				if err != nil {
					return err
				}
				if ok {
					fmt.Fprintf(cmd.OutOrStdout(), "removed %s from %s\n", n, kind)
				} else {
					missing++
					fmt.Fprintf(cmd.ErrOrStderr(), "%s is not on the %s list\n", n, kind)
				}
			}
			if missing > 0 {
				return fmt.Errorf("%d of %d numbers were not on the %s list", missing, len(args)-1, kind)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", tenantHelp)
	return cmd
}

func newListsShow(g *globals) *cobra.Command {
	var (
		f      store.ListFilter
		asJSON bool
		tenant string
	)
	cmd := &cobra.Command{
		Use:     "show [KIND]",
		Aliases: []string{"ls"},
		Short:   "Show list entries with who added them, why and until when",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				k, err := parseKind(args[0])
				if err != nil {
					return err
				}
				f.Kind = k
			}
			if err := checkSource(f.Source); err != nil {
				return usageError{err}
			}
			if cmd.Flags().Changed("tenant") {
				f.Tenants = []string{tenant}
			}
			rt, st, err := openForLists(cmd, g)
			if err != nil {
				return err
			}
			defer rt.Close()
			entries, err := st.Entries(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				if entries == nil {
					entries = []screening.Entry{} // [], not null
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(entries)
			}
			printEntries(cmd.OutOrStdout(), entries, rt.engine.ProfileFor("", "").Country)
			return nil
		},
	}
	cmd.Flags().StringVar(&f.Prefix, "prefix", "", "only numbers starting with this (E.164, +8190)")
	cmd.Flags().StringVar(&f.Source, "source", "", "only entries from this source (operator, import, challenge, velocity, callback)")
	cmd.Flags().BoolVar(&f.IncludeExpired, "expired", false, "include expired entries not yet purged")
	cmd.Flags().IntVar(&f.Limit, "limit", 200, "show at most this many (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&tenant, "tenant", "", "only the entries of this tenant (\"\": those of every tenant)")
	return cmd
}

// printEntries prints list entries as a table; numbers of country (the
// default profile's) are written in its national format (03-5555-0000),
// --json keeps E.164.
func printEntries(w io.Writer, entries []screening.Entry, country string) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no entries")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	scoped := slices.ContainsFunc(entries, func(e screening.Entry) bool { return e.Tenant != "" })
	if scoped {
		fmt.Fprint(tw, "TENANT\t")
	}
	fmt.Fprintln(tw, "LIST\tNUMBER\tSOURCE\tEXPIRES\tADDED\tREASON")
	for _, e := range entries {
		if scoped {
			fmt.Fprintf(tw, "%s\t", cmp.Or(e.Tenant, "(all)"))
		}
		exp := "never"
		if !e.Expires.IsZero() {
			exp = e.Expires.Local().Format("2006-01-02 15:04")
		}
		added := ""
		if !e.Created.IsZero() {
			added = e.Created.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Kind, screening.NationalFormat(e.Number, country), e.Source, exp, added, safe(e.Reason))
	}
	tw.Flush()
}

func newListsImport(g *globals) *cobra.Command {
	var (
		skipBad bool
		tenant  string
	)
	cmd := &cobra.Command{
		Use:   "import KIND FILE",
		Short: "Import numbers from CSV or text (one per line; number,reason,expires)",
		Long: `import reads one number per line, optionally followed by a reason and an
expiry (CSV: number,reason,expires). Lines starting with # and blank lines
are skipped. Numbers in national form are normalised with the default
profile's country. The file may be UTF-8 or Shift_JIS (CP932, as Excel in
Japan saves CSV); the encoding is detected and reported. If any line is
bad, nothing is imported and every bad line is listed with its line
number, unless --skip-bad is given. Use - for standard input.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := parseKind(args[0])
			if err != nil {
				return err
			}
			var in io.Reader = cmd.InOrStdin()
			var size int64
			if args[1] != "-" {
				f, err := os.Open(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				if fi, err := f.Stat(); err == nil {
					size = fi.Size()
				}
				in = f
			}
			rt, st, err := openForLists(cmd, g)
			if err != nil {
				return err
			}
			defer rt.Close()
			bar := newProgress(cmd.ErrOrStderr(), size)
			text := textenc.NewReader(in)
			rep, err := st.Import(cmd.Context(), kind, text, store.ImportOptions{
				Normalize: rt.normalizer(),
				SkipBad:   skipBad,
				Progress:  bar.update,
				Tenant:    tenant,
			})
			bar.done()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d numbers into %s (%d new) from %d lines, %d skipped; read as %s\n",
				rep.Imported, kind, rep.Added, rep.Lines, rep.Skipped, text.Encoding())
			if rep.BadLines > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d bad lines left out:\n", rep.BadLines)
				for _, b := range rep.Bad {
					fmt.Fprintf(cmd.ErrOrStderr(), "  %s\n", safe(b.String()))
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&skipBad, "skip-bad", false, "import the good lines and report the bad ones")
	cmd.Flags().StringVar(&tenant, "tenant", "", tenantHelp)
	return cmd
}

func newListsExport(g *globals) *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "export KIND [FILE]",
		Short: "Export a list as CSV (number,reason,expires,source,created)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := parseKind(args[0])
			if err != nil {
				return err
			}
			rt, st, err := openForLists(cmd, g)
			if err != nil {
				return err
			}
			defer rt.Close()
			out := cmd.OutOrStdout()
			if len(args) == 2 && args[1] != "-" {
				f, err := os.Create(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			return st.ExportFor(cmd.Context(), kind, tenant, out)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", tenantHelp)
	return cmd
}

func newListsPurge(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "purge",
		Short: "Delete expired entries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, st, err := openForLists(cmd, g)
			if err != nil {
				return err
			}
			defer rt.Close()
			n, err := st.PurgeExpired(cmd.Context(), time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "purged %d expired entries\n", n)
			return nil
		},
	}
}

// progress draws a bar on a terminal and nothing elsewhere.
type progress struct {
	w     io.Writer
	total int64
	tty   bool
	last  time.Time
}

func newProgress(w io.Writer, total int64) *progress {
	p := &progress{w: w, total: total}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(done, total int64) {
	if !p.tty {
		return
	}
	if total <= 0 {
		total = p.total
	}
	if now := time.Now(); now.Sub(p.last) < 100*time.Millisecond && done < total {
		return
	} else {
		p.last = now
	}
	if total <= 0 {
		fmt.Fprintf(p.w, "\r%d bytes", done)
		return
	}
	const width = 40
	filled := int(float64(width) * float64(done) / float64(total))
	filled = min(max(filled, 0), width)
	fmt.Fprintf(p.w, "\r[%s%s] %3d%%", strings.Repeat("#", filled), strings.Repeat(" ", width-filled), 100*done/total)
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
