"""``cachemon notify``: receivers, routes, silences, the delivery log and the worker."""

from __future__ import annotations

import json
from typing import Any

import click

from orchestrator.cli import main
from orchestrator.cli.options import WindowType, database_url_option
from orchestrator.cli.output import emit_json, json_option, print_table, say

MATCH_HELP = (
    "Matcher on a finding's labels (implementation, rule, severity, category): name=value, "
    "name!=value, name=~regex, name!~regex. Repeatable; all must hold."
)


def _show(rows: list[dict[str, Any]], columns: tuple[str, ...], as_json: bool, empty: str) -> None:
    if as_json:
        emit_json(rows)
        return
    if not rows:
        say(empty)
        return
    shown = [
        {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in r.items()} for r in rows
    ]
    print_table([(c, c) for c in columns], shown)


@main.group()
def notify() -> None:
    """Alert delivery: receivers, routes, silences, deliveries, and the worker (run)."""


# -- receivers ------------------------------------------------------------------------------


@notify.group()
def receiver() -> None:
    """Where notifications go (webhook, alertmanager, email, slack)."""


@receiver.command("add")
@database_url_option()
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["webhook", "alertmanager", "email", "slack"]),
    required=True,
    envvar="CACHEMON_NOTIFY_KIND",
    show_envvar=True,
    help="Receiver kind.",
)
@click.option(
    "--url",
    "target",
    required=True,
    envvar="CACHEMON_NOTIFY_URL",
    show_envvar=True,
    help="Webhook or Slack URL, Alertmanager base URL, or smtp://user@host:port[?starttls=1] "
    "(smtps:// for TLS). Stored readable by cachemon_admin only; prefer the variable.",
)
@click.option(
    "--password",
    default=None,
    envvar="CACHEMON_NOTIFY_PASSWORD",
    show_envvar=True,
    help="SMTP password (stored readable by cachemon_admin only; prefer the variable).",
)
@click.option(
    "--from",
    "sender",
    default=None,
    envvar="CACHEMON_NOTIFY_FROM",
    show_envvar=True,
    help="E-mail: From.",
)
@click.option(
    "--to",
    "recipients",
    multiple=True,
    envvar="CACHEMON_NOTIFY_TO",
    show_envvar=True,
    help="E-mail: a recipient (repeatable).",
)
@click.option(
    "--dashboard-url",
    default=None,
    envvar="CACHEMON_NOTIFY_DASHBOARD_URL",
    show_envvar=True,
    help="Base URL of the dashboard, for links in messages.",
)
@click.option(
    "--send-resolved/--no-send-resolved",
    default=True,
    show_default=True,
    envvar="CACHEMON_NOTIFY_SEND_RESOLVED",
    show_envvar=True,
    help="Also tell when a finding resolves.",
)
@click.option(
    "--allow-private",
    is_flag=True,
    envvar="CACHEMON_NOTIFY_ALLOW_PRIVATE",
    show_envvar=True,
    help="Allow a private, loopback or link-local address (refused by default).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 120),
    default=10,
    show_default=True,
    envvar="CACHEMON_NOTIFY_TIMEOUT",
    show_envvar=True,
    help="Seconds one attempt may take.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 1000),
    default=30,
    show_default=True,
    envvar="CACHEMON_NOTIFY_MAX_ATTEMPTS",
    show_envvar=True,
    help="Attempts before a delivery is dead.",
)
@json_option()
def receiver_add(
    database_url: str,
    name: str,
    kind: str,
    target: str,
    password: str | None,
    sender: str | None,
    recipients: tuple[str, ...],
    dashboard_url: str | None,
    send_resolved: bool,
    allow_private: bool,
    timeout: float,
    max_attempts: int,
    as_json: bool,
) -> None:
    """Create or replace receiver NAME."""
    from orchestrator import notify as n

    options: dict[str, Any] = {}
    if dashboard_url:
        options["dashboard_url"] = dashboard_url.rstrip("/")
    if sender:
        options["from"] = sender
    if recipients:
        options["to"] = list(recipients)
    row = n.add_receiver(
        database_url,
        name=name,
        kind=kind,
        target=target,
        password=password,
        options=options,
        send_resolved=send_resolved,
        allow_private=allow_private,
        timeout_s=timeout,
        max_attempts=max_attempts,
    )
    _show([row], tuple(k for k in row if k != "options"), as_json, "")


@receiver.command("list")
@database_url_option()
@json_option()
def receiver_list(database_url: str, as_json: bool) -> None:
    """List receivers (endpoints without their secrets)."""
    from orchestrator import notify as n

    _show(
        n.list_receivers(database_url),
        tuple(n.RECEIVER_COLUMNS.split(", ")),
        as_json,
        "no receivers",
    )


