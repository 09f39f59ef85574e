"""Connections to the cachemon database."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from orchestrator.errors import BadConfiguration, check_url, translated
from orchestrator.migrations import database_url, libpq_url


def resolve_url(url: str | None = None) -> str:
    """``url``, else ``CACHEMON_DATABASE_URL``, else ``DATABASE_URL``, as a libpq URL."""
    found = database_url(url)
    if not found:
        raise BadConfiguration(
            "no database URL",
            "set CACHEMON_DATABASE_URL (or DATABASE_URL); `cachemon local start` prints one",
        )
    return libpq_url(check_url(found))


def connect(
    url: str | None = None, *, autocommit: bool = True, application_name: str = "cachemon"
) -> psycopg.Connection[dict[str, Any]]:
    """A connection with rows as dicts; errors come out as package errors."""
    with translated():
        return psycopg.connect(
            resolve_url(url),
            autocommit=autocommit,
            row_factory=dict_row,
            application_name=application_name,
        )
