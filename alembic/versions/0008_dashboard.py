"""Dashboard read API: get_timeseries, error breakdown, traffic share, live findings.

Revision ID: 0008_dashboard
Revises: 0007_auditor
Create Date: 2026-11-29

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0008_dashboard"
down_revision = "0007_auditor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
