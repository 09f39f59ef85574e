"""Alert delivery: the thin worker behind ``cachemon notify run`` and the admin calls.

The database decides everything (``sql/functions/notify_*.sql``): ``notify_flush`` routes the
outbox into groups and queues deliveries, ``notify_claim`` leases due ones (FOR UPDATE SKIP
LOCKED), ``notify_record`` appends each attempt to the log and says what follows (delivered,
retry at a time, dead). This module only renders a delivery's payload for its receiver kind
and sends it:

- webhook: the payload as is (Alertmanager's webhook v4 + a ``cachemon`` object);
- alertmanager: its API v2, ``POST <base>/api/v2/alerts`` with the payload's alerts;
- slack: an incoming webhook message with blocks, texts escaped and cut to Slack's limits;
- email: text and HTML over SMTP (STARTTLS with ``?starttls=1``, or smtps://).

Every request carries the delivery's idempotency key (``Idempotency-Key`` header; the e-mail's
Message-ID), the same on every attempt. Before connecting, every address a host resolves to
is checked: private, loopback, link-local (cloud metadata) and other non-global addresses are
refused unless the receiver allows them, and the connection goes to the checked address (a
name that resolves differently a moment later changes nothing). Responses are read up to
64 KiB; the whole exchange is bounded by the receiver's timeout.
"""

from __future__ import annotations

import html
import http.client
import ipaddress
import json
import os
import re
import select
import signal
import smtplib
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

from orchestrator import db
from orchestrator.errors import InvalidInput, translated

CHANNEL = "cachemon_notify"
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "cachemon-notify/1"
# Slack's documented limits: 50 blocks per message, 3000 characters per section text,
# 150 per header text, 40,000 per message text.
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150


class Refused(Exception):
    """The receiver must not be contacted (a private address without permission, a bad URL)."""


@dataclass(frozen=True)
class Claimed:
    """A leased delivery, as ``cachemon.notify_claim`` returns it."""

    delivery_id: int
    idempotency_key: uuid.UUID
    attempt: int
    receiver: str
    kind: str
    url: str
    password: str | None
    allow_private: bool
    timeout_s: float
    options: dict[str, Any]
    payload: dict[str, Any]
    lease_until: datetime


@dataclass(frozen=True)
class Result:
    """What one attempt got back: an HTTP status, or an error without one."""

    status_code: int | None
    error: str | None
    duration_ms: float
    retry_after_s: float | None = None
    permanent: bool = False


# -- addresses ----------------------------------------------------------------------------


