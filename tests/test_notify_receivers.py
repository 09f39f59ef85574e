"""E-mail through a real SMTP server (aiosmtpd on 127.0.0.1, with and without STARTTLS) and
Slack's payload against its limits; hostile finding texts arrive inert."""

from __future__ import annotations

import re
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import notify
from tests.notify_helpers import Conn, at, deliveries, flush, http_receiver, open_finding, route

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

HOSTILE_IMPL = "redis\r\nBcc: evil@example.org\r\nX-Injected: 1"
HOSTILE_MESSAGE = "<script>alert(1)</script> *bold* <!channel> <http://evil.example|click> `x`"


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture(params=["plain", "starttls"])
def smtp(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import ssl

    sink = Sink()
    kwargs: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="cachemon-smtp-"))
    if request.param == "starttls":
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem"),
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
        kwargs = {"tls_context": context, "require_starttls": True}
        # the worker verifies certificates against the default store: trust this one
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp / "cert.pem"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = aiosmtpd_controller.Controller(sink, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield request.param, controller.port, sink
    finally:
        controller.stop()


def test_email_says_what_where_how_bad_and_stays_inert(conn: Conn, smtp: Any) -> None:
    mode, port, sink = smtp
    query = "?starttls=1" if mode == "starttls" else ""
    conn.execute(
        "SELECT name FROM cachemon.add_receiver('mail', 'email', %s, p_options => %s,"
        " p_allow_private => true)",
        (
            f"smtp://127.0.0.1:{port}{query}",
            '{"from": "cachemon@example.org", "to": ["oncall@example.org"],'
            ' "dashboard_url": "http://127.0.0.1:8050"}',
        ),
    )
    route(conn, "mail")
    f = open_finding(conn, at(0), impl=HOSTILE_IMPL, message=HOSTILE_MESSAGE)
    flush(conn, at(30))
    notify.process_once(conn, "w1")
    assert deliveries(conn)[0]["status"] == "delivered", conn.execute(
        "SELECT error FROM cachemon.notify_attempts"
    ).fetchall()
    ((rcpts, raw),) = sink.messages
    assert rcpts == ["oncall@example.org"]
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["Subject"])
    assert "warning hit_rate_drop" in str(msg["Subject"])
    key = str(deliveries(conn)[0]["idempotency_key"])
    assert msg["Message-ID"] == f"<{key}@cachemon>"
    text = msg.get_body(("plain",))
    html_part = msg.get_body(("html",))
    assert text is not None and html_part is not None
    body = text.get_content()
    for needle in ("What:", "Where:", "How bad: warning", "Since:", "Evidence:", "baseline 0.83",
                   "Recommendation: check the eviction policy",
                   f"Finding: http://127.0.0.1:8050/?finding={f}"):  # fmt: skip
        assert needle in body, needle
    html = html_part.get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_slack_payload_stays_within_limits_and_mrkdwn_is_inert(conn: Conn) -> None:
    with http_receiver() as hook:
        conn.execute(
            "SELECT name FROM cachemon.add_receiver('slack', 'slack', %s, p_allow_private => true)",
            (hook.url,),
        )
        route(conn, "slack", group_by=["implementation"])
        for i in range(60):
            open_finding(conn, at(0), rule=f"rule_{i}", message=(HOSTILE_MESSAGE + " ") * 25)
        flush(conn, at(30))
        notify.process_once(conn, "w1")
    (got,) = hook.received
    body = got.json()
    blocks = body["blocks"]
    assert len(blocks) <= notify.SLACK_MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) <= notify.SLACK_HEADER_CHARS
    sections = [b for b in blocks if b["type"] == "section"]
    assert sections and all(len(b["text"]["text"]) <= notify.SLACK_SECTION_CHARS for b in sections)
    assert "more findings" in blocks[-1]["elements"][0]["text"]
    text = "".join(b["text"]["text"] for b in sections)
    assert "<!channel>" not in text and "<http://evil" not in text
    assert "&lt;!channel&gt;" in text
    assert "*bold*" not in text  # formatting characters are neutralised
    assert len(got.body) < 40_000 * 4


def _payload(impl: str, message: str, n: int = 1) -> dict[str, Any]:
    finding = {
        "id": 1,
        "implementation_type": impl,
        "rule": "hit_rate_drop",
        "category": "performance",
        "severity": "warning",
        "state": "firing",
        "message": message,
        "recommendation": message,
        "first_seen_at": "2026-01-01T00:00:00Z",
        "observed_value": 0.5,
        "evidence": {"window": message},
        "link": "http://127.0.0.1:8421/?finding=1",
    }
    return {"alerts": [], "cachemon": {"findings": [finding] * n, "dashboard": None}}


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=64), st.text(max_size=3000), st.integers(1, 60))
def test_any_finding_text_renders_inert_and_within_limits(impl: str, message: str, n: int) -> None:
    slack = notify.render_slack(_payload(impl, message, n))
    assert len(slack["blocks"]) <= notify.SLACK_MAX_BLOCKS
    assert len(slack["blocks"][0]["text"]["text"]) <= notify.SLACK_HEADER_CHARS
    for block in slack["blocks"][1:]:
        if block["type"] == "section":
            text = block["text"]["text"]
            assert len(text) <= notify.SLACK_SECTION_CHARS
            # the only < > left are cachemon's own link
            stripped = text.replace("<http://127.0.0.1:8421/?finding=1|open>", "")
            assert "<" not in stripped and ">" not in stripped
    msg = notify.render_email(
        _payload(impl, message), {"from": "a@example.org", "to": ["b@example.org"]}, uuid.uuid4()
    )
    raw = msg.as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None and parsed["To"] == "b@example.org"
    assert "\n" not in str(parsed["Subject"]) and "\r" not in str(parsed["Subject"])
    html_part = parsed.get_body(("html",))
    assert html_part is not None
    # every tag left is one of cachemon's own: the finding's text is escaped
    ours = re.sub(
        r"</?(html|body|table|tr|th|td|hr|p)( align='left')?>", "", html_part.get_content()
    )
    assert "<" not in ours and ">" not in ours
