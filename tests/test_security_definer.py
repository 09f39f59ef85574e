"""Every function of schema cachemon that runs with its owner's rights, against callers' objects.

The functions are found in pg_proc (SECURITY DEFINER functions and every trigger function),
never from a list written here, so a function added later is covered the day it is added.
Each attack is performed by a role that can create objects: types, casts, operators, functions,
views and tables in pg_temp and in a schema of its own placed first on its search_path. What
the attacker plants leaves a trace in a sequence when it runs (nextval is not undone by a
rollback, so a trace survives the error that follows) and tries to make its author a
superuser; the tests assert that no trace exists and that the author is not a superuser.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tests.rollup_helpers import insert_events, tick_until_idle
from tests.trust_helpers import attacker, is_superuser, login_role

Conn = psycopg.Connection[dict[str, Any]]

ALL_GROUPS = ("cachemon_writer", "cachemon_reader", "cachemon_admin")

# What a planted function does when it runs: leave a trace nothing undoes, then try to make
# its author a superuser (which works only when it runs as a superuser).
TRAP_BODY = """
    BEGIN
        PERFORM pg_catalog.nextval('trap.runs');
        BEGIN
            EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', '{role}');
        EXCEPTION WHEN insufficient_privilege THEN
            NULL;
        END;
        RETURN NULL;
    END
