"""The collector against the real database: exactly once, outages, spool, fork, validation."""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from orchestrator import Collector
from orchestrator.collector import api
from orchestrator.collector.events import has_forbidden
from orchestrator.collector.keys import hash_key
from tests.tcpproxy import TcpProxy

FAST = {"batch_size": 50, "flush_interval": 0.2, "retry_base_delay": 0.05, "retry_max_delay": 0.5}


def rows(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchall()


def stored_keys(url: str) -> list[str]:
    return [r[0] for r in rows(url, "SELECT cache_key FROM cachemon.cache_metrics")]


def assert_once(url: str, expected: set[str]) -> None:
    keys = stored_keys(url)
    assert len(keys) == len(set(keys)), "an event was stored twice"
    assert set(keys) == expected


def test_all_kinds_from_threads_land_exactly_once(db_url: str) -> None:
    c = Collector(db_url, key_mode="full", **FAST).start()
    per_thread = 400

    def work(t: int) -> None:
        for i in range(per_thread):
            key = f"t{t}-{i}"
            match i % 5:
                case 0:
                    c.record_cache_hit(key, "new", 1.25, 10)
                case 1:
                    c.record_cache_miss(key, "legacy", 3)
                case 2:
                    c.record_cache_set(key, "new", cache_size=11)
                case 3:
                    c.record_cache_evict(key, "legacy")
                case _:
                    c.record_cache_error(key, "new", "RedisConnectionError", "Connection timeout")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.stop(30)
    assert_once(db_url, {f"t{t}-{i}" for t in range(4) for i in range(per_thread)})
    kinds = dict(rows(db_url, "SELECT event_type, count(*) FROM cachemon.cache_metrics GROUP BY 1"))
    assert kinds == {k: 4 * per_thread // 5 for k in ("hit", "miss", "set", "evict", "error")}
    s = c.stats()
    assert (s.collected, s.sent, s.dropped, s.rejected, s.buffered) == (1600, 1600, 0, 0, 0)
    assert s.batches_sent == rows(db_url, "SELECT count(*) FROM cachemon._ingested_batches")[0][0]
    err = rows(
        db_url,
        "SELECT error_type, error_message, response_time_ms FROM cachemon.cache_metrics"
        " WHERE event_type = 'error' LIMIT 1",
    )[0]
    assert err == ("RedisConnectionError", "Connection timeout", None)


def test_events_carry_record_time_not_flush_time(db_url: str) -> None:
    c = Collector(db_url, batch_size=10_000, flush_interval=60).start()
    before = time.time()
    c.record_cache_hit("k", "new")
    time.sleep(1.2)
    assert c.flush(10)
    c.stop()
    (lag,) = rows(
        db_url, "SELECT extract(epoch FROM received_at - recorded_at) FROM cachemon.cache_metrics"
    )[0]
    (recorded,) = rows(
        db_url, "SELECT extract(epoch FROM recorded_at) FROM cachemon.cache_metrics"
    )[0]
    assert float(lag) >= 1.0
    assert abs(float(recorded) - before) < 0.5


def test_record_with_an_explicit_time_for_replays(db_url: str) -> None:
    # An hour ago, to the second: within retention.raw whatever the date.
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    c = Collector(db_url, key_mode="full", **FAST).start()
    c.record("miss", "k1", "legacy", 12.5, 7, recorded_at=at)
    c.record("error", "k2", "new", error_type="Timeout", recorded_at=at.timestamp() + 1)
    assert c.flush(10)
    c.stop()
    got = rows(
        db_url,
        "SELECT cache_key, event_type, recorded_at, error_type FROM cachemon.cache_metrics"
        " ORDER BY cache_key",
    )
    assert got == [
        ("k1", "miss", at, None),
        ("k2", "error", at + timedelta(seconds=1), "Timeout"),
    ]
    for bad, field in [
        ({"recorded_at": "yesterday"}, "recorded_at"),
        ({"recorded_at": math.nan}, "recorded_at"),
        ({"recorded_at": at, "event_type": "lookup"}, "event_type"),
        ({"recorded_at": at, "error_type": "X"}, "error_type"),
    ]:
        args = {"event_type": "hit", **bad}
        with pytest.raises(ValueError, match=field):
            c.record(args.pop("event_type"), "k", "new", **args)


def test_key_modes(db_url: str) -> None:
    for mode, expected in (("hash", hash_key("prompt: hello")), ("none", None)):
        c = Collector(db_url, key_mode=mode, **FAST).start()
        c.record_cache_hit("prompt: hello", mode)
        assert c.stop(10)
        got = rows(
            db_url,
            "SELECT cache_key FROM cachemon.cache_metrics WHERE implementation_type = %s",
            mode,
        )
        assert got == [(expected,)]
    assert len(hash_key("x")) == 16


def test_writer_role_goes_through_staging(db_url: str, pg_server: Any) -> None:
    role = f"w_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw' IN ROLE cachemon_writer").format(
                sql.Identifier(role)
            )
        )
    try:
        url = db_url.replace("postgres:", f"{role}:", 1).replace(
            db_url.split("@")[0].split(":", 2)[2], "pw", 1
        )
        c = Collector(url, key_mode="full", **FAST).start()
        for i in range(120):
            c.record_cache_hit(f"k{i}", "new", 1.0)
        assert c.stop(20), c.stats()
        assert c._writer is not None and c._writer.staged
        assert_once(db_url, {f"k{i}" for i in range(120)})
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_lost_commit_acknowledgement_is_counted_once(db_url: str) -> None:
    proxy = TcpProxy(db_url)
    try:
        c = Collector(proxy.url, key_mode="full", **FAST).start()
        c.record_cache_hit("warm-up", "new")
        assert c.flush(10)
        proxy.swallow_next_commit_reply()
        for i in range(30):
            c.record_cache_miss(f"k{i}", "new")
        assert c.flush(30)
        assert proxy.commits_swallowed == 1
        s = c.stats()
        assert s.failed_attempts >= 1 and s.last_error and "DatabaseUnavailable" in s.last_error
        assert s.sent == 31 and s.collected == 31
        c.stop()
    finally:
        proxy.close()
    assert_once(db_url, {"warm-up"} | {f"k{i}" for i in range(30)})
    assert rows(db_url, "SELECT count(*) FROM cachemon._ingested_batches")[0][0] == 2


