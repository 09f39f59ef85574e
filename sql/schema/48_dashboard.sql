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
