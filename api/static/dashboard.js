// paystream dashboard: plain JS drawing inline SVG from the /v1/dashboard/* endpoints.
// No libraries and no CDN, so it works on machines without internet.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#2f6fde", "#d9822b", "#2e9d5b", "#b3261e", "#7a4fd0", "#5f6b7a"];
const DECISION_COLORS = { approve: "#2e9d5b", review: "#d9822b", decline: "#b3261e" };
// Minor-unit exponents that differ from 2 (ISO 4217); money arrives as integer minor units.
const EXPONENTS = { JPY: 0, KRW: 0, VND: 0, CLP: 0, ISK: 0, BHD: 3, KWD: 3, OMR: 3,
  JOD: 3, TND: 3, LYD: 3, IQD: 3 };
// A range longer than this is drawn by month (money) or by week (rates), not by day.
const DAILY_UP_TO_DAYS = 92;
const LOCALE = "en-GB";
const INTEGER = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const DECIMAL = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 3 });
const ONE_DECIMAL = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });
const PERCENT = new Intl.NumberFormat(LOCALE, { style: "percent", maximumFractionDigits: 2 });
const METRIC_LABELS = { precision_at_10: "precision@10", recall_at_10: "recall@10",
  ndcg_at_10: "nDCG@10", map_at_10: "MAP@10", coverage: "catalogue coverage" };

function major(minor, currency) {
  return minor / Math.pow(10, EXPONENTS[currency] ?? 2);
}

function money(minor, currency) {
  return `${INTEGER.format(major(minor, currency))} ${currency}`;
}

// An axis top and tick step of round numbers (1, 2, 2.5 or 5 times a power of ten).
function niceAxis(max, ticks) {
  const raw = Math.max(max, 1e-9) / (ticks || 4);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * power).find(s => s >= raw);
  return { top: step * Math.ceil(Math.max(max, 1e-9) / step - 1e-9), step };
}

function yAxis(svg, axis, y, left, right, format) {
  for (let v = 0; v <= axis.top + axis.step / 2; v += axis.step) {
    el("line", { x1: left, y1: y(v), x2: right, y2: y(v), stroke: v ? "#eef" : "#99a" }, svg);
    text(svg, left - 4, y(v) + 4, format(v), "end");
  }
}

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, value, anchor, cls) {
  const t = el("text", { x, y, "text-anchor": anchor || "start" }, parent);
  if (cls) t.setAttribute("class", cls);
  t.textContent = value;
  return t;
}

function html(box, tag, value, cls) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (value !== undefined) node.textContent = value;
  box.appendChild(node);
  return node;
}

function legend(box, names, colors) {
  const div = html(box, "div", undefined, "legend");
  names.forEach((n, i) => {
    const s = html(div, "span");
    const swatch = html(s, "i");
    swatch.style.background = colors ? colors[i] : COLORS[i % COLORS.length];
    s.appendChild(document.createTextNode(n));
  });
}

// series: [{name, values}], all sharing the labels; unit: the y axis's title.
function lineChart(box, labels, series, unit, format) {
  const W = 540, H = 230, L = 78, R = 12, T = 22, B = 30;
  const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  const axis = niceAxis(Math.max(...series.flatMap(s => s.values)));
  const x = i => L + (labels.length <= 1 ? 0 : (i * (W - L - R)) / (labels.length - 1));
  const y = v => T + (H - T - B) * (1 - v / axis.top);
  text(svg, 4, 12, unit, "start", "axis-title");
  yAxis(svg, axis, y, L, W - R, format);
  const step = Math.max(1, Math.ceil(labels.length / 6));
  labels.forEach((lab, i) => {
    if (i % step === 0) text(svg, x(i), H - 10, lab, i === labels.length - 1 ? "end" : "middle");
  });
  series.forEach((s, n) => {
    const d = s.values.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    el("path", { d: d.join(" "), fill: "none", stroke: COLORS[n % COLORS.length],
      "stroke-width": 2, class: "series" }, svg);
  });
  box.appendChild(svg);
  legend(box, series.map(s => s.name));
}

function columnChart(box, labels, values, unit, format) {
  const W = 540, H = 230, L = 78, B = 30, T = 22;
  const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  const axis = niceAxis(Math.max(...values)), bw = (W - L - 10) / Math.max(1, labels.length);
  const y = v => H - B - ((H - T - B) * v) / axis.top;
  text(svg, 4, 12, unit, "start", "axis-title");
  yAxis(svg, axis, y, L, W - 10, format);
  const step = Math.max(1, Math.ceil(labels.length / 6));
  labels.forEach((lab, i) => {
    const h = ((H - T - B) * values[i]) / axis.top;
    el("rect", { x: L + i * bw + 1, y: H - B - h, width: Math.max(1, bw - 2), height: h,
      fill: COLORS[1], class: "bar" }, svg);
    if (i % step === 0) text(svg, L + i * bw + bw / 2, H - 10, lab, "middle");
  });
  box.appendChild(svg);
}