def _address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int, allow_private: bool) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` results for host, refused if any address is not global (unless allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror}") from None
    if not allow_private:
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if not _address_allowed(ip):
                raise Refused(
                    f"{host} resolves to {ip}, a private, loopback, link-local or metadata"
                    " address; an admin may allow it (add_receiver ... allow_private)"
                )
    return infos


def _connect(host: str, port: int, allow_private: bool, timeout: float) -> socket.socket:
    last: OSError | None = None
    for family, socktype, proto, _, sockaddr in resolve(host, port, allow_private):
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(timeout)
        # http.client writes the headers and the body separately: without TCP_NODELAY a
        # kept-alive connection waits for the receiver's delayed ACK (40 ms) on every message
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError(f"cannot connect to {host}:{port}")


class _Checked(http.client.HTTPConnection):
    """An HTTP(S) connection to an address checked by ``resolve``."""

    def __init__(self, host: str, port: int, tls: bool, allow_private: bool, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._tls = tls
        self._allow_private = allow_private

    def connect(self) -> None:
        sock = _connect(self.host, self.port, self._allow_private, self.timeout or 10.0)
        if self._tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"\d{1,9}(\.\d+)?", value):
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Connections:
    """Keep-alive HTTP connections of one worker, one idle connection per (scheme, host,
    port, allow_private): a burst of messages to one receiver reuses one TCP connection."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str, int, bool], _Checked] = {}

    def take(self, key: tuple[str, str, int, bool]) -> _Checked | None:
        return self._idle.pop(key, None)

    def give(self, key: tuple[str, str, int, bool], conn: _Checked) -> None:
        old = self._idle.pop(key, None)
        if old is not None:
            old.close()
        self._idle[key] = conn

    def close(self) -> None:
        for conn in self._idle.values():
            conn.close()
        self._idle.clear()


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    allow_private: bool,
    pool: Connections | None = None,
) -> Result:
    """POST body to url; never reads more than MAX_RESPONSE_BYTES; bounded by timeout. With
    a pool, a connection whose response was read to its end is kept for the next message."""
    started = time.monotonic()
    deadline = started + timeout

    def elapsed() -> float:
        return (time.monotonic() - started) * 1000

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Result(None, "not an http(s) URL", elapsed(), permanent=True)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = (parts.scheme, parts.hostname, port, allow_private)
    conn = pool.take(key) if pool is not None else None
    reused = conn is not None
    if conn is None:
        conn = _Checked(parts.hostname, port, parts.scheme == "https", allow_private, timeout)
    elif conn.sock is not None:
        conn.sock.settimeout(timeout)
    keep = False
    all_headers = {"User-Agent": USER_AGENT, **headers}
    try:
        try:
            conn.request("POST", path, body=body, headers=all_headers)
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            if not reused:
                raise
            # the receiver closed the idle connection before this request reached it
            conn.close()
            conn = _Checked(parts.hostname, port, parts.scheme == "https", allow_private, timeout)
            conn.request("POST", path, body=body, headers=all_headers)
            response = conn.getresponse()
        read = 0
        complete = False
        while read < MAX_RESPONSE_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if conn.sock is not None:
                conn.sock.settimeout(remaining)
            chunk = response.read1(min(16384, MAX_RESPONSE_BYTES - read))
            if not chunk:
                complete = True
                response.close()  # read to its end: the connection may carry the next one
                break
            read += len(chunk)
        keep = pool is not None and complete and not response.will_close
        status = response.status
        reason = None if 200 <= status < 300 else f"HTTP {status} {response.reason}"[:200]
        return Result(status, reason, elapsed(), _retry_after(response.getheader("Retry-After")))
    except Refused as exc:
        return Result(None, str(exc), elapsed(), permanent=True)
    except TimeoutError:
        return Result(None, f"timed out after {timeout:g} s", elapsed())
    except (OSError, http.client.HTTPException) as exc:
        return Result(None, f"{type(exc).__name__}: {exc}"[:500], elapsed())
    finally:
        if keep and pool is not None:
            pool.give(key, conn)
        else:
            conn.close()


# -- rendering ----------------------------------------------------------------------------


def _alerts(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return list(payload.get("alerts") or [])


def _findings(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return list((payload.get("cachemon") or {}).get("findings") or [])


_SLACK_SPECIAL = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_FORMATTING = re.compile(r"([*_~`|])")


def slack_text(value: object, limit: int) -> str:
    """Inert mrkdwn: & < > escaped (Slack's own rule), formatting characters neutralised with a
    zero-width space, control characters dropped, cut to limit characters."""
    text = "".join(ch if ch == "\n" or ch >= " " else " " for ch in str(value))
    text = _FORMATTING.sub("\u200b\\1", text.translate(_SLACK_SPECIAL))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _evidence(f: dict[str, Any]) -> str:
    parts = []
    for key, label in (
        ("metric", "metric"),
        ("observed_value", "observed"),
        ("baseline_value", "baseline"),
        ("deviation_pct", "deviation %"),
    ):
        if f.get(key) is not None:
            value = f[key]
            parts.append(f"{label} {value:.4g}" if isinstance(value, float) else f"{label} {value}")
    evidence = f.get("evidence") or {}
    for key in ("window", "statistic", "cusum", "z", "requests"):
        if key in evidence and not isinstance(evidence[key], dict | list):
            parts.append(f"{key} {evidence[key]}")
    return ", ".join(parts)


