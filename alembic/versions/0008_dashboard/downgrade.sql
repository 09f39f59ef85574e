-- Undo 0008_dashboard: the read API of the dashboard and its result types.
DROP FUNCTION IF EXISTS cachemon.get_traffic_share(interval, timestamptz);
DROP FUNCTION IF EXISTS cachemon.get_error_breakdown(interval, text, timestamptz);
DROP FUNCTION IF EXISTS cachemon.get_timeseries(interval, interval, text, timestamptz);
DROP FUNCTION IF EXISTS cachemon.get_live_findings(integer);
DROP FUNCTION IF EXISTS cachemon._check_interval(text, text, interval, interval, interval);
DROP TYPE IF EXISTS cachemon.traffic_share;
DROP TYPE IF EXISTS cachemon.error_breakdown;
DROP TYPE IF EXISTS cachemon.timeseries_bucket;
