// paystream dashboard: plain JS drawing inline SVG from the /v1/dashboard/* endpoints.
// No libraries and no CDN, so it works on machines without internet.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#2f6fde", "#d9822b", "#2e9d5b", "#b3261e", "#7a4fd0", "#5f6b7a"];
// Minor-unit exponents that differ from 2 (ISO 4217); money arrives as integer minor units.
const EXPONENTS = { JPY: 0, KRW: 0, VND: 0, CLP: 0, ISK: 0, HUF: 2, BHD: 3, KWD: 3, OMR: 3,
  JOD: 3, TND: 3, LYD: 3, IQD: 3 };

function major(minor, currency) {
  return minor / Math.pow(10, EXPONENTS[currency] ?? 2);
}

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, value, anchor) {
  const t = el("text", { x, y, "text-anchor": anchor || "start" }, parent);
  t.textContent = value;
  return t;
}

function fmt(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
  if (a > 0 && a < 1) return v.toFixed(3);
  return String(Math.round(v * 100) / 100);
}

function legend(box, names) {
  const div = document.createElement("div");
  div.className = "legend";
  names.forEach((n, i) => {
    const s = document.createElement("span");
    s.innerHTML = `<i style="background:${COLORS[i % COLORS.length]}"></i>`;
    s.appendChild(document.createTextNode(n));
    div.appendChild(s);
  });
  box.appendChild(div);
}

// series: [{name, points: [[label, value], ...]}], all series sharing the labels.
function lineChart(box, labels, series) {
  const W = 540, H = 220, L = 56, R = 10, T = 10, B = 30;
  const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  const max = Math.max(1e-9, ...series.flatMap(s => s.values));
  const x = i => L + (labels.length <= 1 ? 0 : (i * (W - L - R)) / (labels.length - 1));
  const y = v => T + (H - T - B) * (1 - v / max);
  el("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), stroke: "#99a" }, svg);
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    el("line", { x1: L, y1: y(v), x2: W - R, y2: y(v), stroke: "#eef" }, svg);
    text(svg, L - 4, y(v) + 4, fmt(v), "end");
  }
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

function barChart(box, labels, values, horizontal) {
  const W = 540, H = horizontal ? Math.max(120, 24 * labels.length + 20) : 220;
  const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  const max = Math.max(1e-9, ...values);
  if (horizontal) {
    const L = 110, barH = 18;
    labels.forEach((lab, i) => {
      const w = ((W - L - 60) * values[i]) / max;
      el("rect", { x: L, y: 10 + i * 24, width: Math.max(1, w), height: barH,
        fill: COLORS[0], class: "bar" }, svg);
      text(svg, L - 6, 23 + i * 24, lab, "end");
      text(svg, L + w + 4, 23 + i * 24, fmt(values[i]));
    });
  } else {
    const L = 56, B = 30, T = 10, bw = (W - L - 10) / Math.max(1, labels.length);
    const step = Math.max(1, Math.ceil(labels.length / 6));
    labels.forEach((lab, i) => {
      const h = ((H - T - B) * values[i]) / max;
      el("rect", { x: L + i * bw + 1, y: H - B - h, width: Math.max(1, bw - 2), height: h,
        fill: COLORS[1], class: "bar" }, svg);
      if (i % step === 0) text(svg, L + i * bw + bw / 2, H - 10, lab, "middle");
    });
    text(svg, L - 4, T + 10, fmt(max), "end");
  }
  box.appendChild(svg);
}

function message(box, msg, cls) {
  const p = document.createElement("p");
  p.className = cls || "note";
  p.textContent = msg;
  box.appendChild(p);
}

async function getJSON(path, key) {
  const res = await fetch(path, { headers: { "X-API-Key": key, Accept: "application/json" } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail || `${res.status} ${res.statusText}`);
  return body;
}

function mainCurrency(rows) {
  const totals = {};
  rows.forEach(r => { totals[r.currency] = (totals[r.currency] || 0) + r.gross_minor; });
  return Object.keys(totals).sort((a, b) => totals[b] - totals[a])[0];
}

const CHARTS = {
  async revenue(box, key) {
    const { rows } = await getJSON("/v1/dashboard/revenue?granularity=month", key);
    if (!rows.length) return message(box, "no statements yet");
    const cur = mainCurrency(rows);
    const mine = rows.filter(r => r.currency === cur);
    lineChart(box, mine.map(r => r.period_start.slice(0, 7)), [
      { name: `net ${cur}`, values: mine.map(r => major(r.net_minor, cur)) },
      { name: `gross ${cur}`, values: mine.map(r => major(r.gross_minor, cur)) },
    ]);
  },
  async refunds(box, key) {
    const { rows } = await getJSON("/v1/dashboard/revenue?granularity=month", key);
    if (!rows.length) return message(box, "no statements yet");
    const cur = mainCurrency(rows);
    const mine = rows.filter(r => r.currency === cur);
    barChart(box, mine.map(r => r.period_start.slice(0, 7)),
      mine.map(r => major(r.refunds_minor, cur)), false);
    message(box, `refunds in ${cur} per month`);
  },
  async risk(box, key) {
    const { rows } = await getJSON("/v1/dashboard/risk", key);
    if (!rows.length) return message(box, "no risk KPIs yet");
    lineChart(box, rows.map(r => r.day.slice(5)), [
      { name: "decline rate", values: rows.map(r => r.decline_rate) },
      { name: "fraud rate", values: rows.map(r => r.fraud_rate) },
    ]);
  },
  async products(box, key) {
    const { rows } = await getJSON("/v1/dashboard/top-products?limit=10", key);
    if (!rows.length) return message(box, "no interactions yet");
    barChart(box, rows.map(r => r.item), rows.map(r => r.weight), true);
  },
  async recommender(box, key) {
    const run = await getJSON("/v1/dashboard/recommender", key);
    if (!run.run_id) return message(box, `${run.experiment}: ${run.message}`);
    const names = Object.keys(run.metrics).sort();
    message(box, `${run.experiment} — run ${run.run_name || run.run_id}, ${run.started_at}`);
    const shown = names.filter(n => run.metrics[n] >= 0 && run.metrics[n] <= 1);
    if (shown.length) barChart(box, shown, shown.map(n => run.metrics[n]), true);
    const table = document.createElement("table");
    names.forEach(n => {
      const tr = table.insertRow();
      tr.insertCell().textContent = n;
      tr.insertCell().textContent = fmt(run.metrics[n]);
    });
    box.appendChild(table);
  },
};

async function load(key) {
  const status = document.getElementById("status");
  status.textContent = "loading…";
  let drawn = 0, failed = 0;
  await Promise.all(Object.entries(CHARTS).map(async ([id, draw]) => {
    const box = document.getElementById(id);
    box.textContent = "";
    try {
      await draw(box, key);
      box.dataset.state = "drawn";
      drawn++;
    } catch (err) {
      box.dataset.state = "error";
      message(box, `unavailable: ${err.message}`, "error");
      failed++;
    }
  }));
  status.textContent = `rendered ${drawn} charts` + (failed ? `, ${failed} unavailable` : "");
  document.body.dataset.rendered = String(drawn);
  document.body.dataset.failed = String(failed);
}

function keyFromHash() {
  const m = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

document.getElementById("load").addEventListener("click", () => {
  const key = document.getElementById("key").value.trim();
  if (key) load(key);
});
const initial = keyFromHash();
if (initial) {
  document.getElementById("key").value = initial;
  load(initial);
}