"""


def _trigger_functions(conn: Conn) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT p.oid, p.oid::regprocedure::text AS fn, p.prosecdef"
        "  FROM pg_proc AS p"
        " WHERE p.pronamespace = 'cachemon'::regnamespace"
        "   AND p.prorettype = 'trigger'::regtype"
        " ORDER BY 2"
    ).fetchall()


def _definer_functions(conn: Conn) -> list[dict[str, Any]]:
    """SECURITY DEFINER functions of cachemon that are not trigger functions."""
    return conn.execute(
        "SELECT p.oid, p.oid::regprocedure::text AS fn, p.proname,"
        "       p.proargtypes::regtype[]::text[] AS argtypes, p.proconfig, p.prosrc,"
        "       p.proretset"
        "  FROM pg_proc AS p"
        " WHERE p.pronamespace = 'cachemon'::regnamespace AND p.prosecdef"
        "   AND p.prorettype <> 'trigger'::regtype"
        " ORDER BY 2"
    ).fetchall()


def _setup_trap(admin_url: str) -> None:
    """Schema trap (the owner's): a sequence that counts runs of planted code, open to all."""
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute("CREATE SCHEMA trap")
        c.execute("GRANT USAGE ON SCHEMA trap TO PUBLIC")
        c.execute("CREATE SEQUENCE trap.runs")
        c.execute("GRANT ALL ON SEQUENCE trap.runs TO PUBLIC")


def _trap_runs(admin_url: str) -> int:
    with psycopg.connect(admin_url) as c:
        row = c.execute(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM trap.runs"
        ).fetchone()
    assert row is not None
    return int(row[0])


# --- The attack as it was reported -----------------------------------------------------------


@pytest.mark.parametrize("group", ["cachemon_writer", "cachemon_admin", "cachemon_jobs"])
def test_a_cachemon_role_cannot_become_superuser_through_the_ingest_trigger(
    db_url: str, group: str
) -> None:
    """As a member of a cachemon role: a type in pg_temp, a function running ALTER ROLE ...
    SUPERUSER, an IMPLICIT cast from that type to timestamptz through it, a temp table whose
    recorded_at has that type, _mark_dirty_buckets attached to it, one insert. The trigger
    body's cast used to run the attacker's function as the owner (a superuser)."""
    name, url = login_role(db_url, "mallory", group)
    _setup_trap(db_url)
    with psycopg.connect(url, autocommit=True) as evil:
        evil.execute("CREATE TYPE pg_temp.evil AS ENUM ('x')")
        evil.execute(
            "CREATE FUNCTION pg_temp.evil_ts(pg_temp.evil) RETURNS timestamptz"
            " LANGUAGE plpgsql AS $$" + TRAP_BODY.format(role=name) + "$$"
        )
        evil.execute(
            "CREATE CAST (pg_temp.evil AS timestamptz)"
            " WITH FUNCTION pg_temp.evil_ts(pg_temp.evil) AS IMPLICIT"
        )
        evil.execute(
            "CREATE TEMP TABLE t (recorded_at pg_temp.evil, implementation_type text,"
            " response_time_ms double precision)"
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            evil.execute(
                "CREATE TRIGGER t_mark AFTER INSERT ON pg_temp.t REFERENCING NEW TABLE AS new_rows"
                " FOR EACH STATEMENT EXECUTE FUNCTION cachemon._mark_dirty_buckets()"
            )
        evil.execute("INSERT INTO pg_temp.t VALUES ('x', 'new', 1)")
    assert _trap_runs(db_url) == 0
    assert not is_superuser(db_url, name)


def test_forged_queue_marks_from_a_temp_table_are_refused(db_url: str) -> None:
    """The DELETE variant: 200,003 rows of the writer's own temp table, _mark_dirty_buckets
    attached AFTER DELETE, one DELETE: 200,003 queue marks with no event stored, holding real
    minutes and the auditor back for about 40 ticks. Refused twice over: the writer may not
    attach the function, and where it could (EXECUTE granted by mistake) the function refuses
    every table but cache_metrics."""
    name, url = login_role(db_url, "mallory", "cachemon_writer")
    with psycopg.connect(url, autocommit=True) as evil:
        evil.execute(
            "CREATE TEMP TABLE t AS SELECT now() - g * interval '1 minute' AS recorded_at,"
            " 'new'::text AS implementation_type FROM generate_series(1, 200003) AS g"
        )
        trigger = (
            "CREATE TRIGGER t_mark AFTER DELETE ON pg_temp.t REFERENCING OLD TABLE AS old_rows"
            " FOR EACH STATEMENT EXECUTE FUNCTION cachemon._mark_dirty_buckets()"
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            evil.execute(trigger)
        with psycopg.connect(db_url, autocommit=True) as owner:
            owner.execute(
                sql.SQL("GRANT EXECUTE ON FUNCTION cachemon._mark_dirty_buckets() TO {}").format(
                    sql.Identifier(name)
                )
            )
        evil.execute(trigger)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="refuses to run"):
            evil.execute("DELETE FROM pg_temp.t")
    with psycopg.connect(db_url) as owner:
        assert owner.execute("SELECT count(*) FROM cachemon._dirty_buckets").fetchone() == (0,)


def test_deleted_rows_mark_only_minutes_an_insert_accepts(conn: Conn) -> None:
    """A DELETE from cache_metrics (by an admin or the owner) queues the minutes it touched,
    and only those within [now - retention.raw, now + ingest.max_future]: rows older than the
    kept raw days (here left in the default partition) mark nothing."""
    row = conn.execute("SELECT now() AS now").fetchone()
    assert row is not None
    now = row["now"]
    insert_events(conn, [(now - timedelta(minutes=5), "new", "hit", 1.0, 1)])
    tick_until_idle(conn)
    conn.execute("ALTER TABLE cachemon.cache_metrics DISABLE TRIGGER cache_metrics_mark_inserted")
    conn.execute(
        "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type)"
        " VALUES (now() - interval '400 days', 'new', 'hit')"
    )
    conn.execute("ALTER TABLE cachemon.cache_metrics ENABLE TRIGGER cache_metrics_mark_inserted")
    conn.execute("DELETE FROM cachemon.cache_metrics")
    marks = conn.execute(
        "SELECT bucket, implementation_type FROM cachemon._dirty_buckets"
    ).fetchall()
    assert marks == [
        {
            "bucket": (now - timedelta(minutes=5)).replace(second=0, microsecond=0),
            "implementation_type": "new",
        }
    ]


# --- Trigger functions: nobody attaches them, and they refuse any table but their own -------


def test_no_role_may_execute_a_trigger_function(conn: Conn) -> None:
    """CREATE TRIGGER needs EXECUTE on the function; firing does not. So no role but the owner
    needs it, and any grant lets its holder attach the function to a table of its own."""
    functions = _trigger_functions(conn)
    assert len(functions) >= 4, functions
    offenders = conn.execute(
        "SELECT p.oid::regprocedure::text AS fn, a.grantee::regrole::text AS grantee"
        "  FROM pg_proc AS p, aclexplode(p.proacl) AS a"
        " WHERE p.pronamespace = 'cachemon'::regnamespace"
        "   AND p.prorettype = 'trigger'::regtype"
        "   AND a.grantee <> p.proowner AND a.privilege_type = 'EXECUTE'"
        " UNION ALL "
        "SELECT p.oid::regprocedure::text, 'PUBLIC (no ACL)'"
        "  FROM pg_proc AS p"
        " WHERE p.pronamespace = 'cachemon'::regnamespace"
        "   AND p.prorettype = 'trigger'::regtype AND p.proacl IS NULL"
    ).fetchall()
    assert offenders == []


def _victim_columns(conn: Conn, table_oid: int) -> list[dict[str, Any]]:
    """Columns of the table a trigger serves: name and base type (domains resolved)."""
    return conn.execute(
        "SELECT a.attname AS name,"
        "       (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END)::regtype::text"
        "           AS type"
        "  FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid"
        " WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (table_oid,),
    ).fetchall()


def test_every_trigger_function_refuses_a_callers_table(db_url: str) -> None:
    """For every trigger function of cachemon and every trigger it serves: a role that can
    create objects (a member of every cachemon role, with CREATE on the database) builds a
    temp table with the columns of the function's table, each of a pg_temp type with an
    IMPLICIT cast into the column's real type through a function of its own, and copies the
    trigger onto it. Without EXECUTE it may not; granted EXECUTE by mistake, the trigger fires
    and the function refuses before evaluating anything: no planted function runs."""
    name, url = attacker(db_url)
    with psycopg.connect(db_url, autocommit=True) as owner:
        for group in ALL_GROUPS:
            owner.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name))
            )
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as owner:
        functions = _trigger_functions(owner)
        triggers = owner.execute(
            "SELECT t.tgfoid AS fn_oid, t.tgname, t.tgrelid::regclass::text AS rel, t.tgrelid,"
            "       pg_get_triggerdef(t.oid) AS def"
            "  FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid"
            " WHERE p.pronamespace = 'cachemon'::regnamespace AND NOT t.tgisinternal"
            " ORDER BY t.tgname"
        ).fetchall()
    served = {t["fn_oid"] for t in triggers}
    assert {f["oid"] for f in functions} <= served, "a trigger function with no trigger"
    refused: list[str] = []
    other: list[str] = []
    ran: list[str] = []
    _setup_trap(db_url)
    for n, trig in enumerate(triggers):
        fn = next(f["fn"] for f in functions if f["oid"] == trig["fn_oid"])
        before = _trap_runs(db_url)
        with psycopg.connect(url, autocommit=True) as evil:
            evil.execute("CREATE TYPE pg_temp.evil AS ENUM ('x')")
            with psycopg.connect(db_url, row_factory=dict_row) as owner:
                columns = _victim_columns(owner, trig["tgrelid"])
            for i, typ in enumerate(sorted({c["type"] for c in columns})):
                evil.execute(
                    f"CREATE FUNCTION pg_temp.evil_{i}(pg_temp.evil) RETURNS {typ}"
                    " LANGUAGE plpgsql AS $$" + TRAP_BODY.format(role=name) + "$$"
                )
                evil.execute(
                    f"CREATE CAST (pg_temp.evil AS {typ})"
                    f" WITH FUNCTION pg_temp.evil_{i}(pg_temp.evil) AS IMPLICIT"
                )
            evil.execute(
                "CREATE TEMP TABLE victim ("
                + ", ".join(f'"{c["name"]}" pg_temp.evil' for c in columns)
                + ")"
            )
            copy = trig["def"].replace(f" ON {trig['rel']} ", " ON pg_temp.victim ", 1)
            copy = copy.replace(f"TRIGGER {trig['tgname']} ", f"TRIGGER evil_{n} ", 1)
            assert "pg_temp.victim" in copy, copy
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                evil.execute(copy)
            with psycopg.connect(db_url, autocommit=True) as owner:
                owner.execute(
                    sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(
                        sql.SQL(fn), sql.Identifier(name)
                    )
                )
            try:
                evil.execute(copy)
                values = ", ".join("'x'" for _ in columns)
                first = columns[0]["name"]
                with evil.transaction():
                    evil.execute(f"INSERT INTO pg_temp.victim VALUES ({values})")
                    evil.execute(f"UPDATE pg_temp.victim SET \"{first}\" = 'x'")
                    evil.execute("DELETE FROM pg_temp.victim")
            except psycopg.Error as e:
                if isinstance(e, psycopg.errors.InsufficientPrivilege) and "refuses to run" in str(
                    e
                ):
                    refused.append(trig["tgname"])
                else:
                    other.append(f"{trig['tgname']}: {e}")
            finally:
                with psycopg.connect(db_url, autocommit=True) as owner:
                    owner.execute(
                        sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM {}").format(
                            sql.SQL(fn), sql.Identifier(name)
                        )
                    )
        if _trap_runs(db_url) != before:
            ran.append(f"{trig['tgname']} ({fn})")
    assert ran == [], "the attacker's cast ran inside these trigger functions"
    assert other == []
    assert refused == [t["tgname"] for t in triggers]
    assert not is_superuser(db_url, name)


