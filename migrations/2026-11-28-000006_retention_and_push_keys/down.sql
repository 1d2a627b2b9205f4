DROP TABLE keyed_streams;
ALTER TABLE segments DROP COLUMN received_until;
ALTER TABLE segments DROP COLUMN received_from;
