"""The dashboard's alerts panel: the notification log and silences from /notify.json, a
silence created and expired by an admin in a real page (Debian's chromium), the POSTs refused
cross-site like acknowledge, hostile texts inert, no secret shown."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from orchestrator import notify
from orchestrator.dashboard.app import DashboardSettings, create_app
from tests.dashboard_helpers import XSS, chromium, running_server
from tests.notify_helpers import Conn, at, flush, http_receiver, open_finding, receiver, route

SECRET = "SUPERSECRETTOKEN"


def _req(app: Any, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.request(kwargs.pop("method", "GET"), path, **kwargs)

    return asyncio.run(go())


def _sent(conn: Conn) -> None:
    with http_receiver() as hook:
        receiver(conn, url=f"{hook.url}/{SECRET}")
        route(conn)
        open_finding(conn, at(0), impl=XSS)
        flush(conn, at(30))
        notify.process_once(conn, "w1")


def test_notify_json_and_silence_posts_are_protected(conn: Conn, db_url: str) -> None:
    _sent(conn)
    settings = DashboardSettings(db_url)
    app = create_app(settings)
    r = _req(app, "/notify.json")
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["deliveries"][0]["status"] == "delivered" and data["can_silence"]
    assert "sql" in data and SECRET not in r.text
    good = {"content-type": "application/json", "x-cachemon-csrf": settings.csrf_token}
    body = b'{"matchers": ["implementation=redis"], "minutes": 30, "comment": "x", "by": "a"}'
    for headers, status in (
        ({"content-type": "application/json"}, 403),
        ({**good, "x-cachemon-csrf": "forged"}, 403),
        ({**good, "sec-fetch-site": "cross-site"}, 403),
        ({**good, "origin": "http://evil.example"}, 403),
        ({**good, "content-type": "text/plain"}, 415),
    ):
        r = _req(app, "/silences", method="POST", headers=headers, content=body)
        assert r.status_code == status, (headers, r.text)
    assert conn.execute("SELECT count(*) AS n FROM cachemon.notify_silences").fetchone() == {"n": 0}
    bad = _req(
        app,
        "/silences",
        method="POST",
        headers=good,
        content=b'{"matchers": ["host=x"], "comment": "c"}',
    )
    assert bad.status_code == 400 and "matcher" in bad.json()["error"]
    r = _req(app, "/silences", method="POST", headers=good, content=body)
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    r = _req(app, f"/silences/{sid}/expire", method="POST", headers=good, content=b'{"by": "b"}')
    assert r.status_code == 200 and r.json()["expired_by"] == "b"
    assert _req(app, "/notify.json").json()["silences"] == []


def test_admin_silences_and_expires_in_the_page(conn: Conn, db_url: str) -> None:
    _sent(conn)
    with running_server(DashboardSettings(db_url)) as server, chromium() as browser:
        page = browser.new_page()
        page.goto(server.base_url + "/?range=1h")
        page.wait_for_selector("#deliveries tbody tr[data-status=delivered]")
        assert SECRET not in page.content()
        page.fill("#silence-matchers", "implementation=new severity=~warning|critical")
        page.fill("#silence-comment", XSS)
        page.click("#silence-add")
        row = page.wait_for_selector("#silences tbody tr[data-silence]")
        assert row is not None
        assert XSS in row.inner_text()  # shown as text
        assert page.evaluate("window.__xss") is None  # never run
        stored = conn.execute("SELECT matchers, comment FROM cachemon.notify_silences").fetchone()
        assert stored is not None and stored["comment"] == XSS
        assert stored["matchers"][1] == {
            "name": "severity",
            "op": "=~",
            "value": "warning|critical",
        }
        page.click("#silences [data-action=expire]")
        page.wait_for_selector("#silences-empty", state="visible")
        left = conn.execute(
            "SELECT count(*) AS n FROM cachemon.notify_silences WHERE ends_at > now()"
        ).fetchone()
        assert left == {"n": 0}
