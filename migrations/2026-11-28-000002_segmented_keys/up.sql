-- Storage built for ingest that stays fast as the table grows (see README, "Storage").
--
-- Lines arrive in random date order, so any B-tree keyed by date takes random inserts, and their
-- cost grows with the tree. Here the only tree keyed by date is `log_keys`, and its key starts
-- with a segment number: the writer fills one segment of bounded size at a time, so inserts only
-- ever touch the pages of that segment, whatever the table's size. Queries read each segment in
-- (date, id) order and merge them, newest first.

CREATE TABLE users (
    id INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE methods (
    id INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE
);

-- Each line once, in arrival order: appending to a rowid table is the cheapest write SQLite has.
-- The other fields are parsed again from the line when it is read.
CREATE TABLE log_lines (
    id INTEGER PRIMARY KEY NOT NULL,
    source_id INTEGER NOT NULL REFERENCES sources (id),
    line TEXT NOT NULL
);

-- What queries filter and order by, in small integers. `user_id` 0 means no user (`-`).
CREATE TABLE log_keys (
    segment INTEGER NOT NULL,
    date INTEGER NOT NULL,
    id INTEGER NOT NULL,
    code INTEGER NOT NULL,
    method_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    PRIMARY KEY (segment, date, id)
) WITHOUT ROWID;

-- One row per segment: lets a query skip segments outside its date range.
CREATE TABLE segments (
    id INTEGER PRIMARY KEY NOT NULL,
    rows INTEGER NOT NULL,
    min_date INTEGER NOT NULL,
    max_date INTEGER NOT NULL
);

-- Rows per UTC day and key, kept in the same transaction as the rows: counts read sums here
-- instead of counting millions of rows.
CREATE TABLE log_counts (
    day INTEGER NOT NULL,
    code INTEGER NOT NULL,
    method_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, code, method_id, user_id)
) WITHOUT ROWID;

-- Rows stored by the first schema move over; nothing is dropped before it is copied.
INSERT INTO methods (name) SELECT DISTINCT method FROM logs ORDER BY method;
INSERT INTO users (name) SELECT DISTINCT user FROM logs WHERE user IS NOT NULL ORDER BY user;
INSERT INTO log_lines (id, source_id, line) SELECT id, source_id, line FROM logs ORDER BY id;
INSERT INTO log_keys (segment, date, id, code, method_id, user_id)
    SELECT (l.id - 1) / 500000, l.date, l.id, l.code, m.id, coalesce(u.id, 0)
    FROM logs l JOIN methods m ON m.name = l.method LEFT JOIN users u ON u.name = l.user;
INSERT INTO segments (id, rows, min_date, max_date)
    SELECT segment, count(*), min(date), max(date) FROM log_keys GROUP BY segment;
INSERT INTO log_counts (day, code, method_id, user_id, n)
    SELECT date / 86400 - (date % 86400 < 0), code, method_id, user_id, count(*)
    FROM log_keys GROUP BY 1, 2, 3, 4;
DROP TABLE logs;
