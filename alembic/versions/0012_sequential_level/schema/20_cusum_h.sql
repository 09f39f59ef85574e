-- auditor.cusum_h: 11 -> 10, measured on the bench's six seeds (docs/auditor.md, seventh
-- pass). An installation that chose its own level keeps it.
UPDATE cachemon._settings
   SET value = '10'
 WHERE name = 'auditor.cusum_h' AND value = '11';
UPDATE cachemon._settings
   SET description = 'Alarm threshold of the sequential test (CUSUM of per-minute log-likelihood ratios): higher is slower and quieter; one false alarm per statistic in at most e^h minutes (10: 22,000 minutes)'
 WHERE name = 'auditor.cusum_h';
-- the settings' validation is a deferred constraint trigger: run it now, so that nothing is
-- pending when a later step of the same transaction (a downgrade to base) drops the table
SET CONSTRAINTS cachemon._settings_validate IMMEDIATE;
SET CONSTRAINTS cachemon._settings_validate DEFERRED;
