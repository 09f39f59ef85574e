"""Each attack or bad input on the data path performed, and shown inert.

Every test here performs the attack against the installed schema and fails if it succeeds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.rows import dict_row

from orchestrator import dbversions, rollup
from orchestrator.collector.files import ingest_file
from tests.rollup_helpers import (
    Conn,
    day_mismatches,
    db_now,
    hour_mismatches,
    ingest,
    insert_events,
    minute_mismatches,
    tick_until_idle,
)

MAX_RT = 86_400_000.0
MAX_SIZE = 2**63 - 1
CONTROL_SAMPLES = ["\x1b[31m", "\x07", "a\nb", "\x7f", "\x85", "\u202e", "\u2066", "\x9b"]


def ingest_raw(conn: Conn, events_json: str) -> int:
    row = conn.execute("SELECT cachemon.ingest_events(%s::jsonb) AS n", (events_json,)).fetchone()
    assert row is not None
    return int(row["n"])


def count(conn: Conn, table: str = "cachemon.cache_metrics") -> int:
    row = conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()
    assert row is not None
    return int(row["n"])


def as_role(conn: Conn, group: str) -> str:
    """A fresh login role in ``group``; SET ROLE to it on ``conn``. Returns its name."""
    name = f"r_{uuid.uuid4().hex[:10]}"
    conn.execute(
        sql.SQL("CREATE ROLE {} IN ROLE {}").format(sql.Identifier(name), sql.Identifier(group))
    )
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(name)))
    return name


GOOD = {"implementation_type": "new", "event_type": "hit"}


# --- 1. One accepted event must never stop the pipeline -------------------------------------


def test_huge_latency_is_refused_by_every_path_and_tick_keeps_working(conn: Conn) -> None:
    """The attack: as cachemon_writer, a latency of 9.9e307 used to be accepted and then made
    every tick fail with "value out of range: overflow"."""
    as_role(conn, "cachemon_writer")
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        ingest(conn, [GOOD, {**GOOD, "response_time_ms": 9.9e307}])
    assert 'event 1: field "response_time_ms"' in str(info.value)
    assert "9.900000e+307" in str(info.value)  # short, not 308 digits
    for value in ("9.9e307", "1e200", "86400000.5", "'Infinity'", "'NaN'", "-0.5"):
        with pytest.raises(psycopg.errors.CheckViolation) as check:
            conn.execute(
                "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type,"
                f" event_type, response_time_ms) VALUES (now(), 'new', 'hit', {value})"
            )
        assert check.value.diag.constraint_name == "cache_metrics_response_time_ms_check"
    conn.execute("RESET ROLE")
    ingest(conn, [{**GOOD, "response_time_ms": MAX_RT}, {**GOOD, "response_time_ms": 0}])
    result = rollup.tick(conn)
    assert result.status == "done" and result.buckets_failed == 0 and result.failure is None
    assert minute_mismatches(conn) == [] and hour_mismatches(conn) == []


def test_tiny_and_fractional_numbers_give_short_errors(conn: Conn) -> None:
    for event, field in (
        (
            '{"implementation_type":"new","event_type":"hit","response_time_ms":1e-400}',
            "response_time_ms",
        ),
        ('{"implementation_type":"new","event_type":"hit","cache_size":1e-400}', "cache_size"),
        ('{"implementation_type":"new","event_type":"hit","cache_size":1e400}', "cache_size"),
    ):
        with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
            ingest_raw(conn, f"[{event}]")
        message = info.value.diag.message_primary or ""
        assert f'event 0: field "{field}"' in message
        assert len(message) < 120 and ("e-400" in message or "e+400" in message)
    # 100.0 is the integer 100 (it used to fail with a bare "invalid input syntax for type bigint").
    assert (
        ingest_raw(conn, '[{"implementation_type":"new","event_type":"set","cache_size":100.0}]')
        == 1
    )
    row = conn.execute("SELECT cache_size FROM cachemon.cache_metrics").fetchone()
    assert row == {"cache_size": 100}


@pytest.mark.parametrize("text", CONTROL_SAMPLES)
@pytest.mark.parametrize(
    "field", ["implementation_type", "error_type", "error_message", "cache_key"]
)
def test_control_and_bidi_characters_are_refused(conn: Conn, field: str, text: str) -> None:
    event: dict[str, Any] = {"implementation_type": "new", "event_type": "error", "error_type": "E"}
    event[field] = "x" + text
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        ingest(conn, [event])
    message = str(info.value)
    assert f'field "{field}"' in message
    assert text not in message  # the value is shown escaped, never raw to a terminal
    row = {"implementation_type": "new", "event_type": "error", "error_type": "E"}
    row[field] = "x" + text
    with pytest.raises(psycopg.errors.CheckViolation) as check:
        conn.execute(
            sql.SQL(
                "INSERT INTO cachemon.cache_metrics (recorded_at, {}) VALUES (now(), {})"
            ).format(
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row)),
            ),
            list(row.values()),
        )
    assert check.value.diag.constraint_name == f"cache_metrics_{field}_no_control"
    assert count(conn) == 0


def test_acknowledged_by_and_resolved_by_admit_no_control_characters(conn: Conn) -> None:
    conn.execute(
        "INSERT INTO cachemon.cache_auditor_observations (implementation_type, rule, severity,"
        " category, metric, message) VALUES ('new', 'error_rate', 'warning', 'reliability',"
        " 'error_rate', 'm')"
    )
    row = conn.execute("SELECT id FROM cachemon.cache_auditor_observations").fetchone()
    assert row is not None
    obs = row["id"]
    for fn in ("acknowledge_observation", "resolve_observation"):
        with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
            conn.execute(f"SELECT cachemon.{fn}(%s, %s)", (obs, "eve\x1b]0;pwned\x07"))
        assert "\x1b" not in str(info.value)
    conn.execute("SELECT cachemon.acknowledge_observation(%s, 'eve')", (obs,))


@pytest.mark.parametrize(
    "value", ["2026-11-29T12:00:00", "2026-11-29 12:00", "2026-11-29", "now", "infinity"]
)
def test_recorded_at_needs_an_explicit_offset(conn: Conn, value: str) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match='field "recorded_at"'):
        ingest(conn, [{**GOOD, "recorded_at": value}])


def test_recorded_at_with_offset_means_the_same_instant_in_every_session_timezone(
    conn: Conn,
) -> None:
    at = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    for tz in ("UTC", "America/New_York", "Asia/Kolkata"):
        conn.execute(f"SET TimeZone = '{tz}'")
        ingest(conn, [{**GOOD, "recorded_at": at.isoformat()}])
        ingest(conn, [{**GOOD, "recorded_at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}])
    rows = conn.execute("SELECT DISTINCT recorded_at FROM cachemon.cache_metrics").fetchall()
    assert rows == [{"recorded_at": at}]


def test_empty_batch_duplicate_and_replay_with_other_content(conn: Conn) -> None:
    bid = uuid.uuid4()
    notices: list[str] = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    # Empty: stores nothing and records no batch id, so the id stays free.
    assert ingest(conn, [], bid) == 0
    assert any("empty batch" in n for n in notices)
    assert count(conn, "cachemon._ingested_batches") == 0
    assert ingest(conn, [GOOD, GOOD], bid) == 2
    # A plain duplicate (same content, keys in another order): 0, with a notice saying so.
    notices.clear()
    assert ingest(conn, [{"event_type": "hit", "implementation_type": "new"}, GOOD], bid) == 0
    assert any("already stored" in n for n in notices)
    # The same id with other content: an error naming the batch id.
    with pytest.raises(psycopg.errors.UniqueViolation, match=str(bid)):
        ingest(conn, [GOOD, {**GOOD, "event_type": "miss"}], bid)
    with pytest.raises(psycopg.errors.UniqueViolation, match=str(bid)):
        ingest(conn, [GOOD], bid)
    assert count(conn) == 2


def test_an_admin_may_lower_the_latency_ceiling_for_every_path(conn: Conn) -> None:
    conn.execute(
        "UPDATE cachemon._settings SET value = '60000' WHERE name = 'ingest.max_response_time_ms'"
    )
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="60000"):
        ingest(conn, [{**GOOD, "response_time_ms": 60001}])
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="above the accepted maximum"):
        insert_events(conn, [(db_now(conn), "new", "hit", 60001.0, None)])
    assert ingest(conn, [{**GOOD, "response_time_ms": 60000}]) == 1
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute(
            "UPDATE cachemon._settings SET value = '86400001'"
            " WHERE name = 'ingest.max_response_time_ms'"
        )


edge_rt = st.one_of(
    # The domain: 0, or 1 ns (1e-6 ms) to one day. Below 1 ns float arithmetic underflows
    # (percentile_cont of 0 and 5e-324 raised "value out of range: underflow" in tick).
    st.sampled_from([0.0, MAX_RT, 1e-6, 1.0000000000000002e-6, 2e-6, 1.0, MAX_RT - 1e-6]),
    st.floats(min_value=1e-6, max_value=MAX_RT),
    st.none(),
)
edge_size = st.one_of(
    st.sampled_from([0, MAX_SIZE, MAX_SIZE - 1, 1]),
    st.integers(min_value=0, max_value=MAX_SIZE),
    st.none(),
)


@settings(max_examples=25)
@given(
    events=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=150),
            st.sampled_from(["legacy", "new"]),
            st.sampled_from(["hit", "miss", "set", "evict", "error"]),
            edge_rt,
            edge_size,
        ),
        min_size=1,
        max_size=40,
    )
)
def test_rollups_are_exact_at_the_edges_of_the_domains(
    conn: Conn, events: list[tuple[int, str, str, float | None, int | None]]
) -> None:
    """Every value the CHECKs admit rolls up: minutes exactly, hours and days as merges; the
    summary (sums of bigint-max cache sizes, latency sums of one-day latencies) too."""
    conn.execute("DELETE FROM cachemon.cache_metrics")
    tick_until_idle(conn)
    now = db_now(conn)
    insert_events(
        conn, [(now - timedelta(minutes=m, seconds=1), i, e, rt, s) for m, i, e, rt, s in events]
    )
    result = rollup.tick(conn)
    assert result.buckets_failed == 0, result.failure
    assert minute_mismatches(conn) == []
    assert hour_mismatches(conn) == [] and day_mismatches(conn) == []
    summary = conn.execute(
        "SELECT * FROM cachemon.get_cache_performance_summary('new', '1 day')"
    ).fetchall()
    assert summary is not None


def test_sub_nanosecond_latencies_are_refused_and_the_floor_rolls_up(conn: Conn) -> None:
    """Found by hypothesis: 0 and 5e-324 ms in one minute made percentile_cont underflow, so
    tick failed that bucket. Latencies above 0 and below 1 ns are refused by the CHECK (and by
    ingest_events naming the field); the smallest admitted ones roll up exactly."""
    now = db_now(conn)
    for tiny in (5e-324, 1e-300, 9.99e-7):
        with pytest.raises(psycopg.errors.CheckViolation):
            insert_events(conn, [(now - timedelta(minutes=3), "new", "hit", tiny, None)])
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="response_time_ms"):
            conn.execute(
                "SELECT cachemon.ingest_events(%s::jsonb)",
                (
                    json.dumps(
                        [
                            {
                                "implementation_type": "new",
                                "event_type": "hit",
                                "response_time_ms": tiny,
                            }
                        ]
                    ),
                ),
            )
    insert_events(
        conn,
        [
            (now - timedelta(minutes=2, seconds=s), "new", "hit", rt, None)
            for s, rt in enumerate([0.0, 1e-6, 1.0000000000000002e-6, 0.0, 2e-6])
        ],
    )
    result = rollup.tick(conn)
    assert result.buckets_failed == 0, result.failure
    assert minute_mismatches(conn) == []
    assert hour_mismatches(conn) == [] and day_mismatches(conn) == []


def test_tick_isolates_a_failing_bucket(conn: Conn) -> None:
    """One bucket that cannot be rolled up (here: a trigger planted by the owner refuses its
    1-minute row) is reported while every other bucket advances, and is retried later."""
    conn.execute(
        """
        CREATE FUNCTION public.refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.implementation_type = 'bad' THEN
                RAISE EXCEPTION 'planted failure for %', NEW.bucket;
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_bad BEFORE INSERT OR UPDATE ON cachemon.cache_metrics_1min
            FOR EACH ROW EXECUTE FUNCTION public.refuse_bad();
        """
    )
    now = db_now(conn)
    events = [
        (now - timedelta(minutes=m, seconds=5), impl, "hit", 1.0 + m, 10)
        for m in range(30)
        for impl in ("legacy", "new")
    ]
    events.append((now - timedelta(minutes=17, seconds=5), "bad", "miss", 3.0, 1))
    insert_events(conn, events)
    warnings: list[str] = []
    conn.add_notice_handler(lambda d: warnings.append(d.message_primary or ""))
    result = rollup.tick(conn)
    assert result.status == "done"
    assert result.buckets_failed == 1
    assert result.failure is not None and "bad" in result.failure and "planted" in result.failure
    assert result.buckets_left == 1  # the failed bucket stays queued
    assert any("failed to roll up" in w for w in warnings)
    assert count(conn, "cachemon.cache_metrics_1min") == 60  # every other minute advanced
    conn.execute("DROP TRIGGER refuse_bad ON cachemon.cache_metrics_1min")
    again = rollup.tick(conn)
    assert again.buckets_failed == 0 and again.buckets_left == 0
    assert minute_mismatches(conn) == [] and hour_mismatches(conn) == []
    assert day_mismatches(conn) == []


def test_data_admitted_before_the_domains_is_repaired_on_upgrade(empty_db_url: str) -> None:
    dbversions.upgrade(empty_db_url, "0004_auditor")
    with psycopg.connect(empty_db_url, autocommit=True, row_factory=dict_row) as c:
        c.execute(
            "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type,"
            " response_time_ms, error_type) VALUES"
            " (now(), 'new', 'hit', 9.9e307, NULL), (now(), 'new', 'error', 2, E'\\x1b[2J')"
        )
        with pytest.raises(psycopg.errors.NumericValueOutOfRange):
            c.execute("SELECT cachemon.tick()")
    dbversions.upgrade(empty_db_url)
    with psycopg.connect(empty_db_url, autocommit=True, row_factory=dict_row) as c:
        rows = c.execute(
            "SELECT response_time_ms, error_type FROM cachemon.cache_metrics ORDER BY event_type"
        ).fetchall()
        assert rows == [
            {"response_time_ms": 2.0, "error_type": "\ufffd[2J"},
            {"response_time_ms": None, "error_type": None},
        ]
        assert rollup.tick(c).buckets_failed == 0
        assert minute_mismatches(c) == []


# --- 3. Roles: marks only from the trigger; settings validated -------------------------------


def test_writer_cannot_forge_queue_marks(conn: Conn) -> None:
    """The attack: as cachemon_writer, a mark for a minute older than raw retention made tick
    delete that minute's stored row; 20,000 forged marks held real minutes back."""
    old = (db_now(conn) - timedelta(days=20)).replace(second=0, microsecond=0)
    conn.execute(
        "INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type, hits, total_events)"
        " VALUES (%s, 'new', 5, 5)",
        (old,),
    )
    as_role(conn, "cachemon_writer")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "INSERT INTO cachemon._dirty_buckets (bucket, implementation_type) VALUES (%s, 'new')",
            (old,),
        )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "INSERT INTO cachemon._dirty_buckets (bucket, implementation_type)"
            " SELECT now() - g * interval '1 minute', 'new' FROM generate_series(1, 20000) g"
        )
    # Marks still come from the writer's ingest (the trigger runs as the owner).
    assert ingest(conn, [GOOD]) == 1
    conn.execute("RESET ROLE")
    assert count(conn, "cachemon._dirty_buckets") == 1
    # Defence in depth: a mark older than the kept raw days (here planted by the owner) is
    # discarded by tick, never turned into the deletion of a stored minute.
    conn.execute(
        "INSERT INTO cachemon._dirty_buckets (bucket, implementation_type) VALUES (%s, 'new')",
        (old,),
    )
    tick_until_idle(conn)
    row = conn.execute(
        "SELECT total_events FROM cachemon.cache_metrics_1min WHERE bucket = %s", (old,)
    ).fetchone()
    assert row == {"total_events": 5}