// rows: [{label, title, parts: [value, ...], note}]; parts stack left to right in colors.
function barRows(box, rows, colors, labelWidth) {
  const W = 540, L = labelWidth || 200, rowH = 24, H = Math.max(60, rowH * rows.length + 12);
  const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  const max = Math.max(1e-9, ...rows.map(r => r.parts.reduce((a, b) => a + b, 0)));
  // Room on the right for the widest note ("4 decline · 2 review · 5,334 approve").
  const span = W - L - 10 - 6.2 * Math.max(...rows.map(r => r.note.length));
  rows.forEach((r, i) => {
    const top = 6 + i * rowH;
    let left = L;
    r.parts.forEach((v, k) => {
      const w = (span * v) / max;
      if (v > 0) {
        el("rect", { x: left, y: top, width: Math.max(1.5, w), height: 18, fill: colors[k],
          class: "bar" }, svg);
      }
      left += v > 0 ? Math.max(1.5, w) : 0;
    });
    const label = text(svg, L - 6, top + 13, r.label, "end");
    if (r.title) el("title", {}, label).textContent = r.title;
    text(svg, left + 4, top + 13, r.note);
  });
  box.appendChild(svg);
}

function groupedBars(box, groups, series, format) {
  const W = 540, H = 240, L = 48, B = 34, T = 12;
  const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  const axis = niceAxis(Math.max(...series.flatMap(s => s.values)));
  const gw = (W - L - 10) / groups.length, bw = (gw - 12) / series.length;
  yAxis(svg, axis, v => H - B - ((H - T - B) * v) / axis.top, L, W - 10, format);
  groups.forEach((g, i) => {
    series.forEach((s, n) => {
      const v = s.values[i], h = ((H - T - B) * v) / axis.top;
      el("rect", { x: L + i * gw + 6 + n * bw, y: H - B - h, width: bw - 2, height: h,
        fill: COLORS[n % COLORS.length], class: "bar" }, svg);
    });
    text(svg, L + i * gw + gw / 2, H - 14, g, "middle");
  });
  box.appendChild(svg);
  legend(box, series.map(s => s.name));
}

function message(box, msg, cls) {
  html(box, "p", msg, cls || "note");
}

class Empty extends Error {}

// Panels share endpoints (the summary reads revenue and risk too): one request per path and
// load, the cache emptied when the page loads again.
const requests = new Map();

function getJSON(path, key) {
  const id = `${key} ${path}`;
  if (!requests.has(id)) requests.set(id, fetchJSON(path, key));
  return requests.get(id);
}

