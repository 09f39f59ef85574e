-- The auditor's last outcome, one row: every surface that must show a failing auditor
-- (tick's result, `cachemon tick`, `cachemon db check`, the dashboard, the pg_cron job) reads
-- it here. Written by cachemon._auditor_outcome, which tick calls after each auditor run.
CREATE TABLE cachemon._auditor_health (
    id               boolean     PRIMARY KEY DEFAULT true,
    last_run_at      timestamptz,
    last_success_at  timestamptz,
    last_failure_at  timestamptz,
    failing_since    timestamptz,
    failure          text,
    recovered_at     timestamptz,
    CONSTRAINT _auditor_health_one_row CHECK (id),
    CONSTRAINT _auditor_health_failure_check CHECK ((failure IS NULL) = (failing_since IS NULL))
);

COMMENT ON TABLE cachemon._auditor_health IS
    'The auditor''s last outcome (one row), written after every auditor run by tick: failure and failing_since are set while it fails, recovered_at when a run succeeds after failures';
COMMENT ON COLUMN cachemon._auditor_health.failure IS
    'The last run''s error (message and SQLSTATE) while the auditor fails; NULL once a run succeeds';
COMMENT ON COLUMN cachemon._auditor_health.failing_since IS
    'When the current run of failures began; NULL when the last run succeeded';

ALTER TABLE cachemon._auditor_health ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._auditor_health FROM PUBLIC;
GRANT SELECT ON cachemon._auditor_health TO cachemon_reader;
GRANT SELECT, INSERT, UPDATE ON cachemon._auditor_health TO cachemon_admin;
CREATE POLICY _auditor_health_reader_select ON cachemon._auditor_health
    FOR SELECT TO cachemon_reader USING (true);
CREATE POLICY _auditor_health_admin_all ON cachemon._auditor_health
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

INSERT INTO cachemon._auditor_health (id) VALUES (true);
