"""Test fixtures: one throwaway PostgreSQL cluster, one migrated template, a database per test.

The cluster is started with the project's own launcher (``orchestrator.localpg``) in a
temporary folder, with pg_cron preloaded when it is installed; it is stopped and removed at
the end of the session, failures included. ``CACHEMON_TEST_DATABASE_URL`` points the suite at
an existing server instead (a superuser URL: the suite creates and drops databases there).

pg_cron can live only in the database named by ``cron.database_name`` (``cachemon_cron``
here), and a database with connected sessions cannot be a template, so pg_cron tests use that
one database (fixture ``cron_db_url``) and the template takes the path without pg_cron.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from psycopg import sql
from psycopg.rows import dict_row

from orchestrator import dbversions, localpg

settings.register_profile(
    "cachemon",
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("cachemon")

TEMPLATE = "cachemon_template"
CRON_DATABASE = "cachemon_cron"
_counter = itertools.count()


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server the suite may create databases on."""

    base_url: str
    pg_cron: bool
    cron_database: str | None
    cluster: localpg.LocalCluster | None

    def url(self, dbname: str) -> str:
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(path="/" + dbname))

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        with self.admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            conn.execute(stmt)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    external = os.environ.get("CACHEMON_TEST_DATABASE_URL")
    if external:
        with psycopg.connect(external, autocommit=True) as conn:
            row = conn.execute(
                "SELECT current_setting('cron.database_name', true),"
                " current_setting('shared_preload_libraries') LIKE '%pg_cron%'"
            ).fetchone()
        cron_db = row[0] if row else None
        yield Server(external, bool(row and row[1]), cron_db, None)
        return
    root = Path(tempfile.mkdtemp(prefix="cachemon-test-"))
    try:
        cluster = localpg.start(root, fast=True, cron_database=CRON_DATABASE)
        yield Server(
            cluster.url("postgres"),
            cluster.pg_cron,
            CRON_DATABASE if cluster.pg_cron else None,
            cluster,
        )
    finally:
        localpg.destroy(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def template_url(pg_server: Server) -> str:
    """A database migrated to head once per session, used as the template of every test DB."""
    url = pg_server.create_database(TEMPLATE)
    dbversions.upgrade(url)
    return url


def _unique_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_counter)}"


@pytest.fixture
def db_url(pg_server: Server, template_url: str) -> Iterator[str]:
    """A fresh database at head, dropped after the test."""
    name = _unique_name("t")
    url = pg_server.create_database(name, template=TEMPLATE)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def empty_db_url(pg_server: Server) -> Iterator[str]:
    """A fresh empty database (no cachemon schema), dropped after the test."""
    name = _unique_name("e")
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """An autocommit connection (rows as dicts) to a fresh database at head."""
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as connection:
        yield connection


@pytest.fixture(scope="session")
def cron_db_url(pg_server: Server) -> str:
    """The database pg_cron lives in, with pg_cron installed and cachemon migrated to head."""
    if not pg_server.pg_cron or not pg_server.cron_database:
        pytest.skip(
            "pg_cron is not installed for this server (install postgresql-15-cron as root; "
            "the test command does so when it runs as root)"
        )
    name = pg_server.cron_database
    with pg_server.admin() as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = pg_server.url(name)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
    dbversions.upgrade(url)
    return url
