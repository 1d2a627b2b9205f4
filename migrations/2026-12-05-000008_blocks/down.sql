-- Blocks cannot move back into the hot tables: restore the backup taken before upgrading. The
-- error names the table below, which says so.
SELECT * FROM "storage v2 cannot be undone: restore the backup taken before upgrading";
