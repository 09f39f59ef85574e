"""Trust: only genuine pg_cron and realtime objects, jobs as cachemon_jobs, small notifications.

Revision ID: 0006_trust
Revises: 0005_hardening
Create Date: 2026-11-29

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0006_trust"
down_revision = "0005_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
