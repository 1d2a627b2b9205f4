-- Rows per key over all time. A count without a date range is then a sum over at most
-- (codes x methods x users) rows instead of that times the days in the log: 2 ms became
-- well under 1 at ten million rows.
CREATE TABLE key_counts (
    code INTEGER NOT NULL,
    method_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (code, method_id, user_id)
) WITHOUT ROWID;

INSERT INTO key_counts (code, method_id, user_id, n)
    SELECT code, method_id, user_id, sum(n) FROM log_counts GROUP BY 1, 2, 3;
