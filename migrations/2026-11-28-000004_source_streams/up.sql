-- What each source's stream looked like when its last batch was committed, written in that
-- batch's transaction: the fingerprint of the stream's first lines (FNV-1a 64 hashes, 8 bytes
-- each, little-endian; see src/ingest/replay.rs) and how many of its lines were consumed. A
-- reconnection, or the first connection after a restart or a crash, skips that many lines of a
-- stream that starts the same way. NULL: no stream recorded yet.
ALTER TABLE sources ADD COLUMN stream_fingerprint BLOB;
ALTER TABLE sources ADD COLUMN stream_position INTEGER NOT NULL DEFAULT 0;

-- Lines stored and rejected for each source over all time, kept in the same transactions.
ALTER TABLE sources ADD COLUMN lines_stored INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sources ADD COLUMN lines_rejected INTEGER NOT NULL DEFAULT 0;

-- One scan of each table for the rows already stored.
UPDATE sources SET lines_stored = counted.n
    FROM (SELECT source_id, count(*) AS n FROM log_lines GROUP BY source_id) AS counted
    WHERE counted.source_id = sources.id;
UPDATE sources SET lines_rejected = counted.n
    FROM (SELECT source_id, count(*) AS n FROM rejected_lines GROUP BY source_id) AS counted
    WHERE counted.source_id = sources.id;
