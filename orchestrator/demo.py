"""``cachemon demo``: a cache migration played through the real collector and the real SQL.

1. A database the demo owns: the local cluster's database ``cachemon_demo`` (the cluster is
   started here), recreated on every run so a second run starts clean. Another database only
   when named explicitly (``run_demo(url)``, ``cachemon demo --database-url``; never from
   ``CACHEMON_DATABASE_URL``/``DATABASE_URL``), and only when it is empty or holds nothing but
   an earlier demo's data (``check_demo_database``). Upgraded to head.
2. A day of ``legacy`` and ``new`` traffic with a daily rhythm and noise, recorded through
   the collector with the events' own times, rolled up by ``tick`` and turned into baselines
   by ``compute_baseline``.
3. Then, minute by minute (``tick(p_now)`` rolls up and runs the auditor as time advances),
   ``new`` regresses — its hit rate drops, it answers slower, then errors burst — and
   recovers. The auditor opens findings, escalates and resolves them.
4. A summary per implementation, the findings, and where to look further.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from orchestrator import dbversions, localpg
from orchestrator.collector import Collector
from orchestrator.db import connect
from orchestrator.errors import Refused, check_url, translated
from orchestrator.migrations import libpq_url
from orchestrator.traffic import Profile, minute_events

DEMO_DATABASE = localpg.DEMO_DATABASE
DEMO_MARKER = localpg.DEMO_MARKER
DEMO_IMPLEMENTATIONS = ("legacy", "new")
# About 150 lookups a minute each (plus the sets after misses); misses go to the backend.
LEGACY = Profile(
    "legacy",
    requests_per_minute=180,
    hit_rate=78,
    avg_response_time_ms=11.0,
    p95_factor=2.0,
    miss_latency_factor=7.0,
    error_rate=0.2,
    eviction_rate=0.4,
    cache_size=5000,
    daily_amplitude=0.6,
)
NEW = LEGACY.but(
    implementation_type="new", hit_rate=82, avg_response_time_ms=8.0, miss_latency_factor=8.5
)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Phase:
    """What ``new`` does from ``start`` (minutes into the live part) on."""

    start: int
    label: str
    profile: Profile


def live_minutes_of(
    live_start: datetime, live_minutes: int
) -> Iterator[tuple[int, datetime, Phase, bool]]:
    """Each live minute: its index, its start, its phase, and whether the phase begins there."""
    phases = live_script(live_minutes)
    phase = phases[0]
    for i in range(live_minutes):
        upcoming = [p for p in phases if p.start == i]
        if upcoming:
            phase = upcoming[0]
        yield i, live_start + timedelta(minutes=i), phase, bool(upcoming)


def live_script(live_minutes: int) -> list[Phase]:
    """Normal, then a hit-rate drop with slower answers, an error burst, and recovery."""
    third = live_minutes // 3
    return [
        Phase(0, "new behaves", NEW),
        Phase(
            third,
            "new regresses: hit rate drops, answers slow",
            NEW.but(hit_rate=55, avg_response_time_ms=NEW.avg_response_time_ms * 2.9),
        ),
        Phase(
            third + 12,
            "new: error burst",
            NEW.but(hit_rate=55, avg_response_time_ms=NEW.avg_response_time_ms * 2.9, error_rate=6),
        ),
        Phase(third + 20, "new recovers", NEW),
    ]


# How the demo recognises a database it may write to. A database *comment* (COMMENT ON
# DATABASE) that the demo sets before writing anything: it lives outside the cachemon schema,
# so it survives `cachemon db downgrade --revision base`; it needs the database's owner to set
# (the writer and reader roles cannot forge it); it shows in psql's `\l+`; and no real
# database carries it by accident. A marked database must still hold only demo data (events of
# `legacy` and `new` only, no tables outside the schemas cachemon and cron); an unmarked one is
# accepted only when it is empty (no cachemon schema, no tables at all).
_INSPECT = """
SELECT coalesce(pg_catalog.shobj_description(d.oid, 'pg_database'), '') LIKE %(marker)s
           AS marked,
       pg_catalog.to_regnamespace('cachemon') IS NOT NULL AS has_schema,
       (SELECT pg_catalog.string_agg(n.nspname || '.' || c.relname, ', ' ORDER BY 1)
          FROM pg_catalog.pg_class AS c
          JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'cachemon', 'cron')
           AND n.nspname NOT LIKE 'pg\\_%%') AS foreign_tables
  FROM pg_catalog.pg_database AS d
 WHERE d.datname = pg_catalog.current_database()
