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
