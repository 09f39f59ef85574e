"""The auditor revision: it builds what the current SQL builds, follows the SQL conventions,
and downgrades cleanly."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from orchestrator import catalog, dbversions
from tests.conftest import Server

AUDITOR_FUNCTIONS = (
    "compute_baseline",
    "run_auditor",
    "acknowledge_observation",
    "resolve_observation",
)


def test_upgrade_head_equals_current_sql(pg_server: Server, db_url: str) -> None:
    name = "auditor_from_sql"
    url = pg_server.create_database(name)
    try:
        with psycopg.connect(url, autocommit=True) as built, psycopg.connect(db_url) as migrated:
            dbversions.build_from_current_sql(built)
            diff = catalog.differences(catalog.fingerprint(migrated), catalog.fingerprint(built))
        assert diff == []
    finally:
        pg_server.drop_database(name)


def test_functions_follow_the_conventions(conn: psycopg.Connection[dict[str, Any]]) -> None:
    rows = conn.execute(
        """
        SELECT p.proname, p.proconfig, obj_description(p.oid, 'pg_proc') AS comment,
               has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec,
               p.prosecdef
          FROM pg_proc AS p
         WHERE p.pronamespace = 'cachemon'::regnamespace
           AND (p.proname LIKE '\\_rule\\_%%' OR p.proname LIKE '\\_push%%'
                OR p.proname = ANY(%s))
        """,
        (list(AUDITOR_FUNCTIONS),),
    ).fetchall()
    assert len(rows) >= len(AUDITOR_FUNCTIONS) + 7
    for row in rows:
        assert row["proconfig"] == ["search_path=pg_catalog, pg_temp"], row["proname"]
        assert row["comment"], row["proname"]
        assert not row["public_exec"], row["proname"]
        # The push triggers are SECURITY DEFINER to reach realtime.send (docs/security.md).
        definer_ok = row["proname"] in ("_push_metrics_1min", "_push_observation")
        assert definer_ok or not row["prosecdef"], row["proname"]


def test_every_rule_function_has_a_rules_row_and_vice_versa(
    conn: psycopg.Connection[dict[str, Any]],
) -> None:
    functions = {
        r["name"]
        for r in conn.execute(
            "SELECT substr(proname, 7) AS name FROM pg_proc"
            " WHERE pronamespace = 'cachemon'::regnamespace AND proname LIKE '\\_rule\\_%'"
            "   AND prorettype = 'cachemon._finding'::regtype"
        )
    }
    rows = {r["rule"] for r in conn.execute("SELECT rule FROM cachemon._auditor_rules")}
    assert functions == rows
    assert {
        "hit_rate_drop",
        "response_time",
        "error_rate",
        "anomaly",
        "capacity",
        "no_data",
        "migration",
    } <= rows


def _public_privileges(conn: psycopg.Connection[dict[str, Any]], table: str) -> list[str]:
    """Every privilege PUBLIC holds on the table, from all its ACL entries (aclexplode)."""
    rows = conn.execute(
        "SELECT a.privilege_type FROM pg_class AS c,"
        " LATERAL aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) AS a"
        " WHERE c.oid = ('cachemon.' || %s)::regclass AND a.grantee = 0"
        " ORDER BY 1",
        (table,),
    ).fetchall()
    return [r["privilege_type"] for r in rows]


def test_new_tables_have_rls_and_no_public_access(conn: psycopg.Connection[dict[str, Any]]) -> None:
    for table in ("_auditor_rules", "_audit_state"):
        row = conn.execute(
            "SELECT relrowsecurity FROM pg_class WHERE oid = ('cachemon.' || %s)::regclass",
            (table,),
        ).fetchone()
        assert row is not None
        assert row["relrowsecurity"]
        assert _public_privileges(conn, table) == []
    # The check sees a grant to PUBLIC wherever it sits in the ACL (not only the first entry).
    conn.execute("GRANT SELECT ON cachemon._audit_state TO PUBLIC")
    assert _public_privileges(conn, "_audit_state") == ["SELECT"]


def test_downgrade_to_foundation_and_back(db_url: str) -> None:
    dbversions.downgrade(db_url, "0001_foundation")
    with psycopg.connect(db_url, autocommit=True) as c:
        assert c.execute("SELECT to_regclass('cachemon._auditor_rules')").fetchone() == (None,)
        assert c.execute(
            "SELECT count(*) FROM pg_publication WHERE pubname = 'cachemon_realtime'"
        ).fetchone() == (0,)
        assert c.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'cachemon'"
            " AND column_name IN ('resolved_by', 'hourly_profile')"
        ).fetchone() == (0,)
    dbversions.upgrade(db_url)
    assert dbversions.current(db_url) == (dbversions.head(),)


@pytest.mark.parametrize("table", ["cache_metrics_1min", "cache_auditor_observations"])
def test_published_tables_accept_update_and_delete(
    conn: psycopg.Connection[dict[str, Any]], table: str
) -> None:
    """A published table without a replica identity refuses UPDATE and DELETE."""
    row = conn.execute(
        "SELECT pubname FROM pg_publication_tables WHERE schemaname = 'cachemon'"
        " AND tablename = %s",
        (table,),
    ).fetchone()
    assert row == {"pubname": "cachemon_realtime"}
    conn.execute(
        "INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type)"
        " VALUES (date_trunc('minute', now()), 'x')"
    )
    conn.execute("UPDATE cachemon.cache_metrics_1min SET hits = 0")
    conn.execute("UPDATE cachemon.cache_auditor_observations SET occurrences = 1")
    conn.execute("DELETE FROM cachemon.cache_auditor_observations")
    conn.execute("DELETE FROM cachemon.cache_metrics_1min")
