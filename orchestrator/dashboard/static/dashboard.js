// cachemon dashboard: draws the JSON of /.json with uPlot and keeps it live over SSE.
// Every text from the database goes through textContent (never innerHTML).
"use strict";
(function () {
  const RANGES = ["1h", "6h", "24h", "7d", "30d"];
  const csrf = document.querySelector('meta[name="cachemon-csrf"]').content;
  const range = document.querySelector('meta[name="cachemon-range"]').content;
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  const FIXED = { legacy: "#5b6b8c", new: "#e8710a" };
  const DASH = { p50: [], p95: [6, 4], p99: [2, 3] };
  const syncKey = uPlot.sync("cachemon");
  let charts = [];
  let chartKey = "";
  let current = null;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined) return "–";
    return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  }

  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }

  function color(impl, i) {
    return FIXED[impl] || PALETTE[i % PALETTE.length];
  }

  function setStatus(state, text) {
    const s = document.getElementById("status");
    s.dataset.state = state;
    s.textContent = text;
    const banner = document.getElementById("banner");
    if (state === "down") {
      banner.hidden = false;
      banner.textContent = text + " — the page keeps retrying and updates by itself when it is back.";
    } else {
      banner.hidden = true;
      banner.textContent = "";
    }
  }

  // The charts: [title, unit, [metric...], digits, derive?]
  const CHARTS = [
    ["Hit rate", "%", ["hit_rate"], 2],
    ["Response time p50 / p95 / p99", "ms", ["p50_response_time_ms", "p95_response_time_ms", "p99_response_time_ms"], 2],
    ["Error rate", "%", ["error_rate"], 3],
    ["Requests per minute", "/min", ["events_per_minute"], 1],
    ["Traffic share", "%", ["traffic_share"], 1],
    ["Evictions", "per bucket", ["evictions"], 0],
    ["Cache size (average)", "entries", ["avg_cache_size"], 0],
  ];

  function deriveShare(ts) {
    const n = ts.x.length;
    const totals = new Array(n).fill(0);
    for (const impl of ts.implementations) {
      const ev = ts.series[impl].total_events;
      for (let i = 0; i < n; i++) totals[i] += ev[i] || 0;
    }
    for (const impl of ts.implementations) {
      const ev = ts.series[impl].total_events;
      ts.series[impl].traffic_share = ev.map((v, i) => (v === null || !totals[i] ? null : (100 * v) / totals[i]));
    }
  }

  function chartData(ts, metrics) {
    const data = [ts.x];
    for (const impl of ts.implementations) for (const m of metrics) data.push(ts.series[impl][m]);
    return data;
  }

  function chartSeries(ts, metrics) {
    const series = [{}];
    ts.implementations.forEach((impl, i) => {
      for (const m of metrics) {
        const short = m.split("_")[0];
        series.push({
          label: metrics.length > 1 ? impl + " " + short : impl,
          stroke: color(impl, i),
          width: 1.5,
          dash: metrics.length > 1 ? DASH[short] : undefined,
          spanGaps: false,
          points: { show: ts.x.length < 80 },
        });
      }
    });
    return series;
  }

  function buildCharts(state) {
    const container = document.getElementById("charts");
    for (const c of charts) c.plot.destroy();
    charts = [];
    container.replaceChildren();
    const ts = state.timeseries;
    const width = Math.max(480, Math.min(900, container.clientWidth / (container.clientWidth > 1200 ? 2 : 1) - 40));
    for (const [title, unit, metrics, digits] of CHARTS) {
      const box = el("div", { class: "chart", "data-chart": metrics.join(",") });
      box.append(el("h2", {}, title + " (" + unit + ")"));
      const target = el("div");
      box.append(target);
      const latest = el("div", { class: "latest" });
      box.append(latest);
      container.append(box);
      const plot = new uPlot(
        {
          width: width,
          height: 200,
          series: chartSeries(ts, metrics),
          cursor: { sync: { key: syncKey.key } },
          scales: { x: { time: true, range: [state.x_min, state.x_max] } },
          axes: [{}, { size: 60 }],
          legend: { live: true },
        },
        chartData(ts, metrics),
        target
      );
      charts.push({ plot, metrics, digits, latest });
    }
  }

  function renderLatest(state) {
    const ts = state.timeseries;
    for (const c of charts) {
      c.latest.replaceChildren();
      ts.implementations.forEach((impl) => {
        for (const m of c.metrics) {
          const values = ts.series[impl][m];
          let i = values.length - 1;
          while (i >= 0 && (values[i] === null || values[i] === undefined)) i--;
          if (i < 0) continue;
          const label = c.metrics.length > 1 ? impl + " " + m.split("_")[0] : impl;
          const span = el("span", {
            class: "v",
            "data-impl": impl,
            "data-metric": m,
            "data-bucket": new Date(ts.x[i] * 1000).toISOString(),
            "data-value": values[i],
          });
          span.append(el("span", { class: "muted" }, label + " "), document.createTextNode(fmt(values[i], c.digits)));
          c.latest.append(span);
        }
      });
      const last = ts.x.length ? new Date(ts.x[ts.x.length - 1] * 1000).toISOString() : "";
      c.latest.dataset.lastBucket = last;
    }
  }

  function renderCharts(state) {
    const ts = state.timeseries;
    deriveShare(ts);
    const end = Date.parse(state.now) / 1000;
    state.x_max = end + state.resolution_seconds;
    state.x_min = end - state.window_seconds;
    const key = ts.implementations.join("\u0000") + "|" + state.range;
    if (key !== chartKey || charts.length === 0) {
      chartKey = key;
      buildCharts(state);
    } else {
      for (const c of charts) {
        c.plot.setScale("x", { min: state.x_min, max: state.x_max });
        c.plot.setData(chartData(ts, c.metrics), false);
        c.plot.setScale("x", { min: state.x_min, max: state.x_max });
      }
    }
    renderLatest(state);
    document.getElementById("charts").dataset.lastBucket = ts.x.length
      ? new Date(ts.x[ts.x.length - 1] * 1000).toISOString()
      : "";
  }

  function renderTraffic(state) {
    const body = document.querySelector("#traffic tbody");
    body.replaceChildren();
    for (const r of state.traffic_share) {
      const tr = el("tr", { "data-impl": r.implementation_type });
      tr.append(
        el("td", {}, r.implementation_type),
        el("td", { class: "num" }, fmt(r.total_events, 0)),
        el("td", { class: "num" }, fmt(r.lookups, 0)),
        el("td", { class: "num" }, fmt(r.share, 1) + " %")
      );
      body.append(tr);
    }
  }

  async function act(id, action) {
    const by = document.getElementById("by").value || "dashboard";
    const response = await fetch("/findings/" + id + "/" + action, {
      method: "POST",
      headers: { "content-type": "application/json", "x-cachemon-csrf": csrf },
      body: JSON.stringify({ by: by }),
      credentials: "same-origin",
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({ error: response.statusText }));
      setStatus("live", "live");
      const banner = document.getElementById("banner");
      banner.hidden = false;
      banner.textContent = action + " failed: " + (body.error || response.status);
      return;
    }
    await load();
  }

  function renderFindings(state) {
    const body = document.querySelector("#findings tbody");
    body.replaceChildren();
    document.getElementById("findings-empty").hidden = state.findings.length > 0;
    for (const f of state.findings) {
      const tr = el("tr", { "data-finding": f.id, "data-status": f.status });
      const actions = el("td");
      if (state.can_acknowledge && f.status === "open") {
        const b = el("button", { type: "button", "data-action": "acknowledge" }, "Acknowledge");
        b.addEventListener("click", () => act(f.id, "acknowledge"));
        actions.append(b);
      }
      if (state.can_resolve) {
        const b = el("button", { type: "button", "data-action": "resolve" }, "Resolve");
        b.addEventListener("click", () => act(f.id, "resolve"));
        actions.append(b);
      }
      tr.append(
        el("td", { class: "sev-" + f.severity }, f.severity),
        el("td", {}, f.implementation_type),
        el("td", {}, f.rule),
        el("td", { class: "message" }, f.message),
        el("td", {}, f.recommendation),
        el("td", {}, when(f.first_seen_at)),
        el("td", {}, f.status + (f.acknowledged_by ? " by " + f.acknowledged_by : "")),
        actions
      );
      body.append(tr);
    }
  }

  function renderErrors(state) {
    const body = document.querySelector("#errors tbody");
    body.replaceChildren();
    document.getElementById("errors-empty").hidden = state.errors.length > 0;
    for (const e of state.errors) {
      const tr = el("tr", { "data-impl": e.implementation_type });
      tr.append(
        el("td", {}, e.implementation_type),
        el("td", {}, e.error_type === null ? "(none)" : e.error_type),
        el("td", { class: "num" }, fmt(e.errors, 0)),
        el("td", { class: "num" }, fmt(e.share, 1) + " %"),
        el("td", {}, when(e.last_seen_at)),
        el("td", { class: "message" }, e.last_message)
      );
      body.append(tr);
    }
  }

  function renderVerdict(state) {
    const box = document.getElementById("verdict");
    box.replaceChildren();
    const v = state.verdict;
    if (!v.available) {
      box.dataset.verdict = "unavailable";
      box.append(
        el("p", { class: "muted" }, "Verdict not available: this database has no cachemon.migration_verdict (it comes with the auditor's revision).")
      );
      return;
    }
    if (v.error) {
      box.dataset.verdict = "error";
      box.append(el("p", { class: "verdict-not_ready" }, "The verdict function failed: " + v.error));
      return;
    }
    box.dataset.verdict = v.verdict;
    const head = el("p");
    head.append(
      el("span", { class: "verdict-value verdict-" + v.verdict, "data-field": "verdict" }, v.verdict),
      el("span", { "data-field": "score" }, "score " + fmt(v.score, 0)),
      el("span", { class: "muted" }, "  " + v.candidate + " vs " + v.reference + ", " + when(v.window_start) + " – " + when(v.window_end))
    );
    box.append(head, el("p", { "data-field": "evidence" }, v.evidence));
    const table = el("table", { id: "verdict-metrics" });
    const hr = el("tr");
    for (const h of ["metric", "classification", v.candidate, v.reference, "effect", "interval", "tolerance", "note"]) hr.append(el("th", {}, h));
    const thead = el("thead");
    thead.append(hr);
    table.append(thead);
    const tb = el("tbody");
    for (const m of v.metrics || []) {
      const tr = el("tr", { "data-metric": m.metric, "data-classification": m.classification });
      tr.append(
        el("td", {}, m.metric),
        el("td", {}, m.classification),
        el("td", { class: "num" }, fmt(m.candidate_value, 2)),
        el("td", { class: "num" }, fmt(m.reference_value, 2)),
        el("td", { class: "num" }, fmt(m.effect, 3)),
        el("td", { class: "num" }, "[" + fmt(m.ci_low, 3) + ", " + fmt(m.ci_high, 3) + "]"),
        el("td", { class: "num" }, fmt(m.tolerance, 3)),
        el("td", {}, m.note)
      );
      tb.append(tr);
    }
    table.append(tb);
    box.append(table);
  }

  // A failing auditor: findings are no longer judged, whatever the charts show.
  function renderAuditor(state) {
    const banner = document.getElementById("auditor-banner");
    const a = state.auditor || {};
    if (a.failure) {
      banner.hidden = false;
      banner.dataset.failingSince = a.failing_since || "";
      banner.textContent = "The auditor is failing since " + when(a.failing_since) + ": " + a.failure +
        " — no finding is opened, updated or resolved until it runs again.";
    } else {
      banner.hidden = true;
      banner.textContent = "";
      delete banner.dataset.failingSince;
    }
  }

  function render(state) {
    current = state;
    renderAuditor(state);
    renderCharts(state);
    renderTraffic(state);
    renderFindings(state);
    renderErrors(state);
    renderVerdict(state);
    document.getElementById("updated").textContent = "as of " + when(state.now) + (state.role ? " · role " + state.role : "");
    document.body.dataset.renderedAt = String(Date.now());
    document.body.dataset.lastBucket = document.getElementById("charts").dataset.lastBucket;
  }

  async function load() {
    const response = await fetch("/.json?range=" + encodeURIComponent(range), { credentials: "same-origin" });
    if (!response.ok) {
      setStatus("down", "database unavailable");
      return;
    }
    render(await response.json());
  }

  function navigation() {
    const nav = document.getElementById("ranges");
    for (const r of RANGES) {
      const a = el("a", { href: "/?range=" + r, "aria-current": r === range ? "true" : "false" }, r);
      nav.append(a);
    }
    document.getElementById("json-link").href = "/.json?range=" + encodeURIComponent(range);
  }

  function live() {
    const source = new EventSource("/events?range=" + encodeURIComponent(range));
    source.addEventListener("state", (e) => render(JSON.parse(e.data)));
    source.addEventListener("status", (e) => {
      const s = JSON.parse(e.data);
      if (s.database === "up") setStatus("live", "live");
      else setStatus("down", "database unreachable, reconnecting");
    });
    source.addEventListener("notify", (e) => {
      document.body.dataset.lastNotify = e.data;
    });
    source.onerror = () => setStatus("down", "dashboard server unreachable, reconnecting");
    source.onopen = () => {
      if (document.getElementById("status").dataset.state !== "live") setStatus("connecting", "connecting…");
    };
  }

  navigation();
  load().catch(() => setStatus("down", "dashboard server unreachable"));
  live();
  window.addEventListener("resize", () => {
    if (current) {
      chartKey = "";
      renderCharts(current);
    }
  });
})();
