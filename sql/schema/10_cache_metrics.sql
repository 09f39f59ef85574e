-- Raw cache events, partitioned by UTC day on recorded_at. The default partition catches
-- events no daily partition covers yet; run_maintenance moves them where they belong.
CREATE TABLE cachemon.cache_metrics (
    recorded_at         timestamptz      NOT NULL,
    implementation_type text             NOT NULL,
    event_type          text             NOT NULL,
    cache_key           text,
    response_time_ms    double precision,
    cache_size          bigint,
    error_type          text,
    error_message       text,
    batch_id            uuid,
    received_at         timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT cache_metrics_recorded_at_finite
        CHECK (recorded_at > '-infinity' AND recorded_at < 'infinity'),
    CONSTRAINT cache_metrics_implementation_type_check
        CHECK (pg_catalog.length(implementation_type) BETWEEN 1 AND 64
               AND implementation_type !~ '^\s|\s$'),
    CONSTRAINT cache_metrics_event_type_check
        CHECK (event_type IN ('hit', 'miss', 'set', 'evict', 'error')),
    CONSTRAINT cache_metrics_cache_key_length CHECK (pg_catalog.length(cache_key) <= 4096),
    -- Value domains (docs/security.md, "Input domains and the pipeline"): a latency is finite,
    -- >= 0 and at most one day; text carries no control characters (C0, DEL, C1) and no bidi
    -- controls (U+202A-U+202E, U+2066-U+2069). ingest_events, COPY and the collector all meet
    -- these checks; ingest_events and the collector check the same rules first, to name the
    -- event and field.
    CONSTRAINT cache_metrics_response_time_ms_check
        CHECK (response_time_ms = 0 OR response_time_ms BETWEEN 0.000001 AND 86400000),
    CONSTRAINT cache_metrics_cache_size_check CHECK (cache_size >= 0),
    CONSTRAINT cache_metrics_error_type_length CHECK (pg_catalog.length(error_type) <= 256),
    CONSTRAINT cache_metrics_error_message_length CHECK (pg_catalog.length(error_message) <= 4096),
    CONSTRAINT cache_metrics_implementation_type_no_control
        CHECK (implementation_type !~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'),
    CONSTRAINT cache_metrics_cache_key_no_control
        CHECK (cache_key !~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'),
    CONSTRAINT cache_metrics_error_type_no_control
        CHECK (error_type !~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'),
    CONSTRAINT cache_metrics_error_message_no_control
        CHECK (error_message !~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]')
) PARTITION BY RANGE (recorded_at);

COMMENT ON TABLE cachemon.cache_metrics IS
    'Raw cache events (hit, miss, set, evict, error), one partition per UTC day; kept 7 days by default';
COMMENT ON COLUMN cachemon.cache_metrics.recorded_at IS 'When the application recorded the event';
COMMENT ON COLUMN cachemon.cache_metrics.received_at IS 'When the database stored the event';
COMMENT ON COLUMN cachemon.cache_metrics.batch_id IS 'The ingest batch that carried the event';
COMMENT ON COLUMN cachemon.cache_metrics.cache_key IS
    'The key as the collector''s key mode left it: the key, a short hash of it, or NULL';

CREATE TABLE cachemon.cache_metrics_default PARTITION OF cachemon.cache_metrics DEFAULT;

CREATE INDEX cache_metrics_implementation_type_recorded_at_idx
    ON cachemon.cache_metrics (implementation_type, recorded_at);
-- The error events alone, for get_error_breakdown (which counts them first to bound its work).
CREATE INDEX cache_metrics_errors_recorded_at_idx
    ON cachemon.cache_metrics (recorded_at, implementation_type)
    WHERE event_type = 'error';

ALTER TABLE cachemon.cache_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE cachemon.cache_metrics_default ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon.cache_metrics, cachemon.cache_metrics_default FROM PUBLIC;
GRANT INSERT ON cachemon.cache_metrics TO cachemon_writer;
GRANT SELECT, INSERT, DELETE ON cachemon.cache_metrics TO cachemon_admin;
CREATE POLICY cache_metrics_writer_insert ON cachemon.cache_metrics
    FOR INSERT TO cachemon_writer WITH CHECK (true);
CREATE POLICY cache_metrics_admin_all ON cachemon.cache_metrics
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);
