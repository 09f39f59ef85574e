"""Sequential test: no alarm carried by one minute, one sketch pass per minute; calm recovery.

Revision ID: 0010_sequential_robust
Revises: 0009_sequential
Create Date: 2026-11-30

No table changes: the sequential test's alarm level, the rules' details.cusum_threshold and
run_auditor's recovery of long deciding windows change (functions frozen in the folder of the
same name); a downgrade puts back their 0009 copies.

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0010_sequential_robust"
down_revision = "0009_sequential"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
