"""`cachemon demo` writes only where it may: its own database, or one given on its command line
that is empty or holds nothing but an earlier demo's data."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from orchestrator import demo, errors
from orchestrator.cli import main


def _comment(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname = current_database()"
        ).fetchone()
    return row[0] if row else None


def test_an_empty_database_is_accepted_and_marked(empty_db_url: str) -> None:
    assert demo.check_demo_database(empty_db_url) is False  # empty: nothing to reset
    demo._mark(empty_db_url)
    assert (_comment(empty_db_url) or "").startswith(demo.DEMO_MARKER)


def test_a_database_with_cachemon_data_is_refused(db_url: str) -> None:
    with pytest.raises(errors.Refused, match="cachemon schema the demo did not create"):
        demo.check_demo_database(db_url)
    result = CliRunner().invoke(main, ["demo", "--database-url", db_url])
    assert result.exit_code == errors.Refused.exit_code, result.output
    assert "Traceback" not in result.output and "demo did not create" in result.output
    assert _comment(db_url) is None  # untouched: not even marked


def test_a_database_with_other_tables_is_refused(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.orders (id bigint)")
    with pytest.raises(errors.Refused, match=r"public\.orders"):
        demo.check_demo_database(empty_db_url)


def test_a_marked_database_must_still_hold_only_demo_data(empty_db_url: str) -> None:
    from orchestrator import dbversions

    demo._mark(empty_db_url)
    dbversions.upgrade(empty_db_url)
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        events = [{"implementation_type": "legacy", "event_type": "hit"}]
        conn.execute("SELECT cachemon.ingest_events(%s::jsonb)", (json.dumps(events),))
    assert demo.check_demo_database(empty_db_url) is True  # an earlier demo's: reset it
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        events = [{"implementation_type": "checkout-redis", "event_type": "hit"}]
        conn.execute("SELECT cachemon.ingest_events(%s::jsonb)", (json.dumps(events),))
    with pytest.raises(errors.Refused, match="checkout-redis"):
        demo.check_demo_database(empty_db_url)


def test_the_environment_url_is_never_used(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(demo, "run_demo", lambda url, **kw: seen.append(url))
    env = {"CACHEMON_DATABASE_URL": db_url, "DATABASE_URL": db_url}
    result = CliRunner().invoke(main, ["demo"], env=env)
    assert result.exit_code == 0, result.output
    assert seen == [None]  # None: the local cluster's own cachemon_demo database
    result = CliRunner().invoke(main, ["demo", "--help"], env=env)
    assert "CACHEMON_DATABASE_URL" in result.output  # the help says it is not read
