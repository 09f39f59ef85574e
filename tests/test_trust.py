"""Nothing outside cachemon is trusted by name, roles do what the README says,
and notifications carry identifiers only. Each attack is performed, then shown inert."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from orchestrator import dbversions, watch
from tests.conftest import Server
from tests.rollup_helpers import db_now, insert_events
from tests.trust_helpers import attacker, is_superuser, login_role
from tests.watch_helpers import received_while

# What the planted code does when it runs: make its author superuser (works only when run by
# a superuser) and leave a trace that any role could write.
PWN = """
    BEGIN
        INSERT INTO {schema}.ran VALUES (current_user, '{what}');
        EXECUTE format('ALTER ROLE %I SUPERUSER', '{attacker}');
        {ret}
    EXCEPTION WHEN insufficient_privilege THEN
        INSERT INTO {schema}.ran VALUES (current_user, '{what} (denied)');
        {ret}
    END
"""


def _plant_schema(conn: psycopg.Connection[dict[str, object]], schema: str) -> None:
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"GRANT USAGE, CREATE ON SCHEMA {schema} TO PUBLIC")
    conn.execute(f"CREATE TABLE {schema}.ran (who text, what text)")
    conn.execute(f"GRANT ALL ON {schema}.ran TO PUBLIC")


def _ran(url: str, schema: str) -> list[dict[str, object]]:
    with psycopg.connect(url, row_factory=dict_row) as c:
        return c.execute(f"SELECT * FROM {schema}.ran").fetchall()


def test_planted_cron_job_run_details_never_fires(db_url: str) -> None:
    """Without pg_cron, a role with CREATE on the database plants cron.job_run_details with a
    trigger; run_maintenance (SECURITY DEFINER) used to delete from it as its owner."""
    name, evil_url = attacker(db_url)
    with psycopg.connect(evil_url, autocommit=True, row_factory=dict_row) as evil:
        _plant_schema(evil, "cron")
        evil.execute("CREATE TABLE cron.job_run_details (end_time timestamptz)")
        evil.execute("INSERT INTO cron.job_run_details VALUES ('2000-01-01')")
        evil.execute("GRANT ALL ON cron.job_run_details TO PUBLIC")
        evil.execute(
            "CREATE FUNCTION cron.pwn() RETURNS trigger LANGUAGE plpgsql AS $$"
            + PWN.format(schema="cron", what="trigger", attacker=name, ret="RETURN NULL;")
            + "$$"
        )
        evil.execute(
            "CREATE TRIGGER pwn BEFORE DELETE ON cron.job_run_details"
            " FOR EACH STATEMENT EXECUTE FUNCTION cron.pwn()"
        )
    _, admin_url = login_role(db_url, "ops", "cachemon_admin")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("SELECT cachemon.run_maintenance()")
        assert admin.execute("SELECT cachemon._purge_cron_history()").fetchone() == (0,)
    with psycopg.connect(db_url, autocommit=True) as owner:  # the superuser, too
        owner.execute("SELECT cachemon.run_maintenance()")
        assert owner.execute("SELECT cachemon._purge_cron_history()").fetchone() == (0,)
        assert owner.execute("SELECT count(*) FROM cron.job_run_details").fetchone() == (1,)
    assert _ran(db_url, "cron") == []
    assert not is_superuser(db_url, name)


def test_planted_cron_functions_are_never_called(db_url: str) -> None:
    """A planted cron.schedule_in_database / cron.unschedule / cron.job in a database without
    pg_cron: schedule_jobs and unschedule_jobs call none of them."""
    name, evil_url = attacker(db_url)
    with psycopg.connect(evil_url, autocommit=True) as evil:
        _plant_schema(evil, "cron")  # type: ignore[arg-type]
        evil.execute(
            "CREATE TABLE cron.job (jobid bigint, jobname text, database text, username text)"
        )
        evil.execute("INSERT INTO cron.job VALUES (1, 'cachemon-tick', current_database(), 'x')")
        evil.execute("GRANT ALL ON cron.job TO PUBLIC")
        for sig, ret in [
            ("schedule_in_database(text, text, text, text, text, boolean)", "RETURN 1;"),
            ("schedule(text, text, text)", "RETURN 1;"),
            ("unschedule(bigint)", "RETURN true;"),
        ]:
            rtype = "boolean" if "unschedule" in sig else "bigint"
            evil.execute(
                f"CREATE FUNCTION cron.{sig} RETURNS {rtype} LANGUAGE plpgsql AS $$"
                + PWN.format(schema="cron", what=sig, attacker=name, ret=ret)
                + "$$"
            )
            evil.execute(f"GRANT EXECUTE ON FUNCTION cron.{sig} TO PUBLIC")
    with psycopg.connect(db_url, autocommit=True) as owner:
        assert owner.execute("SELECT * FROM cachemon.schedule_jobs()").fetchall() == []
        assert owner.execute("SELECT cachemon.unschedule_jobs()").fetchone() == (0,)
    assert _ran(db_url, "cron") == []
    assert not is_superuser(db_url, name)


def _plant_realtime(evil_url: str, name: str) -> None:
    with psycopg.connect(evil_url, autocommit=True) as evil:
        _plant_schema(evil, "realtime")  # type: ignore[arg-type]
        evil.execute(
            "CREATE FUNCTION realtime.send(payload jsonb, event text, topic text,"
            " private boolean DEFAULT true) RETURNS void LANGUAGE plpgsql AS $$"
            + PWN.format(schema="realtime", what="send", attacker=name, ret="RETURN;")
            + "$$"
        )
        evil.execute(
            "GRANT EXECUTE ON FUNCTION realtime.send(jsonb, text, text, boolean) TO PUBLIC"
        )


def test_planted_realtime_send_is_never_called(db_url: str) -> None:
    """Off Supabase, a role with CREATE on the database plants realtime.send; tick (run by a
    superuser, as the pg_cron job used to be) and every change of a pushed table ignore it."""
    name, evil_url = attacker(db_url)
    _plant_realtime(evil_url, name)
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as owner:
        now = db_now(owner)
        insert_events(owner, [(now - timedelta(minutes=3), "new", "hit", 3.0, 10)] * 3)
        owner.execute("SELECT cachemon.tick()")
        owner.execute(
            "INSERT INTO cachemon.cache_auditor_observations (implementation_type, rule,"
            " severity, category, message) VALUES ('new', 'r', 'warning', 'anomaly', 'm')"
        )
        rows = owner.execute("SELECT count(*) AS n FROM cachemon.cache_metrics_1min").fetchone()
        assert rows is not None and rows["n"] == 1
    assert _ran(db_url, "realtime") == []
    assert not is_superuser(db_url, name)


SUPABASE_LIKE = """
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN BYPASSRLS; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_realtime_admin') THEN
        CREATE ROLE supabase_realtime_admin NOLOGIN; END IF;
