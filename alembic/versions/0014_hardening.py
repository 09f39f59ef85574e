"""Hardening: trigger functions serve their own table only; bounded reads; settings keep their names.

Revision ID: 0014_hardening
Revises: 0013_incident_boundary
Create Date: 2026-12-07

Every trigger function refuses to run unless it fires as the trigger it was written for (its
table by TG_RELID, its level, timing and operations), and no role has EXECUTE on any of them
(only the owner attaches triggers; firing checks no EXECUTE). _mark_dirty_buckets marks deleted
rows only within the range an insert accepts.

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