def _lines(f: dict[str, Any]) -> list[tuple[str, str]]:
    """What, where, how bad, since when, evidence, recommendation, links."""
    rows = [
        ("What", f"{f.get('rule')} ({f.get('category')}): {f.get('message')}"),
        ("Where", str(f.get("implementation_type"))),
        ("How bad", f"{f.get('severity')}, {f.get('state')}"),
        ("Since", str(f.get("first_seen_at"))),
    ]
    if f.get("state") == "resolved":
        rows.append(("Resolved", f"{f.get('resolved_at')} by {f.get('resolved_by')}"))
    rows.append(("Evidence", _evidence(f) or "-"))
    if f.get("recommendation"):
        rows.append(("Recommendation", str(f["recommendation"])))
    if f.get("link"):
        rows.append(("Finding", str(f["link"])))
    return rows


def _title(payload: dict[str, Any]) -> str:
    findings = _findings(payload)
    firing = sum(1 for f in findings if f.get("state") == "firing")
    resolved = len(findings) - firing
    head = f"[{'FIRING' if firing else 'RESOLVED'}:{firing or resolved}]"
    if len(findings) == 1:
        f = findings[0]
        return f"{head} {f.get('severity')} {f.get('rule')} on {f.get('implementation_type')}"
    return f"{head} cachemon: {firing} firing, {resolved} resolved"


def render_slack(payload: dict[str, Any]) -> dict[str, Any]:
    """An incoming-webhook message: a header, one section per finding, within Slack's limits."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _title(payload)[:SLACK_HEADER_CHARS]},
        }
    ]
    findings = _findings(payload)
    room = SLACK_MAX_BLOCKS - 2
    for f in findings[:room]:
        body = "\n".join(
            f"*{label}:* {slack_text(value, 1200)}"
            if label not in ("Finding",)
            else f"*{label}:* <{slack_text(value, 500)}|open>"
            for label, value in _lines(f)
        )
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:SLACK_SECTION_CHARS]}}
        )
    if len(findings) > room:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"and {len(findings) - room} more findings"}
                ],
            }
        )
    dashboard = (payload.get("cachemon") or {}).get("dashboard")
    if dashboard and len(blocks) < SLACK_MAX_BLOCKS:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"<{slack_text(dashboard, 500)}|cachemon dashboard>"}
                ],
            }
        )
    return {"text": slack_text(_title(payload), 3000), "blocks": blocks}


def render_alertmanager(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Alertmanager API v2 postable alerts: labels, annotations, startsAt, endsAt, generatorURL."""
    out = []
    for a in _alerts(payload):
        alert = {
            "labels": a["labels"],
            "annotations": a.get("annotations") or {},
            "startsAt": a["startsAt"],
            "endsAt": a["endsAt"],
        }
        if a.get("generatorURL"):
            alert["generatorURL"] = a["generatorURL"]
        out.append(alert)
    return out


def _header_text(value: str) -> str:
    """One header line: every non-printable character (CR, LF, NEL, U+2028 line and paragraph
    separators, other controls) becomes a space, so no text can start a header of its own."""
    return "".join(ch if ch.isprintable() else " " for ch in value)[:200]