END
$roles$;
CREATE PUBLICATION supabase_realtime;
CREATE SCHEMA realtime AUTHORIZATION supabase_realtime_admin;
GRANT USAGE ON SCHEMA realtime TO postgres, anon, authenticated, service_role;
SET ROLE supabase_realtime_admin;
CREATE TABLE realtime.calls (payload jsonb, event text, topic text, private boolean,
                             called_as text);
CREATE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    INSERT INTO realtime.calls VALUES (payload, event, topic, private, session_user);
END $$;
REVOKE ALL ON FUNCTION realtime.send(jsonb, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION realtime.send(jsonb, text, text, boolean)
    TO postgres, anon, authenticated, service_role;
RESET ROLE;
"""


def test_supabase_admin_login_role_ticks_acks_and_broadcasts(
    pg_server: Server, empty_db_url: str
) -> None:
    """On a Supabase-like database, a login role granted cachemon_admin (the README's advice)
    runs tick, acknowledge_observation, resolve_observation and updates the pushed tables;
    the genuine realtime.send (owned by supabase_realtime_admin) receives every broadcast."""
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        c.execute(SUPABASE_LIKE)
    dbversions.upgrade(empty_db_url)
    _, admin_url = login_role(empty_db_url, "dash", "cachemon_admin")
    with psycopg.connect(empty_db_url, autocommit=True, row_factory=dict_row) as owner:
        now = db_now(owner)
        insert_events(owner, [(now - timedelta(minutes=3), "new", "hit", 3.0, 10)] * 4)
        owner.execute(
            "INSERT INTO cachemon.cache_auditor_observations (implementation_type, rule,"
            " severity, category, message) VALUES ('new', 'r', 'warning', 'anomaly', 'm')"
        )
        owner.execute("DELETE FROM realtime.calls")
        obs = owner.execute("SELECT id FROM cachemon.cache_auditor_observations").fetchone()
        assert obs is not None
    warnings: list[str] = []
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.add_notice_handler(lambda d: warnings.append(d.message_primary or ""))
        admin.execute("SELECT cachemon.tick()")
        admin.execute("SELECT cachemon.acknowledge_observation(%s, 'ops')", (obs["id"],))
        admin.execute("SELECT cachemon.resolve_observation(%s, 'ops', 'fixed')", (obs["id"],))
        admin.execute("UPDATE cachemon.cache_metrics_1min SET total_events = total_events")
    assert not [w for w in warnings if "realtime" in w], warnings
    with psycopg.connect(empty_db_url, row_factory=dict_row) as owner:
        calls = owner.execute("SELECT * FROM realtime.calls ORDER BY ctid").fetchall()
    topics = [(c["topic"], c["event"]) for c in calls]
    assert topics == [
        ("cachemon:metrics_1min", "INSERT"),
        ("cachemon:observations", "UPDATE"),
        ("cachemon:observations", "UPDATE"),
        ("cachemon:metrics_1min", "UPDATE"),
    ]
    assert all(c["private"] is True for c in calls)
    # The private channel keeps the full payload.
    assert calls[0]["payload"]["total_events"] == 4
    assert calls[2]["payload"]["status"] == "resolved"


def test_listen_as_a_role_without_cachemon_roles_gets_identifiers_only(db_url: str) -> None:
    """PostgreSQL lets any role LISTEN: a role with no cachemon role receives only the
    identifier payloads of COORDINATION.md, never metrics or finding text."""
    _, nobody_url = login_role(db_url, "nobody")
    bucket = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    with psycopg.connect(nobody_url, autocommit=True) as listener:
        listener.execute("LISTEN cachemon_events")
        with psycopg.connect(db_url, autocommit=True) as owner:
            owner.execute(
                "INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type, hits,"
                " misses, total_events, hit_rate) VALUES (%s, 'new', 8, 2, 10, 80)",
                (bucket,),
            )
            owner.execute("UPDATE cachemon.cache_metrics_1min SET hits = 9, total_events = 11")
            owner.execute(
                "INSERT INTO cachemon.cache_auditor_observations (implementation_type, rule,"
                " severity, category, message) VALUES ('new', 'r', 'critical', 'anomaly',"
                " 'secret finding text')"
            )
        notes = [json.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=3)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            listener.execute("SELECT * FROM cachemon.cache_metrics_1min")
    assert notes == [
        {
            "topic": "cachemon:metrics_1min",
            "table": "cache_metrics_1min",
            "op": "INSERT",
            "bucket": bucket.isoformat(),
            "implementation_type": "new",
        },
        {
            "topic": "cachemon:metrics_1min",
            "table": "cache_metrics_1min",
            "op": "UPDATE",
            "bucket": bucket.isoformat(),
            "implementation_type": "new",
        },
        {
            "topic": "cachemon:observations",
            "table": "cache_auditor_observations",
            "op": "INSERT",
            "id": notes[2]["id"],
        },
    ]
    assert isinstance(notes[2]["id"], int)


@pytest.mark.pgcron
def test_cachemon_admin_manages_pg_cron_and_jobs_do_not_run_as_superuser(
    cron_db_url: str,
) -> None:
    """Where pg_cron is installed, a login role granted cachemon_admin schedules, unschedules
    and purges (it used to get "permission denied for schema cron"), and the jobs run as
    cachemon_jobs, which is neither superuser nor more than cachemon_admin."""
    _, admin_url = login_role(cron_db_url, "ops", "cachemon_admin")
    with psycopg.connect(admin_url, autocommit=True, row_factory=dict_row) as admin:
        try:
            jobs = admin.execute("SELECT * FROM cachemon.schedule_jobs()").fetchall()
            assert len(jobs) == 4  # tick, maintenance, cron cleanup, auditor check
            assert admin.execute("SELECT cachemon._purge_cron_history()").fetchone() is not None
            assert admin.execute("SELECT cachemon.unschedule_jobs() AS n").fetchone() == {"n": 4}
        finally:
            admin.execute("SELECT * FROM cachemon.schedule_jobs()")
    with psycopg.connect(cron_db_url, row_factory=dict_row) as owner:
        users = owner.execute(
            "SELECT DISTINCT username FROM cron.job WHERE jobname LIKE 'cachemon-%%'"
        ).fetchall()
        assert users == [{"username": "cachemon_jobs"}]
        role = owner.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication,"
            " ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid"
            "       WHERE m.member = r.oid) AS member_of"
            " FROM pg_roles r WHERE rolname = 'cachemon_jobs'"
        ).fetchone()
    assert role == {
        "rolsuper": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
        "rolbypassrls": False,
        "rolreplication": False,
        "member_of": ["cachemon_admin"],
    }


def _watch_one(url: str, db_url: str, minutes_ago: int) -> dict[str, object]:
    got = received_while(
        url,
        db_url,
        "INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type, hits, misses,"
        " total_events, hit_rate)"
        " VALUES (date_trunc('minute', now()) - make_interval(mins => %s),"
        " 'new', 8, 2, 10, 80)",
        (minutes_ago,),
    )
    assert len(got) == 1
    return got[0]


def test_watch_reads_the_row_through_rls_as_the_connected_role(db_url: str) -> None:
    """`cachemon watch` as a reader shows the numbers (read through RLS); as a role without
    cachemon roles it shows the identifiers and nothing else."""
    _, reader_url = login_role(db_url, "viewer", "cachemon_reader")
    seen = _watch_one(reader_url, db_url, 1)
    assert seen["total_events"] == 10 and "hit=80.0%" in watch.format_event(seen)
    _, nobody_url = login_role(db_url, "nobody")
    seen = _watch_one(nobody_url, db_url, 2)
    assert set(seen) == {"topic", "table", "op", "bucket", "implementation_type"}
