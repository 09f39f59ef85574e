-- Alert delivery (revision 0016_alerts): an outbox written by a trigger on the findings table
-- in the auditor's own transaction, then Alertmanager's stages over SQL rows:
--
--   notify_events      the outbox: one row per state change of a finding (opened, escalated,
--                      de-escalated, acknowledged, resolved), unique per (finding, sequence)
--   notify_receivers   where messages go (webhook, alertmanager, email, slack); secrets in
--   _notify_secrets    readable by cachemon_admin only
--   notify_routes      matchers -> receiver, group_by, group_wait/interval, repeat, continue
--   notify_silences    matchers muting firing messages between starts_at and ends_at
--   notify_inhibit_rules  a firing source finding mutes target findings with equal labels
--   notify_groups / notify_alerts   aggregation groups and what each last told its receiver
--   notify_findings    the latest routed state of every finding (inhibition reads it)
--   notify_log         every stage's answer: grouped, inhibited, silenced, deduplicated,
--                      acknowledged, dropped, queued (the "why was this not sent?" table)
--   notify_deliveries  one row per message, one idempotency key, leases for the workers
--   notify_attempts    append-only: every attempt with status code, error, duration,
--                      retry-after
--
-- Roles: cachemon_reader reads everything but _notify_secrets; cachemon_admin (the auditor,
-- the worker and the CLI) writes; cachemon_writer gets nothing.

CREATE TABLE cachemon.notify_receivers (
    name           text PRIMARY KEY,
    kind           text NOT NULL,
    endpoint       text NOT NULL,
    send_resolved  boolean NOT NULL DEFAULT true,
    allow_private  boolean NOT NULL DEFAULT false,
    timeout_s      double precision NOT NULL DEFAULT 10,
    max_attempts   integer NOT NULL DEFAULT 30,
    backoff_s      double precision NOT NULL DEFAULT 1,
    backoff_max_s  double precision NOT NULL DEFAULT 600,
    options        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by     text NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT notify_receivers_name_check CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    CONSTRAINT notify_receivers_kind_check
        CHECK (kind IN ('webhook', 'alertmanager', 'email', 'slack')),
    CONSTRAINT notify_receivers_timeout_check CHECK (timeout_s BETWEEN 0.1 AND 120),
    CONSTRAINT notify_receivers_attempts_check CHECK (max_attempts BETWEEN 1 AND 1000),
    CONSTRAINT notify_receivers_backoff_check
        CHECK (backoff_s BETWEEN 0.01 AND 3600 AND backoff_max_s BETWEEN backoff_s AND 86400),
    CONSTRAINT notify_receivers_options_check CHECK (pg_catalog.jsonb_typeof(options) = 'object')
);
COMMENT ON TABLE cachemon.notify_receivers IS
    'Where notifications go: kind (webhook, alertmanager, email, slack), the endpoint without secrets (scheme, host, port), retry policy; URL and password live in _notify_secrets';

CREATE TABLE cachemon._notify_secrets (
    receiver  text PRIMARY KEY REFERENCES cachemon.notify_receivers (name) ON DELETE CASCADE,
    url       text NOT NULL,
    password  text,
    CONSTRAINT _notify_secrets_url_length CHECK (pg_catalog.length(url) BETWEEN 1 AND 2000),
    CONSTRAINT _notify_secrets_password_length CHECK (pg_catalog.length(password) <= 1000)
);
COMMENT ON TABLE cachemon._notify_secrets IS
    'Secrets of the receivers (full URL with its token, SMTP password): readable by cachemon_admin only, never printed';

CREATE TABLE cachemon.notify_routes (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    position         integer NOT NULL DEFAULT 100,
    receiver         text NOT NULL REFERENCES cachemon.notify_receivers (name) ON DELETE CASCADE,
    matchers         jsonb NOT NULL DEFAULT '[]'::jsonb,
    group_by         text[] NOT NULL DEFAULT '{implementation,rule}',
    group_wait       interval NOT NULL DEFAULT '30 seconds',
    group_interval   interval NOT NULL DEFAULT '5 minutes',
    repeat_interval  interval NOT NULL DEFAULT '4 hours',
    "continue"       boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT notify_routes_matchers_check CHECK (pg_catalog.jsonb_typeof(matchers) = 'array'),
    CONSTRAINT notify_routes_group_by_check
        CHECK (group_by <@ '{implementation,rule,category}'::text[]),
    CONSTRAINT notify_routes_times_check
        CHECK (group_wait >= '0 seconds' AND group_wait <= '1 day'
               AND group_interval >= '1 second' AND group_interval <= '1 day'
               AND repeat_interval >= group_interval AND repeat_interval <= '30 days')
);
COMMENT ON TABLE cachemon.notify_routes IS
    'Routing tree flattened: routes are tried in (position, id) order; the first whose matchers all match takes the finding, and the next ones are tried only when it has continue';

