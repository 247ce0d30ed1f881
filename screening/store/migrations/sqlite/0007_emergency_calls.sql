-- Emergency callback windows: the business dialled an emergency number,
-- and every inbound call to the profile rings unscreened until the window
-- closes. Kept here so that a restart of serve within the window (an
-- upgrade, a crash, a reboot) does not close it: the police may call back
-- from a withheld number. One row per tenant and profile ('' is every
-- profile), the window that closes last.
CREATE TABLE emergency_calls (
	tenant  TEXT    NOT NULL,
	profile TEXT    NOT NULL,
	number  TEXT    NOT NULL,
	what    TEXT    NOT NULL,
	call_id TEXT    NOT NULL,
	dialled INTEGER NOT NULL, -- Unix nanoseconds
	closes  INTEGER NOT NULL, -- Unix nanoseconds
	PRIMARY KEY (tenant, profile)
) WITHOUT ROWID;
