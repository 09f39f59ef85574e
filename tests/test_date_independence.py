"""No test depends on the date it runs: no literal date in tests/ or benchmarks/ except the few
listed here, each with the reason it cannot become a time of the run.

Raw events older than retention.raw are refused and every function taking p_now accepts only a
bounded range around now(), so a literal date written as an event time or a p_now passes for a
few days and then fails for good. Tests derive their times from the clock (``datetime.now``,
``now()``) instead. A date that must stay literal (a value that is refused whatever the date, a
parser's input with no database behind it, the origin of date_bin) is listed below.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A date in ISO form, or a datetime/date constructed from a literal year.
LITERAL = re.compile(
    r"\b(?:19|20)\d\d-\d\d-\d\d"
    r"|\b(?:datetime|date)\(\s*(?:19|20)\d\d\s*,"
    r"|\b1[5-9]\d{8}\b"  # an epoch in seconds between 2017 and 2033
)

# (file, literal) -> why it stays literal.
ALLOWED: dict[tuple[str, str], str] = {
    ("tests/test_dashboard.py", "2026-11-29"): "a notification payload parsed in Python only",
    ("tests/test_ingest_events.py", "2024-13-45"): "an impossible date, refused as such",
    ("tests/test_ingest_fast_path.py", "2026-02-30"): "an impossible date, refused as such",
    ("tests/test_ingest_fast_path.py", "2026-01-02"): "no offset: refused whatever the date",
    ("tests/test_cli_ingest.py", "2024-01-02"): "older than retention: the refusal is tested",
    ("tests/test_hardening_data.py", "2026-11-29"): "no offset: refused whatever the date",
    ("tests/test_collector_validation.py", "2026-01-02"): "the collector's parser, no database",
    ("tests/test_collector_validation.py", "datetime(2026,"): "the collector's parser, no database",
    ("tests/test_collector_validation.py", "1767225600"): "the collector's parser, no database",
    ("tests/test_trust.py", "2000-01-01"): "an attacker's row in a table it cannot write",
    ("tests/test_dashboard_sql.py", "2000-01-01"): "date_bin's origin, as the SQL uses it",
    ("tests/test_dashboard_sql.py", "datetime(2000,"): "date_bin's origin, as the SQL uses it",
    ("tests/rollup_helpers.py", "2000-01-01"): "date_bin's origin, as the SQL uses it",
    ("benchmarks/bench_rollup.py", "2000-01-01"): "date_bin's origin, as the SQL uses it",
    ("tests/test_edge.py", "2000-01-01"): "date_bin's origin, as the SQL uses it",
    ("tests/test_edge.py", "2020-01-01"): "an edge bucket off a minute: refused on any date",
    ("tests/test_notify_receivers.py", "2026-01-01"): "a message rendered in Python only",
    ("benchmarks/bench_dashboard.py", "2000-01-01"): "date_bin's origin, as the SQL uses it",
    ("benchmarks/bench_auditor.py", "datetime(2026,"): (
        "a virtual calendar for the traffic's weekday only; the data's times follow the clock"
    ),
}


def _literals() -> set[tuple[str, str]]:
    found = set()
    for folder in ("tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == Path(__file__).name:
                continue
            name = path.relative_to(ROOT).as_posix()
            for match in LITERAL.finditer(path.read_text()):
                found.add((name, re.sub(r"\s+", "", match.group(0))))
    return found


def test_no_literal_date_outside_the_allow_list() -> None:
    unexpected = sorted(_literals() - ALLOWED.keys())
    assert not unexpected, (
        "literal dates in tests: derive them from the clock (datetime.now(UTC), now()) or,"
        f" when the value is meant to be refused, add it to ALLOWED with the reason: {unexpected}"
    )


def test_the_allow_list_names_only_literals_that_exist() -> None:
    assert sorted(ALLOWED.keys() - _literals()) == []


def test_the_scan_finds_a_literal_event_time() -> None:
    """The pattern catches the forms an event time takes (so the first test can fail)."""
    for text in (
        "at = datetime(2026, 11, 28, 12, 30, 15, tzinfo=UTC)",
        "VALUES ('2026-01-01 00:00+00', 'new', 3, 1, 4)",
        "run_auditor('2027-06-15T10:00:00Z')",
        "recorded_at=1767225600",
    ):
        assert LITERAL.search(text), text
    assert not LITERAL.search("now() - interval '2 days'")
