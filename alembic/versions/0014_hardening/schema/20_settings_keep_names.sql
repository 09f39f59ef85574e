-- Settings keep their names, and intervals hold no months or years.
--
-- Every function reads a setting by name: an admin's UPDATE ... SET name = ... passed
-- validation and stopped ingest, tick, maintenance and the verdict. An admin may now update
-- only the value, every setting has a rule and every rule its setting (foreign keys both
-- ways, deferred to commit so that a revision adds a rule and its setting in one
-- transaction), and _settings_validate refuses a rename whoever writes it.
--
-- An interval of months or years has no fixed length ('1 mon' of retention is 28 to 31 days
-- depending on the date): _settings_validate now refuses them, rule bounds are in days, and a
-- stored value with months or years becomes days (a year 365 days, a month 30).
SET LOCAL lock_timeout = '5s';
-- ALTER TABLE refuses a table with deferred trigger events still pending (settings written
-- earlier in this transaction, also under an earlier copy of the validation trigger, which
-- SET CONSTRAINTS cannot name): check them all now, then defer the new keys (the validation trigger is created anew,
-- initially deferred, with its function).
SET CONSTRAINTS ALL IMMEDIATE;
ALTER TABLE cachemon._setting_rules
    ADD CONSTRAINT _setting_rules_name_fkey FOREIGN KEY (name)
    REFERENCES cachemon._settings (name) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE cachemon._settings
    ADD CONSTRAINT _settings_name_fkey FOREIGN KEY (name)
    REFERENCES cachemon._setting_rules (name) DEFERRABLE INITIALLY DEFERRED;

REVOKE UPDATE ON cachemon._settings FROM cachemon_admin;
GRANT UPDATE (value) ON cachemon._settings TO cachemon_admin;
SET CONSTRAINTS cachemon._settings_name_fkey, cachemon._setting_rules_name_fkey DEFERRED;

UPDATE cachemon._setting_rules SET max_value = '3650 days' WHERE max_value = '10 years';
UPDATE cachemon._setting_rules SET max_value = '36500 days' WHERE max_value = '100 years';
-- Only interval settings are cast (a CASE, so the cast never meets 'true' or a number,
-- whatever order the planner evaluates the conditions in).
WITH iv AS MATERIALIZED (
    SELECT s.name, CASE WHEN r.kind = 'interval' THEN s.value::interval END AS v
      FROM cachemon._settings AS s
      JOIN cachemon._setting_rules AS r ON r.name = s.name
     WHERE r.kind = 'interval'
)
UPDATE cachemon._settings AS s
   SET value = (iv.v
                - pg_catalog.make_interval(years => pg_catalog.date_part('year', iv.v)::integer,
                                           months => pg_catalog.date_part('month', iv.v)::integer)
                + pg_catalog.make_interval(days => (365 * pg_catalog.date_part('year', iv.v)
                                                    + 30 * pg_catalog.date_part('month', iv.v))::integer))::text
  FROM iv
 WHERE iv.name = s.name
   AND (pg_catalog.date_part('year', iv.v) <> 0 OR pg_catalog.date_part('month', iv.v) <> 0);
