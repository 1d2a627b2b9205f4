-- Back to the keys of 2026-11-28-000003: the added columns and tables go.
CREATE TABLE log_counts (
    day INTEGER NOT NULL,
    code INTEGER NOT NULL,
    method_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, code, method_id, user_id)
) WITHOUT ROWID;
INSERT INTO log_counts SELECT day, code, method_id, user_id, sum(n) FROM day_counts GROUP BY 1, 2, 3, 4;
DROP TABLE day_counts;
DROP TABLE hour_counts;
DROP TABLE key_counts;
CREATE TABLE key_counts (
    code INTEGER NOT NULL,
    method_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (code, method_id, user_id)
) WITHOUT ROWID;
INSERT INTO key_counts SELECT code, method_id, user_id, sum(n) FROM log_counts GROUP BY 1, 2, 3;
DROP INDEX log_keys_by_user;
CREATE TABLE log_keys_old (
    segment INTEGER NOT NULL,
    date INTEGER NOT NULL,
    id INTEGER NOT NULL,
    code INTEGER NOT NULL,
    method_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    PRIMARY KEY (segment, date, id)
) WITHOUT ROWID;
INSERT INTO log_keys_old SELECT segment, date, id, code, method_id, user_id FROM log_keys;
DROP TABLE log_keys;
ALTER TABLE log_keys_old RENAME TO log_keys;