def render_email(payload: dict[str, Any], options: dict[str, Any], key: uuid.UUID) -> EmailMessage:
    """A text and HTML message; every value from a finding is escaped (HTML) or stripped of
    CR/LF and control characters (headers)."""
    msg = EmailMessage()
    prefix = str(options.get("subject_prefix") or "[cachemon]")
    msg["Subject"] = _header_text(f"{prefix} {_title(payload)}")
    msg["From"] = _header_text(str(options["from"]))
    msg["To"] = ", ".join(_header_text(str(a)) for a in options["to"])
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = f"<{key}@cachemon>"
    msg["X-Cachemon-Idempotency-Key"] = str(key)
    text_parts, html_parts = [], []
    for f in _findings(payload):
        lines = _lines(f)
        text_parts.append("\n".join(f"{label}: {value}" for label, value in lines))
        html_parts.append(
            "<table>"
            + "".join(
                f"<tr><th align='left'>{html.escape(label)}</th>"
                f"<td>{html.escape(str(value))}</td></tr>"
                for label, value in lines
            )
            + "</table>"
        )
    dashboard = (payload.get("cachemon") or {}).get("dashboard")
    footer = f"\n\nDashboard: {dashboard}" if dashboard else ""
    msg.set_content("\n\n".join(text_parts) + footer)
    msg.add_alternative(
        "<html><body>"
        + "<hr>".join(html_parts)
        + (
            f"<p><a href='{html.escape(str(dashboard), quote=True)}'>Dashboard</a></p>"
            if dashboard
            else ""
        )
        + "</body></html>",
        subtype="html",
    )
    return msg


class _CheckedSMTP(smtplib.SMTP):
    """SMTP to an address checked by ``resolve`` (the host name stays for EHLO and STARTTLS)."""

    def __init__(self, allow_private: bool, timeout: float) -> None:
        self._allow_private = allow_private
        super().__init__(timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return _connect(host, port, self._allow_private, timeout)


class _CheckedSMTPS(smtplib.SMTP_SSL):
    """SMTP over TLS to an address checked by ``resolve``."""

    def __init__(self, allow_private: bool, timeout: float) -> None:
        self._allow_private = allow_private
        super().__init__(timeout=timeout, context=ssl.create_default_context())

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = _connect(host, port, self._allow_private, timeout)
        return self.context.wrap_socket(sock, server_hostname=host)


def send_email(claimed: Claimed) -> Result:
    """One e-mail over SMTP; 4xx replies and network errors retry, 5xx replies are dead."""
    started = time.monotonic()
    parts = urlsplit(claimed.url)
    host = parts.hostname or ""
    tls = parts.scheme == "smtps"
    port = parts.port or (465 if tls else 25)
    starttls = parse_qs(parts.query).get("starttls", ["0"])[0] in ("1", "true", "yes")
    try:
        msg = render_email(claimed.payload, claimed.options, claimed.idempotency_key)
        smtp: smtplib.SMTP = (
            _CheckedSMTPS(claimed.allow_private, claimed.timeout_s)
            if tls
            else _CheckedSMTP(claimed.allow_private, claimed.timeout_s)
        )
        # smtplib names the server for STARTTLS's certificate check after its constructor's
        # host argument (which would connect unchecked): set it to the URL's host
        setattr(smtp, "_host", host)  # noqa: B010
        with smtp:
            smtp.connect(host, port)
            smtp.ehlo()
            if starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if parts.username and claimed.password:
                smtp.login(parts.username, claimed.password)
            smtp.send_message(msg)
        return Result(250, None, (time.monotonic() - started) * 1000)
    except Refused as exc:
        return Result(None, str(exc), (time.monotonic() - started) * 1000, permanent=True)
    except smtplib.SMTPResponseException as exc:
        code = int(exc.smtp_code)
        # 4xx SMTP replies are transient, 5xx permanent: map to HTTP-like retry / dead.
        return Result(
            None,
            f"SMTP {code}: {exc.smtp_error!r}"[:500],
            (time.monotonic() - started) * 1000,
            permanent=code >= 500,
        )
    except (OSError, smtplib.SMTPException) as exc:
        return Result(
            None, f"{type(exc).__name__}: {exc}"[:500], (time.monotonic() - started) * 1000
        )


def send(claimed: Claimed, pool: Connections | None = None) -> Result:
    """One attempt of one delivery (HTTP connections kept in ``pool`` when given)."""
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": str(claimed.idempotency_key),
        "X-Cachemon-Delivery": str(claimed.delivery_id),
        "X-Cachemon-Attempt": str(claimed.attempt),
    }
    if claimed.kind == "email":
        return send_email(claimed)
    url = claimed.url
    body: Any = claimed.payload
    if claimed.kind == "alertmanager":
        url = url.rstrip("/") + "/api/v2/alerts"
        body = render_alertmanager(claimed.payload)
    elif claimed.kind == "slack":
        body = render_slack(claimed.payload)
    return post(
        url,
        json.dumps(body, ensure_ascii=True).encode(),
        headers,
        timeout=claimed.timeout_s,
        allow_private=claimed.allow_private,
        pool=pool,
    )


