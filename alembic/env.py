"""Alembic environment for cachemon.

- The URL comes from ``-x url=...``, else ``CACHEMON_DATABASE_URL``, else ``DATABASE_URL``.
- The version table is ``cachemon.alembic_version``.
- Every run holds a transaction-level advisory lock, so two upgrades at once are safe: the
  second waits, then finds the database at head and does nothing.
- Offline mode (``--sql``) prints a script that psql applies to an empty database.
- An upgrade of an empty database to the squash point or later installs the squash point's
  full script (``alembic/baseline/``) and walks only the later revisions; ``-x baseline=off``
  (or ``config.attributes["baseline"] = False``) walks every revision instead.
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
    baseline_statements,
    baseline_to_install,
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


def _command() -> str | None:
    """The Alembic command being run: from the command line, or set by orchestrator.dbversions."""
    cmd = getattr(config.cmd_opts, "cmd", None)
    if cmd:
        return str(cmd[0].__name__)
    found = config.attributes.get("command")
    return str(found) if found else None


def _baseline() -> str | None:
    """The squash point an empty database installs first (orchestrator.migrations)."""
    off = context.get_x_argument(as_dictionary=True).get("baseline") in ("off", "no", "false")
    if off or config.attributes.get("baseline") is False:
        return None
    return baseline_to_install(context.script, context.get_revision_argument(), _command())


def run_migrations_offline() -> None:
    start = context.get_starting_revision_argument()
    squash = _baseline() if start in (None, "base") else None
    context.configure(
        url=_url(),
        literal_binds=True,
        version_table_schema=SCHEMA,
        transactional_ddl=True,
        dialect_opts={"paramstyle": "named"},
        starting_rev=squash,
    )
    with context.begin_transaction():
        for statement in prepare_statements():
            context.execute(statement)
        if squash is not None:
            impl = context.get_context().impl
            impl.static_output(f"-- Installing {squash} from its full install script\n")
            for statement in baseline_statements(squash):
                impl.static_output(statement.rstrip().rstrip(";") + ";\n")
        context.run_migrations()
        context.execute(FINISH_SQL)


def _empty(connection: Any) -> bool:
    found = connection.execute(text(f"SELECT to_regclass('{SCHEMA}.alembic_version')")).scalar()
    if found is None:
        return True
    return connection.execute(text(f"SELECT NOT EXISTS (SELECT FROM {found})")).scalar() is True


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
            squash = _baseline()
            if squash is not None and _empty(connection):
                driver = connection.connection.driver_connection
                for statement in baseline_statements(squash):
                    driver.execute(statement.encode())
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
