"""Edge pre-aggregation and OpenTelemetry's histogram mapping for every latency sketch.

Revision ID: 0017_edge
Revises: 0013_incident_boundary
Create Date: 2026-12-07

Sketch keys become OpenTelemetry exponential histogram bucket indexes at scale 6
(cachemon.sketch_key); stored sketches are converted (cachemon._sketch_from_legacy, quantiles
within 1.5%) and their rows flagged latency_sketch_converted. New: cachemon.cache_metrics_edge
(pre-aggregated minutes, checked by cachemon._edge_check and cachemon._mark_edge_buckets),
cachemon.ingest_edge, cachemon.ingest_otlp; tick's minute step merges edge rows with raw
events, and cache_metrics_1min.percentiles_exact says which minutes are exact.

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

revision = "0017_edge"
down_revision = "0016_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
