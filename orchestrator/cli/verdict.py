"""``cachemon verdict``: is the candidate implementation ready to take all traffic?"""

from __future__ import annotations

import json

import click

from orchestrator.cli import main
from orchestrator.cli.options import database_url_option


def _value(v: object, unit: str) -> str:
    if v is None:
        return "-"
    suffix = " ms" if unit == "%" else ("%" if unit == "points" else "")
    return f"{float(str(v)):.2f}{suffix}"


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
@click.option(
    "--window",
    default="1 hour",
    show_default=True,
    envvar="CACHEMON_VERDICT_WINDOW",
    show_envvar=True,
    help="How far back to compare (a PostgreSQL interval).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def verdict(database_url: str, candidate: str, reference: str, window: str, as_json: bool) -> None:
    """Compare CANDIDATE with REFERENCE metric by metric (cachemon.migration_verdict).

    Exit status 0 whatever the verdict; read it from the output (or `--json`).
    """
    from orchestrator.verdict import migration_verdict

    v = migration_verdict(candidate, reference, window, database_url)
    if as_json:
        click.echo(json.dumps(v.as_json(), sort_keys=True))
        return
    score = "-" if v.score is None else f"{float(v.score):.0f}"
    click.echo(
        f"{v.candidate} vs {v.reference}, {v.window_start:%Y-%m-%d %H:%M} .. "
        f"{v.window_end:%H:%M} UTC: {v.verdict.upper().replace('_', ' ')} (score {score})"
    )
    click.echo(f"  {v.evidence}")
    click.echo(
        f"  {'metric':<22}{'class':<9}{v.candidate[:10]:>11}{v.reference[:10]:>11}"
        f"{'effect':>10}{'CI':>20}{'tolerance':>11}"
    )
    for m in v.metrics:
        unit = str(m.get("unit") or "")
        metric = str(m["metric"])
        # values: rates in percent, latencies in ms; effects in the metric's unit
        value_unit = "points" if metric.endswith("rate") else "%"
        eff = "-" if m.get("effect") is None else f"{float(m['effect']):+.1f}"
        ci = (
            "-"
            if m.get("ci_low") is None
            else f"{float(m['ci_low']):+.1f}..{float(m['ci_high']):+.1f}"
        )
        click.echo(
            f"  {metric:<22}{m['classification']:<9}"
            f"{_value(m.get('candidate_value'), value_unit):>11}"
            f"{_value(m.get('reference_value'), value_unit):>11}"
            f"{eff:>10}{ci:>20}{float(m['tolerance']):>9.1f}{'pt' if unit == 'points' else ' %':<2}"
        )
