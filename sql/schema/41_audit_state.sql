-- Evaluation state per (implementation, rule): the streaks that give findings persistence
-- (open after N breached evaluations) and hysteresis (resolve after M clear ones). Written
-- only by run_auditor (and reset by resolve_observation).
CREATE TABLE cachemon._audit_state (
    implementation_type  text        NOT NULL,
    rule                 text        NOT NULL,
    last_window_end      timestamptz NOT NULL,
    last_state           text        NOT NULL,
    breach_streak        integer     NOT NULL DEFAULT 0,
    clear_streak         integer     NOT NULL DEFAULT 0,
    breach_since         timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (implementation_type, rule),
    CONSTRAINT _audit_state_last_state_check CHECK (last_state IN ('breach', 'hold', 'clear')),
    CONSTRAINT _audit_state_streaks_check CHECK (breach_streak >= 0 AND clear_streak >= 0)
);

COMMENT ON TABLE cachemon._audit_state IS
    'Auditor streaks per (implementation, rule) for persistence and hysteresis; written by run_auditor';
COMMENT ON COLUMN cachemon._audit_state.last_window_end IS
    'End of the last judged window: a second run in the same minute does not count twice';

ALTER TABLE cachemon._audit_state ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._audit_state FROM PUBLIC;
GRANT SELECT ON cachemon._audit_state TO cachemon_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON cachemon._audit_state TO cachemon_admin;
CREATE POLICY _audit_state_reader_select ON cachemon._audit_state
    FOR SELECT TO cachemon_reader USING (true);
CREATE POLICY _audit_state_admin_all ON cachemon._audit_state
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);
