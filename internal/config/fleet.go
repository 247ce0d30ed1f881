package config

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/callscreen/callscreen/screening/store"
)

// Fleet names this server and the customer it screens for, when several
// servers share one PostgreSQL database (docs/FLEET.md).
type Fleet struct {
	// Server names this server in the call log and the fleet view
	// (default: the host name).
	Server string `mapstructure:"server"`
	// Tenant is the customer this server screens for: its dashboard
	// shows that tenant's calls and lists, and the callers it remembers
	// and the throttles it sets apply to that tenant only. Default: empty
	// on SQLite (one server), the server name on PostgreSQL.
	Tenant string `mapstructure:"tenant"`
}

func fleetDefaults() map[string]any {
	host, _ := os.Hostname()
	return map[string]any{
		"fleet.server": host,
		"fleet.tenant": "",
		"log.journal":  "",
	}
}

// finishFleet fills in what follows from the database setting and checks
// the names.
func (c *Config) finishFleet() []error {
	var errs []error
	if store.IsPostgres(c.Database) && c.Fleet.Tenant == "" {
		c.Fleet.Tenant = c.Fleet.Server
	}
	if err := store.ValidateTenant(c.Fleet.Server); err != nil {
		errs = append(errs, fmt.Errorf("fleet.server: %w", err))
	}
	if err := store.ValidateTenant(c.Fleet.Tenant); err != nil {
		errs = append(errs, fmt.Errorf("fleet.tenant: %w", err))
	}
	if c.Log.Journal == "" {
		c.Log.Journal = DefaultJournal(c.Database)
	}
	return errs
}

// DefaultJournal is where serve keeps the call records not yet in the
// database: beside a SQLite file, and in callscreen's state directory for
// PostgreSQL (the records a server could not send wait there through an
// outage).
func DefaultJournal(database string) string {
	if store.IsPostgres(database) {
		return filepath.Join("/var/lib/callscreen", "calllog-pending")
	}
	return database + "-pending"
}

// SetDatabase replaces the database setting (the --database flag) and
// what follows from it where it was not set on its own: the journal's
// place and, on PostgreSQL, the tenant.
func (c *Config) SetDatabase(db string) {
	if c.Log.Journal == DefaultJournal(c.Database) {
		c.Log.Journal = DefaultJournal(db)
	}
	if !store.IsPostgres(c.Database) && store.IsPostgres(db) && c.Fleet.Tenant == "" {
		c.Fleet.Tenant = c.Fleet.Server
	}
	c.Database = db
}
