-- Fleet sweep detection: each server's count of the calls from one number
-- to one tenant within one minute. Servers add to their own rows and read
-- the fleet's sums (distinct tenants, failed challenges) per number and per
-- prefix over a window; rows older than the window are pruned.
CREATE TABLE fleet_sightings (
	number TEXT    NOT NULL,
	prefix TEXT    NOT NULL, -- the number less its last 3 digits; '' for none
	tenant TEXT    NOT NULL,
	server TEXT    NOT NULL,
	minute BIGINT  NOT NULL, -- Unix nanoseconds of the minute's start (UTC)
	calls  INTEGER NOT NULL,
	failed INTEGER NOT NULL,
	PRIMARY KEY (number, tenant, server, minute)
);
CREATE INDEX fleet_sightings_prefix ON fleet_sightings (prefix, minute);
CREATE INDEX fleet_sightings_minute ON fleet_sightings (minute);
