-- What the query API filters and groups by, kept beside each line's key so that a source, an
-- address range or a breakdown never has to read and parse the lines themselves.
--
-- Rows already stored are filled in here. Their size and address are read from the lines with
-- two SQL functions the service registers on its connection before it migrates
-- (`loggerator_line_size`, `loggerator_line_ip`: src/db/line_functions.rs); this migration
-- therefore runs only inside loggerator, not from diesel's command line.

-- `source_id` as in `log_lines`; `size` in bytes, 0 for `-`; `ip` as compared for CIDR
-- ranges: a family byte (4 or 6) then the address's bytes, so that every network is one range
-- of blobs and no IPv4 range can hold an IPv6 address. NULL when the field is not an address.
CREATE TABLE log_keys_new (
    segment INTEGER NOT NULL,
    date INTEGER NOT NULL,
    id INTEGER NOT NULL,
    code INTEGER NOT NULL,
    method_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    ip BLOB,
    PRIMARY KEY (segment, date, id)
) WITHOUT ROWID;

INSERT INTO log_keys_new (segment, date, id, code, method_id, user_id, source_id, size, ip)
    SELECT k.segment, k.date, k.id, k.code, k.method_id, k.user_id, l.source_id,
           loggerator_line_size(l.line), loggerator_line_ip(l.line)
    FROM log_keys k JOIN log_lines l ON l.id = k.id
    ORDER BY k.segment, k.date, k.id;
DROP TABLE log_keys;
ALTER TABLE log_keys_new RENAME TO log_keys;

-- A user's rows of one segment in date order: a page for a user who holds few of the lines
-- reads only theirs. Segment first, so inserts stay within the open segment's pages.
CREATE INDEX log_keys_by_user ON log_keys (segment, user_id, date, id);

-- Rows and bytes per key: all time, per UTC day, and per UTC hour for the keys a histogram
-- splits by (a batch comes from one source, so the source adds no rows to what it updates).
DROP TABLE key_counts;
CREATE TABLE key_counts (
    source_id INTEGER NOT NULL,
    code INTEGER NOT NULL,
    method_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (source_id, code, method_id, user_id)
) WITHOUT ROWID;

CREATE TABLE day_counts (
    day INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    code INTEGER NOT NULL,
    method_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (day, source_id, code, method_id, user_id)
) WITHOUT ROWID;

CREATE TABLE hour_counts (
    hour INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    code INTEGER NOT NULL,
    n INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (hour, source_id, code)
) WITHOUT ROWID;

INSERT INTO day_counts (day, source_id, code, method_id, user_id, n, bytes)
    SELECT date / 86400 - (date % 86400 < 0), source_id, code, method_id, user_id, count(*), sum(size)
    FROM log_keys GROUP BY 1, 2, 3, 4, 5;
INSERT INTO hour_counts (hour, source_id, code, n, bytes)
    SELECT date / 3600 - (date % 3600 < 0), source_id, code, count(*), sum(size)
    FROM log_keys GROUP BY 1, 2, 3;
INSERT INTO key_counts (source_id, code, method_id, user_id, n, bytes)
    SELECT source_id, code, method_id, user_id, sum(n), sum(bytes)
    FROM day_counts GROUP BY 1, 2, 3, 4;
DROP TABLE log_counts;
