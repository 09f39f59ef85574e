-- Undo 0016_alerts: the outbox trigger, the notification functions and tables.
DROP TRIGGER IF EXISTS cache_auditor_observations_notify ON cachemon.cache_auditor_observations;
DROP FUNCTION IF EXISTS cachemon._notify_outbox();
DROP FUNCTION IF EXISTS cachemon.notify_purge(interval, timestamptz);
DROP FUNCTION IF EXISTS cachemon.notify_release(text, timestamptz);
DROP FUNCTION IF EXISTS cachemon.notify_record(bigint, text, integer, timestamptz, double precision, integer, text, double precision, boolean, timestamptz);
DROP FUNCTION IF EXISTS cachemon.notify_claim(text, integer, interval, timestamptz);
DROP FUNCTION IF EXISTS cachemon.notify_flush(timestamptz, integer);
DROP FUNCTION IF EXISTS cachemon._notify_flush_group(bigint, timestamptz);
DROP FUNCTION IF EXISTS cachemon._notify_payload(text, bigint, jsonb, jsonb, timestamptz, interval);
DROP FUNCTION IF EXISTS cachemon._notify_route_event(bigint, timestamptz);
DROP FUNCTION IF EXISTS cachemon.expire_silence(bigint, text, timestamptz);
DROP FUNCTION IF EXISTS cachemon.add_silence(jsonb, timestamptz, text, text, timestamptz, timestamptz);
DROP FUNCTION IF EXISTS cachemon.drop_route(bigint);
DROP FUNCTION IF EXISTS cachemon.add_route(text, jsonb, text[], interval, interval, interval, boolean, integer);
DROP FUNCTION IF EXISTS cachemon.drop_receiver(text);
DROP FUNCTION IF EXISTS cachemon.add_receiver(text, text, text, text, jsonb, boolean, boolean, double precision, integer, double precision, double precision);
DROP FUNCTION IF EXISTS cachemon._notify_check_url(text, text, boolean);
DROP FUNCTION IF EXISTS cachemon._notify_check_matchers(text, jsonb);
DROP FUNCTION IF EXISTS cachemon._notify_matches(jsonb, jsonb);
DROP TABLE IF EXISTS cachemon.notify_log, cachemon.notify_attempts, cachemon.notify_deliveries,
    cachemon.notify_alerts, cachemon.notify_groups, cachemon.notify_findings,
    cachemon.notify_events, cachemon.notify_inhibit_rules, cachemon.notify_silences,
    cachemon.notify_routes, cachemon._notify_secrets, cachemon.notify_receivers;
