ALTER TABLE sources DROP COLUMN lines_rejected;
ALTER TABLE sources DROP COLUMN lines_stored;
ALTER TABLE sources DROP COLUMN stream_position;
ALTER TABLE sources DROP COLUMN stream_fingerprint;