"""


def check_demo_database(url: str) -> bool:
    """Raise ``Refused`` unless the database at ``url`` is empty or holds only demo data;
    return whether it holds an earlier demo's cachemon schema (to be reset)."""
    with connect(url) as conn, translated():
        row = conn.execute(_INSPECT, {"marker": DEMO_MARKER + "%"}).fetchone()
        assert row is not None
        name = conn.info.dbname
        if row["foreign_tables"]:
            raise Refused(
                f"database {name!r} holds tables that are not the demo's "
                f"({str(row['foreign_tables'])[:120]}): the demo writes only to its own database",
                "run `cachemon demo` without --database-url (it uses the local cluster), "
                "or give it an empty database",
            )
        if row["has_schema"] and not row["marked"]:
            raise Refused(
                f"database {name!r} has a cachemon schema the demo did not create: "
                "the demo never writes into a database with real data",
                "run `cachemon demo` without --database-url, or give it an empty database",
            )
        if row["has_schema"]:
            other = conn.execute(
                "SELECT implementation_type FROM cachemon.cache_metrics"
                " WHERE implementation_type <> ALL(%s) LIMIT 1",
                (list(DEMO_IMPLEMENTATIONS),),
            ).fetchone()
            if other is not None:
                raise Refused(
                    f"database {name!r} was a demo database but now holds events of "
                    f"{other['implementation_type']!r}: the demo will not overwrite them",
                    "run `cachemon demo` without --database-url, or give it an empty database",
                )
        return bool(row["has_schema"])


def _mark(url: str) -> None:
    with connect(url) as conn, translated():
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(conn.info.dbname),
                sql.Literal(f"{DEMO_MARKER}: written by `cachemon demo`, safe to drop"),
            )
        )


def prepare_database(url: str | None = None, root: Path | None = None, say: Say = print) -> str:
    """The URL to play on, upgraded to head.

    Without ``url``: the database ``cachemon_demo`` of the local cluster in ``root`` (started
    here), dropped and created again each run. With ``url`` (given explicitly, never taken
    from the environment): that database, only if ``check_demo_database`` accepts it; an
    earlier demo's schema there is removed first so a run starts clean.
    """
    if url is None:
        root = root or localpg.default_root()
        say(f"local PostgreSQL in {root} ...")
        cluster = localpg.start(root)
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as admin, translated():
            name = sql.Identifier(DEMO_DATABASE)
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
        url = cluster.url(DEMO_DATABASE)
    else:
        url = libpq_url(check_url(url))
        if check_demo_database(url):
            say("removing the previous demo's cachemon schema ...")
            dbversions.downgrade(url, "base")
    _mark(url)
    say("upgrading the cachemon schema ...")
    dbversions.upgrade(url)
    say(f"cachemon schema at {', '.join(dbversions.current(url))}")
    return url


@dataclass
class DemoResult:
    url: str
    events: int = 0
    seconds: float = 0.0
    summary: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)


ERROR_MESSAGE = "cache backend did not answer in 50 ms"