def test_the_retention_attack_from_the_issue_is_refused(conn: Conn) -> None:
    """UPDATE retention.1min = '1 hour', maintenance, one late event: an hour row of 60
    events became 2 while raw held 61. Now the UPDATE is refused and the hour stays exact."""
    now = db_now(conn)
    hour = (now - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    insert_events(conn, [(hour + timedelta(minutes=m), "new", "hit", 1.0, 1) for m in range(60)])
    tick_until_idle(conn)
    as_role(conn, "cachemon_admin")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=r"retention\.raw"):
        conn.execute("UPDATE cachemon._settings SET value = '1 hour' WHERE name = 'retention.1min'")
    assert rollup.run_maintenance(conn).status == "done"
    conn.execute("RESET ROLE")
    insert_events(conn, [(hour + timedelta(minutes=30, seconds=1), "new", "miss", 1.0, 1)])
    tick_until_idle(conn)
    row = conn.execute(
        "SELECT total_events FROM cachemon.cache_metrics_1hour WHERE bucket = %s", (hour,)
    ).fetchone()
    assert row == {"total_events": 61}
    assert hour_mismatches(conn) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("retention.raw", "banana"),
        ("retention.raw", "-1 day"),
        ("retention.1hour", "1 day"),  # below retention.1min
        ("tick.max_buckets", "0"),
        ("tick.max_buckets", "1.5"),
        ("tick.max_buckets", "99999999999"),
        ("ingest.max_future", "1 year"),
        ("auditor.open_after", "-3"),
        ("push.realtime_private", "maybe"),
        ("ingest.max_response_time_ms", "NaN"),
        ("auditor.windows", "{abc}"),
        ("auditor.windows", "{2,5,100000}"),
        ("auditor.windows", "{}"),
        ("auditor.windows", "2,5"),
        ("verdict.confidence", "1.5"),
        ("verdict.marginal_score", "99"),  # above verdict.pass_score (95)
    ],
)
def test_settings_are_validated_however_written(conn: Conn, name: str, value: str) -> None:
    as_role(conn, "cachemon_admin")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=name.replace(".", r"\.")):
        conn.execute("UPDATE cachemon._settings SET value = %s WHERE name = %s", (value, name))
    conn.execute("RESET ROLE")
    # Not even the owner may store it.
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("UPDATE cachemon._settings SET value = %s WHERE name = %s", (value, name))


