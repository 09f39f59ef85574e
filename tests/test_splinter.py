"""Supabase's linter (splinter) on the migrated schema, as catalog conditions of our own.

splinter's lint SQL is not copied into this repository. These tests implement the same catalog
conditions as its lints 0011 function_search_path_mutable (WARN) and 0008 rls_enabled_no_policy
(INFO), restricted to schema cachemon, and pin what they find to the findings docs/security.md
explains. In the four steps splinter tests its own lints with: clean, near miss, breach, fixed.
"""

from __future__ import annotations

from typing import Any

# splinter 0011: a function (any prokind) not owned by an extension whose proconfig has no
# search_path entry.
SEARCH_PATH_MUTABLE = """
SELECT p.oid::regprocedure::text AS function, p.prokind::text AS kind
  FROM pg_catalog.pg_proc AS p
  LEFT JOIN pg_catalog.pg_depend AS dep ON dep.objid = p.oid AND dep.deptype = 'e'
 WHERE p.pronamespace = 'cachemon'::regnamespace
   AND dep.objid IS NULL
   AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) AS config
                    WHERE config LIKE 'search_path=%%')
 ORDER BY 1
"""

# splinter 0008: a regular table (relkind 'r', which includes partitions) with RLS enabled and
# no policy, not owned by an extension.
RLS_NO_POLICY = """
SELECT c.relname::text AS name, c.relispartition AS partition
  FROM pg_catalog.pg_class AS c
  LEFT JOIN pg_catalog.pg_policy AS p ON p.polrelid = c.oid
  LEFT JOIN pg_catalog.pg_depend AS dep ON dep.objid = c.oid AND dep.deptype = 'e'
 WHERE c.relnamespace = 'cachemon'::regnamespace
   AND c.relkind = 'r' AND c.relrowsecurity AND p.polname IS NULL AND dep.objid IS NULL
 GROUP BY c.relname, c.relispartition
 ORDER BY 1
"""

SUPPORT_FUNCTIONS = """
SELECT f::regprocedure::text AS function,
       EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) AS config
                WHERE config LIKE 'search_path=%%') AS fixed
  FROM pg_catalog.pg_aggregate AS a,
       unnest(ARRAY[a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn,
                    a.aggdeserialfn, a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn]::oid[]) AS f
  JOIN pg_catalog.pg_proc AS p ON p.oid = f
 WHERE a.aggfnoid = 'cachemon.sketch_merge'::regproc AND f <> 0
"""


def test_0011_only_the_aggregate_which_runs_no_code_of_its_own(conn: Any) -> None:
    """The one 0011 finding is the aggregate sketch_merge: PostgreSQL refuses a SET clause on
    an aggregate ("is an aggregate function"), and the aggregate executes nothing but its
    support functions, each of which has a fixed search_path. docs/security.md explains it."""
    found = conn.execute(SEARCH_PATH_MUTABLE).fetchall()
    assert found == [{"function": "cachemon.sketch_merge(cachemon.ddsketch)", "kind": "a"}]
    support = conn.execute(SUPPORT_FUNCTIONS).fetchall()
    assert support and all(row["fixed"] for row in support), support


def test_0011_near_miss_breach_fixed(conn: Any) -> None:
    conn.execute(
        "CREATE FUNCTION cachemon.lint_probe() RETURNS int LANGUAGE sql"
        " SET search_path = pg_catalog, pg_temp AS 'SELECT 1'"
    )
    assert len(conn.execute(SEARCH_PATH_MUTABLE).fetchall()) == 1  # near miss: still only one
    conn.execute("ALTER FUNCTION cachemon.lint_probe() RESET search_path")
    assert len(conn.execute(SEARCH_PATH_MUTABLE).fetchall()) == 2  # breach
    conn.execute("ALTER FUNCTION cachemon.lint_probe() SET search_path = ''")
    assert len(conn.execute(SEARCH_PATH_MUTABLE).fetchall()) == 1  # fixed


def test_0008_only_partitions_and_the_version_table(conn: Any) -> None:
    """RLS without a policy denies every role but the owner: that is the intent for the raw
    partitions (read and written through the parent, whose policies apply; no grants on the
    partitions themselves) and for alembic_version (only the migrating owner uses it)."""
    found = conn.execute(RLS_NO_POLICY).fetchall()
    others = [r["name"] for r in found if not r["partition"] and r["name"] != "alembic_version"]
    assert others == []
    assert {"alembic_version", "cache_metrics_default"} <= {r["name"] for r in found}
    grants = conn.execute(
        "SELECT c.relname FROM pg_class AS c"
        " WHERE c.relnamespace = 'cachemon'::regnamespace AND c.relkind = 'r'"
        " AND (c.relispartition OR c.relname = 'alembic_version')"
        " AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) AS a WHERE a.grantee <> c.relowner)"
    ).fetchall()
    assert grants == []


def test_0008_breach_and_fixed(conn: Any) -> None:
    conn.execute("CREATE TABLE cachemon.lint_probe (x int)")
    conn.execute("ALTER TABLE cachemon.lint_probe ENABLE ROW LEVEL SECURITY")
    assert "lint_probe" in {r["name"] for r in conn.execute(RLS_NO_POLICY).fetchall()}
    conn.execute("CREATE POLICY p ON cachemon.lint_probe TO cachemon_reader USING (true)")
    assert "lint_probe" not in {r["name"] for r in conn.execute(RLS_NO_POLICY).fetchall()}
