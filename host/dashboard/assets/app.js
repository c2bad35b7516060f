// hyper dashboard: a small hash-routed page over the node's JSON API. Guest and peer text
// (ids, parameters, reasons) is only ever set as textContent, never as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "href") e.setAttribute("href", v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
const fmt = (v) => (typeof v === "number" ? v.toFixed(4) : "—");
const short = (id) => (id && id.length > 14 ? id.slice(0, 6) + "…" + id.slice(-6) : id || "");
const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "");
const badge = (s) => el("span", { class: "badge " + s }, s);
const resultLink = (domain, key, text) =>
  el("a", { href: "#/result/" + encodeURIComponent(domain) + "/" + encodeURIComponent(key) }, text);

async function api(path) {
  const r = await fetch(path);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function table(headers, rows, cls) {
  return el("table", { class: cls || "" }, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

function resultRows(domain, rows) {
  return rows.map((r) => el("tr", { "data-key": r.key },
    el("td", {}, resultLink(domain, r.key, r.id)),
    el("td", {}, el("a", { href: "#/peers" }, short(r.author))),
    el("td", {}, fmt(r.val)), el("td", {}, fmt(r.test)),
    el("td", {}, r.status), el("td", {}, badge(r.verification)),
    el("td", {}, el("a", { href: "#/skill/" + encodeURIComponent(domain) + "/" + encodeURIComponent(r.skill_hash) }, short(r.skill_hash))),
    el("td", { class: "muted" }, when(r.finished_ms))));
}
const RESULT_HEADERS = ["experiment", "node", "validation", "test", "status", "verification", "skill", "finished"];

// ---- pages ----
const pages = {
  async overview() {
    const o = await api("/api/overview");
    const nav = $("#nav");
    nav.replaceChildren(el("a", { href: "#/" }, "overview"), el("a", { href: "#/peers" }, "peers"),
      ...o.domains.map((d) => el("a", { href: "#/domain/" + encodeURIComponent(d.domain) }, d.domain)));
    return [
      el("h1", {}, "Swarm overview"),
      el("p", { class: "muted" }, `node ${o.peer_id} · ${o.peers} peer(s) connected`),
      ...o.domains.map((d) => el("div", { class: "domain", "data-domain": d.domain },
        el("h2", {}, el("a", { href: "#/domain/" + encodeURIComponent(d.domain) }, d.domain)),
        d.loading ? el("p", { class: "muted" }, "loading…") : [
          el("p", {}, `${d.results} results · ${d.verified} verified · ${d.attestations} attestations`),
          table(RESULT_HEADERS, resultRows(d.domain, d.leaders || [])),
        ])),
    ];
  },

  async domain(name) {
    const d = await api("/api/domain/" + encodeURIComponent(name));
    const page = await api("/api/domain/" + encodeURIComponent(name) + "/results?per=50&page=" + (state.page || 0));
    const plots = el("div", { class: "plots" });
    const out = [
      el("h1", {}, `${name}`),
      el("p", {}, `${d.results} results`, d.diversity ? ` · coverage ${fmt(d.diversity.coverage)} · entropy ${fmt(d.diversity.entropy)} · near the leader ${(d.diversity.concentration * 100).toFixed(0)}%${d.diversity.collapsed ? " · COLLAPSED: exploring" : ""}` : " · diversity not measured on this node yet"),
      el("h2", {}, "Leaderboard (verified, best per node)"),
      table(RESULT_HEADERS, resultRows(name, d.leaderboard.verified_per_agent)),
      plots,
      el("h2", {}, "Results (newest first)"),
      table(RESULT_HEADERS, resultRows(name, page.rows), "results"),
      el("div", { class: "pager" },
        el("button", { onclick: () => { state.page = Math.max(0, (state.page || 0) - 1); route(); } }, "newer"),
        el("button", { onclick: () => { state.page = (state.page || 0) + 1; route(); } }, "older"),
        el("span", { class: "muted" }, `page ${page.page + 1} of ${Math.max(1, Math.ceil(page.total / page.per))}`)),
      el("h2", {}, "Skills"),
      el("ul", {}, d.skills.map((s) => el("li", {}, el("a", { href: "#/skill/" + encodeURIComponent(name) + "/" + encodeURIComponent(s.skill_hash) }, s.skill_hash), ` — ${s.results} results`))),
    ];
    setTimeout(() => drawPlots(plots, d), 0);
    return out;
  },

  async result(domain, key) {
    const r = await api("/api/domain/" + encodeURIComponent(domain) + "/result?key=" + encodeURIComponent(key));
    const x = r.result;
    return [
      el("h1", {}, "Experiment ", el("code", {}, x.id)),
      el("p", {}, "by ", el("code", {}, x.author), " · ", badge(x.verification), ` · ${x.metric} ${fmt(x.val)} (test ${fmt(x.test)}) · ${x.status}`),
      el("h2", {}, "Replay status"),
      r.attestations.length
        ? table(["attester", "verdict", "validation", "platform", "reason"], r.attestations.map((a) =>
            el("tr", {}, el("td", {}, short(a.attester)), el("td", {}, a.verdict), el("td", {}, fmt(a.val)),
              el("td", {}, a.platform), el("td", {}, a.reason))))
        : el("p", { class: "muted" }, "no replay yet"),
      el("h2", {}, "Lineage (parent chain, across nodes)"),
      r.lineage.length ? table(RESULT_HEADERS, resultRows(domain, r.lineage), "lineage") : el("p", { class: "muted" }, "no parent on this board"),
      el("h2", {}, "Receipt"),
      el("pre", {}, JSON.stringify(r.receipt, null, 2)),
    ];
  },

  async skill(domain, hash) {
    const s = await api("/api/domain/" + encodeURIComponent(domain) + "/skill/" + encodeURIComponent(hash) + "?per=50");
    return [
      el("h1", {}, "Skill ", el("code", {}, short(hash))),
      el("p", {}, `${s.results.total} results in ${domain} by ${s.authors} node(s) · best ${s.best ? fmt(s.best.val) : "—"}`),
      table(RESULT_HEADERS, resultRows(domain, s.results.rows)),
    ];
  },

  async peers() {
    const p = await api("/api/peers");
    return [
      el("h1", {}, "Peers and reputation"),
      el("p", { class: "muted" }, `this node: ${p.me} · connected: ${p.connected.length}`),
      el("ul", {}, p.connected.map((c) => el("li", {}, el("code", {}, c)))),
      ...Object.entries(p.domains).map(([d, list]) => [
        el("h2", {}, d),
        table(["identity", "results", "standing", "score", "verified", "refuted"], list.map((x) =>
          el("tr", {}, el("td", {}, el("code", {}, x.identity)), el("td", {}, x.results), el("td", {}, x.standing),
            el("td", {}, x.score), el("td", {}, x.reputation.verified), el("td", {}, x.reputation.refuted)))),
      ]),
    ];
  },
};

function plot(parent, title, series, labels, time) {
  const box = el("div", { class: "plot" }, el("h3", {}, title));
  parent.append(box);
  if (!series.length || !series[0].length) { box.append(el("p", { class: "muted" }, "no data yet")); return; }
  const width = Math.max(300, box.clientWidth || 420);
  new uPlot({ width, height: 220, scales: { x: { time: time !== false } }, series: [{}, ...labels.map((l, i) => ({ label: l, stroke: `hsl(${(i * 67) % 360} 70% 45%)`, spanGaps: true }))] },
    series, box);
}

function drawPlots(parent, d) {
  // Metric over experiments per node: x = the node's k-th experiment.
  const agents = Object.keys(d.series.per_agent);
  const xs = [...new Set(agents.flatMap((a) => d.series.per_agent[a].map((p) => p[0])))].sort((a, b) => a - b);
  const cols = agents.map((a) => { const m = new Map(d.series.per_agent[a]); return xs.map((x) => m.get(x) ?? null); });
  plot(parent, "metric over experiments, per node", xs.length ? [xs, ...cols] : [[]], agents.map(short), false);
  const best = d.series.best_so_far;
  plot(parent, "swarm's best so far", best.length ? [best.map((p) => p[0] / 1000), best.map((p) => p[1])] : [[]], ["best"]);
  const h = d.diversity_history;
  plot(parent, "explored-space coverage and diversity signal", h.length ? [h.map((s) => s.ms / 1000), h.map((s) => s.coverage), h.map((s) => s.entropy), h.map((s) => s.concentration)] : [[]],
    ["coverage", "entropy", "near the leader"]);
}

// ---- routing and the live feed ----
const state = { page: 0 };
async function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const [name, ...args] = parts[0] ? parts : ["overview"];
  const page = pages[name] || pages.overview;
  const view = $("#view");
  try {
    if (!$("#nav").childElementCount && name !== "overview") await pages.overview();
    view.replaceChildren(...[await page(...args)].flat(3));
    view.dataset.page = name;
  } catch (e) {
    view.replaceChildren(el("p", { class: "error" }, "could not load: " + e.message));
  }
}
window.addEventListener("hashchange", () => { state.page = 0; route(); });

let refreshTimer = null;
function feedItem(e) {
  const text = {
    result: () => [`result ${e.domain}: `, resultLink(e.domain, e.key, e.id), ` ${fmt(e.val)} (${e.status}) by ${short(e.author)}`],
    attestation: () => [`replay ${e.domain}: ${e.verdict} on `, resultLink(e.domain, e.subject, short(e.subject)), ` by ${short(e.attester)}`],
    claim: () => [`claim ${e.domain} by ${short(e.author)}: ${JSON.stringify(e.params)}`],
    hypothesis: () => [`hypothesis ${e.domain} by ${short(e.author)}: ${e.note}`],
  }[e.kind];
  return el("li", { class: "feed-" + e.kind, "data-id": e.id || "" }, text ? text() : e.kind);
}
function connect() {
  const source = new EventSource("/api/events");
  source.onopen = () => { $("#live").textContent = "live"; $("#live").classList.add("on"); };
  source.onerror = () => { $("#live").textContent = "reconnecting…"; $("#live").classList.remove("on"); };
  source.onmessage = (m) => {
    const e = JSON.parse(m.data);
    const feed = $("#feed");
    feed.prepend(feedItem(e));
    while (feed.childElementCount > 200) feed.lastChild.remove();
    // New results change the tables: refresh the open page once the server's views caught up.
    if (e.kind === "result" || e.kind === "attestation") {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(route, 1200);
    }
  };
  source.addEventListener("lagged", () => route());
}
connect();
route();