def test_ten_second_outage_loses_and_duplicates_nothing(db_url: str, tmp_path: Path) -> None:
    proxy = TcpProxy(db_url)
    produced: list[str] = []
    stop = threading.Event()
    c = Collector(
        proxy.url, key_mode="full", max_buffer=800, spool_dir=tmp_path / "spool", **FAST
    ).start()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            key = f"e{i}"
            c.record_cache_hit(key, "new", 0.5)
            produced.append(key)
            i += 1
            time.sleep(0.002)

    worker = threading.Thread(target=produce)
    try:
        worker.start()
        time.sleep(1.5)
        proxy.cut()
        time.sleep(10)
        during = c.stats()
        proxy.restore()
        time.sleep(2)
        stop.set()
        worker.join()
        assert c.stop(30)
    finally:
        stop.set()
        proxy.close()
    assert during.failed_attempts > 0 and during.spooled_total > 0
    s = c.stats()
    assert s.dropped == 0 and s.rejected == 0 and s.sent == len(produced) == s.collected
    assert_once(db_url, set(produced))
    # In order: batches committed in the order the events were recorded.
    order = rows(
        db_url,
        "SELECT bool_and(received_at >= prev) FROM (SELECT received_at,"
        " lag(received_at) OVER (ORDER BY recorded_at) AS prev FROM cachemon.cache_metrics) x",
    )
    assert order == [(True,)]
    assert not list((tmp_path / "spool").glob("*.spool"))


SPOOL_SCRIPT = """
import json, sys
from orchestrator import Collector
url, spool, n, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = Collector(url, batch_size=10, flush_interval=0.1, max_buffer=40, spool_dir=spool,
              key_mode="full", retry_base_delay=0.05, retry_max_delay=0.2).start()
for i in range(n):
    c.record_cache_set(f"{prefix}{i}", "legacy", 2.0, i)
ok = c.stop(1.0)
print(json.dumps(c.stats().as_dict()))
"""


