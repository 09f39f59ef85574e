-- Undo 0009_sequential: the sequential test and its settings (the rules, run_auditor and the
-- baseline's pooled statistics go back to their 0007 copies).
DROP FUNCTION IF EXISTS cachemon._cusum(timestamptz);
DROP FUNCTION IF EXISTS cachemon._cusum_compute(timestamptz);
DELETE FROM cachemon._settings WHERE name IN ('auditor.sequential', 'auditor.cusum_h', 'auditor.cusum_minutes');
DELETE FROM cachemon._setting_rules WHERE name IN ('auditor.sequential', 'auditor.cusum_h', 'auditor.cusum_minutes');