# -- the worker -----------------------------------------------------------------------------

Conn = psycopg.Connection[dict[str, Any]]
Sender = Callable[[Claimed], Result]


def claim(
    conn: Conn, worker: str, limit: int = 10, lease_s: float = 60, now: datetime | None = None
) -> list[Claimed]:
    rows = conn.execute(
        "SELECT delivery_id, idempotency_key, attempt, receiver, kind, url, password,"
        " allow_private, timeout_s, options, payload, lease_until"
        " FROM cachemon.notify_claim(%s, %s, make_interval(secs => %s), coalesce(%s, now()))",
        (worker, limit, lease_s, now),
    ).fetchall()
    return [Claimed(**row) for row in rows]


def record(
    conn: Conn, worker: str, c: Claimed, started: datetime, r: Result, now: datetime | None = None
) -> dict[str, Any]:
    row = conn.execute(
        "SELECT outcome, next_due_at FROM cachemon.notify_record(%s, %s, %s, %s, %s, %s, %s,"
        " %s, %s, coalesce(%s, now()))",
        (
            c.delivery_id,
            worker,
            c.attempt,
            started,
            r.duration_ms,
            r.status_code,
            r.error,
            r.retry_after_s,
            r.permanent,
            now,
        ),
    ).fetchone()
    assert row is not None
    return row


def flush(conn: Conn, now: datetime | None = None) -> dict[str, Any]:
    while True:
        row = conn.execute(
            "SELECT events_routed, groups_flushed, deliveries_queued, more"
            " FROM cachemon.notify_flush(coalesce(%s, now()))",
            (now,),
        ).fetchone()
        assert row is not None
        if not row["more"]:
            return row


