-- cachemon._window_totals is no longer called: the rules judge cachemon._window_stats (the
-- window without its worst minute, quantiles of the merged sketches). Its p95 was a
-- latency-weighted mean of the minutes' p95s, which a DBA reading it would take for the
-- window's p95; it goes rather than mislead.
DROP FUNCTION IF EXISTS cachemon._window_totals(timestamptz, timestamptz);
