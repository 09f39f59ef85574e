-- Undo 0013_incident_boundary: the 0012 copies of _cusum_compute and run_auditor come back
-- (they find the last resolution themselves), so the helper goes.
DROP FUNCTION cachemon._last_resolution(timestamptz);
