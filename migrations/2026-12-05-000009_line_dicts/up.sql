-- zstd dictionaries for blocks' lines (src/db/blocks/dict.rs): trained on a segment's lines at
-- compaction, named by id in each lines blob, which is then compressed in frames of a few
-- hundred lines that a query decompresses one at a time. Never deleted: blocks name them.
CREATE TABLE line_dicts (
    id INTEGER PRIMARY KEY NOT NULL,
    dict BLOB NOT NULL,
    trained_at INTEGER NOT NULL
);
