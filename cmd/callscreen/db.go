package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/callscreen/callscreen/screening/store"
)

func newDB(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Move the database: copy a server's store into the fleet database",
	}
	cmd.AddCommand(newDBMigrate(g))
	return cmd
}

func newDBMigrate(g *globals) *cobra.Command {
	var (
		to, tenant, server string
		asJSON             bool
	)
	cmd := &cobra.Command{
		Use:   "migrate --to postgres://USER@HOST/DB",
		Short: "Copy this server's lists and call log into the fleet database, and verify the copy",
		Long: `migrate copies the store named by the database setting (or --database),
a SQLite file, into the fleet's PostgreSQL database: every list entry of
every list (expiry, source, reason and creation time included) and every
call record.

List entries the store holds for every tenant go to the scope of --tenant,
by default the tenant this server screens for once it runs on PostgreSQL
(fleet.tenant, or else fleet.server): a shop's allow list, its blocks and
the callers it remembered are its own, not the whole fleet's. Give
--tenant "" to make them fleet-wide (an integrator's own block list).
Call records without a server or tenant are stamped with --server
(default fleet.server) and that tenant.

Run it with the server stopped, or run it again after the switch: the
copy is safe to repeat. An entry already in the fleet database is set to
the store's values, a call record already there is left as it is, and a
run that was interrupted is completed by the next. At the end every entry
and record is looked up in the fleet database and compared field by
field; the command fails when any is missing or different. Progress goes
to standard error.`,
		Example: `  callscreen db migrate --to postgres://callscreen@db.example.net/fleet
  callscreen db migrate --to postgres://callscreen@db/fleet --tenant acme-dental --server pbx-acme
  callscreen db migrate --database /backup/callscreen.db --to postgres://callscreen@db/fleet --tenant ""`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageError{errors.New("--to: give the fleet database, postgres://USER@HOST/DB")}
			}
			cfg, err := g.load()
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("server") {
				server = cfg.Fleet.Server
			}
			if !cmd.Flags().Changed("tenant") {
				tenant = cfg.Fleet.Tenant
				if tenant == "" {
					tenant = server // as serve on PostgreSQL takes it
				}
			}
			if err := store.ValidateTenant(tenant); err != nil {
				return usageError{fmt.Errorf("--tenant: %w", err)}
			}
			if err := store.ValidateTenant(server); err != nil {
				return usageError{fmt.Errorf("--server: %w", err)}
			}
			from := cfg.Database
			if from == to {
				return usageError{fmt.Errorf("--to %s is the database this server already uses", store.RedactURL(to))}
			}
			if !store.IsPostgres(from) {
				if _, err := os.Stat(from); errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("no database at %s: nothing to migrate (name it with --database)", from)
				}
			}
			ctx := cmd.Context()
			src, err := openStore(ctx, from)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := openStore(ctx, to)
			if err != nil {
				return err
			}
			defer dst.Close()

			bar := &migrateProgress{w: cmd.ErrOrStderr()}
			rep, err := src.CopyTo(ctx, dst, store.CopyOptions{Tenant: tenant, Server: server, Progress: bar.update})
			if err != nil {
				return fmt.Errorf("migrate %s into %s: %w (what was written stays: run the same command again to complete it)",
					src.Path(), dst.Path(), err)
			}
			if asJSON {
				err = json.NewEncoder(cmd.OutOrStdout()).Encode(struct {
					Source      string `json:"source"`
					Destination string `json:"destination"`
					OK          bool   `json:"ok"`
					store.CopyReport
				}{src.Path(), dst.Path(), rep.Mismatches() == 0, rep})
			} else {
				printMigrateReport(cmd.OutOrStdout(), src.Path(), dst.Path(), rep)
			}
			if err != nil {
				return err
			}
			if n := rep.Mismatches(); n > 0 {
				return fmt.Errorf("verification failed: %d entries or records of the source are missing or different in %s", n, dst.Path())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the fleet database to copy into (postgres://USER@HOST/DB)")
	cmd.Flags().StringVar(&tenant, "tenant", "", `scope of the entries for every tenant, and tenant of records without one (default fleet.tenant, else fleet.server; "" for fleet-wide)`)
	cmd.Flags().StringVar(&server, "server", "", "server name stamped on call records without one (default fleet.server)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// migrateProgress prints a line on standard error at most every second
// and at the end of each phase.
type migrateProgress struct {
	w     io.Writer
	last  time.Time
	start time.Time
}

func (p *migrateProgress) update(c store.CopyProgress) {
	now := time.Now()
	if c.Done == 0 {
		p.start = now
	}
	if c.Done != c.Total && now.Sub(p.last) < time.Second {
		return
	}
	p.last = now
	pct := int64(100)
	if c.Total > 0 {
		pct = 100 * c.Done / c.Total
	}
	if c.Done == c.Total {
		fmt.Fprintf(p.w, "%s: %d of %d (100%%) in %v\n", c.Phase, c.Done, c.Total, now.Sub(p.start).Round(time.Millisecond))
		return
	}
	fmt.Fprintf(p.w, "%s: %d of %d (%d%%)\n", c.Phase, c.Done, c.Total, pct)
}

// printMigrateReport prints what db migrate copied and what its
// verification found.
func printMigrateReport(w io.Writer, from, to string, rep store.CopyReport) {
	fmt.Fprintf(w, "copied %s into %s in %v\n", from, to, rep.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "entries for every tenant went to %s; call records without a server or tenant were stamped %q, %q\n",
		scopeLabel(rep.Tenant), rep.Server, rep.Tenant)
	if rep.Shadowed > 0 {
		fmt.Fprintf(w, "%d entries for every tenant were left out: the source holds the same kind and number for %q, which was copied instead\n",
			rep.Shadowed, rep.Tenant)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LIST\tSCOPE\tSOURCE\tWRITTEN\tVERIFIED\tMISSING\tDIFFERENT\tEXPIRED\tIN DESTINATION")
	for _, l := range rep.Lists {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", l.Kind, scopeLabel(l.Tenant), l.Source, l.Written, l.Verified, l.Missing, l.Different, l.Expired, l.Destination)
	}
	r := rep.Records
	fmt.Fprintf(tw, "call log\t\t%d\t%d\t%d\t%d\t%d\t\t%d\n", r.Source, r.Written, r.Verified, r.Missing, r.Different, r.Destination)
	tw.Flush()
	if r.Unstamped > 0 {
		fmt.Fprintf(w, "%d call records hold no JSON object and were copied as they are, without a server or tenant (the first: %s)\n", r.Unstamped, r.FirstUnstamped)
	}
	fmt.Fprintf(w, "checksum lists:    source %.16s  destination %.16s\n", rep.ListsSum.Source, rep.ListsSum.Destination)
	fmt.Fprintf(w, "checksum call log: source %.16s  destination %.16s\n", rep.RecordsSum.Source, rep.RecordsSum.Destination)
	if rep.Mismatches() == 0 {
		fmt.Fprintln(w, "OK: the destination holds every entry and call record of the source")
		return
	}
	fmt.Fprintln(w, "MISMATCH: run the same command again; entries changed in the fleet since the copy and records another server logged under the same ID stay different")
}

// scopeLabel names a tenant scope in a table.
func scopeLabel(tenant string) string {
	if tenant == "" {
		return "(fleet)"
	}
	return tenant
}
