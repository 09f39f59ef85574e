"""The spool folder against someone who can write into it, through the real collector and the
real database: a planted line of the wrong shape, a FIFO, a link to /dev/zero, a file of
another user, a folder others may write, and an error that is not the database's. Each one
is set aside with a trace (quarantine/, a count, one log line) and the real events behind it
are stored."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import Collector
from orchestrator.collector.spool import SpoolLineError, parse_line

FAST: dict[str, Any] = {
    "batch_size": 50,
    "flush_interval": 0.1,
    "retry_base_delay": 0.05,
    "retry_max_delay": 0.2,
}
# Sorts before any file a collector writes (<time_ns>-<pid>-<random>.spool): replayed first.
EARLY = "00000000000000000001-1-planted"


def stored(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT cache_key FROM cachemon.cache_metrics")}


def good_line(keys: list[str]) -> bytes:
    now = time.time()
    events = [[now, "hit", "legacy", k, 1.5, 10, None, None] for k in keys]
    return (json.dumps({"batch_id": str(uuid.uuid4()), "events": events}) + "\n").encode()


def run_five(url: str, spool: Path, timeout: float = 30) -> Any:
    """A collector on ``spool`` records five real events and flushes: what a user does."""
    c = Collector(url, key_mode="full", spool_dir=spool, stop_timeout=5, **FAST).start()
    try:
        for i in range(5):
            c.record_cache_hit(f"real{i}", "new", 1.0, 1)
        assert c.flush(timeout), c.stats()
    finally:
        c.stop()
    return c.stats()


def warnings_of(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "cachemon.collector" and r.levelno >= level
    ]


REAL = {f"real{i}" for i in range(5)}


def test_a_planted_line_of_the_wrong_shape_is_quarantined(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cachemon.collector")
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    bad = [
        b'{"batch_id": "%s", "events": [[1, 2]]}\n' % str(uuid.uuid4()).encode(),
        b'{"batch_id": "%s", "events": [[1e300, "hit", "x", "k", 1, 1, null, null]]}\n'
        % str(uuid.uuid4()).encode(),
        b"[1, 2, 3]\n",
        b"not json\n",
    ]
    (spool / f"{EARLY}.spool").write_bytes(good_line(["p0", "p1"]) + b"".join(bad))
    s = run_five(db_url, spool)
    assert stored(db_url) == REAL | {"p0", "p1"}  # the good batch of the file, and all 5
    assert s.quarantined_lines == len(bad) and s.replayed == 2
    side = spool / "quarantine" / f"{EARLY}.spool.lines"
    assert side.read_bytes() == b"".join(bad)
    assert not list(spool.glob("*.spool"))
    said = [m for m in warnings_of(caplog) if "bad line" in m]
    assert len(said) == 1 and f"{EARLY}.spool" in said[0]


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero", "another user's file"])
def test_a_planted_non_file_does_not_stop_the_collector(
    db_url: str, tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cachemon.collector")
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    planted = spool / f"{EARLY}.spool"
    if kind == "fifo":
        os.mkfifo(planted)
    elif kind == "link to /dev/zero":
        planted.symlink_to("/dev/zero")
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can make a file another user owns")
        planted.write_bytes(good_line(["foreign"]))
        os.chown(planted, 65534, 65534)
    s = run_five(db_url, spool)
    assert stored(db_url) == REAL
    assert s.quarantined_files == 1 and s.replayed == 0
    assert not planted.exists() and not planted.is_symlink()
    moved = list((spool / "quarantine").iterdir())
    assert len(moved) == 1 and moved[0].name.endswith(planted.name)
    if kind == "link to /dev/zero":
        assert moved[0].is_symlink()  # the link moved, its target untouched
    said = [m for m in warnings_of(caplog) if "not a spool file" in m]
    assert len(said) == 1, said


@pytest.mark.parametrize("problem", ["others may write", "group may write", "another owner"])
def test_a_folder_others_can_write_is_refused(
    db_url: str, tmp_path: Path, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cachemon.collector")
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    (spool / f"{EARLY}.spool").write_bytes(good_line(["injected"]))
    if problem == "another owner":
        if os.geteuid() != 0:
            pytest.skip("only root can give a folder to another user")
        os.chown(spool, 65534, 65534)
    else:
        os.chmod(spool, 0o777 if problem == "others may write" else 0o770)
    s = run_five(db_url, spool)
    assert stored(db_url) == REAL  # nothing planted was stored; the real events were
    assert s.replayed == 0 and s.spooled_total == 0
    refusals = [m for m in warnings_of(caplog, logging.ERROR) if "refused" in m]
    assert len(refusals) == 1 and str(spool) in refusals[0]
    assert ("owned by uid" if problem == "another owner" else "chmod go-w") in refusals[0]
    assert (spool / f"{EARLY}.spool").exists()  # left for a human, untouched


def test_a_safe_folder_is_created_private(db_url: str, tmp_path: Path) -> None:
    spool = tmp_path / "new" / "spool"
    run_five(db_url, spool)
    for path in (spool, spool / "rejected", spool / "quarantine"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_a_non_database_error_is_not_retried_and_logged_once(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Events the COPY encoder cannot carry (planted past validation, as a bug would): not
    retried; the batch is split, the two bad events go to rejected/, the others are stored,
    and one traceback is logged for the one problem."""
    caplog.set_level(logging.DEBUG, logger="cachemon.collector")
    spool = tmp_path / "spool"
    c = Collector(db_url, key_mode="full", spool_dir=spool, batch_size=10, flush_interval=60)
    for i in range(30):
        c.record_cache_hit(f"k{i}", "new", 1.0, 1)
    for i in (3, 23):
        c._buf[i] = (*c._buf[i][:5], 2**70, None, None)  # beyond bigint: struct.error
    c.start()
    assert c.flush(30)
    c.stop()
    s = c.stats()
    assert stored(db_url) == {f"k{i}" for i in range(30)} - {"k3", "k23"}
    assert s.rejected == 2 and s.sent == 28 and s.failed_attempts == 0
    kept = [json.loads(p.read_text()) for p in (spool / "rejected").glob("*.json")]
    assert sorted(k["events"][0][3] for k in kept) == ["k23", "k3"]
    assert all("int too large" in k["error"] for k in kept)
    tracebacks = [r for r in caplog.records if r.name == "cachemon.collector" and r.exc_info]
    assert len(tracebacks) == 1, [r.getMessage() for r in tracebacks]


event = st.lists(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True),
        st.text(max_size=8),
        st.lists(st.integers(), max_size=2),
    ),
    min_size=0,
    max_size=9,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, max_size=3), st.one_of(st.text(max_size=40), st.just(str(uuid.uuid4()))))
def test_any_line_is_parsed_or_refused_by_name(events: list[Any], batch_id: str) -> None:
    """Whatever a line holds, parsing returns well-typed events or raises SpoolLineError."""
    raw = json.dumps({"batch_id": batch_id, "events": events}).encode() + b"\n"
    try:
        got_id, parsed = parse_line(raw)
    except SpoolLineError:
        return
    assert isinstance(got_id, uuid.UUID) and parsed
    for t, kind, impl, key, rt, size, et, em in parsed:
        assert isinstance(t, float) and isinstance(kind, str) and isinstance(impl, str)
        assert key is None or isinstance(key, str)
        assert rt is None or isinstance(rt, float)
        assert size is None or (isinstance(size, int) and 0 <= size < 2**63)
        assert et is None or isinstance(et, str)
        assert em is None or isinstance(em, str)