def test_every_trigger_function_refuses_the_wrong_timing_on_its_own_table(db_url: str) -> None:
    """TG_RELID alone is not enough: attached to its own table as another kind of trigger
    (here BEFORE TRUNCATE, FOR EACH STATEMENT, which needs no row), each function refuses."""
    with psycopg.connect(db_url, row_factory=dict_row) as owner:
        rows = owner.execute(
            "SELECT DISTINCT t.tgrelid::regclass::text AS rel, p.oid::regprocedure::text AS fn"
            "  FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid"
            " WHERE p.pronamespace = 'cachemon'::regnamespace AND NOT t.tgisinternal"
            " ORDER BY 1, 2"
        ).fetchall()
        assert len(rows) >= 4
        for row in rows:
            with owner.transaction(force_rollback=True):
                owner.execute(
                    f"CREATE TRIGGER wrong_kind BEFORE TRUNCATE ON {row['rel']}"
                    f" FOR EACH STATEMENT EXECUTE FUNCTION {row['fn']}"
                )
                with (
                    pytest.raises(psycopg.errors.InsufficientPrivilege, match="refuses to run"),
                    owner.transaction(),
                ):
                    owner.execute(f"TRUNCATE {row['rel']} CASCADE")


# --- SECURITY DEFINER functions that are not triggers -----------------------------------------

