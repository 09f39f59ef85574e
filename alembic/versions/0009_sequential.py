"""Sequential test (CUSUM) in the quality rules, latency tail shares in the baseline.

Revision ID: 0009_sequential
Revises: 0008_dashboard
Create Date: 2026-11-29

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0009_sequential"
down_revision = "0008_dashboard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
