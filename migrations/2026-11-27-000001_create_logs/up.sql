-- Sources are named once and referred to by a small integer from every row.
CREATE TABLE sources (
    id INTEGER PRIMARY KEY NOT NULL,
    address TEXT NOT NULL UNIQUE
);

-- `date` is seconds since the Unix epoch (UTC); `id` is the order of arrival, the tie-break
-- between equal dates.
CREATE TABLE logs (
    id INTEGER PRIMARY KEY NOT NULL,
    source_id INTEGER NOT NULL REFERENCES sources (id),
    ip TEXT NOT NULL,
    user TEXT,
    date INTEGER NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    protocol TEXT NOT NULL,
    code INTEGER NOT NULL,
    size INTEGER,
    referer TEXT,
    user_agent TEXT,
    line TEXT NOT NULL
);

-- Each index ends in the implicit rowid, so every one of them yields rows already ordered by
-- (date DESC, id DESC): a page is a range scan with no sort.
CREATE INDEX logs_by_date ON logs (date);
CREATE INDEX logs_by_code ON logs (code, date);
CREATE INDEX logs_by_method ON logs (method, date);
CREATE INDEX logs_by_user ON logs (user, date);

-- Lines that could not be parsed, byte for byte, so that nothing a source sent is lost.
CREATE TABLE rejected_lines (
    id INTEGER PRIMARY KEY NOT NULL,
    source_id INTEGER NOT NULL REFERENCES sources (id),
    received_at INTEGER NOT NULL,
    line BLOB NOT NULL,
    reason TEXT NOT NULL
);