def test_cross_key_changes_are_checked_at_commit(db_url: str) -> None:
    with psycopg.connect(db_url) as c:
        # Raising raw retention above 1-minute retention is fine if 1-minute follows in the
        # same transaction (the check is deferred to commit).
        c.execute("UPDATE cachemon._settings SET value = '60 days' WHERE name = 'retention.raw'")
        c.execute("UPDATE cachemon._settings SET value = '90 days' WHERE name = 'retention.1min'")
        c.commit()
        c.execute("UPDATE cachemon._settings SET value = '100 days' WHERE name = 'retention.raw'")
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            c.commit()


def test_settings_rules_are_table_driven(db_url: str) -> None:
    """A later revision adds a setting by inserting its rule and the setting (one
    transaction: each must exist for the other by commit)."""
    with psycopg.connect(db_url) as c:
        c.execute(
            "INSERT INTO cachemon._setting_rules (name, kind, min_value, max_value)"
            " VALUES ('dashboard.max_points', 'integer', '10', '100000')"
        )
        c.execute(
            "INSERT INTO cachemon._settings (name, value, description)"
            " VALUES ('dashboard.max_points', '2000', 'test')"
        )
        c.commit()
        c.execute("UPDATE cachemon._settings SET value = '5' WHERE name = 'dashboard.max_points'")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=r"dashboard\.max_points"):
            c.commit()


