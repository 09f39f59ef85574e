"""Sequential test: restart after a resolved finding, level 10; drop the unused _window_totals.

Revision ID: 0012_sequential_level
Revises: 0011_tail_stalls
Create Date: 2026-11-30

No table changes. The sequential test of an implementation starts again from 0 at the minute
its last finding was resolved, so an incident that follows another within the lookback is
judged on its own minutes (cachemon._cusum_compute, frozen in the folder of the same name).
The default auditor.cusum_h goes from 11 to 10 (an installation that set its own keeps it).
cachemon._window_totals, which nothing calls since the rules judge cachemon._window_stats, is
dropped (schema/); a downgrade puts back its 0004 copy, the 0011 copy of _cusum_compute and h = 11.

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0012_sequential_level"
down_revision = "0011_tail_stalls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
