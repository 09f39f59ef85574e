"""Helpers of the trust tests (test_trust.py): login roles with passwords, and an attacker role."""

from __future__ import annotations

import itertools
import os
import secrets
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

Conn = psycopg.Connection[dict[str, Any]]
_ids = itertools.count()


def login_role(admin_url: str, prefix: str, *grants: str) -> tuple[str, str]:
    """A new LOGIN role (unique name, random password) granted ``grants``: (name, its URL)."""
    name = f"{prefix}_{os.getpid()}_{next(_ids)}"
    password = secrets.token_urlsafe(12)
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        for group in grants:
            c.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name)))
    parts = urlsplit(admin_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(name, safe='')}:{quote(password, safe='')}@{host}:{parts.port}"
    return name, urlunsplit(parts._replace(netloc=netloc))


def attacker(admin_url: str) -> tuple[str, str]:
    """A role with no cachemon role, no attribute, and CREATE on the database (the threat)."""
    name, url = login_role(admin_url, "attacker")
    dbname = urlsplit(admin_url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(dbname), sql.Identifier(name)
            )
        )
    return name, url


def is_superuser(admin_url: str, role: str) -> bool:
    with psycopg.connect(admin_url) as c:
        row = c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    return bool(row and row[0])