def test_every_setting_has_a_rule(conn: Conn) -> None:
    rows = conn.execute(
        "SELECT s.name FROM cachemon._settings AS s"
        " WHERE NOT EXISTS (SELECT FROM cachemon._setting_rules AS r WHERE r.name = s.name)"
    ).fetchall()
    assert rows == [], "add a row to cachemon._setting_rules for each setting"


def test_every_rule_has_its_setting(conn: Conn) -> None:
    rows = conn.execute(
        "SELECT r.name FROM cachemon._setting_rules AS r"
        " WHERE NOT EXISTS (SELECT FROM cachemon._settings AS s WHERE s.name = r.name)"
    ).fetchall()
    assert rows == []


def test_a_setting_cannot_be_renamed_or_lose_its_rule(db_url: str) -> None:
    """The attack: as an admin, UPDATE ... SET name renamed retention.raw; validation passed
    and ingest, tick, maintenance and the verdict all failed. An admin may update only the
    value; the owner's rename, a setting's deletion and a rule without its setting are
    refused at commit; everything still works afterwards."""
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
        as_role(c, "cachemon_admin")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(
                "UPDATE cachemon._settings SET name = 'retention.raw2' WHERE name = 'retention.raw'"
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(
                "UPDATE cachemon._settings SET description = 'x' WHERE name = 'retention.raw'"
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM cachemon._settings WHERE name = 'retention.raw'")
        c.execute("RESET ROLE")
        for statement in (
            "UPDATE cachemon._settings SET name = 'retention.raw2' WHERE name = 'retention.raw'",
            "DELETE FROM cachemon._settings WHERE name = 'tick.max_buckets'",
            "INSERT INTO cachemon._setting_rules (name, kind) VALUES ('orphan.rule', 'integer')",
        ):
            with pytest.raises(
                (psycopg.errors.InvalidParameterValue, psycopg.errors.ForeignKeyViolation),
                match=r"retention\.raw|tick\.max_buckets|orphan\.rule",
            ):
                c.execute(statement)
        assert ingest(c, [GOOD]) == 1
        assert rollup.tick(c).status == "done"
        assert rollup.run_maintenance(c).status == "done"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("retention.raw", "1 mon"),
        ("retention.1min", "1 mon"),
        ("retention.1hour", "2 years"),
        ("retention.1hour", "1 year 1 day"),
        ("retention.cron_history", "1 mon"),
        ("partitions.premake", "1 mon"),
        ("auditor.window", "0 years 1 mon"),
    ],
)
def test_interval_settings_refuse_months_and_years(conn: Conn, name: str, value: str) -> None:
    """'1 mon' passed "raw at most as long as 1-minute" and broke it on real dates (28 to 31
    days). Every interval setting refuses months and years, naming them; days are fine."""
    as_role(conn, "cachemon_admin")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="no months or years"):
        conn.execute("UPDATE cachemon._settings SET value = %s WHERE name = %s", (value, name))