CREATE TABLE cachemon.notify_silences (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    matchers    jsonb NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_by  text NOT NULL,
    comment     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expired_by  text,
    CONSTRAINT notify_silences_matchers_check
        CHECK (pg_catalog.jsonb_typeof(matchers) = 'array' AND pg_catalog.jsonb_array_length(matchers) >= 1),
    CONSTRAINT notify_silences_time_check CHECK (starts_at <= ends_at),
    CONSTRAINT notify_silences_text_check
        CHECK (pg_catalog.length(created_by) BETWEEN 1 AND 200 AND pg_catalog.length(comment) BETWEEN 1 AND 2000
               AND pg_catalog.length(expired_by) BETWEEN 1 AND 200)
);
COMMENT ON TABLE cachemon.notify_silences IS
    'Silences: a firing finding whose labels match every matcher is not notified while starts_at <= now < ends_at; a silence expires by itself at ends_at (expire_silence moves ends_at to now)';

CREATE TABLE cachemon.notify_inhibit_rules (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_matchers  jsonb NOT NULL,
    target_matchers  jsonb NOT NULL,
    equal            text[] NOT NULL DEFAULT '{implementation}',
    CONSTRAINT notify_inhibit_rules_matchers_check
        CHECK (pg_catalog.jsonb_typeof(source_matchers) = 'array' AND pg_catalog.jsonb_typeof(target_matchers) = 'array'),
    CONSTRAINT notify_inhibit_rules_equal_check
        CHECK (equal <@ '{implementation,rule,category,severity}'::text[])
);
COMMENT ON TABLE cachemon.notify_inhibit_rules IS
    'Inhibition: while a finding matching source_matchers fires, findings matching target_matchers with the same values of the equal labels are not notified (Alertmanager''s inhibit_rules)';
INSERT INTO cachemon.notify_inhibit_rules (source_matchers, target_matchers, equal) VALUES
    ('[{"name": "severity", "op": "=", "value": "critical"}]',
     '[{"name": "severity", "op": "=", "value": "warning"}]', '{implementation}');

CREATE TABLE cachemon.notify_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    observation_id  bigint NOT NULL,
    seq             integer NOT NULL,
    kind            text NOT NULL,
    at              timestamptz NOT NULL,
    severity        text NOT NULL,
    status          text NOT NULL,
    labels          jsonb NOT NULL,
    finding         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    routed_at       timestamptz,
    CONSTRAINT notify_events_once UNIQUE (observation_id, seq),
    CONSTRAINT notify_events_kind_check
        CHECK (kind IN ('opened', 'escalated', 'de-escalated', 'acknowledged', 'resolved')),
    CONSTRAINT notify_events_status_check CHECK (status IN ('open', 'acknowledged', 'resolved'))
);
CREATE INDEX notify_events_unrouted_idx ON cachemon.notify_events (at, id) WHERE routed_at IS NULL;
COMMENT ON TABLE cachemon.notify_events IS
    'The outbox: one row per state change of a finding, written by the trigger cache_auditor_observations_notify in the transaction that changed it; unique per (observation_id, seq)';

CREATE TABLE cachemon.notify_findings (
    observation_id  bigint PRIMARY KEY,
    labels          jsonb NOT NULL,
    firing          boolean NOT NULL,
    at              timestamptz NOT NULL
);
-- The inhibition stage looks up firing findings sharing a target's equal labels (@>).
CREATE INDEX notify_findings_firing_labels_idx ON cachemon.notify_findings
    USING gin (labels jsonb_path_ops) WHERE firing;
COMMENT ON TABLE cachemon.notify_findings IS
    'The latest routed state of every finding (labels, firing): the inhibition stage reads it whatever route a finding took';

CREATE TABLE cachemon.notify_groups (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    route_id       bigint NOT NULL REFERENCES cachemon.notify_routes (id) ON DELETE CASCADE,
    group_key      jsonb NOT NULL,
    created_at     timestamptz NOT NULL,
    next_flush_at  timestamptz NOT NULL,
    last_sent_at   timestamptz,
    CONSTRAINT notify_groups_key UNIQUE (route_id, group_key)
);
CREATE INDEX notify_groups_next_flush_idx ON cachemon.notify_groups (next_flush_at);
COMMENT ON TABLE cachemon.notify_groups IS
    'Aggregation groups (route, values of its group_by labels): first flushed group_wait after the first finding arrives, then every group_interval while it holds findings';

CREATE TABLE cachemon.notify_alerts (
    group_id            bigint NOT NULL REFERENCES cachemon.notify_groups (id) ON DELETE CASCADE,
    observation_id      bigint NOT NULL,
    severity            text NOT NULL,
    firing              boolean NOT NULL,
    acknowledged        boolean NOT NULL,
    labels              jsonb NOT NULL,
    finding             jsonb NOT NULL,
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz,
    last_event_id       bigint NOT NULL,
    accounted_event_id  bigint NOT NULL DEFAULT 0,
    notified_severity   text,
    muted_logged_at     timestamptz,
    PRIMARY KEY (group_id, observation_id)
);
COMMENT ON TABLE cachemon.notify_alerts IS
    'The findings of each group with their latest state and what the receiver was last told (notified_severity NULL: no firing message sent yet)';

