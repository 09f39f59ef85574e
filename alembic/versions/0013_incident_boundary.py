"""The incident boundary: one definition of "after the last resolved finding".

Revision ID: 0013_incident_boundary
Revises: 0012_sequential_level
Create Date: 2026-11-30

No table changes. cachemon._last_resolution gives per implementation the instant its last
finding was resolved. The sequential test restarts with the minutes that begin at or after it
(cachemon._cusum_compute; 0012 kept the minute the resolution fell in), and run_auditor lets a
long window or a segment count only when it begins at or after it, as before, now from the
same function. A downgrade drops the helper and puts back the 0012 copies.

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0013_incident_boundary"
down_revision = "0012_sequential_level"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
