"""tail stalls

Revision ID: 0011_tail_stalls
Revises: 0010_sequential_robust
Create Date: 2026-11-30 03:28:30.737721

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0011_tail_stalls"
down_revision = "0010_sequential_robust"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
