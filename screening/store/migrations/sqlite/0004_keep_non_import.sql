-- Snapshots now keep every entry whole (reason, source, expiry) except bulk
-- imports, so that an operator's reason ("pharmacy") shows in verdicts while
-- a million imported numbers still cost 8 bytes each. The partial index
-- follows the new condition (store.snapshotKept).
DROP INDEX list_entries_kept;
CREATE INDEX list_entries_kept ON list_entries (expires)
	WHERE expires IS NOT NULL OR number LIKE '%*' OR source <> 'import';
