-- Blocks compressed with these dictionaries cannot be read without them: restore the backup
-- taken before upgrading. The error names the table below, which says so.
SELECT * FROM "line dictionaries cannot be undone: restore the backup taken before upgrading";