async function fetchJSON(path, key) {
  const res = await fetch(path, { headers: { "X-API-Key": key, Accept: "application/json" } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail || `${res.status} ${res.statusText}`);
  return body;
}

function query(range, extra) {
  const q = new URLSearchParams(extra || {});
  if (range.from) q.set("from", range.from);
  if (range.to) q.set("to", range.to);
  return q.toString();
}

function rangeText(range) {
  return `${range.from || "the start"} to ${range.to || "the end"}`;
}

function spanDays(range) {
  if (!range.from || !range.to) return Infinity;
  return (Date.parse(range.to) - Date.parse(range.from)) / 86400000 + 1;
}

function mainCurrency(rows) {
  const totals = {};
  rows.forEach(r => { totals[r.currency] = (totals[r.currency] || 0) + r.gross_minor; });
  return Object.keys(totals).sort((a, b) => totals[b] - totals[a])[0];
}

async function revenueRows(range, key) {
  const granularity = spanDays(range) <= DAILY_UP_TO_DAYS ? "day" : "month";
  const { rows } = await getJSON(`/v1/dashboard/revenue?${query(range, { granularity })}`, key);
  if (!rows.length) throw new Empty(`no statements from ${rangeText(range)}`);
  const cur = mainCurrency(rows);
  const mine = rows.filter(r => r.currency === cur);
  const labels = mine.map(r => granularity === "day" ? r.period_start : r.period_start.slice(0, 7));
  const others = [...new Set(rows.map(r => r.currency))].filter(c => c !== cur);
  return { cur, mine, labels, granularity, others };
}

// Days → ISO weeks (starting Monday) when the range is long, so one odd day is not a spike.
function riskBuckets(rows, range) {
  if (spanDays(range) <= DAILY_UP_TO_DAYS) return { by: "day", rows };
  const weeks = new Map();
  rows.forEach(r => {
    const d = new Date(r.day + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
    const week = d.toISOString().slice(0, 10);
    const w = weeks.get(week) || { day: week, payments: 0, declined: 0, reviewed: 0, frauds: 0 };
    ["payments", "declined", "reviewed", "frauds"].forEach(k => { w[k] += r[k]; });
    weeks.set(week, w);
  });
  return { by: "week", rows: [...weeks.values()] };
}

const CHARTS = {
  async summary(box, key, range) {
    const [{ cur, mine, others }, risk] = await Promise.all([
      revenueRows(range, key), getJSON(`/v1/dashboard/risk?${query(range)}`, key)]);
    const sum = (rows, k) => rows.reduce((a, r) => a + r[k], 0);
    const payments = sum(risk.rows, "payments");
    const tiles = [
      ["net revenue", money(sum(mine, "net_minor"), cur)],
      ["gross", money(sum(mine, "gross_minor"), cur)],
      ["refunds", money(sum(mine, "refunds_minor"), cur)],
      ["payments scored", INTEGER.format(payments)],
      ["declined", INTEGER.format(sum(risk.rows, "declined"))],
      ["in review", INTEGER.format(sum(risk.rows, "reviewed"))],
      ["fraud chargebacks", INTEGER.format(sum(risk.rows, "frauds"))],
    ];
    const strip = html(box, "div", undefined, "tiles");
    tiles.forEach(([name, value], i) => {
      const tile = html(strip, "div", undefined, i < 3 ? "tile money" : "tile");
      html(tile, "b", value);
      html(tile, "span", name);
    });
    const also = others.length ? `; also sold in ${others.join(", ")}` : "";
    message(box, `${rangeText(range)}, money in ${cur}${also}`);
  },
  async revenue(box, key, range) {
    const { cur, mine, labels, granularity } = await revenueRows(range, key);
    lineChart(box, labels, [
      { name: `net (${cur})`, values: mine.map(r => major(r.net_minor, cur)) },
      { name: `gross (${cur})`, values: mine.map(r => major(r.gross_minor, cur)) },
    ], `${cur} per ${granularity}`, v => INTEGER.format(v));
  },
  async refunds(box, key, range) {
    const { cur, mine, labels, granularity } = await revenueRows(range, key);
    columnChart(box, labels, mine.map(r => major(r.refunds_minor, cur)),
      `${cur} refunded per ${granularity}`, v => INTEGER.format(v));
  },
  async risk(box, key, range) {
    const { rows } = await getJSON(`/v1/dashboard/risk?${query(range)}`, key);
    if (!rows.length) throw new Empty(`no risk decisions from ${rangeText(range)}`);
    const buckets = riskBuckets(rows, range);
    const rate = (r, k) => (r.payments ? r[k] / r.payments : 0);
    lineChart(box, buckets.rows.map(r => r.day.slice(5)), [
      { name: "declined", values: buckets.rows.map(r => rate(r, "declined")) },
      { name: "in review", values: buckets.rows.map(r => rate(r, "reviewed")) },
      { name: "fraud (chargebacks)", values: buckets.rows.map(r => rate(r, "frauds")) },
    ], `share of payments, per ${buckets.by}`, v => PERCENT.format(v));
    const total = k => INTEGER.format(rows.reduce((a, r) => a + r[k], 0));
    message(box, `${total("declined")} declined, ${total("reviewed")} in review and ` +
      `${total("frauds")} charged back as fraud, of ${total("payments")} payments`);
  },
  async reasons(box, key, range) {
    const { rows } = await getJSON(`/v1/dashboard/reasons?${query(range)}`, key);
    if (!rows.length) throw new Empty(`no risk decisions from ${rangeText(range)}`);
    const kinds = ["decline", "review", "approve"];
    const byReason = new Map();
    rows.forEach(r => {
      const counts = byReason.get(r.reason) || { decline: 0, review: 0, approve: 0 };
      counts[r.decision] = (counts[r.decision] || 0) + r.decisions;
      byReason.set(r.reason, counts);
    });
    // Codes behind declines and reviews first: those are the ones an analyst acts on.
    const order = [...byReason.entries()].sort((a, b) =>
      (b[1].decline + b[1].review) - (a[1].decline + a[1].review) ||
      (b[1].approve - a[1].approve));
    barRows(box, order.map(([reason, c]) => ({
      label: reason,
      parts: kinds.map(k => c[k]),
      note: kinds.filter(k => c[k]).map(k => `${INTEGER.format(c[k])} ${k}`).join(" · "),
    })), kinds.map(k => DECISION_COLORS[k]), 150);
    legend(box, kinds, kinds.map(k => DECISION_COLORS[k]));
    message(box, "a decision citing several codes counts under each; NONE: no code cited");
  },
  async products(box, key, range) {
    const { rows } = await getJSON(`/v1/dashboard/top-products?${query(range, { limit: 10 })}`,
      key);
    if (!rows.length) throw new Empty(`no orders from ${rangeText(range)}`);
    const short = s => (s.length > 30 ? s.slice(0, 29) + "…" : s);
    barRows(box, rows.map(r => ({
      label: short(r.description || r.item),
      title: `${r.description || ""} (${r.item})`,
      parts: [r.units],
      note: `${INTEGER.format(r.units)} units`,
    })), [COLORS[0]], 215);
    message(box, `units sold, ${rangeText(range)}; stock code on hover`);
  },
  async recommender(box, key) {
    const run = await getJSON("/v1/dashboard/recommender", key);
    if (!run.run_id) throw new Empty(`${run.experiment}: ${run.message}`);
    const started = run.started_at ? run.started_at.slice(0, 16).replace("T", " ") : "?";
    message(box, `${run.experiment}, run ${run.run_name || run.run_id}, ${started} UTC`);
    const models = Object.keys(run.models).sort((a, b) => (a === "als" ? -1 : b === "als" ? 1 :
      a.localeCompare(b)));
    if (!models.length) throw new Empty("the run logged no per-model metrics");
    const metrics = Object.keys(METRIC_LABELS).filter(m => models.some(n => m in run.models[n]));
    groupedBars(box, metrics.map(m => METRIC_LABELS[m]), models.map(n => ({
      name: n, values: metrics.map(m => run.models[n][m] ?? 0) })), v => DECIMAL.format(v));
    const table = html(box, "table");
    const head = table.insertRow();
    ["model", ...metrics.map(m => METRIC_LABELS[m]), "fit"].forEach(h => {
      html(head, "th", h);
    });
    models.forEach(n => {
      const tr = table.insertRow();
      tr.insertCell().textContent = n;
      metrics.forEach(m => { tr.insertCell().textContent = DECIMAL.format(run.models[n][m]); });
      const fit = run.fit_s[n];
      tr.insertCell().textContent = fit === undefined ? "" : `${ONE_DECIMAL.format(fit)} s`;
    });
  },
};

async function defaultRange(key) {
  const period = await getJSON("/v1/dashboard/period", key);
  return { from: period.first_day, to: period.last_day };
}

// How far behind the ledger the charts' gold tables are (the lakehouse service's record).
async function freshnessNote(key) {
  try {
    const fresh = (await fetchJSON("/v1/status", key)).gold_freshness;
    if (!fresh) return "; gold is refreshed by hand (no lakehouse service)";
    const note = `; gold ${Math.round(fresh.lag_s)} s behind the ledger`;
    return fresh.status === "ok" ? note : `${note} (last refresh ${fresh.status})`;
  } catch (err) {
    return "";
  }
}

async function load(key, range) {
  requests.clear();
  const status = document.getElementById("status");
  status.textContent = "loading…";
  let drawn = 0, empty = 0, failed = 0;
  await Promise.all(Object.entries(CHARTS).map(async ([id, draw]) => {
    const box = document.getElementById(id);
    box.textContent = "";
    try {
      await draw(box, key, range);
      box.dataset.state = "drawn";
      drawn++;
    } catch (err) {
      const isEmpty = err instanceof Empty;
      box.dataset.state = isEmpty ? "empty" : "error";
      message(box, isEmpty ? err.message : `unavailable: ${err.message}`,
        isEmpty ? "empty" : "error");
      if (isEmpty) empty++; else failed++;
    }
  }));
  status.textContent = `${drawn} charts` + (empty ? `, ${empty} empty` : "") +
    (failed ? `, ${failed} unavailable` : "") + await freshnessNote(key);
  document.body.dataset.rendered = String(drawn);
  document.body.dataset.empty = String(empty);
  document.body.dataset.failed = String(failed);
}

function fromHash(name) {
  const m = new RegExp(`(?:^#|&)${name}=([^&]+)`).exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

async function start(key) {
  const inputs = { from: document.getElementById("from"), to: document.getElementById("to") };
  let range = { from: inputs.from.value || null, to: inputs.to.value || null };
  if (!range.from && !range.to) {
    try {
      range = await defaultRange(key);
    } catch (err) {
      range = { from: null, to: null };
    }
    inputs.from.value = range.from || "";
    inputs.to.value = range.to || "";
  }
  await load(key, range);
}

document.getElementById("load").addEventListener("click", () => {
  const key = document.getElementById("key").value.trim();
  if (key) start(key);
});
const initial = fromHash("key");
document.getElementById("from").value = fromHash("from") || "";
document.getElementById("to").value = fromHash("to") || "";
if (initial) {
  document.getElementById("key").value = initial;
  start(initial);
}
