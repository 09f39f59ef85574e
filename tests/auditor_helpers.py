"""Helpers of the auditor tests: a baselined database and a minute-by-minute auditor loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from orchestrator.synthetic import Profile, insert_minutes

Conn = psycopg.Connection[dict[str, Any]]

# Midnight UTC three days ago: the scenarios (history, then hours of play; the longest reaches
# T0 + 3 days + 1 hour) stay within the range every function taking p_now accepts
# (cachemon._check_now: a day ahead, retention.raw behind) at any time of day. (Two days ago
# put T0 + 3 days + 1 hour more than a day ahead in the first hour after midnight.)
T0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
HISTORY_MINUTES = 300
# Where scenarios start: right after the baseline window.
T = T0 + timedelta(minutes=HISTORY_MINUTES)

LEGACY = Profile("legacy", daily_amplitude=0.1)
NEW = Profile("new", daily_amplitude=0.1)


def baselined(conn: Conn, *profiles: Profile) -> None:
    """HISTORY_MINUTES of clean history for each profile, and their baselines (no profile)."""
    for i, profile in enumerate(profiles or (LEGACY, NEW)):
        insert_minutes(conn, profile, T0, HISTORY_MINUTES, seed=0.1 + i / 10)
        conn.execute(
            "SELECT id FROM cachemon.compute_baseline(%s, '1 day', %s)",
            (profile.implementation_type, T),
        )


def play(conn: Conn, segments: list[tuple[Profile, int]], start: datetime, seed: float) -> datetime:
    """Insert consecutive segments of minutes from ``start``; return the end."""
    at = start
    for i, (profile, minutes) in enumerate(segments):
        insert_minutes(conn, profile, at, minutes, seed=(seed + i / 100) % 1)
        at += timedelta(minutes=minutes)
    return at


def audit(conn: Conn, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """run_auditor at every minute in (start, end] (a few seconds past the minute)."""
    results = []
    at = start + timedelta(minutes=1)
    while at <= end:
        results.append(
            conn.execute(
                "SELECT * FROM cachemon.run_auditor(%s)", (at + timedelta(seconds=5),)
            ).fetchone()
            or {}
        )
        at += timedelta(minutes=1)
    return results


def findings(conn: Conn, rule: str, impl: str = "new") -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM cachemon.cache_auditor_observations"
        " WHERE rule = %s AND implementation_type = %s ORDER BY id",
        (rule, impl),
    ).fetchall()


def set_setting(conn: Conn, name: str, value: str) -> None:
    conn.execute("UPDATE cachemon._settings SET value = %s WHERE name = %s", (value, name))
