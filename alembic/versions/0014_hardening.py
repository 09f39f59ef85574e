"""Hardening: trigger functions serve their own table; bounded reads; settings keep names.

Revision ID: 0014_hardening
Revises: 0013_incident_boundary
Create Date: 2026-12-07

Every trigger function refuses to run unless it fires as the trigger it was written for (its
table by TG_RELID, its level, timing and operations), and no role has EXECUTE on any of them
(only the owner attaches triggers; firing checks no EXECUTE). _mark_dirty_buckets marks deleted
rows only within the range an insert accepts.

tick claims the hour up to p_now first (newest first), then the other buckets oldest first, so
a backfill never delays the current minute. The read API bounds the work of one call: p_now
is checked by _check_now (no infinity) and the rows a call would read are counted first
against a cap; get_error_breakdown reads error events through a new partial index
(cache_metrics_errors_recorded_at_idx, which the downgrade drops). ingest_events refuses a
payload above the new setting ingest.max_payload_bytes before reading it.

Settings keep their names: an admin may update only the value, foreign keys both ways tie
every setting to its rule, and _settings_validate refuses a rename and intervals with months
or years (stored ones become days; rule bounds are in days).

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0014_hardening"
down_revision = "0013_incident_boundary"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
