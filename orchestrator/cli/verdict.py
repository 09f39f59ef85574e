"""``cachemon verdict``: is the candidate implementation ready to take all traffic?"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from orchestrator.cli import main
from orchestrator.cli.options import database_url_option, window_option
from orchestrator.cli.output import emit_json, json_option, print_table, say_data


def _value(v: object, metric: str) -> str:
    """A metric's value in its unit: rates in percent, latencies in ms."""
    if v is None:
        return "-"
    return f"{float(str(v)):.2f}{'%' if metric.endswith('rate') else ' ms'}"


def _signed(v: object) -> str:
    return "-" if v is None else f"{float(str(v)):+.1f}"


def _effect(m: dict[str, Any]) -> str:
    if m.get("effect") is None:
        return "-"
    if m.get("ci_low") is None:
        return _signed(m["effect"])
    return f"{_signed(m['effect'])} [{_signed(m['ci_low'])},{_signed(m['ci_high'])}]"


def _tolerance(m: dict[str, Any]) -> str:
    if m.get("tolerance") is None:
        return "-"
    unit = "pt" if str(m.get("unit")) == "points" else "%"
    return f"{float(str(m['tolerance'])):g}{unit}"


def _classification_style(value: Any) -> str | None:
    return {"better": "green", "equal": "green", "worse": "bold red", "no_data": "dim"}.get(
        str(value)
    )


@main.command()
@database_url_option()
@click.option(
    "--candidate",
    default="new",
    show_default=True,
    envvar="CACHEMON_VERDICT_CANDIDATE",
    show_envvar=True,
    help="Implementation that would take all traffic.",
)
@click.option(
    "--reference",
    default="legacy",
    show_default=True,
    envvar="CACHEMON_VERDICT_REFERENCE",
    show_envvar=True,
    help="Implementation it replaces.",
)
@window_option("1h", "CACHEMON_VERDICT_WINDOW", "How far back to compare, ending now.")
@json_option()
def verdict(
    database_url: str, candidate: str, reference: str, window: timedelta, as_json: bool
) -> None:
    """Compare CANDIDATE with REFERENCE metric by metric (cachemon.migration_verdict).

    Exit status 0 whatever the verdict; read it from the output (or `--json`).
    """
    from orchestrator.verdict import migration_verdict

    v = migration_verdict(
        candidate, reference, f"{int(window.total_seconds())} seconds", database_url
    )
    if as_json:
        emit_json(v.as_json())
        return
    score = "-" if v.score is None else f"{float(v.score):.0f}"
    say_data(
        f"{v.candidate} vs {v.reference}, {v.window_start:%Y-%m-%d %H:%M} .. "
        f"{v.window_end:%H:%M} UTC: {v.verdict.upper().replace('_', ' ')} (score {score})"
    )
    say_data(f"  {v.evidence}")
    # Fits 80 columns: effect and its interval in one cell, in the tolerance's unit (points
    # for rates, percent of the reference for latencies).
    rows = [
        {
            "metric": m["metric"],
            "classification": m["classification"],
            "candidate": _value(m.get("candidate_value"), str(m["metric"])),
            "reference": _value(m.get("reference_value"), str(m["metric"])),
            "effect": _effect(m),
            "tolerance": _tolerance(m),
        }
        for m in v.metrics
    ]
    print_table(
        [
            ("metric", "metric"),
            ("classification", "class"),
            ("candidate", v.candidate),
            ("reference", v.reference),
            ("effect", "effect [CI]"),
            ("tolerance", "tol."),
        ],
        rows,
        styles={"classification": _classification_style},
    )
