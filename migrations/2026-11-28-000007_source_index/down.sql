DROP INDEX log_keys_by_source;
