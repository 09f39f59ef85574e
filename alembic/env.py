"""Alembic environment for cachemon.

- The URL comes from ``-x url=...``, else ``CACHEMON_DATABASE_URL``, else ``DATABASE_URL``.
- The version table is ``cachemon.alembic_version``.
- Every run holds a transaction-level advisory lock, so two upgrades at once are safe: the
  second waits, then finds the database at head and does nothing.
- Offline mode (``--sql``) prints a script that psql applies to an empty database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from orchestrator.migrations import (
    FINISH_SQL,
    SCHEMA,
    prepare_statements,
    sqlalchemy_url,
)

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    return sqlalchemy_url(url)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        literal_binds=True,
        version_table_schema=SCHEMA,
        transactional_ddl=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        for statement in prepare_statements():
            context.execute(statement)
        context.run_migrations()
        context.execute(FINISH_SQL)


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            version_table_schema=SCHEMA,
            transactional_ddl=True,
        )
        with context.begin_transaction():
            for statement in prepare_statements():
                connection.execute(text(statement))
            context.run_migrations()
            context.execute(FINISH_SQL)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