def record_minute(
    collector: Collector,
    impl: str,
    profile: Profile,
    minute: datetime,
    rng: random.Random,
    error_message: str = ERROR_MESSAGE,
) -> int:
    """Record one minute of ``impl``'s traffic through the collector; returns the events."""
    n = 0
    base = minute.timestamp()
    for ev in minute_events(profile, minute, rng):
        collector.record(
            ev.kind,
            ev.key,
            impl,
            ev.response_time_ms,
            ev.cache_size,
            "TimeoutError" if ev.kind == "error" else None,
            error_message if ev.kind == "error" else None,
            recorded_at=base + ev.second,
        )
        n += 1
    return n


def _tick_until_done(conn: psycopg.Connection[dict[str, Any]], now: datetime) -> None:
    while True:
        row = conn.execute("SELECT * FROM cachemon.tick(%s)", (now,)).fetchone()
        if row is None or not row["buckets_left"]:
            return


class _Findings:
    """Remembers each finding's status and severity, to tell what changed since last time."""

    def __init__(self) -> None:
        self.known: dict[int, tuple[str, str]] = {}

    def changes(self, conn: psycopg.Connection[dict[str, Any]]) -> list[str]:
        lines = []
        for f in conn.execute(
            "SELECT id, implementation_type, rule, severity, status, message"
            " FROM cachemon.cache_auditor_observations ORDER BY id"
        ):
            now = (f["status"], f["severity"])
            before = self.known.get(f["id"])
            if before == now:
                continue
            self.known[f["id"]] = now
            if before is None:
                lines.append(f"opened {f['severity']}: {f['message']}")
            elif now[0] == "resolved":
                lines.append(f"resolved: {f['implementation_type']} {f['rule']}")
            elif now[1] != before[1]:
                lines.append(f"{before[1]} -> {now[1]}: {f['message']}")
        return lines


def run_demo(
    url: str | None = None,
    *,
    root: Path | None = None,
    say: Say = print,
    baseline_hours: int = 24,
    live_minutes: int = 90,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Play the demo (see the module's docstring). ``url``: an explicit database (checked by
    ``check_demo_database``), else the local cluster's ``cachemon_demo``. ``progress(done,
    total)`` is called as the baseline day's minutes are recorded."""
    started = time.monotonic()
    url = prepare_database(url, root, say)
    result = DemoResult(url)
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    live_start = now - timedelta(minutes=live_minutes)
    day_start = live_start - timedelta(hours=baseline_hours)

    collector = Collector(
        url, batch_size=5000, flush_interval=0.5, max_buffer=2_000_000, key_mode="hash"
    ).start()
    with connect(url) as conn:
        conn.execute(
            "UPDATE cachemon._settings SET value = '100000' WHERE name = 'tick.max_buckets'"
        )
        say(
            f"\n1/3  {baseline_hours} hours of traffic, "
            f"{day_start:%Y-%m-%d %H:%M} to {live_start:%Y-%m-%d %H:%M} UTC"
        )
        minute = day_start
        total_minutes = baseline_hours * 60
        done = 0
        while minute < live_start:
            result.events += record_minute(collector, "legacy", LEGACY, minute, rng)
            result.events += record_minute(collector, "new", NEW, minute, rng)
            minute += timedelta(minutes=1)
            done += 1
            if progress is not None:
                progress(done, total_minutes)
            elif minute.minute == 0 and minute.hour % 4 == 0:
                say(f"     {minute:%H:%M}  {result.events:,} events recorded")
        collector.flush(timeout=120)
        say(f"     {result.events:,} events stored; rolling up ...")
        _tick_until_done(conn, live_start)
        for impl in ("legacy", "new"):
            b = conn.execute(
                "SELECT sample_minutes, hit_rate_mean, p95_response_time_ms_mean"
                " FROM cachemon.compute_baseline(%s, %s, %s)",
                (impl, timedelta(hours=baseline_hours), live_start),
            ).fetchone()
            assert b is not None
            say(
                f"     baseline {impl:<6}: hit rate {b['hit_rate_mean']:.1f}%, "
                f"p95 {b['p95_response_time_ms_mean']:.1f} ms over {b['sample_minutes']} minutes"
            )

        say(f"\n2/3  {live_minutes} live minutes, tick and auditor every minute")
        seen = _Findings()
        for i, minute, phase, begins in live_minutes_of(live_start, live_minutes):
            if begins:
                say(f"     +{i:>3} min  {phase.label}")
            result.events += record_minute(collector, "legacy", LEGACY, minute, rng)
            result.events += record_minute(collector, "new", phase.profile, minute, rng)
            collector.flush(timeout=60)
            _tick_until_done(conn, minute + timedelta(minutes=1, seconds=5))
            for line in seen.changes(conn):
                say(f"     +{i + 1:>3} min  {line}")
        collector.stop()

        # Alert delivery: the findings' messages, to a webhook the demo starts on 127.0.0.1.
        from orchestrator.notify_demo import deliver

        result.notifications = deliver(
            conn, live_start, live_start + timedelta(minutes=live_minutes)
        )
        say(f"\n     delivered to a webhook on 127.0.0.1 ({len(result.notifications)} alerts):")
        for line in result.notifications:
            say(f"     {line}")

        say("\n3/3  results")
        result.summary = conn.execute(
            "SELECT * FROM cachemon.get_cache_performance_summary(NULL, %s, %s)",
            (timedelta(minutes=live_minutes), now),
        ).fetchall()
        result.findings = conn.execute(
            "SELECT id, implementation_type, rule, severity, category, status, message,"
            " recommendation, first_seen_at, resolved_at"
            " FROM cachemon.cache_auditor_observations ORDER BY id"
        ).fetchall()
    stats = collector.stats()
    result.seconds = time.monotonic() - started
    _report(result, live_minutes, say, stats.sent, stats.dropped)
    return result


