-- Full install script of revision 0013_incident_boundary: sql/ as it stood at that revision,
-- made by `python -m orchestrator.migrations baseline`. Never edit it: a fresh database
-- runs it instead of the revisions up to it (alembic/README.md, "The squash point").

-- sql/schema/00_roles_and_schema.sql
-- Roles, schema and the privileges every other object builds on.
--
-- Three group roles (NOLOGIN); grant them to login roles:
--   cachemon_writer  ingest only (COPY/INSERT raw events, ingest_events)
--   cachemon_reader  read aggregates, baselines and observations (never raw events or keys)
--   cachemon_admin   operate: tick, maintenance, baselines, auditor, acknowledgements
-- Roles are cluster-wide: they are created when missing and never dropped by a downgrade,
-- because other databases of the cluster may use them.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cachemon_writer') THEN
        CREATE ROLE cachemon_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cachemon_reader') THEN
        CREATE ROLE cachemon_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cachemon_admin') THEN
        CREATE ROLE cachemon_admin NOLOGIN;
    END IF;
END
$roles$;

CREATE SCHEMA IF NOT EXISTS cachemon;
COMMENT ON SCHEMA cachemon IS
    'cachemon: cache events, per-minute and per-hour rollups, baselines and auditor observations';
REVOKE ALL ON SCHEMA cachemon FROM PUBLIC;
GRANT USAGE ON SCHEMA cachemon TO cachemon_writer, cachemon_reader, cachemon_admin;

-- On Supabase, the API's service role writes and operates; anon and authenticated get
-- nothing unless the README's documented grant is run.
DO $supabase$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        GRANT cachemon_writer, cachemon_reader, cachemon_admin TO service_role;
    END IF;
END
$supabase$;

-- sql/schema/05_ddsketch.sql
-- The latency sketch type of the rollup tables (cache_metrics_1min/1hour.latency_sketch);
-- its functions are cachemon.sketch_*.

-- A DDSketch-style latency sketch (relative accuracy 0.9%, see cachemon._sketch_ln_gamma()).
-- A positive latency x goes to key ceil(ln(x) / ln(gamma)), gamma = (1 + a) / (1 - a); a key k
-- stands for 2 * gamma^k / (gamma + 1), within a of every x of the key. Exact zeros have their own
-- counter (a logarithm has no key for them). keys are sorted and distinct once a sketch is
-- compacted (every stored sketch is), counts are positive and parallel to keys.
-- Why a composite of two arrays and not jsonb: unnest(keys, counts) is the cheapest way to merge
-- (a hash aggregate over plain integers), a minute of real latencies holds a few hundred keys,
-- i.e. a few KB, and arrays of integers compress and compare exactly (the tests compare sketches
-- with =).
CREATE TYPE cachemon.ddsketch AS (
    zero_count bigint,
    keys       integer[],
    counts     bigint[]
);
COMMENT ON TYPE cachemon.ddsketch IS
    'Mergeable latency sketch (DDSketch-style, relative accuracy 0.9%): zero_count, sorted keys, counts. Merge with cachemon.sketch_merge(), read with cachemon.sketch_quantile().';

-- sql/schema/10_cache_metrics.sql
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

ALTER TABLE cachemon.cache_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE cachemon.cache_metrics_default ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon.cache_metrics, cachemon.cache_metrics_default FROM PUBLIC;
GRANT INSERT ON cachemon.cache_metrics TO cachemon_writer;
GRANT SELECT, INSERT, DELETE ON cachemon.cache_metrics TO cachemon_admin;
CREATE POLICY cache_metrics_writer_insert ON cachemon.cache_metrics
    FOR INSERT TO cachemon_writer WITH CHECK (true);
CREATE POLICY cache_metrics_admin_all ON cachemon.cache_metrics
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

-- sql/schema/11_cache_metrics_1min.sql
-- Per-minute rollup of cache_metrics per implementation; written only by tick().
CREATE TABLE cachemon.cache_metrics_1min (
    bucket                timestamptz      NOT NULL,
    implementation_type   text             NOT NULL,
    hits                  bigint           NOT NULL DEFAULT 0,
    misses                bigint           NOT NULL DEFAULT 0,
    sets                  bigint           NOT NULL DEFAULT 0,
    evictions             bigint           NOT NULL DEFAULT 0,
    errors                bigint           NOT NULL DEFAULT 0,
    total_events          bigint           NOT NULL DEFAULT 0,
    hit_rate              numeric,
    error_rate            numeric,
    avg_response_time_ms  double precision,
    p50_response_time_ms  double precision,
    p95_response_time_ms  double precision,
    p99_response_time_ms  double precision,
    max_response_time_ms  double precision,
    avg_cache_size        double precision,
    max_cache_size        bigint,
    latency_count         bigint           NOT NULL DEFAULT 0,
    latency_sum           double precision NOT NULL DEFAULT 0,
    cache_size_count      bigint           NOT NULL DEFAULT 0,
    cache_size_sum        numeric          NOT NULL DEFAULT 0,
    updated_at            timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    latency_sketch        cachemon.ddsketch,
    CONSTRAINT cache_metrics_1min_bucket_implementation_type_key
        UNIQUE (bucket, implementation_type),
    CONSTRAINT cache_metrics_1min_bucket_aligned
        CHECK (bucket = pg_catalog.date_trunc('minute', bucket, 'UTC')),
    CONSTRAINT cache_metrics_1min_counts_check
        CHECK (hits >= 0 AND misses >= 0 AND sets >= 0 AND evictions >= 0 AND errors >= 0
               AND total_events = hits + misses + sets + evictions + errors),
    CONSTRAINT cache_metrics_1min_hit_rate_check CHECK (hit_rate BETWEEN 0 AND 100),
    CONSTRAINT cache_metrics_1min_error_rate_check CHECK (error_rate BETWEEN 0 AND 100),
    CONSTRAINT cache_metrics_1min_latency_check
        CHECK (latency_count >= 0 AND latency_sum >= 0 AND max_response_time_ms >= 0),
    CONSTRAINT cache_metrics_1min_cache_size_check
        CHECK (cache_size_count >= 0 AND max_cache_size >= 0)
);

COMMENT ON TABLE cachemon.cache_metrics_1min IS
    'Per-minute rollup per implementation (counts, hit and error rates, latency percentiles, cache size); kept 30 days by default';
COMMENT ON COLUMN cachemon.cache_metrics_1min.bucket IS 'Start of the minute (UTC)';
COMMENT ON COLUMN cachemon.cache_metrics_1min.hit_rate IS '100 * hits / (hits + misses); NULL without lookups';
COMMENT ON COLUMN cachemon.cache_metrics_1min.error_rate IS
    '100 * errors / (hits + misses + sets + errors); NULL when that is 0';
COMMENT ON COLUMN cachemon.cache_metrics_1min.latency_count IS 'Events that carried a response_time_ms';
COMMENT ON COLUMN cachemon.cache_metrics_1min.cache_size_count IS 'Events that carried a cache_size';
COMMENT ON COLUMN cachemon.cache_metrics_1min.latency_sketch IS
    'Latency sketch of the minute''s response times (merge across rows with cachemon.sketch_merge)';

ALTER TABLE cachemon.cache_metrics_1min ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon.cache_metrics_1min FROM PUBLIC;
GRANT SELECT ON cachemon.cache_metrics_1min TO cachemon_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON cachemon.cache_metrics_1min TO cachemon_admin;
CREATE POLICY cache_metrics_1min_reader_select ON cachemon.cache_metrics_1min
    FOR SELECT TO cachemon_reader USING (true);
CREATE POLICY cache_metrics_1min_admin_all ON cachemon.cache_metrics_1min
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

-- sql/schema/12_cache_metrics_1hour.sql
-- Per-hour rollup per implementation, merged from cache_metrics_1min; written only by tick().
CREATE TABLE cachemon.cache_metrics_1hour (
    bucket                timestamptz      NOT NULL,
    implementation_type   text             NOT NULL,
    hits                  bigint           NOT NULL DEFAULT 0,
    misses                bigint           NOT NULL DEFAULT 0,
    sets                  bigint           NOT NULL DEFAULT 0,
    evictions             bigint           NOT NULL DEFAULT 0,
    errors                bigint           NOT NULL DEFAULT 0,
    total_events          bigint           NOT NULL DEFAULT 0,
    hit_rate              numeric,
    error_rate            numeric,
    avg_response_time_ms  double precision,
    p50_response_time_ms  double precision,
    p95_response_time_ms  double precision,
    p99_response_time_ms  double precision,
    max_response_time_ms  double precision,
    avg_cache_size        double precision,
    max_cache_size        bigint,
    latency_count         bigint           NOT NULL DEFAULT 0,
    latency_sum           double precision NOT NULL DEFAULT 0,
    cache_size_count      bigint           NOT NULL DEFAULT 0,
    cache_size_sum        numeric          NOT NULL DEFAULT 0,
    updated_at            timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    latency_sketch        cachemon.ddsketch,
    CONSTRAINT cache_metrics_1hour_bucket_implementation_type_key
        UNIQUE (bucket, implementation_type),
    CONSTRAINT cache_metrics_1hour_bucket_aligned
        CHECK (bucket = pg_catalog.date_trunc('hour', bucket, 'UTC')),
    CONSTRAINT cache_metrics_1hour_counts_check
        CHECK (hits >= 0 AND misses >= 0 AND sets >= 0 AND evictions >= 0 AND errors >= 0
               AND total_events = hits + misses + sets + evictions + errors),
    CONSTRAINT cache_metrics_1hour_hit_rate_check CHECK (hit_rate BETWEEN 0 AND 100),
    CONSTRAINT cache_metrics_1hour_error_rate_check CHECK (error_rate BETWEEN 0 AND 100),
    CONSTRAINT cache_metrics_1hour_latency_check
        CHECK (latency_count >= 0 AND latency_sum >= 0 AND max_response_time_ms >= 0),
    CONSTRAINT cache_metrics_1hour_cache_size_check
        CHECK (cache_size_count >= 0 AND max_cache_size >= 0)
);

COMMENT ON TABLE cachemon.cache_metrics_1hour IS
    'Per-hour rollup per implementation (counts, hit and error rates, latency percentiles, cache size); kept 1 year by default';
COMMENT ON COLUMN cachemon.cache_metrics_1hour.bucket IS 'Start of the hour (UTC)';
COMMENT ON COLUMN cachemon.cache_metrics_1hour.hit_rate IS '100 * hits / (hits + misses); NULL without lookups';
COMMENT ON COLUMN cachemon.cache_metrics_1hour.error_rate IS
    '100 * errors / (hits + misses + sets + errors); NULL when that is 0';
COMMENT ON COLUMN cachemon.cache_metrics_1hour.latency_count IS 'Events that carried a response_time_ms';
COMMENT ON COLUMN cachemon.cache_metrics_1hour.cache_size_count IS 'Events that carried a cache_size';
COMMENT ON COLUMN cachemon.cache_metrics_1hour.latency_sketch IS
    'Latency sketch of the hour: the merge of its minutes'' sketches';

ALTER TABLE cachemon.cache_metrics_1hour ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon.cache_metrics_1hour FROM PUBLIC;
GRANT SELECT ON cachemon.cache_metrics_1hour TO cachemon_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON cachemon.cache_metrics_1hour TO cachemon_admin;
CREATE POLICY cache_metrics_1hour_reader_select ON cachemon.cache_metrics_1hour
    FOR SELECT TO cachemon_reader USING (true);
CREATE POLICY cache_metrics_1hour_admin_all ON cachemon.cache_metrics_1hour
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

-- sql/schema/13_cache_baseline_metrics.sql
-- Baseline statistics per implementation, computed by compute_baseline(); one active row
-- per implementation.
CREATE TABLE cachemon.cache_baseline_metrics (
    id                            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    implementation_type           text             NOT NULL,
    window_start                  timestamptz      NOT NULL,
    window_end                    timestamptz      NOT NULL,
    sample_minutes                integer          NOT NULL,
    is_active                     boolean          NOT NULL DEFAULT true,
    created_at                    timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    hit_rate_mean                 double precision,
    hit_rate_stddev               double precision,
    error_rate_mean               double precision,
    error_rate_stddev             double precision,
    avg_response_time_ms_mean     double precision,
    avg_response_time_ms_stddev   double precision,
    p95_response_time_ms_mean     double precision,
    p95_response_time_ms_stddev   double precision,
    requests_per_minute_mean      double precision,
    requests_per_minute_stddev    double precision,
    excluded_minutes              integer          NOT NULL DEFAULT 0,
    statistics                    jsonb            NOT NULL DEFAULT '{}'::jsonb,
    hourly_profile                jsonb,
    CONSTRAINT cache_baseline_metrics_implementation_type_check
        CHECK (pg_catalog.length(implementation_type) BETWEEN 1 AND 64),
    CONSTRAINT cache_baseline_metrics_window_check CHECK (window_start < window_end),
    CONSTRAINT cache_baseline_metrics_sample_minutes_check CHECK (sample_minutes >= 0),
    CONSTRAINT cache_baseline_metrics_stddev_check
        CHECK (hit_rate_stddev >= 0 AND error_rate_stddev >= 0
               AND avg_response_time_ms_stddev >= 0 AND p95_response_time_ms_stddev >= 0)
);

CREATE UNIQUE INDEX cache_baseline_metrics_one_active_idx
    ON cachemon.cache_baseline_metrics (implementation_type) WHERE is_active;

COMMENT ON TABLE cachemon.cache_baseline_metrics IS
    'Baseline statistics per implementation from cache_metrics_1min; at most one active row per implementation';
COMMENT ON COLUMN cachemon.cache_baseline_metrics.requests_per_minute_mean IS
    'Mean operations (hits + misses + sets + errors) per usable minute';
COMMENT ON COLUMN cachemon.cache_baseline_metrics.excluded_minutes IS
    'Minutes of the window with data but fewer operations than baseline.min_requests_per_minute';
COMMENT ON COLUMN cachemon.cache_baseline_metrics.statistics IS
    'Per metric: n, mean, stddev, median, mad (raw), mean_abs_dev, min, max; plus the settings used';
COMMENT ON COLUMN cachemon.cache_baseline_metrics.hourly_profile IS
    'Per metric, the median per UTC hour of day ("0".."23"); NULL when the window covers too few days';

ALTER TABLE cachemon.cache_baseline_metrics ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon.cache_baseline_metrics FROM PUBLIC;
GRANT SELECT ON cachemon.cache_baseline_metrics TO cachemon_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON cachemon.cache_baseline_metrics TO cachemon_admin;
CREATE POLICY cache_baseline_metrics_reader_select ON cachemon.cache_baseline_metrics
    FOR SELECT TO cachemon_reader USING (true);
CREATE POLICY cache_baseline_metrics_admin_all ON cachemon.cache_baseline_metrics
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

-- sql/schema/14_cache_auditor_observations.sql
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

-- sql/schema/20_settings.sql
-- Settings an admin may change with UPDATE (retention periods, caps, windows). Values are
-- text and cast by the functions that read them through cachemon._setting(name).
CREATE TABLE cachemon._settings (
    name         text        PRIMARY KEY,
    value        text        NOT NULL,
    description  text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT _settings_name_check CHECK (name ~ '^[a-z][a-z0-9_.]{0,62}$'),
    CONSTRAINT _settings_value_length CHECK (pg_catalog.length(value) <= 1000)
);

COMMENT ON TABLE cachemon._settings IS
    'cachemon settings (retention periods and other knobs); change them with UPDATE as cachemon_admin';

INSERT INTO cachemon._settings (name, value, description) VALUES
    ('retention.raw', '7 days', 'How long raw events in cache_metrics are kept'),
    ('retention.1min', '30 days', 'How long rows of cache_metrics_1min are kept'),
    ('retention.1hour', '1 year', 'How long rows of cache_metrics_1hour are kept');

ALTER TABLE cachemon._settings ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._settings FROM PUBLIC;
GRANT SELECT ON cachemon._settings TO cachemon_reader, cachemon_writer;
GRANT SELECT, UPDATE ON cachemon._settings TO cachemon_admin;
CREATE POLICY _settings_read ON cachemon._settings
    FOR SELECT TO cachemon_reader, cachemon_writer, cachemon_admin USING (true);
CREATE POLICY _settings_admin_update ON cachemon._settings
    FOR UPDATE TO cachemon_admin USING (true) WITH CHECK (true);

-- sql/schema/21_ingested_batches.sql
-- Batch ids already stored: the exactly-once guard of ingest. A batch (the collector's COPY,
-- cachemon.ingest_events, `cachemon ingest`) inserts its id here and its rows into
-- cache_metrics in one transaction; a batch whose id is already here is skipped, so a batch
-- retried after a lost commit acknowledgement is stored once. A concurrent duplicate waits on
-- the primary key until the first commits, then skips. Rows older than raw retention are
-- removed by cachemon._forget_ingested_batches (events that old are refused anyway).
CREATE TABLE cachemon._ingested_batches (
    batch_id     uuid        PRIMARY KEY,
    event_count  integer     NOT NULL,
    source       text        NOT NULL DEFAULT 'collector',
    received_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    content_hash bytea,
    CONSTRAINT _ingested_batches_event_count_check CHECK (event_count >= 0),
    CONSTRAINT _ingested_batches_source_check CHECK (pg_catalog.length(source) BETWEEN 1 AND 64)
);

CREATE INDEX _ingested_batches_received_at_idx ON cachemon._ingested_batches (received_at);

COMMENT ON TABLE cachemon._ingested_batches IS
    'Internal: ids of stored ingest batches, so a retried batch is stored once; pruned after raw retention';
COMMENT ON COLUMN cachemon._ingested_batches.content_hash IS
    '64-bit hash of the batch''s events as jsonb (jsonb_hash_extended; ingest_events only): a replay of the id with other content is refused';
COMMENT ON COLUMN cachemon._ingested_batches.source IS
    'Which path stored the batch: collector, ingest_events or cli';

ALTER TABLE cachemon._ingested_batches ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._ingested_batches FROM PUBLIC;
-- INSERT ... ON CONFLICT DO NOTHING needs only INSERT; the writer never reads other batches.
GRANT INSERT ON cachemon._ingested_batches TO cachemon_writer;
GRANT SELECT, INSERT, DELETE ON cachemon._ingested_batches TO cachemon_admin;
CREATE POLICY _ingested_batches_writer_insert ON cachemon._ingested_batches
    FOR INSERT TO cachemon_writer WITH CHECK (true);
CREATE POLICY _ingested_batches_admin_all ON cachemon._ingested_batches
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

-- sql/schema/30_rollup.sql
-- Rollup machinery: the queue of (minute, implementation) buckets to
-- recompute, result types of tick() and run_maintenance(), and their settings.

-- Index for the hourly recomputation and for reading a range of one implementation.
CREATE INDEX cache_metrics_1min_implementation_type_bucket_idx
    ON cachemon.cache_metrics_1min (implementation_type, bucket);

-- The queue. Every statement that inserts (or deletes) raw events appends the distinct
-- (minute, implementation) pairs it touched, in its own transaction (trigger
-- cachemon._mark_dirty_buckets, SECURITY DEFINER: the only writer of marks besides admins).
-- Append-only on the ingest side (no unique key, so concurrent ingests never wait for each
-- other); tick() deletes the marks it claims. cachemon_writer has no privilege on it: a
-- forged mark could make tick() delete a minute's row or hold real minutes back.
CREATE TABLE cachemon._dirty_buckets (
    bucket               timestamptz NOT NULL,
    implementation_type  text        NOT NULL,
    marked_at            timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX _dirty_buckets_bucket_implementation_type_idx
    ON cachemon._dirty_buckets (bucket, implementation_type);
COMMENT ON TABLE cachemon._dirty_buckets IS
    'Internal queue: (minute, implementation) buckets whose raw events changed and that tick() must recompute';

ALTER TABLE cachemon._dirty_buckets ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._dirty_buckets FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON cachemon._dirty_buckets TO cachemon_admin;
CREATE POLICY _dirty_buckets_admin_all ON cachemon._dirty_buckets
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

CREATE TYPE cachemon.tick_result AS (
    status          text,
    minutes_done    integer,
    hours_done      integer,
    marks_claimed   bigint,
    buckets_left    bigint,
    oldest_pending  timestamptz,
    auditor         text,
    duration_ms     double precision,
    buckets_failed  integer,
    failure         text
);
COMMENT ON TYPE cachemon.tick_result IS
    'What one cachemon.tick() did: status (done, busy, standby), minutes and hours recomputed, queue rows claimed, distinct buckets still queued and the oldest of them, auditor outcome, duration; buckets that failed to roll up (left queued, reported with a WARNING) and the first failure''s message';

CREATE TYPE cachemon.maintenance_result AS (
    status                text,
    partitions_created    text[],
    partitions_dropped    text[],
    rows_moved            bigint,
    default_rows_left     bigint,
    minute_rows_deleted   bigint,
    hour_rows_deleted     bigint,
    batch_ids_deleted     bigint,
    cron_runs_deleted     bigint
);
COMMENT ON TYPE cachemon.maintenance_result IS
    'What one cachemon.run_maintenance() did: partitions created and dropped, rows moved out of the default partition (and left there), rows trimmed by retention';

INSERT INTO cachemon._settings (name, value, description) VALUES
    ('tick.max_buckets', '5000',
     'Most distinct (minute, implementation) buckets one tick() recomputes; the rest waits for the next tick'),
    ('ingest.max_future', '1 day',
     'Events recorded further than this ahead of the database clock are refused'),
    ('partitions.premake', '4 days',
     'How far ahead run_maintenance() keeps daily partitions of cache_metrics (never less than 4 days)'),
    ('retention.cron_history', '7 days',
     'How long rows of cron.job_run_details are kept (where pg_cron exists)');

-- sql/schema/31_rollup_1day.sql
-- Per-UTC-day pre-merged rollup per implementation, internal: the merge of that day's rows of
-- cache_metrics_1hour (sums, maxima, merged latency sketch). It exists only so that a long
-- summary window (30 days) merges ~30 daily sketches instead of ~720 hourly ones per
-- implementation (docs/rollups.md, "The summary"). Written only by cachemon._rollup_days(),
-- which tick() calls for the days of the hours it recomputes (same transaction, so every row
-- equals the merge of its hours whenever the hours are committed), and which run_maintenance()
-- calls for the day cut by retention.1hour. Rates, averages and percentiles are not stored:
-- the summary derives them from the sums and the merged sketch of its whole window.
CREATE TABLE cachemon._cache_metrics_1day (
    bucket                timestamptz      NOT NULL,
    implementation_type   text             NOT NULL,
    hits                  bigint           NOT NULL DEFAULT 0,
    misses                bigint           NOT NULL DEFAULT 0,
    sets                  bigint           NOT NULL DEFAULT 0,
    evictions             bigint           NOT NULL DEFAULT 0,
    errors                bigint           NOT NULL DEFAULT 0,
    total_events          bigint           NOT NULL DEFAULT 0,
    latency_count         bigint           NOT NULL DEFAULT 0,
    latency_sum           double precision NOT NULL DEFAULT 0,
    max_response_time_ms  double precision,
    cache_size_count      bigint           NOT NULL DEFAULT 0,
    cache_size_sum        numeric          NOT NULL DEFAULT 0,
    max_cache_size        bigint,
    latency_sketch        cachemon.ddsketch,
    updated_at            timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT _cache_metrics_1day_pkey PRIMARY KEY (bucket, implementation_type),
    CONSTRAINT _cache_metrics_1day_bucket_aligned
        CHECK (bucket = pg_catalog.date_trunc('day', bucket, 'UTC')),
    CONSTRAINT _cache_metrics_1day_counts_check
        CHECK (hits >= 0 AND misses >= 0 AND sets >= 0 AND evictions >= 0 AND errors >= 0
               AND total_events = hits + misses + sets + evictions + errors)
);

COMMENT ON TABLE cachemon._cache_metrics_1day IS
    'Internal: per-UTC-day merge of cache_metrics_1hour per implementation (sums, maxima, merged latency sketch), kept by tick() via cachemon._rollup_days(); read by the summary for the whole days of long windows. Trimmed with retention.1hour.';
COMMENT ON COLUMN cachemon._cache_metrics_1day.bucket IS 'Start of the day (00:00 UTC)';
COMMENT ON COLUMN cachemon._cache_metrics_1day.latency_sketch IS
    'Merge of the day''s hourly latency sketches (NULL when no hour had a latency)';

ALTER TABLE cachemon._cache_metrics_1day ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._cache_metrics_1day FROM PUBLIC;
GRANT SELECT ON cachemon._cache_metrics_1day TO cachemon_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON cachemon._cache_metrics_1day TO cachemon_admin;
CREATE POLICY _cache_metrics_1day_reader_select ON cachemon._cache_metrics_1day
    FOR SELECT TO cachemon_reader USING (true);
CREATE POLICY _cache_metrics_1day_admin_all ON cachemon._cache_metrics_1day
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

-- sql/schema/40_auditor_rules.sql
-- The auditor's rules and their thresholds, one row per rule function cachemon._rule_<rule>.
-- An admin tunes the auditor with UPDATE (thresholds, enabled, per-rule persistence); the
-- rule functions read their row through cachemon._auditor_rule(rule). What each threshold
-- means depends on the rule (column `unit`); docs/auditor.md has the table.
CREATE TABLE cachemon._auditor_rules (
    rule                 text             PRIMARY KEY,
    enabled              boolean          NOT NULL DEFAULT true,
    category             text             NOT NULL,
    unit                 text             NOT NULL,
    warning_threshold    double precision NOT NULL,
    critical_threshold   double precision NOT NULL,
    clear_threshold      double precision NOT NULL,
    min_requests         bigint           NOT NULL DEFAULT 200,
    significance_z       double precision NOT NULL DEFAULT 3.09,
    open_after           integer,
    clear_after          integer,
    params               jsonb            NOT NULL DEFAULT '{}'::jsonb,
    description          text             NOT NULL,
    updated_at           timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT _auditor_rules_rule_check CHECK (rule ~ '^[a-z][a-z0-9_]{0,50}$'),
    CONSTRAINT _auditor_rules_category_check
        CHECK (category IN ('performance', 'reliability', 'capacity', 'anomaly')),
    CONSTRAINT _auditor_rules_thresholds_check
        CHECK (clear_threshold >= 0 AND clear_threshold < warning_threshold
               AND warning_threshold <= critical_threshold),
    CONSTRAINT _auditor_rules_min_requests_check CHECK (min_requests >= 0),
    CONSTRAINT _auditor_rules_significance_z_check CHECK (significance_z >= 0),
    CONSTRAINT _auditor_rules_open_after_check CHECK (open_after BETWEEN 1 AND 1000),
    CONSTRAINT _auditor_rules_clear_after_check CHECK (clear_after BETWEEN 1 AND 1000),
    CONSTRAINT _auditor_rules_params_check CHECK (pg_catalog.jsonb_typeof(params) = 'object')
);

COMMENT ON TABLE cachemon._auditor_rules IS
    'Auditor rules (one per function cachemon._rule_<rule>) and their thresholds; tune them with UPDATE as cachemon_admin';
COMMENT ON COLUMN cachemon._auditor_rules.unit IS
    'What warning/critical/clear thresholds measure for this rule';
COMMENT ON COLUMN cachemon._auditor_rules.clear_threshold IS
    'A live finding resolves after the condition stayed below this for clear_after evaluations (hysteresis)';
COMMENT ON COLUMN cachemon._auditor_rules.min_requests IS
    'Fewer requests than this in the window: the rule does not judge (neither breach nor clear)';
COMMENT ON COLUMN cachemon._auditor_rules.significance_z IS
    'One-sided z (score test / Wilson bound) a deviation must reach; 3.09 = alpha 0.001';
COMMENT ON COLUMN cachemon._auditor_rules.open_after IS
    'Consecutive breached evaluations before a finding opens; NULL: setting auditor.open_after';
COMMENT ON COLUMN cachemon._auditor_rules.clear_after IS
    'Consecutive clear evaluations before a finding resolves; NULL: setting auditor.clear_after';

INSERT INTO cachemon._auditor_rules
    (rule, category, unit, warning_threshold, critical_threshold, clear_threshold,
     min_requests, open_after, params, description)
VALUES
    ('hit_rate_drop', 'performance', 'percent below baseline (relative)', 10, 20, 5, 200, NULL, '{}',
     'Hit rate below the baseline (hour-of-day median) by more than the threshold, significant by a score test'),
    ('response_time', 'performance', 'percent above baseline (relative)', 25, 50, 12.5, 200, NULL, '{}',
     'p50, p95 or p99 response time (merged sketches) above the baseline (pooled hour-of-day quantiles) by more than the threshold'),
    -- Errors are tested as counts (Poisson, at least 3 errors), so quieter windows are judged.
    ('error_rate', 'reliability', 'percent of operations (absolute)', 1, 5, 0.5, 50, NULL, '{}',
     'Error rate above the threshold, with the Wilson lower bound above it too'),
    -- Not the average response time: a few very slow requests move it at will (response_time
    -- judges quantiles).
    ('anomaly', 'anomaly', 'robust z-score (|value - median| / (1.4826 MAD))', 6, 12, 3, 200, NULL,
     '{"metrics": ["hit_rate", "error_rate", "p95_response_time_ms", "requests_per_minute"]}',
     'Any baselined metric far from its baseline median in units of its robust spread'),
    ('capacity', 'capacity', 'percent above baseline (relative)', 50, 150, 25, 200, NULL, '{}',
     'Eviction rate (evictions per 100 lookups) or average cache size far above the baseline'),
    -- Silence is measured in whole minutes already (3 silent minutes are 3 minutes of
    -- evidence, longer than a collector's default 60 s flush lag), so it opens at once.
    ('no_data', 'reliability', 'minutes without events', 3, 10, 1, 50, 1, '{}',
     'An implementation with an active baseline sent no events although its baseline expects traffic'),
    ('migration', 'performance', 'multiple of the per-metric margin in params', 1, 2, 0.5, 200, NULL,
     '{"candidate": "new", "reference": "legacy", "hit_rate_drop_pct": 10, "response_time_increase_pct": 25, "error_rate_increase_points": 1}',
     'The candidate implementation worse than the reference over the same window (hit rate, response time, error rate)');

ALTER TABLE cachemon._auditor_rules ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._auditor_rules FROM PUBLIC;
GRANT SELECT ON cachemon._auditor_rules TO cachemon_reader;
GRANT SELECT, UPDATE ON cachemon._auditor_rules TO cachemon_admin;
CREATE POLICY _auditor_rules_read ON cachemon._auditor_rules
    FOR SELECT TO cachemon_reader, cachemon_admin USING (true);
CREATE POLICY _auditor_rules_admin_update ON cachemon._auditor_rules
    FOR UPDATE TO cachemon_admin USING (true) WITH CHECK (true);

-- The one shape every rule function returns (splinter's fixed columns), so run_auditor can
-- combine all rules. A rule returns a row per implementation (and metric) it judged:
-- state 'breach' (with severity), 'clear' (below the clear threshold) or 'hold' (between
-- the thresholds, too little traffic, or not significant: counts neither way).
CREATE TYPE cachemon._finding AS (
    implementation_type text,
    rule                text,
    category            text,
    state               text,
    severity            text,
    metric              text,
    observed_value      double precision,
    baseline_value      double precision,
    deviation_pct       double precision,
    sample_size         bigint,
    score               double precision,
    message             text,
    recommendation      text,
    details             jsonb
);
COMMENT ON TYPE cachemon._finding IS
    'Row shape of every auditor rule function cachemon._rule_<rule>(timestamptz, interval)';

INSERT INTO cachemon._settings (name, value, description) VALUES
    ('auditor.window', '5 minutes', 'Window of whole minutes before now that run_auditor judges'),
    ('auditor.open_after', '2', 'Consecutive breached evaluations before a finding opens'),
    ('auditor.clear_after', '3', 'Consecutive clear evaluations before a finding resolves'),
    ('baseline.min_requests_per_minute', '10',
     'Minutes with fewer operations (hits+misses+sets+errors) are left out of baselines'),
    ('baseline.min_sample_minutes', '60', 'compute_baseline refuses with fewer usable minutes'),
    ('baseline.profile_min_days', '3',
     'Days the usable minutes must span before a baseline gets an hour-of-day profile'),
    ('baseline.profile_min_minutes', '20',
     'Usable minutes an hour of day needs to get its own entry in the profile'),
    ('push.realtime_private', 'true',
     'Whether realtime.send broadcasts (Supabase) are private (need RLS on realtime.messages)');

-- sql/schema/41_audit_state.sql
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

-- sql/schema/45_realtime.sql
-- Live push: the 1-minute table and the observations table in a publication, so Supabase
-- Realtime (postgres_changes) or any logical-replication consumer sees their changes. On
-- Supabase the publication supabase_realtime exists and gets the two tables; elsewhere
-- cachemon creates its own, cachemon_realtime. (pg_notify and realtime.send come from the
-- triggers in sql/functions/_push_*.sql.)
--
-- A table in a publication that publishes updates or deletes must have a replica identity,
-- or every UPDATE and DELETE on it fails. cache_auditor_observations has its primary key;
-- cache_metrics_1min gets its unique (bucket, implementation_type) index (both NOT NULL).
-- cachemon_realtime publishes inserts and updates only: retention deletes are not news.
ALTER TABLE cachemon.cache_metrics_1min
    REPLICA IDENTITY USING INDEX cache_metrics_1min_bucket_implementation_type_key;

DO $publication$
DECLARE
    v_table text;
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = 'supabase_realtime') THEN
        FOREACH v_table IN ARRAY ARRAY['cache_metrics_1min', 'cache_auditor_observations'] LOOP
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication_tables AS t
                            WHERE t.pubname = 'supabase_realtime'
                              AND t.schemaname = 'cachemon' AND t.tablename = v_table) THEN
                EXECUTE pg_catalog.format('ALTER PUBLICATION supabase_realtime ADD TABLE %I.%I',
                                          'cachemon', v_table);
            END IF;
        END LOOP;
    ELSIF NOT EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = 'cachemon_realtime') THEN
        CREATE PUBLICATION cachemon_realtime
            FOR TABLE cachemon.cache_metrics_1min, cachemon.cache_auditor_observations
            WITH (publish = 'insert, update');
    END IF;
END
$publication$;

-- sql/schema/47_auditor_statistics.sql
-- Settings of the auditor's window statistics and of the migration verdict.
INSERT INTO cachemon._settings (name, value, description) VALUES
    ('auditor.windows', '{2,5,15,60}',
     'Window lengths in minutes (integer array, each 2..1440) every rule judges besides auditor.window; short ones find clear incidents fast, long ones small or low-traffic ones'),
    ('auditor.open_after_critical', '1',
     'Consecutive breached evaluations before a critical finding opens (when fewer than auditor.open_after)'),
    ('verdict.min_requests', '500',
     'migration_verdict: requests each side needs in the window before a metric is judged (fewer: no_data)'),
    ('verdict.confidence', '0.95',
     'migration_verdict: two-sided confidence level of the effect intervals (0.5..0.999)'),
    ('verdict.pass_score', '95',
     'migration_verdict: score (share of judged metrics that pass, 0..100) at or above which the verdict is ready'),
    ('verdict.marginal_score', '75',
     'migration_verdict: score at or above which (and below pass_score) the verdict is marginal');

-- sql/schema/48_dashboard.sql
-- Read API of the dashboard (and of any client: psql, a Supabase RPC call): the result types
-- of cachemon.get_timeseries, cachemon.get_error_breakdown and cachemon.get_traffic_share.
-- Named composite types (pgmq's style) so a client can rely on the columns by name.

CREATE TYPE cachemon.timeseries_bucket AS (
    bucket                timestamptz,
    bucket_end            timestamptz,
    implementation_type   text,
    total_events          bigint,
    hits                  bigint,
    misses                bigint,
    sets                  bigint,
    evictions             bigint,
    errors                bigint,
    hit_rate              numeric,
    error_rate            numeric,
    events_per_minute     double precision,
    avg_response_time_ms  double precision,
    p50_response_time_ms  double precision,
    p95_response_time_ms  double precision,
    p99_response_time_ms  double precision,
    max_response_time_ms  double precision,
    avg_cache_size        double precision,
    max_cache_size        bigint,
    level                 text
);
COMMENT ON TYPE cachemon.timeseries_bucket IS
    'One bucket of cachemon.get_timeseries for one implementation: [bucket, bucket_end), counts, hit and error rate, events per minute, average and p50/p95/p99/max response time, average and max cache size, and the rollup level read (1min, 1hour, 1day).';

CREATE TYPE cachemon.error_breakdown AS (
    implementation_type  text,
    error_type           text,
    errors               bigint,
    share                numeric,
    first_seen_at        timestamptz,
    last_seen_at         timestamptz,
    last_message         text
);
COMMENT ON TYPE cachemon.error_breakdown IS
    'One row of cachemon.get_error_breakdown: errors of one type of one implementation in the window, their share (percent) of that implementation''s errors, first and last time seen, the last message.';

CREATE TYPE cachemon.traffic_share AS (
    implementation_type  text,
    window_start         timestamptz,
    window_end           timestamptz,
    total_events         bigint,
    lookups              bigint,
    share                numeric
);
COMMENT ON TYPE cachemon.traffic_share IS
    'One row of cachemon.get_traffic_share: events and lookups (hits + misses) of one implementation in the window and its share (percent) of all events.';

-- sql/schema/49_jobs_role.sql
-- The role pg_cron runs cachemon's jobs as (cachemon.schedule_jobs), so they never run as a
-- superuser: LOGIN (pg_cron's workers log in as the job's user), no password (nobody logs in
-- with it through password authentication), no attribute beyond LOGIN, and member of
-- cachemon_admin only. Cluster-wide like the other roles: created when missing, never dropped.
DO $jobs$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cachemon_jobs') THEN
        CREATE ROLE cachemon_jobs LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
            NOBYPASSRLS INHERIT PASSWORD NULL;
    END IF;
END
$jobs$;
GRANT cachemon_admin TO cachemon_jobs;
COMMENT ON ROLE cachemon_jobs IS
    'cachemon: the user pg_cron runs the cachemon-* jobs as (member of cachemon_admin only; no password)';

-- sql/schema/50_setting_rules.sql
-- What a setting may hold: one row per setting of cachemon._settings, read by the trigger
-- function cachemon._settings_validate() whenever a setting is inserted or updated (by UPDATE,
-- a migration or any other way). Table-driven, so a revision that adds a setting adds its
-- rule with one INSERT here (before the setting's own row).
--   kind       how the text value is read: interval, integer, integers (an array such as
--              {2,5,15}, 1 to 20 elements, each within min_value..max_value), number,
--              boolean or text
--   min_value  smallest accepted value (inclusive, in the kind's type), or NULL
--   max_value  largest accepted value (inclusive), or NULL
--   not_above  another setting of the same kind this one may never exceed (an invariant
--              across keys, e.g. raw <= 1-minute <= 1-hour retention), or NULL
-- A setting without a rule is only held to the table's own checks; the test suite lists
-- such settings as errors, so every key gets a rule.
CREATE TABLE cachemon._setting_rules (
    name        text PRIMARY KEY,
    kind        text NOT NULL,
    min_value   text,
    max_value   text,
    not_above   text,
    CONSTRAINT _setting_rules_name_check CHECK (name ~ '^[a-z][a-z0-9_.]{0,62}$'),
    CONSTRAINT _setting_rules_kind_check
        CHECK (kind IN ('interval', 'integer', 'integers', 'number', 'boolean', 'text')),
    CONSTRAINT _setting_rules_not_above_check CHECK (not_above <> name)
);

COMMENT ON TABLE cachemon._setting_rules IS
    'Internal: type, range and cross-key invariant (not_above) of each setting; enforced on every write of cachemon._settings by cachemon._settings_validate()';

INSERT INTO cachemon._setting_rules (name, kind, min_value, max_value, not_above) VALUES
    ('retention.raw', 'interval', '1 day', '10 years', 'retention.1min'),
    ('retention.1min', 'interval', '1 hour', '10 years', 'retention.1hour'),
    ('retention.1hour', 'interval', '1 hour', '100 years', NULL),
    ('retention.cron_history', 'interval', '1 hour', '10 years', NULL),
    ('tick.max_buckets', 'integer', '1', '10000000', NULL),
    ('ingest.max_future', 'interval', '0', '7 days', NULL),
    ('ingest.max_response_time_ms', 'number', '0', '86400000', NULL),
    ('partitions.premake', 'interval', '0', '90 days', NULL),
    ('auditor.window', 'interval', '1 minute', '1 day', NULL),
    ('auditor.open_after', 'integer', '1', '1000', NULL),
    ('auditor.clear_after', 'integer', '1', '1000', NULL),
    ('baseline.min_requests_per_minute', 'integer', '0', '1000000000', NULL),
    ('baseline.min_sample_minutes', 'integer', '1', '10000000', NULL),
    ('baseline.profile_min_days', 'integer', '1', '3660', NULL),
    ('baseline.profile_min_minutes', 'integer', '1', '10000000', NULL),
    ('push.realtime_private', 'boolean', NULL, NULL, NULL),
    ('auditor.windows', 'integers', '2', '1440', NULL),
    ('auditor.open_after_critical', 'integer', '1', '1000', NULL),
    ('verdict.min_requests', 'integer', '1', '1000000000', NULL),
    ('verdict.confidence', 'number', '0.5', '0.999', NULL),
    ('verdict.pass_score', 'number', '0', '100', NULL),
    ('verdict.marginal_score', 'number', '0', '100', 'verdict.pass_score');

ALTER TABLE cachemon._setting_rules ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._setting_rules FROM PUBLIC;
GRANT SELECT ON cachemon._setting_rules TO cachemon_admin, cachemon_reader;
CREATE POLICY _setting_rules_read ON cachemon._setting_rules
    FOR SELECT TO cachemon_admin, cachemon_reader USING (true);

INSERT INTO cachemon._settings (name, value, description) VALUES
    ('ingest.max_response_time_ms', '86400000',
     'Largest response_time_ms ingest accepts (at most 86400000, one day, the column''s own limit)');

-- sql/schema/51_rollup_row.sql
-- One rolled-up (bucket, implementation) row as the rollup steps hand it to
-- cachemon._rollup_store(), the one upsert of the 1-minute, 1-hour and 1-day levels: sums,
-- maxima, the latency sketch and (1-minute: exact; 1-hour: from the sketch) percentiles.
CREATE TYPE cachemon._rollup_row AS (
    bucket               timestamptz,
    implementation_type  text,
    hits                 bigint,
    misses               bigint,
    sets                 bigint,
    evictions            bigint,
    errors               bigint,
    total_events         bigint,
    latency_count        bigint,
    latency_sum          double precision,
    max_response_time_ms double precision,
    cache_size_count     bigint,
    cache_size_sum       numeric,
    max_cache_size       bigint,
    latency_sketch       cachemon.ddsketch,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision
);
COMMENT ON TYPE cachemon._rollup_row IS
    'Internal: one rolled-up (bucket, implementation) row handed to cachemon._rollup_store() by the minute, hour and day steps';

-- sql/schema/52_sequential.sql
-- Settings of the auditor's sequential test, cachemon._cusum.
-- Rules first (cachemon._settings_validate checks every setting against its rule).
INSERT INTO cachemon._setting_rules (name, kind, min_value, max_value, not_above) VALUES
    ('auditor.sequential', 'boolean', NULL, NULL, NULL),
    ('auditor.cusum_h', 'number', '3', '50', NULL),
    ('auditor.cusum_minutes', 'integer', '10', '1440', NULL);

INSERT INTO cachemon._settings (name, value, description) VALUES
    ('auditor.sequential', 'true',
     'Whether error_rate, hit_rate_drop and response_time also judge the sequential test (cachemon._cusum); false leaves only the windows'),
    ('auditor.cusum_h', '10',
     'Alarm threshold of the sequential test (CUSUM of per-minute log-likelihood ratios): higher is slower and quieter; one false alarm per statistic in at most e^h minutes (10: 22,000 minutes)'),
    ('auditor.cusum_minutes', '120',
     'Minutes of history the sequential test looks back over (its evidence is recomputed from the minute rows at every run)');

-- sql/functions/_auditor_rule.sql
CREATE OR REPLACE FUNCTION cachemon._auditor_rule(p_rule text)
RETURNS cachemon._auditor_rules
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_rule cachemon._auditor_rules;
BEGIN
    /* One place that reads a rule's thresholds, so a missing row is a clear error. */
    SELECT r.* INTO v_rule FROM cachemon._auditor_rules AS r WHERE r.rule = p_rule;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'auditor rule % has no row in cachemon._auditor_rules',
            pg_catalog.quote_literal(p_rule)
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT rule, enabled FROM cachemon._auditor_rules lists the rules';
    END IF;
    RETURN v_rule;
END
$function$;

COMMENT ON FUNCTION cachemon._auditor_rule(text) IS
    'Internal: the row of cachemon._auditor_rules for a rule (thresholds, params); an unknown rule is an error.';

REVOKE ALL ON FUNCTION cachemon._auditor_rule(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._auditor_rule(text) TO cachemon_reader, cachemon_admin;

-- sql/functions/_auditor_windows.sql
CREATE OR REPLACE FUNCTION cachemon._auditor_windows(p_window interval)
RETURNS SETOF integer
LANGUAGE plpgsql
STABLE
ROWS 8
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The window lengths (whole minutes) a rule judges at once: the minutes listed in the
     * setting auditor.windows (default 2, 5, 15, 60) plus p_window itself, each between 2 and
     * 1440. Short windows find a clear incident in about two minutes; long ones find a small
     * sustained breach, or any breach of a quiet implementation, as soon as enough requests
     * make it significant (adaptively longer windows instead of silence). run_auditor decides
     * clearing on p_window (or the shortest longer window with enough traffic).
     * PL/pgSQL (not SQL) only so that its body is not checked before cachemon._setting
     * exists when the functions are created in name order.
     */
    RETURN QUERY
    SELECT DISTINCT least(greatest(w, 2), 1440)
      FROM unnest(coalesce(cachemon._setting('auditor.windows')::integer[], '{}'::integer[])
                  || (extract(epoch FROM p_window) / 60)::integer) AS u (w)
     WHERE w IS NOT NULL
     ORDER BY 1;
END
$function$;

COMMENT ON FUNCTION cachemon._auditor_windows(interval) IS
    'Internal: window lengths in minutes the rules judge (setting auditor.windows plus p_window, each 2..1440).';

REVOKE ALL ON FUNCTION cachemon._auditor_windows(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._auditor_windows(interval) TO cachemon_reader, cachemon_admin;

-- sql/functions/_baseline_expected.sql
CREATE OR REPLACE FUNCTION cachemon._baseline_expected(
    p_baseline cachemon.cache_baseline_metrics,
    p_metric text,
    p_at timestamptz
)
RETURNS double precision
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The baseline's expected value of a metric at a time: the median of that UTC hour of
     * day when the baseline has an hour-of-day profile entry for it (daily rhythm), else
     * the median over the whole window. Medians, not means, so a few bad minutes in the
     * baseline window do not move what "normal" is.
     */
    SELECT coalesce(
        (p_baseline.hourly_profile -> 'median' -> p_metric
            ->> (extract(hour FROM p_at AT TIME ZONE 'UTC')::integer)::text)::double precision,
        (p_baseline.statistics -> p_metric ->> 'median')::double precision);
$function$;

COMMENT ON FUNCTION cachemon._baseline_expected(cachemon.cache_baseline_metrics, text, timestamptz) IS
    'Internal: expected value of a metric at a time from a baseline (hour-of-day median when profiled, else the window median).';

REVOKE ALL ON FUNCTION cachemon._baseline_expected(cachemon.cache_baseline_metrics, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._baseline_expected(cachemon.cache_baseline_metrics, text, timestamptz)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/_baseline_pooled.sql
CREATE OR REPLACE FUNCTION cachemon._baseline_pooled(
    p_impl text,
    p_start timestamptz,
    p_end timestamptz,
    p_min_minutes integer,
    p_profile boolean
)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_out jsonb;
BEGIN
    /*
     * The pooled part of a baseline, over EVERY minute from the first to the last minute with
     * data of one implementation in [p_start, p_end), quiet or silent minutes included (a
     * minute without a row counts as 0 operations), so that a low-traffic implementation has
     * expectations too (silence after its last minute is not part of its normal traffic):
     *
     * - pooled: hit rate = sum hits / sum lookups, error rate = sum errors / sum operations,
     *   eviction rate = sum evictions / sum lookups (per 100), requests per minute = sum
     *   operations / minutes, and p50/p95/p99 of the merged latency sketch of the window.
     *   Pooling (not the median of minute rates) keeps rare counts honest: with 0-3
     *   evictions a minute the median minute is 0, the pooled rate is not.
     * - dispersion: what sampling noise alone does not explain. hit_rate_tau (percentage
     *   points) is the between-minute spread of the true hit rate (a random-effects /
     *   beta-binomial view): tau^2 = (1.4826 MAD of block rate - expected)^2 minus the median
     *   binomial variance p(1-p)/n, at least 0, over blocks of consecutive minutes holding
     *   about 50 lookups (one minute when traffic allows). error_rate_phi and eviction_rate_phi are
     *   quasi-Poisson dispersion factors: the mean squared Pearson residual of the minute
     *   counts, after dropping the top 1% (incidents in the baseline), at least 1, at most 20.
     *   p50/p95/p99_log_sd: 1.4826 MAD of ln(minute quantile / expected quantile) over
     *   minutes with at least 20 timed requests (how much a well-fed minute's quantile moves).
     * - pooled_hourly.pooled: per UTC hour of day ("0".."23"): requests per minute whenever
     *   the hour has at least p_min_minutes minutes (every minute counts, so nights are
     *   defined); rates and quantiles only when p_profile (enough days) and the hour has at
     *   least 500 lookups / timed requests.
     * - tail (since revision 0009): per quantile (p50/p95/p99_response_time_ms) the share of
     *   timed requests above the expected quantile of their hour (above), above it divided
     *   by 1 + warning/100 and 1 + critical/100 of the response_time rule (above_warning,
     *   above_critical: what the share above the line becomes when every latency is that
     *   much slower), and phi, the quasi-binomial dispersion of the minute counts above the
     *   line (mean squared Pearson residual without the top 1%, 1..20). Since revision 0011
     *   also the share above the line times 1 + warning/100 (beyond_warning: what must stay
     *   below the line's quantile for it to hold) and above twice the line (far, with its own
     *   dispersion far_phi), for the sequential test's stall design. The sequential test
     *   (cachemon._cusum) counts requests above exactly these lines, so its expected rate is
     *   this baseline's own, sketch buckets and hour profile included.
     * Expected values used for the residuals are the hour's when profiled, else the window's.
     */
    CREATE TEMPORARY TABLE IF NOT EXISTS pg_temp._cachemon_baseline_minutes (
        bucket timestamptz, hour integer, hits double precision, lookups double precision,
        errors double precision, ops double precision, evictions double precision,
        latency_count double precision, p50 double precision, p95 double precision,
        p99 double precision, sketch cachemon.ddsketch) ON COMMIT DROP;
    TRUNCATE pg_temp._cachemon_baseline_minutes;
    INSERT INTO pg_temp._cachemon_baseline_minutes
    SELECT g.b, extract(hour FROM g.b AT TIME ZONE 'UTC')::integer,
           coalesce(m.hits, 0), coalesce(m.hits + m.misses, 0), coalesce(m.errors, 0),
           coalesce(m.hits + m.misses + m.sets + m.errors, 0), coalesce(m.evictions, 0),
           coalesce(m.latency_count, 0), m.p50_response_time_ms, m.p95_response_time_ms,
           m.p99_response_time_ms, m.latency_sketch
      FROM (SELECT min(x.bucket) AS first, max(x.bucket) AS last
              FROM cachemon.cache_metrics_1min AS x
             WHERE x.implementation_type = p_impl AND x.bucket >= p_start AND x.bucket < p_end
               AND x.total_events > 0) AS f
     CROSS JOIN LATERAL pg_catalog.generate_series(f.first, f.last, interval '1 minute') AS g (b)
      LEFT JOIN cachemon.cache_metrics_1min AS m
        ON m.implementation_type = p_impl AND m.bucket = g.b;

    WITH hourly AS (
        SELECT b.hour, count(*) AS minutes, sum(b.ops) / count(*) AS rpm,
               sum(b.lookups) AS lookups, sum(b.latency_count) AS lc,
               100.0 * sum(b.hits) / NULLIF(sum(b.lookups), 0) AS hit_rate,
               100.0 * sum(b.errors) / NULLIF(sum(b.ops), 0) AS error_rate,
               100.0 * sum(b.evictions) / NULLIF(sum(b.lookups), 0) AS eviction_rate,
               cachemon.sketch_quantiles(cachemon.sketch_merge(b.sketch), ARRAY[0.5, 0.95, 0.99]) AS q
          FROM pg_temp._cachemon_baseline_minutes AS b GROUP BY b.hour
    ), overall AS (
        SELECT count(*) AS minutes, sum(b.ops) / NULLIF(count(*), 0) AS rpm,
               sum(b.lookups) AS lookups, sum(b.ops) AS ops,
               100.0 * sum(b.hits) / NULLIF(sum(b.lookups), 0) AS hit_rate,
               100.0 * sum(b.errors) / NULLIF(sum(b.ops), 0) AS error_rate,
               100.0 * sum(b.evictions) / NULLIF(sum(b.lookups), 0) AS eviction_rate,
               cachemon.sketch_quantiles(cachemon.sketch_merge(b.sketch), ARRAY[0.5, 0.95, 0.99]) AS q
          FROM pg_temp._cachemon_baseline_minutes AS b
    ), expect AS (
        SELECT h.hour,
               CASE WHEN p_profile AND h.lookups >= 500 THEN h.hit_rate ELSE o.hit_rate END AS hit_rate,
               CASE WHEN p_profile AND h.lookups >= 500 THEN h.error_rate ELSE o.error_rate END AS error_rate,
               CASE WHEN p_profile AND h.lookups >= 500 THEN h.eviction_rate ELSE o.eviction_rate END AS eviction_rate,
               CASE WHEN p_profile AND h.lc >= 500 THEN h.q ELSE o.q END AS q,
               h.lookups, h.lc, h.minutes, h.rpm, h.q AS hq,
               h.hit_rate AS h_hit, h.error_rate AS h_err, h.eviction_rate AS h_ev
          FROM hourly AS h CROSS JOIN overall AS o
    ), blk AS (
        -- hit-rate residuals per block of minutes holding about 50 lookups (1 minute at
        -- 50+ lookups a minute, up to 60), so tau is not drowned in small-count noise
        SELECT sum(b.hits) / NULLIF(sum(b.lookups), 0) - min(e.hit_rate) / 100.0 AS d_hit,
               (min(e.hit_rate) / 100.0) * (1 - min(e.hit_rate) / 100.0) / NULLIF(sum(b.lookups), 0) AS v_hit
          FROM pg_temp._cachemon_baseline_minutes AS b
          JOIN expect AS e ON e.hour = b.hour
         CROSS JOIN (SELECT greatest(1, least(60, ceil(50.0 / NULLIF(avg(x.lookups), 0))))::integer AS len
                       FROM pg_temp._cachemon_baseline_minutes AS x) AS k
         GROUP BY b.hour, floor(extract(epoch FROM b.bucket) / (60 * coalesce(k.len, 1)))
        HAVING sum(b.lookups) >= 20
    ), resid AS (
        SELECT b.lookups,
               (b.errors - b.ops * e.error_rate / 100.0)
                   / NULLIF(sqrt(b.ops * e.error_rate / 100.0), 0) AS r_err,
               (b.evictions - b.lookups * e.eviction_rate / 100.0)
                   / NULLIF(sqrt(b.lookups * e.eviction_rate / 100.0), 0) AS r_ev,
               CASE WHEN b.latency_count >= 20 THEN ln(greatest(b.p50, 1e-6) / NULLIF(greatest(e.q[1], 1e-6), 0)) END AS l50,
               CASE WHEN b.latency_count >= 20 THEN ln(greatest(b.p95, 1e-6) / NULLIF(greatest(e.q[2], 1e-6), 0)) END AS l95,
               CASE WHEN b.latency_count >= 20 THEN ln(greatest(b.p99, 1e-6) / NULLIF(greatest(e.q[3], 1e-6), 0)) END AS l99
          FROM pg_temp._cachemon_baseline_minutes AS b JOIN expect AS e ON e.hour = b.hour
    ), med AS (
        SELECT (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY k.d_hit) FROM blk AS k) AS m_hit,
               (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY k.v_hit) FROM blk AS k) AS m_v,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY r.l50) AS m50,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY r.l95) AS m95,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY r.l99) AS m99,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY r.r_err * r.r_err) AS c_err,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY r.r_ev * r.r_ev) AS c_ev
          FROM resid AS r
    ), lines AS (
        -- counts above the tail lines, per minute (sketch keys above the line's key)
        SELECT b.latency_count AS n, v.metric, u.c0, u.cw, u.cc, u.cb, u.cf
          FROM pg_temp._cachemon_baseline_minutes AS b
          JOIN expect AS e ON e.hour = b.hour
         CROSS JOIN (SELECT 1 + r.warning_threshold / 100.0 AS fw, 1 + r.critical_threshold / 100.0 AS fc
                       FROM cachemon._auditor_rule('response_time') AS r) AS f
         CROSS JOIN LATERAL (VALUES ('p50_response_time_ms', e.q[1]), ('p95_response_time_ms', e.q[2]),
                                    ('p99_response_time_ms', e.q[3])) AS v (metric, line)
         CROSS JOIN LATERAL (
               SELECT coalesce(sum(c) FILTER (WHERE k > cachemon.sketch_key(v.line)), 0) AS c0,
                      coalesce(sum(c) FILTER (WHERE k > cachemon.sketch_key(v.line / f.fw)), 0) AS cw,
                      coalesce(sum(c) FILTER (WHERE k > cachemon.sketch_key(v.line / f.fc)), 0) AS cc,
                      coalesce(sum(c) FILTER (WHERE k > cachemon.sketch_key(v.line * f.fw)), 0) AS cb,
                      coalesce(sum(c) FILTER (WHERE k > cachemon.sketch_key(v.line * 2)), 0) AS cf
                 FROM unnest((b.sketch).keys, (b.sketch).counts) AS s (k, c)) AS u
         WHERE b.latency_count > 0 AND b.sketch IS NOT NULL AND v.line > 0
    ), tail_rate AS (
        SELECT l.metric, sum(l.c0) / sum(l.n) AS above, sum(l.cw) / sum(l.n) AS above_warning,
               sum(l.cc) / sum(l.n) AS above_critical, sum(l.cb) / sum(l.n) AS beyond_warning,
               sum(l.cf) / sum(l.n) AS far
          FROM lines AS l GROUP BY l.metric HAVING sum(l.n) > 0
    ), tail_resid AS (
        SELECT l.metric,
               power(l.c0 - l.n * t.above, 2) / NULLIF(l.n * t.above * (1 - t.above), 0) AS r2,
               power(l.cf - l.n * t.far, 2) / NULLIF(l.n * t.far * (1 - t.far), 0) AS r2f
          FROM lines AS l JOIN tail_rate AS t ON t.metric = l.metric
    ), tail AS (
        SELECT t.metric, t.above, t.above_warning, t.above_critical, t.beyond_warning, t.far,
               least(greatest(coalesce(avg(x.r2) FILTER (WHERE x.r2 <= c.cut), 1), 1), 20) AS phi,
               least(greatest(coalesce(avg(x.r2f) FILTER (WHERE x.r2f <= c.cut_f), 1), 1), 20) AS far_phi
          FROM tail_rate AS t
          JOIN tail_resid AS x ON x.metric = t.metric
          JOIN (SELECT y.metric, percentile_cont(0.99) WITHIN GROUP (ORDER BY y.r2) AS cut,
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY y.r2f) AS cut_f
                  FROM tail_resid AS y GROUP BY y.metric) AS c ON c.metric = t.metric
         GROUP BY t.metric, t.above, t.above_warning, t.above_critical, t.beyond_warning, t.far
    ), disp AS (
        SELECT 100.0 * sqrt(greatest(power(1.4826 * (SELECT percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY abs(k.d_hit - d.m_hit)) FROM blk AS k), 2) - coalesce(d.m_v, 0), 0)) AS hit_tau,
               least(greatest(avg(r.r_err * r.r_err) FILTER (WHERE r.r_err * r.r_err <= d.c_err), 1), 20) AS err_phi,
               least(greatest(avg(r.r_ev * r.r_ev) FILTER (WHERE r.r_ev * r.r_ev <= d.c_ev), 1), 20) AS ev_phi,
               1.4826 * percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(r.l50 - d.m50)) AS sd50,
               1.4826 * percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(r.l95 - d.m95)) AS sd95,
               1.4826 * percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(r.l99 - d.m99)) AS sd99
          FROM resid AS r CROSS JOIN med AS d
         GROUP BY d.m_hit, d.m_v, d.m50, d.m95, d.m99, d.c_err, d.c_ev
    )
    SELECT pg_catalog.jsonb_build_object(
        'pooled', (SELECT pg_catalog.jsonb_build_object(
                'minutes', o.minutes, 'lookups', o.lookups, 'operations', o.ops,
                'requests_per_minute', o.rpm, 'hit_rate', o.hit_rate, 'error_rate', o.error_rate,
                'eviction_rate', o.eviction_rate, 'p50_response_time_ms', o.q[1],
                'p95_response_time_ms', o.q[2], 'p99_response_time_ms', o.q[3]) FROM overall AS o),
        'dispersion', (SELECT pg_catalog.jsonb_build_object(
                'hit_rate_tau', coalesce(d.hit_tau, 0), 'error_rate_phi', coalesce(d.err_phi, 1),
                'eviction_rate_phi', coalesce(d.ev_phi, 1), 'p50_log_sd', d.sd50,
                'p95_log_sd', d.sd95, 'p99_log_sd', d.sd99) FROM disp AS d),
        'tail', (SELECT pg_catalog.jsonb_object_agg(t.metric, pg_catalog.jsonb_build_object(
                'above', t.above, 'above_warning', t.above_warning,
                'above_critical', t.above_critical, 'phi', t.phi,
                'beyond_warning', t.beyond_warning, 'far', t.far, 'far_phi', t.far_phi)) FROM tail AS t),
        'pooled_hourly', pg_catalog.jsonb_build_object('pooled', (
            SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                'requests_per_minute', pg_catalog.jsonb_object_agg(e.hour::text, e.rpm)
                    FILTER (WHERE e.minutes >= p_min_minutes),
                'hit_rate', pg_catalog.jsonb_object_agg(e.hour::text, e.h_hit)
                    FILTER (WHERE p_profile AND e.lookups >= 500),
                'error_rate', pg_catalog.jsonb_object_agg(e.hour::text, e.h_err)
                    FILTER (WHERE p_profile AND e.lookups >= 500),
                'eviction_rate', pg_catalog.jsonb_object_agg(e.hour::text, e.h_ev)
                    FILTER (WHERE p_profile AND e.lookups >= 500),
                'p50_response_time_ms', pg_catalog.jsonb_object_agg(e.hour::text, e.hq[1])
                    FILTER (WHERE p_profile AND e.lc >= 500),
                'p95_response_time_ms', pg_catalog.jsonb_object_agg(e.hour::text, e.hq[2])
                    FILTER (WHERE p_profile AND e.lc >= 500),
                'p99_response_time_ms', pg_catalog.jsonb_object_agg(e.hour::text, e.hq[3])
                    FILTER (WHERE p_profile AND e.lc >= 500)))
              FROM expect AS e)))
      INTO v_out;
    RETURN v_out;
END
$function$;

COMMENT ON FUNCTION cachemon._baseline_pooled(text, timestamptz, timestamptz, integer, boolean) IS
    'Internal (compute_baseline): pooled rates, requests per minute over every minute, merged-sketch quantiles, overdispersion (hit_rate_tau, error/eviction phi, quantile log spreads), the latency tail shares the sequential test needs, and their hour-of-day profile.';

REVOKE ALL ON FUNCTION cachemon._baseline_pooled(text, timestamptz, timestamptz, integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._baseline_pooled(text, timestamptz, timestamptz, integer, boolean)
    TO cachemon_admin;

-- sql/functions/_baseline_pooled_at.sql
CREATE OR REPLACE FUNCTION cachemon._baseline_pooled_at(
    p_baseline cachemon.cache_baseline_metrics,
    p_metric text,
    p_at timestamptz
)
RETURNS double precision
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The pooled expectation of a metric at a time (hit_rate, error_rate, eviction_rate,
     * requests_per_minute, p50/p95/p99_response_time_ms): that UTC hour of day's pooled
     * value when the baseline has one, else the whole window's (see _baseline_pooled).
     * NULL for a baseline computed before revision 0007 (recompute it).
     */
    SELECT coalesce(
        (p_baseline.hourly_profile -> 'pooled' -> p_metric
            ->> (extract(hour FROM p_at AT TIME ZONE 'UTC')::integer)::text)::double precision,
        (p_baseline.statistics -> 'pooled' ->> p_metric)::double precision);
$function$;

COMMENT ON FUNCTION cachemon._baseline_pooled_at(cachemon.cache_baseline_metrics, text, timestamptz) IS
    'Internal: pooled expected value of a metric at a time from a baseline (hour of day when profiled, else the window).';

REVOKE ALL ON FUNCTION cachemon._baseline_pooled_at(cachemon.cache_baseline_metrics, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._baseline_pooled_at(cachemon.cache_baseline_metrics, text, timestamptz)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/_baseline_scale.sql
CREATE OR REPLACE FUNCTION cachemon._baseline_scale(
    p_baseline cachemon.cache_baseline_metrics,
    p_metric text,
    p_at timestamptz
)
RETURNS double precision
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The robust spread of one minute's value of a metric around its baseline median:
     * 1.4826 * MAD (the standard deviation a normal distribution with that MAD has), from
     * the hour-of-day profile when there is one. When most minutes are equal (MAD 0, e.g.
     * an error rate that is usually 0) it falls back to 1.2533 * mean absolute deviation,
     * and never goes below a floor (0.5 points for rates, the Poisson spread sqrt(median)
     * for requests per minute, 1% of the median otherwise) so that a metric that never
     * moved does not turn every small change into an infinite z-score.
     */
    SELECT greatest(
        1.4826 * coalesce(
            (p_baseline.hourly_profile -> 'mad' -> p_metric
                ->> (extract(hour FROM p_at AT TIME ZONE 'UTC')::integer)::text)::double precision,
            (p_baseline.statistics -> p_metric ->> 'mad')::double precision, 0),
        1.2533 * coalesce((p_baseline.statistics -> p_metric ->> 'mean_abs_dev')::double precision, 0),
        CASE WHEN p_metric IN ('hit_rate', 'error_rate') THEN 0.5
             WHEN p_metric = 'requests_per_minute'
                 THEN sqrt(greatest(coalesce(cachemon._baseline_expected(p_baseline, p_metric, p_at), 1), 1))
             ELSE 0.01 * abs(coalesce(cachemon._baseline_expected(p_baseline, p_metric, p_at), 0))
        END,
        1e-9);
$function$;

COMMENT ON FUNCTION cachemon._baseline_scale(cachemon.cache_baseline_metrics, text, timestamptz) IS
    'Internal: robust per-minute spread of a metric in a baseline (1.4826 MAD, hour-of-day when profiled, with floors).';

REVOKE ALL ON FUNCTION cachemon._baseline_scale(cachemon.cache_baseline_metrics, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._baseline_scale(cachemon.cache_baseline_metrics, text, timestamptz)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/_batch_seen.sql
CREATE OR REPLACE FUNCTION cachemon._batch_seen(p_batch_id uuid, p_content_hash bytea)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_stored bytea;
    v_found  boolean;
BEGIN
    /*
     * How a batch id already in cachemon._ingested_batches compares with a retry of it:
     * 'same' (same content hash, see ingest_events), 'different', 'unknown' (stored by a path that keeps
     * no hash: the collector's COPY), or 'absent'. SECURITY DEFINER because ingest_events runs
     * as cachemon_writer, which may insert batch ids but not read them; this answers one
     * comparison for a batch id the caller already holds and returns nothing of the stored
     * row. Inputs: a uuid and an 8-byte hash, both checked.
     */
    IF p_batch_id IS NULL OR p_content_hash IS NULL OR pg_catalog.length(p_content_hash) <> 8 THEN
        RAISE EXCEPTION 'cachemon._batch_seen: a batch id and an 8-byte content hash are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT b.content_hash, true INTO v_stored, v_found
      FROM cachemon._ingested_batches AS b WHERE b.batch_id = p_batch_id;
    RETURN CASE WHEN v_found IS NULL THEN 'absent'
                WHEN v_stored IS NULL THEN 'unknown'
                WHEN v_stored = p_content_hash THEN 'same'
                ELSE 'different' END;
END
$function$;

COMMENT ON FUNCTION cachemon._batch_seen(uuid, bytea) IS
    'Internal (ingest_events): compares a retried batch with the stored one by content hash: same, different, unknown (no hash kept) or absent. SECURITY DEFINER: the writer role may not read _ingested_batches; this returns one comparison and nothing of the row.';

REVOKE ALL ON FUNCTION cachemon._batch_seen(uuid, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._batch_seen(uuid, bytea) TO cachemon_writer, cachemon_admin;

-- sql/functions/_check_interval.sql
CREATE OR REPLACE FUNCTION cachemon._check_interval(
    p_function text,
    p_parameter text,
    p_value interval,
    p_min interval,
    p_max interval
)
RETURNS interval
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Validation of a user-given interval of the read API (time_window, resolution): not
     * NULL, no months or years (their length depends on the calendar, so a bucket of '1 month'
     * has no fixed width), between p_min and p_max. The error names the function and the
     * parameter, so a psql user or an RPC client sees which argument is wrong. Returns the
     * value, so callers can validate where they assign.
     */
    IF p_value IS NULL THEN
        RAISE EXCEPTION '%: % must not be NULL', p_function, p_parameter
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.date_part('year', p_value) <> 0 OR pg_catalog.date_part('month', p_value) <> 0 THEN
        RAISE EXCEPTION '%: % must be given in days, hours or minutes, not months or years (got %)',
            p_function, p_parameter, p_value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_value < p_min OR p_value > p_max THEN
        RAISE EXCEPTION '%: % must be between % and % (got %)',
            p_function, p_parameter, p_min, p_max, p_value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN p_value;
END
$function$;

COMMENT ON FUNCTION cachemon._check_interval(text, text, interval, interval, interval) IS
    'Internal: raises invalid_parameter_value naming the function and parameter unless the interval is not NULL, has no months or years and lies in [p_min, p_max]; returns it.';

REVOKE ALL ON FUNCTION cachemon._check_interval(text, text, interval, interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._check_interval(text, text, interval, interval, interval)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/_check_now.sql
CREATE OR REPLACE FUNCTION cachemon._check_now(p_now timestamptz, p_earliest timestamptz DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_raw interval := cachemon._setting('retention.raw')::interval;
    v_lo timestamptz := coalesce(p_earliest, pg_catalog.now() - v_raw);
    v_hi timestamptz := pg_catalog.now() + interval '1 day';
BEGIN
    /*
     * The one bound on the p_now argument of every function that takes one (tick,
     * run_maintenance, acknowledge_observation, resolve_observation; compute_baseline and
     * run_auditor call it too). A time more than a day ahead of the database clock, or
     * further back than raw retention, is a typo or a broken clock, never a schedule:
     * run_maintenance('infinity') would loop over endless partitions, and
     * run_maintenance(now() + '1 year') would drop every partition. Returns p_now, so a
     * caller writes v_now := cachemon._check_now(p_now).
     *
     * p_earliest replaces the lower bound where the record acted on sets it: a finding may
     * be acknowledged or resolved at any time from its first_seen_at on (its own history,
     * which raw retention does not bound), never before it existed.
     */
    IF p_now IS NULL OR NOT pg_catalog.isfinite(p_now) OR p_now < v_lo OR p_now > v_hi THEN
        RAISE EXCEPTION 'cachemon: p_now % is outside the accepted range [%, %]',
            coalesce(p_now::text, 'NULL'), v_lo, v_hi
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN p_earliest IS NULL THEN pg_catalog.format(
                      'Functions taking p_now accept at most 1 day ahead of the database clock and at most retention.raw = %s behind it.',
                      v_raw)
                      ELSE 'p_now may be at most 1 day ahead of the database clock and not before the record it acts on.' END,
                  HINT = 'Leave p_now out to use the database clock (now()).';
    END IF;
    RETURN p_now;
END
$function$;

COMMENT ON FUNCTION cachemon._check_now(timestamptz, timestamptz) IS
    'Internal: returns p_now when it lies within [now() - retention.raw (or p_earliest when given), now() + 1 day], else raises invalid_parameter_value; every function taking p_now calls it first.';

REVOKE ALL ON FUNCTION cachemon._check_now(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._check_now(timestamptz, timestamptz) TO cachemon_admin, cachemon_reader;

-- sql/functions/_cusum.sql
CREATE OR REPLACE FUNCTION cachemon._cusum(p_now timestamptz)
RETURNS TABLE (
    implementation_type text,
    metric text,
    design text,
    statistic double precision,
    threshold double precision,
    segment_start timestamptz,
    segment_minutes integer,
    events double precision,
    exceedances double precision,
    expected_exceedances double precision,
    observed double precision,
    base double precision,
    recent double precision,
    recovery double precision
)
LANGUAGE plpgsql
STABLE
ROWS 16
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_cached boolean := false;
BEGIN
    /*
     * The auditor's sequential test (one-sided CUSUM per implementation and metric; the
     * statistics are described at cachemon._cusum_compute). run_auditor computes it once per
     * run into the temporary table _cachemon_cusum (dropped when the run ends) and the three
     * rules that judge it (error_rate, hit_rate_drop, response_time) read it from here; called
     * on its own, or for another p_now, it computes.
     */
    IF pg_catalog.to_regclass('pg_temp._cachemon_cusum') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_temp._cachemon_cusum_keys WHERE p_now = $1)'
           INTO v_cached USING p_now;
    END IF;
    IF v_cached THEN
        RETURN QUERY EXECUTE 'SELECT implementation_type, metric, design, statistic, threshold, segment_start, segment_minutes, events, exceedances, expected_exceedances, observed, base, recent, recovery FROM pg_temp._cachemon_cusum WHERE p_now = $1'
            USING p_now;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM cachemon._cusum_compute(p_now);
END
$function$;

COMMENT ON FUNCTION cachemon._cusum(timestamptz) IS
    'Internal: the auditor''s sequential test per implementation and metric (error_rate, hit_rate, p50/p95/p99_response_time_ms): the one-sided CUSUM of per-minute log-likelihood ratios (threshold breached vs baseline), its segment and the segment''s value, the level to reach (threshold: greatest(auditor.cusum_h, auditor.cusum_h / 2 + the segment''s strongest minute)) and the reverse CUSUM since the peak (recovery), as of p_now (cached per run_auditor run). A rule breaches on it when statistic >= threshold, recent > 0 (still growing) and the segment''s value without its worst minute is beyond the rule''s threshold; run_auditor reads recovery >= auditor.cusum_h / 2 as an incident that is over.';

REVOKE ALL ON FUNCTION cachemon._cusum(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._cusum(timestamptz) TO cachemon_reader, cachemon_admin;

-- sql/functions/_cusum_compute.sql
CREATE OR REPLACE FUNCTION cachemon._cusum_compute(p_now timestamptz)
RETURNS TABLE (
    implementation_type text,
    metric text,
    design text,
    statistic double precision,
    threshold double precision,
    segment_start timestamptz,
    segment_minutes integer,
    events double precision,
    exceedances double precision,
    expected_exceedances double precision,
    observed double precision,
    base double precision,
    recent double precision,
    recovery double precision
)
LANGUAGE plpgsql
STABLE
ROWS 16
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The sequential test (one-sided CUSUM) behind the quality rules, per implementation with
     * an active baseline and per metric: error_rate (errors among operations), hit_rate
     * (misses among lookups) and p50/p95/p99_response_time_ms (timed requests above the
     * baseline's quantile of their hour of day, counted from the minute's sketch). Each
     * fully rolled-up minute of the last auditor.cusum_minutes before the minute of p_now
     * adds its log-likelihood ratio of "the rule's warning threshold is breached" (design
     * 'warning') or "its critical threshold is" ('critical') against "as in the baseline":
     *
     *     x = (c ln(p1/p0) + (n - c) ln((1 - p1)/(1 - p0))) / phi,   at most 0.6 h
     *
     * with c of n the minute's exceedances, p0 the baseline's rate (error: its pooled rate of
     * the whole window, at least 0.01%; misses: 1 - pooled hit rate of the
     * hour; latency: the share of the baseline's own requests above the same lines,
     * statistics.tail), p1 the rate the threshold implies (error: the threshold itself, at
     * least 1.5 p0 / 3 p0; misses: 1 - hit rate x (1 - threshold); latency: the baseline's
     * share above the line divided by 1 + threshold, i.e. every request that much slower),
     * phi the baseline's dispersion (error_rate_phi; 1 + n tau^2 / (p0 (1 - p0)) for hit
     * rates; the tail's phi). Since revision 0011 p99 has a third design, 'stall', for tail
     * regressions that move only a few requests a long way (stalls, retries, lock waits):
     * c counts the requests above twice the p99 line, p0 is the baseline's share there
     * (statistics.tail far, with its own dispersion far_phi) and p1 = p0 + (1% - the
     * baseline's share above the p99 warning line): the share when just enough requests
     * stall that far for p99 to reach the warning threshold. The far line's background is
     * a quarter of the p99 line's, so each stalled request weighs ln(p1/p0), about 1.0 nat
     * instead of 0.7, and a 1.2% stall gives about 1.5 nats a minute at 130 timed requests
     * where the p99 designs collect 0.7. The statistic is S = max(0, S + x) from the start of the
     * lookback, computed again at every run from the minute rows (W_T - min(0, min W_j) over
     * the running sums W), so late rows and reruns cannot double count, and the segment is
     * the minutes after the last minimum of W (the evidence of the current excursion).
     * Since revision 0012 the statistic of an implementation starts again from 0 when its
     * last finding is resolved (by the auditor or a person, before p_now): a CUSUM restarts
     * after its alarm is dealt with. Since 0013 it keeps the minutes that begin at or after
     * the resolution (cachemon._last_resolution), the boundary run_auditor applies to a
     * segment: 0012 kept the minute the resolution fell in, and a segment that began there
     * could not count while it did (12 operations a minute with 6% errors going on after a
     * person's resolve: the next finding came from the 15-minute window after 16.9 minutes,
     * now from this test after 12.9). Until a minute begins after the resolution there is
     * nothing to judge and no row. Without the restart an incident's
     * evidence (80 nats for errors at 4% for 15 minutes at 110 operations a minute) took
     * one to two hours to drain at the baseline's drift, and an incident in that time was
     * judged over a segment that began with the old one: its value was the old incident's,
     * and a segment that starts before a resolved finding may not open a new one (an error
     * ramp 45 minutes after errors at 4% was found by the sequential test only after 15
     * minutes, on seed 3 of the bench).
     * observed is the segment's value without its worst minute (pooled rate, or quantile of
     * the merged sketch; events, exceedances and expected_exceedances likewise; for errors
     * the worst minute's operations stay, at the second worst minute's error rate), which the
     * rules judge against their thresholds: the segment is where the evidence is largest,
     * so its value is biased up, most of all by its worst minute (one stalled minute with
     * 90% errors, or all requests 8x slower, would carry a whole segment past a threshold);
     * without it a near miss (errors at 0.6% against 1%) does not read as a breach.
     *
     * recovery is the reverse CUSUM of the current excursion, R = max(0, R - x) from the
     * segment's start, i.e. the drawdown of W from its highest point in the segment (the
     * statistic's peak minus its value now): the evidence for "as in the baseline" against
     * "threshold breached" since the peak, the largest over the designs whose statistic is
     * above 0, and 0 while any design's recent (below) is above 0. run_auditor takes
     * recovery >= h / 2 (the minutes since favour the baseline e^(h/2) to one), or a
     * statistic back at 0, as the sign that an incident is over where a long window still
     * holds its minutes; at 2 operations a minute with 12% errors five minutes without an
     * error are not that (0.1), after a latency x2 at night ten normal minutes are (about
     * 0.5 a minute).
     *
     * recent is the sum of the increments over the last auditor.window: the rules judge the
     * test only while it is positive (the excursion is still growing). After an incident
     * ends the statistic decays slowly (a fraction of a nat a minute), and without this its
     * segment would keep a finding open for an hour or more after the recovery.
     *
     * threshold is the level S must reach: h = auditor.cusum_h, and more when one minute
     * carries much of S, greatest(h, h / 2 + the segment's largest increment): the evidence
     * without its strongest minute must reach h / 2. A minute adds at most 0.6 h, so one
     * stalled minute (benign: a GC pause, a deploy) gives the statistic a head start of up
     * to 0.6 h, after which ordinary noise needed only 0.4 h to complete an alarm; now it
     * needs h / 2 of its own, and a clear incident still alarms on two capped minutes
     * (1.2 h against 0.5 h + 0.6 h).
     *
     * Invariants (tests/test_auditor_sequential.py): S equals the recursion over the same
     * minutes and threshold is greatest(h, h / 2 + its largest increment since the last
     * reset); no minute adds more than 0.6 h, so an alarm needs at least two minutes with
     * evidence, and one stalled minute never raises it;
     * under the baseline the expected increment is negative (p1 > p0), so S drifts back to 0,
     * and by Wald's bound the false alarms of one statistic are at most one in e^h minutes
     * (h = 10, the default since revision 0012: one in 22,000 minutes, 15 days). Setting
     * auditor.sequential = false turns it off (no rows).
     */
    IF NOT coalesce(cachemon._setting('auditor.sequential')::boolean, true) THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH cfg AS (
        SELECT cachemon._setting('auditor.cusum_h')::double precision AS h,
               cachemon._setting('auditor.cusum_minutes')::integer AS lookback,
               cachemon._setting('auditor.window')::interval AS recent_window,
               pg_catalog.date_trunc('minute', p_now, 'UTC') AS t_end
    ), er AS (
        SELECT * FROM cachemon._auditor_rule('error_rate')
    ), hr AS (
        SELECT * FROM cachemon._auditor_rule('hit_rate_drop')
    ), q AS MATERIALIZED (
        SELECT qb.* FROM cfg CROSS JOIN LATERAL cachemon._queued_buckets(
            cfg.t_end - pg_catalog.make_interval(mins => cfg.lookback), cfg.t_end) AS qb
    ), restart AS MATERIALIZED (
        -- per implementation the instant its last finding was resolved (by the auditor or a
        -- person), up to p_now: the statistic starts again from 0 with the first minute
        -- that begins at or after it
        SELECT * FROM cachemon._last_resolution(p_now)
    ), m AS MATERIALIZED (
        SELECT r.implementation_type, r.bucket, r.latency_sketch,
               extract(hour FROM r.bucket AT TIME ZONE 'UTC')::integer AS hour,
               (r.hits + r.misses)::double precision AS lookups, r.hits::double precision AS hits,
               r.errors::double precision AS errors,
               (r.hits + r.misses + r.sets + r.errors)::double precision AS ops,
               r.latency_count::double precision AS lc
          FROM cfg
          JOIN cachemon.cache_metrics_1min AS r
            ON r.bucket >= cfg.t_end - pg_catalog.make_interval(mins => cfg.lookback)
           AND r.bucket < cfg.t_end
         WHERE NOT EXISTS (SELECT 1 FROM q WHERE q.bucket = r.bucket
                                              AND q.implementation_type = r.implementation_type)
           AND NOT EXISTS (SELECT 1 FROM restart AS x
                            WHERE x.implementation_type = r.implementation_type
                              AND r.bucket < x.resolved_at)
    ), par AS MATERIALIZED (
        -- the baseline's parameters once per implementation and hour of day in the lookback
        -- (not per minute: the baseline row's jsonb is large), one row per metric and design
        SELECT hh.implementation_type, hh.hour, x.metric, x.design, x.p0, x.p1, x.phi, x.phi_n,
               x.li, CASE WHEN x.line > 0 THEN cachemon.sketch_key(x.line) END AS line_key
          FROM (SELECT m.implementation_type, m.hour, min(m.bucket) AS at
                  FROM m GROUP BY m.implementation_type, m.hour) AS hh
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = hh.implementation_type AND b.is_active
         CROSS JOIN er CROSS JOIN hr
         CROSS JOIN LATERAL (SELECT
                -- errors: the whole window's pooled rate (an hour of a quiet implementation
                -- holds a handful of errors: its own rate is noise, 0% or several times the
                -- truth)
                greatest(coalesce((b.statistics -> 'pooled' ->> 'error_rate')::double precision, 0),
                         0.01) / 100.0 AS err,
                greatest(coalesce((b.statistics -> 'dispersion' ->> 'error_rate_phi')::double precision, 1), 1) AS err_phi,
                cachemon._baseline_pooled_at(b, 'hit_rate', hh.at) / 100.0 AS hit,
                power(coalesce((b.statistics -> 'dispersion' ->> 'hit_rate_tau')::double precision, 0) / 100.0, 2) AS tau2,
                b.statistics -> 'tail' AS tail,
                (b.statistics #>> '{tail,p99_response_time_ms,far}')::double precision AS far,
                (b.statistics #>> '{tail,p99_response_time_ms,beyond_warning}')::double precision AS beyond_warning,
                greatest(coalesce((b.statistics #>> '{tail,p99_response_time_ms,far_phi}')::double precision, 1), 1) AS far_phi) AS bp
         CROSS JOIN LATERAL (
                SELECT 'error_rate', d.design, bp.err, d.p1, bp.err_phi, 0.0::double precision,
                       NULL::integer, NULL::double precision
                  FROM (VALUES ('warning', greatest(er.warning_threshold / 100.0, 1.5 * bp.err)),
                               ('critical', greatest(er.critical_threshold / 100.0, 3.0 * bp.err))) AS d (design, p1)
                UNION ALL
                -- hit rates: phi grows with the minute's lookups, 1 + n tau^2 / (p (1 - p))
                SELECT 'hit_rate', d.design, 1 - bp.hit, 1 - bp.hit * (1 - d.threshold / 100.0), 1,
                       bp.tau2 / greatest(bp.hit * (1 - bp.hit), 1e-6), NULL, NULL
                  FROM (VALUES ('warning', hr.warning_threshold), ('critical', hr.critical_threshold)) AS d (design, threshold)
                UNION ALL
                -- latency: the requests above the quantile line, p1 what that share becomes
                -- when every request is that much slower
                SELECT q.metric, d.design, (bp.tail -> q.metric ->> d.p0_key)::double precision,
                       (bp.tail -> q.metric ->> d.p1_key)::double precision,
                       greatest(coalesce((bp.tail -> q.metric ->> 'phi')::double precision, 1), 1), 0,
                       q.i, cachemon._baseline_pooled_at(b, q.metric, hh.at)
                  FROM (VALUES ('p50_response_time_ms', 1), ('p95_response_time_ms', 2),
                               ('p99_response_time_ms', 3)) AS q (metric, i)
                 CROSS JOIN (VALUES ('warning', 'above', 'above_warning'),
                                    ('critical', 'above', 'above_critical')) AS d (design, p0_key, p1_key)
                UNION ALL
                -- stalls: the requests above twice the p99 line, p1 what that share becomes
                -- when just enough requests stall there for p99 to reach the warning threshold
                -- (1% of them, less those already beyond the threshold line)
                SELECT 'p99_response_time_ms', 'stall', bp.far,
                       bp.far + greatest(0.01 - bp.beyond_warning, 0), bp.far_phi, 0,
                       4, 2 * cachemon._baseline_pooled_at(b, 'p99_response_time_ms', hh.at)
                ) AS x (metric, design, p0, p1, phi, phi_n, li, line)
    ), lines AS (
        -- the latency lines of an implementation and hour: the baseline's p50 / p95 / p99
        -- of that hour (li 1-3, each shared by the 'warning' and 'critical' designs)
        SELECT p.implementation_type, p.hour, array_agg(p.line_key ORDER BY p.li) AS lk
          FROM (SELECT DISTINCT p0.implementation_type, p0.hour, p0.li, p0.line_key
                  FROM par AS p0 WHERE p0.li IS NOT NULL) AS p
         GROUP BY p.implementation_type, p.hour
    ), cnt AS MATERIALIZED (
        -- every minute with its timed requests above each line, in one pass over its sketch
        SELECT m.*,
               (SELECT ARRAY[sum(s.c) FILTER (WHERE s.k > l.lk[1]), sum(s.c) FILTER (WHERE s.k > l.lk[2]),
                             sum(s.c) FILTER (WHERE s.k > l.lk[3]), sum(s.c) FILTER (WHERE s.k > l.lk[4])]
                  FROM unnest((m.latency_sketch).keys, (m.latency_sketch).counts) AS s (k, c)
                 WHERE m.latency_sketch IS NOT NULL AND m.lc > 0) AS above
          FROM m LEFT JOIN lines AS l ON l.implementation_type = m.implementation_type AND l.hour = m.hour
    ), obs AS MATERIALIZED (
        -- one row per minute, metric and design: c of n, the baseline rate p0 and the
        -- alternative p1
        SELECT m.implementation_type, m.bucket, p.metric, p.design,
               CASE p.metric WHEN 'error_rate' THEN m.errors
                             WHEN 'hit_rate' THEN m.lookups - m.hits
                             ELSE coalesce(m.above[p.li], 0)::double precision END AS c,
               CASE p.metric WHEN 'error_rate' THEN m.ops WHEN 'hit_rate' THEN m.lookups ELSE m.lc END AS n,
               p.p0, p.p1,
               p.phi + CASE p.metric WHEN 'hit_rate' THEN m.lookups * p.phi_n ELSE 0 END AS phi
          FROM cnt AS m JOIN par AS p ON p.implementation_type = m.implementation_type AND p.hour = m.hour
         WHERE p.metric IN ('error_rate', 'hit_rate') OR (m.above IS NOT NULL AND p.line_key IS NOT NULL)
    ), llr AS (
        SELECT o.implementation_type, o.metric, o.bucket, o.c, o.n, o.p0, o.phi, o.design,
               least((o.c * ln(o.p1 / o.p0) + (o.n - o.c) * ln((1 - o.p1) / (1 - o.p0))) / o.phi,
                     0.6 * cfg.h) AS x
          FROM obs AS o CROSS JOIN cfg
         WHERE o.p0 > 0 AND o.p0 < 1 AND o.p1 > o.p0 AND o.p1 < 1 AND o.n > 0
    ), run AS (
        SELECT l.*, sum(l.x) OVER w AS w_sum
          FROM llr AS l
        WINDOW w AS (PARTITION BY l.implementation_type, l.metric, l.design ORDER BY l.bucket
                     ROWS UNBOUNDED PRECEDING)
    ), span AS (
        -- the lowest running sum of the lookback and the last minute it is reached at (W_0 = 0
        -- before the first minute: when every W_j >= 0 the segment is the whole lookback);
        -- the segment is the minutes after it
        SELECT r.*, r.w_min >= 0 OR r.bucket > r.at_min AS in_seg
          FROM (SELECT r1.*, max(CASE WHEN r1.w_sum = r1.w_min THEN r1.bucket END) OVER p AS at_min
                  FROM (SELECT r0.*, min(r0.w_sum) OVER p0 AS w_min
                          FROM run AS r0
                        WINDOW p0 AS (PARTITION BY r0.implementation_type, r0.metric, r0.design)) AS r1
                WINDOW p AS (PARTITION BY r1.implementation_type, r1.metric, r1.design)) AS r
    ), ranked AS (
        -- the segment's minutes by their excess over the baseline's rate: rank 1 is the worst,
        -- which the segment's value leaves out as the windows do (one stalled minute never
        -- sizes a breach); for errors, rare counts where dropping the largest minute would
        -- bias a short segment down, that minute's operations stay at the rate of the second
        -- worst (winsorized)
        SELECT r.*,
               row_number() OVER (PARTITION BY r.implementation_type, r.metric, r.design
                                  ORDER BY r.in_seg DESC, r.c - r.n * r.p0 DESC, r.bucket) AS rk
          FROM span AS r
    ), seg AS (
        SELECT r.implementation_type, r.metric, r.design,
               max(r.bucket) FILTER (WHERE r.in_seg AND r.rk = 1) AS worst,
               (array_agg(r.w_sum ORDER BY r.bucket DESC))[1] - least(min(r.w_min), 0) AS s,
               min(r.bucket) FILTER (WHERE r.in_seg) AS seg_start,
               coalesce(sum(r.n) FILTER (WHERE r.in_seg AND r.rk > 1), 0)
                   + CASE WHEN r.metric = 'error_rate'
                          THEN coalesce(sum(r.n) FILTER (WHERE r.in_seg AND r.rk = 1), 0) ELSE 0 END AS n,
               coalesce(sum(r.c) FILTER (WHERE r.in_seg AND r.rk > 1), 0)
                   + CASE WHEN r.metric = 'error_rate'
                          THEN coalesce(sum(r.n) FILTER (WHERE r.in_seg AND r.rk = 1)
                                        * sum(r.c) FILTER (WHERE r.in_seg AND r.rk = 2)
                                        / NULLIF(sum(r.n) FILTER (WHERE r.in_seg AND r.rk = 2), 0), 0)
                          ELSE 0 END AS c,
               coalesce(sum(r.n * r.p0) FILTER (WHERE r.in_seg AND (r.rk > 1 OR r.metric = 'error_rate')), 0)
                   AS expected,
               max(r.phi) FILTER (WHERE r.in_seg) AS phi,
               max(r.x) FILTER (WHERE r.in_seg) AS worst_x,
               coalesce(sum(r.x) FILTER (WHERE r.bucket >= c.t_end - c.recent_window), 0) AS recent,
               -- the reverse CUSUM of the current excursion: the drawdown of W from its
               -- highest point in the segment (0 when the segment is empty)
               coalesce(max(r.w_sum) FILTER (WHERE r.in_seg), 0)
                   - coalesce((array_agg(r.w_sum ORDER BY r.bucket DESC) FILTER (WHERE r.in_seg))[1], 0)
                   AS recovery
          FROM ranked AS r CROSS JOIN cfg AS c
         GROUP BY r.implementation_type, r.metric, r.design
    ), best AS (
        -- per metric the design with the larger statistic (the critical one on a tie);
        -- recovery is the largest of the designs still in an excursion, and 0 while any
        -- design's last auditor.window adds evidence against the baseline (at hit rate
        -- -12% the critical design's -20% recovers while the warning design's -10% grows)
        SELECT DISTINCT ON (s.implementation_type, s.metric) s.*,
               CASE WHEN max(s.recent) OVER w <= 0
                    THEN coalesce(max(s.recovery) FILTER (WHERE s.s > 0) OVER w, 0)
                    ELSE 0 END AS recovery_all,
               CASE s.metric WHEN 'p50_response_time_ms' THEN 0.5
                             WHEN 'p95_response_time_ms' THEN 0.95 ELSE 0.99 END AS q
          FROM seg AS s
        WINDOW w AS (PARTITION BY s.implementation_type, s.metric)
         ORDER BY s.implementation_type, s.metric, s.s DESC, s.design
    )
    SELECT bs.implementation_type, bs.metric, bs.design, bs.s,
           greatest(cfg.h, cfg.h / 2 + greatest(coalesce(bs.worst_x, 0), 0)), bs.seg_start,
           CASE WHEN bs.seg_start IS NULL THEN 0
                ELSE (extract(epoch FROM cfg.t_end - bs.seg_start) / 60)::integer END,
           coalesce(bs.n, 0), coalesce(bs.c, 0), coalesce(bs.expected, 0),
           CASE bs.metric
                WHEN 'error_rate' THEN 100.0 * bs.c / NULLIF(bs.n, 0)
                WHEN 'hit_rate' THEN 100.0 * (bs.n - bs.c) / NULLIF(bs.n, 0)
                -- a quantile of the segment's merged sketch (without its worst minute) only
                -- when it can matter (an alarm)
                ELSE (SELECT cachemon.sketch_quantile(cachemon.sketch_merge(m.latency_sketch), bs.q)
                        FROM m WHERE bs.s >= greatest(cfg.h, cfg.h / 2 + greatest(coalesce(bs.worst_x, 0), 0)) AND m.implementation_type = bs.implementation_type
                         AND m.bucket >= bs.seg_start AND m.bucket <> bs.worst)
           END,
           (SELECT CASE bs.metric WHEN 'error_rate'
                        THEN coalesce(cachemon._baseline_pooled_at(b, 'error_rate', cfg.t_end),
                                      (b.statistics -> 'pooled' ->> 'error_rate')::double precision)
                        ELSE cachemon._baseline_pooled_at(b, bs.metric, cfg.t_end) END
              FROM cachemon.cache_baseline_metrics AS b
             WHERE b.implementation_type = bs.implementation_type AND b.is_active),
           bs.recent, bs.recovery_all
      FROM best AS bs CROSS JOIN cfg;
END
$function$;

COMMENT ON FUNCTION cachemon._cusum_compute(timestamptz) IS
    'Internal: the computation behind cachemon._cusum (the auditor''s sequential test, served from run_auditor''s per-run cache when it can). Per implementation and metric (error_rate, hit_rate, p50/p95/p99_response_time_ms) the one-sided CUSUM of per-minute log-likelihood ratios (threshold breached vs baseline, quasi-likelihood, each minute capped at 0.6 h; designs warning and critical, and for p99 also stall: requests beyond twice the p99 line) over the last auditor.cusum_minutes (from the first minute that begins at or after the implementation''s last resolved finding, when later: the test restarts after an incident), with the segment that carries it, the level it must reach (greatest(h, h/2 + its strongest minute)) and the reverse CUSUM (recovery). A rule breaches on it when statistic >= threshold, recent > 0 and the segment''s value is beyond the rule''s threshold.';

REVOKE ALL ON FUNCTION cachemon._cusum_compute(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._cusum_compute(timestamptz) TO cachemon_reader, cachemon_admin;

-- sql/functions/_fmt.sql
CREATE OR REPLACE FUNCTION cachemon._fmt(p_value double precision, p_decimals integer)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Numbers for auditor messages: thousands separated by ',' and a '.' decimal point
     * whatever lc_numeric says ("1,240", "52.1"), "n/a" for NULL.
     */
    SELECT CASE WHEN p_value IS NULL THEN 'n/a'
                WHEN p_value = 'NaN'::double precision THEN 'n/a'
                ELSE pg_catalog.ltrim(pg_catalog.to_char(
                    pg_catalog.round(p_value::numeric, greatest(p_decimals, 0)),
                    'FM999,999,999,999,990' || CASE WHEN p_decimals > 0
                        THEN '.' || pg_catalog.repeat('0', p_decimals) ELSE '' END))
           END;
$function$;

COMMENT ON FUNCTION cachemon._fmt(double precision, integer) IS
    'Internal: a number formatted for auditor messages (1,240 / 52.1), n/a for NULL.';

REVOKE ALL ON FUNCTION cachemon._fmt(double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._fmt(double precision, integer) TO cachemon_reader, cachemon_admin;

-- sql/functions/_forget_ingested_batches.sql
CREATE OR REPLACE FUNCTION cachemon._forget_ingested_batches(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_deleted bigint;
BEGIN
    /*
     * Batch ids are kept as long as raw events are (setting retention.raw) plus a day: a
     * retry of an older batch would be refused by the raw retention check anyway, so its id
     * is no longer needed to make the retry count once. Meant to be called by run_maintenance.
     */
    DELETE FROM cachemon._ingested_batches AS b
     WHERE b.received_at < p_now - cachemon._setting('retention.raw')::interval - interval '1 day';
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    RETURN v_deleted;
END
$function$;

COMMENT ON FUNCTION cachemon._forget_ingested_batches(timestamptz) IS
    'Internal (run by maintenance): delete ingested batch ids older than raw retention plus a day; returns how many.';

REVOKE ALL ON FUNCTION cachemon._forget_ingested_batches(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._forget_ingested_batches(timestamptz) TO cachemon_admin;

-- sql/functions/_genuine_pg_cron_object.sql
CREATE OR REPLACE FUNCTION cachemon._genuine_pg_cron_object(p_name text, p_argtypes regtype[] DEFAULT NULL)
RETURNS oid
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * cachemon never trusts an object outside its own schema and pg_catalog by name: where
     * pg_cron is absent, any role with CREATE on the database can create a schema "cron" with
     * a table "job_run_details" (and a trigger on it) or a function "schedule", and whatever
     * it planted would run as the caller. This returns the oid of the table p_name (p_argtypes
     * NULL) or of the function p_name(p_argtypes) only when that object is a member of the
     * installed extension pg_cron (pg_depend deptype 'e' on its pg_extension row) and lives in
     * schema cron, itself a member of that extension; else NULL. pg_cron is not a trusted extension, so only a
     * superuser can have installed it. Reads only the catalogs, so it needs no privilege on
     * schema cron and never raises "permission denied for schema".
     */
    SELECT d.objid
      FROM pg_catalog.pg_extension AS e
      JOIN pg_catalog.pg_depend AS d
        ON d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid = e.oid
       AND d.deptype = 'e'
      LEFT JOIN pg_catalog.pg_class AS c
        ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = d.objid
      LEFT JOIN pg_catalog.pg_proc AS p
        ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid = d.objid
      JOIN pg_catalog.pg_namespace AS n ON n.nspname = 'cron'
     WHERE e.extname = 'pg_cron'
       AND EXISTS (SELECT FROM pg_catalog.pg_depend AS s
                    WHERE s.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                      AND s.objid = n.oid
                      AND s.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                      AND s.refobjid = e.oid
                      AND s.deptype = 'e')
       AND CASE WHEN p_argtypes IS NULL
                THEN c.relname = p_name AND c.relkind = 'r'
                     AND c.relnamespace = n.oid
                ELSE p.proname = p_name AND p.pronamespace = n.oid
                     AND pg_catalog.array_to_string(p.proargtypes::pg_catalog.oid[], ',')
                         = pg_catalog.array_to_string(p_argtypes::pg_catalog.oid[], ',')
           END
     LIMIT 1
$function$;

COMMENT ON FUNCTION cachemon._genuine_pg_cron_object(text, regtype[]) IS
    'Internal: oid of table cron.<name> (argtypes NULL) or function cron.<name>(argtypes) only if it belongs to the installed extension pg_cron (pg_depend), else NULL; never trusts a planted schema cron.';

REVOKE ALL ON FUNCTION cachemon._genuine_pg_cron_object(text, regtype[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._genuine_pg_cron_object(text, regtype[]) TO cachemon_admin;

-- sql/functions/_genuine_realtime_send.sql
CREATE OR REPLACE FUNCTION cachemon._genuine_realtime_send()
RETURNS oid
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Supabase's realtime.send(jsonb, text, text, boolean) is not an extension member, so
     * "genuine" means: the schema realtime and the function are both owned by a trusted
     * role, and the schema lets no untrusted role create objects in it (CREATE granted
     * neither to PUBLIC nor to any untrusted role). A trusted role is a superuser, one of
     * Supabase's own administrative roles, supabase_admin and supabase_realtime_admin, or the
     * owner of schema cachemon (who owns every cachemon function anyway; postgres on
     * Supabase). Off Supabase, a realtime.send planted by a role with CREATE on the
     * database is owned by that role and is ignored (NULL). Reads only the catalogs: no privilege on schema
     * realtime is needed (to_regprocedure raised "permission denied for schema realtime").
     * A role able to create a role named supabase_admin (CREATEROLE) is outside the threat
     * model: it can already grant itself cachemon_admin.
     */
    WITH trusted AS (
        SELECT r.oid
          FROM pg_catalog.pg_roles AS r
         WHERE r.rolsuper OR r.rolname IN ('supabase_admin', 'supabase_realtime_admin')
        UNION
        SELECT n.nspowner FROM pg_catalog.pg_namespace AS n WHERE n.nspname = 'cachemon'
    )
    SELECT p.oid
      FROM pg_catalog.pg_namespace AS n
      JOIN pg_catalog.pg_proc AS p ON p.pronamespace = n.oid
     WHERE n.nspname = 'realtime'
       AND p.proname = 'send'
       AND pg_catalog.array_to_string(p.proargtypes::pg_catalog.oid[], ',')
           = pg_catalog.array_to_string(
                 ARRAY['jsonb', 'text', 'text', 'boolean']::pg_catalog.regtype[]::pg_catalog.oid[], ',')
       AND n.nspowner IN (SELECT oid FROM trusted)
       AND p.proowner IN (SELECT oid FROM trusted)
       AND NOT EXISTS (
           SELECT FROM pg_catalog.aclexplode(coalesce(n.nspacl,
                                                      pg_catalog.acldefault('n', n.nspowner))) AS a
            WHERE a.privilege_type = 'CREATE'
              AND a.grantee NOT IN (SELECT oid FROM trusted))
     LIMIT 1
$function$;

COMMENT ON FUNCTION cachemon._genuine_realtime_send() IS
    'Internal: oid of Supabase''s realtime.send(jsonb, text, text, boolean) only when it and schema realtime are owned by a superuser, supabase_admin/supabase_realtime_admin or cachemon''s owner, and no other role may create in that schema; else NULL.';

REVOKE ALL ON FUNCTION cachemon._genuine_realtime_send() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._genuine_realtime_send() TO cachemon_admin;

-- sql/functions/_ingest_refuse.sql
CREATE OR REPLACE FUNCTION cachemon._ingest_refuse(p_index bigint, p_field text, p_event jsonb,
                                                  p_max_response_time_ms numeric)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_value   jsonb;
    v_shown   text;
    v_rule    text;
    v_unknown text;
BEGIN
    /*
     * The error of ingest_events for the first bad element it finds: never returns. Called
     * from ingest_events' one set-wise statement (WHERE bad IS NULL OR _ingest_refuse(...)),
     * so the refusal names the element's 0-based index, the field and its value, and says
     * what the field must be. The value is shown short and safe for a terminal: at most 200
     * characters, long numbers in scientific notation (1e-400, not 400 digits), and control
     * and bidi characters as \uXXXX escapes.
     */
    IF p_field = '(event)' THEN
        RAISE EXCEPTION 'ingest_events: event % must be a JSON object, got %',
            p_index, pg_catalog.left(p_event::text, 200)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_field = '(unknown)' THEN
        SELECT k INTO v_unknown
          FROM pg_catalog.jsonb_object_keys(p_event) AS k
         WHERE k <> ALL (ARRAY['recorded_at', 'implementation_type', 'event_type', 'cache_key',
                               'response_time_ms', 'cache_size', 'error_type', 'error_message'])
         LIMIT 1;
        RAISE EXCEPTION 'ingest_events: event %: unknown field "%"', p_index,
            pg_catalog.left(pg_catalog.regexp_replace(v_unknown, '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', '?', 'g'), 100)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'known fields: recorded_at, implementation_type, event_type, cache_key, '
                         'response_time_ms, cache_size, error_type, error_message';
    END IF;

    v_value := p_event -> p_field;
    IF v_value IS NULL THEN
        v_shown := '(missing)';
    ELSIF pg_catalog.jsonb_typeof(v_value) = 'number' AND pg_catalog.length(v_value::text) > 30 THEN
        v_shown := pg_catalog.btrim(pg_catalog.to_char(v_value::numeric, '9.999999EEEE'));
    ELSE
        SELECT pg_catalog.string_agg(
                   CASE WHEN t.ch ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                        THEN '\u' || pg_catalog.lpad(pg_catalog.to_hex(pg_catalog.ascii(t.ch)), 4, '0')
                        ELSE t.ch END, '' ORDER BY t.n)
          INTO v_shown
          FROM pg_catalog.regexp_split_to_table(pg_catalog.left(v_value::text, 200), '')
               WITH ORDINALITY AS t(ch, n);
    END IF;
    v_rule := CASE p_field
        WHEN 'implementation_type' THEN
            'a string of 1 to 64 characters without surrounding blanks, control or bidi characters'
        WHEN 'event_type' THEN 'one of hit, miss, set, evict, error'
        WHEN 'recorded_at' THEN
            'an ISO 8601 timestamp string with an explicit UTC offset (e.g. 2026-01-02T03:04:05Z or +01:00), or null'
        WHEN 'response_time_ms' THEN pg_catalog.format(
            '0, or a number from 0.000001 (1 ns) to %s (ingest.max_response_time_ms), or null (use 0 for less than 1 ns: float arithmetic underflows below it)',
            p_max_response_time_ms)
        WHEN 'cache_size' THEN 'an integer from 0 to 9223372036854775807, or null'
        WHEN 'cache_key' THEN 'a string of at most 4096 characters without control or bidi characters, or null'
        WHEN 'error_type' THEN 'a string of at most 256 characters without control or bidi characters, or null'
        WHEN 'error_message' THEN 'a string of at most 4096 characters without control or bidi characters, or null'
        ELSE 'valid'
    END;
    RAISE EXCEPTION 'ingest_events: event %: field "%" has invalid value %', p_index, p_field, v_shown
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = pg_catalog.format('%s must be %s', p_field, v_rule),
              HINT = 'the whole batch was refused; nothing was stored';
END
$function$;

COMMENT ON FUNCTION cachemon._ingest_refuse(bigint, text, jsonb, numeric) IS
    'Internal (ingest_events): raises the error refusing a batch for its first bad element, naming index, field and a short, terminal-safe value; never returns.';

REVOKE ALL ON FUNCTION cachemon._ingest_refuse(bigint, text, jsonb, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._ingest_refuse(bigint, text, jsonb, numeric)
    TO cachemon_writer, cachemon_admin;

-- sql/functions/_judge.sql
CREATE OR REPLACE FUNCTION cachemon._judge(
    p_deviation double precision,
    p_significant boolean,
    p_enough boolean,
    p_rule cachemon._auditor_rules,
    OUT state text,
    OUT severity text
)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The verdict every rule gives the same way. Too little traffic or no value: 'hold'
     * (the rule cannot judge, so nothing opens and nothing clears). At or beyond the
     * warning threshold and statistically significant: 'breach', 'critical' from the
     * critical threshold on. Below the (lower) clear threshold: 'clear'. Anything between,
     * or beyond the threshold but not significant: 'hold'. That band is the hysteresis.
     */
    SELECT CASE WHEN NOT coalesce(p_enough, false) OR p_deviation IS NULL THEN 'hold'
                WHEN p_deviation >= p_rule.warning_threshold AND coalesce(p_significant, false)
                    THEN 'breach'
                WHEN p_deviation < p_rule.clear_threshold THEN 'clear'
                ELSE 'hold' END,
           CASE WHEN coalesce(p_enough, false) AND p_deviation >= p_rule.warning_threshold
                     AND coalesce(p_significant, false)
                THEN CASE WHEN p_deviation >= p_rule.critical_threshold
                          THEN 'critical' ELSE 'warning' END END;
$function$;

COMMENT ON FUNCTION cachemon._judge(double precision, boolean, boolean, cachemon._auditor_rules) IS
    'Internal: a rule''s verdict (state breach/hold/clear and severity) from a deviation, its significance and whether there was enough traffic.';

REVOKE ALL ON FUNCTION cachemon._judge(double precision, boolean, boolean, cachemon._auditor_rules) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._judge(double precision, boolean, boolean, cachemon._auditor_rules)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/_last_resolution.sql
CREATE OR REPLACE FUNCTION cachemon._last_resolution(p_now timestamptz)
RETURNS TABLE (implementation_type text, resolved_at timestamptz)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Per implementation the instant its last finding was resolved (by the auditor or a
     * person), up to p_now: where one incident ends for the auditor. The minutes that begin
     * before it belong to that incident and open nothing new; the sequential test keeps only
     * the minutes that begin at or after it (cachemon._cusum_compute: the statistic restarts),
     * and run_auditor lets a window longer than auditor.window, or a segment of the
     * sequential test, count only when it begins at or after it. One definition, so the two
     * agree: until revision 0013 the restart kept the minute the resolution fell in, which
     * begins before it, and a segment that began there could not count.
     */
    SELECT o.implementation_type, max(o.resolved_at)
      FROM cachemon.cache_auditor_observations AS o
     WHERE o.status = 'resolved' AND o.resolved_at <= p_now
     GROUP BY o.implementation_type
$function$;

COMMENT ON FUNCTION cachemon._last_resolution(timestamptz) IS
    'Internal: per implementation the instant its last finding was resolved, up to p_now. The auditor''s incident boundary: the sequential test restarts with the minutes that begin at or after it, and a long window or segment counts only when it begins at or after it.';

REVOKE ALL ON FUNCTION cachemon._last_resolution(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._last_resolution(timestamptz) TO cachemon_reader, cachemon_admin;

-- sql/functions/_mark_dirty_buckets.sql
CREATE OR REPLACE FUNCTION cachemon._mark_dirty_buckets()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_lo timestamptz;
    v_hi timestamptz;
    v_max_rt double precision;
    v_ceiling double precision;
    v_oldest timestamptz;
    v_newest timestamptz;
BEGIN
    /*
     * Statement-level AFTER INSERT / AFTER DELETE trigger on cachemon.cache_metrics (the
     * partitioned parent: INSERT, COPY and ingest_events all fire it). It appends the distinct
     * (minute, implementation) pairs the statement touched to cachemon._dirty_buckets, in the
     * statement's own transaction, so a mark commits (or rolls back) exactly with its rows:
     * the invariant tick() relies on (docs/rollups.md, "Why no mark is lost").
     *
     * Inserted events older than the raw retention window ('retention.raw') or further ahead
     * than 'ingest.max_future' are refused with an error naming the value and the accepted
     * range: the first would be dropped with its partition, the second has no partition yet.
     *
     * A response time above 'ingest.max_response_time_ms' (an admin's ceiling below the
     * column's own limit of one day) is refused the same way, whatever path inserted it.
     *
     * One pass over the transition table (a hash aggregate per minute and implementation) and
     * one small insert; the bounds are checked on the aggregate. Rows written straight into a
     * partition do not fire this statement trigger: only the parent is granted to cachemon
     * roles.
     *
     * SECURITY DEFINER, so that the queue has no writer but this trigger (and admins):
     * cachemon_writer has no privilege on cachemon._dirty_buckets, because a forged mark could
     * make tick() delete a minute's row or hold real minutes back. Its only inputs are the
     * statement's transition table, rows that already passed every CHECK of cache_metrics,
     * and their recorded_at range is checked here before the statement may commit.
     */
    IF TG_OP = 'INSERT' THEN
        WITH b AS (
            SELECT pg_catalog.date_bin('1 minute', n.recorded_at, '2000-01-01 00:00:00+00') AS bucket,
                   n.implementation_type,
                   pg_catalog.min(n.recorded_at) AS lo,
                   pg_catalog.max(n.recorded_at) AS hi,
                   pg_catalog.max(n.response_time_ms) AS max_rt
              FROM new_rows AS n
             GROUP BY 1, 2
        ), marked AS (
            INSERT INTO cachemon._dirty_buckets (bucket, implementation_type)
            SELECT b.bucket, b.implementation_type FROM b
        )
        SELECT pg_catalog.min(b.lo), pg_catalog.max(b.hi), pg_catalog.max(b.max_rt)
          INTO v_lo, v_hi, v_max_rt FROM b;

        v_ceiling := cachemon._setting('ingest.max_response_time_ms')::double precision;
        IF v_max_rt > v_ceiling THEN
            RAISE EXCEPTION 'cachemon: response_time_ms % is above the accepted maximum %', v_max_rt, v_ceiling
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'ingest.max_response_time_ms caps response times at ingest; nothing of this statement was stored.',
                      HINT = 'An admin may raise the setting up to 86400000 (one day) in cachemon._settings.';
        END IF;

        IF v_lo IS NOT NULL THEN
            v_oldest := pg_catalog.now() - cachemon._setting('retention.raw')::interval;
            v_newest := pg_catalog.now() + cachemon._setting('ingest.max_future')::interval;
            IF v_lo < v_oldest OR v_hi > v_newest THEN
                RAISE EXCEPTION 'cachemon: recorded_at % is outside the accepted range [%, %]',
                    CASE WHEN v_lo < v_oldest THEN v_lo ELSE v_hi END, v_oldest, v_newest
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = pg_catalog.format(
                              'Events older than the raw retention (retention.raw = %s) or more than ingest.max_future = %s ahead of the database clock are refused; nothing of this statement was stored.',
                              cachemon._setting('retention.raw'), cachemon._setting('ingest.max_future')),
                          HINT = 'Check the clock of the application; an admin may change the settings in cachemon._settings.';
            END IF;
        END IF;
    ELSE
        INSERT INTO cachemon._dirty_buckets (bucket, implementation_type)
        SELECT DISTINCT pg_catalog.date_bin('1 minute', o.recorded_at, '2000-01-01 00:00:00+00'),
               o.implementation_type
          FROM old_rows AS o;
    END IF;
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION cachemon._mark_dirty_buckets() IS
    'Trigger: queues the (minute, implementation) buckets a statement inserted into or deleted from cache_metrics for tick(), and refuses events outside [now - retention.raw, now + ingest.max_future] or slower than ingest.max_response_time_ms. SECURITY DEFINER: the queue takes marks from this trigger only (the writer role has no privilege on it); its inputs are rows that passed every CHECK.';

REVOKE ALL ON FUNCTION cachemon._mark_dirty_buckets() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._mark_dirty_buckets() TO cachemon_writer, cachemon_admin;

DROP TRIGGER IF EXISTS cache_metrics_mark_inserted ON cachemon.cache_metrics;
CREATE TRIGGER cache_metrics_mark_inserted
    AFTER INSERT ON cachemon.cache_metrics
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cachemon._mark_dirty_buckets();

DROP TRIGGER IF EXISTS cache_metrics_mark_deleted ON cachemon.cache_metrics;
CREATE TRIGGER cache_metrics_mark_deleted
    AFTER DELETE ON cachemon.cache_metrics
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cachemon._mark_dirty_buckets();

-- sql/functions/_migration_verdict.sql
CREATE OR REPLACE FUNCTION cachemon._migration_verdict(
    p_candidate text,
    p_reference text,
    p_window interval,
    p_now timestamptz
)
RETURNS TABLE (
    o_candidate text,
    o_reference text,
    o_window_start timestamptz,
    o_window_end timestamptz,
    o_verdict text,
    o_score numeric,
    o_evidence text,
    o_metrics jsonb
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_end        timestamptz;
    v_start      timestamptz;
    v_min_n      double precision;
    v_conf       double precision;
    v_pass       double precision;
    v_marginal   double precision;
    v_z          double precision;
    v_metrics    jsonb;
    v_judged     integer;
    v_passed     integer;
    v_worse      text;
    v_better     text;
    v_err_worse  boolean;
BEGIN
    /*
     * The body of cachemon.migration_verdict (which is LANGUAGE sql only because PL/pgSQL
     * cannot name a parameter and a result column alike, as the contract does).
     *
     * Both implementations over the same whole, fully rolled-up minutes of
     * [p_now - p_window, p_now) (minutes still queued in _dirty_buckets are left out), so
     * time of day and traffic mix affect both alike. Per metric, the effect of the candidate
     * against the reference with a two-sided confidence interval (setting verdict.confidence):
     *
     * - hit_rate: relative difference of the pooled rates, percent (tolerance 10, the seed's
     *   hit-rate threshold). error_rate: difference in percentage points (tolerance 0.5).
     *   Their variances are cluster-robust over minutes (sum of n_i^2 (p_i - p)^2 / N^2,
     *   k/(k-1)), which carries any overdispersion (drift, bursts) without a model, floored
     *   at the binomial variance with a half event added (so 0 errors is not certainty).
     * - p50/p95/p99: relative difference of the quantiles of the merged sketches, percent
     *   (tolerance 25, the seed's latency threshold). Each side's interval is the
     *   distribution-free order-statistic interval (ranks N q +- z sqrt(N q (1-q)), read
     *   from the same sketch), combined on the log scale.
     * - avg_response_time_ms: relative difference of the means, percent (tolerance 25),
     *   cluster-robust variance of the minute means weighted by requests.
     *
     * A metric is judged when each side has verdict.min_requests requests (lookups,
     * operations, timed requests; for a quantile q also N (1 - q) >= 10). Classification:
     * worse (better) when the effect is beyond the tolerance in the bad (good) direction and
     * the interval excludes no change; equal otherwise; no_data when not judged.
     * score = 100 x (judged metrics equal or better) / judged metrics. Verdict:
     * not_enough_data with fewer than 3 judged metrics or no judged error rate; not_ready
     * when error_rate is worse (a critical metric, as Kayenta's) or score <
     * verdict.marginal_score; ready from verdict.pass_score; marginal between.
     */
    IF p_candidate IS NULL OR p_reference IS NULL OR p_candidate = p_reference
       OR pg_catalog.length(p_candidate) > 64 OR pg_catalog.length(p_reference) > 64 THEN
        RAISE EXCEPTION 'migration_verdict: candidate and reference must be two different implementation types of 1..64 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_window IS NULL OR p_window < interval '1 minute' OR p_window > interval '31 days' THEN
        RAISE EXCEPTION 'migration_verdict: time_window must be between 1 minute and 31 days, got %',
            coalesce(p_window::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Finite, at most a day ahead of the clock and not before the 1-minute rows it reads
    -- can exist (retention.1min): the rule every function taking p_now follows.
    PERFORM cachemon._check_now(p_now,
        pg_catalog.now() - cachemon._setting('retention.1min')::interval);

    v_end := pg_catalog.date_trunc('minute', p_now, 'UTC');
    v_start := v_end - pg_catalog.date_trunc('minute', p_window);
    v_min_n := cachemon._setting('verdict.min_requests')::double precision;
    v_conf := least(greatest(cachemon._setting('verdict.confidence')::double precision, 0.5), 0.999);
    v_pass := cachemon._setting('verdict.pass_score')::double precision;
    v_marginal := cachemon._setting('verdict.marginal_score')::double precision;
    -- two-sided normal quantile for v_conf (Acklam-free: a rational approximation of
    -- Abramowitz-Stegun 26.2.23, error < 4.5e-4)
    v_z := (SELECT t - (2.515517 + 0.802853 * t + 0.010328 * t * t)
                       / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t)
              FROM (SELECT sqrt(-2 * ln((1 - v_conf) / 2)) AS t) AS a);

    WITH m AS (
        SELECT r.implementation_type AS impl, r.bucket,
               (r.hits)::double precision AS hits, (r.hits + r.misses)::double precision AS lk,
               (r.errors)::double precision AS errs,
               (r.hits + r.misses + r.sets + r.errors)::double precision AS ops,
               (r.latency_count)::double precision AS lc, r.latency_sum AS ls, r.latency_sketch
          FROM cachemon.cache_metrics_1min AS r
         WHERE r.implementation_type IN (p_candidate, p_reference)
           AND r.bucket >= v_start AND r.bucket < v_end
           AND NOT EXISTS (SELECT 1 FROM cachemon._queued_buckets(v_start, v_end) AS d
                            WHERE d.bucket = r.bucket AND d.implementation_type = r.implementation_type)
    ), side AS (
        SELECT m.impl, count(*) AS k, sum(m.hits) AS hits, sum(m.lk) AS lk, sum(m.errs) AS errs,
               sum(m.ops) AS ops, sum(m.lc) AS lc, sum(m.ls) AS ls,
               cachemon.sketch_merge(m.latency_sketch) AS sk
          FROM m GROUP BY m.impl
    ), var AS (
        SELECT s.impl, s.k, s.hits, s.lk, s.errs, s.ops, s.lc, s.sk,
               s.hits / NULLIF(s.lk, 0) AS p_hit,
               s.errs / NULLIF(s.ops, 0) AS p_err,
               s.ls / NULLIF(s.lc, 0) AS mean_ms,
               greatest(
                   sum(power(m.lk, 2) * power(m.hits / NULLIF(m.lk, 0) - s.hits / NULLIF(s.lk, 0), 2))
                       / NULLIF(power(s.lk, 2), 0) * s.k / NULLIF(s.k - 1, 0),
                   ((s.hits + 0.5) / (s.lk + 1)) * (1 - (s.hits + 0.5) / (s.lk + 1)) / NULLIF(s.lk, 0)) AS v_hit,
               greatest(
                   sum(power(m.ops, 2) * power(m.errs / NULLIF(m.ops, 0) - s.errs / NULLIF(s.ops, 0), 2))
                       / NULLIF(power(s.ops, 2), 0) * s.k / NULLIF(s.k - 1, 0),
                   ((s.errs + 0.5) / (s.ops + 1)) * (1 - (s.errs + 0.5) / (s.ops + 1)) / NULLIF(s.ops, 0)) AS v_err,
               sum(power(m.lc, 2) * power(m.ls / NULLIF(m.lc, 0) - s.ls / NULLIF(s.lc, 0), 2))
                   / NULLIF(power(s.lc, 2), 0) * s.k / NULLIF(s.k - 1, 0) AS v_mean
          FROM side AS s JOIN m ON m.impl = s.impl
         GROUP BY s.impl, s.k, s.hits, s.lk, s.errs, s.ops, s.lc, s.ls, s.sk
    ), q AS (
        SELECT v.impl, x.qq,
               (cachemon.sketch_quantiles(v.sk, ARRAY[x.qq,
                    greatest(x.qq - v_z * sqrt(x.qq * (1 - x.qq) / NULLIF(v.lc, 0)), 0),
                    least(x.qq + v_z * sqrt(x.qq * (1 - x.qq) / NULLIF(v.lc, 0)), 1)])) AS vals
          FROM var AS v CROSS JOIN (VALUES (0.5::double precision), (0.95), (0.99)) AS x (qq)
    ), c AS (SELECT * FROM var WHERE impl = p_candidate),
       r AS (SELECT * FROM var WHERE impl = p_reference),
    rows AS (
        SELECT 1 AS ord, 'hit_rate' AS metric, '%' AS unit, 10.0::double precision AS tol, -1 AS bad_sign,
               100 * c.p_hit AS cv, 100 * r.p_hit AS rv, c.lk AS cn, r.lk AS rn,
               c.lk >= v_min_n AND r.lk >= v_min_n AND r.p_hit > 0 AS judged,
               100 * (c.p_hit / NULLIF(r.p_hit, 0) - 1) AS effect,
               ln(greatest(c.p_hit, 1e-12) / NULLIF(greatest(r.p_hit, 1e-12), 0)) AS l,
               sqrt(c.v_hit / power(greatest(c.p_hit, 1e-9), 2) + r.v_hit / power(greatest(r.p_hit, 1e-9), 2)) AS se,
               true AS log_scale,
               'relative difference of pooled hit rates, percent' AS note
          FROM c, r
        UNION ALL
        SELECT 2, 'error_rate', 'points', 0.5, 1,
               100 * c.p_err, 100 * r.p_err, c.ops, r.ops,
               c.ops >= v_min_n AND r.ops >= v_min_n,
               100 * (c.p_err - r.p_err), 100 * (c.p_err - r.p_err),
               100 * sqrt(c.v_err + r.v_err), false,
               'difference of error rates, percentage points'
          FROM c, r
        UNION ALL
        SELECT 2 + row_number() OVER (ORDER BY qc.qq)::integer,
               pg_catalog.format('p%s_response_time_ms', (qc.qq * 100)::integer), '%', 25.0, 1,
               qc.vals[1], qr.vals[1], c.lc, r.lc,
               c.lc >= v_min_n AND r.lc >= v_min_n AND c.lc * (1 - qc.qq) >= 10
                   AND r.lc * (1 - qr.qq) >= 10 AND qr.vals[1] > 0 AND qc.vals[1] IS NOT NULL,
               100 * (qc.vals[1] / NULLIF(qr.vals[1], 0) - 1),
               ln(greatest(qc.vals[1], 1e-6) / greatest(qr.vals[1], 1e-6)),
               sqrt(power((ln(greatest(qc.vals[3], 1e-6)) - ln(greatest(qc.vals[2], 1e-6))) / (2 * v_z), 2)
                    + power((ln(greatest(qr.vals[3], 1e-6)) - ln(greatest(qr.vals[2], 1e-6))) / (2 * v_z), 2)),
               true,
               'relative difference of the quantiles of the merged sketches, percent'
          FROM c, r
          JOIN q AS qr ON qr.impl = p_reference
          JOIN q AS qc ON qc.impl = p_candidate AND qc.qq = qr.qq
        UNION ALL
        SELECT 6, 'avg_response_time_ms', '%', 25.0, 1,
               c.mean_ms, r.mean_ms, c.lc, r.lc,
               c.lc >= v_min_n AND r.lc >= v_min_n AND r.mean_ms > 0,
               100 * (c.mean_ms / NULLIF(r.mean_ms, 0) - 1),
               ln(greatest(c.mean_ms, 1e-6) / greatest(r.mean_ms, 1e-6)),
               sqrt(coalesce(c.v_mean, 0) / power(greatest(c.mean_ms, 1e-6), 2)
                    + coalesce(r.v_mean, 0) / power(greatest(r.mean_ms, 1e-6), 2)),
               true,
               'relative difference of mean response times, percent'
          FROM c, r
    ), allm AS (
        SELECT x.ord, x.metric FROM (VALUES (1, 'hit_rate'), (2, 'error_rate'),
            (3, 'p50_response_time_ms'), (4, 'p95_response_time_ms'),
            (5, 'p99_response_time_ms'), (6, 'avg_response_time_ms')) AS x (ord, metric)
    ), ci AS (
        SELECT a.ord, a.metric, w.unit, w.tol, w.bad_sign, w.cv, w.rv, w.cn, w.rn, w.judged,
               w.effect, w.l, w.se, w.log_scale, w.note,
               CASE WHEN w.log_scale THEN 100 * (exp(w.l - v_z * w.se) - 1) ELSE w.l - v_z * w.se END AS lo,
               CASE WHEN w.log_scale THEN 100 * (exp(w.l + v_z * w.se) - 1) ELSE w.l + v_z * w.se END AS hi
          FROM allm AS a LEFT JOIN rows AS w ON w.metric = a.metric
    ), cls AS (
        SELECT ci.*,
               CASE WHEN NOT coalesce(ci.judged, false) OR ci.effect IS NULL THEN 'no_data'
                    WHEN ci.bad_sign * ci.effect > ci.tol AND (ci.lo > 0 OR ci.hi < 0) THEN 'worse'
                    WHEN -ci.bad_sign * ci.effect > ci.tol AND (ci.lo > 0 OR ci.hi < 0) THEN 'better'
                    ELSE 'equal' END AS classification
          FROM ci
    )
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'metric', cls.metric, 'classification', cls.classification,
               'candidate_value', round(cls.cv::numeric, 4), 'reference_value', round(cls.rv::numeric, 4),
               'effect', round(cls.effect::numeric, 3),
               'ci_low', round(cls.lo::numeric, 3), 'ci_high', round(cls.hi::numeric, 3),
               'tolerance', cls.tol, 'unit', coalesce(cls.unit, CASE WHEN cls.metric = 'error_rate' THEN 'points' ELSE '%' END),
               'candidate_n', coalesce(cls.cn, 0)::bigint, 'reference_n', coalesce(cls.rn, 0)::bigint,
               'note', coalesce(cls.note, 'no rows for one of the implementations in the window'))
               ORDER BY cls.ord),
           count(*) FILTER (WHERE cls.classification <> 'no_data'),
           count(*) FILTER (WHERE cls.classification IN ('equal', 'better')),
           pg_catalog.string_agg(pg_catalog.format('%s %s%s (%s CI %s..%s, tolerance %s)',
               cls.metric, CASE WHEN cls.effect >= 0 THEN '+' ELSE '' END,
               cachemon._fmt(cls.effect, 2) || CASE WHEN cls.metric = 'error_rate' THEN ' points' ELSE '%' END,
               round(100 * v_conf)::text || '%', cachemon._fmt(cls.lo, 2), cachemon._fmt(cls.hi, 2),
               cachemon._fmt(cls.tol, 1)), '; ' ORDER BY cls.ord)
               FILTER (WHERE cls.classification = 'worse'),
           pg_catalog.string_agg(cls.metric, ', ' ORDER BY cls.ord) FILTER (WHERE cls.classification = 'better'),
           bool_or(cls.metric = 'error_rate' AND cls.classification = 'worse'),
           bool_or(cls.metric = 'error_rate' AND cls.classification <> 'no_data')
      INTO v_metrics, v_judged, v_passed, v_worse, v_better, v_err_worse, v_err_worse
      FROM cls;
    -- (v_err_worse is assigned twice above: re-read both flags explicitly)
    SELECT bool_or(e ->> 'classification' = 'worse') INTO v_err_worse
      FROM pg_catalog.jsonb_array_elements(v_metrics) AS e WHERE e ->> 'metric' = 'error_rate';

    o_candidate := p_candidate;
    o_reference := p_reference;
    o_window_start := v_start;
    o_window_end := v_end;
    o_metrics := v_metrics;
    IF v_judged < 3 OR NOT EXISTS (
           SELECT 1 FROM pg_catalog.jsonb_array_elements(v_metrics) AS e
            WHERE e ->> 'metric' = 'error_rate' AND e ->> 'classification' <> 'no_data') THEN
        o_verdict := 'not_enough_data';
        o_score := CASE WHEN v_judged > 0 THEN round(100.0 * v_passed / v_judged, 1) END;
        o_evidence := pg_catalog.format(
            'Not enough traffic to judge %s against %s over %s to %s: %s of 6 metrics had at least %s requests on each side (and the error rate must be one of them).',
            p_candidate, p_reference,
            pg_catalog.to_char(v_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
            pg_catalog.to_char(v_end AT TIME ZONE 'UTC', 'HH24:MI "UTC"'), v_judged, v_min_n);
    ELSE
        o_score := round(100.0 * v_passed / v_judged, 1);
        o_verdict := CASE WHEN coalesce(v_err_worse, false) THEN 'not_ready'
                          WHEN o_score >= v_pass THEN 'ready'
                          WHEN o_score >= v_marginal THEN 'marginal'
                          ELSE 'not_ready' END;
        o_evidence := CASE
            WHEN v_worse IS NULL THEN pg_catalog.format(
                '%s is %s: %s of %s judged metrics are equal to or better than %s over %s minutes%s (score %s).',
                p_candidate, replace(o_verdict, '_', ' '), v_passed, v_judged, p_reference,
                (extract(epoch FROM v_end - v_start) / 60)::integer,
                coalesce(', better: ' || v_better, ''), o_score)
            ELSE pg_catalog.format(
                '%s is %s against %s over %s minutes (score %s, %s of %s judged metrics pass): worse %s.',
                p_candidate, replace(o_verdict, '_', ' '), p_reference,
                (extract(epoch FROM v_end - v_start) / 60)::integer, o_score, v_passed, v_judged,
                v_worse) END;
    END IF;
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION cachemon._migration_verdict(text, text, interval, timestamptz) IS
    'Internal: the body of cachemon.migration_verdict (per-metric effects with confidence intervals, classification, score and verdict).';

REVOKE ALL ON FUNCTION cachemon._migration_verdict(text, text, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._migration_verdict(text, text, interval, timestamptz)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/_performance_summary.sql
CREATE OR REPLACE FUNCTION cachemon._performance_summary(
    p_implementation_type text,
    p_time_window interval,
    p_now timestamptz
)
RETURNS TABLE (
    implementation_type text,
    window_start timestamptz,
    window_end timestamptz,
    total_events bigint,
    hits bigint,
    misses bigint,
    sets bigint,
    evictions bigint,
    errors bigint,
    hit_rate numeric,
    error_rate numeric,
    avg_response_time_ms double precision,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision,
    max_response_time_ms double precision,
    avg_cache_size double precision,
    max_cache_size bigint
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    v_end timestamptz := pg_catalog.date_bin('1 minute', p_now, '2000-01-01 00:00:00+00');
    v_start timestamptz := v_end - p_time_window;
    v_hour_start timestamptz;
    v_hour_end timestamptz;
    v_day_start timestamptz;
    v_day_end timestamptz;
BEGIN
    /*
     * The body of cachemon.get_cache_performance_summary (a LANGUAGE sql wrapper, because its
     * parameter implementation_type is also an output column, which PL/pgSQL refuses).
     * The seed's summary over the whole minutes of [p_now - p_time_window, p_now), one row per
     * implementation (or only the one named). Whole UTC days of the window are read from the
     * internal cachemon._cache_metrics_1day (each row the merge of its hours, kept by tick),
     * the whole hours at the ragged ends from cache_metrics_1hour and the ragged minutes from
     * cache_metrics_1min, so a 30-day window reads about 29 daily rows, at most 46 hourly rows
     * and 118 minutes per implementation (~45k sketch keys instead of ~490k). Counts, rates,
     * averages and maxima are exact sums; p50/p95/p99 come from the merged latency sketches
     * (within 0.9% of percentile_disc over the window's events). Reflects what tick() has
     * rolled up. A non-positive window returns no rows.
     */
    IF p_time_window IS NULL OR p_time_window <= interval '0' THEN
        RETURN;
    END IF;
    v_hour_start := pg_catalog.date_bin('1 hour', v_start, '2000-01-01 00:00:00+00');
    IF v_hour_start < v_start THEN
        v_hour_start := v_hour_start + interval '1 hour';
    END IF;
    v_hour_end := pg_catalog.date_bin('1 hour', v_end, '2000-01-01 00:00:00+00');
    IF v_hour_start >= v_hour_end THEN
        -- No whole hour inside: minutes only.
        v_hour_start := v_end;
        v_hour_end := v_end;
    END IF;
    -- Whole UTC days inside the whole hours (the day table's buckets are UTC midnights).
    v_day_start := pg_catalog.date_bin('1 day', v_hour_start, '2000-01-01 00:00:00+00');
    IF v_day_start < v_hour_start THEN
        v_day_start := v_day_start + interval '1 day';
    END IF;
    v_day_end := pg_catalog.date_bin('1 day', v_hour_end, '2000-01-01 00:00:00+00');
    IF v_day_start >= v_day_end THEN
        -- No whole day inside: hours (and minutes) only.
        v_day_start := v_hour_end;
        v_day_end := v_hour_end;
    END IF;

    RETURN QUERY
    WITH parts AS MATERIALIZED (
        SELECT m.implementation_type AS impl, m.hits, m.misses, m.sets, m.evictions, m.errors,
               m.total_events, m.latency_count, m.latency_sum, m.max_response_time_ms,
               m.cache_size_count, m.cache_size_sum, m.max_cache_size, m.latency_sketch
          FROM cachemon.cache_metrics_1min AS m
         WHERE ((m.bucket >= v_start AND m.bucket < v_hour_start)
                OR (m.bucket >= v_hour_end AND m.bucket < v_end))
           AND (p_implementation_type IS NULL
                OR m.implementation_type = p_implementation_type)
        UNION ALL
        SELECT h.implementation_type, h.hits, h.misses, h.sets, h.evictions, h.errors,
               h.total_events, h.latency_count, h.latency_sum, h.max_response_time_ms,
               h.cache_size_count, h.cache_size_sum, h.max_cache_size, h.latency_sketch
          FROM cachemon.cache_metrics_1hour AS h
         WHERE ((h.bucket >= v_hour_start AND h.bucket < v_day_start)
                OR (h.bucket >= v_day_end AND h.bucket < v_hour_end))
           AND (p_implementation_type IS NULL
                OR h.implementation_type = p_implementation_type)
        UNION ALL
        SELECT d.implementation_type, d.hits, d.misses, d.sets, d.evictions, d.errors,
               d.total_events, d.latency_count, d.latency_sum, d.max_response_time_ms,
               d.cache_size_count, d.cache_size_sum, d.max_cache_size, d.latency_sketch
          FROM cachemon._cache_metrics_1day AS d
         WHERE d.bucket >= v_day_start AND d.bucket < v_day_end
           AND (p_implementation_type IS NULL
                OR d.implementation_type = p_implementation_type)
    ), agg AS (
        SELECT p.impl,
               pg_catalog.sum(p.total_events)::bigint AS total_events,
               pg_catalog.sum(p.hits)::bigint AS hits,
               pg_catalog.sum(p.misses)::bigint AS misses,
               pg_catalog.sum(p.sets)::bigint AS sets,
               pg_catalog.sum(p.evictions)::bigint AS evictions,
               pg_catalog.sum(p.errors)::bigint AS errors,
               pg_catalog.sum(p.latency_sum) / NULLIF(pg_catalog.sum(p.latency_count), 0) AS avg_rt,
               pg_catalog.max(p.max_response_time_ms) AS max_rt,
               (pg_catalog.sum(p.cache_size_sum) / NULLIF(pg_catalog.sum(p.cache_size_count), 0))::double precision AS avg_cs,
               pg_catalog.max(p.max_cache_size) AS max_cs,
               pg_catalog.count(p.latency_sketch) AS sketches,
               pg_catalog.sum((p.latency_sketch).zero_count)::bigint AS zero_count
          FROM parts AS p
         GROUP BY p.impl
    ), merged AS (
        -- The merge of all the sketches of an implementation as one flat aggregate (every
        -- key and count, summed by key): what cachemon.sketch_merge returns, without a
        -- PL/pgSQL call and array copy per row. unnest in the select list (ProjectSet) is
        -- cheaper per element than a LATERAL function scan.
        SELECT g.impl,
               pg_catalog.array_agg(g.k ORDER BY g.k) AS keys,
               pg_catalog.array_agg(g.n ORDER BY g.k) AS counts
          FROM (SELECT e.impl, e.k, pg_catalog.sum(e.n)::bigint AS n
                  FROM (SELECT p.impl,
                               pg_catalog.unnest((p.latency_sketch).keys) AS k,
                               pg_catalog.unnest((p.latency_sketch).counts) AS n
                          FROM parts AS p) AS e
                 GROUP BY e.impl, e.k) AS g
         GROUP BY g.impl
    )
    SELECT a.impl, v_start, v_end, a.total_events, a.hits, a.misses, a.sets, a.evictions,
           a.errors,
           cachemon.calculate_hit_rate(a.hits, a.misses),
           100::numeric * a.errors / NULLIF(a.hits + a.misses + a.sets + a.errors, 0),
           a.avg_rt, q.pct[1], q.pct[2], q.pct[3], a.max_rt, a.avg_cs, a.max_cs
      FROM agg AS a
      LEFT JOIN merged AS mg ON mg.impl = a.impl
     CROSS JOIN LATERAL (
        SELECT cachemon.sketch_quantiles(
                   CASE WHEN a.sketches > 0 THEN
                       ROW(a.zero_count, coalesce(mg.keys, '{}'), coalesce(mg.counts, '{}'))::cachemon.ddsketch
                   END,
                   ARRAY[0.5, 0.95, 0.99]) AS pct
     ) AS q
     ORDER BY a.impl;
END
$function$;

COMMENT ON FUNCTION cachemon._performance_summary(text, interval, timestamptz) IS
    'Internal: the rows of cachemon.get_cache_performance_summary (daily rows of _cache_metrics_1day for whole UTC days, hourly rows for the remaining whole hours, minutes for the ends, merged sketches).';

REVOKE ALL ON FUNCTION cachemon._performance_summary(text, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._performance_summary(text, interval, timestamptz)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/_poisson_z.sql
CREATE OR REPLACE FUNCTION cachemon._poisson_z(p_observed double precision, p_expected double precision)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * How surprising p_observed events are when p_expected were expected, as the normal
     * z-score of the Poisson upper tail P(X >= observed): the Wilson-Hilferty cube-root
     * approximation z = 3 sqrt(k) (1 - 1/(9k) - (lambda/k)^(1/3)), within a few hundredths of
     * the exact tail from k = 1 on, with no loop and no factorial (safe for any count up to
     * bigint max). Counts (errors, evictions) in a quiet window are small, where the normal
     * approximation of a proportion test is badly wrong; this is the count-appropriate test.
     * 0 observed: 0 (no evidence of an excess). NULL for a NULL or negative input; an expected
     * count of 0 is taken as 1e-9 (any event is then very surprising).
     */
    SELECT CASE
        WHEN p_observed IS NULL OR p_expected IS NULL OR p_observed < 0 OR p_expected < 0 THEN NULL
        WHEN p_observed < 1 THEN 0::double precision
        ELSE 3.0 * sqrt(p_observed)
             * (1.0 - 1.0 / (9.0 * p_observed)
                - power(greatest(p_expected, 1e-9) / p_observed, 1.0 / 3.0))
    END;
$function$;

COMMENT ON FUNCTION cachemon._poisson_z(double precision, double precision) IS
    'Internal: z-score of observing at least p_observed events of a Poisson count with mean p_expected (Wilson-Hilferty); 0 when nothing was observed.';

REVOKE ALL ON FUNCTION cachemon._poisson_z(double precision, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._poisson_z(double precision, double precision)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/_purge_cron_history.sql
CREATE OR REPLACE FUNCTION cachemon._purge_cron_history(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
AS $function$
DECLARE
    v_table oid := cachemon._genuine_pg_cron_object('job_run_details');
    v_deleted bigint := 0;
    v_now timestamptz := p_now;
BEGIN
    /*
     * pg_cron logs every run in cron.job_run_details and never trims it: a job every minute
     * adds 1440 rows a day. Deletes the runs that ended before p_now - 'retention.cron_history'.
     *
     * The table is used only when it is the genuine one, a member of the installed extension
     * pg_cron (cachemon._genuine_pg_cron_object): where pg_cron is absent, a role with CREATE
     * on the database could plant schema cron, a table job_run_details and a trigger on it,
     * and run_maintenance (SECURITY DEFINER) used to fire that trigger as its owner. Without
     * the genuine table it does nothing and returns 0.
     *
     * SECURITY DEFINER because pg_cron's schema cron and its row level security let a role
     * delete only its own runs, and cachemon_admin (the grantee, and the role the jobs run as)
     * has no USAGE on schema cron ("permission denied for schema cron"). Its one input is
     * checked: a p_now after now() (or NULL) counts as now(), so a typo cannot empty the log.
     */
    IF p_now IS NULL OR p_now > pg_catalog.now() THEN
        v_now := pg_catalog.now();
    END IF;
    IF v_table IS NULL THEN
        RETURN 0;
    END IF;
    BEGIN
        EXECUTE pg_catalog.format('DELETE FROM %s WHERE end_time < $1', v_table::pg_catalog.regclass)
            USING v_now - cachemon._setting('retention.cron_history')::interval;
        GET DIAGNOSTICS v_deleted = ROW_COUNT;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'cachemon: may not trim cron.job_run_details as %: %', current_user, SQLERRM;
        RETURN 0;
    END;
    RETURN v_deleted;
END
$function$;

COMMENT ON FUNCTION cachemon._purge_cron_history(timestamptz) IS
    'Internal (pg_cron job cachemon-cron-cleanup, and run_maintenance): deletes rows older than retention.cron_history from the genuine cron.job_run_details (a member of extension pg_cron; a planted one is ignored); 0 without pg_cron. SECURITY DEFINER: cachemon_admin has no access to schema cron; a p_now after now() counts as now().';

REVOKE ALL ON FUNCTION cachemon._purge_cron_history(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._purge_cron_history(timestamptz) TO cachemon_admin;

-- sql/functions/_push.sql
CREATE OR REPLACE FUNCTION cachemon._push(p_topic text, p_event text, p_payload jsonb)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_send oid;
    v_notice jsonb;
BEGIN
    /*
     * Send one change to live listeners.
     *
     * pg_notify on channel 'cachemon_events' carries identifiers only, because PostgreSQL lets
     * every role that can connect LISTEN on any channel: {"topic","table","op"} plus
     * "bucket" and "implementation_type" for cache_metrics_1min, or "id" for
     * cache_auditor_observations. A listener re-reads the row through RLS.
     *
     * The full p_payload goes only to Supabase's realtime.send(jsonb, text, text, boolean),
     * on topic p_topic with event p_event, private unless setting push.realtime_private is
     * false, and only when that function is genuine (cachemon._genuine_realtime_send: owned by
     * a superuser or Supabase's admin roles, never a function a role with CREATE on the
     * database planted). It is called by oid-checked, fully typed name. A failing broadcast is
     * a WARNING, never an error: live push must not break rollups or the auditor.
     */
    v_notice := pg_catalog.jsonb_build_object('topic', p_topic,
                                              'table', p_payload->'table',
                                              'op', p_payload->'op');
    IF p_payload->>'table' = 'cache_metrics_1min' THEN
        v_notice := v_notice || pg_catalog.jsonb_build_object(
            'bucket', p_payload->'bucket',
            'implementation_type', p_payload->'implementation_type');
    ELSE
        v_notice := v_notice || pg_catalog.jsonb_build_object('id', p_payload->'id');
    END IF;
    IF pg_catalog.octet_length(v_notice::text) > 7900 THEN
        v_notice := pg_catalog.jsonb_build_object('topic', p_topic, 'table', p_payload->'table',
                                                  'op', p_payload->'op', 'truncated', true);
    END IF;
    PERFORM pg_catalog.pg_notify('cachemon_events', v_notice::text);

    BEGIN
        v_send := cachemon._genuine_realtime_send();
        IF v_send IS NOT NULL THEN
            EXECUTE 'SELECT realtime.send($1::jsonb, $2::text, $3::text, $4::boolean)'
              USING p_payload, p_event, p_topic,
                    coalesce(cachemon._setting('push.realtime_private')::boolean, true);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'cachemon: realtime.send on topic % failed: % (%)', p_topic, SQLERRM, SQLSTATE;
    END;
END
$function$;

COMMENT ON FUNCTION cachemon._push(text, text, jsonb) IS
    'Internal: pg_notify(''cachemon_events'', identifiers only) and, where Supabase''s genuine realtime.send exists, a private broadcast of the full payload on the topic; broadcast failures are warnings.';

REVOKE ALL ON FUNCTION cachemon._push(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._push(text, text, jsonb) TO cachemon_admin;

-- sql/functions/_push_metrics_1min.sql
CREATE OR REPLACE FUNCTION cachemon._push_metrics_1min()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * SECURITY DEFINER: the broadcast through Supabase's realtime.send needs USAGE on schema
     * realtime, which the owner has and a login role granted cachemon_admin does not (it got
     * "permission denied for schema realtime" from tick, acknowledge and resolve). The only
     * input is the NEW row the trigger fires for; nothing from the caller reaches SQL text.
     *
     * AFTER INSERT OR UPDATE on cache_metrics_1min: one small message per changed minute
     * (about 2 per minute per implementation), topic 'cachemon:metrics_1min'. pg_notify gets
     * the identifiers only (topic, table, op, bucket, implementation_type: see _push); the
     * private realtime.send broadcast gets the headline numbers too.
     */
    PERFORM cachemon._push('cachemon:metrics_1min', TG_OP, pg_catalog.jsonb_build_object(
        'topic', 'cachemon:metrics_1min',
        'table', 'cache_metrics_1min',
        'op', TG_OP,
        'bucket', NEW.bucket,
        'implementation_type', NEW.implementation_type,
        'total_events', NEW.total_events,
        'hit_rate', round(NEW.hit_rate, 2),
        'error_rate', round(NEW.error_rate, 3),
        'avg_response_time_ms', round(NEW.avg_response_time_ms::numeric, 2),
        'p95_response_time_ms', round(NEW.p95_response_time_ms::numeric, 2)));
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION cachemon._push_metrics_1min() IS
    'Trigger (SECURITY DEFINER, to reach Supabase''s realtime.send whoever changes the row): push each inserted or updated row of cache_metrics_1min (pg_notify channel cachemon_events, identifiers only; realtime.send topic cachemon:metrics_1min on Supabase).';

REVOKE ALL ON FUNCTION cachemon._push_metrics_1min() FROM PUBLIC;

DROP TRIGGER IF EXISTS cache_metrics_1min_push ON cachemon.cache_metrics_1min;
CREATE TRIGGER cache_metrics_1min_push
    AFTER INSERT OR UPDATE ON cachemon.cache_metrics_1min
    FOR EACH ROW EXECUTE FUNCTION cachemon._push_metrics_1min();

-- sql/functions/_push_observation.sql
CREATE OR REPLACE FUNCTION cachemon._push_observation()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * SECURITY DEFINER: the broadcast through Supabase's realtime.send needs USAGE on schema
     * realtime, which the owner has and a login role granted cachemon_admin does not (it got
     * "permission denied for schema realtime" from tick, acknowledge and resolve). The only
     * input is the NEW row the trigger fires for; nothing from the caller reaches SQL text.
     *
     * AFTER INSERT OR UPDATE on cache_auditor_observations: a finding opened, was seen again,
     * escalated, acknowledged or resolved. Topic 'cachemon:observations'. pg_notify gets
     * the identifiers only (topic, table, op, id: see _push); the private realtime.send
     * broadcast gets the finding, its message cut to 300 characters.
     */
    PERFORM cachemon._push('cachemon:observations', TG_OP, pg_catalog.jsonb_build_object(
        'topic', 'cachemon:observations',
        'table', 'cache_auditor_observations',
        'op', TG_OP,
        'id', NEW.id,
        'implementation_type', NEW.implementation_type,
        'rule', NEW.rule,
        'severity', NEW.severity,
        'category', NEW.category,
        'status', NEW.status,
        'metric', NEW.metric,
        'observed_value', NEW.observed_value,
        'baseline_value', NEW.baseline_value,
        'occurrences', NEW.occurrences,
        'last_seen_at', NEW.last_seen_at,
        'message', left(NEW.message, 300)));
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION cachemon._push_observation() IS
    'Trigger (SECURITY DEFINER, to reach Supabase''s realtime.send whoever changes the row): push each inserted or updated auditor finding (pg_notify channel cachemon_events, identifiers only; realtime.send topic cachemon:observations on Supabase).';

REVOKE ALL ON FUNCTION cachemon._push_observation() FROM PUBLIC;

DROP TRIGGER IF EXISTS cache_auditor_observations_push ON cachemon.cache_auditor_observations;
CREATE TRIGGER cache_auditor_observations_push
    AFTER INSERT OR UPDATE ON cachemon.cache_auditor_observations
    FOR EACH ROW EXECUTE FUNCTION cachemon._push_observation();

-- sql/functions/_queued_buckets.sql
CREATE OR REPLACE FUNCTION cachemon._queued_buckets(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket timestamptz, implementation_type text)
LANGUAGE sql
STABLE
ROWS 8
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The distinct (minute, implementation) pairs of [p_from, p_to) still queued in
     * _dirty_buckets: minutes whose rollup row may be incomplete, which the auditor and the
     * migration verdict leave out. SECURITY DEFINER because cachemon_reader (the dashboard,
     * which calls migration_verdict) may not read the queue itself; this returns only
     * minutes and implementation names, which the reader sees in cache_metrics_1min anyway.
     */
    SELECT DISTINCT d.bucket, d.implementation_type
      FROM cachemon._dirty_buckets AS d
     WHERE d.bucket >= p_from AND d.bucket < p_to;
$function$;

COMMENT ON FUNCTION cachemon._queued_buckets(timestamptz, timestamptz) IS
    'Internal: (minute, implementation) pairs of [p_from, p_to) still queued for rollup. SECURITY DEFINER so that readers (migration_verdict) can leave such minutes out without reading the queue.';

REVOKE ALL ON FUNCTION cachemon._queued_buckets(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._queued_buckets(timestamptz, timestamptz) TO cachemon_reader, cachemon_admin;

-- sql/functions/_related_suffix.sql
CREATE OR REPLACE FUNCTION cachemon._related_suffix(p_details jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The tail run_auditor appends to a finding's message when other rules were grouped
     * into it (details.related): " [with <rule> (<severity>), ...]", rules in name order;
     * empty when there are none.
     */
    SELECT coalesce(' [with ' || pg_catalog.string_agg(
               r.key || ' (' || coalesce(r.value ->> 'severity', '?') || ')', ', ' ORDER BY r.key)
               || ']', '')
      FROM pg_catalog.jsonb_each(
               CASE WHEN pg_catalog.jsonb_typeof(p_details -> 'related') = 'object'
                    THEN p_details -> 'related' ELSE '{}'::jsonb END) AS r;
$function$;

COMMENT ON FUNCTION cachemon._related_suffix(jsonb) IS
    'Internal: " [with rule (severity), ...]" naming the rules grouped into a finding (details.related), or empty.';

REVOKE ALL ON FUNCTION cachemon._related_suffix(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._related_suffix(jsonb) TO cachemon_reader, cachemon_admin;

-- sql/functions/_rollup_days.sql
CREATE OR REPLACE FUNCTION cachemon._rollup_days(p_days timestamptz[], p_impls text[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Rebuilds the rows of cachemon._cache_metrics_1day for the (day, implementation) pairs
     * given as two parallel arrays (any timestamp of the day will do; duplicates are fine)
     * from cache_metrics_1hour: cachemon._rollup_merge('day', ...), the same shape that builds
     * hours from minutes. Kept under this name for run_maintenance() (the day cut by
     * retention.1hour) and the benchmark, which write hourly rows directly.
     */
    RETURN cachemon._rollup_merge('day', p_days, p_impls);
END
$function$;

COMMENT ON FUNCTION cachemon._rollup_days(timestamptz[], text[]) IS
    'Internal: rebuild cachemon._cache_metrics_1day for the given (day, implementation) pairs (parallel arrays) as the merge of their cache_metrics_1hour rows; a pair without hours loses its row. Called by run_maintenance() and benchmarks (tick() calls _rollup_merge(''day'', ...)). Returns rows written or deleted.';

REVOKE ALL ON FUNCTION cachemon._rollup_days(timestamptz[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rollup_days(timestamptz[], text[]) TO cachemon_admin;

-- sql/functions/_rollup_merge.sql
CREATE OR REPLACE FUNCTION cachemon._rollup_merge(p_level text, p_buckets timestamptz[], p_impls text[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $function$
DECLARE
    v_source text;
    v_target text;
    v_width  interval;
    v_keys   timestamptz[];
    v_impls  text[];
    v_rows   cachemon._rollup_row[];
BEGIN
    /*
     * The one shape of the coarse levels: rebuilds the p_level ('hour' or 'day') buckets that
     * hold the given (bucket, implementation) pairs (parallel arrays; any timestamp inside
     * the hour or day will do, duplicates are fine) as the merge of their rows one level
     * down: hours from cache_metrics_1min into cache_metrics_1hour (percentiles from the
     * merged sketch), UTC days from cache_metrics_1hour into _cache_metrics_1day. Sums and
     * maxima, and the sketches merged by one flat unnest(keys, counts) ... GROUP BY bucket,
     * implementation, key (equal to cachemon.sketch_merge, without a PL/pgSQL call per row).
     * Stored with cachemon._rollup_store; a bucket without rows below loses its row. Returns
     * the rows written or deleted.
     *
     * tick() calls it for the hours, then the days, of the minutes it recomputed (same
     * transaction, so every coarse row equals the merge of its committed finer rows).
     * Dynamic SQL only for the two table names, from a fixed list (format %I).
     */
    CASE p_level
        WHEN 'hour' THEN
            v_source := 'cache_metrics_1min'; v_target := 'cache_metrics_1hour'; v_width := interval '1 hour';
        WHEN 'day' THEN
            v_source := 'cache_metrics_1hour'; v_target := '_cache_metrics_1day'; v_width := interval '1 day';
        ELSE
            RAISE EXCEPTION 'cachemon._rollup_merge: p_level must be hour or day, got %', p_level
                USING ERRCODE = 'invalid_parameter_value';
    END CASE;

    EXECUTE pg_catalog.format(
        $sql$
        WITH h AS (
            SELECT DISTINCT pg_catalog.date_bin($3, u.bucket, '2000-01-01 00:00:00+00') AS bucket,
                   u.implementation_type
              FROM ROWS FROM (pg_catalog.unnest($1::timestamptz[]), pg_catalog.unnest($2::text[]))
                   AS u(bucket, implementation_type)
             WHERE u.bucket IS NOT NULL AND u.implementation_type IS NOT NULL
        ), mins AS MATERIALIZED (
            -- The rows of those buckets one level down, read once (index range per bucket).
            SELECT h.bucket AS coarse, m.implementation_type, m.hits, m.misses, m.sets,
                   m.evictions, m.errors, m.total_events, m.latency_count, m.latency_sum,
                   m.max_response_time_ms, m.cache_size_count, m.cache_size_sum,
                   m.max_cache_size, m.latency_sketch
              FROM h
              JOIN cachemon.%1$I AS m
                ON m.implementation_type = h.implementation_type
               AND m.bucket >= h.bucket
               AND m.bucket < h.bucket + $3
        ), agg AS (
            SELECT m.coarse AS bucket, m.implementation_type,
                   pg_catalog.sum(m.hits)::bigint AS hits,
                   pg_catalog.sum(m.misses)::bigint AS misses,
                   pg_catalog.sum(m.sets)::bigint AS sets,
                   pg_catalog.sum(m.evictions)::bigint AS evictions,
                   pg_catalog.sum(m.errors)::bigint AS errors,
                   pg_catalog.sum(m.total_events)::bigint AS total_events,
                   pg_catalog.sum(m.latency_count)::bigint AS latency_count,
                   pg_catalog.sum(m.latency_sum) AS latency_sum,
                   pg_catalog.max(m.max_response_time_ms) AS max_rt,
                   pg_catalog.sum(m.cache_size_count)::bigint AS cache_size_count,
                   pg_catalog.sum(m.cache_size_sum) AS cache_size_sum,
                   pg_catalog.max(m.max_cache_size) AS max_cache_size,
                   pg_catalog.count(m.latency_sketch) AS sketches,
                   pg_catalog.sum((m.latency_sketch).zero_count)::bigint AS zero_count
              FROM mins AS m
             GROUP BY m.coarse, m.implementation_type
        ), merged AS (
            SELECT g.coarse, g.implementation_type,
                   pg_catalog.array_agg(g.key ORDER BY g.key) AS keys,
                   pg_catalog.array_agg(g.n ORDER BY g.key) AS counts
              FROM (SELECT m.coarse, m.implementation_type, u.key, pg_catalog.sum(u.n)::bigint AS n
                      FROM mins AS m
                     CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest((m.latency_sketch).keys),
                                                   pg_catalog.unnest((m.latency_sketch).counts)) AS u(key, n)
                     GROUP BY m.coarse, m.implementation_type, u.key) AS g
             GROUP BY g.coarse, g.implementation_type
        ), q AS (
            SELECT a.*, sk.sketch,
                   CASE WHEN $4 THEN cachemon.sketch_quantiles(sk.sketch, ARRAY[0.5, 0.95, 0.99]) END AS pct
              FROM agg AS a
              LEFT JOIN merged AS mg
                ON mg.coarse = a.bucket AND mg.implementation_type = a.implementation_type
             CROSS JOIN LATERAL (
                SELECT CASE WHEN a.sketches > 0 THEN
                           ROW(a.zero_count, coalesce(mg.keys, '{}'), coalesce(mg.counts, '{}'))::cachemon.ddsketch
                       END AS sketch
             ) AS sk
        )
        SELECT (SELECT pg_catalog.array_agg(h.bucket ORDER BY h.bucket, h.implementation_type) FROM h),
               (SELECT pg_catalog.array_agg(h.implementation_type ORDER BY h.bucket, h.implementation_type) FROM h),
               (SELECT pg_catalog.array_agg(ROW(
                           q.bucket, q.implementation_type, q.hits, q.misses, q.sets, q.evictions,
                           q.errors, q.total_events, q.latency_count, q.latency_sum, q.max_rt,
                           q.cache_size_count, q.cache_size_sum, q.max_cache_size, q.sketch,
                           q.pct[1], q.pct[2], q.pct[3])::cachemon._rollup_row)
                  FROM q)
        $sql$, v_source)
      INTO v_keys, v_impls, v_rows
      USING p_buckets, p_impls, v_width, p_level = 'hour';

    IF v_keys IS NULL THEN
        RETURN 0;
    END IF;
    RETURN cachemon._rollup_store(v_target, v_keys, v_impls, coalesce(v_rows, '{}'));
END
$function$;

COMMENT ON FUNCTION cachemon._rollup_merge(text, timestamptz[], text[]) IS
    'Internal: rebuild the hour (from cache_metrics_1min into cache_metrics_1hour) or UTC day (from cache_metrics_1hour into _cache_metrics_1day) buckets holding the given (bucket, implementation) pairs as the merge of their finer rows (sums, maxima, merged sketches; hourly percentiles from the sketch). Returns rows written or deleted.';

REVOKE ALL ON FUNCTION cachemon._rollup_merge(text, timestamptz[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rollup_merge(text, timestamptz[], text[]) TO cachemon_admin;

-- sql/functions/_rollup_minutes.sql
CREATE OR REPLACE FUNCTION cachemon._rollup_minutes(p_buckets timestamptz[], p_impls text[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- Large, uncertain cost estimates (row counts of a LATERAL per run) would make PostgreSQL
-- JIT-compile this statement: 50-400 ms of compilation for tens of milliseconds of work.
SET jit = off
AS $function$
DECLARE
    v_ln_gamma double precision := cachemon._sketch_ln_gamma();
    v_rows cachemon._rollup_row[];
BEGIN
    /*
     * tick()'s minute step: recomputes the given (minute, implementation) buckets (parallel
     * arrays) from raw rows and stores them with cachemon._rollup_store (a bucket without raw
     * rows left loses its row). Exact statistics: counts, sums, maxima, percentile_cont
     * p50/p95/p99 in one ordered-set call, and the latency sketch (the key is
     * cachemon.sketch_key() written inline). Returns the 1-minute rows written or deleted.
     *
     * Raw rows are read with one index range scan per run of nearby marked minutes (gaps and
     * islands: marked minutes of an implementation less than 10 minutes apart form one run;
     * LATERAL ... OFFSET 0 keeps the nested loop, so each run reads only its index range and
     * partitions it cannot touch are pruned at run time). A backlog of a whole day is then one
     * scan per implementation; a lone late minute is one small range.
     */
    WITH k AS (
        SELECT u.bucket, u.implementation_type
          FROM ROWS FROM (pg_catalog.unnest(p_buckets), pg_catalog.unnest(p_impls)) AS u(bucket, implementation_type)
    ), runs AS (
        SELECT r.implementation_type, pg_catalog.min(r.bucket) AS lo,
               pg_catalog.max(r.bucket) + interval '1 minute' AS hi
          FROM (SELECT g.implementation_type, g.bucket,
                       pg_catalog.sum(g.starts) OVER (PARTITION BY g.implementation_type
                                                      ORDER BY g.bucket) AS run
                  FROM (SELECT k.implementation_type, k.bucket,
                               CASE WHEN k.bucket - pg_catalog.lag(k.bucket) OVER (
                                        PARTITION BY k.implementation_type ORDER BY k.bucket)
                                        <= interval '10 minutes'
                                    THEN 0 ELSE 1 END AS starts
                          FROM k) AS g) AS r
         GROUP BY r.implementation_type, r.run
    ), raw AS (
        SELECT x.bucket, x.implementation_type, x.event_type, x.rt, x.cache_size
          FROM runs
         CROSS JOIN LATERAL (
            SELECT pg_catalog.date_bin('1 minute', m.recorded_at, '2000-01-01 00:00:00+00') AS bucket,
                   m.implementation_type, m.event_type, m.response_time_ms AS rt, m.cache_size
              FROM cachemon.cache_metrics AS m
             WHERE m.implementation_type = runs.implementation_type
               AND m.recorded_at >= runs.lo
               AND m.recorded_at < runs.hi
            OFFSET 0
         ) AS x
         WHERE (x.bucket, x.implementation_type) IN (SELECT k.bucket, k.implementation_type FROM k)
    ), stats AS (
        -- One sorted group aggregate over the raw rows: the exact statistics, the three
        -- percentiles in one ordered-set call, and the keys of the positive latencies (one
        -- array per minute, unsorted); the sketch is compacted per minute below (a small hash
        -- aggregate over that minute's keys, not a second sort over all raw rows).
        SELECT r.bucket, r.implementation_type,
               pg_catalog.count(*) FILTER (WHERE r.event_type = 'hit') AS hits,
               pg_catalog.count(*) FILTER (WHERE r.event_type = 'miss') AS misses,
               pg_catalog.count(*) FILTER (WHERE r.event_type = 'set') AS sets,
               pg_catalog.count(*) FILTER (WHERE r.event_type = 'evict') AS evictions,
               pg_catalog.count(*) FILTER (WHERE r.event_type = 'error') AS errors,
               pg_catalog.count(*) AS total_events,
               pg_catalog.count(r.rt) AS latency_count,
               coalesce(pg_catalog.sum(r.rt), 0) AS latency_sum,
               pg_catalog.max(r.rt) AS max_rt,
               pg_catalog.percentile_cont(ARRAY[0.5, 0.95, 0.99]::double precision[])
                   WITHIN GROUP (ORDER BY r.rt) AS pct,
               pg_catalog.count(*) FILTER (WHERE r.rt = 0) AS zero_count,
               pg_catalog.array_agg(pg_catalog.ceil(pg_catalog.ln(r.rt) / v_ln_gamma)::integer)
                   FILTER (WHERE r.rt > 0) AS all_keys,
               pg_catalog.count(r.cache_size) AS cache_size_count,
               coalesce(pg_catalog.sum(r.cache_size), 0) AS cache_size_sum,
               pg_catalog.max(r.cache_size) AS max_cache_size
          FROM raw AS r
         GROUP BY r.bucket, r.implementation_type
    )
    SELECT pg_catalog.array_agg(ROW(
               s.bucket, s.implementation_type, s.hits, s.misses, s.sets, s.evictions, s.errors,
               s.total_events, s.latency_count, s.latency_sum, s.max_rt, s.cache_size_count,
               s.cache_size_sum, s.max_cache_size,
               CASE WHEN s.latency_count > 0 THEN
                   ROW(s.zero_count, coalesce(sk.keys, '{}'), coalesce(sk.counts, '{}'))::cachemon.ddsketch
               END,
               s.pct[1], s.pct[2], s.pct[3])::cachemon._rollup_row)
      INTO v_rows
      FROM stats AS s
     CROSS JOIN LATERAL (
        -- The minute's sketch: its keys counted and sorted (sketch_from_values' form).
        SELECT pg_catalog.array_agg(g.key ORDER BY g.key) AS keys,
               pg_catalog.array_agg(g.n ORDER BY g.key) AS counts
          FROM (SELECT u.key, pg_catalog.count(*) AS n
                  FROM pg_catalog.unnest(s.all_keys) AS u(key)
                 GROUP BY u.key) AS g
     ) AS sk;

    RETURN cachemon._rollup_store('cache_metrics_1min', p_buckets, p_impls, coalesce(v_rows, '{}'));
END
$function$;

COMMENT ON FUNCTION cachemon._rollup_minutes(timestamptz[], text[]) IS
    'Internal (tick): recompute the given (minute, implementation) buckets from raw events (exact percentiles, latency sketch) into cache_metrics_1min; a bucket without events loses its row. Returns rows written or deleted.';

REVOKE ALL ON FUNCTION cachemon._rollup_minutes(timestamptz[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rollup_minutes(timestamptz[], text[]) TO cachemon_admin;

-- sql/functions/_rollup_store.sql
CREATE OR REPLACE FUNCTION cachemon._rollup_store(
    p_table   text,
    p_buckets timestamptz[],
    p_impls   text[],
    p_rows    cachemon._rollup_row[]
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $function$
DECLARE
    v_derived boolean;
    v_cols    text[] := ARRAY['bucket', 'implementation_type', 'hits', 'misses', 'sets',
        'evictions', 'errors', 'total_events', 'latency_count', 'latency_sum',
        'max_response_time_ms', 'cache_size_count', 'cache_size_sum', 'max_cache_size',
        'latency_sketch', 'updated_at'];
    v_exprs   text[] := ARRAY['r.bucket', 'r.implementation_type', 'r.hits', 'r.misses',
        'r.sets', 'r.evictions', 'r.errors', 'r.total_events', 'r.latency_count',
        'r.latency_sum', 'r.max_response_time_ms', 'r.cache_size_count', 'r.cache_size_sum',
        'r.max_cache_size', 'r.latency_sketch', 'pg_catalog.clock_timestamp()'];
    v_rows    integer;
BEGIN
    /*
     * The one upsert of every rollup level: writes p_rows into p_table (cache_metrics_1min,
     * cache_metrics_1hour or _cache_metrics_1day) and deletes the rows of the given
     * (bucket, implementation) pairs (parallel arrays) that p_rows does not hold (a bucket
     * without events left loses its row). The 1-minute and 1-hour tables also get the
     * columns derived from the sums (the contract's definitions): hit_rate = 100 * hits /
     * (hits + misses), error_rate = 100 * errors / (hits + misses + sets + errors),
     * avg_response_time_ms, the three percentiles as given, avg_cache_size. Returns the rows
     * written or deleted.
     *
     * Dynamic SQL only for the table name, from a fixed list (format %I); every value is a
     * parameter. Arithmetic is safe for every value the domains of cache_metrics admit
     * (latency sums stay far below double precision's range; cache size sums are numeric).
     */
    IF p_table NOT IN ('cache_metrics_1min', 'cache_metrics_1hour', '_cache_metrics_1day') THEN
        RAISE EXCEPTION 'cachemon._rollup_store: unknown rollup table %', p_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_derived := p_table <> '_cache_metrics_1day';
    IF v_derived THEN
        v_cols := v_cols || ARRAY['hit_rate', 'error_rate', 'avg_response_time_ms',
            'p50_response_time_ms', 'p95_response_time_ms', 'p99_response_time_ms',
            'avg_cache_size'];
        v_exprs := v_exprs || ARRAY['cachemon.calculate_hit_rate(r.hits, r.misses)',
            '100::numeric * r.errors / NULLIF(r.hits + r.misses + r.sets + r.errors, 0)',
            'r.latency_sum / NULLIF(r.latency_count, 0)',
            'r.p50_response_time_ms', 'r.p95_response_time_ms', 'r.p99_response_time_ms',
            '(r.cache_size_sum / NULLIF(r.cache_size_count, 0))::double precision'];
    END IF;

    EXECUTE pg_catalog.format(
        $sql$
        WITH k AS (
            SELECT u.bucket, u.implementation_type
              FROM ROWS FROM (pg_catalog.unnest($1::timestamptz[]), pg_catalog.unnest($2::text[]))
                   AS u(bucket, implementation_type)
        ), r AS (
            SELECT * FROM pg_catalog.unnest($3::cachemon._rollup_row[])
        ), up AS (
            INSERT INTO cachemon.%1$I AS t (%2$s)
            SELECT %3$s FROM r
            ON CONFLICT (bucket, implementation_type) DO UPDATE SET %4$s
            RETURNING 1
        ), emptied AS (
            DELETE FROM cachemon.%1$I AS t
             USING k
             WHERE t.bucket = k.bucket AND t.implementation_type = k.implementation_type
               AND NOT EXISTS (SELECT FROM r
                                WHERE r.bucket = k.bucket
                                  AND r.implementation_type = k.implementation_type)
            RETURNING 1
        )
        SELECT ((SELECT pg_catalog.count(*) FROM up) + (SELECT pg_catalog.count(*) FROM emptied))::integer
        $sql$,
        p_table,
        pg_catalog.array_to_string(v_cols, ', '),
        pg_catalog.array_to_string(v_exprs, ', '),
        (SELECT pg_catalog.string_agg(pg_catalog.format('%1$I = EXCLUDED.%1$I', c), ', ')
           FROM pg_catalog.unnest(v_cols[3:]) AS c))
      INTO v_rows
      USING p_buckets, p_impls, p_rows;
    RETURN v_rows;
END
$function$;

COMMENT ON FUNCTION cachemon._rollup_store(text, timestamptz[], text[], cachemon._rollup_row[]) IS
    'Internal: the one upsert of all rollup levels: writes the given rows into cache_metrics_1min, cache_metrics_1hour or _cache_metrics_1day (with the derived rates, averages and percentiles where the table has them) and deletes the rows of the given (bucket, implementation) pairs that have no row left. Returns rows written or deleted.';

REVOKE ALL ON FUNCTION cachemon._rollup_store(text, timestamptz[], text[], cachemon._rollup_row[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rollup_store(text, timestamptz[], text[], cachemon._rollup_row[]) TO cachemon_admin;

-- sql/functions/_rule_anomaly.sql
CREATE OR REPLACE FUNCTION cachemon._rule_anomaly(p_now timestamptz, p_window interval)
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Robust z-score on every baselined metric listed in params.metrics: z = (window value -
     * baseline median) / (1.4826 MAD of one minute), both of that hour of day when the
     * baseline has a profile. The window value (over several minutes) is less noisy than
     * one minute, so judging it against one minute's spread is conservative. Medians and
     * MADs are what a few bad baseline minutes cannot drag. |z| is the deviation: breach
     * from warning_threshold (critical from critical_threshold), either direction (a cache
     * that is suddenly much faster, or quieter, is also worth a look). requests_per_minute is
     * judged only with an hour-of-day profile: without one the daily rhythm alone would
     * exceed any sensible threshold. One row per metric; run_auditor keeps the worst.
     * Since revision 0007: window values leave the worst minute out (cachemon._window_stats,
     * loo_*), only fully rolled-up minutes count, requests_per_minute is expected from the
     * baseline's pooled requests per minute of every minute of that hour, and MORE traffic
     * than usual with unchanged quality is severity 'info' at most (a surge is news, not a
     * fault; the quality rules judge what it does to the cache).
     */
    RETURN QUERY
    WITH w AS (
        SELECT pg_catalog.date_trunc('minute', p_now, 'UTC') AS t_end,
               pg_catalog.date_trunc('minute', p_now, 'UTC') - p_window AS t_start,
               (extract(epoch FROM p_window) / 60)::integer AS minutes
    ), r AS (
        SELECT * FROM cachemon._auditor_rule('anomaly')
    ), x AS (
        SELECT t.implementation_type, v.metric, v.observed, t.operations, w.minutes,
               CASE WHEN v.metric = 'requests_per_minute'
                    THEN coalesce(cachemon._baseline_pooled_at(b, v.metric, w.t_end - p_window / 2),
                                  cachemon._baseline_expected(b, v.metric, w.t_end - p_window / 2))
                    ELSE cachemon._baseline_expected(b, v.metric, w.t_end - p_window / 2) END AS base,
               cachemon._baseline_scale(b, v.metric, w.t_end - p_window / 2) AS scale
          FROM w
         CROSS JOIN r
         CROSS JOIN LATERAL cachemon._window_stats(w.t_start, w.t_end) AS t
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
         CROSS JOIN LATERAL (VALUES
             ('hit_rate', 100.0::double precision * t.loo_hits / NULLIF(t.loo_lookups, 0)),
             ('error_rate', 100.0::double precision * t.loo_errors / NULLIF(t.loo_operations, 0)),
             ('avg_response_time_ms', t.loo_avg_response_time_ms),
             ('p95_response_time_ms', t.loo_p95_response_time_ms),
             ('requests_per_minute', t.requests_per_minute),
             ('eviction_rate', 100.0::double precision * t.loo_evictions / NULLIF(t.loo_lookups, 0)),
             ('avg_cache_size', t.avg_cache_size)
         ) AS v (metric, observed)
         WHERE r.params -> 'metrics' ? v.metric
           AND (v.metric <> 'requests_per_minute' OR b.hourly_profile IS NOT NULL)
           AND b.statistics ? v.metric
    ), d AS (
        SELECT x.*, (x.observed - x.base) / x.scale AS z,
               x.operations >= r.min_requests AS enough
          FROM x CROSS JOIN r
    )
    SELECT d.implementation_type, 'anomaly', r.category, j.state,
           CASE WHEN d.metric = 'requests_per_minute' AND d.z > 0 AND j.severity IS NOT NULL
                THEN 'info' ELSE j.severity END,
           d.metric, d.observed, d.base, 100.0 * (d.observed - d.base) / NULLIF(d.base, 0),
           d.operations, d.z,
           pg_catalog.format('%s of %s is %s vs baseline median %s over %s minutes: robust z-score %s (%s operations)',
               d.metric, d.implementation_type, cachemon._fmt(d.observed, 2), cachemon._fmt(d.base, 2),
               d.minutes, cachemon._fmt(d.z, 1), cachemon._fmt(d.operations, 0)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               '%s of %s is far outside its normal range: compare with the other rules'' findings for %s, check deploys, traffic changes and the cache server around %s; if the change is expected (new traffic pattern), recompute the baseline with cachemon.compute_baseline(%L).',
               d.metric, d.implementation_type, d.implementation_type,
               pg_catalog.to_char(p_now AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
               d.implementation_type) END,
           pg_catalog.jsonb_build_object('z', round(d.z::numeric, 2), 'scale', d.scale,
               'window_minutes', d.minutes, 'enough', d.enough)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(abs(d.z), true, d.enough, r) AS j;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_anomaly(timestamptz, interval) IS
    'Auditor rule anomaly: robust z-score (median/MAD, hour of day when profiled) of each baselined metric in params.metrics beyond the thresholds.';

REVOKE ALL ON FUNCTION cachemon._rule_anomaly(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_anomaly(timestamptz, interval) TO cachemon_reader, cachemon_admin;

-- sql/functions/_rule_capacity.sql
CREATE OR REPLACE FUNCTION cachemon._rule_capacity(p_now timestamptz, p_window interval)
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Capacity: eviction rate (evictions per 100 lookups) or average cache size above the
     * baseline by at least warning_threshold percent (critical from critical_threshold).
     * Evictions are rare counts: the window's evictions without its worst minute are
     * compared with the baseline's POOLED rate (all evictions / all lookups of that hour of
     * day, not the median minute, which is 0 when most minutes have none) times the window's
     * lookups; significant when the Poisson upper-tail z (cachemon._poisson_z) over sqrt of
     * the baseline's dispersion factor reaches significance_z, with at least 5 evictions.
     * A traffic rise raises expected and observed evictions alike. Cache size is a level:
     * significant when (observed - baseline median) / robust per-minute spread reaches it.
     * Judged over every window of cachemon._auditor_windows.
     */
    RETURN QUERY
    WITH r AS (
        SELECT * FROM cachemon._auditor_rule('capacity')
    ), t AS MATERIALIZED (
        SELECT k.k, s.*
          FROM cachemon._auditor_windows(p_window) AS k (k)
         CROSS JOIN LATERAL cachemon._window_stats(
             pg_catalog.date_trunc('minute', p_now, 'UTC') - pg_catalog.make_interval(mins => k.k),
             pg_catalog.date_trunc('minute', p_now, 'UTC')) AS s
    ), x AS (
        -- evictions and lookups of the same minutes (the window without its worst eviction
        -- minute); lookups without another minute would make a traffic step look like
        -- an eviction storm
        SELECT t.implementation_type, t.loo_evictions AS evictions, t.lookups,
               t.loo_eviction_lookups AS loo_lookups,
               100.0::double precision * t.loo_evictions / NULLIF(t.loo_eviction_lookups, 0) AS eviction_rate,
               t.avg_cache_size, t.k AS minutes,
               greatest(coalesce(cachemon._baseline_pooled_at(b, 'eviction_rate', pg_catalog.date_trunc('minute', p_now, 'UTC')),
                                 cachemon._baseline_expected(b, 'eviction_rate', pg_catalog.date_trunc('minute', p_now, 'UTC'))),
                        0.01) AS base_eviction_rate,
               coalesce((b.statistics -> 'dispersion' ->> 'eviction_rate_phi')::double precision, 1) AS phi,
               cachemon._baseline_expected(b, 'avg_cache_size', pg_catalog.date_trunc('minute', p_now, 'UTC')) AS base_size,
               cachemon._baseline_scale(b, 'avg_cache_size', pg_catalog.date_trunc('minute', p_now, 'UTC')) AS size_scale
          FROM t
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
    ), d AS (
        SELECT x.implementation_type, x.minutes, x.lookups, v.*
          FROM x CROSS JOIN r
         CROSS JOIN LATERAL (VALUES
             ('eviction_rate', x.eviction_rate, x.base_eviction_rate,
              CASE WHEN x.evictions >= 5 THEN cachemon._poisson_z(x.evictions,
                       x.base_eviction_rate / 100.0 * x.loo_lookups) / sqrt(greatest(x.phi, 1))
                   ELSE 0 END,
              pg_catalog.format('%s evictions in %s lookups without the worst minute', cachemon._fmt(x.evictions, 0),
                                cachemon._fmt(x.loo_lookups, 0))),
             ('avg_cache_size', x.avg_cache_size, x.base_size,
              (x.avg_cache_size - x.base_size) / x.size_scale,
              pg_catalog.format('%s lookups', cachemon._fmt(x.lookups, 0)))
         ) AS v (metric, observed, base, z, volume)
    )
    SELECT d.implementation_type, 'capacity', r.category, j.state, j.severity,
           d.metric, d.observed, d.base, 100.0 * (d.observed - d.base) / NULLIF(d.base, 0),
           d.lookups, d.z,
           pg_catalog.format('%s of %s is %s vs baseline %s over %s minutes (%s%% higher; %s)',
               CASE d.metric WHEN 'eviction_rate' THEN 'eviction rate (per 100 lookups)'
                             ELSE 'average cache size' END,
               d.implementation_type, cachemon._fmt(d.observed, 2), cachemon._fmt(d.base, 2),
               d.minutes, cachemon._fmt(100.0 * (d.observed - d.base) / NULLIF(d.base, 0), 0),
               d.volume),
           CASE WHEN j.state = 'breach' THEN CASE d.metric
               WHEN 'eviction_rate' THEN pg_catalog.format(
                   'The cache of %s is evicting far more than usual: raise its memory limit (maxmemory) or shorten TTLs of large, rarely read entries; check for a new key pattern that fills the cache (per-user or per-request keys).',
                   d.implementation_type)
               ELSE pg_catalog.format(
                   'The cache of %s is growing far beyond its usual size: check TTLs are set on new keys, look for unbounded key growth, and make sure its memory limit and eviction policy are what you expect.',
                   d.implementation_type) END END,
           pg_catalog.jsonb_build_object('z', round(d.z::numeric, 2), 'window_minutes', d.minutes,
               'enough', d.lookups >= r.min_requests)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(
         100.0 * (d.observed - d.base) / NULLIF(d.base, 0), d.z >= r.significance_z,
         d.lookups >= r.min_requests, r) AS j;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_capacity(timestamptz, interval) IS
    'Auditor rule capacity: eviction rate (pooled, without the worst minute, Poisson test) or average cache size above the baseline by more than the thresholds, over 2..60-minute windows.';

REVOKE ALL ON FUNCTION cachemon._rule_capacity(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_capacity(timestamptz, interval) TO cachemon_reader, cachemon_admin;

-- sql/functions/_rule_error_rate.sql
CREATE OR REPLACE FUNCTION cachemon._rule_error_rate(p_now timestamptz, p_window interval)
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_rec constant text := 'Read the error_type and error_message of %s''s recent errors (SELECT error_type, count(*) FROM cachemon.cache_metrics WHERE event_type = ''error'' AND implementation_type = %L AND recorded_at > now() - interval ''15 minutes'' GROUP BY 1); check the cache server''s availability, timeouts and connection limits, and fall back to the reference implementation if errors reach users.';
BEGIN
    /*
     * Error rate above an absolute threshold (percent of operations = hits + misses + sets
     * + errors), for every implementation with data, over every window of
     * cachemon._auditor_windows (2, 5, 15, 60 minutes by default; one row each). Errors are
     * rare counts, so the window's errors without its worst minute (loo: at least two
     * distinct bad minutes) are tested as a count. With an active baseline: breach when the
     * rate is at least warning_threshold (critical from critical_threshold) AND the count is
     * significantly above what the baseline's pooled error rate of that hour predicts, by
     * the Poisson upper-tail z (cachemon._poisson_z) divided by sqrt of the baseline's
     * quasi-Poisson dispersion factor (error_rate_phi: background errors come in small
     * clumps), at least 3 errors. This finds 1.5% at 120 operations a minute within the
     * 5-minute window (the test is against the 0.15-0.2% background, not against 1%).
     * Without a baseline: the Wilson lower bound of the rate must be above the warning
     * threshold. Fewer than min_requests operations: hold.
     * Since revision 0009 the rule also judges the sequential test of cachemon._cusum (one
     * row per metric, details.test = 'sequential', window_minutes = the minutes of its
     * segment): a breach when the CUSUM statistic reaches auditor.cusum_h and the value over
     * its segment, without its worst minute, is beyond the warning threshold. It finds a threshold-level breach of a
     * busy implementation in minutes and of a quiet one as soon as the evidence allows,
     * without waiting for a long window to fill; run_auditor opens it like a critical breach.
     */
    RETURN QUERY
    WITH r AS (
        SELECT * FROM cachemon._auditor_rule('error_rate')
    ), t AS MATERIALIZED (
        SELECT k.k, s.*
          FROM cachemon._auditor_windows(p_window) AS k (k)
         CROSS JOIN LATERAL cachemon._window_stats(
             pg_catalog.date_trunc('minute', p_now, 'UTC') - pg_catalog.make_interval(mins => k.k),
             pg_catalog.date_trunc('minute', p_now, 'UTC')) AS s
    ), x AS (
        SELECT t.implementation_type, t.k AS minutes, t.loo_errors AS errors,
               t.loo_operations AS operations, t.error_rate AS whole,
               100.0::double precision * t.loo_errors / NULLIF(t.loo_operations, 0) AS observed,
               -- the hour's pooled rate, but never below the whole window's: errors are rare,
               -- and a quiet implementation's hour with no error in the baseline says 0%
               -- where the truth is its background rate
               greatest(coalesce(cachemon._baseline_pooled_at(b, 'error_rate', pg_catalog.date_trunc('minute', p_now, 'UTC')),
                                 cachemon._baseline_expected(b, 'error_rate', pg_catalog.date_trunc('minute', p_now, 'UTC'))),
                        (b.statistics -> 'pooled' ->> 'error_rate')::double precision)
                   AS base,
               coalesce((b.statistics -> 'dispersion' ->> 'error_rate_phi')::double precision, 1) AS phi,
               b.id IS NOT NULL AS baselined
          FROM t
          LEFT JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
    ), d AS (
        SELECT x.*,
               x.operations * greatest(coalesce(x.base, 0), 0.01) / 100.0 AS expected,
               cachemon._poisson_z(x.errors, x.operations * greatest(coalesce(x.base, 0), 0.01) / 100.0)
                   / sqrt(greatest(x.phi, 1)) AS z,
               CASE WHEN x.baselined AND x.base IS NOT NULL
                    THEN x.errors >= 3 AND cachemon._poisson_z(x.errors,
                             x.operations * greatest(x.base, 0.01) / 100.0)
                             / sqrt(greatest(x.phi, 1)) >= r.significance_z
                    ELSE 100.0 * cachemon._wilson_bound(x.errors, x.operations, r.significance_z, false)
                             > r.warning_threshold END AS significant,
               x.operations >= r.min_requests AS enough
          FROM x CROSS JOIN r
    )
    SELECT d.implementation_type, 'error_rate', r.category, j.state, j.severity,
           'error_rate', d.observed, d.base,
           100.0 * (d.observed - d.base) / NULLIF(d.base, 0), d.operations, d.observed,
           pg_catalog.format('error rate of %s is %s%% over %s minutes: %s errors in %s operations without the worst minute (threshold %s%%%s)',
               d.implementation_type, cachemon._fmt(d.observed, 2), d.minutes,
               cachemon._fmt(d.errors, 0), cachemon._fmt(d.operations, 0),
               cachemon._fmt(r.warning_threshold, 1),
               CASE WHEN d.base IS NOT NULL
                    THEN ', baseline ' || cachemon._fmt(d.base, 2) || '%' ELSE '' END),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               v_rec,
               d.implementation_type, d.implementation_type) END,
           pg_catalog.jsonb_build_object('errors', d.errors, 'operations', d.operations,
               'expected_errors', round(d.expected::numeric, 2), 'z', round(d.z::numeric, 2),
               'phi', d.phi, 'significant', d.significant, 'window_minutes', d.minutes,
               'enough', d.enough, 'whole_window_error_rate', d.whole)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(d.observed, d.significant, d.enough, r) AS j;
    RETURN QUERY
    SELECT c.implementation_type, 'error_rate', r.category, j.state, j.severity,
           'error_rate', c.observed, c.base,
           100.0 * (c.observed - c.base) / NULLIF(c.base, 0), c.events::bigint, c.statistic,
           pg_catalog.format('error rate of %s is %s%% over the last %s minutes without the worst one: %s errors in %s operations where the baseline expects %s (sequential test %s of %s, threshold %s%%)',
               c.implementation_type, cachemon._fmt(c.observed, 2), c.segment_minutes,
               cachemon._fmt(c.exceedances, 0), cachemon._fmt(c.events, 0),
               cachemon._fmt(c.expected_exceedances, 1), cachemon._fmt(c.statistic, 1),
               cachemon._fmt(c.threshold, 1), cachemon._fmt(r.warning_threshold, 1)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(v_rec, c.implementation_type, c.implementation_type) END,
           pg_catalog.jsonb_build_object('test', 'sequential', 'cusum', round(c.statistic::numeric, 2),
               'cusum_threshold', c.threshold, 'design', c.design, 'segment_start', c.segment_start,
               'recent', round(c.recent::numeric, 2), 'recovery', round(c.recovery::numeric, 2),
               'errors', c.exceedances, 'operations', c.events,
               'expected_errors', round(c.expected_exceedances::numeric, 2),
               'window_minutes', c.segment_minutes, 'enough', false)
      FROM cachemon._cusum(p_now) AS c CROSS JOIN cachemon._auditor_rule('error_rate') AS r
     CROSS JOIN LATERAL cachemon._judge(c.observed, c.statistic >= c.threshold AND c.recent > 0, true, r) AS j
     WHERE c.metric = 'error_rate' AND c.segment_minutes > 0;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_error_rate(timestamptz, interval) IS
    'Auditor rule error_rate: error rate (without the worst minute) above the absolute thresholds (default 1% warning, 5% critical), its error count significantly above the baseline''s pooled rate (quasi-Poisson), over 2..60-minute windows.';

REVOKE ALL ON FUNCTION cachemon._rule_error_rate(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_error_rate(timestamptz, interval) TO cachemon_reader, cachemon_admin;

-- sql/functions/_rule_hit_rate_drop.sql
CREATE OR REPLACE FUNCTION cachemon._rule_hit_rate_drop(p_now timestamptz, p_window interval)
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_rec constant text := 'Check what changed for %s: key normalisation (case, whitespace, parameter order), TTLs and eviction settings, and deploys or cache flushes in the last hour; a flush recovers within one TTL, a key change does not.';
BEGIN
    /*
     * Hit rate below baseline, judged over every window of cachemon._auditor_windows
     * (default 2, 5, 15 and 60 minutes; one row per window, run_auditor combines them).
     * Observed: the pooled hit rate of the window without its worst minute (loo: a breach
     * needs two distinct bad minutes). Expected: the baseline's pooled hit rate of that hour
     * of day (or of the window). Deviation: percent below it (relative), breach from
     * warning_threshold (critical from critical_threshold) when significant. Significance
     * allows for overdispersion: real hit rates drift by more than binomial sampling noise,
     * so the variance of the window's rate is p(1-p)/n + tau^2, with tau the between-minute
     * spread of the true hit rate estimated from the baseline (statistics.dispersion
     * .hit_rate_tau): z = (expected - observed) / sqrt(p(1-p)/n + tau^2) must reach
     * significance_z. A drift of a point or two never gets there however many lookups; a
     * 10% drop does as soon as the volume separates it from noise. Fewer than min_requests
     * lookups: hold.
     * Since revision 0009 the rule also judges the sequential test of cachemon._cusum (one
     * row per metric, details.test = 'sequential', window_minutes = the minutes of its
     * segment): a breach when the CUSUM statistic reaches auditor.cusum_h and the value over
     * its segment, without its worst minute, is beyond the warning threshold. It finds a threshold-level breach of a
     * busy implementation in minutes and of a quiet one as soon as the evidence allows,
     * without waiting for a long window to fill; run_auditor opens it like a critical breach.
     */
    RETURN QUERY
    WITH r AS (
        SELECT * FROM cachemon._auditor_rule('hit_rate_drop')
    ), t AS MATERIALIZED (
        SELECT k.k, s.*
          FROM cachemon._auditor_windows(p_window) AS k (k)
         CROSS JOIN LATERAL cachemon._window_stats(
             pg_catalog.date_trunc('minute', p_now, 'UTC') - pg_catalog.make_interval(mins => k.k),
             pg_catalog.date_trunc('minute', p_now, 'UTC')) AS s
    ), x AS (
        SELECT t.implementation_type, t.k AS minutes, t.loo_hits, t.loo_lookups,
               100.0::double precision * t.loo_hits / NULLIF(t.loo_lookups, 0) AS observed, t.hit_rate AS whole,
               coalesce(cachemon._baseline_pooled_at(b, 'hit_rate', pg_catalog.date_trunc('minute', p_now, 'UTC')),
                        cachemon._baseline_expected(b, 'hit_rate', pg_catalog.date_trunc('minute', p_now, 'UTC')))
                   AS base,
               coalesce((b.statistics -> 'dispersion' ->> 'hit_rate_tau')::double precision, 0) AS tau
          FROM t
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
    ), d AS (
        SELECT x.*,
               100.0 * (x.base - x.observed) / NULLIF(x.base, 0) AS deviation,
               (x.base - x.observed) / 100.0
                   / NULLIF(sqrt((x.base / 100.0) * (1 - x.base / 100.0) / NULLIF(x.loo_lookups, 0)
                                 + power(x.tau / 100.0, 2)), 0) AS z,
               x.loo_lookups >= r.min_requests AS enough
          FROM x CROSS JOIN r
    )
    SELECT d.implementation_type, 'hit_rate_drop', r.category, j.state, j.severity,
           'hit_rate', d.observed, d.base, -d.deviation, d.loo_lookups, d.z,
           pg_catalog.format('hit rate of %s is %s%% vs baseline %s%% over %s minutes, %s lookups without the worst minute (%s%% lower)',
               d.implementation_type, cachemon._fmt(d.observed, 1), cachemon._fmt(d.base, 1),
               d.minutes, cachemon._fmt(d.loo_lookups, 0), cachemon._fmt(d.deviation, 1)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               v_rec,
               d.implementation_type) END,
           pg_catalog.jsonb_build_object('z', round(d.z::numeric, 2), 'tau', d.tau,
               'window_minutes', d.minutes, 'enough', d.enough,
               'whole_window_hit_rate', d.whole)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(d.deviation, d.z >= r.significance_z, d.enough, r) AS j;
    RETURN QUERY
    SELECT c.implementation_type, 'hit_rate_drop', r.category, j.state, j.severity,
           'hit_rate', c.observed, c.base, -(100.0 * (c.base - c.observed) / NULLIF(c.base, 0)),
           c.events::bigint, c.statistic,
           pg_catalog.format('hit rate of %s is %s%% vs baseline %s%% over the last %s minutes without the worst one, %s lookups (%s%% lower; sequential test %s of %s)',
               c.implementation_type, cachemon._fmt(c.observed, 1), cachemon._fmt(c.base, 1),
               c.segment_minutes, cachemon._fmt(c.events, 0),
               cachemon._fmt(100.0 * (c.base - c.observed) / NULLIF(c.base, 0), 1),
               cachemon._fmt(c.statistic, 1), cachemon._fmt(c.threshold, 1)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(v_rec, c.implementation_type) END,
           pg_catalog.jsonb_build_object('test', 'sequential', 'cusum', round(c.statistic::numeric, 2),
               'cusum_threshold', c.threshold, 'design', c.design, 'segment_start', c.segment_start,
               'recent', round(c.recent::numeric, 2), 'recovery', round(c.recovery::numeric, 2),
               'misses', c.exceedances, 'expected_misses', round(c.expected_exceedances::numeric, 1),
               'window_minutes', c.segment_minutes, 'enough', false)
      FROM cachemon._cusum(p_now) AS c CROSS JOIN cachemon._auditor_rule('hit_rate_drop') AS r
     CROSS JOIN LATERAL cachemon._judge(100.0 * (c.base - c.observed) / NULLIF(c.base, 0),
                                        c.statistic >= c.threshold AND c.recent > 0, true, r) AS j
     WHERE c.metric = 'hit_rate' AND c.segment_minutes > 0;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_hit_rate_drop(timestamptz, interval) IS
    'Auditor rule hit_rate_drop: pooled hit rate (without the worst minute) below the baseline''s pooled hour-of-day rate by more than the thresholds, significant against binomial noise plus the baseline''s overdispersion, over 2..60-minute windows.';

REVOKE ALL ON FUNCTION cachemon._rule_hit_rate_drop(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_hit_rate_drop(timestamptz, interval) TO cachemon_reader, cachemon_admin;

-- sql/functions/_rule_migration.sql
CREATE OR REPLACE FUNCTION cachemon._rule_migration(p_now timestamptz, p_window interval)
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Migration: the candidate implementation (params.candidate, default 'new') worse than
     * the reference (params.reference, default 'legacy') over the same window, so traffic
     * patterns and the time of day affect both alike. Three rows for the candidate:
     * hit rate lower by hit_rate_drop_pct percent (relative), average response time higher
     * by response_time_increase_pct percent, error rate higher by error_rate_increase_points
     * points. The deviation is the multiple of that margin (warning 1, critical 2, clear 0.5
     * by default). Significance: a two-proportion z-test for the rates; for response time the
     * difference of the averages over the standard error of minute averages (the reference's
     * robust per-minute spread from its baseline, or its spread within the window, at least
     * 1% of its average) times sqrt(1/k_candidate + 1/k_reference), and since revision 0011
     * at least the standard error the requests themselves give, sqrt(var_c/n_c + var_r/n_r)
     * with each side's latency variance over the window's sketches: an average is moved at
     * will by a few very slow requests (0.5% of requests 10-40x slower put one or two in
     * every 5-minute window at night, and opened critical findings), and those same
     * requests make the variance large; a real slowdown of every request does not. Both
     * sides need min_requests.
     * No baseline needed: this is the comparison a migration is about.
     * Since revision 0007 each side is judged without its worst minute of the window
     * (cachemon._window_stats, loo_*) and only over fully rolled-up minutes, so one stalled
     * minute of the candidate cannot open a finding; run_auditor groups a migration finding
     * with the candidate's other findings of the same incident.
     */
    RETURN QUERY
    WITH w AS (
        SELECT pg_catalog.date_trunc('minute', p_now, 'UTC') AS t_end,
               pg_catalog.date_trunc('minute', p_now, 'UTC') - p_window AS t_start,
               (extract(epoch FROM p_window) / 60)::integer AS minutes
    ), r AS (
        SELECT * FROM cachemon._auditor_rule('migration')
    ), p AS (
        SELECT r.params ->> 'candidate' AS cand, r.params ->> 'reference' AS ref,
               coalesce((r.params ->> 'hit_rate_drop_pct')::double precision, 10) AS hr_margin,
               coalesce((r.params ->> 'response_time_increase_pct')::double precision, 25) AS rt_margin,
               coalesce((r.params ->> 'error_rate_increase_points')::double precision, 1) AS er_margin
          FROM r
    ), t AS (
        SELECT s.implementation_type, s.loo_hits AS hits, s.loo_lookups AS lookups,
               100.0::double precision * s.loo_hits / NULLIF(s.loo_lookups, 0) AS hit_rate,
               s.loo_errors AS errors, s.loo_operations AS operations,
               100.0::double precision * s.loo_errors / NULLIF(s.loo_operations, 0) AS error_rate,
               s.loo_avg_response_time_ms AS avg_response_time_ms,
               s.loo_latency_count AS latency_count
          FROM w CROSS JOIN LATERAL cachemon._window_stats(w.t_start, w.t_end) AS s
    ), mins AS MATERIALIZED (
        -- the window's minutes of both sides, read once: the minute average, and the timed
        -- requests with the first two moments of their latencies from the minute's sketch
        -- (each key at the value it stands for; none without a sketch)
        SELECT m.implementation_type, m.latency_count, m.latency_sum,
               coalesce((m.latency_sketch).zero_count, 0) + q.n AS n, q.s1, q.s2
          FROM w CROSS JOIN p
          JOIN cachemon.cache_metrics_1min AS m
            ON m.implementation_type IN (p.cand, p.ref)
           AND m.bucket >= w.t_start AND m.bucket < w.t_end
         CROSS JOIN LATERAL (
               SELECT coalesce(sum(u.c), 0) AS n, coalesce(sum(u.c * v.v), 0) AS s1,
                      coalesce(sum(u.c * v.v * v.v), 0) AS s2
                 FROM unnest((m.latency_sketch).keys, (m.latency_sketch).counts) AS u (k, c)
                CROSS JOIN LATERAL (SELECT cachemon.sketch_value(u.k) AS v) AS v) AS q
    ), lat AS (
        SELECT count(*) FILTER (WHERE m.implementation_type = p.cand) AS k_cand,
               count(*) FILTER (WHERE m.implementation_type = p.ref) AS k_ref,
               stddev_samp(m.latency_sum / m.latency_count)
                   FILTER (WHERE m.implementation_type = p.ref) AS sd_ref,
               (SELECT cachemon._baseline_scale(b, 'avg_response_time_ms', w.t_end - p_window / 2)
                  FROM cachemon.cache_baseline_metrics AS b
                 WHERE b.implementation_type = p.ref AND b.is_active) AS baseline_scale
          FROM w CROSS JOIN p
          JOIN mins AS m ON m.latency_count > 0
         GROUP BY w.t_end, p.ref
    ), req AS (
        -- the standard error of the difference of the two averages from the requests'
        -- own variance: a heavy tail (a few requests 100x slower) makes it large
        SELECT sqrt(sum(greatest(mm.s2 - mm.s1 * mm.s1 / mm.n, 0) / greatest(mm.n - 1, 1) / mm.n)) AS se
          FROM (SELECT sum(m.n) AS n, sum(m.s1) AS s1, sum(m.s2) AS s2
                  FROM mins AS m GROUP BY m.implementation_type) AS mm
         WHERE mm.n > 0
    ), x AS (
        SELECT p.cand, p.ref, w.minutes, v.*
          FROM w CROSS JOIN p CROSS JOIN lat CROSS JOIN req
          JOIN t AS c ON c.implementation_type = p.cand
          JOIN t AS f ON f.implementation_type = p.ref
         CROSS JOIN LATERAL (VALUES
             ('hit_rate', 'hit rate', '%', c.hit_rate, f.hit_rate,
              100.0 * (f.hit_rate - c.hit_rate) / NULLIF(f.hit_rate, 0) / p.hr_margin,
              cachemon._two_proportion_z(f.hits, f.lookups, c.hits, c.lookups),
              least(c.lookups, f.lookups), c.lookups, f.lookups, 'lookups'),
             ('avg_response_time_ms', 'average response time', ' ms',
              c.avg_response_time_ms, f.avg_response_time_ms,
              100.0 * (c.avg_response_time_ms - f.avg_response_time_ms)
                  / NULLIF(f.avg_response_time_ms, 0) / p.rt_margin,
              (c.avg_response_time_ms - f.avg_response_time_ms)
                  / greatest(greatest(coalesce(lat.baseline_scale, 0), coalesce(lat.sd_ref, 0),
                                      0.01 * f.avg_response_time_ms, 1e-9)
                             * sqrt(1.0 / greatest(lat.k_cand, 1) + 1.0 / greatest(lat.k_ref, 1)),
                             coalesce(req.se, 0)),
              least(c.latency_count, f.latency_count),
              c.latency_count, f.latency_count, 'timed requests'),
             ('error_rate', 'error rate', '%', c.error_rate, f.error_rate,
              (c.error_rate - f.error_rate) / p.er_margin,
              cachemon._two_proportion_z(c.errors, c.operations, f.errors, f.operations),
              least(c.operations, f.operations), c.operations, f.operations, 'operations')
         ) AS v (metric, label, unit, observed, base, score, z, volume, n_cand, n_ref, noun)
    )
    SELECT x.cand, 'migration', r.category, j.state, j.severity, x.metric, x.observed, x.base,
           CASE WHEN x.metric = 'error_rate' THEN x.observed - x.base
                ELSE 100.0 * (x.observed - x.base) / NULLIF(x.base, 0) END,
           x.volume, x.z,
           pg_catalog.format('%s of %s is %s%s vs %s%s for %s over the same %s minutes (%s vs %s %s)',
               x.label, x.cand, cachemon._fmt(x.observed, 2), x.unit, cachemon._fmt(x.base, 2), x.unit,
               x.ref, x.minutes, cachemon._fmt(x.n_cand, 0), cachemon._fmt(x.n_ref, 0), x.noun),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               'Hold the rollout of %s (route traffic back to %s if users notice) until its %s matches %s; compare the two side by side with SELECT * FROM cachemon.get_cache_performance_summary(NULL, ''1 hour'') and look at what differs in %s: key construction, TTLs, serialisation, connection settings.',
               x.cand, x.ref, x.label, x.ref, x.cand) END,
           pg_catalog.jsonb_build_object('reference', x.ref, 'z', round(x.z::numeric, 2),
               'margin_multiple', round(x.score::numeric, 2), 'window_minutes', x.minutes,
               'enough', x.volume >= r.min_requests)
      FROM x CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(x.score, x.z >= r.significance_z,
                                        x.volume >= r.min_requests, r) AS j;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_migration(timestamptz, interval) IS
    'Auditor rule migration: the candidate implementation (params.candidate) worse than the reference (params.reference) over the same window in hit rate, response time or error rate, significant for the volume.';

REVOKE ALL ON FUNCTION cachemon._rule_migration(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_migration(timestamptz, interval) TO cachemon_reader, cachemon_admin;

-- sql/functions/_rule_no_data.sql
CREATE OR REPLACE FUNCTION cachemon._rule_no_data(p_now timestamptz, p_window interval)
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * No data: an implementation with an active baseline whose 1-minute rows stopped. The
     * deviation is the number of whole minutes since its last minute with events (looked
     * for over 4 x critical_threshold minutes; longer counts as that). Breach from
     * warning_threshold minutes (critical from critical_threshold) when its baseline
     * expected at least min_requests operations in those minutes (requests per minute of
     * that hour of day x silent minutes), so a night-time lull does not alarm; clear once
     * the last minute had data. p_window is not used: silence is measured from p_now.
     * Retire an implementation by deactivating its baseline.
     * Since revision 0007 the expectation is the baseline's pooled requests per minute of
     * that hour of day over EVERY minute (silent and quiet ones included), so a
     * 5-events-a-minute implementation expects 5, not the 13 of its busier minutes, and the
     * night has its own (lower) expectation: P(silence | expected) = exp(-expected) is tiny
     * once expected * silent minutes reaches min_requests.
     * Since revision 0007 (second pass) the expectation is also at most the implementation's
     * own rate over the 30 minutes before its silence began (when it had events then): a
     * benign lull (traffic at a tenth of the hour's usual) makes a few silent minutes of a
     * quiet implementation likely, and silence is judged against the traffic it interrupts,
     * not against the hour's usual. An outage of a busy implementation still opens after
     * warning_threshold minutes; after a lull it takes longer (the evidence is weaker).
     */
    RETURN QUERY
    WITH w AS (
        SELECT pg_catalog.date_trunc('minute', p_now, 'UTC') AS t_end
    ), r AS (
        SELECT * FROM cachemon._auditor_rule('no_data')
    ), x0 AS (
        SELECT b.implementation_type, w.t_end,
               (4 * r.critical_threshold)::integer AS lookback,
               coalesce(cachemon._baseline_pooled_at(b, 'requests_per_minute', w.t_end),
                        cachemon._baseline_expected(b, 'requests_per_minute', w.t_end)) AS baseline_rpm,
               (SELECT max(m.bucket) FROM cachemon.cache_metrics_1min AS m
                 WHERE m.implementation_type = b.implementation_type
                   AND m.bucket < w.t_end
                   AND m.bucket >= w.t_end - pg_catalog.make_interval(mins => (4 * r.critical_threshold)::integer)
                   AND m.total_events > 0) AS last_bucket
          FROM cachemon.cache_baseline_metrics AS b CROSS JOIN w CROSS JOIN r
         WHERE b.is_active
    ), x AS (
        SELECT x0.implementation_type, x0.t_end, x0.lookback, x0.last_bucket,
               CASE WHEN x0.last_bucket IS NULL THEN x0.baseline_rpm
                    ELSE least(x0.baseline_rpm,
                               (SELECT sum(m.total_events)::double precision / 30
                                  FROM cachemon.cache_metrics_1min AS m
                                 WHERE m.implementation_type = x0.implementation_type
                                   AND m.bucket > x0.last_bucket - interval '30 minutes'
                                   AND m.bucket <= x0.last_bucket)) END AS expected_rpm
          FROM x0
    ), d AS (
        SELECT x.*,
               coalesce(extract(epoch FROM x.t_end - x.last_bucket) / 60 - 1, x.lookback)::double precision
                   AS silent
          FROM x
    )
    SELECT d.implementation_type, 'no_data', r.category, j.state, j.severity,
           'silent_minutes', d.silent, d.expected_rpm, -100.0::double precision,
           (d.expected_rpm * d.silent)::bigint, d.silent,
           CASE WHEN d.silent = 0 THEN pg_catalog.format('%s sent events in the last minute', d.implementation_type)
                ELSE pg_catalog.format('%s has sent no events for %s%s minutes (since %s); its baseline expects about %s operations per minute',
                    d.implementation_type, CASE WHEN d.last_bucket IS NULL THEN 'at least ' ELSE '' END,
                    cachemon._fmt(d.silent, 0),
                    coalesce(pg_catalog.to_char((d.last_bucket + interval '1 minute') AT TIME ZONE 'UTC',
                                                'YYYY-MM-DD HH24:MI "UTC"'), 'before the look-back'),
                    cachemon._fmt(d.expected_rpm, 0)) END,
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               'Check that the application serving %s is up and that its collector can reach the database (CACHE_METRICS_ENABLED, CACHEMON_DATABASE_URL, collector stats: failed batches); check that cachemon.tick runs (rollups). If %s was retired on purpose, deactivate its baseline: UPDATE cachemon.cache_baseline_metrics SET is_active = false WHERE implementation_type = %L.',
               d.implementation_type, d.implementation_type, d.implementation_type) END,
           pg_catalog.jsonb_build_object('last_bucket', d.last_bucket,
               'expected_operations', round((d.expected_rpm * d.silent)::numeric, 0))
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(
         d.silent, true,
         d.silent < r.clear_threshold OR d.expected_rpm * d.silent >= r.min_requests, r) AS j;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_no_data(timestamptz, interval) IS
    'Auditor rule no_data: an implementation with an active baseline sent no events for warning_threshold minutes although its baseline expected at least min_requests operations in them.';

REVOKE ALL ON FUNCTION cachemon._rule_no_data(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_no_data(timestamptz, interval) TO cachemon_reader, cachemon_admin;

-- sql/functions/_rule_response_time.sql
CREATE OR REPLACE FUNCTION cachemon._rule_response_time(p_now timestamptz, p_window interval)
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_rec constant text := 'Look at %s''s backend: CPU, memory and network latency of the cache server, connection pool saturation, and value sizes (large values serialise slowly); if only p99 rose, look for slow keys or lock contention.';
BEGIN
    /*
     * Response time above baseline, over every window of cachemon._auditor_windows, one row
     * per window and metric: p50, p95 and p99 of the window (quantiles of the merged minute
     * sketches, within 0.9%); not the average, which a few very slow requests move at will
     * (the migration rule and verdict still report it). All without the window's worst minute (loo:
     * one slow minute, or one request 20x slower in a quiet minute, cannot open a finding).
     * Expected: the baseline's pooled quantile of that hour of day (merged sketches of the
     * baseline window), and for the average the hour's median minute average.
     * Breach when higher by at least warning_threshold percent (critical from
     * critical_threshold) and significant: for a quantile, z = ln(observed / expected) /
     * (s / sqrt(minutes)), s the baseline's robust (MAD) spread of ln(minute quantile /
     * expected) (statistics.dispersion.pNN_log_sd, at least 0.05), and the window must hold
     * at least 10 requests beyond the quantile (200 for p95, 1000 for p99), AND the
     * quantile's distribution-free lower confidence bound (loo_pNN_lower_ms: the value at rank
     * N (q - 3.09 sqrt(q (1 - q) / N)) of the window's sketch) must itself exceed the expected
     * value by clear_threshold percent (12.5%), which a tail made of a handful of very slow
     * requests, or the drift of an hour's quantile from its profile, cannot do. A tail-only
     * regression shows in p99 first.
     * Since revision 0009 the rule also judges the sequential test of cachemon._cusum (one
     * row per metric, details.test = 'sequential', window_minutes = the minutes of its
     * segment): a breach when the CUSUM statistic reaches auditor.cusum_h and the value over
     * its segment, without its worst minute, is beyond the warning threshold. It finds a threshold-level breach of a
     * busy implementation in minutes and of a quiet one as soon as the evidence allows,
     * without waiting for a long window to fill; run_auditor opens it like a critical breach.
     */
    RETURN QUERY
    WITH r AS (
        SELECT * FROM cachemon._auditor_rule('response_time')
    ), t AS MATERIALIZED (
        SELECT k.k, s.*
          FROM cachemon._auditor_windows(p_window) AS k (k)
         CROSS JOIN LATERAL cachemon._window_stats(
             pg_catalog.date_trunc('minute', p_now, 'UTC') - pg_catalog.make_interval(mins => k.k),
             pg_catalog.date_trunc('minute', p_now, 'UTC')) AS s
    ), x AS (
        SELECT t.implementation_type, t.k AS minutes, greatest(t.data_minutes - 1, 1) AS kk,
               t.loo_latency_count, v.metric, v.label, v.observed, v.q, v.lower,
               CASE WHEN v.metric = 'avg_response_time_ms'
                    THEN cachemon._baseline_expected(b, v.metric, pg_catalog.date_trunc('minute', p_now, 'UTC'))
                    ELSE coalesce(cachemon._baseline_pooled_at(b, v.metric, pg_catalog.date_trunc('minute', p_now, 'UTC')),
                                  cachemon._baseline_expected(b, v.metric, pg_catalog.date_trunc('minute', p_now, 'UTC')))
               END AS base,
               CASE WHEN v.metric = 'avg_response_time_ms'
                    THEN cachemon._baseline_scale(b, v.metric, pg_catalog.date_trunc('minute', p_now, 'UTC'))
                    ELSE greatest(coalesce((b.statistics -> 'dispersion' ->> v.sd_key)::double precision,
                                           -- no sketches in the baseline: the relative robust
                                           -- spread of the minute values instead
                                           cachemon._baseline_scale(b, v.metric, pg_catalog.date_trunc('minute', p_now, 'UTC'))
                                           / NULLIF(cachemon._baseline_expected(b, v.metric, pg_catalog.date_trunc('minute', p_now, 'UTC')), 0),
                                           0.05), 0.05)
               END AS scale
          FROM t
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
         CROSS JOIN LATERAL (VALUES
             ('p50_response_time_ms', 'p50 response time', t.loo_p50_response_time_ms, 0.5, 'p50_log_sd', t.loo_p50_lower_ms),
             ('p95_response_time_ms', 'p95 response time', t.loo_p95_response_time_ms, 0.95, 'p95_log_sd', t.loo_p95_lower_ms),
             ('p99_response_time_ms', 'p99 response time', t.loo_p99_response_time_ms, 0.99, 'p99_log_sd', t.loo_p99_lower_ms)
         ) AS v (metric, label, observed, q, sd_key, lower)
    ), d AS (
        SELECT x.*,
               100.0 * (x.observed - x.base) / NULLIF(x.base, 0) AS deviation,
               CASE WHEN x.q IS NULL
                    THEN (x.observed - x.base) / (x.scale / sqrt(x.kk))
                    ELSE ln(greatest(x.observed, 1e-6) / greatest(x.base, 1e-6)) / (x.scale / sqrt(x.kk))
               END AS z,
               x.loo_latency_count >= r.min_requests
                   AND (x.q IS NULL OR x.loo_latency_count * (1 - x.q) >= 10) AS enough
          FROM x CROSS JOIN r
         WHERE x.base IS NOT NULL
    )
    SELECT d.implementation_type, 'response_time', r.category, j.state, j.severity,
           d.metric, d.observed, d.base, d.deviation, d.loo_latency_count, d.z,
           pg_catalog.format('%s of %s is %s ms vs baseline %s ms over %s minutes, %s timed requests without the worst minute (%s%% higher)',
               d.label, d.implementation_type, cachemon._fmt(d.observed, 1), cachemon._fmt(d.base, 1),
               d.minutes, cachemon._fmt(d.loo_latency_count, 0), cachemon._fmt(d.deviation, 1)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               v_rec,
               d.implementation_type) END,
           pg_catalog.jsonb_build_object('z', round(d.z::numeric, 2), 'scale', d.scale,
               'window_minutes', d.minutes, 'enough', d.enough,
               'lower_bound_ms', d.lower)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(d.deviation,
         d.z >= r.significance_z
         AND coalesce(d.lower > d.base * (1 + r.clear_threshold / 100.0), false), d.enough, r) AS j;
    RETURN QUERY
    SELECT c.implementation_type, 'response_time', r.category, j.state, j.severity,
           c.metric, c.observed, c.base, 100.0 * (c.observed - c.base) / NULLIF(c.base, 0),
           c.events::bigint, c.statistic,
           pg_catalog.format('%s of %s is %s ms vs baseline %s ms over the last %s minutes without the worst one: %s of %s timed requests above the baseline''s %s where it expects %s (%s%% higher; sequential test %s of %s)',
               replace(c.metric, '_response_time_ms', '') || ' response time',
               c.implementation_type, cachemon._fmt(c.observed, 1), cachemon._fmt(c.base, 1),
               c.segment_minutes, cachemon._fmt(c.exceedances, 0), cachemon._fmt(c.events, 0),
               replace(c.metric, '_response_time_ms', ''), cachemon._fmt(c.expected_exceedances, 1),
               cachemon._fmt(100.0 * (c.observed - c.base) / NULLIF(c.base, 0), 1),
               cachemon._fmt(c.statistic, 1), cachemon._fmt(c.threshold, 1)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(v_rec, c.implementation_type) END,
           pg_catalog.jsonb_build_object('test', 'sequential', 'cusum', round(c.statistic::numeric, 2),
               'cusum_threshold', c.threshold, 'design', c.design, 'segment_start', c.segment_start,
               'recent', round(c.recent::numeric, 2), 'recovery', round(c.recovery::numeric, 2),
               'above', c.exceedances, 'expected_above', round(c.expected_exceedances::numeric, 1),
               'window_minutes', c.segment_minutes, 'enough', false)
      FROM cachemon._cusum(p_now) AS c CROSS JOIN cachemon._auditor_rule('response_time') AS r
     CROSS JOIN LATERAL cachemon._judge(100.0 * (c.observed - c.base) / NULLIF(c.base, 0),
                                        c.statistic >= c.threshold AND c.recent > 0, true, r) AS j
     WHERE c.metric LIKE 'p%\_response\_time\_ms' AND c.segment_minutes > 0;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_response_time(timestamptz, interval) IS
    'Auditor rule response_time: window p50/p95/p99 (merged sketches) and average, without the worst minute, above the baseline (pooled hour-of-day quantiles) by more than the thresholds, significant against the baseline''s robust spread, over 2..60-minute windows.';

REVOKE ALL ON FUNCTION cachemon._rule_response_time(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_response_time(timestamptz, interval) TO cachemon_reader, cachemon_admin;

-- sql/functions/_setting.sql
CREATE OR REPLACE FUNCTION cachemon._setting(p_name text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_value text;
BEGIN
    /* One place that reads cachemon._settings, so a missing name is a clear error. */
    SELECT s.value INTO v_value FROM cachemon._settings AS s WHERE s.name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'cachemon setting % does not exist', pg_catalog.quote_literal(p_name)
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT name, value FROM cachemon._settings lists the settings';
    END IF;
    RETURN v_value;
END
$function$;

COMMENT ON FUNCTION cachemon._setting(text) IS
    'Internal: the value of a row of cachemon._settings as text; an unknown name is an error.';

REVOKE ALL ON FUNCTION cachemon._setting(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._setting(text)
    TO cachemon_reader, cachemon_writer, cachemon_admin;

-- sql/functions/_settings_validate.sql
CREATE OR REPLACE FUNCTION cachemon._settings_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_rule cachemon._setting_rules;
    v_pair record;
    v_ok boolean;
BEGIN
    /*
     * Constraint trigger on cachemon._settings (AFTER INSERT OR UPDATE, FOR EACH ROW,
     * DEFERRABLE INITIALLY DEFERRED: checked at commit, so several settings may change in
     * one transaction and only the end state must hold). Reads the setting's rule in
     * cachemon._setting_rules: the value must read as its kind and lie within
     * [min_value, max_value]; then every cross-key rule (not_above) of the whole table is
     * checked, e.g. retention.raw <= retention.1min <= retention.1hour, without which
     * maintenance trims minutes that raw events still hold and a late event rebuilds an
     * hour from a fraction of its minutes. Whichever way a setting is written (UPDATE by an
     * admin, a migration, the owner), a value out of its rule is refused, naming the setting,
     * the value and the rule. Invoker rights: reading the rules needs only SELECT.
     */
    SELECT r.* INTO v_rule FROM cachemon._setting_rules AS r WHERE r.name = NEW.name;
    IF FOUND THEN
        BEGIN
            v_ok := CASE v_rule.kind
                WHEN 'interval' THEN
                    NEW.value::interval BETWEEN coalesce(v_rule.min_value::interval, NEW.value::interval)
                                            AND coalesce(v_rule.max_value::interval, NEW.value::interval)
                WHEN 'integer' THEN
                    NEW.value ~ '^\s*[+-]?[0-9]+\s*$'
                    AND NEW.value::bigint BETWEEN coalesce(v_rule.min_value::bigint, NEW.value::bigint)
                                              AND coalesce(v_rule.max_value::bigint, NEW.value::bigint)
                WHEN 'number' THEN
                    NEW.value::double precision BETWEEN coalesce(v_rule.min_value::double precision, '-Infinity')
                                                    AND coalesce(v_rule.max_value::double precision, 'Infinity')
                    AND NEW.value::double precision NOT IN ('Infinity', '-Infinity', 'NaN')
                WHEN 'integers' THEN
                    NEW.value ~ '^\s*\{\s*[0-9]{1,9}(\s*,\s*[0-9]{1,9}){0,19}\s*\}\s*$'
                    AND NOT EXISTS (
                        SELECT FROM pg_catalog.unnest(NEW.value::bigint[]) AS e(v)
                         WHERE e.v < coalesce(v_rule.min_value::bigint, e.v)
                            OR e.v > coalesce(v_rule.max_value::bigint, e.v))
                WHEN 'boolean' THEN NEW.value::boolean IS NOT NULL
                ELSE true
            END;
        EXCEPTION WHEN data_exception THEN
            v_ok := false;
        END;
        IF NOT v_ok THEN
            RAISE EXCEPTION 'cachemon setting % = % is invalid: it must be % from % to %',
                NEW.name, pg_catalog.quote_literal(NEW.value), CASE v_rule.kind
                    WHEN 'integer' THEN 'an integer' WHEN 'number' THEN 'a number'
                    WHEN 'integers' THEN 'a list of 1 to 20 integers such as {2,5,15}, each'
                    WHEN 'boolean' THEN 'true or false' ELSE 'an ' || v_rule.kind END,
                coalesce(v_rule.min_value, '(no minimum)'), coalesce(v_rule.max_value, '(no maximum)')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The rules are in cachemon._setting_rules.';
        END IF;
    END IF;

    FOR v_pair IN
        SELECT r.name, r.kind, r.not_above, a.value AS low, b.value AS high
          FROM cachemon._setting_rules AS r
          JOIN cachemon._settings AS a ON a.name = r.name
          JOIN cachemon._settings AS b ON b.name = r.not_above
         WHERE r.not_above IS NOT NULL
    LOOP
        v_ok := CASE v_pair.kind
            WHEN 'interval' THEN v_pair.low::interval <= v_pair.high::interval
            WHEN 'integer' THEN v_pair.low::bigint <= v_pair.high::bigint
            WHEN 'number' THEN v_pair.low::double precision <= v_pair.high::double precision
            ELSE true
        END;
        IF NOT v_ok THEN
            RAISE EXCEPTION 'cachemon setting % = % may not exceed % = %',
                v_pair.name, pg_catalog.quote_literal(v_pair.low),
                v_pair.not_above, pg_catalog.quote_literal(v_pair.high)
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Retention must not shrink from raw events to 1-minute to 1-hour rows: a rollup row must outlive the rows it is built from.',
                      HINT = 'Change both settings in one transaction if needed; the rules are in cachemon._setting_rules.';
        END IF;
    END LOOP;
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION cachemon._settings_validate() IS
    'Trigger (deferred constraint trigger on _settings): a setting''s value must match its row in _setting_rules (kind, min_value, max_value) and every not_above invariant must hold (e.g. retention.raw <= retention.1min <= retention.1hour).';

REVOKE ALL ON FUNCTION cachemon._settings_validate() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._settings_validate() TO cachemon_admin;

DROP TRIGGER IF EXISTS _settings_validate ON cachemon._settings;
CREATE CONSTRAINT TRIGGER _settings_validate
    AFTER INSERT OR UPDATE ON cachemon._settings
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION cachemon._settings_validate();

-- sql/functions/_sketch_compact.sql
CREATE OR REPLACE FUNCTION cachemon._sketch_compact(p_sketch cachemon.ddsketch)
RETURNS cachemon.ddsketch
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Sorted, distinct keys with summed counts: the form every stored sketch has, so that equal
     * sketches compare equal with =. Also the final function of cachemon.sketch_merge.
     */
    SELECT ROW(coalesce(p_sketch.zero_count, 0),
               coalesce(pg_catalog.array_agg(g.k ORDER BY g.k), '{}'),
               coalesce(pg_catalog.array_agg(g.n ORDER BY g.k), '{}'))::cachemon.ddsketch
      FROM (SELECT u.k, pg_catalog.sum(u.n)::bigint AS n
              FROM ROWS FROM (pg_catalog.unnest(p_sketch.keys), pg_catalog.unnest(p_sketch.counts)) AS u(k, n)
             GROUP BY u.k) AS g;
$function$;

COMMENT ON FUNCTION cachemon._sketch_compact(cachemon.ddsketch) IS
    'Internal: a cachemon.ddsketch with sorted distinct keys and summed counts (final function of sketch_merge).';

REVOKE ALL ON FUNCTION cachemon._sketch_compact(cachemon.ddsketch) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._sketch_compact(cachemon.ddsketch) TO cachemon_reader, cachemon_admin;

-- sql/functions/_sketch_ln_gamma.sql
CREATE OR REPLACE FUNCTION cachemon._sketch_ln_gamma()
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * ln(gamma) of every cachemon.ddsketch, gamma = (1 + a) / (1 - a) with relative accuracy
     * a = 0.009. A key k covers (gamma^(k-1), gamma^k] and stands for 2 gamma^k / (gamma + 1),
     * which is within a of every value of the key. The contract asks for merged quantiles within
     * 1% of percentile_disc; 0.9% keeps a margin for floating-point rounding of ln() at key
     * boundaries. Sketches made with another gamma cannot be merged: changing this constant
     * needs a migration that rebuilds or drops stored sketches.
     */
    SELECT pg_catalog.ln((1.009)::double precision / (0.991)::double precision);
$function$;

COMMENT ON FUNCTION cachemon._sketch_ln_gamma() IS
    'Internal: ln(gamma) of cachemon.ddsketch keys (relative accuracy 0.9%); a constant shared by every stored sketch.';

REVOKE ALL ON FUNCTION cachemon._sketch_ln_gamma() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._sketch_ln_gamma() TO cachemon_reader, cachemon_admin;

-- sql/functions/_sketch_merge_step.sql
CREATE OR REPLACE FUNCTION cachemon._sketch_merge_step(p_state cachemon.ddsketch, p_next cachemon.ddsketch)
RETURNS cachemon.ddsketch
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_merged cachemon.ddsketch;
BEGIN
    /*
     * Transition (and combine) function of cachemon.sketch_merge. It appends the next sketch's
     * keys and counts and compacts only when the state holds more than 8192 keys: appending is a
     * copy, compacting is a sort, so this keeps merging n sketches near O(total keys) instead of
     * one sort per row. The final function compacts what remains.
     */
    v_merged := ROW(p_state.zero_count + p_next.zero_count,
                    p_state.keys || p_next.keys,
                    p_state.counts || p_next.counts)::cachemon.ddsketch;
    IF pg_catalog.cardinality(v_merged.keys) > 8192 THEN
        v_merged := cachemon._sketch_compact(v_merged);
    END IF;
    RETURN v_merged;
END
$function$;

COMMENT ON FUNCTION cachemon._sketch_merge_step(cachemon.ddsketch, cachemon.ddsketch) IS
    'Internal: transition and combine function of the aggregate cachemon.sketch_merge.';

REVOKE ALL ON FUNCTION cachemon._sketch_merge_step(cachemon.ddsketch, cachemon.ddsketch) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._sketch_merge_step(cachemon.ddsketch, cachemon.ddsketch)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/_two_proportion_z.sql
CREATE OR REPLACE FUNCTION cachemon._two_proportion_z(
    p_x1 double precision,
    p_n1 double precision,
    p_x2 double precision,
    p_n2 double precision
)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Two-proportion z statistic (pooled): (x1/n1 - x2/n2) / sqrt(p (1 - p) (1/n1 + 1/n2)),
     * p = (x1 + x2) / (n1 + n2). Positive when the first proportion is larger. NULL without
     * trials on either side; 0 when both proportions are 0 or 1 (no variance, no evidence).
     */
    SELECT CASE WHEN p_n1 IS NULL OR p_n2 IS NULL OR p_n1 <= 0 OR p_n2 <= 0 THEN NULL
                WHEN v.p <= 0 OR v.p >= 1 THEN 0
                ELSE (p_x1 / p_n1 - p_x2 / p_n2) / sqrt(v.p * (1 - v.p) * (1 / p_n1 + 1 / p_n2))
           END
      FROM (SELECT (p_x1 + p_x2) / NULLIF(p_n1 + p_n2, 0) AS p) AS v;
$function$;

COMMENT ON FUNCTION cachemon._two_proportion_z(double precision, double precision, double precision, double precision) IS
    'Internal: pooled two-proportion z statistic of x1/n1 against x2/n2 (positive when the first is larger).';

REVOKE ALL ON FUNCTION cachemon._two_proportion_z(double precision, double precision, double precision, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._two_proportion_z(double precision, double precision, double precision, double precision)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/_wilson_bound.sql
CREATE OR REPLACE FUNCTION cachemon._wilson_bound(
    p_successes double precision,
    p_trials double precision,
    p_z double precision,
    p_upper boolean
)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The Wilson score bound of a proportion (0..1): the set of true proportions a one-sided
     * score test at p_z does not reject. "Rate significantly above X" is "lower bound > X".
     * Unlike the textbook normal interval it behaves for few events and rates near 0 or 1,
     * which is exactly where quiet minutes would otherwise raise false alarms.
     * NULL without trials.
     */
    SELECT CASE WHEN p_trials IS NULL OR p_trials <= 0 THEN NULL ELSE
        (v.p + p_z * p_z / (2 * p_trials)
         + CASE WHEN p_upper THEN 1 ELSE -1 END
           * p_z * sqrt(greatest(v.p * (1 - v.p) / p_trials + p_z * p_z / (4 * p_trials * p_trials), 0)))
        / (1 + p_z * p_z / p_trials)
    END
      FROM (SELECT least(greatest(p_successes / NULLIF(p_trials, 0), 0), 1) AS p) AS v;
$function$;

COMMENT ON FUNCTION cachemon._wilson_bound(double precision, double precision, double precision, boolean) IS
    'Internal: Wilson score bound (upper or lower, one-sided at z) of successes/trials as a proportion 0..1; NULL without trials.';

REVOKE ALL ON FUNCTION cachemon._wilson_bound(double precision, double precision, double precision, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._wilson_bound(double precision, double precision, double precision, boolean)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/_window_stats.sql
CREATE OR REPLACE FUNCTION cachemon._window_stats(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (
    implementation_type text,
    minutes integer,
    data_minutes integer,
    pending_minutes integer,
    hits bigint,
    lookups bigint,
    errors bigint,
    operations bigint,
    evictions bigint,
    latency_count bigint,
    hit_rate double precision,
    error_rate double precision,
    eviction_rate double precision,
    requests_per_minute double precision,
    avg_response_time_ms double precision,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision,
    avg_cache_size double precision,
    loo_hits bigint,
    loo_lookups bigint,
    loo_errors bigint,
    loo_operations bigint,
    loo_evictions bigint,
    loo_eviction_lookups bigint,
    loo_latency_count bigint,
    loo_avg_response_time_ms double precision,
    loo_p50_response_time_ms double precision,
    loo_p95_response_time_ms double precision,
    loo_p99_response_time_ms double precision,
    loo_p50_lower_ms double precision,
    loo_p95_lower_ms double precision,
    loo_p99_lower_ms double precision,
    last_bucket timestamptz
)
LANGUAGE plpgsql
STABLE
ROWS 8
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_cached boolean := false;
BEGIN
    /*
     * What the rules judge, per implementation over the whole minutes of [p_from, p_to)
     * (the statistics are described at cachemon._window_stats_compute):
     *
     * - Only fully rolled-up minutes: a minute with a mark still queued in _dirty_buckets is
     *   left out (its row may be half-built) and counted in pending_minutes.
     * - Exact sums and pooled rates; window p50/p95/p99 from the merge of the minutes'
     *   latency sketches (not from averaging minute percentiles).
     * - The same without the window's single worst minute for each metric (loo_*): rules
     *   judge these, so a breach needs at least two distinct bad minutes.
     *
     * run_auditor computes every window once per run into the temporary table _cachemon_ws
     * (dropped when the run ends) and every rule reads it from here; called on its own, or
     * for a window not in that table, it computes.
     */
    IF pg_catalog.to_regclass('pg_temp._cachemon_ws_keys') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_temp._cachemon_ws_keys WHERE p_from = $1 AND p_to = $2)'
           INTO v_cached USING p_from, p_to;
    END IF;
    IF v_cached THEN
        RETURN QUERY EXECUTE 'SELECT implementation_type, minutes, data_minutes, pending_minutes, hits, lookups, errors, operations, evictions, latency_count, hit_rate, error_rate, eviction_rate, requests_per_minute, avg_response_time_ms, p50_response_time_ms, p95_response_time_ms, p99_response_time_ms, avg_cache_size, loo_hits, loo_lookups, loo_errors, loo_operations, loo_evictions, loo_eviction_lookups, loo_latency_count, loo_avg_response_time_ms, loo_p50_response_time_ms, loo_p95_response_time_ms, loo_p99_response_time_ms, loo_p50_lower_ms, loo_p95_lower_ms, loo_p99_lower_ms, last_bucket FROM pg_temp._cachemon_ws WHERE p_from = $1 AND p_to = $2'
            USING p_from, p_to;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM cachemon._window_stats_compute(p_from, p_to);
END
$function$;

COMMENT ON FUNCTION cachemon._window_stats(timestamptz, timestamptz) IS
    'Internal: per implementation over the fully rolled-up minutes of [p_from, p_to): sums, pooled rates, p50/p95/p99 from merged sketches, and the same without the worst minute of each metric (loo_*), which is what the rules judge (cached per run_auditor run).';

REVOKE ALL ON FUNCTION cachemon._window_stats(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._window_stats(timestamptz, timestamptz) TO cachemon_reader, cachemon_admin;

-- sql/functions/_window_stats_compute.sql
CREATE OR REPLACE FUNCTION cachemon._window_stats_compute(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (
    implementation_type text,
    minutes integer,
    data_minutes integer,
    pending_minutes integer,
    hits bigint,
    lookups bigint,
    errors bigint,
    operations bigint,
    evictions bigint,
    latency_count bigint,
    hit_rate double precision,
    error_rate double precision,
    eviction_rate double precision,
    requests_per_minute double precision,
    avg_response_time_ms double precision,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision,
    avg_cache_size double precision,
    loo_hits bigint,
    loo_lookups bigint,
    loo_errors bigint,
    loo_operations bigint,
    loo_evictions bigint,
    loo_eviction_lookups bigint,
    loo_latency_count bigint,
    loo_avg_response_time_ms double precision,
    loo_p50_response_time_ms double precision,
    loo_p95_response_time_ms double precision,
    loo_p99_response_time_ms double precision,
    loo_p50_lower_ms double precision,
    loo_p95_lower_ms double precision,
    loo_p99_lower_ms double precision,
    last_bucket timestamptz
)
LANGUAGE plpgsql
STABLE
ROWS 8
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * What the rules judge, per implementation over the whole minutes of [p_from, p_to):
     *
     * - Only fully rolled-up minutes: a minute with a mark still queued in _dirty_buckets is
     *   left out (its row may be half-built) and counted in pending_minutes.
     * - Exact sums and pooled rates (contract definitions). Window percentiles come from the
     *   merge of the minutes' latency sketches (within the sketch's 0.9%), not from averaging
     *   minute p95s; minute rows without a sketch fall back to the latency-weighted mean of
     *   their minute percentiles.
     * - The same once more without the window's single worst minute for each metric
     *   (loo_*: leave one out). The worst minute is the one with the largest excess over the
     *   window's own rate (most excess misses, errors, evictions; largest latency excess; the
     *   highest minute p50 and p95; for p99 the highest minute p95, since a normal minute
     *   whose p99 is one very slow request moves the window's p99 less than a minute slow
     *   throughout). loo_eviction_lookups are the lookups of the minutes loo_evictions
     *   keeps (an eviction rate needs both from the same minutes). Rules judge the loo values, so a
     *   breach needs at least two distinct bad minutes: one stalled minute, or one slow
     *   request, can never open a finding however many overlapping windows contain it.
     * - loo_pNN_lower_ms: the distribution-free lower confidence bound (one-sided, z 3.09) of
     *   each loo quantile: the sketch's value at rank N (q - 3.09 sqrt(q (1 - q) / N)). A
     *   quantile is significantly above a value only when this bound is.
     *
     * requests_per_minute = operations / minutes of the window (silence lowers it).
     * PL/pgSQL so that the body is not checked before the sketch functions exist when the
     * functions are created in name order.
     */
    RETURN QUERY
    WITH q AS MATERIALIZED (
        SELECT * FROM cachemon._queued_buckets(p_from, p_to)
    ), m AS (
        SELECT r.*,
               r.hits + r.misses AS lk,
               r.hits + r.misses + r.sets + r.errors AS ops
          FROM cachemon.cache_metrics_1min AS r
         WHERE r.bucket >= p_from AND r.bucket < p_to
           AND NOT EXISTS (SELECT 1 FROM q
                            WHERE q.bucket = r.bucket
                              AND q.implementation_type = r.implementation_type)
    ), pend AS (
        SELECT q.implementation_type, count(*)::integer AS n
          FROM q GROUP BY q.implementation_type
    ), tot AS (
        SELECT m.implementation_type,
               count(*) FILTER (WHERE m.total_events > 0)::integer AS data_minutes,
               sum(m.hits)::double precision AS hits, sum(m.lk)::double precision AS lk,
               sum(m.errors)::double precision AS errors, sum(m.ops)::double precision AS ops,
               sum(m.evictions)::double precision AS ev,
               sum(m.latency_count)::double precision AS lc,
               sum(m.latency_sum) AS ls,
               sum(m.cache_size_sum) / NULLIF(sum(m.cache_size_count), 0) AS size,
               max(m.bucket) FILTER (WHERE m.total_events > 0) AS last_bucket
          FROM m GROUP BY m.implementation_type
    ), ranked AS (
        SELECT m.*,
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY (m.lk - m.hits) - m.lk * (1 - t.hits / NULLIF(t.lk, 0)) DESC NULLS LAST,
                            m.bucket) AS w_hit,
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY m.errors - m.ops * (t.errors / NULLIF(t.ops, 0)) DESC NULLS LAST,
                            m.bucket) AS w_err,
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY m.evictions - m.lk * (t.ev / NULLIF(t.lk, 0)) DESC NULLS LAST,
                            m.bucket) AS w_ev,
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY m.latency_sum - m.latency_count * (t.ls / NULLIF(t.lc, 0)) DESC NULLS LAST,
                            m.bucket) AS w_avg,
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY m.p50_response_time_ms DESC NULLS LAST, m.bucket) AS w_p50,
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY m.p95_response_time_ms DESC NULLS LAST, m.bucket) AS w_p95,
               -- the minute that moves the window's p99 most is the one with the most
               -- requests in the window's top 1%: a minute slow throughout (high p95), not a
               -- normal minute whose p99 is one very slow request
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY m.p95_response_time_ms DESC NULLS LAST,
                            m.p99_response_time_ms DESC NULLS LAST, m.bucket) AS w_p99
          FROM m JOIN tot AS t ON t.implementation_type = m.implementation_type
    ), agg AS (
        SELECT r.implementation_type,
               sum(r.hits) FILTER (WHERE r.w_hit > 1)::bigint AS loo_hits,
               sum(r.lk) FILTER (WHERE r.w_hit > 1)::bigint AS loo_lk,
               sum(r.errors) FILTER (WHERE r.w_err > 1)::bigint AS loo_errors,
               sum(r.ops) FILTER (WHERE r.w_err > 1)::bigint AS loo_ops,
               sum(r.evictions) FILTER (WHERE r.w_ev > 1)::bigint AS loo_ev,
               sum(r.lk) FILTER (WHERE r.w_ev > 1)::bigint AS loo_ev_lk,
               sum(r.latency_count) FILTER (WHERE r.w_avg > 1)::bigint AS loo_lc,
               sum(r.latency_sum) FILTER (WHERE r.w_avg > 1)
                   / NULLIF(sum(r.latency_count) FILTER (WHERE r.w_avg > 1), 0) AS loo_avg,
               cachemon.sketch_merge(r.latency_sketch) AS sk,
               cachemon.sketch_merge(r.latency_sketch) FILTER (WHERE r.w_p50 > 1) AS sk50,
               cachemon.sketch_merge(r.latency_sketch) FILTER (WHERE r.w_p95 > 1) AS sk95,
               cachemon.sketch_merge(r.latency_sketch) FILTER (WHERE r.w_p99 > 1) AS sk99,
               bool_or(r.latency_sketch IS NULL AND r.latency_count > 0) AS unsketched,
               sum(r.p50_response_time_ms * r.latency_count) / NULLIF(sum(r.latency_count)
                   FILTER (WHERE r.p50_response_time_ms IS NOT NULL), 0) AS w50,
               sum(r.p95_response_time_ms * r.latency_count) / NULLIF(sum(r.latency_count)
                   FILTER (WHERE r.p95_response_time_ms IS NOT NULL), 0) AS w95,
               sum(r.p99_response_time_ms * r.latency_count) / NULLIF(sum(r.latency_count)
                   FILTER (WHERE r.p99_response_time_ms IS NOT NULL), 0) AS w99,
               sum(r.p50_response_time_ms * r.latency_count) FILTER (WHERE r.w_p50 > 1)
                   / NULLIF(sum(r.latency_count) FILTER (WHERE r.w_p50 > 1
                            AND r.p50_response_time_ms IS NOT NULL), 0) AS l50,
               sum(r.p95_response_time_ms * r.latency_count) FILTER (WHERE r.w_p95 > 1)
                   / NULLIF(sum(r.latency_count) FILTER (WHERE r.w_p95 > 1
                            AND r.p95_response_time_ms IS NOT NULL), 0) AS l95,
               sum(r.p99_response_time_ms * r.latency_count) FILTER (WHERE r.w_p99 > 1)
                   / NULLIF(sum(r.latency_count) FILTER (WHERE r.w_p99 > 1
                            AND r.p99_response_time_ms IS NOT NULL), 0) AS l99
          FROM ranked AS r GROUP BY r.implementation_type
    )
    SELECT t.implementation_type,
           (extract(epoch FROM p_to - p_from) / 60)::integer,
           t.data_minutes, coalesce(p.n, 0),
           t.hits::bigint, t.lk::bigint, t.errors::bigint, t.ops::bigint, t.ev::bigint, t.lc::bigint,
           100.0 * t.hits / NULLIF(t.lk, 0),
           100.0 * t.errors / NULLIF(t.ops, 0),
           100.0 * t.ev / NULLIF(t.lk, 0),
           t.ops / NULLIF(extract(epoch FROM p_to - p_from) / 60, 0)::double precision,
           t.ls / NULLIF(t.lc, 0),
           CASE WHEN a.unsketched THEN a.w50 ELSE q.q[1] END,
           CASE WHEN a.unsketched THEN a.w95 ELSE q.q[2] END,
           CASE WHEN a.unsketched THEN a.w99 ELSE q.q[3] END,
           t.size::double precision,
           coalesce(a.loo_hits, 0), coalesce(a.loo_lk, 0), coalesce(a.loo_errors, 0),
           coalesce(a.loo_ops, 0), coalesce(a.loo_ev, 0), coalesce(a.loo_ev_lk, 0),
           coalesce(a.loo_lc, 0), a.loo_avg,
           CASE WHEN a.unsketched THEN a.l50 ELSE q50.q[1] END,
           CASE WHEN a.unsketched THEN a.l95 ELSE q95.q[2] END,
           CASE WHEN a.unsketched THEN a.l99 ELSE q99.q[3] END,
           CASE WHEN a.unsketched THEN a.l50 ELSE q50.q[4] END,
           CASE WHEN a.unsketched THEN a.l95 ELSE q95.q[5] END,
           CASE WHEN a.unsketched THEN a.l99 ELSE q99.q[6] END,
           t.last_bucket
      FROM tot AS t
      JOIN agg AS a ON a.implementation_type = t.implementation_type
      LEFT JOIN pend AS p ON p.implementation_type = t.implementation_type
     CROSS JOIN LATERAL (SELECT cachemon.sketch_quantiles(a.sk, ARRAY[0.5, 0.95, 0.99]) AS q) AS q
     CROSS JOIN LATERAL (SELECT coalesce((a.sk50).zero_count, 0)
                                + coalesce((SELECT sum(c) FROM unnest((a.sk50).counts) AS c), 0) AS n50) AS n5
     CROSS JOIN LATERAL (SELECT cachemon.sketch_quantiles(a.sk50, ARRAY[0.5, 0.5, 0.5,
                                    greatest(0.5 - 3.09 * sqrt(0.25 / greatest(n5.n50, 1)), 0)]) AS q) AS q50
     CROSS JOIN LATERAL (SELECT coalesce((a.sk95).zero_count, 0)
                                + coalesce((SELECT sum(c) FROM unnest((a.sk95).counts) AS c), 0) AS n95,
                                coalesce((a.sk99).zero_count, 0)
                                + coalesce((SELECT sum(c) FROM unnest((a.sk99).counts) AS c), 0) AS n99) AS n
     CROSS JOIN LATERAL (SELECT cachemon.sketch_quantiles(a.sk95, ARRAY[0.5, 0.95, 0.99,
                                    greatest(0.5 - 3.09 * sqrt(0.25 / greatest(n.n95, 1)), 0),
                                    greatest(0.95 - 3.09 * sqrt(0.0475 / greatest(n.n95, 1)), 0),
                                    greatest(0.99 - 3.09 * sqrt(0.0099 / greatest(n.n95, 1)), 0)]) AS q) AS q95
     CROSS JOIN LATERAL (SELECT cachemon.sketch_quantiles(a.sk99, ARRAY[0.5, 0.95, 0.99,
                                    0, 0,
                                    greatest(0.99 - 3.09 * sqrt(0.0099 / greatest(n.n99, 1)), 0)]) AS q) AS q99;
END
$function$;

COMMENT ON FUNCTION cachemon._window_stats_compute(timestamptz, timestamptz) IS
    'Internal: the computation behind cachemon._window_stats (which serves it from run_auditor''s per-run cache when it can).';

REVOKE ALL ON FUNCTION cachemon._window_stats_compute(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._window_stats_compute(timestamptz, timestamptz) TO cachemon_reader, cachemon_admin;

-- sql/functions/acknowledge_observation.sql
CREATE OR REPLACE FUNCTION cachemon.acknowledge_observation(
    observation_id bigint,
    acknowledged_by text,
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS cachemon.cache_auditor_observations
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_by  text := pg_catalog.btrim(acknowledge_observation.acknowledged_by);
    v_obs cachemon.cache_auditor_observations;
BEGIN
    /*
     * Inputs are checked (docs/security.md): p_now at most a day ahead of the database
     * clock and not before the finding's first_seen_at (cachemon._check_now), the name 1 to
     * 200 characters without control or bidi characters, which would reach terminals and
     * pages.
     *
     * A person takes a live finding: status 'acknowledged', with who and when. The finding
     * keeps being updated by run_auditor and still resolves itself when the condition
     * clears; if it escalates (warning -> critical) it becomes open again. Acknowledging an
     * acknowledged finding changes nothing (the first acknowledgement stands); a resolved one
     * is an error, as is an unknown id.
     */
    IF v_by IS NULL OR v_by = '' OR pg_catalog.length(v_by) > 200
       OR v_by ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]' THEN
        RAISE EXCEPTION 'acknowledge_observation: acknowledged_by must be 1..200 characters without control or bidi characters, got %',
            coalesce(pg_catalog.quote_literal(pg_catalog.regexp_replace(
                pg_catalog.left(acknowledge_observation.acknowledged_by, 200), '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', '?', 'g')), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT o.* INTO v_obs FROM cachemon.cache_auditor_observations AS o
     WHERE o.id = acknowledge_observation.observation_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'acknowledge_observation: observation_id % does not exist',
            coalesce(acknowledge_observation.observation_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM cachemon._check_now(p_now, v_obs.first_seen_at);
    IF v_obs.status = 'resolved' THEN
        RAISE EXCEPTION 'acknowledge_observation: observation_id % is already resolved (at %, by %)',
            v_obs.id, v_obs.resolved_at, coalesce(v_obs.resolved_by, 'unknown')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_obs.status = 'acknowledged' THEN
        RETURN v_obs;
    END IF;
    UPDATE cachemon.cache_auditor_observations AS o
       SET status = 'acknowledged', acknowledged_by = v_by, acknowledged_at = p_now
     WHERE o.id = v_obs.id
    RETURNING o.* INTO v_obs;
    RETURN v_obs;
END
$function$;

COMMENT ON FUNCTION cachemon.acknowledge_observation(bigint, text, timestamptz) IS
    'Acknowledge a live auditor finding, recording who and when; returns the row. Idempotent on an acknowledged finding; an unknown id or a resolved finding is an error.';

REVOKE ALL ON FUNCTION cachemon.acknowledge_observation(bigint, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.acknowledge_observation(bigint, text, timestamptz) TO cachemon_admin;

-- sql/functions/calculate_hit_rate.sql
CREATE OR REPLACE FUNCTION cachemon.calculate_hit_rate(hits bigint, misses bigint)
RETURNS numeric
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The seed's helper, with the contract's definition: 100 * hits / (hits + misses),
     * NULL when there were no lookups (or either count is unknown). Exact numeric, not rounded.
     */
    IF hits < 0 OR misses < 0 THEN
        RAISE EXCEPTION 'calculate_hit_rate: hits and misses must be >= 0 (hits=%, misses=%)',
            hits, misses
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF hits + misses = 0 THEN
        RETURN NULL;
    END IF;
    RETURN 100::numeric * hits / (hits + misses);
END
$function$;

COMMENT ON FUNCTION cachemon.calculate_hit_rate(bigint, bigint) IS
    'Hit rate in percent: 100 * hits / (hits + misses), exact numeric; NULL when there were no lookups. Negative counts are an error.';

REVOKE ALL ON FUNCTION cachemon.calculate_hit_rate(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.calculate_hit_rate(bigint, bigint)
    TO cachemon_reader, cachemon_writer, cachemon_admin;

-- sql/functions/compute_baseline.sql
CREATE OR REPLACE FUNCTION cachemon.compute_baseline(
    implementation_type text,
    baseline_window interval DEFAULT '14 days',
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS cachemon.cache_baseline_metrics
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_impl      text := compute_baseline.implementation_type;
    v_end       timestamptz;
    v_start     timestamptz;
    v_min_ops   bigint;
    v_min_mins  integer;
    v_prof_days double precision;
    v_prof_mins integer;
    v_used      integer;
    v_excluded  integer;
    v_first     timestamptz;
    v_last      timestamptz;
    v_stats     jsonb;
    v_profile   jsonb;
    v_row       cachemon.cache_baseline_metrics;
BEGIN
    /*
     * Statistics of one implementation's normal behaviour over the whole minutes of
     * [p_now - baseline_window, p_now), from cache_metrics_1min. Per metric (hit_rate,
     * error_rate, avg_response_time_ms, p95_response_time_ms, requests_per_minute,
     * eviction_rate, avg_cache_size) over the usable minutes: the contract's mean and
     * stddev (columns) and n, median, MAD, mean absolute deviation, min, max (column
     * statistics). When the usable minutes span baseline.profile_min_days days, the median
     * and MAD per UTC hour of day (column hourly_profile), so the auditor compares 3 a.m.
     * with 3 a.m. Minutes with fewer operations than baseline.min_requests_per_minute are
     * left out (their rates are noise). Fewer usable minutes than baseline.min_sample_minutes
     * is an error saying how many there are. The new row replaces the active one in this
     * transaction; an advisory lock per implementation serialises concurrent calls.
     *
     * Since revision 0007 the rules read pooled statistics computed over every minute of the
     * window whatever its volume (cachemon._baseline_pooled: pooled rates, their
     * overdispersion, requests per minute of every minute including silent ones, latency
     * quantiles of the merged sketches, all per hour of day where the hour has data), so a
     * low-traffic implementation is baselined too: the refusal counts minutes with any data.
     */
    IF v_impl IS NULL OR pg_catalog.btrim(v_impl) = '' OR pg_catalog.length(v_impl) > 64 THEN
        RAISE EXCEPTION 'compute_baseline: implementation_type must be 1..64 characters, got %',
            coalesce(pg_catalog.quote_literal(v_impl), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF baseline_window IS NULL OR baseline_window <= interval '0'
       OR baseline_window > interval '400 days' THEN
        RAISE EXCEPTION 'compute_baseline: baseline_window must be between 1 minute and 400 days, got %',
            coalesce(baseline_window::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Finite, at most a day ahead and at most retention.raw behind the clock (one rule).
    PERFORM cachemon._check_now(p_now);

    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('cachemon.compute_baseline'),
                                             pg_catalog.hashtext(v_impl));

    v_end := pg_catalog.date_trunc('minute', p_now, 'UTC');
    v_start := v_end - baseline_window;
    v_min_ops := cachemon._setting('baseline.min_requests_per_minute')::bigint;
    v_min_mins := cachemon._setting('baseline.min_sample_minutes')::integer;
    v_prof_days := cachemon._setting('baseline.profile_min_days')::double precision;
    v_prof_mins := cachemon._setting('baseline.profile_min_minutes')::integer;

    SELECT count(*) FILTER (WHERE m.hits + m.misses + m.sets + m.errors >= v_min_ops),
           count(*) FILTER (WHERE m.hits + m.misses + m.sets + m.errors < v_min_ops),
           min(m.bucket) FILTER (WHERE m.total_events > 0),
           max(m.bucket) FILTER (WHERE m.total_events > 0)
      INTO v_used, v_excluded, v_first, v_last
      FROM cachemon.cache_metrics_1min AS m
     WHERE m.implementation_type = v_impl AND m.bucket >= v_start AND m.bucket < v_end;

    IF v_used < v_min_mins AND v_used + v_excluded < v_min_mins THEN
        RAISE EXCEPTION 'compute_baseline: implementation_type % has % usable minutes in [%, %), at least % are needed',
            pg_catalog.quote_literal(v_impl), v_used, v_start, v_end, v_min_mins
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format(
                      '%s further minutes had data but fewer than %s operations (setting baseline.min_requests_per_minute).',
                      v_excluded, v_min_ops),
                  HINT = 'Record more traffic, use a longer baseline_window, or lower the setting baseline.min_sample_minutes.';
    END IF;

    CREATE TEMPORARY TABLE IF NOT EXISTS pg_temp._cachemon_baseline_expecteds (
        hour integer, metric text, value double precision) ON COMMIT DROP;
    TRUNCATE pg_temp._cachemon_baseline_expecteds;
    INSERT INTO pg_temp._cachemon_baseline_expecteds (hour, metric, value)
    SELECT extract(hour FROM m.bucket AT TIME ZONE 'UTC')::integer, v.metric, v.value
      FROM cachemon.cache_metrics_1min AS m
     CROSS JOIN LATERAL (VALUES
         ('hit_rate', m.hit_rate::double precision),
         ('error_rate', m.error_rate::double precision),
         ('avg_response_time_ms', m.latency_sum / NULLIF(m.latency_count, 0)),
         ('p50_response_time_ms', m.p50_response_time_ms),
         ('p95_response_time_ms', m.p95_response_time_ms),
         ('p99_response_time_ms', m.p99_response_time_ms),
         ('requests_per_minute', (m.hits + m.misses + m.sets + m.errors)::double precision),
         ('eviction_rate', 100.0 * m.evictions / NULLIF(m.hits + m.misses, 0)),
         ('avg_cache_size', (m.cache_size_sum / NULLIF(m.cache_size_count, 0))::double precision)
     ) AS v (metric, value)
     WHERE m.implementation_type = v_impl AND m.bucket >= v_start AND m.bucket < v_end
       AND m.hits + m.misses + m.sets + m.errors >= v_min_ops
       AND v.value IS NOT NULL;

    WITH med AS (
        SELECT b.metric, count(*) AS n, avg(b.value) AS mean, stddev_samp(b.value) AS stddev,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY b.value) AS median,
               min(b.value) AS min, max(b.value) AS max
          FROM pg_temp._cachemon_baseline_expecteds AS b GROUP BY b.metric
    ), dev AS (
        SELECT b.metric,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(b.value - d.median)) AS mad,
               avg(abs(b.value - d.median)) AS mean_abs_dev
          FROM pg_temp._cachemon_baseline_expecteds AS b JOIN med AS d ON d.metric = b.metric
         GROUP BY b.metric
    )
    SELECT pg_catalog.jsonb_object_agg(d.metric, pg_catalog.jsonb_build_object(
               'n', d.n, 'mean', d.mean, 'stddev', coalesce(d.stddev, 0), 'median', d.median,
               'mad', x.mad, 'mean_abs_dev', x.mean_abs_dev, 'min', d.min, 'max', d.max))
      INTO v_stats
      FROM med AS d JOIN dev AS x ON x.metric = d.metric;
    v_stats := coalesce(v_stats, '{}'::jsonb) || pg_catalog.jsonb_build_object(
        'settings', pg_catalog.jsonb_build_object(
            'min_requests_per_minute', v_min_ops, 'min_sample_minutes', v_min_mins,
            'profile_min_days', v_prof_days, 'profile_min_minutes', v_prof_mins));

    -- Hour-of-day profile: only when the usable minutes span enough days to tell the daily
    -- rhythm from one unusual day, and only for hours with enough minutes.
    IF extract(epoch FROM v_last - v_first) / 86400.0 >= v_prof_days THEN
        WITH per_hour AS (
            SELECT b.metric, b.hour, count(*) AS n,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY b.value) AS median
              FROM pg_temp._cachemon_baseline_expecteds AS b GROUP BY b.metric, b.hour
        ), per_hour_mad AS (
            SELECT h.metric, h.hour, h.median,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(b.value - h.median)) AS mad
              FROM per_hour AS h
              JOIN pg_temp._cachemon_baseline_expecteds AS b ON b.metric = h.metric AND b.hour = h.hour
             WHERE h.n >= v_prof_mins
             GROUP BY h.metric, h.hour, h.median
        ), per_metric AS (
            SELECT p.metric,
                   pg_catalog.jsonb_object_agg(p.hour::text, p.median) AS medians,
                   pg_catalog.jsonb_object_agg(p.hour::text, p.mad) AS mads
              FROM per_hour_mad AS p GROUP BY p.metric
        )
        SELECT pg_catalog.jsonb_build_object(
                   'median', pg_catalog.jsonb_object_agg(p.metric, p.medians),
                   'mad', pg_catalog.jsonb_object_agg(p.metric, p.mads))
          INTO v_profile
          FROM per_metric AS p;
    END IF;

    -- Pooled statistics (revision 0007): every minute of the window, whatever its volume.
    v_stats := v_stats || cachemon._baseline_pooled(v_impl, v_start, v_end, v_prof_mins,
        extract(epoch FROM v_last - v_first) / 86400.0 >= v_prof_days);
    v_profile := coalesce(v_profile, '{}'::jsonb)
        || coalesce(v_stats -> 'pooled_hourly', '{}'::jsonb);
    v_stats := v_stats - 'pooled_hourly';

    UPDATE cachemon.cache_baseline_metrics AS b SET is_active = false
     WHERE b.implementation_type = v_impl AND b.is_active;

    INSERT INTO cachemon.cache_baseline_metrics AS b (
        implementation_type, window_start, window_end, sample_minutes, is_active, created_at,
        hit_rate_mean, hit_rate_stddev, error_rate_mean, error_rate_stddev,
        avg_response_time_ms_mean, avg_response_time_ms_stddev,
        p95_response_time_ms_mean, p95_response_time_ms_stddev,
        requests_per_minute_mean, requests_per_minute_stddev,
        excluded_minutes, statistics, hourly_profile)
    VALUES (
        v_impl, v_start, v_end, v_used, true, p_now,
        (v_stats -> 'hit_rate' ->> 'mean')::double precision,
        (v_stats -> 'hit_rate' ->> 'stddev')::double precision,
        (v_stats -> 'error_rate' ->> 'mean')::double precision,
        (v_stats -> 'error_rate' ->> 'stddev')::double precision,
        (v_stats -> 'avg_response_time_ms' ->> 'mean')::double precision,
        (v_stats -> 'avg_response_time_ms' ->> 'stddev')::double precision,
        (v_stats -> 'p95_response_time_ms' ->> 'mean')::double precision,
        (v_stats -> 'p95_response_time_ms' ->> 'stddev')::double precision,
        (v_stats -> 'requests_per_minute' ->> 'mean')::double precision,
        (v_stats -> 'requests_per_minute' ->> 'stddev')::double precision,
        v_excluded, v_stats, v_profile)
    RETURNING b.* INTO v_row;
    RETURN v_row;
END
$function$;

COMMENT ON FUNCTION cachemon.compute_baseline(text, interval, timestamptz) IS
    'Compute the baseline of an implementation over the whole minutes of [p_now - baseline_window, p_now) from cache_metrics_1min (mean/stddev, median/MAD, hour-of-day profile) and make it the only active one; returns the new row. Refuses with too few usable minutes (settings baseline.*).';

REVOKE ALL ON FUNCTION cachemon.compute_baseline(text, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.compute_baseline(text, interval, timestamptz) TO cachemon_admin;

-- sql/functions/get_cache_performance_summary.sql
CREATE OR REPLACE FUNCTION cachemon.get_cache_performance_summary(
    implementation_type text DEFAULT NULL,
    time_window interval DEFAULT '1 hour',
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS TABLE (
    implementation_type text,
    window_start timestamptz,
    window_end timestamptz,
    total_events bigint,
    hits bigint,
    misses bigint,
    sets bigint,
    evictions bigint,
    errors bigint,
    hit_rate numeric,
    error_rate numeric,
    avg_response_time_ms double precision,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision,
    max_response_time_ms double precision,
    avg_cache_size double precision,
    max_cache_size bigint
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The seed's summary over the whole minutes of [p_now - time_window, p_now), one row per
     * implementation (or only the one named): counts, hit and error rate, average and
     * p50/p95/p99 response time, cache size. Whole UTC days are read from the internal daily
     * merge (_cache_metrics_1day), the remaining whole hours from cache_metrics_1hour, the
     * ragged ends from cache_metrics_1min; percentiles come from merged latency sketches (within
     * 0.9% of percentile_disc over the window's events). The work is in
     * cachemon._performance_summary. A non-positive window returns no rows.
     */
    SELECT * FROM cachemon._performance_summary(implementation_type, time_window, p_now);
$function$;

COMMENT ON FUNCTION cachemon.get_cache_performance_summary(text, interval, timestamptz) IS
    'Performance of each implementation (or the one named) over the whole minutes of [p_now - time_window, p_now): counts, hit and error rate, average and p50/p95/p99 response time (merged sketches, within 0.9% of percentile_disc), cache size. Whole UTC days come from the internal daily merge _cache_metrics_1day, the other whole hours from cache_metrics_1hour, the ends from cache_metrics_1min.';

REVOKE ALL ON FUNCTION cachemon.get_cache_performance_summary(text, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.get_cache_performance_summary(text, interval, timestamptz)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/get_error_breakdown.sql
CREATE OR REPLACE FUNCTION cachemon.get_error_breakdown(
    time_window interval,
    implementation_type text DEFAULT NULL,
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS SETOF cachemon.error_breakdown
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    v_impl text := get_error_breakdown.implementation_type;
    v_window interval;
BEGIN
    /*
     * The errors of (p_now - time_window, p_now] by implementation and error_type, most
     * frequent first: how many, their share (percent) of that implementation's errors in the
     * window, first and last seen, and the message of the latest one. Error types are not
     * rolled up, so this reads the raw events (kept retention.raw, 7 days by default: a longer
     * window counts what is still kept) through the index on (implementation_type,
     * recorded_at).
     *
     * SECURITY DEFINER because cachemon_reader may not read raw events (they hold cache
     * keys); this returns only per-type aggregates and the latest message, which is what a
     * reader is meant to see. time_window: 1 minute .. 400 days, no months or years.
     */
    v_window := cachemon._check_interval('get_error_breakdown', 'time_window', time_window,
                                         interval '1 minute', interval '400 days');
    IF p_now IS NULL THEN
        RAISE EXCEPTION 'get_error_breakdown: p_now must not be NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT g.impl, g.error_type, g.n,
           pg_catalog.round(100::numeric * g.n / pg_catalog.sum(g.n) OVER (PARTITION BY g.impl), 3),
           g.first_at, g.last_at, g.last_message
      FROM (SELECT e.implementation_type AS impl, e.error_type,
                   pg_catalog.count(*) AS n,
                   pg_catalog.min(e.recorded_at) AS first_at,
                   pg_catalog.max(e.recorded_at) AS last_at,
                   (pg_catalog.array_agg(e.error_message ORDER BY e.recorded_at DESC))[1] AS last_message
              FROM cachemon.cache_metrics AS e
             WHERE e.event_type = 'error'
               AND e.recorded_at > p_now - v_window AND e.recorded_at <= p_now
               AND (v_impl IS NULL OR e.implementation_type = v_impl)
             GROUP BY e.implementation_type, e.error_type) AS g
     ORDER BY g.impl, g.n DESC, g.error_type;
END
$function$;

COMMENT ON FUNCTION cachemon.get_error_breakdown(interval, text, timestamptz) IS
    'Errors of (p_now - time_window, p_now] per implementation (or the one named) and error_type: count, share of the implementation''s errors (percent), first and last seen, latest message. Reads raw events (kept 7 days by default). SECURITY DEFINER: cachemon_reader cannot read raw events; only these aggregates are returned.';

REVOKE ALL ON FUNCTION cachemon.get_error_breakdown(interval, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.get_error_breakdown(interval, text, timestamptz)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/get_live_findings.sql
CREATE OR REPLACE FUNCTION cachemon.get_live_findings(
    p_limit integer DEFAULT 200
)
RETURNS SETOF cachemon.cache_auditor_observations
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The auditor's findings that are not resolved (status open or acknowledged), newest
     * first (first_seen_at, then id), at most p_limit (1 .. 10,000): what the dashboard lists
     * and what a person on call acts on with acknowledge_observation / resolve_observation.
     */
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'get_live_findings: p_limit must be between 1 and 10000 (got %)',
            coalesce(p_limit::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT o.* FROM cachemon.cache_auditor_observations AS o
     WHERE o.status IN ('open', 'acknowledged')
     ORDER BY o.first_seen_at DESC, o.id DESC
     LIMIT p_limit;
END
$function$;

COMMENT ON FUNCTION cachemon.get_live_findings(integer) IS
    'Unresolved auditor findings (open or acknowledged), newest first (first_seen_at, id), at most p_limit (1..10000).';

REVOKE ALL ON FUNCTION cachemon.get_live_findings(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.get_live_findings(integer) TO cachemon_reader, cachemon_admin;

-- sql/functions/get_timeseries.sql
CREATE OR REPLACE FUNCTION cachemon.get_timeseries(
    time_window interval,
    resolution interval DEFAULT NULL,
    implementation_type text DEFAULT NULL,
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS SETOF cachemon.timeseries_bucket
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
AS $function$
#variable_conflict use_column
DECLARE
    c_max_buckets constant integer := 10000;
    c_origin constant timestamptz := '2000-01-01 00:00:00+00';
    v_impl text := get_timeseries.implementation_type;
    v_window interval;
    v_res interval := get_timeseries.resolution;
    v_window_s numeric;
    v_res_s numeric;
    v_buckets numeric;
    v_end timestamptz;
    v_start timestamptz;
    v_level text;
BEGIN
    /*
     * The time series a dashboard draws: one row per bucket of width `resolution` and per
     * implementation (or only the one named) that has data, over the buckets that cover
     * [p_now - time_window, p_now]. Buckets are aligned to multiples of the resolution since
     * 2000-01-01 00:00 UTC (date_bin), the last one is the bucket holding p_now (so the minute
     * being filled shows up as soon as a tick has rolled it up), and there are
     * ceil(time_window / resolution) of them, at most 10,000 (more is an error: pass a
     * coarser resolution).
     *
     * The level read follows the resolution: a multiple of a day reads the internal daily
     * merge _cache_metrics_1day, a multiple of an hour cache_metrics_1hour, anything else
     * cache_metrics_1min. At exactly one minute or one hour the stored row is returned as is
     * (minute percentiles are exact percentile_cont; hourly ones come from the hour's merged
     * sketch); coarser buckets sum the counts and merge the latency sketches of their rows, so
     * p50/p95/p99 are those of the bucket's events within the sketch's relative error
     * (0.9%), never an average of percentiles. Rates, averages and events_per_minute derive
     * from the summed counts. A NULL resolution picks the finest of 1 minute, 1 hour, 1 day
     * that gives at most 1,500 buckets.
     *
     * time_window: 1 minute .. 400 days; resolution: whole minutes, 1 minute .. 400 days; no
     * months or years in either (a month has no fixed width). Reflects what tick() has rolled
     * up; buckets without data are absent (the client draws gaps).
     *
     * work_mem is raised for this function only: merging a day of minute sketches groups
     * ~200k (bucket, key) elements, which spill to disk at the default 4MB and take 2-3x as
     * long; the bucket limit bounds what a call can ask for.
     */
    v_window := cachemon._check_interval('get_timeseries', 'time_window', time_window,
                                         interval '1 minute', interval '400 days');
    IF p_now IS NULL THEN
        RAISE EXCEPTION 'get_timeseries: p_now must not be NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_window_s := pg_catalog.date_part('epoch', v_window)::numeric;
    IF v_res IS NULL THEN
        v_res := CASE WHEN v_window_s <= 1500 * 60 THEN interval '1 minute'
                      WHEN v_window_s <= 1500 * 3600 THEN interval '1 hour'
                      ELSE interval '1 day' END;
    END IF;
    PERFORM cachemon._check_interval('get_timeseries', 'resolution', v_res,
                                     interval '1 minute', interval '400 days');
    v_res_s := pg_catalog.date_part('epoch', v_res)::numeric;
    IF v_res_s % 60 <> 0 THEN
        RAISE EXCEPTION 'get_timeseries: resolution must be a whole number of minutes (got %)', v_res
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Normalize ('1 day' and '24 hours' give the same buckets).
    v_res := pg_catalog.make_interval(secs => v_res_s::double precision);
    v_buckets := pg_catalog.ceil(v_window_s / v_res_s);
    IF v_buckets > c_max_buckets THEN
        RAISE EXCEPTION 'get_timeseries: time_window % at resolution % gives % buckets, more than %; pass a coarser resolution',
            v_window, get_timeseries.resolution, v_buckets, c_max_buckets
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_end := pg_catalog.date_bin(v_res, p_now, c_origin) + v_res;
    v_start := v_end - v_res * v_buckets::integer;
    v_level := CASE WHEN v_res_s % 86400 = 0 THEN '1day'
                    WHEN v_res_s % 3600 = 0 THEN '1hour'
                    ELSE '1min' END;

    IF v_res_s = 60 THEN
        RETURN QUERY
        SELECT m.bucket, m.bucket + v_res, m.implementation_type, m.total_events, m.hits,
               m.misses, m.sets, m.evictions, m.errors, m.hit_rate, m.error_rate,
               m.total_events::double precision, m.avg_response_time_ms,
               m.p50_response_time_ms, m.p95_response_time_ms, m.p99_response_time_ms,
               m.max_response_time_ms, m.avg_cache_size, m.max_cache_size, v_level
          FROM cachemon.cache_metrics_1min AS m
         WHERE m.bucket >= v_start AND m.bucket < v_end
           AND (v_impl IS NULL OR m.implementation_type = v_impl)
         ORDER BY m.bucket, m.implementation_type;
        RETURN;
    ELSIF v_res_s = 3600 THEN
        RETURN QUERY
        SELECT h.bucket, h.bucket + v_res, h.implementation_type, h.total_events, h.hits,
               h.misses, h.sets, h.evictions, h.errors, h.hit_rate, h.error_rate,
               h.total_events / 60::double precision, h.avg_response_time_ms,
               h.p50_response_time_ms, h.p95_response_time_ms, h.p99_response_time_ms,
               h.max_response_time_ms, h.avg_cache_size, h.max_cache_size, v_level
          FROM cachemon.cache_metrics_1hour AS h
         WHERE h.bucket >= v_start AND h.bucket < v_end
           AND (v_impl IS NULL OR h.implementation_type = v_impl)
         ORDER BY h.bucket, h.implementation_type;
        RETURN;
    END IF;

    RETURN QUERY
    WITH parts AS MATERIALIZED (
        SELECT pg_catalog.date_bin(v_res, m.bucket, c_origin) AS b, m.implementation_type AS impl,
               m.hits, m.misses, m.sets, m.evictions, m.errors, m.total_events,
               m.latency_count, m.latency_sum, m.max_response_time_ms, m.cache_size_count,
               m.cache_size_sum, m.max_cache_size, m.latency_sketch
          FROM cachemon.cache_metrics_1min AS m
         WHERE v_level = '1min' AND m.bucket >= v_start AND m.bucket < v_end
           AND (v_impl IS NULL OR m.implementation_type = v_impl)
        UNION ALL
        SELECT pg_catalog.date_bin(v_res, h.bucket, c_origin), h.implementation_type,
               h.hits, h.misses, h.sets, h.evictions, h.errors, h.total_events,
               h.latency_count, h.latency_sum, h.max_response_time_ms, h.cache_size_count,
               h.cache_size_sum, h.max_cache_size, h.latency_sketch
          FROM cachemon.cache_metrics_1hour AS h
         WHERE v_level = '1hour' AND h.bucket >= v_start AND h.bucket < v_end
           AND (v_impl IS NULL OR h.implementation_type = v_impl)
        UNION ALL
        SELECT pg_catalog.date_bin(v_res, d.bucket, c_origin), d.implementation_type,
               d.hits, d.misses, d.sets, d.evictions, d.errors, d.total_events,
               d.latency_count, d.latency_sum, d.max_response_time_ms, d.cache_size_count,
               d.cache_size_sum, d.max_cache_size, d.latency_sketch
          FROM cachemon._cache_metrics_1day AS d
         WHERE v_level = '1day' AND d.bucket >= v_start AND d.bucket < v_end
           AND (v_impl IS NULL OR d.implementation_type = v_impl)
    ), agg AS (
        SELECT p.b, p.impl,
               pg_catalog.sum(p.total_events)::bigint AS total_events,
               pg_catalog.sum(p.hits)::bigint AS hits,
               pg_catalog.sum(p.misses)::bigint AS misses,
               pg_catalog.sum(p.sets)::bigint AS sets,
               pg_catalog.sum(p.evictions)::bigint AS evictions,
               pg_catalog.sum(p.errors)::bigint AS errors,
               pg_catalog.sum(p.latency_sum) / NULLIF(pg_catalog.sum(p.latency_count), 0) AS avg_rt,
               pg_catalog.max(p.max_response_time_ms) AS max_rt,
               (pg_catalog.sum(p.cache_size_sum) / NULLIF(pg_catalog.sum(p.cache_size_count), 0))::double precision AS avg_cs,
               pg_catalog.max(p.max_cache_size) AS max_cs,
               pg_catalog.count(p.latency_sketch) AS sketches,
               pg_catalog.sum((p.latency_sketch).zero_count)::bigint AS zero_count
          FROM parts AS p
         GROUP BY p.b, p.impl
    ), keyed AS (
        -- The merge of each bucket's sketches as one flat aggregate (counts summed by key).
        SELECT e.b, e.impl, e.k, pg_catalog.sum(e.n)::bigint AS n
          FROM (SELECT p.b, p.impl,
                       pg_catalog.unnest((p.latency_sketch).keys) AS k,
                       pg_catalog.unnest((p.latency_sketch).counts) AS n
                  FROM parts AS p) AS e
         GROUP BY e.b, e.impl, e.k
    ), running AS (
        -- Running counts by key within a bucket, and the bucket's count of non-zero values.
        SELECT r.b, r.impl, r.k,
               (pg_catalog.sum(r.n) OVER (PARTITION BY r.b, r.impl ORDER BY r.k))::bigint AS upto,
               (pg_catalog.sum(r.n) OVER (PARTITION BY r.b, r.impl))::bigint AS nonzero
          FROM keyed AS r
    ), ranked AS (
        -- The ranks of cachemon.sketch_quantiles (percentile_disc's: ceil(q * n) in double
        -- precision, at least 1) and, for each quantile, the first key whose running count
        -- reaches rank - zeros: the same answer as sketch_quantiles over the merged sketch,
        -- in one pass over all buckets instead of one PL/pgSQL call per bucket.
        SELECT x.b, x.impl, pg_catalog.max(x.total) AS total,
               pg_catalog.min(x.k) FILTER (WHERE x.upto >= x.r50 - x.z) AS k50,
               pg_catalog.min(x.k) FILTER (WHERE x.upto >= x.r95 - x.z) AS k95,
               pg_catalog.min(x.k) FILTER (WHERE x.upto >= x.r99 - x.z) AS k99
          FROM (SELECT r.b, r.impl, r.k, r.upto, a.zero_count AS z,
                       a.zero_count + r.nonzero AS total,
                       GREATEST(1, pg_catalog.ceil(0.5::double precision * (a.zero_count + r.nonzero)::double precision)) AS r50,
                       GREATEST(1, pg_catalog.ceil(0.95::double precision * (a.zero_count + r.nonzero)::double precision)) AS r95,
                       GREATEST(1, pg_catalog.ceil(0.99::double precision * (a.zero_count + r.nonzero)::double precision)) AS r99
                  FROM running AS r
                  JOIN agg AS a ON a.b = r.b AND a.impl = r.impl) AS x
         GROUP BY x.b, x.impl
    )
    SELECT a.b, a.b + v_res, a.impl, a.total_events, a.hits, a.misses, a.sets, a.evictions,
           a.errors,
           cachemon.calculate_hit_rate(a.hits, a.misses),
           100::numeric * a.errors / NULLIF(a.hits + a.misses + a.sets + a.errors, 0),
           a.total_events / (v_res_s / 60)::double precision,
           a.avg_rt,
           CASE WHEN a.sketches = 0 OR coalesce(q.total, a.zero_count) = 0 THEN NULL
                WHEN GREATEST(1, pg_catalog.ceil(0.5::double precision * coalesce(q.total, a.zero_count)::double precision)) <= a.zero_count THEN 0
                ELSE cachemon.sketch_value(q.k50) END,
           CASE WHEN a.sketches = 0 OR coalesce(q.total, a.zero_count) = 0 THEN NULL
                WHEN GREATEST(1, pg_catalog.ceil(0.95::double precision * coalesce(q.total, a.zero_count)::double precision)) <= a.zero_count THEN 0
                ELSE cachemon.sketch_value(q.k95) END,
           CASE WHEN a.sketches = 0 OR coalesce(q.total, a.zero_count) = 0 THEN NULL
                WHEN GREATEST(1, pg_catalog.ceil(0.99::double precision * coalesce(q.total, a.zero_count)::double precision)) <= a.zero_count THEN 0
                ELSE cachemon.sketch_value(q.k99) END,
           a.max_rt, a.avg_cs, a.max_cs, v_level
      FROM agg AS a
      LEFT JOIN ranked AS q ON q.b = a.b AND q.impl = a.impl
     ORDER BY a.b, a.impl;
END
$function$;

COMMENT ON FUNCTION cachemon.get_timeseries(interval, interval, text, timestamptz) IS
    'Time series per bucket and implementation (or the one named) over the ceil(time_window / resolution) buckets ending with the one holding p_now (at most 10,000; buckets aligned on 2000-01-01 UTC): counts, hit and error rate, events per minute, average and p50/p95/p99/max response time, cache size. Reads cache_metrics_1min, cache_metrics_1hour or _cache_metrics_1day by resolution; coarser buckets merge latency sketches (true percentiles within 0.9%). resolution NULL: finest of 1 minute/1 hour/1 day with at most 1,500 buckets. Only buckets with data are returned.';

REVOKE ALL ON FUNCTION cachemon.get_timeseries(interval, interval, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.get_timeseries(interval, interval, text, timestamptz)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/get_traffic_share.sql
CREATE OR REPLACE FUNCTION cachemon.get_traffic_share(
    time_window interval,
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS SETOF cachemon.traffic_share
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Each implementation's share of the traffic over the same buckets that
     * cachemon.get_timeseries(time_window, NULL, NULL, p_now) draws (so the numbers beside a
     * chart add up with it): its events, its lookups (hits + misses) and its percentage of
     * all events, largest first. window_start and window_end are the first bucket's start and
     * the last bucket's end. Errors on bad arguments are get_timeseries' own.
     */
    SELECT t.implementation_type, b.first_start, b.last_end, t.total_events, t.lookups,
           pg_catalog.round(100::numeric * t.total_events
                            / NULLIF(pg_catalog.sum(t.total_events) OVER (), 0), 3)
      FROM (SELECT s.implementation_type,
                   pg_catalog.sum(s.total_events)::bigint AS total_events,
                   pg_catalog.sum(s.hits + s.misses)::bigint AS lookups
              FROM cachemon.get_timeseries(time_window, NULL, NULL, p_now) AS s
             GROUP BY s.implementation_type) AS t
     CROSS JOIN (SELECT pg_catalog.min(s.bucket) AS first_start, pg_catalog.max(s.bucket_end) AS last_end
                   FROM cachemon.get_timeseries(time_window, NULL, NULL, p_now) AS s) AS b
     ORDER BY t.total_events DESC, t.implementation_type;
$function$;

COMMENT ON FUNCTION cachemon.get_traffic_share(interval, timestamptz) IS
    'Each implementation''s events, lookups and share (percent) of all events over the buckets cachemon.get_timeseries(time_window, NULL, NULL, p_now) covers, largest first.';

REVOKE ALL ON FUNCTION cachemon.get_traffic_share(interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.get_traffic_share(interval, timestamptz)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/ingest_events.sql
CREATE OR REPLACE FUNCTION cachemon.ingest_events(events jsonb, batch_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_batch_id  uuid := coalesce(ingest_events.batch_id, pg_catalog.gen_random_uuid());
    v_count     bigint;
    v_stored    bigint;
    v_hash      bytea;
    v_seen      text;
    v_max_rt    numeric := cachemon._setting('ingest.max_response_time_ms')::numeric;
    v_max_rt_f  double precision := v_max_rt;
    v_allowed   CONSTANT text[] := ARRAY['recorded_at', 'implementation_type', 'event_type',
        'cache_key', 'response_time_ms', 'cache_size', 'error_type', 'error_message'];
    v_state     text;
    v_message   text;
    v_event     jsonb;
    v_index     bigint;
    v_field     text;
BEGIN
    /*
     * The SQL entry point of ingest, for clients that are not the Python collector (a Supabase
     * RPC, an edge function, psql). The parameters are named events and batch_id, not p_...,
     * because they are part of the contract: RPC clients pass them by name.
     *
     * All or nothing, in two paths. The fast path is one INSERT ... SELECT that reads each
     * element once into a typed row (jsonb_to_record) and keeps it only when its fields have
     * the JSON types of their columns, it has no unknown field and recorded_at has an offset;
     * lengths, characters, event types and ranges are the table's CHECKs and the ingest
     * trigger's. If it stores every element, that is the answer. Otherwise (a row left out, a
     * failed cast, CHECK or trigger) it is undone and the careful statement runs: it accepts
     * exactly what it accepted before the fast path existed, so the fast path changes speed,
     * never the outcome (tests/test_ingest_fast_path.py compares them with hypothesis).
     *
     * The careful statement, one INSERT ... SELECT over jsonb_array_elements(events) WITH
     * ORDINALITY, validates and stores: each element's first bad field (in the order implementation_type,
     * event_type, recorded_at, response_time_ms, cache_size, cache_key, error_type,
     * error_message) is found by one CASE, and the first bad element stops the statement
     * through cachemon._ingest_refuse, whose error names the index (0-based, as in the JSON
     * array), the field and the value; nothing of the batch is stored. A value that passes
     * those checks but cannot be cast (a date like February 30, a latency like 1e-400 that
     * rounds to nothing in double precision) is found by a second, per-element pass that only
     * runs on that error. The domains are those of cache_metrics' CHECK constraints (docs/
     * security.md): recorded_at needs an explicit UTC offset ("Z" or "+hh:mm"; a timestamp
     * without one would be read in the session's TimeZone), response_time_ms is 0 or
     * 0.000001 (1 ns; below it float arithmetic underflows) to ingest.max_response_time_ms
     * (at most one day), cache_size an integer in bigint range
     * (100.0 is 100), text without control or bidi characters.
     *
     * Batches: an empty array stores nothing and records no batch id. A batch id already
     * stored with the same content returns 0 (a retry after a lost reply counts once); with
     * different content it is an error naming the batch id. Content is compared by a 64-bit
     * hash of the events as jsonb (jsonb_hash_extended: equal JSON, whatever its key order or
     * spacing, hashes equal; a different batch collides with probability 2^-64), stored with
     * the batch id; computed from the parsed value, it costs a tenth of a SHA-256 of its
     * text. Invoker rights: cachemon_writer has INSERT on both tables and EXECUTE on
     * cachemon._batch_seen, which compares a stored batch without reading it.
     */
    IF events IS NULL OR pg_catalog.jsonb_typeof(events) <> 'array' THEN
        RAISE EXCEPTION 'ingest_events: events must be a JSON array of event objects, got %',
            coalesce(pg_catalog.left(events::text, 200), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_count := pg_catalog.jsonb_array_length(events);
    IF v_count = 0 THEN
        RAISE NOTICE 'ingest_events: empty batch: nothing stored, batch id % not recorded', v_batch_id;
        RETURN 0;
    END IF;

    v_hash := pg_catalog.int8send(pg_catalog.jsonb_hash_extended(events, 1667326824));
    INSERT INTO cachemon._ingested_batches AS b (batch_id, event_count, source, content_hash)
    VALUES (v_batch_id, v_count, 'ingest_events', v_hash)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        v_seen := cachemon._batch_seen(v_batch_id, v_hash);
        IF v_seen = 'different' THEN
            RAISE EXCEPTION 'ingest_events: batch % was already stored with different content', v_batch_id
                USING ERRCODE = 'unique_violation',
                      DETAIL = 'A batch id names one batch: its events (compared by a hash of their JSON) must not change between retries.',
                      HINT = 'Send new events under a new batch id (or none, to get a random one).';
        END IF;
        RAISE NOTICE 'ingest_events: batch % was already stored; nothing stored now', v_batch_id;
        RETURN 0;  -- a retry of a stored batch, counted once
    END IF;

    -- The fast path: each element read once into a typed row; a row is kept only when every
    -- field has the JSON type its column needs (jsonb_to_record would also take "5" for a
    -- number, or 5 for a string), it has no unknown field and recorded_at carries an offset.
    -- Lengths, characters, event types and ranges are left to the table's CHECKs and the
    -- ingest trigger. Anything amiss (a row left out, a cast, a CHECK, the trigger) undoes the
    -- fast INSERT and the careful statement below runs instead, to name the first bad element
    -- or to store what only it accepts (a cache_size written 100.0).
    BEGIN
        INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type, cache_key,
                                            response_time_ms, cache_size, error_type, error_message,
                                            batch_id)
        SELECT coalesce(f.recorded_at::timestamptz, pg_catalog.now()), f.implementation_type,
               f.event_type, f.cache_key, f.response_time_ms, f.cache_size, f.error_type,
               f.error_message, v_batch_id
          FROM (
            -- The checks as one column, so the planner keeps them in one place, in this order.
            SELECT r.*,
                   e.value OPERATOR(pg_catalog.-) v_allowed OPERATOR(pg_catalog.=) '{}'::jsonb
                   AND pg_catalog.jsonb_typeof(e.value -> 'implementation_type') = 'string'
                   AND pg_catalog.jsonb_typeof(e.value -> 'event_type') = 'string'
                   AND (r.recorded_at IS NULL
                        OR (pg_catalog.jsonb_typeof(e.value -> 'recorded_at') = 'string'
                            AND r.recorded_at LIKE '____-__-__%'
                            AND pg_catalog.substr(r.recorded_at, 11, 1) IN ('T', 't', ' ')
                            AND (pg_catalog.right(r.recorded_at, 1) IN ('Z', 'z')
                                 OR pg_catalog.substr(r.recorded_at, pg_catalog.length(r.recorded_at) - 5, 1) IN ('+', '-')
                                 OR pg_catalog.substr(r.recorded_at, pg_catalog.length(r.recorded_at) - 4, 1) IN ('+', '-')
                                 OR pg_catalog.substr(r.recorded_at, pg_catalog.length(r.recorded_at) - 2, 1) IN ('+', '-'))))
                   AND (r.response_time_ms IS NULL OR pg_catalog.jsonb_typeof(e.value -> 'response_time_ms') = 'number')
                   AND (r.cache_size IS NULL OR pg_catalog.jsonb_typeof(e.value -> 'cache_size') = 'number')
                   AND (r.cache_key IS NULL OR pg_catalog.jsonb_typeof(e.value -> 'cache_key') = 'string')
                   AND (r.error_type IS NULL OR pg_catalog.jsonb_typeof(e.value -> 'error_type') = 'string')
                   AND (r.error_message IS NULL OR pg_catalog.jsonb_typeof(e.value -> 'error_message') = 'string')
                   AS ok
              FROM pg_catalog.jsonb_array_elements(events) AS e,
                   pg_catalog.jsonb_to_record(e.value) AS r (
                       recorded_at text, implementation_type text, event_type text, cache_key text,
                       response_time_ms double precision, cache_size bigint, error_type text,
                       error_message text)
            OFFSET 0) AS f
         WHERE f.ok;
        GET DIAGNOSTICS v_stored = ROW_COUNT;
        IF v_stored = v_count THEN
            RETURN v_stored;
        END IF;
        RAISE EXCEPTION 'ingest_events: % of % events left the fast path', v_count - v_stored, v_count
            USING ERRCODE = 'data_exception';
    EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
        NULL;  -- undone; the careful statement below decides
    END;

    BEGIN
        INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type, cache_key,
                                            response_time_ms, cache_size, error_type, error_message,
                                            batch_id)
        SELECT coalesce(w.recorded_at::timestamptz, pg_catalog.now()), w.implementation_type,
               w.event_type, w.cache_key,
               w.f_rt, w.n_size::bigint,
               w.error_type, w.error_message, v_batch_id
          FROM (
            SELECT v.*, CASE
                   WHEN v.t_ev <> 'object' THEN '(event)'
                   WHEN v.ev - v_allowed <> '{}'::jsonb THEN '(unknown)'
                   WHEN CASE pg_catalog.jsonb_typeof(v.j_impl)
                        WHEN 'string' THEN
                            pg_catalog.length(v.implementation_type) NOT BETWEEN 1 AND 64
                            OR v.implementation_type ~ '^\s|\s$|[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                        ELSE true END THEN 'implementation_type'
                   WHEN CASE pg_catalog.jsonb_typeof(v.j_et)
                        WHEN 'string' THEN v.event_type NOT IN ('hit', 'miss', 'set', 'evict', 'error')
                        ELSE true END THEN 'event_type'
                   WHEN CASE coalesce(pg_catalog.jsonb_typeof(v.j_ra), 'null')
                        WHEN 'null' THEN false
                        WHEN 'string' THEN
                            -- A date, a time and an explicit offset (Z, +hh, +hhmm or
                            -- +hh:mm); the cast below checks the rest. LIKE and substr, not
                            -- a regular expression: a tenth of the cost per event.
                            NOT (v.recorded_at LIKE '____-__-__%'
                                 AND pg_catalog.substr(v.recorded_at, 11, 1) IN ('T', 't', ' ')
                                 AND (pg_catalog.right(v.recorded_at, 1) IN ('Z', 'z')
                                      OR pg_catalog.substr(v.recorded_at, pg_catalog.length(v.recorded_at) - 5, 1) IN ('+', '-')
                                      OR pg_catalog.substr(v.recorded_at, pg_catalog.length(v.recorded_at) - 4, 1) IN ('+', '-')
                                      OR pg_catalog.substr(v.recorded_at, pg_catalog.length(v.recorded_at) - 2, 1) IN ('+', '-')))
                        ELSE true END THEN 'recorded_at'
                   WHEN CASE coalesce(v.t_rt, 'null')
                        WHEN 'null' THEN false
                        WHEN 'number' THEN v.f_rt <> 0 AND v.f_rt NOT BETWEEN 0.000001 AND v_max_rt_f
                        ELSE true END THEN 'response_time_ms'
                   WHEN CASE coalesce(v.t_size, 'null')
                        WHEN 'null' THEN false
                        WHEN 'number' THEN
                            v.n_size NOT BETWEEN 0 AND 9223372036854775807
                            OR v.n_size <> pg_catalog.trunc(v.n_size)
                        ELSE true END THEN 'cache_size'
                   WHEN CASE coalesce(pg_catalog.jsonb_typeof(v.j_key), 'null')
                        WHEN 'null' THEN false
                        WHEN 'string' THEN pg_catalog.length(v.cache_key) > 4096 OR v.cache_key ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                        ELSE true END THEN 'cache_key'
                   WHEN CASE coalesce(pg_catalog.jsonb_typeof(v.j_etype), 'null')
                        WHEN 'null' THEN false
                        WHEN 'string' THEN pg_catalog.length(v.error_type) > 256 OR v.error_type ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                        ELSE true END THEN 'error_type'
                   WHEN CASE coalesce(pg_catalog.jsonb_typeof(v.j_emsg), 'null')
                        WHEN 'null' THEN false
                        WHEN 'string' THEN pg_catalog.length(v.error_message) > 4096 OR v.error_message ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                        ELSE true END THEN 'error_message'
                   END AS bad
              FROM (
                -- Each field read once: its JSON value (for its type) and its text.
                SELECT x.*, x.j_impl #>> '{}' AS implementation_type, x.j_et #>> '{}' AS event_type,
                       pg_catalog.jsonb_typeof(x.j_rt) AS t_rt, pg_catalog.jsonb_typeof(x.j_size) AS t_size,
                       CASE pg_catalog.jsonb_typeof(x.j_rt) WHEN 'number' THEN (x.j_rt)::double precision END AS f_rt,
                       CASE pg_catalog.jsonb_typeof(x.j_size) WHEN 'number' THEN (x.j_size)::numeric END AS n_size,
                       x.j_ra #>> '{}' AS recorded_at, x.j_key #>> '{}' AS cache_key,
                       x.j_etype #>> '{}' AS error_type, x.j_emsg #>> '{}' AS error_message
                  FROM (SELECT e.ordinality - 1 AS idx, e.value AS ev,
                               pg_catalog.jsonb_typeof(e.value) AS t_ev,
                               e.value -> 'implementation_type' AS j_impl,
                               e.value -> 'event_type' AS j_et,
                               e.value -> 'recorded_at' AS j_ra,
                               e.value -> 'response_time_ms' AS j_rt,
                               e.value -> 'cache_size' AS j_size,
                               e.value -> 'cache_key' AS j_key,
                               e.value -> 'error_type' AS j_etype,
                               e.value -> 'error_message' AS j_emsg
                          FROM pg_catalog.jsonb_array_elements(events) WITH ORDINALITY AS e
                        OFFSET 0) AS x
                OFFSET 0) AS v
            OFFSET 0) AS w
         WHERE w.bad IS NULL OR cachemon._ingest_refuse(w.idx, w.bad, w.ev, v_max_rt);
        GET DIAGNOSTICS v_stored = ROW_COUNT;
    EXCEPTION
    WHEN invalid_parameter_value THEN
        RAISE;  -- the refusal of _ingest_refuse, or of the ingest trigger: already clear
    WHEN data_exception THEN
        -- A value that passed the checks above but not its cast: find the first such element.
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
        FOR v_event, v_index IN
            SELECT e.value, e.ordinality - 1
              FROM pg_catalog.jsonb_array_elements(events) WITH ORDINALITY AS e
             ORDER BY e.ordinality
        LOOP
            v_field := NULL;
            BEGIN
                v_field := 'recorded_at';
                PERFORM (v_event ->> 'recorded_at')::timestamptz;
                v_field := 'response_time_ms';
                PERFORM (v_event ->> 'response_time_ms')::double precision;
                v_field := 'cache_size';
                PERFORM (v_event -> 'cache_size')::numeric::bigint;
                v_field := NULL;
            EXCEPTION WHEN data_exception THEN
                PERFORM cachemon._ingest_refuse(v_index, v_field, v_event, v_max_rt);
            END;
        END LOOP;
        RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = 'ingest_events: ' || v_message;
    END;
    RETURN v_stored;
END
$function$;

COMMENT ON FUNCTION cachemon.ingest_events(jsonb, uuid) IS
    'Store a batch of cache events given as a JSON array of objects (implementation_type, event_type, '
    'and optional recorded_at with an explicit UTC offset, cache_key, response_time_ms, cache_size, '
    'error_type, error_message). All or nothing: a bad event refuses the batch with an error naming its '
    'index, field and value. Idempotent by batch_id: a batch id already stored with the same content '
    'returns 0, with other content it is an error; an empty array stores nothing. Returns the number of '
    'events stored; events without recorded_at get now().';

REVOKE ALL ON FUNCTION cachemon.ingest_events(jsonb, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.ingest_events(jsonb, uuid) TO cachemon_writer, cachemon_admin;

-- sql/functions/migration_verdict.sql
CREATE OR REPLACE FUNCTION cachemon.migration_verdict(
    candidate text DEFAULT 'new',
    reference text DEFAULT 'legacy',
    time_window interval DEFAULT '1 hour',
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS TABLE (
    candidate text,
    reference text,
    window_start timestamptz,
    window_end timestamptz,
    verdict text,
    score numeric,
    evidence text,
    metrics jsonb
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Is the candidate ready to take all traffic? In the manner of automated canary analysis
     * (Kayenta): both implementations over the same window, per metric (hit_rate,
     * error_rate, p50/p95/p99 and average response time) an effect with its confidence
     * interval, a classification (better / equal / worse / no_data) against a tolerance, a
     * score (share of judged metrics that pass) and a verdict (ready / marginal / not_ready /
     * not_enough_data) with one sentence of evidence. LANGUAGE sql because the contract names
     * parameters and result columns alike; the work is in cachemon._migration_verdict.
     */
    SELECT v.o_candidate, v.o_reference, v.o_window_start, v.o_window_end, v.o_verdict,
           v.o_score, v.o_evidence, v.o_metrics
      FROM cachemon._migration_verdict($1, $2, $3, $4) AS v;
$function$;

COMMENT ON FUNCTION cachemon.migration_verdict(text, text, interval, timestamptz) IS
    'Migration verdict (one row): candidate vs reference over the whole minutes of the last time_window, per metric effect, confidence interval and classification (better/equal/worse/no_data), score 0..100 (share of judged metrics that pass) and verdict ready/marginal/not_ready/not_enough_data with a sentence of evidence. Settings verdict.*. Example: SELECT verdict, score, evidence FROM cachemon.migration_verdict();';

REVOKE ALL ON FUNCTION cachemon.migration_verdict(text, text, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.migration_verdict(text, text, interval, timestamptz)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/resolve_observation.sql
CREATE OR REPLACE FUNCTION cachemon.resolve_observation(
    observation_id bigint,
    resolved_by text,
    note text DEFAULT NULL,
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS cachemon.cache_auditor_observations
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_by  text := pg_catalog.btrim(resolve_observation.resolved_by);
    v_obs cachemon.cache_auditor_observations;
BEGIN
    /*
     * Inputs are checked (docs/security.md): p_now at most a day ahead of the database
     * clock and not before the finding's first_seen_at (cachemon._check_now), the name 1 to
     * 200 characters without control or bidi characters, which would reach terminals and
     * pages.
     *
     * A person closes a live finding: status 'resolved' with who, when and an optional note
     * (details.resolution_note). The rule's breach streak restarts, so if the condition
     * still holds a new finding opens only after auditor.open_after more breached
     * evaluations (also a critical one, for an hour after the resolution). Resolving a resolved finding changes nothing; an unknown id is an error.
     */
    IF v_by IS NULL OR v_by = '' OR pg_catalog.length(v_by) > 200
       OR v_by ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]' THEN
        RAISE EXCEPTION 'resolve_observation: resolved_by must be 1..200 characters without control or bidi characters, got %',
            coalesce(pg_catalog.quote_literal(pg_catalog.regexp_replace(
                pg_catalog.left(resolve_observation.resolved_by, 200), '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', '?', 'g')), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.length(note) > 1000 OR note ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]' THEN
        RAISE EXCEPTION 'resolve_observation: note must be at most 1000 characters without control or bidi characters (got % characters)',
            pg_catalog.length(note) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT o.* INTO v_obs FROM cachemon.cache_auditor_observations AS o
     WHERE o.id = resolve_observation.observation_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'resolve_observation: observation_id % does not exist',
            coalesce(resolve_observation.observation_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM cachemon._check_now(p_now, v_obs.first_seen_at);
    IF v_obs.status = 'resolved' THEN
        RETURN v_obs;
    END IF;
    UPDATE cachemon.cache_auditor_observations AS o
       SET status = 'resolved', resolved_at = greatest(p_now, o.last_seen_at), resolved_by = v_by,
           details = o.details || CASE WHEN note IS NULL THEN '{}'::jsonb
                                       ELSE pg_catalog.jsonb_build_object('resolution_note', note) END
     WHERE o.id = v_obs.id
    RETURNING o.* INTO v_obs;
    UPDATE cachemon._audit_state AS s SET breach_streak = 0, breach_since = NULL
     WHERE s.implementation_type = v_obs.implementation_type AND s.rule = v_obs.rule;
    RETURN v_obs;
END
$function$;

COMMENT ON FUNCTION cachemon.resolve_observation(bigint, text, text, timestamptz) IS
    'Resolve a live auditor finding by hand, recording who, when and an optional note; returns the row. The rule must breach auditor.open_after more times to open a new finding.';

REVOKE ALL ON FUNCTION cachemon.resolve_observation(bigint, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.resolve_observation(bigint, text, text, timestamptz) TO cachemon_admin;

-- sql/functions/run_auditor.sql
CREATE OR REPLACE FUNCTION cachemon.run_auditor(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (
    evaluated integer,
    breaches integer,
    opened integer,
    updated integer,
    escalated integer,
    resolved integer,
    skipped text
)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_window      interval;
    v_window_end  timestamptz := pg_catalog.date_trunc('minute', p_now, 'UTC');
    v_open_after  integer;
    v_open_crit   integer;
    v_clear_after integer;
    v_fn          record;
    v_rows        cachemon._finding[];
    v_all         cachemon._finding[] := '{}';
    v_g           record;
    v_state       cachemon._audit_state;
    v_obs         cachemon.cache_auditor_observations;
    v_counts      boolean;
    v_breach_n    integer;
    v_clear_n     integer;
    v_since       timestamptz;
    v_severity    text;
    v_details     jsonb;
    v_base_k      integer;
    v_lead        cachemon.cache_auditor_observations;
    v_related     jsonb;
BEGIN
    /*
     * One evaluation of every enabled rule over the whole minutes of
     * [p_now - auditor.window, p_now), and the lifecycle of the findings:
     *
     * - Rules are found in the catalog, not in a list: every function
     *   cachemon._rule_<rule>(timestamptz, interval) RETURNS SETOF cachemon._finding whose
     *   row in cachemon._auditor_rules is enabled. A rule function without a row is skipped
     *   with a WARNING.
     * - Per (implementation, rule) the rows are combined: 'breach' if any row breaches,
     *   'clear' if all are clear, else 'hold'. The most severe breach row speaks for the
     *   finding; lesser rows of the same rule are suppressed and listed in
     *   details.suppressed (a critical p95 hides a warning on the average).
     * - _audit_state counts consecutive breached and clear evaluations. A second run for the
     *   same minute does not count again (tick may run more than once a minute).
     * - A finding opens when the breach streak reaches open_after (rule row or setting
     *   auditor.open_after), a critical one when it reaches auditor.open_after_critical
     *   (default 1) if that is smaller; there is at most one live (open or acknowledged) finding per
     *   (implementation, rule). A breach with a live finding updates it: last_seen_at,
     *   occurrences, values and message; severity only goes up (escalates in place), and an
     *   escalated acknowledged finding becomes open again (someone acknowledged a warning,
     *   not a critical). The finding resolves (resolved_by 'auditor') when the clear streak
     *   reaches clear_after; 'hold' (the hysteresis band, or too little traffic) breaks
     *   both streaks.
     *
     * Since revision 0007:
     * - Rules return one row per window and metric (details.window_minutes, details.enough).
     *   Per metric, the window deciding "clear" is auditor.window (else the shortest longer
     *   window with enough traffic); a breach in any window counts, except a breach in a
     *   longer window while the deciding window is clear (that is the past, not now). Since
     *   revision 0010, while the rule has a live finding for that implementation and the
     *   sequential test's reverse CUSUM for the metric (details.recovery) has reached
     *   auditor.cusum_h / 2 (or its statistic is 0), a deciding window longer than
     *   auditor.window is clear and its
     *   breach does not count: it still holds the incident's minutes (up to an hour for p99
     *   at night), and the finding would stay open that long and swallow the next incident.
     * - One incident, one finding: when a rule would open a finding while the implementation
     *   already has a live one (another rule) that breached within the last three
     *   auditor.window lengths, it opens nothing; it is listed in the live
     *   finding's details.related (and named in its message), and may raise its severity.
     *   The live finding resolves only when its own rule is clear and no related rule still
     *   breaches. An 'info' finding (a traffic surge) never leads a warning or critical one.
     * - Since revision 0009 the quality rules also return the sequential test's row
     *   (details.test = 'sequential', cachemon._cusum); it breaches only beyond the rule's
     *   threshold, its window is the minutes of its segment, and it opens like a critical
     *   breach (auditor.open_after_critical).
     * - A breach in a window longer than auditor.window that reaches back before the
     *   implementation's last resolution (cachemon._last_resolution, where the sequential
     *   test restarts too) does not count (no second finding for the minutes of an
     *   incident already closed; since 0009 also when that window is the deciding one of a
     *   quiet implementation, or the sequential test's segment).
     *
     * Runs from tick() every minute: it takes a try-lock and returns skipped when another
     * run holds it, and does nothing on a standby.
     */
    IF pg_catalog.pg_is_in_recovery() THEN
        RETURN QUERY SELECT 0, 0, 0, 0, 0, 0, 'database is in recovery (standby)'::text;
        RETURN;
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('cachemon.run_auditor')) THEN
        RETURN QUERY SELECT 0, 0, 0, 0, 0, 0, 'another run_auditor is running'::text;
        RETURN;
    END IF;
    -- Finite, at most a day ahead and at most retention.raw behind the clock (one rule).
    PERFORM cachemon._check_now(p_now);

    v_window := cachemon._setting('auditor.window')::interval;
    v_open_after := cachemon._setting('auditor.open_after')::integer;
    v_open_crit := coalesce(cachemon._setting('auditor.open_after_critical')::integer, v_open_after);
    v_clear_after := cachemon._setting('auditor.clear_after')::integer;
    IF v_window < interval '1 minute' OR v_window > interval '1 day' THEN
        RAISE EXCEPTION 'run_auditor: setting auditor.window must be between 1 minute and 1 day, got %', v_window
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_open_after < 1 OR v_clear_after < 1 OR v_open_crit < 1 THEN
        RAISE EXCEPTION 'run_auditor: settings auditor.open_after, auditor.open_after_critical and auditor.clear_after must be >= 1, got %, % and %',
            v_open_after, v_open_crit, v_clear_after USING ERRCODE = 'invalid_parameter_value';
    END IF;

    evaluated := 0; breaches := 0; opened := 0; updated := 0; escalated := 0; resolved := 0;

    -- Every window's statistics once per run (rules read them through _window_stats); the
    -- two temporary tables live for this call only.
    IF pg_catalog.to_regclass('pg_temp._cachemon_ws_keys') IS NULL THEN
        CREATE TEMPORARY TABLE _cachemon_ws_keys (
            p_from timestamptz, p_to timestamptz) ON COMMIT DROP;
    END IF;
    IF pg_catalog.to_regclass('pg_temp._cachemon_ws') IS NULL THEN
        CREATE TEMPORARY TABLE _cachemon_ws ON COMMIT DROP AS
            SELECT NULL::timestamptz AS p_from, NULL::timestamptz AS p_to, s.*
              FROM cachemon._window_stats_compute(NULL, NULL) AS s WITH NO DATA;
    END IF;
    TRUNCATE pg_temp._cachemon_ws_keys, pg_temp._cachemon_ws;
    INSERT INTO pg_temp._cachemon_ws
    SELECT v_window_end - pg_catalog.make_interval(mins => k.k), v_window_end, s.*
      FROM cachemon._auditor_windows(v_window) AS k (k)
     CROSS JOIN LATERAL cachemon._window_stats_compute(
         v_window_end - pg_catalog.make_interval(mins => k.k), v_window_end) AS s;
    INSERT INTO pg_temp._cachemon_ws_keys
    SELECT v_window_end - pg_catalog.make_interval(mins => k.k), v_window_end
      FROM cachemon._auditor_windows(v_window) AS k (k);

    -- The sequential test once per run too (three rules read it through cachemon._cusum).
    IF pg_catalog.to_regclass('pg_temp._cachemon_cusum_keys') IS NULL THEN
        CREATE TEMPORARY TABLE _cachemon_cusum_keys (p_now timestamptz) ON COMMIT DROP;
    END IF;
    IF pg_catalog.to_regclass('pg_temp._cachemon_cusum') IS NULL THEN
        CREATE TEMPORARY TABLE _cachemon_cusum ON COMMIT DROP AS
            SELECT NULL::timestamptz AS p_now, c.*
              FROM cachemon._cusum_compute(NULL) AS c WITH NO DATA;
    END IF;
    TRUNCATE pg_temp._cachemon_cusum_keys, pg_temp._cachemon_cusum;
    INSERT INTO pg_temp._cachemon_cusum SELECT p_now, c.* FROM cachemon._cusum_compute(p_now) AS c;
    INSERT INTO pg_temp._cachemon_cusum_keys VALUES (p_now);

    FOR v_fn IN
        SELECT p.proname::text AS proname, substr(p.proname, 7) AS rule, r.enabled
          FROM pg_catalog.pg_proc AS p
          LEFT JOIN cachemon._auditor_rules AS r ON r.rule = substr(p.proname, 7)
         WHERE p.pronamespace = 'cachemon'::regnamespace
           AND p.proname LIKE '\_rule\_%'
           AND p.prorettype = 'cachemon._finding'::regtype
           AND p.pronargs = 2
           AND p.proargtypes[0] = 'timestamptz'::regtype
           AND p.proargtypes[1] = 'interval'::regtype
         ORDER BY p.proname
    LOOP
        IF v_fn.enabled IS NULL THEN
            RAISE WARNING 'run_auditor: rule function cachemon.%(timestamptz, interval) has no row in cachemon._auditor_rules; skipped',
                v_fn.proname;
            CONTINUE;
        END IF;
        CONTINUE WHEN NOT v_fn.enabled;
        EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(f) FROM %I.%I($1, $2) AS f',
                                  'cachemon', v_fn.proname)
           INTO v_rows USING p_now, v_window;
        v_all := v_all || coalesce(v_rows, '{}');
    END LOOP;

    v_base_k := (extract(epoch FROM v_window) / 60)::integer;
    FOR v_g IN
        WITH f0 AS (
            SELECT u.*,
                   coalesce((u.details ->> 'window_minutes')::integer, v_base_k) AS k,
                   coalesce((u.details ->> 'enough')::boolean, u.state <> 'hold') AS enough
              FROM unnest(v_all) AS u
             WHERE u.implementation_type IS NOT NULL
        ), calm AS (
            -- Per (implementation, rule, metric) with a live finding of that rule: the
            -- sequential test's reverse CUSUM (details.recovery, the evidence for "as in the
            -- baseline" since its peak) has reached auditor.cusum_h / 2, or the statistic is
            -- back at 0. A window longer than auditor.window (the deciding window of a quiet
            -- hour: p99 at night needs 60 minutes) still holds the incident's minutes for up
            -- to an hour after it ended; once the minutes since favour the baseline that
            -- strongly, its breach is the past, and the metric is clear.
            SELECT f0.implementation_type, f0.rule, f0.metric
              FROM f0
             WHERE f0.details ->> 'test' = 'sequential'
               AND EXISTS (SELECT 1 FROM cachemon.cache_auditor_observations AS o
                            WHERE o.implementation_type = f0.implementation_type
                              AND o.rule = f0.rule AND o.resolved_at IS NULL)
             GROUP BY f0.implementation_type, f0.rule, f0.metric
            HAVING bool_and(coalesce((f0.details ->> 'cusum')::double precision, 1) = 0
                            OR coalesce((f0.details ->> 'recovery')::double precision, 0)
                               >= cachemon._setting('auditor.cusum_h')::double precision / 2)
        ), judge AS (
            -- Per (implementation, rule, metric) the window that decides "clear": auditor.window,
            -- else the shortest longer window with enough traffic; a longer one is clear
            -- while the sequential test is calm (above).
            SELECT DISTINCT ON (f0.implementation_type, f0.rule, f0.metric)
                   f0.implementation_type, f0.rule, f0.metric, f0.k AS judge_k,
                   CASE WHEN f0.k > v_base_k AND c.metric IS NOT NULL THEN 'clear'
                        ELSE f0.state END AS judge_state
              FROM f0
              LEFT JOIN calm AS c
                ON c.implementation_type = f0.implementation_type AND c.rule = f0.rule
               AND c.metric IS NOT DISTINCT FROM f0.metric
             WHERE f0.enough AND f0.k >= v_base_k
             ORDER BY f0.implementation_type, f0.rule, f0.metric, f0.k
        ), f1 AS (
            -- A breach in a window longer than the judging one counts only while the judging
            -- window is not clear (old evidence must not keep or reopen a finding).
            -- And a breach in any window longer than auditor.window (a long window, the judging
            -- window of a quiet implementation, the segment of the sequential test) counts only
            -- when it begins at or after the implementation's last resolution
            -- (cachemon._last_resolution, where the sequential test restarts too): those
            -- minutes were one incident, they must not open a second finding.
            SELECT f0.*, j.judge_k, j.judge_state,
                   f0.state = 'breach'
                   AND (j.judge_k IS NULL OR f0.k < j.judge_k
                        OR (f0.k = j.judge_k AND f0.k <= v_base_k) OR j.judge_state <> 'clear')
                   AND (f0.k <= v_base_k
                        OR v_window_end - pg_catalog.make_interval(mins => f0.k)
                           >= coalesce(lr.resolved_at, '-infinity')) AS counts
              FROM f0 LEFT JOIN judge AS j
                ON j.implementation_type = f0.implementation_type AND j.rule = f0.rule
               AND j.metric IS NOT DISTINCT FROM f0.metric
              LEFT JOIN cachemon._last_resolution(p_now) AS lr
                ON lr.implementation_type = f0.implementation_type
        ), ms AS (
            -- A metric is clear when its deciding window is, unless its sequential test is
            -- in 'hold' (the segment's value beyond the clear threshold, the statistic just
            -- below its level) while its excursion still grows (details.recent > 0): a
            -- 15-minute deciding window at night is mostly minutes from before the incident,
            -- and a threshold-level incident whose statistic dipped under its level for three
            -- minutes was resolved half-way (seed 2, hit rate -12% at 39 lookups a minute).
            SELECT f1.implementation_type, f1.rule, f1.metric,
                   CASE WHEN bool_or(f1.counts) THEN 'breach'
                        WHEN bool_and(f1.judge_state = 'clear')
                             AND NOT coalesce(bool_or(f1.details ->> 'test' = 'sequential'
                                                      AND f1.state = 'hold'
                                                      AND (f1.details ->> 'recent')::double precision > 0), false)
                        THEN 'clear'
                        ELSE 'hold' END AS mstate,
                   bool_or(f1.judge_state IS NOT NULL) AS has_judge
              FROM f1 GROUP BY f1.implementation_type, f1.rule, f1.metric
        ), f AS (
            SELECT f1.*, row_number() OVER (
                       PARTITION BY f1.implementation_type, f1.rule
                       ORDER BY f1.counts DESC, f1.severity = 'critical' DESC,
                                f1.severity = 'warning' DESC,
                                (f1.counts AND f1.details ->> 'test' IS NOT DISTINCT FROM 'sequential') DESC,
                                f1.k = coalesce(f1.judge_k, v_base_k) DESC,
                                abs(f1.score) DESC NULLS LAST, f1.k, f1.metric) AS rn
              FROM f1
        )
        SELECT top.*,
               CASE WHEN g.n_breach > 0 THEN 'breach' WHEN g.all_clear THEN 'clear' ELSE 'hold' END
                   AS group_state,
               sup.suppressed
          FROM f AS top
          JOIN (SELECT ms.implementation_type, ms.rule,
                       count(*) FILTER (WHERE ms.mstate = 'breach') AS n_breach,
                       -- metrics that no window could judge (too little traffic for a p99,
                       -- no baseline value) neither hold nor clear the group
                       coalesce(bool_and(ms.mstate = 'clear') FILTER (WHERE ms.has_judge), false)
                           AS all_clear
                  FROM ms GROUP BY ms.implementation_type, ms.rule) AS g
            ON g.implementation_type = top.implementation_type AND g.rule = top.rule
          LEFT JOIN LATERAL (
                SELECT pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_object(
                           'metric', f.metric, 'severity', f.severity))
                           FILTER (WHERE f.counts AND f.rn > 1 AND f.metric IS DISTINCT FROM top.metric) AS suppressed
                  FROM f WHERE f.implementation_type = top.implementation_type AND f.rule = top.rule) AS sup
            ON true
         WHERE top.rn = 1
         ORDER BY top.implementation_type,
                  CASE WHEN g.n_breach > 0 THEN 0 ELSE 1 END,
                  top.severity = 'critical' DESC, top.severity = 'warning' DESC,
                  abs(top.score) DESC NULLS LAST, top.rule
    LOOP
        evaluated := evaluated + 1;
        IF v_g.group_state = 'breach' THEN
            breaches := breaches + 1;
        END IF;

        -- Streaks (persistence and hysteresis).
        SELECT s.* INTO v_state FROM cachemon._audit_state AS s
         WHERE s.implementation_type = v_g.implementation_type AND s.rule = v_g.rule
           FOR UPDATE;
        v_counts := v_state.rule IS NULL OR v_state.last_window_end <> v_window_end;
        IF NOT v_counts THEN
            v_breach_n := v_state.breach_streak;
            v_clear_n := v_state.clear_streak;
            v_since := v_state.breach_since;
        ELSIF v_g.group_state = 'breach' THEN
            v_breach_n := coalesce(v_state.breach_streak, 0) + 1;
            v_clear_n := 0;
            v_since := CASE WHEN v_state.breach_streak > 0 THEN v_state.breach_since ELSE p_now END;
        ELSIF v_g.group_state = 'clear' THEN
            v_breach_n := 0;
            v_clear_n := coalesce(v_state.clear_streak, 0) + 1;
            v_since := NULL;
        ELSE
            v_breach_n := 0;
            v_clear_n := 0;
            v_since := NULL;
        END IF;
        INSERT INTO cachemon._audit_state AS s
               (implementation_type, rule, last_window_end, last_state, breach_streak,
                clear_streak, breach_since, updated_at)
        VALUES (v_g.implementation_type, v_g.rule, v_window_end, v_g.group_state, v_breach_n,
                v_clear_n, v_since, p_now)
        ON CONFLICT (implementation_type, rule) DO UPDATE
           SET last_window_end = EXCLUDED.last_window_end, last_state = EXCLUDED.last_state,
               breach_streak = EXCLUDED.breach_streak, clear_streak = EXCLUDED.clear_streak,
               breach_since = EXCLUDED.breach_since, updated_at = EXCLUDED.updated_at;

        SELECT o.* INTO v_obs FROM cachemon.cache_auditor_observations AS o
         WHERE o.implementation_type = v_g.implementation_type AND o.rule = v_g.rule
           AND o.status <> 'resolved'
           FOR UPDATE;

        IF v_g.group_state = 'breach' THEN
            v_details := coalesce(v_g.details, '{}'::jsonb) || pg_catalog.jsonb_build_object(
                'state', v_g.state, 'sample_size', v_g.sample_size,
                'score', round(v_g.score::numeric, 3), 'window', v_window::text,
                'evaluated_at', p_now, 'suppressed', coalesce(v_g.suppressed, '[]'::jsonb));
            IF v_obs.id IS NOT NULL THEN
                v_severity := CASE WHEN 'critical' IN (v_obs.severity, v_g.severity) THEN 'critical'
                                   WHEN 'warning' IN (v_obs.severity, v_g.severity) THEN 'warning'
                                   ELSE 'info' END;
                UPDATE cachemon.cache_auditor_observations AS o
                   SET last_seen_at = greatest(o.last_seen_at, p_now),
                       occurrences = o.occurrences + CASE WHEN v_counts THEN 1 ELSE 0 END,
                       severity = v_severity,
                       metric = v_g.metric,
                       observed_value = v_g.observed_value,
                       baseline_value = v_g.baseline_value,
                       deviation_pct = v_g.deviation_pct,
                       message = left(v_g.message || cachemon._related_suffix(o.details), 2000),
                       recommendation = left(v_g.recommendation, 2000),
                       status = CASE WHEN v_severity <> o.severity THEN 'open' ELSE o.status END,
                       acknowledged_at = CASE WHEN v_severity <> o.severity THEN NULL ELSE o.acknowledged_at END,
                       acknowledged_by = CASE WHEN v_severity <> o.severity THEN NULL ELSE o.acknowledged_by END,
                       details = o.details || v_details
                           || pg_catalog.jsonb_build_object('lead_message', left(v_g.message, 2000))
                           || CASE WHEN v_severity <> o.severity THEN pg_catalog.jsonb_build_object(
                                  'escalated_at', p_now, 'escalated_from', o.severity,
                                  'previous_acknowledgement', CASE WHEN o.acknowledged_by IS NOT NULL
                                      THEN pg_catalog.jsonb_build_object('by', o.acknowledged_by,
                                                                         'at', o.acknowledged_at) END)
                              ELSE '{}'::jsonb END
                 WHERE o.id = v_obs.id;
                IF v_severity <> v_obs.severity THEN
                    escalated := escalated + 1;
                ELSE
                    updated := updated + 1;
                END IF;
            -- Strong evidence opens sooner: a critical breach (judged without the worst
            -- minute of its window, so one stalled minute never gets here), or a breach of
            -- the sequential test (whose threshold auditor.cusum_h already sets its false
            -- alarm rate, and which no single minute can reach) opens after
            -- auditor.open_after_critical evaluations (default 1); not within an hour after a
            -- person resolved a finding of this implementation and rule (a resolution by hand
            -- is respected for auditor.open_after evaluations).
            ELSIF v_breach_n >= (CASE WHEN (v_g.severity = 'critical'
                                            OR v_g.details ->> 'test' IS NOT DISTINCT FROM 'sequential')
                                       AND NOT EXISTS (
                          SELECT 1 FROM cachemon.cache_auditor_observations AS o
                           WHERE o.implementation_type = v_g.implementation_type
                             AND o.rule = v_g.rule AND o.status = 'resolved'
                             AND o.resolved_by IS DISTINCT FROM 'auditor'
                             AND o.resolved_at > p_now - interval '1 hour')
                      THEN least(coalesce((SELECT r.open_after FROM cachemon._auditor_rules AS r
                                            WHERE r.rule = v_g.rule), v_open_after), v_open_crit)
                      ELSE coalesce((SELECT r.open_after FROM cachemon._auditor_rules AS r
                                      WHERE r.rule = v_g.rule), v_open_after) END) THEN
                -- One incident, one finding: a live finding of the same implementation (another
                -- rule) leads; this rule is listed in its details.related and can raise its
                -- severity, but opens nothing of its own.
                SELECT o.* INTO v_lead FROM cachemon.cache_auditor_observations AS o
                 WHERE o.implementation_type = v_g.implementation_type AND o.status <> 'resolved'
                   AND (o.severity <> 'info' OR v_g.severity = 'info')
                   -- the same incident: the live finding breached within three windows
                   AND o.last_seen_at >= p_now - 3 * v_window
                 ORDER BY o.first_seen_at, o.id
                 LIMIT 1
                   FOR UPDATE;
                IF v_lead.id IS NOT NULL THEN
                    v_severity := CASE WHEN 'critical' IN (v_lead.severity, v_g.severity) THEN 'critical'
                                       WHEN 'warning' IN (v_lead.severity, v_g.severity) THEN 'warning'
                                       ELSE 'info' END;
                    v_related := coalesce(v_lead.details -> 'related', '{}'::jsonb)
                        || pg_catalog.jsonb_build_object(v_g.rule, pg_catalog.jsonb_build_object(
                               'severity', v_g.severity, 'category', v_g.category,
                               'metric', v_g.metric, 'observed_value', v_g.observed_value,
                               'baseline_value', v_g.baseline_value, 'message', left(v_g.message, 500),
                               'first_seen_at', coalesce(v_lead.details -> 'related' -> v_g.rule ->> 'first_seen_at',
                                                         p_now::text),
                               'last_seen_at', p_now));
                    UPDATE cachemon.cache_auditor_observations AS o
                       SET last_seen_at = greatest(o.last_seen_at, p_now),
                           severity = v_severity,
                           message = left(coalesce(o.details ->> 'lead_message', o.message)
                                          || cachemon._related_suffix(
                                                 pg_catalog.jsonb_build_object('related', v_related)), 2000),
                           status = CASE WHEN v_severity <> o.severity THEN 'open' ELSE o.status END,
                           acknowledged_at = CASE WHEN v_severity <> o.severity THEN NULL ELSE o.acknowledged_at END,
                           acknowledged_by = CASE WHEN v_severity <> o.severity THEN NULL ELSE o.acknowledged_by END,
                           details = o.details || pg_catalog.jsonb_build_object('related', v_related)
                               || CASE WHEN v_severity <> o.severity THEN pg_catalog.jsonb_build_object(
                                      'escalated_at', p_now, 'escalated_from', o.severity,
                                      'escalated_by_rule', v_g.rule)
                                  ELSE '{}'::jsonb END
                     WHERE o.id = v_lead.id;
                    IF v_severity <> v_lead.severity THEN
                        escalated := escalated + 1;
                    ELSE
                        updated := updated + 1;
                    END IF;
                    CONTINUE;
                END IF;
                INSERT INTO cachemon.cache_auditor_observations AS o
                       (implementation_type, rule, severity, category, status, metric,
                        observed_value, baseline_value, deviation_pct, message, recommendation,
                        first_seen_at, last_seen_at, occurrences, details)
                VALUES (v_g.implementation_type, v_g.rule, v_g.severity, v_g.category, 'open',
                        v_g.metric, v_g.observed_value, v_g.baseline_value, v_g.deviation_pct,
                        left(v_g.message, 2000), left(v_g.recommendation, 2000),
                        least(coalesce(v_since, p_now), p_now), p_now, greatest(v_breach_n, 1),
                        v_details || pg_catalog.jsonb_build_object('opened_at', p_now,
                            'lead_message', left(v_g.message, 2000)));
                opened := opened + 1;
            END IF;
        ELSIF v_g.group_state = 'clear' AND v_obs.id IS NOT NULL
              AND NOT EXISTS (
                  -- a grouped finding stays open while a rule listed in it still breaches
                  SELECT 1 FROM cachemon._audit_state AS st
                   WHERE st.implementation_type = v_g.implementation_type
                     AND st.last_state = 'breach'
                     AND v_obs.details -> 'related' ? st.rule)
              AND v_clear_n >= coalesce(
                      (SELECT r.clear_after FROM cachemon._auditor_rules AS r WHERE r.rule = v_g.rule),
                      v_clear_after) THEN
            UPDATE cachemon.cache_auditor_observations AS o
               SET status = 'resolved', resolved_at = greatest(p_now, o.last_seen_at),
                   resolved_by = 'auditor',
                   details = o.details || pg_catalog.jsonb_build_object(
                       'resolution', pg_catalog.format('condition clear for %s consecutive evaluations: %s',
                                                       v_clear_n, v_g.message))
             WHERE o.id = v_obs.id;
            resolved := resolved + 1;
        END IF;
    END LOOP;

    DROP TABLE pg_temp._cachemon_ws_keys, pg_temp._cachemon_ws, pg_temp._cachemon_cusum_keys,
        pg_temp._cachemon_cusum;
    skipped := NULL;
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION cachemon.run_auditor(timestamptz) IS
    'Evaluate every enabled auditor rule (functions cachemon._rule_*) over the last auditor.window before p_now and keep findings in cache_auditor_observations: open after auditor.open_after breached evaluations (a critical breach after auditor.open_after_critical), one live finding per implementation and rule, escalate in place, resolve after auditor.clear_after clear evaluations. Returns counts; skipped says why nothing ran (another run holds the lock, or standby).';

REVOKE ALL ON FUNCTION cachemon.run_auditor(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.run_auditor(timestamptz) TO cachemon_admin;

-- sql/functions/run_maintenance.sql
CREATE OR REPLACE FUNCTION cachemon.run_maintenance(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS cachemon.maintenance_result
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Every lock this function takes is waited for at most this long (a queued lock request
-- blocks the ingests behind it); a step that cannot get its lock is skipped and retried by the
-- next run.
SET lock_timeout = '1s'
AS $function$
DECLARE
    v_now timestamptz := cachemon._check_now(p_now);
    v_result cachemon.maintenance_result;
    v_raw interval := cachemon._setting('retention.raw')::interval;
    v_premake interval := GREATEST(cachemon._setting('partitions.premake')::interval,
                                   interval '4 days',
                                   cachemon._setting('ingest.max_future')::interval + interval '1 day');
    v_cutoff timestamptz := v_now - v_raw;
    v_day date;
    v_name text;
    v_from timestamptz;
    v_to timestamptz;
    v_count bigint;
    v_dropped_upto timestamptz;
    v_skipped text[] := '{}';
BEGIN
    /*
     * Partitions and retention, run hourly (pg_cron job cachemon-maintenance or
     * `cachemon scheduler`). p_now must lie near the database clock (cachemon._check_now:
     * at most a day ahead, at most retention.raw behind), so a typo cannot drop every
     * partition or loop over endless days. Same guards as tick: nothing on a standby, and a
     * try-lock so two runs never overlap (status 'busy').
     *
     * Locks. INSERTs into cache_metrics hold ROW EXCLUSIVE on the parent; every lock taken
     * here is held until this function's transaction commits, so the steps are ordered to
     * keep the parent free for ingest until the very end, and each waits at most
     * lock_timeout (1 s) for its lock (a waiting request blocks the ingests queued behind it):
     *
     * 1. Premake daily partitions cachemon.cache_metrics_pYYYYMMDD (UTC days) from the day
     *    holding p_now - retention.raw through p_now + partitions.premake (never less than 4
     *    days, and always beyond ingest.max_future). Each is created as a plain table, filled
     *    with the default partition's rows of its day if any, then attached: ATTACH PARTITION
     *    takes only SHARE UPDATE EXCLUSIVE on the parent, which ingest does not wait for
     *    (ACCESS EXCLUSIVE goes to the new table and the default partition only).
     * 2. Deletes cache_metrics_1min / _1hour rows past retention.1min / retention.1hour, the
     *    internal day rows (_cache_metrics_1day) of days past retention.1hour (the day the
     *    cutoff cuts is rebuilt from its remaining hours), stored batch ids past raw retention
     *    plus a day (_forget_ingested_batches) and old cron.job_run_details rows
     *    (cachemon._purge_cron_history). Row locks only.
     * 3. Reports rows still in the default partition (e.g. older than any kept day).
     * 4. Last, drops whole partitions whose day ended before p_now - retention.raw (never a
     *    DELETE of raw rows), and the queued marks of those days. DROP takes ACCESS EXCLUSIVE
     *    on the parent, held to commit: it is the last step, so ingest waits at most for the
     *    drops themselves (catalog work; the files go at commit). A step whose lock is not
     *    granted within lock_timeout is skipped (status 'partial', a WARNING) and retried by
     *    the next run.
     *
     * SECURITY DEFINER because creating, attaching and dropping partitions needs ownership of
     * cache_metrics, which cachemon_admin (the only grantee) does not have. Its one input,
     * p_now, is bounded by cachemon._check_now.
     */
    v_result := ROW('done', '{}', '{}', 0, 0, 0, 0, 0, 0)::cachemon.maintenance_result;
    IF pg_catalog.pg_is_in_recovery() THEN
        v_result.status := 'standby';
        RETURN v_result;
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(1667326824, 1835101812) THEN  -- 'cach', 'mant'
        v_result.status := 'busy';
        RETURN v_result;
    END IF;

    -- 1. Premake: create, fill from the default partition, attach (one step per day).
    FOR v_day IN
        SELECT d::date
          FROM pg_catalog.generate_series((v_cutoff AT TIME ZONE 'UTC')::date::timestamp,
                                          ((v_now + v_premake) AT TIME ZONE 'UTC')::date::timestamp,
                                          interval '1 day') AS d
    LOOP
        v_name := 'cache_metrics_p' || pg_catalog.to_char(v_day, 'YYYYMMDD');
        CONTINUE WHEN pg_catalog.to_regclass(pg_catalog.format('cachemon.%I', v_name)) IS NOT NULL;
        v_from := v_day::timestamp AT TIME ZONE 'UTC';
        v_to := (v_day + 1)::timestamp AT TIME ZONE 'UTC';
        BEGIN
            EXECUTE pg_catalog.format(
                'CREATE TABLE cachemon.%I (LIKE cachemon.cache_metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                v_name);
            EXECUTE pg_catalog.format('ALTER TABLE cachemon.%I ENABLE ROW LEVEL SECURITY', v_name);
            EXECUTE pg_catalog.format('REVOKE ALL ON cachemon.%I FROM PUBLIC', v_name);
            IF EXISTS (SELECT FROM cachemon.cache_metrics_default AS d
                        WHERE d.recorded_at >= v_from AND d.recorded_at < v_to) THEN
                EXECUTE pg_catalog.format(
                    'WITH moved AS (DELETE FROM cachemon.cache_metrics_default'
                    ' WHERE recorded_at >= $1 AND recorded_at < $2 RETURNING *)'
                    ' INSERT INTO cachemon.%I SELECT * FROM moved', v_name)
                    USING v_from, v_to;
                GET DIAGNOSTICS v_count = ROW_COUNT;
                v_result.rows_moved := v_result.rows_moved + v_count;
            END IF;
            EXECUTE pg_catalog.format(
                'ALTER TABLE cachemon.cache_metrics ATTACH PARTITION cachemon.%I FOR VALUES FROM (%L) TO (%L)',
                v_name, v_from, v_to);
            v_result.partitions_created := v_result.partitions_created || v_name;
        EXCEPTION WHEN lock_not_available THEN
            v_skipped := v_skipped || ('create ' || v_name);
        END;
    END LOOP;

    -- 2. Rollup retention.
    DELETE FROM cachemon.cache_metrics_1min AS m
     WHERE m.bucket < v_now - cachemon._setting('retention.1min')::interval;
    GET DIAGNOSTICS v_result.minute_rows_deleted = ROW_COUNT;
    DELETE FROM cachemon.cache_metrics_1hour AS h
     WHERE h.bucket < v_now - cachemon._setting('retention.1hour')::interval;
    GET DIAGNOSTICS v_result.hour_rows_deleted = ROW_COUNT;
    -- Day rows follow the hours: days that ended before the cutoff go; the day the cutoff
    -- cuts is rebuilt from its remaining hours, so every day row stays the merge of its
    -- hourly rows (a summary reaching back there reads the same as from the hours).
    -- Not reported in maintenance_result (an internal table; the result type is the contract).
    DELETE FROM cachemon._cache_metrics_1day AS d
     WHERE d.bucket + interval '1 day' <= v_now - cachemon._setting('retention.1hour')::interval;
    PERFORM cachemon._rollup_days(pg_catalog.array_agg(d.bucket), pg_catalog.array_agg(d.implementation_type))
       FROM cachemon._cache_metrics_1day AS d
      WHERE d.bucket < v_now - cachemon._setting('retention.1hour')::interval;
    -- Batch ids (kept as long as a retry could still be accepted) and pg_cron history.
    v_result.batch_ids_deleted := cachemon._forget_ingested_batches(v_now);
    v_result.cron_runs_deleted := cachemon._purge_cron_history(v_now);

    -- 3. What is left in the default partition.
    SELECT pg_catalog.count(*) INTO v_result.default_rows_left FROM cachemon.cache_metrics_default;
    IF v_result.default_rows_left > 0 THEN
        RAISE NOTICE 'cachemon.run_maintenance: % rows remain in cachemon.cache_metrics_default (outside every kept day)',
            v_result.default_rows_left;
    END IF;

    -- 4. Drop expired days, last (see above), one step each.
    FOR v_name, v_to IN
        SELECT c.relname,
               (pg_catalog.to_date(pg_catalog.substr(c.relname, 16), 'YYYYMMDD') + 1)::timestamp
                   AT TIME ZONE 'UTC'
          FROM pg_catalog.pg_inherits AS i
          JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'cachemon.cache_metrics'::regclass
           AND c.relname ~ '^cache_metrics_p[0-9]{8}$'
         ORDER BY c.relname
    LOOP
        CONTINUE WHEN v_to > v_cutoff;
        BEGIN
            EXECUTE pg_catalog.format('DROP TABLE cachemon.%I', v_name);
            v_result.partitions_dropped := v_result.partitions_dropped || v_name;
            v_dropped_upto := GREATEST(v_dropped_upto, v_to);
        EXCEPTION WHEN lock_not_available THEN
            v_skipped := v_skipped || ('drop ' || v_name);
        END;
    END LOOP;
    IF v_dropped_upto IS NOT NULL THEN
        DELETE FROM cachemon._dirty_buckets AS d WHERE d.bucket < v_dropped_upto;
    END IF;

    IF pg_catalog.cardinality(v_skipped) > 0 THEN
        v_result.status := 'partial';
        RAISE WARNING 'cachemon.run_maintenance: skipped (lock not granted within lock_timeout, retried next run): %',
            pg_catalog.array_to_string(v_skipped, ', ');
    END IF;
    RETURN v_result;
END
$function$;

COMMENT ON FUNCTION cachemon.run_maintenance(timestamptz) IS
    'Partitions and retention (p_now within [now() - retention.raw, now() + 1 day]): premakes daily partitions of cache_metrics (moving rows out of the default partition), drops days past retention.raw, trims cache_metrics_1min/_1hour (and the internal _cache_metrics_1day), stored batch ids and cron.job_run_details. Partition DDL in short steps, each waiting at most lock_timeout = 1s (status partial when one is skipped); drops come last so ingest is blocked only by them. SECURITY DEFINER: partition DDL needs the table owner; p_now is bounded. Returns a cachemon.maintenance_result.';

REVOKE ALL ON FUNCTION cachemon.run_maintenance(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.run_maintenance(timestamptz) TO cachemon_admin;

-- sql/functions/schedule_jobs.sql
CREATE OR REPLACE FUNCTION cachemon.schedule_jobs()
RETURNS TABLE (job_name text, schedule text, command text, jobid bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_job record;
    v_in_database oid := cachemon._genuine_pg_cron_object('schedule_in_database',
        ARRAY['text', 'text', 'text', 'text', 'text', 'boolean']::regtype[]);
    v_unschedule oid := cachemon._genuine_pg_cron_object('unschedule', ARRAY['bigint']::regtype[]);
    v_job_table oid := cachemon._genuine_pg_cron_object('job');
    v_run_as text;
    v_stale bigint;
BEGIN
    /*
     * Registers cachemon's pg_cron jobs in this database, by name, so calling it again updates
     * them instead of adding copies:
     *   cachemon-tick          every minute   SELECT cachemon.tick()
     *   cachemon-maintenance   hourly (:07)   SELECT cachemon.run_maintenance()
     *   cachemon-cron-cleanup  daily (03:23)  SELECT cachemon._purge_cron_history()
     * pg_cron 1.4 has minute granularity, hence five-field schedules. Without pg_cron in this
     * database it returns no rows and says so in a NOTICE: run `cachemon scheduler` instead.
     *
     * The jobs run as role cachemon_jobs (LOGIN, no password, member of cachemon_admin and
     * nothing else), never as a superuser: cron.schedule_in_database(..., username) lets only
     * a superuser name another user, so this function is SECURITY DEFINER and its owner (the
     * role that ran the migrations) must be a superuser for that; where it is not (Supabase's
     * postgres), the jobs are scheduled with cron.schedule and run as the owner, and a
     * NOTICE says so. Jobs of the same names in this database under another user are removed
     * first (e.g. those an earlier revision scheduled as a superuser).
     *
     * pg_cron's functions and table are used only when they are members of the installed
     * extension pg_cron (cachemon._genuine_pg_cron_object): a schema cron planted by a role
     * with CREATE on the database is never called. SECURITY DEFINER also because
     * cachemon_admin has no USAGE on schema cron. It takes no input: names, schedules and
     * commands are the constants below.
     */
    IF v_in_database IS NULL OR v_unschedule IS NULL OR v_job_table IS NULL THEN
        RAISE NOTICE 'cachemon.schedule_jobs: pg_cron is not installed in database %; nothing scheduled (run `cachemon scheduler` instead)',
            pg_catalog.current_database();
        RETURN;
    END IF;
    v_run_as := CASE
        WHEN (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)
             AND EXISTS (SELECT FROM pg_catalog.pg_roles AS r
                          WHERE r.rolname = 'cachemon_jobs' AND r.rolcanlogin
                            AND NOT r.rolsuper AND NOT r.rolbypassrls)
        THEN 'cachemon_jobs'
        ELSE current_user END;
    IF v_run_as <> 'cachemon_jobs' THEN
        RAISE NOTICE 'cachemon.schedule_jobs: jobs run as % (only a superuser may schedule them as cachemon_jobs)',
            v_run_as;
    END IF;
    FOR v_stale IN
        EXECUTE pg_catalog.format(
            'SELECT j.jobid FROM %s AS j WHERE j.jobname = ANY ($1) AND j.database = $2'
            ' AND j.username <> $3', v_job_table::pg_catalog.regclass)
          USING ARRAY['cachemon-tick', 'cachemon-maintenance', 'cachemon-cron-cleanup'],
                pg_catalog.current_database(), v_run_as
    LOOP
        EXECUTE 'SELECT cron.unschedule($1::bigint)' USING v_stale;
    END LOOP;
    FOR v_job IN
        SELECT * FROM (VALUES
            ('cachemon-tick', '* * * * *', 'SELECT cachemon.tick()'),
            ('cachemon-maintenance', '7 * * * *', 'SELECT cachemon.run_maintenance()'),
            ('cachemon-cron-cleanup', '23 3 * * *', 'SELECT cachemon._purge_cron_history()')
        ) AS j(name, sched, cmd)
    LOOP
        job_name := v_job.name;
        schedule := v_job.sched;
        command := v_job.cmd;
        EXECUTE 'SELECT cron.schedule_in_database($1::text, $2::text, $3::text, $4::text, $5::text, true)'
           INTO jobid
          USING v_job.name, v_job.sched, v_job.cmd, pg_catalog.current_database(), v_run_as;
        RETURN NEXT;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION cachemon.schedule_jobs() IS
    'Registers (or updates) the pg_cron jobs cachemon-tick (every minute), cachemon-maintenance (hourly) and cachemon-cron-cleanup (daily), run as role cachemon_jobs (not a superuser); idempotent. Without pg_cron: a NOTICE and no rows. SECURITY DEFINER: naming the jobs'' user needs a superuser and cachemon_admin has no access to schema cron; no inputs; only the genuine pg_cron is called.';

REVOKE ALL ON FUNCTION cachemon.schedule_jobs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.schedule_jobs() TO cachemon_admin;

-- sql/functions/sketch_from_values.sql
CREATE OR REPLACE FUNCTION cachemon.sketch_from_values(p_values double precision[])
RETURNS cachemon.ddsketch
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The sketch of a list of latencies (NULL elements are skipped, as percentile_disc skips
     * them). NULL when no element is a latency, like the latency_sketch of a minute without
     * response times. Meant for DBAs and tests: tick() builds minute sketches from raw rows
     * with the same key expression in one pass.
     */
    RETURN (SELECT CASE WHEN pg_catalog.count(v.x) = 0 THEN NULL
                ELSE ROW(pg_catalog.count(v.x) FILTER (WHERE v.x = 0),
                         coalesce((SELECT pg_catalog.array_agg(g.k ORDER BY g.k)
                                     FROM (SELECT cachemon.sketch_key(w.x) AS k, pg_catalog.count(*) AS n
                                             FROM pg_catalog.unnest(p_values) AS w(x)
                                            WHERE w.x > 0 GROUP BY 1) AS g), '{}'),
                         coalesce((SELECT pg_catalog.array_agg(g.n ORDER BY g.k)
                                     FROM (SELECT cachemon.sketch_key(w.x) AS k, pg_catalog.count(*) AS n
                                             FROM pg_catalog.unnest(p_values) AS w(x)
                                            WHERE w.x > 0 GROUP BY 1) AS g), '{}')
                        )::cachemon.ddsketch
           END
      FROM pg_catalog.unnest(p_values) AS v(x));
END
$function$;

COMMENT ON FUNCTION cachemon.sketch_from_values(double precision[]) IS
    'The cachemon.ddsketch of an array of latencies (NULLs skipped; NULL when there is none). Example: SELECT cachemon.sketch_from_values(array_agg(response_time_ms)) FROM cachemon.cache_metrics WHERE ...';

REVOKE ALL ON FUNCTION cachemon.sketch_from_values(double precision[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_from_values(double precision[]) TO cachemon_reader, cachemon_admin;

-- sql/functions/sketch_key.sql
CREATE OR REPLACE FUNCTION cachemon.sketch_key(p_value double precision)
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The key of a positive latency: ceil(ln(x) / ln(gamma)). Zero has no key (sketches count
     * zeros apart); a negative value is an error. tick() computes the same expression inline
     * (a function with SET search_path is never inlined, and it runs once per raw event); the
     * tests check that both agree.
     */
    IF p_value < 0 OR p_value = 'Infinity'::double precision OR p_value = 'NaN'::double precision THEN
        RAISE EXCEPTION 'sketch_key: value must be finite and >= 0 (value=%)', p_value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_value = 0 THEN
        RETURN NULL;
    END IF;
    RETURN pg_catalog.ceil(pg_catalog.ln(p_value) / cachemon._sketch_ln_gamma())::integer;
END
$function$;

COMMENT ON FUNCTION cachemon.sketch_key(double precision) IS
    'The cachemon.ddsketch key of a latency: ceil(ln(x) / ln(gamma)); NULL for 0 (counted apart), error for a negative value.';

REVOKE ALL ON FUNCTION cachemon.sketch_key(double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_key(double precision) TO cachemon_reader, cachemon_admin;

-- sql/functions/sketch_merge.sql
-- Aggregate: the merge of sketches (NULLs skipped). Its support functions are in
-- _sketch_merge_step.sql and _sketch_compact.sql.
CREATE OR REPLACE AGGREGATE cachemon.sketch_merge(cachemon.ddsketch) (
    SFUNC = cachemon._sketch_merge_step,
    STYPE = cachemon.ddsketch,
    FINALFUNC = cachemon._sketch_compact,
    COMBINEFUNC = cachemon._sketch_merge_step,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE cachemon.sketch_merge(cachemon.ddsketch) IS
    'Merge latency sketches (NULLs skipped): the sketch of all their events. p95 over any range: SELECT cachemon.sketch_quantile(cachemon.sketch_merge(latency_sketch), 0.95) FROM cachemon.cache_metrics_1hour WHERE bucket >= ...';

REVOKE ALL ON FUNCTION cachemon.sketch_merge(cachemon.ddsketch) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_merge(cachemon.ddsketch) TO cachemon_reader, cachemon_admin;

-- sql/functions/sketch_quantile.sql
CREATE OR REPLACE FUNCTION cachemon.sketch_quantile(p_sketch cachemon.ddsketch, p_quantile double precision)
RETURNS double precision
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /* One quantile; see cachemon.sketch_quantiles for the rank rule and the bound. */
    RETURN (cachemon.sketch_quantiles(p_sketch, ARRAY[p_quantile]))[1];
END
$function$;

COMMENT ON FUNCTION cachemon.sketch_quantile(cachemon.ddsketch, double precision) IS
    'One quantile (0..1) of a cachemon.ddsketch, within 0.9% of percentile_disc over the same events. p95 of a range: SELECT cachemon.sketch_quantile(cachemon.sketch_merge(latency_sketch), 0.95) FROM cachemon.cache_metrics_1min WHERE bucket >= ... AND implementation_type = ...';

REVOKE ALL ON FUNCTION cachemon.sketch_quantile(cachemon.ddsketch, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_quantile(cachemon.ddsketch, double precision)
    TO cachemon_reader, cachemon_admin;

-- sql/functions/sketch_quantiles.sql
CREATE OR REPLACE FUNCTION cachemon.sketch_quantiles(
    p_sketch cachemon.ddsketch,
    p_quantiles double precision[]
)
RETURNS double precision[]
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_zero bigint := coalesce(p_sketch.zero_count, 0);
    v_keys integer[];
    v_upto bigint[];
    v_total bigint;
    v_q double precision;
BEGIN
    /*
     * Quantiles of a sketch, one per element of p_quantiles, in that order. The rank follows
     * percentile_disc exactly: the first value whose position (1-based) is at least
     * ceil(q * n), computed in double precision as PostgreSQL does; so the estimate is the key
     * value of the very event percentile_disc would return, within the sketch's 0.9%.
     * Zeros come first and are returned as 0. A NULL or empty sketch gives NULL elements.
     *
     * One pass over the keys: sorted distinct keys and their running counts as two arrays
     * (a sketch need not be compact: duplicate keys are summed), then each quantile's key is
     * found by binary search (width_bucket over the running counts, which strictly increase):
     * the first key whose running count reaches rank - zeros is the one after the
     * width_bucket(rank - zeros - 1) keys whose running count stays below it.
     */
    IF p_quantiles IS NULL THEN
        RETURN NULL;
    END IF;
    FOREACH v_q IN ARRAY p_quantiles LOOP
        IF v_q IS NULL OR NOT (v_q BETWEEN 0 AND 1) THEN
            RAISE EXCEPTION 'sketch_quantiles: every quantile must be between 0 and 1 (quantile=%)',
                coalesce(v_q::text, 'NULL')
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    SELECT pg_catalog.array_agg(g.k ORDER BY g.k), pg_catalog.array_agg(g.upto ORDER BY g.k)
      INTO v_keys, v_upto
      FROM (SELECT u.k, (pg_catalog.sum(pg_catalog.sum(u.n)) OVER (ORDER BY u.k))::bigint AS upto
              FROM ROWS FROM (pg_catalog.unnest(p_sketch.keys), pg_catalog.unnest(p_sketch.counts)) AS u(k, n)
             GROUP BY u.k) AS g;
    v_total := v_zero + coalesce(v_upto[pg_catalog.cardinality(v_upto)], 0);
    IF p_sketch IS NULL OR v_total = 0 THEN
        RETURN (SELECT pg_catalog.array_agg(NULL::double precision) FROM pg_catalog.unnest(p_quantiles));
    END IF;
    RETURN (
        SELECT pg_catalog.array_agg(
                   CASE WHEN r.rank <= v_zero THEN 0::double precision
                        ELSE cachemon.sketch_value(
                                 v_keys[pg_catalog.width_bucket((r.rank - v_zero)::bigint - 1, v_upto) + 1])
                   END
                   ORDER BY r.ord)
          FROM (SELECT q.ord, GREATEST(1, pg_catalog.ceil(q.x * v_total::double precision)) AS rank
                  FROM pg_catalog.unnest(p_quantiles) WITH ORDINALITY AS q(x, ord)) AS r
    );
END
$function$;

COMMENT ON FUNCTION cachemon.sketch_quantiles(cachemon.ddsketch, double precision[]) IS
    'Quantiles (each between 0 and 1) of a cachemon.ddsketch, in the order asked, with percentile_disc''s rank rule; within 0.9% of percentile_disc over the same events. NULL elements for an empty sketch.';

REVOKE ALL ON FUNCTION cachemon.sketch_quantiles(cachemon.ddsketch, double precision[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_quantiles(cachemon.ddsketch, double precision[])
    TO cachemon_reader, cachemon_admin;

-- sql/functions/sketch_value.sql
CREATE OR REPLACE FUNCTION cachemon.sketch_value(p_key integer)
RETURNS double precision
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The value a key stands for: 2 gamma^k / (gamma + 1), the point of (gamma^(k-1), gamma^k]
     * whose relative distance to both ends is the sketch's accuracy.
     */
    SELECT 2 * pg_catalog.exp(p_key * cachemon._sketch_ln_gamma())
             / (pg_catalog.exp(cachemon._sketch_ln_gamma()) + 1);
$function$;

COMMENT ON FUNCTION cachemon.sketch_value(integer) IS
    'The latency a cachemon.ddsketch key stands for: 2 gamma^k / (gamma + 1), within 0.9% of every value of the key.';

REVOKE ALL ON FUNCTION cachemon.sketch_value(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_value(integer) TO cachemon_reader, cachemon_admin;

-- sql/functions/tick.sql
CREATE OR REPLACE FUNCTION cachemon.tick(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS cachemon.tick_result
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- The rollup statements have large, uncertain cost estimates (row counts of a LATERAL per
-- run), which would make PostgreSQL JIT-compile them: 50-400 ms of compilation for a
-- statement that runs in tens of milliseconds. A tick is short work done every minute.
SET jit = off
AS $function$
DECLARE
    v_started timestamptz := pg_catalog.clock_timestamp();
    v_now timestamptz;
    v_result cachemon.tick_result;
    v_cap integer;
    v_buckets timestamptz[];
    v_impls text[];
    v_oldest_kept timestamptz;
    v_todo int4range[];
    v_range int4range;
    v_lo integer;
    v_hi integer;
    v_mid integer;
    v_minutes integer;
    v_hours integer;
    v_error text;
    v_state text;
BEGIN
    /*
     * One rollup step, run every minute (pg_cron job cachemon-tick or `cachemon scheduler`).
     *
     * 1. Refuses a p_now far from the database clock (cachemon._check_now). Skips on a
     *    standby (status 'standby') and when another tick holds the advisory lock (status
     *    'busy': pg_try_advisory_xact_lock, so ticks never queue behind each other).
     * 2. Claims at most 'tick.max_buckets' distinct (minute, implementation) buckets of
     *    cachemon._dirty_buckets, oldest first, by deleting their marks. Marks of days whose
     *    raw events retention has dropped (or is about to drop) are discarded, not
     *    recomputed: recomputing them would delete rows the raw events no longer back.
     * 3. Recomputes those minutes from raw rows (cachemon._rollup_minutes: exact percentiles
     *    and the latency sketch), then the hours they belong to from the minutes and the UTC
     *    days of those hours from the hours (cachemon._rollup_merge, one shape for both), all
     *    stored by cachemon._rollup_store.
     * 4. Isolation: step 3 runs in a subtransaction. When it fails (a value no domain
     *    should admit, a broken trigger, ...), the claimed buckets are split in halves and
     *    retried until the failing buckets stand alone; every other bucket advances. A failing
     *    bucket is queued again (a later tick retries it once the cause is fixed), counted in
     *    buckets_failed, its first error in failure, and reported with a WARNING.
     * 5. Calls cachemon.run_auditor(p_now) when that function exists (looked up with
     *    to_regprocedure, so this revision does not depend on the auditor's). An error of the
     *    auditor is caught in a subtransaction and reported in the result's auditor field
     *    (and as a WARNING): the rollups of this tick still commit.
     *
     * Invariant (docs/rollups.md): every committed raw row is reflected in its 1-minute row,
     * or a committed mark of its bucket is queued. A mark commits with its rows; a tick
     * deletes only marks visible to its claim statement, and reads raw rows in a later
     * statement, whose snapshot (READ COMMITTED) contains every row of those marks. A mark
     * committed after the claim stays queued, so the next tick recomputes its bucket. Ticks
     * are serialized by the lock, so a later write of a bucket never uses an older snapshot.
     * Run tick in READ COMMITTED (the default): under REPEATABLE READ a concurrent tick's
     * write makes it fail with a serialization error rather than lose anything.
     *
     * Work is proportional to the claimed buckets, never to the size of the tables.
     */
    v_now := cachemon._check_now(p_now);
    v_result := ROW('done', 0, 0, 0, 0, NULL, 'absent', 0, 0, NULL)::cachemon.tick_result;
    IF pg_catalog.pg_is_in_recovery() THEN
        v_result.status := 'standby';
        v_result.auditor := 'skipped';
        RETURN v_result;
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(1667326824, 1953063787) THEN  -- 'cach', 'tick'
        v_result.status := 'busy';
        v_result.auditor := 'skipped';
        SELECT pg_catalog.count(*), pg_catalog.min(q.bucket)
          INTO v_result.buckets_left, v_result.oldest_pending
          FROM (SELECT DISTINCT d.bucket, d.implementation_type FROM cachemon._dirty_buckets AS d) AS q;
        v_result.duration_ms :=
            1000 * pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - v_started);
        RETURN v_result;
    END IF;

    v_cap := cachemon._setting('tick.max_buckets')::integer;
    v_oldest_kept := pg_catalog.date_trunc(
        'day', v_now - cachemon._setting('retention.raw')::interval, 'UTC');

    -- Claim: delete every visible mark of the oldest v_cap distinct buckets.
    WITH pick AS (
        SELECT DISTINCT d.bucket, d.implementation_type
          FROM cachemon._dirty_buckets AS d
         ORDER BY d.bucket, d.implementation_type
         LIMIT v_cap
    ), gone AS (
        DELETE FROM cachemon._dirty_buckets AS d
         USING pick AS p
         WHERE d.bucket = p.bucket AND d.implementation_type = p.implementation_type
        RETURNING 1
    )
    SELECT (SELECT pg_catalog.array_agg(p.bucket ORDER BY p.bucket, p.implementation_type)
              FROM pick AS p WHERE p.bucket >= v_oldest_kept),
           (SELECT pg_catalog.array_agg(p.implementation_type ORDER BY p.bucket, p.implementation_type)
              FROM pick AS p WHERE p.bucket >= v_oldest_kept),
           (SELECT pg_catalog.count(*) FROM gone)
      INTO v_buckets, v_impls, v_result.marks_claimed;

    IF v_buckets IS NOT NULL THEN
        v_todo := ARRAY[pg_catalog.int4range(1, pg_catalog.cardinality(v_buckets), '[]')];
        WHILE pg_catalog.cardinality(v_todo) > 0 LOOP
            v_range := v_todo[pg_catalog.cardinality(v_todo)];
            v_todo := v_todo[1:pg_catalog.cardinality(v_todo) - 1];
            v_lo := pg_catalog.lower(v_range);
            v_hi := pg_catalog.upper(v_range) - 1;
            BEGIN
                v_minutes := cachemon._rollup_minutes(v_buckets[v_lo:v_hi], v_impls[v_lo:v_hi]);
                v_hours := cachemon._rollup_merge('hour', v_buckets[v_lo:v_hi], v_impls[v_lo:v_hi]);
                PERFORM cachemon._rollup_merge('day', v_buckets[v_lo:v_hi], v_impls[v_lo:v_hi]);
                v_result.minutes_done := v_result.minutes_done + v_minutes;
                v_result.hours_done := v_result.hours_done + v_hours;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT, v_state = RETURNED_SQLSTATE;
                IF v_lo < v_hi THEN
                    v_mid := (v_lo + v_hi) / 2;
                    v_todo := v_todo || pg_catalog.int4range(v_mid + 1, v_hi, '[]')
                                     || pg_catalog.int4range(v_lo, v_mid, '[]');
                ELSE
                    INSERT INTO cachemon._dirty_buckets (bucket, implementation_type)
                    VALUES (v_buckets[v_lo], v_impls[v_lo]);
                    v_result.buckets_failed := v_result.buckets_failed + 1;
                    v_result.failure := coalesce(v_result.failure, pg_catalog.format(
                        'bucket %s %s: %s (SQLSTATE %s)', v_buckets[v_lo], v_impls[v_lo], v_error, v_state));
                    RAISE WARNING 'cachemon.tick: bucket % of % failed to roll up and stays queued: % (SQLSTATE %)',
                        v_buckets[v_lo], v_impls[v_lo], v_error, v_state;
                END IF;
            END;
        END LOOP;
    END IF;

    SELECT pg_catalog.count(*), pg_catalog.min(q.bucket)
      INTO v_result.buckets_left, v_result.oldest_pending
      FROM (SELECT DISTINCT d.bucket, d.implementation_type FROM cachemon._dirty_buckets AS d) AS q;

    IF pg_catalog.to_regprocedure('cachemon.run_auditor(timestamptz)') IS NOT NULL THEN
        BEGIN
            EXECUTE 'SELECT cachemon.run_auditor($1)' USING v_now;
            v_result.auditor := 'ran';
        EXCEPTION WHEN OTHERS THEN
            v_result.auditor := 'failed: ' || SQLERRM;
            RAISE WARNING 'cachemon.tick: run_auditor failed: % (SQLSTATE %)', SQLERRM, SQLSTATE;
        END;
    END IF;

    v_result.duration_ms :=
        1000 * pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - v_started);
    RETURN v_result;
END
$function$;

COMMENT ON FUNCTION cachemon.tick(timestamptz) IS
    'Roll up (p_now within [now() - retention.raw, now() + 1 day]): recompute the queued (minute, implementation) buckets from raw events into cache_metrics_1min (exact percentiles, latency sketch), their hours into cache_metrics_1hour (merged sketches) and the days of those hours into _cache_metrics_1day, then call cachemon.run_auditor(p_now) if it exists. At most tick.max_buckets buckets per call; a bucket that fails is reported (buckets_failed, failure, a WARNING) and stays queued while the others advance; skips on a standby or while another tick runs (status busy). Returns a cachemon.tick_result.';

REVOKE ALL ON FUNCTION cachemon.tick(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.tick(timestamptz) TO cachemon_admin;

-- sql/functions/unschedule_jobs.sql
CREATE OR REPLACE FUNCTION cachemon.unschedule_jobs()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_jobid bigint;
    v_removed integer := 0;
    v_unschedule oid := cachemon._genuine_pg_cron_object('unschedule', ARRAY['bigint']::regtype[]);
    v_job_table oid := cachemon._genuine_pg_cron_object('job');
BEGIN
    /*
     * Removes the pg_cron jobs schedule_jobs() registers for this database, whichever user
     * they run as, and returns how many it removed; 0 with a NOTICE where pg_cron is absent.
     * The migration's downgrade calls it.
     *
     * SECURITY DEFINER because cachemon_admin has no USAGE on schema cron and pg_cron lets a
     * role see and remove only its own jobs (the jobs run as cachemon_jobs). It takes no
     * input, and it calls only the genuine pg_cron (members of the installed extension,
     * cachemon._genuine_pg_cron_object), never a planted schema cron.
     */
    IF v_unschedule IS NULL OR v_job_table IS NULL THEN
        RAISE NOTICE 'cachemon.unschedule_jobs: pg_cron is not installed in database %; nothing to remove',
            pg_catalog.current_database();
        RETURN 0;
    END IF;
    FOR v_jobid IN
        EXECUTE pg_catalog.format(
            'SELECT j.jobid FROM %s AS j WHERE j.jobname = ANY ($1) AND j.database = $2',
            v_job_table::pg_catalog.regclass)
          USING ARRAY['cachemon-tick', 'cachemon-maintenance', 'cachemon-cron-cleanup'],
                pg_catalog.current_database()
    LOOP
        EXECUTE 'SELECT cron.unschedule($1::bigint)' USING v_jobid;
        v_removed := v_removed + 1;
    END LOOP;
    RETURN v_removed;
END
$function$;

COMMENT ON FUNCTION cachemon.unschedule_jobs() IS
    'Removes this database''s pg_cron jobs cachemon-tick, cachemon-maintenance and cachemon-cron-cleanup, whoever they run as; returns how many. Without pg_cron: a NOTICE and 0. SECURITY DEFINER: cachemon_admin has no access to schema cron; no inputs; only the genuine pg_cron is called.';

REVOKE ALL ON FUNCTION cachemon.unschedule_jobs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.unschedule_jobs() TO cachemon_admin;

-- sql/post/30_rollup.sql
-- Daily partitions of cache_metrics from the start of raw retention through the premake
-- horizon, so a freshly migrated database accepts events at once; and the pg_cron jobs where
-- pg_cron is installed in this database (elsewhere `cachemon scheduler` runs the same functions).
SELECT cachemon.run_maintenance();

DO $schedule$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM cachemon.schedule_jobs();
    END IF;
END
$schedule$;