@receiver.command("drop")
@database_url_option()
@click.argument("name")
@json_option()
def receiver_drop(database_url: str, name: str, as_json: bool) -> None:
    """Drop receiver NAME with its routes."""
    from orchestrator import notify as n

    n.drop_receiver(database_url, name)
    emit_json({"dropped": name}) if as_json else say(f"dropped receiver {name}")


# -- routes ---------------------------------------------------------------------------------


@notify.group()
def route() -> None:
    """Which findings go to which receiver, grouped how, how often."""


@route.command("add")
@database_url_option()
@click.option(
    "--receiver",
    required=True,
    help="Receiver name.",
    envvar="CACHEMON_NOTIFY_RECEIVER",
    show_envvar=True,
)
@click.option(
    "--match",
    "matchers",
    multiple=True,
    help=MATCH_HELP,
    envvar="CACHEMON_NOTIFY_MATCH",
    show_envvar=True,
)
@click.option(
    "--group-by",
    multiple=True,
    type=click.Choice(["implementation", "rule", "category"]),
    default=("implementation", "rule"),
    show_default=True,
    envvar="CACHEMON_NOTIFY_GROUP_BY",
    show_envvar=True,
    help="Labels whose values form a group (repeatable).",
)
@click.option(
    "--group-wait",
    type=WindowType(),
    default="30s",
    show_default=True,
    envvar="CACHEMON_NOTIFY_GROUP_WAIT",
    show_envvar=True,
)
@click.option(
    "--group-interval",
    type=WindowType(),
    default="5m",
    show_default=True,
    envvar="CACHEMON_NOTIFY_GROUP_INTERVAL",
    show_envvar=True,
)
@click.option(
    "--repeat-interval",
    type=WindowType(),
    default="4h",
    show_default=True,
    envvar="CACHEMON_NOTIFY_REPEAT_INTERVAL",
    show_envvar=True,
)
@click.option(
    "--continue",
    "continue_",
    is_flag=True,
    help="Let later routes match too.",
    envvar="CACHEMON_NOTIFY_CONTINUE",
    show_envvar=True,
)
@click.option(
    "--position",
    type=click.IntRange(0, 1_000_000),
    default=100,
    show_default=True,
    envvar="CACHEMON_NOTIFY_POSITION",
    show_envvar=True,
)
@json_option()
def route_add(
    database_url: str,
    receiver: str,
    matchers: tuple[str, ...],
    group_by: tuple[str, ...],
    group_wait: Any,
    group_interval: Any,
    repeat_interval: Any,
    continue_: bool,
    position: int,
    as_json: bool,
) -> None:
    """Add a route (Alertmanager's defaults: 30s, 5m, 4h)."""
    from orchestrator import notify as n

    row = n.add_route(
        database_url,
        receiver=receiver,
        matchers=n.parse_matchers(matchers),
        group_by=list(group_by),
        group_wait=group_wait,
        group_interval=group_interval,
        repeat_interval=repeat_interval,
        continue_=continue_,
        position=position,
    )
    _show([row], tuple(row), as_json, "")


@route.command("list")
@database_url_option()
@json_option()
def route_list(database_url: str, as_json: bool) -> None:
    """List routes in the order they are tried."""
    from orchestrator import notify as n

    rows = n.list_routes(database_url)
    _show(rows, tuple(rows[0]) if rows else (), as_json, "no routes: nothing is sent")


@route.command("drop")
@database_url_option()
@click.argument("route_id", type=click.IntRange(min=1))
@json_option()
def route_drop(database_url: str, route_id: int, as_json: bool) -> None:
    """Drop route ROUTE_ID."""
    from orchestrator import notify as n

    n.drop_route(database_url, route_id)
    emit_json({"dropped": route_id}) if as_json else say(f"dropped route {route_id}")


# -- silences -------------------------------------------------------------------------------


@notify.group()
def silence() -> None:
    """Mute firing messages of matching findings for a while."""


@silence.command("add")
@database_url_option()
@click.option(
    "--match",
    "matchers",
    multiple=True,
    required=True,
    help=MATCH_HELP,
    envvar="CACHEMON_NOTIFY_MATCH",
    show_envvar=True,
)
@click.option(
    "--duration",
    type=WindowType(),
    default="2h",
    show_default=True,
    envvar="CACHEMON_NOTIFY_SILENCE_DURATION",
    show_envvar=True,
)
@click.option("--by", "who", required=True, envvar="CACHEMON_USER", show_envvar=True)
@click.option(
    "--comment",
    required=True,
    help="Why.",
    envvar="CACHEMON_NOTIFY_SILENCE_COMMENT",
    show_envvar=True,
)
@json_option()
def silence_add(
    database_url: str,
    matchers: tuple[str, ...],
    duration: Any,
    who: str,
    comment: str,
    as_json: bool,
) -> None:
    """Create a silence from now for --duration; it expires by itself."""
    from orchestrator import notify as n

    row = n.add_silence(
        database_url,
        matchers=n.parse_matchers(matchers),
        duration=duration,
        created_by=who,
        comment=comment,
    )
    _show([row], tuple(row), as_json, "")