# A value of each argument type the SECURITY DEFINER functions take, valid for all of them. A
# new argument type makes the test fail until a value is added here.
SAMPLE = {
    "uuid": "'6f1c1f7e-0d1e-4a57-9a3c-9d8b0d6a9e01'::pg_catalog.uuid",
    "bytea": "'\\x0102030405060708'::pg_catalog.bytea",
    "timestamp with time zone": "pg_catalog.now()",
    "interval": "'1 hour'::pg_catalog.interval",
    "text": "'new'::pg_catalog.text",
}
# A function whose argument must lie in a narrower range than the sample: its own valid value.
SAMPLE_FOR = {
    "notify_purge": {"interval": "'30 days'::pg_catalog.interval"},
}

# Type pairs the planted operators are made for: what the bodies compare and compute with.
OPERATOR_TYPES = [
    ("timestamptz", "timestamptz", "boolean"),
    ("timestamptz", "interval", "timestamptz"),
    ("interval", "interval", "boolean"),
    ("text", "text", "boolean"),
    ("text", "text[]", "boolean"),
    ("bigint", "bigint", "bigint"),
    ("integer", "integer", "integer"),
    ("numeric", "numeric", "numeric"),
    ("double precision", "double precision", "double precision"),
    ("uuid", "uuid", "boolean"),
    ("bytea", "bytea", "boolean"),
    ("oid", "oid", "boolean"),
    ("name", "name", "boolean"),
    ("date", "integer", "date"),
]
OPERATORS = ["=", "<>", "<", ">", "<=", ">=", "+", "-", "*", "/", "||", "~"]

