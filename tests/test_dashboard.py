"""``cachemon dashboard``: the ASGI app in-process (httpx), a real uvicorn server on
127.0.0.1, and Debian's chromium through Playwright, on a real database.

What a user does: opens the page on demo-like data (recorded through the real collector,
rolled up by tick), reads a number, watches a new minute arrive without reloading,
acknowledges a finding, and is safe from hostile text in the database and from other sites.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from orchestrator.dashboard import DashboardSettings, create_app
from orchestrator.dashboard.live import PAYLOAD_KEYS, Client, identifiers, sse
from orchestrator.dashboard.server import UnsafeBind, check_bind
from orchestrator.demo import NEW
from tests.dashboard_helpers import (
    XSS,
    chromium,
    demo_like,
    record_minutes,
    running_server,
    tick,
)
from tests.tcpproxy import TcpProxy

VERDICT_SIG = "cachemon.migration_verdict(text,text,interval,timestamptz)"
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "dashboard.png"


@pytest.fixture
def data_url(db_url: str) -> str:
    demo_like(db_url)
    return db_url


def _get(app: Any, path: str, **kwargs: Any) -> httpx.Response:
    """One request in-process, with the app's lifespan (its pool and listener) around it."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c,
        ):
            return await c.request(kwargs.pop("method", "GET"), path, **kwargs)

    return asyncio.run(go())


def _sql_latest(url: str, impl: str, metric: str, window: str = "1 hour") -> tuple[datetime, Any]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute(
            f"SELECT bucket, {metric} AS v FROM cachemon.get_timeseries(%s::interval,"
            " '1 minute', %s) ORDER BY bucket DESC LIMIT 1",
            (window, impl),
        ).fetchone()
    assert row is not None
    return row["bucket"], row["v"]


def test_json_twin_is_what_the_sql_functions_return(data_url: str) -> None:
    app = create_app(DashboardSettings(data_url))
    r = _get(app, "/.json?range=1h")
    assert r.status_code == 200, r.text
    state = r.json()
    ts = state["timeseries"]
    assert {"legacy", "new", XSS} <= set(ts["implementations"])
    bucket, value = _sql_latest(data_url, "new", "p95_response_time_ms")
    assert ts["x"][-1] == bucket.timestamp()
    assert ts["series"]["new"]["p95_response_time_ms"][-1] == value
    assert state["verdict"]["available"] is _verdict_exists(data_url)
    assert state["can_acknowledge"] and state["can_resolve"]
    assert [f["implementation_type"] for f in state["findings"]] == [XSS, "new"]
    assert "get_timeseries" in state["sql"]["timeseries"]
    part = _get(app, "/errors.json?range=6h").json()
    assert {e["implementation_type"] for e in part["errors"]} >= {XSS}
    assert "get_error_breakdown" in part["sql"]
    assert _get(app, "/.json?range=2y").status_code == 400
    assert _get(app, "/nothing.json").status_code == 404


