DROP TABLE rejected_lines;
DROP TABLE logs;
DROP TABLE sources;
