"""Quantile designs in the sequential latency test; the baseline's shares above the threshold lines.

Revision ID: 0010_quantile_designs
Revises: 0009_sequential
Create Date: 2026-11-30

No table changes: three functions change (frozen in the folder of the same name), and a
downgrade puts back their 0009 copies.

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0010_quantile_designs"
down_revision = "0009_sequential"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