# Argument lists of the planted functions named like every word of a body.
FUNCTION_SIGNATURES = [
    "",
    "text",
    "text, text",
    "timestamptz",
    "timestamptz, timestamptz",
    "interval",
    "bigint",
    "integer",
    "numeric",
    "numeric, integer",
    "double precision",
    "oid",
    "regclass",
    "anyelement",
    "anyelement, anyelement",
    "anyarray",
    "text, text, timestamptz",
    "interval, timestamptz, timestamptz",
]


def test_definer_functions_have_fixed_search_path_and_plain_arguments(conn: Conn) -> None:
    """search_path fixed to pg_catalog (and cachemon) with pg_temp last, or empty; no argument
    or result of a pseudo-type (anyelement, record, ...) or of a type outside pg_catalog and
    cachemon, so no caller's type can reach the body through the signature."""
    functions = _definer_functions(conn)
    assert len(functions) >= 7, functions
    offenders: list[str] = []
    for f in functions:
        paths = [c for c in (f["proconfig"] or []) if c.startswith("search_path=")]
        if len(paths) != 1:
            offenders.append(f"{f['fn']}: no fixed search_path")
            continue
        path = [p.strip().strip('"') for p in paths[0].split("=", 1)[1].split(",")]
        if path not in ([""], ['""']):
            if path[-1] != "pg_temp" or not set(path) <= {"pg_catalog", "cachemon", "pg_temp"}:
                offenders.append(f"{f['fn']}: search_path {path}")
            if path[0] != "pg_catalog":
                offenders.append(f"{f['fn']}: pg_catalog is not first in {path}")
    offenders += [
        f"{r['fn']}: {r['what']} of type {r['type']}"
        for r in conn.execute(
            "SELECT p.oid::regprocedure::text AS fn, x.what, t.oid::regtype::text AS type"
            "  FROM pg_proc AS p"
            "  CROSS JOIN LATERAL (SELECT 'argument' AS what, a AS typ"
            "                        FROM unnest(coalesce(p.proallargtypes,"
            "                                             p.proargtypes::oid[])) AS a"
            "                      UNION ALL SELECT 'result', p.prorettype"
            "                       WHERE p.proallargtypes IS NULL) AS x"
            "  JOIN pg_type AS t ON t.oid = x.typ"
            " WHERE p.pronamespace = 'cachemon'::regnamespace AND p.prosecdef"
            "   AND p.prorettype <> 'trigger'::regtype"
            "   AND (t.typtype = 'p' OR t.typnamespace NOT IN"
            "        ('pg_catalog'::regnamespace, 'cachemon'::regnamespace))"
        ).fetchall()
    ]
    assert offenders == []


def _words(body: str) -> list[str]:
    """The identifiers a body names (lower case, without schema), a bounded list."""
    found = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", body)}
    return sorted(w for w in found if len(w) > 1)[:400]


def _plant(evil: psycopg.Connection[Any], schema: str, role: str, words: list[str]) -> int:
    """Views, tables, types and functions named like each word, in pg_temp and in ``schema``,
    and operators on common types in both; every one of them springs the trap. The count
    of objects planted."""
    trap = TRAP_BODY.format(role=role)
    planted = 0

    def attempt(statement: str) -> None:
        nonlocal planted
        try:
            with evil.transaction():
                evil.execute(statement)
            planted += 1
        except psycopg.Error:
            pass  # a word that cannot name such an object (a keyword, a clash): skipped

    attempt(f"CREATE FUNCTION {schema}.trap() RETURNS integer LANGUAGE plpgsql AS $${trap}$$")
    for w in words:
        ident = sql.Identifier(w).as_string(evil)
        attempt(f"CREATE TYPE {schema}.{ident} AS ENUM ('x')")
        for where in (schema, "pg_temp"):
            attempt(f"CREATE VIEW {where}.{ident} AS SELECT {schema}.trap() AS {ident}")
            for i, args in enumerate(FUNCTION_SIGNATURES):
                returns = (
                    "anyelement"
                    if args.startswith("anyelement")
                    else "anyarray"
                    if args == "anyarray"
                    else "text"
                )
                attempt(
                    f"CREATE FUNCTION {where}.{ident}({args}) RETURNS {returns}"
                    f" LANGUAGE plpgsql AS $${trap}$$"
                )
                del i
    for n, (left, right, result) in enumerate(OPERATOR_TYPES):
        for where in (schema, "pg_temp"):
            func = f"{where}.op_{n}"
            attempt(
                f"CREATE FUNCTION {func}({left}, {right}) RETURNS {result}"
                f" LANGUAGE plpgsql AS $${trap}$$"
            )
            for op in OPERATORS:
                attempt(
                    f"CREATE OPERATOR {where}.{op} (LEFTARG = {left}, RIGHTARG = {right},"
                    f" FUNCTION = {func})"
                )
    return planted


