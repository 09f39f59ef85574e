-- Edge pre-aggregation and the OpenTelemetry sketch mapping.
--
-- Since this revision every latency_sketch uses OpenTelemetry's exponential histogram mapping
-- at scale 6 (base 2^(1/64), cachemon.sketch_key): its keys are OTLP bucket indexes, so a
-- minute sketch, a collector's edge row and an OTLP ExponentialHistogramDataPoint merge by
-- adding counts per index. Sketches stored before it used another mapping; the migration
-- converts them (cachemon._sketch_from_legacy) and sets latency_sketch_converted on their rows:
-- quantiles of a converted sketch are within 1.5% of exact instead of 0.55%.
ALTER TABLE cachemon.cache_metrics_1min
    ADD COLUMN percentiles_exact boolean,
    ADD COLUMN latency_sketch_converted boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN cachemon.cache_metrics_1min.percentiles_exact IS
    'true: p50/p95/p99 are percentile_cont over raw events; false: the minute also holds edge rows (pre-aggregated histograms) and its percentiles come from the merged sketch (within 0.55%); NULL without latencies';
COMMENT ON COLUMN cachemon.cache_metrics_1min.latency_sketch_converted IS
    'true: latency_sketch was converted from the mapping used before OpenTelemetry''s (quantiles within 1.5%, not 0.55%)';
ALTER TABLE cachemon.cache_metrics_1hour
    ADD COLUMN latency_sketch_converted boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN cachemon.cache_metrics_1hour.latency_sketch_converted IS
    'true: the hour''s sketch holds a sketch converted from the mapping used before OpenTelemetry''s (quantiles within 1.5%, not 0.55%)';
ALTER TABLE cachemon._cache_metrics_1day
    ADD COLUMN latency_sketch_converted boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN cachemon._cache_metrics_1day.latency_sketch_converted IS
    'true: the day''s sketch holds a sketch converted from the mapping used before OpenTelemetry''s (quantiles within 1.5%)';

ALTER TYPE cachemon._rollup_row
    ADD ATTRIBUTE percentiles_exact boolean,
    ADD ATTRIBUTE latency_sketch_converted boolean;

COMMENT ON TYPE cachemon.ddsketch IS
    'Mergeable latency sketch: zero_count, sorted keys, counts. Keys are OpenTelemetry exponential histogram bucket indexes at scale 6 (bucket k holds (2^(k/64), 2^((k+1)/64)]; quantiles within 0.55%). Merge with cachemon.sketch_merge(), read with cachemon.sketch_quantile().';

