-- Findings of the auditor, with their lifecycle (open -> acknowledged -> resolved).
CREATE TABLE cachemon.cache_auditor_observations (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    implementation_type  text             NOT NULL,
    rule                 text             NOT NULL,
    severity             text             NOT NULL,
    category             text             NOT NULL,
    status               text             NOT NULL DEFAULT 'open',
    metric               text,
    observed_value       double precision,
    baseline_value       double precision,
    deviation_pct        double precision,
    message              text             NOT NULL,
    recommendation       text,
    first_seen_at        timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    last_seen_at         timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    occurrences          integer          NOT NULL DEFAULT 1,
    acknowledged_at      timestamptz,
    acknowledged_by      text,
    resolved_at          timestamptz,
    details              jsonb            NOT NULL DEFAULT '{}'::jsonb,
    resolved_by          text,
    CONSTRAINT cache_auditor_observations_severity_check
        CHECK (severity IN ('info', 'warning', 'critical')),
    CONSTRAINT cache_auditor_observations_category_check
        CHECK (category IN ('performance', 'reliability', 'capacity', 'anomaly')),
    CONSTRAINT cache_auditor_observations_status_check
        CHECK (status IN ('open', 'acknowledged', 'resolved')),
    CONSTRAINT cache_auditor_observations_implementation_type_check
        CHECK (pg_catalog.length(implementation_type) BETWEEN 1 AND 64),
    CONSTRAINT cache_auditor_observations_rule_check
        CHECK (pg_catalog.length(rule) BETWEEN 1 AND 64),
    CONSTRAINT cache_auditor_observations_text_length
        CHECK (pg_catalog.length(message) <= 2000 AND pg_catalog.length(recommendation) <= 2000
               AND pg_catalog.length(acknowledged_by) <= 200),
    CONSTRAINT cache_auditor_observations_resolved_by_length
        CHECK (pg_catalog.length(resolved_by) BETWEEN 1 AND 200),
    CONSTRAINT cache_auditor_observations_occurrences_check CHECK (occurrences >= 1),
    CONSTRAINT cache_auditor_observations_seen_check CHECK (first_seen_at <= last_seen_at),
    CONSTRAINT cache_auditor_observations_acknowledged_check
        CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL)),
    CONSTRAINT cache_auditor_observations_resolved_check
        CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
);

-- One live (open or acknowledged) finding per implementation and rule.
CREATE UNIQUE INDEX cache_auditor_observations_live_idx
    ON cachemon.cache_auditor_observations (implementation_type, rule)
    WHERE status <> 'resolved';
CREATE INDEX cache_auditor_observations_last_seen_at_idx
    ON cachemon.cache_auditor_observations (last_seen_at);

COMMENT ON TABLE cachemon.cache_auditor_observations IS
    'Auditor findings: severity, category, rule, values, message, recommendation and lifecycle';
COMMENT ON COLUMN cachemon.cache_auditor_observations.resolved_by IS
    'Who resolved the finding: a person (resolve_observation) or ''auditor'' (condition cleared)';

ALTER TABLE cachemon.cache_auditor_observations ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon.cache_auditor_observations FROM PUBLIC;
GRANT SELECT ON cachemon.cache_auditor_observations TO cachemon_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON cachemon.cache_auditor_observations TO cachemon_admin;
CREATE POLICY cache_auditor_observations_reader_select ON cachemon.cache_auditor_observations
    FOR SELECT TO cachemon_reader USING (true);
CREATE POLICY cache_auditor_observations_admin_all ON cachemon.cache_auditor_observations
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);