def test_interval_settings_in_days_are_accepted(conn: Conn) -> None:
    as_role(conn, "cachemon_admin")
    conn.execute("UPDATE cachemon._settings SET value = '400 days' WHERE name = 'retention.1hour'")
    conn.execute("UPDATE cachemon._settings SET value = '31 days' WHERE name = 'retention.1min'")
    row = conn.execute("SELECT cachemon._setting('retention.1hour') AS v").fetchone()
    assert row == {"v": "400 days"}


# --- 4. Time and locks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        "SELECT cachemon.run_maintenance('infinity')",
        "SELECT cachemon.run_maintenance(now() + interval '1 year')",
        "SELECT cachemon.run_maintenance(now() + interval '25 hours')",
        "SELECT cachemon.run_maintenance(now() - interval '30 days')",
        "SELECT cachemon.run_maintenance('-infinity')",
        "SELECT cachemon.run_maintenance(NULL)",
        "SELECT cachemon.tick('infinity')",
        "SELECT cachemon.tick(now() + interval '1 year')",
        "SELECT cachemon.acknowledge_observation(1, 'eve', 'infinity')",
        "SELECT cachemon.resolve_observation(1, 'eve', NULL, now() + interval '2 days')",
        "SELECT cachemon.resolve_observation(1, 'eve', NULL, now() - interval '1 year')",
        "SELECT cachemon.run_auditor('infinity')",
        "SELECT cachemon.run_auditor(now() + interval '1 year')",
        "SELECT cachemon.run_auditor(now() - interval '30 days')",
        "SELECT cachemon.compute_baseline('new', '1 day', now() + interval '2 days')",
        "SELECT cachemon.compute_baseline('new', '1 day', '-infinity')",
        "SELECT * FROM cachemon.migration_verdict('new', 'legacy', '1 hour', 'infinity')",
        "SELECT cachemon.migration_verdict('new', 'legacy', '1h', now() + interval '2 days')",
        "SELECT cachemon.migration_verdict('new', 'legacy', '1h', now() - interval '1 year')",
    ],
)
def test_p_now_far_from_the_clock_is_refused(conn: Conn, call: str) -> None:
    conn.execute(
        "INSERT INTO cachemon.cache_auditor_observations (id, implementation_type, rule,"
        " severity, category, metric, message) OVERRIDING SYSTEM VALUE VALUES (1, 'new',"
        " 'error_rate', 'warning', 'reliability', 'error_rate', 'm')"
    )
    before = conn.execute(
        "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'cachemon.cache_metrics'::regclass"
    ).fetchone()
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="p_now"):
        conn.execute("SET statement_timeout = '20s'")
        conn.execute(call)
    after = conn.execute(
        "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'cachemon.cache_metrics'::regclass"
    ).fetchone()
    assert before == after


