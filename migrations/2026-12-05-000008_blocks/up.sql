-- Storage v2: sealed segments move, in the background, into blocks of a few hundred to a few
-- thousand rows sorted by (date, id), their keys by column and their lines compressed together
-- (see src/db/blocks/). A segment's rows are in exactly one of the two forms at any commit.

-- Releases before this one read `segments` at start: renamed, they refuse this file loudly
-- instead of serving the hot rows alone and handing out ids that blocks already hold.
ALTER TABLE segments RENAME TO hot_segments;

-- The writer's position, kept rather than read from the hot tables, which compaction empties:
-- the last id handed out (ids are never reused), the segment being filled (those before it
-- are sealed), and the last id that moved into blocks (every id up to it, and none after, is
-- in blocks; segments are compacted oldest first).
CREATE TABLE store_state (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last_line_id INTEGER NOT NULL,
    open_segment INTEGER NOT NULL,
    compacted_through INTEGER NOT NULL
);
INSERT INTO store_state (id, last_line_id, open_segment, compacted_through)
    VALUES (1, coalesce((SELECT max(id) FROM log_lines), 0),
            coalesce((SELECT max(id) FROM hot_segments), 0), 0);

-- A part: the blocks one compaction wrote (one sealed segment, or a merge of parts), sorted
-- and disjoint in (date, id). Received times as the segments had them, for retention. `state`:
-- 0 while a merge writes it (nobody reads it), 1 live, 2 replaced by a merge (nobody reads it;
-- its blocks are being deleted). Readers take the live parts' blocks only.
CREATE TABLE parts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    state INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    min_id INTEGER NOT NULL,
    max_id INTEGER NOT NULL,
    received_from INTEGER NOT NULL,
    received_until INTEGER NOT NULL,
    raw_bytes INTEGER NOT NULL,
    stored_bytes INTEGER NOT NULL
);

-- Ids of parts and blocks are never reused (AUTOINCREMENT): the readers' cache of decoded
-- blocks is keyed by id.
-- Block headers, small so that a query can read many of them to choose which blocks to read:
-- the first and last (date, id), the smallest and largest id (a tail reads back by id), and
-- the synopsis of its keys (src/db/blocks/synopsis.rs).
CREATE TABLE blocks (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    part INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    min_date INTEGER NOT NULL,
    min_id INTEGER NOT NULL,
    max_date INTEGER NOT NULL,
    max_id INTEGER NOT NULL,
    low_id INTEGER NOT NULL,
    high_id INTEGER NOT NULL,
    synopsis BLOB NOT NULL
);
CREATE INDEX blocks_by_part ON blocks (part, min_date, min_id);
CREATE INDEX blocks_by_max ON blocks (max_date, max_id);
CREATE INDEX blocks_by_min ON blocks (min_date, min_id);
CREATE INDEX blocks_by_high_id ON blocks (high_id);

-- The blobs, apart from the headers, keys first: a query that reads only the keys of a block
-- does not read the overflow pages of its lines.
CREATE TABLE block_data (
    block INTEGER PRIMARY KEY NOT NULL,
    keys BLOB NOT NULL,
    lines BLOB NOT NULL
);

-- A bloom filter of each block's byte trigrams (src/db/blocks/grams.rs), apart: only queries
-- with `q=` or `path=` read it.
CREATE TABLE block_grams (
    block INTEGER PRIMARY KEY NOT NULL,
    grams BLOB NOT NULL
);

-- Segments whose rows are in blocks now and whose hot rows are being deleted, a chunk at a
-- time; nothing reads them any more. A segment's ids are consecutive, `min_id` to `max_id`.
CREATE TABLE retired_segments (
    id INTEGER PRIMARY KEY NOT NULL,
    min_id INTEGER NOT NULL,
    max_id INTEGER NOT NULL
);
