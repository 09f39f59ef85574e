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
     * the last bucket's end. Errors on bad arguments are get_timeseries' own, and so is the
     * bound on the work of a call (p_now near the clock, at most 100,000 stored rows read,
     * 20,000 when merged; it calls get_timeseries twice).
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
    'Each implementation''s events, lookups and share (percent) of all events over the buckets cachemon.get_timeseries(time_window, NULL, NULL, p_now) covers, largest first. Bounded as get_timeseries (p_now near the clock, no infinity; at most 100,000 stored rows read, 20,000 when merged), which it calls twice.';

REVOKE ALL ON FUNCTION cachemon.get_traffic_share(interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.get_traffic_share(interval, timestamptz)
    TO cachemon_reader, cachemon_admin;