def test_premake_does_not_wait_for_an_open_ingest(db_url: str) -> None:
    """ATTACH PARTITION needs no lock that an ingest in progress holds: maintenance premakes a
    day while a writer's transaction is still open (before, CREATE ... PARTITION OF queued
    behind it for up to 30 s and every later ingest queued behind that)."""
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as admin:
        now = db_now(admin)
        far = "cache_metrics_p" + (now + timedelta(days=4)).astimezone(UTC).strftime("%Y%m%d")
        # premade days follow the day the template was migrated: bring them up to today's
        # first (the suite may cross midnight UTC), so the one dropped is the one premade
        rollup.run_maintenance(admin, now)
        admin.execute(f"DROP TABLE cachemon.{far}")
    with (
        psycopg.connect(db_url, row_factory=dict_row) as writer,
        psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as admin,
    ):
        insert_events(writer, [(now, "new", "hit", 1.0, 1)])  # transaction left open
        admin.execute("SET lock_timeout = '5s'")
        result = rollup.run_maintenance(admin)
        assert result.status == "done" and result.partitions_created == [far]
        writer.commit()


def test_a_drop_that_would_wait_is_skipped_not_queued(db_url: str) -> None:
    """Dropping an expired day needs the parent's ACCESS EXCLUSIVE lock; with an ingest in
    progress, maintenance gives up after its lock_timeout (status partial) instead of
    queueing every later ingest behind it, and drops the day on the next run."""
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as admin:
        admin.execute("UPDATE cachemon._settings SET value = '2 days' WHERE name = 'retention.raw'")
    with (
        psycopg.connect(db_url, row_factory=dict_row) as writer,
        psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as admin,
    ):
        insert_events(writer, [(db_now(writer), "new", "hit", 1.0, 1)])  # left open
        result = rollup.run_maintenance(admin)
        assert result.status == "partial" and result.partitions_dropped == []
        writer.commit()
        again = rollup.run_maintenance(admin)
        assert again.status == "done" and len(again.partitions_dropped) >= 4


