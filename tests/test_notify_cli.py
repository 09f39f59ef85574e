"""``cachemon notify``: what an operator types, end to end on a real database and receiver;
secrets never printed; refusals are one line with the field and value."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import notify
from orchestrator.cli import main
from tests.notify_helpers import Conn, at, flush, http_receiver, open_finding

SECRET = "T000/B000/SUPERSECRET"


def _cli(db_url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        main, list(args), env={"CACHEMON_DATABASE_URL": db_url, **(env or {})}
    )


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_an_operator_sets_up_a_receiver_route_and_silence(conn: Conn, db_url: str) -> None:
    with http_receiver() as hook:
        url = f"{hook.url}/services/{SECRET}"
        added = _json(
            _cli(
                db_url,
                "notify", "receiver", "add", "team", "--kind", "webhook", "--allow-private",
                "--dashboard-url", "http://127.0.0.1:8421/", "--json",
                env={"CACHEMON_NOTIFY_URL": url},
            )
        )  # fmt: skip
        assert added[0]["endpoint"] == f"http://127.0.0.1:{hook.port}"
        route = _json(
            _cli(db_url, "notify", "route", "add", "--receiver", "team",
                 "--match", "severity=~warning|critical", "--group-wait", "10s", "--json")
        )  # fmt: skip
        assert route[0]["matchers"] == [
            {"name": "severity", "op": "=~", "value": "warning|critical"}
        ]
        assert route[0]["group_wait"] == 10.0 and route[0]["repeat_interval"] == 14400.0
        silence = _json(
            _cli(db_url, "notify", "silence", "add", "--match", "implementation=legacy",
                 "--by", "alice", "--comment", "migration", "--duration", "1h", "--json")
        )  # fmt: skip
        assert len(_json(_cli(db_url, "notify", "silence", "list", "--json"))) == 1
        _json(_cli(db_url, "notify", "silence", "expire", str(silence[0]["id"]), "--by", "bob",
                   "--json"))  # fmt: skip
        assert _json(_cli(db_url, "notify", "silence", "list", "--json")) == []

        f = open_finding(conn, at(0))
        flush(conn, at(10))
        notify.process_once(conn, "w1")
        (d,) = _json(_cli(db_url, "notify", "deliveries", "--json"))
        assert d["status"] == "delivered" and d["last_status"] == 200
        (a,) = _json(_cli(db_url, "notify", "attempts", str(d["id"]), "--json"))
        assert a["outcome"] == "delivered"
        logged = _json(_cli(db_url, "notify", "log", "--finding", str(f), "--json"))
        assert {r["stage"] for r in logged} == {"route", "send"}
        assert hook.received[0].path.endswith(SECRET)
        link = hook.received[0].json()["alerts"][0]["generatorURL"]
        assert link == f"http://127.0.0.1:8421/?finding={f}"
        # nothing the CLI prints carries the secret
        for args in (["receiver", "list"], ["deliveries"], ["log"], ["route", "list"]):
            for fmt in ([], ["--json"]):
                out = _cli(db_url, "notify", *args, *fmt)
                assert out.exit_code == 0 and SECRET not in out.output


def test_refusals_are_one_line(db_url: str) -> None:
    out = _cli(db_url, "notify", "receiver", "add", "x", "--kind", "webhook",
               "--url", "http://169.254.169.254/latest/meta-data")  # fmt: skip
    assert out.exit_code == 17
    assert "169.254.169.254 is a private, loopback, link-local or metadata address" in out.output
    assert len(out.output.strip().splitlines()) <= 2 and "Traceback" not in out.output
    out = _cli(db_url, "notify", "route", "add", "--receiver", "nobody")
    assert out.exit_code == 18 and "receiver nobody does not exist" in out.output
    out = _cli(db_url, "notify", "silence", "add", "--match", "host=x", "--by", "a",
               "--comment", "b")  # fmt: skip
    assert out.exit_code == 17 and "bad matcher" in out.output


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["implementation", "rule", "severity", "category", "host", ""]),
            st.sampled_from(["=", "!=", "=~", "!~", "==", ""]),
            st.text(max_size=30),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_any_matcher_text_is_stored_exactly_or_refused_cleanly(
    conn: Conn, items: list[tuple[str, str, str]]
) -> None:
    import psycopg

    conn.execute("SELECT cachemon.add_receiver('h', 'webhook', 'https://example.org/')")
    texts = [f"{n}{op}{v}" for n, op, v in items]
    try:
        matchers = notify.parse_matchers(texts)
    except ValueError:
        return
    try:
        row = conn.execute(
            "SELECT matchers FROM cachemon.add_route('h', %s)", (json.dumps(matchers),)
        ).fetchone()
    except psycopg.errors.InvalidParameterValue:
        return
    assert row is not None and row["matchers"] == matchers
    # a stored matcher never makes routing fail
    conn.execute(
        'SELECT cachemon._notify_matches(%s, \'{"implementation": "x"}\')',
        (json.dumps(matchers),),
    )
