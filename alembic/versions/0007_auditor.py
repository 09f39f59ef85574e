"""Auditor that models real traffic: pooled baselines with overdispersion, window statistics
from merged sketches without the worst minute, multi-window rules, one finding per incident,
and the migration verdict.

Revision ID: 0007_auditor
Revises: 0006_trust
Create Date: 2026-11-29

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0007_auditor"
down_revision = "0006_trust"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