@silence.command("list")
@database_url_option()
@click.option(
    "--all",
    "include_expired",
    is_flag=True,
    help="Include expired silences.",
    envvar="CACHEMON_NOTIFY_SILENCE_ALL",
    show_envvar=True,
)
@json_option()
def silence_list(database_url: str, include_expired: bool, as_json: bool) -> None:
    """List active (and pending) silences."""
    from orchestrator import notify as n

    rows = n.list_silences(database_url, include_expired)
    _show(rows, tuple(n.SILENCE_COLUMNS.split(", ")), as_json, "no silences")


@silence.command("expire")
@database_url_option()
@click.argument("silence_id", type=click.IntRange(min=1))
@click.option("--by", "who", required=True, envvar="CACHEMON_USER", show_envvar=True)
@json_option()
def silence_expire(database_url: str, silence_id: int, who: str, as_json: bool) -> None:
    """End silence SILENCE_ID now."""
    from orchestrator import notify as n

    row = n.expire_silence(database_url, silence_id, who)
    _show([row], tuple(row), as_json, "")


# -- deliveries and log ---------------------------------------------------------------------


@notify.command("deliveries")
@database_url_option()
@click.option(
    "--status",
    type=click.Choice(["pending", "sending", "delivered", "dead"]),
    default=None,
    envvar="CACHEMON_NOTIFY_STATUS",
    show_envvar=True,
)
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    envvar="CACHEMON_NOTIFY_LIMIT",
    show_envvar=True,
)
@json_option()
def deliveries(database_url: str, status: str | None, limit: int, as_json: bool) -> None:
    """Messages, newest first, with their last attempt's status and error."""
    from orchestrator import notify as n

    rows = n.list_deliveries(database_url, status, limit)
    cols = (
        "id",
        "receiver",
        "status",
        "reason",
        "observation_ids",
        "attempts",
        "created_at",
        "last_status",
        "last_error",
    )
    _show(rows, cols, as_json, "no deliveries")


@notify.command("attempts")
@database_url_option()
@click.argument("delivery_id", type=click.IntRange(min=1))
@json_option()
def attempts(database_url: str, delivery_id: int, as_json: bool) -> None:
    """Every attempt of delivery DELIVERY_ID (status code, error, duration, Retry-After)."""
    from orchestrator import notify as n

    rows = n.list_attempts(database_url, delivery_id)
    _show(rows, tuple(rows[0]) if rows else (), as_json, "no attempts")


@notify.command("log")
@database_url_option()
@click.option(
    "--finding",
    type=click.IntRange(min=1),
    default=None,
    help="Only this finding.",
    envvar="CACHEMON_NOTIFY_FINDING",
    show_envvar=True,
)
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    envvar="CACHEMON_NOTIFY_LIMIT",
    show_envvar=True,
)
@json_option()
def log(database_url: str, finding: int | None, limit: int, as_json: bool) -> None:
    """Each stage's answer: grouped, inhibited, silenced, deduplicated, queued (why not sent)."""
    from orchestrator import notify as n

    rows = n.list_log(database_url, finding, limit)
    cols = ("id", "at", "observation_id", "receiver", "stage", "outcome", "reason", "delivery_id")
    _show(rows, cols, as_json, "nothing logged")


# -- the worker -----------------------------------------------------------------------------


@notify.command("run")
@database_url_option()
@click.option("--worker-id", default=None, envvar="CACHEMON_NOTIFY_WORKER", show_envvar=True)
@click.option(
    "--poll",
    type=click.FloatRange(0.1, 3600),
    default=5.0,
    show_default=True,
    envvar="CACHEMON_NOTIFY_POLL",
    show_envvar=True,
    help="Seconds between polls when no NOTIFY wakes the worker.",
)
@click.option(
    "--batch",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    envvar="CACHEMON_NOTIFY_BATCH",
    show_envvar=True,
)
@click.option(
    "--lease",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    envvar="CACHEMON_NOTIFY_LEASE",
    show_envvar=True,
    help="Seconds a claimed delivery is held; after that another worker sends it again.",
)
@click.option(
    "--once",
    is_flag=True,
    help="One batch, then exit.",
    envvar="CACHEMON_NOTIFY_ONCE",
    show_envvar=True,
)
@json_option()
def run_(
    database_url: str,
    worker_id: str | None,
    poll: float,
    batch: int,
    lease: float,
    once: bool,
    as_json: bool,
) -> None:
    """Send due deliveries until SIGTERM (the send in progress finishes; the rest is released)."""
    from orchestrator import notify as n

    total = n.run(
        database_url, worker=worker_id, poll_s=poll, batch=batch, lease_s=lease, once=once
    )
    emit_json({"attempts": total}) if as_json else say(f"stopped after {total} attempts")
