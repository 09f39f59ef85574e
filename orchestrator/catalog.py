"""A comparable description of everything in schema ``cachemon``, read from the catalogs.

Two databases hold the same cachemon schema when their fingerprints are equal: the tests use
it to prove that ``alembic upgrade head`` equals a build from the current SQL files, and
``cachemon db check`` uses it to find functions that differ from the package's.
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg

# Each query returns rows that describe one kind of object; rows are sorted before comparing,
# so creation order (e.g. a column added later by ALTER TABLE) does not matter.
QUERIES: dict[str, str] = {
    "functions": """
        SELECT p.oid::regprocedure::text AS signature,
               p.prokind::text,
               pg_catalog.pg_get_function_result(p.oid) AS result,
               pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
               p.prosrc,
               l.lanname,
               p.provolatile::text,
               p.proparallel::text,
               p.prosecdef,
               p.proisstrict,
               coalesce(p.proconfig::text, '') AS config,
               coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') AS comment,
               coalesce(p.proacl::text, '') AS acl
          FROM pg_catalog.pg_proc AS p
          JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
         WHERE p.pronamespace = 'cachemon'::regnamespace
    """,
    "tables": """
        SELECT c.relname, c.relkind::text, c.relrowsecurity, c.relforcerowsecurity,
               coalesce(pg_catalog.pg_get_partkeydef(c.oid), '') AS partition_key,
               coalesce(pg_catalog.pg_get_expr(c.relpartbound, c.oid), '') AS partition_bound,
               coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), '') AS comment,
               coalesce(c.relacl::text, '') AS acl
          FROM pg_catalog.pg_class AS c
         WHERE c.relnamespace = 'cachemon'::regnamespace
           AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND c.relname <> 'alembic_version'
           AND NOT (c.relispartition AND c.relname ~ '_p[0-9]{8}$')
    """,
    "columns": """
        SELECT c.relname, a.attname,
               pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
               a.attnotnull, a.attidentity::text, a.attgenerated::text,
               coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid), '') AS default,
               coalesce(pg_catalog.col_description(c.oid, a.attnum), '') AS comment
          FROM pg_catalog.pg_attribute AS a
          JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
          LEFT JOIN pg_catalog.pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE c.relnamespace = 'cachemon'::regnamespace
           AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
           AND c.relname <> 'alembic_version'
           AND NOT (c.relispartition AND c.relname ~ '_p[0-9]{8}$')
           AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "constraints": """
        SELECT c.relname, k.conname, k.contype::text,
               pg_catalog.pg_get_constraintdef(k.oid) AS definition
          FROM pg_catalog.pg_constraint AS k
          JOIN pg_catalog.pg_class AS c ON c.oid = k.conrelid
         WHERE c.relnamespace = 'cachemon'::regnamespace
           AND c.relname <> 'alembic_version'
           AND NOT (c.relispartition AND c.relname ~ '_p[0-9]{8}$')
    """,
    "indexes": """
        SELECT c.relname AS table_name, i.relname AS index_name,
               pg_catalog.pg_get_indexdef(i.oid) AS definition
          FROM pg_catalog.pg_index AS x
          JOIN pg_catalog.pg_class AS i ON i.oid = x.indexrelid
          JOIN pg_catalog.pg_class AS c ON c.oid = x.indrelid
         WHERE c.relnamespace = 'cachemon'::regnamespace
           AND c.relname <> 'alembic_version'
           AND NOT (c.relispartition AND c.relname ~ '_p[0-9]{8}$')
    """,
    "policies": """
        SELECT p.tablename, p.policyname, p.permissive, p.roles::text, p.cmd,
               coalesce(p.qual, ''), coalesce(p.with_check, '')
          FROM pg_catalog.pg_policies AS p
         WHERE p.schemaname = 'cachemon'
    """,
    "triggers": """
        SELECT c.relname, t.tgname, pg_catalog.pg_get_triggerdef(t.oid) AS definition,
               t.tgenabled::text
          FROM pg_catalog.pg_trigger AS t
          JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
         WHERE c.relnamespace = 'cachemon'::regnamespace
           AND NOT t.tgisinternal
           AND NOT (c.relispartition AND c.relname ~ '_p[0-9]{8}$')
    """,
    "types": """
        SELECT t.typname, t.typtype::text,
               coalesce(pg_catalog.obj_description(t.oid, 'pg_type'), '') AS comment
          FROM pg_catalog.pg_type AS t
         WHERE t.typnamespace = 'cachemon'::regnamespace
           AND t.typtype IN ('c', 'd', 'e')
           AND (t.typrelid = 0
                OR (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = t.typrelid) = 'c')
    """,
    "sequences": """
        SELECT s.relname, coalesce(s.relacl::text, '') AS acl
          FROM pg_catalog.pg_class AS s
         WHERE s.relnamespace = 'cachemon'::regnamespace AND s.relkind = 'S'
    """,
    "schema": """
        SELECT n.nspname, coalesce(n.nspacl::text, ''),
               coalesce(pg_catalog.obj_description(n.oid, 'pg_namespace'), '')
          FROM pg_catalog.pg_namespace AS n
         WHERE n.nspname = 'cachemon'
    """,
    "publications": """
        SELECT p.pubname, t.tablename
          FROM pg_catalog.pg_publication AS p
          JOIN pg_catalog.pg_publication_tables AS t ON t.pubname = p.pubname
         WHERE t.schemaname = 'cachemon'
    """,
}

