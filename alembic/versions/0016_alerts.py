"""Alert delivery: an outbox on the findings table and Alertmanager's stages in SQL.

Revision ID: 0016_alerts
Revises: 0013_incident_boundary
Create Date: 2026-12-07

Tables notify_* (receivers, routes, silences, inhibit rules, the outbox notify_events,
aggregation groups, deliveries, the append-only attempts log, the stage log) and
_notify_secrets; the trigger cache_auditor_observations_notify writes one outbox row per
state change of a finding; the functions add_receiver, drop_receiver, add_route, drop_route,
add_silence, expire_silence, notify_flush, notify_claim, notify_record, notify_release,
notify_purge and their helpers. A downgrade drops all of them.

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0016_alerts"
down_revision = "0015_any_day"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
