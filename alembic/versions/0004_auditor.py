"""Auditor: baselines, rule functions, run_auditor with a lifecycle, live push.

Revision ID: 0004_auditor
Revises: 0003_rollup
Create Date: 2026-11-29

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0004_auditor"
down_revision = "0003_rollup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
