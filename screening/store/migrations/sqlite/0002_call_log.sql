-- Call log: one row per screening.Record.
--
-- The columns hold what the log is searched and summarised by; record holds
-- the whole screening.Record as JSON. time is Unix nanoseconds (UTC);
-- decision_ns and handling_ns are durations in nanoseconds.
CREATE TABLE call_log (
	id          TEXT    NOT NULL PRIMARY KEY,
	time        INTEGER NOT NULL,
	mode        TEXT    NOT NULL,
	caller      TEXT    NOT NULL, -- Verdict.Caller
	called      TEXT    NOT NULL, -- Facts.Called
	profile     TEXT    NOT NULL,
	action      TEXT    NOT NULL, -- Verdict.Action (what the policy decided)
	taken       TEXT    NOT NULL, -- the action carried out
	outcome     TEXT    NOT NULL,
	score       INTEGER NOT NULL,
	presence    TEXT    NOT NULL,
	reasons     TEXT    NOT NULL, -- Verdict.Reasons(), comma separated
	monitor     INTEGER NOT NULL, -- 1 when the profile ran in monitor mode
	decision_ns INTEGER NOT NULL,
	handling_ns INTEGER NOT NULL,
	record      TEXT    NOT NULL  -- the screening.Record as JSON
);

CREATE INDEX call_log_time ON call_log (time);
CREATE INDEX call_log_caller ON call_log (caller);
CREATE INDEX call_log_action ON call_log (action, time);
