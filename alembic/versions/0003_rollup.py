"""Rollups: dirty-bucket queue, tick, latency sketches, partitions and retention, pg_cron jobs.

Revision ID: 0003_rollup
Revises: 0002_ingest
Create Date: 2026-11-29

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0003_rollup"
down_revision = "0002_ingest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