Fingerprint = dict[str, list[tuple[Any, ...]]]


def fingerprint(conn: psycopg.Connection[Any], kinds: tuple[str, ...] | None = None) -> Fingerprint:
    """Sorted catalog rows describing schema ``cachemon`` (empty lists when it does not exist)."""
    exists = conn.execute(
        "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'cachemon'"
    ).fetchone()
    result: Fingerprint = {}
    for kind, query in QUERIES.items():
        if kinds is not None and kind not in kinds:
            continue
        if not exists:
            result[kind] = []
            continue
        with conn.cursor() as cur:
            cur.execute(query)
            result[kind] = sorted(tuple(str(v) for v in row) for row in cur.fetchall())
    return result


def differences(left: Fingerprint, right: Fingerprint) -> list[str]:
    """Human-readable lines naming what is only in ``left`` (-) or only in ``right`` (+)."""
    lines: list[str] = []
    for kind in sorted(set(left) | set(right)):
        a, b = set(left.get(kind, [])), set(right.get(kind, []))
        lines.extend(f"{kind}: - {row}" for row in sorted(a - b))
        lines.extend(f"{kind}: + {row}" for row in sorted(b - a))
    return lines


# What a revision's manifest records about the installed functions and triggers: the same
# facts as QUERIES["functions"] / ["triggers"], but independent of who installed them (the
# owner's own ACL entry and every grantor are left out), so a manifest made on one server
# holds on another.
MANIFEST_QUERIES: dict[str, str] = {
    "functions": """
        SELECT p.oid::regprocedure::text AS key,
               concat_ws(E'\\n',
                   p.prokind::text,
                   pg_catalog.pg_get_function_result(p.oid),
                   pg_catalog.pg_get_function_arguments(p.oid),
                   l.lanname, p.provolatile::text, p.proparallel::text,
                   p.prosecdef::text, p.proisstrict::text,
                   coalesce(p.proconfig::text, ''),
                   coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), ''),
                   coalesce((SELECT string_agg(e.entry, ',' ORDER BY e.entry)
                               FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                 ELSE pg_catalog.pg_get_userbyid(a.grantee)
                                            END || ':' || a.privilege_type AS entry
                                       FROM pg_catalog.aclexplode(coalesce(
                                                p.proacl, pg_catalog.acldefault('f', p.proowner)
                                            )) AS a
                                      WHERE a.grantee <> p.proowner) AS e), ''),
                   p.prosrc) AS definition
          FROM pg_catalog.pg_proc AS p
          JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
         WHERE p.pronamespace = 'cachemon'::regnamespace
    """,
    "triggers": """
        SELECT c.relname || '.' || t.tgname AS key,
               pg_catalog.pg_get_triggerdef(t.oid) || E'\\n' || t.tgenabled::text AS definition
          FROM pg_catalog.pg_trigger AS t
          JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
         WHERE c.relnamespace = 'cachemon'::regnamespace
           AND NOT t.tgisinternal
           AND NOT (c.relispartition AND c.relname ~ '_p[0-9]{8}$')
    """,
}

Manifest = dict[str, dict[str, str]]


def manifest_fingerprint(conn: psycopg.Connection[Any]) -> Manifest:
    """For each function (by signature) and trigger (table.name) in schema ``cachemon``, the
    sha256 of its normalized definition. Reads the catalogs only: it takes no table lock."""
    exists = conn.execute(
        "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'cachemon'"
    ).fetchone()
    result: Manifest = {}
    for kind, query in MANIFEST_QUERIES.items():
        result[kind] = {}
        if not exists:
            continue
        with conn.cursor() as cur:
            cur.execute(query)
            for key, definition in cur.fetchall():
                digest = hashlib.sha256(str(definition).encode()).hexdigest()
                result[kind][str(key)] = digest
    return result


def manifest_differences(expected: Manifest, actual: Manifest) -> list[str]:
    """Lines naming what the database lacks (-), has in addition (+) or has changed (~)."""
    lines: list[str] = []
    for kind in sorted(set(expected) | set(actual)):
        want, have = expected.get(kind, {}), actual.get(kind, {})
        lines.extend(f"{kind}: - {key} (missing)" for key in sorted(set(want) - set(have)))
        extra = sorted(set(have) - set(want))
        lines.extend(f"{kind}: + {key} (not in the package)" for key in extra)
        lines.extend(
            f"{kind}: ~ {key} (definition differs)"
            for key in sorted(set(want) & set(have))
            if want[key] != have[key]
        )
    return lines
