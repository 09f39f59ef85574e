"""Foundation: roles, the cachemon schema, the five contract tables, settings, seed helpers.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-29

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
