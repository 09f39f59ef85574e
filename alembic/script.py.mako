"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

The SQL this revision runs lives in the folder of the same name (see alembic/README.md).
"""

from orchestrator.migrations import downgrade_revision, upgrade_revision

<%def name="q(value)">${'None' if value is None else '"%s"' % value if isinstance(value, str) else repr(value)}</%def>\
revision = ${q(up_revision)}
down_revision = ${q(down_revision)}
branch_labels = ${q(branch_labels)}
depends_on = ${q(depends_on)}


def upgrade() -> None:
    upgrade_revision(__file__)


def downgrade() -> None:
    downgrade_revision(__file__)
