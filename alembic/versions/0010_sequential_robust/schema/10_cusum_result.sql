-- cachemon._cusum and cachemon._cusum_compute return one more column (recovery, the reverse
-- CUSUM): CREATE OR REPLACE cannot change a function's result type, so the old ones go first
-- (their new definitions are in functions/).
DROP FUNCTION IF EXISTS cachemon._cusum(timestamptz);
DROP FUNCTION IF EXISTS cachemon._cusum_compute(timestamptz);
