"""The notification pipeline (notify_flush) as Alertmanager documents its stages: group_wait,
group_interval, repeat_interval, send_resolved, silences, inhibition, routes with continue;
every suppressed state change says why in notify_log. Findings change through the real table
and its trigger; times are controlled (p_now)."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from tests.notify_helpers import (
    BASE,
    Conn,
    acknowledge,
    at,
    change_severity,
    deliveries,
    flush,
    log,
    open_finding,
    receiver,
    resolve,
    route,
    seen_again,
    states,
)


@pytest.fixture
def hooked(conn: Conn) -> Conn:
    receiver(conn)
    route(conn)
    return conn


def test_open_escalate_resolve_is_three_messages_at_alertmanagers_times(hooked: Conn) -> None:
    f = open_finding(hooked, at(0))
    flush(hooked, at(29))
    assert deliveries(hooked) == [], "sent before group_wait (30 s)"
    flush(hooked, at(30))
    assert states(hooked) == [[(f, "firing", "warning")]]
    seen_again(hooked, f, at(60))
    change_severity(hooked, f, "critical", at(120))
    flush(hooked, at(329))
    assert len(deliveries(hooked)) == 1, "a change went out before group_interval (5 min)"
    flush(hooked, at(330))
    assert states(hooked)[-1] == [(f, "firing", "critical")]
    resolve(hooked, f, at(400))
    flush(hooked, at(700))
    assert states(hooked)[-1] == [(f, "resolved", "critical")]
    assert [d["created_at"] for d in deliveries(hooked)] == [at(30), at(330), at(630)]
    # the group is gone once its last finding resolved and was told
    assert hooked.execute("SELECT count(*) AS n FROM cachemon.notify_groups").fetchone() == {"n": 0}
    payload = deliveries(hooked)[0]["payload"]
    assert payload["version"] == "4" and payload["status"] == "firing"
    assert payload["groupLabels"] == {"implementation": "redis", "rule": "hit_rate_drop"}
    alert = payload["alerts"][0]
    assert alert["labels"]["alertname"] == "cachemon_hit_rate_drop"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert payload["cachemon"]["findings"][0]["baseline_value"] == 0.83
    assert payload["cachemon"]["findings"][0]["evidence"]["window"] == "15 minutes"


def test_flapping_within_group_wait_sends_nothing_and_says_why(hooked: Conn) -> None:
    f = open_finding(hooked, at(0))
    resolve(hooked, f, at(10))
    flush(hooked, at(3600))
    assert deliveries(hooked) == []
    reasons = [(r["stage"], r["outcome"]) for r in log(hooked, f)]
    assert reasons == [("route", "grouped"), ("route", "grouped"), ("resolve", "suppressed")]
    assert "before its firing message was sent" in log(hooked, f)[-1]["reason"]


def test_late_flush_gives_the_same_messages_as_a_punctual_one(hooked: Conn) -> None:
    # The worker was down: a finding that fired for ten minutes still gets its firing and
    # its resolved message, each stamped with its own flush time.
    f = open_finding(hooked, at(0))
    resolve(hooked, f, at(600))
    flush(hooked, at(3600))
    assert states(hooked) == [[(f, "firing", "warning")], [(f, "resolved", "warning")]]
    assert [d["created_at"] for d in deliveries(hooked)] == [at(30), at(630)]


def test_repeat_interval_reminds_and_acknowledgement_stops_reminders(hooked: Conn) -> None:
    f = open_finding(hooked, at(0))
    flush(hooked, at(30 + 4 * 3600 - 1))
    assert len(deliveries(hooked)) == 1
    flush(hooked, at(30 + 4 * 3600))
    assert [d["reason"] for d in deliveries(hooked)] == ["changed", "repeat"]
    acknowledge(hooked, f, at(5 * 3600))
    flush(hooked, at(9 * 3600))
    assert len(deliveries(hooked)) == 2, "an acknowledged finding was repeated"
    assert any("acknowledged by alice" in r["reason"] for r in log(hooked, f))


def test_grouping_puts_findings_of_one_group_in_one_message(conn: Conn) -> None:
    receiver(conn)
    route(conn, group_by=["implementation"])
    a = open_finding(conn, at(0), rule="hit_rate_drop")
    b = open_finding(conn, at(10), rule="error_rate")
    c = open_finding(conn, at(5), impl="memcached")
    flush(conn, at(34))
    assert states(conn) == [[(a, "firing", "warning"), (b, "firing", "warning")]]
    flush(conn, at(35))
    assert sorted(states(conn), key=len) == [
        [(c, "firing", "warning")],
        [(a, "firing", "warning"), (b, "firing", "warning")],
    ]
    # b resolves, a still fires: the next message carries both, b resolved
    resolve(conn, b, at(100))
    flush(conn, at(330))
    assert len(states(conn)) == 3
    assert states(conn)[-1] == [(a, "firing", "warning"), (b, "resolved", "warning")]


def test_silence_mid_incident_mutes_repeats_but_not_the_resolved_message(hooked: Conn) -> None:
    f = open_finding(hooked, at(0))
    flush(hooked, at(60))
    assert len(deliveries(hooked)) == 1
    hooked.execute(
        "SELECT id FROM cachemon.add_silence(%s, %s, 'bob', 'migration window', NULL, %s)",
        ('[{"name": "implementation", "op": "=", "value": "redis"}]', at(86400), at(60)),
    )
    change_severity(hooked, f, "critical", at(100))
    flush(hooked, at(9 * 3600))
    assert len(deliveries(hooked)) == 1, "a silenced finding was notified"
    muted = [r for r in log(hooked, f) if r["stage"] == "silence"]
    assert muted and "silenced by silence #" in muted[0]["reason"]
    assert "migration window" in muted[0]["reason"]
    resolve(hooked, f, at(9 * 3600 + 10))
    flush(hooked, at(10 * 3600))
    assert states(hooked)[-1] == [(f, "resolved", "critical")], "the resolved message was muted"


def test_finding_born_silenced_sends_nothing_even_when_it_resolves(hooked: Conn) -> None:
    hooked.execute(
        "SELECT id FROM cachemon.add_silence(%s, %s, 'bob', 'known', NULL, %s)",
        ('[{"name": "rule", "op": "=~", "value": "hit_.*"}]', at(3600), at(0)),
    )
    f = open_finding(hooked, at(0))
    resolve(hooked, f, at(1200))
    flush(hooked, at(3600))
    assert deliveries(hooked) == []
    stages = [r["stage"] for r in log(hooked, f) if r["outcome"] == "suppressed"]
    assert stages == ["silence", "resolve"]


def test_silence_expires_by_itself(hooked: Conn) -> None:
    hooked.execute(
        "SELECT id FROM cachemon.add_silence(%s, %s, 'bob', 'short', NULL, %s)",
        ('[{"name": "implementation", "op": "=", "value": "redis"}]', at(600), at(0)),
    )
    f = open_finding(hooked, at(0))
    flush(hooked, at(599))
    assert deliveries(hooked) == []
    flush(hooked, at(930))
    assert states(hooked) == [[(f, "firing", "warning")]]


def test_expire_silence_ends_it_now(hooked: Conn) -> None:
    sid = hooked.execute(
        "SELECT id FROM cachemon.add_silence(%s, %s, 'bob', 'long', NULL, %s)",
        ('[{"name": "implementation", "op": "=", "value": "redis"}]', at(86400), at(0)),
    ).fetchone()
    assert sid is not None
    f = open_finding(hooked, at(0))
    flush(hooked, at(100))
    hooked.execute("SELECT id FROM cachemon.expire_silence(%s, 'carol', %s)", (sid["id"], at(200)))
    flush(hooked, at(330))
    assert states(hooked) == [[(f, "firing", "warning")]]


def test_critical_finding_inhibits_warnings_of_its_implementation(hooked: Conn) -> None:
    w = open_finding(hooked, at(0), rule="error_rate", severity="warning")
    other = open_finding(hooked, at(0), impl="memcached", rule="error_rate", severity="warning")
    open_finding(hooked, at(0), rule="hit_rate_drop", severity="critical")
    flush(hooked, at(30))
    sent = {a[0] for s in states(hooked) for a in s}
    assert w not in sent and other in sent
    inhibited = [r for r in log(hooked, w) if r["stage"] == "inhibit"]
    assert inhibited and "inhibited by finding #" in inhibited[0]["reason"]


def test_routes_match_in_order_and_continue(conn: Conn) -> None:
    receiver(conn, "pager")
    receiver(conn, "team")
    route(
        conn,
        "pager",
        matchers=[{"name": "severity", "op": "=", "value": "critical"}],
        position=1,
        **{"continue": True},
    )
    route(
        conn,
        "team",
        matchers=[{"name": "implementation", "op": "!=", "value": "legacy"}],
        position=2,
    )
    crit = open_finding(conn, at(0), severity="critical")
    warn = open_finding(conn, at(0), impl="memcached", rule="error_rate")
    legacy = open_finding(conn, at(0), impl="legacy")
    flush(conn, at(30))
    got = {(d["receiver"], tuple(d["observation_ids"])) for d in deliveries(conn)}
    assert got == {("pager", (crit,)), ("team", (crit,)), ("team", (warn,))}
    assert [r["outcome"] for r in log(conn, legacy)] == ["unrouted"]


def test_send_resolved_off_drops_the_resolved_message(conn: Conn) -> None:
    receiver(conn, send_resolved=False)
    route(conn)
    f = open_finding(conn, at(0))
    flush(conn, at(30))
    resolve(conn, f, at(60))
    flush(conn, at(400))
    assert states(conn) == [[(f, "firing", "warning")]]
    assert "send_resolved off" in log(conn, f)[-1]["reason"]


def test_bad_configuration_is_refused_with_field_and_value(conn: Conn) -> None:
    receiver(conn)
    bad = [
        (
            'SELECT cachemon.add_route(\'hook\', \'[{"name": "host", "op": "=", "value": "x"}]\')',
            "bad matcher",
        ),
        (
            'SELECT cachemon.add_route(\'hook\', \'[{"name": "rule", "op": "=~", "value": "("}]\')',
            "invalid regular expression",
        ),
        ("SELECT cachemon.add_route('hook', p_group_by => '{severity}')", "group_by"),
        ("SELECT cachemon.add_route('hook', p_repeat_interval => '1 minute')", "repeat_interval"),
        ("SELECT cachemon.add_route('nobody')", "does not exist"),
        ("SELECT cachemon.add_silence('[]', now() + interval '1 hour', 'a', 'b')", "matcher"),
        (
            'SELECT cachemon.add_silence(\'[{"name": "rule", "op": "=", "value": "x"}]\','
            " now() - interval '1 hour', 'a', 'b')",
            "must end after",
        ),
        (
            "SELECT cachemon.add_receiver('Bad Name', 'webhook', 'https://example.org/')",
            "receiver name",
        ),
        ("SELECT cachemon.add_receiver('x', 'pager', 'https://example.org/')", "kind"),
        ("SELECT cachemon.add_receiver('x', 'email', 'https://example.org/')", "smtp"),
        (
            "SELECT cachemon.add_receiver('x', 'email', 'smtp://mail.example.org',"
            ' p_options => \'{"from": "a@b", "to": ["x\\r\\nBcc: evil@c"]}\')',
            "plain e-mail",
        ),
        ("SELECT cachemon.notify_flush(now() + interval '2 days')", "p_now"),
    ]
    for statement, expected in bad:
        with pytest.raises(psycopg.Error, match=expected):
            conn.execute(statement)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://192.168.1.1/",
        "http://localhost/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://0.0.0.0/",
    ],
)
def test_private_and_metadata_urls_are_refused_unless_allowed(conn: Conn, url: str) -> None:
    with pytest.raises(psycopg.Error, match="private, loopback, link-local or metadata"):
        conn.execute("SELECT cachemon.add_receiver('x', 'webhook', %s)", (url,))
    conn.execute(
        "SELECT cachemon.add_receiver('x', 'webhook', %s, p_allow_private => true)", (url,)
    )


def test_receiver_endpoint_hides_the_secret(conn: Conn) -> None:
    conn.execute(
        "SELECT cachemon.add_receiver('slack', 'slack',"
        " 'https://hooks.example.org/services/T000/B000/SECRETTOKEN')"
    )
    row = conn.execute("SELECT endpoint FROM cachemon.notify_receivers").fetchone()
    assert row == {"endpoint": "https://hooks.example.org"}


def test_times_are_relative_to_the_base(conn: Conn) -> None:
    # The helpers' base lies within what _check_now accepts.
    flush(conn, BASE)
    flush(conn, BASE + timedelta(hours=20))


def test_alertmanager_receiver_is_resent_while_firing_and_told_when_severity_changes(
    conn: Conn,
) -> None:
    receiver(conn, "am", url="http://127.0.0.1:9093", kind="alertmanager")
    route(conn, "am", group_interval="1 minute")
    f = open_finding(conn, at(0))
    flush(conn, at(150))
    # first flush at 30 s, then every group_interval: re-sent at 90 and 150 s
    assert [d["created_at"] for d in deliveries(conn)] == [at(30), at(90), at(150)]
    first = deliveries(conn)[0]["payload"]["alerts"][0]
    assert first["endsAt"].startswith((at(30) + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%S"))
    change_severity(conn, f, "critical", at(160))
    flush(conn, at(210))
    payload = deliveries(conn)[-1]["payload"]
    got = sorted((a["labels"]["severity"], a["status"]) for a in payload["alerts"])
    assert got == [("critical", "firing"), ("warning", "resolved")]
    assert len(payload["cachemon"]["findings"]) == 1


def test_purge_removes_only_what_ended_before_the_cut(hooked: Conn) -> None:
    old = open_finding(hooked, at(0))
    flush(hooked, at(30))
    resolve(hooked, old, at(100))
    flush(hooked, at(400))
    live = open_finding(hooked, at(500), impl="memcached")
    flush(hooked, at(530))
    hooked.execute(
        "UPDATE cachemon.notify_deliveries SET status = 'delivered', delivered_at = created_at"
    )
    row = hooked.execute(
        "SELECT * FROM cachemon.notify_purge('1 day', %s)", (at(450) + timedelta(days=1),)
    ).fetchone()
    assert row is not None
    assert row == {"deliveries": 2, "attempts": 0, "log_rows": row["log_rows"], "events": 2}
    assert row["log_rows"] > 0
    left = hooked.execute(
        "SELECT observation_id, seq FROM cachemon.notify_events ORDER BY id"
    ).fetchall()
    assert [(r["observation_id"], r["seq"]) for r in left] == [(live, 1)]
    assert [d["observation_ids"] for d in deliveries(hooked)] == [[live]]
    with pytest.raises(psycopg.Error, match="keep"):
        hooked.execute("SELECT cachemon.notify_purge('1 hour')")