CREATE TABLE cachemon.notify_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key  uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    receiver         text NOT NULL REFERENCES cachemon.notify_receivers (name),
    route_id         bigint,
    group_id         bigint,
    order_key        text NOT NULL,
    observation_ids  bigint[] NOT NULL,
    reason           text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending',
    created_at       timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_until      timestamptz,
    delivered_at     timestamptz,
    dead_reason      text,
    CONSTRAINT notify_deliveries_status_check
        CHECK (status IN ('pending', 'sending', 'delivered', 'dead')),
    CONSTRAINT notify_deliveries_lease_check
        CHECK ((status = 'sending') = (lease_until IS NOT NULL AND lease_owner IS NOT NULL))
);
CREATE INDEX notify_deliveries_due_idx ON cachemon.notify_deliveries (due_at, id)
    WHERE status = 'pending';
CREATE INDEX notify_deliveries_order_idx ON cachemon.notify_deliveries (order_key, id)
    WHERE status IN ('pending', 'sending');
CREATE INDEX notify_deliveries_lease_idx ON cachemon.notify_deliveries (lease_until)
    WHERE status = 'sending';
COMMENT ON TABLE cachemon.notify_deliveries IS
    'One row per message to a receiver: payload (Alertmanager webhook v4 + cachemon), one idempotency key for every attempt, status pending -> sending (leased) -> delivered or dead; order_key keeps one group''s messages in order';

CREATE TABLE cachemon.notify_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      bigint NOT NULL REFERENCES cachemon.notify_deliveries (id),
    attempt          integer NOT NULL,
    idempotency_key  uuid NOT NULL,
    worker           text NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_ms      double precision,
    status_code      integer,
    error            text,
    retry_after_s    double precision,
    outcome          text NOT NULL,
    next_due_at      timestamptz,
    recorded_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    CONSTRAINT notify_attempts_outcome_check
        CHECK (outcome IN ('delivered', 'retry', 'dead', 'lost', 'stale')),
    CONSTRAINT notify_attempts_error_length CHECK (pg_catalog.length(error) <= 2000)
);
CREATE INDEX notify_attempts_delivery_idx ON cachemon.notify_attempts (delivery_id, id);
COMMENT ON TABLE cachemon.notify_attempts IS
    'Append-only log of delivery attempts (no role may update or delete): status code, error, duration, Retry-After, outcome; lost = the lease expired without a result (worker killed)';

CREATE TABLE cachemon.notify_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL,
    observation_id  bigint,
    event_id        bigint,
    route_id        bigint,
    group_id        bigint,
    receiver        text,
    stage           text NOT NULL,
    outcome         text NOT NULL,
    reason          text NOT NULL,
    delivery_id     bigint,
    CONSTRAINT notify_log_stage_check
        CHECK (stage IN ('route', 'inhibit', 'silence', 'dedup', 'repeat', 'resolve', 'send')),
    CONSTRAINT notify_log_outcome_check CHECK (outcome IN ('grouped', 'unrouted', 'suppressed', 'queued'))
);
CREATE INDEX notify_log_observation_idx ON cachemon.notify_log (observation_id, id);
COMMENT ON TABLE cachemon.notify_log IS
    'Each stage''s answer per finding: routed to which group, or suppressed by which stage and why (inhibited by finding #n, silenced by silence #n, already notified, acknowledged, resolved before its firing message), or queued as which delivery';

DO $rls$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['notify_receivers', '_notify_secrets', 'notify_routes',
        'notify_silences', 'notify_inhibit_rules', 'notify_events', 'notify_findings',
        'notify_groups', 'notify_alerts', 'notify_deliveries', 'notify_attempts', 'notify_log'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE cachemon.%I ENABLE ROW LEVEL SECURITY', v_table);
        EXECUTE pg_catalog.format('REVOKE ALL ON cachemon.%I FROM PUBLIC', v_table);
        EXECUTE pg_catalog.format(
            'CREATE POLICY %I ON cachemon.%I FOR ALL TO cachemon_admin USING (true) WITH CHECK (true)',
            v_table || '_admin_all', v_table);
        IF v_table <> '_notify_secrets' THEN
            EXECUTE pg_catalog.format('GRANT SELECT ON cachemon.%I TO cachemon_reader', v_table);
            EXECUTE pg_catalog.format(
                'CREATE POLICY %I ON cachemon.%I FOR SELECT TO cachemon_reader USING (true)',
                v_table || '_reader_select', v_table);
        END IF;
    END LOOP;
END
$rls$;
-- The attempts log is append-only: INSERT and SELECT, never UPDATE or DELETE.
GRANT SELECT, INSERT ON cachemon.notify_attempts, cachemon.notify_log TO cachemon_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON cachemon.notify_receivers, cachemon._notify_secrets,
    cachemon.notify_routes, cachemon.notify_silences, cachemon.notify_inhibit_rules,
    cachemon.notify_events, cachemon.notify_findings, cachemon.notify_groups,
    cachemon.notify_alerts, cachemon.notify_deliveries TO cachemon_admin;
