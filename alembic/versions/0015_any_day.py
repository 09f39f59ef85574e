"""The auditor needs no temporary table; its judgement is a function of its own.

Revision ID: 0015_any_day
Revises: 0013_incident_boundary
Create Date: 2026-12-07

run_auditor, compute_baseline and _baseline_pooled created temporary tables, so they failed
on a database where TEMPORARY is revoked from PUBLIC. Now run_auditor computes the window
statistics (one row type, cachemon._window_stat) and the sequential test
(cachemon._cusum_stat) once and passes them as arrays to cachemon._audit_judgement, which
runs the rules (now cachemon._rule_<rule>(timestamptz, interval, _window_stat[],
_cusum_stat[])) and returns one row per implementation and rule; run_auditor keeps the
findings. The loo quantiles' lower bounds use the response_time rule's significance_z
(default 3.09, the constant they used before). The baselines read their minutes once per
statement instead of through a temporary table. A downgrade puts back the earlier copies.

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0015_any_day"
down_revision = "0014_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
