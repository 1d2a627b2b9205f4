-- One source's keys of a segment in date order, as log_keys_by_user gives one user's: a page
-- of a source that holds few rows (a pushed source beside busy ones) reads its own keys
-- instead of passing over every row of every segment (0.75 s a page on 10M rows).
CREATE INDEX log_keys_by_source ON log_keys (segment, source_id, date, id);
-- Statistics for it beside the other indexes' (which `PRAGMA optimize` at shutdown keeps):
-- without them the planner takes it for far more selective than the primary key and reads
-- `segment = ?` through it with a sort (retention's steps on an upgraded 10M-row database ran
-- 120 ms for 200 keys until the next restart). A sample keeps this to a moment at any size.
PRAGMA analysis_limit = 1000;
ANALYZE log_keys;