def _report(result: DemoResult, live_minutes: int, say: Say, sent: int, dropped: int) -> None:
    say(f"     last {live_minutes} minutes:")
    say(
        f"     {'impl':<8}{'events':>9}{'hit rate':>10}{'errors':>9}"
        f"{'avg ms':>9}{'p50':>8}{'p95':>8}{'p99':>8}"
    )
    for r in result.summary:
        say(
            f"     {r['implementation_type']:<8}{r['total_events']:>9,}"
            f"{float(r['hit_rate'] or 0):>9.1f}%{float(r['error_rate'] or 0):>8.2f}%"
            f"{r['avg_response_time_ms'] or 0:>9.1f}{r['p50_response_time_ms'] or 0:>8.1f}"
            f"{r['p95_response_time_ms'] or 0:>8.1f}{r['p99_response_time_ms'] or 0:>8.1f}"
        )
    say(f"\n     findings ({len(result.findings)}):")
    for f in result.findings:
        when = f"{f['first_seen_at']:%H:%M}"
        if f["resolved_at"]:
            when += f"-{f['resolved_at']:%H:%M}"
        say(
            f"     #{f['id']} {f['status']:<9}{f['severity']:<9}{f['implementation_type']:<7}"
            f"{f['rule']:<16}{when}"
        )
        say(f"        {f['message']}")
        if f["recommendation"]:
            say(f"        -> {f['recommendation']}")
    say(
        f"\n     {result.events:,} events recorded, {sent:,} stored by the collector, "
        f"{dropped} dropped; {result.seconds:.0f} s"
    )
    say("\nlook further:")
    say(f"  export CACHEMON_DATABASE_URL='{result.url}'")
    say(f"  cachemon summary --window {live_minutes}m   # per implementation, from the rollups")
    say("  cachemon audit list --status all   # findings and their lifecycle")
    say("  cachemon watch                     # live updates (pg_notify)")
    say("  cachemon notify deliveries         # the alerts sent, and every attempt")
    say("  cachemon dashboard                 # the live page on http://127.0.0.1:8421/")
    say("  psql \"$CACHEMON_DATABASE_URL\" -c '\\df+ cachemon.*'   # the SQL API, documented")
    say("  SELECT * FROM cachemon.cache_metrics_1min ORDER BY bucket DESC LIMIT 10;")