def test_no_definer_function_runs_what_its_caller_planted(db_url: str) -> None:
    """For every SECURITY DEFINER function that is not a trigger (found in pg_proc): a role
    that can call it and create objects (a member of every cachemon role, with CREATE on the
    database) plants, in pg_temp and in a schema of its own first on its search_path,
    views, functions and types named like every word of the body, and operators on the
    types the bodies compute with; then it calls the function with valid arguments. The
    call succeeds, and nothing it planted ran."""
    name, url = attacker(db_url)
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as owner:
        for group in ALL_GROUPS:
            owner.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name))
            )
        now = owner.execute("SELECT now() AS now").fetchone()
        assert now is not None
        insert_events(
            owner,
            [
                (now["now"] - timedelta(minutes=m), "new", e, 1.0, 1)
                for m in (3, 4)
                for e in ("hit", "error")
            ],
        )
        tick_until_idle(owner)
        insert_events(owner, [(now["now"] - timedelta(minutes=2), "new", "miss", 1.0, 1)])
        functions = _definer_functions(owner)
    assert len(functions) >= 7, functions
    missing = sorted({t for f in functions for t in f["argtypes"] if t not in SAMPLE})
    assert missing == [], f"add a valid sample value of {missing} to SAMPLE"
    _setup_trap(db_url)
    with psycopg.connect(url, autocommit=True) as evil:
        evil.execute("CREATE SCHEMA mallory")
        evil.execute("SET search_path = mallory, pg_temp, pg_catalog")
        planted = _plant(evil, "mallory", name, _words(" ".join(f["prosrc"] for f in functions)))
        assert planted > 1000, planted
        failed: list[str] = []
        for f in functions:
            own = SAMPLE_FOR.get(f["proname"], {})
            args = ", ".join(own.get(t, SAMPLE[t]) for t in f["argtypes"])
            try:
                with evil.transaction():
                    evil.execute(f"SELECT cachemon.{f['proname']}({args})")
            except psycopg.Error as e:
                failed.append(f"{f['fn']}: {e}")
    assert failed == []
    assert _trap_runs(db_url) == 0
    assert not is_superuser(db_url, name)


def test_the_planted_objects_do_spring_when_the_search_path_is_not_fixed(db_url: str) -> None:
    """The previous test can fail: the same planting catches a SECURITY DEFINER function whose
    search_path lets a caller's schema in first (created here by the owner, then removed)."""
    name, url = attacker(db_url)
    with psycopg.connect(db_url, autocommit=True) as owner:
        owner.execute(
            "CREATE FUNCTION cachemon.weak(p text) RETURNS text LANGUAGE sql"
            " SECURITY DEFINER SET search_path = mallory, pg_catalog, pg_temp"
            " AS $$ SELECT lower(p) $$"
        )
        owner.execute(
            sql.SQL("GRANT EXECUTE ON FUNCTION cachemon.weak(text) TO {}").format(
                sql.Identifier(name)
            )
        )
        owner.execute(sql.SQL("GRANT USAGE ON SCHEMA cachemon TO {}").format(sql.Identifier(name)))
    _setup_trap(db_url)
    with psycopg.connect(url, autocommit=True) as evil:
        evil.execute("CREATE SCHEMA mallory")
        _plant(evil, "mallory", name, ["lower"])
        evil.execute("SELECT cachemon.weak('X')")
    assert _trap_runs(db_url) > 0