def test_headers_host_token_and_cross_site_posts(data_url: str) -> None:
    app = create_app(DashboardSettings(data_url))
    page = _get(app, "/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    # DNS rebinding: without a token only loopback Host headers are served.
    assert _get(app, "/", headers={"host": "evil.example"}).status_code == 421

    settings = DashboardSettings(data_url)
    app = create_app(settings)
    fid = _get(app, "/findings.json").json()["findings"][0]["id"]
    good = {"content-type": "application/json", "x-cachemon-csrf": settings.csrf_token}
    path = f"/findings/{fid}/acknowledge"
    for headers, status in (
        ({"content-type": "application/json"}, 403),  # no CSRF token
        ({**good, "x-cachemon-csrf": "forged"}, 403),
        ({**good, "sec-fetch-site": "cross-site"}, 403),
        ({**good, "origin": "http://evil.example"}, 403),
        ({**good, "content-type": "application/x-www-form-urlencoded"}, 415),
    ):
        r = _get(app, path, method="POST", headers=headers, content=b'{"by": "x"}')
        assert r.status_code == status, (headers, r.text)
    assert _status(data_url, fid) == "open"
    r = _get(
        app,
        path,
        method="POST",
        headers={**good, "origin": "http://127.0.0.1", "sec-fetch-site": "same-origin"},
        content=b'{"by": "alice"}',
    )
    assert r.status_code == 200, r.text
    assert _status(data_url, fid) == "acknowledged"
    assert _get(app, "/findings/1/explode", method="POST", headers=good).status_code == 404

    token = "s3cret-token-0123456789"
    app = create_app(DashboardSettings(data_url, token=token))
    assert _get(app, "/.json").status_code == 401
    assert _get(app, "/.json", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert _get(app, "/.json", headers={"authorization": f"Bearer {token}"}).status_code == 200
    first = _get(app, f"/?token={token}&range=1h")
    assert first.status_code == 303 and first.headers["location"] == "/?range=1h"
    assert "httponly" in first.headers["set-cookie"].lower()
    # The cookie is a session id of this server, never the token (see test_dashboard_load).
    name, value = first.headers["set-cookie"].split(";")[0].split("=", 1)
    assert token not in first.headers["set-cookie"]
    cookie = {"cookie": f"{name}={value}"}
    assert _get(app, "/.json", headers=cookie).status_code == 200
    # With a token, any Host is fine (the server was told to listen beyond loopback).
    assert _get(app, "/.json", headers={**cookie, "host": "dash.internal"}).status_code == 200


def test_refuses_other_addresses_without_a_token(db_url: str) -> None:
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    with pytest.raises(UnsafeBind, match="CACHEMON_DASHBOARD_TOKEN"):
        check_bind("0.0.0.0", None)
    with pytest.raises(UnsafeBind, match="16"):
        check_bind("0.0.0.0", "short")
    check_bind("0.0.0.0", "x" * 16)
    cachemon = Path(sys.executable).parent / "cachemon"
    env = {k: v for k, v in os.environ.items() if k != "CACHEMON_DASHBOARD_TOKEN"}
    proc = subprocess.run(
        [str(cachemon), "dashboard", "--host", "0.0.0.0", "--database-url", db_url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode != 0
    assert "CACHEMON_DASHBOARD_TOKEN" in proc.stderr


def test_a_reader_role_sees_everything_and_acts_on_nothing(data_url: str) -> None:
    with psycopg.connect(data_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS dash_reader_login")
        conn.execute(
            "CREATE ROLE dash_reader_login LOGIN PASSWORD 'reader-pw' IN ROLE cachemon_reader"
        )
    try:
        parts = urlsplit(data_url)
        netloc = f"dash_reader_login:reader-pw@{parts.hostname}:{parts.port}"
        reader_url = urlunsplit(parts._replace(netloc=netloc))
        settings = DashboardSettings(reader_url)
        app = create_app(settings)
        state = _get(app, "/.json?range=1h").json()
        assert state["role"] == "dash_reader_login"
        assert not state["can_acknowledge"] and not state["can_resolve"]
        assert state["errors"] and state["timeseries"]["x"]
        fid = state["findings"][0]["id"]
        r = _get(
            app,
            f"/findings/{fid}/acknowledge",
            method="POST",
            headers={"content-type": "application/json", "x-cachemon-csrf": settings.csrf_token},
            content=b"{}",
        )
        assert r.status_code == 403
    finally:
        with psycopg.connect(data_url, autocommit=True) as conn:
            conn.execute("DROP ROLE dash_reader_login")


def _status(url: str, fid: int) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status FROM cachemon.cache_auditor_observations WHERE id = %s", (fid,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def _verdict_exists(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regprocedure(%s) IS NOT NULL", (VERDICT_SIG,)).fetchone()
    return bool(row and row[0])


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def test_page_in_chromium(data_url: str, browser: Any, tmp_path: Path) -> None:
    """Loads with demo-like data; the latest numbers equal the SQL function's; hostile text
    stays text; the verdict panel equals migration_verdict (or says it is not available);
    a new minute appears without reload; acknowledge changes the row; screenshot."""
    with running_server(DashboardSettings(data_url)) as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        dialogs: list[str] = []

        def dismiss(d: Any) -> None:
            dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dismiss)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(server.base_url + "/?range=1h")
        page.wait_for_selector('#status[data-state="live"]', timeout=15000)
        page.wait_for_selector('[data-metric="hit_rate"][data-impl="new"]', timeout=15000)

        # A number shown for a chart's latest bucket equals the SQL function's value.
        for metric in ("hit_rate", "p95_response_time_ms", "events_per_minute"):
            span = page.locator(f'.latest [data-metric="{metric}"][data-impl="new"]')
            bucket, value = _sql_latest(data_url, "new", metric)
            assert span.get_attribute("data-bucket") == bucket.astimezone(UTC).isoformat(
                timespec="milliseconds"
            ).replace("+00:00", "Z")
            assert float(span.get_attribute("data-value") or "nan") == pytest.approx(
                float(value), rel=1e-12
            )
            digits = {"hit_rate": 2, "p95_response_time_ms": 2, "events_per_minute": 1}[metric]
            assert f"{float(value):,.{digits}f}" in span.inner_text()

        # Hostile text from the database is shown as text, and nothing ran.
        assert page.evaluate("window.__xss") is None
        assert dialogs == []
        assert page.locator("#findings td", has_text=XSS).count() >= 2
        assert page.locator("#errors td.message", has_text=XSS).count() == 1
        assert page.locator("#findings img, #errors img, #charts img").count() == 0
        assert all(u.startswith(server.base_url) for u in requests), requests

        # The verdict panel.
        verdict = page.locator("#verdict")
        if _verdict_exists(data_url):
            with psycopg.connect(data_url, row_factory=dict_row) as conn:
                v = conn.execute(
                    "SELECT * FROM cachemon.migration_verdict('new', 'legacy', '1 hour')"
                ).fetchone()
            assert v is not None
            assert verdict.get_attribute("data-verdict") == v["verdict"]
            assert page.locator('#verdict [data-field="evidence"]').inner_text() == v["evidence"]
            shown = page.locator("#verdict-metrics tbody tr")
            assert shown.count() == len(v["metrics"])
            for i, m in enumerate(v["metrics"]):
                row = shown.nth(i)
                assert row.get_attribute("data-metric") == m["metric"]
                assert row.get_attribute("data-classification") == m["classification"]
        else:
            assert verdict.get_attribute("data-verdict") == "unavailable"
            assert "not available" in verdict.inner_text()

        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        if os.environ.get("CACHEMON_WRITE_SCREENSHOT"):
            page.screenshot(path=str(SCREENSHOT), full_page=True)

        # After an ingest and a tick the new minute appears without reload.
        marker = page.evaluate("document.body.dataset.renderedAt")
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        record_minutes(data_url, now, 1, {"new": NEW}, seed=11)
        with psycopg.connect(data_url, autocommit=True, row_factory=dict_row) as conn:
            tick(conn)
        want = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        _wait(
            lambda: page.evaluate("document.body.dataset.lastBucket") >= want,
            8,
            "the new minute on the page",
        )
        assert page.evaluate("document.body.dataset.renderedAt") != marker
        # What reached the page over SSE is the notification's identifiers, nothing more.
        _wait(lambda: page.evaluate("document.body.dataset.lastNotify"), 5, "a notify event")
        notified = json.loads(page.evaluate("document.body.dataset.lastNotify"))
        assert notified["topic"] in ("cachemon:metrics_1min", "cachemon:observations")
        assert set(notified) <= set(PAYLOAD_KEYS)
        latest = page.locator('.latest [data-metric="hit_rate"][data-impl="new"]')
        bucket, value = _sql_latest(data_url, "new", "hit_rate")
        assert latest.get_attribute("data-bucket") == want
        assert float(latest.get_attribute("data-value") or "nan") == pytest.approx(float(value))

        # Acknowledge changes the row in the database (and the page follows).
        row = page.locator("#findings tr", has_text="hit_rate_drop")
        fid = int(row.get_attribute("data-finding") or 0)
        page.fill("#by", "alice")
        row.locator('button[data-action="acknowledge"]').click()
        _wait(lambda: _status(data_url, fid) == "acknowledged", 8, "the acknowledgement")
        page.wait_for_selector(f'#findings tr[data-finding="{fid}"][data-status="acknowledged"]')
        with psycopg.connect(data_url) as owner:
            by = owner.execute(
                "SELECT acknowledged_by FROM cachemon.cache_auditor_observations WHERE id = %s",
                (fid,),
            ).fetchone()
        assert by == ("alice",)
        assert errors == []
        page.close()


def test_page_survives_the_database_going_away(data_url: str, browser: Any) -> None:
    proxy = TcpProxy(data_url)
    try:
        with running_server(DashboardSettings(proxy.url, debounce=0.05)) as server:
            page = browser.new_page()
            page.goto(server.base_url + "/?range=1h")
            page.wait_for_selector('#status[data-state="live"]', timeout=15000)
            proxy.cut()
            page.wait_for_selector('#status[data-state="down"]', timeout=15000)
            assert "reconnecting" in page.locator("#banner").inner_text()
            proxy.restore()
            page.wait_for_selector('#status[data-state="live"]', timeout=20000)
            assert page.locator("#banner").is_hidden()
            # Live again: a new finding shows without reload.
            with psycopg.connect(data_url, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO cachemon.cache_auditor_observations"
                    " (implementation_type, rule, severity, category, message)"
                    " VALUES ('new', 'after_restart', 'info', 'anomaly', 'back again')"
                )
            page.wait_for_selector("#findings td:text('after_restart')", timeout=8000)
            page.close()
    finally:
        proxy.close()


def test_first_render_with_an_hour_of_data_is_quick(data_url: str, browser: Any) -> None:
    """Not a timing assertion (see benchmarks/bench_dashboard.py): the page renders and its
    timeseries JSON is small enough to draw at once."""
    with running_server(DashboardSettings(data_url)) as server:
        page = browser.new_page()
        started = time.monotonic()
        page.goto(server.base_url + "/?range=30d")
        page.wait_for_selector('[data-metric="hit_rate"][data-impl="legacy"]', timeout=15000)
        assert time.monotonic() - started < 15
        assert page.locator(".chart").count() == 7
        page.close()


def test_demo_live_plays_with_the_dashboard_serving(empty_db_url: str) -> None:
    """`cachemon demo --live` (its player, sped up): the page answers while the minutes play,
    and the findings the story opens show up on it. An empty database: the demo writes only
    into one it owns."""
    from orchestrator.dashboard.demo_live import run_live

    lines: list[str] = []
    seen: list[dict[str, Any]] = []
    thread = threading.Thread(
        target=run_live,
        args=(empty_db_url,),
        kwargs={
            "say": lines.append,
            "port": 0,
            "baseline_hours": 2,
            "live_minutes": 36,
            "seconds_per_minute": 0.25,
            "keep_serving": False,
        },
        daemon=True,
    )
    thread.start()
    try:
        _wait(lambda: any("dashboard: http" in x for x in lines), 120, "the dashboard line")
        page = next(x for x in lines if "dashboard: http" in x).split()[1]
        base = page.split("/?")[0]
        while thread.is_alive():
            try:
                r = httpx.get(base + "/.json?range=6h", timeout=10)
            except httpx.ConnectError:
                break  # the play ended and stopped the server (keep_serving=False)
            if r.status_code == 200:
                seen.append(r.json())
            time.sleep(1)
    finally:
        thread.join(timeout=120)
    assert not thread.is_alive()
    assert len(seen) >= 3
    assert len(seen[-1]["timeseries"]["x"]) > len(seen[0]["timeseries"]["x"])
    assert any("opened" in x for x in lines), lines


def test_notification_payloads_reach_pages_as_identifiers_only() -> None:
    full = (
        '{"topic":"cachemon:metrics_1min","table":"cache_metrics_1min","op":"UPDATE",'
        '"bucket":"2026-11-29T10:00:00+00:00","implementation_type":"new","hit_rate":80.1,'
        '"message":"secret"}'
    )
    assert identifiers(full) == {
        "topic": "cachemon:metrics_1min",
        "table": "cache_metrics_1min",
        "op": "UPDATE",
        "bucket": "2026-11-29T10:00:00+00:00",
        "implementation_type": "new",
    }
    assert identifiers("not json") == {}
    assert identifiers("[1, 2]") == {}
    client = Client("1h")
    client.put("notify", sse("notify", {"id": 42, "topic": "cachemon:observations"}))
    assert client.take() == b'event: notify\ndata: {"id":42,"topic":"cachemon:observations"}\n\n'
    for i in range(150):  # a page that does not read keeps only the newest of each kind
        client.put("notify", sse("notify", {"id": i}))
        client.put("state", sse("state", {"n": i}))
    assert client.take() == sse("notify", {"id": 149}) + sse("state", {"n": 149})
    assert client.take() is None


STUB_VERDICT = """
CREATE OR REPLACE FUNCTION cachemon.migration_verdict(candidate text DEFAULT 'new',
    reference text DEFAULT 'legacy', time_window interval DEFAULT '1 hour',
    p_now timestamptz DEFAULT now())
RETURNS TABLE (candidate text, reference text, window_start timestamptz,
    window_end timestamptz, verdict text, score numeric, evidence text, metrics jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT candidate, reference, p_now - time_window, p_now, 'marginal'::text, 66.7,
    'new is worse on p95 <img src=x onerror=window.__xss=1>'::text,
    '[{"metric":"hit_rate","classification":"better","candidate_value":82.1,
       "reference_value":78.0,"effect":4.1,"ci_low":3.2,"ci_high":5.0,"tolerance":1,
       "unit":"%","candidate_n":1000,"reference_n":1000,"note":null},
      {"metric":"p95_response_time_ms","classification":"worse","candidate_value":61.5,
       "reference_value":45.2,"effect":0.36,"ci_low":0.2,"ci_high":0.5,"tolerance":0.25,
       "unit":"ms","candidate_n":1000,"reference_n":1000,"note":"<b>slower</b>"}]'::jsonb $$;
COMMENT ON FUNCTION cachemon.migration_verdict(text, text, interval, timestamptz) IS 'stub';
"""


@pytest.mark.parametrize("which", ["real", "hostile stand-in"])
def test_verdict_panel_equals_the_function(data_url: str, browser: Any, which: str) -> None:
    """The panel shows what cachemon.migration_verdict returns: the real function on the
    demo-like data, and a stand-in of the same signature whose evidence and notes carry
    markup (it must stay text)."""
    assert _verdict_exists(data_url)
    if which == "hostile stand-in":
        with psycopg.connect(data_url, autocommit=True) as conn:
            conn.execute(STUB_VERDICT)
    with psycopg.connect(data_url, row_factory=dict_row) as conn:
        v = conn.execute(
            "SELECT * FROM cachemon.migration_verdict('new', 'legacy', '1 hour')"
        ).fetchone()
    assert v is not None
    with running_server(DashboardSettings(data_url)) as server:
        page = browser.new_page()
        page.goto(server.base_url + "/?range=1h")
        page.wait_for_selector('#verdict[data-verdict]:not([data-verdict="unavailable"])')
        assert page.locator("#verdict").get_attribute("data-verdict") == v["verdict"]
        assert page.locator('#verdict [data-field="evidence"]').inner_text() == v["evidence"]
        assert page.locator('#verdict [data-field="score"]').inner_text() == (
            f"score {float(v['score']):,.0f}"
        )
        rows = page.locator("#verdict-metrics tbody tr")
        assert rows.count() == len(v["metrics"])
        for i, m in enumerate(v["metrics"]):
            row = rows.nth(i)
            assert row.get_attribute("data-metric") == m["metric"]
            assert row.get_attribute("data-classification") == m["classification"]
            cells = row.locator("td")
            if m["candidate_value"] is not None:
                assert cells.nth(2).inner_text() == f"{float(m['candidate_value']):,.2f}"
            if m["note"] is not None:
                assert cells.nth(7).inner_text() == m["note"]
        assert page.evaluate("window.__xss") is None
        assert page.locator("#verdict img, #verdict b").count() == 0
        page.close()


def test_cachemon_dashboard_command_serves_and_stops(data_url: str) -> None:
    """The console script: prints its URL, serves the JSON twin, stops on Ctrl-C (SIGINT)."""
    cachemon = Path(sys.executable).parent / "cachemon"
    env = {k: v for k, v in os.environ.items() if k != "CACHEMON_DASHBOARD_TOKEN"}
    env["CACHEMON_DATABASE_URL"] = data_url
    env["CACHEMON_DASHBOARD_PORT"] = "0"
    proc = subprocess.Popen(
        [str(cachemon), "dashboard"], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "cachemon dashboard on http://127.0.0.1:" in line, line
        base = line.split()[3].rstrip("/")
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(base + "/findings.json", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert r.status_code == 200
        assert r.json()["findings"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_a_failing_verdict_is_shown_not_fatal(data_url: str) -> None:
    # The real function, replaced by one that fails the way a bug would.
    failing = STUB_VERDICT.split("AS $$")[0] + (
        "AS $$ SELECT candidate, reference, p_now, p_now, (1/0)::text, 0::numeric, '',"
        " '[]'::jsonb $$;"
    )
    with psycopg.connect(data_url, autocommit=True) as conn:
        conn.execute(failing)
    state = _get(create_app(DashboardSettings(data_url)), "/.json?range=1h").json()
    assert state["verdict"]["available"] is True
    assert "division by zero" in state["verdict"]["error"]
    assert state["timeseries"]["x"]