-- Edge rows: what a collector in aggregate mode (or cachemon.ingest_otlp) sends instead of raw
-- events: per source process, minute, implementation and event type, the counts, latency and
-- cache-size statistics, error counts by type with a sample message, and the latency histogram
-- as an OpenTelemetry exponential histogram (scale 6 or finer, positive buckets only).
-- tick() merges them with raw events into the same 1-minute rows. Every row is checked by
-- cachemon._edge_check (BEFORE INSERT, each row: an error names the field and the value) and
-- cachemon._mark_edge_buckets (AFTER INSERT/DELETE, each statement: time range, one scale per
-- source and minute, and the marks tick() needs).
CREATE TABLE cachemon.cache_metrics_edge (
    bucket              timestamptz      NOT NULL,
    implementation_type text             NOT NULL,
    event_type          text             NOT NULL,
    source              text             NOT NULL,
    event_count         bigint           NOT NULL,
    latency_count       bigint           NOT NULL DEFAULT 0,
    latency_sum         double precision NOT NULL DEFAULT 0,
    latency_min         double precision,
    latency_max         double precision,
    cache_size_count    bigint           NOT NULL DEFAULT 0,
    cache_size_sum      numeric          NOT NULL DEFAULT 0,
    cache_size_min      bigint,
    cache_size_max      bigint,
    scale               integer          NOT NULL DEFAULT 6,
    zero_count          bigint           NOT NULL DEFAULT 0,
    bucket_offset       integer          NOT NULL DEFAULT 0,
    bucket_counts       bigint[]         NOT NULL DEFAULT '{}',
    error_types         text[],
    error_counts        bigint[],
    error_samples       text[],
    batch_id            uuid,
    received_at         timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    -- The same domains as cache_metrics; cachemon._edge_check says which field is wrong first.
    CONSTRAINT cache_metrics_edge_bucket_aligned
        CHECK (bucket > '-infinity' AND bucket < 'infinity'
               AND bucket = pg_catalog.date_trunc('minute', bucket, 'UTC')),
    CONSTRAINT cache_metrics_edge_implementation_type_check
        CHECK (pg_catalog.length(implementation_type) BETWEEN 1 AND 64
               AND implementation_type !~ '^\s|\s$|[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'),
    CONSTRAINT cache_metrics_edge_event_type_check
        CHECK (event_type IN ('hit', 'miss', 'set', 'evict', 'error')),
    CONSTRAINT cache_metrics_edge_source_check
        CHECK (pg_catalog.length(source) BETWEEN 1 AND 128
               AND source !~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'),
    CONSTRAINT cache_metrics_edge_counts_check
        CHECK (event_count BETWEEN 1 AND 1000000000 AND latency_count BETWEEN 0 AND event_count
               AND zero_count BETWEEN 0 AND latency_count
               AND cache_size_count BETWEEN 0 AND event_count),
    CONSTRAINT cache_metrics_edge_latency_check
        CHECK (latency_sum >= 0 AND latency_sum < 'infinity'
               AND (latency_count = 0) = (latency_min IS NULL AND latency_max IS NULL)
               AND latency_min >= 0 AND latency_min <= latency_max AND latency_max <= 86400000),
    CONSTRAINT cache_metrics_edge_cache_size_check
        CHECK (cache_size_sum >= 0
               AND (cache_size_count = 0) = (cache_size_min IS NULL AND cache_size_max IS NULL)
               AND cache_size_min >= 0 AND cache_size_min <= cache_size_max),
    CONSTRAINT cache_metrics_edge_scale_check CHECK (scale BETWEEN 6 AND 20),
    CONSTRAINT cache_metrics_edge_bucket_counts_length
        CHECK (pg_catalog.cardinality(bucket_counts) <= 16384),
    CONSTRAINT cache_metrics_edge_errors_check
        CHECK ((event_type = 'error') = (error_types IS NOT NULL)
               AND pg_catalog.cardinality(error_types) = pg_catalog.cardinality(error_counts)
               AND pg_catalog.cardinality(error_types) = pg_catalog.cardinality(error_samples)
               AND pg_catalog.cardinality(error_types) <= 64)
);

COMMENT ON TABLE cachemon.cache_metrics_edge IS
    'Edge rows: per source process, minute, implementation and event type, counts and an OpenTelemetry exponential histogram of latencies (scale >= 6); merged by tick() with raw events into cache_metrics_1min. Written by collectors in aggregate mode, cachemon.ingest_edge and cachemon.ingest_otlp.';
COMMENT ON COLUMN cachemon.cache_metrics_edge.bucket IS 'Start of the minute (UTC)';
COMMENT ON COLUMN cachemon.cache_metrics_edge.source IS 'The sending process (host:pid, or an OTLP service.instance.id)';
COMMENT ON COLUMN cachemon.cache_metrics_edge.scale IS
    'OpenTelemetry exponential histogram scale of bucket_offset/bucket_counts (6 to 20; tick() downscales to 6 by shifting indexes, which is exact)';
COMMENT ON COLUMN cachemon.cache_metrics_edge.bucket_counts IS
    'Counts of positive buckets bucket_offset, bucket_offset + 1, ...; bucket i holds (2^(i/2^scale), 2^((i+1)/2^scale)]; they sum to latency_count - zero_count';
COMMENT ON COLUMN cachemon.cache_metrics_edge.zero_count IS 'Latencies of exactly 0';
COMMENT ON COLUMN cachemon.cache_metrics_edge.error_samples IS 'One message per error type (parallel to error_types), for drill-down';

CREATE INDEX cache_metrics_edge_implementation_type_bucket_idx
    ON cachemon.cache_metrics_edge (implementation_type, bucket);
CREATE INDEX cache_metrics_edge_source_bucket_idx
    ON cachemon.cache_metrics_edge (source, bucket);

ALTER TABLE cachemon.cache_metrics_edge ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon.cache_metrics_edge FROM PUBLIC;
GRANT INSERT ON cachemon.cache_metrics_edge TO cachemon_writer;
GRANT SELECT, INSERT, DELETE ON cachemon.cache_metrics_edge TO cachemon_admin;
CREATE POLICY cache_metrics_edge_writer_insert ON cachemon.cache_metrics_edge
    FOR INSERT TO cachemon_writer WITH CHECK (true);
CREATE POLICY cache_metrics_edge_admin_all ON cachemon.cache_metrics_edge
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);