def process_once(
    conn: Conn,
    worker: str,
    *,
    now: datetime | None = None,
    limit: int = 10,
    lease_s: float = 60,
    sender: Sender = send,
    stop: threading.Event | None = None,
) -> int:
    """Flush, claim, send and record one batch; returns how many were sent. ``now`` (tests)
    replaces the database clock for the SQL calls; the sending itself is real."""
    flush(conn, now)
    claimed = claim(conn, worker, limit, lease_s, now)
    sent = 0
    for c in claimed:
        if stop is not None and stop.is_set():
            break
        started = now or datetime.now(UTC)
        result = sender(c)
        record(conn, worker, c, started, result, now)
        sent += 1
    if stop is not None and stop.is_set():
        conn.execute("SELECT cachemon.notify_release(%s, coalesce(%s, now()))", (worker, now))
    return sent


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(
    url: str | None = None,
    *,
    worker: str | None = None,
    poll_s: float = 5.0,
    batch: int = 10,
    lease_s: float = 60,
    once: bool = False,
    stop: threading.Event | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """The worker loop: flush and send until stopped (SIGTERM/SIGINT: the send in progress
    finishes and is recorded, leased deliveries not started are released). Wakes on NOTIFY
    cachemon_notify, or after poll_s. Returns the number of attempts made."""
    worker = worker or default_worker_id()
    stop = stop or threading.Event()
    total = 0
    pool = Connections()

    def sender(c: Claimed) -> Result:
        return send(c, pool)

    with db.connect(url, application_name="cachemon-notify") as conn, translated():
        listener = db.connect(url, application_name="cachemon-notify-listen")
        try:
            listener.execute(f"LISTEN {CHANNEL}")
            with (
                _stop_on_signals(stop)
                if threading.current_thread() is threading.main_thread()
                else _nothing()
            ):
                while not stop.is_set():
                    n = process_once(
                        conn, worker, limit=batch, lease_s=lease_s, stop=stop, sender=sender
                    )
                    total += n
                    if on_batch is not None:
                        on_batch(n)
                    if once:
                        break
                    if n:
                        continue
                    _wait(listener, poll_s, stop)
        finally:
            conn.execute("SELECT cachemon.notify_release(%s)", (worker,))
            listener.close()
            pool.close()
    return total


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _wait(listener: Conn, timeout: float, stop: threading.Event) -> None:
    """Until a NOTIFY arrives, stop is set, or timeout passes (checked every 0.2 s)."""
    deadline = time.monotonic() + timeout
    while not stop.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        ready, _, _ = select.select([listener.fileno()], [], [], min(0.2, remaining))
        if ready:
            got = False
            for _ in listener.notifies(timeout=0):
                got = True
            if got:
                return


# -- admin calls -------------------------------------------------------------------------


def parse_matchers(items: list[str] | tuple[str, ...]) -> list[dict[str, str]]:
    """``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex`` -> matcher objects."""
    out = []
    for item in items:
        m = re.fullmatch(r"\s*([a-z_]+)\s*(=~|!~|!=|=)\s*(.*)", item, re.S)
        if not m:
            raise InvalidInput(
                f"matcher {item!r} is not name=value, name!=value, name=~regex or name!~regex"
            )
        value = m.group(3).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
            # No implementation, rule or finding text holds a control character (the tables'
            # CHECKs refuse them), and PostgreSQL's json cannot hold NUL: refused here, named.
            raise InvalidInput(f"matcher {item!r}: its value holds a control character")
        out.append({"name": m.group(1), "op": m.group(2), "value": value})
    return out


def _rows(url: str | None, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with db.connect(url) as conn, translated():
        return conn.execute(query, params).fetchall()


def add_receiver(
    url: str | None,
    *,
    name: str,
    kind: str,
    target: str,
    password: str | None = None,
    options: dict[str, Any] | None = None,
    send_resolved: bool = True,
    allow_private: bool = False,
    timeout_s: float = 10,
    max_attempts: int = 30,
) -> dict[str, Any]:
    """``cachemon.add_receiver``; returns the receiver without secrets."""
    rows = _rows(
        url,
        "SELECT name, kind, endpoint, send_resolved, allow_private, timeout_s, max_attempts,"
        " options FROM cachemon.add_receiver(%(name)s, %(kind)s, %(target)s, %(password)s,"
        " %(options)s, %(send_resolved)s, %(allow_private)s, %(timeout_s)s, %(max_attempts)s)",
        {
            "name": name,
            "kind": kind,
            "target": target,
            "password": password,
            "options": json.dumps(options or {}),
            "send_resolved": send_resolved,
            "allow_private": allow_private,
            "timeout_s": timeout_s,
            "max_attempts": max_attempts,
        },
    )
    return rows[0]


RECEIVER_COLUMNS = "name, kind, endpoint, send_resolved, allow_private, timeout_s, max_attempts"


def list_receivers(url: str | None) -> list[dict[str, Any]]:
    return _rows(url, f"SELECT {RECEIVER_COLUMNS} FROM cachemon.notify_receivers ORDER BY name", {})


def drop_receiver(url: str | None, name: str) -> None:
    _rows(url, "SELECT cachemon.drop_receiver(%(name)s) AS dropped", {"name": name})


ROUTE_COLUMNS = (
    "id, position, receiver, matchers, group_by, group_wait, group_interval,"
    ' repeat_interval, "continue"'
)


def add_route(
    url: str | None,
    *,
    receiver: str,
    matchers: list[dict[str, str]],
    group_by: list[str],
    group_wait: Any,
    group_interval: Any,
    repeat_interval: Any,
    continue_: bool,
    position: int,
) -> dict[str, Any]:
    return _rows(
        url,
        f"SELECT {ROUTE_COLUMNS} FROM cachemon.add_route(%(receiver)s, %(matchers)s,"
        " %(group_by)s, %(group_wait)s, %(group_interval)s, %(repeat_interval)s,"
        " %(continue)s, %(position)s)",
        {
            "receiver": receiver,
            "matchers": json.dumps(matchers),
            "group_by": group_by,
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
            "continue": continue_,
            "position": position,
        },
    )[0]


def list_routes(url: str | None) -> list[dict[str, Any]]:
    return _rows(
        url, f"SELECT {ROUTE_COLUMNS} FROM cachemon.notify_routes ORDER BY position, id", {}
    )


def drop_route(url: str | None, route_id: int) -> None:
    _rows(url, "SELECT cachemon.drop_route(%(id)s) AS dropped", {"id": route_id})


SILENCE_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, expired_by"


def add_silence(
    url: str | None,
    *,
    matchers: list[dict[str, str]],
    duration: Any,
    created_by: str,
    comment: str,
) -> dict[str, Any]:
    return _rows(
        url,
        f"SELECT {SILENCE_COLUMNS} FROM cachemon.add_silence(%(matchers)s,"
        " now() + %(duration)s, %(by)s, %(comment)s)",
        {
            "matchers": json.dumps(matchers),
            "duration": duration,
            "by": created_by,
            "comment": comment,
        },
    )[0]


def list_silences(url: str | None, include_expired: bool = False) -> list[dict[str, Any]]:
    where = "" if include_expired else " WHERE ends_at > now()"
    return _rows(
        url, f"SELECT {SILENCE_COLUMNS} FROM cachemon.notify_silences{where} ORDER BY id", {}
    )


def expire_silence(url: str | None, silence_id: int, expired_by: str) -> dict[str, Any]:
    return _rows(
        url,
        f"SELECT {SILENCE_COLUMNS} FROM cachemon.expire_silence(%(id)s, %(by)s)",
        {"id": silence_id, "by": expired_by},
    )[0]


def list_deliveries(
    url: str | None, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    return _rows(
        url,
        "SELECT d.id, d.receiver, d.status, d.reason, d.observation_ids, d.attempts,"
        " d.created_at, d.due_at, d.delivered_at, d.dead_reason, d.idempotency_key,"
        " (SELECT t.status_code FROM cachemon.notify_attempts AS t"
        "   WHERE t.delivery_id = d.id ORDER BY t.id DESC LIMIT 1) AS last_status,"
        " (SELECT t.error FROM cachemon.notify_attempts AS t"
        "   WHERE t.delivery_id = d.id ORDER BY t.id DESC LIMIT 1) AS last_error"
        " FROM cachemon.notify_deliveries AS d"
        " WHERE %(status)s::text IS NULL OR d.status = %(status)s"
        " ORDER BY d.id DESC LIMIT %(limit)s",
        {"status": status, "limit": limit},
    )


def list_attempts(url: str | None, delivery_id: int) -> list[dict[str, Any]]:
    return _rows(
        url,
        "SELECT attempt, worker, started_at, duration_ms, status_code, error, retry_after_s,"
        " outcome, next_due_at FROM cachemon.notify_attempts WHERE delivery_id = %(id)s"
        " ORDER BY id",
        {"id": delivery_id},
    )


def list_log(url: str | None, finding: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return _rows(
        url,
        "SELECT id, at, observation_id, receiver, stage, outcome, reason, delivery_id"
        " FROM cachemon.notify_log WHERE %(f)s::bigint IS NULL OR observation_id = %(f)s"
        " ORDER BY id DESC LIMIT %(limit)s",
        {"f": finding, "limit": limit},
    )