def test_spool_survives_a_process_restart(db_url: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    # A port bound for the whole first run and never listening: it refuses at once, and no
    # other process (a test cluster, a dashboard) can take it meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        dead_url = f"postgresql://postgres:x@127.0.0.1:{held.getsockname()[1]}/nothing"
        first = subprocess.run(
            [sys.executable, "-c", SPOOL_SCRIPT, dead_url, str(spool), "300", "s"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    stats = json.loads(first.stdout.strip().splitlines()[-1])
    assert stats["spooled"] == 300 and stats["dropped"] == 0 and stats["sent"] == 0
    assert list(spool.glob("*.spool"))
    second = subprocess.run(
        [sys.executable, "-c", SPOOL_SCRIPT, db_url, str(spool), "5", "t"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    stats = json.loads(second.stdout.strip().splitlines()[-1])
    assert stats["replayed"] == 300 and stats["sent"] == 305 and stats["collected"] == 5
    assert_once(db_url, {f"s{i}" for i in range(300)} | {f"t{i}" for i in range(5)})
    assert not list(spool.glob("*.spool"))


def test_without_spool_the_oldest_are_dropped_and_counted() -> None:
    c = Collector("postgresql://nobody@127.0.0.1:1/x", max_buffer=100, batch_size=1000)
    for i in range(250):
        c.record_cache_hit(f"k{i}", "new")
    s = c.stats()
    assert s.buffered <= 100 and s.dropped == 250 - s.buffered and s.collected == 250
    assert list(c._buf)[-1][3] == "k249"  # the newest are kept
    assert not c.stop(0.1)
    assert c.stats().dropped == 250


def test_refused_events_are_isolated_and_reported(db_url: str, tmp_path: Path) -> None:
    # The rollup trigger refuses events older than raw retention, for the whole statement.
    c = Collector(db_url, key_mode="full", spool_dir=tmp_path, batch_size=1000, flush_interval=60)
    for i in range(100):
        c.record_cache_hit(f"k{i}", "new")
    c._buf[37] = (time.time() - 30 * 86400, *c._buf[37][1:])  # one event from a month ago
    c.start()
    assert c.flush(30)
    c.stop()
    s = c.stats()
    assert s.rejected == 1 and s.sent == 99 and "outside the accepted range" in (s.last_error or "")
    assert_once(db_url, {f"k{i}" for i in range(100)} - {"k37"})
    rejected = list((tmp_path / "rejected").glob("*.json"))
    assert len(rejected) == 1 and json.loads(rejected[0].read_text())["events"][0][3] == "k37"


def test_fork_child_starts_fresh(db_url: str) -> None:
    c = Collector(db_url, key_mode="full", batch_size=10_000, flush_interval=60).start()
    c.record_cache_hit("warm", "new")
    assert c.flush(10)  # the parent has a live connection when it forks
    for i in range(100):
        c.record_cache_hit(f"p{i}", "new")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 3
        try:
            for i in range(50):
                c.record_cache_hit(f"c{i}", "child")
            ok = c.stop(20)
            s = c.stats()
            code = 0 if ok and s.sent == 50 and s.collected == 50 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    for i in range(100, 120):
        c.record_cache_hit(f"p{i}", "new")
    assert c.stop(20)  # the parent's connection survived the child
    assert_once(db_url, {"warm"} | {f"p{i}" for i in range(120)} | {f"c{i}" for i in range(50)})


def test_flushed_at_interpreter_exit(db_url: str) -> None:
    script = (
        "import sys\nfrom orchestrator import Collector\n"
        "c = Collector(sys.argv[1], batch_size=10000, flush_interval=3600, key_mode='full')\n"
        "c.start()\n"
        "for i in range(77): c.record_cache_miss(f'x{i}', 'new')\n"
    )
    subprocess.run([sys.executable, "-c", script, db_url], check=True, timeout=60)
    assert_once(db_url, {f"x{i}" for i in range(77)})


@pytest.mark.parametrize(
    ("call", "field", "value"),
    [
        (lambda c: c.record_cache_hit("k", "new", -1.0), "response_time_ms", "-1.0"),
        (lambda c: c.record_cache_hit("k", "new", math.nan), "response_time_ms", "nan"),
        (lambda c: c.record_cache_miss("k", "new", math.inf), "response_time_ms", "inf"),
        (lambda c: c.record_cache_hit("k", "new", "12"), "response_time_ms", "'12'"),
        (lambda c: c.record_cache_hit("k", "new", True), "response_time_ms", "True"),
        (lambda c: c.record_cache_set("k", "new", 1.0, -5), "cache_size", "-5"),
        (lambda c: c.record_cache_set("k", "new", 1.0, 2.5), "cache_size", "2.5"),
        (lambda c: c.record_cache_hit("k", ""), "implementation_type", "''"),
        (lambda c: c.record_cache_hit("k", "x" * 65), "implementation_type", "xxx"),
        (lambda c: c.record_cache_hit("k", " new"), "implementation_type", "' new'"),
        (lambda c: c.record_cache_hit("k", None), "implementation_type", "None"),
        (lambda c: c.record_cache_hit("k", ["new"]), "implementation_type", "['new']"),
        (lambda c: c.record_cache_hit(42, "new"), "cache_key", "42"),
        (lambda c: c.record_cache_error("k", "new", ""), "error_type", "''"),
        (lambda c: c.record_cache_error("k", "new", "E", 5), "error_message", "5"),
    ],
)
def test_malformed_event_raises_value_error_naming_field(call: Any, field: str, value: str) -> None:
    c = Collector("postgresql://nobody@127.0.0.1:1/x")
    with pytest.raises(ValueError) as info:
        call(c)
    assert field in str(info.value) and value in str(info.value)
    assert c.stats().collected == 0


@given(
    impl=st.one_of(st.text(max_size=70), st.none(), st.integers()),
    rt=st.one_of(st.none(), st.floats(), st.integers(min_value=-5, max_value=10**6), st.text()),
    size=st.one_of(st.none(), st.integers(min_value=-(2**64), max_value=2**64), st.floats()),
    key=st.one_of(st.none(), st.text(max_size=20), st.binary(max_size=20), st.integers()),
)
def test_property_record_accepts_exactly_valid_arguments(
    impl: Any, rt: Any, size: Any, key: Any
) -> None:
    c = Collector("postgresql://nobody@127.0.0.1:1/x", key_mode="hash")
    valid_impl = (
        isinstance(impl, str)
        and 1 <= len(impl) <= 64
        and impl == impl.strip()
        and not has_forbidden(impl)
    )
    valid_rt = rt is None or (
        isinstance(rt, int | float)
        and not isinstance(rt, bool)
        and (rt == 0 or 1e-6 <= rt <= 86_400_000)
    )
    valid_size = size is None or (
        (isinstance(size, int) or (isinstance(size, float) and size.is_integer()))
        and not isinstance(size, bool)
        and 0 <= size < 2**63
    )
    valid_key = key is None or isinstance(key, str | bytes)
    if valid_impl and valid_rt and valid_size and valid_key:
        c.record_cache_hit(key, impl, rt, size)
        assert c.stats().collected == 1
    else:
        with pytest.raises(ValueError):
            c.record_cache_hit(key, impl, rt, size)
        assert c.stats().collected == 0


def test_disabled_collector_is_a_noop() -> None:
    c = Collector(enabled=False)
    c.record_cache_hit("k", "new", -1.0)  # not even validated: a no-op
    c.start()
    assert c.stats().collected == 0 and c.flush() and c.stop()


def test_module_level_api(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator import (
        CollectorStats,
        get_collector_stats,
        record_cache_error,
        record_cache_hit,
        record_cache_miss,
        start_collector,
        stop_collector,
    )

    monkeypatch.setenv("CACHEMON_DATABASE_URL", db_url)
    monkeypatch.setenv("CACHE_METRICS_KEY_MODE", "full")
    monkeypatch.setattr(api, "_default", None)
    record_cache_hit("before-start", "legacy", response_time_ms=15, cache_size=450)

    async def main() -> None:
        await start_collector()
        record_cache_miss("m", "new", response_time_ms=3.5)
        record_cache_error("e", "new", "RedisConnectionError", "Connection timeout")
        assert await stop_collector()

    asyncio.run(main())
    stats = get_collector_stats()
    assert isinstance(stats, CollectorStats)  # the documented type, not a dict
    assert stats.sent == 3 and stats.collected == 3 and stats["sent"] == 3
    assert stats.connected and stats.healthy and stats.last_error is None
    assert_once(db_url, {"before-start", "m", "e"})
    monkeypatch.setattr(api, "_default", None)


def test_instrumentation_helpers(db_url: str) -> None:
    from orchestrator import instrument

    c = Collector(db_url, key_mode="full", **FAST).start()
    store: dict[str, str] = {}
    with c.lookup("a", "new") as op:
        if store.get("a") is not None:
            op.hit()
    with c.store("a", "new"):
        store["a"] = "1"
    with pytest.raises(KeyError), c.lookup("b", "new"):
        raise KeyError("b")

    class DictCache(dict[str, str]):
        def set(self, key: str, value: str) -> None:
            self[key] = value

    cache = instrument(DictCache(), "legacy", c, cache_size=len)
    assert cache.get("x") is None
    cache.set("x", "1")
    assert cache.get("x") == "1"
    assert cache.keys() == {"x"}  # other attributes pass through
    assert c.stop(10)
    got = rows(
        db_url,
        "SELECT implementation_type, event_type, cache_key, error_type, cache_size,"
        " response_time_ms >= 0 FROM cachemon.cache_metrics ORDER BY recorded_at",
    )
    assert got == [
        ("new", "miss", "a", None, None, True),
        ("new", "set", "a", None, None, True),
        ("new", "error", "b", "KeyError", None, True),
        ("legacy", "miss", "x", None, 0, True),
        ("legacy", "set", "x", None, 1, True),
        ("legacy", "hit", "x", None, 1, True),
    ]
