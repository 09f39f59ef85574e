-- Undo 0010_sequential_robust: _cusum and _cusum_compute lose their recovery column, so they
-- are dropped before their 0009 copies are put back (with the rules and run_auditor).
DROP FUNCTION IF EXISTS cachemon._cusum(timestamptz);
DROP FUNCTION IF EXISTS cachemon._cusum_compute(timestamptz);