# --- the documented "add a revision" steps ---------------------------------------------------


def test_alembic_revision_makes_the_next_numbered_revision(tmp_path: Path) -> None:
    """`alembic revision -m "..."` (alembic/README.md, step 2) writes NNNN_slug.py revising the
    head, with no database, in a copy of the scripts."""
    root = Path(__file__).resolve().parent.parent
    shutil.copytree(root / "alembic", tmp_path / "alembic")
    shutil.copy(root / "alembic.ini", tmp_path / "alembic.ini")
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "revision", "-m", "Add a Thing!"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    head = dbversions.head()
    number = int(head[:4]) + 1
    made = tmp_path / "alembic" / "versions" / f"{number:04d}_add_a_thing.py"
    assert made.is_file(), sorted(p.name for p in (tmp_path / "alembic" / "versions").iterdir())
    text = made.read_text()
    assert f'revision = "{number:04d}_add_a_thing"' in text
    assert f'down_revision = "{head}"' in text


def test_cachemon_ingest_file_refuses_the_same_values(db_url: str, tmp_path: Path) -> None:
    """The attack's value also loaded through `cachemon ingest FILE`; now each bad line is
    refused naming its field, the good lines are stored, and tick keeps working."""
    recent = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    lines = [
        {"implementation_type": "new", "event_type": "hit", "response_time_ms": 9.9e307},
        {"implementation_type": "new", "event_type": "hit", "recorded_at": recent[:19]},
        {"implementation_type": "new\x1b[2J", "event_type": "hit"},
        {"implementation_type": "new", "event_type": "set", "cache_size": 100.0},
        {"implementation_type": "new", "event_type": "hit", "recorded_at": recent},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = ingest_file(path, db_url)
    assert report.stored == 2
    reasons = dict(report.rejected)
    assert "response_time_ms" in reasons[1]
    assert "recorded_at" in reasons[2]
    assert "implementation_type" in reasons[3] and "\x1b" not in reasons[3]
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
        assert rollup.tick(c).buckets_failed == 0
        assert minute_mismatches(c) == []
