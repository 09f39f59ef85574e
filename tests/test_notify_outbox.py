"""The outbox: one notify_events row per state change of a finding, written by the trigger in
the auditor's transaction, whatever re-runs or races happen; and who may touch it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tests.auditor_helpers import LEGACY, NEW, Conn, T, baselined, play, set_setting
from tests.conftest import TEMPLATE, _unique_name

BAD = NEW.but(hit_rate=50)
SEGMENTS = [(NEW, 3), (BAD, 6), (NEW, 12)]


@pytest.fixture
def twin(pg_server: Any, template_url: str) -> Iterator[Conn]:
    """A second fresh database at head: the reference run."""
    name = _unique_name("twin")
    url = pg_server.create_database(name, template=TEMPLATE)
    try:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as c:
            yield c
    finally:
        pg_server.drop_database(name)


def _scenario(conn: Conn) -> Any:
    baselined(conn)
    set_setting(conn, "auditor.window", "1 minute")
    play(conn, [(LEGACY, 60)], T, seed=0.5)
    return play(conn, SEGMENTS, T, seed=0.1)


def _minutes(end: Any) -> list[Any]:
    out, m = [], T + timedelta(minutes=1)
    while m <= end:
        out.append(m + timedelta(seconds=5))
        m += timedelta(minutes=1)
    return out


def _events(conn: Conn) -> list[tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT e.seq, e.kind, e.severity, o.rule, o.implementation_type"
        " FROM cachemon.notify_events AS e JOIN cachemon.cache_auditor_observations AS o"
        " ON o.id = e.observation_id ORDER BY e.at, e.id"
    ).fetchall()
    return [tuple(r.values()) for r in rows]


def test_ten_reticks_and_two_concurrent_ticks_write_one_event_per_state_change(
    conn: Conn, twin: Conn, db_url: str
) -> None:
    end = _scenario(twin)
    for m in _minutes(end):
        twin.execute("SELECT status FROM cachemon.tick(%s)", (m,))
    reference = _events(twin)
    kinds = [e[1] for e in reference]
    assert "opened" in kinds and "resolved" in kinds, reference
    # one event per state change, in the reference too: as many events as changes
    changes = twin.execute(
        "SELECT count(*) AS n FROM cachemon.cache_auditor_observations"
    ).fetchone()
    assert changes is not None

    end2 = _scenario(conn)
    assert end2 == end
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def tick_at(moment: Any) -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as c:
                barrier.wait(10)
                c.execute("SELECT status FROM cachemon.tick(%s)", (moment,))
        except BaseException as exc:
            errors.append(exc)

    for m in _minutes(end):
        threads = [threading.Thread(target=tick_at, args=(m,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for _ in range(10):
            conn.execute("SELECT status FROM cachemon.tick(%s)", (m,))
    assert not errors
    assert _events(conn) == reference
    # replaying every minute once more from the start writes nothing new either
    for m in _minutes(end)[-3:]:
        conn.execute("SELECT status FROM cachemon.tick(%s)", (m,))
    assert _events(conn) == reference


def test_acknowledge_and_resolve_by_hand_are_events_once(conn: Conn) -> None:
    row = conn.execute(
        "INSERT INTO cachemon.cache_auditor_observations (implementation_type, rule, severity,"
        " category, message) VALUES ('redis', 'error_rate', 'warning', 'reliability', 'errors')"
        " RETURNING id"
    ).fetchone()
    assert row is not None
    f = row["id"]
    for _ in range(3):
        conn.execute("SELECT id FROM cachemon.acknowledge_observation(%s, 'alice')", (f,))
    conn.execute(
        "UPDATE cachemon.cache_auditor_observations SET occurrences = occurrences + 1"
        " WHERE id = %s",
        (f,),
    )
    conn.execute("SELECT id FROM cachemon.resolve_observation(%s, 'bob')", (f,))
    got = conn.execute(
        "SELECT seq, kind FROM cachemon.notify_events WHERE observation_id = %s ORDER BY seq",
        (f,),
    ).fetchall()
    assert [(r["seq"], r["kind"]) for r in got] == [
        (1, "opened"),
        (2, "acknowledged"),
        (3, "resolved"),
    ]


def _role(conn: Conn, name: str, group: str | None) -> str:
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    if group:
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name)))
    db = conn.execute("SELECT current_database() AS d").fetchone()
    assert db is not None
    conn.execute(
        sql.SQL("GRANT CONNECT, CREATE ON DATABASE {} TO {}").format(
            sql.Identifier(db["d"]), sql.Identifier(name)
        )
    )
    return name


@pytest.mark.parametrize("group", ["cachemon_writer", "cachemon_reader", None])
def test_writer_and_reader_can_neither_write_the_outbox_nor_read_secrets(
    conn: Conn, group: str | None
) -> None:
    conn.execute(
        "SELECT cachemon.add_receiver('slack', 'slack',"
        " 'https://hooks.example.org/services/T0/B0/SECRETTOKEN')"
    )
    role = _role(conn, f"notify_{group or 'nobody'}_{id(conn) % 1000}", group)
    attacks = [
        "INSERT INTO cachemon.notify_events (observation_id, seq, kind, at, severity, status,"
        " labels, finding) VALUES (1, 1, 'opened', now(), 'critical', 'open', '{}', '{}')",
        "SELECT url FROM cachemon._notify_secrets",
        "SELECT * FROM cachemon.notify_claim('evil')",
        "INSERT INTO cachemon.notify_deliveries (receiver, order_key, observation_ids, reason,"
        " payload, created_at, due_at) VALUES ('slack', 'x', '{}', 'x', '{}', now(), now())",
        "UPDATE cachemon.notify_attempts SET outcome = 'delivered'",
        "SELECT cachemon._notify_outbox()",
        "SELECT * FROM cachemon.notify_purge('1 day')",
        'SELECT cachemon.add_silence(\'[{"name":"rule","op":"=","value":"x"}]\','
        " now() + interval '1 hour', 'x', 'y')",
    ]
    for attack in attacks:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        try:
            with pytest.raises(psycopg.Error, match=r"permission denied|does not exist|trigger"):
                conn.execute(attack)
        finally:
            conn.execute("RESET ROLE")
    if group == "cachemon_reader":
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        row = conn.execute("SELECT endpoint FROM cachemon.notify_receivers").fetchone()
        conn.execute("RESET ROLE")
        assert row == {"endpoint": "https://hooks.example.org"}


def test_admin_cannot_update_or_delete_attempts(conn: Conn) -> None:
    role = _role(conn, f"notify_admin_{id(conn) % 1000}", "cachemon_admin")
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    try:
        for attack in (
            "UPDATE cachemon.notify_attempts SET outcome = 'delivered'",
            "DELETE FROM cachemon.notify_attempts",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(attack)
    finally:
        conn.execute("RESET ROLE")


def test_trigger_function_refuses_any_other_table_and_nobody_may_execute_it(conn: Conn) -> None:
    acl = conn.execute(
        "SELECT proacl::text AS acl, prosecdef FROM pg_proc"
        " WHERE oid = 'cachemon._notify_outbox()'::regprocedure"
    ).fetchone()
    assert acl is not None and not acl["prosecdef"]
    # only the owner's own entry: no cachemon role, no PUBLIC (an entry starting with "=")
    assert "cachemon" not in (acl["acl"] or "") and not re.search(r"[{,]=", acl["acl"] or "")
    conn.execute(
        "CREATE TABLE public.fake_findings (LIKE cachemon.cache_auditor_observations INCLUDING ALL)"
    )
    conn.execute(
        "CREATE TRIGGER planted AFTER INSERT ON public.fake_findings"
        " FOR EACH ROW EXECUTE FUNCTION cachemon._notify_outbox()"
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="refuses to run"):
        conn.execute(
            "INSERT INTO public.fake_findings (implementation_type, rule, severity, category,"
            " message) VALUES ('x', 'y', 'critical', 'performance', 'forged')"
        )
    assert conn.execute("SELECT count(*) AS n FROM cachemon.notify_events").fetchone() == {"n": 0}
