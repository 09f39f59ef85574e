-- Hold the settings already stored to their new rules (the deferred trigger checks each row
-- at commit): an upgrade fails, naming the setting, rather than keep a value that breaks
-- the pipeline (e.g. retention.1min below retention.raw).
UPDATE cachemon._settings SET value = value;
