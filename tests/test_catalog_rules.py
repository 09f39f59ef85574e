"""Catalog rules that every object in schema cachemon obeys, now and in the future.

Each rule is a query that lists the offenders; a clean catalog returns no rows.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

RULES: dict[str, str] = {
    "table without row level security": """
        SELECT c.relname FROM pg_class AS c
         WHERE c.relnamespace = 'cachemon'::regnamespace
           AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
    """,
    "table without a policy for any cachemon role": """
        SELECT c.relname FROM pg_class AS c
         WHERE c.relnamespace = 'cachemon'::regnamespace
           AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND c.relname <> 'alembic_version'
           AND NOT EXISTS (SELECT FROM pg_policy AS p WHERE p.polrelid = c.oid)
    """,
    "relation with a privilege for PUBLIC": """
        SELECT c.relname, a.privilege_type
          FROM pg_class AS c, aclexplode(c.relacl) AS a
         WHERE c.relnamespace = 'cachemon'::regnamespace AND a.grantee = 0
    """,
    "function executable by PUBLIC": """
        SELECT p.oid::regprocedure FROM pg_proc AS p
         WHERE p.pronamespace = 'cachemon'::regnamespace
           AND (p.proacl IS NULL
                OR EXISTS (SELECT FROM aclexplode(p.proacl) AS a WHERE a.grantee = 0))
    """,
    "schema usable by PUBLIC": """
        SELECT n.nspname FROM pg_namespace AS n
         WHERE n.nspname = 'cachemon'
           AND (n.nspacl IS NULL
                OR EXISTS (SELECT FROM aclexplode(n.nspacl) AS a WHERE a.grantee = 0))
    """,
    "function without a fixed search_path": """
        SELECT p.oid::regprocedure FROM pg_proc AS p
         WHERE p.pronamespace = 'cachemon'::regnamespace AND p.prokind IN ('f', 'p')
           AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS c WHERE c LIKE 'search_path=%')
    """,
    "function whose search_path includes public or $user": """
        SELECT p.oid::regprocedure, c FROM pg_proc AS p, unnest(p.proconfig) AS c
         WHERE p.pronamespace = 'cachemon'::regnamespace
           AND c LIKE 'search_path=%' AND (c ~ 'public' OR c ~ '\\$user')
    """,
    "function without a comment": """
        SELECT p.oid::regprocedure FROM pg_proc AS p
         WHERE p.pronamespace = 'cachemon'::regnamespace
           AND coalesce(obj_description(p.oid, 'pg_proc'), '') = ''
    """,
    "SECURITY DEFINER function whose comment does not say why": """
        SELECT p.oid::regprocedure FROM pg_proc AS p
         WHERE p.pronamespace = 'cachemon'::regnamespace AND p.prosecdef
           AND obj_description(p.oid, 'pg_proc') !~* 'security definer'
    """,
    "overloaded function name": """
        SELECT p.proname, count(*) FROM pg_proc AS p
         WHERE p.pronamespace = 'cachemon'::regnamespace
         GROUP BY p.proname HAVING count(*) > 1
    """,
    "table without a comment": """
        SELECT c.relname FROM pg_class AS c
         WHERE c.relnamespace = 'cachemon'::regnamespace AND c.relkind IN ('r', 'p')
           AND NOT c.relispartition AND c.relname <> 'alembic_version'
           AND coalesce(obj_description(c.oid, 'pg_class'), '') = ''
    """,
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_catalog_rule(conn: Any, rule: str) -> None:
    offenders = conn.execute(RULES[rule]).fetchall()
    assert offenders == [], f"{rule}: {offenders}"


def test_rules_catch_offenders(conn: Any) -> None:
    """Each rule fires on a deliberately bad object (so none of them is vacuous)."""
    conn.execute("CREATE TABLE cachemon.bad_table (x int)")
    conn.execute("GRANT SELECT ON cachemon.bad_table TO PUBLIC")
    conn.execute("CREATE FUNCTION cachemon.bad_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    conn.execute(
        "CREATE FUNCTION cachemon.bad_definer() RETURNS int LANGUAGE sql SECURITY DEFINER"
        " SET search_path = public AS 'SELECT 1'"
    )
    conn.execute("COMMENT ON FUNCTION cachemon.bad_definer() IS 'no reason given'")
    conn.execute("CREATE FUNCTION cachemon.bad_fn(int) RETURNS int LANGUAGE sql AS 'SELECT 1'")
    conn.execute("GRANT USAGE ON SCHEMA cachemon TO PUBLIC")
    for rule, query in RULES.items():
        assert conn.execute(query).fetchall(), f"rule {rule!r} found nothing"


def _connect_as(url: str, role: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute(f"SET ROLE {role}")
    return conn


def test_roles_get_what_they_need_and_no_more(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as owner:
        owner.execute(
            "INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type, hits, misses,"
            " total_events) VALUES (date_trunc('minute', now()), 'new', 3, 1, 4)"
        )
    with _connect_as(db_url, "cachemon_reader") as reader:
        assert reader.execute("SELECT count(*) FROM cachemon.cache_metrics_1min").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("SELECT * FROM cachemon.cache_metrics")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("DELETE FROM cachemon.cache_metrics_1min")
    with _connect_as(db_url, "cachemon_writer") as writer:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            writer.execute("SELECT * FROM cachemon.cache_metrics_1min")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            writer.execute("UPDATE cachemon._settings SET value = '1 day'")
    with _connect_as(db_url, "cachemon_admin") as admin:
        admin.execute("UPDATE cachemon._settings SET value = '8 days' WHERE name = 'retention.raw'")
        assert admin.execute("SELECT cachemon._setting('retention.raw')").fetchone() == ("8 days",)


def test_constraints_name_the_bad_value(conn: Any) -> None:
    bad = {
        "event_type": "'hitt'",
        "response_time_ms": "'NaN'",
        "cache_size": "-1",
        "implementation_type": "''",
    }
    for column, value in bad.items():
        values = {
            "recorded_at": "now()",
            "implementation_type": "'new'",
            "event_type": "'hit'",
            "response_time_ms": "1",
            "cache_size": "1",
        }
        values[column] = value
        with pytest.raises(psycopg.errors.CheckViolation) as info:
            conn.execute(
                f"INSERT INTO cachemon.cache_metrics ({', '.join(values)})"
                f" VALUES ({', '.join(values.values())})"
            )
        assert column in (info.value.diag.constraint_name or ""), column
