// The alerts panel: silences (an admin creates and expires them) and the notification log,
// read from /notify.json. Database text is rendered with textContent only.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="cachemon-csrf"]').content;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function who() {
    const by = document.getElementById("by");
    return (by && by.value) || "dashboard";
  }

  function fail(what, body, status) {
    const banner = document.getElementById("banner");
    banner.hidden = false;
    banner.textContent = what + " failed: " + ((body && body.error) || status);
  }

  async function post(path, payload, what) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json", "x-cachemon-csrf": csrf },
      body: JSON.stringify(payload),
      credentials: "same-origin",
    });
    if (!response.ok) {
      fail(what, await response.json().catch(() => null), response.status);
      return false;
    }
    await load();
    return true;
  }

  function matcherText(m) {
    return m.name + m.op + m.value;
  }

  function render(data) {
    const silences = document.querySelector("#silences tbody");
    silences.replaceChildren();
    document.getElementById("silences-empty").hidden = data.silences.length > 0;
    document.getElementById("silence-form").hidden = !data.can_silence;
    for (const s of data.silences) {
      const tr = el("tr", { "data-silence": s.id });
      const action = el("td");
      if (data.can_silence) {
        const b = el("button", { type: "button", "data-action": "expire" }, "Expire");
        b.addEventListener("click", () => post("/silences/" + s.id + "/expire", { by: who() }, "expire"));
        action.append(b);
      }
      tr.append(
        el("td", { class: "num" }, s.id),
        el("td", {}, s.matchers.map(matcherText).join(" ")),
        el("td", {}, s.ends_at),
        el("td", {}, s.created_by),
        el("td", {}, s.comment),
        action
      );
      silences.append(tr);
    }
    const deliveries = document.querySelector("#deliveries tbody");
    deliveries.replaceChildren();
    document.getElementById("deliveries-empty").hidden = data.deliveries.length > 0;
    for (const d of data.deliveries) {
      const tr = el("tr", { "data-delivery": d.id, "data-status": d.status });
      tr.append(
        el("td", { class: "num" }, d.id),
        el("td", {}, d.receiver + " (" + d.kind + ")"),
        el("td", {}, d.status),
        el("td", {}, d.observation_ids.map((i) => "#" + i).join(" ")),
        el("td", {}, d.reason),
        el("td", { class: "num" }, d.attempts),
        el("td", { class: "num" }, d.last_status === null ? "-" : d.last_status),
        el("td", {}, d.dead_reason || d.last_error || ""),
        el("td", {}, d.created_at)
      );
      deliveries.append(tr);
    }
    const log = document.querySelector("#notify-log tbody");
    log.replaceChildren();
    for (const r of data.log) {
      const tr = el("tr", { "data-stage": r.stage });
      tr.append(
        el("td", {}, r.at),
        el("td", {}, r.observation_id === null ? "-" : "#" + r.observation_id),
        el("td", {}, r.stage + " (" + r.outcome + ")"),
        el("td", {}, r.reason)
      );
      log.append(tr);
    }
  }

  async function load() {
    const response = await fetch("/notify.json", { credentials: "same-origin" });
    if (!response.ok) return;
    render(await response.json());
  }

  document.getElementById("silence-add").addEventListener("click", async () => {
    const matchers = document.getElementById("silence-matchers").value.split(/\s+/).filter((t) => t);
    const minutes = Number(document.getElementById("silence-minutes").value);
    const comment = document.getElementById("silence-comment").value;
    if (await post("/silences", { matchers: matchers, minutes: minutes, comment: comment, by: who() }, "silence")) {
      document.getElementById("silence-comment").value = "";
    }
  });

  load();
  setInterval(load, 10000);
})();
