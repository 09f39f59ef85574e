"""Capacity: the raw path's fixed costs per row and per tick.

Revision ID: 0018_capacity
Revises: 0013_incident_boundary
Create Date: 2026-12-07

No table changes. The live-push trigger of cache_metrics_1min runs once per statement (two
statement triggers with transition tables, INSERT and UPDATE) instead of once per row, so the
genuineness check of Supabase's realtime.send runs once per rollup statement (it was half of
a bulk rollup's time). tick no longer reruns the auditor when it rolled up nothing and the
auditor already judged the minute of p_now (an idle tick cost the auditor's run, which grows
with the traffic in its windows). A downgrade drops the UPDATE trigger and puts back the 0006
copy of the push function (the row trigger), the 0005 copy of tick and the 0005 copy of
_rollup_minutes. _rollup_minutes runs with work_mem 64MB: its sort of a day's backlog (1M
events) spilled to disk at the default 4MB.

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0018_capacity"
down_revision = "0017_edge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
