"""Alembic environment for cachemon.

- The URL comes from ``-x url=...``, else ``CACHEMON_DATABASE_URL``, else ``DATABASE_URL``.
- The version table is ``cachemon.alembic_version``.
- Every run holds a transaction-level advisory lock, so two upgrades at once are safe: the
  second waits, then finds the database at head and does nothing.
- Offline mode (``--sql``) prints a script that psql applies to an empty database.
- ``alembic revision -m "what changes"`` needs no database: the new revision is numbered
  ``NNNN_what_changes`` (the next number after the newest revision folder), which
  ``alembic.ini``'s ``file_template`` makes its file name.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from alembic import command, context
from sqlalchemy import create_engine, pool, text

from orchestrator.migrations import (
    FINISH_SQL,
    SCHEMA,
    numbered_revision_id,
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


def _number_revisions(_context: Any, _revision: Any, directives: list[Any]) -> None:
    versions = Path(context.script.versions)
    for script in directives:
        script.rev_id = numbered_revision_id(script.rev_id, script.message, versions)


def run_revision_command() -> None:
    """`alembic revision` (alembic.ini sets ``revision_environment``): number the new script
    ``NNNN_slug`` instead of a random id, without connecting to any database."""
    context.configure(
        url="postgresql+psycopg://",
        as_sql=True,
        output_buffer=io.StringIO(),  # the offline version table DDL is not wanted here
        process_revision_directives=_number_revisions,
    )
    context.run_migrations()


def _is_revision_command() -> bool:
    cmd = getattr(config.cmd_opts, "cmd", None)
    return bool(cmd) and cmd[0] is command.revision


if _is_revision_command():
    run_revision_command()
elif context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
