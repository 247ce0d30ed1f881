// Package fleet counts, across the servers of a fleet that share one
// database, how many distinct tenants each calling number (and its
// prefix) called and how many challenges it failed within a window: the
// counts the screening engine's fleet-sweep indicator judges.
//
// A Tracker counts the calls its server finished (Observe) in per-minute
// sightings, publishes them through an Exchange (the shared database)
// from its own goroutine (Run), and keeps the fleet-wide aggregates the
// exchange answers with and the ones other servers broadcast (Receive).
// The engine reads them with Lookup, from memory: no call waits for the
// network. Servers exchange aggregated counts, never single calls.
package fleet
