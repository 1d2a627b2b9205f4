-- When each segment received its lines, for `--retention-days`: the lines' own dates say
-- nothing about it (a source may replay years-old logs). Segments stored before this migration
-- have no record of it, so they count as received now: the latest they can have been, so
-- retention never drops them early.
ALTER TABLE segments ADD COLUMN received_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segments ADD COLUMN received_until INTEGER NOT NULL DEFAULT 0;
UPDATE segments SET received_from = unixepoch(), received_until = unixepoch();

-- Streams that are not a source's one connection: a pushed body sent with an Idempotency-Key,
-- or a part of an imported file. Each is recognised and resumed like a source's stream (see
-- src/ingest/replay.rs): the fingerprint of its first lines and how many of its lines were
-- consumed, updated in the transaction of each batch. The ids of its last stored and last
-- rejected line say when retention has deleted all of its lines, and the mark may go too.
CREATE TABLE keyed_streams (
    source_id INTEGER NOT NULL REFERENCES sources (id),
    key TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    position INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_line_id INTEGER NOT NULL DEFAULT 0,
    last_rejected_id INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source_id, key)
) WITHOUT ROWID;
