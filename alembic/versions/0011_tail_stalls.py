"""Sequential test: a stall design for p99 (requests beyond twice the p99 line).

Revision ID: 0011_tail_stalls
Revises: 0010_sequential_robust
Create Date: 2026-11-30

No table changes: baselines add the far-tail shares to statistics.tail (far, far_phi,
beyond_warning; recompute baselines to use them), and the sequential test gains the p99
'stall' design (functions frozen in the folder of the same name); a downgrade puts back
their 0010 copies.

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
